//! The compiled scorer: thresholds replaced by ranks, trees flattened into one step list
//! (and, where they fit, 4-byte steps and byte tables for the vector walks). Built once by
//! [`Compiled::new`], which checks every bound the vector walks rely on, and never changed
//! after.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::simd;
use super::{Walk, GROUP, MAX_BLOCK};
use crate::model::tree::keys::{distinct_keys, key_slot, split_key, unordered, KEY_SLOTS, NO_KEY};
use crate::model::tree::{bin_of, Tree};

/// One node of a compiled tree: go to `left + 1` if the row's bin of `feature` exceeds
/// `rank`, else to `left`. A leaf points to itself with a rank no bin exceeds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Step {
    pub(super) left: u32,
    pub(super) feature: u16,
    pub(super) rank: u16,
}

#[derive(Debug, Clone)]
pub(super) struct Compiled {
    /// Sorted distinct thresholds per feature.
    pub(super) cuts: Vec<Vec<f64>>,
    pub(super) steps: Vec<Step>,
    /// Output of each step that is a leaf (0 elsewhere).
    pub(super) values: Vec<f64>,
    pub(super) roots: Vec<u32>,
    /// Most steps any row needs in each tree.
    pub(super) depths: Vec<u32>,
    /// Every feature has at most 255 thresholds and there are at most 8 features: a row's
    /// bins fit in one `u64`.
    pub(super) packed: bool,
    /// For the vector walk (every feature with at most 255 thresholds): each step in 4 bytes
    /// when every child lies fewer than 2¹⁶ steps after its parent: bits 0–7 rank (255 for a
    /// leaf), 8–15 feature, 16–31 offset to the left child (0 for a leaf), so a step adds the
    /// offset plus one if the row goes right, and a leaf adds nothing.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) tight: Option<Vec<u32>>,
    /// Each tree's top levels as byte tables, for the AVX-512 walk (with `tight`, at most
    /// [`TABLE_FEATURES`] features).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) tops: Option<Vec<Top>>,
}

/// Levels of a tree resolved by table lookups before the gathered walk.
pub(super) const TOP_LEVELS: usize = 7;
/// Nodes of a complete tree of [`TOP_LEVELS`] levels, in heap order (children of `h` at
/// `2h + 1`, `2h + 2`), plus one spare so tables span 128 bytes.
pub(super) const TOP_NODES: usize = 1 << TOP_LEVELS;
/// Most features the table walk takes: one table per feature, and `Top::used` a `u16`.
pub(super) const TABLE_FEATURES: usize = 16;

/// A tree's first [`TOP_LEVELS`] levels: for heap node `h`, `ranks[f][h]` is its rank if it
/// splits on feature `f`, else 255, which no bin exceeds (a leaf, or a node below one, sends
/// every row left); `starts[k]` is the step a row reaches at heap node `TOP_NODES - 1 + k`.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(super) struct Top {
    pub(super) ranks: [[u8; TOP_NODES]; TABLE_FEATURES],
    pub(super) starts: [u32; TOP_NODES],
    /// Bit `f` of `used[l]`: some node of level `l` splits on feature `f`. Wide rows look up
    /// only those tables (a level of `2^l` nodes uses at most `2^l` features).
    pub(super) used: [u16; TOP_LEVELS],
}

impl Top {
    /// Tables of the tree rooted at step `root` (every rank at most 254, every feature below
    /// [`TABLE_FEATURES`]).
    fn new(steps: &[Step], root: u32) -> Top {
        let mut top = Top {
            ranks: [[u8::MAX; TOP_NODES]; TABLE_FEATURES],
            starts: [root; TOP_NODES],
            used: [0; TOP_LEVELS],
        };
        let mut stack = vec![(0usize, root, 0usize)];
        while let Some((h, at, level)) = stack.pop() {
            if level == TOP_LEVELS {
                top.starts[h + 1 - TOP_NODES] = at;
                continue;
            }
            let s = steps[at as usize];
            let children = if s.rank == u16::MAX {
                (at, at)
            } else {
                top.ranks[usize::from(s.feature)][h] = s.rank as u8;
                top.used[level] |= 1 << s.feature;
                (s.left, s.left + 1)
            };
            stack.push((2 * h + 1, children.0, level + 1));
            stack.push((2 * h + 2, children.1, level + 1));
        }
        top
    }
}

