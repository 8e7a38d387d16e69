//! Histogram decision trees shared by the forest and the boosted model.
//!
//! Features are cut into at most 256 quantile bins once per fit; a split is "bin ≤ b", stored
//! as the raw-value threshold halfway between the largest training value in bin `b` and the
//! smallest in bin `b + 1`, so prediction on raw values reproduces training exactly.
//!
//! One builder serves both families: it maximises the second-order gain
//! `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` and sets leaves to `−G/(H+λ)`. With gradient
//! `−y·w`, hessian `w` and `λ = 0` that is exactly CART's variance (Gini) reduction with leaf
//! = weighted hit fraction, which is what the forest uses; the boosted model passes logistic
//! gradients.

mod bins;
mod grow;
pub(crate) mod keys;

pub use bins::{bin_of, Binned, MAX_BINS};
pub use grow::{grow, Fixed, GrowParams, Scratch, Weights, ROUNDER};

use serde::{Deserialize, Serialize};

/// One node of a fitted tree, 16 bytes so that trees stay cache-resident when scoring.
/// An internal node sends a row to `left` if `x[feature] <= threshold`, else to `left + 1`.
/// A leaf points to itself with an infinite threshold, so a walk of fixed length needs no
/// branch to stop at leaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    pub threshold: f64,
    pub feature: u32,
    pub left: u32,
}

/// A fitted tree. Node 0 is the root. Serialised as parallel arrays (`feature`, `left` with
/// 0 for leaves, `value`: threshold of an internal node, output of a leaf, `cover`: the
/// node's training cover), which keeps artifacts compact and readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "TreeArrays", try_from = "TreeArrays")]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Output of each leaf (0 for internal nodes).
    pub values: Vec<f64>,
    /// Depth of the deepest leaf (the root alone has depth 0).
    pub depth: u32,
    /// Training cover of each node: the hessian sum of the training rows that reached it,
    /// as XGBoost's `cover`. For the forest the hessian is the bootstrap count, so a node's
    /// cover is the number of rows of its tree's bootstrap sample that reached it (duplicates
    /// counted); for boosting it is `Σ p(1 − p)` over the round's sampled rows. A parent's
    /// cover is its children's sum. Path-dependent TreeSHAP ([`crate::explain`]) weighs the
    /// branches of a feature left out by these covers. Empty when the tree was built without
    /// them (then it scores but cannot be explained).
    pub cover: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TreeArrays {
    feature: Vec<u32>,
    left: Vec<u32>,
    value: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cover: Vec<f64>,
}

impl From<Tree> for TreeArrays {
    fn from(t: Tree) -> Self {
        let leaf = |i: usize| t.nodes[i].left as usize == i;
        TreeArrays {
            feature: t.nodes.iter().map(|n| n.feature).collect(),
            left: (0..t.nodes.len())
                .map(|i| if leaf(i) { 0 } else { t.nodes[i].left })
                .collect(),
            value: (0..t.nodes.len())
                .map(|i| {
                    if leaf(i) {
                        t.values[i]
                    } else {
                        t.nodes[i].threshold
                    }
                })
                .collect(),
            cover: t.cover,
        }
    }
}

/// The sorted distinct thresholds each of `p` features is split at in `trees` (`==` merges
/// -0 and 0, as comparisons do): every split on feature `f` is decided by how many of its
/// thresholds lie below the value, which the SQL table form and the explanation tables use.
/// The trees must have passed [`Tree::check`] over `p` features.
pub fn distinct_thresholds(trees: &[Tree], p: usize) -> Vec<Vec<f64>> {
    keys::distinct_keys(trees, p)
        .into_iter()
        .map(|k| {
            let mut c: Vec<f64> = k.into_iter().map(keys::unordered).collect();
            c.dedup_by(|a, b| a == b);
            c
        })
        .collect()
}

/// Deepest tree an artifact may hold: the deepest any family's parameters allow.
pub const MAX_DEPTH: u32 = 64;
/// Most features a tree may read: bounds what scoring allocates per feature.
pub const MAX_FEATURES: usize = 4096;

