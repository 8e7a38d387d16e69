//! Where a run's data comes from and how it is divided: one call that the CLI, the report
//! and the notebooks share, so they all see the same rows.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checks;
use super::{
    groups_on_both_sides, split_by_group, split_by_rows, split_groups, stratified_group_holdout,
    synthesize, Dataset, GroupBy, Split, SynthParams,
};
use super::{IngestOptions, IngestReport};
use crate::error::Result;

/// The data of a run.
#[allow(clippy::large_enum_variant)] // built once per run
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// The embedded synthetic generator.
    Synthetic(SynthParams),
    /// A CSV file read by [`super::ingest`].
    Csv {
        path: PathBuf,
        options: IngestOptions,
        /// A split file (`row`, `is_test`), e.g. the Billboard data's `split.csv`.
        split_file: Option<PathBuf>,
    },
}

impl DataSource {
    /// The data's name in reports: `synthetic` or the CSV's file name (never a full path,
    /// which would leak the user's folders into a shared report).
    pub fn name(&self) -> String {
        match self {
            DataSource::Synthetic(_) => "synthetic".to_string(),
            DataSource::Csv { path, .. } => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

impl Default for DataSource {
    fn default() -> Self {
        DataSource::Synthetic(SynthParams::default())
    }
}

/// How the holdout is chosen when the data does not fix it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// Share of each class held out. Default 0.25.
    pub test_fraction: f64,
    /// Test on these groups (e.g. `2010`) instead of a random holdout. Default none.
    pub test_groups: Vec<String>,
    /// Keep every row of a repeated track id instead of the first only. Default `false`.
    /// The rows of one track still land on one side of every split (and a CSV's
    /// [`IngestOptions::dedupe`] is overridden).
    pub keep_duplicates: bool,
    /// What keeps rows together across splits. Default [`GroupBy::Track`].
    pub group_by: GroupBy,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            test_fraction: 0.25,
            test_groups: Vec::new(),
            keep_duplicates: false,
            group_by: GroupBy::Track,
        }
    }
}

/// A loaded dataset with its holdout.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dataset: Dataset,
    pub split: Split,
    /// How the split was made, in words.
    pub split_rule: String,
    /// What ingest did (CSV sources only).
    pub ingest: Option<IngestReport>,
    /// The synthetic generator's intercept (synthetic sources only).
    pub synth_intercept: Option<f64>,
    /// The split group of each row ([`split_groups`]): the holdout and every
    /// cross-validation fold keep a group's rows on one side.
    pub groups: Vec<usize>,
    /// What the groups are.
    pub group_by: GroupBy,
    /// Where the split came from when it was not drawn at random (the split file, the data
    /// file and its split column, or the test groups), so that errors about its parts name it.
    pub split_origin: Option<String>,
    /// Rows before repeated tracks were dropped.
    pub rows_read: usize,
    /// The decade of each row, when the data has a time column.
    pub period: Option<Vec<i64>>,
    /// Every data check that fired, in words: duplicates, near-duplicates, conflicting copies,
    /// a given split that puts a track on both sides, odd feature values, tiny classes, a
    /// known biased layout.
    pub warnings: Vec<String>,
}

impl Prepared {
    /// `e`, an error of training or evaluating on this split, prefixed with where the split
    /// came from and its training part's classes when the data or the options fixed it: a
    /// class too small for a model or for the folds is then the user's to fix, in that file.
    pub fn split_context(&self, e: crate::Error) -> crate::Error {
        match (&self.split_origin, e) {
            (Some(origin), e @ (crate::Error::Split(_) | crate::Error::OneClass { .. })) => {
                let train = &self.split.train;
                let hits = train.iter().filter(|&&i| self.dataset.y[i] == 1).count();
                crate::Error::Split(format!(
                    "{origin}: the training part has {hits} hits and {} non-hits: {e}",
                    train.len() - hits
                ))
            }
            (_, e) => e,
        }
    }
}

