//! What the page shows around one track: each model's probability as every feature sweeps
//! its range with the others held (`POST /api/curves`), the nearest training tracks
//! (`POST /api/neighbours`) and where the track sits among all tracks and among hits
//! (`POST /api/position`). Everything the answers need from the data is computed once, when
//! the dashboard starts ([`Reference::new`]).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{json::parse_body, ApiError, Dashboard};
use crate::data::Dataset;
use crate::model::{Artifact, Model};

/// Grid points per curve by default, and the most a request may ask for.
pub const CURVE_POINTS: usize = 25;
pub const MAX_CURVE_POINTS: usize = 101;
/// Neighbours by default, and the most a request may ask for.
pub const NEIGHBOURS: usize = 5;
pub const MAX_NEIGHBOURS: usize = 25;

/// The training tracks as the what-if answers need them.
#[derive(Debug, Clone, Default)]
pub(super) struct Reference {
    /// Per feature (model order): the training tracks' values, the mean and the standard
    /// deviation the neighbour distance standardises with (1 for a constant feature).
    values: Vec<Vec<f64>>,
    mean: Vec<f64>,
    sd: Vec<f64>,
    /// Per feature, all training values sorted, and the hits' values sorted.
    sorted_all: Vec<Vec<f64>>,
    sorted_hits: Vec<Vec<f64>>,
    /// Per model (artifact order), every training track's probability (in-sample: shown
    /// beside the neighbours), and the holdout tracks' probabilities sorted (out of sample:
    /// what a new track's probability is ranked against).
    p: Vec<Vec<f64>>,
    sorted_p: Vec<Vec<f64>>,
    holdout: usize,
    ids: Vec<String>,
    titles: Vec<String>,
    artists: Vec<String>,
    hit: Vec<bool>,
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// Percentile (0–100) of `x` in `sorted`: the share below it plus half the share equal to
/// it, so a value in the middle of a tie sits in its middle. NaN for an empty list.
pub(super) fn percentile(sorted: &[f64], x: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let below = sorted.partition_point(|&v| v < x);
    let not_above = sorted.partition_point(|&v| v <= x);
    100.0 * (below as f64 + 0.5 * (not_above - below) as f64) / sorted.len() as f64
}

impl Reference {
    /// From the training rows `rows` and the holdout rows `test` of `data`, in the order of
    /// `names` (the models' features, all present in `data`).
    pub(super) fn new(
        data: &Dataset,
        rows: &[usize],
        test: &[usize],
        names: &[String],
        artifacts: &[Artifact],
    ) -> crate::Result<Reference> {
        let sub = data.subset(rows);
        let mut r = Reference::default();
        for name in names {
            let j = sub
                .feature_index(name)
                .ok_or_else(|| crate::Error::missing_feature("the data", name.as_str()))?;
            let col = sub.x[j].clone();
            let n = col.len().max(1) as f64;
            let mean = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let hits: Vec<f64> = col
                .iter()
                .zip(&sub.y)
                .filter(|(_, &y)| y == 1)
                .map(|(v, _)| *v)
                .collect();
            r.sorted_all.push(sorted(&col));
            r.sorted_hits.push(sorted(&hits));
            r.mean.push(mean);
            r.sd.push(if var > 0.0 { var.sqrt() } else { 1.0 });
            r.values.push(col);
        }
        let held_out = data.subset(test);
        for a in artifacts {
            r.p.push(a.model.predict_proba(&sub)?);
            r.sorted_p.push(sorted(&a.model.predict_proba(&held_out)?));
        }
        r.holdout = test.len();
        r.ids = sub.ids.clone();
        r.titles = sub.names.clone();
        r.artists = sub.artists.clone();
        r.hit = sub.y.iter().map(|&y| y == 1).collect();
        Ok(r)
    }
}

/// Reads an optional positive count field, at most `max`.
fn count(
    v: &Value,
    field: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match v.get(field) {
        None => Ok(default),
        Some(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad(
                    Some(field),
                    format!("`{field}` must be a whole number from {min} to {max}, got {n}"),
                )
            }),
    }
}

impl Dashboard {
    fn one_track(&self, v: &Value) -> Result<Vec<f64>, ApiError> {
        let features = v.get("features").ok_or_else(|| {
            ApiError::bad(
                Some("features"),
                "the body needs a `features` object".into(),
            )
        })?;
        self.parse_track(features, "features")
    }

    /// The grid a feature's curve is drawn on: `points` evenly spaced values over the data's
    /// range, or every whole value when the feature is whole-numbered and has fewer.
    fn grid(&self, j: usize, points: usize) -> Vec<f64> {
        let f = &self.features[j];
        let (lo, hi) = (f.lo, f.hi);
        if f.integer && hi - lo + 1.0 <= points as f64 {
            return (lo as i64..=hi as i64).map(|v| v as f64).collect();
        }
        if hi <= lo {
            return vec![lo];
        }
        // Weighted ends, so the first and last points are the range's ends exactly; whole
        // numbers for whole-numbered features (rounded, repeats dropped).
        let mut g: Vec<f64> = (0..points)
            .map(|k| {
                let t = k as f64 / (points - 1) as f64;
                let v = lo * (1.0 - t) + hi * t;
                if f.integer {
                    v.round()
                } else {
                    v
                }
            })
            .collect();
        g.dedup();
        g
    }

