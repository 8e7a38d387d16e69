//! Where real tracks come from: providers of track metadata and audio features, the only
//! code in HitCast that touches the network.
//!
//! - [`reccobeats`] (the default; no credentials): audio features and metadata (with
//!   popularity) by Spotify track id, and features extracted from an uploaded audio file.
//! - [`spotify`] (for apps that still have extended access): playlists, tracks and audio
//!   features. Since 27 November 2024 new and development-mode apps get 403 for audio
//!   features; since 9 March 2026 their track objects carry no popularity and batch
//!   `/tracks` may be refused.
//!
//! Every provider goes through [`http`]: a cache keyed by the request (never credentials),
//! bounded retries on 429 and 5xx, 4xx answers quoted in errors, `next` links that must stay
//! on the API. Ids a provider cannot resolve are listed in [`Fetched::unresolved`], never
//! dropped silently, and an unknown popularity is `None`, never `NaN`.

pub mod audio;
pub mod dotenv;
pub mod http;
pub mod reccobeats;
pub mod spotify;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::data::csv_field;
use crate::error::{Error, Result};

pub use http::HttpOptions;

/// Which provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    ReccoBeats,
    Spotify,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::ReccoBeats => "reccobeats",
            ProviderKind::Spotify => "spotify",
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reccobeats" => Ok(ProviderKind::ReccoBeats),
            "spotify" => Ok(ProviderKind::Spotify),
            _ => Err(format!("unknown provider `{s}`: use reccobeats or spotify")),
        }
    }
}

/// One fetched track.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedTrack {
    pub id: String,
    pub name: String,
    pub artists: String,
    /// Popularity 0–100 when the provider gives it; `None` is "unknown".
    pub popularity: Option<f64>,
    /// The playlists it is in, in the order they were listed (empty for tracks asked for by
    /// id only).
    pub playlists: Vec<String>,
    /// Audio features that could be fetched.
    pub features: BTreeMap<String, f64>,
}

/// An id that could not be turned into a track with features, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    pub id: String,
    pub reason: String,
}

/// What a fetch produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fetched {
    pub tracks: Vec<FetchedTrack>,
    /// Ids asked for (or listed in a playlist) that are not in `tracks`, with the reason.
    pub unresolved: Vec<Unresolved>,
    /// Things the user must know (a refused endpoint, features left out), one per line.
    pub notes: Vec<String>,
    /// The API refused audio features (HTTP 403): the tracks have none.
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

/// Extracts a bare track / playlist id from an id, a `spotify:…:id` URI or an
/// open.spotify.com URL.
pub fn bare_id(s: &str) -> String {
    let s = s.trim();
    let s = s.split('?').next().unwrap_or(s);
    let s = s.trim_end_matches('/');
    s.rsplit([':', '/']).next().unwrap_or(s).to_string()
}

