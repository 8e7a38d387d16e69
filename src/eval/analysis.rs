//! Model-level evaluation: cross-validation, calibration, permutation importance, partial
//! dependence and Top-100 profiles. Pure functions; all randomness from explicit seeds.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::roc_auc;
use crate::data::{stratified_group_kfold, Dataset};
use crate::error::Result;
use crate::model::{CheckedSpec, Model, Trained};

/// Stratified k-fold cross-validation of one family on `rows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub k: usize,
    /// ROC AUC of each fold's held-out part.
    pub roc_auc_folds: Vec<f64>,
    pub roc_auc_mean: f64,
    /// Sample standard deviation over folds.
    pub roc_auc_sd: f64,
    /// Out-of-fold probability for each of `rows`, in the order of `rows`.
    #[serde(skip)]
    pub out_of_fold: Vec<f64>,
}

/// Runs stratified k-fold CV of `spec` on `rows` of `data`, each row its own group (see
/// [`cross_validate_grouped`] for data with repeated tracks).
///
/// # Errors
/// [`crate::Error::Split`] if a class has fewer than `k` rows; model errors.
pub fn cross_validate(
    spec: &CheckedSpec,
    data: &Dataset,
    rows: &[usize],
    k: usize,
    seed: u64,
) -> Result<CrossValidation> {
    let own: Vec<usize> = (0..data.len()).collect();
    cross_validate_grouped(spec, data, rows, &own, k, seed)
}

/// Training rows up to which even the families whose one fit keeps every core busy train
/// their folds side by side: at this size five models fit in memory easily, and the pool
/// fills the gaps at each fit's start and end.
const FOLDS_SIDE_BY_SIDE_MAX_ROWS: usize = 200_000;

/// Runs stratified k-fold CV of `family` on `rows` of `data` with folds drawn by group
/// (`groups[i]` of row `i`, e.g. [`crate::data::split_groups`]): a track's rows are never in
/// a fold's training and held-out parts at once.
///
/// # Errors
/// [`crate::Error::Split`] if a class has fewer than `k` groups; model errors.
pub fn cross_validate_grouped(
    spec: &CheckedSpec,
    data: &Dataset,
    rows: &[usize],
    groups: &[usize],
    k: usize,
    seed: u64,
) -> Result<CrossValidation> {
    let folds = stratified_group_kfold(&data.y, groups, rows, k, seed)?;
    let mut position = vec![usize::MAX; data.len()];
    for (pos, &r) in rows.iter().enumerate() {
        position[r] = pos;
    }
    // Folds are independent (each has its own seed), so they train side by side: the
    // single-threaded families then use every core. Results are gathered in fold order.
    let fold_seed = |f: usize| seed.wrapping_add(f as u64 + 1);
    let fold_fit = |(f, fold): (usize, &crate::data::Split)| -> Result<Vec<f64>> {
        let model = spec.fit_rows(data, &fold.train, fold_seed(f))?.into_model();
        // The held-out rows' model columns only (a full subset also copies ids and names).
        let cols: Vec<Vec<f64>> = model
            .columns(data)?
            .iter()
            .map(|c| fold.test.iter().map(|&i| c[i]).collect())
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        Ok(model.predict_proba_columns(&refs))
    };
    let predictions: Vec<Vec<f64>> =
        if spec.family().fits_in_parallel() && rows.len() > FOLDS_SIDE_BY_SIDE_MAX_ROWS {
            // One fit already uses every core; one fold at a time keeps memory low.
            folds
                .iter()
                .enumerate()
                .map(fold_fit)
                .collect::<Result<_>>()?
        } else {
            folds
                .par_iter()
                .enumerate()
                .map(fold_fit)
                .collect::<Result<_>>()?
        };
    let mut out_of_fold = vec![0.0; rows.len()];
    let mut aucs = Vec::with_capacity(k);
    for (fold, p) in folds.iter().zip(&predictions) {
        let y: Vec<u8> = fold.test.iter().map(|&r| data.y[r]).collect();
        aucs.push(roc_auc(&y, p)?);
        for (&r, &v) in fold.test.iter().zip(p) {
            out_of_fold[position[r]] = v;
        }
    }
    let mean = aucs.iter().sum::<f64>() / k as f64;
    let sd = (aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (k as f64 - 1.0)).sqrt();
    Ok(CrossValidation {
        k,
        roc_auc_folds: aucs,
        roc_auc_mean: mean,
        roc_auc_sd: sd,
        out_of_fold,
    })
}

/// One bin of a reliability curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: f64,
    pub fraction_hits: f64,
}

/// Reliability curve over equal-width probability bins, and the expected calibration error
/// (count-weighted mean |fraction of hits − mean prediction|).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub bins: Vec<CalibrationBin>,
    pub ece: f64,
}

