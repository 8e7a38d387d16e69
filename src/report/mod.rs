//! The report: every model measured the same way on the same rows, rendered as
//! `metrics.json` (the stable schema below), `REPORT.md`, a self-contained `report.html` and
//! SVG figures. Rendering is pure; [`write`](fn@write) swaps the whole folder in at once.
//!
//! `metrics.json` schema (version 1): `schema_version`, `meta` (crate version, seed, data
//! source, file name, SHA-256, row counts, split rule, hyper-parameters), `oracle_roc_auc`
//! (synthetic data only), `models[]` with `name`, `title`, `holdout.{accuracy, precision,
//! recall, f1, roc_auc, pr_auc, brier, log_loss, confusion_at_05, f1_threshold,
//! confusion_at_f1_threshold}`, `cv.{k, roc_auc_folds, roc_auc_mean, roc_auc_sd}`,
//! `calibration.{bins, ece}`, `importance.{native_kind, native, permutation}`,
//! `partial_dependence`, `shap.{rows, base, mean_abs, interactions, interactions_skipped}`
//! (exact attributions on a sample of the holdout; `interactions` on synthetic data of at
//! most six features only, `interactions_skipped` true beyond: `pairs[]` with `a`, `b`,
//! `share`, `main_share`, `danceability_energy_first`, `tempo_below_90`,
//! `tempo_near_120`, `tempo_above_150`), and `top100` and `warnings`.
//!
//! Added without breaking readers of version 1: `holdout.{roc_auc_ci, pr_auc_ci}` (95 %
//! bootstrap intervals), `bootstrap` (resamples, seed, per-model intervals and every pair's
//! paired ROC AUC difference), `data_card` (source, label rule, resolved cut and ties, hit
//! rate, grouping, caveats), `out_of_time` (null without a period column), `top100.label`
//! and `top100.features[].non_hit_mean` (hits vs non-hits when the data has no popularity).
//! `warnings` lists every data check that fired. Per-row holdout predictions are in
//! `predictions.csv` beside `metrics.json`.

mod honest;
mod render;
mod shap;

pub use crate::explain::{InteractionCheck, PairShare, ShapReport};
pub use honest::{
    data_card, ranking, DataCard, OutOfTime, OutOfTimeModel, PeriodScore, Predictions,
};
pub use render::{render_html, render_markdown, takeaway};

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Prepared};
use crate::error::Result;
use crate::eval::{self, Calibration, CrossValidation, PartialDependence, TopProfile};
pub use crate::eval::{Holdout, Importance};
use crate::model::{Family, ModelParams, ModelSpec};
use crate::plot::{self, Series};

/// Version of the `metrics.json` schema.
pub const SCHEMA_VERSION: u32 = 1;

/// Settings of a report run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    /// Folds of the cross-validation on the training rows. Default 5.
    pub cv_folds: usize,
    /// Shuffles per feature in permutation importance. Default 5.
    pub permutation_repeats: usize,
    /// Bins of the reliability curve. Default 10.
    pub calibration_bins: usize,
    /// Grid points of partial dependence. Default 25.
    pub pd_points: usize,
    /// Resamples of the paired bootstrap behind the holdout intervals. Default 1000.
    pub bootstrap_resamples: usize,
    pub params: ModelParams,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            cv_folds: 5,
            permutation_repeats: 5,
            calibration_bins: 10,
            pd_points: 25,
            bootstrap_resamples: 1000,
            params: ModelParams::default(),
        }
    }
}

impl ReportOptions {
    /// The evaluation settings of each model's section.
    pub fn eval(&self) -> eval::EvalOptions {
        eval::EvalOptions {
            cv_folds: self.cv_folds,
            permutation_repeats: self.permutation_repeats,
            calibration_bins: self.calibration_bins,
            pd_points: self.pd_points,
        }
    }

    /// Checks the settings, so that no flag can ask for unbounded work.
    ///
    /// # Errors
    /// As [`eval::EvalOptions::check`].
    pub fn check(&self) -> Result<()> {
        self.eval().check()
    }
}

/// Where the data came from and how it was used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub crate_version: String,
    pub seed: u64,
    /// `synthetic` or the CSV file name (never a full path).
    pub data_source: String,
    pub data_sha256: String,
    pub rows: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    pub hit_rate: f64,
    pub features: Vec<String>,
    pub split_rule: String,
    pub options: ReportOptions,
}

