//! The synthetic demo dataset: realistic Spotify-like features and a known, non-linear
//! probability of being a hit, so every part of HitCast runs offline and reports can quote
//! the best AUC any model could reach (the oracle).
//!
//! # Ground truth
//!
//! With `d`, `e`, `v` = danceability, energy, valence (0–1) and `t` = tempo in BPM:
//!
//! ```text
//! z = b0 + 4.5·(d − 0.6) + 2·(e − 0.6) + 16·(d − 0.6)·(e − 0.6)
//!        + 2.5·exp(−((t − 120) / 12)²) − 8·(v − 0.55)²
//! P(hit) = 1 / (1 + exp(−z))
//! ```
//!
//! Danceable *and* energetic tracks do better than either alone (the interaction), tempos
//! near 120 BPM get a boost (the sweet spot), and middling valence is favoured over extremes.
//! None of those three is linear in the features, which is why trees beat the logistic model.
//! `b0` is solved by bisection so the mean probability equals `hit_rate`. The label is a
//! Bernoulli draw from that probability.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::error::{Error, Result};

/// Settings of the synthetic generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthParams {
    /// Number of tracks. Default 20,000.
    pub n_tracks: usize,
    /// Expected share of hits, in (0, 1). Default 0.2.
    pub hit_rate: f64,
    /// Seed of the `ChaCha8Rng` all draws come from. Default 42.
    pub seed: u64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            n_tracks: 20_000,
            hit_rate: 0.2,
            seed: 42,
        }
    }
}