/// The `name`s of an `artists` array, joined by ", " (both providers' shape).
pub(crate) fn artist_names(artists: &serde_json::Value) -> String {
    artists
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The finite numbers `item` holds under `names` (both providers' feature objects): a
/// missing, null or non-numeric field is simply absent.
pub(crate) fn finite_features(item: &serde_json::Value, names: &[&str]) -> BTreeMap<String, f64> {
    names
        .iter()
        .filter_map(|n| {
            item[*n]
                .as_f64()
                .filter(|v| v.is_finite())
                .map(|v| (n.to_string(), v))
        })
        .collect()
}

/// Whether `id` looks like a Spotify id: 22 base-62 characters.
pub fn is_spotify_id(id: &str) -> bool {
    id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The bare ids of `raw`, each once, in order; the ones that are not Spotify track ids are
/// returned as unresolved (no request is made for them).
pub(crate) fn track_ids(raw: &[String]) -> (Vec<String>, Vec<Unresolved>) {
    let mut seen = std::collections::BTreeSet::new();
    let (mut ids, mut bad) = (Vec::new(), Vec::new());
    for r in raw {
        let id = bare_id(r);
        if !is_spotify_id(&id) {
            bad.push(Unresolved {
                id: http::printable(r),
                reason: "not a Spotify track id, URI or link (22 letters and digits)".into(),
            });
        } else if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    (ids, bad)
}

impl Fetched {
    /// The normalised CSV `hitcast data ingest` reads: `track_id, track_name, artists`,
    /// `popularity` when every track has one, `playlist`, the audio features every track
    /// has, and `target` when labelled.
    ///
    /// # Errors
    /// [`Error::Config`] when the label needs popularity and some track's is unknown (Spotify's
    /// 2026 track object has none): nothing is labelled by comparing an unknown with a cut.
    pub fn to_csv(&self, label: &FetchLabel) -> Result<String> {
        let unknown: Vec<&str> = self
            .tracks
            .iter()
            .filter(|t| t.popularity.is_none())
            .map(|t| t.id.as_str())
            .collect();
        if let (FetchLabel::PopularityAtLeast(cut), false) = (label, unknown.is_empty()) {
            return Err(Error::Config(format!(
                "--threshold {cut} labels by popularity, but it is unknown for {} of {} tracks (e.g. {}; Spotify's 2026 track object has none): use --popularity-from reccobeats, --hit-playlist, or no label",
                unknown.len(),
                self.tracks.len(),
                unknown.iter().take(3).copied().collect::<Vec<_>>().join(", ")
            )));
        }
        let with_popularity = unknown.is_empty() && !self.tracks.is_empty();
        let names: Vec<&str> = crate::data::ALL_FEATURES
            .iter()
            .copied()
            .filter(|n| {
                !self.tracks.is_empty() && self.tracks.iter().all(|t| t.features.contains_key(*n))
            })
            .collect();
        let mut out = String::from("track_id,track_name,artists");
        if with_popularity {
            out.push_str(",popularity");
        }
        out.push_str(",playlist");
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
                "{},{},{}",
                csv_field(&t.id),
                csv_field(&t.name),
                csv_field(&t.artists)
            );
            if let (true, Some(p)) = (with_popularity, t.popularity) {
                let _ = write!(out, ",{p}");
            }
            let _ = write!(out, ",{}", csv_field(&t.playlists.join(";")));
            for n in &names {
                let _ = write!(out, ",{}", t.features[*n]);
            }
            match label {
                FetchLabel::None => {}
                FetchLabel::PopularityAtLeast(cut) => {
                    let p = t.popularity.unwrap_or(f64::NAN);
                    let _ = write!(out, ",{}", u8::from(p >= *cut));
                }
                FetchLabel::InPlaylist(p) => {
                    let hit = t.playlists.contains(&bare_id(p));
                    let _ = write!(out, ",{}", u8::from(hit));
                }
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// Keeps one row per track (the first), merging the playlists of the others into it.
    pub(crate) fn merge_repeats(&mut self) {
        let mut at: BTreeMap<String, usize> = BTreeMap::new();
        let mut kept: Vec<FetchedTrack> = Vec::with_capacity(self.tracks.len());
        for t in std::mem::take(&mut self.tracks) {
            match at.get(&t.id) {
                Some(&k) => {
                    for p in t.playlists {
                        if !kept[k].playlists.contains(&p) {
                            kept[k].playlists.push(p);
                        }
                    }
                }
                None => {
                    at.insert(t.id.clone(), kept.len());
                    kept.push(t);
                }
            }
        }
        self.tracks = kept;
    }

    /// Moves every track that lacks one of `required` features to `unresolved`, so no
    /// column is dropped for all because one track lacks it.
    pub(crate) fn require_features(&mut self, required: &[&str], provider: &str) {
        let (keep, lacking): (Vec<FetchedTrack>, Vec<FetchedTrack>) =
            std::mem::take(&mut self.tracks)
                .into_iter()
                .partition(|t| required.iter().all(|f| t.features.contains_key(*f)));
        self.tracks = keep;
        for t in lacking {
            let missing: Vec<&str> = required
                .iter()
                .copied()
                .filter(|f| !t.features.contains_key(*f))
                .collect();
            self.unresolved.push(Unresolved {
                id: t.id,
                reason: if missing.len() == required.len() {
                    format!("{provider} has no audio features for it")
                } else {
                    format!("{provider} gives no {} for it", missing.join(", "))
                },
            });
        }
    }

    /// `track_id,reason` of every unresolved id.
    pub fn unresolved_csv(&self) -> String {
        let mut out = String::from("track_id,reason\n");
        for u in &self.unresolved {
            let _ = writeln!(out, "{},{}", csv_field(&u.id), csv_field(&u.reason));
        }
        out
    }

    /// Notes about popularity: none when every track has one.
    fn note_unknown_popularity(&mut self, source: &str) {
        let unknown = self
            .tracks
            .iter()
            .filter(|t| t.popularity.is_none())
            .count();
        if unknown > 0 {
            self.notes.push(format!(
                "popularity is unknown for {unknown} of {} tracks ({source}); the CSV has no popularity column",
                self.tracks.len()
            ));
        }
    }
}

/// What to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    /// Spotify playlist ids, URIs or links (listed through Spotify).
    pub playlists: Vec<String>,
    /// Spotify track ids, URIs or links.
    pub tracks: Vec<String>,
    /// Take every track's popularity from ReccoBeats (for Spotify tracks without one).
    pub popularity_from_reccobeats: bool,
}

/// Fetches `request` from `provider`: ReccoBeats for features and metadata (playlists listed
/// through `spotify`, which must then be given), or Spotify for everything. `progress`
/// hears each page and batch.
///
/// # Errors
/// [`Error::Provider`] for failed requests; [`Error::Config`] for playlists without a Spotify
/// client.
pub fn fetch(
    provider: ProviderKind,
    request: &FetchRequest,
    spotify: Option<&mut spotify::Client>,
    recco: Option<&mut reccobeats::Client>,
    progress: &mut dyn FnMut(&str),
) -> Result<Fetched> {
    let mut fetched = match provider {
        ProviderKind::Spotify => {
            let s = spotify.ok_or_else(|| {
                Error::Config("the spotify provider needs a Spotify client".into())
            })?;
            let mut f = s.fetch(&request.playlists, &request.tracks, progress)?;
            if request.popularity_from_reccobeats {
                let r = recco.ok_or_else(|| {
                    Error::Config("--popularity-from reccobeats needs the ReccoBeats client".into())
                })?;
                let ids: Vec<String> = f.tracks.iter().map(|t| t.id.clone()).collect();
                let meta = r.tracks(&ids, progress)?;
                for t in &mut f.tracks {
                    t.popularity = meta.get(&t.id).and_then(|m| m.popularity);
                }
                f.notes.push(
                    "popularity from ReccoBeats (its own measure, not Spotify's), for every track"
                        .into(),
                );
                f.from_cache += r.from_cache();
                f.from_network += r.from_network();
                f.note_unknown_popularity("ReccoBeats does not know them");
            } else {
                f.note_unknown_popularity("Spotify's track object has none since March 2026");
            }
            f
        }
        ProviderKind::ReccoBeats => {
            let r = recco
                .ok_or_else(|| Error::Config("the reccobeats provider needs its client".into()))?;
            let mut listed: Vec<(String, String)> = Vec::new();
            let (mut from_cache, mut from_network) = (0, 0);
            let mut spotify_notes = Vec::new();
            if !request.playlists.is_empty() {
                let s = spotify.ok_or_else(|| {
                    Error::Config(
                        "--playlist lists tracks through Spotify: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (environment or .env), or pass the ids with --track".into(),
                    )
                })?;
                listed = s.playlist_track_ids(&request.playlists, progress)?;
                from_cache += s.from_cache();
                from_network += s.from_network();
                spotify_notes = s.take_notes();
            }
            let mut raw: Vec<String> = listed.iter().map(|(id, _)| id.clone()).collect();
            raw.extend(request.tracks.iter().cloned());
            let mut f = r.fetch(&raw, progress)?;
            f.notes.append(&mut spotify_notes);
            // A track carries every playlist it is listed in.
            let mut playlists_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (t, p) in &listed {
                let v = playlists_of.entry(t.as_str()).or_default();
                if !v.contains(p) {
                    v.push(p.clone());
                }
            }
            for t in &mut f.tracks {
                if let Some(p) = playlists_of.get(t.id.as_str()) {
                    t.playlists = p.clone();
                }
            }
            f.from_cache += from_cache;
            f.from_network += from_network;
            f.note_unknown_popularity("ReccoBeats does not know them");
            f
        }
    };
    fetched.merge_repeats();
    fetched.unresolved.sort_by(|a, b| a.id.cmp(&b.id));
    fetched.unresolved.dedup();
    Ok(fetched)
}
