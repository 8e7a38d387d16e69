//! `hitcast bench`: fit and scoring times of the three models and of the whole report, for
//! comparison with the Python peer on the same machine. Timing lives here, never in tests.

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::data::Prepared;
use crate::error::Result;
use crate::model::{Family, Model, ModelParams, ModelSpec, Trained};
use crate::report::{build, ReportOptions};

/// Timings of one family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyTiming {
    pub family: Family,
    /// Median seconds of one fit on the training rows.
    pub fit_s: f64,
    /// Median seconds to score `predict_rows` rows (warm calls, `PREDICT_CALLS` = 10 per fit).
    pub predict_s: f64,
    pub predict_rows: usize,
    pub holdout_roc_auc: f64,
    /// The last fit's holdout probabilities, in `prepared.split.test` order (for the paired
    /// comparison with the peers).
    #[serde(skip)]
    pub holdout_proba: Vec<f64>,
}

/// All timings of a bench run.
#[derive(Debug, Clone, Serialize)]
pub struct Bench {
    pub train_rows: usize,
    pub features: usize,
    pub repeats: usize,
    pub families: Vec<FamilyTiming>,
    /// Seconds of the whole report (all models, CV, permutation importance, figures),
    /// excluding data loading; `None` when the report was not timed.
    pub report_s: Option<f64>,
    /// `(seconds since the report started, stage)` as the report announced its stages.
    pub report_timeline: Vec<(f64, String)>,
    pub threads: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Timed batch predictions of each fitted model (the median over all fits is reported).
const PREDICT_CALLS: usize = 10;

/// Times each family `repeats` times (median) and one full report. The boosted model runs
/// all its rounds (no early stopping), as XGBoost does in the peer.
///
/// # Errors
/// Any model or report error.
pub fn run(
    prepared: &Prepared,
    params: &ModelParams,
    repeats: usize,
    seed: u64,
    with_report: bool,
) -> Result<Bench> {
    let data = &prepared.dataset;
    let test = data.subset(&prepared.split.test);
    // Score exactly 10,000 rows (repeating the holdout if it is smaller).
    let predict_rows: Vec<usize> = (0..10_000).map(|i| i % test.len()).collect();
    let scored = test.subset(&predict_rows);
    let mut fixed = params.clone();
    fixed.boost.early_stopping_rounds = None;
    let mut families = Vec::new();
    for family in Family::ALL {
        let mut fits = Vec::new();
        let mut predicts = Vec::new();
        let mut auc = 0.0;
        let mut holdout_proba = Vec::new();
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            let model = ModelSpec::from_params(family, &fixed).check()?.fit_rows(
                data,
                &prepared.split.train,
                seed,
            )?;
            fits.push(t.elapsed().as_secs_f64());
            // Batch scoring is timed warm, as a service scores batch after batch: the first
            // call after a fit also pays for faulting in fresh memory.
            for _ in 0..PREDICT_CALLS {
                let t = Instant::now();
                let p = model.predict_proba(&scored)?;
                predicts.push(t.elapsed().as_secs_f64());
                std::hint::black_box(&p);
            }
            holdout_proba = model.predict_proba(&test)?;
            auc = crate::eval::roc_auc(&test.y, &holdout_proba)?;
        }
        families.push(FamilyTiming {
            family,
            fit_s: median(fits),
            predict_s: median(predicts),
            predict_rows: scored.len(),
            holdout_roc_auc: auc,
            holdout_proba,
        });
    }
    let (report_s, report_timeline) = if with_report {
        let (s, timeline) = time_report(prepared, params, seed)?;
        (Some(s), timeline)
    } else {
        (None, Vec::new())
    };
    Ok(Bench {
        train_rows: prepared.split.train.len(),
        features: data.n_features(),
        repeats,
        families,
        report_s,
        report_timeline,
        threads: rayon::current_num_threads(),
    })
}

