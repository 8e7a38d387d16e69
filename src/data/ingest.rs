//! Reading real Spotify CSV exports into a [`Dataset`]. [`super::records`] reads the file
//! in one streaming pass and keeps the text of the columns ingest uses; the cells are parsed
//! here so that each bad cell is reported with its row and column instead of being silently
//! coerced to null.

use std::collections::BTreeMap;
#[cfg(feature = "csv")]
use std::collections::HashMap;
use std::fmt;
#[cfg(feature = "csv")]
use std::path::Path;

use serde::{Deserialize, Serialize};

#[cfg(feature = "csv")]
use super::{feature_range, ALL_FEATURES, CORE_FEATURES};
use super::{Dataset, FeatureSet};
#[cfg(feature = "csv")]
use crate::error::{Error, Result};

#[cfg(feature = "csv")]
const ID_COLUMNS: [&str; 3] = ["track_id", "id", "uri"];
#[cfg(feature = "csv")]
const NAME_COLUMNS: [&str; 3] = ["track_name", "track", "name"];
#[cfg(feature = "csv")]
const ARTIST_COLUMNS: [&str; 3] = ["artists", "artist", "track_artist"];
#[cfg(feature = "csv")]
const POPULARITY_COLUMNS: [&str; 2] = ["popularity", "track_popularity"];
#[cfg(feature = "csv")]
const GROUP_COLUMNS: [&str; 2] = ["group", "decade"];
#[cfg(feature = "csv")]
const TIME_COLUMNS: [&str; 5] = [
    "decade",
    "year",
    "release_date",
    "track_album_release_date",
    "album_release_date",
];

/// How the hit label is derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum LabelRule {
    /// The `target` column if the file has one, else popularity at or above its 80th percentile.
    #[default]
    Auto,
    /// A 0/1 column (`target` unless [`IngestOptions::target_column`] says otherwise).
    Target,
    /// Popularity at or above this value (0–100).
    PopularityAtLeast(f64),
    /// Popularity at or above this quantile (0–1) of the column, linear interpolation as in
    /// pandas; the resolved cut is reported.
    PopularityQuantile(f64),
    /// No label: data to be scored. Every `y` is 0 and the two-class check is skipped.
    Unlabelled,
}

/// The file layouts recognised from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// HitCast's own normalised CSV (`track_id`, `track_name`, ..., `target`).
    HitCast,
    /// The "Spotify Hit Predictor" files (`uri`, ..., `target`).
    HitPredictor,
    /// A popularity dataset (`popularity` or `track_popularity`).
    Popularity,
    /// None of the above; columns come from the mapping flags.
    Custom,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::HitCast => "hitcast (normalised)",
            Layout::HitPredictor => "spotify hit predictor (target column)",
            Layout::Popularity => "popularity dataset",
            Layout::Custom => "custom",
        })
    }
}

/// Options of [`ingest`]. Column options left `None` are detected from the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestOptions {
    /// How the label is derived. Default [`LabelRule::Auto`].
    pub label: LabelRule,
    /// Which features to use. Default the core four.
    pub features: FeatureSet,
    /// Keep the first row of each track id and drop the rest. Default `true`: copies of a
    /// track on both sides of a split leak. `false` keeps every row (splits still keep a
    /// track's rows together).
    pub dedupe: bool,
    /// Track id column. Default: the first of `track_id`, `id`, `uri`.
    pub id_column: Option<String>,
    /// Label column for [`LabelRule::Target`]. Default `target`.
    pub target_column: Option<String>,
    /// Popularity column. Default: `popularity` or `track_popularity`.
    pub popularity_column: Option<String>,
    /// Group column (e.g. decade). Default: `group` or `decade`.
    pub group_column: Option<String>,
    /// A 0/1 column marking test rows (e.g. `is_test`). Default none.
    pub split_column: Option<String>,
    /// Column giving each row's time (a decade, a year or a date such as
    /// `track_album_release_date`) for out-of-time evaluation. Default: the first of
    /// `decade`, `year`, `release_date`, `track_album_release_date`, `album_release_date`
    /// whose every cell starts with a year.
    pub time_column: Option<String>,
    /// Feature name → file column, for files that name features differently (`tempo=bpm`).
    pub rename: BTreeMap<String, String>,
    /// The field delimiter. Default `b','`.
    pub delimiter: u8,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            label: LabelRule::Auto,
            features: FeatureSet::Core,
            dedupe: true,
            id_column: None,
            target_column: None,
            popularity_column: None,
            group_column: None,
            split_column: None,
            time_column: None,
            rename: BTreeMap::new(),
            delimiter: b',',
        }
    }
}

