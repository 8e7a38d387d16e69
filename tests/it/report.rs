use std::collections::BTreeMap;
use std::process::Command;

use hitcast::data::{DataSource, SplitOptions, SynthParams};
use hitcast::model::{BoostParams, ForestParams, ModelParams};
use hitcast::report::{build, render_markdown, write, ReportOptions};
use sha2::{Digest, Sha256};

fn small() -> (hitcast::report::Report, hitcast::report::Figures) {
    let source = DataSource::Synthetic(SynthParams {
        n_tracks: 1500,
        ..Default::default()
    });
    let prepared = source.prepare(&SplitOptions::default(), 42).unwrap();
    let options = ReportOptions {
        cv_folds: 3,
        permutation_repeats: 2,
        params: ModelParams {
            forest: ForestParams {
                n_trees: 30,
                ..Default::default()
            },
            boost: BoostParams {
                n_rounds: 50,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    build(&prepared, "synthetic", 42, &options, &|_| {}).unwrap()
}

/// Floats rounded to 6 significant decimals so a snapshot shows real changes, not noise in
/// the last bit.
fn rounded(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            serde_json::json!((x * 1e6).round() / 1e6)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

#[test]
fn metrics_json_snapshot() {
    let (report, _) = small();
    let mut value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    // Partial-dependence grids are long; the figures' hashes below guard them.
    for m in value["models"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("partial_dependence");
    }
    insta::assert_json_snapshot!("metrics_json", rounded(value));
}

#[test]
fn report_markdown_snapshot() {
    let (report, figures) = small();
    insta::assert_snapshot!("report_md", render_markdown(&report, &figures));
}

/// Every figure's bytes are pinned by hash: a changed figure is a snapshot diff to review.
#[test]
fn figure_hashes_snapshot() {
    let (_, figures) = small();
    let hashes: BTreeMap<&String, String> = figures
        .iter()
        .map(|(name, svg)| {
            assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{name}");
            (name, format!("{:x}", Sha256::digest(svg.as_bytes())))
        })
        .collect();
    insta::assert_json_snapshot!("figure_hashes", hashes);
}

#[test]
fn report_is_byte_identical_across_runs_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(small);
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(small);
    write(&dir.path().join("a"), &one.0, &one.1).unwrap();
    write(&dir.path().join("b"), &many.0, &many.1).unwrap();
    for file in [
        "metrics.json",
        "REPORT.md",
        "report.html",
        "figures/roc.svg",
        "figures/partial_dependence_tempo.svg",
    ] {
        let a = std::fs::read(dir.path().join("a").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("b").join(file)).unwrap();
        assert!(a == b, "{file} differs between 1 and 4 threads");
    }
    let html = std::fs::read_to_string(dir.path().join("a/report.html")).unwrap();
    assert!(
        html.contains("<svg") && !html.contains("src=\"http"),
        "self-contained HTML"
    );
    assert!(
        !html.contains(dir.path().to_str().unwrap()),
        "no absolute paths"
    );
}

#[test]
fn writing_into_an_unwritable_place_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (report, figures) = small();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let err = write(&blocker.join("reports"), &report, &figures).unwrap_err();
    assert!(err.to_string().contains("file"), "{err}");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "not a folder");
}

#[test]
fn too_small_for_k_folds_is_a_clear_error() {
    let source = DataSource::Synthetic(SynthParams {
        n_tracks: 120,
        hit_rate: 0.05,
        ..Default::default()
    });
    let p = source.prepare(&SplitOptions::default(), 1).unwrap();
    let hits = p
        .split
        .train
        .iter()
        .filter(|&&i| p.dataset.y[i] == 1)
        .count();
    assert!((1..10).contains(&hits), "{hits} training hits");
    let options = ReportOptions {
        cv_folds: 10,
        ..Default::default()
    };
    // Said before any model trains, as a split error a caller can match.
    match build(&p, "synthetic", 1, &options, &|_| {}) {
        Err(hitcast::Error::Split(m)) => assert_eq!(
            m,
            format!(
                "10-fold cross-validation needs at least 10 tracks of each class; class 1 has {hits}"
            )
        ),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn cli_summary_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args([
            "report",
            "--rows",
            "1500",
            "--folds",
            "3",
            "--repeats",
            "2",
            "--out",
            "r",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("r/metrics.json").exists());
    assert!(dir.path().join("r/figures/roc.svg").exists());
    insta::assert_snapshot!("cli_report_summary", String::from_utf8_lossy(&out.stdout));
}