/// Seconds of the whole report, and when each of its stages started.
fn time_report(
    prepared: &Prepared,
    params: &ModelParams,
    seed: u64,
) -> Result<(f64, Vec<(f64, String)>)> {
    let t = Instant::now();
    let options = ReportOptions {
        params: params.clone(),
        ..ReportOptions::default()
    };
    // When each stage of the report starts (stages of the three families overlap).
    let timeline = std::sync::Mutex::new(Vec::new());
    let heard = |stage: &str| {
        if let Ok(mut v) = timeline.lock() {
            v.push((t.elapsed().as_secs_f64(), stage.to_string()));
        }
    };
    std::hint::black_box(build(prepared, "bench", seed, &options, &heard)?);
    let report_s = t.elapsed().as_secs_f64();
    Ok((report_s, timeline.into_inner().unwrap_or_default()))
}

impl fmt::Display for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} training rows × {} features, {} threads, median of {} runs",
            self.train_rows, self.features, self.threads, self.repeats
        )?;
        writeln!(
            f,
            "{:<10} {:>10} {:>16} {:>10}",
            "model", "fit s", "predict 10k ms", "ROC AUC"
        )?;
        for t in &self.families {
            writeln!(
                f,
                "{:<10} {:>10.3} {:>16.2} {:>10.4}",
                t.family.name(),
                t.fit_s,
                t.predict_s * 1e3,
                t.holdout_roc_auc
            )?;
        }
        let Some(report_s) = self.report_s else {
            return Ok(());
        };
        writeln!(
            f,
            "full report (3 models, 5-fold CV, permutation importance, figures): {report_s:.2} s"
        )?;
        writeln!(f, "report stages (start times):")?;
        for (at, stage) in &self.report_timeline {
            writeln!(f, "  [{at:7.2} s] {stage}")?;
        }
        Ok(())
    }
}

/// Timings of explanations ([`crate::explain`]) for one tree family.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainTiming {
    pub family: Family,
    pub trees: usize,
    /// Median seconds to explain `rows` rows on one thread and on two, preparation included.
    pub one_thread_s: f64,
    pub two_threads_s: f64,
    pub rows: usize,
    /// Median milliseconds to prepare the model's [`crate::explain::Explainer`] (its tables),
    /// which the dashboard does once at start.
    pub prepare_ms: f64,
}

/// Explanation timings: 10,000 holdout rows (repeated when fewer) for the forest and the
/// boosted model fitted with `params` (by default the same trees `hitcast train` saves), on
/// one and two threads, and one track's explanation by all three models.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainBench {
    pub families: Vec<ExplainTiming>,
    /// Median milliseconds to explain one track with all three models (one thread), with
    /// the models prepared once as the dashboard holds them.
    pub one_track_all_models_ms: f64,
    pub repeats: usize,
}

