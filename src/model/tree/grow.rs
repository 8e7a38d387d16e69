//! The one tree builder both families share: histogram split search, the branch-free row
//! partition and, for boosting, histogram subtraction.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{Binned, Node, Tree, MAX_BINS};

/// Settings of one tree (checked by the owning model's parameters).
#[derive(Debug, Clone)]
pub struct GrowParams {
    pub max_depth: usize,
    /// Least hessian sum (weighted row count for the forest) in a child.
    pub min_child_weight: f64,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Least gain for a split to be made.
    pub min_gain: f64,
    /// Features tried per split (all when `None`).
    pub features_per_split: Option<usize>,
    /// Multiplier on leaf values (the learning rate).
    pub leaf_scale: f64,
    /// Stop at nodes whose rows all have the same label (forest: `g = y·w`, `h = w`).
    pub stop_when_pure: bool,
    /// Derive the larger child's histograms by subtraction (when every feature is tried at
    /// every split; boosting). Halves the histogram work of shallow trees.
    pub subtract_histograms: bool,
}

struct Best {
    gain: f64,
    feature: usize,
    bin: u8,
    left: (f64, f64),
}

/// One histogram bin: gradient sum, hessian sum and row count (the count is exact under
/// subtraction, so it alone decides whether a bin is occupied).
type Bin = (f64, f64, u32);

/// What a split search at one node needs to know.
struct SplitContext<'a> {
    sg: f64,
    sh: f64,
    parent_score: f64,
    params: &'a GrowParams,
}

impl SplitContext<'_> {
    /// The best split on feature `j` given its histogram, if its gain beats `floor`.
    /// Candidate splits lie between consecutive occupied bins; the cut goes halfway between
    /// them so unseen values in the gap are split evenly (as CART's midpoint).
    fn scan(
        &self,
        j: usize,
        occupied: impl Iterator<Item = (usize, f64, f64)>,
        floor: f64,
    ) -> Option<Best> {
        let params = self.params;
        let mut best: Option<Best> = None;
        let mut best_gain = floor;
        let (mut gl, mut hl) = (0.0, 0.0);
        let mut prev: Option<u8> = None;
        for (b, bg, bh) in occupied {
            if let Some(pb) = prev {
                let (gr, hr) = (self.sg - gl, self.sh - hl);
                if hl >= params.min_child_weight && hr >= params.min_child_weight {
                    let gain = gl * gl / (hl + params.lambda) + gr * gr / (hr + params.lambda)
                        - self.parent_score;
                    if gain > best_gain {
                        best_gain = gain;
                        best = Some(Best {
                            gain,
                            feature: j,
                            bin: ((u16::from(pb) + b as u16) / 2) as u8,
                            left: (gl, hl),
                        });
                    }
                }
            }
            gl += bg;
            hl += bh;
            prev = Some(b as u8);
        }
        best
    }
}

