//! Path-dependent TreeSHAP (Lundberg et al. 2020, Algorithm 2) and SHAP interaction values
//! over trees with node covers.
//!
//! The game explained is the tree's *path-dependent* conditional expectation: `v(S)` for a
//! set `S` of known features walks the tree, following the row at splits on features in `S`
//! and, at any other split, averaging both children weighted by `cover[child] / cover[node]`.
//! The algorithm gives the exact Shapley values of that game in `O(L · D²)` per tree (`L`
//! leaves, `D` distinct features on a path, at most the number of features), visiting every
//! node once and carrying, along the path, the share of every subset size of the features
//! met so far (`pweight`). A feature met twice on a path is unwound first and re-entered
//! with the product of its fractions, so `D` counts distinct features.
//!
//! The code follows the reference implementation in `shap` (`tree_shap.h`), including its
//! conditioning on one feature for interaction values, so the two can be compared value by
//! value (`benches/shap_oracle.py`).

use crate::model::{Node, Tree};

#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// The feature, or -1 for the root's placeholder.
    feature: i64,
    zero_fraction: f64,
    one_fraction: f64,
    pweight: f64,
}

/// How the walk treats one feature for interaction values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Condition {
    /// Plain TreeSHAP.
    None,
    /// `feature` is always known (follows the row) and takes no share.
    On(usize),
    /// `feature` is never known (both branches, by cover) and takes no share.
    Off(usize),
}

/// Scratch space for one tree walk: every level's path, back to back.
pub(crate) struct Scratch {
    path: Vec<PathElement>,
}

impl Scratch {
    /// Enough room for trees of depth `depth`.
    pub(crate) fn new(depth: u32) -> Scratch {
        let d = depth as usize + 2;
        Scratch {
            path: vec![PathElement::default(); (d + 1) * (d + 2) / 2 + d],
        }
    }

    fn fit(&mut self, depth: u32) {
        let d = depth as usize + 2;
        let need = (d + 1) * (d + 2) / 2 + d;
        if self.path.len() < need {
            self.path.resize(need, PathElement::default());
        }
    }
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].pweight += one * path[i].pweight * (i + 1) as f64 / d1;
        path[i].pweight = zero * path[i].pweight * (depth - i) as f64 / d1;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next_one = path[depth].pweight;
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one * d1 / ((i + 1) as f64 * one);
            next_one = tmp - path[i].pweight * zero * (depth - i) as f64 / d1;
        } else {
            path[i].pweight = path[i].pweight * d1 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

/// The total weight the path would have with element `index` unwound (without unwinding).
fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next_one = path[depth].pweight;
    let d1 = (depth + 1) as f64;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next_one * d1 / ((i + 1) as f64 * one);
            total += tmp;
            next_one = path[i].pweight - tmp * zero * ((depth - i) as f64 / d1);
        } else {
            total += (path[i].pweight / zero) / ((depth - i) as f64 / d1);
        }
    }
    total
}

/// One call of the recursion: the node, where its path starts in the scratch buffer, where
/// its parent's path starts, and what the parent hands down.
struct Frame {
    node: usize,
    offset: usize,
    parent_offset: usize,
    depth: usize,
    zero: f64,
    one: f64,
    feature: i64,
    condition_fraction: f64,
}

/// Adds the tree's SHAP values for `row` (features in model order) into `phi`, each scaled
/// by `scale`. `tree.cover` must hold a positive cover for every internal node (checked by
/// the callers).
pub(crate) fn add_tree(
    tree: &Tree,
    row: &[f64],
    phi: &mut [f64],
    scale: f64,
    condition: Condition,
    scratch: &mut Scratch,
) {
    scratch.fit(tree.depth);
    let path = &mut scratch.path[..];
    recurse(
        tree,
        row,
        phi,
        scale,
        condition,
        path,
        Frame {
            node: 0,
            offset: 0,
            parent_offset: 0,
            depth: 0,
            zero: 1.0,
            one: 1.0,
            feature: -1,
            condition_fraction: 1.0,
        },
    );
}