/// What [`ingest`] did, for printing and for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// File name (no folders, so reports hold no absolute paths).
    pub file: String,
    pub layout: Layout,
    /// Data rows in the file.
    pub rows_raw: usize,
    /// Rows kept.
    pub rows: usize,
    /// Rows whose track id appeared on an earlier row.
    pub duplicate_rows: usize,
    /// Of those, rows dropped by `dedupe`.
    pub duplicates_dropped: usize,
    /// Tracks with more than one row.
    pub repeated_tracks: usize,
    /// Tracks whose rows carry both labels.
    pub conflicting_tracks: Vec<String>,
    /// Tracks whose rows differ in popularity.
    pub popularity_conflicts: usize,
    /// Tracks whose rows differ in a model feature.
    pub feature_conflicts: usize,
    /// Songs (normalised title and artist) under more than one id, among the kept rows.
    pub near_duplicates: super::NearDuplicates,
    /// The label rule in words, e.g. ``popularity >= 72 (quantile 0.8 of 1,234 tracks)``.
    pub label_rule: String,
    /// The popularity cut actually used, when the label comes from popularity.
    pub threshold: Option<f64>,
    /// Tracks (one row each) whose popularity equals the cut: all of them count as hits.
    pub ties_at_cut: Option<usize>,
    /// Share of hits among the kept rows.
    pub hit_rate: f64,
    /// The column the rows' periods came from, if any.
    pub time_column: Option<String>,
    /// The id column used, if any.
    pub id_column: Option<String>,
}

impl IngestReport {
    /// The repeated-track figures as [`super::Copies`].
    pub fn copies(&self) -> super::Copies {
        super::Copies {
            duplicate_rows: self.duplicate_rows,
            repeated_tracks: self.repeated_tracks,
            label_conflicts: self.conflicting_tracks.clone(),
            popularity_conflicts: self.popularity_conflicts,
            feature_conflicts: self.feature_conflicts,
        }
    }

    /// The data checks ingest can make on its own: repeated tracks and how their copies
    /// disagree, and the caveat of a known biased layout.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = match &self.id_column {
            Some(_) => super::checks::duplicate_warnings(&self.copies(), self.duplicates_dropped > 0),
            None => vec!["the file has no track id column: repeated tracks cannot be found, and a split may put copies on both sides".to_string()],
        };
        w.extend(self.layout.caveat().map(str::to_string));
        w
    }
}

impl Layout {
    /// What a user should know about data in this layout before quoting a metric.
    pub fn caveat(self) -> Option<&'static str> {
        match self {
            Layout::HitPredictor => Some(
                "the Spotify Hit Predictor layout is biased by construction: its non-hits (\"flops\") were chosen from artists absent from the Hot 100 and from non-mainstream genres, and each decade is 50/50 hits, so the models learn mainstream vs niche, not whether a release will chart",
            ),
            _ => None,
        }
    }
}

/// A dataset read from a file, with the file's own test flags and row numbers.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub dataset: Dataset,
    pub report: IngestReport,
    /// From [`IngestOptions::split_column`]: `true` for test rows.
    pub is_test: Option<Vec<bool>>,
    /// 0-based data row of the file that each dataset row came from.
    pub source_rows: Vec<usize>,
    /// The decade of each row (from [`IngestOptions::time_column`]), when the file has one.
    pub period: Option<Vec<i64>>,
}

#[cfg(feature = "csv")]
fn find<'a>(header: &'a [String], wanted: Option<&str>, candidates: &[&str]) -> Option<&'a str> {
    match wanted {
        Some(w) => header.iter().find(|h| h.as_str() == w).map(String::as_str),
        None => candidates
            .iter()
            .find_map(|c| header.iter().find(|h| h.as_str() == *c))
            .map(String::as_str),
    }
}

