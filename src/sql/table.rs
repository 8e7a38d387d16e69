//! The table form: the trees as rows of a table and a scoring query of fixed size.
//!
//! Scoring compares feature values with thresholds, and every threshold of feature `f` is one
//! of its sorted distinct *cuts*. So a value's *bin*, the number of cuts below it, decides
//! every split on `f`: `x > t` exactly when `bin(x) > rank(t)`, where `rank(t)` counts the
//! cuts below `t` (a NULL has bin 0 and goes left, as NaN does in the library). The query
//! computes each distinct value's bin once and packs a row's bins into one integer *key*
//! (`w` bits per feature), so a split is one `AND` and one comparison of integers:
//! `(key & mask) > bound`, with `mask` selecting the feature's bits and `bound` its rank.
//!
//! The trees are cut into *blocks* of [`LEVELS`] levels: a block is a subtree rooted at a
//! depth divisible by [`LEVELS`], written as one row with its [`SPLITS`] splits in heap order
//! (a missing split, below a leaf, is `mask = bound = 0` and goes left) and its
//! [`SLOTS`] exits numbered `first_child + 0 … 7` (leaf to the right: a higher number). Each
//! exit is a block of the next level or a leaf row. The query pairs every distinct key with
//! each tree's first block (a cross join), then takes one `LEFT JOIN` per block level, keyed
//! by the exit number: a pair that reached a leaf finds no block and keeps its number. It
//! then sums the leaves per key and joins the scores back to the table's rows by key.
//!
//! Measured in DuckDB on the default forest (docs/benchmarks.md): walking three levels per
//! join with integer splits takes a third of the instructions of one join per level with
//! `CASE` on the feature index and floating-point thresholds. The text grows with the depth
//! of the deepest tree and the number of features, never with the number of trees or nodes.
//!
//! One table holds three kinds of rows (`row_kind`): `cut` (feature, threshold), `block`
//! (level, number, first exit, splits) and `leaf` (number, value).

use super::{function_name, push, sigmoid, DataFile, Dialect, Written};
use crate::error::{Error, Result};
use crate::model::{distinct_thresholds, Family, Trained, Tree};

/// Tree levels walked per join.
pub const LEVELS: usize = 3;
/// Splits of a block (a complete subtree of [`LEVELS`] levels).
pub const SPLITS: usize = (1 << LEVELS) - 1;
/// Exits of a block.
pub const SLOTS: usize = 1 << LEVELS;
/// Key bits used per 64-bit word: masks and bounds stay positive in every engine.
const WORD_BITS: u32 = 62;

/// The trees table's name (unqualified) and data file name for a family: fixed strings, so
/// no user input reaches a load statement or a psql meta-command.
pub fn trees_table(family: Family) -> String {
    format!("{}_trees", function_name(family))
}

/// How bins are packed into keys: features `f` sits in word `f / per_word`, `width` bits
/// from bit `width * (f % per_word)`.
struct Packing {
    width: u32,
    per_word: usize,
    words: usize,
}

impl Packing {
    fn new(cuts: &[Vec<f64>]) -> Result<Packing> {
        // A bin ranges over 0..=cuts, so `width` bits must hold the largest count of cuts.
        let most = cuts.iter().map(Vec::len).max().unwrap_or(0) as u64;
        let width = (u64::BITS - most.leading_zeros()).max(1);
        if width > 31 {
            return Err(Error::Sql(format!(
                "a feature has {most} distinct thresholds, more than the table form packs"
            )));
        }
        let per_word = (WORD_BITS / width) as usize;
        Ok(Packing {
            width,
            per_word,
            words: cuts.len().div_ceil(per_word).max(1),
        })
    }

    fn word(&self, f: usize) -> usize {
        f / self.per_word
    }

    fn shift(&self, f: usize) -> u32 {
        self.width * (f % self.per_word) as u32
    }
}

