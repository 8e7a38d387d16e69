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

use crate::model::Tree;

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