#[cfg(feature = "csv")]
struct Table<'a> {
    path: &'a Path,
    header: Vec<String>,
    /// Physical line each data row starts on.
    lines: Vec<usize>,
    /// By header position: the columns read (those [`wanted_columns`] named).
    columns: Vec<Option<super::records::Column>>,
    position: HashMap<String, usize>,
}

#[cfg(feature = "csv")]
impl Table<'_> {
    fn missing(&self, column: &str) -> Error {
        Error::MissingColumn {
            path: self.path.to_path_buf(),
            column: column.to_string(),
            available: self.header.join(", "),
        }
    }

    /// Data rows read.
    fn rows(&self) -> usize {
        self.lines.len()
    }

    /// A column's cells as read (text; `None` for an empty cell).
    fn cells(&self, column: &str) -> Result<&super::records::Column> {
        let j = *self
            .position
            .get(column)
            .ok_or_else(|| self.missing(column))?;
        self.columns[j].as_ref().ok_or_else(|| Error::Csv {
            path: self.path.to_path_buf(),
            // A column ingest uses but did not ask the reader for: a bug, never the file's.
            message: format!("column `{column}` was not read; please report this"),
        })
    }

    /// Frees the text of `column` unless it is in `keep`.
    fn release(&mut self, column: Option<&str>, keep: &[&str]) {
        if let Some(c) = column.filter(|c| !keep.contains(c)) {
            if let Some(&j) = self.position.get(c) {
                self.columns[j] = None;
            }
        }
    }

    /// Frees the text of the read columns not in `keep`.
    fn release_except(&mut self, keep: &[&str]) {
        for (j, name) in self.header.iter().enumerate() {
            if !keep.contains(&name.as_str()) {
                self.columns[j] = None;
            }
        }
    }

    fn text(&self, column: &str) -> Result<Vec<Option<String>>> {
        Ok(self
            .cells(column)?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    }

    fn cell_error(&self, row: usize, column: &str, message: String) -> Error {
        Error::Cell {
            path: self.path.to_path_buf(),
            row: row + 1,
            line: self.lines.get(row).copied().unwrap_or(row + 2),
            column: column.to_string(),
            message,
        }
    }

    /// Parses a numeric column; every value must be finite and inside `range`.
    fn numbers(&self, column: &str, range: Option<(f64, f64)>) -> Result<Vec<f64>> {
        let cells = self.cells(column)?.iter();
        // Sized up front: a million rows grown by doubling peaked at twice the column.
        let mut out = Vec::with_capacity(cells.len());
        for (row, cell) in cells.enumerate() {
            let cell = cell.ok_or_else(|| self.cell_error(row, column, "empty cell".into()))?;
            let value: f64 = cell
                .trim()
                .parse()
                .map_err(|_| self.cell_error(row, column, format!("`{cell}` is not a number")))?;
            if !value.is_finite() {
                return Err(self.cell_error(
                    row,
                    column,
                    format!("`{cell}` is not a finite number"),
                ));
            }
            if let Some((lo, hi)) = range {
                if value < lo || value > hi {
                    return Err(self.cell_error(
                        row,
                        column,
                        format!("{value} is outside the valid range {lo}–{hi}"),
                    ));
                }
            }
            out.push(value);
        }
        Ok(out)
    }

    /// Parses a 0/1 column marking test rows: any other value is an error, never a guess.
    fn flags(&self, column: &str) -> Result<Vec<bool>> {
        self.text(column)?
            .into_iter()
            .enumerate()
            .map(|(row, cell)| {
                let cell = cell.ok_or_else(|| self.cell_error(row, column, "empty cell".into()))?;
                match cell.trim().parse::<f64>() {
                    Ok(v) if v == 0.0 || v == 1.0 => Ok(v == 1.0),
                    _ => Err(self.cell_error(
                        row,
                        column,
                        format!("`{cell}` is not 0 or 1 (1 marks a test row)"),
                    )),
                }
            })
            .collect()
    }

    /// A column's cells as strings (empty where empty), converted on every thread.
    fn strings(&self, column: Option<&str>) -> Result<Vec<String>> {
        use rayon::prelude::*;
        match column {
            Some(c) => {
                let cells = self.cells(c)?;
                Ok((0..self.rows())
                    .into_par_iter()
                    .map(|i| cells.get(i).unwrap_or_default().to_string())
                    .collect())
            }
            None => Ok(vec![String::new(); self.rows()]),
        }
    }
}