impl Compiled {
    /// `None` when the trees cannot be compiled (more than 65,535 thresholds for one feature,
    /// more than 65,535 features or 2³² nodes); they are then scored on raw values.
    pub(super) fn new(trees: &[Tree]) -> Option<Compiled> {
        // Compiling runs after a fit on one thread otherwise idle-waiting: trees are read
        // side by side, the thresholds deduplicated before the (short) merge.
        let p = trees.iter().map(|t| t.max_feature() + 1).max().unwrap_or(1);
        // Thresholds are sorted and ranked as integer keys in `f64::total_cmp`'s order:
        // the same order and the same equal values, without a comparison closure per step.
        let keys = distinct_keys(trees, p);
        let cuts: Vec<Vec<f64>> = (keys.iter())
            .map(|k| k.iter().map(|&k| unordered(k)).collect())
            .collect();
        let rank_max = usize::from(u16::MAX);
        if p > rank_max || cuts.iter().any(|c| c.len() > rank_max) {
            return None;
        }
        let packed = p <= 8 && cuts.iter().all(|c| c.len() <= 255);
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        if u32::try_from(total).is_err() {
            return None;
        }
        let roots: Vec<u32> = trees
            .iter()
            .scan(0u32, |next, t| {
                let root = *next;
                *next += t.nodes.len() as u32;
                Some(root)
            })
            .collect();
        let depths: Vec<u32> = trees.iter().map(|t| t.depth).collect();
        // One allocation each, filled in place: at scale every extra copy of the nodes costs
        // a page fault per 4 KiB.
        let mut steps = vec![
            Step {
                left: 0,
                feature: 0,
                rank: 0,
            };
            total
        ];
        let mut parts: Vec<(&Tree, u32, &mut [Step])> = Vec::with_capacity(trees.len());
        let mut rest = &mut steps[..];
        for (t, &offset) in trees.iter().zip(&roots) {
            let (part, tail) = rest.split_at_mut(t.nodes.len());
            parts.push((t, offset, part));
            rest = tail;
        }
        // Ranks found by binary search, remembered in a small table by key (exact: a slot
        // answers only for the key it holds).
        let rank_table = || vec![(NO_KEY, 0u16); KEY_SLOTS];
        parts
            .into_par_iter()
            .for_each_init(rank_table, |ranks, (t, offset, part)| {
                for (i, (n, s)) in t.nodes.iter().zip(part).enumerate() {
                    *s = if n.left as usize == i {
                        Step {
                            left: offset + i as u32,
                            feature: 0,
                            rank: u16::MAX,
                        }
                    } else {
                        let f = n.feature as usize;
                        // Ranked in the total order the cuts were sorted in.
                        let k = split_key(n.feature, n.threshold);
                        let slot = &mut ranks[key_slot(k)];
                        if slot.0 != k {
                            let t = k as u64;
                            *slot = (k, keys[f].partition_point(|&c| c < t) as u16);
                        }
                        let rank = slot.1;
                        Step {
                            left: offset + n.left,
                            feature: f as u16,
                            rank,
                        }
                    };
                }
            });
        let mut values: Vec<f64> = Vec::with_capacity(total);
        for t in trees {
            values.extend_from_slice(&t.values);
        }
        // Every child must exist: the vector walk below relies on it to stay in bounds.
        let in_bounds = steps
            .iter()
            .all(|s| s.left as usize + usize::from(s.rank != u16::MAX) < steps.len());
        if !in_bounds || total > i32::MAX as usize {
            return None;
        }
        let small_bins = p <= 256 && cuts.iter().all(|c| c.len() <= 255);
        let tight = small_bins
            .then(|| {
                let mut tight = Vec::with_capacity(steps.len());
                for (i, s) in steps.iter().enumerate() {
                    let offset = s.left.checked_sub(i as u32).filter(|&o| o < 1 << 16)?;
                    let rank = u32::from(s.rank.min(255));
                    tight.push(offset << 16 | u32::from(s.feature) << 8 | rank);
                }
                Some(tight)
            })
            .flatten();
        let tops =
            (tight.is_some() && p <= TABLE_FEATURES && Walk::available().contains(&Walk::Tables))
                .then(|| roots.par_iter().map(|&r| Top::new(&steps, r)).collect());
        Some(Compiled {
            tops,
            tight,
            cuts,
            steps,
            values,
            roots,
            depths,
            packed,
        })
    }

