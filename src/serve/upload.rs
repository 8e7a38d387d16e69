//! `POST /api/score`: a CSV the page uploads, read by the same ingest as `hitcast predict`
//! (any layout it reads), scored by every model. A bad file gets ingest's error, naming the
//! upload, row and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::{json::parse_body, ApiError, Dashboard};

/// Largest CSV text accepted (the JSON body around it must also fit the body limit).
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;
/// Most tracks in one upload.
pub const MAX_UPLOAD_TRACKS: usize = super::MAX_BATCH;

impl Dashboard {
    /// Answers `POST /api/score` with `{"name": "tracks.csv", "csv": "…"}`: per track its id,
    /// title (as [`crate::data::Dataset::title`]) and each model's probability, in file order,
    /// and `csv`, the scored table `hitcast predict` writes (`track_id,p_<model>…`).
    ///
    /// # Errors
    /// 400 with ingest's message (file, row, column) for a file it refuses, naming the field
    /// `csv`; 413 beyond [`MAX_UPLOAD_BYTES`] or [`MAX_UPLOAD_TRACKS`].
    pub fn score_upload(&self, body: &[u8]) -> Result<Value, ApiError> {
        let v = parse_body(body, &["name", "csv"])?;
        let text = v.get("csv").and_then(Value::as_str).ok_or_else(|| {
            ApiError::bad(Some("csv"), "the body needs `csv`, the file's text".into())
        })?;
        let name = match v.get("name") {
            None => "upload.csv",
            Some(n) => n
                .as_str()
                .filter(|n| !n.is_empty() && n.len() <= 255)
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
        if text.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError {
                status: 413,
                error: format!(
                    "{name} is {} bytes; an upload holds at most {MAX_UPLOAD_BYTES} (1 MiB)",
                    text.len()
                ),
                field: Some("csv".into()),
            });
        }
        let tracks = crate::score::read_tracks_bytes(
            &self.artifacts,
            Path::new(&name),
            text.as_bytes().to_vec(),
        )
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
