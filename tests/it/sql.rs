//! The exported SQL on real engines, compared with the library: every form of each family's
//! *default* model (300-tree depth-18 forest included, trained once on 4,000 synthetic tracks
//! with the default hyper-parameters) on
//!
//! - SQLite (bundled, always);
//! - PostgreSQL through `psql`, when `HITCAST_PG` names a server;
//! - DuckDB through its CLI (`HITCAST_DUCKDB`, else `duckdb` on the PATH);
//! - Snowflake through fakesnow and BigQuery through sqlglot + DuckDB, with the Python of
//!   `HITCAST_PYTHON` (`tests/it/sql_engines.py` runs them).
//!
//! `.ci/run` installs the engines (`.ci/engines`) and sets `HITCAST_REQUIRE_PG=1` and
//! `HITCAST_REQUIRE_ENGINES=1`, so in CI a missing engine fails these tests instead of
//! skipping them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use hitcast::data::{stratified_holdout, synthesize, Dataset, SynthParams};
use hitcast::model::{Family, ForestParams, Model, ModelParams, Trained};
use hitcast::sql::{export, expression, output_column, Dialect, Export, Form};

struct Fitted {
    test: Dataset,
    /// Default hyper-parameters, in `Family::ALL` order.
    defaults: Vec<Trained>,
    /// A 25-tree forest, small enough for the inline form on every engine.
    small_forest: Trained,
}

fn fitted() -> &'static Fitted {
    static FITTED: OnceLock<Fitted> = OnceLock::new();
    FITTED.get_or_init(|| {
        let (d, _) = synthesize(&SynthParams {
            n_tracks: 4000,
            ..Default::default()
        })
        .unwrap();
        let s = stratified_holdout(&d.y, 0.25, 3).unwrap();
        let defaults = Family::ALL
            .map(|f| Trained::fit(f, &d, &s.train, &ModelParams::default(), 9).unwrap())
            .to_vec();
        let small = ModelParams {
            forest: ForestParams {
                n_trees: 25,
                ..Default::default()
            },
            ..Default::default()
        };
        let small_forest = Trained::fit(Family::Forest, &d, &s.train, &small, 9).unwrap();
        Fitted {
            test: d.subset(&s.test),
            defaults,
            small_forest,
        }
    })
}

// ---------------------------------------------------------------------------------------
// Engines

#[derive(Clone, Copy, Debug, PartialEq)]
enum Engine {
    Sqlite,
    Postgres,
    DuckDb,
    Snowflake,
    BigQuery,
}

impl Engine {
    fn dialect(self) -> Dialect {
        match self {
            Engine::Sqlite => Dialect::Sqlite,
            Engine::Postgres => Dialect::Postgres,
            Engine::DuckDb => Dialect::DuckDb,
            Engine::Snowflake => Dialect::Snowflake,
            Engine::BigQuery => Dialect::BigQuery,
        }
    }
}

fn required(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

/// A program from `var`, else `fallback` on the PATH; `None` (the test says why and
/// returns) outside CI, a failure in CI.
fn program(var: &str, fallback: Option<&str>) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let fallback = fallback?;
            Command::new(fallback)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from(fallback))
        });
    if path.is_none() {
        assert!(
            !required("HITCAST_REQUIRE_ENGINES"),
            "HITCAST_REQUIRE_ENGINES is set but {var} is not (run .ci/engines)"
        );
        eprintln!("not run: set {var} (.ci/engines installs it; CI does)");
    }
    path
}

fn postgres_url() -> Option<String> {
    let url = std::env::var("HITCAST_PG").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            !required("HITCAST_REQUIRE_PG"),
            "HITCAST_REQUIRE_PG is set but HITCAST_PG does not name a server"
        );
        eprintln!("postgres not run: set HITCAST_PG=postgresql://… (CI does)");
    }
    url
}

/// How to reach an engine, or `None` when it is not installed (outside CI).
fn engine_runner(engine: Engine) -> Option<Runner> {
    Some(match engine {
        Engine::Sqlite => Runner::Sqlite,
        Engine::Postgres => Runner::Psql(postgres_url()?),
        Engine::DuckDb => Runner::Cli(program("HITCAST_DUCKDB", Some("duckdb"))?),
        Engine::Snowflake | Engine::BigQuery => Runner::Python(program("HITCAST_PYTHON", None)?),
    })
}