    /// Features the trees read (one bin per row for each).
    pub(super) fn features(&self) -> usize {
        self.cuts.len()
    }

    /// Bin of `v` for feature `j`: how many thresholds lie below it (0 for NaN).
    #[inline]
    fn bin(&self, j: usize, v: f64) -> usize {
        bin_of(&self.cuts[j], v)
    }

    /// Scores with `walk` where the trees allow it (the vector walks need steps that fit 4
    /// bytes, the table walk at most [`TABLE_FEATURES`] features), else with the next slower
    /// one.
    pub(super) fn sum(&self, x: &[&[f64]], init: f64, walk: Walk) -> Vec<f64> {
        let n = x[0].len();
        let mut out = vec![init; n];
        // A block per thread, up to MAX_BLOCK rows: the larger a block, the more rows each
        // tree serves once in cache (docs/benchmarks.md, "Scorer design choices").
        let threads = rayon::current_num_threads().max(1);
        let block = n
            .div_ceil(threads)
            .min(MAX_BLOCK)
            .next_multiple_of(GROUP)
            .max(4 * GROUP);
        out.par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, chunk)| self.score_block(x, b * block, chunk, walk));
        out
    }

    /// Calls `put(row, feature, bin)` for every value of rows `start..start + m`.
    fn for_each_bin(
        &self,
        x: &[&[f64]],
        start: usize,
        m: usize,
        mut put: impl FnMut(usize, usize, usize),
    ) {
        for (j, col) in x.iter().take(self.cuts.len()).enumerate() {
            for (k, &v) in col[start..start + m].iter().enumerate() {
                put(k, j, self.bin(j, v));
            }
        }
    }

    fn score_block(&self, x: &[&[f64]], start: usize, out: &mut [f64], walk: Walk) {
        let m = out.len();
        let p = self.cuts.len();
        #[cfg(target_arch = "x86_64")]
        if self.tight.is_some() && walk != Walk::Scalar {
            let n = m.next_multiple_of(simd::ROWS);
            // The tables compare 64 rows' bins of one feature at once: they take the bins
            // feature by feature (`planes`), besides the rows for the gathers below them.
            let tops = self.tops.as_ref().filter(|_| walk == Walk::Tables);
            if p <= 4 {
                // A row's bins fit a u32 lane: eight rows per vector.
                let mut rows = vec![0u32; n];
                self.for_each_bin(x, start, m, |k, j, b| rows[k] |= (b as u32) << (8 * j));
                match tops {
                    Some(_) => {
                        let n = m.next_multiple_of(simd::TABLE_ROWS);
                        rows.resize(n, 0);
                        let mut planes = vec![0u8; 4 * n];
                        for (j, plane) in planes.chunks_exact_mut(n).enumerate() {
                            for (p, &r) in plane.iter_mut().zip(&rows) {
                                *p = (r >> (8 * j)) as u8;
                            }
                        }
                        let t = simd::Tables {
                            rows: simd::TableRows::Packed(&rows),
                            planes: &planes,
                        };
                        simd::walk_tables(self, t, out);
                    }
                    None => simd::walk(self, simd::Rows::Packed(&rows), out),
                }
            } else {
                // Tops exist only for at most TABLE_FEATURES (16) features.
                match tops {
                    Some(_) => {
                        // Sixteen bytes a row, and the same bins feature by feature.
                        let n = m.next_multiple_of(simd::TABLE_ROWS);
                        let mut bins = vec![0u8; 16 * n];
                        let mut planes = vec![0u8; p * n];
                        self.for_each_bin(x, start, m, |k, j, b| {
                            bins[16 * k + j] = b as u8;
                            planes[j * n + k] = b as u8;
                        });
                        let t = simd::Tables {
                            rows: simd::TableRows::Wide16(&bins),
                            planes: &planes,
                        };
                        simd::walk_tables(self, t, out);
                    }
                    None => {
                        // Each lane gathers its row's bin byte; 3 spare bytes let the last
                        // row's 4-byte gather stay inside the buffer.
                        let mut bins = vec![0u8; n * p + 3];
                        self.for_each_bin(x, start, m, |k, j, b| bins[k * p + j] = b as u8);
                        simd::walk(self, simd::Rows::Wide { bins: &bins, p }, out);
                    }
                }
            }
            return;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = walk;
        let padded = m.next_multiple_of(GROUP);
        if self.packed {
            let mut rows = vec![0u64; padded];
            self.for_each_bin(x, start, m, |k, j, b| rows[k] |= (b as u64) << (8 * j));
            self.walk(padded, out, |k, f| ((rows[k] >> (8 * f)) & 0xff) as u32);
        } else {
            let mut rows = vec![0u16; padded * p];
            self.for_each_bin(x, start, m, |k, j, b| rows[k * p + j] = b as u16);
            self.walk(padded, out, |k, f| u32::from(rows[k * p + usize::from(f)]));
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
                        let next = s.left + u32::from(bin(g + k, s.feature) > u32::from(s.rank));
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

    /// More distinct thresholds than the tables of recent keys hold, so slots collide: the
    /// cuts are still every distinct threshold once, in order, and each split's rank finds
    /// its own threshold.
    #[test]
    fn colliding_key_slots_change_no_cut_or_rank() {
        let leaf = |i: u32| Node {
            threshold: f64::INFINITY,
            feature: 0,
            left: i,
        };
        // 40 trees × 255 splits over two features, thresholds repeating across trees.
        let trees: Vec<Tree> = (0..40u32)
            .map(|t| {
                let mut nodes = Vec::new();
                let splits = 255u32;
                for s in 0..splits {
                    nodes.push(Node {
                        threshold: f64::from((s * 7 + t * 13) % 5000) / 8.0 - 300.0,
                        feature: (s + t) % 2,
                        left: s + 1,
                    });
                }
                nodes.push(leaf(splits));
                nodes.push(leaf(splits + 1));
                // A spine: each split's right child is the next split.
                for s in 0..splits {
                    nodes[s as usize].left = if s + 1 < splits { s + 1 } else { splits };
                }
                let n = nodes.len();
                Tree {
                    values: vec![0.5; n],
                    cover: vec![1.0; n],
                    depth: splits,
                    nodes,
                }
            })
            .collect();
        let c = Compiled::new(&trees).expect("compiles");
        for f in 0..2 {
            let mut want: Vec<f64> = (trees.iter())
                .flat_map(|t| t.nodes.iter().enumerate())
                .filter(|&(i, n)| n.left as usize != i && n.feature == f as u32)
                .map(|(_, n)| n.threshold)
                .collect();
            want.sort_by(f64::total_cmp);
            want.dedup();
            assert!(want.len() > KEY_SLOTS / 4, "enough distinct thresholds");
            assert_eq!(c.cuts[f], want);
        }
        for (t, &root) in trees.iter().zip(&c.roots) {
            for (i, n) in t.nodes.iter().enumerate() {
                let s = c.steps[root as usize + i];
                if n.left as usize != i {
                    assert_eq!(
                        c.cuts[usize::from(s.feature)][usize::from(s.rank)],
                        n.threshold
                    );
                }
            }
        }
    }
}
