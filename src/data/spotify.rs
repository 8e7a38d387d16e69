//! The Spotify Web API client: the only code in HitCast that touches the network.
//!
//! Client-credentials auth (the token is refreshed on expiry or a 401), playlist pages
//! followed to the end, tracks and audio features batched at the API's limits (50 and 100
//! ids), 429 `Retry-After` honoured and 5xx retried with capped backoff, both a bounded
//! number of times. Responses are cached on disk keyed by the request (method and URL; no
//! credentials, no token), so a rerun is offline and identical.
//!
//! Spotify stopped serving `audio-features` to new apps in November 2024 (they get 403):
//! [`Fetched::audio_features_denied`] says so and the tracks are kept without features.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::data::csv_field;
use crate::error::{Error, Result};

/// The audio features the API returns: all of HitCast's but the Hit Predictor's own
/// `chorus_hit` and `sections`, which come last.
fn audio_features() -> &'static [&'static str] {
    &crate::data::ALL_FEATURES[..13]
}

/// Credentials; `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// Client settings. Defaults talk to Spotify; tests point the URLs at a local server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Default `https://api.spotify.com/v1`.
    pub api_url: String,
    /// Default `https://accounts.spotify.com/api/token`.
    pub token_url: String,
    /// Response cache folder; `None` disables caching. Default `data/spotify-cache`.
    pub cache_dir: Option<PathBuf>,
    /// Ignore cached responses (they are still rewritten). Default `false`.
    pub refresh: bool,
    /// Retries after a 429 or 5xx before giving up. Default 5.
    pub max_retries: u32,
    /// First backoff after a 5xx, doubled each time up to `max_backoff`. Default 500 ms.
    pub backoff: Duration,
    /// Default 8 s.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; longer waits fail instead. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            api_url: "https://api.spotify.com/v1".into(),
            token_url: "https://accounts.spotify.com/api/token".into(),
            cache_dir: Some(PathBuf::from("data/spotify-cache")),
            refresh: false,
            max_retries: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// One fetched track.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedTrack {
    pub id: String,
    pub name: String,
    pub artists: String,
    pub popularity: f64,
    /// The playlist it came from (empty for tracks asked for by id).
    pub playlist: String,
    /// Audio features that could be fetched.
    pub features: BTreeMap<String, f64>,
}

/// What a fetch produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fetched {
    pub tracks: Vec<FetchedTrack>,
    /// The API refused audio features (403): the tracks have none.
    pub audio_features_denied: bool,
    /// Requests answered from the cache and from the network.
    pub from_cache: usize,
    pub from_network: usize,
}

/// How a fetched track is labelled in the CSV.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchLabel {
    /// No `target` column.
    None,
    /// Popularity at or above this value is a hit.
    PopularityAtLeast(f64),
    /// Tracks of this playlist are hits, all others not.
    InPlaylist(String),
}

/// A Spotify Web API client.
pub struct Client {
    credentials: Credentials,
    options: ClientOptions,
    agent: ureq::Agent,
    token: Option<(String, Instant)>,
    from_cache: usize,
    from_network: usize,
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn spotify_error(message: String) -> Error {
    Error::Spotify(message)
}

/// Extracts a bare track / playlist id from an id, a `spotify:…:id` URI or an open.spotify.com URL.
pub fn bare_id(s: &str) -> String {
    let s = s.trim();
    let s = s.rsplit([':', '/']).next().unwrap_or(s);
    s.split('?').next().unwrap_or(s).to_string()
}

impl Client {
    pub fn new(credentials: Credentials, options: ClientOptions) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Client {
            credentials,
            options,
            agent,
            token: None,
            from_cache: 0,
            from_network: 0,
        }
    }

    fn cache_path(&self, url: &str) -> Option<PathBuf> {
        let dir = self.options.cache_dir.as_ref()?;
        // Keyed by the request relative to the API, so the cache outlives a change of host.
        let request = url.strip_prefix(&self.options.api_url).unwrap_or(url);
        let key = Sha256::digest(format!("GET {request}").as_bytes());
        let name = key.iter().take(16).fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        Some(dir.join(format!("{name}.json")))
    }

    fn token(&mut self, force: bool) -> Result<String> {
        if let (false, Some((t, until))) = (force, &self.token) {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let basic = base64(
            format!(
                "{}:{}",
                self.credentials.client_id, self.credentials.client_secret
            )
            .as_bytes(),
        );
        let response = self
            .agent
            .post(&self.options.token_url)
            .set("Authorization", &format!("Basic {basic}"))
            .send_form(&[("grant_type", "client_credentials")]);
        let body = match response {
            Ok(r) => r.into_string().map_err(|e| spotify_error(format!("token response unreadable: {e}")))?,
            Err(ureq::Error::Status(code, _)) => {
                return Err(spotify_error(format!(
                    "authentication failed (HTTP {code}): check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"
                )))
            }
            Err(e) => return Err(spotify_error(format!("cannot reach the token endpoint: {}", e.kind()))),
        };
        let v: Value = serde_json::from_str(&body)
            .map_err(|_| spotify_error("the token endpoint returned malformed JSON".into()))?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| spotify_error("the token response has no access_token".into()))?
            .to_string();
        // Refresh a minute early so a token never expires mid-request.
        let life = v["expires_in"].as_u64().unwrap_or(3600).saturating_sub(60);
        self.token = Some((token.clone(), Instant::now() + Duration::from_secs(life)));
        Ok(token)
    }