impl TryFrom<TreeArrays> for Tree {
    type Error = String;
    /// Checks the arrays' lengths, then the tree they make with [`Tree::check`] (features
    /// below [`MAX_FEATURES`]; the model checks its own count later). Errors name the node.
    fn try_from(a: TreeArrays) -> Result<Self, String> {
        let n = a.value.len();
        if n == 0 {
            return Err("the tree has no nodes".into());
        }
        if a.feature.len() != n || a.left.len() != n {
            return Err(format!(
                "the tree's arrays differ in length (feature {}, left {}, value {})",
                a.feature.len(),
                a.left.len(),
                n
            ));
        }
        if u32::try_from(n).is_err() {
            return Err(format!("the tree has {n} nodes, more than 2^32"));
        }
        // In the arrays 0 marks a leaf; in a `Tree` a leaf points to itself, so a node whose
        // `left` is its own index would turn into a leaf: refuse it here, the rest in `check`.
        if let Some(i) = (1..n).find(|&i| a.left[i] as usize == i) {
            return Err(format!("node {i} points to missing child {i}"));
        }
        let leaf = |i: usize| a.left[i] == 0;
        let nodes = (0..n)
            .map(|i| match leaf(i) {
                true => Node {
                    threshold: f64::INFINITY,
                    feature: 0,
                    left: i as u32,
                },
                false => Node {
                    threshold: a.value[i],
                    feature: a.feature[i],
                    left: a.left[i],
                },
            })
            .collect();
        let values = (0..n)
            .map(|i| if leaf(i) { a.value[i] } else { 0.0 })
            .collect();
        let mut tree = Tree {
            nodes,
            values,
            depth: 0,
            cover: a.cover,
        };
        tree.depth = tree.check(MAX_FEATURES)?;
        Ok(tree)
    }
}

