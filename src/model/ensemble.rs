//! Tree ensembles and their fast batch scorer.
//!
//! An [`Ensemble`] holds the fitted trees (what artifacts store) and a compiled copy built
//! once when the trees are fitted or loaded. The compiled copy replaces every threshold by
//! its rank among the thresholds the trees use for that feature, so a row is first turned
//! into small integer bins and each step down a tree compares two integers: `x > threshold`
//! holds exactly when `#(thresholds < x) > rank(threshold)`, NaN included (it goes left, as
//! with raw values), so scores are bit-identical to walking raw values.
//!
//! Trees are visited one at a time for a block of rows, so a tree's nodes stay in cache
//! while thousands of rows pass through it; rows walk in lockstep groups (leaves point to
//! themselves) and a group stops as soon as no row moved: 32 rows with AVX2 gathers over
//! 4-byte nodes where the CPU has AVX2 (checked at run time), else 8 rows over 8-byte nodes.
//! The vector walks prefetch the next tree while walking one. With
//! at most four features and AVX-512 (VBMI), each tree's top 7 levels are byte tables that
//! place 64 rows at once with permutes, and gathers walk only the levels below.
//! Each row still adds the trees' outputs in tree order, so sums do not depend on blocks,
//! threads or the walk taken.

use std::ops::Deref;

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tree::{bin_of, sum_trees, Tree};

/// Rows that walk one tree in lockstep.
const GROUP: usize = 8;

/// Most rows scored as one block (more blocks share the work between threads).
const MAX_BLOCK: usize = 8192;

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
            Some(c) if n >= MIN_COMPILED_ROWS && x.len() >= c.cuts.len() => {
                c.sum(x, init, Walk::best())
            }
            _ => sum_trees(&self.trees, x, init),
        }
    }
}

/// How compiled trees are walked. Every walk gives the same bits; [`Walk::best`] picks the
/// fastest this CPU runs, and tests compare each available one with raw walks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Walk {
    /// Plain Rust, eight rows in lockstep.
    Scalar,
    /// AVX2 gathers, 32 rows in lockstep.
    Gather,
    /// At most four features: each tree's top levels by AVX-512 byte-table lookups for 64
    /// rows at once, then AVX2 gathers (needs AVX-512 F, BW, VL and VBMI).
    Tables,
}

impl Walk {
    fn best() -> Walk {
        *Walk::available().last().unwrap_or(&Walk::Scalar)
    }

    /// The walks this CPU runs, slowest first.
    fn available() -> Vec<Walk> {
        let mut walks = vec![Walk::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if simd::available() {
                walks.push(Walk::Gather);
            }
            if simd::tables_available() {
                walks.push(Walk::Tables);
            }
        }
        walks
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
        // Each tree is checked before anything is compiled from it; errors name the tree.
        let arrays = Vec::<crate::model::tree::TreeArrays>::deserialize(d)?;
        let trees = arrays
            .into_iter()
            .enumerate()
            .map(|(t, a)| {
                Tree::try_from(a).map_err(|e| serde::de::Error::custom(format!("tree {t}, {e}")))
            })
            .collect::<Result<Vec<Tree>, D::Error>>()?;
        Ok(Ensemble::new(trees))
    }
}

/// One node of a compiled tree: go to `left + 1` if the row's bin of `feature` exceeds
/// `rank`, else to `left`. A leaf points to itself with a rank no bin exceeds.
#[derive(Debug, Clone, Copy)]
struct Step {
    left: u32,
    feature: u16,
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
    /// For the vector walk (every feature with at most 255 thresholds): each step in 4 bytes
    /// when every child lies fewer than 2¹⁶ steps after its parent: bits 0–7 rank (255 for a
    /// leaf), 8–15 feature, 16–31 offset to the left child (0 for a leaf), so a step adds the
    /// offset plus one if the row goes right, and a leaf adds nothing.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    tight: Option<Vec<u32>>,
    /// Each tree's top levels as byte tables, for the AVX-512 walk (with `tight`, at most
    /// four features).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    tops: Option<Vec<Top>>,
}

