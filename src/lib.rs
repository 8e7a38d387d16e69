//! # HitCast
//!
//! Predict whether a Spotify track becomes a hit from its audio features, reproducibly.
//!
//! The crate follows the pipeline; this is its public API (the `hitcast` binary in
//! `src/main.rs` only parses flags, calls these, and prints):
//!
//! - [`data`]: the [`data::Dataset`] type (column-major features, labels, track metadata;
//!   [`data::Dataset::from_columns`] for a notebook's own numbers, [`data::Dataset::split`]);
//!   [`data::synthesize`], the seeded synthetic demo data with a known hit probability;
//!   [`data::ingest`], real Spotify CSV exports (behind the default `csv` feature; HitCast's
//!   own streaming CSV reader); splits ([`data::stratified_holdout`], [`data::stratified_kfold`], by group
//!   or by a test column); [`data::DataSource`] ties them together for a run; `data::provider`
//!   (feature `fetch`) fetches real tracks from Spotify and ReccoBeats.
//! - [`model`]: what to fit is a [`model::ModelSpec`] (a family and its hyper-parameters),
//!   checked once into a [`model::CheckedSpec`] whose `fit` gives a [`model::Fitted`] model
//!   that remembers its spec and seed; [`model::Trained`] is any fitted family as artifacts
//!   store it and [`model::Artifact`] saves it as versioned JSON.
//! - [`eval`]: metrics (ROC AUC, average precision, Brier, log loss, confusion matrices),
//!   cross-validation, calibration, permutation importance, partial dependence, the paired
//!   bootstrap, [`eval::evaluate`] (one model measured on a split) and
//!   [`eval::out_of_time`] (trained on the earlier decades, tested on the latest).
//! - [`explain`]: why this track? Exact SHAP values (and interactions) per track for every
//!   family, in log-odds, with a base value; [`explain::summarise`] explains a holdout
//!   sample as the report does.
//! - [`plot`]: every figure as SVG text, one public function per figure
//!   (e.g. [`plot::partial_dependence_figure`]), from evaluation outputs, never models.
//! - [`report`]: the `metrics.json` schema, filled by [`report::build`] from the calls above
//!   (every family evaluated, explained, bootstrapped and checked out of time), its Markdown
//!   and HTML rendering and the all-or-nothing write of `reports/`.
//! - [`score`]: scoring a CSV with saved models, the prediction and explanation tables.
//! - [`sql`]: models as SQL for Snowflake, BigQuery, PostgreSQL, DuckDB and SQLite.
//! - `serve` (feature `serve`): the what-if dashboard and its JSON API.
//! - [`bench`](mod@bench): the timings of `hitcast bench` (timing lives there, never in tests).
//! - [`atomic`]: writes that never leave a half-written file or delete what HitCast did
//!   not make.
//! - `notebook` (feature `notebook`): rich output in Jupyter's evcxr kernel.
//!
//! All randomness flows from an explicit `seed: u64` through `ChaCha8Rng`; results are
//! identical whatever the number of threads. Errors are one typed enum, [`Error`], whose
//! variants a caller can match.
//!
//! ```
//! use hitcast::data::{stratified_holdout, synthesize, SynthParams};
//! use hitcast::model::ModelSpec;
//!
//! let (data, _) = synthesize(&SynthParams { n_tracks: 2_000, ..Default::default() })?;
//! let (train, test) = data.split(&stratified_holdout(&data.y, 0.25, 42)?);
//! let model = ModelSpec::boost().fit(&train, 42)?;
//! let auc = hitcast::eval::roc_auc(&test.y, &model.predict_proba(&test)?)?;
//! assert!(auc > 0.6);
//! # Ok::<(), hitcast::Error>(())
//! ```

// The SIMD walks of `model::ensemble` are the one module allowed unsafe code.
#![deny(unsafe_code)]

pub mod atomic;
pub mod bench;
pub mod data;
mod draws;
mod error;
pub mod eval;
pub mod explain;
mod metrics;
pub mod model;
#[cfg(feature = "notebook")]
pub mod notebook;
pub mod plot;
pub mod report;
pub mod score;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sql;

pub use error::{Error, Result};