impl Tree {
    /// Checks everything a walk (scoring, the SQL export, explanations) relies on and returns
    /// the depth of the deepest leaf: `values` matches `nodes`; children exist and come after
    /// their parent (so every walk ends); one parent per node (a shared child would make the
    /// exporter expand a DAG and the depth wrong); every node reachable from the root; depth
    /// at most `MAX_DEPTH` (64); features below `features`; no NaN threshold; finite leaf values.
    /// One pass in node order, no recursion. The one structural check of trees: artifacts
    /// ([`TryFrom`]), `Trained::validate` and the SQL export all call it. Errors name the node.
    pub fn check(&self, features: usize) -> Result<u32, String> {
        let n = self.nodes.len();
        if n == 0 {
            return Err("the tree has no nodes".into());
        }
        if self.values.len() != n {
            return Err(format!(
                "the tree has {n} nodes but {} values",
                self.values.len()
            ));
        }
        // Covers are optional (explanations need them; scoring does not).
        if !self.cover.is_empty() && self.cover.len() != n {
            return Err(format!(
                "the tree has {n} nodes but {} covers",
                self.cover.len()
            ));
        }
        if let Some(i) = self
            .cover
            .iter()
            .position(|c| !(c.is_finite() && *c >= 0.0))
        {
            return Err(format!(
                "node {i} has cover {}; covers must be finite and ≥ 0",
                self.cover[i]
            ));
        }
        // Children come after their parent, so one pass in order knows each node's parent
        // (and depth) before it reaches the node. Shared children are found in the pass,
        // unreachable nodes after it (a DAG reports its shared child first).
        let mut has_parent = vec![false; n];
        let mut depth_of = vec![0u32; n];
        let mut depth = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            let l = node.left as usize;
            if l == i {
                if !self.values[i].is_finite() {
                    return Err(format!(
                        "node {i}: leaf value {} is not finite",
                        self.values[i]
                    ));
                }
                continue;
            }
            if l < i || l + 1 >= n {
                return Err(format!("node {i} points to missing child {l}"));
            }
            if node.feature as usize >= features {
                return Err(format!(
                    "node {i} splits on feature {}, but features are numbered 0 to {}",
                    node.feature,
                    features.saturating_sub(1)
                ));
            }
            if node.threshold.is_nan() {
                return Err(format!("node {i}: the threshold is NaN"));
            }
            let d = depth_of[i] + 1;
            if d > MAX_DEPTH {
                return Err(format!(
                    "node {l} lies at depth {d}, deeper than the {MAX_DEPTH} a model may have"
                ));
            }
            for c in [l, l + 1] {
                if std::mem::replace(&mut has_parent[c], true) {
                    return Err(format!("node {c} has two parents (the tree is not a tree)"));
                }
                depth_of[c] = d;
            }
            depth = depth.max(d);
        }
        if let Some(orphan) = (1..n).find(|&i| !has_parent[i]) {
            return Err(format!("node {orphan} is unreachable from the root"));
        }
        Ok(depth)
    }

    fn is_leaf(&self, i: usize) -> bool {
        self.nodes[i].left as usize == i
    }

    /// The leaf value reached by a row (features in model order).
    #[inline]
    pub fn eval(&self, row: &[f64]) -> f64 {
        let mut i = 0usize;
        while !self.is_leaf(i) {
            let node = self.nodes[i];
            i = node.left as usize + usize::from(row[node.feature as usize] > node.threshold);
        }
        self.values[i]
    }

    /// The leaf reached by a row of bins (`row[j]` the bin of feature `j`, as in
    /// `Binned::rows`), with `ranks` from `Binned::ranks`.
    #[inline]
    pub fn leaf_of_row(&self, ranks: &[u8], row: &[u8]) -> usize {
        let mut k = 0usize;
        while !self.is_leaf(k) {
            let node = self.nodes[k];
            k = node.left as usize + usize::from(row[node.feature as usize] > ranks[k]);
        }
        k
    }

    /// Adds to each margin the value of the leaf its row of `p` bins reaches (`rows`
    /// row-major, one row per margin; `ranks` from `Binned::ranks`): what
    /// [`Tree::leaf_of_row`] gives, found for eight rows at once. Every row takes exactly
    /// `depth` steps (a leaf points to itself and its rank, `u8::MAX`, sends no bin right),
    /// so the walk has no branch and eight rows' load chains overlap.
    pub fn add_leaf_values(&self, ranks: &[u8], rows: &[u8], p: usize, margins: &mut [f64]) {
        const LANES: usize = 8;
        assert!(p > 0 && rows.len() == margins.len() * p && ranks.len() == self.nodes.len());
        // left | feature << 32 | rank << 56: one load a step.
        let steps: Vec<u64> = self
            .nodes
            .iter()
            .zip(ranks)
            .map(|(n, &r)| {
                u64::from(n.left)
                    | (u64::from(n.feature.min(0xff_ffff)) << 32)
                    | (u64::from(r) << 56)
            })
            .collect();
        let depth = self.depth as usize;
        let mut m = margins.chunks_exact_mut(LANES);
        let mut r = rows.chunks_exact(LANES * p);
        for (m, block) in (&mut m).zip(&mut r) {
            let mut k = [0usize; LANES];
            for _ in 0..depth {
                for (lane, k) in k.iter_mut().enumerate() {
                    let s = steps[*k];
                    let feature = ((s >> 32) & 0xff_ffff) as usize;
                    *k = (s & 0xffff_ffff) as usize
                        + usize::from(block[lane * p + feature] > (s >> 56) as u8);
                }
            }
            for (v, &k) in m.iter_mut().zip(&k) {
                *v += self.values[k];
            }
        }
        for (v, row) in m
            .into_remainder()
            .iter_mut()
            .zip(r.remainder().chunks_exact(p))
        {
            *v += self.values[self.leaf_of_row(ranks, row)];
        }
    }

    /// The largest feature index the tree reads.
    pub fn max_feature(&self) -> usize {
        (0..self.nodes.len())
            .filter(|&i| !self.is_leaf(i))
            .map(|i| self.nodes[i].feature as usize)
            .max()
            .unwrap_or(0)
    }

    pub fn n_leaves(&self) -> usize {
        (0..self.nodes.len()).filter(|&i| self.is_leaf(i)).count()
    }
}

