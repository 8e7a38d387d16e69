//! The in-memory [`Dataset`] every later stage consumes, how to split it, and how to write it
//! as the normalised CSV layout.
//!
//! Features are stored column-major (`x[feature][row]`): trees bin one column at a time and
//! metrics shuffle one column at a time, so columns are the natural unit.

mod checks;
mod features;
mod ingest;
mod profile;
#[cfg(feature = "fetch")]
pub mod provider;
#[cfg(feature = "csv")]
mod records;
mod source;
mod split;
mod synth;

pub use checks::{
    copies, decades, duplicate_warnings, feature_warnings, first_rows, near_duplicate_warning,
    near_duplicates, normalise, Copies, NearDuplicates,
};
pub use features::{feature_range, FeatureSet, ALL_FEATURES, CORE_FEATURES};
#[cfg(feature = "csv")]
pub use ingest::{ingest, ingest_bytes, read_split_file};
pub use ingest::{IngestOptions, IngestReport, Ingested, LabelRule, Layout};
pub use profile::{profile, FeatureProfile, Profile};
pub use source::{DataSource, Prepared, SplitOptions};
pub use split::{
    check_folds, groups_on_both_sides, split_by_group, split_by_rows, split_groups,
    stratified_group_holdout, stratified_group_kfold, stratified_holdout, stratified_kfold,
    GroupBy, Split,
};
pub use synth::{synthesize, true_hit_probability, SynthParams};

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A labelled set of tracks: features, labels and the track metadata reports need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Feature names, in column order.
    pub feature_names: Vec<String>,
    /// Feature values, column-major: `x[j][i]` is feature `j` of track `i`.
    pub x: Vec<Vec<f64>>,
    /// 1 = hit, 0 = not a hit.
    pub y: Vec<u8>,
    /// Track ids (Spotify ids or URIs).
    pub ids: Vec<String>,
    /// Track names (empty strings where unknown).
    pub names: Vec<String>,
    /// Artist names (empty strings where unknown).
    pub artists: Vec<String>,
    /// Spotify popularity 0–100, when the data has it.
    pub popularity: Option<Vec<f64>>,
    /// A grouping column such as the decade, when the data has it.
    pub group: Option<Vec<String>>,
    /// The true hit probability, known only for synthetic data.
    pub true_prob: Option<Vec<f64>>,
}

impl Dataset {
    /// A dataset from feature columns and labels (a notebook's own numbers): track ids are
    /// the row numbers from 1, names and artists are empty.
    ///
    /// # Errors
    /// [`Error::Input`] naming the column (or `y`) and row when the names and columns do not
    /// pair up, a column's length differs from `y`'s, a name repeats, a value is not finite
    /// or a label is not 0 or 1.
    pub fn from_columns<S: Into<String>>(
        names: impl IntoIterator<Item = S>,
        columns: Vec<Vec<f64>>,
        y: Vec<u8>,
    ) -> Result<Dataset> {
        let feature_names: Vec<String> = names.into_iter().map(Into::into).collect();
        let bad = |field: &str, message: String| Error::Input(format!("`{field}`: {message}"));
        if feature_names.len() != columns.len() {
            return Err(bad(
                "columns",
                format!(
                    "{} names for {} columns",
                    feature_names.len(),
                    columns.len()
                ),
            ));
        }
        if feature_names.is_empty() {
            return Err(bad(
                "columns",
                "a dataset needs at least one feature".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, col) in feature_names.iter().zip(&columns) {
            if !seen.insert(name.as_str()) {
                return Err(bad(name, "the feature name is given twice".into()));
            }
            if col.len() != y.len() {
                return Err(bad(
                    name,
                    format!("{} values for {} labels", col.len(), y.len()),
                ));
            }
            if let Some(i) = col.iter().position(|v| !v.is_finite()) {
                return Err(bad(
                    name,
                    format!("row {}: {} is not a finite number", i + 1, col[i]),
                ));
            }
        }
        if let Some(i) = y.iter().position(|&v| v > 1) {
            return Err(bad(
                "y",
                format!("row {}: label {} is not 0 or 1", i + 1, y[i]),
            ));
        }
        let n = y.len();
        Ok(Dataset {
            feature_names,
            x: columns,
            y,
            ids: (1..=n).map(|i| i.to_string()).collect(),
            names: vec![String::new(); n],
            artists: vec![String::new(); n],
            popularity: None,
            group: None,
            true_prob: None,
        })
    }

    /// The training and test tracks of `split`, as two datasets (`subset` of each side).
    pub fn split(&self, split: &Split) -> (Dataset, Dataset) {
        (self.subset(&split.train), self.subset(&split.test))
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the dataset has no tracks.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The feature values of track `i`, in feature order.
    pub fn row(&self, i: usize) -> Vec<f64> {
        self.x.iter().map(|col| col[i]).collect()
    }

    /// Index of a feature by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.feature_names.iter().position(|n| n == name)
    }

    /// Number of hits.
    /// How track `i` is named to a reader: `title — artist`, the title alone without an
    /// artist, or the id when the title is unknown. Every view that names tracks uses it.
    pub fn title(&self, i: usize) -> String {
        match (self.names[i].is_empty(), self.artists[i].is_empty()) {
            (false, false) => format!("{} — {}", self.names[i], self.artists[i]),
            (false, true) => self.names[i].clone(),
            _ => self.ids[i].clone(),
        }
    }

    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&v| v == 1).count()
    }

