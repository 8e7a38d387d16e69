//! The vector walks over `tight` steps: AVX2 gathers, and AVX-512 top-level tables. The
//! crate's only unsafe code; each safe entry point checks (asserts) every precondition the
//! SAFETY comments below rely on, and `Compiled` is immutable once built.

use std::arch::x86_64::*;

use super::compiled::{Compiled, Top, TABLE_FEATURES, TOP_LEVELS, TOP_NODES};

/// Hints the cache to load the line holding `x` (see [`super::prefetch`]).
#[inline(always)]
pub(super) fn prefetch<T>(x: &T) {
    // SAFETY: a prefetch only hints the cache, and `x` is a live reference.
    unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast()) };
}

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

/// Binned rows for the table walk.
#[derive(Clone, Copy)]
pub enum TableRows<'a> {
    /// As [`Rows::Packed`].
    Packed(&'a [u32]),
    /// At most sixteen features: row `i`'s bins at bytes `16 i ..`, so eight rows' bins fill
    /// two AVX-512 registers and a byte permute picks each lane's.
    Wide16(&'a [u8]),
}

impl TableRows<'_> {
    fn len(&self) -> usize {
        match *self {
            TableRows::Packed(r) => r.len(),
            TableRows::Wide16(bins) => bins.len() / 16,
        }
    }
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

/// See [`super::with_avx2`].
#[inline(always)]
pub(super) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[target_feature(enable = "avx2")]
    fn run<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
    if available() {
        // SAFETY: `run`'s one requirement is AVX2, checked just above.
        unsafe { run(f) }
    } else {
        f()
    }
}

