//! What to fit, checked once: a [`ModelSpec`] names a family and its hyper-parameters,
//! [`ModelSpec::check`] turns it into a [`CheckedSpec`] (the only place parameter errors
//! surface), and [`CheckedSpec::fit`] gives a [`Fitted`] model that remembers both its spec
//! and its seed. As linfa's params → checked params → fitted model:
//!
//! ```
//! use hitcast::data::{stratified_holdout, synthesize, SynthParams};
//! use hitcast::model::ModelSpec;
//!
//! let (data, _) = synthesize(&SynthParams { n_tracks: 2_000, ..Default::default() })?;
//! let (train, test) = data.split(&stratified_holdout(&data.y, 0.25, 42)?);
//! let boost = ModelSpec::boost().fit(&train, 42)?;
//! let auc = hitcast::eval::roc_auc(&test.y, &boost.predict_proba(&test)?)?;
//! assert!(auc > 0.6);
//! # Ok::<(), hitcast::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use super::{
    Boost, BoostParams, Family, Forest, ForestParams, Logistic, LogisticParams, Model, ModelParams,
    Trained,
};
use crate::data::Dataset;
use crate::error::Result;

/// One family and its hyper-parameters, unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", content = "params", rename_all = "lowercase")]
pub enum ModelSpec {
    Logistic(LogisticParams),
    Forest(ForestParams),
    Boost(BoostParams),
}

impl ModelSpec {
    /// Logistic regression with its default parameters (scikit-learn's `C = 1`).
    pub fn logistic() -> Self {
        ModelSpec::Logistic(LogisticParams::default())
    }

    /// The default random forest (300 trees).
    pub fn forest() -> Self {
        ModelSpec::Forest(ForestParams::default())
    }

    /// The default gradient boosting (300 rounds of depth 4).
    pub fn boost() -> Self {
        ModelSpec::Boost(BoostParams::default())
    }

    /// The family's entry of `params`: how a report's one parameter set becomes three specs.
    pub fn from_params(family: Family, params: &ModelParams) -> Self {
        match family {
            Family::Logistic => ModelSpec::Logistic(params.logistic.clone()),
            Family::Forest => ModelSpec::Forest(params.forest.clone()),
            Family::Boost => ModelSpec::Boost(params.boost.clone()),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ModelSpec::Logistic(_) => Family::Logistic,
            ModelSpec::Forest(_) => Family::Forest,
            ModelSpec::Boost(_) => Family::Boost,
        }
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`crate::Error::Param`] naming the first parameter out of its range.
    pub fn check(self) -> Result<CheckedSpec> {
        match &self {
            ModelSpec::Logistic(p) => p.check()?,
            ModelSpec::Forest(p) => p.check()?,
            ModelSpec::Boost(p) => p.check()?,
        }
        Ok(CheckedSpec(self))
    }

    /// Checks, then fits on every track of `train`: `spec.check()?.fit(train, seed)`.
    ///
    /// # Errors
    /// As [`ModelSpec::check`] and [`CheckedSpec::fit`].
    pub fn fit(&self, train: &Dataset, seed: u64) -> Result<Fitted> {
        self.clone().check()?.fit(train, seed)
    }
}

/// A [`ModelSpec`] whose parameters passed [`ModelSpec::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSpec(ModelSpec);

impl CheckedSpec {
    pub fn spec(&self) -> &ModelSpec {
        &self.0
    }

    pub fn family(&self) -> Family {
        self.0.family()
    }

    /// Fits on every track of `train`. All randomness comes from `seed`; the model does not
    /// depend on the number of threads.
    ///
    /// # Errors
    /// [`crate::Error::OneClass`] when `train` has one class, [`crate::Error::Fit`] when the
    /// family cannot fit it.
    pub fn fit(&self, train: &Dataset, seed: u64) -> Result<Fitted> {
        let rows: Vec<usize> = (0..train.len()).collect();
        self.fit_rows(train, &rows, seed)
    }

    /// Fits on the tracks `rows` of `data` without copying them out first (how
    /// cross-validation fits each fold). The same model as `fit(&data.subset(rows), seed)`.
    ///
    /// # Errors
    /// As [`CheckedSpec::fit`].
    pub fn fit_rows(&self, data: &Dataset, rows: &[usize], seed: u64) -> Result<Fitted> {
        let model = match &self.0 {
            // Checked once, by `ModelSpec::check`.
            ModelSpec::Logistic(p) => {
                Trained::Logistic(Logistic::fit_checked(data, rows, p, seed)?)
            }
            ModelSpec::Forest(p) => Trained::Forest(Forest::fit_checked(data, rows, p, seed)?),
            ModelSpec::Boost(p) => Trained::Boost(Boost::fit_checked(data, rows, p, seed)?),
        };
        Ok(Fitted {
            spec: self.0.clone(),
            seed,
            model,
        })
    }
}

/// A fitted model of any family, with the spec and seed that made it. Scores without
/// importing a trait; [`Fitted::model`] is what artifacts save.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    spec: ModelSpec,
    seed: u64,
    model: Trained,
}

impl Fitted {
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn family(&self) -> Family {
        self.model.family()
    }

    pub fn feature_names(&self) -> &[String] {
        self.model.feature_names()
    }

    /// The fitted model itself (what [`super::Artifact`] saves and the explainers read).
    pub fn model(&self) -> &Trained {
        &self.model
    }

    pub fn into_model(self) -> Trained {
        self.model
    }

    /// Probability of a hit for every track of `data`, matching features by name.
    ///
    /// # Errors
    /// [`crate::Error::MissingFeature`] naming the first model feature `data` lacks.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<f64>> {
        self.model.predict_proba(data)
    }

    /// Probability of a hit for one track (features in [`Fitted::feature_names`] order).
    pub fn predict_proba_one(&self, row: &[f64]) -> f64 {
        self.model.predict_proba_one(row)
    }

    /// The family's native importance per feature, summing to 1.
    pub fn importances(&self) -> Vec<f64> {
        self.model.importances()
    }
}

/// A fitted model scores, and evaluates, as the model it holds (so `&Fitted` works wherever
/// a `&dyn Model` does: permutation importance, partial dependence).
impl Model for Fitted {
    fn family(&self) -> Family {
        self.model.family()
    }
    fn feature_names(&self) -> &[String] {
        self.model.feature_names()
    }
    fn predict_proba_columns(&self, x: &[&[f64]]) -> Vec<f64> {
        Model::predict_proba_columns(&self.model, x)
    }
    fn importances(&self) -> Vec<f64> {
        self.model.importances()
    }
}

impl AsRef<Trained> for Fitted {
    fn as_ref(&self) -> &Trained {
        &self.model
    }
}
