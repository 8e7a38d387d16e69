//! Tree ensembles and their fast batch scorer.
//!
//! An [`Ensemble`] holds the fitted trees (what artifacts store) and a compiled copy built
//! once when the trees are fitted or loaded. The compiled copy replaces every threshold by
//! its rank among the thresholds the trees use for that feature, so a row is first turned
//! into small integer bins and each step down a tree compares two integers from 8-byte nodes:
//! `x > threshold` holds exactly when `#(thresholds < x) > rank(threshold)`, NaN included
//! (it goes left, as with raw values), so scores are bit-identical to walking raw values.
//!
//! Trees are visited one at a time for a block of rows, so a tree's nodes stay in cache
//! while thousands of rows pass through it; rows walk in groups of 16 in lockstep (leaves
//! point to themselves) and a group stops as soon as no row moved. Each row still adds the
//! trees' outputs in tree order, so sums do not depend on blocks or threads.

use std::ops::Deref;

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tree::{sum_trees, Tree};

/// Rows that walk one tree in lockstep.
const GROUP: usize = 8;

/// Below this many rows, binning costs more than it saves: rows walk raw values.
const MIN_COMPILED_ROWS: usize = 64;

/// The trees of a fitted forest or boosted model, with their compiled scorer.
///
/// Serialises as the plain list of trees; the scorer is rebuilt on load.
#[derive(Debug)]
pub struct Ensemble {
    trees: Vec<Tree>,
    compiled: Option<Compiled>,
}

impl Ensemble {
    /// Wraps fitted trees and compiles them for scoring.
    pub fn new(trees: Vec<Tree>) -> Ensemble {
        let compiled = Compiled::new(&trees);
        Ensemble { trees, compiled }
    }

    /// `init` plus the sum of every tree's output, for each row of column-major `x` (features
    /// in model order). Trees are added in order, so results are identical however the rows
    /// are scored.
    pub fn sum(&self, x: &[&[f64]], init: f64) -> Vec<f64> {
        let n = x.first().map_or(0, |c| c.len());
        match &self.compiled {
            Some(c) if n >= MIN_COMPILED_ROWS && x.len() >= c.cuts.len() => c.sum(x, init),
            _ => sum_trees(&self.trees, x, init),
        }
    }
}

impl Deref for Ensemble {
    type Target = [Tree];
    fn deref(&self) -> &[Tree] {
        &self.trees
    }
}

impl<'a> IntoIterator for &'a Ensemble {
    type Item = &'a Tree;
    type IntoIter = std::slice::Iter<'a, Tree>;
    fn into_iter(self) -> Self::IntoIter {
        self.trees.iter()
    }
}

impl Clone for Ensemble {
    fn clone(&self) -> Self {
        Ensemble {
            trees: self.trees.clone(),
            compiled: self.compiled.clone(),
        }
    }
}

impl PartialEq for Ensemble {
    fn eq(&self, other: &Self) -> bool {
        self.trees == other.trees
    }
}

impl Serialize for Ensemble {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.trees.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ensemble {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Tree>::deserialize(d).map(Ensemble::new)
    }
}

/// One node of a compiled tree: go to `left + 1` if the row's bin of feature `key` exceeds
/// `rank`, else to `left`. A leaf points to itself with a rank no bin exceeds.
#[derive(Debug, Clone, Copy)]
struct Step {
    left: u32,
    /// Feature index, or 8 × feature index when rows are packed into a `u64`.
    key: u16,
    rank: u16,
}

#[derive(Debug, Clone)]
struct Compiled {
    /// Sorted distinct thresholds per feature.
    cuts: Vec<Vec<f64>>,
    steps: Vec<Step>,
    /// Output of each step that is a leaf (0 elsewhere).
    values: Vec<f64>,
    roots: Vec<u32>,
    /// Most steps any row needs in each tree.
    depths: Vec<u32>,
    /// Every feature has at most 255 thresholds and there are at most 8 features: a row's
    /// bins fit in one `u64`.
    packed: bool,
}

impl Compiled {
    /// `None` when the trees cannot be compiled (more than 65,535 thresholds for one feature,
    /// more than 65,535 features or 2³² nodes); they are then scored on raw values.
    fn new(trees: &[Tree]) -> Option<Compiled> {
        let p = trees.iter().map(|t| t.max_feature() + 1).max().unwrap_or(1);
        let mut cuts = vec![Vec::new(); p];
        for t in trees {
            for (i, n) in t.nodes.iter().enumerate() {
                if n.left as usize != i {
                    cuts[n.feature as usize].push(n.threshold);
                }
            }
        }
        for c in &mut cuts {
            c.sort_unstable_by(f64::total_cmp);
            c.dedup_by(|a, b| a.total_cmp(b).is_eq());
        }
        let rank_max = usize::from(u16::MAX);
        if p > rank_max || cuts.iter().any(|c| c.len() > rank_max) {
            return None;
        }
        let packed = p <= 8 && cuts.iter().all(|c| c.len() <= 255);
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        if u32::try_from(total).is_err() {
            return None;
        }
        let mut steps = Vec::with_capacity(total);
        let mut values = Vec::with_capacity(total);
        let mut roots = Vec::with_capacity(trees.len());
        let mut depths = Vec::with_capacity(trees.len());
        for t in trees {
            let offset = steps.len() as u32;
            roots.push(offset);
            depths.push(t.depth);
            for (i, n) in t.nodes.iter().enumerate() {
                let step = if n.left as usize == i {
                    Step {
                        left: offset + i as u32,
                        key: 0,
                        rank: u16::MAX,
                    }
                } else {
                    let f = n.feature as usize;
                    let rank = cuts[f].partition_point(|c| c.total_cmp(&n.threshold).is_lt());
                    Step {
                        left: offset + n.left,
                        key: if packed { 8 * f as u16 } else { f as u16 },
                        rank: rank as u16,
                    }
                };
                steps.push(step);
            }
            values.extend_from_slice(&t.values);
        }
        Some(Compiled {
            cuts,
            steps,
            values,
            roots,
            depths,
            packed,
        })
    }