impl SynthParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::Param`] for fewer than 10 or more than [`MAX_TRACKS`] tracks, or a hit rate
    /// outside (0.01, 0.99).
    pub fn check(&self) -> Result<()> {
        // The upper bound keeps a mistyped `--rows` from asking for terabytes.
        if !(10..=MAX_TRACKS).contains(&self.n_tracks) {
            return Err(Error::param(
                "n_tracks",
                self.n_tracks,
                "must be in 10–20,000,000",
            ));
        }
        if !(self.hit_rate >= 0.01 && self.hit_rate <= 0.99) {
            return Err(Error::param(
                "hit_rate",
                self.hit_rate,
                "must be in [0.01, 0.99]",
            ));
        }
        Ok(())
    }
}

/// Most tracks the generator makes (about 2.4 GB of features with all fifteen).
pub const MAX_TRACKS: usize = 20_000_000;

/// The ground-truth log-odds without the intercept `b0` (see the module doc).
fn shape(d: f64, e: f64, v: f64, t: f64) -> f64 {
    4.5 * (d - 0.6)
        + 2.0 * (e - 0.6)
        + 16.0 * (d - 0.6) * (e - 0.6)
        + 2.5 * (-((t - 120.0) / 12.0).powi(2)).exp()
        - 8.0 * (v - 0.55).powi(2)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The true hit probability of one track, given the intercept `b0` of a generated dataset.
pub fn true_hit_probability(
    b0: f64,
    danceability: f64,
    energy: f64,
    valence: f64,
    tempo: f64,
) -> f64 {
    sigmoid(b0 + shape(danceability, energy, valence, tempo))
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; 1 - u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    // Marsaglia–Tsang; every shape used here is ≥ 1.
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.gen();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn beta(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

const ADJECTIVES: [&str; 16] = [
    "Midnight", "Golden", "Electric", "Broken", "Silver", "Neon", "Wild", "Quiet", "Burning",
    "Lonely", "Velvet", "Crystal", "Restless", "Summer", "Falling", "Paper",
];
const NOUNS: [&str; 16] = [
    "Heart", "Highway", "Echo", "Dream", "River", "Signal", "Parade", "Skyline", "Fever", "Garden",
    "Mirror", "Thunder", "Letter", "Horizon", "Shadow", "Rhythm",
];
const FIRST: [&str; 12] = [
    "Ava", "Leo", "Mia", "Kai", "Zoe", "Noah", "Lena", "Omar", "Ivy", "Theo", "Nina", "Ezra",
];
const LAST: [&str; 12] = [
    "Stone", "Rivers", "Vale", "Monroe", "Hart", "Fox", "Lane", "Wilde", "Cruz", "Banks", "Reyes",
    "Frost",
];
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Generates the synthetic dataset. Same parameters → identical dataset, bit for bit.
///
/// Features: danceability ~ Beta(5.5, 3.8), energy ~ Beta(4, 2.2), valence ~ Beta(2.3, 2),
/// tempo ~ 0.7·N(118, 22) + 0.3·N(150, 25) clipped to 55–215 BPM, all rounded to 3 decimals
/// like Spotify's API. Popularity (0–100) rises with the hidden log-odds and with the label.
/// Returns the dataset (with `true_prob` set) and the solved intercept `b0`.
///
/// # Errors
/// [`Error::Param`] if the parameters fail [`SynthParams::check`].
pub fn synthesize(params: &SynthParams) -> Result<(Dataset, f64)> {
    params.check()?;
    let n = params.n_tracks;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut x: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(n)).collect();
    let mut ids = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut artists = Vec::with_capacity(n);
    for _ in 0..n {
        let d = round3(beta(&mut rng, 5.5, 3.8));
        let e = round3(beta(&mut rng, 4.0, 2.2));
        let v = round3(beta(&mut rng, 2.3, 2.0));
        let t = if rng.gen::<f64>() < 0.7 {
            118.0 + 22.0 * normal(&mut rng)
        } else {
            150.0 + 25.0 * normal(&mut rng)
        };
        for (col, value) in x.iter_mut().zip([d, e, v, round3(t.clamp(55.0, 215.0))]) {
            col.push(value);
        }
        ids.push(
            (0..22)
                .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
                .collect::<String>(),
        );
        names.push(format!(
            "{} {}",
            ADJECTIVES[rng.gen_range(0..ADJECTIVES.len())],
            NOUNS[rng.gen_range(0..NOUNS.len())]
        ));
        artists.push(format!(
            "{} {}",
            FIRST[rng.gen_range(0..FIRST.len())],
            LAST[rng.gen_range(0..LAST.len())]
        ));
    }
    let shapes: Vec<f64> = (0..n)
        .map(|i| shape(x[0][i], x[1][i], x[2][i], x[3][i]))
        .collect();
    let mean_p = |b0: f64| shapes.iter().map(|s| sigmoid(b0 + s)).sum::<f64>() / n as f64;
    let (mut lo, mut hi) = (-30.0, 30.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mean_p(mid) < params.hit_rate {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let b0 = 0.5 * (lo + hi);
    let true_prob: Vec<f64> = shapes.iter().map(|s| sigmoid(b0 + s)).collect();
    let y: Vec<u8> = true_prob
        .iter()
        .map(|&p| u8::from(rng.gen::<f64>() < p))
        .collect();
    let mean_shape = shapes.iter().sum::<f64>() / n as f64;
    let popularity = (0..n)
        .map(|i| {
            let pop = 38.0
                + 9.0 * (shapes[i] - mean_shape)
                + 22.0 * f64::from(y[i])
                + 10.0 * normal(&mut rng);
            pop.round().clamp(0.0, 100.0)
        })
        .collect();
    let dataset = Dataset {
        feature_names: super::CORE_FEATURES.iter().map(|s| s.to_string()).collect(),
        x,
        y,
        ids,
        names,
        artists,
        popularity: Some(popularity),
        group: None,
        true_prob: Some(true_prob),
    };
    Ok((dataset, b0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_data() {
        let p = SynthParams {
            n_tracks: 500,
            ..Default::default()
        };
        let a = synthesize(&p).unwrap().0.to_csv();
        assert_eq!(a, synthesize(&p).unwrap().0.to_csv());
        let b = synthesize(&SynthParams { seed: 43, ..p })
            .unwrap()
            .0
            .to_csv();
        assert_ne!(a, b);
    }

    #[test]
    fn marginals_and_hit_rate_are_realistic() {
        let (d, _) = synthesize(&SynthParams::default()).unwrap();
        let rate = d.positives() as f64 / d.len() as f64;
        assert!((rate - 0.2).abs() < 0.015, "hit rate {rate}");
        for j in 0..3 {
            assert!(d.x[j].iter().all(|v| (0.0..=1.0).contains(v)));
        }
        let tempo = &d.x[3];
        let inside = tempo.iter().filter(|t| (80.0..=180.0).contains(*t)).count();
        assert!(inside as f64 / tempo.len() as f64 > 0.85);
        let pop = d.popularity.as_ref().unwrap();
        assert!(pop.iter().all(|p| (0.0..=100.0).contains(p)));
    }

    #[test]
    fn rejects_bad_parameters() {
        let err = synthesize(&SynthParams {
            hit_rate: 1.5,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("hit_rate"));
        assert!(synthesize(&SynthParams {
            n_tracks: 3,
            ..Default::default()
        })
        .is_err());
    }
}