#[cfg(feature = "csv")]
/// pandas' default quantile: linear interpolation between order statistics.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    if lo + 1 < v.len() {
        v[lo] + frac * (v[lo + 1] - v[lo])
    } else {
        v[lo]
    }
}

#[cfg(feature = "csv")]
/// Reads the columns of `source` (the file at `path`) that `wanted` names, given the header.
fn read<'a>(
    path: &'a Path,
    source: impl std::io::Read,
    delimiter: u8,
    wanted: impl FnOnce(&[String]) -> Vec<String>,
) -> Result<Table<'a>> {
    let records = super::records::read(path, source, delimiter, |header| {
        let names = wanted(header);
        header.iter().map(|h| names.contains(h)).collect()
    })?;
    let position = records
        .header
        .iter()
        .enumerate()
        .map(|(j, h)| (h.clone(), j))
        .collect();
    Ok(Table {
        path,
        header: records.header,
        lines: records.lines,
        columns: records.columns,
        position,
    })
}

#[cfg(feature = "csv")]
/// The columns [`ingest_table`] reads, as found in `header`: each feature's, the id, name
/// and artist columns, then [`later_columns`].
fn wanted_columns(header: &[String], options: &IngestOptions) -> Vec<String> {
    let mut out = feature_columns(header, options);
    out.extend(
        string_columns(header, options)
            .into_iter()
            .flatten()
            .map(str::to_string),
    );
    out.extend(later_columns(header, options));
    out
}

#[cfg(feature = "csv")]
/// The id, name and artist columns, as found in `header`.
fn string_columns<'h>(header: &'h [String], options: &IngestOptions) -> [Option<&'h str>; 3] {
    [
        find(header, options.id_column.as_deref(), &ID_COLUMNS),
        find(header, None, &NAME_COLUMNS),
        find(header, None, &ARTIST_COLUMNS),
    ]
}