fn recurse(
    tree: &Tree,
    row: &[f64],
    phi: &mut [f64],
    scale: f64,
    condition: Condition,
    path: &mut [PathElement],
    f: Frame,
) {
    if f.condition_fraction == 0.0 {
        return;
    }
    let mut depth = f.depth;
    // This level's path starts as a copy of the parent's.
    if f.offset != f.parent_offset {
        path.copy_within(f.parent_offset..f.parent_offset + depth + 1, f.offset);
    }
    let here = &mut path[f.offset..];
    let conditioned = match condition {
        Condition::None => None,
        Condition::On(c) | Condition::Off(c) => Some(c as i64),
    };
    if conditioned != Some(f.feature) {
        extend(here, depth, f.zero, f.one, f.feature);
    }
    let node = tree.nodes[f.node];
    let is_leaf = node.left as usize == f.node;
    if is_leaf {
        let value = tree.values[f.node] * f.condition_fraction * scale;
        for i in 1..=depth {
            let w = unwound_sum(here, depth, i);
            let el = here[i];
            phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * value;
        }
        return;
    }
    let split = node.feature as i64;
    let goes_right = row[node.feature as usize] > node.threshold;
    let left = node.left as usize;
    let (hot, cold) = if goes_right {
        (left + 1, left)
    } else {
        (left, left + 1)
    };
    let w = tree.cover[f.node];
    let hot_zero = tree.cover[hot] / w;
    let cold_zero = tree.cover[cold] / w;
    let mut incoming_zero = 1.0;
    let mut incoming_one = 1.0;
    // A feature already on the path is unwound and re-entered with both fractions combined.
    if let Some(k) = (1..=depth).find(|&k| here[k].feature == split) {
        incoming_zero = here[k].zero_fraction;
        incoming_one = here[k].one_fraction;
        unwind(here, depth, k);
        depth -= 1;
    }
    let mut hot_condition = f.condition_fraction;
    let mut cold_condition = f.condition_fraction;
    // `depth + 1` below, as a signed step: the conditioned feature takes no place on the path.
    let mut child_depth = depth + 1;
    match condition {
        Condition::On(c) if c as i64 == split => {
            cold_condition = 0.0;
            child_depth -= 1;
        }
        Condition::Off(c) if c as i64 == split => {
            hot_condition *= hot_zero;
            cold_condition *= cold_zero;
            child_depth -= 1;
        }
        _ => {}
    }
    let child_offset = f.offset + depth + 1;
    let frames = [
        (hot, hot_zero * incoming_zero, incoming_one, hot_condition),
        (cold, cold_zero * incoming_zero, 0.0, cold_condition),
    ];
    for (child, zero, one, condition_fraction) in frames {
        recurse(
            tree,
            row,
            phi,
            scale,
            condition,
            path,
            Frame {
                node: child,
                offset: child_offset,
                parent_offset: f.offset,
                depth: child_depth,
                zero,
                one,
                feature: split,
                condition_fraction,
            },
        );
    }
}

/// The tree's path-dependent expectation with no feature known: the cover-weighted mean of
/// its leaves, computed with the same ratios `cover[child] / cover[node]` as the walk, so
/// that `expected + Σ φ` equals the tree's output for every row.
pub(crate) fn expected_value(tree: &Tree) -> f64 {
    fn at(tree: &Tree, i: usize) -> f64 {
        let node = tree.nodes[i];
        let left = node.left as usize;
        if left == i {
            return tree.values[i];
        }
        let w = tree.cover[i];
        tree.cover[left] / w * at(tree, left) + tree.cover[left + 1] / w * at(tree, left + 1)
    }
    at(tree, 0)
}

/// Most features for [`subset_values`]: one lane per subset, `2^p` lanes in a `u64` mask.
pub(crate) const SUBSET_MAX_FEATURES: usize = 6;

