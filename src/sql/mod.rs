//! Warehouse scoring: trained models as SQL that Snowflake, BigQuery, PostgreSQL, DuckDB and
//! SQLite run where the data lives, in one of two forms:
//!
//! - **inline** ([`inline`]): the model as one expression, trees as nested `CASE`, wrapped
//!   in a function (UDF / macro) plus a plain `SELECT`. Its text grows with the ensemble
//!   (the default forest is tens of MB), so it suits the logistic and boosted models.
//! - **table** ([`table`]): the trees as rows of a table (written as a CSV data file, with the
//!   `CREATE TABLE` and the load statement of each dialect) and a scoring query that walks
//!   every tree level by level with joins. Its text grows only with the deepest tree, never
//!   with the number of trees or nodes.
//!
//! [`Form::Auto`] picks inline when every statement stays under [`STATEMENT_LIMIT`]
//! (Snowflake's and BigQuery's limit on query text), the table form otherwise.
//!
//! Safety: no user-controlled string (table name, feature names) reaches SQL unescaped.
//! Identifiers are quoted per dialect (embedded quotes doubled; BigQuery refuses what its
//! back-tick quoting cannot hold); comments hold only [`comment`]-sanitised text, which has
//! no line break; function bodies refer to their parameters only, and parameters are
//! generated (`x1`, `x2`, …) unless every feature name is plain (`[a-z_][a-z0-9_]*`), so a
//! body never holds a `$` that could close its dollar quote. A NUL is refused everywhere.
//! Numbers are written with Rust's shortest round-trip formatting and cast to double
//! precision, so engines read the model's exact values.
//!
//! Trees are checked before export by [`Tree::check`] (every node reached once from the root,
//! so no shared children; children and features in range; depth at most 64), plus finite
//! thresholds, which SQL needs; every walk uses an explicit stack, so no input sets the
//! recursion depth.

pub mod inline;
pub mod table;

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::{Family, Trained, Tree};

pub use inline::expression;

/// Longest statement the inline form may have under [`Form::Auto`]: Snowflake truncates
/// longer query text in its metadata (such statements cannot be rerun) and BigQuery's limit
/// on query text is about 1 MB. DuckDB, PostgreSQL and SQLite accept more, but DuckDB took
/// over ten minutes to create the 41 MB macro of the default forest (docs/benchmarks.md), so
/// the same bound applies there.
pub const STATEMENT_LIMIT: usize = 1_000_000;

/// SQL dialects HitCast writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Snowflake,
    BigQuery,
    DuckDb,
    Postgres,
    Sqlite,
}

impl Dialect {
    pub const ALL: [Dialect; 5] = [
        Dialect::Snowflake,
        Dialect::BigQuery,
        Dialect::DuckDb,
        Dialect::Postgres,
        Dialect::Sqlite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Snowflake => "snowflake",
            Dialect::BigQuery => "bigquery",
            Dialect::DuckDb => "duckdb",
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The double-precision type.
    fn double(self) -> &'static str {
        match self {
            Dialect::Postgres => "DOUBLE PRECISION",
            Dialect::DuckDb => "DOUBLE",
            Dialect::Snowflake => "FLOAT",
            Dialect::BigQuery => "FLOAT64",
            Dialect::Sqlite => "REAL",
        }
    }

