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
//!
//! # Lessons built in (off by default)
//!
//! - **Repeated tracks** (`duplicate_rate` r > 0): `round(r·n)` extra rows copy existing
//!   tracks (same id, features, label, popularity), each copy's track drawn with weight
//!   `exp(popularity / 10)`, as popular tracks are listed in many playlists; rows are then
//!   shuffled. A random split of such data puts copies on both sides.
//! - **Drift across decades** (`decades` k > 0): each track gets a decade (the k decades ending
//!   with the 2010s, later decades larger) in the `group` column, and with `drift` λ the
//!   ground truth moves with the decade's position s (0 for the first, 1 for the last):
//!   danceability shifts by `0.08·λ·(s − ½)`, its weight becomes `4.5 + 3λ(2s − 1)`, the tempo
//!   sweet spot moves to `120 − 25λs` BPM and the favoured valence to `0.55 + 0.2λ(½ − s)`.
//!   A model trained on the earlier decades then meets a changed world in the latest.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Dataset, ALL_FEATURES};
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
    /// Extra rows repeating popular tracks, as a share of `n_tracks` (module doc). Default 0.
    pub duplicate_rate: f64,
    /// Decades the tracks spread over, ending with the 2010s; 0 = no decade. Default 0.
    pub decades: usize,
    /// How strongly the ground truth drifts across the decades (module doc). Default 0.
    pub drift: f64,
    /// Also the eleven other audio features of the Billboard layout ([`ALL_FEATURES`]
    /// order), drawn independently of everything else: they carry no signal, the truth
    /// stays the four-feature formula (module doc). Default `false`.
    #[serde(default)]
    pub all_features: bool,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            n_tracks: 20_000,
            hit_rate: 0.2,
            seed: 42,
            duplicate_rate: 0.0,
            decades: 0,
            drift: 0.0,
            all_features: false,
        }
    }
}