/// A split of a block row: the word it reads, its mask and its bound.
#[derive(Clone, Copy, Default)]
struct Split {
    word: usize,
    mask: i64,
    bound: i64,
}

/// The table's columns (name, type as a [`Column`]), in CSV order.
#[derive(Clone, Copy)]
enum Column {
    Text,
    Int,
    BigInt,
    Double,
}

fn columns(words: usize) -> Vec<(String, Column)> {
    let mut c: Vec<(String, Column)> = [
        ("row_kind", Column::Text),
        ("block_level", Column::Int),
        ("node_id", Column::Int),
        ("feature_index", Column::Int),
        ("threshold", Column::Double),
        ("leaf_value", Column::Double),
        ("first_child", Column::Int),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    if words > 1 {
        c.extend((1..=SPLITS).map(|j| (format!("word{j}"), Column::Int)));
    }
    c.extend((1..=SPLITS).map(|j| (format!("mask{j}"), Column::BigInt)));
    c.extend((1..=SPLITS).map(|j| (format!("bound{j}"), Column::BigInt)));
    c
}

fn sql_type(dialect: Dialect, c: Column) -> &'static str {
    match (c, dialect) {
        (Column::Double, _) => dialect.double(),
        (Column::Int, _) => dialect.integer(),
        (Column::BigInt, Dialect::BigQuery) => "INT64",
        (Column::BigInt, Dialect::Sqlite) => "INTEGER",
        (Column::BigInt, _) => "BIGINT",
        (Column::Text, Dialect::BigQuery) => "STRING",
        (Column::Text, Dialect::DuckDb | Dialect::Snowflake) => "VARCHAR",
        (Column::Text, _) => "TEXT",
    }
}

/// The trees as the table's rows (CSV with a header) and the number of block levels.
struct Layout {
    csv: String,
    levels: usize,
    packing: Packing,
}

fn layout(trees: &[Tree], p: usize, depth: usize) -> Result<Layout> {
    let cuts = distinct_thresholds(trees, p);
    let packing = Packing::new(&cuts)?;
    let cols = columns(packing.words);
    let mut out = String::with_capacity(trees.iter().map(|t| t.nodes.len() * 40).sum());
    let header: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    // Empty fields after the kind's own: the rest of each row.
    let blank = |from: usize| ",".repeat(cols.len() - from);
    for (f, c) in cuts.iter().enumerate() {
        for t in c {
            push(&mut out, format_args!("cut,,,{f},{t:?}{}\n", blank(5)));
        }
    }
    let split = |f: usize, threshold: f64| -> Split {
        let rank = cuts[f].partition_point(|&c| c < threshold) as i64;
        let shift = packing.shift(f);
        Split {
            word: packing.word(f),
            mask: ((1i64 << packing.width) - 1) << shift,
            bound: rank << shift,
        }
    };
    // Walk level by level: `frontier` holds (number, tree, node) reached at this level.
    // Every tree's root gets a block at level 0 (a leaf root a block of missing splits), so
    // the query's first step is a cross join with no lookup.
    let levels = depth.div_ceil(LEVELS).max(1);
    let mut frontier: Vec<(u64, usize, usize)> =
        (0..trees.len()).map(|k| (k as u64, k, 0)).collect();
    let mut next_number = trees.len() as u64;
    let mut leaves = String::new();
    for level in 0..=levels {
        let mut next = Vec::new();
        for &(number, k, root) in &frontier {
            let t = &trees[k];
            if level > 0 && t.nodes[root].left as usize == root {
                push(
                    &mut leaves,
                    format_args!("leaf,,{number},,,{:?}{}\n", t.values[root], blank(6)),
                );
                continue;
            }
            if level == levels {
                return Err(Error::Sql(format!(
                    "internal: tree {k} is deeper than the {depth} levels it was checked for"
                )));
            }
            // Heap order: slot s has children 2s and 2s + 1; slots SLOTS..2·SLOTS are exits.
            let mut slot: [Option<usize>; 2 * SLOTS] = [None; 2 * SLOTS];
            slot[1] = Some(root);
            let mut splits = [Split::default(); SPLITS];
            for s in 1..SLOTS {
                match slot[s] {
                    Some(i) if t.nodes[i].left as usize != i => {
                        let n = t.nodes[i];
                        splits[s - 1] = split(n.feature as usize, n.threshold);
                        slot[2 * s] = Some(n.left as usize);
                        slot[2 * s + 1] = Some(n.left as usize + 1);
                    }
                    // A leaf (or nothing) inside the block: always left, to itself.
                    other => slot[2 * s] = other,
                }
            }
            let first = next_number;
            next_number += SLOTS as u64;
            for (o, s) in slot[SLOTS..].iter().enumerate() {
                if let Some(i) = s {
                    next.push((first + o as u64, k, *i));
                }
            }
            push(&mut out, format_args!("block,{level},{number},,,,{first}"));
            if packing.words > 1 {
                for s in &splits {
                    push(&mut out, format_args!(",{}", s.word));
                }
            }
            for s in &splits {
                push(&mut out, format_args!(",{}", s.mask));
            }
            for s in &splits {
                push(&mut out, format_args!(",{}", s.bound));
            }
            out.push('\n');
        }
        frontier = next;
    }
    if next_number > i32::MAX as u64 {
        return Err(Error::Sql(format!(
            "the table form would number {next_number} rows, more than an INTEGER holds"
        )));
    }
    out.push_str(&leaves);
    Ok(Layout {
        csv: out,
        levels,
        packing,
    })
}