#[cfg(feature = "csv")]
/// The columns read after the strings: popularity, group, label, split and time (every
/// candidate time column, since the first whose cells all hold a year is chosen).
fn later_columns(header: &[String], options: &IngestOptions) -> Vec<String> {
    let mut out: Vec<String> = [
        find(
            header,
            options.popularity_column.as_deref(),
            &POPULARITY_COLUMNS,
        ),
        find(header, options.group_column.as_deref(), &GROUP_COLUMNS),
        Some(options.target_column.as_deref().unwrap_or("target")),
        options.split_column.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(str::to_string)
    .collect();
    match &options.time_column {
        Some(c) => out.push(c.clone()),
        None => out.extend(TIME_COLUMNS.iter().map(|c| c.to_string())),
    }
    out
}

#[cfg(feature = "csv")]
/// The file column of a feature: its own name unless [`IngestOptions::rename`] maps it.
fn column_of(options: &IngestOptions, feature: &str) -> String {
    options
        .rename
        .get(feature)
        .cloned()
        .unwrap_or_else(|| feature.to_string())
}

#[cfg(feature = "csv")]
/// The features ingest models, in order (for [`FeatureSet::All`], those the file has).
fn feature_names(header: &[String], options: &IngestOptions) -> Vec<String> {
    let has = |c: &str| header.iter().any(|h| h == c);
    match &options.features {
        FeatureSet::Core => CORE_FEATURES.iter().map(|s| s.to_string()).collect(),
        FeatureSet::All => ALL_FEATURES
            .iter()
            .filter(|f| has(&column_of(options, f)))
            .map(|s| s.to_string())
            .collect(),
        FeatureSet::Named(names) => names.clone(),
    }
}

#[cfg(feature = "csv")]
/// The file columns of [`feature_names`].
fn feature_columns(header: &[String], options: &IngestOptions) -> Vec<String> {
    feature_names(header, options)
        .iter()
        .map(|f| column_of(options, f))
        .collect()
}

#[cfg(feature = "csv")]
/// Reads a Spotify CSV export into a dataset, detecting its layout from the header.
///
/// # Errors
/// [`Error::Empty`], [`Error::Csv`], [`Error::MissingColumn`], [`Error::Cell`] (naming the
/// row and column of a non-numeric, empty, NaN or out-of-range cell) and [`Error::OneClass`].
pub fn ingest(path: &Path, options: &IngestOptions) -> Result<Ingested> {
    // Streamed: the file is never in memory whole, only the columns ingest uses.
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let table = read(path, file, options.delimiter, |h| {
        wanted_columns(h, options)
    })?;
    ingest_table(path, table, options)
}

#[cfg(feature = "csv")]
/// [`ingest`] of a file's bytes already in memory (an upload): `path` only names the file in
/// messages and the report.
///
/// # Errors
/// As [`ingest`].
pub fn ingest_bytes(path: &Path, bytes: Vec<u8>, options: &IngestOptions) -> Result<Ingested> {
    let table = read(path, &bytes[..], options.delimiter, |h| {
        wanted_columns(h, options)
    })?;
    drop(bytes);
    ingest_table(path, table, options)
}

#[cfg(feature = "csv")]
fn ingest_table(path: &Path, mut table: Table<'_>, options: &IngestOptions) -> Result<Ingested> {
    let header = &table.header.clone();
    let has = |c: &str| header.iter().any(|h| h == c);
    let layout = if has("track_id") && has("track_name") && has("target") {
        Layout::HitCast
    } else if has("uri") && has("target") {
        Layout::HitPredictor
    } else if POPULARITY_COLUMNS.iter().any(|c| has(c)) {
        Layout::Popularity
    } else {
        Layout::Custom
    };

    let feature_names = feature_names(header, options);
    if feature_names.is_empty() {
        return Err(table.missing(CORE_FEATURES[0]));
    }
    // Columns parse side by side; the first error in column order is the one reported.
    let x = {
        use rayon::prelude::*;
        feature_names
            .par_iter()
            .map(|f| table.numbers(&column_of(options, f), feature_range(f)))
            .collect::<Vec<Result<Vec<f64>>>>()
            .into_iter()
            .collect::<Result<Vec<_>>>()?
    };
    // Each column's text is freed once its last role is converted (a column may play two:
    // `--id-column track_name`), so the columns and the dataset are never in memory whole
    // at once, and at most one string column is held twice.
    let [id_column, name_column, artist_column] = string_columns(header, options);
    let later = later_columns(header, options);
    let later: Vec<&str> = later.iter().map(String::as_str).collect();
    fn with<'a>(later: &[&'a str], rest: &[Option<&'a str>]) -> Vec<&'a str> {
        later
            .iter()
            .copied()
            .chain(rest.iter().flatten().copied())
            .collect()
    }
    table.release_except(&with(&later, &[id_column, name_column, artist_column]));

    if let (Some(wanted), None) = (&options.id_column, id_column) {
        return Err(table.missing(wanted));
    }
    let target_name = options
        .target_column
        .clone()
        .unwrap_or_else(|| "target".into());
    let ids = match id_column {
        Some(c) => table.strings(Some(c))?,
        None => (1..=table.rows()).map(|i| format!("row{i}")).collect(),
    };
    table.release(id_column, &with(&later, &[name_column, artist_column]));
    let names = table.strings(name_column)?;
    table.release(name_column, &with(&later, &[artist_column]));
    let artists = table.strings(artist_column)?;
    table.release_except(&later);
    let pop_column = find(
        header,
        options.popularity_column.as_deref(),
        &POPULARITY_COLUMNS,
    );
    if let (Some(wanted), None) = (&options.popularity_column, pop_column) {
        return Err(table.missing(wanted));
    }
    let popularity = pop_column
        .map(|c| table.numbers(c, Some((0.0, 100.0))))
        .transpose()?;
    let group_column = find(header, options.group_column.as_deref(), &GROUP_COLUMNS);
    if let (Some(wanted), None) = (&options.group_column, group_column) {
        return Err(table.missing(wanted));
    }
    let group = group_column.map(|c| table.strings(Some(c))).transpose()?;

    let rule = match (&options.label, has(&target_name), &popularity) {
        (LabelRule::Auto, true, _) => LabelRule::Target,
        (LabelRule::Auto, false, Some(_)) => LabelRule::PopularityQuantile(0.8),
        (LabelRule::Auto, false, None) | (LabelRule::Target, false, _) => {
            return Err(table.missing(&target_name))
        }
        (rule, _, _) => rule.clone(),
    };
    // Labels come from the rows that are modelled: a popularity quantile is resolved on one
    // row per track (the first), whether or not the copies are kept.
    // Each id hashed once, for the first rows here and the copies below.
    let first_of = super::checks::first_of(&ids);
    let first = super::checks::rows_first(&first_of);
    let (y, label_rule, threshold, label_column) = match rule {
        LabelRule::Target => {
            let values = table.numbers(&target_name, Some((0.0, 1.0)))?;
            let mut y = Vec::with_capacity(values.len());
            for (row, v) in values.into_iter().enumerate() {
                if v != 0.0 && v != 1.0 {
                    return Err(table.cell_error(
                        row,
                        &target_name,
                        format!("label {v} is neither 0 nor 1"),
                    ));
                }
                y.push(u8::from(v == 1.0));
            }
            (y, format!("{target_name} == 1"), None, target_name.clone())
        }
        LabelRule::PopularityAtLeast(_) | LabelRule::PopularityQuantile(_) => {
            let pop = popularity.as_ref().ok_or_else(|| {
                table.missing(options.popularity_column.as_deref().unwrap_or("popularity"))
            })?;
            let (cut, words) = match rule {
                LabelRule::PopularityAtLeast(t) => {
                    if !(0.0..=100.0).contains(&t) {
                        return Err(Error::param(
                            "threshold",
                            t,
                            "popularity threshold must be in 0–100",
                        ));
                    }
                    (t, String::new())
                }
                LabelRule::PopularityQuantile(q) => {
                    if !(q > 0.0 && q < 1.0) {
                        return Err(Error::param("quantile", q, "must be in (0, 1)"));
                    }
                    let distinct: Vec<f64> = first.iter().map(|&i| pop[i]).collect();
                    (
                        quantile(&distinct, q),
                        format!(" (quantile {q} of {} distinct tracks)", distinct.len()),
                    )
                }
                _ => unreachable!("matched above"),
            };
            let col = pop_column.unwrap_or("popularity").to_string();
            let y = pop.iter().map(|&p| u8::from(p >= cut)).collect();
            (y, format!("{col} >= {cut}{words}"), Some(cut), col)
        }
        LabelRule::Unlabelled => (
            vec![0; table.rows()],
            "unlabelled".into(),
            None,
            String::new(),
        ),
        LabelRule::Auto => unreachable!("resolved above"),
    };

    let is_test = match &options.split_column {
        Some(c) => Some(table.flags(c)?),
        None => None,
    };

    let period = time_period(&table, options.time_column.as_deref())?;
    // The columns' text is no longer needed: free it before the duplicate checks.
    let rows_raw = table.rows();
    let id_column = id_column.map(str::to_string);
    drop(table);

    let full = Dataset {
        feature_names,
        x,
        y,
        ids,
        names,
        artists,
        popularity,
        group,
        true_prob: None,
    };
    // Duplicates: counted always (with how their copies disagree), dropped unless kept.
    // The count and the near-duplicate search run side by side.
    let keep: Vec<usize> = if options.dedupe {
        first
    } else {
        (0..full.len()).collect()
    };
    // Rows are dropped only when repeated ids are, so the near-duplicate search sees
    // distinct ids exactly when `dedupe` is on.
    let kept = (keep.len() != full.len()).then(|| full.subset(&keep));
    let (copies, near_duplicates) = rayon::join(
        || super::checks::copies_given(&full, &first_of),
        || super::checks::near_duplicates_of(kept.as_ref().unwrap_or(&full), options.dedupe),
    );
    let dataset = kept.unwrap_or(full);
    let is_test = is_test.map(|t| keep.iter().map(|&r| t[r]).collect());
    let (time_column, period) = match period {
        Some((c, p)) => (Some(c), Some(keep.iter().map(|&r| p[r]).collect())),
        None => (None, None),
    };
    let ties_at_cut = threshold.and_then(|cut| {
        let pop = dataset.popularity.as_ref()?;
        let mut seen = std::collections::HashSet::new();
        Some(
            (0..dataset.len())
                .filter(|&i| pop[i] == cut && seen.insert(&dataset.ids[i]))
                .count(),
        )
    });
    if rule != LabelRule::Unlabelled {
        dataset.check_two_classes(&format!("{}: column `{label_column}`", path.display()))?;
    }

    let report = IngestReport {
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        layout,
        rows_raw,
        rows: dataset.len(),
        duplicate_rows: copies.duplicate_rows,
        duplicates_dropped: if options.dedupe {
            copies.duplicate_rows
        } else {
            0
        },
        repeated_tracks: copies.repeated_tracks,
        conflicting_tracks: copies.label_conflicts,
        popularity_conflicts: copies.popularity_conflicts,
        feature_conflicts: copies.feature_conflicts,
        near_duplicates,
        hit_rate: dataset.positives() as f64 / dataset.len().max(1) as f64,
        label_rule,
        threshold,
        ties_at_cut,
        time_column,
        id_column,
    };
    Ok(Ingested {
        dataset,
        report,
        is_test,
        source_rows: keep,
        period,
    })
}

#[cfg(feature = "csv")]
/// The time column and each row's decade: the named column (every cell must start with a
/// year), else the first of [`TIME_COLUMNS`] whose cells all do.
fn time_period(table: &Table<'_>, wanted: Option<&str>) -> Result<Option<(String, Vec<i64>)>> {
    if let Some(c) = wanted {
        let cells = table.strings(Some(c))?;
        let mut out = Vec::with_capacity(cells.len());
        for (row, cell) in cells.iter().enumerate() {
            let year = super::checks::year_of(cell).ok_or_else(|| {
                table.cell_error(
                    row,
                    c,
                    format!("`{cell}` does not start with a four-digit year"),
                )
            })?;
            out.push(year - year.rem_euclid(10));
        }
        return Ok(Some((c.to_string(), out)));
    }
    for c in TIME_COLUMNS {
        if table.header.iter().any(|h| h == c) {
            if let Some(d) = super::decades(&table.strings(Some(c))?) {
                return Ok(Some((c.to_string(), d)));
            }
        }
    }
    Ok(None)
}

#[cfg(feature = "csv")]
/// Reads a split file (`row`, `is_test` columns; `row` is the 0-based data row of the data
/// file, as in `split.csv` of the Billboard data) and returns the test flag of each row of
/// `data` (its [`Ingested::source_rows`]).
///
/// # Errors
/// [`Error::Empty`] and [`Error::MissingColumn`] for a malformed file; [`Error::Cell`] naming
/// the row, line and column of a row number that is not whole, names no data row of `data` or
/// repeats an earlier one, and of a flag other than 0 or 1; [`Error::Split`] naming the file
/// when a data row has no entry.
pub fn read_split_file(path: &Path, data: &Ingested) -> Result<Vec<bool>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let table = read(path, file, b',', |_| vec!["row".into(), "is_test".into()])?;
    let rows = table.numbers("row", Some((0.0, 1e12)))?;
    let flags = table.flags("is_test")?;
    let n = data.report.rows_raw;
    // Data row → (flag, the split file's 0-based row that gave it).
    let mut by_row: HashMap<usize, (bool, usize)> = HashMap::with_capacity(rows.len());
    for (i, (r, flag)) in rows.into_iter().zip(flags).enumerate() {
        if r.fract() != 0.0 {
            return Err(table.cell_error(
                i,
                "row",
                format!("`{r}` is not a whole row number (data rows count from 0)"),
            ));
        }
        let r = r as usize;
        if r >= n {
            return Err(table.cell_error(
                i,
                "row",
                format!(
                    "data row {r} does not exist: {} has {n} data rows (0–{})",
                    data.report.file,
                    n - 1
                ),
            ));
        }
        if let Some(&(_, first)) = by_row.get(&r) {
            return Err(table.cell_error(
                i,
                "row",
                format!(
                    "data row {r} is listed twice (first on row {}, line {})",
                    first + 1,
                    table.lines.get(first).copied().unwrap_or(first + 2)
                ),
            ));
        }
        by_row.insert(r, (flag, i));
    }
    data.source_rows
        .iter()
        .map(|r| {
            by_row.get(r).map(|&(flag, _)| flag).ok_or_else(|| {
                Error::Split(format!(
                    "{}: column `row` has no entry for data row {r} of {} (rows count from 0)",
                    path.display(),
                    data.report.file
                ))
            })
        })
        .collect()
}
