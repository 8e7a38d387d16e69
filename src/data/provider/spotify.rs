//! The Spotify Web API provider, for apps that still have extended access.
//!
//! Client-credentials auth (the token is refreshed on expiry or a 401), playlist pages
//! followed to the end (links must stay on the API; a page seen twice ends the walk with an
//! error), tracks and audio features batched at the API's limits (50 and 100 ids).
//!
//! What Spotify changed, and what this client does about it:
//! - since 27 November 2024 `audio-features` answers 403 for new and development-mode apps:
//!   the tracks are kept without features and a note names the policy and ReccoBeats;
//! - since 9 March 2026 development-mode track objects carry no `popularity`: it is `None`
//!   (unknown), and labels by popularity refuse;
//! - batch `GET /tracks` may be refused (403): the client asks per track, at most
//!   [`ClientOptions::max_requests`] requests, and lists the ids it could not ask for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{Answer, Http, HttpOptions, Retry};
use super::{artist_names, bare_id, finite_features, track_ids, Fetched, FetchedTrack, Unresolved};
use crate::error::Result;

/// The API's own base URL (its `next` links use it even when a mirror is configured).
pub const API_URL: &str = "https://api.spotify.com/v1";
/// Where client credentials become a token.
pub const TOKEN_URL: &str = "https://accounts.spotify.com/api/token";

/// The audio features the API returns: all of HitCast's but the Hit Predictor's own
/// `chorus_hit` and `sections`, which come last.
fn audio_features() -> &'static [&'static str] {
    &crate::data::ALL_FEATURES[..13]
}

/// What the 2024 and 2026 policy changes mean, for refusals.
const POLICY_2024: &str = "Spotify closed audio features to new and development-mode apps on 27 November 2024; `--provider reccobeats` serves them by Spotify track id without credentials";
const POLICY_2026: &str = "since 9 March 2026 development-mode apps need a Premium owner and may read only some endpoints; `--provider reccobeats` needs no credentials";

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
    /// API, cache and retries; default base [`API_URL`], cache `data/cache/spotify`.
    pub http: HttpOptions,
    /// Default [`TOKEN_URL`].
    pub token_url: String,
    /// Most per-track requests when batch `/tracks` is refused. Default 500.
    pub max_requests: usize,
    /// Most pages of one playlist. Default 201.
    pub max_pages: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            http: HttpOptions::new(API_URL, Some("data/cache/spotify".into())),
            token_url: TOKEN_URL.into(),
            max_requests: 500,
            // Spotify playlists hold at most 10,000 items: 200 pages of 50.
            max_pages: 201,
        }
    }
}

/// A Spotify Web API client.
pub struct Client {
    credentials: Credentials,
    token_url: String,
    max_requests: usize,
    max_pages: usize,
    http: Http,
    token: Option<(String, Instant)>,
    notes: Vec<String>,
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

/// A Spotify error (the token call has no [`Http`] of its own to make one).
fn error(message: String) -> crate::Error {
    crate::Error::Provider {
        provider: "Spotify",
        message,
    }
}

/// Fetches a token with client credentials.
fn new_token(
    agent: &ureq::Agent,
    token_url: &str,
    credentials: &Credentials,
    retry: Retry,
) -> Result<(String, Instant)> {
    let basic =
        base64(format!("{}:{}", credentials.client_id, credentials.client_secret).as_bytes());
    // A busy token endpoint (429, 5xx, no connection) is asked again, as the API is.
    let mut backoff = retry.backoff;
    let mut attempt = 0;
    let body = loop {
        let response = agent
            .post(token_url)
            .set("Authorization", &format!("Basic {basic}"))
            .send_form(&[("grant_type", "client_credentials")]);
        let again = attempt < retry.max_retries;
        match response {
            Ok(r) => {
                break r
                    .into_string()
                    .map_err(|e| error(format!("token response unreadable: {e}")))?
            }
            Err(ureq::Error::Status(code @ (400 | 401 | 403), _)) => {
                return Err(error(format!(
                    "authentication failed (HTTP {code}): check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"
                )))
            }
            Err(ureq::Error::Status(429 | 500..=599, _) | ureq::Error::Transport(_)) if again => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(retry.max_backoff);
                attempt += 1;
            }
            Err(ureq::Error::Status(code, _)) => {
                return Err(error(format!(
                    "the token endpoint answered HTTP {code} after {attempt} retries; try again later"
                )))
            }
            Err(e) => {
                return Err(error(format!(
                    "cannot reach the token endpoint: {} (after {attempt} retries)",
                    e.kind()
                )))
            }
        }
    };
    let v: Value = serde_json::from_str(&body)
        .map_err(|_| error("the token endpoint returned malformed JSON".into()))?;
    let token = v["access_token"]
        .as_str()
        .ok_or_else(|| error("the token response has no access_token".into()))?
        .to_string();
    // Refresh a minute early so a token never expires mid-request.
    let life = v["expires_in"].as_u64().unwrap_or(3600).saturating_sub(60);
    Ok((token, Instant::now() + Duration::from_secs(life)))
}

