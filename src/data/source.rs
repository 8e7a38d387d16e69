//! Where a run's data comes from and how it is divided: one call that the CLI, the report
//! and the notebooks share, so they all see the same rows.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{
    split_by_group, split_by_rows, stratified_holdout, synthesize, Dataset, Split, SynthParams,
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
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            test_fraction: 0.25,
            test_groups: Vec::new(),
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
}

impl DataSource {
    /// Loads the data and divides it: the file's own test flags or split file first, then
    /// test groups, else a stratified random holdout seeded by `seed`.
    ///
    /// # Errors
    /// Any error of [`synthesize`], [`super::ingest`] or the split functions.
    pub fn prepare(&self, split: &SplitOptions, seed: u64) -> Result<Prepared> {
        let (dataset, is_test, intercept, ingest_report) = match self {
            DataSource::Synthetic(p) => {
                let (d, b0) = synthesize(p)?;
                (d, None::<Vec<bool>>, Some(b0), None::<IngestReport>)
            }
            #[cfg(feature = "csv")]
            DataSource::Csv {
                path,
                options,
                split_file,
            } => {
                let ing = super::ingest(path, options)?;
                let is_test = match split_file {
                    Some(f) => Some(super::read_split_file(f, &ing.source_rows)?),
                    None => ing.is_test,
                };
                (ing.dataset, is_test, None, Some(ing.report))
            }
            #[cfg(not(feature = "csv"))]
            DataSource::Csv { path, .. } => {
                return Err(crate::Error::Data(format!(
                    "{}: reading CSV files needs hitcast built with the `csv` feature",
                    path.display()
                )))
            }
        };
        let (split_out, rule) = if let Some(flags) = is_test {
            (
                split_by_rows(&flags)?,
                "test rows given by the data".to_string(),
            )
        } else if !split.test_groups.is_empty() {
            let groups = dataset.group.as_deref().ok_or_else(|| {
                crate::Error::Data(
                    "test groups were given but the data has no group (decade) column".into(),
                )
            })?;
            (
                split_by_group(groups, &split.test_groups)?,
                format!("test on groups {}", split.test_groups.join(", ")),
            )
        } else {
            (
                stratified_holdout(&dataset.y, split.test_fraction, seed)?,
                format!(
                    "stratified random holdout of {} (seed {seed})",
                    split.test_fraction
                ),
            )
        };
        Ok(Prepared {
            dataset,
            split: split_out,
            split_rule: rule,
            ingest: ingest_report,
            synth_intercept: intercept,
        })
    }
}