/// Histograms of every feature over `rows`, feature-major (`p × MAX_BINS`). One pass over
/// the rows fills every feature (each row's gradients are read once); wide, large nodes split
/// the features between two threads. Each feature's sums run in row order either way.
///
/// Also returns the rows' gradient and hessian sums, added in row order alongside the
/// histograms (where the add chain hides behind the histogram work).
pub(super) fn all_histograms(
    binned: &Binned,
    rows: &[u32],
    g: &[f64],
    h: &[f64],
) -> (Vec<Bin>, (f64, f64)) {
    let p = binned.bins.len();
    let mut hist = vec![(0.0, 0.0, 0); p * MAX_BINS];
    let fill_part = |rows: &[u32], features: std::ops::Range<usize>, out: &mut [Bin]| {
        let (mut sg, mut sh) = (0.0, 0.0);
        for &r in rows {
            let r = r as usize;
            let (gr, hr) = (g[r], h[r]);
            sg += gr;
            sh += hr;
            let row = &binned.rows[r * p..(r + 1) * p];
            for (k, &b) in row[features.clone()].iter().enumerate() {
                let bin = &mut out[k * MAX_BINS + b as usize];
                bin.0 += gr;
                bin.1 += hr;
                bin.2 += 1;
            }
        }
        (sg, sh)
    };
    let fill = |features: std::ops::Range<usize>, out: &mut [Bin]| fill_part(rows, features, out);
    let fill_rows = |block: &[u32], out: &mut [Bin]| fill_part(block, 0..p, out);
    let sums = if p >= PARALLEL_MIN_FEATURES && rows.len() * p >= PARALLEL_MIN_CELLS {
        let half = p / 2;
        let (a, b) = hist.split_at_mut(half * MAX_BINS);
        rayon::join(|| fill(0..half, a), || fill(half..p, b)).0
    } else if rows.len() >= 2 * HISTOGRAM_BLOCK {
        // Few features but many rows: fixed blocks of rows on the pool, each its own
        // histograms, added in block order. The blocks depend on the row count only, so
        // the sums are the same whatever the thread count.
        let blocks: Vec<(Vec<Bin>, (f64, f64))> = rows
            .par_chunks(HISTOGRAM_BLOCK)
            .map(|block| {
                let mut part = vec![(0.0, 0.0, 0); p * MAX_BINS];
                let sums = fill_rows(block, &mut part);
                (part, sums)
            })
            .collect();
        let mut sums = (0.0, 0.0);
        for (part, (g, h)) in &blocks {
            for (a, b) in hist.iter_mut().zip(part) {
                a.0 += b.0;
                a.1 += b.1;
                a.2 += b.2;
            }
            sums.0 += g;
            sums.1 += h;
        }
        sums
    } else {
        fill(0..p, &mut hist)
    };
    (hist, sums)
}

/// Below these, handing half the features to another thread costs more than it saves
/// (measured on the Billboard data: 4 features lose, 15 gain).
const PARALLEL_MIN_FEATURES: usize = 8;
pub(super) const PARALLEL_MIN_CELLS: usize = 64 * 1024;

/// Rows per block when a node's histograms are split by rows instead (fewer features than
/// [`PARALLEL_MIN_FEATURES`]); nodes of fewer than two blocks are summed in one pass, so
/// data of up to 128k training rows gets the same sums as before blocks existed.
const HISTOGRAM_BLOCK: usize = 64 * 1024;

/// A node waiting to be split: its rows are `rows[start..end]` of [`grow`]'s row list.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    /// Gradient and hessian sums of its rows.
    sg: f64,
    sh: f64,
    /// Its histograms of every feature, when the larger child's come by subtraction.
    hist: Option<Vec<Bin>>,
}

/// Each row's gradient and hessian, as [`grow`] takes them.
pub enum Weights<'a> {
    Real {
        g: &'a [f64],
        h: &'a [f64],
    },
    /// Whole-number weights (the forest: `h` its bootstrap count, `g = y·h`) packed per row as
    /// `h << 32 | g`, every sum below 2³²: sampled features' histograms then add one integer
    /// per row. The sums are the same as in floating point, where such sums are exact, so
    /// the tree is the one `Real` weights of the same values build.
    Counts(&'a [u64]),
}

