//! The report's figures, one public function each, composed from evaluation outputs: a
//! notebook draws any one of them (say partial dependence from [`crate::eval::partial_dependence`])
//! without building a report. Each returns the SVG text.

use std::collections::BTreeMap;

use super::{bars, confusion, lines, Axes, Legend, Series};
use crate::error::Result;
use crate::eval::{Confusion, Holdout, PartialDependence, PermutationImportance, TopProfile};

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
pub fn axis_name(feature: &str) -> String {
    match feature {
        "tempo" => "tempo (BPM)".into(),
        "loudness" => "loudness (dB)".into(),
        "duration_ms" => "duration (ms)".into(),
        "chorus_hit" => "chorus start (s)".into(),
        other if crate::data::feature_range(other) == Some((0.0, 1.0)) => format!("{other} (0–1)"),
        other => other.to_string(),
    }
}

/// ROC curves on the holdout, one series per model ([`crate::eval::roc_curve`] points).
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn roc_figure(curves: &[Series]) -> Result<String> {
    lines(
        "ROC curves on the holdout",
        &unit_axes(
            "false positive rate",
            "true positive rate",
            true,
            Legend::LowerRight,
        ),
        curves,
    )
}

/// Precision–recall curves on the holdout ([`crate::eval::pr_curve`] points).
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn pr_figure(curves: &[Series]) -> Result<String> {
    lines(
        "Precision–recall on the holdout",
        &unit_axes("recall", "precision", false, Legend::LowerLeft),
        curves,
    )
}

/// Reliability curves (mean predicted probability, observed share of hits per bin).
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn calibration_figure(curves: &[Series]) -> Result<String> {
    lines(
        "Calibration (reliability) on the holdout",
        &unit_axes(
            "mean predicted hit probability",
            "observed share of hits",
            true,
            Legend::UpperLeft,
        ),
        curves,
    )
}

/// Confusion matrices of each `(title, holdout)`: the top row at threshold 0.5, the bottom
/// row at each model's F1-optimal threshold.
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn confusion_figure(models: &[(&str, &Holdout)]) -> Result<String> {
    let panels: Vec<(String, Confusion)> = [false, true]
        .iter()
        .flat_map(|&tuned| {
            models.iter().map(move |(title, h)| {
                let c = if tuned {
                    &h.confusion_at_f1_threshold
                } else {
                    &h.confusion_at_05
                };
                let rule = if tuned {
                    "at the F1 threshold"
                } else {
                    "at threshold"
                };
                (format!("{title}\n{rule} {:.2}", c.threshold), *c)
            })
        })
        .collect();
    confusion("Confusion matrices on the holdout", &panels, models.len())
}

/// Permutation importance (mean holdout ROC AUC drop) of each `(title, importances)`, the
/// importances in `features` order.
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn permutation_importance_figure(
    features: &[String],
    models: &[(&str, &[PermutationImportance])],
) -> Result<String> {
    bars(
        "Permutation importance (holdout ROC AUC drop)",
        "ROC AUC drop when the feature is shuffled",
        features,
        &models
            .iter()
            .map(|(title, p)| (title.to_string(), p.iter().map(|p| p.mean).collect()))
            .collect::<Vec<_>>(),
    )
}

