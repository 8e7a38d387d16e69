//! The table form: the trees as rows of a table and a scoring query of fixed size.
//!
//! Every node is one row (`tree_id, node_id, feature_index, threshold, left_child,
//! right_child, leaf_value`); node ids are global, so one integer joins a row's position to
//! its node. A leaf has no feature or threshold (NULL) and points to itself, so a walk of
//! fixed length needs no test for leaves: `x > NULL` is NULL and the row stays. An internal
//! node sends a row right when `x > threshold`, else left (a NULL feature goes left, as NaN
//! does in the library).
//!
//! The query first takes the table's distinct feature tuples, pairs each with every tree's
//! root, then takes one join per level of the deepest tree, sums the leaves per tuple and
//! joins the scores back to the table's rows. Its text grows with the depth (one CTE per
//! level), never with the number of trees or nodes.

use super::{check_tree, function_name, push, sigmoid, DataFile, Dialect, Written};
use crate::error::{Error, Result};
use crate::model::{Family, Model, Trained, Tree};

/// Columns of the trees table, in CSV order.
const COLUMNS: [(&str, bool); 7] = [
    ("tree_id", true),
    ("node_id", true),
    ("feature_index", true),
    ("threshold", false),
    ("left_child", true),
    ("right_child", true),
    ("leaf_value", false),
];

/// The trees table's name (unqualified) and data file name for a family: fixed strings, so
/// no user input reaches a load statement or a psql meta-command.
pub fn trees_table(family: Family) -> String {
    format!("{}_trees", function_name(family))
}

/// The trees as CSV, one row per node, with a header.
fn csv(trees: &[Tree]) -> String {
    let mut out = String::with_capacity(trees.iter().map(|t| t.nodes.len() * 48).sum());
    let header: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    let mut offset = 0usize;
    for (k, t) in trees.iter().enumerate() {
        for (i, n) in t.nodes.iter().enumerate() {
            let id = offset + i;
            if n.left as usize == i {
                push(
                    &mut out,
                    format_args!("{k},{id},,,{id},{id},{:?}\n", t.values[i]),
                );
            } else {
                let left = offset + n.left as usize;
                push(
                    &mut out,
                    format_args!(
                        "{k},{id},{},{:?},{left},{},\n",
                        n.feature,
                        n.threshold,
                        left + 1
                    ),
                );
            }
        }
        offset += t.nodes.len();
    }
    out
}

/// Statements creating and loading the trees table from `file`.
fn load(dialect: Dialect, name: &str, bare: &str, file: &str) -> Vec<String> {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(c, int)| {
            let ty = if *int {
                dialect.integer()
            } else {
                dialect.double()
            };
            format!("{c} {ty}")
        })
        .collect();
    let create = format!(
        "-- The trees, one row per node, loaded from {file} (written beside this file).\n{} ({})",
        dialect.create_table(name),
        columns.join(", ")
    );
    let load = match dialect {
        Dialect::DuckDb => {
            let types: Vec<String> = COLUMNS
                .iter()
                .map(|(c, int)| {
                    format!("'{c}': '{}'", if *int { "INTEGER" } else { "DOUBLE" })
                })
                .collect();
            format!(
                "INSERT INTO {name}\nSELECT * FROM read_csv('{file}', header = true, columns = {{{}}})",
                types.join(", ")
            )
        }
        Dialect::Postgres => format!(
            "-- psql reads the file on the client (run psql from the folder holding it); without\n-- psql, COPY {name} FROM '/server/path/{file}' WITH (FORMAT csv, HEADER true) reads it on the server.\n\\copy {name} FROM '{file}' WITH (FORMAT csv, HEADER true)\nSELECT COUNT(*) AS hitcast_tree_nodes FROM {name}"
        ),
        Dialect::Snowflake => format!(
            "-- PUT runs in SnowSQL (or another client that supports it), from the folder holding the file.\nCREATE TEMPORARY STAGE IF NOT EXISTS hitcast_stage;\nPUT 'file://{file}' @hitcast_stage AUTO_COMPRESS = FALSE OVERWRITE = TRUE;\nCOPY INTO {name} FROM @hitcast_stage/{file}\nFILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 EMPTY_FIELD_AS_NULL = TRUE)"
        ),
        Dialect::BigQuery => format!(
            "-- Upload {file} to Cloud Storage first and name it here, or run instead:\n--   bq load --source_format=CSV --skip_leading_rows=1 <dataset>.{bare} {file}\nLOAD DATA INTO {name}\nFROM FILES (format = 'CSV', skip_leading_rows = 1, uris = ['gs://YOUR_BUCKET/{file}'])"
        ),
        Dialect::Sqlite => format!(
            "-- In the sqlite3 shell, from the folder holding the file:\n.import --csv --skip 1 {file} {name}\nSELECT COUNT(*) AS hitcast_tree_nodes FROM {name}"
        ),
    };
    vec![create, load]
}