/// The game's value `v(S)` for the subsets `S` in `alive` of the row's features at once
/// (indexed by bit mask, `S = 0` excluded and left untouched), each tree's added into `out` scaled by
/// `scale`. One walk per tree carries a weight per subset: at a split on feature `f`, the
/// subsets holding `f` follow the row, the others go both ways weighted by cover; a branch
/// where only the empty set would go on is skipped (its value is the tree's expectation).
/// For few features this visits a fraction of the nodes with no path arithmetic, and the
/// Shapley values follow from the values exactly ([`shapley_from_values`]).
pub(crate) fn add_subset_values(
    tree: &Tree,
    row: &[f64],
    scale: f64,
    alive: u64,
    out: &mut [f64],
    buf: &mut Vec<f64>,
) {
    let p = row.len();
    debug_assert!(p <= SUBSET_MAX_FEATURES);
    let lanes = 1usize << p;
    let all: u64 = if lanes == 64 {
        u64::MAX
    } else {
        (1u64 << lanes) - 1
    };
    // holding[f]: the subsets that contain feature f.
    let mut holding = [0u64; SUBSET_MAX_FEATURES];
    for (f, h) in holding.iter_mut().enumerate().take(p) {
        for s in 0..lanes {
            if s & (1 << f) != 0 {
                *h |= 1 << s;
            }
        }
    }
    // One row of weights per level of the walk.
    let need = (tree.depth as usize + 1) * lanes;
    if buf.len() < need {
        buf.resize(need, 0.0);
    }
    buf[..lanes].fill(scale);
    let walk = SubsetWalk {
        tree,
        row,
        lanes,
        holding,
    };
    walk.visit(0, 0, alive & all & !1, buf, out);
}

struct SubsetWalk<'a> {
    tree: &'a Tree,
    row: &'a [f64],
    lanes: usize,
    holding: [u64; SUBSET_MAX_FEATURES],
}

impl SubsetWalk<'_> {
    /// Visits `node` with the weights in `buf`'s row `level`, for the subsets in `alive`.
    fn visit(&self, node: usize, level: usize, alive: u64, buf: &mut [f64], out: &mut [f64]) {
        if alive.is_power_of_two() {
            let s = alive.trailing_zeros() as usize;
            return self.one(node, s, buf[level * self.lanes + s], out);
        }
        let tree = self.tree;
        let n = tree.nodes[node];
        let left = n.left as usize;
        let (here, below) = buf.split_at_mut((level + 1) * self.lanes);
        let w = &here[level * self.lanes..];
        if left == node {
            let v = tree.values[node];
            let mut m = alive;
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                m &= m - 1;
                out[s] += w[s] * v;
            }
            return;
        }
        let f = n.feature as usize;
        let (hot, cold) = self.sides(n);
        let c = tree.cover[node];
        let (r_hot, r_cold) = (tree.cover[hot] / c, tree.cover[cold] / c);
        let free = alive & !self.holding[f];
        {
            let next = &mut below[..self.lanes];
            let mut m = alive;
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                m &= m - 1;
                next[s] = if free & (1 << s) != 0 {
                    w[s] * r_hot
                } else {
                    w[s]
                };
            }
        }
        self.visit(hot, level + 1, alive, buf, out);
        if free != 0 {
            let (here, below) = buf.split_at_mut((level + 1) * self.lanes);
            let w = &here[level * self.lanes..];
            let next = &mut below[..self.lanes];
            let mut m = free;
            while m != 0 {
                let s = m.trailing_zeros() as usize;
                m &= m - 1;
                next[s] = w[s] * r_cold;
            }
            self.visit(cold, level + 1, free, buf, out);
        }
    }

    /// The row's side of internal node `n` and the other: `(hot, cold)`, right when the
    /// row's value is above the threshold (NaN goes left).
    fn sides(&self, n: Node) -> (usize, usize) {
        let left = n.left as usize;
        if self.row[n.feature as usize] > n.threshold {
            (left + 1, left)
        } else {
            (left, left + 1)
        }
    }

    /// [`Self::visit`] for one subset `s` (a bit mask of features) with weight `w`: most of a
    /// walk, since a branch off the row's path on feature `f` carries only the subsets
    /// without `f`. The same weights, leaves and order of additions as `visit`, without
    /// the per-level weight rows; a loop along the row's side, recursion only where `s`
    /// lacks the split's feature.
    fn one(&self, mut node: usize, s: usize, mut w: f64, out: &mut [f64]) {
        let tree = self.tree;
        loop {
            let n = tree.nodes[node];
            let left = n.left as usize;
            if left == node {
                out[s] += w * tree.values[node];
                return;
            }
            let f = n.feature as usize;
            let (hot, cold) = self.sides(n);
            if s >> f & 1 == 1 {
                node = hot;
                continue;
            }
            let c = tree.cover[node];
            let (r_hot, r_cold) = (tree.cover[hot] / c, tree.cover[cold] / c);
            self.one(hot, s, w * r_hot, out);
            node = cold;
            w *= r_cold;
        }
    }
}