/// Times explanations (median of `repeats`).
///
/// # Errors
/// Any model or explanation error.
pub fn explain(
    prepared: &Prepared,
    params: &ModelParams,
    repeats: usize,
    seed: u64,
) -> Result<ExplainBench> {
    let data = &prepared.dataset;
    let test = data.subset(&prepared.split.test);
    let rows: Vec<usize> = (0..10_000).map(|i| i % test.len()).collect();
    let scored = test.subset(&rows);
    let models: Vec<Trained> = Family::ALL
        .iter()
        .map(|&f| {
            Ok(ModelSpec::from_params(f, params)
                .check()?
                .fit_rows(data, &prepared.split.train, seed)?
                .into_model())
        })
        .collect::<Result<_>>()?;
    let pool = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| crate::Error::Config(format!("thread pool: {e}")))
    };
    let (one, two) = (pool(1)?, pool(2)?);
    let time = |pool: &rayon::ThreadPool, m: &Trained, d: &crate::data::Dataset| -> Result<f64> {
        let mut t = Vec::new();
        for _ in 0..repeats.max(1) {
            let start = Instant::now();
            let e = pool.install(|| crate::explain::explain_dataset(m, d))?;
            t.push(start.elapsed().as_secs_f64());
            std::hint::black_box(&e);
        }
        Ok(median(t))
    };
    let mut families = Vec::new();
    let prepare_ms = |m: &Trained| -> Result<f64> {
        let mut t = Vec::new();
        for _ in 0..repeats.max(1) {
            let start = Instant::now();
            std::hint::black_box(crate::explain::Explainer::new(m)?);
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median(t))
    };
    for m in &models[1..] {
        let trees = match m {
            Trained::Forest(f) => f.trees.len(),
            Trained::Boost(b) => b.trees.len(),
            Trained::Logistic(_) => 0,
        };
        families.push(ExplainTiming {
            family: m.family(),
            trees,
            one_thread_s: time(&one, m, &scored)?,
            two_threads_s: time(&two, m, &scored)?,
            rows: scored.len(),
            prepare_ms: prepare_ms(m)?,
        });
    }
    let explainers: Vec<crate::explain::Explainer> = models
        .iter()
        .map(crate::explain::Explainer::new)
        .collect::<Result<_>>()?;
    let mut singles = Vec::new();
    for i in 0..200.min(test.len()) {
        let track = test.subset(&[i]);
        let cols: Vec<Vec<&[f64]>> = explainers
            .iter()
            .map(|e| e.model().columns(&track))
            .collect::<Result<_>>()?;
        let start = Instant::now();
        for (e, x) in explainers.iter().zip(&cols) {
            std::hint::black_box(one.install(|| e.explain(x))?);
        }
        singles.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ExplainBench {
        families,
        one_track_all_models_ms: median(singles),
        repeats,
    })
}

impl fmt::Display for ExplainBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "explanations (exact TreeSHAP), median of {} runs",
            self.repeats
        )?;
        writeln!(
            f,
            "{:<10} {:>6} {:>8} {:>14} {:>14} {:>12}",
            "model", "trees", "rows", "1 thread s", "2 threads s", "prepare ms"
        )?;
        for t in &self.families {
            writeln!(
                f,
                "{:<10} {:>6} {:>8} {:>14.3} {:>14.3} {:>12.1}",
                t.family.name(),
                t.trees,
                t.rows,
                t.one_thread_s,
                t.two_threads_s,
                t.prepare_ms
            )?;
        }
        writeln!(
            f,
            "one track, all three models (1 thread, models prepared once): {:.3} ms",
            self.one_track_all_models_ms
        )
    }
}

/// This process's peak resident memory as the kernel reports it (`VmHWM`, e.g. `1234 kB`),
/// where `/proc` exists (Linux).
pub fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().to_string())
}

/// The peers' figures on the same rows: [`peer`] runs `benches/peer_scale.py`.
#[derive(Debug, Clone, Serialize)]
pub struct Peers {
    /// `(peer, fit seconds, holdout ROC AUC)`: XGBoost hist, and LightGBM when installed.
    pub boosting: Vec<(String, f64, f64)>,
    /// Per peer of `boosting`, HitCast's boosting ROC AUC minus the peer's on the same holdout
    /// rows, with its paired bootstrap interval ([`PEER_RESAMPLES`] resamples).
    pub hitcast_minus_peer: Vec<crate::eval::Interval>,
    /// Seconds for pandas `read_csv` plus the same checks as HitCast's ingest.
    pub read_and_check_s: f64,
    /// Seconds for HitCast's own ingest of the same file in this process (read, validate,
    /// normalise; no output written), three runs; empty without the `csv` feature.
    pub hitcast_ingest_s: Vec<f64>,
    pub python: String,
}

/// The Python peer interpreter: `HITCAST_PEER_PYTHON`, else the venv the peer's README sets
/// up (`/tmp/peer/bin/python`), when it exists.
pub fn peer_python() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("HITCAST_PEER_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/tmp/peer/bin/python".into());
    p.exists().then_some(p)
}

/// Stratified resamples of the paired bootstrap comparing HitCast's boosting with each peer,
/// and their seed.
pub const PEER_RESAMPLES: usize = 1000;
const PEER_SEED: u64 = 42;