impl Client {
    pub fn new(credentials: Credentials, options: ClientOptions) -> Client {
        Client {
            credentials,
            token_url: options.token_url,
            max_requests: options.max_requests,
            max_pages: options.max_pages.max(1),
            http: Http::new("Spotify", options.http),
            token: None,
            notes: Vec::new(),
        }
    }

    /// Notes gathered while listing playlists (items skipped), for the caller to show.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Requests answered from the cache so far.
    pub fn from_cache(&self) -> usize {
        self.http.from_cache
    }

    /// Requests answered by the network so far.
    pub fn from_network(&self) -> usize {
        self.http.from_network
    }

    /// `GET path` with the bearer token (fetched on first use, renewed on a 401).
    fn get(&mut self, path: &str, what: &str) -> Result<Answer> {
        let Client {
            credentials,
            token_url,
            http,
            token,
            ..
        } = self;
        // The token call retries as the API's requests do (copied: `http` sends meanwhile).
        let retry = http.options.retry();
        let mut auth = |agent: &ureq::Agent, force: bool| -> Result<String> {
            if let (false, Some((t, until))) = (force, &*token) {
                if Instant::now() < *until {
                    return Ok(format!("Bearer {t}"));
                }
            }
            let fresh = new_token(agent, token_url, credentials, retry)?;
            let value = format!("Bearer {}", fresh.0);
            *token = Some(fresh);
            Ok(value)
        };
        http.get(path, what, Some(&mut auth))
    }

    fn track_of(item: &Value, playlist: &str) -> Option<FetchedTrack> {
        let id = item["id"].as_str()?.to_string();
        let artists = artist_names(&item["artists"]);
        Some(FetchedTrack {
            id,
            name: item["name"].as_str().unwrap_or_default().to_string(),
            artists,
            // Missing since March 2026 for development-mode apps: unknown, never NaN.
            popularity: item["popularity"].as_f64().filter(|p| p.is_finite()),
            playlists: if playlist.is_empty() {
                Vec::new()
            } else {
                vec![playlist.to_string()]
            },
            features: BTreeMap::new(),
        })
    }

    fn refused(&self, what: &str, a: &Answer, policy: &str) -> crate::Error {
        let words = a.message().map(|m| format!(": {m}")).unwrap_or_default();
        let policy = if policy.is_empty() {
            String::new()
        } else {
            format!(". {policy}")
        };
        self.http.error(format!(
            "{what}: HTTP {}{words}{}{policy}",
            a.status,
            a.origin()
        ))
    }