impl SynthParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::Param`] for fewer than 10 or more than `MAX_TRACKS` tracks, or a hit rate
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
        if !(0.0..=5.0).contains(&self.duplicate_rate) {
            return Err(Error::param(
                "duplicate_rate",
                self.duplicate_rate,
                "must be in [0, 5]",
            ));
        }
        if self.decades > 20 {
            return Err(Error::param("decades", self.decades, "must be at most 20"));
        }
        if !(0.0..=3.0).contains(&self.drift) {
            return Err(Error::param("drift", self.drift, "must be in [0, 3]"));
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

/// The log-odds without `b0` in a decade at position `s` (0 = first, 1 = last) under drift
/// `lambda` (module doc).
fn shape_drifted(d: f64, e: f64, v: f64, t: f64, s: f64, lambda: f64) -> f64 {
    let centre = 120.0 - 25.0 * lambda * s;
    (4.5 + 3.0 * lambda * (2.0 * s - 1.0)) * (d - 0.6)
        + 2.0 * (e - 0.6)
        + 16.0 * (d - 0.6) * (e - 0.6)
        + 2.5 * (-((t - centre) / 12.0).powi(2)).exp()
        - 8.0 * (v - (0.55 + 0.2 * lambda * (0.5 - s))).powi(2)
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
    // Decades (off by default: no draws, so the default data keeps its bytes).
    let decade_pos: Option<Vec<usize>> = (params.decades > 0).then(|| {
        let k = params.decades;
        // Later decades hold more tracks: weight of decade j is 1 + j / k.
        let weights: Vec<f64> = (0..k).map(|j| 1.0 + j as f64 / k as f64).collect();
        let total: f64 = weights.iter().sum();
        (0..n)
            .map(|_| {
                let mut u = rng.gen::<f64>() * total;
                weights
                    .iter()
                    .position(|w| {
                        u -= w;
                        u < 0.0
                    })
                    .unwrap_or(k - 1)
            })
            .collect()
    });
    let position = |j: usize| {
        if params.decades > 1 {
            j as f64 / (params.decades - 1) as f64
        } else {
            1.0
        }
    };
    if let Some(pos) = &decade_pos {
        for (d, &j) in x[0].iter_mut().zip(pos) {
            *d = round3((*d + 0.08 * params.drift * (position(j) - 0.5)).clamp(0.0, 1.0));
        }
    }
    let shapes: Vec<f64> = (0..n)
        .map(|i| match &decade_pos {
            None => shape(x[0][i], x[1][i], x[2][i], x[3][i]),
            Some(pos) => shape_drifted(
                x[0][i],
                x[1][i],
                x[2][i],
                x[3][i],
                position(pos[i]),
                params.drift,
            ),
        })
        .collect();
    // The probabilities side by side, summed in row order: the same bits on any thread count.
    let mut probs = vec![0.0; n];
    let mut mean_p = |b0: f64| {
        probs
            .par_iter_mut()
            .zip(&shapes)
            .for_each(|(p, s)| *p = sigmoid(b0 + s));
        probs.iter().sum::<f64>() / n as f64
    };
    let (mut lo, mut hi): (f64, f64) = (-30.0, 30.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        let before = (lo.to_bits(), hi.to_bits());
        if mean_p(mid) < params.hit_rate {
            lo = mid;
        } else {
            hi = mid;
        }
        // Each step depends on (lo, hi) alone: once one changes neither, none of the
        // remaining steps would (about 60 of the 100 are needed).
        if before == (lo.to_bits(), hi.to_bits()) {
            break;
        }
    }
    let b0 = 0.5 * (lo + hi);
    let true_prob: Vec<f64> = shapes.par_iter().map(|s| sigmoid(b0 + s)).collect();
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
    let group = decade_pos.map(|pos| {
        let first = 2010 - 10 * (params.decades as i64 - 1);
        pos.iter()
            .map(|&j| (first + 10 * j as i64).to_string())
            .collect()
    });
    let (feature_names, x) = if params.all_features {
        with_other_features(x, params.seed)
    } else {
        (
            super::CORE_FEATURES.iter().map(|s| s.to_string()).collect(),
            x,
        )
    };
    let dataset = Dataset {
        feature_names,
        x,
        y,
        ids,
        names,
        artists,
        popularity: Some(popularity),
        group,
        true_prob: Some(true_prob),
    };
    let dataset = if params.duplicate_rate > 0.0 {
        with_copies(dataset, params.duplicate_rate, &mut rng)
    } else {
        dataset
    };
    Ok((dataset, b0))
}

/// The four core columns with the eleven other audio features added, all in
/// [`ALL_FEATURES`] order. The others come from their own stream of the seed, so the core
/// features, labels and everything else keep their bytes. Marginals roughly as in Spotify's
/// catalogue: key uniform 0–11, loudness N(−7, 3.5) dB, mode 1 for 65 %, speechiness
/// Beta(1.2, 14), acousticness Beta(1, 2.5), instrumentalness near 0 for 70 % of tracks
/// (else Beta(0.8, 1.2)), liveness 0.05 + 0.95·Beta(1.5, 6), duration log-normal around
/// 3.7 minutes, time signature 4 (90 %), 3 (8 %) or 5, chorus 20 s + 8·Gamma(4) s in, and
/// about one section per 25 s.
fn with_other_features(core: Vec<Vec<f64>>, seed: u64) -> (Vec<String>, Vec<Vec<f64>>) {
    let n = core.first().map_or(0, Vec::len);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    let mut other: Vec<Vec<f64>> = (0..11).map(|_| Vec::with_capacity(n)).collect();
    for _ in 0..n {
        let key = f64::from(rng.gen_range(0u8..12));
        let loudness = round3((-7.0 + 3.5 * normal(&mut rng)).clamp(-40.0, 1.0));
        let mode = f64::from(u8::from(rng.gen::<f64>() < 0.65));
        let speechiness = round3(beta(&mut rng, 1.2, 14.0));
        let acousticness = round3(beta(&mut rng, 1.0, 2.5));
        let instrumentalness = if rng.gen::<f64>() < 0.7 {
            round3(0.01 * rng.gen::<f64>())
        } else {
            round3(beta(&mut rng, 1.0, 1.2))
        };
        let liveness = round3(0.05 + 0.95 * beta(&mut rng, 1.5, 6.0));
        let duration = (12.3 + 0.3 * normal(&mut rng))
            .exp()
            .round()
            .clamp(30_000.0, 1_200_000.0);
        let u: f64 = rng.gen();
        let signature = if u < 0.9 {
            4.0
        } else if u < 0.98 {
            3.0
        } else {
            5.0
        };
        let chorus = round3(20.0 + 8.0 * gamma(&mut rng, 4.0));
        let sections = (duration / 25_000.0 + normal(&mut rng)).round().max(1.0);
        for (col, v) in other.iter_mut().zip([
            key,
            loudness,
            mode,
            speechiness,
            acousticness,
            instrumentalness,
            liveness,
            duration,
            signature,
            chorus,
            sections,
        ]) {
            col.push(v);
        }
    }
    let mut core = core.into_iter();
    let mut other = other.into_iter();
    let x = ALL_FEATURES
        .iter()
        .map(|f| {
            let column = if super::CORE_FEATURES.contains(f) {
                core.next()
            } else {
                other.next()
            };
            column.expect("four core and eleven other columns")
        })
        .collect();
    (ALL_FEATURES.iter().map(|s| s.to_string()).collect(), x)
}

/// Appends `round(rate·n)` copies of tracks drawn with weight `exp(popularity / 10)`, then
/// shuffles the rows.
fn with_copies(data: Dataset, rate: f64, rng: &mut ChaCha8Rng) -> Dataset {
    use rand::seq::SliceRandom;
    let n = data.len();
    let pop = data.popularity.clone().unwrap_or_else(|| vec![0.0; n]);
    let mut cumulative = Vec::with_capacity(n);
    let mut total = 0.0;
    for p in &pop {
        total += (p / 10.0).exp();
        cumulative.push(total);
    }
    let extra = (rate * n as f64).round() as usize;
    let mut rows: Vec<usize> = (0..n).collect();
    for _ in 0..extra {
        let u = rng.gen::<f64>() * total;
        rows.push(cumulative.partition_point(|&c| c <= u).min(n - 1));
    }
    rows.shuffle(rng);
    data.subset(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_features_add_eleven_columns_and_keep_everything_else() {
        let core = SynthParams {
            n_tracks: 3000,
            duplicate_rate: 0.2,
            decades: 3,
            drift: 1.0,
            ..Default::default()
        };
        let all = SynthParams {
            all_features: true,
            ..core.clone()
        };
        let (a, b0a) = synthesize(&core).unwrap();
        let (b, b0b) = synthesize(&all).unwrap();
        assert_eq!(b.feature_names, ALL_FEATURES);
        assert_eq!(b0a.to_bits(), b0b.to_bits());
        // The core columns, labels, truth, ids and popularity are the four-feature data's.
        for (j, name) in a.feature_names.iter().enumerate() {
            let k = b.feature_names.iter().position(|f| f == name).unwrap();
            assert_eq!(a.x[j], b.x[k], "{name}");
        }
        assert_eq!(
            (&a.y, &a.ids, &a.popularity, &a.group),
            (&b.y, &b.ids, &b.popularity, &b.group)
        );
        assert_eq!(a.true_prob, b.true_prob);
        // Each other feature lies in its valid range, varies, and is whole where Spotify's is.
        for (name, col) in b.feature_names.iter().zip(&b.x) {
            let (lo, hi) = crate::data::feature_range(name).unwrap();
            assert!(col.iter().all(|v| (lo..=hi).contains(v)), "{name}");
            assert!(col.iter().any(|v| *v != col[0]), "{name} is constant");
            if ["key", "mode", "duration_ms", "time_signature", "sections"].contains(&name.as_str())
            {
                assert!(col.iter().all(|v| v.fract() == 0.0), "{name}");
            }
        }
        assert_eq!(b.to_csv(), synthesize(&all).unwrap().0.to_csv());
    }

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
    fn duplicates_repeat_popular_tracks_and_leave_the_default_alone() {
        let base = SynthParams {
            n_tracks: 2000,
            ..Default::default()
        };
        let (plain, _) = synthesize(&base).unwrap();
        let (dup, _) = synthesize(&SynthParams {
            duplicate_rate: 0.5,
            ..base.clone()
        })
        .unwrap();
        assert_eq!(dup.len(), 3000);
        let mut count = std::collections::HashMap::new();
        for id in &dup.ids {
            *count.entry(id.as_str()).or_insert(0usize) += 1;
        }
        assert_eq!(count.len(), 2000, "every original track is still there");
        // Repeated tracks are more popular than the average track.
        let pop = plain.popularity.as_ref().unwrap();
        let mean = |rows: &mut dyn Iterator<Item = usize>| {
            let (s, c) = rows.fold((0.0, 0), |(s, c), i| (s + pop[i], c + 1));
            s / c as f64
        };
        let repeated = mean(&mut (0..2000).filter(|&i| count[plain.ids[i].as_str()] > 1));
        assert!(repeated > mean(&mut (0..2000)) + 5.0, "{repeated}");
        // Zero rates draw nothing: the default data is unchanged.
        let (again, _) = synthesize(&SynthParams {
            duplicate_rate: 0.0,
            decades: 0,
            ..base
        })
        .unwrap();
        assert_eq!(again.to_csv(), plain.to_csv());
    }

    #[test]
    fn drift_moves_the_truth_across_decades() {
        let (d, _) = synthesize(&SynthParams {
            n_tracks: 6000,
            decades: 6,
            drift: 1.0,
            ..Default::default()
        })
        .unwrap();
        let g = d.group.as_ref().unwrap();
        assert_eq!(g.iter().min().unwrap(), "1960");
        assert_eq!(g.iter().max().unwrap(), "2010");
        let share = |dec: &str| g.iter().filter(|x| *x == dec).count() as f64 / 6000.0;
        assert!(share("2010") > share("1960"));
        // Danceability matters more in the 2010s than in the 1960s: compare the true
        // probability's correlation with it.
        let tp = d.true_prob.as_ref().unwrap();
        let corr = |dec: &str| {
            let rows: Vec<usize> = (0..d.len()).filter(|&i| g[i] == dec).collect();
            let m = rows.len() as f64;
            let (mx, my) = rows
                .iter()
                .fold((0.0, 0.0), |(a, b), &i| (a + d.x[0][i], b + tp[i]));
            let (mx, my) = (mx / m, my / m);
            let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
            for &i in &rows {
                let (a, b) = (d.x[0][i] - mx, tp[i] - my);
                sxy += a * b;
                sxx += a * a;
                syy += b * b;
            }
            sxy / (sxx * syy).sqrt()
        };
        assert!(corr("2010") > corr("1960") + 0.05);
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