/// Grows one tree over `rows` (each listed once; weights live in `h`).
/// `gain_by_feature` accumulates the gain of every split, for importances. `scratch` is the
/// partition's buffer, passed in so that a caller growing many trees reuses one allocation
/// (at scale a fresh one per tree costs a page fault per 4 KiB); its contents are ignored.
pub fn grow(
    binned: &Binned,
    rows: &mut [u32],
    weights: Weights<'_>,
    params: &GrowParams,
    rng: &mut ChaCha8Rng,
    gain_by_feature: &mut [f64],
    scratch: &mut Vec<u32>,
) -> Tree {
    let (g, h, packed): (&[f64], &[f64], &[u64]) = match weights {
        Weights::Real { g, h } => (g, h, &[]),
        Weights::Counts(packed) => (&[], &[], packed),
    };
    let integer = matches!(weights, Weights::Counts(_));
    let p = binned.bins.len();
    let leaf_node = |i: usize| Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: i as u32,
    };
    let mut nodes = Vec::new();
    let mut values = Vec::new();
    let mut cover = Vec::new();
    let mut max_depth_seen = 0u32;
    let mut hist: Vec<Bin> = vec![(0.0, 0.0, 0); MAX_BINS];
    let mut packed_hist = [0u64; MAX_BINS];
    let mut order: Vec<usize> = (0..p).collect();
    let mut present: Vec<(usize, f64, f64)> = Vec::with_capacity(MAX_BINS);
    let n_try = params.features_per_split.unwrap_or(p).min(p);
    // Subtraction needs every feature's histogram at every node (in floating point).
    let subtract = params.subtract_histograms && n_try == p && !integer;
    let (root_hist, root) = if subtract {
        let (hist, sums) = all_histograms(binned, rows, g, h);
        (Some(hist), sums)
    } else if integer {
        let v = rows.iter().fold(0u64, |a, &r| a + packed[r as usize]);
        (None, ((v & 0xffff_ffff) as f64, (v >> 32) as f64))
    } else {
        let sums = rows.iter().fold((0.0, 0.0), |(a, b), &r| {
            (a + g[r as usize], b + h[r as usize])
        });
        (None, sums)
    };
    // Room for the largest tree these rows allow, shrunk once grown: growing by doubling
    // copied every node vector several times and left up to half of it unused.
    let cap = node_bound(rows.len(), root.1, params);
    nodes.reserve_exact(cap);
    values.reserve_exact(cap);
    cover.reserve_exact(cap);
    nodes.push(leaf_node(0));
    values.push(0.0);
    cover.push(0.0);
    let mut stack = vec![Pending {
        node: 0,
        start: 0,
        end: rows.len(),
        depth: 0,
        sg: root.0,
        sh: root.1,
        hist: root_hist,
    }];
    while let Some(Pending {
        node,
        start,
        end,
        depth,
        sg,
        sh,
        hist: node_hist,
    }) = stack.pop()
    {
        values[node] = -sg / (sh + params.lambda) * params.leaf_scale;
        cover[node] = sh;
        max_depth_seen = max_depth_seen.max(depth as u32);
        let pure = params.stop_when_pure && (sg <= 0.0 || sg >= sh);
        if pure
            || depth >= params.max_depth
            || sh < 2.0 * params.min_child_weight
            || end - start < 2
        {
            continue;
        }
        let node_rows = &rows[start..end];
        let parent_score = sg * sg / (sh + params.lambda);
        if n_try < p {
            // Partial Fisher–Yates: the first n_try entries are a uniform sample.
            for k in 0..n_try {
                let pick = rng.gen_range(k..p);
                order.swap(k, pick);
            }
        }
        let mut best = Best {
            gain: params.min_gain,
            feature: usize::MAX,
            bin: 0,
            left: (0.0, 0.0),
        };
        let ctx = SplitContext {
            sg,
            sh,
            parent_score,
            params,
        };
        for &j in &order[..n_try] {
            let found = match &node_hist {
                Some(all) => {
                    let occupied = all[j * MAX_BINS..(j + 1) * MAX_BINS]
                        .iter()
                        .enumerate()
                        .filter(|(_, bin)| bin.2 > 0)
                        .map(|(b, bin)| (b, bin.0, bin.1));
                    ctx.scan(j, occupied, best.gain)
                }
                None => {
                    // Deep trees have many small nodes: a bitmap of touched bins lists the
                    // occupied ones in order without scanning or clearing all 256.
                    let col = &binned.bins[j];
                    let mut touched = [0u64; MAX_BINS / 64];
                    present.clear();
                    if integer {
                        // One integer add sums both g and h.
                        for &r in node_rows {
                            let b = col[r as usize];
                            touched[usize::from(b >> 6)] |= 1 << (b & 63);
                            packed_hist[usize::from(b)] += packed[r as usize];
                        }
                    } else {
                        for &r in node_rows {
                            let b = col[r as usize] as usize;
                            touched[b >> 6] |= 1 << (b & 63);
                            let bin = &mut hist[b];
                            bin.0 += g[r as usize];
                            bin.1 += h[r as usize];
                        }
                    }
                    for (word_index, mut word) in touched.into_iter().enumerate() {
                        while word != 0 {
                            let b = word_index * 64 + word.trailing_zeros() as usize;
                            word &= word - 1;
                            if integer {
                                let v = std::mem::take(&mut packed_hist[b]);
                                present.push((b, (v & 0xffff_ffff) as f64, (v >> 32) as f64));
                            } else {
                                present.push((b, hist[b].0, hist[b].1));
                                hist[b] = (0.0, 0.0, 0);
                            }
                        }
                    }
                    ctx.scan(j, present.iter().copied(), best.gain)
                }
            };
            if let Some(b) = found {
                best = b;
            }
        }
        if best.feature == usize::MAX {
            continue;
        }
        gain_by_feature[best.feature] += best.gain;
        // Partition rows (bin ≤ best.bin to the left), branch-free: each row is written to
        // both sides and only one cursor advances, which beats a mispredicted swap.
        let col = &binned.bins[best.feature];
        let slice = &mut rows[start..end];
        scratch.resize(slice.len(), 0);
        let mut mid = 0;
        let mut right = slice.len();
        for k in 0..slice.len() {
            let r = slice[k];
            let go_left = usize::from(col[r as usize] <= best.bin);
            slice[mid] = r;
            scratch[right - 1] = r;
            mid += go_left;
            right -= 1 - go_left;
        }
        // Right-side rows were stacked from the end of `scratch`; restore their order.
        let n_right = slice.len() - mid;
        for (k, &r) in scratch[right..].iter().rev().enumerate() {
            slice[mid + k] = r;
        }
        debug_assert_eq!(right, slice.len() - n_right);
        let left = nodes.len();
        nodes[node] = Node {
            threshold: binned.cuts[best.feature][best.bin as usize],
            feature: best.feature as u32,
            left: left as u32,
        };
        values[node] = 0.0;
        nodes.push(leaf_node(left));
        nodes.push(leaf_node(left + 1));
        values.extend([0.0, 0.0]);
        cover.extend([0.0, 0.0]);
        let (gl, hl) = best.left;
        let (left_hist, right_hist) = match node_hist {
            Some(mut parent) => {
                // Build the smaller child's histograms from its rows; the larger child's are
                // the parent's minus the smaller's.
                let (small, left_is_small) = if mid <= end - start - mid {
                    (&rows[start..start + mid], true)
                } else {
                    (&rows[start + mid..end], false)
                };
                let (small_hist, _) = all_histograms(binned, small, g, h);
                for (a, b) in parent.iter_mut().zip(&small_hist) {
                    a.0 -= b.0;
                    a.1 -= b.1;
                    a.2 -= b.2;
                }
                if left_is_small {
                    (Some(small_hist), Some(parent))
                } else {
                    (Some(parent), Some(small_hist))
                }
            }
            None => (None, None),
        };
        stack.push(Pending {
            node: left + 1,
            start: start + mid,
            end,
            depth: depth + 1,
            sg: sg - gl,
            sh: sh - hl,
            hist: right_hist,
        });
        stack.push(Pending {
            node: left,
            start,
            end: start + mid,
            depth: depth + 1,
            sg: gl,
            sh: hl,
            hist: left_hist,
        });
    }
    nodes.shrink_to_fit();
    values.shrink_to_fit();
    cover.shrink_to_fit();
    Tree {
        nodes,
        values,
        depth: max_depth_seen,
        cover,
    }
}

/// Most nodes a tree grown on `rows` rows of hessian sum `sh` can have: each leaf holds a
/// row and, but for a lone root, a hessian of at least `min_child_weight`, and a tree of
/// depth d has at most 2^d leaves.
fn node_bound(rows: usize, sh: f64, params: &GrowParams) -> usize {
    let mut leaves = rows.max(1);
    if params.min_child_weight > 0.0 {
        let by_weight = (sh / params.min_child_weight).floor();
        if by_weight < leaves as f64 {
            leaves = (by_weight as usize).max(1);
        }
    }
    if params.max_depth < 32 {
        leaves = leaves.min(1 << params.max_depth);
    }
    2 * leaves - 1
}
