//! A holdout sample explained: mean |SHAP| per feature, and on the synthetic data whose
//! true log-odds are known, whether the interaction values recovered the generator's
//! danceability × energy interaction and tempo sweet spot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Explainer, Explanation};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{Model, Trained};

/// Holdout tracks explained for the importance and the figures (evenly spaced).
pub const SHAP_ROWS: usize = 120;
/// Holdout tracks whose interaction values are computed (synthetic data only).
pub const INTERACTION_ROWS: usize = 60;

/// What the report says about one model's exact attributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapReport {
    /// Holdout tracks explained.
    pub rows: usize,
    /// The model's base log-odds.
    pub base: f64,
    /// Feature → mean |contribution| (log-odds) over the tracks.
    pub mean_abs: BTreeMap<String, f64>,
    /// On synthetic data: interaction values against the generator's truth.
    pub interactions: Option<InteractionCheck>,
    /// On synthetic data with more than [`INTERACTION_MAX_FEATURES`] features: the
    /// interaction check was not run (it would take minutes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interactions_skipped: bool,
}

/// Most features the report's interaction check runs with: beyond six, exact interaction
/// values take the recursive algorithm, about a second of CPU per track and tree model
/// with fifteen features.
pub const INTERACTION_MAX_FEATURES: usize = super::SUBSET_MAX_FEATURES;

/// A pair of features and its share of the mean |interaction value| mass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairShare {
    pub a: String,
    pub b: String,
    /// Mean over tracks of `|Φab| + |Φba|`, divided by the mean of `Σ |Φij|` over all
    /// entries (main effects included).
    pub share: f64,
}

/// Interaction values of one model on the synthetic holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionCheck {
    pub rows: usize,
    /// Every pair, largest share first (ties in feature order).
    pub pairs: Vec<PairShare>,
    /// The share of the main effects (the diagonal).
    pub main_share: f64,
    /// Whether danceability × energy ranks first among the pairs.
    pub danceability_energy_first: bool,
    /// Mean tempo contribution of tracks within 12 BPM of 120, of those at 90 BPM or
    /// slower and of those at 150 BPM or faster (`None` when no track is there). The sweet
    /// spot is recovered only when the middle beats *both* sides: a model monotone in tempo
    /// (the linear one) can beat the mean of the two sides but never both.
    pub tempo_near_120: Option<f64>,
    pub tempo_below_90: Option<f64>,
    pub tempo_above_150: Option<f64>,
}

impl InteractionCheck {
    /// Whether the tempo contribution peaks near 120 BPM: above both slower and faster tracks.
    pub fn sweet_spot_found(&self) -> Option<bool> {
        match (
            self.tempo_near_120,
            self.tempo_below_90,
            self.tempo_above_150,
        ) {
            (Some(m), Some(lo), Some(hi)) => Some(m > lo && m > hi),
            _ => None,
        }
    }
}

/// The explained sample of one model, kept for the figures (not in `metrics.json`).
pub struct ShapPoints {
    /// Per track, each feature's contribution.
    pub contributions: Vec<Vec<f64>>,
    /// Per track, each feature's value.
    pub values: Vec<Vec<f64>>,
}

/// Evenly spaced rows of `test`: at most `k`.
fn sample(n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    (0..k).map(|i| i * n / k).collect()
}

/// Explains an evenly spaced sample of [`SHAP_ROWS`] tracks of `test` (a holdout) with
/// `model`: mean |contribution| per feature and, on synthetic data (whose true log-odds are
/// known), the interaction check on [`INTERACTION_ROWS`] of them. The report's SHAP section.
///
/// # Errors
/// Missing features, non-finite values, or a model without covers.
pub fn summarise(model: &Trained, test: &Dataset) -> Result<(ShapReport, ShapPoints)> {
    let names = model.feature_names().to_vec();
    let rows = test.subset(&sample(test.len(), SHAP_ROWS));
    let cols = model.columns(&rows)?;
    let explainer = Explainer::new(model)?;
    let explained = explainer.explain(&cols)?;
    let n = explained.len().max(1) as f64;
    let mean_abs = names
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let m = explained
                .iter()
                .map(|e| e.contributions[j].abs())
                .sum::<f64>()
                / n;
            (f.clone(), m)
        })
        .collect();
    let index = |f: &str| names.iter().position(|n| n == f);
    let truth = (
        &test.true_prob,
        index("danceability"),
        index("energy"),
        index("tempo"),
    );
    let skipped = matches!(truth, (Some(_), Some(_), Some(_), Some(_)))
        && names.len() > INTERACTION_MAX_FEATURES;
    let interactions = match truth {
        (Some(_), Some(d), Some(e), Some(t)) if !skipped => {
            let few = test.subset(&sample(test.len(), INTERACTION_ROWS));
            let few_cols = model.columns(&few)?;
            let matrices = explainer.interactions(&few_cols)?;
            Some(check(&names, &matrices, &cols, &explained, (d, e, t)))
        }
        _ => None,
    };
    let base = explained.first().map_or(f64::NAN, |e| e.base);
    let points = ShapPoints {
        values: (0..explained.len())
            .map(|i| cols.iter().map(|c| c[i]).collect())
            .collect(),
        contributions: explained.into_iter().map(|e| e.contributions).collect(),
    };
    Ok((
        ShapReport {
            rows: points.values.len(),
            base,
            mean_abs,
            interactions,
            interactions_skipped: skipped,
        },
        points,
    ))
}

fn check(
    names: &[String],
    matrices: &[Vec<Vec<f64>>],
    cols: &[&[f64]],
    explained: &[Explanation],
    (d, e, t): (usize, usize, usize),
) -> InteractionCheck {
    let p = names.len();
    let rows = matrices.len().max(1) as f64;
    let mut mass = vec![vec![0.0; p]; p];
    for m in matrices {
        for i in 0..p {
            for j in 0..p {
                mass[i][j] += m[i][j].abs() / rows;
            }
        }
    }
    let total: f64 = mass.iter().flatten().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut pairs = Vec::new();
    for i in 0..p {
        for j in i + 1..p {
            pairs.push(PairShare {
                a: names[i].clone(),
                b: names[j].clone(),
                share: (mass[i][j] + mass[j][i]) / total,
            });
        }
    }
    pairs.sort_by(|x, y| y.share.total_cmp(&x.share));
    let main_share = (0..p).map(|i| mass[i][i]).sum::<f64>() / total;
    let (dn, en) = (names[d].as_str(), names[e].as_str());
    let danceability_energy_first = pairs
        .first()
        .is_some_and(|q| q.share > 0.0 && ((q.a == dn && q.b == en) || (q.a == en && q.b == dn)));
    let mean = |keep: &dyn Fn(f64) -> bool| {
        let (s, k) = explained
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(cols[t][*i]))
            .fold((0.0, 0usize), |(s, k), (_, x)| {
                (s + x.contributions[t], k + 1)
            });
        (k > 0).then(|| s / k as f64)
    };
    InteractionCheck {
        rows: matrices.len(),
        danceability_energy_first,
        pairs,
        main_share,
        tempo_near_120: mean(&|x| (x - 120.0).abs() <= 12.0),
        tempo_below_90: mean(&|x| x <= 90.0),
        tempo_above_150: mean(&|x| x >= 150.0),
    }
}
