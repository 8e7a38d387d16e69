//! The track providers (Spotify, ReccoBeats) and the commands over them, against mock APIs
//! on loopback in the test process: no network.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hitcast::data::provider::spotify::{Client, ClientOptions, Credentials};
use hitcast::data::provider::{reccobeats, FetchLabel, HttpOptions};

use super::cli::text;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Seen {
    fn auth(&self) -> &str {
        self.headers.get("authorization").map_or("", String::as_str)
    }
}

type Reply = (u16, Vec<(String, String)>, String);
type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A mock API: `handler(request, n)` answers the n-th request (from 1) to that path;
/// `{BASE}` in a reply becomes the mock's own address.
struct Mock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn count(&self, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .count()
    }
}

fn mock(handler: Box<Handler>) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let base = url.clone();
    std::thread::spawn(move || {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let path = parts.next().unwrap_or_default().to_string();
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            let length = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0usize);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let req = Seen {
                method,
                path: path.clone(),
                headers,
                body,
            };
            let route = path.split('?').next().unwrap().to_string();
            let n = {
                let c = counts.entry(route).or_default();
                *c += 1;
                *c
            };
            log.lock().unwrap().push(req.clone());
            let (status, headers, text) = handler(&req, n);
            let text = text.replace("{BASE}", &base);
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                text.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(text.as_bytes());
        }
    });
    Mock { url, seen }
}

/// An address where nothing listens.
fn dead() -> Mock {
    Mock {
        url: "http://127.0.0.1:9".into(),
        seen: Default::default(),
    }
}

fn ok(body: String) -> Reply {
    (
        200,
        vec![("Content-Type".into(), "application/json".into())],
        body,
    )
}

/// A Spotify-shaped id (22 letters and digits) from a short name.
fn sid(s: &str) -> String {
    format!("{s:x<22}")
}