    /// Bin of `v` for feature `j`: how many thresholds lie below it (0 for NaN).
    #[inline]
    fn bin(&self, j: usize, v: f64) -> usize {
        self.cuts[j].partition_point(|&c| c < v)
    }

    fn sum(&self, x: &[&[f64]], init: f64) -> Vec<f64> {
        let n = x[0].len();
        let mut out = vec![init; n];
        // Enough blocks to keep every thread busy, each large enough that a tree read into
        // cache serves many rows.
        let threads = rayon::current_num_threads().max(1);
        let block = n
            .div_ceil(2 * threads)
            .next_multiple_of(GROUP)
            .max(4 * GROUP);
        out.par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, chunk)| self.score_block(x, b * block, chunk));
        out
    }

    fn score_block(&self, x: &[&[f64]], start: usize, out: &mut [f64]) {
        let m = out.len();
        let padded = m.next_multiple_of(GROUP);
        let p = self.cuts.len();
        if self.packed {
            let mut rows = vec![0u64; padded];
            for (j, col) in x.iter().take(p).enumerate() {
                for (r, &v) in rows.iter_mut().zip(&col[start..start + m]) {
                    *r |= (self.bin(j, v) as u64) << (8 * j);
                }
            }
            self.walk(padded, out, |k, key| ((rows[k] >> key) & 0xff) as u32);
        } else {
            let mut rows = vec![0u16; padded * p];
            for (j, col) in x.iter().take(p).enumerate() {
                for (k, &v) in col[start..start + m].iter().enumerate() {
                    rows[k * p + j] = self.bin(j, v) as u16;
                }
            }
            self.walk(padded, out, |k, key| {
                u32::from(rows[k * p + usize::from(key)])
            });
        }
    }

    /// Adds every tree's output to `out` (rows `0..padded` exist in `bin`, only the first
    /// `out.len()` are kept).
    #[inline(always)]
    fn walk(&self, padded: usize, out: &mut [f64], bin: impl Fn(usize, u16) -> u32) {
        let steps = &self.steps[..];
        for (&root, &depth) in self.roots.iter().zip(&self.depths) {
            for g in (0..padded).step_by(GROUP) {
                let mut at = [root; GROUP];
                for _ in 0..depth {
                    let mut moved = 0;
                    for (k, i) in at.iter_mut().enumerate() {
                        let s = steps[*i as usize];
                        let next = s.left + u32::from(bin(g + k, s.key) > u32::from(s.rank));
                        moved |= next ^ *i;
                        *i = next;
                    }
                    if moved == 0 {
                        break;
                    }
                }
                for (o, &i) in out.iter_mut().skip(g).zip(&at) {
                    *o += self.values[i as usize];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::Node;

    fn stump(feature: u32, threshold: f64, lo: f64, hi: f64) -> Tree {
        let leaf = |i: u32| Node {
            threshold: f64::INFINITY,
            feature: 0,
            left: i,
        };
        Tree {
            nodes: vec![
                Node {
                    threshold,
                    feature,
                    left: 1,
                },
                leaf(1),
                leaf(2),
            ],
            values: vec![0.0, lo, hi],
            depth: 1,
        }
    }

    #[test]
    fn compiled_scores_equal_raw_walks_at_ties_nan_and_infinities() {
        let trees = vec![
            stump(0, 0.5, 1.0, 2.0),
            stump(1, -1.0, 0.25, 0.5),
            stump(0, 0.5, 4.0, 8.0),
            stump(0, f64::NEG_INFINITY, 16.0, 32.0),
        ];
        let e = Ensemble::new(trees.clone());
        assert!(e.compiled.is_some());
        let specials = [0.5, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0];
        let a: Vec<f64> = (0..200).map(|i| specials[i % 6]).collect();
        let b: Vec<f64> = (0..200).map(|i| specials[(i / 6) % 6]).collect();
        let x = [&a[..], &b[..]];
        let want = sum_trees(&trees, &x, 0.125);
        assert_eq!(e.sum(&x, 0.125), want);
        // A row at a threshold goes left, NaN goes left, +∞ goes right.
        assert_eq!(want[0], 0.125 + 1.0 + 0.5 + 4.0 + 32.0);
        assert_eq!(want[2], 0.125 + 1.0 + 0.5 + 4.0 + 16.0);
        assert_eq!(want[3], 0.125 + 2.0 + 0.5 + 8.0 + 32.0);
    }

    #[test]
    fn wide_rows_and_many_thresholds_score_like_raw_walks() {
        // Nine features (rows no longer fit a u64) and 300 thresholds on one feature (bins
        // no longer fit a u8): the general path must agree bit for bit.
        let mut trees: Vec<Tree> = (0..300)
            .map(|k| stump(8, k as f64 / 3.0, k as f64, -(k as f64) / 7.0))
            .collect();
        trees.push(stump(2, 0.0, 0.5, 0.25));
        let e = Ensemble::new(trees.clone());
        let c = e.compiled.as_ref().expect("compiles");
        assert!(!c.packed);
        let cols: Vec<Vec<f64>> = (0..9)
            .map(|j| {
                (0..500)
                    .map(|i| ((i * (j + 3)) % 113) as f64 - 10.0)
                    .collect()
            })
            .collect();
        let x: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        assert_eq!(e.sum(&x, 0.0), sum_trees(&trees, &x, 0.0));
    }
}
