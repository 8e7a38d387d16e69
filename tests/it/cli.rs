use std::path::Path;
use std::process::{Command, Output};

use super::fixture;

pub fn hitcast(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs `hitcast args` in `dir` and asserts that it fails saying `needle`.
fn fails_saying(dir: &Path, args: &[&str], needle: &str) {
    let o = hitcast(dir, args);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(text(&o).contains(needle), "{}", text(&o));
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The subcommands a `--help` text lists under `Commands:` (without `help` itself).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    // The list comes from the binary itself, so a new subcommand cannot be skipped.
    let top = hitcast(dir.path(), &["--help"]);
    assert!(top.status.success());
    let commands = listed_commands(&text(&top));
    assert!(commands.len() >= 10, "{commands:?}");
    let mut checked = 0;
    for command in &commands {
        let o = hitcast(dir.path(), &[command, "--help"]);
        assert!(o.status.success(), "{command}");
        let help = text(&o);
        assert!(help.contains("Usage: hitcast"), "{command}: {help}");
        for sub in listed_commands(&help) {
            let o = hitcast(dir.path(), &[command, &sub, "--help"]);
            assert!(o.status.success(), "{command} {sub}");
            assert!(
                text(&o).contains(&format!("Usage: hitcast {command} {sub}")),
                "{command} {sub}"
            );
            checked += 1;
        }
        checked += 1;
    }
    assert!(commands.iter().any(|c| c == "data") && checked >= commands.len() + 2);
}

#[test]
fn synth_writes_the_same_bytes_for_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let o = hitcast(dir.path(), &["data", "synth", "--rows", "500"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rows 500"));
    let first = std::fs::read(dir.path().join("data/raw_tracks.csv")).unwrap();
    hitcast(
        dir.path(),
        &["data", "synth", "--rows", "500", "--out", "again.csv"],
    );
    assert_eq!(first, std::fs::read(dir.path().join("again.csv")).unwrap());
    hitcast(
        dir.path(),
        &[
            "data",
            "synth",
            "--rows",
            "500",
            "--seed",
            "7",
            "--out",
            "other.csv",
        ],
    );
    assert_ne!(first, std::fs::read(dir.path().join("other.csv")).unwrap());
}

#[test]
fn ingest_prints_a_profile_and_dedupes() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fixture("hit_predictor.csv");
    let o = hitcast(
        dir.path(),
        &["data", "ingest", csv.to_str().unwrap(), "--dedupe"],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("2 rows repeat an earlier `uri`; 2 dropped"),
        "{t}"
    );
    assert!(t.contains("conflicting labels: 1 tracks"), "{t}");
    assert!(t.contains("rows 40, hits"), "{t}");
    assert!(t.contains("danceability"), "{t}");
    assert!(dir.path().join("data/tracks.csv").exists());

    let songs = fixture("spotify_songs.csv");
    let o = hitcast(
        dir.path(),
        &[
            "data",
            "ingest",
            songs.to_str().unwrap(),
            "--label",
            "popularity",
            "--quantile",
            "0.5",
            "--out",
            "songs.csv",
        ],
    );
    assert!(
        text(&o).contains("resolved popularity cut:"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_input_exits_non_zero_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "id,danceability,energy,valence,tempo,target\na,0.5,0.5,0.5,120,1\nb,1.3,0.3,0.2,99,0\n",
    )
    .unwrap();
    let o = hitcast(
        dir.path(),
        &["data", "ingest", "bad.csv", "--out", "out.csv"],
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("bad.csv: row 2 (line 3), column `danceability`"),
        "{t}"
    );
    assert!(!dir.path().join("out.csv").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the input should be there");

    fails_saying(
        dir.path(),
        &["data", "synth", "--hit-rate", "2"],
        "hit_rate",
    );
}

#[test]
fn train_then_predict_writes_one_column_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let o = hitcast(dir.path(), &["train", "--rows", "1500"]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["logistic", "forest", "boost"] {
        assert!(dir.path().join(format!("models/model_{f}.json")).exists());
    }
    hitcast(
        dir.path(),
        &["data", "synth", "--rows", "50", "--seed", "9"],
    );
    let o = hitcast(
        dir.path(),
        &["predict", "data/raw_tracks.csv", "--out", "p.csv"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = std::fs::read_to_string(dir.path().join("p.csv")).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("track_id,p_logistic,p_forest,p_boost"));
    assert_eq!(lines.count(), 50);

    std::fs::write(
        dir.path().join("models/model_boost.json"),
        "{\"schema_version\":",
    )
    .unwrap();
    fails_saying(
        dir.path(),
        &["predict", "data/raw_tracks.csv", "--out", "q.csv"],
        "model_boost.json",
    );
    assert!(!dir.path().join("q.csv").exists());
}

#[test]
fn export_sql_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    fails_saying(
        dir.path(),
        &["export-sql", "--model", "tree", "--dialect", "sqlite"],
        "expected logistic, forest or boost",
    );
    fails_saying(
        dir.path(),
        &["export-sql", "--model", "boost", "--dialect", "oracle"],
        "expected snowflake, bigquery, duckdb, postgres or sqlite",
    );
    fails_saying(
        dir.path(),
        &["export-sql", "--model", "boost", "--dialect", "sqlite"],
        "model_boost.json",
    );

    assert!(hitcast(dir.path(), &["train", "--rows", "800"])
        .status
        .success());
    // An --out that is a folder is refused before the table form's data file is written.
    std::fs::create_dir(dir.path().join("sqlout")).unwrap();
    fails_saying(
        dir.path(),
        &[
            "export-sql",
            "--model",
            "forest",
            "--dialect",
            "duckdb",
            "--form",
            "table",
            "--out",
            "sqlout",
        ],
        "sqlout: is a folder",
    );
    assert!(!dir.path().join("hitcast_forest_trees.csv").exists());
    fails_saying(
        dir.path(),
        &[
            "export-sql",
            "--model",
            "logistic",
            "--dialect",
            "postgres",
            "--columns",
            "danceability,energy,valence",
        ],
        "lacks the model's feature column(s): tempo",
    );
    let o = hitcast(
        dir.path(),
        &[
            "export-sql",
            "--model",
            "logistic",
            "--dialect",
            "duckdb",
            "--out",
            "m.sql",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let sql = std::fs::read_to_string(dir.path().join("m.sql")).unwrap();
    assert!(sql.contains("CREATE OR REPLACE MACRO hitcast_logistic(\"danceability\", \"energy\", \"valence\", \"tempo\")"), "{sql}");

    std::fs::write(dir.path().join("models/model_forest.json"), "garbage").unwrap();
    fails_saying(
        dir.path(),
        &["export-sql", "--model", "forest", "--dialect", "sqlite"],
        "corrupt or truncated",
    );
}

#[test]
fn fetch_without_credentials_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args(["fetch", "--playlist", "37i9dQZEVXbMDoHDwVN2tF"])
        .current_dir(dir.path())
        .env_remove("SPOTIFY_CLIENT_ID")
        .env_remove("SPOTIFY_CLIENT_SECRET")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("data/fetched_tracks.csv").exists());
}

/// The synthetic data takes `--features core` or `all` (fifteen columns); a list of columns
/// is refused rather than silently ignored.
#[test]
fn synthetic_features_are_core_or_all() {
    let dir = tempfile::tempdir().unwrap();
    let o = hitcast(
        dir.path(),
        &[
            "data",
            "synth",
            "--rows",
            "300",
            "--features",
            "all",
            "--out",
            "s.csv",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for f in hitcast::data::ALL_FEATURES {
        assert!(
            header.split(',').any(|c| c == f),
            "{f} missing from {header}"
        );
    }
    for args in [
        &[
            "data",
            "synth",
            "--features",
            "tempo,energy",
            "--out",
            "t.csv",
        ][..],
        &["report", "--features", "tempo,energy", "--out", "r"][..],
    ] {
        fails_saying(dir.path(), args, "the synthetic data takes `core`");
    }
    assert!(!dir.path().join("t.csv").exists() && !dir.path().join("r").exists());
}
