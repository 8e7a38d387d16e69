//! Saved models: a versioned JSON schema holding everything needed to score new data and to
//! know what the model was trained on.
//!
//! Floats are written by serde_json's shortest round-trip formatting and read back with its
//! `float_roundtrip` parser, so load → predict gives bit-identical probabilities.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Family, ModelParams, Trained};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// The schema version this build reads and writes. Version 2 added each tree node's
/// training cover (`cover`, see [`super::Tree::cover`]), which explanations need; a version 1
/// artifact cannot be migrated honestly (the covers depend on the training rows and, for the
/// forest, on each tree's bootstrap sample), so it is refused with a request to retrain.
pub const SCHEMA_VERSION: u32 = 2;

/// Range of one feature over the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRange {
    pub name: String,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

/// A trained model with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Always [`SCHEMA_VERSION`] for artifacts this build writes.
    pub schema_version: u32,
    /// Version of the hitcast crate that trained the model.
    pub crate_version: String,
    pub family: Family,
    /// The family's hyper-parameters.
    pub params: serde_json::Value,
    /// Features in the order the model reads them.
    pub feature_names: Vec<String>,
    pub feature_ranges: Vec<FeatureRange>,
    /// SHA-256 of the training data's normalised CSV (all rows of the dataset).
    pub data_hash: String,
    /// Number of training rows and hits among them.
    pub training_rows: usize,
    pub training_hits: usize,
    /// Seed the model was fitted with.
    pub seed: u64,
    /// The fitted parameters.
    pub model: Trained,
}

impl Artifact {
    /// Wraps a model fitted on `rows` of `data`.
    pub fn new(
        model: Trained,
        data: &Dataset,
        rows: &[usize],
        params: &ModelParams,
        seed: u64,
    ) -> Artifact {
        let family = model.family();
        let params = match family {
            Family::Logistic => serde_json::to_value(&params.logistic),
            Family::Forest => serde_json::to_value(&params.forest),
            Family::Boost => serde_json::to_value(&params.boost),
        }
        .unwrap_or(serde_json::Value::Null);
        let feature_ranges = model
            .feature_names()
            .iter()
            .filter_map(|name| {
                let col = &data.x[data.feature_index(name)?];
                let values = rows.iter().map(|&i| col[i]);
                let (min, max, sum) = values
                    .fold((f64::INFINITY, f64::NEG_INFINITY, 0.0), |(a, b, s), v| {
                        (a.min(v), b.max(v), s + v)
                    });
                Some(FeatureRange {
                    name: name.clone(),
                    min,
                    mean: sum / rows.len().max(1) as f64,
                    max,
                })
            })
            .collect();
        Artifact {
            schema_version: SCHEMA_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            family,
            params,
            feature_names: model.feature_names().to_vec(),
            feature_ranges,
            data_hash: data.hash(),
            training_rows: rows.len(),
            training_hits: rows.iter().filter(|&&i| data.y[i] == 1).count(),
            seed,
            model,
        }
    }

    /// The file name an artifact of `family` is saved under: `model_<family>.json`.
    pub fn file_name(family: Family) -> String {
        format!("model_{}.json", family.name())
    }