/// Statements creating and loading the trees table from `file`.
fn load(dialect: Dialect, words: usize, name: &str, bare: &str, file: &str) -> Vec<String> {
    let cols = columns(words);
    let typed: Vec<String> = cols
        .iter()
        .map(|(c, t)| format!("{c} {}", sql_type(dialect, *t)))
        .collect();
    let create = format!(
        "-- The trees as rows, loaded from {file} (written beside this file): `cut` rows hold each\n-- feature's thresholds, `block` rows three tree levels each, `leaf` rows the outputs.\n{} ({})",
        dialect.create_table(name),
        typed.join(", ")
    );
    let load = match dialect {
        Dialect::DuckDb => {
            let types: Vec<String> = cols
                .iter()
                .map(|(c, t)| format!("'{c}': '{}'", sql_type(dialect, *t)))
                .collect();
            format!(
                "INSERT INTO {name}\nSELECT * FROM read_csv('{file}', header = true, columns = {{{}}})",
                types.join(", ")
            )
        }
        Dialect::Postgres => format!(
            "-- psql reads the file on the client (run psql from the folder holding it); without\n-- psql, COPY {name} FROM '/server/path/{file}' WITH (FORMAT csv, HEADER true) reads it on the server.\n\\copy {name} FROM '{file}' WITH (FORMAT csv, HEADER true)\n-- A fresh table has no statistics; without them the planner walks the trees in nested loops.\nANALYZE {name};\nSELECT COUNT(*) AS hitcast_tree_rows FROM {name}"
        ),
        Dialect::Snowflake => format!(
            "-- PUT runs in SnowSQL (or another client that supports it), from the folder holding the file.\nCREATE TEMPORARY STAGE IF NOT EXISTS hitcast_stage;\nPUT 'file://{file}' @hitcast_stage AUTO_COMPRESS = FALSE OVERWRITE = TRUE;\nCOPY INTO {name} FROM @hitcast_stage/{file}\nFILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 EMPTY_FIELD_AS_NULL = TRUE)"
        ),
        Dialect::BigQuery => format!(
            "-- Upload {file} to Cloud Storage first and name it here, or run instead:\n--   bq load --source_format=CSV --skip_leading_rows=1 <dataset>.{bare} {file}\nLOAD DATA INTO {name}\nFROM FILES (format = 'CSV', skip_leading_rows = 1, uris = ['gs://YOUR_BUCKET/{file}'])"
        ),
        // The sqlite3 shell imports empty fields as '' rather than NULL; the query only reads
        // the fields each kind of row fills.
        Dialect::Sqlite => format!(
            "-- In the sqlite3 shell, from the folder holding the file:\n.import --csv --skip 1 {file} {name}\nSELECT COUNT(*) AS hitcast_tree_rows FROM {name}"
        ),
    };
    vec![create, load]
}

