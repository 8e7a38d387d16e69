//! Why this track? Exact per-track attributions (SHAP values) for all three families, in
//! log-odds, each with a base value, so that for every row
//! `base + Σ contributions = log-odds` and `sigmoid(log-odds) = predict_proba`.
//!
//! - **Logistic regression**: the exact linear SHAP values under feature independence,
//!   `φⱼ = βⱼ · (xⱼ − μⱼ) / σⱼ` with the training mean `μⱼ` and standard deviation `σⱼ`
//!   the model standardises with, and `base = intercept` (the log-odds at the training
//!   means, which is also the mean log-odds over the training rows).
//! - **Gradient boosting**: path-dependent TreeSHAP ([`tree_shap`]) of the sum of trees, which
//!   is already the log-odds: `base = base_score + Σ E[treeₜ]` with each tree's
//!   cover-weighted expectation. The covers are hessian sums, as XGBoost's.
//! - **Random forest**: the forest's output is a probability, the mean of its trees' leaf
//!   hit fractions, and TreeSHAP is exact in that space: `p = b + Σ ψⱼ` with the bootstrap
//!   row counts as covers. Its log-odds are `logit(p)` (with `p` clamped to
//!   [`FOREST_CLAMP`], `1 − FOREST_CLAMP`] so that a forest whose trees all say 0 or 1 stays
//!   finite). The log-odds contributions are the probability contributions times one factor,
//!   `φⱼ = ψⱼ · (logit p − logit b) / Σψ` (or `1 / (p (1 − p))`, the slope of the logit,
//!   when `p` and `b` are within 1e-9), with `base = logit b`: exactly additive, with the
//!   probability contributions' signs, ranks and ratios. They are not the Shapley values of
//!   `logit(p)`, which is no sum over trees; [`forest_probability`] gives the exact ones of
//!   `p`, which `shap`'s TreeExplainer computes too.
//!
//! Interaction values ([`interactions`]) split each contribution into a main effect and
//! pairwise interactions (Lundberg et al. 2020): `Φᵢⱼ = (φⱼ | i known − φⱼ | i unknown) / 2`,
//! `Φᵢᵢ = φᵢ − Σ_{j≠i} Φᵢⱼ`; rows of `Φ` sum to `φ`. The linear model has none.
//!
//! Rows are explained in parallel, each by itself and with its trees added in order, so the
//! values are the same bits whatever the number of threads.

mod low;
mod summary;
mod treeshap;

use rayon::prelude::*;
use serde::Serialize;

use crate::data::{feature_range, Dataset};
use crate::error::{Error, Result};
use crate::model::{sigmoid, Boost, Forest, Logistic, Model, Trained, Tree};
use low::LowOrder;
pub use summary::{
    summarise, InteractionCheck, PairShare, ShapPoints, ShapReport, INTERACTION_MAX_FEATURES,
    INTERACTION_ROWS, SHAP_ROWS,
};
use treeshap::{
    add_subset_values, add_tree, expected_value, interactions_from_values, shapley_from_values,
    used_features, Condition, Scratch, SUBSET_MAX_FEATURES,
};

/// The forest's probability is clamped to `[FOREST_CLAMP, 1 − FOREST_CLAMP]` before the logit,
/// so its log-odds stay finite (and their sigmoid within 1e-12 of the probability).
pub const FOREST_CLAMP: f64 = 1e-15;

/// One track's explanation by one model, in log-odds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The model's expected log-odds when no feature is known.
    pub base: f64,
    /// Each feature's contribution, in the model's feature order.
    pub contributions: Vec<f64>,
    /// The model's log-odds for the track: `base + Σ contributions`.
    pub log_odds: f64,
    /// `sigmoid(log_odds)`: the model's `predict_proba`.
    pub probability: f64,
}

/// Explains every row of column-major `x` (columns in the model's feature order).
///
/// # Errors
/// [`Error::Input`] for a wrong number of columns, columns of different lengths, a value
/// that is not a finite number or lies outside the feature's valid range (naming the row and
/// feature); [`Error::Model`] for a tree without node covers (an artifact to retrain).
pub fn explain(model: &Trained, x: &[&[f64]]) -> Result<Vec<Explanation>> {
    check_rows(model.feature_names(), x)?;
    Explainer::new(model)?.explain(x)
}

