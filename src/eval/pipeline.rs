//! One model measured on a split: fitted on the training rows, scored on the holdout,
//! cross-validated on the training rows, calibrated, its importances and partial dependence
//! computed. The report runs this for each family; a notebook or the dashboard can run it for
//! one spec.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    average_precision, brier, calibration, cross_validate_grouped, f1_optimal_threshold, log_loss,
    partial_dependence, permutation_importance, roc_auc, Calibration, Confusion, CrossValidation,
    PartialDependence, PermutationImportance,
};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::{CheckedSpec, Family, Fitted, ModelParams, ModelSpec};

/// Holdout metrics of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    /// 95 % paired-bootstrap interval of `roc_auc` (NaN until a bootstrap fills it in).
    pub roc_auc_ci: [f64; 2],
    pub pr_auc: f64,
    /// 95 % paired-bootstrap interval of `pr_auc` (NaN until a bootstrap fills it in).
    pub pr_auc_ci: [f64; 2],
    pub brier: f64,
    pub log_loss: f64,
    pub confusion_at_05: Confusion,
    /// Chosen on the training folds' out-of-fold predictions, never on the holdout.
    pub f1_threshold: f64,
    pub confusion_at_f1_threshold: Confusion,
}

impl Holdout {
    /// The metrics of probabilities `p` on labels `y`, with the confusion matrices at 0.5 and
    /// at `f1_threshold`.
    ///
    /// # Errors
    /// [`Error::Metric`] for mismatched lengths or a single class.
    pub fn measure(y: &[u8], p: &[f64], f1_threshold: f64) -> Result<Holdout> {
        let c05 = Confusion::at(y, p, 0.5);
        Ok(Holdout {
            accuracy: c05.accuracy(),
            precision: c05.precision(),
            recall: c05.recall(),
            f1: c05.f1(),
            roc_auc: roc_auc(y, p)?,
            roc_auc_ci: [f64::NAN; 2],
            pr_auc: average_precision(y, p)?,
            pr_auc_ci: [f64::NAN; 2],
            brier: brier(y, p),
            log_loss: log_loss(y, p),
            confusion_at_05: c05,
            f1_threshold,
            confusion_at_f1_threshold: Confusion::at(y, p, f1_threshold),
        })
    }
}

/// Importances of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// What `native` measures ([`Family::importance_kind`]).
    pub native_kind: String,
    /// Feature → share of the native importance.
    pub native: BTreeMap<String, f64>,
    /// Drop in holdout ROC AUC when the feature is shuffled, in feature order.
    pub permutation: Vec<PermutationImportance>,
}

/// How thoroughly [`evaluate`] measures.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// Folds of the cross-validation on the training rows. Default 5.
    pub cv_folds: usize,
    /// Shuffles per feature in permutation importance. Default 5.
    pub permutation_repeats: usize,
    /// Bins of the reliability curve. Default 10.
    pub calibration_bins: usize,
    /// Grid points of partial dependence. Default 25.
    pub pd_points: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            cv_folds: 5,
            permutation_repeats: 5,
            calibration_bins: 10,
            pd_points: 25,
        }
    }
}

impl EvalOptions {
    /// Checks the settings, so that no option can ask for unbounded work.
    ///
    /// # Errors
    /// [`Error::Param`] for folds outside 2–20, repeats outside 1–100, calibration bins
    /// outside 2–100 or partial-dependence points outside 2–200.
    pub fn check(&self) -> Result<()> {
        let within = |name: &'static str, v: usize, lo: usize, hi: usize, reason: &'static str| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(Error::param(name, v, reason))
            }
        };
        within("cv_folds", self.cv_folds, 2, 20, "must be in 2–20")?;
        within(
            "permutation_repeats",
            self.permutation_repeats,
            1,
            100,
            "must be in 1–100",
        )?;
        within(
            "calibration_bins",
            self.calibration_bins,
            2,
            100,
            "must be in 2–100",
        )?;
        within("pd_points", self.pd_points, 2, 200, "must be in 2–200")
    }
}

/// Every family, with its parameters from `params`, fitted on the rows `train` of `data`
/// (side by side on the pool) and scored on `test`: one probability vector per family, in
/// [`Family::ALL`] order. The out-of-time check fits this way on the earlier periods.
///
/// # Errors
/// Parameter, fit and missing-feature errors, the first family's in order.
pub fn fit_and_score(
    params: &ModelParams,
    data: &Dataset,
    train: &[usize],
    test: &Dataset,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    use rayon::prelude::*;
    let scored: Vec<Result<Vec<f64>>> = Family::ALL
        .par_iter()
        .map(|&family| {
            ModelSpec::from_params(family, params)
                .check()?
                .fit_rows(data, train, seed)?
                .predict_proba(test)
        })
        .collect();
    scored.into_iter().collect()
}

/// Holdout rows permutation importance scores at most; larger holdouts are sampled.
pub const PERMUTATION_MAX_ROWS: usize = 100_000;

/// The seeded sample of `n` holdout rows permutation importance scores (sorted), or `None`
/// when all `n` are scored.
fn permutation_sample(n: usize, seed: u64) -> Option<Vec<usize>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if n <= PERMUTATION_MAX_ROWS {
        return None;
    }
    let mut rows: Vec<usize> = (0..n).collect();
    rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x5045_524d,
    ));
    rows.truncate(PERMUTATION_MAX_ROWS);
    rows.sort_unstable();
    Some(rows)
}

/// Rows partial dependence averages over (a seeded sample beyond this).
pub const PD_MAX_ROWS: usize = 500;