fn track(id: &str, pop: Option<u32>) -> String {
    let pop = pop
        .map(|p| format!(r#""popularity":{p},"#))
        .unwrap_or_default();
    format!(
        r#"{{"id":"{}","name":"Song {id}",{pop}"artists":[{{"name":"A"}},{{"name":"B, Jr"}}]}}"#,
        sid(id)
    )
}

fn features(ids: &str) -> String {
    let items: Vec<String> = ids
        .split(',')
        .map(|id| format!(r#"{{"id":"{id}","danceability":0.5,"energy":0.6,"key":1,"loudness":-5.0,"mode":1,"speechiness":0.05,"acousticness":0.1,"instrumentalness":0.0,"liveness":0.1,"valence":0.4,"tempo":120.0,"duration_ms":200000,"time_signature":4}}"#))
        .collect();
    format!(r#"{{"audio_features":[{}]}}"#, items.join(","))
}

fn token(req: &Seen, n: usize) -> Option<Reply> {
    req.path.starts_with("/token").then(|| {
        ok(format!(
            r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":3600}}"#
        ))
    })
}

/// A well-behaved Spotify: two playlist pages, tracks by id, audio features.
fn standard(req: &Seen, n: usize) -> Reply {
    if let Some(r) = token(req, n) {
        return r;
    }
    let path = &req.path;
    if path.starts_with("/v1/playlists/pl1/tracks") {
        return if path.contains("offset=0") {
            ok(format!(
                r#"{{"items":[{{"track":{}}},{{"track":{}}}],"next":"{{BASE}}/v1/playlists/pl1/tracks?limit=50&offset=50"}}"#,
                track("t1", Some(80)),
                track("t2", Some(20))
            ))
        } else {
            ok(format!(
                r#"{{"items":[{{"track":{}}}],"next":null}}"#,
                track("t3", Some(50))
            ))
        };
    }
    if path.starts_with("/v1/tracks") {
        return ok(format!(r#"{{"tracks":[{}]}}"#, track("t9", Some(90))));
    }
    if let Some(ids) = path.strip_prefix("/v1/audio-features?ids=") {
        return ok(features(ids));
    }
    (404, vec![], "{}".into())
}

fn http(m: &Mock, cache: Option<std::path::PathBuf>) -> HttpOptions {
    HttpOptions {
        backoff: Duration::from_millis(10),
        ..HttpOptions::new(&format!("{}/v1", m.url), cache)
    }
}

fn options(m: &Mock, cache: Option<std::path::PathBuf>) -> ClientOptions {
    ClientOptions {
        http: http(m, cache),
        token_url: format!("{}/token", m.url),
        ..ClientOptions::default()
    }
}

fn creds() -> Credentials {
    Credentials {
        client_id: "id".into(),
        client_secret: "secret".into(),
    }
}

fn ids(f: &hitcast::data::provider::Fetched) -> Vec<String> {
    f.tracks.iter().map(|t| t.id.clone()).collect()
}

/// Runs `f` on a thread and fails if it has not finished within `secs`: a regression that
/// loops forever fails instead of hanging the suite.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("finished in time (no endless loop)")
}

// ---------------------------------------------------------------------------------------
// Spotify

#[test]
fn spotify_pages_batches_auth_and_labels() {
    let m = mock(Box::new(standard));
    let mut c = Client::new(creds(), options(&m, None));
    let f = c
        .fetch(&["spotify:playlist:pl1".into()], &[sid("t9")], &mut |_| {})
        .unwrap();
    assert_eq!(ids(&f), [sid("t1"), sid("t2"), sid("t3"), sid("t9")]);
    assert_eq!(f.tracks[0].artists, "A, B, Jr");
    assert_eq!(f.tracks[2].features["tempo"], 120.0);
    assert!(!f.audio_features_denied && f.unresolved.is_empty());
    let seen = m.seen();
    let token_calls: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert_eq!(token_calls.len(), 1, "one token for the whole run");
    assert_eq!(token_calls[0].method, "POST");
    assert_eq!(token_calls[0].auth(), "Basic aWQ6c2VjcmV0");
    assert!(seen
        .iter()
        .filter(|s| s.path.starts_with("/v1"))
        .all(|s| s.auth() == "Bearer tok1"));
    assert!(seen
        .iter()
        .any(|s| s.path == "/v1/playlists/pl1/tracks?limit=50&offset=0"));
    let features_call = seen
        .iter()
        .find(|s| s.path.starts_with("/v1/audio-features"))
        .unwrap();
    assert_eq!(
        features_call.path,
        format!(
            "/v1/audio-features?ids={},{},{},{}",
            sid("t1"),
            sid("t2"),
            sid("t3"),
            sid("t9")
        )
    );
    let csv = f.to_csv(&FetchLabel::InPlaylist("pl1".into())).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "track_id,track_name,artists,popularity,playlist,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms,time_signature,target"
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with(&format!("{},Song t1,\"A, B, Jr\",80,pl1,0.5,", sid("t1"))));
    assert!(
        csv.lines().last().unwrap().ends_with(",0"),
        "t9 is not in pl1"
    );
    // The CSV is the normalised layout `data ingest` reads.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fetched.csv");
    std::fs::write(&path, &csv).unwrap();
    let opts = hitcast::data::IngestOptions {
        features: hitcast::data::FeatureSet::All,
        ..Default::default()
    };
    let back = hitcast::data::ingest(&path, &opts).unwrap();
    assert_eq!(back.dataset.y, [1, 1, 1, 0]);
    assert_eq!(back.dataset.n_features(), 13);
    let by_pop = f.to_csv(&FetchLabel::PopularityAtLeast(50.0)).unwrap();
    let targets: Vec<&str> = by_pop
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(targets, ["1", "0", "1", "1"]);
}

#[test]
fn spotify_rate_limits_and_server_errors_are_retried_and_bounded() {
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.path.starts_with("/v1/tracks") {
            return match n {
                1 => (429, vec![("Retry-After".into(), "1".into())], String::new()),
                2 => (503, vec![], String::new()),
                _ => ok(format!(r#"{{"tracks":[{}]}}"#, track("t1", Some(10)))),
            };
        }
        ok(features(&sid("t1")))
    }));
    let started = std::time::Instant::now();
    let mut c = Client::new(creds(), options(&m, None));
    let f = c.fetch(&[], &[sid("t1")], &mut |_| {}).unwrap();
    assert_eq!(f.tracks.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(m.count("/v1/tracks"), 3);

    // A Retry-After beyond the bound fails at once instead of sleeping for an hour.
    let m = mock(Box::new(|req, n| {
        token(req, n).unwrap_or((
            429,
            vec![("Retry-After".into(), "3600".into())],
            String::new(),
        ))
    }));
    let started = std::time::Instant::now();
    let err = Client::new(creds(), options(&m, None))
        .fetch(&[], &[sid("t1")], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("rate limited for 3600 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let m = mock(Box::new(|req, n| {
        token(req, n).unwrap_or((500, vec![], String::new()))
    }));
    let mut o = options(&m, None);
    o.http.max_retries = 2;
    let err = Client::new(creds(), o)
        .fetch(&[], &[sid("t1")], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Spotify: tracks: HTTP 500 after 2 retries"),
        "{err}"
    );
    assert_eq!(m.count("/v1"), 3);
}

#[test]
fn spotify_expired_token_is_refreshed_on_401() {
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.auth() == "Bearer tok1" {
            return (
                401,
                vec![],
                r#"{"error":{"status":401,"message":"The access token expired"}}"#.into(),
            );
        }
        if req.path.starts_with("/v1/tracks") {
            return ok(format!(r#"{{"tracks":[{}]}}"#, track("t1", Some(10))));
        }
        ok(features(&sid("t1")))
    }));
    let mut c = Client::new(creds(), options(&m, None));
    let f = c.fetch(&[], &[sid("t1")], &mut |_| {}).unwrap();
    assert_eq!(f.tracks.len(), 1);
    assert_eq!(m.count("/token"), 2);
    assert_eq!(m.seen().last().unwrap().auth(), "Bearer tok2");
}

#[test]
fn spotify_403s_name_the_policy_and_the_alternative() {
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.path.starts_with("/v1/audio-features") {
            return (
                403,
                vec![],
                r#"{"error":{"status":403,"message":"Forbidden for this app"}}"#.into(),
            );
        }
        if req.path.starts_with("/v1/playlists") {
            return (
                403,
                vec![],
                r#"{"error":{"status":403,"message":"Premium required"}}"#.into(),
            );
        }
        ok(format!(
            r#"{{"tracks":[{},{}]}}"#,
            track("t1", Some(10)),
            track("t2", Some(70))
        ))
    }));
    let mut c = Client::new(creds(), options(&m, None));
    let f = c.fetch(&[], &[sid("t1"), sid("t2")], &mut |_| {}).unwrap();
    assert!(f.audio_features_denied);
    assert_eq!(f.tracks.len(), 2);
    assert!(f.tracks.iter().all(|t| t.features.is_empty()));
    let note = f.notes.join("\n");
    assert!(
        note.contains("HTTP 403: Forbidden for this app")
            && note.contains("27 November 2024")
            && note.contains("--provider reccobeats"),
        "{note}"
    );
    assert_eq!(
        f.to_csv(&FetchLabel::None).unwrap().lines().next().unwrap(),
        "track_id,track_name,artists,popularity,playlist"
    );
    let err = c
        .fetch(&["pl1".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("playlist pl1: HTTP 403: Premium required")
            && err.contains("9 March 2026")
            && err.contains("--provider reccobeats"),
        "{err}"
    );
}

/// Spotify in 2026 for a development-mode app: track objects without popularity.
fn without_popularity(req: &Seen, n: usize) -> Reply {
    if let Some(r) = token(req, n) {
        return r;
    }
    if let Some(ids) = req.path.strip_prefix("/v1/audio-features?ids=") {
        return ok(features(ids));
    }
    ok(format!(
        r#"{{"tracks":[{},{}]}}"#,
        track("t1", None),
        track("t2", None)
    ))
}

#[test]
fn spotify_tracks_without_popularity_are_unknown_and_refuse_popularity_labels() {
    let m = mock(Box::new(without_popularity));
    let mut c = Client::new(creds(), options(&m, None));
    let f = hitcast::data::provider::fetch(
        hitcast::data::provider::ProviderKind::Spotify,
        &hitcast::data::provider::FetchRequest {
            tracks: vec![sid("t1"), sid("t2")],
            ..Default::default()
        },
        Some(&mut c),
        None,
        &mut |_| {},
    )
    .unwrap();
    assert!(f.tracks.iter().all(|t| t.popularity.is_none()));
    let csv = f.to_csv(&FetchLabel::None).unwrap();
    assert!(
        !csv.contains("NaN") && !csv.lines().next().unwrap().contains("popularity"),
        "{csv}"
    );
    assert!(f
        .notes
        .iter()
        .any(|n| n.contains("popularity is unknown for 2 of 2 tracks")));
    let err = f
        .to_csv(&FetchLabel::PopularityAtLeast(50.0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown for 2 of 2 tracks") && err.contains("--popularity-from reccobeats"),
        "{err}"
    );
}

#[test]
fn spotify_popularity_can_come_from_reccobeats() {
    let sp = mock(Box::new(without_popularity));
    let rb = mock(Box::new(|_, _| {
        ok(format!(
            r#"{{"content":[{{"id":"uuid-1","trackTitle":"x","href":"https://open.spotify.com/track/{}","popularity":64}}]}}"#,
            sid("t1")
        ))
    }));
    let mut c = Client::new(creds(), options(&sp, None));
    let mut r = reccobeats::Client::new(http(&rb, None));
    let f = hitcast::data::provider::fetch(
        hitcast::data::provider::ProviderKind::Spotify,
        &hitcast::data::provider::FetchRequest {
            tracks: vec![sid("t1"), sid("t2")],
            popularity_from_reccobeats: true,
            ..Default::default()
        },
        Some(&mut c),
        Some(&mut r),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(f.tracks[0].popularity, Some(64.0));
    assert_eq!(
        f.tracks[1].popularity, None,
        "never mixed with another source"
    );
    assert!(f
        .notes
        .iter()
        .any(|n| n.contains("popularity from ReccoBeats")));
}

#[test]
fn spotify_batch_tracks_refused_falls_back_per_track_within_a_cap() {
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.path.starts_with("/v1/tracks?ids=") {
            return (
                403,
                vec![],
                r#"{"error":{"status":403,"message":"batch restricted"}}"#.into(),
            );
        }
        if let Some(id) = req.path.strip_prefix("/v1/tracks/") {
            let short = id.trim_end_matches('x');
            return if short == "gone" {
                (404, vec![], r#"{"error":{"status":404}}"#.into())
            } else {
                ok(track(short, Some(40)))
            };
        }
        ok(features(req.path.split("ids=").nth(1).unwrap_or_default()))
    }));
    let mut o = options(&m, None);
    o.max_requests = 2;
    let mut c = Client::new(creds(), o);
    let f = c
        .fetch(&[], &[sid("t1"), sid("gone"), sid("t3")], &mut |_| {})
        .unwrap();
    assert_eq!(ids(&f), [sid("t1")]);
    assert_eq!(m.count("/v1/tracks/"), 2, "the cap holds");
    let reasons: Vec<(String, String)> = f
        .unresolved
        .iter()
        .map(|u| (u.id.clone(), u.reason.clone()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(id, r)| *id == sid("gone") && r.contains("HTTP 404")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(id, r)| *id == sid("t3") && r.contains("--max-requests")),
        "{reasons:?}"
    );
    assert!(f.notes.iter().any(|n| n.contains("refused batch /tracks")));
}

#[test]
fn spotify_next_to_another_host_is_refused_and_gets_no_token() {
    let other = mock(Box::new(|_, _| ok(r#"{"items":[],"next":null}"#.into())));
    let foreign = format!("{}/v1/playlists/pl1/tracks?offset=50", other.url);
    let m = mock(Box::new(move |req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        ok(format!(
            r#"{{"items":[{{"track":{}}}],"next":"{foreign}"}}"#,
            track("t1", Some(1))
        ))
    }));
    let mut c = Client::new(creds(), options(&m, None));
    let err = c
        .fetch(&["pl1".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("points to another host") && err.contains(&other.url),
        "{err}"
    );
    assert_eq!(
        other.count("/"),
        0,
        "the other host saw no request (and no token)"
    );
}

#[test]
fn spotify_next_cycles_end_from_the_network_and_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // Page 0 → page 50 → page 0 again.
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        let next = if req.path.contains("offset=0") { 50 } else { 0 };
        ok(format!(
            r#"{{"items":[{{"track":{}}}],"next":"{{BASE}}/v1/playlists/pl1/tracks?limit=50&offset={next}"}}"#,
            track("t1", Some(1))
        ))
    }));
    for cached in [false, true] {
        let before = m.count("/v1");
        let o = options(&m, Some(cache.clone()));
        let err = within(10, move || {
            Client::new(creds(), o)
                .fetch(&["pl1".into()], &[], &mut |_| {})
                .unwrap_err()
                .to_string()
        });
        assert!(err.contains("`next` cycle"), "{err}");
        if cached {
            assert_eq!(m.count("/v1"), before, "the second walk ran from the cache");
            assert!(err.contains("--refresh"), "{err}");
        }
    }
    // A page that links to itself.
    let selfish = mock(Box::new(|req, n| {
        token(req, n).unwrap_or_else(|| {
            ok(r#"{"items":[],"next":"{BASE}/v1/playlists/pl1/tracks?limit=50&offset=0"}"#.into())
        })
    }));
    let o = options(&selfish, None);
    let err = within(10, move || {
        Client::new(creds(), o)
            .fetch(&["pl1".into()], &[], &mut |_| {})
            .unwrap_err()
            .to_string()
    });
    assert!(err.contains("`next` cycle"), "{err}");
    // Links that run on forever without repeating: bounded by the listing's own `total`.
    let endless = mock(Box::new(|req, n| {
        token(req, n).unwrap_or_else(|| {
            let offset: usize = req.path.rsplit('=').next().unwrap().parse().unwrap();
            ok(format!(
                r#"{{"total":120,"items":[],"next":"{{BASE}}/v1/playlists/pl1/tracks?limit=50&offset={}"}}"#,
                offset + 50
            ))
        })
    }));
    let o = options(&endless, None);
    let err = within(10, move || {
        Client::new(creds(), o)
            .fetch(&["pl1".into()], &[], &mut |_| {})
            .unwrap_err()
            .to_string()
    });
    assert!(err.contains("more than 4 pages"), "{err}");
    assert_eq!(endless.count("/v1/playlists"), 4);
}

#[test]
fn spotify_unknown_playlists_and_malformed_json_are_clear_errors() {
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.path.contains("/playlists/gone/") {
            return (404, vec![], r#"{"error":{"status":404}}"#.into());
        }
        ok("{\"items\": [tru".into())
    }));
    let mut c = Client::new(creds(), options(&m, None));
    let err = c
        .fetch(&["gone".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("playlist gone not found"), "{err}");
    let err = c
        .fetch(&["broken".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("malformed JSON") && !err.contains("secret"),
        "{err}"
    );

    let bad_auth = mock(Box::new(|_, _| {
        (400, vec![], r#"{"error":"invalid_client"}"#.into())
    }));
    let err = Client::new(creds(), options(&bad_auth, None))
        .fetch(&["x".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication failed (HTTP 400)") && !err.contains("secret"),
        "{err}"
    );
}

#[test]
fn spotify_cache_makes_a_rerun_offline_identical_and_secret_free() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let m = mock(Box::new(standard));
    let first = Client::new(creds(), options(&m, Some(cache.clone())))
        .fetch(&["pl1".into()], &[sid("t9")], &mut |_| {})
        .unwrap();
    assert_eq!(first.from_cache, 0);
    let asked = m.count("/");
    let again = Client::new(creds(), options(&m, Some(cache.clone())))
        .fetch(&["pl1".into()], &[sid("t9")], &mut |_| {})
        .unwrap();
    assert_eq!(again.tracks, first.tracks);
    assert_eq!(again.from_network, 0);
    assert_eq!(m.count("/"), asked, "no request reached the API");
    // Another host (a mirror, a test server, the real API) does not get these answers.
    let mut o = options(&dead(), Some(cache.clone()));
    o.http.max_retries = 0;
    assert!(Client::new(creds(), o)
        .fetch(&["pl1".into()], &[], &mut |_| {})
        .is_err());
    assert_eq!(
        again.to_csv(&FetchLabel::None).unwrap(),
        first.to_csv(&FetchLabel::None).unwrap()
    );
    for entry in std::fs::read_dir(&cache).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("tok1") && !text.contains("aWQ6c2VjcmV0"),
            "{text}"
        );
    }
    // --refresh bypasses the cache.
    let mut o = options(&m, Some(cache));
    o.http.refresh = true;
    let asked = m.count("/v1");
    Client::new(creds(), o)
        .fetch(&["pl1".into()], &[], &mut |_| {})
        .unwrap();
    assert!(m.count("/v1") > asked);
}