/// A model made ready to explain: its trees' expectation and their one- and two-feature
/// tables are computed once (tens of milliseconds for the default forest), so a dashboard
/// that explains a track on every slider move pays for them once.
#[derive(Debug, Clone)]
pub struct Explainer {
    model: Trained,
    /// Empty for the logistic regression, which needs nothing prepared.
    prep: Prepared,
}

impl Explainer {
    /// Prepares `model`.
    ///
    /// # Errors
    /// [`Error::Model`] for a tree without node covers (an artifact to retrain) or reading a
    /// feature beyond the model's.
    pub fn new(model: &Trained) -> Result<Explainer> {
        let p = model.feature_names().len();
        let prep = match model {
            Trained::Logistic(_) => Prepared {
                used: 0,
                expected: 0.0,
                low: None,
            },
            Trained::Forest(m) => prepare(&m.trees, 1.0 / m.trees.len() as f64, p)?,
            Trained::Boost(m) => prepare(&m.trees, 1.0, p)?,
        };
        Ok(Explainer {
            model: model.clone(),
            prep,
        })
    }

    /// The model explained.
    pub fn model(&self) -> &Trained {
        &self.model
    }

    /// A rough count of the steps explaining one track takes (about a nanosecond each on
    /// the benchmark machine), for callers that bound the work of a request: a few per
    /// feature for the logistic regression; for trees, their nodes with at most six features
    /// and leaves × depth² beyond.
    pub fn cost_per_track(&self) -> u64 {
        let p = self.model.feature_names().len();
        match &self.model {
            Trained::Logistic(_) => p as u64,
            Trained::Forest(m) => tree_cost(&m.trees, p),
            Trained::Boost(m) => tree_cost(&m.trees, p),
        }
    }

    /// As [`explain`].
    ///
    /// # Errors
    /// As [`explain`].
    pub fn explain(&self, x: &[&[f64]]) -> Result<Vec<Explanation>> {
        check_rows(self.model.feature_names(), x)?;
        Ok(match &self.model {
            Trained::Logistic(m) => {
                let e = logistic(m, x);
                // A valid model far outside its training range can push a term past f64:
                // its log-odds stay right (see `Logistic::log_odds`), its terms cannot.
                if let Some(i) = e
                    .iter()
                    .position(|e| e.contributions.iter().any(|c| !c.is_finite()))
                {
                    return Err(Error::Input(format!(
                        "row {i}: a logistic contribution overflows a 64-bit float (the track lies far outside the training range or the model's coefficients are extreme)"
                    )));
                }
                e
            }
            Trained::Forest(m) => forest(m, x, &self.prep),
            Trained::Boost(m) => boost(m, x, &self.prep),
        })
    }

    /// As [`interactions`].
    ///
    /// # Errors
    /// As [`interactions`].
    pub fn interactions(&self, x: &[&[f64]]) -> Result<Vec<Vec<Vec<f64>>>> {
        check_rows(self.model.feature_names(), x)?;
        let p = x.len();
        let prep = &self.prep;
        Ok(match &self.model {
            Trained::Logistic(m) => logistic(m, x)
                .iter()
                .map(|e| {
                    let mut matrix = vec![vec![0.0; p]; p];
                    for (j, v) in e.contributions.iter().enumerate() {
                        matrix[j][j] = *v;
                    }
                    matrix
                })
                .collect(),
            Trained::Boost(m) => per_row(x, |row| {
                tree_interactions_unchecked(&m.trees, row, 1.0, prep)
            }),
            Trained::Forest(m) => {
                let scale = 1.0 / m.trees.len() as f64;
                let psi = forest_psi(m, x, prep);
                let probabilities = m.predict_proba_columns(x);
                let raw = per_row(x, |row| {
                    tree_interactions_unchecked(&m.trees, row, scale, prep)
                });
                raw.into_iter()
                    .zip(psi.iter().zip(probabilities))
                    .map(|(matrix, (psi, p))| {
                        let factor = forest_factor(p, prep.expected, psi);
                        matrix
                            .into_iter()
                            .map(|r| r.into_iter().map(|v| v * factor).collect())
                            .collect()
                    })
                    .collect()
            }
        })
    }
}

fn prepare(trees: &[Tree], scale: f64, p: usize) -> Result<Prepared> {
    check_covers(trees)?;
    check_width(trees, p)?;
    Ok(Prepared::new(trees, scale, p, true))
}

