//! The one tree builder both families share: histogram split search, the branch-free row
//! partition and, for boosting, histogram subtraction.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{Binned, Node, Tree, MAX_BINS};
use crate::model::ensemble::prefetch;

/// How many rows ahead a gathering loop asks for its row's data (see [`prefetch`]).
const AHEAD: usize = 16;

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
    /// Gradient and hessian sums of the left child, in the weights' units.
    left: (i64, i64),
}

/// The fixed point boosting's gradients and hessians are summed in: each value is a whole
/// number of units of 2^-shift. A row carries both in one integer ([`Fixed::pack`]), so a
/// histogram adds one integer per row and feature; blocks of [`PACKED_ROWS`] rows are summed
/// so and then unpacked into two sums each (within ±2⁶² for any row count). Sums of
/// integers are exact in any order, so a histogram made by subtraction is the one summed
/// from its rows, bit for bit, and an empty bin is exactly zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fixed {
    /// Units per 1.0 (a power of two) and its inverse.
    scale: f64,
    unit: f64,
}

/// 1.5 · 2⁵²: added to an `x` with |x| < 2⁵¹, it leaves `x` rounded (half to even) in the
/// low bits of its mantissa.
pub const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// `x` (|x| < 2⁵¹) rounded half to even, through [`ROUNDER`].
#[inline(always)]
fn round_units(x: f64) -> i64 {
    debug_assert!(
        x.abs() < 2f64.powi(51),
        "{x} units: beyond the units' bound"
    );
    ((x + ROUNDER).to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64)
}

impl Fixed {
    /// Whole numbers (the forest's counts): one unit is 1.0.
    pub const WHOLE: Fixed = Fixed {
        scale: 1.0,
        unit: 1.0,
    };

    /// Units for packed gradients and hessians ([`Fixed::pack`]) within ±`bound`: a block
    /// of [`PACKED_ROWS`] of them sums within ±2³⁰ units, so neither half of a packed sum
    /// spills into the other. With `bound` 1 (boosting's), a unit is 2⁻¹⁵ whatever the row
    /// count: a gradient below 2⁻¹⁶ in size rounds to 0, and a hessian below one unit
    /// (p(1 − p) < 3·10⁻⁵, margins beyond about ±10.4) counts as one. Both are far below
    /// what a split or a leaf of `min_child_weight` 1 can resolve.
    ///
    /// # Panics
    /// When `bound` is not in (0, [`PACKED_UNITS`]]: no unit keeps such values packable.
    pub fn for_packed(bound: f64) -> Fixed {
        assert!(
            bound > 0.0 && bound <= PACKED_UNITS as f64,
            "packed units for values within ±{bound}"
        );
        let shift = (PACKED_UNITS.ilog2() as i32 - bound.log2().ceil() as i32).clamp(0, 30);
        let scale = 2f64.powi(shift);
        Fixed {
            scale,
            unit: 1.0 / scale,
        }
    }

    /// A row's gradient `g` and hessian `h` (both within the bound these units are for) in
    /// one integer, `g · 2³² + h` in units, `h` at least one unit (its bin is then
    /// occupied). A sum of packed values is the gradients' sum times 2³² plus the
    /// hessians' while the hessians' stays below 2³² ([`unpack_fixed`]).
    #[inline(always)]
    pub fn pack(self, g: f64, h: f64) -> i64 {
        let (g, h) = (self.quantise(g), self.quantise_at_least_one(h));
        debug_assert!(
            g.abs() <= PACKED_UNITS && h <= PACKED_UNITS,
            "({g}, {h}) units: beyond the packing's bound"
        );
        (g << 32).wrapping_add(h)
    }

    /// `v` (within the `bound` these units are for) to the nearest unit, half to even.
    /// Branch-free: no libm `round` (SSE2 has none) nor a saturating cast.
    #[inline(always)]
    pub fn quantise(self, v: f64) -> i64 {
        round_units(v * self.scale)
    }