    /// Answers `POST /api/curves` with `{"features": {…}, "points": 25}`: for every feature,
    /// its grid over the slider's range (`lo`–`hi`) and each model's probability along it with the other features held at the
    /// track's values (the track's individual conditional expectation). One call scores
    /// every curve of every model in one batch per model.
    ///
    /// # Errors
    /// As [`Dashboard::predict`]; `points` outside 2–[`MAX_CURVE_POINTS`] is a 400.
    pub fn curves(&self, body: &[u8]) -> Result<Value, ApiError> {
        let v = parse_body(body, &["features", "points"])?;
        let track = self.one_track(&v)?;
        let points = count(&v, "points", CURVE_POINTS, 2, MAX_CURVE_POINTS)?;
        let p = self.features.len();
        let grids: Vec<Vec<f64>> = (0..p).map(|j| self.grid(j, points)).collect();
        // Column-major: every grid point of every feature, the others at the track's values.
        let total: usize = grids.iter().map(Vec::len).sum();
        let mut cols: Vec<Vec<f64>> = track.iter().map(|&x| vec![x; total]).collect();
        let mut at = 0;
        for (j, g) in grids.iter().enumerate() {
            cols[j][at..at + g.len()].copy_from_slice(g);
            at += g.len();
        }
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        let scored: Vec<Vec<f64>> = self
            .artifacts
            .iter()
            .map(|a| a.model.predict_proba_columns(&refs))
            .collect();
        let mut curves = Vec::with_capacity(p);
        let mut at = 0;
        for (j, g) in grids.iter().enumerate() {
            let probabilities: BTreeMap<&str, &[f64]> = self
                .artifacts
                .iter()
                .zip(&scored)
                .map(|(a, s)| (a.family.name(), &s[at..at + g.len()]))
                .collect();
            curves.push(json!({
                "feature": self.features[j].name,
                "value": track[j],
                "grid": g,
                "probabilities": probabilities,
            }));
            at += g.len();
        }
        Ok(json!({ "curves": curves }))
    }

    /// Answers `POST /api/neighbours` with `{"features": {…}, "k": 5}`: the `k` training
    /// tracks nearest the track in standardised feature distance (each feature minus its
    /// training mean, over its standard deviation), nearest first (ties in data order), with
    /// id, title, artist, label, each model's probability and the track's feature values.
    ///
    /// # Errors
    /// As [`Dashboard::predict`]; `k` outside 1–[`MAX_NEIGHBOURS`] is a 400.
    pub fn neighbours(&self, body: &[u8]) -> Result<Value, ApiError> {
        let v = parse_body(body, &["features", "k"])?;
        let track = self.one_track(&v)?;
        let k = count(&v, "k", NEIGHBOURS, 1, MAX_NEIGHBOURS)?;
        let r = &self.reference;
        let z: Vec<f64> = (0..track.len())
            .map(|j| (track[j] - r.mean[j]) / r.sd[j])
            .collect();
        let n = r.ids.len();
        let mut d: Vec<(f64, usize)> = (0..n)
            .map(|i| {
                let s: f64 = (0..z.len())
                    .map(|j| ((r.values[j][i] - r.mean[j]) / r.sd[j] - z[j]).powi(2))
                    .sum();
                (s, i)
            })
            .collect();
        let k = k.min(n);
        if k > 0 && k < n {
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
        d.truncate(k);
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let list: Vec<Value> = d
            .iter()
            .map(|&(s, i)| {
                let probabilities: BTreeMap<&str, f64> = self
                    .artifacts
                    .iter()
                    .zip(&r.p)
                    .map(|(a, p)| (a.family.name(), p[i]))
                    .collect();
                let features: BTreeMap<&str, f64> = self
                    .features
                    .iter()
                    .zip(&r.values)
                    .map(|(f, col)| (f.name.as_str(), col[i]))
                    .collect();
                json!({
                    "id": r.ids[i],
                    "title": r.titles[i],
                    "artist": r.artists[i],
                    "hit": r.hit[i],
                    "distance": s.sqrt(),
                    "probabilities": probabilities,
                    "features": features,
                })
            })
            .collect();
        Ok(json!({ "neighbours": list }))
    }

    /// Answers `POST /api/position` with `{"features": {…}}`: each feature's percentile among
    /// all training tracks and among the training hits, and each model's probability for the
    /// track with its percentile among the model's probabilities of the holdout tracks (out
    /// of sample: a tree model's training scores are optimistic).
    ///
    /// # Errors
    /// As [`Dashboard::predict`].
    pub fn position(&self, body: &[u8]) -> Result<Value, ApiError> {
        let v = parse_body(body, &["features"])?;
        let track = self.one_track(&v)?;
        let r = &self.reference;
        let features: BTreeMap<&str, Value> = self
            .features
            .iter()
            .enumerate()
            .map(|(j, f)| {
                (
                    f.name.as_str(),
                    json!({
                        "value": track[j],
                        "among_all": percentile(&r.sorted_all[j], track[j]),
                        "among_hits": percentile(&r.sorted_hits[j], track[j]),
                    }),
                )
            })
            .collect();
        let p = self.probabilities(std::slice::from_ref(&track));
        let p = p.first().cloned().unwrap_or_default();
        let models: BTreeMap<&str, Value> = self
            .artifacts
            .iter()
            .zip(&r.sorted_p)
            .map(|(a, s)| {
                let q = p.get(a.family.name()).copied().unwrap_or(f64::NAN);
                (
                    a.family.name(),
                    json!({ "probability": q, "percentile": percentile(s, q) }),
                )
            })
            .collect();
        Ok(json!({
            "tracks": r.ids.len(),
            "hits": r.sorted_hits.first().map_or(0, Vec::len),
            "holdout": r.holdout,
            "features": features,
            "models": models,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_counts_below_and_half_the_ties() {
        let s = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(percentile(&s, 0.0), 0.0);
        assert_eq!(percentile(&s, 1.0), 12.5);
        assert_eq!(percentile(&s, 2.0), 50.0);
        assert_eq!(percentile(&s, 2.5), 75.0);
        assert_eq!(percentile(&s, 9.0), 100.0);
        assert!(percentile(&[], 1.0).is_nan());
    }
}