/// Explains one track, its values in the model's feature order (as [`Dataset::row`] gives
/// them).
///
/// # Errors
/// As [`explain`].
pub fn explain_row(model: &Trained, row: &[f64]) -> Result<Explanation> {
    let cols: Vec<[f64; 1]> = row.iter().map(|&v| [v]).collect();
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
    explain(model, &refs)?
        .pop()
        .ok_or_else(|| Error::Input("explanations need a track".into()))
}

/// Explains every track of `data`, matching the model's features by name.
///
/// # Errors
/// As [`explain`], and [`Error::MissingFeature`] naming a model feature `data` lacks.
pub fn explain_dataset(model: &Trained, data: &Dataset) -> Result<Vec<Explanation>> {
    explain(model, &model.columns(data)?)
}

fn check_rows(names: &[String], x: &[&[f64]]) -> Result<()> {
    if x.len() != names.len() {
        return Err(Error::Input(format!(
            "explanations need the model's {} features ({}), got {} columns",
            names.len(),
            names.join(", "),
            x.len()
        )));
    }
    let n = x.first().map_or(0, |c| c.len());
    for (name, col) in names.iter().zip(x) {
        if col.len() != n {
            return Err(Error::Input(format!(
                "feature `{name}` has {} values, the first feature {n}",
                col.len()
            )));
        }
        let range = feature_range(name);
        for (i, &v) in col.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::Input(format!(
                    "row {i}, feature `{name}`: {v} is not a finite number"
                )));
            }
            if let Some((lo, hi)) = range {
                if v < lo || v > hi {
                    return Err(Error::Input(format!(
                        "row {i}, feature `{name}`: {v} is outside the valid range {lo}–{hi}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Every node needs a positive cover for the walk's ratios.
fn check_covers(trees: &[Tree]) -> Result<()> {
    for (t, tree) in trees.iter().enumerate() {
        if tree.cover.len() != tree.nodes.len() {
            return Err(Error::Model(format!(
                "tree {t} has no node covers, which explanations need; retrain the model with `hitcast train`"
            )));
        }
        // Training covers are positive (every child holds rows); a zero would divide by
        // zero in the walk's fractions.
        if let Some(i) = tree.cover.iter().position(|c| !(*c > 0.0 && c.is_finite())) {
            return Err(Error::Model(format!(
                "tree {t}, node {i}: cover {} (explanations need a positive cover at every node); retrain the model",
                tree.cover[i]
            )));
        }
    }
    Ok(())
}

/// Exact linear SHAP values of the logistic regression.
fn logistic(m: &Logistic, x: &[&[f64]]) -> Vec<Explanation> {
    let n = x.first().map_or(0, |c| c.len());
    (0..n)
        .map(|i| {
            let contributions: Vec<f64> = (0..m.coefficients.len())
                .map(|j| m.coefficients[j] * (x[j][i] - m.means[j]) / m.scales[j])
                .collect();
            let log_odds = m.log_odds(|j| x[j][i]);
            Explanation {
                base: m.intercept,
                contributions,
                log_odds,
                probability: sigmoid(log_odds),
            }
        })
        .collect()
}

/// Rows handed to one thread at a time (each row is explained by itself).
const CHUNK: usize = 16;

/// `f(row, out)` for each row of column-major `x`, in parallel, in row order.
fn per_row<T: Send>(x: &[&[f64]], f: impl Fn(&[f64]) -> T + Sync) -> Vec<T> {
    let n = x.first().map_or(0, |c| c.len());
    let p = x.len();
    let one = |i: usize| {
        let row: Vec<f64> = (0..p).map(|j| x[j][i]).collect();
        f(&row)
    };
    if n <= CHUNK {
        return (0..n).map(one).collect();
    }
    (0..n)
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(one)
        .collect()
}

/// The path-dependent TreeSHAP values of the sum of `trees` for one row (features in model
/// order), and the sum of the trees' expectations: `expected + Σ φ = Σ trees(row)` up to
/// rounding.
///
/// Two exact algorithms compute the same values (tests hold both to brute force): with at
/// most six features, one walk per tree gives the game's value for every subset of
/// features at once and the Shapley formula sums them (`2^p` lanes, branches where only the
/// empty set continues skipped); with more, Lundberg's Algorithm 2 ([`tree_shap_recursive`]).
///
/// # Errors
/// [`Error::Model`] for a tree without covers (or a non-positive cover), or a tree reading a
/// feature the row lacks.
pub fn tree_shap(trees: &[Tree], row: &[f64]) -> Result<(f64, Vec<f64>)> {
    check_covers(trees)?;
    check_width(trees, row.len())?;
    Ok(tree_shap_unchecked(
        trees,
        row,
        1.0,
        &Prepared::new(trees, 1.0, row.len(), true),
    ))
}

/// [`tree_shap`] by the subset walk alone, without the one- and two-feature tables (the
/// path taken when a model's trees use too many distinct thresholds to tabulate), for tests.
///
/// # Errors
/// As [`tree_shap`].
#[doc(hidden)]
pub fn tree_shap_untabulated(trees: &[Tree], row: &[f64]) -> Result<(f64, Vec<f64>)> {
    check_covers(trees)?;
    check_width(trees, row.len())?;
    Ok(tree_shap_unchecked(
        trees,
        row,
        1.0,
        &Prepared::new(trees, 1.0, row.len(), false),
    ))
}

/// [`tree_shap`] by Lundberg et al.'s Algorithm 2 whatever the number of features.
///
/// # Errors
/// As [`tree_shap`].
pub fn tree_shap_recursive(trees: &[Tree], row: &[f64]) -> Result<(f64, Vec<f64>)> {
    check_covers(trees)?;
    check_width(trees, row.len())?;
    Ok((expectation(trees, 1.0), recursive_shap(trees, row, 1.0)))
}

fn check_width(trees: &[Tree], p: usize) -> Result<()> {
    match trees
        .iter()
        .position(|t| t.n_leaves() < t.nodes.len() && t.max_feature() >= p)
    {
        Some(t) => Err(Error::Input(format!(
            "tree {t} reads feature {} but rows have {p} features",
            trees[t].max_feature()
        ))),
        None => Ok(()),
    }
}

/// What is computed once per model for its trees: the features they use, their
/// expectation, and (with at most six features, when small enough) the one- and two-feature
/// values as tables.
#[derive(Debug, Clone)]
struct Prepared {
    used: u64,
    expected: f64,
    low: Option<LowOrder>,
}

impl Prepared {
    fn new(trees: &[Tree], scale: f64, p: usize, tabulate: bool) -> Prepared {
        Prepared {
            used: used_features(trees),
            expected: expectation(trees, scale),
            low: if tabulate && p <= SUBSET_MAX_FEATURES {
                LowOrder::build(trees, p, scale)
            } else {
                None
            },
        }
    }
}

/// `v(S)` of every subset of the row's features, summed over the trees (scaled): from the
/// tables for one or two features, from the subset walk for the rest.
fn subset_values(trees: &[Tree], row: &[f64], scale: f64, prep: &Prepared) -> Vec<f64> {
    let lanes = 1usize << row.len();
    let mut v = vec![0.0; lanes];
    let alive: u64 = (1..lanes)
        .filter(|&s| prep.low.is_none() || s.count_ones() > 2)
        .fold(0, |m, s| m | 1 << s);
    if alive != 0 {
        let mut buf = Vec::new();
        for t in trees {
            add_subset_values(t, row, scale, alive, &mut v, &mut buf);
        }
    }
    if let Some(low) = &prep.low {
        low.fill(row, &mut v);
    }
    v[0] = prep.expected;
    v
}

/// Trees per block when one row's recursive TreeSHAP is spread over the pool (wide models
/// take about 0.1 s per track for 300 deep trees): each block sums in tree order and the
/// blocks add in order, so the bits do not depend on the thread count.
const TREE_BLOCK: usize = 25;

fn recursive_shap(trees: &[Tree], row: &[f64], scale: f64) -> Vec<f64> {
    let depth = trees.iter().map(|t| t.depth).max().unwrap_or(0);
    let block = |trees: &[Tree]| {
        let mut phi = vec![0.0; row.len()];
        let mut scratch = Scratch::new(depth);
        for t in trees {
            add_tree(t, row, &mut phi, scale, Condition::None, &mut scratch);
        }
        phi
    };
    if trees.len() <= TREE_BLOCK {
        return block(trees);
    }
    let blocks: Vec<Vec<f64>> = trees.par_chunks(TREE_BLOCK).map(block).collect();
    let mut phi = vec![0.0; row.len()];
    for b in &blocks {
        for (a, v) in phi.iter_mut().zip(b) {
            *a += v;
        }
    }
    phi
}

/// A rough count of the steps explaining one row takes for `trees` of rows with `p`
/// features (about a nanosecond each here): the subset walk visits nodes; the recursive
/// TreeSHAP extends and unwinds a path of up to the depth at every leaf.
fn tree_cost(trees: &[Tree], p: usize) -> u64 {
    trees
        .iter()
        .map(|t| {
            let (nodes, leaves, d) = (
                t.nodes.len() as u64,
                t.n_leaves() as u64,
                u64::from(t.depth) + 1,
            );
            if p <= SUBSET_MAX_FEATURES {
                nodes
            } else {
                leaves.saturating_mul(d * d)
            }
        })
        .fold(0u64, u64::saturating_add)
}

fn tree_shap_unchecked(
    trees: &[Tree],
    row: &[f64],
    scale: f64,
    prep: &Prepared,
) -> (f64, Vec<f64>) {
    let p = row.len();
    if p <= SUBSET_MAX_FEATURES {
        let v = subset_values(trees, row, scale, prep);
        (v[0], shapley_from_values(&v, p, prep.used))
    } else {
        (prep.expected, recursive_shap(trees, row, scale))
    }
}

fn expectation(trees: &[Tree], scale: f64) -> f64 {
    trees.iter().fold(0.0, |s, t| s + expected_value(t) * scale)
}

/// SHAP interaction values of the sum of `trees` for one row: a `p × p` matrix, symmetric,
/// whose rows sum to the row's [`tree_shap`] values. With at most six features from every
/// subset's value, else by conditioning Algorithm 2 on each feature
/// ([`tree_interactions_recursive`]).
///
/// # Errors
/// As [`tree_shap`].
pub fn tree_interactions(trees: &[Tree], row: &[f64]) -> Result<Vec<Vec<f64>>> {
    check_covers(trees)?;
    check_width(trees, row.len())?;
    Ok(tree_interactions_unchecked(
        trees,
        row,
        1.0,
        &Prepared::new(trees, 1.0, row.len(), true),
    ))
}

/// [`tree_interactions`] by conditioned Algorithm 2 whatever the number of features.
///
/// # Errors
/// As [`tree_shap`].
pub fn tree_interactions_recursive(trees: &[Tree], row: &[f64]) -> Result<Vec<Vec<f64>>> {
    check_covers(trees)?;
    check_width(trees, row.len())?;
    Ok(recursive_interactions(trees, row, 1.0))
}

fn tree_interactions_unchecked(
    trees: &[Tree],
    row: &[f64],
    scale: f64,
    prep: &Prepared,
) -> Vec<Vec<f64>> {
    let p = row.len();
    if p <= SUBSET_MAX_FEATURES {
        interactions_from_values(&subset_values(trees, row, scale, prep), p, prep.used)
    } else {
        recursive_interactions(trees, row, scale)
    }
}

fn recursive_interactions(trees: &[Tree], row: &[f64], scale: f64) -> Vec<Vec<f64>> {
    let p = row.len();
    let phi = recursive_shap(trees, row, scale);
    let mut scratch = Scratch::new(trees.iter().map(|t| t.depth).max().unwrap_or(0));
    let mut out = vec![vec![0.0; p]; p];
    for i in 0..p {
        let mut on = vec![0.0; p];
        let mut off = vec![0.0; p];
        for t in trees {
            add_tree(t, row, &mut on, scale, Condition::On(i), &mut scratch);
            add_tree(t, row, &mut off, scale, Condition::Off(i), &mut scratch);
        }
        let mut rest = 0.0;
        for j in 0..p {
            if j != i {
                out[i][j] = (on[j] - off[j]) / 2.0;
                rest += out[i][j];
            }
        }
        out[i][i] = phi[i] - rest;
    }
    out
}

/// The forest's exact TreeSHAP values in probability space for each row of column-major `x`:
/// the expected probability `b` and each feature's `ψⱼ`, with `b + Σ ψ = predict_proba` up
/// to rounding.
///
/// # Errors
/// As [`explain`].
pub fn forest_probability(m: &Forest, x: &[&[f64]]) -> Result<(f64, Vec<Vec<f64>>)> {
    check_rows(&m.feature_names, x)?;
    let prep = prepare(&m.trees, 1.0 / m.trees.len() as f64, x.len())?;
    Ok((prep.expected, forest_psi(m, x, &prep)))
}

/// The forest's probability-space values of each row, with `prep` made for its trees.
fn forest_psi(m: &Forest, x: &[&[f64]], prep: &Prepared) -> Vec<Vec<f64>> {
    let scale = 1.0 / m.trees.len() as f64;
    per_row(x, |row| tree_shap_unchecked(&m.trees, row, scale, prep).1)
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(FOREST_CLAMP, 1.0 - FOREST_CLAMP);
    (p / (1.0 - p)).ln()
}

/// The factor turning the forest's probability contributions `psi` (for probability `p`,
/// expected probability `b`) into log-odds contributions.
fn forest_factor(p: f64, b: f64, psi: &[f64]) -> f64 {
    let total: f64 = psi.iter().sum();
    if (p - b).abs() > 1e-9 && total != 0.0 {
        (logit(p) - logit(b)) / total
    } else {
        let q = p.clamp(FOREST_CLAMP, 1.0 - FOREST_CLAMP);
        1.0 / (q * (1.0 - q))
    }
}

fn forest(m: &Forest, x: &[&[f64]], prep: &Prepared) -> Vec<Explanation> {
    let (b, psi) = (prep.expected, forest_psi(m, x, prep));
    let probabilities = m.predict_proba_columns(x);
    let base = logit(b);
    psi.into_iter()
        .zip(probabilities)
        .map(|(psi, p)| {
            let log_odds = logit(p);
            let factor = forest_factor(p, b, &psi);
            Explanation {
                base,
                contributions: psi.iter().map(|v| v * factor).collect(),
                log_odds,
                probability: p,
            }
        })
        .collect()
}

fn boost(m: &Boost, x: &[&[f64]], prep: &Prepared) -> Vec<Explanation> {
    let base = m.base_score + prep.expected;
    let margins = m.trees.sum(x, m.base_score);
    let rows = per_row(x, |row| tree_shap_unchecked(&m.trees, row, 1.0, prep).1);
    rows.into_iter()
        .zip(margins)
        .map(|(contributions, log_odds)| Explanation {
            base,
            contributions,
            log_odds,
            probability: sigmoid(log_odds),
        })
        .collect()
}

/// SHAP interaction values for each row of column-major `x`, in log-odds: one `p × p`
/// matrix per row whose rows sum to the row's contributions ([`explain`]). Zero off the
/// diagonal for the logistic regression; for the forest, the probability-space values
/// scaled by the same factor as its contributions.
///
/// # Errors
/// As [`explain`].
pub fn interactions(model: &Trained, x: &[&[f64]]) -> Result<Vec<Vec<Vec<f64>>>> {
    check_rows(model.feature_names(), x)?;
    Explainer::new(model)?.interactions(x)
}

/// A feature's value in words, with its unit: `tempo 121 BPM`, `danceability 0.81`.
pub fn describe_value(feature: &str, value: f64) -> String {
    match feature {
        "tempo" => format!("tempo {value:.0} BPM"),
        "loudness" => format!("loudness {value:.1} dB"),
        "duration_ms" => {
            let s = (value / 1000.0).round() as i64;
            format!("duration {}:{:02}", s / 60, s % 60)
        }
        "chorus_hit" => format!("chorus at {value:.0} s"),
        "key" | "mode" | "time_signature" | "sections" => format!("{feature} {value:.0}"),
        _ => format!("{feature} {value:.2}"),
    }
}

/// The `k` largest contributions of `e` in words, largest magnitude first (ties in feature
/// order): `tempo 121 BPM: +0.42 log-odds`. `row` holds the track's values in model order.
pub fn reasons(names: &[String], row: &[f64], e: &Explanation, k: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..e.contributions.len()).collect();
    order.sort_by(|&a, &b| {
        e.contributions[b]
            .abs()
            .total_cmp(&e.contributions[a].abs())
    });
    order
        .into_iter()
        .take(k)
        .map(|j| {
            format!(
                "{}: {:+.2} log-odds",
                describe_value(&names[j], row.get(j).copied().unwrap_or(f64::NAN)),
                e.contributions[j]
            )
        })
        .collect()
}