    /// The integer type.
    fn integer(self) -> &'static str {
        match self {
            Dialect::BigQuery => "INT64",
            _ => "INTEGER",
        }
    }

    /// A float literal of exactly `v` (as the engine parses decimal text correctly rounded).
    /// `v` must be finite ([`check_model`] ensures it).
    fn number(self, v: f64) -> String {
        // `{:?}` always has a decimal point or exponent, e.g. `1.0`, `0.6325`, `1e-7`.
        let text = format!("{v:?}");
        match self {
            // SQLite reads any literal with a point or exponent as a REAL.
            Dialect::Sqlite => {
                if v < 0.0 {
                    format!("({text})")
                } else {
                    text
                }
            }
            // Decimal literals are exact NUMERIC/DECIMAL elsewhere: make them doubles.
            _ => format!("CAST({text} AS {})", self.double()),
        }
    }

    /// A safely quoted identifier. Snowflake stores unquoted identifiers upper-cased, so a
    /// plain lower-case name is quoted in upper case to match `CREATE TABLE t (tempo …)`.
    /// BigQuery quotes with back-ticks (a back-tick or backslash inside is escaped, though
    /// `check_name` refuses both there); the others with double quotes, doubled inside.
    pub fn ident(self, name: &str) -> String {
        let shown = if self == Dialect::Snowflake && is_plain(name) {
            name.to_ascii_uppercase()
        } else {
            name.to_string()
        };
        match self {
            Dialect::BigQuery => {
                format!("`{}`", shown.replace('\\', "\\\\").replace('`', "\\`"))
            }
            _ => format!("\"{}\"", shown.replace('"', "\"\"")),
        }
    }

    /// A table name: `schema.table` parts quoted separately.
    fn table(self, table: &str) -> String {
        table
            .split('.')
            .map(|part| self.ident(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `CREATE OR REPLACE` where the dialect has it for tables, else a `DROP` first.
    fn create_table(self, name: &str) -> String {
        match self {
            Dialect::Postgres | Dialect::Sqlite => {
                format!("DROP TABLE IF EXISTS {name};\nCREATE TABLE {name}")
            }
            _ => format!("CREATE OR REPLACE TABLE {name}"),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                Error::param(
                    "dialect",
                    s,
                    "expected snowflake, bigquery, duckdb, postgres or sqlite",
                )
            })
    }
}

/// How a model is written (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// One expression: nested `CASE` per tree.
    Inline,
    /// Trees as rows of a table, walked by a query of fixed size.
    Table,
    /// Inline when every statement is under [`STATEMENT_LIMIT`], else table.
    Auto,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Inline => "inline",
            Form::Table => "table",
            Form::Auto => "auto",
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Form {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [Form::Inline, Form::Table, Form::Auto]
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| Error::param("form", s, "expected inline, table or auto"))
    }
}

/// A data file the SQL loads (the table form's trees), to be written beside the SQL file
/// under `file_name`, the name the load statement uses.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    pub file_name: String,
    pub contents: String,
}

/// The result of [`export`].
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The SQL file: header comment, then statements separated by `;` and a blank line.
    pub sql: String,
    /// The form written ([`Form::Inline`] or [`Form::Table`], never `Auto`).
    pub form: Form,
    /// The trees as CSV (table form only).
    pub data: Option<DataFile>,
    /// One line saying which form was written and why, with sizes.
    pub note: String,
    /// Size of the longest statement, in bytes.
    pub largest_statement: usize,
}

/// Writes `model` as SQL for `dialect` in `form`, scoring every row of `table`
/// (`schema.table` allowed).
///
/// # Errors
/// [`Error::Param`] for an empty table name, a name this dialect cannot quote safely (a NUL
/// anywhere; in BigQuery a back-tick, a backslash or a control character), or the table
/// form of the logistic model (it has no trees); [`Error::Sql`] for a tree that is not a
/// tree ([`Tree::check`]) or holds a non-finite threshold.
pub fn export(model: &Trained, dialect: Dialect, form: Form, table: &str) -> Result<Export> {
    if table.trim().is_empty() {
        return Err(Error::param("table", table, "must not be empty"));
    }
    for part in table.split('.') {
        check_name(dialect, "table", part)?;
    }
    for name in model.feature_names() {
        check_name(dialect, "feature name", name)?;
    }
    let depth = check_model(model)?;
    let trees = match model {
        Trained::Logistic(_) => None,
        Trained::Forest(m) => Some(&m.trees[..]),
        Trained::Boost(m) => Some(&m.trees[..]),
    };
    let (form, note, inline) = match (form, trees) {
        (Form::Table, None) => {
            return Err(Error::param(
                "form",
                "table",
                "the logistic model has no trees; its inline SQL grows only with the features",
            ))
        }
        (Form::Table, Some(_)) => (
            Form::Table,
            "table form, as asked".to_string(),
            None::<Written>,
        ),
        (Form::Inline, _) => {
            let w = inline::export(model, dialect, table)?;
            let note = format!(
                "inline form, as asked; largest statement {}",
                size(w.largest)
            );
            (Form::Inline, note, Some(w))
        }
        (Form::Auto, _) => {
            let w = inline::export(model, dialect, table)?;
            if w.largest < STATEMENT_LIMIT || trees.is_none() {
                let note = format!(
                    "auto chose the inline form: largest statement {}, under the {} limit",
                    size(w.largest),
                    size(STATEMENT_LIMIT)
                );
                (Form::Inline, note, Some(w))
            } else {
                let note = format!(
                    "auto chose the table form: the inline form's largest statement would be {}, over the {} limit",
                    size(w.largest),
                    size(STATEMENT_LIMIT)
                );
                (Form::Table, note, None)
            }
        }
    };
    let written = match (inline, trees) {
        (Some(w), _) => w,
        (None, Some(trees)) => table::export(model, trees, depth, dialect, table)?,
        (None, None) => {
            return Err(Error::Sql(
                "internal: no form was written for the logistic model".into(),
            ))
        }
    };
    let mut sql = header(model, dialect, form);
    sql.push_str(&written.sql);
    Ok(Export {
        sql,
        form,
        data: written.data,
        note,
        largest_statement: written.largest,
    })
}

