//! Classification metrics on hit probabilities. Ties between scores are handled the way
//! scikit-learn does, so figures compare one to one with the Python peer.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn check(y: &[u8], p: &[f64]) -> Result<(usize, usize)> {
    if y.len() != p.len() || y.is_empty() {
        return Err(Error::Metric(format!(
            "{} labels but {} scores",
            y.len(),
            p.len()
        )));
    }
    let pos = y.iter().filter(|&&v| v == 1).count();
    if pos == 0 || pos == y.len() {
        return Err(Error::Metric(
            "a ranking metric needs both hits and non-hits".into(),
        ));
    }
    Ok((pos, y.len() - pos))
}

/// Indices sorted by descending score (stable, so equal scores keep row order).
fn by_score_desc(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    idx
}

/// Cumulative (true positives, false positives) at each distinct score, highest first.
fn steps(y: &[u8], p: &[f64]) -> Vec<(f64, usize, usize)> {
    let idx = by_score_desc(p);
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in idx.iter().enumerate() {
        if y[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        if k + 1 == idx.len() || p[idx[k + 1]] != p[i] {
            out.push((p[i], tp, fp));
        }
    }
    out
}

/// Area under the ROC curve (ties count one half).
///
/// # Errors
/// [`Error::Metric`] for mismatched lengths or a single class.
pub fn roc_auc(y: &[u8], p: &[f64]) -> Result<f64> {
    let (pos, neg) = check(y, p)?;
    let mut area = 0.0;
    let (mut prev_tp, mut prev_fp) = (0usize, 0usize);
    for (_, tp, fp) in steps(y, p) {
        area += (fp - prev_fp) as f64 * (tp + prev_tp) as f64 / 2.0;
        prev_tp = tp;
        prev_fp = fp;
    }
    Ok(area / (pos as f64 * neg as f64))
}

/// ROC curve as `(false positive rate, true positive rate)` points from (0, 0) to (1, 1).
///
/// # Errors
/// As [`roc_auc`].
pub fn roc_curve(y: &[u8], p: &[f64]) -> Result<Vec<(f64, f64)>> {
    let (pos, neg) = check(y, p)?;
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(
        steps(y, p)
            .into_iter()
            .map(|(_, tp, fp)| (fp as f64 / neg as f64, tp as f64 / pos as f64)),
    );
    Ok(pts)
}

/// Precision–recall curve as `(recall, precision)` points, highest threshold first.
///
/// # Errors
/// As [`roc_auc`].
pub fn pr_curve(y: &[u8], p: &[f64]) -> Result<Vec<(f64, f64)>> {
    let (pos, _) = check(y, p)?;
    Ok(steps(y, p)
        .into_iter()
        .map(|(_, tp, fp)| (tp as f64 / pos as f64, tp as f64 / (tp + fp) as f64))
        .collect())
}

/// Average precision: `Σ (Rₙ − Rₙ₋₁)·Pₙ` over distinct thresholds (scikit-learn's PR AUC).
///
/// # Errors
/// As [`roc_auc`].
pub fn average_precision(y: &[u8], p: &[f64]) -> Result<f64> {
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for (recall, precision) in pr_curve(y, p)? {
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

/// Mean squared error of the probabilities.
pub fn brier(y: &[u8], p: &[f64]) -> f64 {
    y.iter()
        .zip(p)
        .map(|(&t, &q)| (q - f64::from(t)).powi(2))
        .sum::<f64>()
        / y.len().max(1) as f64
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(y: &[u8], p: &[f64]) -> f64 {
    y.iter()
        .zip(p)
        .map(|(&t, &q)| {
            let q = q.clamp(1e-15, 1.0 - 1e-15);
            if t == 1 {
                -q.ln()
            } else {
                -(1.0 - q).ln()
            }
        })
        .sum::<f64>()
        / y.len().max(1) as f64
}

/// Counts of a 0/1 decision at a threshold, and the rates derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub threshold: f64,
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Confusion {
    /// Counts decisions `p ≥ threshold` against `y`.
    pub fn at(y: &[u8], p: &[f64], threshold: f64) -> Confusion {
        let mut c = Confusion {
            threshold,
            tp: 0,
            fp: 0,
            tn: 0,
            fn_: 0,
        };
        for (&t, &q) in y.iter().zip(p) {
            match (q >= threshold, t == 1) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }

    fn ratio(a: usize, b: usize) -> f64 {
        if b == 0 {
            0.0
        } else {
            a as f64 / b as f64
        }
    }

    pub fn accuracy(&self) -> f64 {
        Self::ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }

    pub fn precision(&self) -> f64 {
        Self::ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        Self::ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        Self::ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// The threshold maximising F1 on `(y, p)`, among the distinct scores (ties → the higher).
pub fn f1_optimal_threshold(y: &[u8], p: &[f64]) -> f64 {
    let pos = y.iter().filter(|&&v| v == 1).count();
    let mut best = (f64::NEG_INFINITY, 0.5);
    for (score, tp, fp) in steps(y, p) {
        let f1 = Confusion::ratio(2 * tp, tp + fp + pos);
        if f1 > best.0 {
            best = (f1, score);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_hand_computed_values_with_ties() {
        let y = [0, 0, 1, 1];
        assert_eq!(roc_auc(&y, &[0.1, 0.4, 0.35, 0.8]).unwrap(), 0.75);
        assert_eq!(roc_auc(&y, &[0.5, 0.5, 0.5, 0.5]).unwrap(), 0.5);
        assert_eq!(roc_auc(&y, &[0.9, 0.8, 0.2, 0.1]).unwrap(), 0.0);
        assert!(roc_auc(&[1, 1], &[0.2, 0.3]).is_err());
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // sklearn.metrics.average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.8333…
        let ap = average_precision(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert!((ap - 0.8333333333333333).abs() < 1e-12, "{ap}");
    }

    #[test]
    fn confusion_and_losses() {
        let y = [1, 0, 1, 0];
        let p = [0.9, 0.6, 0.4, 0.1];
        let c = Confusion::at(&y, &p, 0.5);
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (1, 1, 1, 1));
        assert_eq!(c.f1(), 0.5);
        assert!((brier(&y, &p) - (0.01 + 0.36 + 0.36 + 0.01) / 4.0).abs() < 1e-12);
        assert!((log_loss(&[1], &[0.5]) - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!(f1_optimal_threshold(&y, &p), 0.4);
    }
}