/// Everything measured about one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The family, written as its short name (`"name": "logistic"`).
    #[serde(rename = "name")]
    pub family: Family,
    pub title: String,
    pub holdout: Holdout,
    pub cv: CrossValidation,
    pub calibration: Calibration,
    pub importance: Importance,
    pub partial_dependence: Vec<PartialDependence>,
    /// Exact attributions on a sample of the holdout (and interactions on synthetic data).
    pub shap: ShapReport,
}

/// The whole report, serialised as `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub meta: Meta,
    /// ROC AUC of the true probabilities on the holdout (synthetic data only).
    pub oracle_roc_auc: Option<f64>,
    pub models: Vec<ModelReport>,
    /// Intervals and paired differences of the holdout ranking metrics.
    pub bootstrap: eval::PairedBootstrap,
    pub data_card: DataCard,
    /// Train on the earlier periods, test on the latest (data with a period column only).
    pub out_of_time: Option<OutOfTime>,
    pub top100: TopProfile,
    /// Every data check that fired.
    pub warnings: Vec<String>,
    /// Per-row probabilities behind the metrics, written as `predictions.csv`.
    #[serde(skip)]
    pub predictions: Predictions,
}

impl Report {
    /// The model report of `family`.
    pub fn model(&self, family: Family) -> Option<&ModelReport> {
        self.models.iter().find(|m| m.family == family)
    }

    /// `metrics.json` text: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("reports hold only JSON values");
        s.push('\n');
        s
    }
}

/// Figures by file name (`roc.svg`, …), in name order.
pub type Figures = BTreeMap<String, String>;

/// Curves kept for the figures.
struct Curves {
    roc: Vec<Series>,
    pr: Vec<Series>,
    calibration: Vec<Series>,
}

/// One model family measured: its section of the report and its curves.
struct Evaluated {
    report: ModelReport,
    shap_points: crate::explain::ShapPoints,
    /// Holdout probabilities, in the order of the holdout rows.
    p: Vec<f64>,
    roc: Series,
    pr: Series,
    calibration: Series,
}