    /// The tracks of each playlist (all pages), as full track objects.
    fn playlist_tracks(
        &mut self,
        playlists: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<FetchedTrack>> {
        let mut tracks = Vec::new();
        for raw in playlists {
            let id = bare_id(raw);
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(self.http.error(format!(
                    "`{}` is not a Spotify playlist id, URI or link",
                    super::http::printable(raw)
                )));
            }
            let what = format!("playlist {id}");
            let prefix = format!("/playlists/{id}/");
            let mut path = Some(format!("/playlists/{id}/tracks?limit=50&offset=0"));
            let mut seen = std::collections::HashSet::new();
            let mut page = 0;
            let mut pages = self.max_pages;
            let mut skipped = 0;
            while let Some(p) = path {
                page += 1;
                if !seen.insert(p.clone()) {
                    return Err(self.http.error(format!(
                        "{what}: page {page} links back to a page already read (a `next` cycle{}); stopping",
                        if self.http.options.refresh { "" } else { ", perhaps from the cache: --refresh asks again" }
                    )));
                }
                if page > pages {
                    return Err(self.http.error(format!(
                        "{what}: more than {pages} pages (what the playlist's `total` needs, at most 201 for Spotify's 10,000 tracks); stopping"
                    )));
                }
                let a = self.get(&p, &what)?;
                match a.status {
                    200..=299 => {}
                    404 => {
                        return Err(self
                            .http
                            .error(format!("{what} not found (HTTP 404){}", a.origin())))
                    }
                    403 => return Err(self.refused(&what, &a, POLICY_2026)),
                    _ => return Err(self.refused(&what, &a, "")),
                }
                // A listing that announces its size gets the pages that size needs (50 per
                // page) and one more, however its links run on.
                if let (1, Some(total)) = (page, a.body["total"].as_u64()) {
                    pages = pages.min(
                        usize::try_from(total.div_ceil(50))
                            .unwrap_or(usize::MAX)
                            .saturating_add(1),
                    );
                }
                let items = a.body["items"].as_array().ok_or_else(|| {
                    self.http
                        .error(format!("{what}: page {page} has no `items`"))
                })?;
                // The 2026 item shape names the object `item`; older answers `track`.
                let before = tracks.len();
                tracks.extend(items.iter().filter_map(|it| {
                    let t = if it["track"].is_object() {
                        &it["track"]
                    } else {
                        &it["item"]
                    };
                    Self::track_of(t, &id)
                }));
                skipped += items.len() - (tracks.len() - before);
                progress(&format!(
                    "playlist {id}: page {page}, {} tracks so far",
                    tracks.len()
                ));
                path = match a.body["next"].as_str() {
                    Some(n) => Some(self.http.next_path(n, API_URL, &prefix, &what, a.cached)?),
                    None => None,
                };
            }
            if skipped > 0 {
                self.notes.push(format!(
                    "playlist {id}: {skipped} items without a Spotify track id (local files, episodes) were skipped"
                ));
            }
        }
        Ok(tracks)
    }

