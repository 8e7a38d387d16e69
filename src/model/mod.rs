//! The three model families behind one trait, [`Model`]: fit on a [`Dataset`] with checked
//! hyper-parameters, then `predict_proba` gives each track's probability of being a hit.
//!
//! - [`Logistic`]: standardised L2 logistic regression, fitted exactly by Newton's method.
//! - [`Forest`]: a histogram random forest (bootstrap, features sampled per split).
//! - [`Boost`]: XGBoost-style gradient-boosted trees (second-order logistic loss).
//!
//! [`Trained`] holds any of them; [`artifact`] saves and loads it.

pub mod artifact;
mod boost;
mod ensemble;
mod forest;
mod logistic;
mod spec;
mod tree;

pub use artifact::{Artifact, FeatureRange};
pub use boost::{Boost, BoostParams};
pub use ensemble::Ensemble;
pub use forest::{Forest, ForestParams, MAX_SAMPLES};
pub use logistic::{Logistic, LogisticParams};
pub use spec::{CheckedSpec, Fitted, ModelSpec};
pub use tree::{distinct_thresholds, Node, Tree};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// The model families, in the order reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Logistic,
    Forest,
    Boost,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Logistic, Family::Forest, Family::Boost];

    /// Short name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Family::Logistic => "logistic",
            Family::Forest => "forest",
            Family::Boost => "boost",
        }
    }

    /// Human name used in figures and reports.
    pub fn title(self) -> &'static str {
        match self {
            Family::Logistic => "Logistic regression",
            Family::Forest => "Random forest",
            Family::Boost => "Gradient boosting",
        }
    }

    /// What the family's native importance ([`Model::importances`]) measures.
    pub fn importance_kind(self) -> &'static str {
        match self {
            Family::Logistic => "|standardised coefficient| share",
            Family::Forest => "impurity (Gini) decrease share",
            Family::Boost => "total split gain share",
        }
    }

    /// Whether the model is linear in the features (its log-odds are a weighted sum), so it
    /// cannot represent interactions or sweet spots.
    pub fn is_linear(self) -> bool {
        self == Family::Logistic
    }

    /// Whether one fit already keeps every core busy (the forest grows its trees in
    /// parallel), so cross-validation on many rows runs its folds one after another instead
    /// of side by side, which keeps memory to one fold's model.
    pub fn fits_in_parallel(self) -> bool {
        self == Family::Forest
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Family {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| Error::param("model", s, "expected logistic, forest or boost"))
    }
}

/// Fitting: every family implements it with its own checked hyper-parameters.
pub trait Fit: Model + Sized {
    /// Checked hyper-parameters.
    type Params;

    /// Fits on the tracks `rows` of `data`. All randomness comes from `seed`; the result does
    /// not depend on the number of threads.
    ///
    /// # Errors
    /// [`Error::Param`] for invalid parameters, [`Error::OneClass`] / [`Error::Split`] / [`Error::Fit`] when the
    /// rows cannot be learned from.
    fn fit(data: &Dataset, rows: &[usize], params: &Self::Params, seed: u64) -> Result<Self>;
}

/// What every fitted model does. Rows passed to `predict_*` hold the model's features in
/// [`Model::feature_names`] order. Object-safe, so `&dyn Model` works across families.
pub trait Model {
    fn family(&self) -> Family;

    fn feature_names(&self) -> &[String];

    /// Probability of a hit for each row of column-major `x` (columns in model order).
    fn predict_proba_columns(&self, x: &[&[f64]]) -> Vec<f64>;

    /// Importance of each feature, summing to 1, where the family has a native measure
    /// (absolute standardised coefficients, impurity decrease, total gain).
    fn importances(&self) -> Vec<f64>;

    /// Probability of a hit for one track.
    fn predict_proba_one(&self, row: &[f64]) -> f64 {
        let cols: Vec<[f64; 1]> = row.iter().map(|&v| [v]).collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        self.predict_proba_columns(&refs)[0]
    }