enum Runner {
    Sqlite,
    Psql(String),
    Cli(PathBuf),
    Python(PathBuf),
}

/// A result set: header (lower-case) and rows, as text.
type Block = (Vec<String>, Vec<Vec<String>>);

fn run_process(mut cmd: Command, stdin: &str, what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// CSV result sets separated by blank lines (DuckDB `-csv`, `psql --csv`, the Python runner).
fn parse_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut reader = csv_lines(text);
    while let Some(header) = reader.next() {
        if header.iter().all(|f| f.is_empty()) {
            continue;
        }
        let mut rows = Vec::new();
        for row in reader.by_ref() {
            if row.iter().all(|f| f.is_empty()) {
                break;
            }
            rows.push(row);
        }
        blocks.push((header.iter().map(|h| h.to_lowercase()).collect(), rows));
    }
    blocks
}

/// Records of RFC 4180 CSV (quoted fields may hold commas, quotes and line breaks).
fn csv_lines(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || {
        chars.peek()?;
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => break,
                (false, c) => field.push(c),
            }
        }
        row.push(field);
        Some(row)
    })
}

/// Runs `scripts` (SQL texts) in order in one session of `engine`, in the folder `dir`
/// (which holds the data files), and returns every result set.
fn run(engine: Engine, runner: &Runner, dir: &Path, scripts: &[String]) -> Vec<Block> {
    let files: Vec<PathBuf> = scripts
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let p = dir.join(format!("script{k}.sql"));
            std::fs::write(&p, s).unwrap();
            p
        })
        .collect();
    match runner {
        Runner::Sqlite => sqlite_run(dir, scripts),
        Runner::Psql(url) => {
            let mut cmd = Command::new("psql");
            cmd.args([url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"])
                .current_dir(dir);
            parse_blocks(&run_process(cmd, &separated(scripts, "\\echo"), "psql"))
        }
        Runner::Cli(duckdb) => {
            let mut cmd = Command::new(duckdb);
            cmd.args(["-batch", "-bail", "-csv"]).current_dir(dir);
            parse_blocks(&run_process(
                cmd,
                &separated(scripts, ".print ''"),
                "duckdb",
            ))
        }
        Runner::Python(python) => {
            let mut cmd = Command::new(python);
            let name = match engine {
                Engine::Snowflake => "snowflake",
                _ => "bigquery",
            };
            cmd.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/it/sql_engines.py"
            ))
            .arg(name)
            .arg(dir)
            .args(&files);
            parse_blocks(&run_process(cmd, "", name))
        }
    }
}