/// Everything [`evaluate`] measured about one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub family: Family,
    pub holdout: Holdout,
    pub cv: CrossValidation,
    pub calibration: Calibration,
    pub importance: Importance,
    /// One per model feature, in model order.
    pub partial_dependence: Vec<PartialDependence>,
    /// Holdout probabilities, in the order of the holdout rows.
    pub probabilities: Vec<f64>,
}

/// Fits `spec` on the training rows of `split` and measures it: on its test rows (the
/// holdout), by `options.cv_folds`-fold cross-validation on the training rows (the F1
/// threshold is chosen on its out-of-fold predictions), calibration, native and permutation
/// importance (on a seeded sample of [`PERMUTATION_MAX_ROWS`] holdout rows when there are
/// more) and partial dependence. With `groups` (one per row of `data`, e.g.
/// [`crate::data::Prepared::groups`]) a group's rows stay on one side of every fold; without,
/// each row is its own group. `progress` is told about each long step.
///
/// # Errors
/// [`Error::Param`] for `options` out of range; [`Error::Input`] for `groups` of another
/// length than `data`; [`Error::OneClass`] when the holdout has one class; split, fit and
/// metric errors (e.g. a class with fewer tracks than folds).
pub fn evaluate(
    spec: &CheckedSpec,
    data: &Dataset,
    split: &Split,
    groups: Option<&[usize]>,
    options: &EvalOptions,
    seed: u64,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Fitted, Evaluation)> {
    let own: Vec<usize>;
    let groups = match groups {
        Some(g) if g.len() == data.len() => g,
        Some(g) => {
            return Err(Error::Input(format!(
                "{} groups for {} rows",
                g.len(),
                data.len()
            )))
        }
        None => {
            own = (0..data.len()).collect();
            &own
        }
    };
    let test = data.subset(&split.test);
    let task = Task {
        data,
        split,
        groups,
        test: &test,
    };
    evaluate_task(spec, &task, options, seed, progress)
}

/// What [`evaluate_task`] measures on: `test` is `data.subset(&split.test)`, computed once by
/// a caller that evaluates several specs on the same split (the report).
pub(crate) struct Task<'a> {
    pub data: &'a Dataset,
    pub split: &'a Split,
    /// One per row of `data`.
    pub groups: &'a [usize],
    pub test: &'a Dataset,
}

/// [`evaluate`] on a task whose groups and holdout are already resolved.
pub(crate) fn evaluate_task(
    spec: &CheckedSpec,
    task: &Task,
    options: &EvalOptions,
    seed: u64,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Fitted, Evaluation)> {
    evaluate_task_with(spec, task, options, seed, progress, |_| Ok(()))
        .map(|(model, evaluation, ())| (model, evaluation))
}

/// [`evaluate_task`], also running `extra` on the fitted model (the report's explanations)
/// while the folds train.
pub(crate) fn evaluate_task_with<T: Send>(
    spec: &CheckedSpec,
    task: &Task,
    options: &EvalOptions,
    seed: u64,
    progress: &(dyn Fn(&str) + Sync),
    extra: impl FnOnce(&Fitted) -> Result<T> + Send,
) -> Result<(Fitted, Evaluation, T)> {
    let &Task {
        data,
        split,
        groups,
        test,
    } = task;
    let family = spec.family();
    options.check()?;
    test.check_two_classes("the holdout")?;
    progress(&format!("{}: training", family.title()));
    // The model and the folds are independent: trained side by side, the pool stays busy
    // through each fit's single-threaded start and uneven end, and everything measured on
    // the model alone (importances, partial dependence, `extra`) runs while the folds train.
    let (fitted, cv) = rayon::join(
        || {
            let model = spec.fit_rows(data, &split.train, seed)?;
            let p = model.predict_proba(test)?;
            progress(&format!("{}: permutation importance", family.title()));
            // Beyond PERMUTATION_MAX_ROWS holdout rows a seeded sample ranks the features as
            // well (each shuffle rescores every row it is given; the report says when it
            // sampled).
            let repeats = options.permutation_repeats;
            let permutation = match permutation_sample(test.len(), seed) {
                Some(rows) => {
                    permutation_importance(model.model(), &test.subset(&rows), repeats, seed)?
                }
                None => permutation_importance(model.model(), test, repeats, seed)?,
            };
            let partial_dependence = model
                .feature_names()
                .iter()
                .map(|f| {
                    partial_dependence(model.model(), test, f, options.pd_points, PD_MAX_ROWS, seed)
                })
                .collect::<Result<Vec<_>>>()?;
            let extra = extra(&model)?;
            Ok((model, p, permutation, partial_dependence, extra))
        },
        || {
            progress(&format!(
                "{}: {}-fold cross-validation",
                family.title(),
                options.cv_folds
            ));
            cross_validate_grouped(spec, data, &split.train, groups, options.cv_folds, seed)
        },
    );
    let (model, p, permutation, partial_dependence, extra) = fitted?;
    let cv = cv?;
    let train_y: Vec<u8> = split.train.iter().map(|&i| data.y[i]).collect();
    let holdout = Holdout::measure(&test.y, &p, f1_optimal_threshold(&train_y, &cv.out_of_fold))?;
    let native = model
        .feature_names()
        .iter()
        .cloned()
        .zip(model.importances())
        .collect();
    let calibration = calibration(&test.y, &p, options.calibration_bins);
    let evaluation = Evaluation {
        family,
        holdout,
        cv,
        calibration,
        importance: Importance {
            native_kind: family.importance_kind().to_string(),
            native,
            permutation,
        },
        partial_dependence,
        probabilities: p,
    };
    Ok((model, evaluation, extra))
}