    /// Probability of a hit for every track of `data`, matching features by name.
    ///
    /// # Errors
    /// [`Error::MissingFeature`] naming the first model feature `data` lacks.
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<f64>> {
        Ok(self.predict_proba_columns(&self.columns(data)?))
    }

    /// The columns of `data` the model reads, in model order, matched by name.
    ///
    /// # Errors
    /// [`Error::MissingFeature`] naming the first model feature `data` lacks.
    fn columns<'a>(&self, data: &'a Dataset) -> Result<Vec<&'a [f64]>> {
        self.feature_names()
            .iter()
            .map(|name| {
                data.feature_index(name)
                    .map(|j| &data.x[j][..])
                    .ok_or_else(|| Error::missing_feature("the data", name.as_str()))
            })
            .collect()
    }

    /// 0/1 decisions at `threshold`.
    ///
    /// # Errors
    /// As [`Model::predict_proba`].
    fn predict(&self, data: &Dataset, threshold: f64) -> Result<Vec<u8>> {
        Ok(self
            .predict_proba(data)?
            .into_iter()
            .map(|p| u8::from(p >= threshold))
            .collect())
    }
}

/// Hyper-parameters of all three families, as one serialisable value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelParams {
    pub logistic: LogisticParams,
    pub forest: ForestParams,
    pub boost: BoostParams,
}

/// A fitted model of any family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "lowercase")]
pub enum Trained {
    Logistic(Logistic),
    Forest(Forest),
    Boost(Boost),
}

impl Trained {
    /// Shorthand for `ModelSpec::from_params(family, params).check()?.fit_rows(data, rows,
    /// seed)?.into_model()`, kept for callers holding one [`ModelParams`] for all three
    /// families; the library itself fits through [`ModelSpec`], which checks parameters once.
    ///
    /// # Errors
    /// As [`ModelSpec::check`] and [`CheckedSpec::fit`].
    pub fn fit(
        family: Family,
        data: &Dataset,
        rows: &[usize],
        params: &ModelParams,
        seed: u64,
    ) -> Result<Trained> {
        Ok(ModelSpec::from_params(family, params)
            .check()?
            .fit_rows(data, rows, seed)?
            .into_model())
    }

    pub fn family(&self) -> Family {
        self.as_model().family()
    }

    pub fn feature_names(&self) -> &[String] {
        self.as_model().feature_names()
    }

    /// Probability of a hit for every track of `data`, matching features by name (as
    /// [`Model::predict_proba`], without importing the trait).
    ///
    /// # Errors
    /// [`Error::MissingFeature`] naming the first model feature `data` lacks.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<f64>> {
        Model::predict_proba(self, data)
    }

    /// Probability of a hit for one track (features in model order).
    pub fn predict_proba_one(&self, row: &[f64]) -> f64 {
        Model::predict_proba_one(self, row)
    }

    /// The family's native importance per feature, summing to 1.
    pub fn importances(&self) -> Vec<f64> {
        self.as_model().importances()
    }

    /// Checks a model read from outside (an artifact) before it scores anything: vector
    /// lengths match the features, numbers are finite and in the ranges the family can
    /// produce, and every tree reads only the model's features. The message names the tree
    /// and node.
    ///
    /// # Errors
    /// [`Error::Model`] describing the first violation.
    pub fn validate(&self) -> Result<()> {
        self.check_fields().map_err(Error::Model)
    }

    fn check_fields(&self) -> std::result::Result<(), String> {
        let names = self.feature_names();
        if names.is_empty() {
            return Err("the model has no features".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(format!("feature `{dup}` is listed twice"));
        }
        let p = names.len();
        let per_feature = |what: &str, v: &[f64]| -> std::result::Result<(), String> {
            if v.len() != p {
                return Err(format!("`{what}` has {} values for {p} features", v.len()));
            }
            match v.iter().position(|x| !x.is_finite()) {
                Some(j) => Err(format!("`{what}`[{j}] = {} is not finite", v[j])),
                None => Ok(()),
            }
        };
        match self {
            Trained::Logistic(m) => {
                per_feature("means", &m.means)?;
                per_feature("scales", &m.scales)?;
                per_feature("coefficients", &m.coefficients)?;
                if let Some(j) = m.scales.iter().position(|&s| s <= 0.0) {
                    return Err(format!("`scales`[{j}] = {} must be positive", m.scales[j]));
                }
                if !m.intercept.is_finite() {
                    return Err(format!("`intercept` = {} is not finite", m.intercept));
                }
            }
            Trained::Forest(m) => {
                per_feature("impurity_importance", &m.impurity_importance)?;
                // A forest's leaves are hit fractions; its probability is their mean.
                validate_trees(&m.trees, p, (0.0, 1.0))?;
            }
            Trained::Boost(m) => {
                per_feature("gain_importance", &m.gain_importance)?;
                if !m.base_score.is_finite() {
                    return Err(format!("`base_score` = {} is not finite", m.base_score));
                }
                // Leaves are log-odds steps; beyond ±1e3 a sum is no longer a probability
                // anyone trained.
                validate_trees(&m.trees, p, (-1e3, 1e3))?;
            }
        }
        Ok(())
    }

    fn as_model(&self) -> &dyn Model {
        match self {
            Trained::Logistic(m) => m,
            Trained::Forest(m) => m,
            Trained::Boost(m) => m,
        }
    }
}

