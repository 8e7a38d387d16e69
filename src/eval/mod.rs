//! Evaluation: pure functions from labels, probabilities and models to numbers.

mod analysis;
mod bootstrap;
mod pipeline;
mod time;

pub use analysis::{
    calibration, cross_validate, cross_validate_grouped, partial_dependence,
    permutation_importance, top_profile, what_if, Calibration, CalibrationBin, CrossValidation,
    PartialDependence, PermutationImportance, TopFeature, TopProfile, WhatIf,
};
pub use bootstrap::{paired_bootstrap, Difference, Interval, PairedBootstrap};
pub use pipeline::{
    evaluate, fit_and_score, EvalOptions, Evaluation, Holdout, Importance, PD_MAX_ROWS,
    PERMUTATION_MAX_ROWS,
};
pub(crate) use pipeline::{evaluate_task_with, Task};
pub use time::{out_of_time, OutOfTime, OutOfTimeFit, OutOfTimeModel, OutOfTimeRun, PeriodScore};
// The metrics live below both `model` and `eval` (the forest scores its out-of-bag rows with
// ROC AUC while fitting); they are public here.
pub use crate::metrics::{
    average_precision, brier, f1_optimal_threshold, log_loss, pr_curve, roc_auc, roc_curve,
    Confusion,
};
