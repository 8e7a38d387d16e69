//! Uncertainty of holdout metrics: a seeded, stratified, paired bootstrap of ROC AUC and
//! average precision, and of the difference in ROC AUC between every two models scored on
//! the same rows.
//!
//! Each resample draws the holdout's hits and non-hits again with replacement (class counts
//! fixed) and measures every model on the same draw, so differences are paired. A metric on a
//! resample is the metric on rows repeated by their draw counts, computed in one pass over
//! each model's scores sorted once. Resample `b` draws from its own ChaCha8 stream of `seed`,
//! so the intervals are the same whatever the thread count.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{average_precision, roc_auc};
use crate::error::{Error, Result};

/// A point estimate with its 95 % percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    /// Whether the interval contains `v`.
    pub fn covers(&self, v: f64) -> bool {
        self.lower <= v && v <= self.upper
    }
}

/// The ROC AUC of model `a` minus that of model `b` on the same holdout rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub a: String,
    pub b: String,
    pub roc_auc: Interval,
}

impl Difference {
    /// Whether the holdout cannot tell the two apart: the interval of the difference covers 0.
    pub fn indistinguishable(&self) -> bool {
        self.roc_auc.covers(0.0)
    }
}

/// Intervals of every model's ROC AUC and PR AUC, and of every pair's ROC AUC difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedBootstrap {
    pub resamples: usize,
    pub seed: u64,
    /// Per model, in input order.
    pub roc_auc: Vec<Interval>,
    pub pr_auc: Vec<Interval>,
    /// Every pair `(i, j)` with `i < j`, in that order.
    pub differences: Vec<Difference>,
}

/// One model's scores sorted once: row order by descending score, each position's label,
/// and tie-group ends.
struct Sorted {
    order: Vec<usize>,
    /// `label[k]` is the label of row `order[k]`.
    label: Vec<u8>,
    /// `ends[g]` is one past the last position of tie group `g` in `order`.
    ends: Vec<usize>,
}

impl Sorted {
    fn new(p: &[f64], y: &[u8]) -> Sorted {
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let ends = (0..order.len())
            .filter(|&k| k + 1 == order.len() || p[order[k + 1]] != p[order[k]])
            .map(|k| k + 1)
            .collect();
        let label = order.iter().map(|&i| y[i]).collect();
        Sorted { order, label, ends }
    }

    /// ROC AUC and average precision with row `i` counted `w[i]` times, where the drawn rows
    /// hold `total_pos` hits and `total_neg` non-hits.
    fn metrics<W: Copy + Into<u64>>(&self, w: &[W], total_pos: f64, total_neg: f64) -> (f64, f64) {
        let mut m = Running::default();
        if self.ends.len() == self.order.len() {
            // No ties (the usual case): one row per step, without the group bookkeeping.
            for (&i, &l) in self.order.iter().zip(&self.label) {
                let c: u64 = w[i].into();
                let hit = c * u64::from(l);
                m.step(hit, c - hit, total_pos);
            }
        } else {
            let mut start = 0;
            for &end in &self.ends {
                // Counts are integers: summed exactly (and without a branch on the label).
                let (mut dp, mut dn) = (0u64, 0u64);
                for (&i, &l) in self.order[start..end].iter().zip(&self.label[start..end]) {
                    let c: u64 = w[i].into();
                    let hit = c * u64::from(l);
                    dp += hit;
                    dn += c - hit;
                }
                start = end;
                m.step(dp, dn, total_pos);
            }
        }
        (m.area / (total_pos * total_neg), m.ap)
    }
}

/// The running sums of [`Sorted::metrics`] down the ranking.
#[derive(Default)]
struct Running {
    tp: f64,
    fp: f64,
    area: f64,
    ap: f64,
}

impl Running {
    /// One tie group holding `dp` drawn hits and `dn` drawn non-hits. A group drawn not at
    /// all adds +0.0 to every sum (all are non-negative), so it needs no branch of its own;
    /// a group without hits adds nothing to the precision sum and skips its division.
    #[inline]
    fn step(&mut self, dp: u64, dn: u64, total_pos: f64) {
        let (dp, dn) = (dp as f64, dn as f64);
        // Trapezoid of the ROC step (ties count one half), as `roc_auc`.
        self.area += dn * (2.0 * self.tp + dp) / 2.0;
        self.tp += dp;
        self.fp += dn;
        if dp > 0.0 {
            self.ap += dp / total_pos * (self.tp / (self.tp + self.fp));
        }
    }
}

/// A row's draw count in one resample.
trait Count: Copy + Into<u64> {
    /// Adds one; false when the count overflowed.
    fn bump(&mut self) -> bool;
}

impl Count for u8 {
    #[inline]
    fn bump(&mut self) -> bool {
        let (v, overflowed) = self.overflowing_add(1);
        *self = v;
        !overflowed
    }
}