    /// GETs `url` (cached), returning the status and parsed body of the final answer.
    fn get(&mut self, url: &str, what: &str) -> Result<(u16, Value)> {
        let cache = self.cache_path(url);
        if let (false, Some(path)) = (self.options.refresh, &cache) {
            if let Ok(text) = std::fs::read_to_string(path) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    self.from_cache += 1;
                    return Ok((
                        v["status"].as_u64().unwrap_or(200) as u16,
                        v["body"].clone(),
                    ));
                }
            }
        }
        let mut attempt = 0;
        let mut backoff = self.options.backoff;
        let mut refreshed = false;
        loop {
            let token = self.token(false)?;
            let result = self
                .agent
                .get(url)
                .set("Authorization", &format!("Bearer {token}"))
                .call();
            let (status, response) = match result {
                Ok(r) => (r.status(), Some(r)),
                Err(ureq::Error::Status(code, r)) => (code, Some(r)),
                Err(e) => {
                    if attempt >= self.options.max_retries {
                        return Err(spotify_error(format!(
                            "{what}: network error: {}",
                            e.kind()
                        )));
                    }
                    (0, None)
                }
            };
            match status {
                200..=299 => {
                    let text = response
                        .map(|r| r.into_string())
                        .transpose()
                        .map_err(|e| spotify_error(format!("{what}: unreadable response: {e}")))?
                        .unwrap_or_default();
                    let body: Value = serde_json::from_str(&text).map_err(|_| {
                        spotify_error(format!("{what}: the API returned malformed JSON"))
                    })?;
                    self.from_network += 1;
                    self.store(cache.as_ref(), status, &body)?;
                    return Ok((status, body));
                }
                401 if !refreshed => {
                    refreshed = true;
                    self.token(true)?;
                    continue;
                }
                403 | 404 => {
                    self.from_network += 1;
                    // Definitive answers are cached too, so a rerun behaves the same offline.
                    self.store(cache.as_ref(), status, &Value::Null)?;
                    return Ok((status, Value::Null));
                }
                429 if attempt < self.options.max_retries => {
                    let wait = response
                        .as_ref()
                        .and_then(|r| r.header("Retry-After"))
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or(backoff);
                    if wait > self.options.max_retry_after {
                        return Err(spotify_error(format!(
                            "{what}: rate limited for {} s; try again later",
                            wait.as_secs()
                        )));
                    }
                    std::thread::sleep(wait);
                }
                0 | 500..=599 if attempt < self.options.max_retries => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
                429 => {
                    return Err(spotify_error(format!(
                        "{what}: still rate limited after {attempt} retries"
                    )))
                }
                code => {
                    return Err(spotify_error(format!(
                        "{what}: HTTP {code} after {attempt} retries"
                    )))
                }
            }
            attempt += 1;
        }
    }

    fn store(&self, path: Option<&PathBuf>, status: u16, body: &Value) -> Result<()> {
        if let Some(p) = path {
            let doc = serde_json::json!({ "status": status, "body": body });
            crate::atomic::write(p, doc.to_string().as_bytes())?;
        }
        Ok(())
    }

    fn track_of(item: &Value, playlist: &str) -> Option<FetchedTrack> {
        let id = item["id"].as_str()?.to_string();
        let artists = item["artists"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        Some(FetchedTrack {
            id,
            name: item["name"].as_str().unwrap_or_default().to_string(),
            artists,
            popularity: item["popularity"].as_f64().unwrap_or(f64::NAN),
            playlist: playlist.to_string(),
            features: BTreeMap::new(),
        })
    }

    /// Fetches every track of the playlists (all pages) and the tracks asked for by id,
    /// then their audio features where the API allows. `progress` hears each page.
    ///
    /// # Errors
    /// [`Error::Spotify`] for failed authentication, an unknown playlist (404), malformed
    /// JSON, or retries exhausted.
    pub fn fetch(
        &mut self,
        playlists: &[String],
        track_ids: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Fetched> {
        let mut tracks: Vec<FetchedTrack> = Vec::new();
        for raw in playlists {
            let id = bare_id(raw);
            let mut url = Some(format!(
                "{}/playlists/{id}/tracks?limit=100&offset=0",
                self.options.api_url
            ));
            let mut page = 0;
            while let Some(u) = url {
                page += 1;
                let (status, body) = self.get(&u, &format!("playlist {id}"))?;
                match status {
                    404 => {
                        return Err(spotify_error(format!("playlist {id} not found (HTTP 404)")))
                    }
                    403 => {
                        return Err(spotify_error(format!(
                            "playlist {id}: access denied (HTTP 403)"
                        )))
                    }
                    _ => {}
                }
                let items = body["items"].as_array().ok_or_else(|| {
                    spotify_error(format!("playlist {id}: page {page} has no `items`"))
                })?;
                tracks.extend(
                    items
                        .iter()
                        .filter_map(|it| Self::track_of(&it["track"], &id)),
                );
                progress(&format!(
                    "playlist {id}: page {page}, {} tracks so far",
                    tracks.len()
                ));
                // Follow `next` on our configured base (same path and query), so a cached run
                // and a test server see the same requests.
                url = body["next"].as_str().map(|n| match n.find("/playlists/") {
                    Some(pos) => format!("{}{}", self.options.api_url, &n[pos..]),
                    None => n.to_string(),
                });
            }
        }
        let ids: Vec<String> = track_ids.iter().map(|t| bare_id(t)).collect();
        for (k, batch) in ids.chunks(50).enumerate() {
            let url = format!("{}/tracks?ids={}", self.options.api_url, batch.join(","));
            let (status, body) = self.get(&url, "tracks")?;
            if status != 200 {
                return Err(spotify_error(format!("tracks: HTTP {status}")));
            }
            let items = body["tracks"]
                .as_array()
                .ok_or_else(|| spotify_error("tracks: no `tracks` array".into()))?;
            tracks.extend(items.iter().filter_map(|t| Self::track_of(t, "")));
            progress(&format!(
                "tracks: batch {} of {}",
                k + 1,
                ids.len().div_ceil(50)
            ));
        }
        let mut denied = false;
        let unique: Vec<String> = {
            let mut seen = std::collections::BTreeSet::new();
            tracks
                .iter()
                .filter(|t| seen.insert(t.id.clone()))
                .map(|t| t.id.clone())
                .collect()
        };
        let mut features: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for batch in unique.chunks(100) {
            let url = format!(
                "{}/audio-features?ids={}",
                self.options.api_url,
                batch.join(",")
            );
            let (status, body) = self.get(&url, "audio features")?;
            if status == 403 {
                denied = true;
                break;
            }
            for f in body["audio_features"].as_array().into_iter().flatten() {
                if let Some(id) = f["id"].as_str() {
                    let values = audio_features()
                        .iter()
                        .filter_map(|name| f[*name].as_f64().map(|v| (name.to_string(), v)))
                        .collect();
                    features.insert(id.to_string(), values);
                }
            }
        }
        for t in &mut tracks {
            if let Some(f) = features.get(&t.id) {
                t.features = f.clone();
            }
        }
        Ok(Fetched {
            tracks,
            audio_features_denied: denied,
            from_cache: self.from_cache,
            from_network: self.from_network,
        })
    }
}

impl Fetched {
    /// The normalised CSV `hitcast data ingest` reads: `track_id, track_name, artists,
    /// popularity, playlist`, the audio features every track has, and `target` when labelled.
    pub fn to_csv(&self, label: &FetchLabel) -> String {
        let names: Vec<&str> = audio_features()
            .iter()
            .copied()
            .filter(|n| {
                !self.tracks.is_empty() && self.tracks.iter().all(|t| t.features.contains_key(*n))
            })
            .collect();
        let mut out = String::from("track_id,track_name,artists,popularity,playlist");
        for n in &names {
            let _ = write!(out, ",{n}");
        }
        if *label != FetchLabel::None {
            out.push_str(",target");
        }
        out.push('\n');
        for t in &self.tracks {
            let _ = write!(
                out,
                "{},{},{},{},{}",
                csv_field(&t.id),
                csv_field(&t.name),
                csv_field(&t.artists),
                t.popularity,
                csv_field(&t.playlist)
            );
            for n in &names {
                let _ = write!(out, ",{}", t.features[*n]);
            }
            match label {
                FetchLabel::None => {}
                FetchLabel::PopularityAtLeast(cut) => {
                    let _ = write!(out, ",{}", u8::from(t.popularity >= *cut));
                }
                FetchLabel::InPlaylist(p) => {
                    let _ = write!(out, ",{}", u8::from(t.playlist == bare_id(p)));
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"id:secret"), "aWQ6c2VjcmV0");
    }

    #[test]
    fn ids_come_out_of_uris_and_links() {
        assert_eq!(
            bare_id("spotify:playlist:37i9dQZEVXbMDoHDwVN2tF"),
            "37i9dQZEVXbMDoHDwVN2tF"
        );
        assert_eq!(
            bare_id("https://open.spotify.com/playlist/37i9dQZEVXbMDoHDwVN2tF?si=x"),
            "37i9dQZEVXbMDoHDwVN2tF"
        );
        assert_eq!(bare_id("4uLU6hMCjMI75M1A2tKUQC"), "4uLU6hMCjMI75M1A2tKUQC");
        let c = Credentials {
            client_id: "a".into(),
            client_secret: "s3cr3t".into(),
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
