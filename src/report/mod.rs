//! The report: every model measured the same way on the same rows, rendered as
//! `metrics.json` (the stable schema below), `REPORT.md`, a self-contained `report.html` and
//! SVG figures. Rendering is pure; [`write`] swaps the whole folder in at once.
//!
//! `metrics.json` schema (version 1): `schema_version`, `meta` (crate version, seed, data
//! source, file name, SHA-256, row counts, split rule, hyper-parameters), `oracle_roc_auc`
//! (synthetic data only), `models[]` with `name`, `title`, `holdout.{accuracy, precision,
//! recall, f1, roc_auc, pr_auc, brier, log_loss, confusion_at_05, f1_threshold,
//! confusion_at_f1_threshold}`, `cv.{k, roc_auc_folds, roc_auc_mean, roc_auc_sd}`,
//! `calibration.{bins, ece}`, `importance.{native_kind, native, permutation}`,
//! `partial_dependence`, `shap.{rows, base, mean_abs, interactions}` (exact attributions on
//! a sample of the holdout; `interactions` on synthetic data only: `pairs[]` with `a`, `b`,
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

pub use honest::{
    data_card, ranking, DataCard, OutOfTime, OutOfTimeModel, PeriodScore, Predictions,
};
pub use render::{render_html, render_markdown, takeaway};
pub use shap::{InteractionCheck, PairShare, ShapReport};

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Prepared};
use crate::error::Result;
use crate::eval::{
    self, Calibration, Confusion, CrossValidation, PartialDependence, PermutationImportance,
    TopProfile,
};
use crate::model::{Family, Model, ModelParams, Trained};
use crate::plot::{self, Axes, Legend, Series};

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
    /// Checks the settings, so that no flag can ask for unbounded work.
    ///
    /// # Errors
    /// [`crate::Error::Param`] for folds outside 2–20, repeats outside 1–100, calibration bins
    /// outside 2–100 or partial-dependence points outside 2–200.
    pub fn check(&self) -> Result<()> {
        let within = |name: &'static str, v: usize, lo: usize, hi: usize, reason: &'static str| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(crate::Error::param(name, v, reason))
            }
        };
        within("cv_folds", self.cv_folds, 2, 20, "must be in 2–20")?;
        within(
            "permutation_repeats",
            self.permutation_repeats,
            1,
            100,
            "must be in 1–100",
        )?;
        within(
            "calibration_bins",
            self.calibration_bins,
            2,
            100,
            "must be in 2–100",
        )?;
        within("pd_points", self.pd_points, 2, 200, "must be in 2–200")
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

/// Holdout metrics of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    /// 95 % paired-bootstrap interval of `roc_auc`.
    pub roc_auc_ci: [f64; 2],
    pub pr_auc: f64,
    /// 95 % paired-bootstrap interval of `pr_auc`.
    pub pr_auc_ci: [f64; 2],
    pub brier: f64,
    pub log_loss: f64,
    pub confusion_at_05: Confusion,
    /// Chosen on the training folds' out-of-fold predictions, never on the holdout.
    pub f1_threshold: f64,
    pub confusion_at_f1_threshold: Confusion,
}

/// Importances of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// What `native` measures.
    pub native_kind: String,
    /// Feature → share of the native importance.
    pub native: BTreeMap<String, f64>,
    /// Drop in holdout ROC AUC when the feature is shuffled, in feature order.
    pub permutation: Vec<PermutationImportance>,
}

/// Everything measured about one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub name: String,
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
        self.models.iter().find(|m| m.name == family.name())
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
    shap_points: shap::ShapPoints,
    /// Holdout probabilities, in the order of the holdout rows.
    p: Vec<f64>,
    roc: Series,
    pr: Series,
    calibration: Series,
}