    /// [`quantise`](Fixed::quantise), but at least one unit (a hessian: its bin is then
    /// occupied).
    #[inline(always)]
    pub fn quantise_at_least_one(self, v: f64) -> i64 {
        round_units((v * self.scale).max(1.0))
    }

    /// The value of `q` units.
    pub fn value(self, q: i64) -> f64 {
        q as f64 * self.unit
    }
}

/// Rows whose packed values ([`Fixed::pack`]) are summed before they are unpacked.
pub const PACKED_ROWS: usize = 1 << 15;

/// Most units one packed value may hold in either half: [`PACKED_ROWS`] of them sum within
/// ±2³⁰.
const PACKED_UNITS: i64 = 1 << (30 - PACKED_ROWS.ilog2());

/// A sum of packed values ([`Fixed::pack`]) of at most [`PACKED_ROWS`] rows: its gradient
/// and hessian sums (the hessians' is non-negative and below 2³², so it is the low half and
/// the gradients' the rest, floored).
fn unpack_fixed(v: i64) -> (i64, i64) {
    (v >> 32, v & 0xffff_ffff)
}

/// Histograms of every feature, feature-major (`p × MAX_BINS` bins): each bin's gradient and
/// hessian sums side by side in [`Fixed`] units. Every row's hessian is at least one unit,
/// so a bin is occupied exactly when its hessian sum is positive, subtraction included.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Histograms {
    pub(super) sums: Vec<[i64; 2]>,
}

impl Histograms {
    pub(super) fn zeros(p: usize) -> Histograms {
        Histograms {
            sums: vec![[0; 2]; p * MAX_BINS],
        }
    }

    // Sums stay within ±2⁶² (see [`Fixed`]): the wrapping ops never wrap, and unlike
    // checked ones they vectorise in test builds too.
    fn add(&mut self, other: &Histograms) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a[0] = a[0].wrapping_add(b[0]);
            a[1] = a[1].wrapping_add(b[1]);
        }
    }

    fn subtract(&mut self, other: &Histograms) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a[0] = a[0].wrapping_sub(b[0]);
            a[1] = a[1].wrapping_sub(b[1]);
        }
    }

    /// The gradient and hessian sums of the rows: every row is in one bin of each feature,
    /// and integer sums are exact, so any one feature's bins add up to them.
    pub(super) fn totals(&self) -> (i64, i64) {
        self.sums[..MAX_BINS].iter().fold((0, 0), |(g, h), s| {
            (g.wrapping_add(s[0]), h.wrapping_add(s[1]))
        })
    }

    /// The occupied bins of feature `j`, in bin order.
    fn occupied(&self, j: usize) -> impl Iterator<Item = (usize, i64, i64)> + '_ {
        self.sums[j * MAX_BINS..(j + 1) * MAX_BINS]
            .iter()
            .enumerate()
            .filter(|(_, s)| s[1] > 0)
            .map(|(b, s)| (b, s[0], s[1]))
    }
}

/// What a split search at one node needs to know.
struct SplitContext<'a> {
    /// The node's sums, in `units`.
    sg: i64,
    sh: i64,
    units: Fixed,
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
        occupied: impl Iterator<Item = (usize, i64, i64)>,
        floor: f64,
    ) -> Option<Best> {
        let (params, units) = (self.params, self.units);
        let mut best: Option<Best> = None;
        let mut best_gain = floor;
        let (mut ql, mut qh) = (0i64, 0i64);
        let mut prev: Option<u8> = None;
        for (b, bg, bh) in occupied {
            if let Some(pb) = prev {
                let (gl, hl) = (units.value(ql), units.value(qh));
                let (gr, hr) = (units.value(self.sg - ql), units.value(self.sh - qh));
                if hl >= params.min_child_weight && hr >= params.min_child_weight {
                    let gain = gl * gl / (hl + params.lambda) + gr * gr / (hr + params.lambda)
                        - self.parent_score;
                    if gain > best_gain {
                        best_gain = gain;
                        best = Some(Best {
                            gain,
                            feature: j,
                            bin: ((u16::from(pb) + b as u16) / 2) as u8,
                            left: (ql, qh),
                        });
                    }
                }
            }
            ql += bg;
            qh += bh;
            prev = Some(b as u8);
        }
        best
    }
}