/// Writes `prepared`'s data and holdout into `dir` (`tracks.csv`, `split.csv`) and times the
/// peers on exactly those rows with `python` running `script` (2 threads each). Each peer's
/// holdout ROC AUC is compared with `boost_proba`'s (HitCast's boosting, in
/// `prepared.split.test` order) by a paired bootstrap on the same rows.
///
/// # Errors
/// [`crate::Error::Io`] for the files; [`crate::Error::Config`] when the script fails, its
/// JSON lacks a figure, or its probabilities do not match the holdout.
pub fn peer(
    prepared: &Prepared,
    boost_proba: &[f64],
    python: &std::path::Path,
    script: &std::path::Path,
    dir: &std::path::Path,
) -> Result<Peers> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let data = dir.join("tracks.csv");
    prepared.dataset.write_csv(&data)?;
    let mut split = String::from("row,is_test\n");
    let mut is_test = vec![false; prepared.dataset.len()];
    for &i in &prepared.split.test {
        is_test[i] = true;
    }
    for (i, t) in is_test.iter().enumerate() {
        split.push_str(&format!("{i},{}\n", u8::from(*t)));
    }
    let split_path = dir.join("split.csv");
    crate::atomic::write(&split_path, split.as_bytes())?;
    let json = dir.join("peer.json");
    let proba = dir.join("proba.csv");
    let status = std::process::Command::new(python)
        .arg(script)
        .arg("--data")
        .arg(&data)
        .arg("--split")
        .arg(&split_path)
        .arg("--json-out")
        .arg(&json)
        .arg("--proba-out")
        .arg(&proba)
        .status()
        .map_err(|e| crate::Error::Config(format!("{}: {e}", python.display())))?;
    if !status.success() {
        return Err(crate::Error::Config(format!(
            "{} {} failed ({status})",
            python.display(),
            script.display()
        )));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| crate::Error::io(&json, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| crate::Error::Config(format!("{}: {e}", json.display())))?;
    let number = |v: &serde_json::Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| crate::Error::Config(format!("{}: no number `{what}`", json.display())))
    };
    let mut boosting = Vec::new();
    if let Some(models) = v["models"].as_object() {
        for (name, m) in models {
            boosting.push((
                format!("{name} {}", m["version"].as_str().unwrap_or("")),
                number(&m["fit_s"], "fit_s")?,
                number(&m["roc_auc"], "roc_auc")?,
            ));
        }
    }
    let hitcast_minus_peer = compare_with_peers(prepared, boost_proba, &proba, &boosting)?;
    Ok(Peers {
        boosting,
        hitcast_minus_peer,
        read_and_check_s: number(&v["read_and_check_s"], "read_and_check_s")?,
        hitcast_ingest_s: ingest_seconds(&data)?,
        python: python.display().to_string(),
    })
}

