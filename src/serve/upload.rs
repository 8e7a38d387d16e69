//! `POST /api/score`: a CSV the page uploads, read by the same ingest as `hitcast predict`
//! (any layout it reads), scored by every model. A bad file gets ingest's error, naming the
//! upload, row and column.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{json::parse_body, ApiError, Dashboard};

/// Largest CSV text accepted (the JSON body around it must also fit the body limit).
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;
/// Most tracks in one upload.
pub const MAX_UPLOAD_TRACKS: usize = super::MAX_BATCH;

fn too_big(name: &str, bytes: usize) -> ApiError {
    ApiError {
        status: 413,
        error: format!(
            "{name} is {bytes} bytes; an upload holds at most {MAX_UPLOAD_BYTES} (1 MiB)"
        ),
        field: Some("csv".into()),
    }
}

impl Dashboard {
    /// Answers `POST /api/score` with `{"name": "tracks.csv", "csv": "…"}` (or the file's
    /// bytes as `csv_base64`, and `delimiter` one of `,` `;` `\t` `|`): per track its id,
    /// title (as [`crate::data::Dataset::title`]) and each model's probability, in file order,
    /// and `csv`, the scored table `hitcast predict` writes (`track_id,p_<model>…`).
    ///
    /// # Errors
    /// 400 with ingest's message (file, row, column) for a file it refuses, naming the field
    /// `csv`; 413 beyond [`MAX_UPLOAD_BYTES`] or [`MAX_UPLOAD_TRACKS`].
    pub fn score_upload(&self, body: &[u8]) -> Result<Value, ApiError> {
        let v = parse_body(body, &["name", "csv", "csv_base64", "delimiter"])?;
        let name = match v.get("name") {
            None => "upload.csv",
            Some(n) => n
                .as_str()
                .filter(|n| !n.is_empty() && n.chars().count() <= 255)
                .ok_or_else(|| {
                    ApiError::bad(
                        Some("name"),
                        "`name` must be the file's name (1 to 255 characters)".into(),
                    )
                })?,
        };
        // Only the last path component: a name is a label here, never a place.
        let name = Path::new(name)
            .file_name()
            .map_or("upload.csv".into(), |n| n.to_string_lossy().into_owned());
        // The file's bytes as the page read them (base64), so ingest itself judges the
        // encoding; or its text.
        let bytes: Vec<u8> = match (v.get("csv"), v.get("csv_base64")) {
            (Some(t), None) => t
                .as_str()
                .ok_or_else(|| ApiError::bad(Some("csv"), "`csv` must be the file's text".into()))?
                .as_bytes()
                .to_vec(),
            (None, Some(b)) => {
                let text = b.as_str().ok_or_else(|| {
                    ApiError::bad(Some("csv_base64"), "`csv_base64` must be a string".into())
                })?;
                if text.len() > MAX_UPLOAD_BYTES / 3 * 4 + 4 {
                    return Err(too_big(&name, text.len() / 4 * 3));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| {
                        ApiError::bad(
                            Some("csv_base64"),
                            format!("`csv_base64` is not base64: {e}"),
                        )
                    })?
            }
            _ => {
                return Err(ApiError::bad(
                    Some("csv"),
                    "the body needs the file as `csv` (its text) or `csv_base64` (its bytes)"
                        .into(),
                ))
            }
        };
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(too_big(&name, bytes.len()));
        }
        let delimiter = match v.get("delimiter").map(|d| d.as_str()) {
            None => b',',
            Some(Some(",")) => b',',
            Some(Some(";")) => b';',
            Some(Some("\t")) => b'\t',
            Some(Some("|")) => b'|',
            Some(_) => {
                return Err(ApiError::bad(
                    Some("delimiter"),
                    "`delimiter` must be one of \",\", \";\", \"\\t\" or \"|\"".into(),
                ))
            }
        };
        let tracks =
            crate::score::read_tracks_bytes(&self.artifacts, Path::new(&name), bytes, delimiter)
                .map_err(|e| ApiError::bad(Some("csv"), e.to_string()))?;
        if tracks.len() > MAX_UPLOAD_TRACKS {
            return Err(ApiError {
                status: 413,
                error: format!(
                    "{name} has {} tracks; an upload holds at most {MAX_UPLOAD_TRACKS}",
                    tracks.len()
                ),
                field: Some("csv".into()),
            });
        }
        let csv = crate::score::prediction_csv(&self.artifacts, &tracks)
            .map_err(|e| ApiError::bad(Some("csv"), e.to_string()))?;
        let per_model: Vec<(&str, Vec<f64>)> = self
            .artifacts
            .iter()
            .map(|a| Ok((a.family.name(), a.model.predict_proba(&tracks)?)))
            .collect::<crate::Result<_>>()
            .map_err(|e| ApiError::bad(Some("csv"), e.to_string()))?;
        let rows: Vec<Value> = (0..tracks.len())
            .map(|i| {
                let p: BTreeMap<&str, f64> = per_model.iter().map(|(n, p)| (*n, p[i])).collect();
                json!({ "id": tracks.ids[i], "title": tracks.title(i), "probabilities": p })
            })
            .collect();
        Ok(json!({ "name": name, "rows": rows.len(), "tracks": rows, "csv": csv }))
    }
}