/// Adds every tree's output to `out`, walking 32 rows at a time with vector gathers.
/// Each lane takes the scalar walk's steps in integers and each row adds its trees'
/// outputs in order, so results are identical to the scalar walks.
///
/// Requires AVX2 ([`available`]), whole groups of [`ROWS`] rows covering `out`, `c`'s
/// 4-byte steps (`Compiled::new` checked that every child index lies inside the step list,
/// so gathers stay in bounds), and for wide rows one bin per feature of `c`. Each is
/// asserted.
pub fn walk(c: &Compiled, rows: Rows<'_>, out: &mut [f64]) {
    let tight = c
        .tight
        .as_deref()
        .expect("the vector walk needs 4-byte steps");
    let n = rows.len();
    let wide_ok = match rows {
        Rows::Packed(_) => true,
        // Every step's feature byte is below `c.features()`; with `p` equal to it, a row's
        // offset plus the feature stays inside the row.
        Rows::Wide { bins, p } => {
            p > 0
                && p == c.features()
                && bins.len() == n * p + 3
                && i32::try_from(bins.len()).is_ok()
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

/// As [`walk`], but each tree's first [`TOP_LEVELS`] levels are resolved for 64 rows at
/// once by byte-table lookups (`tops`), and gathers take over below them (what that saved:
/// docs/benchmarks.md, "Scorer design choices").
///
/// Requires [`tables_available`], whole groups of [`TABLE_ROWS`] rows covering `out`, `c`'s
/// 4-byte steps and tables, and planes for four features (packed rows) or for each of `c`'s
/// (wide rows); each is asserted.
pub fn walk_tables(c: &Compiled, t: Tables<'_>, out: &mut [f64]) {
    let tight = c
        .tight
        .as_deref()
        .expect("the table walk needs 4-byte steps");
    let tops = c
        .tops
        .as_deref()
        .expect("the table walk needs the top tables");
    let Tables { rows, planes } = t;
    let n = rows.len();
    assert!(tables_available() && n.is_multiple_of(TABLE_ROWS) && n >= out.len());
    // Every group starts inside `out` (rows are padded by less than a group).
    assert!(n < out.len() + TABLE_ROWS);
    // Every start is a step (the gathers below begin there).
    assert!(tops
        .iter()
        .all(|t| t.starts.iter().all(|&s| (s as usize) < tight.len())));
    assert!(tight.len() == c.steps.len() && tops.len() == c.roots.len());
    match rows {
        TableRows::Packed(r) => {
            assert_eq!(planes.len(), 4 * n);
            // SAFETY: the features are present (asserted); memory as in `walk_avx2`, and
            // every start in `tops` is a step of its tree.
            unsafe { walk_tables_avx512(c, tight, tops, r, planes, out) }
        }
        TableRows::Wide16(bins) => {
            let p = c.features();
            // Sixteen bytes a row, one plane per feature; every step's feature is below p.
            assert!(p > 0 && p <= TABLE_FEATURES && bins.len() == 16 * n);
            assert_eq!(planes.len(), p * n);
            // Every table looked up has a plane of bins.
            assert!(tops
                .iter()
                .all(|t| t.used.iter().all(|&u| u32::from(u) >> p == 0)));
            // SAFETY: as above; the bins are read 128 bytes per eight rows, inside `bins`.
            unsafe { walk_tables_wide_avx512(c, tight, tops, bins, planes, out) }
        }
    }
}

/// What the table walk reads besides the steps: each tree's tables, the rows' bins and the
/// same bins feature by feature (`planes[f * n + i]` for row `i` of `n`).
#[derive(Clone, Copy)]
pub struct Tables<'a> {
    pub rows: TableRows<'a>,
    pub planes: &'a [u8],
}

/// Rows the table walk takes together: one AVX-512 vector of bytes, then eight vectors of
/// eight for the gathers (more gathers in flight than the AVX2 walk's four).
pub const TABLE_ROWS: usize = 64;

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn walk_tables_avx512(
    c: &Compiled,
    tight: &[u32],
    tops: &[Top],
    rows: &[u32],
    planes: &[u8],
    out: &mut [f64],
) {
    const V: usize = TABLE_ROWS / 8;
    let one = _mm512_set1_epi8(1);
    let n = rows.len();
    let groups = n / TABLE_ROWS;
    for (t, (top, &depth)) in tops.iter().zip(&c.depths).enumerate() {
        let fetch = NextTree::new(c, t, groups);
        // SAFETY: each table is 128 bytes: two loads of 64.
        let tables: [[__m512i; 2]; 4] = std::array::from_fn(|f| {
            let p = top.ranks[f].as_ptr();
            std::array::from_fn(|k| unsafe { _mm512_loadu_si512(p.add(64 * k).cast()) })
        });
        for g in 0..groups {
            fetch.group(c, tight, g);
            // SAFETY: planes hold 4 × n bytes and rows g*64 .. g*64+64 exist.
            let bins: [__m512i; 4] = std::array::from_fn(|f| unsafe {
                _mm512_loadu_si512(planes.as_ptr().add(f * n + g * TABLE_ROWS).cast())
            });
            let mut heap = _mm512_setzero_si512();
            for _ in 0..TOP_LEVELS {
                let mut right: __mmask64 = 0;
                for f in 0..4 {
                    let rank = _mm512_permutex2var_epi8(tables[f][0], heap, tables[f][1]);
                    right |= _mm512_cmpgt_epu8_mask(bins[f], rank);
                }
                heap = _mm512_add_epi8(_mm512_add_epi8(heap, heap), one);
                heap = _mm512_mask_add_epi8(heap, right, heap, one);
            }
            let at = table_starts(heap, top);
            // SAFETY: rows g*64 .. g*64+64 exist (whole groups); loads of 8 u32.
            let r: [__m256i; V] = std::array::from_fn(|q| unsafe {
                _mm256_loadu_si256(rows.as_ptr().add(g * TABLE_ROWS + 8 * q).cast())
            });
            let below = depth.saturating_sub(TOP_LEVELS as u32);
            let out = &mut out[g * TABLE_ROWS..];
            // SAFETY: every start is a step of this tree.
            unsafe { descend(c, tight, at, below, |q, w| packed_bin(w, r[q]), out) };
        }
    }
}

/// [`walk_tables_avx512`] for wide rows: each level looks up only the tables of the
/// features its nodes split on, and below them each step picks each lane's bin byte from
/// its row's sixteen with one byte permute (no second gather on the step's critical path).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
unsafe fn walk_tables_wide_avx512(
    c: &Compiled,
    tight: &[u32],
    tops: &[Top],
    bins: &[u8],
    planes: &[u8],
    out: &mut [f64],
) {
    let one = _mm512_set1_epi8(1);
    let byte = _mm256_set1_epi32(0xff);
    // Lane k's row starts at byte 16 k of its vector's 128.
    let lanes = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
    let n = bins.len() / 16;
    let groups = n / TABLE_ROWS;
    for (t, (top, &depth)) in tops.iter().zip(&c.depths).enumerate() {
        let fetch = NextTree::new(c, t, groups);
        for g in 0..groups {
            fetch.group(c, tight, g);
            let mut heap = _mm512_setzero_si512();
            for &used in &top.used {
                let mut right: __mmask64 = 0;
                let mut left_to_look = used;
                while left_to_look != 0 {
                    let f = left_to_look.trailing_zeros() as usize;
                    left_to_look &= left_to_look - 1;
                    // SAFETY: f < p (asserted of every `used`): the plane holds n bytes from
                    // f * n, and rows g*64 .. g*64+64 exist; each table is 128 bytes.
                    let (bin, lo, hi) = unsafe {
                        let table = top.ranks[f].as_ptr();
                        (
                            _mm512_loadu_si512(planes.as_ptr().add(f * n + g * TABLE_ROWS).cast()),
                            _mm512_loadu_si512(table.cast()),
                            _mm512_loadu_si512(table.add(64).cast()),
                        )
                    };
                    let rank = _mm512_permutex2var_epi8(lo, heap, hi);
                    right |= _mm512_cmpgt_epu8_mask(bin, rank);
                }
                heap = _mm512_add_epi8(_mm512_add_epi8(heap, heap), one);
                heap = _mm512_mask_add_epi8(heap, right, heap, one);
            }
            let at = table_starts(heap, top);
            let group = &bins[16 * g * TABLE_ROWS..16 * (g + 1) * TABLE_ROWS];
            let bin = |q: usize, w: __m256i| {
                // Index 16 k + feature (< 128: every feature is below 16) in lane k's low
                // byte; the permute reads registers only, whatever the other bytes hold.
                let feature = _mm256_and_si256(_mm256_srli_epi32::<8>(w), byte);
                let index = _mm512_castsi256_si512(_mm256_add_epi32(lanes, feature));
                // SAFETY: the group holds 8 × 128 bytes: two 64-byte loads of vector q's.
                let (lo, hi) = unsafe {
                    let at = group.as_ptr().add(128 * q);
                    (
                        _mm512_loadu_si512(at.cast()),
                        _mm512_loadu_si512(at.add(64).cast()),
                    )
                };
                let picked = _mm512_permutex2var_epi8(lo, index, hi);
                _mm256_and_si256(_mm512_castsi512_si256(picked), byte)
            };
            let below = depth.saturating_sub(TOP_LEVELS as u32);
            let out = &mut out[g * TABLE_ROWS..];
            // SAFETY: every start is a step of this tree.
            unsafe { descend(c, tight, at, below, bin, out) };
        }
    }
}

/// The step each of 64 rows reaches below `top`'s tables: `heap` holds each row's heap
/// node at the last table level (`TOP_NODES - 1 ..`), as eight vectors of eight.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vbmi")]
fn table_starts(heap: __m512i, top: &Top) -> [__m256i; TABLE_ROWS / 8] {
    let k = _mm512_sub_epi8(heap, _mm512_set1_epi8((TOP_NODES - 1) as i8));
    let mut ks = [0u8; TABLE_ROWS];
    // SAFETY: 64 bytes into a 64-byte array.
    unsafe { _mm512_storeu_si512(ks.as_mut_ptr().cast(), k) };
    let starts = top.starts.as_ptr().cast::<i32>();
    // SAFETY: every k < TOP_NODES = starts.len(); 8-byte loads inside `ks`.
    std::array::from_fn(|q| unsafe {
        let kq = _mm_loadl_epi64(ks.as_ptr().add(8 * q).cast());
        _mm256_i32gather_epi32::<4>(starts, _mm256_cvtepu8_epi32(kq))
    })
}

/// Prefetches the next tree's steps and values while this one is walked, a few cache
/// lines per group of rows: a whole forest outgrows the L2 cache, and walking a tree that
/// is not in cache waits on one miss after another (docs/benchmarks.md, "Scorer design
/// choices").
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

    fn new(c: &Compiled, t: usize, groups: usize) -> NextTree {
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
    fn group(&self, c: &Compiled, tight: &[u32], g: usize) {
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

/// The bin each lane compares at step `w`, gathered from row-major bins: byte `feature` of
/// the row at byte offset `row` of each lane.
///
/// # Safety
/// Each lane's `row` plus any feature of `c` lies inside `bins`, with 3 bytes beyond (a
/// 4-byte read).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn wide_bin(bins: &[u8], row: __m256i, w: __m256i) -> __m256i {
    let byte = _mm256_set1_epi32(0xff);
    let feature = _mm256_and_si256(_mm256_srli_epi32::<8>(w), byte);
    let at_byte = _mm256_add_epi32(row, feature);
    // SAFETY: the caller's promise.
    let word = unsafe { _mm256_i32gather_epi32::<1>(bins.as_ptr().cast(), at_byte) };
    _mm256_and_si256(word, byte)
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
    c: &Compiled,
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
unsafe fn walk_avx2(c: &Compiled, tight: &[u32], rows: Rows<'_>, out: &mut [f64]) {
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
                // SAFETY: row offset + feature < rows × p, and the buffer has 3 bytes beyond,
                // so each 4-byte read is inside it.
                Rows::Wide { bins, .. } => unsafe { wide_bin(bins, r[q], w) },
            };
            // SAFETY: every lane starts at this tree's root.
            unsafe { descend(c, tight, at, depth, bin, &mut out[g * ROWS..]) };
        }
    }
}