/// What a form writes after the header.
pub(crate) struct Written {
    pub sql: String,
    pub data: Option<DataFile>,
    pub largest: usize,
}

impl Written {
    /// Joins statements (each without its final `;`), measuring the longest.
    pub(crate) fn new(statements: Vec<String>, data: Option<DataFile>) -> Written {
        let largest = statements.iter().map(String::len).max().unwrap_or(0);
        let mut sql = String::new();
        for s in statements {
            sql.push_str(&s);
            sql.push_str(";\n\n");
        }
        Written { sql, data, largest }
    }
}

fn header(model: &Trained, dialect: Dialect, form: Form) -> String {
    let features: Vec<String> = model.feature_names().iter().map(|f| comment(f)).collect();
    format!(
        "-- HitCast {} model: probability of a hit.\n-- Features, in order: {}.\n-- Dialect: {dialect}. Form: {form}. Generated by `hitcast export-sql`; do not edit.\n\n",
        model.family().title(),
        features.join(", "),
    )
}

fn size(bytes: usize) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.0} KB", (bytes as f64 / 1e3).ceil())
    }
}

/// Checks that `table`, whose columns are `columns`, holds every feature the model reads
/// (an empty `columns` means the table's columns are not known, and nothing is checked).
///
/// # Errors
/// [`Error::Sql`] naming the table and every feature column it lacks.
pub fn check_columns(features: &[String], table: &str, columns: &[String]) -> Result<()> {
    if columns.is_empty() {
        return Ok(());
    }
    let missing: Vec<&str> = features
        .iter()
        .filter(|f| !columns.contains(f))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Sql(format!(
            "table `{table}` lacks the model's feature column(s): {}",
            missing.join(", ")
        )))
    }
}

/// Text safe inside a `--` comment: printable ASCII only (Rust's `escape_default`), so a
/// line break, a NUL or any other character cannot end the comment.
pub fn comment(text: &str) -> String {
    text.escape_default().to_string()
}

/// A name made of `[a-z_][a-z0-9_]*`: the same in every dialect, quoted or not.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Refuses names no dialect can carry safely: a NUL (PostgreSQL and SQLite reject it in
/// query text; elsewhere it truncates) and, in BigQuery, characters its quoted identifiers
/// would need escapes for.
fn check_name(dialect: Dialect, what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::param(what, "\"\"", "must not be empty"));
    }
    if name.contains('\0') {
        return Err(Error::param(
            what,
            format!("{name:?}"),
            "contains a NUL, which SQL cannot hold",
        ));
    }
    if dialect == Dialect::BigQuery
        && name
            .chars()
            .any(|c| c == '`' || c == '\\' || c.is_control())
    {
        return Err(Error::param(
            what,
            format!("{name:?}"),
            "BigQuery names cannot hold a back-tick, a backslash or a control character",
        ));
    }
    Ok(())
}

