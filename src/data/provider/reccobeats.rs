//! The ReccoBeats provider (<https://reccobeats.com/docs>): no credentials.
//!
//! - `GET /v1/track?ids=…` — track metadata by Spotify id (`trackTitle`, `artists`,
//!   `durationMs`, `popularity`, `href` = the track's open.spotify.com link);
//! - `GET /v1/audio-features?ids=…` — audio features by Spotify id (no `time_signature`,
//!   no `duration_ms`);
//! - `POST /v1/analysis/audio-features` — features extracted from an uploaded file
//!   (multipart field `audioFile`, MP3/OGG/WAV/AIFF, at most 5 MB).
//!
//! Both lookups take at most [`BATCH`] ids and answer `{"content": [...]}` in any order,
//! leaving out the ids they do not know; each item's `id` is ReccoBeats' own, so results are
//! matched back by the Spotify id at the end of `href`. Throttling is a 429 with
//! `Retry-After`, which [`super::http`] honours.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audio::AudioFile;
use super::http::{Answer, Body, Http, HttpOptions};
use super::{artist_names, finite_features, track_ids, Fetched, FetchedTrack, Unresolved};
use crate::error::Result;

/// The API's base URL.
pub const API_URL: &str = "https://api.reccobeats.com/v1";
/// Most ids per lookup.
pub const BATCH: usize = 40;

/// The catalogue's audio features, in HitCast's names (they are the same): the first 11 of
/// [`crate::data::ALL_FEATURES`] (`duration_ms` comes from the track's metadata).
const CATALOGUE_FEATURES: &[&str] = {
    let all: &[&str] = &crate::data::ALL_FEATURES;
    all.split_at(11).0
};

/// Track metadata by Spotify id.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackMeta {
    pub name: String,
    pub artists: String,
    pub popularity: Option<f64>,
    pub duration_ms: Option<f64>,
}

/// A ReccoBeats client.
pub struct Client {
    http: Http,
}

impl Client {
    /// A client with `options` (default base [`API_URL`]).
    pub fn new(options: HttpOptions) -> Client {
        Client {
            http: Http::new("ReccoBeats", options),
        }
    }

    pub fn from_cache(&self) -> usize {
        self.http.from_cache
    }

    pub fn from_network(&self) -> usize {
        self.http.from_network
    }

    fn refused(&self, what: &str, a: &Answer) -> crate::Error {
        let words = a.message().map(|m| format!(": {m}")).unwrap_or_default();
        self.http
            .error(format!("{what}: HTTP {}{words}{}", a.status, a.origin()))
    }

