//! Split thresholds as integer keys: sorting and deduplicating every threshold of a forest
//! (half a million splits) with a float comparison closure took a third of compiling it.

use rayon::prelude::*;

use super::Tree;

/// `x`'s bits as an integer ordered as [`f64::total_cmp`] orders floats: positive values
/// (sign bit clear) above every negative one, negative ones with their magnitude reversed.
pub(crate) fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

/// The float [`ordered`] maps to `k`.
pub(crate) fn unordered(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Trees per task when the thresholds are gathered.
const TREES_PER_TASK: usize = 16;
/// Slots of the tables of recent keys.
pub(crate) const KEY_SLOTS: usize = 1 << 12;
/// No key: a feature index takes at most 32 bits of a key's top 64.
pub(crate) const NO_KEY: u128 = u128::MAX;

/// A split's key: its feature in the top 64 bits, its threshold [`ordered`] below.
pub(crate) fn split_key(feature: u32, threshold: f64) -> u128 {
    u128::from(feature) << 64 | u128::from(ordered(threshold))
}

/// A key's slot in a table of [`KEY_SLOTS`]: the top bits of a multiplicative hash.
pub(crate) fn key_slot(k: u128) -> usize {
    const M: u64 = 0x9e37_79b9_7f4a_7c15;
    let x = (k as u64 ^ ((k >> 64) as u64).wrapping_mul(M)).wrapping_mul(M);
    (x >> (64 - KEY_SLOTS.trailing_zeros())) as usize
}

/// Each of `p` features' distinct thresholds in `trees` as [`ordered`] keys, ascending
/// (distinct bits: -0 and 0 both kept, as `total_cmp` tells them apart). Every split's
/// feature must be below `p`.
///
/// A forest's splits repeat a few thousand thresholds at most: a small table of the keys
/// last seen drops most repeats before the sort. It only filters (the sort dedups exactly),
/// so it changes no result, and memory follows the nodes.
pub(crate) fn distinct_keys(trees: &[Tree], p: usize) -> Vec<Vec<u64>> {
    let per_chunk: Vec<Vec<u128>> = trees
        .par_chunks(TREES_PER_TASK)
        .map(|chunk| {
            let mut seen = vec![NO_KEY; KEY_SLOTS];
            let mut found = Vec::new();
            for t in chunk {
                for (i, n) in t.nodes.iter().enumerate() {
                    if n.left as usize != i {
                        let k = split_key(n.feature, n.threshold);
                        let slot = &mut seen[key_slot(k)];
                        if *slot != k {
                            *slot = k;
                            found.push(k);
                        }
                    }
                }
            }
            found.sort_unstable();
            found.dedup();
            found
        })
        .collect();
    let mut keys: Vec<Vec<u64>> = vec![Vec::new(); p];
    for chunk_keys in &per_chunk {
        for &k in chunk_keys {
            keys[(k >> 64) as usize].push(k as u64);
        }
    }
    for k in &mut keys {
        k.sort_unstable();
        k.dedup();
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer keys sort as `f64::total_cmp` sorts, tell apart what it tells apart (the
    /// two zeros, NaNs of either sign) and give back the same bits.
    #[test]
    fn ordered_keys_sort_as_total_cmp() {
        let mut xs = vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            0.5,
            121.25,
        ];
        xs.sort_by(f64::total_cmp);
        for pair in xs.windows(2) {
            assert!(ordered(pair[0]) < ordered(pair[1]), "{pair:?}");
        }
        for &x in &xs {
            assert_eq!(unordered(ordered(x)).to_bits(), x.to_bits());
        }
    }
}
