//! The Spotify audio features HitCast knows and the range each may take.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The four features the original demo used.
pub const CORE_FEATURES: [&str; 4] = ["danceability", "energy", "valence", "tempo"];

/// Every numeric Spotify audio feature, in the order reports list them.
pub const ALL_FEATURES: [&str; 15] = [
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
    "time_signature",
    "chorus_hit",
    "sections",
];

/// The valid closed range of a known feature; `None` for unknown names (no check).
///
/// Tempo and time signature allow 0, Spotify's "unknown".
pub fn feature_range(name: &str) -> Option<(f64, f64)> {
    Some(match name {
        "danceability" | "energy" | "valence" | "speechiness" | "acousticness"
        | "instrumentalness" | "liveness" | "mode" => (0.0, 1.0),
        "tempo" => (0.0, 300.0),
        "key" => (-1.0, 11.0),
        "loudness" => (-70.0, 10.0),
        "duration_ms" => (0.0, 1e8),
        "time_signature" => (0.0, 7.0),
        "chorus_hit" | "sections" => (0.0, 1e5),
        "popularity" | "track_popularity" => (0.0, 100.0),
        _ => return None,
    })
}

/// Which features a dataset uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FeatureSet {
    /// `danceability`, `energy`, `valence`, `tempo`.
    #[default]
    Core,
    /// Every known audio feature the file has.
    All,
    /// These columns, in this order.
    Named(Vec<String>),
}

impl FromStr for FeatureSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "core" | "four" => Ok(FeatureSet::Core),
            "all" => Ok(FeatureSet::All),
            list => {
                let names: Vec<String> = list
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect();
                if let Some((j, dup)) = names
                    .iter()
                    .enumerate()
                    .find(|(j, n)| names[..*j].contains(n))
                {
                    Err(format!(
                        "feature `{dup}` is listed twice (positions {} and {}): a model would \
                         train on the same column twice",
                        names.iter().position(|n| n == dup).unwrap_or(0) + 1,
                        j + 1
                    ))
                } else if names.is_empty() {
                    Err("expected `core`, `all` or a comma-separated list of columns".into())
                } else {
                    Ok(FeatureSet::Named(names))
                }
            }
        }
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureSet::Core => f.write_str("core"),
            FeatureSet::All => f.write_str("all"),
            FeatureSet::Named(n) => f.write_str(&n.join(",")),
        }
    }
}
