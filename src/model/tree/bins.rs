//! Features cut into quantile bins once per fit, and the bin of a raw value.

use super::Tree;

/// Most bins per feature (they index a `u8`).
pub const MAX_BINS: usize = 256;

/// The bin of `v` among sorted `cuts`: how many cuts lie below it (0 for NaN). A value goes
/// right of cut `t` exactly when its bin exceeds `bin_of(cuts, t)`.
#[inline]
pub fn bin_of(cuts: &[f64], v: f64) -> usize {
    cuts.partition_point(|&c| c < v)
}

/// Features cut into bins: `bins[j][i]` is the bin of row `i` for feature `j`.
pub struct Binned {
    pub bins: Vec<Vec<u8>>,
    /// The same bins row-major (`rows[i * p + j]`), for histograms of all features at once.
    pub rows: Vec<u8>,
    /// `cuts[j][b]`: raw threshold between bin `b` and `b + 1` of feature `j`.
    pub cuts: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins each column by its quantiles (every distinct value its own bin when there are at
    /// most `MAX_BINS` of them).
    pub fn new(x: &[Vec<f64>]) -> Binned {
        let mut bins = Vec::with_capacity(x.len());
        let mut cuts = Vec::with_capacity(x.len());
        for col in x {
            let mut sorted = col.clone();
            sorted.sort_by(f64::total_cmp);
            sorted.dedup();
            let c: Vec<f64> = if sorted.len() <= MAX_BINS {
                sorted.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
            } else {
                // Quantile edges over the rows (not the distinct values), deduplicated.
                let mut all = col.clone();
                all.sort_by(f64::total_cmp);
                let mut edges = Vec::with_capacity(MAX_BINS - 1);
                for k in 1..MAX_BINS {
                    let v = all[k * all.len() / MAX_BINS];
                    // Midpoint between v's predecessor among distinct values and v.
                    let pos = sorted.partition_point(|&s| s < v);
                    if pos == 0 {
                        continue;
                    }
                    let edge = 0.5 * (sorted[pos - 1] + sorted[pos]);
                    if edges.last().is_none_or(|&l| edge > l) {
                        edges.push(edge);
                    }
                }
                edges
            };
            bins.push(col.iter().map(|&v| bin_of(&c, v) as u8).collect());
            cuts.push(c);
        }
        let rows = row_major(&bins);
        Binned { bins, rows, cuts }
    }

    /// Bins of other rows (column-major `x`) under these cuts, row-major as [`Binned::rows`]:
    /// how rows outside the training set walk trees grown on these bins.
    pub fn bin_rows(&self, x: &[Vec<f64>]) -> Vec<u8> {
        row_major(&self.bin_columns(x))
    }

    /// Bins of other rows (column-major) under these cuts, as training rows were binned.
    pub fn bin_columns(&self, x: &[Vec<f64>]) -> Vec<Vec<u8>> {
        x.iter()
            .zip(&self.cuts)
            .map(|(col, c)| col.iter().map(|&v| bin_of(c, v) as u8).collect())
            .collect()
    }

    /// For each node of `tree` (grown on these bins), the rank of its threshold among the
    /// cuts: a binned row goes right exactly when its bin exceeds the rank, as a raw value
    /// goes right when it exceeds the threshold (`x > t ⟺ #(cuts < x) > #(cuts < t)`).
    pub fn ranks(&self, tree: &Tree) -> Vec<u8> {
        tree.nodes
            .iter()
            .map(|n| match self.cuts.get(n.feature as usize) {
                Some(c) if n.threshold.is_finite() => bin_of(c, n.threshold) as u8,
                _ => u8::MAX,
            })
            .collect()
    }
}

/// Column-major bins (`bins[j][i]`) laid out row by row (`rows[i * p + j]`).
fn row_major(bins: &[Vec<u8>]) -> Vec<u8> {
    let n = bins.first().map_or(0, Vec::len);
    (0..n)
        .flat_map(|i| bins.iter().map(move |b| b[i]))
        .collect()
}