/// The scripts with `separator` (a client command printing a blank line) after every
/// statement, so result sets come apart. Statements end with `;` and a blank line, as
/// exports write them.
fn separated(scripts: &[String], separator: &str) -> String {
    scripts
        .iter()
        .map(|s| s.replace(";\n\n", &format!(";\n{separator}\n\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// SQLite runs the statements with rusqlite; the `sqlite3` shell's `.import` line is done
/// here (same file, same table), as rusqlite has no dot-commands.
fn sqlite_run(dir: &Path, scripts: &[String]) -> Vec<Block> {
    let db = dir.join("test.sqlite");
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut blocks = Vec::new();
    for script in scripts {
        for statement in script.split(";\n\n") {
            let mut sql = String::new();
            for line in statement.lines() {
                if let Some(args) = line.strip_prefix(".import --csv --skip 1 ") {
                    let (file, table) = args.split_once(' ').unwrap();
                    sqlite_import(&conn, &dir.join(file), table);
                } else {
                    sql.push_str(line);
                    sql.push('\n');
                }
            }
            let code: String = sql
                .lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            if code.trim().is_empty() {
                continue;
            }
            let query = code.trim_start();
            if !(query.starts_with("SELECT") || query.starts_with("WITH")) {
                conn.execute_batch(&sql)
                    .unwrap_or_else(|e| panic!("{e}: {sql}"));
                continue;
            }
            let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
            let header: Vec<String> = stmt.column_names().map(|c| c.to_lowercase()).collect();
            let n = header.len();
            let rows: Vec<Vec<String>> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|k| {
                            Ok(match r.get_ref(k)? {
                                rusqlite::types::ValueRef::Real(v) => format!("{v:?}"),
                                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                rusqlite::types::ValueRef::Text(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                                _ => String::new(),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            if n > 0 {
                blocks.push((header, rows));
            }
        }
    }
    blocks
}

/// As the `sqlite3` shell's `.import` does: every field bound as text (an empty field as `''`,
/// not NULL), converted by the column's affinity.
fn sqlite_import(conn: &rusqlite::Connection, file: &Path, table: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    let mut rows = csv_lines(&text).skip(1).filter(|r| r.len() > 1).peekable();
    if let Some(first) = rows.peek() {
        let marks = vec!["?"; first.len()].join(", ");
        let mut insert = conn
            .prepare(&format!("INSERT INTO {table} VALUES ({marks})"))
            .unwrap();
        for row in rows {
            insert
                .execute(rusqlite::params_from_iter(row.iter()))
                .unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

// ---------------------------------------------------------------------------------------
// Data

/// Writes `tracks.csv` (`id` and the features, header `id,c0,c1,…`) into `dir` and returns
/// the statements creating and loading a table `table` with the feature columns `names`.
fn setup(engine: Engine, dir: &Path, test: &Dataset, table: &str, names: &[String]) -> String {
    let d = engine.dialect();
    let mut csv = String::from("id");
    for j in 0..names.len() {
        csv.push_str(&format!(",c{j}"));
    }
    csv.push('\n');
    for i in 0..test.len() {
        csv.push_str(&i.to_string());
        for v in test.row(i) {
            // A missing value (NaN in the library) is an empty field: NULL once loaded.
            if !v.is_nan() {
                csv.push_str(&format!(",{v:?}"));
            } else {
                csv.push(',');
            }
        }
        csv.push('\n');
    }
    std::fs::write(dir.join("tracks.csv"), csv).unwrap();
    let t = d.ident(table);
    let (int, double) = match engine {
        Engine::BigQuery => ("INT64", "FLOAT64"),
        Engine::Postgres => ("BIGINT", "DOUBLE PRECISION"),
        Engine::Snowflake => ("INTEGER", "FLOAT"),
        _ => ("BIGINT", "DOUBLE"),
    };
    let cols: Vec<String> = names
        .iter()
        .map(|n| format!("{} {double}", d.ident(n)))
        .collect();
    let id = d.ident("id");
    let create = format!(
        "CREATE TABLE victims (x INTEGER);\nCREATE TABLE {t} ({id} {int}, {});\n",
        cols.join(", ")
    );
    let load = match engine {
        Engine::Sqlite | Engine::Postgres => {
            let rows: Vec<String> = (0..test.len())
                .map(|i| {
                    let v: Vec<String> = test
                        .row(i)
                        .iter()
                        .map(|v| {
                            if v.is_nan() {
                                "NULL".into()
                            } else {
                                format!("{v:?}")
                            }
                        })
                        .collect();
                    format!("({i}, {})", v.join(", "))
                })
                .collect();
            format!("INSERT INTO {t} VALUES\n{};\n", rows.join(",\n"))
        }
        Engine::DuckDb => format!(
            "INSERT INTO {t} SELECT * FROM read_csv('tracks.csv', header = true, all_varchar = true);\n"
        ),
        Engine::Snowflake => format!(
            "CREATE TEMPORARY STAGE test_stage;\nPUT 'file://tracks.csv' @test_stage;\nCOPY INTO {t} FROM @test_stage/tracks.csv FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1);\n"
        ),
        Engine::BigQuery => format!(
            "LOAD DATA INTO {t} FROM FILES (format = 'CSV', skip_leading_rows = 1, uris = ['gs://test/tracks.csv']);\n"
        ),
    };
    // Statements end with ";\n\n" so the SQLite runner splits them like the exports.
    format!("{create}{load}")
        .replace(";\n", ";\n\n")
        .replace("\n\n\n", "\n\n")
}

/// A call of the exported function over the table, as a check that the function itself
/// scores (Snowflake: fakesnow returns a SQL UDF's body as text instead of running it, so its
/// exact body runs as a plain `SELECT` instead; SQLite has no function).
fn function_call(engine: Engine, model: &Trained, export: &Export, table: &str) -> Option<String> {
    let d = engine.dialect();
    let name = format!("hitcast_{}", model.family().name());
    let cols: Vec<String> = model.feature_names().iter().map(|f| d.ident(f)).collect();
    let from = d.ident(table);
    let id = d.ident("id");
    match engine {
        Engine::Sqlite => None,
        Engine::Snowflake => {
            let sql = &export.sql;
            let start = sql.find("AS $$\n").unwrap() + "AS $$\n".len();
            let end = sql[start..].find("\n$$").unwrap() + start;
            let body = &sql[start..end];
            // The body names its parameters; with plain feature names they are the
            // columns' own (quoted, upper-case) names, so it runs over the table unchanged.
            // (A feature no tree splits on has a parameter but no mention in the body.)
            let signature = sql[..start]
                .lines()
                .find(|l| l.starts_with("CREATE OR REPLACE FUNCTION"))
                .unwrap();
            assert!(
                cols.iter()
                    .all(|c| signature.contains(&format!("{c} FLOAT"))),
                "{signature}"
            );
            Some(format!(
                "SELECT {id} AS id, ({body}) AS {} FROM {from};\n",
                output_column(model.family())
            ))
        }
        _ => Some(format!(
            "SELECT {id} AS id, {name}({}) AS {} FROM {from};\n",
            cols.join(", "),
            output_column(model.family())
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Parity

/// The model's decision threshold: `Model::predict`'s 0.5 (artifacts carry no other).
const THRESHOLD: f64 = 0.5;

fn check_parity(what: &str, column: &str, expected: &[f64], block: &Block) {
    let (header, rows) = block;
    let id = header.iter().position(|h| h == "id").unwrap();
    let p = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("{what}: no {column} in {header:?}"));
    let got: BTreeMap<usize, f64> = rows
        .iter()
        .map(|r| (r[id].parse().unwrap(), r[p].parse().unwrap()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{what}: rows scored");
    assert_eq!(rows.len(), expected.len(), "{what}: rows returned");
    let mut max = 0.0f64;
    for (i, e) in expected.iter().enumerate() {
        let g = got[&i];
        max = max.max((g - e).abs());
        assert_eq!(
            g >= THRESHOLD,
            *e >= THRESHOLD,
            "{what}: row {i} decides otherwise ({g} vs {e})"
        );
    }
    assert!(max <= 1e-9, "{what}: max |difference| {max}");
}

/// Runs one model in one form on one engine and checks every scoring result set.
fn parity(engine: Engine, runner: &Runner, model: &Trained, form: Form) {
    parity_on(engine, runner, model, form, &fitted().test);
}

/// [`parity`] on the rows of `data`.
fn parity_on(engine: Engine, runner: &Runner, model: &Trained, form: Form, data: &Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let table = "tracks";
    let export = export(model, engine.dialect(), form, table).unwrap();
    assert_eq!(export.form, form);
    if let Some(data) = &export.data {
        std::fs::write(dir.path().join(&data.file_name), &data.contents).unwrap();
    }
    let mut scripts = vec![
        isolate(engine, dir.path()),
        setup(engine, dir.path(), data, table, model.feature_names()),
        export.sql.clone(),
    ];
    let call = (form == Form::Inline)
        .then(|| function_call(engine, model, &export, table))
        .flatten();
    scripts.extend(call.clone());
    let blocks = run(engine, runner, dir.path(), &scripts);
    let column = output_column(model.family());
    let scored: Vec<&Block> = blocks.iter().filter(|b| b.0.contains(&column)).collect();
    assert_eq!(
        scored.len(),
        1 + usize::from(call.is_some()),
        "{engine:?} {form}: result sets"
    );
    let expected = model.predict_proba(data).unwrap();
    for b in scored {
        check_parity(
            &format!("{engine:?} {} {form}", model.family()),
            &column,
            &expected,
            b,
        );
    }
}

/// PostgreSQL is one server for all tests: each test works in its own schema.
fn isolate(engine: Engine, dir: &Path) -> String {
    match engine {
        Engine::Postgres => {
            let schema = format!(
                "hitcast_test_{}",
                dir.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace(['.', '-'], "_")
                    .to_lowercase()
            );
            format!("CREATE SCHEMA {schema};\nSET search_path TO {schema};\n")
        }
        _ => String::new(),
    }
}

/// Every model in every form it has: inline for all but the default forest (tens of MB of
/// SQL; SQLite runs it in `sqlite_scores_every_form`), the 25-tree forest inline, and the
/// table form of both tree models.
fn all_forms(engine: Engine) {
    let Some(runner) = engine_runner(engine) else {
        return;
    };
    let f = fitted();
    let [logistic, forest, boost] = &f.defaults[..] else {
        unreachable!()
    };
    parity(engine, &runner, logistic, Form::Inline);
    parity(engine, &runner, boost, Form::Inline);
    parity(engine, &runner, &f.small_forest, Form::Inline);
    parity(engine, &runner, boost, Form::Table);
    parity(engine, &runner, forest, Form::Table);
}

#[test]
fn sqlite_scores_every_form() {
    all_forms(Engine::Sqlite);
    // SQLite parses the default forest's inline form quickly enough to check it too.
    let f = fitted();
    parity(
        Engine::Sqlite,
        &Runner::Sqlite,
        &f.defaults[1],
        Form::Inline,
    );
}

#[test]
fn postgres_scores_every_form() {
    all_forms(Engine::Postgres);
}

#[test]
fn duckdb_scores_every_form() {
    all_forms(Engine::DuckDb);
}

#[test]
fn snowflake_via_fakesnow_scores_every_form() {
    all_forms(Engine::Snowflake);
}

#[test]
fn bigquery_parses_and_scores_every_form_transpiled_to_duckdb() {
    all_forms(Engine::BigQuery);
}

/// Tree models over 16 features (copies of the four, shifted): with up to 255 cuts each the
/// table form packs 7 bins per key word, so its keys take three words. Their test rows miss a
/// value each fifth row (NaN in the library, NULL in SQL), which goes left in every form.
struct Wide {
    test: Dataset,
    forest: Trained,
    boost: Trained,
}

fn wide() -> &'static Wide {
    static WIDE: OnceLock<Wide> = OnceLock::new();
    WIDE.get_or_init(|| {
        let (d, _) = synthesize(&SynthParams {
            n_tracks: 2000,
            seed: 11,
            ..Default::default()
        })
        .unwrap();
        let mut w = d.clone();
        w.feature_names = (0..16)
            .map(|j| format!("{}_{}", d.feature_names[j % 4], j / 4))
            .collect();
        w.x = (0..16)
            .map(|j| d.x[j % 4].iter().map(|v| v + (j / 4) as f64).collect())
            .collect();
        let s = stratified_holdout(&w.y, 0.25, 3).unwrap();
        let params = ModelParams {
            forest: ForestParams {
                n_trees: 20,
                ..Default::default()
            },
            ..Default::default()
        };
        let forest = Trained::fit(Family::Forest, &w, &s.train, &params, 5).unwrap();
        let boost = Trained::fit(Family::Boost, &w, &s.train, &params, 5).unwrap();
        let mut test = w.subset(&s.test);
        for i in (0..test.len()).step_by(5) {
            test.x[(i / 5) % 16][i] = f64::NAN;
        }
        Wide {
            test,
            forest,
            boost,
        }
    })
}

fn wide_and_missing(engine: Engine) {
    let Some(runner) = engine_runner(engine) else {
        return;
    };
    let w = wide();
    let table = export(&w.forest, engine.dialect(), Form::Table, "tracks").unwrap();
    let header = table
        .data
        .as_ref()
        .unwrap()
        .contents
        .lines()
        .next()
        .unwrap();
    assert!(header.contains("word7"), "keys of several words: {header}");
    for model in [&w.forest, &w.boost] {
        for form in [Form::Inline, Form::Table] {
            parity_on(engine, &runner, model, form, &w.test);
        }
    }
}

#[test]
fn sqlite_scores_wide_models_and_missing_values() {
    wide_and_missing(Engine::Sqlite);
}

#[test]
fn postgres_scores_wide_models_and_missing_values() {
    wide_and_missing(Engine::Postgres);
}

#[test]
fn duckdb_scores_wide_models_and_missing_values() {
    wide_and_missing(Engine::DuckDb);
}

#[test]
fn snowflake_via_fakesnow_scores_wide_models_and_missing_values() {
    wide_and_missing(Engine::Snowflake);
}

#[test]
fn bigquery_scores_wide_models_and_missing_values_transpiled_to_duckdb() {
    wide_and_missing(Engine::BigQuery);
}

#[test]
fn auto_picks_inline_under_the_limit_and_says_so() {
    let f = fitted();
    for d in Dialect::ALL {
        for m in &f.defaults {
            let e = export(m, d, Form::Auto, "tracks").unwrap();
            let inline = export(m, d, Form::Inline, "tracks").unwrap();
            let want = if inline.largest_statement < hitcast::sql::STATEMENT_LIMIT {
                Form::Inline
            } else {
                Form::Table
            };
            assert_eq!(e.form, want, "{d} {}", m.family());
            assert!(
                e.note.contains(&format!("auto chose the {want} form")),
                "{}",
                e.note
            );
            assert!(
                e.largest_statement < hitcast::sql::STATEMENT_LIMIT,
                "{d} {}",
                m.family()
            );
        }
        // The default forest is far over the limit inline; the table form's query is small
        // and does not grow with the number of trees.
        let forest = &f.defaults[1];
        assert_eq!(
            export(forest, d, Form::Auto, "tracks").unwrap().form,
            Form::Table
        );
        let big = export(forest, d, Form::Table, "tracks").unwrap();
        let small = export(&f.small_forest, d, Form::Table, "tracks").unwrap();
        assert!(big.sql.len() < 20_000, "{d}: {} bytes", big.sql.len());
        let (Trained::Forest(a), Trained::Forest(b)) = (forest, &f.small_forest) else {
            unreachable!()
        };
        if a.trees.iter().map(|t| t.depth).max() == b.trees.iter().map(|t| t.depth).max() {
            assert_eq!(
                big.sql.len(),
                small.sql.len() + 1,
                "{d}: only the tree count differs"
            );
        }
        assert!(export(&f.defaults[0], d, Form::Table, "tracks").is_err());
    }
}

// ---------------------------------------------------------------------------------------
// Injection

/// Names that would break out of a comment, a quoted identifier or a dollar-quoted body.
const EVIL_TABLE: &str = "tracks\nDROP TABLE victims; -- $$ $hitcast$ /* ' \"";
/// fakesnow (not Snowflake) reads `$name` as a session variable even inside quotes, so its
/// names keep `$$` apart from letters.
const EVIL_FAKESNOW: [&str; 4] = [
    "dance\nDROP TABLE victims; --",
    "en\"ergy'); DROP TABLE victims; --",
    "val $$ ence $$; DROP TABLE victims; $$",
    "tem`po/* */ \\",
];
const EVIL_FEATURES: [&str; 4] = [
    "dance\nDROP TABLE victims; --",
    "en\"ergy'); DROP TABLE victims; --",
    "val$$ence$hitcast$ $$; DROP TABLE victims; $$",
    "tem`po/* */ \\",
];
/// BigQuery refuses back-ticks, backslashes and control characters in names.
const EVIL_BIGQUERY: [&str; 4] = [
    "dance'); DROP TABLE victims; --",
    "en\"ergy\"; DROP TABLE victims; --",
    "val$$ence$hitcast$ $$; DROP TABLE victims; $$",
    "tem'po/* */ \"",
];

fn renamed(model: &Trained, names: &[&str]) -> Trained {
    let mut m = model.clone();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    match &mut m {
        Trained::Logistic(x) => x.feature_names = names,
        Trained::Forest(x) => x.feature_names = names,
        Trained::Boost(x) => x.feature_names = names,
    }
    m
}

/// Exports with hostile table and feature names, runs everything on the engine, checks the
/// scores and that the canary table `victims` is still there.
fn injection(engine: Engine) {
    let Some(runner) = engine_runner(engine) else {
        return;
    };
    let f = fitted();
    let (features, table) = match engine {
        Engine::BigQuery => (EVIL_BIGQUERY, "tracks'); DROP TABLE victims; --"),
        // fakesnow builds its "Table … successfully created" reply by pasting the name into a
        // string, so quotes in a table name break the emulator (not the export).
        Engine::Snowflake => (EVIL_FAKESNOW, "tracks\nDROP TABLE victims; -- $$ /*"),
        _ => (EVIL_FEATURES, EVIL_TABLE),
    };
    let models = [
        renamed(&f.defaults[0], &features),
        renamed(&f.defaults[2], &features),
        renamed(&f.small_forest, &features),
    ];
    for model in &models {
        for form in [Form::Inline, Form::Table] {
            if matches!(model, Trained::Logistic(_)) && form == Form::Table {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let e = export(model, engine.dialect(), form, table).unwrap();
            // The header comment names every feature, escaped to one line of printable ASCII.
            let header: Vec<&str> = e.sql.lines().take(3).collect();
            assert!(header.iter().all(|l| l.starts_with("-- ")), "{header:?}");
            assert!(header
                .iter()
                .all(|l| l.chars().all(|c| c.is_ascii_graphic() || c == ' ')));
            if let Some(data) = &e.data {
                std::fs::write(dir.path().join(&data.file_name), &data.contents).unwrap();
            }
            let names: Vec<String> = features.iter().map(|s| s.to_string()).collect();
            let mut scripts = vec![
                isolate(engine, dir.path()),
                setup(engine, dir.path(), &f.test, table, &names),
                e.sql.clone(),
            ];
            scripts.push("SELECT COUNT(*) AS canary FROM victims;\n".into());
            let blocks = run(engine, &runner, dir.path(), &scripts);
            assert!(
                blocks.iter().any(|b| b.0 == ["canary"]),
                "{engine:?} {form}: the canary table is gone"
            );
            let column = output_column(model.family());
            let scored: Vec<&Block> = blocks.iter().filter(|b| b.0.contains(&column)).collect();
            assert_eq!(scored.len(), 1, "{engine:?} {form}");
            check_parity(
                &format!("{engine:?} {} {form} (hostile names)", model.family()),
                &column,
                &model.predict_proba_columns(&columns(&f.test)),
                scored[0],
            );
        }
    }
    // What a dialect cannot hold is refused, naming the field.
    let nul = renamed(&f.defaults[0], &["a\0b", "energy", "valence", "tempo"]);
    let err = export(&nul, engine.dialect(), Form::Inline, "tracks").unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    let err = export(&f.defaults[0], engine.dialect(), Form::Inline, "t\0x").unwrap_err();
    assert!(err.to_string().contains("`table`"), "{err}");
    if engine == Engine::BigQuery {
        let bad = renamed(&f.defaults[0], &EVIL_FEATURES);
        assert!(export(&bad, Dialect::BigQuery, Form::Inline, "tracks").is_err());
    }
}

fn columns(d: &Dataset) -> Vec<&[f64]> {
    d.x.iter().map(|c| &c[..]).collect()
}

#[test]
fn sqlite_survives_hostile_names() {
    injection(Engine::Sqlite);
}

#[test]
fn postgres_survives_hostile_names() {
    injection(Engine::Postgres);
}

#[test]
fn duckdb_survives_hostile_names() {
    injection(Engine::DuckDb);
}

#[test]
fn snowflake_via_fakesnow_survives_hostile_names() {
    injection(Engine::Snowflake);
}

#[test]
fn bigquery_survives_hostile_names() {
    injection(Engine::BigQuery);
}

#[test]
fn expression_refuses_a_dag_instead_of_expanding_it() {
    // 40 levels whose two children are the same pair of nodes: 80 nodes, 2⁴⁰ paths.
    let f = fitted();
    let Trained::Boost(mut b) = f.defaults[2].clone() else {
        unreachable!()
    };
    let mut nodes = Vec::new();
    for d in 0..40u32 {
        let next = 2 * d + 2;
        nodes.push(hitcast::model::Node {
            threshold: 0.5,
            feature: 0,
            left: next,
        });
        nodes.push(hitcast::model::Node {
            threshold: 0.5,
            feature: 0,
            left: next,
        });
    }
    let n = nodes.len() as u32;
    nodes.push(hitcast::model::Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: n,
    });
    nodes.push(hitcast::model::Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: n + 1,
    });
    let tree = hitcast::model::Tree {
        values: vec![0.0; nodes.len()],
        nodes,
        depth: 40,
        cover: Vec::new(),
    };
    b.trees = hitcast::model::Ensemble::new(vec![tree]);
    let m = Trained::Boost(b);
    let cols: Vec<String> = (0..4).map(|j| format!("x{j}")).collect();
    let err = expression(&m, &cols, Dialect::Sqlite).unwrap_err();
    assert!(err.to_string().contains("two parents"), "{err}");
    assert!(export(&m, Dialect::DuckDb, Form::Table, "t").is_err());
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
            export(&m, Dialect::Snowflake, Form::Inline, "analytics.tracks")
                .unwrap()
                .sql
        );
        if family == Family::Forest {
            let t = export(&m, Dialect::Snowflake, Form::Table, "analytics.tracks").unwrap();
            insta::assert_snapshot!("snowflake_forest_table", t.sql);
            insta::assert_snapshot!("snowflake_forest_table_csv", t.data.unwrap().contents);
        }
    }
}