/// Histograms of every feature over `rows`, feature-major (`p × MAX_BINS`). One pass over
/// the rows fills every feature (each row's gradients are read once), adding each row's
/// packed value ([`Fixed::pack`]) into a packed histogram that is unpacked into the sums
/// every [`PACKED_ROWS`] rows: one add per row and feature, in a packed buffer half the
/// size of the sums. Large nodes split their rows between threads.
pub(super) fn all_histograms(binned: &Binned, rows: &[u32], gh: &[i64]) -> Histograms {
    let p = binned.bins.len();
    let mut hist = Histograms::zeros(p);
    let fill_part = |rows: &[u32], sums: &mut [[i64; 2]]| {
        let mut packed = vec![0i64; p * MAX_BINS];
        for start in (0..rows.len()).step_by(PACKED_ROWS) {
            let (bins, _) = packed.as_chunks_mut::<MAX_BINS>();
            for k in start..rows.len().min(start + PACKED_ROWS) {
                // Rows below the root are scattered over `gh` and the bins: ask for the row
                // `AHEAD` places on, as XGBoost does, so its loads overlap this row's work.
                if let Some(&next) = rows.get(k + AHEAD) {
                    prefetch(gh, next as usize);
                    prefetch(&binned.rows, next as usize * p);
                }
                let r = rows[k] as usize;
                let v = gh[r];
                let row = &binned.rows[r * p..(r + 1) * p];
                // Whole 256-bin histograms per feature: a `u8` bin indexes them unchecked.
                for (s, &b) in bins.iter_mut().zip(row) {
                    let s = &mut s[usize::from(b)];
                    *s = s.wrapping_add(v);
                }
            }
            for (sum, v) in sums.iter_mut().zip(&mut packed) {
                let (g, h) = unpack_fixed(std::mem::take(v));
                sum[0] = sum[0].wrapping_add(g);
                sum[1] = sum[1].wrapping_add(h);
            }
        }
    };
    if p >= PARALLEL_MIN_FEATURES && rows.len() * p >= PARALLEL_MIN_CELLS {
        // Wide, large nodes: each half of the rows on its own thread into its own
        // histograms (each row's data fetched once, where splitting the features fetched it
        // on both threads), added after: integer sums are the same in any order.
        let (ra, rb) = rows.split_at(rows.len() / 2);
        let mut other = Histograms::zeros(p);
        rayon::join(
            || fill_part(ra, &mut hist.sums),
            || fill_part(rb, &mut other.sums),
        );
        hist.add(&other);
    } else if rows.len() >= 2 * HISTOGRAM_BLOCK {
        // Few features but many rows: blocks of rows on the pool, each its own histograms,
        // added after (integer sums: the same in any order).
        let blocks: Vec<Histograms> = rows
            .par_chunks(HISTOGRAM_BLOCK)
            .map(|block| {
                let mut part = Histograms::zeros(p);
                fill_part(block, &mut part.sums);
                part
            })
            .collect();
        for part in &blocks {
            hist.add(part);
        }
    } else {
        fill_part(rows, &mut hist.sums);
    }
    hist
}

/// Nodes of at least these many features and cells split their rows in two halves, one per
/// thread (the thresholds were measured when such nodes split their features instead:
/// on the Billboard data 4 features lost, 15 gained).
const PARALLEL_MIN_FEATURES: usize = 8;
pub(super) const PARALLEL_MIN_CELLS: usize = 64 * 1024;

