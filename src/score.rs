//! Scoring tracks with saved models: read a CSV with the features the artifacts need, and the
//! prediction and explanation tables `hitcast predict` and `hitcast explain` write.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::data::{csv_field, Dataset};
use crate::error::Result;
use crate::explain::Explanation;
use crate::model::Artifact;

/// Every feature any of `artifacts` reads, in the first artifact's order, then any others.
pub fn features_of(artifacts: &[Artifact]) -> Vec<String> {
    let mut features: Vec<String> = Vec::new();
    for a in artifacts {
        for f in &a.feature_names {
            if !features.contains(f) {
                features.push(f.clone());
            }
        }
    }
    features
}

/// The tracks of `csv` with the features `artifacts` read, unlabelled and with every row
/// kept (repeated or not): what scoring reads.
///
/// # Errors
/// As [`crate::data::ingest`], naming the file, row and column.
#[cfg(feature = "csv")]
pub fn read_tracks(artifacts: &[Artifact], csv: &std::path::Path) -> Result<Dataset> {
    Ok(crate::data::ingest(csv, &track_options(artifacts))?.dataset)
}

/// [`read_tracks`] of a CSV already in memory (an upload) with fields separated by
/// `delimiter`; `name` names it in messages.
///
/// # Errors
/// As [`read_tracks`].
#[cfg(feature = "csv")]
pub fn read_tracks_bytes(
    artifacts: &[Artifact],
    name: &std::path::Path,
    csv: Vec<u8>,
    delimiter: u8,
) -> Result<Dataset> {
    let options = crate::data::IngestOptions {
        delimiter,
        ..track_options(artifacts)
    };
    Ok(crate::data::ingest_bytes(name, csv, &options)?.dataset)
}

/// Tracks to score: the models' features, no label, every row kept.
#[cfg(feature = "csv")]
fn track_options(artifacts: &[Artifact]) -> crate::data::IngestOptions {
    crate::data::IngestOptions {
        features: crate::data::FeatureSet::Named(features_of(artifacts)),
        label: crate::data::LabelRule::Unlabelled,
        dedupe: false,
        ..crate::data::IngestOptions::default()
    }
}

/// `track_id,p_<family>…`: each artifact's hit probability per track of `tracks`.
///
/// # Errors
/// [`crate::Error::MissingFeature`] when `tracks` lacks a feature a model reads.
pub fn prediction_csv(artifacts: &[Artifact], tracks: &Dataset) -> Result<String> {
    let columns: Vec<Vec<f64>> = artifacts
        .iter()
        .map(|a| a.model.predict_proba(tracks))
        .collect::<Result<_>>()?;
    let mut csv = String::from("track_id");
    for a in artifacts {
        let _ = write!(csv, ",p_{}", a.family);
    }
    csv.push('\n');
    for i in 0..tracks.len() {
        csv.push_str(&csv_field(&tracks.ids[i]));
        for c in &columns {
            let _ = write!(csv, ",{}", c[i]);
        }
        csv.push('\n');
    }
    Ok(csv)
}

/// `track_id,model,base,shap_<feature>…,log_odds,probability`: one row per track and
/// artifact from `explained[artifact][track]`; a feature a model does not read is empty.
pub fn explanation_csv(
    artifacts: &[Artifact],
    tracks: &Dataset,
    explained: &[Vec<Explanation>],
) -> String {
    let names = features_of(artifacts);
    let mut csv = String::from("track_id,model,base");
    for f in &names {
        let _ = write!(csv, ",shap_{f}");
    }
    csv.push_str(",log_odds,probability\n");
    for i in 0..tracks.len() {
        for (a, e) in artifacts.iter().zip(explained) {
            let e = &e[i];
            let _ = write!(csv, "{},{},{}", csv_field(&tracks.ids[i]), a.family, e.base);
            for f in &names {
                match a.feature_names.iter().position(|n| n == f) {
                    Some(j) => {
                        let _ = write!(csv, ",{}", e.contributions[j]);
                    }
                    None => csv.push(','),
                }
            }
            let _ = writeln!(csv, ",{},{}", e.log_odds, e.probability);
        }
    }
    csv
}

/// How a track is named in a table of results: [`Dataset::title`] and the id (`title —
/// artist (id)`), or the id alone when the title is unknown.
pub fn track_label(tracks: &Dataset, i: usize) -> String {
    match tracks.names[i].is_empty() {
        false => format!("{} ({})", tracks.title(i), tracks.ids[i]),
        true => tracks.ids[i].clone(),
    }
}

/// Track `i`'s values of `features` (NaN where `tracks` lacks one).
pub fn row_of(tracks: &Dataset, features: &[String], i: usize) -> Vec<f64> {
    features
        .iter()
        .map(|f| tracks.feature_index(f).map_or(f64::NAN, |j| tracks.x[j][i]))
        .collect()
}

/// One model's answer for a track known only by its feature values (an uploaded song).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The model's explanation and its top reasons in words.
    Scored {
        explanation: Explanation,
        reasons: Vec<String>,
    },
    /// The values lack features the model reads (named).
    Skipped { missing: Vec<String> },
}

/// Each artifact's verdict on the feature values `features` (by name), with the top
/// `reasons` contributions in words.
///
/// # Errors
/// As [`crate::explain::explain_row`] for a value it refuses (not finite, out of range).
pub fn score_features(
    artifacts: &[Artifact],
    features: &BTreeMap<String, f64>,
    reasons: usize,
) -> Result<Vec<Verdict>> {
    artifacts
        .iter()
        .map(|a| {
            let missing: Vec<String> = a
                .feature_names
                .iter()
                .filter(|f| !features.contains_key(*f))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Ok(Verdict::Skipped { missing });
            }
            let x: Vec<f64> = a.feature_names.iter().map(|f| features[f]).collect();
            let explanation = crate::explain::explain_row(&a.model, &x)?;
            let reasons = crate::explain::reasons(&a.feature_names, &x, &explanation, reasons);
            Ok(Verdict::Scored {
                explanation,
                reasons,
            })
        })
        .collect()
}

/// The one-row CSV `hitcast score-audio` writes: `file,<features>…,p_<family>,reasons_<family>…`
/// (empty cells for a skipped model).
pub fn upload_csv(
    file: &str,
    features: &BTreeMap<String, f64>,
    artifacts: &[Artifact],
    verdicts: &[Verdict],
) -> String {
    let mut header = format!(
        "file,{}",
        features.keys().cloned().collect::<Vec<_>>().join(",")
    );
    let mut values = format!(
        "{},{}",
        csv_field(file),
        features
            .values()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for (a, v) in artifacts.iter().zip(verdicts) {
        let _ = write!(header, ",p_{0},reasons_{0}", a.family);
        match v {
            Verdict::Scored {
                explanation,
                reasons,
            } => {
                let _ = write!(
                    values,
                    ",{},{}",
                    explanation.probability,
                    csv_field(&reasons.join("; "))
                );
            }
            Verdict::Skipped { .. } => values.push_str(",,"),
        }
    }
    format!("{header}\n{values}\n")
}