/// Function parameter names: the features themselves when all are plain, else `x1`, `x2`, …,
/// so a function body never holds a user-chosen string.
pub(crate) fn params(model: &Trained, dialect: Dialect) -> Vec<String> {
    let names = model.feature_names();
    if names.iter().all(|n| is_plain(n)) {
        names.iter().map(|n| dialect.ident(n)).collect()
    } else {
        (1..=names.len())
            .map(|j| dialect.ident(&format!("x{j}")))
            .collect()
    }
}

/// Checks every number and tree of `model` and returns the depth of its deepest tree (0 for
/// the logistic model).
fn check_model(model: &Trained) -> Result<usize> {
    let p = model.feature_names().len();
    let finite = |what: &str, v: &[f64]| -> Result<()> {
        match v.iter().position(|x| !x.is_finite()) {
            Some(j) => Err(Error::Sql(format!(
                "the model's {what} {j} is {}, which SQL cannot hold",
                v[j]
            ))),
            None => Ok(()),
        }
    };
    match model {
        Trained::Logistic(m) => {
            if m.coefficients.len() != p || m.means.len() != p || m.scales.len() != p {
                return Err(Error::Sql(
                    "the logistic model's coefficients do not match its features".into(),
                ));
            }
            finite("intercept", &[m.intercept])?;
            finite("coefficient", &m.coefficients)?;
            finite("mean", &m.means)?;
            finite("scale", &m.scales)?;
            Ok(0)
        }
        Trained::Forest(m) => {
            if m.trees.is_empty() {
                return Err(Error::Sql("the forest has no trees".into()));
            }
            check_trees(&m.trees, p)
        }
        Trained::Boost(m) => {
            finite("base score", &[m.base_score])?;
            check_trees(&m.trees, p)
        }
    }
}

/// Checks each tree with [`Tree::check`] over `p` features, and that its thresholds are
/// finite (a tree may split at ±∞, which SQL cannot write). Returns the largest depth.
fn check_trees(trees: &[Tree], p: usize) -> Result<usize> {
    let mut depth = 0;
    for (k, t) in trees.iter().enumerate() {
        let d = t
            .check(p)
            .and_then(|d| {
                match (0..t.nodes.len())
                    .find(|&i| t.nodes[i].left as usize != i && !t.nodes[i].threshold.is_finite())
                {
                    Some(i) => Err(format!(
                        "node {i} has the threshold {}",
                        t.nodes[i].threshold
                    )),
                    None => Ok(d),
                }
            })
            .map_err(|e| Error::Sql(format!("tree {k}: {e}")))?;
        depth = depth.max(d as usize);
    }
    Ok(depth)
}

/// The family's function name.
pub(crate) fn function_name(family: Family) -> String {
    format!("hitcast_{}", family.name())
}

/// The column the scoring `SELECT`s add: `p_<model>`, as `hitcast predict` names it. Not
/// `hit_probability`, which the synthetic data already has (the generator's truth), so a
/// scored table never holds two columns of one name.
pub fn output_column(family: Family) -> String {
    format!("p_{}", family.name())
}

/// `1 / (1 + EXP(-(z)))`.
pub(crate) fn sigmoid(z: &str, dialect: Dialect) -> String {
    let one = dialect.number(1.0);
    format!("{one} / ({one} + EXP(-({z})))")
}