impl Count for u32 {
    #[inline]
    fn bump(&mut self) -> bool {
        let (v, overflowed) = self.overflowing_add(1);
        *self = v;
        !overflowed
    }
}

/// One stratified resample's draw counts, added to `w` (zero on entry), whose rows are
/// numbered class by class (`classes` the two classes' sizes, hits first): each class's
/// rows drawn again with replacement, as many as it has. False when a count overflowed
/// (`w` is then not the resample's).
fn draw_counts<W: Count>(
    rng: &mut ChaCha8Rng,
    classes: [usize; 2],
    words: &mut Vec<u64>,
    w: &mut [W],
) -> bool {
    let mut fits = true;
    let mut first = 0;
    for size in classes {
        let class = &mut w[first..first + size];
        crate::draws::uniform_indices(rng, size, size, words, |k| {
            fits &= class[k].bump();
        });
        first += size;
    }
    fits
}

/// The `q` quantile (linear interpolation) of sorted `v`.
fn percentile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
}

fn interval(estimate: f64, mut draws: Vec<f64>) -> Interval {
    draws.sort_by(f64::total_cmp);
    Interval {
        estimate,
        lower: percentile(&draws, 0.025),
        upper: percentile(&draws, 0.975),
    }
}

/// Bootstraps the holdout metrics of the models whose probabilities are `scores` (one slice
/// per model, named by `names`) on labels `y`: `resamples` stratified resamples from `seed`.
///
/// # Errors
/// [`Error::Param`] for fewer than 2 resamples or a name per model missing; [`Error::Metric`]
/// when a score slice's length differs from the labels' or the labels hold one class.
pub fn paired_bootstrap(
    y: &[u8],
    names: &[&str],
    scores: &[&[f64]],
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap> {
    if resamples < 2 {
        return Err(Error::param(
            "bootstrap_resamples",
            resamples,
            "needs at least 2 resamples",
        ));
    }
    if names.len() != scores.len() {
        return Err(Error::param(
            "names",
            names.len(),
            "must name every score column",
        ));
    }
    let roc: Vec<f64> = scores
        .iter()
        .map(|p| roc_auc(y, p))
        .collect::<Result<_>>()?;
    let ap: Vec<f64> = scores
        .iter()
        .map(|p| average_precision(y, p))
        .collect::<Result<_>>()?;
    let pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
    let neg: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0).collect();
    // Counts are kept class by class (the hits, then the others, each in row order), so a
    // draw adds to its count directly instead of looking its row up first; the rankings
    // name rows by that numbering.
    let mut renumbered = vec![0usize; y.len()];
    for (k, &i) in pos.iter().chain(&neg).enumerate() {
        renumbered[i] = k;
    }
    let sorted: Vec<Sorted> = scores
        .iter()
        .map(|p| {
            let mut s = Sorted::new(p, y);
            for i in &mut s.order {
                *i = renumbered[*i];
            }
            s
        })
        .collect();
    // Each resample: every model's (ROC AUC, AP) on one draw of the rows.
    // Each job reuses its count and word buffers: a fresh holdout-sized vector per resample
    // cost a page fault per 4 KiB (a quarter of a million at 1M rows). Counts are one byte
    // a row, so that the random increments and the metrics' gathers stay in cache; a
    // resample drawing a row 256 times (practically never: a count is about Poisson(1)) is
    // drawn again from the same stream into four-byte counts.
    let buffers = || (vec![0u8; y.len()], Vec::new());
    let (total_pos, total_neg) = (pos.len() as f64, neg.len() as f64);
    let draws: Vec<Vec<(f64, f64)>> = (0..resamples)
        .into_par_iter()
        .map_init(buffers, |(w, words), b| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(b as u64 + 1);
            w.fill(0);
            // Class counts are fixed by the stratified draw.
            if draw_counts(&mut rng.clone(), [pos.len(), neg.len()], words, w) {
                sorted
                    .iter()
                    .map(|s| s.metrics(w, total_pos, total_neg))
                    .collect()
            } else {
                let mut wide = vec![0u32; y.len()];
                let fits = draw_counts(&mut rng, [pos.len(), neg.len()], words, &mut wide);
                debug_assert!(fits, "a class of 2³² rows");
                sorted
                    .iter()
                    .map(|s| s.metrics(&wide, total_pos, total_neg))
                    .collect()
            }
        })
        .collect();
    /// Every model's (ROC AUC, AP) on one resample.
    type Draw = Vec<(f64, f64)>;
    let column = |f: &dyn Fn(&Draw) -> f64| draws.iter().map(f).collect::<Vec<f64>>();
    let mut differences = Vec::new();
    for i in 0..scores.len() {
        for j in i + 1..scores.len() {
            differences.push(Difference {
                a: names[i].to_string(),
                b: names[j].to_string(),
                roc_auc: interval(roc[i] - roc[j], column(&|d| d[i].0 - d[j].0)),
            });
        }
    }
    Ok(PairedBootstrap {
        resamples,
        seed,
        roc_auc: (0..scores.len())
            .map(|m| interval(roc[m], column(&|d| d[m].0)))
            .collect(),
        pr_auc: (0..scores.len())
            .map(|m| interval(ap[m], column(&|d| d[m].1)))
            .collect(),
        differences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_weights_reproduce_the_plain_metrics() {
        let y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1];
        let p = [0.9, 0.1, 0.4, 0.4, 0.4, 0.2, 0.8, 0.8, 0.3, 0.05];
        let (auc, ap) = Sorted::new(&p, &y).metrics(&[1u32; 10], 5.0, 5.0);
        assert!((auc - roc_auc(&y, &p).unwrap()).abs() < 1e-12);
        assert!((ap - average_precision(&y, &p).unwrap()).abs() < 1e-12);
        // Weight 2 on a row is the row written twice.
        let mut w = [1u32; 10];
        w[2] = 2;
        w[5] = 0;
        let (y2, p2): (Vec<u8>, Vec<f64>) = (0..10)
            .flat_map(|i| std::iter::repeat_n((y[i], p[i]), w[i] as usize))
            .unzip();
        // Row 2 is a hit, row 5 not: 6 hits and 4 non-hits drawn.
        let (auc, ap) = Sorted::new(&p, &y).metrics(&w, 6.0, 4.0);
        assert!((auc - roc_auc(&y2, &p2).unwrap()).abs() < 1e-12);
        assert!((ap - average_precision(&y2, &p2).unwrap()).abs() < 1e-12);
    }

    /// A counter that overflows at 2, to force the wide fallback's condition.
    #[derive(Clone, Copy, Default)]
    struct Tiny(u8);

    impl From<Tiny> for u64 {
        fn from(t: Tiny) -> u64 {
            u64::from(t.0)
        }
    }

    impl Count for Tiny {
        fn bump(&mut self) -> bool {
            self.0 = (self.0 + 1) % 2;
            self.0 != 0
        }
    }

    /// `draw_counts` says when a count overflowed, and counts of any width drawn from the
    /// same stream agree while none does: each class draws as many as it has, in its range.
    #[test]
    fn draw_counts_report_overflow_and_agree_across_widths() {
        use rand::SeedableRng;
        let rng = ChaCha8Rng::seed_from_u64(3);
        let classes = [40, 60];
        let mut narrow = vec![0u8; 100];
        let mut wide = vec![0u32; 100];
        assert!(draw_counts(
            &mut rng.clone(),
            classes,
            &mut Vec::new(),
            &mut narrow
        ));
        assert!(draw_counts(
            &mut rng.clone(),
            classes,
            &mut Vec::new(),
            &mut wide
        ));
        assert!(narrow.iter().zip(&wide).all(|(&a, &b)| u32::from(a) == b));
        assert_eq!(wide[..40].iter().sum::<u32>(), 40);
        assert_eq!(wide[40..].iter().sum::<u32>(), 60);
        // 100 draws over 100 rows draw some row twice: a counter that overflows at 2 says so.
        assert!(wide.iter().any(|&c| c >= 2));
        let mut tiny = vec![Tiny::default(); 100];
        assert!(!draw_counts(
            &mut rng.clone(),
            classes,
            &mut Vec::new(),
            &mut tiny
        ));
        let (mut full, mut empty) = (u8::MAX, 0u8);
        assert!(!full.bump() && full == 0 && empty.bump());
    }

    #[test]
    fn weights_without_ties_match_the_rows_written_out() {
        // Distinct scores take the one-row-per-step path; rows drawn 0, 1 or 3 times,
        // including the first-ranked row undrawn.
        let y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0];
        let p = [
            0.95, 0.1, 0.45, 0.4, 0.35, 0.2, 0.8, 0.75, 0.3, 0.05, 0.6, 0.5,
        ];
        let w = [0u32, 1, 3, 1, 0, 2, 1, 1, 3, 1, 0, 1];
        let s = Sorted::new(&p, &y);
        assert_eq!(s.ends.len(), p.len());
        let (y2, p2): (Vec<u8>, Vec<f64>) = (0..y.len())
            .flat_map(|i| std::iter::repeat_n((y[i], p[i]), w[i] as usize))
            .unzip();
        let pos = y2.iter().filter(|&&v| v == 1).count() as f64;
        let (auc, ap) = s.metrics(&w, pos, y2.len() as f64 - pos);
        assert!((auc - roc_auc(&y2, &p2).unwrap()).abs() < 1e-12);
        assert!((ap - average_precision(&y2, &p2).unwrap()).abs() < 1e-12);
    }
}