/// Rows per block when a node with fewer features than [`PARALLEL_MIN_FEATURES`] is split
/// by rows; nodes of fewer than two blocks are summed in one pass.
const HISTOGRAM_BLOCK: usize = 64 * 1024;

/// Rows whose touched bins a node's histogram records in separate bitmaps (see [`grow`]).
const LANES: usize = 4;

/// A node waiting to be split: its rows are `rows[start..end]` of [`grow`]'s row list.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    /// Gradient and hessian sums of its rows, in the weights' units.
    sg: i64,
    sh: i64,
}

/// Each row's gradient and hessian, as [`grow`] takes them.
pub enum Weights<'a> {
    /// Each row's gradient and hessian packed in one integer ([`Fixed::pack`]) in `units`;
    /// every hessian at least one unit (a positive hessian sum marks an occupied bin).
    Fixed { gh: &'a [i64], units: Fixed },
    /// Whole-number weights (the forest: `h` its bootstrap count, `g = y·h`) packed per row as
    /// `h << 32 | g`, every sum below 2³²: sampled features' histograms then add one integer
    /// per row, and the tree is the one `Fixed` weights of the same values in
    /// [`Fixed::WHOLE`] units build.
    Counts(&'a [u64]),
}

/// Buffers [`grow`] works in, kept by a caller that grows many trees: at scale a fresh
/// allocation per tree costs a page fault per 4 KiB. Their contents are never read.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The partition's rows.
    rows: Vec<u32>,
}

impl Scratch {
    /// Room for partitions of up to `n` rows.
    pub fn with_rows(n: usize) -> Scratch {
        Scratch {
            rows: Vec::with_capacity(n),
        }
    }
}

