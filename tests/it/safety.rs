//! Hostile input (issue 16): outputs never destroy what HitCast did not make, and every
//! artifact is validated before it scores anything.

use std::path::Path;
use std::process::Output;

use hitcast::data::{synthesize, Dataset, SynthParams};
use hitcast::model::{Artifact, BoostParams, Family, ForestParams, ModelParams, Trained};
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
                format!("tree 0, node {i} splits on feature 4, but features are numbered 0 to 3"),
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

/// The fuzz cases that failed (`HITCAST_FUZZ_CASES=20000 HITCAST_FUZZ_SEED=S cargo test
/// --test it fuzz`, seed: edits): two finite but huge parameters made one term +∞ and another
/// −∞, and the logistic model scored NaN with exit 0. Each artifact is valid (every number
/// finite, scales positive), so it must load and score in [0, 1].
#[test]
fn logistic_terms_that_overflow_still_score_in_0_1() {
    let a = artifact_json(Family::Logistic);
    let data = synth(600);
    for (seed, edits) in [
        (
            3,
            [
                ("/model/coefficients/0", 1e308),
                ("/model/coefficients/3", 1e308),
            ],
        ),
        (
            9,
            [
                ("/model/scales/2", 1e-320),
                ("/model/coefficients/1", -1e308),
            ],
        ),
        (
            11,
            [("/model/means/0", 1e308), ("/model/coefficients/3", -1e308)],
        ),
        (
            12,
            [
                ("/model/coefficients/0", -1e308),
                ("/model/coefficients/3", 1e308),
            ],
        ),
        (
            15,
            [
                ("/model/coefficients/0", -1e308),
                ("/model/coefficients/3", -1e308),
            ],
        ),
        (
            20,
            [
                ("/model/coefficients/1", 1e308),
                ("/model/scales/0", 1e-320),
            ],
        ),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&a).unwrap();
        for (pointer, value) in edits {
            *v.pointer_mut(pointer).unwrap() = serde_json::json!(value);
        }
        let m = Artifact::from_json(&v.to_string(), Path::new("m.json"))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"))
            .model;
        let p = m.predict_proba(&data).unwrap();
        let bad: Vec<f64> = p.into_iter().filter(|v| !(0.0..=1.0).contains(v)).collect();
        assert!(
            bad.is_empty(),
            "seed {seed}: {} outside [0, 1]: {:?}",
            bad.len(),
            &bad[..bad.len().min(3)]
        );
        // The dashboard's one-row path too.
        let p = m.predict_proba_one(&[0.9, 0.1, 0.5, 60.0]);
        assert!((0.0..=1.0).contains(&p), "seed {seed}: one row {p}");
    }
    // A valid model on data far outside its training range: danceability 1e308 and energy
    // −1e308 give terms +∞ and −∞ (library callers can pass any finite value).
    let m = Artifact::from_json(&a, Path::new("m.json")).unwrap().model;
    let mut d = synth(50);
    d.x[0].iter_mut().for_each(|v| *v = 1e308);
    d.x[1].iter_mut().for_each(|v| *v = -1e308);
    let p = m.predict_proba(&d).unwrap();
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{:?}", &p[..3]);
}

/// 40,000 one-split trees claiming feature 4095 (2.5 MB of JSON): validation refuses them
/// before memory follows the claim. Compiling used to allocate a vector per tree and claimed
/// feature first (4 GB here), so under a 1.5 GB address-space limit `predict` aborted with
/// exit 134 instead of naming the file, the tree and the node.
#[cfg(target_os = "linux")]
#[test]
fn an_artifact_is_refused_before_memory_follows_its_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut v: serde_json::Value = serde_json::from_str(&artifact_json(Family::Forest)).unwrap();
    let tree =
        serde_json::json!({"feature": [4095, 0, 0], "left": [1, 0, 0], "value": [0.5, 0.25, 0.75]});
    v["model"]["trees"] = serde_json::Value::Array(vec![tree; 40_000]);
    std::fs::create_dir(d.join("m")).unwrap();
    std::fs::write(d.join("m/model_forest.json"), v.to_string()).unwrap();
    std::fs::copy(super::fixture("tracks.csv"), d.join("t.csv")).unwrap();
    let limited = |models: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 1500000 && exec {} predict t.csv --models {models} --out p.csv",
                env!("CARGO_BIN_EXE_hitcast")
            ))
            .current_dir(d)
            .output()
            .unwrap()
    };
    let o = limited("m");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("model_forest.json: inconsistent model: tree 0, node 0 splits on feature 4095, but features are numbered 0 to 3"),
        "{}",
        text(&o)
    );
    assert!(!d.join("p.csv").exists());
    // The limit leaves room for real work: a valid model scores under it.
    std::fs::create_dir(d.join("ok")).unwrap();
    std::fs::write(
        d.join("ok/model_forest.json"),
        artifact_json(Family::Forest),
    )
    .unwrap();
    let o = limited("ok");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
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

