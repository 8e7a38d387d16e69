//! The game's values `v(S)` for every set `S` of one or two features, for any row, tabulated
//! once per model.
//!
//! A tree's path-dependent `v(S)` is a sum over its leaves: leaf `l` counts when the row
//! lies inside the leaf's box on the features of `S`, weighted by the product of the cover
//! fractions of its path's splits on features outside `S`. So `v(S)` is a step function of
//! the row's values on `S` alone, constant between consecutive thresholds the trees use. With
//! binned training (at most 255 thresholds per feature) the one- and two-feature functions
//! fit in small tables, built with difference arrays in one pass over the leaves. The subset
//! walk then only has to carry sets of three or more features, which it can drop as soon as
//! the row's path leaves two features' boxes: most of the nodes.

use crate::model::{distinct_thresholds, Tree};

/// Most table cells (over all pairs of features) a model may tabulate: 16 MiB of `f64`.
/// Models whose trees use more distinct thresholds keep the plain subset walk.
const MAX_CELLS: usize = 1 << 21;

/// `v(S)` for `|S| ∈ {1, 2}` as step functions over the trees' distinct thresholds.
#[derive(Debug, Clone)]
pub(crate) struct LowOrder {
    /// Per feature, the distinct thresholds the trees split it at, ascending.
    cuts: Vec<Vec<f64>>,
    /// `single[j][c]`: `v({j})` for a row in cell `c` of feature `j`.
    single: Vec<Vec<f64>>,
    /// For each pair `j < k` in order, `v({j, k})` row-major over (cell of `j`, cell of `k`).
    pairs: Vec<Vec<f64>>,
}

/// A leaf's box (cells `lo..hi` per feature) and the product of its path's cover fractions
/// at splits on each feature.
#[derive(Clone, Copy)]
struct Frame {
    /// Cells fit in `u32` (at most [`MAX_CELLS`]): a frame is copied at every split.
    lo: [u32; MAX_P],
    hi: [u32; MAX_P],
    fraction: [f64; MAX_P],
    node: u32,
}

/// Most features tabulated (the subset walk's own limit).
const MAX_P: usize = super::SUBSET_MAX_FEATURES;

impl LowOrder {
    /// The tables of `trees` (each scaled by `scale`) for rows of `p` features, or `None`
    /// when they would exceed [`MAX_CELLS`] or `p` is beyond the subset walk.
    pub(crate) fn build(trees: &[Tree], p: usize, scale: f64) -> Option<LowOrder> {
        if p == 0 || p > MAX_P {
            return None;
        }
        let cuts = distinct_thresholds(trees, p);
        let cells: Vec<usize> = cuts.iter().map(|c| c.len() + 1).collect();
        let mut total = 0usize;
        for j in 0..p {
            for k in j + 1..p {
                total = total.saturating_add((cells[j] + 1).saturating_mul(cells[k] + 1));
            }
        }
        if total > MAX_CELLS {
            return None;
        }
        // Difference arrays, one cell wider than the tables so a box's end has a slot.
        // The singles and the first half of the pairs on one thread, the other pairs on
        // another: each walks every tree, and each table adds its leaves in the same order
        // as one thread would, so the bits do not depend on the thread count.
        let n_pairs = p * (p - 1) / 2;
        let half = n_pairs / 2;
        let walk = |pair_range: std::ops::Range<usize>, with_singles: bool| {
            let mut single: Vec<Vec<f64>> = if with_singles {
                cells.iter().map(|&n| vec![0.0; n + 1]).collect()
            } else {
                Vec::new()
            };
            let mut pairs: Vec<Vec<f64>> = Vec::with_capacity(pair_range.len());
            let mut at = 0;
            for j in 0..p {
                for k in j + 1..p {
                    if pair_range.contains(&at) {
                        pairs.push(vec![0.0; (cells[j] + 1) * (cells[k] + 1)]);
                    }
                    at += 1;
                }
            }
            let mut stack = Vec::new();
            for t in trees {
                let mut f = Frame {
                    node: 0,
                    lo: [0; MAX_P],
                    hi: [0; MAX_P],
                    fraction: [1.0; MAX_P],
                };
                for (h, &c) in f.hi.iter_mut().zip(&cells) {
                    *h = c as u32;
                }
                // Depth first, left before right: the left child is walked on at once and
                // only the right one waits on the stack.
                loop {
                    let node = f.node as usize;
                    let n = t.nodes[node];
                    let left = n.left as usize;
                    if left == node {
                        let v = t.values[node] * scale;
                        if with_singles {
                            add_leaf_singles(&f, v, p, &mut single);
                        }
                        add_leaf_pairs(&f, v, p, &cells, pair_range.clone(), &mut pairs);
                        match stack.pop() {
                            Some(next) => f = next,
                            None => break,
                        }
                        continue;
                    }
                    let j = n.feature as usize;
                    // The threshold is in `cuts[j]`: its rank splits the cells.
                    let r = cuts[j].partition_point(|&c| c < n.threshold) as u32;
                    let cover = t.cover[node];
                    let mut g = f;
                    g.node = left as u32 + 1;
                    g.lo[j] = g.lo[j].max(r + 1);
                    g.fraction[j] *= t.cover[left + 1] / cover;
                    stack.push(g);
                    f.node = left as u32;
                    f.hi[j] = f.hi[j].min(r + 1);
                    f.fraction[j] *= t.cover[left] / cover;
                }
            }
            (single, pairs)
        };
        let ((mut single, mut pairs), (_, rest)) =
            rayon::join(|| walk(0..half, true), || walk(half..n_pairs, false));
        pairs.extend(rest);
        for s in &mut single {
            let mut acc = 0.0;
            for v in s.iter_mut() {
                acc += *v;
                *v = acc;
            }
        }
        let mut at = 0;
        for j in 0..p {
            for k in j + 1..p {
                let w = cells[k] + 1;
                let t = &mut pairs[at];
                for row in t.chunks_mut(w) {
                    let mut acc = 0.0;
                    for v in row {
                        acc += *v;
                        *v = acc;
                    }
                }
                for r in 1..cells[j] + 1 {
                    for c in 0..w {
                        t[r * w + c] += t[(r - 1) * w + c];
                    }
                }
                at += 1;
            }
        }
        Some(LowOrder {
            cuts,
            single,
            pairs,
        })
    }

