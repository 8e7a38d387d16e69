//! The report's honesty: warnings where people read, intervals that mean something, a ranking
//! sentence that admits a tie, predictions on disk, and the out-of-time section.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use hitcast::data::{synthesize, DataSource, SplitOptions, SynthParams};
use hitcast::eval::{paired_bootstrap, roc_auc};
use hitcast::model::{BoostParams, ForestParams, ModelParams};
use hitcast::report::{build, ranking, takeaway, ReportOptions};

use super::fixture;

fn quick_options() -> ReportOptions {
    ReportOptions {
        cv_folds: 3,
        permutation_repeats: 1,
        bootstrap_resamples: 300,
        params: ModelParams {
            forest: ForestParams {
                n_trees: 30,
                ..Default::default()
            },
            boost: BoostParams {
                n_rounds: 40,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `hitcast report` on the playlist fixture (repeated ids, release dates) into `dir/r`.
fn report_on_playlists(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args(["report", "--data"])
        .arg(fixture("playlist_songs.csv"))
        .args(["--folds", "3", "--repeats", "1", "--out", "r"])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// ROC AUC by counting pairs: independent of the library's sort-based version.
fn pairwise_auc(y: &[u8], p: &[f64]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for i in (0..y.len()).filter(|&i| y[i] == 1) {
        for j in (0..y.len()).filter(|&j| y[j] == 0) {
            pairs += 1.0;
            wins += if p[i] > p[j] {
                1.0
            } else if p[i] == p[j] {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

#[test]
fn data_checks_reach_the_cli_metrics_markdown_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = report_on_playlists(dir.path());
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/metrics.json")).unwrap())
            .unwrap();
    let md = std::fs::read_to_string(dir.path().join("r/REPORT.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("r/report.html")).unwrap();
    let warnings: Vec<&str> = metrics["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for needle in [
        "rows repeat an earlier track id",
        "songs appear under more than one track id",
        "copies of the same track disagree",
    ] {
        let w = warnings
            .iter()
            .find(|w| w.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {warnings:?}"));
        assert!(stdout.contains(&format!("warning: {w}")), "{stdout}");
        let checks = &md[md.find("## Data checks").unwrap()..md.find("## Data\n").unwrap()];
        assert!(checks.contains(w), "{checks}");
        let plain = w
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(html.contains(&plain.replace('`', "")), "HTML lacks {w}");
    }
    assert!(html.contains("<h2>Data checks</h2>") && html.contains("<h2>Data card</h2>"));
    // The data card states the label rule resolved on distinct tracks.
    let card = &metrics["data_card"];
    assert!(card["label_rule"]
        .as_str()
        .unwrap()
        .contains("distinct tracks"));
    assert!(card["ties_at_cut"].as_u64().is_some());
    assert!(md.contains(card["label_rule"].as_str().unwrap()));
}

#[test]
fn predictions_csv_recomputes_every_roc_auc() {
    let dir = tempfile::tempdir().unwrap();
    report_on_playlists(dir.path());
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/metrics.json")).unwrap())
            .unwrap();
    let csv = std::fs::read_to_string(dir.path().join("r/predictions.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..3], ["track_id", "side", "target"]);
    // side → (labels, per model column probabilities)
    let mut by_side: BTreeMap<String, (Vec<u8>, Vec<Vec<f64>>)> = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        let entry = by_side
            .entry(cells[1].to_string())
            .or_insert_with(|| (Vec::new(), vec![Vec::new(); header.len() - 3]));
        entry.0.push(cells[2].parse().unwrap());
        for (k, c) in cells[3..].iter().enumerate() {
            entry.1[k].push(c.parse().unwrap());
        }
    }
    let (y, cols) = &by_side["holdout"];
    assert_eq!(
        y.len() as u64,
        metrics["meta"]["test_rows"].as_u64().unwrap()
    );
    for (k, m) in metrics["models"].as_array().unwrap().iter().enumerate() {
        assert_eq!(header[3 + k], format!("p_{}", m["name"].as_str().unwrap()));
        let expected = m["holdout"]["roc_auc"].as_f64().unwrap();
        assert!((pairwise_auc(y, &cols[k]) - expected).abs() < 1e-12);
    }
    let (y, cols) = &by_side["out_of_time"];
    let oot = metrics["out_of_time"]["models"].as_array().unwrap();
    for (k, m) in oot.iter().enumerate() {
        let expected = m["out_of_time_all"]["roc_auc"].as_f64().unwrap();
        assert!((pairwise_auc(y, &cols[k]) - expected).abs() < 1e-12);
    }
}

#[test]
fn out_of_time_section_trains_on_earlier_decades_and_tests_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    report_on_playlists(dir.path());
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/metrics.json")).unwrap())
            .unwrap();
    let o = &metrics["out_of_time"];
    assert_eq!(o["time_column"], "track_album_release_date");
    assert_eq!(o["test_periods"], serde_json::json!([2010]));
    let train: Vec<i64> = o["train_periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(train, [1970, 1980, 1990, 2000]);
    // Every modelled track is on one side of the time split.
    assert_eq!(
        o["train_rows"].as_u64().unwrap() + o["test_rows"].as_u64().unwrap(),
        metrics["meta"]["rows"].as_u64().unwrap()
    );
    let md = std::fs::read_to_string(dir.path().join("r/REPORT.md")).unwrap();
    let section = &md[md.find("## Out of time").unwrap()..];
    let summary = o["summary"].as_str().unwrap();
    assert!(section.contains(summary));
    assert!(summary.contains("1970s–2000s") && summary.contains("2010s"));
    for m in o["models"].as_array().unwrap() {
        let (r, t) = (
            m["random_split"]["roc_auc"].as_f64().unwrap(),
            m["out_of_time"]["roc_auc"].as_f64().unwrap(),
        );
        let word = if t < r { "lower" } else { "higher" };
        let title = m["title"].as_str().unwrap();
        assert!(
            summary.contains(&format!("{title} {word} by {:.3}", (t - r).abs())),
            "{summary}"
        );
    }
}

#[test]
fn bootstrap_is_reproducible_from_the_seed_and_thread_count_free() {
    let (d, _) = synthesize(&SynthParams {
        n_tracks: 3000,
        ..Default::default()
    })
    .unwrap();
    let truth = d.true_prob.clone().unwrap();
    let noisy: Vec<f64> = truth
        .iter()
        .zip(&d.x[2])
        .map(|(t, v)| t + 0.2 * v)
        .collect();
    let run = |threads: usize, seed: u64| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                paired_bootstrap(&d.y, &["truth", "noisy"], &[&truth, &noisy], 400, seed).unwrap()
            })
    };
    let a = run(1, 5);
    assert_eq!(a, run(3, 5));
    assert_ne!(a.roc_auc, run(1, 6).roc_auc);
    assert_eq!(a.roc_auc[0].estimate, roc_auc(&d.y, &truth).unwrap());
    assert!(
        a.roc_auc[0].lower < a.roc_auc[0].estimate && a.roc_auc[0].estimate < a.roc_auc[0].upper
    );
}

/// On synthetic data the population ROC AUC of the true probabilities is known (to ±0.001
/// from 200,000 tracks); 95 % intervals from small samples must cover it about 95 % of the
/// time.
#[test]
fn bootstrap_intervals_cover_the_truth_on_synthetic_data() {
    let (big, _) = synthesize(&SynthParams {
        n_tracks: 200_000,
        seed: 1,
        ..Default::default()
    })
    .unwrap();
    let truth = roc_auc(&big.y, big.true_prob.as_ref().unwrap()).unwrap();
    let trials = 40u64;
    let (mut covered, mut width) = (0u64, 0.0);
    for t in 0..trials {
        let (d, _) = synthesize(&SynthParams {
            n_tracks: 800,
            seed: 100 + t,
            ..Default::default()
        })
        .unwrap();
        let p = d.true_prob.as_ref().unwrap();
        let b = paired_bootstrap(&d.y, &["truth"], &[p], 400, t).unwrap();
        covered += u64::from(b.roc_auc[0].covers(truth));
        width += b.roc_auc[0].upper - b.roc_auc[0].lower;
    }
    assert!(
        covered >= 34,
        "covered the truth in {covered} of {trials} trials"
    );
    // Not by being uselessly wide: about 4 standard errors of an AUC on 800 tracks.
    let width = width / trials as f64;
    assert!(width < 0.15, "mean interval width {width}");
}

#[test]
fn the_ranking_sentence_says_indistinguishable_on_a_tie_and_claims_no_cause() {
    let source = DataSource::Synthetic(SynthParams {
        n_tracks: 1500,
        ..Default::default()
    });
    let prepared = source.prepare(&SplitOptions::default(), 42).unwrap();
    let (mut report, _) = build(&prepared, "synthetic", 42, &quick_options(), &|_| {}).unwrap();
    let text = takeaway(&report);
    assert!(!text.contains("non-linear effects add"), "{text}");
    assert!(
        text.contains("not a measured cause") || text.contains("cannot tell the two apart"),
        "{text}"
    );
    // Force a tie: every paired interval covers 0.
    for d in &mut report.bootstrap.differences {
        d.roc_auc.lower = -0.01;
        d.roc_auc.upper = 0.01;
    }
    let tie = ranking(&report);
    assert!(tie.contains("indistinguishable"), "{tie}");
    assert!(!tie.contains("ranks hits best"), "{tie}");
    // And a clear winner: every interval excludes 0 on the winner's side.
    let best = report
        .models
        .iter()
        .max_by(|a, b| a.holdout.roc_auc.total_cmp(&b.holdout.roc_auc))
        .unwrap()
        .family
        .name();
    for d in &mut report.bootstrap.differences {
        let sign = if d.a == best {
            1.0
        } else if d.b == best {
            -1.0
        } else {
            1.0
        };
        d.roc_auc.lower = sign * 0.01;
        d.roc_auc.upper = sign * 0.03;
        if sign < 0.0 {
            std::mem::swap(&mut d.roc_auc.lower, &mut d.roc_auc.upper);
        }
    }
    let clear = ranking(&report);
    assert!(clear.contains("ranks hits best"), "{clear}");
    assert!(!clear.contains("indistinguishable"), "{clear}");
}