/// `s! (p − s − 1)! / p!`, the Shapley weight of a coalition of size `s` among `p` players.
fn weight(s: usize, p: usize) -> f64 {
    let f = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    f(s) * f(p - s - 1) / f(p)
}

/// Features some tree splits on, as a bit mask (at most 64 features).
pub(crate) fn used_features(trees: &[Tree]) -> u64 {
    let mut used = 0u64;
    for t in trees {
        for (i, n) in t.nodes.iter().enumerate() {
            if n.left as usize != i && n.feature < 64 {
                used |= 1 << n.feature;
            }
        }
    }
    used
}

/// Shapley values from the values `v` of every subset (bit masks) of `p` features. A
/// feature in no tree (not in `used`) gets exactly 0, as the dummy axiom says (its
/// differences would be rounding: `v(∅)` is computed apart from the walk).
pub(crate) fn shapley_from_values(v: &[f64], p: usize, used: u64) -> Vec<f64> {
    let w: Vec<f64> = (0..p).map(|s| weight(s, p)).collect();
    (0..p)
        .map(|i| {
            let bit = 1usize << i;
            if used & (1 << i) == 0 {
                return 0.0;
            }
            (0..v.len()).filter(|s| s & bit == 0).fold(0.0, |acc, s| {
                acc + w[s.count_ones() as usize] * (v[s | bit] - v[s])
            })
        })
        .collect()
}

/// SHAP interaction values from the values `v` of every subset: the Shapley interaction
/// index off the diagonal, what is left of each Shapley value on it.
#[allow(clippy::needless_range_loop)] // a symmetric matrix: both (i, j) and (j, i) are written
pub(crate) fn interactions_from_values(v: &[f64], p: usize, used: u64) -> Vec<Vec<f64>> {
    let phi = shapley_from_values(v, p, used);
    let mut out = vec![vec![0.0; p]; p];
    if p < 2 {
        for i in 0..p {
            out[i][i] = phi[i];
        }
        return out;
    }
    // s! (p − s − 2)! / (2 (p − 1)!)
    let f = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    let w: Vec<f64> = (0..p - 1)
        .map(|s| f(s) * f(p - s - 2) / (2.0 * f(p - 1)))
        .collect();
    for i in 0..p {
        for j in i + 1..p {
            let (bi, bj) = (1usize << i, 1usize << j);
            if used & (1 << i) == 0 || used & (1 << j) == 0 {
                continue;
            }
            let x = (0..v.len())
                .filter(|s| s & (bi | bj) == 0)
                .fold(0.0, |acc, s| {
                    acc + w[s.count_ones() as usize]
                        * (v[s | bi | bj] - v[s | bi] - v[s | bj] + v[s])
                });
            out[i][j] = x;
            out[j][i] = x;
        }
    }
    for i in 0..p {
        let rest: f64 = (0..p).filter(|&j| j != i).map(|j| out[i][j]).sum();
        out[i][i] = phi[i] - rest;
    }
    out
}
