//! Property tests of hostile input (issue 16): mutated artifacts and random CSVs end in `Ok`
//! or a typed error, never a panic, an abort, or unbounded memory or time; any prediction
//! that comes out is finite and in [0, 1].
//!
//! Bounded by default (a few seconds); `HITCAST_FUZZ_CASES=N` runs N cases per property and
//! `HITCAST_FUZZ_SEED=S` draws them from another seed
//! (docs/benchmarks.md records what a long run covered).

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use hitcast::data::{ingest, synthesize, Dataset, IngestOptions, SynthParams};
use hitcast::model::{Artifact, Family};

use super::safety::artifact_json;

fn cases(default: u32) -> u32 {
    std::env::var("HITCAST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runner seeded from `HITCAST_FUZZ_SEED` (default 0): a failure reproduces from the seed
/// and the case count, as every other random thing in HitCast does.
fn runner(default: u32) -> TestRunner {
    let seed: u64 = std::env::var("HITCAST_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: cases(default),
        failure_persistence: None,
        // Shrinking re-runs the failing case many times; the first failure is reported.
        max_shrink_iters: 64,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Every JSON pointer to a scalar inside `v`, and to every array.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            out.push(at.clone());
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

/// Values a hostile edit may put anywhere.
fn hostile_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        any::<i64>().prop_map(|v| json!(v)),
        any::<u32>().prop_map(|v| json!(v)),
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(4),
            Just(u32::MAX as u64),
            Just(u64::MAX)
        ]
        .prop_map(|v| json!(v)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |v| v.is_finite())
            .prop_map(|v| json!(v)),
        prop_oneof![Just(-1e308), Just(1e308), Just(-0.0), Just(1e-320)].prop_map(|v| json!(v)),
        Just(json!(null)),
        Just(json!(true)),
        "[a-z<>\"$]{0,8}".prop_map(|s| json!(s)),
        Just(json!([])),
        prop::collection::vec(0u32..64, 0..6).prop_map(|v| json!(v)),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value at the `k`-th pointer.
    Set(usize, serde_json::Value),
    /// Swap the values at two pointers.
    Swap(usize, usize),
    /// Cut the text at a fraction of its length.
    Truncate(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), hostile_value()).prop_map(|(k, v)| Edit::Set(k, v)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => (0.0..1.0f64).prop_map(Edit::Truncate),
    ]
}

fn apply(json: &str, edits: &[Edit]) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut truncate = None;
    for e in edits {
        let mut ps = Vec::new();
        pointers(&v, String::new(), &mut ps);
        match e {
            Edit::Set(k, value) => {
                if let Some(slot) = v.pointer_mut(&ps[k % ps.len()]) {
                    *slot = value.clone();
                }
            }
            Edit::Swap(a, b) => {
                let (pa, pb) = (&ps[a % ps.len()], &ps[b % ps.len()]);
                if pa.starts_with(pb.as_str()) || pb.starts_with(pa.as_str()) {
                    continue;
                }
                let va = v.pointer(pa).cloned();
                let vb = v.pointer(pb).cloned();
                if let (Some(va), Some(vb)) = (va, vb) {
                    *v.pointer_mut(pa).unwrap() = vb;
                    *v.pointer_mut(pb).unwrap() = va;
                }
            }
            Edit::Truncate(f) => truncate = Some(*f),
        }
    }
    let text = v.to_string();
    match truncate {
        Some(f) => text[..(text.len() as f64 * f) as usize].to_string(),
        None => text,
    }
}

fn rows(n: usize) -> Dataset {
    synthesize(&SynthParams {
        n_tracks: n,
        seed: 11,
        ..Default::default()
    })
    .unwrap()
    .0
}

#[test]
fn mutated_artifacts_load_as_valid_models_or_fail_with_an_artifact_error() {
    // Both a dashboard-sized request (raw walk) and a batch (compiled walks).
    let few = rows(10);
    let few = few.subset(&[0, 1, 2]);
    let many = rows(600);
    for family in Family::ALL {
        let valid = artifact_json(family);
        let mut runner = runner(48);
        let strategy = prop::collection::vec(edit(), 1..4);
        runner
            .run(&strategy, |edits| {
                let text = apply(&valid, &edits);
                match Artifact::from_json(&text, Path::new("model.json")) {
                    Err(hitcast::Error::Artifact { path, .. }) => {
                        prop_assert_eq!(path, Path::new("model.json"));
                    }
                    Err(e) => prop_assert!(false, "not an artifact error: {e}"),
                    Ok(a) => {
                        for data in [&few, &many] {
                            // A renamed feature is a typed error, not a panic.
                            if let Ok(p) = a.model.predict_proba(data) {
                                prop_assert!(
                                    p.iter().all(|v| (0.0..=1.0).contains(v)),
                                    "{family}: probabilities outside [0, 1]"
                                );
                            }
                        }
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{family}: {e}"));
    }
}

/// A CSV built from hostile pieces: header names, delimiters, quotes, line endings, numbers.
fn hostile_csv() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        Just("0.5".to_string()),
        Just("120".to_string()),
        Just("1e309".to_string()),
        Just("-1e308".to_string()),
        Just("NaN".to_string()),
        Just("".to_string()),
        Just("\"q\"\"x\"".to_string()),
        Just("\"a\nb\"".to_string()),
        Just("\"open".to_string()),
        Just("1".to_string()),
        Just("0".to_string()),
        "[0-9.e+-]{1,12}",
        "[ -~]{0,6}",
    ];
    let sep = prop_oneof![Just(","), Just(";"), Just("\t")];
    let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n")];
    let header = prop_oneof![
        Just("id,danceability,energy,valence,tempo,target".to_string()),
        Just("uri,danceability,energy,valence,tempo,target,decade".to_string()),
        Just(
            "track_id,track_name,track_artist,track_popularity,danceability,energy,valence,tempo"
                .to_string()
        ),
        Just("tempo,tempo,energy".to_string()),
        "[a-z,]{0,30}",
    ];
    (
        header,
        sep,
        eol,
        prop::collection::vec(prop::collection::vec(cell, 0..9), 0..12),
    )
        .prop_map(|(h, sep, eol, rows)| {
            let mut s = h.replace(',', sep);
            for r in rows {
                s.push_str(eol);
                s.push_str(&r.join(sep));
            }
            s.into_bytes()
        })
}

#[test]
fn random_csvs_ingest_or_fail_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.csv");
    let strategy = prop_oneof![
        3 => hostile_csv(),
        1 => prop::collection::vec(any::<u8>(), 0..400),
    ];
    runner(256)
        .run(&strategy, |bytes| {
            std::fs::write(&path, &bytes).unwrap();
            match ingest(&path, &IngestOptions::default()) {
                Ok(ing) => {
                    let d = &ing.dataset;
                    prop_assert!(d.x.iter().all(|c| c.len() == d.len()));
                    prop_assert!(d.x.iter().flatten().all(|v| v.is_finite()));
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(
                        message.contains("fuzz.csv"),
                        "error without the file: {message}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