impl Model for Trained {
    fn family(&self) -> Family {
        self.as_model().family()
    }
    fn feature_names(&self) -> &[String] {
        self.as_model().feature_names()
    }
    fn predict_proba_columns(&self, x: &[&[f64]]) -> Vec<f64> {
        self.as_model().predict_proba_columns(x)
    }
    fn importances(&self) -> Vec<f64> {
        self.as_model().importances()
    }
}

/// Checks that an ensemble has trees, that each is a tree reading only the model's `p`
/// features ([`Tree::check`]) and that its leaves lie in `range`.
fn validate_trees(trees: &[Tree], p: usize, range: (f64, f64)) -> std::result::Result<(), String> {
    if trees.is_empty() {
        return Err("the ensemble has no trees".into());
    }
    for (t, tree) in trees.iter().enumerate() {
        tree.check(p).map_err(|e| format!("tree {t}, {e}"))?;
        for (i, node) in tree.nodes.iter().enumerate() {
            let v = tree.values[i];
            if node.left as usize == i && !(range.0..=range.1).contains(&v) {
                return Err(format!(
                    "tree {t}, node {i}: leaf value {v} is outside {}–{}",
                    range.0, range.1
                ));
            }
        }
    }
    Ok(())
}

/// Scales `v` to sum to 1 (all zeros stay zeros).
pub(crate) fn normalise(mut v: Vec<f64>) -> Vec<f64> {
    let total: f64 = v.iter().sum();
    if total > 0.0 {
        v.iter_mut().for_each(|x| *x /= total);
    }
    v
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The features and labels of some rows: all that the three families fit on
/// (a full [`Dataset::subset`] would also copy every track's id, name and artist, hundreds
/// of MB at a million rows).
pub(crate) struct Xy {
    pub(crate) x: Vec<Vec<f64>>,
    pub(crate) y: Vec<u8>,
}

impl Xy {
    pub(crate) fn of(x: &[Vec<f64>], y: &[u8], rows: &[usize]) -> Xy {
        Xy {
            x: x.iter()
                .map(|c| rows.iter().map(|&i| c[i]).collect())
                .collect(),
            y: rows.iter().map(|&i| y[i]).collect(),
        }
    }

    pub(crate) fn subset(&self, rows: &[usize]) -> Xy {
        Xy::of(&self.x, &self.y, rows)
    }

    pub(crate) fn len(&self) -> usize {
        self.y.len()
    }
}