/// HitCast's boosting ROC AUC minus each peer's, from a paired bootstrap on the holdout:
/// `proba` (the script's) holds one column per peer of `boosting`, a line per holdout row in
/// row order.
fn compare_with_peers(
    prepared: &Prepared,
    boost_proba: &[f64],
    proba: &std::path::Path,
    boosting: &[(String, f64, f64)],
) -> Result<Vec<crate::eval::Interval>> {
    let bad = |m: String| crate::Error::Config(format!("{}: {m}", proba.display()));
    let test = &prepared.split.test;
    if boost_proba.len() != test.len() {
        return Err(crate::Error::Config(format!(
            "{} HitCast boosting probabilities for {} holdout rows",
            boost_proba.len(),
            test.len()
        )));
    }
    // The script lists the holdout in row order.
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.sort_by_key(|&k| test[k]);
    let y: Vec<u8> = order.iter().map(|&k| prepared.dataset.y[test[k]]).collect();
    let ours: Vec<f64> = order.iter().map(|&k| boost_proba[k]).collect();
    let text = std::fs::read_to_string(proba).map_err(|e| crate::Error::io(proba, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad("empty: no header".into()))?
        .split(',')
        .collect();
    let mut columns: Vec<Vec<f64>> = (0..header.len())
        .map(|_| Vec::with_capacity(y.len()))
        .collect();
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(bad(format!("line {}: {} cells", i + 2, cells.len())));
        }
        for (column, cell) in columns.iter_mut().zip(cells) {
            let v: f64 = cell
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..=1.0).contains(v))
                .ok_or_else(|| bad(format!("line {}: `{cell}` is not a probability", i + 2)))?;
            column.push(v);
        }
    }
    let mut names = vec!["hitcast"];
    let mut scores: Vec<&[f64]> = vec![&ours];
    for (name, _, auc) in boosting {
        let peer = name.split(' ').next().unwrap_or("");
        let k = header
            .iter()
            .position(|h| *h == peer)
            .ok_or_else(|| bad(format!("no column `{peer}`")))?;
        if columns[k].len() != y.len() {
            return Err(bad(format!(
                "{} rows for {} holdout rows",
                columns[k].len(),
                y.len()
            )));
        }
        // The rows line up with ours only if the peer's own ROC AUC comes out again.
        let again = crate::eval::roc_auc(&y, &columns[k])?;
        if (again - auc).abs() > 1e-9 {
            return Err(bad(format!(
                "`{peer}` gives ROC AUC {again} on the holdout in row order, where the peer measured {auc}: the rows do not line up"
            )));
        }
        names.push(peer);
        scores.push(&columns[k]);
    }
    let b = crate::eval::paired_bootstrap(&y, &names, &scores, PEER_RESAMPLES, PEER_SEED)?;
    // Pairs (0, j) come first: HitCast minus peer j.
    Ok(b.differences[..boosting.len()]
        .iter()
        .map(|d| d.roc_auc)
        .collect())
}

