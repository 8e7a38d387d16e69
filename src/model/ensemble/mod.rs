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
//! at most sixteen features and AVX-512 (VBMI), each tree's top 7 levels are byte tables that
//! place 64 rows at once with permutes (one per feature a level splits on), and gathers walk
//! only the levels below.
//! Each row still adds the trees' outputs in tree order, so sums do not depend on blocks,
//! threads or the walk taken.

mod compiled;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // the only unsafe code of the crate: AVX2 / AVX-512 intrinsics
mod simd;

use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::tree::{sum_trees, Tree};
use compiled::Compiled;

/// Hints the cache to load `slice[i]`, for loops that gather rows they know ahead (nothing
/// when `i` is past the end, or off x86-64). A hint never changes a result.
#[inline(always)]
pub(crate) fn prefetch<T>(slice: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = slice.get(i) {
        simd::prefetch(x);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, i);
}

/// Runs `f` compiled for AVX2 where the CPU has it (twice SSE2's lanes in the loops the
/// compiler vectorises), else as it is. Rust never fuses a multiply and an add, so every lane
/// computes the bits SSE2 computes: results do not depend on the CPU. `f`'s work must be
/// inlined into it (`#[inline(always)]`) to be compiled so.
#[inline(always)]
pub(crate) fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    return simd::with_avx2(f);
    #[cfg(not(target_arch = "x86_64"))]
    f()
}

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
            Some(c) if n >= MIN_COMPILED_ROWS && x.len() >= c.features() => {
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
    /// At most sixteen features: each tree's top levels by AVX-512 byte-table lookups for 64
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
    fn a_fifteen_feature_forest_scores_like_raw_walks() {
        // Deep trees over fifteen features: the wide table walk (where the CPU runs it)
        // looks up only the features each top level uses, then gathers bin bytes below.
        use crate::data::{synthesize, SynthParams};
        use crate::model::{Fit, Forest, ForestParams};
        let (data, _) = synthesize(&SynthParams {
            n_tracks: 3000,
            all_features: true,
            ..SynthParams::default()
        })
        .expect("synthetic data");
        assert_eq!(data.x.len(), 15);
        let rows: Vec<usize> = (0..2000).collect();
        let params = ForestParams {
            n_trees: 12,
            ..ForestParams::default()
        };
        let forest = Forest::fit(&data, &rows, &params, 5).expect("fits");
        assert!(forest.trees.iter().any(|t| t.depth > 9), "deep trees");
        let compiled = forest.trees.compiled.as_ref().expect("compiles");
        assert!(!compiled.packed && compiled.tight.is_some());
        let tables = Walk::available().contains(&Walk::Tables);
        assert_eq!(compiled.tops.is_some(), tables);
        if let Some(tops) = &compiled.tops {
            // The root level splits on one feature, and some level below on several.
            assert!(tops.iter().all(|t| t.used[0].count_ones() == 1));
            assert!(tops.iter().any(|t| t.used[6].count_ones() > 4));
        }
        // 1,000 rows: whole 64-row groups and a padded last one.
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