/// `w.push_str` for formatted text without the `fmt::Result` noise.
pub(crate) fn push(out: &mut String, args: fmt::Arguments<'_>) {
    let _ = out.write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Node;

    #[test]
    fn identifiers_cannot_break_out_of_quotes() {
        let evil = "tempo\"; DROP TABLE tracks; --";
        assert_eq!(
            Dialect::Postgres.ident(evil),
            "\"tempo\"\"; DROP TABLE tracks; --\""
        );
        assert_eq!(Dialect::Snowflake.ident("tempo"), "\"TEMPO\"");
        assert_eq!(Dialect::Snowflake.ident("Tempo"), "\"Tempo\"");
        assert_eq!(Dialect::Sqlite.ident("key"), "\"key\"");
        assert_eq!(Dialect::BigQuery.ident("a`b"), "`a\\`b`");
        assert!(check_name(Dialect::BigQuery, "table", "a`b").is_err());
        assert!(check_name(Dialect::Postgres, "table", "a\0b").is_err());
        assert!(check_name(Dialect::Postgres, "table", "a\n`$$b").is_ok());
    }

    #[test]
    fn comments_hold_one_line_of_printable_ascii() {
        let c = comment("tracks.\nDROP TABLE victims;\r\u{2028}\0*/");
        assert!(!c.contains('\n') && !c.contains('\r'), "{c}");
        assert!(
            c.chars().all(|ch| ch.is_ascii_graphic() || ch == ' '),
            "{c}"
        );
    }

    #[test]
    fn numbers_keep_every_bit() {
        for v in [0.1, 1.0 / 3.0, -2.5e-17, 120.5] {
            let text = Dialect::Sqlite.number(v);
            let parsed: f64 = text.trim_matches(|c| c == '(' || c == ')').parse().unwrap();
            assert_eq!(parsed.to_bits(), v.to_bits(), "{text}");
        }
        assert_eq!(
            Dialect::Postgres.number(0.5),
            "CAST(0.5 AS DOUBLE PRECISION)"
        );
        assert!("fortran".parse::<Dialect>().is_err());
        assert_eq!("bigquery".parse::<Dialect>().unwrap(), Dialect::BigQuery);
        assert_eq!("table".parse::<Form>().unwrap(), Form::Table);
    }

    fn internal(feature: u32, left: u32) -> Node {
        Node {
            threshold: 0.5,
            feature,
            left,
        }
    }

    fn leaf(i: u32) -> Node {
        Node {
            threshold: f64::INFINITY,
            feature: 0,
            left: i,
        }
    }

    /// [`check_trees`] on one tree over `p` features, its error as text.
    fn check(tree: &Tree, p: usize) -> std::result::Result<usize, String> {
        check_trees(std::slice::from_ref(tree), p).map_err(|e| e.to_string())
    }

    #[test]
    fn dags_deep_chains_and_bad_indices_are_refused() {
        // Node 1 and node 2 both point to 3/4: node 3 has two parents.
        let mut nodes = vec![internal(0, 1), internal(0, 3), internal(0, 3)];
        nodes.extend([leaf(3), leaf(4)]);
        let dag = Tree {
            values: vec![0.0; nodes.len()],
            nodes,
            depth: 2,
            cover: Vec::new(),
        };
        assert!(check(&dag, 1)
            .unwrap_err()
            .contains("node 3 has two parents"));

        // A chain 100,000 deep: refused without recursion (no stack overflow).
        let depth = 100_000u32;
        let mut nodes = Vec::new();
        for d in 0..depth {
            nodes.push(internal(0, 2 * d + 1));
            nodes.push(leaf(2 * d + 1));
        }
        nodes.push(leaf(2 * depth));
        let chain = Tree {
            values: vec![0.0; nodes.len()],
            nodes,
            depth,
            cover: Vec::new(),
        };
        assert!(check(&chain, 1)
            .unwrap_err()
            .contains("tree 0: node 129 lies at depth 65, deeper than the 64"));

        let tree = Tree {
            nodes: vec![internal(3, 1), leaf(1), leaf(2)],
            values: vec![0.0, 0.1, 0.9],
            depth: 1,
            cover: Vec::new(),
        };
        assert_eq!(check(&tree, 4), Ok(1));
        assert!(check(&tree, 2)
            .unwrap_err()
            .contains("node 0 splits on feature 3"));
        let missing = Tree {
            nodes: vec![internal(0, 5), leaf(1), leaf(2)],
            ..tree.clone()
        };
        assert!(check(&missing, 4)
            .unwrap_err()
            .contains("node 0 points to missing child 5"));
        let nan = Tree {
            values: vec![0.0, f64::NAN, 0.9],
            ..tree.clone()
        };
        assert!(check(&nan, 4)
            .unwrap_err()
            .contains("node 1: leaf value NaN"));
        // The library walks a split at +∞ (always left); SQL has no literal for it.
        let mut inf = tree;
        inf.nodes[0].threshold = f64::INFINITY;
        assert!(check(&inf, 4)
            .unwrap_err()
            .contains("node 0 has the threshold inf"));
    }
}
