//! Warehouse scoring: trained models as SQL that Snowflake, PostgreSQL, DuckDB and SQLite
//! run where the data lives. The logistic model carries its standardisation; trees become
//! nested `CASE` expressions; the forest averages its trees; the boosted model sums its trees
//! and applies the sigmoid. Output is a pure function of the model, so it is deterministic.
//!
//! Safety: feature names only ever appear as quoted identifiers (embedded quotes doubled),
//! so a feature name cannot inject SQL; numbers are written with Rust's shortest
//! round-trip formatting and cast to double precision, so engines read the model's exact
//! values.

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::Tree;
use crate::model::{Model, Trained};

/// SQL dialects HitCast writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Snowflake,
    DuckDb,
    Postgres,
    Sqlite,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::Snowflake,
        Dialect::DuckDb,
        Dialect::Postgres,
        Dialect::Sqlite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Snowflake => "snowflake",
            Dialect::DuckDb => "duckdb",
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// A float literal of exactly `v` (as the engine parses decimal text correctly rounded).
    fn number(self, v: f64) -> String {
        // `{:?}` always has a decimal point or exponent, e.g. `1.0`, `0.6325`, `1e-7`.
        let text = format!("{v:?}");
        match self {
            // Decimal literals are exact NUMERIC/DECIMAL there: make them doubles.
            Dialect::Postgres => format!("CAST({text} AS DOUBLE PRECISION)"),
            Dialect::DuckDb => format!("CAST({text} AS DOUBLE)"),
            Dialect::Snowflake => format!("CAST({text} AS FLOAT)"),
            // SQLite reads any literal with a point or exponent as a REAL.
            Dialect::Sqlite => {
                if v < 0.0 {
                    format!("({text})")
                } else {
                    text
                }
            }
        }
    }

    /// A safely quoted identifier. Snowflake stores unquoted identifiers upper-cased, so a
    /// plain lower-case name is quoted in upper case to match `CREATE TABLE t (tempo …)`.
    pub fn ident(self, name: &str) -> String {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let shown = if self == Dialect::Snowflake && plain {
            name.to_ascii_uppercase()
        } else {
            name.to_string()
        };
        format!("\"{}\"", shown.replace('"', "\"\""))
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
                    "expected snowflake, duckdb, postgres or sqlite",
                )
            })
    }
}

fn tree_case(tree: &Tree, node: usize, cols: &[String], dialect: Dialect, out: &mut String) {
    let n = tree.nodes[node];
    if n.left as usize == node {
        out.push_str(&dialect.number(tree.values[node]));
        return;
    }
    let _ = write!(
        out,
        "CASE WHEN {} <= {} THEN ",
        cols[n.feature as usize],
        dialect.number(n.threshold)
    );
    tree_case(tree, n.left as usize, cols, dialect, out);
    out.push_str(" ELSE ");
    tree_case(tree, n.left as usize + 1, cols, dialect, out);
    out.push_str(" END");
}

fn sigmoid(z: &str, dialect: Dialect) -> String {
    let one = dialect.number(1.0);
    format!("{one} / ({one} + EXP(-({z})))")
}

/// The probability of a hit as one SQL expression over the columns `cols` (already quoted
/// identifiers or parameter names, in the model's feature order).
pub fn expression(model: &Trained, cols: &[String], dialect: Dialect) -> String {
    match model {
        Trained::Logistic(m) => {
            let mut z = dialect.number(m.intercept);
            for (j, c) in cols.iter().enumerate() {
                let _ = write!(
                    z,
                    " + {} * (({c} - {}) / {})",
                    dialect.number(m.coefficients[j]),
                    dialect.number(m.means[j]),
                    dialect.number(m.scales[j])
                );
            }
            sigmoid(&z, dialect)
        }
        Trained::Forest(m) => {
            // Sum first, then divide: the library adds trees in order and divides once.
            let mut s = String::from("(");
            for (k, t) in m.trees.iter().enumerate() {
                if k > 0 {
                    s.push_str("\n + ");
                }
                tree_case(t, 0, cols, dialect, &mut s);
            }
            let _ = write!(s, ") / {}", dialect.number(m.trees.len() as f64));
            s
        }
        Trained::Boost(m) => {
            let mut z = dialect.number(m.base_score);
            for t in m.trees.iter() {
                z.push_str("\n + ");
                tree_case(t, 0, cols, dialect, &mut z);
            }
            sigmoid(&z, dialect)
        }
    }
}

/// The full export: a comment header, a `CREATE FUNCTION` (a macro in DuckDB; SQLite has no
/// SQL functions, so it gets the expression only) and a `SELECT` over `table`.
///
/// # Errors
/// [`Error::Param`] for an empty table name.
pub fn export(model: &Trained, dialect: Dialect, table: &str) -> Result<String> {
    if table.trim().is_empty() {
        return Err(Error::param("table", table, "must not be empty"));
    }
    let features = model.feature_names();
    let family = model.family();
    let function = format!("hitcast_{}", family.name());
    let params: Vec<String> = features.iter().map(|f| dialect.ident(f)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- HitCast {} model: probability of a hit.\n-- Features, in order: {}.\n-- Dialect: {}. Generated by `hitcast export-sql`; do not edit.\n",
        family.title(),
        features.join(", "),
        dialect
    );
    let body = expression(model, &params, dialect);
    match dialect {
        Dialect::Postgres => {
            let args: Vec<String> = params
                .iter()
                .map(|p| format!("{p} DOUBLE PRECISION"))
                .collect();
            let _ = writeln!(
                out,
                "CREATE OR REPLACE FUNCTION {function}({})\nRETURNS DOUBLE PRECISION\nLANGUAGE SQL IMMUTABLE PARALLEL SAFE\nAS $hitcast$\nSELECT {body}\n$hitcast$;\n",
                args.join(", ")
            );
        }
        Dialect::Snowflake => {
            let args: Vec<String> = params.iter().map(|p| format!("{p} FLOAT")).collect();
            let _ = writeln!(
                out,
                "CREATE OR REPLACE FUNCTION {function}({})\nRETURNS FLOAT\nAS $$\n{body}\n$$;\n",
                args.join(", ")
            );
        }
        Dialect::DuckDb => {
            let _ = writeln!(
                out,
                "CREATE OR REPLACE MACRO {function}({}) AS\n{body};\n",
                params.join(", ")
            );
        }
        Dialect::Sqlite => {
            let _ = writeln!(
                out,
                "-- SQLite has no SQL functions: use the SELECT below.\n"
            );
        }
    }
    let select = expression(model, &params, dialect);
    let _ = writeln!(
        out,
        "-- Plain expression form: scores every row of {table}.\nSELECT *, {select} AS hit_probability\nFROM {};",
        table_ident(table, dialect)
    );
    Ok(out)
}

/// A table name: `schema.table` parts quoted separately.
fn table_ident(table: &str, dialect: Dialect) -> String {
    table
        .split('.')
        .map(|part| dialect.ident(part))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
