//! Parity of the exported SQL with the library, on real engines: SQLite (embedded) always,
//! PostgreSQL when `HITCAST_PG` names a server (`.ci/run` starts one and sets
//! `HITCAST_REQUIRE_PG=1`, so CI cannot skip it).

use std::process::Command;

use hitcast::data::{stratified_holdout, synthesize, Dataset, SynthParams};
use hitcast::model::{BoostParams, Family, ForestParams, Model, ModelParams, Trained};
use hitcast::sql::{export, expression, Dialect};

fn fitted() -> (Dataset, Vec<Trained>) {
    let (d, _) = synthesize(&SynthParams {
        n_tracks: 3000,
        ..Default::default()
    })
    .unwrap();
    let s = stratified_holdout(&d.y, 0.25, 3).unwrap();
    let params = ModelParams {
        forest: ForestParams {
            n_trees: 25,
            ..Default::default()
        },
        boost: BoostParams {
            n_rounds: 80,
            early_stopping_rounds: None,
            ..Default::default()
        },
        ..Default::default()
    };
    let models = Family::ALL
        .map(|f| Trained::fit(f, &d, &s.train, &params, 9).unwrap())
        .to_vec();
    (d.subset(&s.test), models)
}

fn check_parity(engine: &str, family: Family, expected: &[f64], got: &[f64]) {
    assert_eq!(expected.len(), got.len(), "{engine} {family}");
    let max = expected
        .iter()
        .zip(got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(max <= 1e-9, "{engine} {family}: max |difference| {max}");
    let same = expected
        .iter()
        .zip(got)
        .all(|(a, b)| (*a >= 0.5) == (*b >= 0.5));
    assert!(same, "{engine} {family}: a 0/1 decision differs");
}

#[test]
fn sqlite_scores_like_the_library() {
    let (test, models) = fitted();
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let cols: Vec<String> = test
        .feature_names
        .iter()
        .map(|f| Dialect::Sqlite.ident(f))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE tracks (id INTEGER PRIMARY KEY, {});",
        cols.iter()
            .map(|c| format!("{c} REAL"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .unwrap();
    {
        let mut insert = conn
            .prepare(&format!(
                "INSERT INTO tracks VALUES (?1, {})",
                (2..=cols.len() + 1)
                    .map(|k| format!("?{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .unwrap();
        for i in 0..test.len() {
            let row = test.row(i);
            insert
                .execute(rusqlite::params![i as i64, row[0], row[1], row[2], row[3]])
                .unwrap();
        }
    }
    for model in &models {
        let sql = format!(
            "SELECT {} FROM tracks ORDER BY id",
            expression(model, &cols, Dialect::Sqlite)
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let got: Vec<f64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        check_parity(
            "sqlite",
            model.family(),
            &model.predict_proba(&test).unwrap(),
            &got,
        );
        // The exported file's SELECT runs as is.
        let file = export(model, Dialect::Sqlite, "tracks").unwrap();
        let select = &file[file.find("\nSELECT *").unwrap()..];
        let n: usize = conn
            .prepare(select)
            .unwrap()
            .query_map([], |_| Ok(()))
            .unwrap()
            .count();
        assert_eq!(n, test.len());
    }
}

fn psql(url: &str, sql: &str) -> String {
    use std::io::Write;
    use std::process::Stdio;
    // SQL goes through stdin: exported models are far longer than a command line may be.
    let mut child = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-At", "-F", ","])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn postgres_scores_like_the_library() {
    let Some(url) = std::env::var("HITCAST_PG").ok().filter(|u| !u.is_empty()) else {
        assert!(
            std::env::var_os("HITCAST_REQUIRE_PG").is_none(),
            "HITCAST_REQUIRE_PG is set but HITCAST_PG does not name a server"
        );
        eprintln!("postgres parity not run: set HITCAST_PG=postgresql://… (CI does)");
        return;
    };
    let (test, models) = fitted();
    let table = format!("hitcast_parity_{}", std::process::id());
    let cols: Vec<String> = test
        .feature_names
        .iter()
        .map(|f| Dialect::Postgres.ident(f))
        .collect();
    let mut setup = format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id INTEGER PRIMARY KEY, {});\nINSERT INTO {table} VALUES ",
        cols.iter().map(|c| format!("{c} DOUBLE PRECISION")).collect::<Vec<_>>().join(", ")
    );
    let rows: Vec<String> = (0..test.len())
        .map(|i| {
            let vals: Vec<String> = test
                .row(i)
                .iter()
                .map(|v| format!("'{v:?}'::float8"))
                .collect();
            format!("({i}, {})", vals.join(", "))
        })
        .collect();
    setup.push_str(&rows.join(",\n"));
    setup.push(';');
    psql(&url, &setup);
    for model in &models {
        let file = export(model, Dialect::Postgres, &table).unwrap();
        let function_part = &file[..file.find("-- Plain expression form").unwrap()];
        psql(&url, function_part);
        let name = format!("hitcast_{}", model.family().name());
        let out = psql(
            &url,
            &format!(
                "SELECT {name}({}) FROM {table} ORDER BY id",
                cols.join(", ")
            ),
        );
        let got: Vec<f64> = out.lines().map(|l| l.parse().unwrap()).collect();
        check_parity(
            "postgres",
            model.family(),
            &model.predict_proba(&test).unwrap(),
            &got,
        );
    }
    psql(&url, &format!("DROP TABLE {table}"));
}

#[test]
fn snowflake_export_snapshot() {
    // A tiny model keeps the snapshot readable: 2 trees of depth 2 and the logistic model.
    let (d, _) = synthesize(&SynthParams {
        n_tracks: 400,
        ..Default::default()
    })
    .unwrap();
    let rows: Vec<usize> = (0..d.len()).collect();
    let params = ModelParams {
        forest: ForestParams {
            n_trees: 2,
            max_depth: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    for family in [Family::Logistic, Family::Forest] {
        let m = Trained::fit(family, &d, &rows, &params, 1).unwrap();
        insta::assert_snapshot!(
            format!("snowflake_{family}"),
            export(&m, Dialect::Snowflake, "analytics.tracks").unwrap()
        );
    }
}
