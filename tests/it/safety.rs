//! Hostile input (issue 16): outputs never destroy what HitCast did not make, and every
//! artifact is validated before it scores anything.

use std::path::Path;
use std::process::Output;

use hitcast::data::{synthesize, Dataset, SynthParams};
use hitcast::model::{Artifact, BoostParams, Family, ForestParams, Model, ModelParams, Trained};
use hitcast::Error;

use super::cli::{hitcast, text};

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const SMALL_REPORT: [&str; 7] = ["report", "--rows", "1200", "--folds", "3", "--repeats", "1"];

fn report_into(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = SMALL_REPORT.to_vec();
    args.extend(["--out", out]);
    args.extend(extra);
    hitcast(dir, &args)
}

#[test]
fn report_refuses_a_folder_it_did_not_write_and_keeps_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("mysrc");
    std::fs::create_dir_all(src.join("nested")).unwrap();
    std::fs::write(src.join("main.rs"), "fn main() {}").unwrap();
    std::fs::write(src.join("nested/thesis.txt"), "years of work").unwrap();

    let o = report_into(dir.path(), "mysrc", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("mysrc") && t.contains("did not write") && t.contains("--force"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(src.join("main.rs")).unwrap(),
        "fn main() {}"
    );
    assert_eq!(
        std::fs::read_to_string(src.join("nested/thesis.txt")).unwrap(),
        "years of work"
    );
    // Nothing beside it either: no temporary or old copies.
    assert_eq!(listing(dir.path()), ["mysrc"]);
}

