//! `POST /api/explain`: each model's exact contributions for one track or a batch, validated
//! as `/api/predict` is (see [`crate::explain`] for what the numbers mean).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{json::parse_body, ApiError, Dashboard};
use crate::explain::Explanation;

/// Most tracks in one explain request: explaining costs far more than scoring (every node
/// of every tree per track), so batches are smaller than [`super::MAX_BATCH`]. Models that
/// are slow to explain allow fewer ([`Dashboard::explain_batch_limit`]).
pub const MAX_EXPLAIN_BATCH: usize = 1_000;

/// Steps of explanation one request may ask for ([`crate::explain::Explainer::cost_per_track`]
/// summed over the models, times the tracks): about two seconds of CPU here. The default
/// four-feature models allow the full [`MAX_EXPLAIN_BATCH`]; fifteen-feature Billboard
/// models (recursive TreeSHAP, about 0.13 s of CPU per track) about a dozen.
pub const EXPLAIN_BUDGET: u64 = 2_000_000_000;

impl Dashboard {
    /// Most tracks one explain request may hold for these models: [`MAX_EXPLAIN_BATCH`], or
    /// fewer (at least one) where [`EXPLAIN_BUDGET`] would be exceeded.
    pub fn explain_batch_limit(&self) -> usize {
        self.explain_batch_limit
    }

    /// Answers `POST /api/explain` with `{"features": {…}}` (one track) or
    /// `{"tracks": [{…}, …]}` (at most [`Dashboard::explain_batch_limit`]): per model `base`,
    /// `contributions` (feature → log-odds), `log_odds` and `probability`, as an object for
    /// one track or an array in request order for a batch.
    ///
    /// # Errors
    /// As [`Dashboard::predict`] and [`Dashboard::predict_batch`]: 400 naming the field, 413
    /// for too many tracks.
    pub fn explain(&self, body: &[u8]) -> std::result::Result<Value, ApiError> {
        let limit = self.explain_batch_limit();
        let v = parse_body(body, &["features", "tracks"])?;
        let (rows, single) = match (v.get("features"), v.get("tracks")) {
            (Some(f), None) => (vec![self.parse_track(f, "features")?], true),
            (None, Some(t)) => (
                self.parse_tracks(t, limit, "an explain batch for these models")?,
                false,
            ),
            _ => {
                return Err(ApiError::bad(
                    None,
                    "the body needs a `features` object (one track) or a `tracks` array".into(),
                ))
            }
        };
        let p = self.features.len();
        let cols: Vec<Vec<f64>> = (0..p)
            .map(|j| rows.iter().map(|r| r[j]).collect())
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        let mut per_model: Vec<(String, Vec<Explanation>)> = Vec::new();
        for (a, explainer) in self.explainers() {
            let cannot = |e: String| ApiError {
                status: 422,
                error: format!("the {} model cannot explain: {e}", a.family),
                field: None,
            };
            let e = explainer
                .as_ref()
                .map_err(|e| cannot(e.clone()))?
                .explain(&refs)
                .map_err(|e| cannot(e.to_string()))?;
            per_model.push((a.family.name().to_string(), e));
        }
        let names: Vec<&str> = self.features.iter().map(|f| f.name.as_str()).collect();
        let track = |i: usize| -> Value {
            let models: BTreeMap<&str, Value> = per_model
                .iter()
                .map(|(name, e)| {
                    let e = &e[i];
                    let contributions: BTreeMap<&str, f64> = names
                        .iter()
                        .copied()
                        .zip(e.contributions.iter().copied())
                        .collect();
                    (
                        name.as_str(),
                        json!({
                            "base": e.base,
                            "contributions": contributions,
                            "log_odds": e.log_odds,
                            "probability": e.probability,
                        }),
                    )
                })
                .collect();
            json!(models)
        };
        Ok(if single {
            json!({ "explanations": track(0) })
        } else {
            json!({ "explanations": (0..rows.len()).map(track).collect::<Vec<_>>() })
        })
    }
}

/// [`Dashboard::explain_batch_limit`] of these explainers.
pub(super) fn batch_limit(
    explainers: &[std::result::Result<crate::explain::Explainer, String>],
) -> usize {
    let per_track = explainers
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .map(crate::explain::Explainer::cost_per_track)
        .fold(0u64, u64::saturating_add)
        .max(1);
    usize::try_from(EXPLAIN_BUDGET / per_track)
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_EXPLAIN_BATCH)
}