    /// `content` items of a lookup of `ids` at `endpoint`, keyed by the Spotify id in `href`.
    fn lookup(
        &mut self,
        endpoint: &str,
        what: &str,
        ids: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<BTreeMap<String, Value>> {
        let mut found = BTreeMap::new();
        let batches = ids.len().div_ceil(BATCH);
        for (k, batch) in ids.chunks(BATCH).enumerate() {
            let a = self
                .http
                .get(&format!("/{endpoint}?ids={}", batch.join(",")), what, None)?;
            if !(200..=299).contains(&a.status) {
                return Err(self.refused(what, &a));
            }
            let items = a.body["content"].as_array().ok_or_else(|| {
                self.http
                    .error(format!("{what}: the answer has no `content` array"))
            })?;
            for item in items {
                // Only the open.spotify.com link of an id that was asked for, and the first
                // item per id: a stray or repeated item cannot add or replace a track.
                let Some(rest) = item["href"].as_str().and_then(|h| {
                    h.strip_prefix("https://open.spotify.com/track/")
                        .or_else(|| h.strip_prefix("http://open.spotify.com/track/"))
                }) else {
                    continue;
                };
                let id = rest.split(['?', '/', '#']).next().unwrap_or_default();
                if batch.iter().any(|b| b == id) && !found.contains_key(id) {
                    found.insert(id.to_string(), item.clone());
                }
            }
            progress(&format!("{what}: batch {} of {batches}", k + 1));
        }
        Ok(found)
    }

    /// Metadata of the tracks `ids` that ReccoBeats knows (bare Spotify ids).
    ///
    /// # Errors
    /// [`crate::Error::Provider`] for a refused request, malformed JSON or retries exhausted.
    pub fn tracks(
        &mut self,
        ids: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<BTreeMap<String, TrackMeta>> {
        let found = self.lookup("track", "tracks", ids, progress)?;
        Ok(found
            .into_iter()
            .map(|(id, t)| {
                let artists = artist_names(&t["artists"]);
                let meta = TrackMeta {
                    name: t["trackTitle"].as_str().unwrap_or_default().to_string(),
                    artists,
                    popularity: t["popularity"]
                        .as_f64()
                        .filter(|p| p.is_finite() && (0.0..=100.0).contains(p)),
                    duration_ms: t["durationMs"]
                        .as_f64()
                        .filter(|d| d.is_finite() && *d >= 0.0),
                };
                (id, meta)
            })
            .collect())
    }

    /// Tracks by Spotify id (ids, URIs or links) with metadata and audio features; ids
    /// without features are listed in `unresolved` with the reason.
    ///
    /// # Errors
    /// As [`Client::tracks`].
    pub fn fetch(&mut self, raw: &[String], progress: &mut dyn FnMut(&str)) -> Result<Fetched> {
        let (ids, bad) = track_ids(raw);
        let mut fetched = Fetched {
            unresolved: bad,
            ..Fetched::default()
        };
        let meta = self.tracks(&ids, progress)?;
        let features = self.lookup("audio-features", "audio features", &ids, progress)?;
        for id in &ids {
            let Some(f) = features.get(id) else {
                fetched.unresolved.push(Unresolved {
                    id: id.clone(),
                    reason: if meta.contains_key(id) {
                        "ReccoBeats has the track but no audio features for it".into()
                    } else {
                        "unknown to ReccoBeats".into()
                    },
                });
                continue;
            };
            let mut values = finite_features(f, CATALOGUE_FEATURES);
            let m = meta.get(id);
            if let Some(d) = m.and_then(|m| m.duration_ms) {
                values.insert("duration_ms".into(), d);
            }
            fetched.tracks.push(FetchedTrack {
                id: id.clone(),
                name: m.map(|m| m.name.clone()).unwrap_or_default(),
                artists: m.map(|m| m.artists.clone()).unwrap_or_default(),
                popularity: m.and_then(|m| m.popularity),
                playlists: Vec::new(),
                features: values,
            });
        }
        // `duration_ms` comes with the track's details: a track without them is listed too,
        // so the column is never dropped for all.
        let mut required = CATALOGUE_FEATURES.to_vec();
        required.push("duration_ms");
        fetched.require_features(&required, "ReccoBeats");
        fetched.from_cache = self.http.from_cache;
        fetched.from_network = self.http.from_network;
        Ok(fetched)
    }

    /// The audio features ReccoBeats extracts from `file` (by its own algorithm, not
    /// Spotify's). Cached by the file's content, never its path.
    ///
    /// # Errors
    /// [`crate::Error::Provider`] when the service refuses the file or answers without
    /// features.
    pub fn analyse(&mut self, file: &AudioFile) -> Result<BTreeMap<String, f64>> {
        let digest: String = Sha256::digest(&file.bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // A boundary that cannot occur in the file: derived from its hash, checked.
        let mut boundary = format!("hitcast-{}", &digest[..32]);
        while contains(&file.bytes, boundary.as_bytes()) {
            boundary.push('x');
        }
        let mut body = Vec::with_capacity(file.bytes.len() + 256);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"audioFile\"; filename=\"upload.{}\"\r\nContent-Type: {}\r\n\r\n",
                file.format.extension(),
                file.format.mime()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&file.bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let what = format!(
            "analysing {}",
            super::http::printable(&file.path.display().to_string())
        );
        let a = self.http.send(
            "POST",
            "/analysis/audio-features",
            &what,
            None,
            Some(Body {
                content_type: format!("multipart/form-data; boundary={boundary}"),
                bytes: &body,
            }),
            &format!("POST /analysis/audio-features sha256={digest}"),
        )?;
        if !(200..=299).contains(&a.status) {
            return Err(self.refused(&what, &a));
        }
        let features = finite_features(&a.body, CATALOGUE_FEATURES);
        if features.is_empty() {
            return Err(self
                .http
                .error(format!("{what}: the answer has no audio features")));
        }
        Ok(features)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