/// Three in-process ingests of `path` (every audio feature present, the label from
/// `target`), as the peer's `read_and_check` does.
fn ingest_seconds(path: &std::path::Path) -> Result<Vec<f64>> {
    #[cfg(feature = "csv")]
    {
        let options = crate::data::IngestOptions {
            features: crate::data::FeatureSet::All,
            ..Default::default()
        };
        (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                crate::data::ingest(path, &options)?;
                Ok(t.elapsed().as_secs_f64())
            })
            .collect()
    }
    #[cfg(not(feature = "csv"))]
    {
        let _ = path;
        Ok(Vec::new())
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "peers on the same rows ({}, 2 threads, 300 rounds of depth 4, subsample 0.8):",
            self.python
        )?;
        for ((name, fit, auc), d) in self.boosting.iter().zip(&self.hitcast_minus_peer) {
            writeln!(
                f,
                "  {name:<18} fit {fit:>8.3} s   ROC AUC {auc:.4}   HitCast's minus it {:+.5} (95 % interval {:+.5} to {:+.5}, {PEER_RESAMPLES} paired resamples{})",
                d.estimate,
                d.lower,
                d.upper,
                if d.covers(0.0) { ": indistinguishable" } else { "" }
            )?;
        }
        writeln!(
            f,
            "  pandas read_csv + checks: {:.3} s",
            self.read_and_check_s
        )?;
        if !self.hitcast_ingest_s.is_empty() {
            let runs: Vec<String> = self
                .hitcast_ingest_s
                .iter()
                .map(|s| format!("{s:.3}"))
                .collect();
            writeln!(f, "  hitcast ingest, same file: {} s", runs.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataSource, SplitOptions, SynthParams};

    /// A small prepared run, scores for its holdout (split order) and the same scores in
    /// row order, as the peer script writes them.
    fn prepared_with_scores() -> (Prepared, Vec<f64>, Vec<f64>) {
        let prepared = DataSource::Synthetic(SynthParams {
            n_tracks: 2_000,
            seed: 7,
            ..SynthParams::default()
        })
        .prepare(&SplitOptions::default(), 7)
        .unwrap();
        let test = &prepared.split.test;
        // Scores from the true probabilities, with some noise: not already in row order.
        let ours: Vec<f64> = test
            .iter()
            .map(|&i| {
                (prepared.dataset.x[0][i] * 0.7 + (i as f64 * 1.3).sin() * 0.2).clamp(0.0, 1.0)
            })
            .collect();
        let mut order: Vec<usize> = (0..test.len()).collect();
        order.sort_by_key(|&k| test[k]);
        let in_row_order = order.iter().map(|&k| ours[k]).collect();
        (prepared, ours, in_row_order)
    }

    fn auc_in_row_order(prepared: &Prepared, scores: &[f64]) -> f64 {
        let mut rows = prepared.split.test.clone();
        rows.sort_unstable();
        let y: Vec<u8> = rows.iter().map(|&i| prepared.dataset.y[i]).collect();
        crate::eval::roc_auc(&y, scores).unwrap()
    }

    fn write(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
        let path = dir.join("proba.csv");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    #[test]
    fn a_peer_with_our_scores_differs_by_nothing_and_one_with_others_by_its_auc_gap() {
        let (prepared, ours, rows) = prepared_with_scores();
        let dir = tempfile::tempdir().unwrap();
        // `xgboost` scores as we do; `lightgbm` is uninformative but for one row.
        let other: Vec<f64> = (0..rows.len())
            .map(|i| if i == 3 { 0.9 } else { 0.5 })
            .collect();
        let mut lines = vec!["xgboost,lightgbm".to_string()];
        lines.extend(rows.iter().zip(&other).map(|(a, b)| format!("{a:?},{b:?}")));
        let path = write(dir.path(), &lines);
        let peers = [
            (
                "xgboost 3".to_string(),
                1.0,
                auc_in_row_order(&prepared, &rows),
            ),
            (
                "lightgbm 4".to_string(),
                1.0,
                auc_in_row_order(&prepared, &other),
            ),
        ];
        let d = compare_with_peers(&prepared, &ours, &path, &peers).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].estimate, d[0].lower, d[0].upper), (0.0, 0.0, 0.0));
        let gap = peers[0].2 - peers[1].2;
        assert!((d[1].estimate - gap).abs() < 1e-12 && gap > 0.1, "{d:?}");
        assert!(d[1].lower > 0.0, "{d:?}");
    }

    #[test]
    fn peer_probabilities_out_of_line_or_not_probabilities_are_refused() {
        let (prepared, ours, rows) = prepared_with_scores();
        let dir = tempfile::tempdir().unwrap();
        let auc = auc_in_row_order(&prepared, &rows);
        let peers = [("xgboost 3".to_string(), 1.0, auc)];
        let run = |lines: &[String]| {
            let path = write(dir.path(), lines);
            compare_with_peers(&prepared, &ours, &path, &peers)
                .unwrap_err()
                .to_string()
        };
        let column = |v: &[f64]| {
            let mut lines = vec!["xgboost".to_string()];
            lines.extend(v.iter().map(|p| format!("{p:?}")));
            lines
        };
        // The same scores in another order: the peer's AUC does not come out.
        let reversed: Vec<f64> = rows.iter().rev().copied().collect();
        let err = run(&column(&reversed));
        assert!(err.contains("do not line up"), "{err}");
        let mut bad = column(&rows);
        bad[5] = "nan".into();
        let err = run(&bad);
        assert!(err.contains("line 6: `nan` is not a probability"), "{err}");
        let err = run(&column(&rows[1..]));
        assert!(
            err.contains(&format!(
                "{} rows for {} holdout rows",
                rows.len() - 1,
                rows.len()
            )),
            "{err}"
        );
        let err = run(&["lightgbm".to_string()]);
        assert!(err.contains("no column `xgboost`"), "{err}");
        std::fs::write(dir.path().join("proba.csv"), "").unwrap();
        let err = compare_with_peers(&prepared, &ours, &dir.path().join("proba.csv"), &peers)
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
