//! The what-if dashboard behind `hitcast serve`: one page (embedded, no CDN) with a slider per
//! feature and each model's hit probability, over a small JSON API. Requests are validated
//! field by field; every failure is a 4xx JSON error naming the field, never a 500.
//!
//! API (all JSON):
//! - `GET /api/health` → `{"status": "ok", "models": 3}`
//! - `GET /api/models` → features (range, all-data and Top-100 means), models (holdout
//!   metrics, importances), presets
//! - `POST /api/predict` with `{"features": {"danceability": 0.7, …}}` →
//!   `{"probabilities": {"logistic": …, "forest": …, "boost": …}}`
//! - `POST /api/predict/batch` with `{"tracks": [{…}, …]}` (at most 10,000) →
//!   `{"probabilities": [{…}, …]}`
//! - `POST /api/explain` with `{"features": {…}}` or `{"tracks": [{…}, …]}` (at most 1,000) →
//!   `{"explanations": …}`: per model the base, each feature's contribution (log-odds), the
//!   log-odds and the probability ([`crate::explain`])
//! - `POST /api/curves` with `{"features": {…}, "points": 25}` → `{"curves": […]}`: per
//!   feature its grid and each model's probability along it, the other features held
//! - `POST /api/neighbours` with `{"features": {…}, "k": 5}` → the nearest training tracks
//!   (standardised distance) with title, artist, label, probabilities and features
//! - `POST /api/position` with `{"features": {…}}` → each feature's percentile among all
//!   tracks and among hits, each model's probability and its percentile
//! - `POST /api/score` with `{"name": "tracks.csv", "csv": "…"}` (at most 1 MiB, 10,000
//!   tracks, any layout ingest reads) → each track's probabilities and the scored CSV

mod explain;
mod http;
mod json;
#[cfg(feature = "csv")]
mod upload;
mod whatif;

pub use explain::{EXPLAIN_BUDGET, MAX_EXPLAIN_BATCH};
#[cfg(feature = "csv")]
pub use upload::{MAX_UPLOAD_BYTES, MAX_UPLOAD_TRACKS};
pub use whatif::{CURVE_POINTS, MAX_CURVE_POINTS, MAX_NEIGHBOURS, NEIGHBOURS};

pub use http::{page_csp, router, run, Limits, BODY_LIMIT};

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::Value;

use crate::data::{feature_range, Prepared};
use crate::error::{Error, Result};
use crate::eval;
use crate::model::{Artifact, Model};

/// The `q` quantile of `values` (nearest rank; NaN for none).
fn quantile_of(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n => v[((n - 1) as f64 * q).round() as usize],
    }
}

/// Most tracks in one batch request.
pub const MAX_BATCH: usize = 10_000;

/// One slider: the feature's real range in the data and the two reference means.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureInfo {
    pub name: String,
    pub min: f64,
    pub max: f64,
    pub mean_all: f64,
    pub mean_top100: f64,
    /// Every value in the data is a whole number (key, mode, time signature).
    pub integer: bool,
    /// The slider's and the curves' range: the 0.5th to 99.5th percentile of the data, so a
    /// few extreme tracks (a 69-minute recording) do not squeeze every other value into a
    /// corner. Any value in `min`–`max` can still be typed or loaded.
    pub lo: f64,
    pub hi: f64,
}

/// What the page shows about one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub title: String,
    pub holdout_roc_auc: f64,
    pub holdout_pr_auc: f64,
    pub holdout_brier: f64,
    /// Native importance per feature, in feature order.
    pub importances: Vec<f64>,
}

/// A named set of feature values.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    pub name: String,
    pub values: BTreeMap<String, f64>,
}

/// Everything `/api/models` returns, and the models that answer predictions.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub data_source: String,
    pub top100_rule: String,
    pub features: Vec<FeatureInfo>,
    pub models: Vec<ModelInfo>,
    pub presets: Vec<Preset>,
    /// Tracks the "random track" preset draws from (a seeded sample of the data).
    pub sample_tracks: Vec<Preset>,
    /// Most tracks one `/api/explain` request may hold for these models (see
    /// [`Dashboard::explain_batch_limit`]).
    pub explain_batch_limit: usize,
    #[serde(skip)]
    artifacts: Vec<Artifact>,
    /// Each artifact prepared to explain once, at start (or why it cannot explain).
    #[serde(skip)]
    explainers: Vec<std::result::Result<crate::explain::Explainer, String>>,
    /// The training tracks, for neighbours and percentiles.
    #[serde(skip)]
    reference: whatif::Reference,
}

