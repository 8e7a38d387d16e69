//! The inline form: the model as one expression (nested `CASE` per tree), in a function
//! (UDF / macro) and in a plain `SELECT`.

use super::{check_model, function_name, params, push, sigmoid, Dialect, Written};
use crate::error::{Error, Result};
use crate::model::{Trained, Tree};

/// One step of writing a tree's `CASE`: a node to expand or text to append.
enum Step {
    Node(usize),
    Text(&'static str),
}

/// Appends `tree` as nested `CASE WHEN x > t THEN right ELSE left END`, so a NULL feature
/// goes left as NaN does in the library. Uses an explicit stack; `tree` must have passed
/// [`Tree::check`] (so it is a tree and its expansion is linear in its nodes).
fn tree_case(tree: &Tree, cols: &[String], dialect: Dialect, out: &mut String) {
    let mut stack = vec![Step::Node(0)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(t) => out.push_str(t),
            Step::Node(i) => {
                let n = tree.nodes[i];
                if n.left as usize == i {
                    out.push_str(&dialect.number(tree.values[i]));
                    continue;
                }
                push(
                    out,
                    format_args!(
                        "CASE WHEN {} > {} THEN ",
                        cols[n.feature as usize],
                        dialect.number(n.threshold)
                    ),
                );
                stack.push(Step::Text(" END"));
                stack.push(Step::Node(n.left as usize));
                stack.push(Step::Text(" ELSE "));
                stack.push(Step::Node(n.left as usize + 1));
            }
        }
    }
}

/// The probability of a hit as one SQL expression over the columns `cols` (already quoted
/// identifiers or parameter names, in the model's feature order).
///
/// # Errors
/// [`Error::Sql`] when `cols` does not match the model's features or a tree fails
/// [`Tree::check`] or holds a non-finite threshold.
pub fn expression(model: &Trained, cols: &[String], dialect: Dialect) -> Result<String> {
    if cols.len() != model.feature_names().len() {
        return Err(Error::Sql(format!(
            "{} column(s) given for a model of {} feature(s)",
            cols.len(),
            model.feature_names().len()
        )));
    }
    check_model(model)?;
    Ok(match model {
        Trained::Logistic(m) => {
            let mut z = dialect.number(m.intercept);
            for (j, c) in cols.iter().enumerate() {
                push(
                    &mut z,
                    format_args!(
                        " + {} * (({c} - {}) / {})",
                        dialect.number(m.coefficients[j]),
                        dialect.number(m.means[j]),
                        dialect.number(m.scales[j])
                    ),
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
                tree_case(t, cols, dialect, &mut s);
            }
            push(
                &mut s,
                format_args!(") / {}", dialect.number(m.trees.len() as f64)),
            );
            s
        }
        Trained::Boost(m) => {
            let mut z = dialect.number(m.base_score);
            for t in m.trees.iter() {
                z.push_str("\n + ");
                tree_case(t, cols, dialect, &mut z);
            }
            sigmoid(&z, dialect)
        }
    })
}

/// The function statement (none for SQLite, which has no SQL functions) and the `SELECT`.
pub(crate) fn export(model: &Trained, dialect: Dialect, table: &str) -> Result<Written> {
    let function = function_name(model.family());
    let params = params(model, dialect);
    let body = expression(model, &params, dialect)?;
    // Parameters are plain or generated and numbers hold no `$`: no dollar quote can close
    // early. Checked anyway, as the guarantee the quoting below relies on.
    if body.contains('$') {
        return Err(Error::Sql(
            "internal: a function body holds a `$`; refusing to quote it".into(),
        ));
    }
    let typed = |ty: &str| -> String {
        params
            .iter()
            .map(|p| format!("{p} {ty}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut statements = Vec::new();
    match dialect {
        Dialect::Postgres => statements.push(format!(
            "CREATE OR REPLACE FUNCTION {function}({})\nRETURNS DOUBLE PRECISION\nLANGUAGE SQL IMMUTABLE PARALLEL SAFE\nAS $hitcast$\nSELECT {body}\n$hitcast$",
            typed("DOUBLE PRECISION")
        )),
        Dialect::Snowflake => statements.push(format!(
            "CREATE OR REPLACE FUNCTION {function}({})\nRETURNS FLOAT\nAS $$\n{body}\n$$",
            typed("FLOAT")
        )),
        Dialect::BigQuery => statements.push(format!(
            "CREATE TEMP FUNCTION {function}({})\nRETURNS FLOAT64\nAS (\n{body}\n)",
            typed("FLOAT64")
        )),
        Dialect::DuckDb => statements.push(format!(
            "CREATE OR REPLACE MACRO {function}({}) AS\n{body}",
            params.join(", ")
        )),
        Dialect::Sqlite => {}
    }
    let cols: Vec<String> = model
        .feature_names()
        .iter()
        .map(|f| dialect.ident(f))
        .collect();
    let select = expression(model, &cols, dialect)?;
    let lead = match dialect {
        Dialect::Sqlite => "-- SQLite has no SQL functions: the SELECT scores every row.\n",
        _ => "-- The same without the function: scores every row.\n",
    };
    statements.push(format!(
        "{lead}SELECT *, {select} AS {}\nFROM {}",
        super::output_column(model.family()),
        dialect.table(table)
    ));
    Ok(Written::new(statements, None))
}