/// Native importance shares of each `(title, feature → share)` (0 for a feature a model
/// does not list).
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn native_importance_figure(
    features: &[String],
    models: &[(&str, &BTreeMap<String, f64>)],
) -> Result<String> {
    bars(
        "Native importance (share per model)",
        "share of the model's importance",
        features,
        &models
            .iter()
            .map(|(title, native)| {
                (
                    title.to_string(),
                    features
                        .iter()
                        .map(|x| native.get(x).copied().unwrap_or(0.0))
                        .collect(),
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// The Top-100 (or hits vs non-hits) profile: each group's feature means ÷ the all-data mean.
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn top_profile_figure(top: &TopProfile, features: &[String]) -> Result<String> {
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
    bars(
        title,
        "mean relative to all tracks (1 = same)",
        features,
        &series,
    )
}

/// The distribution of feature `name` (values `column`, labels `y`) among hits and
/// non-hits: 30 equal-width bins over its range, each class's share per bin.
///
/// # Errors
/// [`crate::Error::Plot`] if plotters fails.
pub fn distribution_figure(name: &str, column: &[f64], y: &[u8]) -> Result<String> {
    let (lo, hi) = column
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let bins = 30;
    let width = ((hi - lo) / bins as f64).max(1e-12);
    let mut hist = [vec![0.0; bins], vec![0.0; bins]];
    for (i, &v) in column.iter().enumerate() {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        hist[usize::from(y[i] == 1)][b] += 1.0;
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
    lines(
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
    )
}

/// Partial dependence on `feature` of each `(title, curve)`; the curves share the first
/// one's grid range.
///
/// # Errors
/// [`crate::Error::Input`] for no curves or an empty grid; [`crate::Error::Plot`] if
/// plotters fails.
pub fn partial_dependence_figure(
    feature: &str,
    curves: &[(&str, &PartialDependence)],
) -> Result<String> {
    let grid = match curves.first() {
        Some((_, pd)) if !pd.grid.is_empty() => &pd.grid,
        _ => {
            return Err(crate::Error::Input(format!(
                "a partial-dependence figure of `{feature}` needs a curve with grid points"
            )))
        }
    };
    let pd: Vec<Series> = curves
        .iter()
        .map(|(title, pd)| Series {
            name: title.to_string(),
            points: pd
                .grid
                .iter()
                .copied()
                .zip(pd.mean_probability.iter().copied())
                .collect(),
        })
        .collect();
    let (pmin, pmax) = pd
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold((1.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    lines(
        &format!("Partial dependence on {feature}"),
        &Axes {
            x_label: &axis_name(feature),
            y_label: "mean predicted hit probability",
            x_range: (grid[0], grid[grid.len() - 1].max(grid[0] + 1e-9)),
            // Headroom above the curves keeps the legend off them.
            y_range: ((pmin - 0.05).max(0.0), (pmax + 0.12).min(1.0)),
            diagonal: false,
            legend: Legend::UpperLeft,
        },
        &pd,
    )
}

/// A model's exact contributions on a sample of tracks, as [`shap_summary_figure`] and
/// [`shap_dependence_figure`] draw them: per track, each feature's contribution to the
/// log-odds and its value (features in `features` order), and each feature's mean |SHAP|.
pub struct ShapSample<'a> {
    pub features: &'a [String],
    pub contributions: &'a [Vec<f64>],
    pub values: &'a [Vec<f64>],
    pub mean_abs: &'a BTreeMap<String, f64>,
}

impl ShapSample<'_> {
    /// Each feature's value range in the sample.
    fn ranges(&self) -> Vec<(f64, f64)> {
        (0..self.features.len())
            .map(|j| {
                self.values
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                        (a.min(v[j]), b.max(v[j]))
                    })
            })
            .collect()
    }

    /// Features by mean |SHAP|, largest first.
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.features.len()).collect();
        let importance = |j: usize| self.mean_abs.get(&self.features[j]).copied().unwrap_or(0.0);
        order.sort_by(|&a, &b| importance(b).total_cmp(&importance(a)));
        order
    }
}

/// The SHAP summary of the model titled `model`: a strip per feature (largest mean |SHAP| on
/// top), each track a dot at its contribution, coloured by the feature's value.
///
/// # Errors
/// [`crate::Error::Input`] for a sample without features; [`crate::Error::Plot`] if
/// plotters fails.
pub fn shap_summary_figure(model: &str, shap: &ShapSample) -> Result<String> {
    if shap.features.is_empty() {
        return Err(crate::Error::Input(
            "a SHAP summary needs at least one feature".into(),
        ));
    }
    let ranges = shap.ranges();
    let order = shap.order();
    let strips: Vec<Vec<(f64, f64)>> = order
        .iter()
        .map(|&j| {
            let (lo, hi) = ranges[j];
            shap.contributions
                .iter()
                .zip(shap.values)
                .map(|(c, v)| {
                    (
                        c[j],
                        if hi > lo {
                            (v[j] - lo) / (hi - lo)
                        } else {
                            0.5
                        },
                    )
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = order.iter().map(|&j| shap.features[j].clone()).collect();
    super::summary(
        &format!("{model}: contributions per track (blue low value, orange high)"),
        "contribution to the log-odds of a hit",
        &names,
        &strips,
    )
}

/// The SHAP dependence of the model titled `model` on its top feature (largest mean |SHAP|):
/// each track's contribution of that feature against its value.
///
/// # Errors
/// As [`shap_summary_figure`].
pub fn shap_dependence_figure(model: &str, shap: &ShapSample) -> Result<String> {
    let Some(&top) = shap.order().first() else {
        return Err(crate::Error::Input(
            "a SHAP dependence figure needs at least one feature".into(),
        ));
    };
    let ranges = shap.ranges();
    let points: Vec<(f64, f64)> = shap
        .contributions
        .iter()
        .zip(shap.values)
        .map(|(c, v)| (v[top], c[top]))
        .collect();
    let (ylo, yhi) = points
        .iter()
        .fold((0.0f64, 0.0f64), |(a, b), q| (a.min(q.1), b.max(q.1)));
    let pad = ((yhi - ylo) * 0.1).max(1e-3);
    let (xlo, xhi) = ranges[top];
    super::dependence(
        &format!("{model}: contribution of {}", shap.features[top]),
        &Axes {
            x_label: &axis_name(&shap.features[top]),
            y_label: "contribution to the log-odds",
            x_range: (xlo, xhi.max(xlo + 1e-9)),
            y_range: (ylo - pad, yhi + 3.0 * pad),
            diagonal: false,
            legend: Legend::UpperLeft,
        },
        &[(model.to_string(), points)],
    )
}