/// A request the API refuses: HTTP status, message and the offending field. Every 4xx the
/// server sends is one, as `{"error": "…", "field": "features.tempo"}` (`field` is `null`
/// when no field is at fault, e.g. a 404).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    pub field: Option<String>,
}

impl ApiError {
    fn bad(field: Option<&str>, error: String) -> Self {
        ApiError {
            status: 400,
            error,
            field: field.map(str::to_string),
        }
    }
}

impl Dashboard {
    /// Builds the dashboard from the data the models were trained on and their artifacts.
    ///
    /// # Errors
    /// [`Error::Model`] if the artifacts disagree on features or lack one of the data.
    pub fn build(
        prepared: &Prepared,
        data_source: &str,
        artifacts: Vec<Artifact>,
        seed: u64,
    ) -> Result<Dashboard> {
        let data = &prepared.dataset;
        let first = artifacts
            .first()
            .ok_or_else(|| Error::Config("the dashboard needs at least one model".into()))?;
        let names = first.feature_names.clone();
        if let Some(other) = artifacts.iter().find(|a| a.feature_names != names) {
            return Err(Error::Model(format!(
                "models disagree on features: {} vs {}",
                names.join(", "),
                other.feature_names.join(", ")
            )));
        }
        let top = eval::top_profile(data, 100);
        let mut features = Vec::new();
        for name in &names {
            let j = data
                .feature_index(name)
                .ok_or_else(|| Error::missing_feature("the data", name.as_str()))?;
            let col = &data.x[j];
            let (min, max) = col
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let t = top.features.iter().find(|t| &t.feature == name);
            features.push(FeatureInfo {
                name: name.clone(),
                min,
                max,
                mean_all: col.iter().sum::<f64>() / col.len() as f64,
                mean_top100: t.map_or(f64::NAN, |t| t.top_mean),
                integer: col.iter().all(|v| v.fract() == 0.0),
                lo: quantile_of(col, 0.005),
                hi: quantile_of(col, 0.995),
            });
        }
        let test = data.subset(&prepared.split.test);
        let mut models = Vec::new();
        for a in &artifacts {
            let p = a.model.predict_proba(&test)?;
            // The report's holdout metrics, measured the same way.
            let h = eval::Holdout::measure(&test.y, &p, 0.5)?;
            models.push(ModelInfo {
                name: a.family.name().to_string(),
                title: a.family.title().to_string(),
                holdout_roc_auc: h.roc_auc,
                holdout_pr_auc: h.pr_auc,
                holdout_brier: h.brier,
                importances: a.model.importances(),
            });
        }
        let values_of = |i: usize| -> BTreeMap<String, f64> {
            names
                .iter()
                .map(|n| (n.clone(), data.x[data.feature_index(n).unwrap_or(0)][i]))
                .collect()
        };
        let class_mean = |class: u8| -> BTreeMap<String, f64> {
            names
                .iter()
                .map(|n| {
                    let col = &data.x[data.feature_index(n).unwrap_or(0)];
                    let (s, c) = col
                        .iter()
                        .zip(&data.y)
                        .filter(|(_, &y)| y == class)
                        .fold((0.0, 0usize), |(s, c), (v, _)| (s + v, c + 1));
                    (n.clone(), s / c.max(1) as f64)
                })
                .collect()
        };
        let presets = vec![
            Preset {
                name: "average hit".into(),
                values: class_mean(1),
            },
            Preset {
                name: "average non-hit".into(),
                values: class_mean(0),
            },
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sample_tracks = (0..50.min(data.len()))
            .map(|_| {
                let i = rng.gen_range(0..data.len());
                Preset {
                    name: data.title(i),
                    values: values_of(i),
                }
            })
            .collect();
        let reference = whatif::Reference::new(
            data,
            &prepared.split.train,
            &prepared.split.test,
            &names,
            &artifacts,
        )?;
        let explainers: Vec<_> = artifacts
            .iter()
            .map(|a| crate::explain::Explainer::new(&a.model).map_err(|e| e.to_string()))
            .collect();
        let explain_batch_limit = explain::batch_limit(&explainers);
        Ok(Dashboard {
            data_source: data_source.to_string(),
            top100_rule: top.rule,
            features,
            models,
            presets,
            sample_tracks,
            explain_batch_limit,
            artifacts,
            explainers,
            reference,
        })
    }

    /// The models answering predictions, in family order.
    pub fn artifacts(&self) -> &[Artifact] {
        &self.artifacts
    }

    /// Each artifact's explainer, in family order.
    pub(crate) fn explainers(
        &self,
    ) -> impl Iterator<
        Item = (
            &Artifact,
            &std::result::Result<crate::explain::Explainer, String>,
        ),
    > {
        self.artifacts.iter().zip(&self.explainers)
    }

    /// Validates one track's features (an object of feature → number) into model order.
    fn parse_track(&self, value: &Value, prefix: &str) -> std::result::Result<Vec<f64>, ApiError> {
        let obj = value.as_object().ok_or_else(|| {
            ApiError::bad(
                Some(prefix),
                format!("`{prefix}` must be an object of feature values"),
            )
        })?;
        for key in obj.keys() {
            if !self.features.iter().any(|f| &f.name == key) {
                let field = format!("{prefix}.{key}");
                return Err(ApiError::bad(
                    Some(&field),
                    format!("unknown feature `{key}`"),
                ));
            }
        }
        self.features
            .iter()
            .map(|f| {
                let field = format!("{prefix}.{}", f.name);
                let v = obj.get(&f.name).ok_or_else(|| {
                    ApiError::bad(Some(&field), format!("missing feature `{}`", f.name))
                })?;
                let x = v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                    ApiError::bad(
                        Some(&field),
                        format!("`{}` must be a finite number, got {v}", f.name),
                    )
                })?;
                let (lo, hi) = feature_range(&f.name).unwrap_or((f.min, f.max));
                if x < lo || x > hi {
                    return Err(ApiError::bad(
                        Some(&field),
                        format!("`{}` = {x} is outside its valid range {lo}–{hi}", f.name),
                    ));
                }
                Ok(x)
            })
            .collect()
    }

    fn probabilities(&self, rows: &[Vec<f64>]) -> Vec<BTreeMap<String, f64>> {
        let p = self.features.len();
        let cols: Vec<Vec<f64>> = (0..p)
            .map(|j| rows.iter().map(|r| r[j]).collect())
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        let per_model: Vec<(String, Vec<f64>)> = self
            .artifacts
            .iter()
            .map(|a| {
                (
                    a.family.name().to_string(),
                    a.model.predict_proba_columns(&refs),
                )
            })
            .collect();
        (0..rows.len())
            .map(|i| per_model.iter().map(|(n, v)| (n.clone(), v[i])).collect())
            .collect()
    }

    /// Answers `POST /api/predict`.
    ///
    /// # Errors
    /// An [`ApiError`] (400) naming the field for malformed JSON, a duplicated key, an unknown
    /// top-level field, a missing, unknown, non-numeric or out-of-range feature.
    pub fn predict(&self, body: &[u8]) -> std::result::Result<Value, ApiError> {
        let v = json::parse_body(body, &["features"])?;
        let features = v.get("features").ok_or_else(|| {
            ApiError::bad(
                Some("features"),
                "the body needs a `features` object".into(),
            )
        })?;
        let row = self.parse_track(features, "features")?;
        let p = self.probabilities(&[row]).pop().unwrap_or_default();
        Ok(serde_json::json!({ "probabilities": p }))
    }

    /// Answers `POST /api/predict/batch`.
    ///
    /// # Errors
    /// As [`Dashboard::predict`], naming the track (`tracks[3].tempo`); more than
    /// [`MAX_BATCH`] tracks is a 413.
    pub fn predict_batch(&self, body: &[u8]) -> std::result::Result<Value, ApiError> {
        let v = json::parse_body(body, &["tracks"])?;
        let tracks = v.get("tracks").ok_or_else(|| {
            ApiError::bad(Some("tracks"), "the body needs a `tracks` array".into())
        })?;
        let rows = self.parse_tracks(tracks, MAX_BATCH, "a batch")?;
        Ok(serde_json::json!({ "probabilities": self.probabilities(&rows) }))
    }

    /// Validates a `tracks` array of at most `max` tracks (`what` names the batch in the
    /// 413), each named by its index (`tracks[3].tempo`).
    pub(super) fn parse_tracks(
        &self,
        tracks: &Value,
        max: usize,
        what: &str,
    ) -> std::result::Result<Vec<Vec<f64>>, ApiError> {
        let tracks = tracks
            .as_array()
            .ok_or_else(|| ApiError::bad(Some("tracks"), "`tracks` must be an array".into()))?;
        if tracks.len() > max {
            return Err(ApiError {
                status: 413,
                error: format!("{} tracks; {what} holds at most {max}", tracks.len()),
                field: Some("tracks".into()),
            });
        }
        tracks
            .iter()
            .enumerate()
            .map(|(i, t)| self.parse_track(t, &format!("tracks[{i}]")))
            .collect()
    }
}
