//! The one error type of the library. Every variant carries enough context (file, row,
//! column, field) for a user to find and fix the problem without a debugger.

use std::path::PathBuf;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output path cannot be written without destroying something HitCast did not make
    /// (a folder of the user's, a file where a folder goes, the command's own input).
    #[error("{path}: {message}")]
    Output { path: PathBuf, message: String },
    /// The CSV could not be parsed at all (no header, bad quoting, not UTF-8, ...).
    #[error("{path}: cannot read CSV: {message}")]
    Csv { path: PathBuf, message: String },
    /// The file has no data rows.
    #[error("{path}: the file has no data rows")]
    Empty { path: PathBuf },
    /// A required column is absent.
    #[error("{path}: missing column `{column}` (header has: {available})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    /// One cell is unusable. `row` counts data rows from 1; `line` is the physical line the
    /// record starts on (the header is line 1; quoted newlines and blank lines move it).
    #[error("{path}: row {row} (line {line}), column `{column}`: {message}")]
    Cell {
        path: PathBuf,
        row: usize,
        line: usize,
        column: String,
        message: String,
    },
    /// A whole record is unusable (wrong number of fields, not UTF-8).
    #[error("{path}: row {row} (line {line}): {message}")]
    Record {
        path: PathBuf,
        row: usize,
        line: usize,
        message: String,
    },
    /// The label has a single class, so nothing can be learned or evaluated.
    #[error("{context}: the label has one class only ({count} rows, all {class}); a model needs hits and non-hits")]
    OneClass {
        context: String,
        count: usize,
        class: u8,
    },
    /// A hyper-parameter or option is out of its allowed range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    Param {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Values handed to the library directly are unusable: a notebook's columns, an API
    /// request, the tracks to explain or score (wrong count, not finite, out of range).
    #[error("{0}")]
    Input(String),
    /// A feature a model (or an analysis) reads is absent from the data or the model.
    #[error("{holder} lacks the feature `{feature}`")]
    MissingFeature {
        feature: String,
        /// What lacks it: "the data", "the model".
        holder: &'static str,
    },
    /// A holdout, a cross-validation or a fixed split cannot be drawn from these rows (a
    /// class with too few tracks, an empty side, a split file that does not cover the data).
    #[error("{0}")]
    Split(String),
    /// The rows were usable but the family could not fit them (a singular Newton system).
    #[error("{0}")]
    Fit(String),
    /// A metric cannot be computed from what it was given (lengths differ, one class).
    #[error("{0}")]
    Metric(String),
    /// A model lacks what the operation needs (node covers for explanations) or models do
    /// not agree with each other.
    #[error("{0}")]
    Model(String),
    /// A model cannot be written as SQL (a value SQL cannot hold, a form too large).
    #[error("{0}")]
    Sql(String),
    /// Drawing a figure failed.
    #[error("drawing a figure failed: {0}")]
    Plot(String),
    /// The command lacks something it needs that no file holds: a provider client, a cargo
    /// feature, a thread pool.
    #[error("{0}")]
    Config(String),
    /// A track provider (Spotify, ReccoBeats) refused or failed a request (never includes
    /// credentials).
    #[error("{provider}: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
    /// A model artifact is unreadable, of another schema version, or inconsistent.
    #[error("{path}: {message}")]
    Artifact { path: PathBuf, message: String },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn missing_feature(holder: &'static str, feature: impl Into<String>) -> Self {
        Error::MissingFeature {
            feature: feature.into(),
            holder,
        }
    }

    pub(crate) fn param(name: &'static str, value: impl ToString, reason: &'static str) -> Self {
        Error::Param {
            name,
            value: value.to_string(),
            reason,
        }
    }
}