/// Grows one tree over `rows` (each listed once; weights live in `h`).
/// `gain_by_feature` accumulates the gain of every split, for importances.
pub fn grow(
    binned: &Binned,
    rows: &mut [u32],
    weights: Weights<'_>,
    params: &GrowParams,
    rng: &mut ChaCha8Rng,
    gain_by_feature: &mut [f64],
    scratch: &mut Scratch,
) -> Tree {
    let (gh, packed, units): (&[i64], &[u64], Fixed) = match weights {
        Weights::Fixed { gh, units } => (gh, &[], units),
        Weights::Counts(packed) => (&[], packed, Fixed::WHOLE),
    };
    let value = |q: i64| units.value(q);
    let leaf_value =
        |sg: i64, sh: i64| -value(sg) / (value(sh) + params.lambda) * params.leaf_scale;
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
    let mut hist = [[0i64; 2]; MAX_BINS];
    let mut packed_hist = [[0u64; MAX_BINS]; 2];
    let mut order: Vec<usize> = (0..p).collect();
    let mut present: Vec<(usize, i64, i64)> = Vec::with_capacity(MAX_BINS);
    let n_try = params.features_per_split.unwrap_or(p).min(p);
    // Subtraction needs every feature's histogram at every node.
    let subtract = params.subtract_histograms && n_try == p && !integer;
    if subtract {
        return grow_by_levels(binned, rows, gh, units, params, gain_by_feature, scratch);
    }
    let root = if integer {
        let v = rows.iter().fold(0u64, |a, &r| a + packed[r as usize]);
        unpack(v)
    } else {
        rows.iter().fold((0i64, 0i64), |(a, b), &r| {
            let (g, h) = unpack_fixed(gh[r as usize]);
            (a.wrapping_add(g), b.wrapping_add(h))
        })
    };
    // Room for the largest tree these rows allow, shrunk once grown: growing by doubling
    // copied every node vector several times and left up to half of it unused.
    let cap = node_bound(rows.len(), value(root.1), params);
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
    }];
    while let Some(Pending {
        node,
        start,
        end,
        depth,
        sg,
        sh,
    }) = stack.pop()
    {
        values[node] = leaf_value(sg, sh);
        cover[node] = value(sh);
        max_depth_seen = max_depth_seen.max(depth as u32);
        let pure = params.stop_when_pure && (sg <= 0 || sg >= sh);
        if pure
            || depth >= params.max_depth
            || value(sh) < 2.0 * params.min_child_weight
            || end - start < 2
        {
            continue;
        }
        let node_rows = &rows[start..end];
        let parent_score = value(sg) * value(sg) / (value(sh) + params.lambda);
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
            left: (0, 0),
        };
        let ctx = SplitContext {
            sg,
            sh,
            units,
            parent_score,
            params,
        };
        // Features in pairs: one pass over the node's rows fills both histograms, so each
        // row's index and weight are loaded once for two features.
        for pair in order[..n_try].chunks(2) {
            let mut touched: [Touched; 2] = [[0; MAX_BINS / 64]; 2];
            if integer {
                let [h0, h1] = &mut packed_hist;
                let [t0, t1] = &mut touched;
                match *pair {
                    [j0, j1] => fill_counts(
                        [&binned.bins[j0], &binned.bins[j1]],
                        node_rows,
                        packed,
                        [h0, h1],
                        [t0, t1],
                    ),
                    [j0] => fill_counts([&binned.bins[j0]], node_rows, packed, [h0], [t0]),
                    _ => unreachable!("chunks of two"),
                }
            }
            for (k, &j) in pair.iter().enumerate() {
                present.clear();
                if !integer {
                    touched[k] = fill_fixed(&binned.bins[j], node_rows, gh, &mut hist);
                }
                for (word_index, mut word) in touched[k].into_iter().enumerate() {
                    while word != 0 {
                        let b = word_index * 64 + word.trailing_zeros() as usize;
                        word &= word - 1;
                        if integer {
                            let (g, h) = unpack(std::mem::take(&mut packed_hist[k][b]));
                            present.push((b, g, h));
                        } else {
                            let [g, h] = std::mem::take(&mut hist[b]);
                            present.push((b, g, h));
                        }
                    }
                }
                if let Some(b) = ctx.scan(j, present.iter().copied(), best.gain) {
                    best = b;
                }
            }
        }
        if best.feature == usize::MAX {
            continue;
        }
        gain_by_feature[best.feature] += best.gain;
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
        if depth + 1 >= params.max_depth {
            // Both children are leaves by depth: their values need only their sums, so
            // neither the partition nor the children's histograms are worth making (a
            // quarter of a depth-4 boosting tree's row work).
            for (child, sg, sh) in [(left, gl, hl), (left + 1, sg - gl, sh - hl)] {
                values[child] = leaf_value(sg, sh);
                cover[child] = value(sh);
            }
            max_depth_seen = max_depth_seen.max(depth as u32 + 1);
            continue;
        }
        let mid = partition(
            &mut rows[start..end],
            &mut scratch.rows,
            &binned.bins[best.feature],
            best.bin,
        );
        stack.push(Pending {
            node: left + 1,
            start: start + mid,
            end,
            depth: depth + 1,
            sg: sg - gl,
            sh: sh - hl,
        });
        stack.push(Pending {
            node: left,
            start,
            end: start + mid,
            depth: depth + 1,
            sg: gl,
            sh: hl,
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

/// Deep trees have many small nodes: a bitmap of touched bins lists the occupied ones in
/// order without scanning or clearing all 256.
type Touched = [u64; MAX_BINS / 64];

/// Adds each row's packed count into its bin of `F` features' histograms at once, marking
/// the touched bins. Each bitmap is kept in [`LANES`] copies, one per row of a group:
/// consecutive rows mostly mark the same word, and a single bitmap chained every row
/// through that store.
fn fill_counts<const F: usize>(
    cols: [&[u8]; F],
    rows: &[u32],
    packed: &[u64],
    hists: [&mut [u64; MAX_BINS]; F],
    touched: [&mut Touched; F],
) {
    let mut lanes: [[Touched; LANES]; F] = [[[0; MAX_BINS / 64]; LANES]; F];
    let (groups, tail) = rows.as_chunks::<LANES>();
    let mut add = |lane: usize, r: u32, hists: &mut [&mut [u64; MAX_BINS]; F]| {
        let v = packed[r as usize];
        for f in 0..F {
            let b = cols[f][r as usize];
            lanes[f][lane][usize::from(b >> 6)] |= 1 << (b & 63);
            hists[f][usize::from(b)] += v;
        }
    };
    let mut hists = hists;
    for group in groups {
        for (lane, &r) in group.iter().enumerate() {
            add(lane, r, &mut hists);
        }
    }
    for &r in tail {
        add(0, r, &mut hists);
    }
    for (t, lanes) in touched.into_iter().zip(&lanes) {
        *t = merge_lanes(lanes);
    }
}

/// A [`Weights::Counts`] sum: (gradient, hessian) from the low and high 32 bits.
fn unpack(v: u64) -> (i64, i64) {
    ((v & 0xffff_ffff) as i64, (v >> 32) as i64)
}

/// Adds each row's gradient and hessian into its bin of one feature's histogram; returns
/// the touched bins.
fn fill_fixed(col: &[u8], rows: &[u32], gh: &[i64], hist: &mut [[i64; 2]; MAX_BINS]) -> Touched {
    let mut lanes: [Touched; LANES] = [[0; MAX_BINS / 64]; LANES];
    let mut add = |touched: &mut Touched, r: u32| {
        let b = col[r as usize] as usize;
        touched[b >> 6] |= 1 << (b & 63);
        let bin = &mut hist[b];
        let (g, h) = unpack_fixed(gh[r as usize]);
        bin[0] = bin[0].wrapping_add(g);
        bin[1] = bin[1].wrapping_add(h);
    };
    let (groups, tail) = rows.as_chunks::<LANES>();
    for group in groups {
        for (touched, &r) in lanes.iter_mut().zip(group) {
            add(touched, r);
        }
    }
    for &r in tail {
        add(&mut lanes[0], r);
    }
    merge_lanes(&lanes)
}

/// The bins any lane's bitmap marks.
fn merge_lanes(lanes: &[Touched; LANES]) -> Touched {
    let mut touched = lanes[0];
    for lane in &lanes[1..] {
        for (t, l) in touched.iter_mut().zip(lane) {
            *t |= l;
        }
    }
    touched
}

/// A node of a tree grown level by level, before it is numbered as [`grow`] numbers nodes.
struct Grown {
    value: f64,
    cover: f64,
    /// Feature, bin and gain of its split, and its first child (the second follows).
    split: Option<(usize, u8, f64, usize)>,
}

/// A node of the level being split, with its histograms of every feature.
struct Open {
    id: usize,
    start: usize,
    end: usize,
    depth: usize,
    sg: i64,
    sh: i64,
    hist: Histograms,
}

/// [`grow`] for boosting (every feature tried, histograms subtracted, no random draws): the
/// nodes of each level are split side by side on the pool, each on its own rows, so both
/// threads work below the root. Each node's sums, split and partition are the ones the
/// depth-first walk makes, and the nodes are numbered (and their gains added) in its order
/// afterwards, so the tree is the same to the bit.
fn grow_by_levels(
    binned: &Binned,
    rows: &mut [u32],
    gh: &[i64],
    units: Fixed,
    params: &GrowParams,
    gain_by_feature: &mut [f64],
    scratch: &mut Scratch,
) -> Tree {
    let value = |q: i64| units.value(q);
    let leaf_value =
        |sg: i64, sh: i64| -value(sg) / (value(sh) + params.lambda) * params.leaf_scale;
    let scratch_rows = &mut scratch.rows;
    scratch_rows.resize(rows.len(), 0);
    let root_hist = all_histograms(binned, rows, gh);
    let (sg, sh) = root_hist.totals();
    let mut grown = Vec::with_capacity(node_bound(rows.len(), value(sh), params));
    grown.push(Grown {
        value: leaf_value(sg, sh),
        cover: value(sh),
        split: None,
    });
    let mut max_depth_seen = 0;
    let mut level = vec![Open {
        id: 0,
        start: 0,
        end: rows.len(),
        depth: 0,
        sg,
        sh,
        hist: root_hist,
    }];
    while !level.is_empty() {
        // A level's nodes hold disjoint ranges of the rows, in order: carve them out.
        let mut jobs = Vec::with_capacity(level.len());
        let mut rest = (&mut rows[..], &mut scratch_rows[..]);
        let mut at = 0;
        for open in level.drain(..) {
            debug_assert!(open.start >= at);
            let (skip, len) = (open.start - at, open.end - open.start);
            let (r, sr) = std::mem::take(&mut rest);
            let (mine, r) = r[skip..].split_at_mut(len);
            let (mine_sr, sr) = sr[skip..].split_at_mut(len);
            (rest, at) = ((r, sr), open.end);
            jobs.push((open, mine, mine_sr));
        }
        let results: Vec<_> = jobs
            .into_par_iter()
            .map(|(mut open, rows, rows_spare)| {
                let split = split_open(binned, &mut open, rows, rows_spare, gh, units, params);
                (open, split)
            })
            .collect();
        for (open, split) in results {
            max_depth_seen = max_depth_seen.max(open.depth as u32);
            let Some((best, children)) = split else {
                continue;
            };
            let first = grown.len();
            grown[open.id].split = Some((best.feature, best.bin, best.gain, first));
            let (gl, hl) = best.left;
            for (sg, sh) in [(gl, hl), (open.sg - gl, open.sh - hl)] {
                grown.push(Grown {
                    value: leaf_value(sg, sh),
                    cover: value(sh),
                    split: None,
                });
            }
            match children {
                Some(children) => {
                    for (k, mut child) in children.into_iter().enumerate() {
                        child.id = first + k;
                        level.push(child);
                    }
                }
                None => max_depth_seen = max_depth_seen.max(open.depth as u32 + 1),
            }
        }
    }
    // Number the nodes as the depth-first walk does: a split node's two children take the
    // next two places when it is reached, the left child's subtree before the right's.
    let leaf_node = |i: usize| Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: i as u32,
    };
    let mut nodes = Vec::with_capacity(grown.len());
    let mut values = vec![0.0; grown.len()];
    let mut cover = vec![0.0; grown.len()];
    nodes.push(leaf_node(0));
    let mut stack = vec![(0usize, 0usize)];
    while let Some((id, i)) = stack.pop() {
        let node = &grown[id];
        cover[i] = node.cover;
        match node.split {
            None => values[i] = node.value,
            Some((feature, bin, gain, first)) => {
                gain_by_feature[feature] += gain;
                let left = nodes.len();
                nodes[i] = Node {
                    threshold: binned.cuts[feature][bin as usize],
                    feature: feature as u32,
                    left: left as u32,
                };
                nodes.push(leaf_node(left));
                nodes.push(leaf_node(left + 1));
                stack.push((first + 1, left + 1));
                stack.push((first, left));
            }
        }
    }
    Tree {
        nodes,
        values,
        depth: max_depth_seen,
        cover,
    }
}

/// The best split of one node of [`grow_by_levels`], if it is split, and its children with
/// their histograms unless they are leaves by depth. Partitions the node's rows, and hands
/// its histograms on to the larger child.
fn split_open(
    binned: &Binned,
    open: &mut Open,
    rows: &mut [u32],
    rows_spare: &mut [u32],
    gh: &[i64],
    units: Fixed,
    params: &GrowParams,
) -> Option<(Best, Option<[Open; 2]>)> {
    let Open {
        start,
        end,
        depth,
        sg,
        sh,
        ..
    } = *open;
    let (g, h) = (units.value(sg), units.value(sh));
    let pure = params.stop_when_pure && (sg <= 0 || sg >= sh);
    if pure || depth >= params.max_depth || h < 2.0 * params.min_child_weight || end - start < 2 {
        return None;
    }
    let ctx = SplitContext {
        sg,
        sh,
        units,
        parent_score: g * g / (h + params.lambda),
        params,
    };
    let mut best = Best {
        gain: params.min_gain,
        feature: usize::MAX,
        bin: 0,
        left: (0, 0),
    };
    for j in 0..binned.bins.len() {
        if let Some(b) = ctx.scan(j, open.hist.occupied(j), best.gain) {
            best = b;
        }
    }
    if best.feature == usize::MAX {
        return None;
    }
    if depth + 1 >= params.max_depth {
        return Some((best, None));
    }
    let mid = partition_halves(rows, rows_spare, &binned.bins[best.feature], best.bin);
    let left_is_small = mid <= rows.len() - mid;
    let small = if left_is_small {
        &rows[..mid]
    } else {
        &rows[mid..]
    };
    let small_hist = all_histograms(binned, small, gh);
    let mut large_hist = std::mem::take(&mut open.hist);
    large_hist.subtract(&small_hist);
    let (left_hist, right_hist) = if left_is_small {
        (small_hist, large_hist)
    } else {
        (large_hist, small_hist)
    };
    let (gl, hl) = best.left;
    let child = |start, end, sg, sh, hist| Open {
        id: 0,
        start,
        end,
        depth: depth + 1,
        sg,
        sh,
        hist,
    };
    Some((
        best,
        Some([
            child(start, start + mid, gl, hl, left_hist),
            child(start + mid, end, sg - gl, sh - hl, right_hist),
        ]),
    ))
}

/// Partitions `slice` (rows whose bin in `col` is ≤ `bin` first), keeping each side in row
/// order, branch-free: each row is written to both sides and only one cursor advances,
/// which beats a mispredicted swap. Returns the left side's length.
fn partition(slice: &mut [u32], scratch: &mut Vec<u32>, col: &[u8], bin: u8) -> usize {
    scratch.resize(slice.len(), 0);
    partition_into(slice, &mut scratch[..slice.len()], col, bin)
}

/// [`partition_into`], a large slice's two halves on two threads (the root's partition
/// left the other thread idle): each half puts its left rows first, and rotating the middle
/// (the first half's right rows, the second's left) into place gives the one-pass order.
/// One split only: each further level would add a rotation on one thread.
pub(super) fn partition_halves(
    slice: &mut [u32],
    scratch: &mut [u32],
    col: &[u8],
    bin: u8,
) -> usize {
    if slice.len() < PARALLEL_PARTITION_ROWS {
        return partition_into(slice, scratch, col, bin);
    }
    let half = slice.len() / 2;
    let (a, b) = slice.split_at_mut(half);
    let (sa, sb) = scratch.split_at_mut(half);
    let (left_a, left_b) = rayon::join(
        || partition_into(a, sa, col, bin),
        || partition_into(b, sb, col, bin),
    );
    slice[left_a..half + left_b].rotate_left(half - left_a);
    left_a + left_b
}

/// Slices of at least these many rows are partitioned by halves on two threads.
pub(super) const PARALLEL_PARTITION_ROWS: usize = 128 * 1024;

fn partition_into(slice: &mut [u32], scratch: &mut [u32], col: &[u8], bin: u8) -> usize {
    let n = slice.len();
    let mut mid = 0;
    for k in 0..n {
        let r = slice[k];
        let go_left = usize::from(col[r as usize] <= bin);
        slice[mid] = r;
        // `k - mid` right-side rows so far: a left row is overwritten by the next row.
        scratch[k - mid] = r;
        mid += go_left;
    }
    slice[mid..].copy_from_slice(&scratch[..n - mid]);
    mid
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