/// `a & b` (Snowflake spells it `BITAND`).
fn and(dialect: Dialect, a: &str, b: &str) -> String {
    match dialect {
        Dialect::Snowflake => format!("BITAND({a}, {b})"),
        _ => format!("({a} & {b})"),
    }
}

/// The exit (0..SLOTS) a key takes through block `b`: nested `CASE` on the splits in heap
/// order, so each pair evaluates only the [`LEVELS`] splits on its path.
fn exit(dialect: Dialect, packing: &Packing, slot: usize, depth: usize, at: usize) -> String {
    if depth == LEVELS {
        return at.to_string();
    }
    let key = if packing.words == 1 {
        "s.k0".to_string()
    } else {
        let mut k = format!("CASE b.word{slot}");
        for w in 0..packing.words {
            push(&mut k, format_args!(" WHEN {w} THEN s.k{w}"));
        }
        k.push_str(" END");
        k
    };
    let test = format!(
        "{} > b.bound{slot}",
        and(dialect, &key, &format!("b.mask{slot}"))
    );
    format!(
        "CASE WHEN {test} THEN {} ELSE {} END",
        exit(
            dialect,
            packing,
            2 * slot + 1,
            depth + 1,
            at + (SLOTS >> (depth + 1))
        ),
        exit(dialect, packing, 2 * slot, depth + 1, at)
    )
}

