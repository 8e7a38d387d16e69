//! Warehouse scoring at scale: 1 million rows in embedded SQLite with each exported model,
//! beside the library's own batch scoring. Run with `cargo bench --bench sql`.

use std::time::Instant;

use hitcast::data::{stratified_holdout, synthesize, SynthParams};
use hitcast::model::{Family, Model, ModelParams, Trained};
use hitcast::sql::{expression, Dialect};

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
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    let cols: Vec<String> = big
        .feature_names
        .iter()
        .map(|f| Dialect::Sqlite.ident(f))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE tracks ({});",
        cols.iter()
            .map(|c| format!("{c} REAL"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .expect("create");
    let t = Instant::now();
    conn.execute_batch("BEGIN").expect("begin");
    {
        let mut insert = conn
            .prepare("INSERT INTO tracks VALUES (?1, ?2, ?3, ?4)")
            .expect("insert");
        for i in 0..big.len() {
            let r = big.row(i);
            insert
                .execute(rusqlite::params![r[0], r[1], r[2], r[3]])
                .expect("row");
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
    println!(
        "loaded {rows} rows into SQLite in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    println!("| model | SQLite rows/s | library rows/s | SQL size |");
    println!("|---|---|---|---|");
    for family in Family::ALL {
        let model =
            Trained::fit(family, &train, &split.train, &ModelParams::default(), 42).expect("fit");
        let expr = expression(&model, &cols, Dialect::Sqlite);
        let t = Instant::now();
        let sum: f64 = conn
            .query_row(&format!("SELECT SUM({expr}) FROM tracks"), [], |r| r.get(0))
            .expect("score");
        let sql_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let lib: f64 = model.predict_proba(&big).expect("predict").iter().sum();
        let lib_s = t.elapsed().as_secs_f64();
        assert!(
            (sum - lib).abs() < 1e-6 * rows as f64,
            "{family}: {sum} vs {lib}"
        );
        println!(
            "| {family} | {:.0} | {:.0} | {} KB |",
            rows as f64 / sql_s,
            rows as f64 / lib_s,
            expr.len() / 1024
        );
    }
}