/// Computes the reliability curve with `n_bins` equal-width bins (empty bins are omitted).
pub fn calibration(y: &[u8], p: &[f64], n_bins: usize) -> Calibration {
    let n_bins = n_bins.max(1);
    let mut acc = vec![(0usize, 0.0, 0.0); n_bins];
    for (&t, &q) in y.iter().zip(p) {
        let b = ((q * n_bins as f64) as usize).min(n_bins - 1);
        acc[b].0 += 1;
        acc[b].1 += q;
        acc[b].2 += f64::from(t);
    }
    let total = y.len().max(1) as f64;
    let mut ece = 0.0;
    let bins = acc
        .iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(b, &(count, sp, sy))| {
            let (mp, fy) = (sp / count as f64, sy / count as f64);
            ece += count as f64 / total * (fy - mp).abs();
            CalibrationBin {
                lower: b as f64 / n_bins as f64,
                upper: (b + 1) as f64 / n_bins as f64,
                count,
                mean_predicted: mp,
                fraction_hits: fy,
            }
        })
        .collect();
    Calibration { bins, ece }
}

/// Drop in ROC AUC when one feature's values are shuffled, over several seeded repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationImportance {
    pub feature: String,
    pub mean: f64,
    pub sd: f64,
}

/// Permutation importance of every model feature on `data` (usually the holdout).
///
/// A feature's `repeats` shuffled copies of `data` are scored in one batch (the batch scorers
/// then keep every core busy) and their ROC AUCs computed side by side; shuffles are drawn
/// feature by feature, repeat by repeat, from one seeded generator.
///
/// # Errors
/// As [`Model::predict_proba`] and [`roc_auc`].
pub fn permutation_importance(
    model: &dyn Model,
    data: &Dataset,
    repeats: usize,
    seed: u64,
) -> Result<Vec<PermutationImportance>> {
    let base = roc_auc(&data.y, &model.predict_proba(data)?)?;
    let cols = model.columns(data)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, repeats) = (data.len(), repeats.max(1));
    let mut out = Vec::with_capacity(cols.len());
    for (j, name) in model.feature_names().iter().enumerate() {
        let mut batch: Vec<Vec<f64>> = cols.iter().map(|c| c.repeat(repeats)).collect();
        for copy in batch[j].chunks_exact_mut(n) {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            for (v, &i) in copy.iter_mut().zip(&perm) {
                *v = cols[j][i];
            }
        }
        let refs: Vec<&[f64]> = batch.iter().map(|c| &c[..]).collect();
        let scores = model.predict_proba_columns(&refs);
        let drops = scores
            .par_chunks(n.max(1))
            .map(|p| Ok(base - roc_auc(&data.y, p)?))
            .collect::<Result<Vec<f64>>>()?;
        let mean = drops.iter().sum::<f64>() / drops.len() as f64;
        let sd = if drops.len() > 1 {
            (drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (drops.len() - 1) as f64)
                .sqrt()
        } else {
            0.0
        };
        out.push(PermutationImportance {
            feature: name.clone(),
            mean,
            sd,
        });
    }
    Ok(out)
}

/// Partial dependence of a model on one feature: the mean predicted probability when every
/// track of `data` gets the value `grid[k]` for that feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialDependence {
    pub feature: String,
    pub grid: Vec<f64>,
    pub mean_probability: Vec<f64>,
}

/// Computes partial dependence on `feature` over `points` evenly spaced values between the
/// 2nd and 98th percentiles, averaging over at most `max_rows` tracks of `data` (a seeded
/// sample).
///
/// # Errors
/// [`crate::Error::MissingFeature`] if the data lacks the feature.
pub fn partial_dependence(
    model: &dyn Model,
    data: &Dataset,
    feature: &str,
    points: usize,
    max_rows: usize,
    seed: u64,
) -> Result<PartialDependence> {
    let j = data
        .feature_index(feature)
        .ok_or_else(|| crate::Error::missing_feature("the data", feature))?;
    let sample = if data.len() > max_rows {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows: Vec<usize> = (0..max_rows)
            .map(|_| rng.gen_range(0..data.len()))
            .collect();
        rows.sort_unstable();
        data.subset(&rows)
    } else {
        data.clone()
    };
    let mut sorted = data.x[j].clone();
    sorted.sort_by(f64::total_cmp);
    let q = |f: f64| sorted[((sorted.len() - 1) as f64 * f) as usize];
    let (lo, hi) = (q(0.02), q(0.98));
    let points = points.max(2);
    let grid: Vec<f64> = (0..points)
        .map(|k| lo + (hi - lo) * k as f64 / (points - 1) as f64)
        .collect();
    // One batch of `points` copies of the sample, copy k with the feature at grid[k].
    let cols = model.columns(&sample)?;
    let m = sample.len();
    let batch: Vec<Vec<f64>> = model
        .feature_names()
        .iter()
        .zip(&cols)
        .map(|(name, col)| match name == &data.feature_names[j] {
            true => grid
                .iter()
                .flat_map(|&v| std::iter::repeat_n(v, m))
                .collect(),
            false => col.repeat(points),
        })
        .collect();
    let refs: Vec<&[f64]> = batch.iter().map(|c| &c[..]).collect();
    let scores = model.predict_proba_columns(&refs);
    let mean_probability = scores
        .chunks_exact(m.max(1))
        .map(|p| p.iter().sum::<f64>() / p.len() as f64)
        .collect();
    Ok(PartialDependence {
        feature: feature.to_string(),
        grid,
        mean_probability,
    })
}