    /// The tracks at `rows`, in that order, as a new dataset.
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let pick_s = |v: &Vec<String>| rows.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        let pick_f = |v: &Vec<f64>| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
        Dataset {
            feature_names: self.feature_names.clone(),
            x: self.x.iter().map(pick_f).collect(),
            y: rows.iter().map(|&i| self.y[i]).collect(),
            ids: pick_s(&self.ids),
            names: pick_s(&self.names),
            artists: pick_s(&self.artists),
            popularity: self.popularity.as_ref().map(pick_f),
            group: self.group.as_ref().map(pick_s),
            true_prob: self.true_prob.as_ref().map(pick_f),
        }
    }

    /// Checks that the label has both classes.
    ///
    /// # Errors
    /// [`Error::OneClass`] naming `context` when every label is the same.
    pub fn check_two_classes(&self, context: &str) -> Result<()> {
        check_two_classes(&self.y, context)
    }

    /// A SHA-256 of the normalised CSV: identifies the exact training data in artifacts and
    /// reports.
    pub fn hash(&self) -> String {
        // The CSV's bytes, rendered a block of rows at a time: the digest of `to_csv`
        // without a copy of the whole table in memory.
        let mut hasher = Sha256::new();
        let _ = self.csv_blocks(|block| {
            hasher.update(block);
            Ok::<(), std::convert::Infallible>(())
        });
        let digest = hasher.finalize();
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Renders the normalised CSV layout that [`ingest`] reads back:
    /// `track_id,track_name,artists[,popularity][,group],<features>[,hit_probability],target`.
    pub fn to_csv(&self) -> String {
        let mut out = self.csv_header();
        out.reserve(self.len() * 96);
        for i in 0..self.len() {
            self.push_csv_row(&mut out, i);
        }
        out
    }

    /// The header line of [`Dataset::to_csv`], newline included.
    fn csv_header(&self) -> String {
        let mut header = vec!["track_id", "track_name", "artists"];
        if self.popularity.is_some() {
            header.push("popularity");
        }
        if self.group.is_some() {
            header.push("group");
        }
        header.extend(self.feature_names.iter().map(String::as_str));
        if self.true_prob.is_some() {
            header.push("hit_probability");
        }
        header.push("target");
        let mut out = header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        out
    }

    /// Appends row `i` of [`Dataset::to_csv`] to `out`, cell by cell (no vector of strings
    /// per row).
    fn push_csv_row(&self, out: &mut String, i: usize) {
        push_csv_field(out, &self.ids[i]);
        out.push(',');
        push_csv_field(out, &self.names[i]);
        out.push(',');
        push_csv_field(out, &self.artists[i]);
        if let Some(p) = &self.popularity {
            let _ = write!(out, ",{}", p[i]);
        }
        if let Some(g) = &self.group {
            out.push(',');
            push_csv_field(out, &g[i]);
        }
        for c in &self.x {
            let _ = write!(out, ",{}", c[i]);
        }
        if let Some(t) = &self.true_prob {
            let _ = write!(out, ",{}", t[i]);
        }
        let _ = writeln!(out, ",{}", self.y[i]);
    }

    /// Writes [`Dataset::to_csv`] to `path` atomically, streamed: the text is never held
    /// whole (it is as large as the file ingested).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written; the target is then left untouched.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        crate::atomic::write_with(path, |w| self.csv_blocks(|block| w.write_all(block)))
    }

    /// Hands [`Dataset::to_csv`]'s bytes to `put` in blocks of about 64 KiB, in order, so
    /// that the text is never held whole; stops at `put`'s first error.
    fn csv_blocks<E>(
        &self,
        mut put: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut block = self.csv_header();
        for i in 0..self.len() {
            self.push_csv_row(&mut block, i);
            if block.len() >= 1 << 16 {
                put(block.as_bytes())?;
                block.clear();
            }
        }
        put(block.as_bytes())
    }
}

/// Appends [`csv_field`] of `field` to `out`.
fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(field: &str) -> String {
    let mut out = String::new();
    push_csv_field(&mut out, field);
    out
}

/// Checks that labels `y` hold both classes.
///
/// # Errors
/// [`Error::OneClass`] naming `context` when every label is the same.
pub fn check_two_classes(y: &[u8], context: &str) -> Result<()> {
    let pos = y.iter().filter(|&&v| v == 1).count();
    if pos == 0 || pos == y.len() {
        return Err(Error::OneClass {
            context: context.to_string(),
            count: y.len(),
            class: u8::from(pos > 0),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_the_digest_of_the_whole_csv() {
        // Enough rows that the streamed hash feeds several 64 KiB blocks, one with a quoted
        // name and artist.
        let (mut d, _) = synthesize(&SynthParams {
            n_tracks: 3000,
            ..Default::default()
        })
        .unwrap();
        d.names[1234] = "Say \"Hello\", World".into();
        d.artists[2345] = "A, B\nC".into();
        let whole = Sha256::digest(d.to_csv().as_bytes());
        let hex: String = whole.iter().map(|b| format!("{b:02x}")).collect();
        assert!(d.to_csv().len() > 3 << 16);
        assert_eq!(d.hash(), hex);
        // The streamed file holds the same bytes, across its 64 KiB writes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tracks.csv");
        d.write_csv(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), d.to_csv());
        d.x[0][2999] += 1.0;
        assert_ne!(d.hash(), hex);
    }
}