/// The scoring query over `table`.
fn query(
    model: &Trained,
    score: &str,
    layout: &Layout,
    dialect: Dialect,
    name: &str,
    table: &str,
) -> String {
    let packing = &layout.packing;
    let bigint = sql_type(dialect, Column::BigInt);
    let from = dialect.table(table);
    let features = model.feature_names();
    let keys: Vec<String> = (0..packing.words).map(|w| format!("k{w}")).collect();
    let carried = keys
        .iter()
        .map(|k| format!("s.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = String::from(
        "-- Scores every row of the table: each distinct combination of bins walks every tree,\n-- three levels per join.\nWITH ",
    );
    for (f, feature) in features.iter().enumerate() {
        // Running count of cuts, values before equal cuts: a value's bin counts the cuts
        // strictly below it. Cast, as some engines' SUM is a float (fakesnow's), and keys
        // must be built in exact integer arithmetic.
        push(
            &mut q,
            format_args!(
                "hitcast_bin{f} AS (\n  SELECT x, CAST(bin AS {bigint}) AS bin FROM (\n    SELECT x, c, SUM(c) OVER (ORDER BY x, c ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bin\n    FROM (SELECT DISTINCT {col} AS x, 0 AS c FROM {from} WHERE {col} IS NOT NULL\n          UNION ALL SELECT threshold, 1 FROM {name} WHERE row_kind = 'cut' AND feature_index = {f}) v\n  ) w WHERE c = 0\n),\n",
                col = dialect.ident(feature),
            ),
        );
    }
    // Each word of the key: the sum of its features' bins, shifted into place.
    let key_exprs: Vec<String> = (0..packing.words)
        .map(|w| {
            let terms: Vec<String> = (0..features.len())
                .filter(|&f| packing.word(f) == w)
                .map(|f| format!("COALESCE(b{f}.bin, 0) * {}", 1i64 << packing.shift(f)))
                .collect();
            terms.join(" + ")
        })
        .collect();
    let bin_joins: String = features
        .iter()
        .enumerate()
        .map(|(f, feature)| {
            format!(
                "\n  LEFT JOIN hitcast_bin{f} b{f} ON b{f}.x = d.{}",
                dialect.ident(feature)
            )
        })
        .collect();
    let distinct: Vec<String> = key_exprs
        .iter()
        .zip(&keys)
        .map(|(e, k)| format!("{e} AS {k}"))
        .collect();
    push(
        &mut q,
        format_args!(
            "hitcast_keys AS (\n  SELECT DISTINCT {}\n  FROM {from} d{bin_joins}\n)",
            distinct.join(", ")
        ),
    );
    let block = |level: usize| {
        let mut c = vec!["node_id".to_string(), "first_child".to_string()];
        for j in 1..=SPLITS {
            if packing.words > 1 {
                c.push(format!("word{j}"));
            }
            c.push(format!("mask{j}"));
            c.push(format!("bound{j}"));
        }
        format!(
            "(SELECT {} FROM {name} WHERE row_kind = 'block' AND block_level = {level})",
            c.join(", ")
        )
    };
    let walk = exit(dialect, packing, 1, 0, 0);
    push(
        &mut q,
        format_args!(
            ",\nhitcast_step1 AS (\n  SELECT {carried}, b.first_child + {walk} AS node\n  FROM hitcast_keys s CROSS JOIN {} b\n)",
            block(0)
        ),
    );
    for level in 1..layout.levels {
        push(
            &mut q,
            format_args!(
                ",\nhitcast_step{} AS (\n  SELECT {carried},\n    CASE WHEN b.node_id IS NULL THEN s.node ELSE b.first_child + {walk} END AS node\n  FROM hitcast_step{level} s LEFT JOIN {} b ON b.node_id = s.node\n)",
                level + 1,
                block(level)
            ),
        );
    }
    push(
        &mut q,
        format_args!(
            ",\nhitcast_scores AS (\n  SELECT {carried}, {score} AS {out}\n  FROM hitcast_step{} s JOIN (SELECT node_id, leaf_value FROM {name} WHERE row_kind = 'leaf') l ON l.node_id = s.node\n  GROUP BY {carried}\n)\nSELECT d.*, c.{out}\nFROM {from} d{bin_joins}\n  JOIN hitcast_scores c ON ",
            layout.levels,
            out = super::output_column(model.family()),
        ),
    );
    let on: Vec<String> = key_exprs
        .iter()
        .zip(&keys)
        .map(|(e, k)| format!("c.{k} = {e}"))
        .collect();
    q.push_str(&on.join(" AND "));
    q
}

pub(crate) fn export(
    model: &Trained,
    trees: &[Tree],
    depth: usize,
    dialect: Dialect,
    table: &str,
) -> Result<Written> {
    let bare = trees_table(model.family());
    let file = format!("{bare}.csv");
    let layout = layout(trees, model.feature_names().len(), depth)?;
    // The trees live beside the scored table (BigQuery needs a dataset); elsewhere the
    // current schema, so the psql `\copy` line holds no user-chosen name.
    let name = match (dialect, table.rsplit_once('.')) {
        (Dialect::BigQuery, Some((schema, _))) => {
            format!("{}.{}", dialect.table(schema), dialect.ident(&bare))
        }
        _ => dialect.ident(&bare),
    };
    let total = "SUM(l.leaf_value)";
    let score = match model {
        Trained::Forest(m) => format!("{total} / {}", dialect.number(m.trees.len() as f64)),
        Trained::Boost(m) => sigmoid(
            &format!("{} + {total}", dialect.number(m.base_score)),
            dialect,
        ),
        Trained::Logistic(_) => {
            return Err(Error::Sql(
                "internal: the logistic model has no table form".into(),
            ))
        }
    };
    let mut statements = load(dialect, layout.packing.words, &name, &bare, &file);
    statements.push(query(model, &score, &layout, dialect, &name, table));
    let data = DataFile {
        file_name: file,
        contents: layout.csv,
    };
    Ok(Written::new(statements, Some(data)))
}
