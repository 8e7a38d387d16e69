//! Evaluation: pure functions from labels and probabilities to numbers.

mod metrics;

pub use metrics::{
    average_precision, brier, f1_optimal_threshold, log_loss, pr_curve, roc_auc, roc_curve,
    Confusion,
};