/// Levels of a tree resolved by table lookups before the gathered walk.
const TOP_LEVELS: usize = 7;
/// Nodes of a complete tree of [`TOP_LEVELS`] levels, in heap order (children of `h` at
/// `2h + 1`, `2h + 2`), plus one spare so tables span 128 bytes.
const TOP_NODES: usize = 1 << TOP_LEVELS;

/// A tree's first [`TOP_LEVELS`] levels: for heap node `h`, `ranks[f][h]` is its rank if it
/// splits on feature `f`, else 255, which no bin exceeds (a leaf, or a node below one, sends
/// every row left); `starts[k]` is the step a row reaches at heap node `TOP_NODES - 1 + k`.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Top {
    ranks: [[u8; TOP_NODES]; 4],
    starts: [u32; TOP_NODES],
}

impl Top {
    /// Tables of the tree rooted at step `root` (every rank at most 254).
    fn new(steps: &[Step], root: u32) -> Top {
        let mut top = Top {
            ranks: [[u8::MAX; TOP_NODES]; 4],
            starts: [root; TOP_NODES],
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
    fn new(trees: &[Tree]) -> Option<Compiled> {
        // Compiling runs after a fit on one thread otherwise idle-waiting: trees are read
        // side by side, each tree's thresholds deduplicated before the (short) merge.
        let p = trees.iter().map(|t| t.max_feature() + 1).max().unwrap_or(1);
        let sorted_distinct = |c: &mut Vec<f64>| {
            c.sort_unstable_by(f64::total_cmp);
            c.dedup_by(|a, b| a.total_cmp(b).is_eq());
        };
        // Each tree's (feature, threshold) pairs rather than a vector per feature: memory
        // follows the nodes, whatever feature index an artifact not yet validated claims
        // (20,000 one-split trees on feature 4095 took 2 GB).
        let per_tree: Vec<Vec<(u32, f64)>> = trees
            .par_iter()
            .map(|t| {
                let mut cuts: Vec<(u32, f64)> = (t.nodes.iter().enumerate())
                    .filter(|&(i, n)| n.left as usize != i)
                    .map(|(_, n)| (n.feature, n.threshold))
                    .collect();
                cuts.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                cuts.dedup_by(|a, b| a.0 == b.0 && a.1.total_cmp(&b.1).is_eq());
                cuts
            })
            .collect();
        let mut cuts = vec![Vec::new(); p];
        for tree_cuts in &per_tree {
            for &(f, t) in tree_cuts {
                cuts[f as usize].push(t);
            }
        }
        cuts.iter_mut().for_each(sorted_distinct);
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
        let tree_steps: Vec<Vec<Step>> = trees
            .par_iter()
            .zip(&roots)
            .map(|(t, &offset)| {
                let step = |(i, n): (usize, &crate::model::tree::Node)| {
                    if n.left as usize == i {
                        return Step {
                            left: offset + i as u32,
                            feature: 0,
                            rank: u16::MAX,
                        };
                    }
                    let f = n.feature as usize;
                    // Ranked in the total order the cuts were sorted in.
                    let rank = cuts[f].partition_point(|c| c.total_cmp(&n.threshold).is_lt());
                    Step {
                        left: offset + n.left,
                        feature: f as u16,
                        rank: rank as u16,
                    }
                };
                t.nodes.iter().enumerate().map(step).collect()
            })
            .collect();
        let steps: Vec<Step> = tree_steps.concat();
        let values: Vec<f64> = trees
            .iter()
            .flat_map(|t| t.values.iter().copied())
            .collect();
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
                steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let offset = s.left.checked_sub(i as u32).filter(|&o| o < 1 << 16)?;
                        let rank = u32::from(s.rank.min(255));
                        Some(offset << 16 | u32::from(s.feature) << 8 | rank)
                    })
                    .collect::<Option<Vec<u32>>>()
            })
            .flatten();
        let tops = (tight.is_some() && p <= 4 && Walk::available().contains(&Walk::Tables))
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

    /// Bin of `v` for feature `j`: how many thresholds lie below it (0 for NaN).
    #[inline]
    fn bin(&self, j: usize, v: f64) -> usize {
        bin_of(&self.cuts[j], v)
    }

    /// Scores with `walk` where the trees allow it (the vector walks need steps that fit 4
    /// bytes, the table walk at most four features), else with the next slower one.
    fn sum(&self, x: &[&[f64]], init: f64, walk: Walk) -> Vec<f64> {
        let n = x[0].len();
        let mut out = vec![init; n];
        // A block per thread, up to MAX_BLOCK rows: the larger a block, the more rows each
        // tree serves once in cache (10k rows, 2 threads: blocks of 5,000 9.2 → 8.8 ms
        // against 2,500).
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
        if let Some(tight) = self.tight.as_ref().filter(|_| walk != Walk::Scalar) {
            let n = m.next_multiple_of(simd::ROWS);
            if p <= 4 {
                // A row's bins fit a u32 lane: eight rows per vector.
                let mut rows = vec![0u32; n];
                self.for_each_bin(x, start, m, |k, j, b| rows[k] |= (b as u32) << (8 * j));
                match self.tops.as_ref().filter(|_| walk == Walk::Tables) {
                    Some(tops) => {
                        // The tables compare 64 rows' bins of one feature at once.
                        let n = m.next_multiple_of(simd::TABLE_ROWS);
                        rows.resize(n, 0);
                        let mut planes = vec![0u8; 4 * n];
                        for (j, plane) in planes.chunks_exact_mut(n).enumerate() {
                            for (p, &r) in plane.iter_mut().zip(&rows) {
                                *p = (r >> (8 * j)) as u8;
                            }
                        }
                        let t = simd::Tables {
                            tops,
                            rows: &rows,
                            planes: &planes,
                        };
                        simd::walk_tables(self, tight, t, out);
                    }
                    None => simd::walk(self, tight, simd::Rows::Packed(&rows), out),
                }
            } else {
                // Each lane gathers its row's bin byte; 3 spare bytes let the last row's
                // 4-byte gather stay inside the buffer.
                let mut bins = vec![0u8; n * p + 3];
                self.for_each_bin(x, start, m, |k, j, b| bins[k * p + j] = b as u8);
                simd::walk(self, tight, simd::Rows::Wide { bins: &bins, p }, out);
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

/// The vector walks over `tight` steps: AVX2 gathers, and AVX-512 top-level tables.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// Rows walked together: four vectors of eight.
    pub const ROWS: usize = 32;

    /// Binned rows for the vector walk.
    #[derive(Clone, Copy)]
    pub enum Rows<'a> {
        /// At most four features: byte `j` of a row's u32 is its bin of feature `j`.
        Packed(&'a [u32]),
        /// Row-major bins, `p` per row, plus 3 spare bytes at the end.
        Wide { bins: &'a [u8], p: usize },
    }

    impl Rows<'_> {
        fn len(&self) -> usize {
            match *self {
                Rows::Packed(r) => r.len(),
                Rows::Wide { bins, p } => bins.len().saturating_sub(3) / p.max(1),
            }
        }
    }

    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    /// Adds every tree's output to `out`, walking 32 rows at a time with vector gathers.
    /// Each lane takes the scalar walk's steps in integers and each row adds its trees'
    /// outputs in order, so results are identical to the scalar walks.
    ///
    /// Requires AVX2 ([`available`]), whole groups of [`ROWS`] rows covering `out`, and
    /// `tight` from `c` as built by `Compiled::new` (which checks that every child index lies
    /// inside the step list, so gathers stay in bounds).
    pub fn walk(c: &super::Compiled, tight: &[u32], rows: Rows<'_>, out: &mut [f64]) {
        let n = rows.len();
        let wide_ok = match rows {
            Rows::Packed(_) => true,
            Rows::Wide { bins, p } => {
                p > 0 && bins.len() == n * p + 3 && i32::try_from(bins.len()).is_ok()
            }
        };
        assert!(available() && wide_ok && n.is_multiple_of(ROWS) && n >= out.len());
        // Every group starts inside `out` (rows are padded by less than a group).
        assert!(n < out.len() + ROWS);
        assert_eq!(tight.len(), c.steps.len());
        // SAFETY: AVX2 is present (asserted); see `walk_avx2` for the memory accesses.
        unsafe { walk_avx2(c, tight, rows, out) }
    }

    pub fn tables_available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
    }

    /// As [`walk`] for packed rows, but each tree's first [`super::TOP_LEVELS`] levels are
    /// resolved for 64 rows at once by byte-table lookups (`tops`), and gathers take over
    /// below them (10k rows, 300 trees: 16.2 → 13.0 ms).
    ///
    /// Requires [`tables_available`], whole groups of [`TABLE_ROWS`] rows covering `out`,
    /// and `tight` and `tops` from `c`.
    pub fn walk_tables(c: &super::Compiled, tight: &[u32], t: Tables<'_>, out: &mut [f64]) {
        let Tables { tops, rows, planes } = t;
        let n = rows.len();
        assert!(tables_available() && n.is_multiple_of(TABLE_ROWS) && n >= out.len());
        // Every group starts inside `out` (rows are padded by less than a group).
        assert!(n < out.len() + TABLE_ROWS);
        // Every start is a step (the gathers below begin there).
        assert!(tops
            .iter()
            .all(|t| t.starts.iter().all(|&s| (s as usize) < tight.len())));
        assert_eq!(planes.len(), 4 * n);
        assert!(tight.len() == c.steps.len() && tops.len() == c.roots.len());
        // SAFETY: the features are present (asserted); memory as in `walk_avx2`, and every
        // start in `tops` is a step of its tree.
        unsafe { walk_tables_avx512(c, tight, t, out) }
    }

    /// What the table walk reads besides the steps: each tree's tables, the rows' packed bins
    /// and the same bins feature by feature (`planes[f * n + i]` for row `i` of `n`).
    #[derive(Clone, Copy)]
    pub struct Tables<'a> {
        pub tops: &'a [super::Top],
        pub rows: &'a [u32],
        pub planes: &'a [u8],
    }

    /// Rows the table walk takes together: one AVX-512 vector of bytes, then eight vectors of
    /// eight for the gathers (more gathers in flight than the AVX2 walk's four).
    pub const TABLE_ROWS: usize = 64;

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
    unsafe fn walk_tables_avx512(c: &super::Compiled, tight: &[u32], t: Tables, out: &mut [f64]) {
        const V: usize = TABLE_ROWS / 8;
        let Tables { tops, rows, planes } = t;
        let one = _mm512_set1_epi8(1);
        let first_start = _mm512_set1_epi8((super::TOP_NODES - 1) as i8);
        let n = rows.len();
        let groups = n / TABLE_ROWS;
        for (t, (top, &depth)) in tops.iter().zip(&c.depths).enumerate() {
            let fetch = NextTree::new(c, t, groups);
            // SAFETY: each table is 128 bytes: two loads of 64.
            let tables: [[__m512i; 2]; 4] = std::array::from_fn(|f| {
                let p = top.ranks[f].as_ptr();
                std::array::from_fn(|k| unsafe { _mm512_loadu_si512(p.add(64 * k).cast()) })
            });
            let starts = top.starts.as_ptr().cast::<i32>();
            for g in 0..groups {
                fetch.group(c, tight, g);
                // SAFETY: planes hold 4 × n bytes and rows g*64 .. g*64+64 exist.
                let bins: [__m512i; 4] = std::array::from_fn(|f| unsafe {
                    _mm512_loadu_si512(planes.as_ptr().add(f * n + g * TABLE_ROWS).cast())
                });
                let mut heap = _mm512_setzero_si512();
                for _ in 0..super::TOP_LEVELS {
                    let mut right: __mmask64 = 0;
                    for f in 0..4 {
                        let rank = _mm512_permutex2var_epi8(tables[f][0], heap, tables[f][1]);
                        right |= _mm512_cmpgt_epu8_mask(bins[f], rank);
                    }
                    heap = _mm512_add_epi8(_mm512_add_epi8(heap, heap), one);
                    heap = _mm512_mask_add_epi8(heap, right, heap, one);
                }
                let k = _mm512_sub_epi8(heap, first_start);
                let mut ks = [0u8; TABLE_ROWS];
                // SAFETY: 64 bytes into a 64-byte array.
                unsafe { _mm512_storeu_si512(ks.as_mut_ptr().cast(), k) };
                // SAFETY: every k < TOP_NODES = starts.len(); 8-byte loads inside `ks`.
                let at: [__m256i; V] = std::array::from_fn(|q| unsafe {
                    let kq = _mm_loadl_epi64(ks.as_ptr().add(8 * q).cast());
                    _mm256_i32gather_epi32::<4>(starts, _mm256_cvtepu8_epi32(kq))
                });
                // SAFETY: rows g*64 .. g*64+64 exist (whole groups); loads of 8 u32.
                let r: [__m256i; V] = std::array::from_fn(|q| unsafe {
                    _mm256_loadu_si256(rows.as_ptr().add(g * TABLE_ROWS + 8 * q).cast())
                });
                let below = depth.saturating_sub(super::TOP_LEVELS as u32);
                let out = &mut out[g * TABLE_ROWS..];
                // SAFETY: every start is a step of this tree.
                unsafe { descend(c, tight, at, below, |q, w| packed_bin(w, r[q]), out) };
            }
        }
    }

    /// Prefetches the next tree's steps and values while this one is walked, a few cache
    /// lines per group of rows: a whole forest outgrows the L2 cache, and walking a tree that
    /// is not in cache waits on one miss after another (10k rows, 300 trees, one thread:
    /// 61 → 35 ms in the blocks of 2,500 rows used then).
    struct NextTree {
        /// Steps (and values) of the next tree.
        steps: std::ops::Range<usize>,
        step_lines: usize,
        lines: usize,
        per_group: usize,
    }

    impl NextTree {
        /// Elements of `u32` and `f64` per 64-byte cache line.
        const STEPS_PER_LINE: usize = 16;
        const VALUES_PER_LINE: usize = 8;

        fn new(c: &super::Compiled, t: usize, groups: usize) -> NextTree {
            let end = |k: usize| c.roots.get(k).map_or(c.steps.len(), |&r| r as usize);
            let steps = end(t + 1)..end(t + 2);
            let step_lines = steps.len().div_ceil(Self::STEPS_PER_LINE);
            let lines = step_lines + steps.len().div_ceil(Self::VALUES_PER_LINE);
            NextTree {
                steps,
                step_lines,
                lines,
                per_group: lines.div_ceil(groups.max(1)),
            }
        }

        /// Prefetches the share of lines that goes with group `g`.
        #[inline(always)]
        fn group(&self, c: &super::Compiled, tight: &[u32], g: usize) {
            let first = g * self.per_group;
            for k in first..(first + self.per_group).min(self.lines) {
                let at: *const f64 = if k < self.step_lines {
                    tight[self.steps.start + k * Self::STEPS_PER_LINE..]
                        .as_ptr()
                        .cast()
                } else {
                    c.values[self.steps.start + (k - self.step_lines) * Self::VALUES_PER_LINE..]
                        .as_ptr()
                };
                // SAFETY: a prefetch only hints the cache, and `at` points inside a slice.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
            }
        }
    }

    /// The bin each lane compares at step `w`, from rows packed four bins to a `u32`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn packed_bin(w: __m256i, r: __m256i) -> __m256i {
        let shift = _mm256_and_si256(_mm256_srli_epi32::<5>(w), _mm256_set1_epi32(0x38));
        _mm256_and_si256(_mm256_srlv_epi32(r, shift), _mm256_set1_epi32(0xff))
    }

    /// Walks every lane of `at` down its tree until no lane moves (at most `steps` steps),
    /// then adds each lane's leaf value to `out` (lane `k` of vector `q` to `out[8q + k]`,
    /// as far as `out` goes). `bin(q, w)` gives the bins vector `q` compares at steps `w`.
    ///
    /// # Safety
    /// Every lane of `at` holds a step index of one tree in `tight` as built by
    /// `Compiled::new`, which checked that every child lies inside `tight`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn descend<const V: usize>(
        c: &super::Compiled,
        tight: &[u32],
        mut at: [__m256i; V],
        steps: u32,
        bin: impl Fn(usize, __m256i) -> __m256i,
        out: &mut [f64],
    ) {
        let byte = _mm256_set1_epi32(0xff);
        let base = tight.as_ptr().cast::<i32>();
        for _ in 0..steps {
            let mut any = _mm256_setzero_si256();
            for (q, at) in at.iter_mut().enumerate() {
                // SAFETY: a step of the tree (the caller's promise), then only its children.
                let w = unsafe { _mm256_i32gather_epi32::<4>(base, *at) };
                let right = _mm256_cmpgt_epi32(bin(q, w), _mm256_and_si256(w, byte));
                let step = _mm256_sub_epi32(_mm256_srli_epi32::<16>(w), right);
                any = _mm256_or_si256(any, step);
                *at = _mm256_add_epi32(*at, step);
            }
            if _mm256_testz_si256(any, any) == 1 {
                break;
            }
        }
        let mut leaves = [[0u32; 8]; V];
        for (l, v) in leaves.iter_mut().zip(&at) {
            // SAFETY: a store of 8 u32s into an array of 8.
            unsafe { _mm256_storeu_si256(l.as_mut_ptr().cast(), *v) };
        }
        for (o, &i) in out.iter_mut().zip(leaves.as_flattened()) {
            *o += c.values[i as usize];
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn walk_avx2(c: &super::Compiled, tight: &[u32], rows: Rows<'_>, out: &mut [f64]) {
        let byte = _mm256_set1_epi32(0xff);
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let groups = rows.len() / ROWS;
        for (t, (&root, &depth)) in c.roots.iter().zip(&c.depths).enumerate() {
            let fetch = NextTree::new(c, t, groups);
            for g in 0..groups {
                fetch.group(c, tight, g);
                // Per vector: the packed bins, or the byte offset of each lane's row.
                let r: [__m256i; 4] = std::array::from_fn(|q| match rows {
                    // SAFETY: rows g*32 .. g*32+32 exist (whole groups); loads of 8 u32.
                    Rows::Packed(p) => unsafe {
                        _mm256_loadu_si256(p.as_ptr().add(g * ROWS + 8 * q).cast())
                    },
                    Rows::Wide { p, .. } => {
                        let first = ((g * ROWS + 8 * q) * p) as i32;
                        _mm256_add_epi32(
                            _mm256_set1_epi32(first),
                            _mm256_mullo_epi32(lanes, _mm256_set1_epi32(p as i32)),
                        )
                    }
                });
                let at = [_mm256_set1_epi32(root as i32); 4];
                let bin = |q: usize, w: __m256i| match rows {
                    Rows::Packed(_) => packed_bin(w, r[q]),
                    Rows::Wide { bins, .. } => {
                        let feature = _mm256_and_si256(_mm256_srli_epi32::<8>(w), byte);
                        let at_byte = _mm256_add_epi32(r[q], feature);
                        // SAFETY: row offset + feature < rows × p, and the buffer has 3 bytes
                        // beyond, so each 4-byte read is inside it.
                        let word =
                            unsafe { _mm256_i32gather_epi32::<1>(bins.as_ptr().cast(), at_byte) };
                        _mm256_and_si256(word, byte)
                    }
                };
                // SAFETY: every lane starts at this tree's root.
                unsafe { descend(c, tight, at, depth, bin, &mut out[g * ROWS..]) };
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
            cover: vec![2.0, 1.0, 1.0],
        }
    }

    /// Asserts that every compiled walk this CPU runs (scalar; AVX2 gathers; AVX-512 tables)
    /// and the default walk give the raw walk's bits.
    fn assert_every_walk(e: &Ensemble, x: &[&[f64]], init: f64) {
        let want = sum_trees(e, x, init);
        let c = e.compiled.as_ref().expect("compiles");
        for walk in Walk::available() {
            assert_eq!(c.sum(x, init, walk), want, "{walk:?} walk");
        }
        assert_eq!(e.sum(x, init), want, "default walk");
    }

    /// Scores `n` rows of `p` columns (`value(row, column)`) every way, asserts equal bits,
    /// and returns the compiled form for checks of the path taken.
    fn agrees_with_raw_walks(
        trees: &[Tree],
        p: usize,
        n: usize,
        value: impl Fn(usize, usize) -> f64,
    ) -> Compiled {
        let e = Ensemble::new(trees.to_vec());
        let cols: Vec<Vec<f64>> = (0..p)
            .map(|j| (0..n).map(|i| value(i, j)).collect())
            .collect();
        let x: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        assert_every_walk(&e, &x, 1.5);
        e.compiled.expect("compiles")
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
        assert_every_walk(&e, &x, 0.125);
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
        let c = agrees_with_raw_walks(&trees, 9, 500, |i, j| ((i * (j + 3)) % 113) as f64 - 10.0);
        assert!(!c.packed && c.tight.is_none());
    }

    #[test]
    fn a_wide_fitted_boost_scores_like_raw_walks() {
        // Fifteen features with few thresholds each: the wide vector walk (where AVX2 exists)
        // gathers each row's bin bytes.
        use crate::model::{Boost, BoostParams, Fit};
        let n = 1500;
        let cols: Vec<Vec<f64>> = (0..15)
            .map(|j| {
                (0..n)
                    .map(|i| ((i * (j + 2) + j) % 97) as f64 / 9.0)
                    .collect()
            })
            .collect();
        let y: Vec<u8> = (0..n)
            .map(|i| u8::from(cols[0][i] + cols[7][i] - cols[14][i] > 5.0 + (i % 5) as f64 / 3.0))
            .collect();
        let data = crate::data::Dataset {
            feature_names: (0..15).map(|j| format!("f{j}")).collect(),
            x: cols,
            y,
            ids: (0..n).map(|i| i.to_string()).collect(),
            names: vec![String::new(); n],
            artists: vec![String::new(); n],
            popularity: None,
            group: None,
            true_prob: None,
        };
        let rows: Vec<usize> = (0..1000).collect();
        let params = BoostParams {
            n_rounds: 40,
            max_depth: 6,
            early_stopping_rounds: None,
            ..BoostParams::default()
        };
        let boost = Boost::fit(&data, &rows, &params, 3).expect("fits");
        let compiled = boost.trees.compiled.as_ref().expect("compiles");
        assert!(!compiled.packed && compiled.tight.is_some());
        let x: Vec<&[f64]> = data.x.iter().map(|c| &c[1000..]).collect();
        assert_every_walk(&boost.trees, &x, 0.5);
    }

    #[test]
    fn a_fitted_forest_scores_like_raw_walks() {
        use crate::data::{synthesize, SynthParams};
        use crate::model::{Fit, Forest, ForestParams};
        let (data, _) = synthesize(&SynthParams {
            n_tracks: 3000,
            ..SynthParams::default()
        })
        .expect("synthetic data");
        let rows: Vec<usize> = (0..2000).collect();
        let params = ForestParams {
            n_trees: 20,
            ..ForestParams::default()
        };
        let forest = Forest::fit(&data, &rows, &params, 7).expect("fits");
        assert!(forest.trees.iter().any(|t| t.depth > 8), "deep trees");
        // Four features: the 4-byte steps of the vector walks, and the top-level tables
        // wherever the CPU runs the table walk.
        let compiled = forest.trees.compiled.as_ref().expect("compiles");
        assert!(compiled.packed && compiled.tight.is_some());
        let tables = Walk::available().contains(&Walk::Tables);
        assert_eq!(compiled.tops.is_some(), tables);
        let x: Vec<&[f64]> = data.x.iter().map(|c| &c[2000..]).collect();
        assert_every_walk(&forest.trees, &x, 0.0);
    }

    #[test]
    fn six_features_score_like_raw_walks() {
        let trees: Vec<Tree> = (0..6)
            .map(|j| stump(j, j as f64 - 2.5, 1.0 / (j as f64 + 1.0), -(j as f64)))
            .collect();
        let c = agrees_with_raw_walks(&trees, 6, 300, |i, j| ((i * (j + 5)) % 11) as f64 - 5.0);
        // Rows fit the scalar walk's u64 but not a vector lane's u32: the wide vector walk.
        assert!(c.packed && c.tight.is_some() && c.cuts.len() > 4);
    }
}