/// Mean of each feature over the Top-100 tracks and over all tracks, or, without popularity,
/// over the hits and the non-hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopProfile {
    /// How the top group was chosen, in words.
    pub rule: String,
    /// What the top group is called: `Top-100`, or `Hits` when the data has no popularity.
    pub label: String,
    /// Tracks in the top group.
    pub top_n: usize,
    pub features: Vec<TopFeature>,
}

/// One feature's mean among the top group, among all tracks and (without popularity) among
/// the non-hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopFeature {
    pub feature: String,
    pub top_mean: f64,
    pub all_mean: f64,
    /// Mean among the non-hits, when the top group is the hits.
    pub non_hit_mean: Option<f64>,
}

/// The `n` most popular distinct tracks (one row per track id; ties broken by row order), or,
/// when the data has no popularity, all hits beside all non-hits: never rows in file order.
pub fn top_profile(data: &Dataset, n: usize) -> TopProfile {
    let (rows, rule, label): (Vec<usize>, String, &str) = match &data.popularity {
        Some(pop) => {
            let mut idx: Vec<usize> = (0..data.len()).collect();
            // A total order (row breaks ties), so the unstable sort is the stable one.
            idx.sort_unstable_by(|&a, &b| pop[b].total_cmp(&pop[a]).then(a.cmp(&b)));
            // Down the ranking until n distinct tracks: not every id of the data.
            let mut seen = std::collections::HashSet::with_capacity(n);
            let mut top = Vec::with_capacity(n);
            for &i in &idx {
                if top.len() == n {
                    break;
                }
                if seen.insert(data.ids[i].as_str()) {
                    top.push(i);
                }
            }
            (
                top,
                format!("the {n} most popular distinct tracks"),
                "Top-100",
            )
        }
        None => (
            (0..data.len()).filter(|&i| data.y[i] == 1).collect(),
            "every hit beside every non-hit (the data has no popularity, so there is no Top-100)"
                .to_string(),
            "Hits",
        ),
    };
    let mean = |col: &[f64], rows: &mut dyn Iterator<Item = usize>| {
        let (s, c) = rows.fold((0.0, 0usize), |(s, c), i| (s + col[i], c + 1));
        s / c.max(1) as f64
    };
    let by_class = data.popularity.is_none();
    TopProfile {
        rule,
        label: label.to_string(),
        top_n: rows.len(),
        features: data
            .feature_names
            .iter()
            .zip(&data.x)
            .map(|(name, col)| TopFeature {
                feature: name.clone(),
                top_mean: mean(col, &mut rows.iter().copied()),
                all_mean: mean(col, &mut (0..data.len())),
                non_hit_mean: by_class
                    .then(|| mean(col, &mut (0..data.len()).filter(|&i| data.y[i] == 0))),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfectly_calibrated_bins_have_zero_error() {
        let y = [0, 1, 0, 1];
        let p = [0.5, 0.5, 0.5, 0.5];
        let c = calibration(&y, &p, 10);
        assert_eq!(c.bins.len(), 1);
        assert_eq!(c.bins[0].fraction_hits, 0.5);
        assert_eq!(c.ece, 0.0);
        let c = calibration(&[0, 0], &[0.9, 0.9], 10);
        assert!((c.ece - 0.9).abs() < 1e-12);
    }
}

/// One track's hit probability under each model as one feature varies, the others fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    pub feature: String,
    /// The track's feature values (model feature order).
    pub base: Vec<f64>,
    pub grid: Vec<f64>,
    /// `(model title, probability at each grid value)`.
    pub curves: Vec<(String, Vec<f64>)>,
}

/// Varies `feature` of the track `base` over `points` values from `lo` to `hi` and scores
/// each variant with every model.
///
/// # Errors
/// [`crate::Error::MissingFeature`] if a model lacks the feature, [`crate::Error::Input`] if `base` has the wrong length.
pub fn what_if(
    models: &[Trained],
    base: &[f64],
    feature: &str,
    lo: f64,
    hi: f64,
    points: usize,
) -> Result<WhatIf> {
    let points = points.max(2);
    let grid: Vec<f64> = (0..points)
        .map(|k| lo + (hi - lo) * k as f64 / (points - 1) as f64)
        .collect();
    let mut curves = Vec::new();
    for m in models {
        let names = m.feature_names();
        if base.len() != names.len() {
            return Err(crate::Error::Input(format!(
                "the track has {} values but the model reads {} features",
                base.len(),
                names.len()
            )));
        }
        let j = names
            .iter()
            .position(|n| n == feature)
            .ok_or_else(|| crate::Error::missing_feature("the model", feature))?;
        let cols: Vec<Vec<f64>> = (0..names.len())
            .map(|c| {
                if c == j {
                    grid.clone()
                } else {
                    vec![base[c]; points]
                }
            })
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        curves.push((
            m.family().title().to_string(),
            m.predict_proba_columns(&refs),
        ));
    }
    Ok(WhatIf {
        feature: feature.to_string(),
        base: base.to_vec(),
        grid,
        curves,
    })
}
