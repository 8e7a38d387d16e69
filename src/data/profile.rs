//! A dataset's profile: size, class balance and per-feature statistics for hits vs non-hits.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Dataset;

/// Min, mean and max of one feature among hits and among non-hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    /// `[min, mean, max]` over hits.
    pub hits: [f64; 3],
    /// `[min, mean, max]` over non-hits.
    pub non_hits: [f64; 3],
}

/// Size, class balance and per-feature statistics of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub rows: usize,
    pub hits: usize,
    pub hit_rate: f64,
    pub features: Vec<FeatureProfile>,
}

fn stats(values: impl Iterator<Item = f64>) -> [f64; 3] {
    let (mut lo, mut hi, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v;
        n += 1;
    }
    if n == 0 {
        return [f64::NAN; 3];
    }
    [lo, sum / n as f64, hi]
}

/// Profiles `data`.
pub fn profile(data: &Dataset) -> Profile {
    let hits = data.positives();
    let features = data
        .feature_names
        .iter()
        .zip(&data.x)
        .map(|(name, col)| FeatureProfile {
            name: name.clone(),
            hits: stats(
                col.iter()
                    .zip(&data.y)
                    .filter(|(_, &y)| y == 1)
                    .map(|(v, _)| *v),
            ),
            non_hits: stats(
                col.iter()
                    .zip(&data.y)
                    .filter(|(_, &y)| y == 0)
                    .map(|(v, _)| *v),
            ),
        })
        .collect();
    Profile {
        rows: data.len(),
        hits,
        hit_rate: if data.is_empty() {
            0.0
        } else {
            hits as f64 / data.len() as f64
        },
        features,
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rows {}, hits {} ({:.1} %), non-hits {}",
            self.rows,
            self.hits,
            100.0 * self.hit_rate,
            self.rows - self.hits
        )?;
        writeln!(
            f,
            "{:<18} {:>10} {:>10} {:>10}   {:>10} {:>10} {:>10}",
            "feature", "hit min", "hit mean", "hit max", "non min", "non mean", "non max"
        )?;
        for p in &self.features {
            writeln!(
                f,
                "{:<18} {:>10.3} {:>10.3} {:>10.3}   {:>10.3} {:>10.3} {:>10.3}",
                p.name,
                p.hits[0],
                p.hits[1],
                p.hits[2],
                p.non_hits[0],
                p.non_hits[1],
                p.non_hits[2]
            )?;
        }
        Ok(())
    }
}