#[test]
fn report_refuses_a_file_and_a_folder_holding_its_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let o = report_into(dir.path(), "notes.txt", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("is a file, not a folder"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(listing(dir.path()), ["notes.txt"]);

    // The data lives inside --out: replacing the folder would delete it, even with --force.
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(super::fixture("tracks.csv"), dir.path().join("data/t.csv")).unwrap();
    let o = hitcast(
        dir.path(),
        &["report", "--data", "data/t.csv", "--out", "data", "--force"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("holds this command's input"),
        "{}",
        text(&o)
    );
    assert!(dir.path().join("data/t.csv").exists());
}

#[test]
fn report_replaces_only_its_own_folder_and_force_means_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let o = report_into(dir.path(), "empty", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("empty");
    assert!(out.join(hitcast::atomic::MARKER).exists());
    assert!(out.join("metrics.json").exists());
    let first = std::fs::read(out.join("metrics.json")).unwrap();

    // A second run replaces its own report whole (a stray file inside goes with it).
    std::fs::write(out.join("stale.svg"), "old").unwrap();
    let o = report_into(dir.path(), "empty", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!out.join("stale.svg").exists());
    assert_eq!(std::fs::read(out.join("metrics.json")).unwrap(), first);

    // --force replaces a folder HitCast did not write.
    std::fs::create_dir(dir.path().join("theirs")).unwrap();
    std::fs::write(dir.path().join("theirs/x.txt"), "x").unwrap();
    let o = report_into(dir.path(), "theirs", &["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dir.path().join("theirs/x.txt").exists());
    assert!(dir.path().join("theirs/REPORT.md").exists());
    assert_eq!(listing(dir.path()), ["empty", "theirs"]);
}

#[cfg(unix)]
#[test]
fn a_read_only_old_report_leaves_no_old_copy_behind() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let o = report_into(dir.path(), "r", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let figures = dir.path().join("r/figures");
    std::fs::set_permissions(&figures, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = report_into(dir.path(), "r", &[]);
    // Either refused up front with the old report intact, or (as root, whom permissions do
    // not stop) replaced; never a `.r.old…` folder left behind.
    if !o.status.success() {
        assert!(text(&o).contains("read-only"), "{}", text(&o));
        assert!(figures.join("roc.svg").exists());
    }
    let _ = std::fs::set_permissions(&figures, std::fs::Permissions::from_mode(0o755));
    assert_eq!(listing(dir.path()), ["r"]);
}

#[test]
fn commands_refuse_to_overwrite_their_own_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::copy(super::fixture("tracks.csv"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    for args in [
        vec!["data", "ingest", "in.csv", "--out", "in.csv"],
        vec!["data", "ingest", "in.csv", "--out", "./sub/../in.csv"],
        vec!["predict", "in.csv", "--out", "in.csv"],
    ] {
        let o = hitcast(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("is this command's input"),
            "{args:?}: {}",
            text(&o)
        );
        assert_eq!(std::fs::read(&input).unwrap(), before, "{args:?}");
    }
}

fn synth(n: usize) -> Dataset {
    synthesize(&SynthParams {
        n_tracks: n,
        ..Default::default()
    })
    .unwrap()
    .0
}

/// A small valid artifact of `family` as JSON.
pub fn artifact_json(family: Family) -> String {
    let d = synth(600);
    let rows: Vec<usize> = (0..d.len()).collect();
    let params = ModelParams {
        forest: ForestParams {
            n_trees: 3,
            max_depth: 4,
            ..Default::default()
        },
        boost: BoostParams {
            n_rounds: 3,
            max_depth: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let m = Trained::fit(family, &d, &rows, &params, 3).unwrap();
    Artifact::new(m, &d, &rows, &params, 3).to_json()
}

/// Edits the JSON value at `pointer` and returns the load error's text.
fn load_edited(json: &str, pointer: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = value;
    let path = Path::new("models/model_x.json");
    match Artifact::from_json(&v.to_string(), path) {
        Ok(_) => panic!("{pointer} edit accepted"),
        Err(e @ Error::Artifact { .. }) => e.to_string(),
        Err(e) => panic!("{pointer}: not an artifact error: {e}"),
    }
}

/// The first internal node of the first tree.
fn first_split(json: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let left = v
        .pointer("/model/trees/0/left")
        .unwrap()
        .as_array()
        .unwrap();
    left.iter().position(|l| l.as_u64() != Some(0)).unwrap()
}

#[test]
fn crafted_tree_artifacts_are_refused_naming_file_tree_and_node() {
    for family in [Family::Forest, Family::Boost] {
        let a = artifact_json(family);
        let i = first_split(&a);
        let feature = format!("/model/trees/0/feature/{i}");
        for (pointer, value, want) in [
            // One past the last feature: read the next row's values before this check.
            (
                feature.as_str(),
                serde_json::json!(4),
                format!("tree 0, node {i}: splits on feature 4"),
            ),
            // Would have allocated 96 GiB in the compiled scorer.
            (
                feature.as_str(),
                serde_json::json!(4294967295u64),
                format!("tree 0, node {i} splits on feature 4294967295"),
            ),
            (
                "/model/trees",
                serde_json::json!([]),
                "no trees".to_string(),
            ),
            (
                "/model/trees/1/left",
                serde_json::json!([1, 0]),
                "tree 1, the tree's arrays differ in length".to_string(),
            ),
        ] {
            let err = load_edited(&a, pointer, value);
            assert!(
                err.contains("models/model_x.json") && err.contains(&want),
                "{family} {pointer}: {err}"
            );
        }
    }
    // Leaves outside what the family produces.
    let forest = artifact_json(Family::Forest);
    let v: serde_json::Value = serde_json::from_str(&forest).unwrap();
    let left = v
        .pointer("/model/trees/0/left")
        .unwrap()
        .as_array()
        .unwrap();
    let leaf = left.iter().position(|l| l.as_u64() == Some(0)).unwrap();
    let err = load_edited(
        &forest,
        &format!("/model/trees/0/value/{leaf}"),
        serde_json::json!(7.5),
    );
    assert!(
        err.contains(&format!(
            "tree 0, node {leaf}: leaf value 7.5 is outside 0–1"
        )),
        "{err}"
    );
}

#[test]
fn crafted_logistic_artifacts_are_refused() {
    let a = artifact_json(Family::Logistic);
    for (pointer, value, want) in [
        (
            "/model/coefficients",
            serde_json::json!([1.0, 2.0]),
            "`coefficients` has 2 values for 4 features",
        ),
        (
            "/model/means",
            serde_json::json!([0.0, 0.0, 0.0, 0.0, 0.0]),
            "`means` has 5 values",
        ),
        (
            "/model/scales/2",
            serde_json::json!(0.0),
            "`scales`[2] = 0 must be positive",
        ),
        ("/model/intercept", serde_json::json!("NaN"), "malformed"),
    ] {
        let err = load_edited(&a, pointer, value);
        assert!(err.contains(want), "{pointer}: {err}");
    }
}

#[test]
fn a_model_in_another_familys_slot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model_boost.json"),
        artifact_json(Family::Forest),
    )
    .unwrap();
    let err = Artifact::load_family(dir.path(), Family::Boost)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model_boost.json") && err.contains("holds a forest model"),
        "{err}"
    );
    // The CLI refuses it too instead of writing two forest columns.
    std::fs::copy(super::fixture("tracks.csv"), dir.path().join("t.csv")).unwrap();
    let o = hitcast(dir.path(), &["predict", "t.csv", "--models", "."]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("holds a forest model"), "{}", text(&o));
}

#[test]
fn a_valid_artifact_still_scores_after_validation() {
    for family in Family::ALL {
        let a = Artifact::from_json(&artifact_json(family), Path::new("m.json")).unwrap();
        let p = a.model.predict_proba(&synth(50)).unwrap();
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{family}");
    }
}

/// Writes `bytes` as `name` in `dir` and runs `data ingest` on it.
fn ingest_bytes(dir: &Path, name: &str, bytes: &[u8], extra: &[&str]) -> Output {
    std::fs::write(dir.join(name), bytes).unwrap();
    let mut args = vec!["data", "ingest", name, "--out", "out.csv"];
    args.extend(extra);
    hitcast(dir, &args)
}

#[test]
fn ingest_errors_name_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        (
            "semi.csv",
            b"id;danceability;energy;valence;tempo;target\na;0,5;0,5;0,5;120;1\n".to_vec(),
            vec![],
            "semi.csv: cannot read CSV: the header has one column when split at the comma delimiter: this looks like a semicolon-separated file: use --delimiter ';'",
        ),
        (
            "ragged.csv",
            b"id,danceability,energy,valence,tempo,target\na,0.5,0.5,0.5,120,1\nb,0.5,0.5,0.5,120,1,extra\n".to_vec(),
            vec![],
            "ragged.csv: row 2 (line 3): has 7 fields, but the header has 6",
        ),
        (
            // The bad cell sits on line 8: two quoted newlines and a blank line come first.
            "quoted.csv",
            b"id,track_name,danceability,energy,valence,tempo,target\na,\"one\ntwo\",0.5,0.5,0.5,120,1\nb,\"x\ny\",0.5,0.5,0.5,120,0\n\nc,ok,0.5,0.5,0.5,fast,1\n".to_vec(),
            vec![],
            "quoted.csv: row 3 (line 7), column `tempo`: `fast` is not a number",
        ),
        (
            "dup.csv",
            b"id,tempo,danceability,energy,valence,tempo,target\na,1,0.5,0.5,0.5,120,1\n".to_vec(),
            vec![],
            "column `tempo` appears twice in the header (columns 2 and 6)",
        ),
        (
            "gz.csv.gz",
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0],
            vec![],
            "gzip-compressed file, not a CSV: decompress it first",
        ),
        (
            "latin1.csv",
            b"id,track_name,danceability,energy,valence,tempo,target\na,caf\xe9,0.5,0.5,0.5,120,1\n".to_vec(),
            vec![],
            "latin1.csv: row 1 (line 2): column `track_name` is not valid UTF-8 text",
        ),
        (
            "fine.csv",
            b"id,danceability,energy,valence,tempo,target\na,0.5,0.5,0.5,120,1\n".to_vec(),
            vec!["--features", "tempo,energy,tempo"],
            "feature `tempo` is listed twice (positions 1 and 3)",
        ),
    ];
    for (name, bytes, extra, want) in cases {
        let o = ingest_bytes(d, name, &bytes, &extra);
        assert_eq!(
            o.status.code(),
            Some(if extra.is_empty() { 1 } else { 2 }),
            "{name}: {}",
            text(&o)
        );
        assert!(text(&o).contains(want), "{name}: {}", text(&o));
        assert!(!d.join("out.csv").exists(), "{name}");
    }
    // With the flag the semicolon file reads (decimal commas are then a cell error with
    // its position, not a parser message).
    let o = hitcast(
        d,
        &[
            "data",
            "ingest",
            "semi.csv",
            "--delimiter",
            ";",
            "--out",
            "o.csv",
        ],
    );
    assert!(
        text(&o).contains("semi.csv: row 1 (line 2), column `danceability`: `0,5` is not a number"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_os_error_is_printed_once_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let o = hitcast(dir.path(), &["data", "ingest", "missing.csv"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("missing.csv: No such file or directory"), "{t}");
    assert_eq!(t.matches("No such file").count(), 1, "{t}");
}

#[test]
fn bad_flags_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(super::fixture("tracks.csv"), dir.path().join("t.csv")).unwrap();
    for (args, want) in [
        (vec!["report", "--rows", "abc"], "invalid value 'abc'"),
        (vec!["report", "--rows", "0", "--out", "r"], "n_tracks"),
        (
            vec!["report", "--rows", "100000000000000", "--out", "r"],
            "n_tracks",
        ),
        (
            vec!["report", "--test-fraction", "1.5", "--out", "r"],
            "test_fraction",
        ),
        (
            vec!["report", "--folds", "1", "--rows", "500", "--out", "r"],
            "cv_folds",
        ),
        (
            vec!["report", "--repeats", "100000000", "--out", "r"],
            "permutation_repeats",
        ),
        (
            vec!["data", "ingest", "t.csv", "--delimiter", "ab"],
            "expected one ASCII character",
        ),
        (
            vec!["data", "ingest", "t.csv", "--quantile", "7"],
            "quantile",
        ),
        (
            vec!["data", "ingest", "t.csv", "--features", ","],
            "comma-separated list",
        ),
        (vec!["data", "synth", "--hit-rate=-1"], "hit_rate"),
        (vec!["predict", "t.csv", "--models", "nowhere"], "nowhere"),
    ] {
        let o = hitcast(dir.path(), &args);
        let code = o.status.code();
        assert!(
            matches!(code, Some(1 | 2)),
            "{args:?}: exit {code:?}: {}",
            text(&o)
        );
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{args:?}: {}", text(&o));
    }
    assert!(!dir.path().join("r").exists());
}
