//! The Spotify client against a mock API on loopback, in the test process: no network.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hitcast::data::spotify::{Client, ClientOptions, Credentials, FetchLabel};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    auth: String,
}

type Handler = dyn Fn(&Seen, usize) -> (u16, Vec<(String, String)>, String) + Send + Sync;

/// A mock API: `handler(request, n)` answers the n-th request (from 1) to that path.
struct Mock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn mock(handler: Box<Handler>) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
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
            let (mut auth, mut length) = (String::new(), 0usize);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.to_ascii_lowercase().as_str() {
                    "authorization" => auth = v.trim().to_string(),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let req = Seen {
                method,
                path: path.clone(),
                auth,
            };
            let route = path.split('?').next().unwrap().to_string();
            let n = {
                let c = counts.entry(route).or_default();
                *c += 1;
                *c
            };
            log.lock().unwrap().push(req.clone());
            let (status, headers, text) = handler(&req, n);
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

fn ok(body: String) -> (u16, Vec<(String, String)>, String) {
    (
        200,
        vec![("Content-Type".into(), "application/json".into())],
        body,
    )
}

fn track(id: &str, pop: u32) -> String {
    format!(
        r#"{{"id":"{id}","name":"Song {id}","popularity":{pop},"artists":[{{"name":"A"}},{{"name":"B, Jr"}}]}}"#
    )
}

fn features(ids: &str) -> String {
    let items: Vec<String> = ids
        .split(',')
        .map(|id| format!(r#"{{"id":"{id}","danceability":0.5,"energy":0.6,"key":1,"loudness":-5.0,"mode":1,"speechiness":0.05,"acousticness":0.1,"instrumentalness":0.0,"liveness":0.1,"valence":0.4,"tempo":120.0,"duration_ms":200000,"time_signature":4}}"#))
        .collect();
    format!(r#"{{"audio_features":[{}]}}"#, items.join(","))
}

/// A well-behaved API: two playlist pages, tracks by id, audio features.
fn standard(req: &Seen, n: usize) -> (u16, Vec<(String, String)>, String) {
    let path = &req.path;
    if path.starts_with("/token") {
        return ok(format!(
            r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":3600}}"#
        ));
    }
    if path.starts_with("/v1/playlists/pl1/tracks") {
        return if path.contains("offset=0") {
            ok(format!(
                r#"{{"items":[{{"track":{}}},{{"track":{}}}],"next":"{{BASE}}/v1/playlists/pl1/tracks?limit=100&offset=100"}}"#,
                track("t1", 80),
                track("t2", 20)
            ))
        } else {
            ok(format!(
                r#"{{"items":[{{"track":{}}}],"next":null}}"#,
                track("t3", 50)
            ))
        };
    }
    if path.starts_with("/v1/tracks") {
        return ok(format!(r#"{{"tracks":[{}]}}"#, track("t9", 90)));
    }
    if let Some(ids) = path.strip_prefix("/v1/audio-features?ids=") {
        return ok(features(ids));
    }
    (404, vec![], "{}".into())
}

fn options(m: &Mock, cache: Option<std::path::PathBuf>) -> ClientOptions {
    ClientOptions {
        api_url: format!("{}/v1", m.url),
        token_url: format!("{}/token", m.url),
        cache_dir: cache,
        backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    }
}

fn creds() -> Credentials {
    Credentials {
        client_id: "id".into(),
        client_secret: "secret".into(),
    }
}

fn standard_mock() -> Mock {
    // `next` must carry the mock's own address, known only after binding: rewrite it.
    let base: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let m = mock(Box::new(move |req, n| {
        let (s, h, body) = standard(req, n);
        (s, h, body.replace("{BASE}", &b.lock().unwrap()))
    }));
    *base.lock().unwrap() = m.url.clone();
    m
}

#[test]
fn pages_batches_auth_and_labels() {
    let m = standard_mock();
    let mut c = Client::new(creds(), options(&m, None));
    let f = c
        .fetch(
            &["spotify:playlist:pl1".into()],
            &["t9".into()],
            &mut |_| {},
        )
        .unwrap();
    let ids: Vec<&str> = f.tracks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t1", "t2", "t3", "t9"]);
    assert_eq!(f.tracks[0].artists, "A, B, Jr");
    assert_eq!(f.tracks[2].features["tempo"], 120.0);
    assert!(!f.audio_features_denied);
    let seen = m.seen.lock().unwrap().clone();
    let token_calls: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert_eq!(token_calls.len(), 1, "one token for the whole run");
    assert_eq!(token_calls[0].method, "POST");
    assert_eq!(token_calls[0].auth, "Basic aWQ6c2VjcmV0");
    assert!(seen
        .iter()
        .filter(|s| s.path.starts_with("/v1"))
        .all(|s| s.auth == "Bearer tok1"));
    let features_call = seen
        .iter()
        .find(|s| s.path.starts_with("/v1/audio-features"))
        .unwrap();
    assert_eq!(features_call.path, "/v1/audio-features?ids=t1,t2,t3,t9");
    let csv = f.to_csv(&FetchLabel::InPlaylist("pl1".into()));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "track_id,track_name,artists,popularity,playlist,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms,time_signature,target"
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("t1,Song t1,\"A, B, Jr\",80,pl1,0.5,"));
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
    assert_eq!(back.dataset.ids, ["t1", "t2", "t3", "t9"]);
    assert_eq!(back.dataset.y, [1, 1, 1, 0]);
    assert_eq!(back.dataset.n_features(), 13);
    let by_pop = f.to_csv(&FetchLabel::PopularityAtLeast(50.0));
    let targets: Vec<&str> = by_pop
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(targets, ["1", "0", "1", "1"]);
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let m = mock(Box::new(|req, n| {
        if req.path.starts_with("/token") {
            return ok(r#"{"access_token":"t","expires_in":3600}"#.into());
        }
        if req.path.starts_with("/v1/tracks") {
            return match n {
                1 => (429, vec![("Retry-After".into(), "1".into())], String::new()),
                2 => (503, vec![], String::new()),
                _ => ok(format!(r#"{{"tracks":[{}]}}"#, track("t1", 10))),
            };
        }
        ok(features("t1"))
    }));
    let started = std::time::Instant::now();
    let mut c = Client::new(creds(), options(&m, None));
    let f = c.fetch(&[], &["t1".into()], &mut |_| {}).unwrap();
    assert_eq!(f.tracks.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    let calls = m
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path.starts_with("/v1/tracks"))
        .count();
    assert_eq!(calls, 3);

    // Retries are bounded: a server that always fails gives up with a clear error.
    let m = mock(Box::new(|req, _| {
        if req.path.starts_with("/token") {
            ok(r#"{"access_token":"t","expires_in":3600}"#.into())
        } else {
            (500, vec![], String::new())
        }
    }));
    let mut c = Client::new(
        creds(),
        ClientOptions {
            max_retries: 2,
            ..options(&m, None)
        },
    );
    let err = c
        .fetch(&[], &["t1".into()], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 500 after 2 retries"), "{err}");
    assert_eq!(
        m.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with("/v1"))
            .count(),
        3
    );
}

#[test]
fn an_expired_token_is_refreshed_on_401() {
    let m = mock(Box::new(|req, n| {
        if req.path.starts_with("/token") {
            return ok(format!(r#"{{"access_token":"tok{n}","expires_in":3600}}"#));
        }
        if req.auth == "Bearer tok1" {
            return (
                401,
                vec![],
                r#"{"error":{"status":401,"message":"The access token expired"}}"#.into(),
            );
        }
        if req.path.starts_with("/v1/tracks") {
            return ok(format!(r#"{{"tracks":[{}]}}"#, track("t1", 10)));
        }
        ok(features("t1"))
    }));
    let mut c = Client::new(creds(), options(&m, None));
    let f = c.fetch(&[], &["t1".into()], &mut |_| {}).unwrap();
    assert_eq!(f.tracks.len(), 1);
    let seen = m.seen.lock().unwrap();
    assert_eq!(
        seen.iter().filter(|s| s.path.starts_with("/token")).count(),
        2
    );
    assert_eq!(seen.last().unwrap().auth, "Bearer tok2");
}

#[test]
fn audio_features_403_keeps_the_tracks() {
    let m = mock(Box::new(|req, _| {
        if req.path.starts_with("/token") {
            return ok(r#"{"access_token":"t","expires_in":3600}"#.into());
        }
        if req.path.starts_with("/v1/audio-features") {
            return (403, vec![], r#"{"error":{"status":403}}"#.into());
        }
        ok(format!(
            r#"{{"tracks":[{},{}]}}"#,
            track("t1", 10),
            track("t2", 70)
        ))
    }));
    let mut c = Client::new(creds(), options(&m, None));
    let f = c
        .fetch(&[], &["t1".into(), "t2".into()], &mut |_| {})
        .unwrap();
    assert!(f.audio_features_denied);
    assert_eq!(f.tracks.len(), 2);
    assert!(f.tracks.iter().all(|t| t.features.is_empty()));
    assert_eq!(
        f.to_csv(&FetchLabel::None).lines().next().unwrap(),
        "track_id,track_name,artists,popularity,playlist"
    );
}

#[test]
fn unknown_playlists_and_malformed_json_are_clear_errors() {
    let m = mock(Box::new(|req, _| {
        if req.path.starts_with("/token") {
            return ok(r#"{"access_token":"t","expires_in":3600}"#.into());
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
    assert!(err.contains("malformed JSON"), "{err}");
    assert!(!err.contains("secret"));

    let bad_auth = mock(Box::new(|_, _| {
        (400, vec![], r#"{"error":"invalid_client"}"#.into())
    }));
    let mut c = Client::new(creds(), options(&bad_auth, None));
    let err = c
        .fetch(&["x".into()], &[], &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication failed (HTTP 400)") && !err.contains("secret"),
        "{err}"
    );
}

#[test]
fn the_cache_makes_a_rerun_offline_identical_and_secret_free() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let m = standard_mock();
    let mut c = Client::new(creds(), options(&m, Some(cache.clone())));
    let first = c
        .fetch(&["pl1".into()], &["t9".into()], &mut |_| {})
        .unwrap();
    assert_eq!(first.from_cache, 0);

    // Same requests against a dead address: everything comes from the cache.
    let dead = Mock {
        url: "http://127.0.0.1:9".into(),
        seen: Default::default(),
    };
    let mut offline = Client::new(creds(), options(&dead, Some(cache.clone())));
    let again = offline
        .fetch(&["pl1".into()], &["t9".into()], &mut |_| {})
        .unwrap();
    assert_eq!(again.tracks, first.tracks);
    assert_eq!(again.from_network, 0);
    assert_eq!(
        again.to_csv(&FetchLabel::None),
        first.to_csv(&FetchLabel::None)
    );

    for entry in std::fs::read_dir(&cache).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("tok1") && !text.contains("aWQ6c2VjcmV0"),
            "{text}"
        );
    }
    // --refresh bypasses the cache (and so needs the network).
    let mut refresh = Client::new(
        creds(),
        ClientOptions {
            refresh: true,
            max_retries: 0,
            ..options(&dead, Some(cache))
        },
    );
    assert!(refresh.fetch(&["pl1".into()], &[], &mut |_| {}).is_err());
}