/// The scoring query over `table`.
fn query(
    model: &Trained,
    score: &str,
    depth: usize,
    dialect: Dialect,
    name: &str,
    table: &str,
) -> String {
    let p = model.feature_names().len();
    let xs: Vec<String> = (0..p).map(|j| format!("x{j}")).collect();
    let carry = xs
        .iter()
        .map(|x| format!("s.{x}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = String::from(
        "-- Scores every row of the table: each distinct feature tuple walks every tree, one join per level.\nWITH hitcast_rows AS (\n  SELECT DISTINCT ",
    );
    let picked: Vec<String> = model
        .feature_names()
        .iter()
        .zip(&xs)
        .map(|(f, x)| format!("{} AS {x}", dialect.ident(f)))
        .collect();
    push(
        &mut q,
        format_args!(
            "{}\n  FROM {}\n),\nhitcast_step0 AS (\n  SELECT {carry}, r.node_id AS hitcast_node\n  FROM hitcast_rows s CROSS JOIN (SELECT MIN(node_id) AS node_id FROM {name} GROUP BY tree_id) r\n)",
            picked.join(", "),
            dialect.table(table)
        ),
    );
    let mut feature = String::from("CASE n.feature_index");
    for (j, x) in xs.iter().enumerate() {
        push(&mut feature, format_args!(" WHEN {j} THEN s.{x}"));
    }
    feature.push_str(" END");
    for level in 1..=depth {
        push(
            &mut q,
            format_args!(
                ",\nhitcast_step{level} AS (\n  SELECT {carry},\n    CASE WHEN ({feature}) > n.threshold THEN n.right_child ELSE n.left_child END AS hitcast_node\n  FROM hitcast_step{} s JOIN {name} n ON n.node_id = s.hitcast_node\n)",
                level - 1
            ),
        );
    }
    push(
        &mut q,
        format_args!(
            ",\nhitcast_scores AS (\n  SELECT {carry}, {score} AS hit_probability\n  FROM hitcast_step{depth} s JOIN {name} n ON n.node_id = s.hitcast_node\n  GROUP BY {carry}\n)\nSELECT d.*, c.hit_probability\nFROM {} d JOIN hitcast_scores c ON ",
            dialect.table(table)
        ),
    );
    let on: Vec<String> = model
        .feature_names()
        .iter()
        .zip(&xs)
        .map(|(f, x)| format!("d.{} IS NOT DISTINCT FROM c.{x}", dialect.ident(f)))
        .collect();
    q.push_str(&on.join(" AND "));
    q
}

pub(crate) fn export(
    model: &Trained,
    trees: &[Tree],
    dialect: Dialect,
    table: &str,
) -> Result<Written> {
    let bare = trees_table(model.family());
    let file = format!("{bare}.csv");
    let mut depth = 0;
    for (k, t) in trees.iter().enumerate() {
        let d = check_tree(t, model.feature_names().len())
            .map_err(|e| Error::Data(format!("tree {k}: {e}")))?;
        depth = depth.max(d);
    }
    // The trees live beside the scored table (BigQuery needs a dataset); elsewhere the
    // current schema, so the psql `\copy` line holds no user-chosen name.
    let name = match (dialect, table.rsplit_once('.')) {
        (Dialect::BigQuery, Some((schema, _))) => {
            format!("{}.{}", dialect.table(schema), dialect.ident(&bare))
        }
        _ => dialect.ident(&bare),
    };
    let total = "SUM(n.leaf_value)";
    let score = match model {
        Trained::Forest(m) => format!("{total} / {}", dialect.number(m.trees.len() as f64)),
        Trained::Boost(m) => sigmoid(
            &format!("{} + {total}", dialect.number(m.base_score)),
            dialect,
        ),
        Trained::Logistic(_) => {
            return Err(Error::Data(
                "internal: the logistic model has no table form".into(),
            ))
        }
    };
    let mut statements = load(dialect, &name, &bare, &file);
    statements.push(query(model, &score, depth, dialect, &name, table));
    let data = DataFile {
        file_name: file,
        contents: csv(trees),
    };
    Ok(Written::new(statements, Some(data)))
}