// ---------------------------------------------------------------------------------------
// ReccoBeats

/// A ReccoBeats catalogue knowing `known` (short names): items out of order, with their own
/// UUIDs; `nofeat` has metadata but no features.
fn recco(req: &Seen, _n: usize) -> Reply {
    let known = ["r1", "r2", "nofeat"];
    let Some((endpoint, ids)) = req.path.split_once("?ids=") else {
        return (404, vec![], "{}".into());
    };
    let asked: Vec<&str> = ids.split(',').collect();
    if asked.len() > 40 {
        return (
            400,
            vec![],
            r#"{"status":4004,"errors":[{"message":"size must be between 1 and 40"}]}"#.into(),
        );
    }
    let mut items: Vec<String> = asked
        .iter()
        .filter_map(|id| {
            let short = id.trim_end_matches('x');
            let known = known.contains(&short) || short.starts_with('b');
            if !known {
                return None;
            }
            let href = format!("https://open.spotify.com/track/{id}");
            match endpoint {
                "/v1/track" => Some(format!(
                    r#"{{"id":"uuid-{short}","trackTitle":"Title {short}","artists":[{{"id":"a","name":"Artist, Jr","href":"x"}}],"durationMs":201000,"isrc":"X","popularity":{},"href":"{href}"}}"#,
                    if short == "r2" { 35 } else { 71 }
                )),
                "/v1/audio-features" if short != "nofeat" => Some(format!(
                    r#"{{"id":"uuid-{short}","href":"{href}","acousticness":0.1,"danceability":0.7,"energy":0.8,"instrumentalness":0.0,"key":5,"liveness":0.1,"loudness":-6.5,"mode":1,"speechiness":0.04,"tempo":118.0,"valence":0.55}}"#
                )),
                _ => None,
            }
        })
        .collect();
    items.reverse();
    ok(format!(r#"{{"content":[{}]}}"#, items.join(",")))
}

#[test]
fn reccobeats_features_map_by_href_and_list_what_it_cannot_resolve() {
    let m = mock(Box::new(recco));
    let mut c = reccobeats::Client::new(http(&m, None));
    // 41 known ids make two calls of each lookup (40 + 1).
    let mut asked: Vec<String> = (0..41).map(|k| sid(&format!("b{k}"))).collect();
    asked.push(format!("spotify:track:{}", sid("r1")));
    asked.push(format!(
        "https://open.spotify.com/track/{}?si=abc",
        sid("r2")
    ));
    asked.push(sid("missing"));
    asked.push(sid("nofeat"));
    asked.push("not an id".into());
    let f = c.fetch(&asked, &mut |_| {}).unwrap();
    assert_eq!(f.tracks.len(), 43);
    assert_eq!(m.count("/v1/track?"), 2);
    assert_eq!(m.count("/v1/audio-features?"), 2);
    assert!(m
        .seen()
        .iter()
        .all(|s| s.path.split("ids=").nth(1).unwrap().split(',').count() <= 40));
    assert!(
        m.seen().iter().all(|s| s.auth().is_empty()),
        "no credentials"
    );
    let r1 = f.tracks.iter().find(|t| t.id == sid("r1")).unwrap();
    assert_eq!(r1.name, "Title r1");
    assert_eq!(r1.artists, "Artist, Jr");
    assert_eq!(r1.popularity, Some(71.0));
    assert_eq!(r1.features["danceability"], 0.7);
    assert_eq!(r1.features["duration_ms"], 201000.0);
    let why: HashMap<String, String> = f
        .unresolved
        .iter()
        .map(|u| (u.id.clone(), u.reason.clone()))
        .collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(why[&sid("missing")].contains("unknown to ReccoBeats"));
    assert!(why[&sid("nofeat")].contains("no audio features"));
    assert!(why["not an id"].contains("not a Spotify track id"));
    // The CSV is what ingest reads; popularity labels work with ReccoBeats' popularity.
    let csv = f.to_csv(&FetchLabel::PopularityAtLeast(50.0)).unwrap();
    assert!(csv.starts_with("track_id,track_name,artists,popularity,playlist,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms,target\n"), "{csv}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    std::fs::write(&path, &csv).unwrap();
    let back = hitcast::data::ingest(&path, &hitcast::data::IngestOptions::default()).unwrap();
    assert_eq!(back.dataset.len(), 43);
    assert_eq!(
        back.dataset.positives(),
        42,
        "r2 (popularity 35) is the one non-hit"
    );
}

#[test]
fn reccobeats_429_5xx_malformed_json_and_4xx_bodies() {
    let m = mock(Box::new(|req, n| {
        if req.path.starts_with("/v1/track?") {
            return match n {
                1 => (429, vec![("Retry-After".into(), "1".into())], String::new()),
                2 => (502, vec![], String::new()),
                _ => recco(req, n),
            };
        }
        recco(req, n)
    }));
    let started = std::time::Instant::now();
    let f = reccobeats::Client::new(http(&m, None))
        .fetch(&[sid("r1")], &mut |_| {})
        .unwrap();
    assert_eq!(f.tracks.len(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(m.count("/v1/track?"), 3);

    let m = mock(Box::new(|_, _| (500, vec![], String::new())));
    let mut o = http(&m, None);
    o.max_retries = 2;
    let err = reccobeats::Client::new(o)
        .fetch(&[sid("r1")], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ReccoBeats: tracks: HTTP 500 after 2 retries"),
        "{err}"
    );

    let m = mock(Box::new(|_, _| ok("{\"content\": [".into())));
    let err = reccobeats::Client::new(http(&m, None))
        .fetch(&[sid("r1")], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("malformed JSON"), "{err}");

    let m = mock(Box::new(|_, _| {
        (
            400,
            vec![],
            r#"{"status":4004,"errors":[{"message":"size must be between 1 and 40"}]}"#.into(),
        )
    }));
    let err = reccobeats::Client::new(http(&m, None))
        .fetch(&[sid("r1")], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 400: size must be between 1 and 40"),
        "{err}"
    );
}

fn wav(bytes: usize) -> Vec<u8> {
    let mut v = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
    v.resize(bytes, 7);
    v
}

fn analysis(req: &Seen, _: usize) -> Reply {
    if req.method == "POST" && req.path == "/v1/analysis/audio-features" {
        ok(r#"{"acousticness":0.2,"danceability":0.81,"energy":0.74,"instrumentalness":0.0,"liveness":0.12,"loudness":-5.5,"speechiness":0.05,"tempo":121.0,"valence":0.6}"#.into())
    } else {
        (404, vec![], "{}".into())
    }
}

#[test]
fn reccobeats_audio_upload_is_multipart_audiofile_and_cached_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let song = dir.path().join("my \"song\"\r\n.wav");
    let bytes = wav(3000);
    std::fs::write(&song, &bytes).unwrap();
    let file = hitcast::data::provider::audio::AudioFile::open(&song).unwrap();
    let m = mock(Box::new(analysis));
    let cache = dir.path().join("cache");
    let f = reccobeats::Client::new(http(&m, Some(cache.clone())))
        .analyse(&file)
        .unwrap();
    assert_eq!(f["danceability"], 0.81);
    assert_eq!(f.len(), 9);
    let seen = m.seen();
    let req = &seen[0];
    let ct = &req.headers["content-type"];
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
    let body = &req.body;
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"audioFile\"; filename=\"upload.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
    );
    assert!(
        body.starts_with(head.as_bytes()),
        "{}",
        String::from_utf8_lossy(&body[..200])
    );
    assert_eq!(
        &body[head.len()..head.len() + bytes.len()],
        &bytes[..],
        "the file's bytes intact"
    );
    assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
    // The same content under another name: from the cache (keyed by content, not path).
    let moved = dir.path().join("copy.wav");
    std::fs::write(&moved, &bytes).unwrap();
    let again = reccobeats::Client::new(http(&m, Some(cache)))
        .analyse(&hitcast::data::provider::audio::AudioFile::open(&moved).unwrap())
        .unwrap();
    assert_eq!(again, f);
    assert_eq!(m.count("/"), 1, "one upload in all");
}

// ---------------------------------------------------------------------------------------
// The commands

fn hitcast(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args(args)
        .current_dir(dir)
        .env_remove("SPOTIFY_CLIENT_ID")
        .env_remove("SPOTIFY_CLIENT_SECRET")
        .output()
        .unwrap()
}

#[test]
fn cli_fetch_from_reccobeats_needs_no_credentials_and_lists_misses() {
    let dir = tempfile::tempdir().unwrap();
    let m = mock(Box::new(recco));
    let api = format!("{}/v1", m.url);
    let tracks = format!("{},{},{}", sid("r1"), sid("r2"), sid("missing"));
    let o = hitcast(
        dir.path(),
        &[
            "fetch",
            "--track",
            &tracks,
            "--api-url",
            &api,
            "--threshold",
            "50",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("fetched 2 tracks from reccobeats"), "{out}");
    assert!(
        out.contains(&format!("{}: unknown to ReccoBeats", sid("missing"))),
        "{out}"
    );
    let csv = std::fs::read_to_string(dir.path().join("data/fetched_tracks.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.lines().next().unwrap().ends_with(",target"));
    let misses =
        std::fs::read_to_string(dir.path().join("data/fetched_tracks.unresolved.csv")).unwrap();
    assert_eq!(
        misses,
        format!(
            "track_id,reason\n{},unknown to ReccoBeats\n",
            sid("missing")
        )
    );
    // Cached: a rerun asks nothing and gives the same file; the list of misses follows.
    let two = format!("{},{}", sid("r1"), sid("r2"));
    let o = hitcast(
        dir.path(),
        &[
            "fetch",
            "--track",
            &two,
            "--api-url",
            &api,
            "--threshold",
            "50",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/fetched_tracks.unresolved.csv")).unwrap(),
        "track_id,reason\n",
        "no stale misses"
    );
    let asked = m.count("/");
    let o = hitcast(
        dir.path(),
        &[
            "fetch",
            "--track",
            &tracks,
            "--api-url",
            &api,
            "--threshold",
            "50",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(m.count("/"), asked, "answered from the cache");
    // An --out that is a folder: refused before the list of misses is written.
    std::fs::create_dir(dir.path().join("data/folder")).unwrap();
    let o = hitcast(
        dir.path(),
        &[
            "fetch",
            "--track",
            &tracks,
            "--api-url",
            &api,
            "--out",
            "data/folder",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("data/folder: is a folder"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("data/folder.unresolved.csv").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/fetched_tracks.csv")).unwrap(),
        csv
    );
}

#[test]
fn cli_fetch_with_popularity_labels_and_unknown_popularity_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if let Some(ids) = req.path.strip_prefix("/v1/audio-features?ids=") {
            return ok(features(ids));
        }
        ok(format!(r#"{{"tracks":[{}]}}"#, track("t1", None)))
    }));
    let api = format!("{}/v1", m.url);
    let token_url = format!("{}/token", m.url);
    let o = Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args([
            "fetch",
            "--provider",
            "spotify",
            "--track",
            &sid("t1"),
            "--threshold",
            "50",
            "--api-url",
            &api,
            "--token-url",
            &token_url,
        ])
        .current_dir(dir.path())
        .env("SPOTIFY_CLIENT_ID", "id")
        .env("SPOTIFY_CLIENT_SECRET", "secret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("popularity, but it is unknown for 1 of 1 tracks"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("data/fetched_tracks.csv").exists());
}

#[test]
fn cli_dotenv_errors_name_the_line_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "\u{feff}# app\nexport SPOTIFY_CLIENT_ID='abc'\nSPOTIFY_CLIENT_SECRET: oops\n",
    )
    .unwrap();
    let o = hitcast(
        dir.path(),
        &["fetch", "--provider", "spotify", "--track", &sid("t1")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(".env line 3: expected KEY=VALUE"),
        "{}",
        text(&o)
    );
    assert!(
        !text(&o).contains("oops"),
        "the value is not echoed: {}",
        text(&o)
    );
    // With both variables in the environment the file is not read at all.
    let m = mock(Box::new(standard));
    let api = format!("{}/v1", m.url);
    let token_url = format!("{}/token", m.url);
    let o = Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args([
            "fetch",
            "--provider",
            "spotify",
            "--track",
            &sid("t9"),
            "--api-url",
            &api,
            "--token-url",
            &token_url,
        ])
        .current_dir(dir.path())
        .env("SPOTIFY_CLIENT_ID", "id")
        .env("SPOTIFY_CLIENT_SECRET", "secret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(m.seen()[0].auth(), "Basic aWQ6c2VjcmV0");
}

#[test]
fn cli_score_audio_prints_probabilities_reasons_and_the_caveat() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hitcast(dir.path(), &["train", "--rows", "1500"])
        .status
        .success());
    std::fs::write(dir.path().join("song.wav"), wav(4000)).unwrap();
    let m = mock(Box::new(analysis));
    let api = format!("{}/v1", m.url);
    let o = hitcast(dir.path(), &["score-audio", "song.wav", "--api-url", &api]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for needle in [
        "danceability",
        "121 BPM",
        "logistic P(hit) 0.",
        "forest   P(hit) 0.",
        "boost    P(hit) 0.",
        "log-odds",
        "not Spotify's",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let csv = std::fs::read_to_string(dir.path().join("data/score_audio.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("file,acousticness,danceability,"));
    let row = lines.next().unwrap();
    assert!(row.starts_with("song.wav,0.2,0.81,"), "{row}");
    // Read back as CSV: each model's probability and its reasons.
    let path = dir.path().join("data/score_audio.csv");
    let mut r = csv_records(&std::fs::read_to_string(&path).unwrap());
    let header = r.remove(0);
    for family in ["logistic", "forest", "boost"] {
        let p = header
            .iter()
            .position(|h| *h == format!("p_{family}"))
            .unwrap();
        let v: f64 = r[0][p].parse().unwrap();
        assert!((0.0..=1.0).contains(&v), "{row}");
        assert!(r[0][p + 1].contains("log-odds"), "{row}");
        assert_eq!(header[p + 1], format!("reasons_{family}"));
    }
}

#[test]
fn cli_score_audio_refuses_bad_files_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hitcast(dir.path(), &["train", "--rows", "800"])
        .status
        .success());
    std::fs::write(dir.path().join("big.wav"), wav(5_000_001)).unwrap();
    std::fs::write(dir.path().join("zip.mp3"), b"PK\x03\x04 not audio").unwrap();
    std::fs::write(dir.path().join("song.flac"), b"fLaC\0\0\0\x22").unwrap();
    let m = mock(Box::new(analysis));
    let api = format!("{}/v1", m.url);
    for (file, needle) in [
        (
            "big.wav",
            "big.wav: 5000001 bytes; the analysis service accepts at most 5000000",
        ),
        ("zip.mp3", "zip.mp3: not an MP3, OGG, WAV or AIFF file"),
        ("song.flac", "song.flac: not an MP3, OGG, WAV or AIFF file"),
        ("absent.mp3", "absent.mp3"),
    ] {
        let o = hitcast(dir.path(), &["score-audio", file, "--api-url", &api]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(needle), "{}", text(&o));
    }
    assert_eq!(m.count("/"), 0, "nothing was sent");
    assert!(!dir.path().join("data/score_audio.csv").exists());
}

#[test]
fn a_track_missing_a_feature_is_listed_not_a_column_dropped_for_all() {
    // ReccoBeats: r2 has no tempo.
    let m = mock(Box::new(|req, n| {
        let (status, h, body) = recco(req, n);
        if !req.path.starts_with("/v1/audio-features") {
            return (status, h, body);
        }
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        for item in v["content"].as_array_mut().unwrap() {
            if item["href"].as_str().unwrap().ends_with(&sid("r2")) {
                item.as_object_mut().unwrap().remove("tempo");
            }
        }
        (status, h, v.to_string())
    }));
    let f = reccobeats::Client::new(http(&m, None))
        .fetch(&[sid("r1"), sid("r2")], &mut |_| {})
        .unwrap();
    assert_eq!(ids(&f), [sid("r1")]);
    assert_eq!(f.unresolved.len(), 1);
    assert_eq!(f.unresolved[0].id, sid("r2"));
    assert_eq!(f.unresolved[0].reason, "ReccoBeats gives no tempo for it");
    assert!(f
        .to_csv(&FetchLabel::None)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .contains(",tempo,"));
    // Spotify: a null features entry (an unknown or local track) is listed.
    let sp = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.path.starts_with("/v1/audio-features") {
            return ok(format!(
                r#"{{"audio_features":[{},null]}}"#,
                features(&sid("t1"))
                    .trim_start_matches(r#"{"audio_features":["#)
                    .trim_end_matches("]}")
            ));
        }
        ok(format!(
            r#"{{"tracks":[{},{}]}}"#,
            track("t1", Some(5)),
            track("t2", Some(6))
        ))
    }));
    let f = Client::new(creds(), options(&sp, None))
        .fetch(&[], &[sid("t1"), sid("t2")], &mut |_| {})
        .unwrap();
    assert_eq!(ids(&f), [sid("t1")]);
    assert_eq!(f.unresolved.len(), 1);
    assert!(
        f.unresolved[0]
            .reason
            .contains("Spotify has no audio features"),
        "{:?}",
        f.unresolved
    );
    let header = f.to_csv(&FetchLabel::None).unwrap();
    assert!(
        header.lines().next().unwrap().contains(",tempo,"),
        "{header}"
    );
}

#[test]
fn overlapping_playlists_label_by_membership_one_row_per_track() {
    // pl1 and pl2 hold the same tracks; pl2 is the hits playlist.
    let m = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if req.path.starts_with("/v1/playlists/") {
            return ok(format!(
                r#"{{"items":[{{"track":{}}},{{"track":{}}},{{"track":{{"id":null,"name":"a local file"}}}}],"next":null}}"#,
                track("t1", Some(5)),
                track("t2", Some(6))
            ));
        }
        ok(features(req.path.split("ids=").nth(1).unwrap_or_default()))
    }));
    let f = hitcast::data::provider::fetch(
        hitcast::data::provider::ProviderKind::Spotify,
        &hitcast::data::provider::FetchRequest {
            playlists: vec!["pl1".into(), "pl2".into()],
            ..Default::default()
        },
        Some(&mut Client::new(creds(), options(&m, None))),
        None,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(ids(&f), [sid("t1"), sid("t2")], "one row per track");
    let csv = f.to_csv(&FetchLabel::InPlaylist("pl2".into())).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(
        rows.iter()
            .all(|r| r.ends_with(",1") && r.contains(",pl1;pl2,")),
        "{csv}"
    );
    assert!(
        f.notes
            .iter()
            .any(|n| n.contains("1 items without a Spotify track id")),
        "{:?}",
        f.notes
    );
    // The CLI refuses a hits playlist that is not listed (every label would be 0).
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hitcast"))
        .args(["fetch", "--playlist", "pl1", "--hit-playlist", "pl9"])
        .current_dir(dir.path())
        .env("SPOTIFY_CLIENT_ID", "id")
        .env("SPOTIFY_CLIENT_SECRET", "secret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("--hit-playlist pl9 is not among the --playlist"),
        "{}",
        text(&o)
    );
}

#[test]
fn temporary_refusals_are_not_cached_and_encoded_dot_segments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // The API answers 401 every time: nothing of it is cached.
    let m = mock(Box::new(|req, n| {
        token(req, n).unwrap_or((
            401,
            vec![],
            r#"{"error":{"status":401,"message":"expired"}}"#.into(),
        ))
    }));
    for _ in 0..2 {
        assert!(Client::new(creds(), options(&m, Some(cache.clone())))
            .fetch(&[], &[sid("t1")], &mut |_| {})
            .is_err());
    }
    assert_eq!(
        m.count("/v1"),
        4,
        "asked again (a retry after the refresh, twice)"
    );
    // `next` with %2e%2e stays refused even on the same host.
    let m = mock(Box::new(|req, n| {
        token(req, n).unwrap_or_else(|| {
            ok(r#"{"items":[],"next":"{BASE}/v1/playlists/pl1/%2e%2e/%2E%2e/me?x=1"}"#.into())
        })
    }));
    let err = Client::new(creds(), options(&m, None))
        .fetch(&["pl1".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("leaves the listing"), "{err}");
    assert_eq!(m.count("/v1/me"), 0);
}

#[test]
fn relinked_tracks_keep_the_asked_id_and_foreign_links_do_not_match() {
    // Spotify answers t1 relinked as t7: the row keeps t1.
    let sp = mock(Box::new(|req, n| {
        if let Some(r) = token(req, n) {
            return r;
        }
        if let Some(ids) = req.path.strip_prefix("/v1/audio-features?ids=") {
            return ok(features(ids));
        }
        let relinked = track("t7", Some(9)).replacen(
            "{",
            &format!(r#"{{"linked_from":{{"id":"{}"}},"#, sid("t1")),
            1,
        );
        ok(format!(r#"{{"tracks":[{relinked}]}}"#))
    }));
    let f = Client::new(creds(), options(&sp, None))
        .fetch(&[], &[sid("t1")], &mut |_| {})
        .unwrap();
    assert_eq!(ids(&f), [sid("t1")]);
    assert!(f.unresolved.is_empty(), "{:?}", f.unresolved);
    // ReccoBeats: an item whose link only contains open.spotify.com/track/<id> on another
    // host supplies nothing; a track with features but no details is listed.
    let rb = mock(Box::new(|req, n| {
        let (status, h, body) = recco(req, n);
        let body = body.replace(
            &format!("https://open.spotify.com/track/{}", sid("r2")),
            &format!("https://evil.example/open.spotify.com/track/{}", sid("r2")),
        );
        let body = if req.path.starts_with("/v1/track?") {
            body.replace(&format!("track/{}", sid("r1")), "track/elsewhere")
        } else {
            body
        };
        (status, h, body)
    }));
    let f = reccobeats::Client::new(http(&rb, None))
        .fetch(&[sid("r1"), sid("r2")], &mut |_| {})
        .unwrap();
    assert!(f.tracks.is_empty(), "{:?}", f.tracks);
    let why: HashMap<String, String> = f
        .unresolved
        .iter()
        .map(|u| (u.id.clone(), u.reason.clone()))
        .collect();
    assert_eq!(why[&sid("r2")], "unknown to ReccoBeats");
    assert_eq!(why[&sid("r1")], "ReccoBeats gives no duration_ms for it");
}

/// Minimal CSV reading for the tests: quoted fields may hold commas and `""`.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        cur.push('"');
                        chars.next();
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => fields.push(std::mem::take(&mut cur)),
                    (c, _) => cur.push(c),
                }
            }
            fields.push(cur);
            fields
        })
        .collect()
}

#[test]
fn a_busy_token_endpoint_is_asked_again() {
    let m = mock(Box::new(|req, n| {
        if req.path.starts_with("/token") && n <= 2 {
            return (503, vec![], String::new());
        }
        standard(req, n)
    }));
    let f = Client::new(creds(), options(&m, None))
        .fetch(&[], &[sid("t9")], &mut |_| {})
        .unwrap();
    assert_eq!(f.tracks.len(), 1);
    assert_eq!(m.count("/token"), 3);
    let m = mock(Box::new(|_, _| (503, vec![], String::new())));
    let mut o = options(&m, None);
    o.http.max_retries = 1;
    let err = Client::new(creds(), o)
        .fetch(&[], &[sid("t9")], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("token endpoint answered HTTP 503 after 1 retries"),
        "{err}"
    );
}