/// Trains `family` on the training rows, measures it on the holdout, cross-validates it
/// ([`eval::evaluate`]) and explains it.
fn evaluate(
    family: Family,
    prepared: &Prepared,
    test: &Dataset,
    seed: u64,
    options: &ReportOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Evaluated> {
    let spec = ModelSpec::from_params(family, &options.params).check()?;
    // The holdout subset once for all three families, not once each.
    let task = eval::Task {
        data: &prepared.dataset,
        split: &prepared.split,
        groups: &prepared.groups,
        test,
    };
    let explain = |model: &crate::model::Fitted| {
        progress(&format!("{}: explanations", family.title()));
        crate::explain::summarise(model.model(), test)
    };
    let (_, e, (shap_report, shap_points)) =
        eval::evaluate_task_with(&spec, &task, &options.eval(), seed, progress, explain)?;
    let p = e.probabilities;
    Ok(Evaluated {
        shap_points,
        roc: Series {
            name: format!("{} (AUC {:.3})", family.title(), e.holdout.roc_auc),
            points: eval::roc_curve(&test.y, &p)?,
        },
        pr: Series {
            name: format!("{} (AP {:.3})", family.title(), e.holdout.pr_auc),
            points: eval::pr_curve(&test.y, &p)?,
        },
        calibration: Series {
            name: format!("{} (ECE {:.3})", family.title(), e.calibration.ece),
            points: e
                .calibration
                .bins
                .iter()
                .map(|b| (b.mean_predicted, b.fraction_hits))
                .collect(),
        },
        p,
        report: ModelReport {
            family,
            title: family.title().to_string(),
            holdout: e.holdout,
            cv: e.cv,
            calibration: e.calibration,
            importance: e.importance,
            partial_dependence: e.partial_dependence,
            shap: shap_report,
        },
    })
}

/// Runs the evaluation: trains the three models on the training rows, measures them on the
/// holdout, cross-validates on the training rows, and draws the figures. `progress` is told
/// about each long step; it may be called from several threads, the families' steps
/// interleaved.
///
/// The three families are evaluated side by side: the forest keeps every thread busy while
/// the others have single-threaded stretches. Each result depends only on its inputs, so the
/// report is the same whatever runs when.
///
/// # Errors
/// Any data, model or metric error (e.g. too few rows of a class for the folds); the first
/// family's in report order when several fail.
pub fn build(
    prepared: &Prepared,
    data_source: &str,
    seed: u64,
    options: &ReportOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Report, Figures)> {
    use rayon::prelude::*;
    options.check()?;
    let data = &prepared.dataset;
    let split = &prepared.split;
    let test = data.subset(&split.test);
    test.check_two_classes("the holdout")?;
    // Too few tracks of a class for the folds: said before any model trains, naming the
    // split's file when the data fixed it.
    crate::data::check_folds(&data.y, &prepared.groups, &split.train, options.cv_folds)
        .map_err(|e| prepared.split_context(e))?;
    let oracle_roc_auc = match &test.true_prob {
        Some(t) => Some(eval::roc_auc(&test.y, t)?),
        None => None,
    };
    // The out-of-time models need nothing from the report's own, so they train alongside
    // them and keep both cores busy while the last family finishes.
    let (evaluated, (out_of_time_fit, data_sha256, top100)) = rayon::join(
        || -> Vec<Result<Evaluated>> {
            Family::ALL
                .par_iter()
                .map(|&family| evaluate(family, prepared, &test, seed, options, progress))
                .collect()
        },
        || {
            progress("out-of-time models: training");
            let fit = eval::OutOfTimeFit::fit(prepared, &options.params, seed);
            (fit, data.hash(), eval::top_profile(data, 100))
        },
    );
    let mut models = Vec::new();
    let mut shap_points = Vec::new();
    let mut holdout_p = Vec::new();
    let mut curves = Curves {
        roc: Vec::new(),
        pr: Vec::new(),
        calibration: Vec::new(),
    };
    for e in evaluated {
        let e = e.map_err(|e| prepared.split_context(e))?;
        models.push(e.report);
        shap_points.push(e.shap_points);
        holdout_p.push(e.p);
        curves.roc.push(e.roc);
        curves.pr.push(e.pr);
        curves.calibration.push(e.calibration);
    }
    progress("bootstrap intervals");
    let bootstrap = holdout_intervals(&test.y, &mut models, &holdout_p, options, seed)?;
    let mut predictions = Predictions {
        models: models.iter().map(|m| m.family.name().to_string()).collect(),
        ..Predictions::default()
    };
    predictions.push(data, &split.test, "holdout", &holdout_p);
    let time_column = prepared
        .ingest
        .as_ref()
        .and_then(|r| r.time_column.clone())
        .unwrap_or_else(|| "decade".into());
    let bins = options.calibration_bins;
    let out_of_time = match out_of_time_fit? {
        Some(fit) => {
            let (mut section, rows, p) = fit.score(prepared, &holdout_p, &time_column, bins)?;
            predictions.push(data, &rows, "out_of_time", &p);
            section.summary = honest::out_of_time_summary(&section);
            Some(section)
        }
        None => None,
    };
    let report = Report {
        schema_version: SCHEMA_VERSION,
        meta: Meta {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            seed,
            data_source: data_source.to_string(),
            data_sha256,
            rows: data.len(),
            train_rows: split.train.len(),
            test_rows: split.test.len(),
            hit_rate: data.positives() as f64 / data.len() as f64,
            features: data.feature_names.clone(),
            split_rule: prepared.split_rule.clone(),
            options: options.clone(),
        },
        oracle_roc_auc,
        models,
        bootstrap,
        data_card: data_card(prepared, data_source),
        out_of_time,
        top100,
        warnings: prepared.warnings.clone(),
        predictions,
    };
    progress("drawing figures");
    let mut figures = figures(&report, data, curves)?;
    shap::figures(&report, &shap_points, &mut figures)?;
    Ok((report, figures))
}

/// The paired bootstrap of the holdout metrics, its intervals copied into each model's
/// holdout section.
fn holdout_intervals(
    y: &[u8],
    models: &mut [ModelReport],
    p: &[Vec<f64>],
    options: &ReportOptions,
    seed: u64,
) -> Result<eval::PairedBootstrap> {
    let names: Vec<&str> = models.iter().map(|m| m.family.name()).collect();
    let scores: Vec<&[f64]> = p.iter().map(Vec::as_slice).collect();
    let b = eval::paired_bootstrap(y, &names, &scores, options.bootstrap_resamples, seed)?;
    for ((m, roc), pr) in models.iter_mut().zip(&b.roc_auc).zip(&b.pr_auc) {
        m.holdout.roc_auc_ci = [roc.lower, roc.upper];
        m.holdout.pr_auc_ci = [pr.lower, pr.upper];
    }
    Ok(b)
}

fn figures(report: &Report, data: &Dataset, curves: Curves) -> Result<Figures> {
    let mut f = Figures::new();
    f.insert("roc.svg".into(), plot::roc_figure(&curves.roc)?);
    f.insert("pr.svg".into(), plot::pr_figure(&curves.pr)?);
    f.insert(
        "calibration.svg".into(),
        plot::calibration_figure(&curves.calibration)?,
    );
    let holdouts: Vec<(&str, &eval::Holdout)> = report
        .models
        .iter()
        .map(|m| (m.title.as_str(), &m.holdout))
        .collect();
    f.insert("confusion.svg".into(), plot::confusion_figure(&holdouts)?);
    let features = &report.meta.features;
    let permutation: Vec<(&str, &[eval::PermutationImportance])> = report
        .models
        .iter()
        .map(|m| (m.title.as_str(), &m.importance.permutation[..]))
        .collect();
    f.insert(
        "importance_permutation.svg".into(),
        plot::permutation_importance_figure(features, &permutation)?,
    );
    let native: Vec<(&str, &BTreeMap<String, f64>)> = report
        .models
        .iter()
        .map(|m| (m.title.as_str(), &m.importance.native))
        .collect();
    f.insert(
        "importance_native.svg".into(),
        plot::native_importance_figure(features, &native)?,
    );
    f.insert(
        "top100_profile.svg".into(),
        plot::top_profile_figure(&report.top100, features)?,
    );
    for (j, name) in features.iter().enumerate() {
        f.insert(
            format!("distribution_{name}.svg"),
            plot::distribution_figure(name, &data.x[j], &data.y)?,
        );
        let pd: Vec<(&str, &PartialDependence)> = report
            .models
            .iter()
            .map(|m| (m.title.as_str(), &m.partial_dependence[j]))
            .collect();
        f.insert(
            format!("partial_dependence_{name}.svg"),
            plot::partial_dependence_figure(name, &pd)?,
        );
    }
    Ok(f)
}

/// What `hitcast report` prints once the report is written to `dir`: the rows, the label,
/// each model's holdout and cross-validated scores, the warnings and the takeaway.
pub fn summary(report: &Report, dir: &Path, figures: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let m = &report.meta;
    let _ = writeln!(
        out,
        "{} tracks ({} train / {} holdout), seed {}",
        m.rows, m.train_rows, m.test_rows, m.seed
    );
    let card = &report.data_card;
    let _ = writeln!(
        out,
        "label: {}{}; hit rate {:.1} %",
        card.label_rule,
        match card.ties_at_cut {
            Some(ties) => format!(", {ties} tracks tie at the cut"),
            None => String::new(),
        },
        100.0 * card.hit_rate
    );
    let _ = writeln!(
        out,
        "{:<20} {:>8} {:>16} {:>8} {:>8}",
        "model", "ROC AUC", "CV ROC AUC", "Brier", "ECE"
    );
    for m in &report.models {
        let _ = writeln!(
            out,
            "{:<20} {:>8.4} {:>8.4} ± {:.4} {:>8.4} {:>8.4}",
            m.title,
            m.holdout.roc_auc,
            m.cv.roc_auc_mean,
            m.cv.roc_auc_sd,
            m.holdout.brier,
            m.calibration.ece
        );
    }
    if let Some(o) = report.oracle_roc_auc {
        let _ = writeln!(out, "{:<20} {o:>8.4}", "oracle");
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(out, "{}", takeaway(report));
    let _ = writeln!(
        out,
        "wrote {}/ (metrics.json, REPORT.md, report.html, {figures} figures)",
        dir.display()
    );
    out
}

/// Writes `metrics.json`, `REPORT.md`, `report.html` and `figures/` into `dir`, replacing
/// it as a whole (see [`crate::atomic::replace_dir`]): a failure never leaves a half-written
/// report, and a folder HitCast did not write is refused.
///
/// # Errors
/// [`crate::Error::Output`] when `dir` is a file or a folder of someone else's; [`crate::Error::Io`] naming
/// the path that could not be written.
pub fn write(dir: &Path, report: &Report, figures: &Figures) -> Result<()> {
    write_to(dir, report, figures, crate::atomic::Replace::OnlyOurs)
}

/// [`write`](fn@write), choosing whether a folder HitCast did not write may be replaced (`--force`).
///
/// # Errors
/// As [`write`](fn@write).
pub fn write_to(
    dir: &Path,
    report: &Report,
    figures: &Figures,
    replace: crate::atomic::Replace,
) -> Result<()> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("metrics.json".into(), report.to_json().into_bytes()),
        (
            "predictions.csv".into(),
            report.predictions.to_csv().into_bytes(),
        ),
        (
            "REPORT.md".into(),
            render_markdown(report, figures).into_bytes(),
        ),
        (
            "report.html".into(),
            render_html(report, figures).into_bytes(),
        ),
    ];
    for (file, svg) in figures {
        files.push((format!("figures/{file}"), svg.clone().into_bytes()));
    }
    crate::atomic::replace_dir(dir, &files, replace)
}