/// Sums the outputs of `trees` for every row of column-major `x`, starting from `init`, on
/// raw values. [`super::Ensemble`] uses it for small batches (a dashboard request) and as the
/// reference its compiled scorer must match bit for bit.
///
/// Rows are scored in blocks: for each tree, every row of the block takes `depth` steps in
/// lockstep (leaves loop on themselves), so the walks of different rows overlap in the CPU
/// and no branch is mispredicted. Blocks run in parallel, but each row adds its trees in
/// order, so the sums are bit-identical whatever the number of threads.
pub fn sum_trees(trees: &[Tree], x: &[&[f64]], init: f64) -> Vec<f64> {
    use rayon::prelude::*;
    const BLOCK: usize = 256;
    let n = x.first().map_or(0, |c| c.len());
    let p = x.len();
    let mut out = vec![init; n];
    let score_block = |b: usize, chunk: &mut [f64]| {
        let start = b * BLOCK;
        let m = chunk.len();
        // Row-major copy of the block: each step then reads one contiguous row.
        let mut rows = vec![0.0; m * p];
        for (j, col) in x.iter().enumerate() {
            for (k, v) in col[start..start + m].iter().enumerate() {
                rows[k * p + j] = *v;
            }
        }
        if m < 8 {
            // Too few rows to overlap: walk each row and stop at its leaf. Trees are added
            // one by one onto `init`, as below, so a row's score never depends on its block.
            for (k, o) in chunk.iter_mut().enumerate() {
                let row = &rows[k * p..(k + 1) * p];
                for t in trees {
                    *o += t.eval(row);
                }
            }
            return;
        }
        let mut at = vec![0u32; m];
        for tree in trees {
            at.fill(0);
            for _ in 0..tree.depth {
                for (k, i) in at.iter_mut().enumerate() {
                    let node = tree.nodes[*i as usize];
                    *i =
                        node.left + u32::from(rows[k * p + node.feature as usize] > node.threshold);
                }
            }
            for (o, &i) in chunk.iter_mut().zip(&at) {
                *o += tree.values[i as usize];
            }
        }
    };
    if n <= BLOCK {
        // One block (a dashboard request): handing it to the thread pool costs more than
        // it saves.
        score_block(0, &mut out);
    } else {
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, chunk)| score_block(b, chunk));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::grow::{
        all_histograms, partition_halves, Histograms, PARALLEL_MIN_CELLS, PARALLEL_PARTITION_ROWS,
    };
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn bins_reproduce_raw_thresholds() {
        let x = vec![(0..1000)
            .map(|i| ((i * 37) % 1000) as f64 / 7.0)
            .collect::<Vec<_>>()];
        let b = Binned::new(&x);
        assert!(b.cuts[0].len() < MAX_BINS);
        for (i, &v) in x[0].iter().enumerate() {
            let bin = b.bins[0][i] as usize;
            if bin > 0 {
                assert!(v > b.cuts[0][bin - 1]);
            }
            if bin < b.cuts[0].len() {
                assert!(v <= b.cuts[0][bin]);
            }
        }
    }

    #[test]
    fn wide_histograms_equal_feature_by_feature_sums_on_any_thread_count() {
        // Ten features × 66,667 sampled rows: large enough for the two-thread split, each
        // half over a packed block's bound.
        let (p, n) = (10, 100_000);
        let x: Vec<Vec<f64>> = (0..p)
            .map(|j| (0..n).map(|i| ((i * (j + 7)) % 301) as f64).collect())
            .collect();
        let binned = Binned::new(&x);
        let units = Fixed::for_packed(1.0);
        let value = |i: usize| ((i as f64 * 0.37).sin(), 0.1 + (i % 13) as f64 / 14.0);
        let gh: Vec<i64> = (0..n)
            .map(|i| {
                let (g, h) = value(i);
                units.pack(g, h)
            })
            .collect();
        let rows: Vec<u32> = (0..n as u32).filter(|i| i % 3 != 0).collect();
        assert!(rows.len() * p >= PARALLEL_MIN_CELLS);
        let mut want = Histograms::zeros(p);
        for (j, col) in binned.bins.iter().enumerate() {
            for &r in &rows {
                let b = j * MAX_BINS + col[r as usize] as usize;
                // Each row's own units: the packed blocks' sums must unpack into them.
                let (g, h) = value(r as usize);
                want.sums[b][0] += units.quantise(g);
                want.sums[b][1] += units.quantise_at_least_one(h);
            }
        }
        // The rows' own sums, not a histogram's.
        let want_sums = rows.iter().fold((0, 0), |(sg, sh), &r| {
            let (g, h) = value(r as usize);
            (sg + units.quantise(g), sh + units.quantise_at_least_one(h))
        });
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let got = pool.install(|| all_histograms(&binned, &rows, &gh));
            assert!(got == want, "{threads} threads");
            assert_eq!(got.totals(), want_sums, "{threads} threads");
        }
    }

    /// Partitioning by halves on the pool keeps the rows in the order one stable pass
    /// gives, on any thread count and at every split (all left, all right, in between).
    #[test]
    fn partitions_by_halves_keep_the_one_pass_order() {
        let n = 3 * PARALLEL_PARTITION_ROWS + 17;
        // Bins 1..=250: bin 0 sends every row right, 255 every row left.
        let col: Vec<u8> = (0..n)
            .map(|i| 1 + ((i * 7919 + i / 13) % 250) as u8)
            .collect();
        let rows: Vec<u32> = (0..n as u32).filter(|i| i % 7 != 3).collect();
        for bin in [0, 3, 125, 250, 255] {
            let want: Vec<u32> = rows
                .iter()
                .filter(|&&r| col[r as usize] <= bin)
                .chain(rows.iter().filter(|&&r| col[r as usize] > bin))
                .copied()
                .collect();
            let left = rows.iter().filter(|&&r| col[r as usize] <= bin).count();
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool");
                let mut got = rows.clone();
                let mut scratch = vec![0; got.len()];
                let mid = pool.install(|| partition_halves(&mut got, &mut scratch, &col, bin));
                assert_eq!(mid, left, "bin {bin}, {threads} threads");
                assert!(got == want, "bin {bin}, {threads} threads");
            }
        }
    }

    /// Packed blocks at the units' bound: every gradient ±1 and every hessian 1/4 (or
    /// none, one unit), all in one bin, still unpack into the exact sums.
    #[test]
    fn packed_sums_at_the_bound_unpack_exactly() {
        let n = 3 * super::grow::PACKED_ROWS + 5;
        let binned = Binned::new(&[vec![1.0; n]]);
        let units = Fixed::for_packed(1.0);
        let rows: Vec<u32> = (0..n as u32).collect();
        for (g, h) in [
            (1.0, 0.25),
            (-1.0, 0.25),
            (-1.0, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (-1.0, 1.0),
        ] {
            let gh = vec![units.pack(g, h); n];
            let hist = all_histograms(&binned, &rows, &gh);
            let sums = hist.totals();
            let want = (
                n as i64 * units.quantise(g),
                n as i64 * units.quantise_at_least_one(h),
            );
            assert_eq!(sums, want, "({g}, {h})");
            let bin = binned.bins[0][0] as usize;
            assert_eq!((hist.sums[bin][0], hist.sums[bin][1]), want, "({g}, {h})");
            assert_eq!(units.value(want.0), n as f64 * g, "({g}, {h})");
        }
    }

    /// Boosting's trees grow level by level, splitting a level's nodes side by side and
    /// subtracting histograms; the depth-first builder sums every node's histograms from its
    /// rows. Fixed-point sums are exact, so both must build the same tree, numbered alike,
    /// with the same gains, on any thread count: this checks the level grower's partitions,
    /// its subtraction (and the occupancy it leaves) and its renumbering against a separate
    /// path.
    #[test]
    fn levels_grow_the_depth_first_tree_on_any_thread_count() {
        // 170k rows (136k sampled): the root takes the row-block histograms (few features)
        // or the two-thread row halves (ten features), and partitions by halves.
        let n = 170_000;
        for p in [3, 10] {
            let x: Vec<Vec<f64>> = (0..p)
                .map(|j| {
                    (0..n)
                        .map(|i| ((i * (j + 7) + i / 97) % 301) as f64)
                        .collect()
                })
                .collect();
            let binned = Binned::new(&x);
            let units = Fixed::for_packed(2.0);
            let gh: Vec<i64> = (0..n)
                .map(|i| {
                    let signal = if x[0][i] + x[p - 1][i] > 300.0 {
                        -1.0
                    } else {
                        0.75
                    };
                    // Not on a coarse grid: every sum's low bits matter.
                    let g = signal + ((i * 7) % 5) as f64 * 0.25 - 0.5 + (i as f64).sin() * 1e-3;
                    units.pack(g, 0.25 * (1 + i % 4) as f64)
                })
                .collect();
            let rows: Vec<u32> = (0..n as u32).filter(|i| i % 5 != 0).collect();
            let grow_with = |subtract_histograms: bool, threads: usize| {
                let params = GrowParams {
                    max_depth: 4,
                    min_child_weight: 1.0,
                    lambda: 1.0,
                    min_gain: 1e-12,
                    features_per_split: None,
                    leaf_scale: 0.1,
                    stop_when_pure: false,
                    subtract_histograms,
                };
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("pool");
                let mut gains = vec![0.0; p];
                let tree = pool.install(|| {
                    grow(
                        &binned,
                        &mut rows.clone(),
                        Weights::Fixed { gh: &gh, units },
                        &params,
                        &mut ChaCha8Rng::seed_from_u64(1),
                        &mut gains,
                        &mut Scratch::default(),
                    )
                });
                (tree, gains)
            };
            let (want, want_gains) = grow_with(false, 1);
            assert!(
                want.n_leaves() >= 12,
                "{p} features: a near-full depth-4 tree"
            );
            for threads in [1, 2, 3] {
                let (got, gains) = grow_with(true, threads);
                assert!(got == want, "{p} features, {threads} threads");
                assert_eq!(gains, want_gains, "{p} features, {threads} threads");
            }
        }
    }

    fn parse(feature: &[u32], left: &[u32], value: &[f64]) -> Result<Tree, String> {
        let arrays = serde_json::json!({ "feature": feature, "left": left, "value": value });
        serde_json::from_value::<Tree>(arrays).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_tree_parses_with_its_depth() {
        // 0 → (1, 2); 2 → (3, 4): depth 2.
        let tree = parse(
            &[0, 0, 1, 0, 0],
            &[1, 0, 3, 0, 0],
            &[0.5, 0.1, 0.7, 0.2, 0.9],
        )
        .unwrap();
        assert_eq!(tree.depth, 2);
        assert_eq!(tree.eval(&[1.0, 0.0]), 0.2);
        assert_eq!(tree.eval(&[1.0, 1.0]), 0.9);
        assert_eq!(tree.eval(&[0.0, 1.0]), 0.1);
    }

    #[test]
    fn malformed_trees_are_refused_naming_the_node() {
        let v = |n: usize| vec![0.5; n];
        type Case<'a> = (&'a [u32], &'a [u32], Vec<f64>, &'a str);
        let cases: [Case; 7] = [
            (&[], &[], vec![], "no nodes"),
            (&[0, 0], &[1, 0, 0], v(3), "differ in length"),
            // Child 2 (and 3) beyond the 3 nodes.
            (
                &[0, 0, 0],
                &[2, 0, 0],
                v(3),
                "node 0 points to missing child 2",
            ),
            // A child before its parent: a walk could loop.
            (
                &[0, 0, 0, 0, 0],
                &[1, 0, 1, 0, 0],
                v(5),
                "node 2 points to missing child 1",
            ),
            // Nodes 3 and 4 are children of node 1 and of node 2: a DAG.
            (&[0; 5], &[1, 3, 3, 0, 0], v(5), "node 3 has two parents"),
            // Nodes 3 and 4 hang from nothing.
            (&[0; 5], &[1, 0, 0, 0, 0], v(5), "node 3 is unreachable"),
            (
                &[4_000_000_000, 0, 0],
                &[1, 0, 0],
                v(3),
                "feature 4000000000",
            ),
        ];
        for (feature, left, value, want) in cases {
            let err = parse(feature, left, &value).unwrap_err();
            assert!(err.contains(want), "{left:?}: {err}");
        }
    }

    /// A chain of `depth` splits: node 2k splits into leaf 2k + 1 and node 2k + 2.
    fn chain(depth: usize) -> Result<Tree, String> {
        let n = 2 * depth + 1;
        let left: Vec<u32> = (0..n)
            .map(|i| {
                if i % 2 == 0 && i < n - 1 {
                    i as u32 + 1
                } else {
                    0
                }
            })
            .collect();
        parse(&vec![0; n], &left, &vec![0.5; n])
    }

    #[test]
    fn a_chain_deeper_than_the_limit_is_refused() {
        let err = chain(MAX_DEPTH as usize + 1).unwrap_err();
        assert!(err.contains("deeper than the 64"), "{err}");
        assert_eq!(chain(MAX_DEPTH as usize).unwrap().depth, MAX_DEPTH);
    }

    #[test]
    fn separable_data_is_learned_exactly() {
        let x = vec![(0..200).map(|i| i as f64).collect::<Vec<_>>()];
        let y: Vec<f64> = (0..200).map(|i| f64::from(u8::from(i >= 120))).collect();
        let binned = Binned::new(&x);
        let units = Fixed::for_packed(1.0);
        let gh: Vec<i64> = y.iter().map(|v| units.pack(-v, 1.0)).collect();
        let mut rows: Vec<u32> = (0..200).collect();
        let params = GrowParams {
            max_depth: 3,
            min_child_weight: 1.0,
            lambda: 0.0,
            min_gain: 1e-12,
            features_per_split: None,
            leaf_scale: 1.0,
            stop_when_pure: false,
            subtract_histograms: false,
        };
        let mut imp = vec![0.0];
        let tree = grow(
            &binned,
            &mut rows,
            Weights::Fixed { gh: &gh, units },
            &params,
            &mut ChaCha8Rng::seed_from_u64(1),
            &mut imp,
            &mut Scratch::default(),
        );
        assert_eq!(tree.n_leaves(), 2);
        assert_eq!(tree.nodes[0].threshold, 119.5);
        assert_eq!(tree.depth, 1);
        assert_eq!(tree.eval(&[119.0]), 0.0);
        assert_eq!(tree.eval(&[120.0]), 1.0);
        assert!(imp[0] > 0.0);
    }
}