    /// Serialises to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("artifacts hold only JSON-representable values")
    }

    /// Writes the artifact atomically.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::atomic::write(path, self.to_json().as_bytes())
    }

    /// Parses an artifact, checking its schema version and consistency.
    ///
    /// # Errors
    /// [`Error::Artifact`] naming `path` for invalid JSON (corrupt or truncated), another
    /// schema version, or a model whose features disagree with the header.
    pub fn from_json(text: &str, path: &Path) -> Result<Artifact> {
        let bad = |message: String| Error::Artifact {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not a valid model artifact (corrupt or truncated JSON: {e})"
            ))
        })?;
        match value.get("schema_version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(1) => {
                return Err(bad(format!(
                    "artifact schema version 1 has no node covers (explanations need them), and this hitcast reads version {SCHEMA_VERSION}; retrain with `hitcast train`"
                )))
            }
            Some(v) => {
                return Err(bad(format!(
                    "artifact schema version {v}, but this hitcast reads version {SCHEMA_VERSION}; retrain with `hitcast train`"
                )))
            }
            None => return Err(bad("no `schema_version`: not a hitcast model artifact".into())),
        }
        // Parse from the text again: going through `Value` would lose float round-tripping.
        let artifact: Artifact = serde_json::from_str(text)
            .map_err(|e| bad(format!("malformed model artifact: {e}")))?;
        if artifact.model.feature_names() != artifact.feature_names.as_slice()
            || artifact.model.family() != artifact.family
        {
            return Err(bad(
                "the model's features or family disagree with the artifact header".into(),
            ));
        }
        artifact
            .model
            .validate()
            .map_err(|e| bad(format!("inconsistent model: {e}")))?;
        Ok(artifact)
    }

    /// Fits `family` with its parameters from `params` on `prepared`'s training rows and
    /// wraps it with its provenance (nothing is saved).
    ///
    /// # Errors
    /// Parameter and fit errors, prefixed with where a fixed split came from.
    pub fn train(
        family: Family,
        prepared: &crate::data::Prepared,
        params: &ModelParams,
        seed: u64,
    ) -> Result<Artifact> {
        let data = &prepared.dataset;
        let rows = &prepared.split.train;
        let model = super::ModelSpec::from_params(family, params)
            .check()?
            .fit_rows(data, rows, seed)
            .map_err(|e| prepared.split_context(e))?
            .into_model();
        Ok(Artifact::new(model, data, rows, params, seed))
    }

    /// Every family trained on `prepared` ([`Artifact::train`]), in family order, each with
    /// its holdout ROC AUC. All train before any could be saved, so a failing family leaves
    /// no mixed set behind.
    ///
    /// # Errors
    /// As [`Artifact::train`]; metric errors when the holdout has one class.
    pub fn train_all(
        prepared: &crate::data::Prepared,
        params: &ModelParams,
        seed: u64,
    ) -> Result<Vec<(Artifact, f64)>> {
        let test = prepared.dataset.subset(&prepared.split.test);
        Family::ALL
            .iter()
            .map(|&family| {
                let a = Artifact::train(family, prepared, params, seed)?;
                let auc = crate::metrics::roc_auc(&test.y, &a.model.predict_proba(&test)?)?;
                Ok((a, auc))
            })
            .collect()
    }

    /// The artifacts in `dir`, in family order: whichever of `model_<family>.json` exist,
    /// at least one.
    ///
    /// # Errors
    /// [`Error::Artifact`] naming `dir` when it holds none (saying to train), or as
    /// [`Artifact::load_family`] for one that exists.
    pub fn load_all(dir: &Path) -> Result<Vec<Artifact>> {
        let mut artifacts = Vec::new();
        for family in Family::ALL {
            if dir.join(Artifact::file_name(family)).exists() {
                artifacts.push(Artifact::load_family(dir, family)?);
            }
        }
        if artifacts.is_empty() {
            return Err(Error::Artifact {
                path: dir.to_path_buf(),
                message: "no model_*.json artifacts; run `hitcast train` first".into(),
            });
        }
        Ok(artifacts)
    }

    /// The artifacts of all three families in `dir`, trained on `prepared` with `params`
    /// and saved first when any is missing, unreadable or trained on other data (their
    /// `data_hash` differs). `notify` hears why models are being trained.
    ///
    /// # Errors
    /// Training and IO errors.
    pub fn load_or_train(
        dir: &Path,
        prepared: &crate::data::Prepared,
        params: &ModelParams,
        seed: u64,
        notify: &mut dyn FnMut(&str),
    ) -> Result<Vec<Artifact>> {
        let hash = prepared.dataset.hash();
        let mut out = Vec::new();
        for family in Family::ALL {
            let path = dir.join(Artifact::file_name(family));
            let reason = match Artifact::load_family(dir, family) {
                Ok(a) if a.data_hash == hash => {
                    out.push(a);
                    continue;
                }
                Ok(_) => "was trained on other data",
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    "does not exist"
                }
                Err(_) => "is unreadable",
            };
            notify(&format!("{} {reason}: training it now", path.display()));
            let artifact = Artifact::train(family, prepared, params, seed)?;
            artifact.save(&path)?;
            out.push(artifact);
        }
        Ok(out)
    }

    /// Reads and checks an artifact file.
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable, otherwise as [`Artifact::from_json`].
    pub fn load(path: &Path) -> Result<Artifact> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Artifact::from_json(&text, path)
    }

    /// Reads the artifact in `family`'s slot (`model_<family>.json`) and checks that it holds
    /// that family: a copied `model_forest.json` in the boost slot is refused, not scored twice.
    ///
    /// # Errors
    /// As [`Artifact::load`], and [`Error::Artifact`] when the file holds another family.
    pub fn load_family(dir: &Path, family: Family) -> Result<Artifact> {
        let path = dir.join(Artifact::file_name(family));
        let artifact = Artifact::load(&path)?;
        if artifact.family != family {
            return Err(Error::Artifact {
                path,
                message: format!(
                    "holds a {} model, but this file name is the {} model's slot",
                    artifact.family, family
                ),
            });
        }
        Ok(artifact)
    }
}