impl DataSource {
    /// Loads the data and divides it: the file's own test flags or split file first, then
    /// test groups, else a stratified random holdout seeded by `seed`.
    ///
    /// # Errors
    /// Any error of [`synthesize`], [`super::ingest`], [`super::read_split_file`] or the split
    /// functions; [`crate::Error::Split`] naming the split file (or the data file and its split
    /// column, or the test groups) when a part of a split the data fixes lacks a class.
    pub fn prepare(&self, split: &SplitOptions, seed: u64) -> Result<Prepared> {
        let mut warnings = Vec::new();
        let (dataset, is_test, intercept, ingest_report, period, rows_read, origin) = match self {
            DataSource::Synthetic(p) => {
                let (d, b0) = synthesize(p)?;
                let rows_read = d.len();
                let copies = checks::copies(&d);
                warnings.extend(checks::duplicate_warnings(&copies, !split.keep_duplicates));
                let d = if split.keep_duplicates || copies.duplicate_rows == 0 {
                    d
                } else {
                    d.subset(&checks::first_rows(&d.ids))
                };
                let period = d.group.as_deref().and_then(checks::decades);
                (
                    d,
                    None::<Vec<bool>>,
                    Some(b0),
                    None::<IngestReport>,
                    period,
                    rows_read,
                    None::<String>,
                )
            }
            #[cfg(feature = "csv")]
            DataSource::Csv {
                path,
                options,
                split_file,
            } => {
                let options = IngestOptions {
                    dedupe: options.dedupe && !split.keep_duplicates,
                    ..options.clone()
                };
                let ing = super::ingest(path, &options)?;
                let rows_read = ing.report.rows_raw;
                let (is_test, origin) = match split_file {
                    Some(f) => (
                        Some(super::read_split_file(f, &ing)?),
                        Some(f.display().to_string()),
                    ),
                    None => (
                        ing.is_test,
                        options
                            .split_column
                            .as_ref()
                            .map(|c| format!("{}, column `{c}`", path.display())),
                    ),
                };
                warnings.extend(ing.report.warnings());
                warnings.extend(checks::near_duplicate_warning(
                    &ing.report.near_duplicates,
                    split.group_by,
                ));
                (
                    ing.dataset,
                    is_test,
                    None,
                    Some(ing.report),
                    ing.period,
                    rows_read,
                    origin,
                )
            }
            #[cfg(not(feature = "csv"))]
            DataSource::Csv { path, .. } => {
                return Err(crate::Error::Config(format!(
                    "{}: reading CSV files needs hitcast built with the `csv` feature",
                    path.display()
                )))
            }
        };
        let groups = split_groups(&dataset, split.group_by);
        let mut origin = origin;
        let (split_out, rule) = if let Some(flags) = is_test {
            let origin = origin.get_or_insert_with(|| "the data's test flags".into());
            check_given_parts(&dataset.y, &flags, origin, ["is_test = 0", "is_test = 1"])?;
            let given = split_by_rows(&flags)?;
            let both = groups_on_both_sides(&groups, &given);
            if both > 0 {
                warnings.push(format!(
                    "the given split puts {both} tracks (by {}) on both sides: the holdout then scores tracks the models saw, as a copy, in training",
                    split.group_by
                ));
            }
            (given, "test rows given by the data".to_string())
        } else if !split.test_groups.is_empty() {
            let groups = dataset.group.as_deref().ok_or_else(|| {
                crate::Error::Split(
                    "test groups were given but the data has no group (decade) column".into(),
                )
            })?;
            let flags: Vec<bool> = groups
                .iter()
                .map(|g| split.test_groups.contains(g))
                .collect();
            let origin = origin.insert(format!("test groups {}", split.test_groups.join(", ")));
            check_given_parts(&dataset.y, &flags, origin, ["other groups", "those groups"])?;
            (
                split_by_group(groups, &split.test_groups)?,
                format!("test on groups {}", split.test_groups.join(", ")),
            )
        } else {
            (
                stratified_group_holdout(&dataset.y, &groups, split.test_fraction, seed)?,
                format!(
                    "stratified random holdout of {} (seed {seed}){}",
                    split.test_fraction,
                    if groups.last().is_some_and(|&g| g + 1 < dataset.len()) {
                        format!(", one side per {}", split.group_by)
                    } else {
                        String::new()
                    }
                ),
            )
        };
        warnings.extend(checks::feature_warnings(&dataset));
        warnings.extend(checks::class_warnings(
            &dataset.y,
            &split_out.train,
            "training rows",
        ));
        warnings.extend(checks::class_warnings(
            &dataset.y,
            &split_out.test,
            "holdout",
        ));
        Ok(Prepared {
            dataset,
            split: split_out,
            split_rule: rule,
            ingest: ingest_report,
            synth_intercept: intercept,
            groups,
            group_by: split.group_by,
            split_origin: origin,
            rows_read,
            period,
            warnings,
        })
    }
}

/// Checks a split the data gives (`flags[i]` for a test row): each part must hold hits and
/// non-hits, or no model can learn from it or no holdout rank one against the other. Errors
/// name `origin` (the split file, the data file and column, or the test groups), the part
/// (`marks`: what puts a row in the training and the test part) and the counts.
fn check_given_parts(y: &[u8], flags: &[bool], origin: &str, marks: [&str; 2]) -> Result<()> {
    for (test, part, needs) in [
        (false, "training", "a model learns from both"),
        (true, "test", "a holdout ranks one against the other"),
    ] {
        let rows = flags.iter().filter(|&&f| f == test).count();
        let hits = (0..y.len())
            .filter(|&i| flags[i] == test && y[i] == 1)
            .count();
        if hits == 0 || hits == rows {
            return Err(crate::Error::Split(format!(
                "{origin}: the {part} part ({}) has {hits} hits and {} non-hits (of the {} rows kept); it needs both classes: {needs}",
                marks[usize::from(test)],
                rows - hits,
                y.len()
            )));
        }
    }
    Ok(())
}