/// Trains `family` on the training rows, measures it on the holdout, cross-validates it and
/// explains it.
fn evaluate(
    family: Family,
    prepared: &Prepared,
    test: &Dataset,
    seed: u64,
    options: &ReportOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Evaluated> {
    let data = &prepared.dataset;
    let split = &prepared.split;
    progress(&format!("{}: training", family.title()));
    let model = Trained::fit(family, data, &split.train, &options.params, seed)?;
    let p = model.predict_proba(test)?;
    progress(&format!(
        "{}: {}-fold cross-validation",
        family.title(),
        options.cv_folds
    ));
    let cv = eval::cross_validate_grouped(
        family,
        data,
        &split.train,
        &prepared.groups,
        &options.params,
        options.cv_folds,
        seed,
    )?;
    let train_y: Vec<u8> = split.train.iter().map(|&i| data.y[i]).collect();
    let f1_threshold = eval::f1_optimal_threshold(&train_y, &cv.out_of_fold);
    let c05 = Confusion::at(&test.y, &p, 0.5);
    let holdout = Holdout {
        accuracy: c05.accuracy(),
        precision: c05.precision(),
        recall: c05.recall(),
        f1: c05.f1(),
        roc_auc: eval::roc_auc(&test.y, &p)?,
        // Filled in by `build` from the paired bootstrap over all models.
        roc_auc_ci: [f64::NAN; 2],
        pr_auc: eval::average_precision(&test.y, &p)?,
        pr_auc_ci: [f64::NAN; 2],
        brier: eval::brier(&test.y, &p),
        log_loss: eval::log_loss(&test.y, &p),
        confusion_at_05: c05,
        f1_threshold,
        confusion_at_f1_threshold: Confusion::at(&test.y, &p, f1_threshold),
    };
    progress(&format!("{}: permutation importance", family.title()));
    let permutation =
        eval::permutation_importance(&model, test, options.permutation_repeats, seed)?;
    let native = model
        .feature_names()
        .iter()
        .cloned()
        .zip(model.importances())
        .collect();
    let native_kind = match family {
        Family::Logistic => "|standardised coefficient| share",
        Family::Forest => "impurity (Gini) decrease share",
        Family::Boost => "total split gain share",
    };
    let partial_dependence = model
        .feature_names()
        .iter()
        .map(|f| eval::partial_dependence(&model, test, f, options.pd_points, 500, seed))
        .collect::<Result<Vec<_>>>()?;
    let calibration = eval::calibration(&test.y, &p, options.calibration_bins);
    progress(&format!("{}: explanations", family.title()));
    let (shap_report, shap_points) = shap::evaluate(&model, test)?;
    Ok(Evaluated {
        shap_points,
        p: p.clone(),
        roc: Series {
            name: format!("{} (AUC {:.3})", family.title(), holdout.roc_auc),
            points: eval::roc_curve(&test.y, &p)?,
        },
        pr: Series {
            name: format!("{} (AP {:.3})", family.title(), holdout.pr_auc),
            points: eval::pr_curve(&test.y, &p)?,
        },
        calibration: Series {
            name: format!("{} (ECE {:.3})", family.title(), calibration.ece),
            points: calibration
                .bins
                .iter()
                .map(|b| (b.mean_predicted, b.fraction_hits))
                .collect(),
        },
        report: ModelReport {
            name: family.name().to_string(),
            title: family.title().to_string(),
            holdout,
            cv,
            calibration,
            importance: Importance {
                native_kind: native_kind.to_string(),
                native,
                permutation,
            },
            partial_dependence,
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
    let evaluated: Vec<Result<Evaluated>> = Family::ALL
        .par_iter()
        .map(|&family| evaluate(family, prepared, &test, seed, options, progress))
        .collect();
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
        models: models.iter().map(|m| m.name.clone()).collect(),
        ..Predictions::default()
    };
    predictions.push(data, &split.test, "holdout", &holdout_p);
    progress("out-of-time models");
    let time_column = prepared
        .ingest
        .as_ref()
        .and_then(|r| r.time_column.clone())
        .unwrap_or_else(|| "decade".into());
    let out_of_time = match honest::out_of_time(prepared, &holdout_p, &time_column, options, seed)?
    {
        Some((section, rows, p)) => {
            predictions.push(data, &rows, "out_of_time", &p);
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
            data_sha256: data.hash(),
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
        top100: eval::top_profile(data, 100),
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
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let scores: Vec<&[f64]> = p.iter().map(Vec::as_slice).collect();
    let b = eval::paired_bootstrap(y, &names, &scores, options.bootstrap_resamples, seed)?;
    for ((m, roc), pr) in models.iter_mut().zip(&b.roc_auc).zip(&b.pr_auc) {
        m.holdout.roc_auc_ci = [roc.lower, roc.upper];
        m.holdout.pr_auc_ci = [pr.lower, pr.upper];
    }
    Ok(b)
}

fn unit_axes<'a>(x_label: &'a str, y_label: &'a str, diagonal: bool, legend: Legend) -> Axes<'a> {
    Axes {
        x_label,
        y_label,
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        diagonal,
        legend,
    }
}

/// An axis title with the feature's unit where it has one.
fn axis_name(feature: &str) -> String {
    match feature {
        "tempo" => "tempo (BPM)".into(),
        "loudness" => "loudness (dB)".into(),
        "duration_ms" => "duration (ms)".into(),
        "chorus_hit" => "chorus start (s)".into(),
        other if crate::data::feature_range(other) == Some((0.0, 1.0)) => format!("{other} (0–1)"),
        other => other.to_string(),
    }
}

/// The Top-100 (or hits vs non-hits) profile: each group's feature means ÷ the all-data mean.
fn top_figure(top: &TopProfile, features: &[String]) -> Result<String> {
    let ratio = |v: f64, all: f64| if all.abs() > 1e-12 { v / all } else { 1.0 };
    let mut series = vec![(
        top.label.clone(),
        top.features
            .iter()
            .map(|t| ratio(t.top_mean, t.all_mean))
            .collect(),
    )];
    let title = match top.features.iter().all(|t| t.non_hit_mean.is_some()) {
        true => {
            series.push((
                "Non-hits".to_string(),
                top.features
                    .iter()
                    .map(|t| ratio(t.non_hit_mean.unwrap_or(t.all_mean), t.all_mean))
                    .collect(),
            ));
            "Hits vs non-hits (feature mean ÷ all-data mean)"
        }
        false => "Top-100 vs all tracks (feature mean ÷ all-data mean)",
    };
    series.push((
        "All tracks".to_string(),
        top.features.iter().map(|_| 1.0).collect(),
    ));
    plot::bars(
        title,
        "mean relative to all tracks (1 = same)",
        features,
        &series,
    )
}

fn figures(report: &Report, data: &Dataset, curves: Curves) -> Result<Figures> {
    let mut f = Figures::new();
    f.insert(
        "roc.svg".into(),
        plot::lines(
            "ROC curves on the holdout",
            &unit_axes(
                "false positive rate",
                "true positive rate",
                true,
                Legend::LowerRight,
            ),
            &curves.roc,
        )?,
    );
    f.insert(
        "pr.svg".into(),
        plot::lines(
            "Precision–recall on the holdout",
            &unit_axes("recall", "precision", false, Legend::LowerLeft),
            &curves.pr,
        )?,
    );
    f.insert(
        "calibration.svg".into(),
        plot::lines(
            "Calibration (reliability) on the holdout",
            &unit_axes(
                "mean predicted hit probability",
                "observed share of hits",
                true,
                Legend::UpperLeft,
            ),
            &curves.calibration,
        )?,
    );
    // Top row at 0.5, bottom row at each model's F1-optimal threshold.
    let panels: Vec<(String, Confusion)> = [false, true]
        .iter()
        .flat_map(|&tuned| {
            report.models.iter().map(move |m| {
                let c = if tuned {
                    &m.holdout.confusion_at_f1_threshold
                } else {
                    &m.holdout.confusion_at_05
                };
                let rule = if tuned {
                    "at the F1 threshold"
                } else {
                    "at threshold"
                };
                (format!("{}\n{rule} {:.2}", m.title, c.threshold), *c)
            })
        })
        .collect();
    f.insert(
        "confusion.svg".into(),
        plot::confusion(
            "Confusion matrices on the holdout",
            &panels,
            report.models.len(),
        )?,
    );
    let features = &report.meta.features;
    f.insert(
        "importance_permutation.svg".into(),
        plot::bars(
            "Permutation importance (holdout ROC AUC drop)",
            "ROC AUC drop when the feature is shuffled",
            features,
            &report
                .models
                .iter()
                .map(|m| {
                    (
                        m.title.clone(),
                        m.importance.permutation.iter().map(|p| p.mean).collect(),
                    )
                })
                .collect::<Vec<_>>(),
        )?,
    );
    f.insert(
        "importance_native.svg".into(),
        plot::bars(
            "Native importance (share per model)",
            "share of the model's importance",
            features,
            &report
                .models
                .iter()
                .map(|m| {
                    (
                        m.title.clone(),
                        features
                            .iter()
                            .map(|x| m.importance.native.get(x).copied().unwrap_or(0.0))
                            .collect(),
                    )
                })
                .collect::<Vec<_>>(),
        )?,
    );
    f.insert(
        "top100_profile.svg".into(),
        top_figure(&report.top100, features)?,
    );
    for (j, name) in features.iter().enumerate() {
        let col = &data.x[j];
        let (lo, hi) = col
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let bins = 30;
        let width = ((hi - lo) / bins as f64).max(1e-12);
        let mut hist = [vec![0.0; bins], vec![0.0; bins]];
        for (i, &v) in col.iter().enumerate() {
            let b = (((v - lo) / width) as usize).min(bins - 1);
            hist[usize::from(data.y[i])][b] += 1.0;
        }
        let series: Vec<Series> = [("non-hits", 0), ("hits", 1)]
            .iter()
            .map(|&(label, c)| {
                let total: f64 = hist[c].iter().sum::<f64>().max(1.0);
                Series {
                    name: label.to_string(),
                    points: hist[c]
                        .iter()
                        .enumerate()
                        .map(|(b, n)| (lo + width * (b as f64 + 0.5), n / total))
                        .collect(),
                }
            })
            .collect();
        let ymax = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max)
            * 1.15;
        f.insert(
            format!("distribution_{name}.svg"),
            plot::lines(
                &format!("{name}: hits vs non-hits"),
                &Axes {
                    x_label: &axis_name(name),
                    y_label: "share of the class's tracks",
                    x_range: (lo, hi.max(lo + 1e-9)),
                    y_range: (0.0, ymax.max(1e-3)),
                    diagonal: false,
                    legend: Legend::UpperRight,
                },
                &series,
            )?,
        );
        let pd: Vec<Series> = report
            .models
            .iter()
            .map(|m| Series {
                name: m.title.clone(),
                points: m.partial_dependence[j]
                    .grid
                    .iter()
                    .copied()
                    .zip(m.partial_dependence[j].mean_probability.iter().copied())
                    .collect(),
            })
            .collect();
        let (pmin, pmax) = pd
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold((1.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let grid = &report.models[0].partial_dependence[j].grid;
        f.insert(
            format!("partial_dependence_{name}.svg"),
            plot::lines(
                &format!("Partial dependence on {name}"),
                &Axes {
                    x_label: &axis_name(name),
                    y_label: "mean predicted hit probability",
                    x_range: (grid[0], grid[grid.len() - 1].max(grid[0] + 1e-9)),
                    // Headroom above the curves keeps the legend off them.
                    y_range: ((pmin - 0.05).max(0.0), (pmax + 0.12).min(1.0)),
                    diagonal: false,
                    legend: Legend::UpperLeft,
                },
                &pd,
            )?,
        );
    }
    Ok(f)
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

/// [`write`], choosing whether a folder HitCast did not write may be replaced (`--force`).
///
/// # Errors
/// As [`write`].
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