    /// `(track id, playlist id)` of every track of the playlists, for another provider.
    ///
    /// # Errors
    /// As [`Client::fetch`].
    pub fn playlist_track_ids(
        &mut self,
        playlists: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<(String, String)>> {
        Ok(self
            .playlist_tracks(playlists, progress)?
            .into_iter()
            .flat_map(|t| t.playlists.into_iter().map(move |p| (t.id.clone(), p)))
            .collect())
    }

    /// Tracks by id: batches of 50, or one by one (at most `max_requests`) when the batch
    /// endpoint is refused.
    fn tracks(
        &mut self,
        ids: &[String],
        unresolved: &mut Vec<Unresolved>,
        notes: &mut Vec<String>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<FetchedTrack>> {
        let mut tracks = Vec::new();
        let batches = ids.len().div_ceil(50);
        let mut single: Vec<String> = Vec::new();
        for (k, batch) in ids.chunks(50).enumerate() {
            let a = self.get(&format!("/tracks?ids={}", batch.join(",")), "tracks")?;
            match a.status {
                200..=299 => {
                    let items = a.body["tracks"].as_array().ok_or_else(|| {
                        self.http
                            .error("tracks: the answer has no `tracks` array".into())
                    })?;
                    // Matched by id (or the id a relinked track was asked for by), not by
                    // position; unknown ids come back as null and are listed.
                    let mut answered = std::collections::BTreeSet::new();
                    for item in items {
                        let asked = item["linked_from"]["id"]
                            .as_str()
                            .or_else(|| item["id"].as_str())
                            .unwrap_or_default()
                            .to_string();
                        if !batch.contains(&asked) || !answered.insert(asked.clone()) {
                            continue;
                        }
                        if let Some(mut t) = Self::track_of(item, "") {
                            // A relinked track keeps the id it was asked for, so the CSV and
                            // the list of misses speak of the user's ids.
                            t.id = asked.clone();
                            tracks.push(t);
                        }
                    }
                    for id in batch.iter().filter(|id| !answered.contains(*id)) {
                        unresolved.push(Unresolved {
                            id: id.clone(),
                            reason: "Spotify does not know this track".into(),
                        });
                    }
                }
                400 | 403 => single.extend(batch.iter().cloned()),
                _ => return Err(self.refused("tracks", &a, "")),
            }
            progress(&format!("tracks: batch {} of {batches}", k + 1));
        }
        if !single.is_empty() {
            notes.push(format!(
                "Spotify refused batch /tracks; asked for {} tracks one by one (at most {} requests)",
                single.len().min(self.max_requests),
                self.max_requests
            ));
        }
        for (n, id) in single.iter().enumerate() {
            if n >= self.max_requests {
                unresolved.push(Unresolved {
                    id: id.clone(),
                    reason: format!("not fetched: batch /tracks was refused and the per-track fallback stops at {} requests (--max-requests)", self.max_requests),
                });
                continue;
            }
            if n % 10 == 0 {
                progress(&format!(
                    "tracks one by one: {} of {}",
                    n + 1,
                    single.len().min(self.max_requests)
                ));
            }
            let a = self.get(&format!("/tracks/{id}"), "track")?;
            match a.status {
                200..=299 => match Self::track_of(&a.body, "") {
                    Some(t) => tracks.push(t),
                    None => {
                        return Err(self
                            .http
                            .error(format!("track {id}: the answer is not a track")))
                    }
                },
                404 | 400 => unresolved.push(Unresolved {
                    id: id.clone(),
                    reason: format!("Spotify answered HTTP {}", a.status),
                }),
                403 => return Err(self.refused(&format!("track {id}"), &a, POLICY_2026)),
                _ => return Err(self.refused(&format!("track {id}"), &a, "")),
            }
        }
        Ok(tracks)
    }

    /// Fetches every track of the playlists (all pages) and the tracks asked for by id,
    /// then their audio features where the API allows. `progress` hears each page.
    ///
    /// # Errors
    /// [`crate::Error::Provider`] for failed authentication, an unknown or refused playlist, a
    /// `next` link to another host or back to a page already read, malformed JSON, or retries
    /// exhausted.
    pub fn fetch(
        &mut self,
        playlists: &[String],
        track_ids_raw: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Fetched> {
        let mut fetched = Fetched::default();
        let mut tracks = self.playlist_tracks(playlists, progress)?;
        fetched.notes.append(&mut self.notes);
        let (ids, bad) = track_ids(track_ids_raw);
        fetched.unresolved.extend(bad);
        tracks.extend(self.tracks(&ids, &mut fetched.unresolved, &mut fetched.notes, progress)?);
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
            let a = self.get(
                &format!("/audio-features?ids={}", batch.join(",")),
                "audio features",
            )?;
            if a.status == 403 {
                fetched.audio_features_denied = true;
                let words = a.message().map(|m| format!(": {m}")).unwrap_or_default();
                fetched.notes.push(format!(
                    "Spotify refused audio features (HTTP 403{words}){}: {POLICY_2024}. The CSV has the tracks without features",
                    a.origin()
                ));
                break;
            }
            if !(200..=299).contains(&a.status) {
                return Err(self.refused("audio features", &a, ""));
            }
            for f in a.body["audio_features"].as_array().into_iter().flatten() {
                if let Some(id) = f["id"].as_str() {
                    features.insert(id.to_string(), finite_features(f, audio_features()));
                }
            }
        }
        for t in &mut tracks {
            if let Some(f) = features.get(&t.id) {
                t.features = f.clone();
            }
        }
        fetched.tracks = tracks;
        // Without a refusal, a track whose features are null (a local file, an episode, an
        // unknown id) or partial is listed, not written with columns missing for all.
        if !fetched.audio_features_denied {
            fetched.require_features(audio_features(), "Spotify");
        }
        fetched.from_cache = self.http.from_cache;
        fetched.from_network = self.http.from_network;
        Ok(fetched)
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