/// The Hit Predictor fixture in `dir` as `d.csv`, with the label of each data row of the file
/// and the rows ingest keeps (the first of each track id).
fn split_fixture(dir: &Path) -> (Vec<u8>, Vec<usize>) {
    use hitcast::data::{ingest, IngestOptions};
    let path = dir.join("d.csv");
    std::fs::copy(super::fixture("hit_predictor.csv"), &path).unwrap();
    let all = ingest(
        &path,
        &IngestOptions {
            dedupe: false,
            ..Default::default()
        },
    )
    .unwrap();
    let kept = ingest(&path, &IngestOptions::default())
        .unwrap()
        .source_rows;
    (all.dataset.y, kept)
}

/// A split file `name` in `dir` with the test flag of every data row `0..n`.
fn write_split(dir: &Path, name: &str, n: usize, is_test: impl Fn(usize) -> bool) {
    let mut csv = String::from("row,is_test\n");
    for i in 0..n {
        csv.push_str(&format!("{i},{}\n", u8::from(is_test(i))));
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

/// Runs `hitcast args` in `dir`, asserts exit 1 with `want` in the message and that `out`
/// (the command's output folder) was not written.
fn refused(dir: &Path, args: &[&str], out: &str, want: &str) {
    let o = hitcast(dir, args);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
    assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    assert!(!dir.join(out).exists(), "{args:?} wrote {out}");
}

#[test]
fn a_split_leaving_a_part_without_a_class_names_the_file_part_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (y, kept) = split_fixture(d);
    let n = y.len();
    let count = |f: &dyn Fn(usize) -> bool, class: u8| {
        kept.iter().filter(|&&i| f(i) && y[i] == class).count()
    };
    // Test part: every third non-hit and no hit.
    let no_hits = |i: usize| y[i] == 0 && i.is_multiple_of(3);
    write_split(d, "nohits.csv", n, no_hits);
    let want = format!(
        "nohits.csv: the test part (is_test = 1) has 0 hits and {} non-hits (of the {} rows kept); it needs both classes",
        count(&no_hits, 0),
        kept.len()
    );
    for args in [
        vec![
            "train",
            "--data",
            "d.csv",
            "--split-file",
            "nohits.csv",
            "--models",
            "m",
        ],
        vec![
            "report",
            "--data",
            "d.csv",
            "--split-file",
            "nohits.csv",
            "--out",
            "m",
        ],
    ] {
        refused(d, &args, "m", &want);
    }
    // Training part: the hits and nothing else.
    let non_hits_tested = |i: usize| y[i] == 0;
    write_split(d, "onlyhits.csv", n, non_hits_tested);
    let want = format!(
        "onlyhits.csv: the training part (is_test = 0) has {} hits and 0 non-hits",
        count(&|i| !non_hits_tested(i), 1)
    );
    refused(
        d,
        &[
            "train",
            "--data",
            "d.csv",
            "--split-file",
            "onlyhits.csv",
            "--models",
            "m",
        ],
        "m",
        &want,
    );
    // Every row a test row: an empty training part.
    write_split(d, "alltest.csv", n, |_| true);
    refused(
        d,
        &[
            "train",
            "--data",
            "d.csv",
            "--split-file",
            "alltest.csv",
            "--models",
            "m",
        ],
        "m",
        "alltest.csv: the training part (is_test = 0) has 0 hits and 0 non-hits",
    );
    // The same split as a column of the data file names the file and the column.
    let text = std::fs::read_to_string(d.join("d.csv")).unwrap();
    let mut with_column = String::new();
    for (i, line) in text.lines().enumerate() {
        let flag = match i {
            0 => "is_test".to_string(),
            r => u8::from(no_hits(r - 1)).to_string(),
        };
        with_column.push_str(&format!("{line},{flag}\n"));
    }
    std::fs::write(d.join("dcol.csv"), with_column).unwrap();
    refused(
        d,
        &[
            "train",
            "--data",
            "dcol.csv",
            "--split-column",
            "is_test",
            "--models",
            "m",
        ],
        "m",
        "dcol.csv, column `is_test`: the test part (is_test = 1) has 0 hits and",
    );
    // Test groups that hold one class name the groups.
    let o = hitcast(
        d,
        &[
            "report",
            "--data",
            "d.csv",
            "--test-group",
            "1960",
            "--out",
            "m",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", super::cli::text(&o));
    assert!(
        super::cli::text(&o).contains("test groups 1960: the test part (those groups) has"),
        "{}",
        super::cli::text(&o)
    );
}

#[test]
fn a_split_too_small_for_folds_or_early_stopping_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (y, kept) = split_fixture(d);
    // Training part: three hits (kept rows) and most non-hits; the rest is tested.
    let hits: Vec<usize> = kept.iter().copied().filter(|&i| y[i] == 1).collect();
    let non_hits: Vec<usize> = kept.iter().copied().filter(|&i| y[i] == 0).collect();
    let test: Vec<usize> = hits[3..].iter().chain(&non_hits[..5]).copied().collect();
    write_split(d, "threehits.csv", y.len(), |i| test.contains(&i));
    let train_non_hits = non_hits.len() - 5;
    let part =
        format!("threehits.csv: the training part has 3 hits and {train_non_hits} non-hits: ");
    refused(
        d,
        &[
            "report",
            "--data",
            "d.csv",
            "--split-file",
            "threehits.csv",
            "--out",
            "r",
        ],
        "r",
        &format!(
            "{part}5-fold cross-validation needs at least 5 tracks of each class; class 1 has 3"
        ),
    );
    // With folds that fit, boosting's early-stopping holdout is what 3 hits cannot feed; no
    // artifact of the families that did train is left behind.
    let boost = format!(
        "{part}gradient boosting's early stopping: cannot hold out 0.1 of class 1: it has 3 tracks"
    );
    refused(
        d,
        &[
            "report",
            "--data",
            "d.csv",
            "--split-file",
            "threehits.csv",
            "--folds",
            "3",
            "--out",
            "r",
        ],
        "r",
        &boost,
    );
    refused(
        d,
        &[
            "train",
            "--data",
            "d.csv",
            "--split-file",
            "threehits.csv",
            "--models",
            "m",
        ],
        "m",
        &boost,
    );
}

#[test]
fn malformed_split_files_name_the_file_row_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (y, _) = split_fixture(d);
    let n = y.len();
    let rows = |edit: &dyn Fn(usize) -> Option<String>| {
        let mut csv = String::from("row,is_test\n");
        for i in 0..n {
            match edit(i) {
                Some(line) => csv.push_str(&line),
                None => csv.push_str(&format!("{i},{}", u8::from(i % 3 == 0))),
            }
            csv.push('\n');
        }
        csv
    };
    let cases: Vec<(&str, String, String)> = vec![
        (
            "missing.csv",
            rows(&|_| None).replacen("\n5,0\n", "\n", 1),
            "missing.csv: column `row` has no entry for data row 5 of d.csv (rows count from 0)"
                .into(),
        ),
        (
            "two.csv",
            rows(&|i| (i == 7).then(|| "7,2".into())),
            "two.csv: row 8 (line 9), column `is_test`: `2` is not 0 or 1 (1 marks a test row)"
                .into(),
        ),
        (
            "yes.csv",
            rows(&|i| (i == 7).then(|| "7,yes".into())),
            "yes.csv: row 8 (line 9), column `is_test`: `yes` is not 0 or 1".into(),
        ),
        (
            "half.csv",
            rows(&|i| (i == 3).then(|| "3,0.5".into())),
            "half.csv: row 4 (line 5), column `is_test`: `0.5` is not 0 or 1".into(),
        ),
        (
            "empty_flag.csv",
            rows(&|i| (i == 3).then(|| "3,".into())),
            "empty_flag.csv: row 4 (line 5), column `is_test`: empty cell".into(),
        ),
        (
            "dup.csv",
            rows(&|_| None) + "4,1\n",
            format!(
                "dup.csv: row {} (line {}), column `row`: data row 4 is listed twice (first on row 5, line 6)",
                n + 1,
                n + 2
            ),
        ),
        (
            "beyond.csv",
            rows(&|_| None) + "9999,1\n",
            format!(
                "beyond.csv: row {} (line {}), column `row`: data row 9999 does not exist: d.csv has {n} data rows (0–{})",
                n + 1,
                n + 2,
                n - 1
            ),
        ),
        (
            "fraction.csv",
            rows(&|i| (i == 3).then(|| "3.5,0".into())),
            "fraction.csv: row 4 (line 5), column `row`: `3.5` is not a whole row number".into(),
        ),
        (
            "negative.csv",
            rows(&|i| (i == 0).then(|| "-1,0".into())),
            "negative.csv: row 1 (line 2), column `row`: -1 is outside the valid range".into(),
        ),
        (
            "nocolumn.csv",
            rows(&|_| None).replacen("row,is_test", "row,test", 1),
            "nocolumn.csv: missing column `is_test` (header has: row, test)".into(),
        ),
        (
            "headeronly.csv",
            "row,is_test\n".into(),
            "headeronly.csv: the file has no data rows".into(),
        ),
        ("empty.csv", String::new(), "empty.csv: the file has no data rows".into()),
    ];
    for (name, csv, want) in cases {
        std::fs::write(d.join(name), csv).unwrap();
        for (command, out_flag) in [("train", "--models"), ("report", "--out")] {
            refused(
                d,
                &[
                    command,
                    "--data",
                    "d.csv",
                    "--split-file",
                    name,
                    out_flag,
                    "o",
                ],
                "o",
                &want,
            );
        }
    }
}
