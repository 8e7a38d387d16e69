//! Warehouse scoring at scale: 1 million rows scored in DuckDB (its CLI, `HITCAST_DUCKDB` or
//! `duckdb` on the PATH) with each default model in each form, beside the library's own batch
//! scoring. Run with `cargo bench --bench sql`; results go to docs/benchmarks.md.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use hitcast::data::{stratified_holdout, synthesize, SynthParams};
use hitcast::model::{Family, ModelParams, Trained};
use hitcast::sql::{export, Dialect, Form};

/// Runs `script` in the DuckDB CLI with `.timer on`; returns each statement's real time (s)
/// and the output.
fn duckdb(dir: &std::path::Path, script: &str) -> (Vec<f64>, String) {
    let bin = std::env::var("HITCAST_DUCKDB").unwrap_or_else(|_| "duckdb".into());
    let mut child = Command::new(bin)
        .args(["-batch", "-bail", "-csv"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the duckdb CLI runs (set HITCAST_DUCKDB)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!(".timer on\n{script}").as_bytes())
        .expect("script");
    drop(stdin);
    let out = child.wait_with_output().expect("duckdb");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times = text
        .lines()
        .filter_map(|l| l.strip_prefix("Run Time (s): real "))
        .map(|l| {
            l.split_whitespace()
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0)
        })
        .collect();
    (times, text)
}

fn main() {
    let rows = 1_000_000;
    let (train, _) = synthesize(&SynthParams::default()).expect("synthetic data");
    let split = stratified_holdout(&train.y, 0.25, 42).expect("split");
    let (big, _) = synthesize(&SynthParams {
        n_tracks: rows,
        seed: 7,
        ..Default::default()
    })
    .expect("scoring data");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = big.feature_names.join(",");
    csv.push('\n');
    for i in 0..big.len() {
        let r: Vec<String> = big.row(i).iter().map(|v| format!("{v:?}")).collect();
        csv.push_str(&r.join(","));
        csv.push('\n');
    }
    std::fs::write(dir.path().join("tracks.csv"), csv).expect("tracks.csv");
    let load = "CREATE TABLE tracks AS SELECT * FROM read_csv('tracks.csv', header = true);\n";
    println!(
        "| model | form | SQL | create | score 1M rows (summed) | into a table | DuckDB rows/s (summed) | library rows/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for family in Family::ALL {
        let model =
            Trained::fit(family, &train, &split.train, &ModelParams::default(), 42).expect("fit");
        let t = Instant::now();
        let lib: f64 = model.predict_proba(&big).expect("predict").iter().sum();
        let lib_s = t.elapsed().as_secs_f64();
        for form in [Form::Inline, Form::Table] {
            if family == Family::Logistic && form == Form::Table {
                continue;
            }
            let e = export(&model, Dialect::DuckDb, form, "tracks").expect("export");
            if family == Family::Forest && form == Form::Inline {
                // 755 s to create the macro, 3 rows/s (measured; docs/benchmarks.md).
                println!(
                    "| {family} | inline | {:.1} MB | not run | not run | not run | ~3 | {:.0} |",
                    e.sql.len() as f64 / 1e6,
                    rows as f64 / lib_s
                );
                continue;
            }
            if let Some(d) = &e.data {
                std::fs::write(dir.path().join(&d.file_name), &d.contents).expect("data");
            }
            // The last statement is the scoring SELECT: keep its rows in a table.
            let mut statements: Vec<&str> = e
                .sql
                .split(";\n\n")
                .filter(|s| !s.trim().is_empty())
                .collect();
            let select = statements.pop().expect("a SELECT");
            // Scored twice: summed (every row scored, nothing stored, as a quick check
            // would) and stored as a table (as a deployment would).
            let script = format!(
                "{load}{};\nSELECT SUM({out}) AS total, COUNT(*) AS n FROM (\n{select}\n) q;\nCREATE TABLE scored AS\n{select};\nSELECT SUM({out}) AS total, COUNT(*) AS n FROM scored;\nDROP TABLE scored;\nDROP TABLE tracks;\n",
                statements.join(";\n"),
                out = hitcast::sql::output_column(family)
            );
            let (times, out) = duckdb(dir.path(), &script);
            // Times: tracks load, the export's statements, summed scoring, stored scoring,
            // check, drops.
            let k = statements.len();
            let create: f64 = times[1..1 + k].iter().sum();
            let score = times[1 + k];
            let stored = times[2 + k];
            let totals: Vec<f64> = out
                .lines()
                .filter_map(|l| {
                    let (a, n) = l.split_once(',')?;
                    (n.trim() == rows.to_string()).then(|| a.parse().ok())?
                })
                .collect();
            assert_eq!(totals.len(), 2, "two check rows: {out}");
            for total in totals {
                assert!(
                    (total - lib).abs() < 1e-6 * rows as f64,
                    "{family} {form}: {total} vs {lib}"
                );
            }
            let size = if e.sql.len() >= 1_000_000 {
                format!("{:.1} MB", e.sql.len() as f64 / 1e6)
            } else {
                format!("{:.1} KB", e.sql.len() as f64 / 1e3)
            };
            println!(
                "| {family} | {form} | {size}{} | {create:.2} s | {score:.2} s | {stored:.2} s | {:.0} | {:.0} |",
                e.data
                    .as_ref()
                    .map(|d| format!(" + {:.1} MB CSV", d.contents.len() as f64 / 1e6))
                    .unwrap_or_default(),
                rows as f64 / score,
                rows as f64 / lib_s
            );
        }
    }
}
