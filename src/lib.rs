//! # HitCast
//!
//! Predict whether a Spotify track becomes a hit from its audio features, reproducibly.
//!
//! The crate follows the pipeline:
//!
//! - [`data`]: the [`data::Dataset`] type (column-major features, labels, track metadata);
//!   [`data::synthesize`], the seeded synthetic demo data with a known hit probability;
//!   [`data::ingest`], real Spotify CSV exports (behind the default `csv` feature, the only
//!   polars code); splits ([`data::stratified_holdout`], [`data::stratified_kfold`], by group
//!   or by a test column); [`data::DataSource`] ties them together for a run.
//! - [`model`]: one [`model::Model`] trait (and [`model::Fit`] for fitting) implemented by
//!   [`model::Logistic`], [`model::Forest`] and [`model::Boost`]; [`model::Trained`] holds any
//!   of them and [`model::Artifact`] saves it as versioned JSON.
//! - [`eval`]: metrics (ROC AUC, average precision, Brier, log loss, confusion matrices).
//! - [`explain`]: why this track? Exact SHAP values (and interactions) per track for every
//!   family, in log-odds, with a base value.
//!
//! All randomness flows from an explicit `seed: u64` through `ChaCha8Rng`; results are
//! identical whatever the number of threads. Errors are one typed enum, [`Error`].
//!
//! ```
//! use hitcast::data::{stratified_holdout, synthesize, SynthParams};
//! use hitcast::model::{Family, Model, ModelParams, Trained};
//!
//! let (data, _) = synthesize(&SynthParams { n_tracks: 2_000, ..Default::default() })?;
//! let split = stratified_holdout(&data.y, 0.25, 42)?;
//! let model = Trained::fit(Family::Boost, &data, &split.train, &ModelParams::default(), 42)?;
//! let test = data.subset(&split.test);
//! let auc = hitcast::eval::roc_auc(&test.y, &model.predict_proba(&test)?)?;
//! assert!(auc > 0.6);
//! # Ok::<(), hitcast::Error>(())
//! ```

pub mod atomic;
pub mod bench;
pub mod data;
mod error;
pub mod eval;
pub mod explain;
pub mod model;
#[cfg(feature = "notebook")]
pub mod notebook;
pub mod plot;
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sql;

pub use error::{Error, Result};
