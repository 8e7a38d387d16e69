//! A histogram random forest: bootstrap rows per tree, a random subset of features per split,
//! probabilities as the mean of the trees' leaf hit fractions.
//!
//! Why our own: linfa-ensemble and smartcore's classifier were orders of magnitude slower and
//! give labels only, smartcore's regressor scores too slowly (docs/benchmarks.md, "Why our
//! own models", has the measurements and this forest's figures).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ensemble::Ensemble;
use super::tree::{grow, Binned, GrowParams, Scratch, Tree, Weights};
use super::{normalise, Family, Fit, Model};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Hyper-parameters of [`Forest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForestParams {
    /// Number of trees. Default 300.
    pub n_trees: usize,
    /// Deepest level a tree may reach. Default 18: on the Billboard data that scores a
    /// higher holdout AUC with four features than no practical limit (0.7664 at depth 18 vs
    /// 0.7646 at 32, and lower Brier and log loss) and nearly the same with fifteen (0.8668
    /// vs 0.8678),
    /// with trees a fifth smaller and batch scoring about a third faster (each row walks at
    /// most 18 steps per tree).
    pub max_depth: usize,
    /// Least (bootstrap-weighted) rows in a leaf. Default 10: on the Billboard data it scores
    /// a higher holdout AUC than scikit-learn's 1 with four features (0.765 vs 0.757) and
    /// about the same with fifteen (0.868 vs 0.871; both at depth ≤ 32), with trees a third
    /// the size, which makes scoring (permutation importance, partial dependence, the
    /// dashboard) much faster.
    pub min_samples_leaf: usize,
    /// Features tried at each split. Default `None`: ⌊√p⌋ (at least 1).
    pub max_features: Option<usize>,
    /// Draw a bootstrap sample per tree. Default `true`.
    pub bootstrap: bool,
    /// Rows drawn (with replacement) for each tree's bootstrap sample, at most; the training
    /// rows when fewer, and unused without `bootstrap`. As scikit-learn's `max_samples`, but
    /// a count. Default `Some(MAX_SAMPLES)`: a tree grown on more rows than that is deeper
    /// and slower to score without scoring better (see [`MAX_SAMPLES`]); `None` draws as
    /// many rows as there are.
    pub max_samples: Option<usize>,
    /// Score each tree's out-of-bag rows and report their ROC AUC (needs `bootstrap`).
    /// Default `false`, as scikit-learn: it costs about a sixth of the fit time.
    pub oob_score: bool,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 300,
            max_depth: 18,
            min_samples_leaf: 10,
            max_features: None,
            bootstrap: true,
            max_samples: Some(MAX_SAMPLES),
            oob_score: false,
        }
    }
}

/// A tree drawing at least `1 / DENSE_DRAWS` of the rows reads every row's count to list
/// its bag; fewer draws mark the drawn rows in a bitmap instead.
const DENSE_DRAWS: usize = 4;

/// Lists the drawn rows (a count above 0) in row order, with their packed weights, reading
/// every count branch-free: a row is written, and the cursor passes it only if drawn.
fn bag_from_counts(
    counts: &[u8],
    pack: impl Fn(u8, usize) -> u64,
    packed: &mut Vec<u64>,
    in_bag: &mut Vec<u32>,
) {
    packed.resize(counts.len(), 0);
    in_bag.resize(counts.len(), 0);
    let mut k = 0;
    for (i, &c) in counts.iter().enumerate() {
        packed[k] = pack(c, i);
        in_bag[k] = i as u32;
        k += usize::from(c != 0);
    }
    packed.truncate(k);
    in_bag.truncate(k);
}

/// [`bag_from_counts`] for few draws: the rows marked in `drawn` (a bit per row, cleared on
/// the way), in row order.
fn bag_from_marks(
    counts: &[u8],
    drawn: &mut [u64],
    pack: impl Fn(u8, usize) -> u64,
    packed: &mut Vec<u64>,
    in_bag: &mut Vec<u32>,
) {
    for (w, word) in drawn.iter_mut().enumerate() {
        while *word != 0 {
            let i = w * 64 + word.trailing_zeros() as usize;
            *word &= *word - 1;
            packed.push(pack(counts[i], i));
            in_bag.push(i as u32);
        }
    }
}

/// The default cap on each tree's bootstrap draw. Below it (the Billboard data, the synthetic
/// default) every tree draws as many rows as there are, as before the cap. Above it a tree
/// on all the rows only grows: on 750k synthetic training rows (`hitcast bench --rows
/// 1000000 --no-report`, docs/benchmarks.md) drawing 100k rows per tree scored a higher
/// holdout ROC AUC (0.8163 vs 0.8120 with every row: leaves of 10 rows out of 750k
/// memorise noise) and fitted and scored faster (the timings are in docs/benchmarks.md).
pub const MAX_SAMPLES: usize = 100_000;

impl ForestParams {
    /// # Errors
    /// [`Error::Param`] for zero trees, depth 0, a zero leaf size, zero features per split or
    /// a zero `max_samples`.
    pub fn check(&self) -> Result<()> {
        if self.n_trees == 0 {
            return Err(Error::param("forest.n_trees", 0, "must be at least 1"));
        }
        if self.max_depth == 0 || self.max_depth > 64 {
            return Err(Error::param(
                "forest.max_depth",
                self.max_depth,
                "must be in 1–64",
            ));
        }
        if self.min_samples_leaf == 0 {
            return Err(Error::param(
                "forest.min_samples_leaf",
                0,
                "must be at least 1",
            ));
        }
        if self.max_features == Some(0) {
            return Err(Error::param("forest.max_features", 0, "must be at least 1"));
        }
        if self.max_samples == Some(0) {
            return Err(Error::param("forest.max_samples", 0, "must be at least 1"));
        }
        Ok(())
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub feature_names: Vec<String>,
    pub trees: Ensemble,
    /// Impurity (Gini) decrease per feature, normalised to sum to 1.
    pub impurity_importance: Vec<f64>,
    /// ROC AUC of the out-of-bag predictions on the training rows (with `oob_score`).
    pub oob_roc_auc: Option<f64>,
}

impl Fit for Forest {
    type Params = ForestParams;

    fn fit(data: &Dataset, rows: &[usize], params: &ForestParams, seed: u64) -> Result<Self> {
        params.check()?;
        Forest::fit_checked(data, rows, params, seed)
    }
}

/// One fitting job's row-sized buffers (see [`Forest::fit_checked`]).
struct Buffers {
    /// Each row's bootstrap count (all zero between trees; read only when bootstrapping).
    counts: Vec<u8>,
    /// One bit per row: drawn by this tree's bootstrap.
    drawn: Vec<u64>,
    /// The in-bag rows (ascending), their weights as [`Weights::Counts`] packs them, and
    /// their bins: the tree grows on this compact copy, numbered 0.., which stays in cache
    /// where the rows scattered over a large training set would not.
    in_bag: Vec<u32>,
    packed: Vec<u64>,
    local: Binned,
    local_rows: Vec<u32>,
    scratch: Scratch,
    /// Raw random words for the bootstrap's draws.
    words: Vec<u64>,
}

impl Forest {
    /// [`Fit::fit`] for parameters a [`CheckedSpec`](super::CheckedSpec) already checked.
    pub(crate) fn fit_checked(
        data: &Dataset,
        rows: &[usize],
        params: &ForestParams,
        seed: u64,
    ) -> Result<Self> {
        let super::Xy { x, y: labels } = super::Xy::of(&data.x, &data.y, rows);
        crate::data::check_two_classes(&labels, "random forest training rows")?;
        let (n, p) = (rows.len(), data.n_features());
        let binned = Binned::new(&x);
        let grow_params = GrowParams {
            max_depth: params.max_depth,
            min_child_weight: params.min_samples_leaf as f64,
            lambda: 0.0,
            min_gain: 1e-12,
            features_per_split: Some(
                params
                    .max_features
                    .unwrap_or(((p as f64).sqrt() as usize).max(1))
                    .min(p),
            ),
            leaf_scale: -1.0,
            stop_when_pure: true,
            subtract_histograms: false,
        };
        // Seeds are drawn up front, in tree order, so threads cannot change any tree.
        let mut master = ChaCha8Rng::seed_from_u64(seed);
        let seeds: Vec<u64> = (0..params.n_trees).map(|_| master.gen()).collect();
        let draws = params.max_samples.map_or(n, |m| m.min(n));
        let row_major: Vec<f64> = if params.bootstrap && params.oob_score {
            (0..n).flat_map(|i| x.iter().map(move |c| c[i])).collect()
        } else {
            Vec::new()
        };
        // Each tree scores its own out-of-bag rows while it is hot in cache.
        // (tree, gain per feature, out-of-bag (row, prediction) pairs)
        type Grown = (Tree, Vec<f64>, Vec<(u32, f64)>);
        // Each job's buffers serve all its trees: every tree overwrites them whole, and at
        // scale fresh row-sized buffers per tree cost more in page faults than the tree.
        let buffers = || Buffers {
            counts: vec![0; n],
            drawn: vec![0; n.div_ceil(64)],
            in_bag: Vec::with_capacity(draws),
            packed: Vec::with_capacity(draws),
            local: Binned {
                bins: vec![Vec::with_capacity(draws); p],
                rows: Vec::new(),
                cuts: binned.cuts.clone(),
            },
            local_rows: Vec::with_capacity(draws),
            scratch: Scratch::with_rows(draws),
            words: Vec::new(),
        };
        let grown: Vec<Grown> = seeds
            .par_iter()
            .map_init(buffers, |buf, &s| {
                let mut rng = ChaCha8Rng::seed_from_u64(s);
                // h = the count, g = y·h, packed as h << 32 | g (at most 255 per row and
                // 2³² per sum); leaf_scale −1 turns the builder's −G/H into the weighted hit
                // fraction of the leaf.
                let pack =
                    |c: u8, i: usize| (u64::from(c) << 32) | (u64::from(c) * u64::from(labels[i]));
                buf.in_bag.clear();
                buf.packed.clear();
                if params.bootstrap && draws >= n / DENSE_DRAWS {
                    // Most rows are drawn: the counts are read in row order, branch-free (a
                    // row is written and the cursor passes it only if it was drawn).
                    let counts = &mut buf.counts;
                    crate::draws::uniform_indices(&mut rng, n, draws, &mut buf.words, |i| {
                        counts[i] = counts[i].saturating_add(1);
                    });
                    bag_from_counts(counts, pack, &mut buf.packed, &mut buf.in_bag);
                } else if params.bootstrap {
                    // Only the drawn rows are touched (a tree draws at most `max_samples` of
                    // them): a bit per drawn row lists them in row order, and their counts
                    // are zeroed again once the tree is done.
                    let (counts, drawn) = (&mut buf.counts, &mut buf.drawn);
                    crate::draws::uniform_indices(&mut rng, n, draws, &mut buf.words, |i| {
                        counts[i] = counts[i].saturating_add(1);
                        drawn[i / 64] |= 1 << (i % 64);
                    });
                    bag_from_marks(counts, drawn, pack, &mut buf.packed, &mut buf.in_bag);
                } else {
                    for i in 0..n {
                        buf.packed.push(pack(1, i));
                        buf.in_bag.push(i as u32);
                    }
                }
                // Local row k is in-bag row in_bag[k]: the same order, so the same tree.
                // Without the bootstrap every row is in the bag, already numbered so.
                let bins = if params.bootstrap {
                    for (local, col) in buf.local.bins.iter_mut().zip(&binned.bins) {
                        local.clear();
                        local.extend(buf.in_bag.iter().map(|&i| col[i as usize]));
                    }
                    &buf.local
                } else {
                    &binned
                };
                buf.local_rows.clear();
                buf.local_rows.extend(0..buf.in_bag.len() as u32);
                let mut gains = vec![0.0; p];
                let tree = grow(
                    bins,
                    &mut buf.local_rows,
                    Weights::Counts(&buf.packed),
                    &grow_params,
                    &mut rng,
                    &mut gains,
                    &mut buf.scratch,
                );
                let counts = &buf.counts;
                let oob = if params.bootstrap && params.oob_score {
                    (0..n)
                        .filter(|&i| counts[i] == 0)
                        .map(|i| (i as u32, tree.eval(&row_major[i * p..(i + 1) * p])))
                        .collect()
                } else {
                    Vec::new()
                };
                if params.bootstrap {
                    for &i in &buf.in_bag {
                        buf.counts[i as usize] = 0;
                    }
                }
                (tree, gains, oob)
            })
            .collect();
        let mut importance = vec![0.0; p];
        let mut oob_sum = vec![(0.0, 0u32); n];
        for (_, gains, oob) in &grown {
            for (a, b) in importance.iter_mut().zip(gains) {
                *a += b;
            }
            // Summed in tree order: the same bits whatever the thread count.
            for &(i, v) in oob {
                oob_sum[i as usize].0 += v;
                oob_sum[i as usize].1 += 1;
            }
        }
        let oob_roc_auc = if params.bootstrap && params.oob_score {
            let (scores, labels): (Vec<f64>, Vec<u8>) = oob_sum
                .iter()
                .zip(&labels)
                .filter(|((_, k), _)| *k > 0)
                .map(|((s, k), &y)| (s / f64::from(*k), y))
                .unzip();
            crate::metrics::roc_auc(&labels, &scores).ok()
        } else {
            None
        };
        Ok(Forest {
            feature_names: data.feature_names.clone(),
            trees: Ensemble::new(grown.into_iter().map(|(t, _, _)| t).collect()),
            impurity_importance: normalise(importance),
            oob_roc_auc,
        })
    }
}

impl Model for Forest {
    fn family(&self) -> Family {
        Family::Forest
    }

    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn predict_proba_columns(&self, x: &[&[f64]]) -> Vec<f64> {
        let k = self.trees.len() as f64;
        self.trees.sum(x, 0.0).into_iter().map(|s| s / k).collect()
    }

    fn importances(&self) -> Vec<f64> {
        self.impurity_importance.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of listing a tree's bag give the same rows, in the same order, with the same
    /// weights, and the marks are cleared for the next tree.
    #[test]
    fn a_bag_listed_from_counts_or_from_marks_is_the_same() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [1usize, 63, 64, 65, 1000] {
            let counts: Vec<u8> = (0..n)
                .map(|_| {
                    if rng.gen::<f64>() < 0.4 {
                        0
                    } else {
                        rng.gen_range(1..4)
                    }
                })
                .collect();
            let mut drawn = vec![0u64; n.div_ceil(64)];
            for (i, &c) in counts.iter().enumerate() {
                if c > 0 {
                    drawn[i / 64] |= 1 << (i % 64);
                }
            }
            let pack = |c: u8, i: usize| (u64::from(c) << 32) | i as u64;
            let (mut pa, mut ia) = (Vec::new(), Vec::new());
            bag_from_counts(&counts, pack, &mut pa, &mut ia);
            let (mut pb, mut ib) = (Vec::new(), Vec::new());
            bag_from_marks(&counts, &mut drawn, pack, &mut pb, &mut ib);
            assert_eq!((&pa, &ia), (&pb, &ib), "{n} rows");
            let drawn_rows = counts.iter().filter(|&&c| c > 0).count();
            assert_eq!(ia.len(), drawn_rows);
            assert!(drawn.iter().all(|&w| w == 0));
        }
    }
}