    /// Writes `v(S)` for every `S` of one or two of the row's features into `v` (indexed by
    /// bit mask).
    pub(crate) fn fill(&self, row: &[f64], v: &mut [f64]) {
        let p = self.cuts.len();
        let mut cell = [0usize; MAX_P];
        for j in 0..p {
            // The row goes right at a split when its value is above the threshold.
            cell[j] = self.cuts[j].partition_point(|&c| c < row[j]);
            v[1 << j] = self.single[j][cell[j]];
        }
        let mut at = 0;
        for j in 0..p {
            for k in j + 1..p {
                let w = self.cuts[k].len() + 2;
                v[(1 << j) | (1 << k)] = self.pairs[at][cell[j] * w + cell[k]];
                at += 1;
            }
        }
    }
}

/// The leaf's value `v` times the cover fractions of its path's splits on every feature
/// outside `skip`.
fn others(f: &Frame, v: f64, p: usize, skip: &[usize]) -> f64 {
    (0..p)
        .filter(|i| !skip.contains(i))
        .fold(v, |acc, i| acc * f.fraction[i])
}

/// Adds leaf value `v` over the leaf's box to every one-feature difference array.
fn add_leaf_singles(f: &Frame, v: f64, p: usize, single: &mut [Vec<f64>]) {
    for j in 0..p {
        if f.lo[j] < f.hi[j] {
            let c = others(f, v, p, &[j]);
            single[j][f.lo[j] as usize] += c;
            single[j][f.hi[j] as usize] -= c;
        }
    }
}

/// Adds leaf value `v` over the leaf's box to the two-feature difference arrays of the pairs
/// numbered `range` (pairs `j < k` in order); `pairs` holds those arrays only.
fn add_leaf_pairs(
    f: &Frame,
    v: f64,
    p: usize,
    cells: &[usize],
    range: std::ops::Range<usize>,
    pairs: &mut [Vec<f64>],
) {
    let mut at = 0;
    for j in 0..p {
        for k in j + 1..p {
            if range.contains(&at) && f.lo[j] < f.hi[j] && f.lo[k] < f.hi[k] {
                let c = others(f, v, p, &[j, k]);
                let w = cells[k] + 1;
                let t = &mut pairs[at - range.start];
                let (lj, hj) = (f.lo[j] as usize, f.hi[j] as usize);
                t[lj * w + f.lo[k] as usize] += c;
                t[lj * w + f.hi[k] as usize] -= c;
                t[hj * w + f.lo[k] as usize] -= c;
                t[hj * w + f.hi[k] as usize] += c;
            }
            at += 1;
        }
    }
}
