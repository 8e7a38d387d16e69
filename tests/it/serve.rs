//! The dashboard's API: the router called in-process (`tower::ServiceExt::oneshot`), and the
//! server's connection limits over loopback with raw sockets (half-sent requests).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use hitcast::data::{DataSource, SplitOptions, SynthParams};
use hitcast::model::{Artifact, BoostParams, ForestParams, ModelParams, Trained};
use hitcast::serve::{router, run, Dashboard, Limits};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Fixture {
    dashboard: Arc<Dashboard>,
    artifacts: Vec<Artifact>,
    prepared: hitcast::data::Prepared,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let source = DataSource::Synthetic(SynthParams {
            n_tracks: 1500,
            ..Default::default()
        });
        let prepared = source.prepare(&SplitOptions::default(), 42).unwrap();
        let params = ModelParams {
            forest: ForestParams {
                n_trees: 20,
                ..Default::default()
            },
            boost: BoostParams {
                n_rounds: 40,
                ..Default::default()
            },
            ..Default::default()
        };
        let artifacts: Vec<Artifact> = hitcast::model::Family::ALL
            .iter()
            .map(|&f| {
                let m =
                    Trained::fit(f, &prepared.dataset, &prepared.split.train, &params, 42).unwrap();
                Artifact::new(m, &prepared.dataset, &prepared.split.train, &params, 42)
            })
            .collect();
        let dashboard = Dashboard::build(&prepared, "synthetic", artifacts.clone(), 42).unwrap();
        Fixture {
            dashboard: Arc::new(dashboard),
            artifacts,
            prepared,
        }
    })
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request through the router, in-process.
fn call(limits: &Limits, request: Request<Body>) -> Reply {
    let app = router(fixture().dashboard.clone(), limits);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = app.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    })
}

fn get(path: &str) -> Reply {
    let request = Request::get(path).body(Body::empty()).unwrap();
    call(&Limits::default(), request)
}

fn send(method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    call(&Limits::default(), request.body(Body::from(body)).unwrap())
}

fn post(path: &str, body: &Value) -> (StatusCode, Value) {
    let r = send(
        "POST",
        path,
        Some("application/json"),
        body.to_string().into_bytes(),
    );
    (r.status, r.json())
}

fn track() -> Value {
    json!({"danceability": 0.71, "energy": 0.64, "valence": 0.5, "tempo": 121.0})
}

#[test]
fn health_models_and_page() {
    let r = get("/api/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["models"], 3);
    let v = get("/api/models").json();
    assert_eq!(v["features"].as_array().unwrap().len(), 4);
    assert_eq!(v["models"][2]["name"], "boost");
    assert!(
        v["features"][3]["min"].as_f64().unwrap()
            < v["features"][3]["mean_top100"].as_f64().unwrap()
    );
    assert_eq!(v["presets"][0]["name"], "average hit");
    let page = get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("type: \"range\""));
    assert!(
        !page.body.contains("src=\"http") && !page.body.contains("href=\"http"),
        "no external assets"
    );
}

#[test]
fn every_response_carries_the_security_headers() {
    for r in [
        get("/"),
        get("/api/models"),
        get("/nope"),
        send(
            "POST",
            "/api/predict",
            Some("application/json"),
            b"{}".to_vec(),
        ),
    ] {
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }
    let page = get("/");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert_eq!(csp, hitcast::serve::page_csp());
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    // The policy allows one inline script and one style block by hash, nothing inline beside
    // them (a style attribute or an event handler in the markup would be blocked).
    assert_eq!(page.body.matches("<script").count(), 1);
    assert_eq!(page.body.matches("<style").count(), 1);
    assert!(!page.body.contains(" style=\""), "inline style attribute");
    assert!(
        !page.body.contains(".innerHTML"),
        "markup built from strings"
    );
    assert!(!page.body.contains(" onclick=\""), "inline handler");
}

#[test]
fn predictions_equal_the_library() {
    let (status, v) = post("/api/predict", &json!({ "features": track() }));
    assert_eq!(status, 200, "{v}");
    let row = [0.71, 0.64, 0.5, 121.0];
    for a in &fixture().artifacts {
        let expected = a.model.predict_proba_one(&row);
        let got = v["probabilities"][a.family.name()].as_f64().unwrap();
        assert_eq!(got.to_bits(), expected.to_bits(), "{}", a.family);
    }
    let other = json!({"danceability": 0.2, "energy": 0.3, "valence": 0.9, "tempo": 70.0});
    let (status, b) = post("/api/predict/batch", &json!({ "tracks": [track(), other] }));
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["probabilities"][0], v["probabilities"]);
    assert_ne!(b["probabilities"][1], v["probabilities"]);
}

/// Status, `field` and words of the error for a raw JSON body.
fn refused(path: &str, body: &str) -> (StatusCode, Value, String) {
    let r = send("POST", path, Some("application/json"), body.into());
    let v = r.json();
    (r.status, v["field"].clone(), v["error"].to_string())
}

#[test]
fn bad_requests_are_4xx_naming_the_field() {
    let mut missing = track();
    missing.as_object_mut().unwrap().remove("tempo");
    let mut unknown = track();
    unknown["loudness"] = json!(-5.0);
    let mut text = track();
    text["energy"] = json!("high");
    let mut range = track();
    range["danceability"] = json!(1.3);
    let cases = [
        (json!({ "features": missing }), "features.tempo", "missing"),
        (
            json!({ "features": unknown }),
            "features.loudness",
            "unknown",
        ),
        (
            json!({ "features": text }),
            "features.energy",
            "finite number",
        ),
        (
            json!({ "features": range }),
            "features.danceability",
            "outside",
        ),
        (json!({ "tracks": [track()] }), "tracks", "unknown field"),
        (
            json!({ "features": track(), "seed": 7 }),
            "seed",
            "unknown field `seed`",
        ),
    ];
    for (body, field, words) in cases {
        let (status, v) = post("/api/predict", &body);
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["field"], field, "{v}");
        assert!(v["error"].as_str().unwrap().contains(words), "{v}");
    }
    let (status, v) = post(
        "/api/predict/batch",
        &json!({ "tracks": [track(), { "tempo": 1 }] }),
    );
    assert_eq!(status, 400);
    assert_eq!(v["field"], "tracks[1].danceability", "{v}");
    let (status, v) = post(
        "/api/predict/batch",
        &json!({ "tracks": [track()], "features": track() }),
    );
    assert_eq!(
        (status, &v["field"]),
        (StatusCode::BAD_REQUEST, &json!("features"))
    );

    let (status, field, error) = refused("/api/predict", "{\"features\": {NaN");
    assert_eq!((status, field), (StatusCode::BAD_REQUEST, Value::Null));
    assert!(error.contains("invalid JSON"), "{error}");
}

#[test]
fn duplicate_keys_are_refused_not_resolved() {
    let features =
        r#"{"danceability": 5, "danceability": 0.7, "energy": 0.6, "valence": 0.5, "tempo": 120}"#;
    let cases = [
        (
            "/api/predict",
            format!(r#"{{"features": {features}}}"#),
            "features.danceability",
        ),
        (
            "/api/predict",
            format!(r#"{{"features": {features}, "features": {features}}}"#),
            "features.danceability",
        ),
        (
            "/api/predict",
            r#"{"features": {}, "features": {}}"#.to_string(),
            "features",
        ),
        (
            "/api/predict/batch",
            format!(r#"{{"tracks": [{}, {features}]}}"#, track()),
            "tracks[1].danceability",
        ),
    ];
    for (path, body, field) in cases {
        let (status, got, error) = refused(path, &body);
        assert_eq!(status, 400, "{body}");
        assert_eq!(got, field, "{body}");
        assert!(error.contains("duplicate key"), "{error}");
    }
}

#[test]
fn only_json_content_types_are_read() {
    let body = json!({ "features": track() }).to_string();
    for ct in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=\"UTF-8\"",
    ] {
        let r = send("POST", "/api/predict", Some(ct), body.clone().into());
        assert_eq!(r.status, 200, "{ct}: {}", r.body);
    }
    for ct in [
        Some("application/jsonfoo"),
        Some("application/json-patch+json"),
        Some("text/plain"),
        Some("application/json; charset=latin1"),
        Some("application/json; x=1"),
        Some("application/json;"),
        Some("text/json, application/json"),
        None,
    ] {
        let r = send("POST", "/api/predict", ct, body.clone().into());
        assert_eq!(r.status, 415, "{ct:?}: {}", r.body);
        assert_eq!(r.json()["field"], "Content-Type", "{ct:?}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("application/json"));
    }
}

#[test]
fn every_4xx_has_the_json_error_shape() {
    let many: Vec<Value> = (0..10_001).map(|_| track()).collect();
    let long = format!("/api/health?{}", "x".repeat(9000));
    let cases: Vec<(Reply, u16)> = vec![
        (get("/nope"), 404),
        (get("/api/predict"), 405),
        (send("DELETE", "/api/models", None, vec![]), 405),
        (send("OPTIONS", "/", None, vec![]), 405),
        (
            send(
                "POST",
                "/api/predict",
                Some("application/json"),
                vec![b' '; 3 * 1024 * 1024],
            ),
            413,
        ),
        (
            send(
                "POST",
                "/api/predict/batch",
                Some("application/json"),
                json!({ "tracks": many }).to_string().into(),
            ),
            413,
        ),
        (get(&long), 414),
        (get(&format!("/{}", "a".repeat(9000))), 414),
        (send("POST", "/api/predict", Some("text/csv"), vec![]), 415),
    ];
    for (r, status) in cases {
        assert_eq!(r.status.as_u16(), status, "{}", r.body);
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
        let v = r.json();
        let keys: Vec<&String> = v.as_object().expect(&r.body).keys().collect();
        assert_eq!(keys, ["error", "field"], "{}", r.body);
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let r = get("/api/predict");
    assert_eq!(r.headers[header::ALLOW], "POST");
    // A target at the limit is served.
    let limits = Limits::default().with_max_uri(20);
    let ok = call(
        &limits,
        Request::get("/api/health?abcdefgh")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(ok.status, 200);
    let over = call(
        &limits,
        Request::get("/api/health?abcdefghi")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(over.status, 414, "{}", over.body);
}

/// Serves the fixture's dashboard on loopback under `limits`.
fn start(limits: Limits) -> SocketAddr {
    let dashboard = fixture().dashboard.as_ref().clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        run("127.0.0.1:0".parse().unwrap(), dashboard, &limits, |addr| {
            tx.send(addr).unwrap()
        })
        .unwrap();
    });
    rx.recv().unwrap()
}

/// Reads until the server closes the connection (or `wait` passes): what it sent, and when
/// it closed (None if it did not within `wait`).
fn until_closed(s: &mut TcpStream, wait: Duration) -> (String, Option<Instant>) {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        Some(Instant::now()),
    )
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[test]
fn half_open_connections_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(400);
    let addr = start(Limits::default().with_header_timeout(timeout));
    let t0 = Instant::now();
    let mut streams: Vec<(TcpStream, Instant)> = (0..40)
        .map(|i| {
            // Taken before connecting: the server may accept (and start its timer) before
            // this thread runs again, so a time taken after `connect` can be late.
            let opened = Instant::now();
            let mut s = TcpStream::connect(addr).unwrap();
            // Half of them start a request and never finish its headers; half send nothing.
            if i % 2 == 0 {
                s.write_all(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
                    .unwrap();
            }
            (s, opened)
        })
        .collect();
    for (s, opened) in &mut streams {
        let (sent, closed) = until_closed(s, Duration::from_secs(10));
        let closed = closed.expect("the server kept a half-open connection");
        assert!(sent.is_empty(), "{sent}");
        assert!(closed - *opened >= timeout, "closed before the timeout");
    }
    // All within the timeout (plus scheduling slack), not at some later sweep.
    assert!(t0.elapsed() < timeout + Duration::from_secs(5));
    // The server still answers.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(HEALTH).unwrap();
    let (reply, _) = until_closed(&mut s, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(400);
    let addr = start(Limits::default().with_header_timeout(timeout));
    let mut s = TcpStream::connect(addr).unwrap();
    // Before the write: the server may answer and start its timer before this thread runs on.
    let t0 = Instant::now();
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (reply, closed) = until_closed(&mut s, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(closed.expect("kept open") - t0 >= timeout);
}

#[test]
fn a_body_that_does_not_arrive_is_a_408_and_the_connection_closes() {
    let body_timeout = Duration::from_millis(400);
    let addr = start(
        Limits::default()
            .with_header_timeout(Duration::from_secs(30))
            .with_body_timeout(body_timeout),
    );
    let mut s = TcpStream::connect(addr).unwrap();
    // Before the write, as above: the body timer starts once the server has read the headers.
    let t0 = Instant::now();
    s.write_all(
        b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"features\": {\"tempo",
    )
    .unwrap();
    // Waiting 10 s, under the 30 s header timeout: a close now is the body timeout's.
    let (reply, closed) = until_closed(&mut s, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let body: Value = serde_json::from_str(reply.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("did not arrive"),
        "{body}"
    );
    assert!(closed.expect("kept open after the 408") - t0 >= body_timeout);
}

#[test]
fn connections_over_the_cap_wait_for_a_free_slot() {
    let addr = start(
        Limits::default()
            .with_max_connections(2)
            .with_header_timeout(Duration::from_secs(30)),
    );
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(addr).unwrap();
    third.write_all(HEALTH).unwrap();
    let (reply, closed) = until_closed(&mut third, Duration::from_millis(800));
    assert!(
        reply.is_empty() && closed.is_none(),
        "served over the cap: {reply}"
    );
    drop(idle);
    let (reply, _) = until_closed(&mut third, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn explain_answers_one_track_and_a_batch_adding_up_to_the_predictions() {
    let (status, one) = post("/api/explain", &json!({ "features": track() }));
    assert_eq!(status, StatusCode::OK, "{one}");
    let (_, predicted) = post("/api/predict", &json!({ "features": track() }));
    for a in &fixture().artifacts {
        let e = &one["explanations"][a.family.name()];
        let sum: f64 = e["base"].as_f64().unwrap()
            + e["contributions"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum::<f64>();
        assert!((sum - e["log_odds"].as_f64().unwrap()).abs() < 1e-9, "{e}");
        assert_eq!(
            e["probability"],
            predicted["probabilities"][a.family.name()]
        );
        assert_eq!(e["contributions"].as_object().unwrap().len(), 4);
    }
    let (status, batch) = post("/api/explain", &json!({ "tracks": [track(), track()] }));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch["explanations"][1], one["explanations"]);

    let mut bad = track();
    bad["tempo"] = json!("fast");
    let (status, e) = post("/api/explain", &json!({ "tracks": [track(), bad] }));
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tracks[1].tempo"))
    );
    let (status, e) = post(
        "/api/explain",
        &json!({ "features": {"danceability": 0.5} }),
    );
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("features.energy"))
    );
    let (status, e) = post("/api/explain", &json!({ "nothing": 1 }));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"].as_str().unwrap().contains("nothing"), "{e}");
    // Strict like every body: a duplicated key is refused, not resolved.
    let (status, e, _) = refused(
        "/api/explain",
        r#"{"features": {"danceability": 0.7, "danceability": 0.2, "energy": 0.6, "valence": 0.5, "tempo": 120}}"#,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let many: Vec<Value> = (0..=hitcast::serve::MAX_EXPLAIN_BATCH)
        .map(|_| track())
        .collect();
    let (status, _) = post("/api/explain", &json!({ "tracks": many }));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Each model's probability for `row` (feature order), through the library.
fn library_p(row: &[f64]) -> Vec<f64> {
    let cols: Vec<&[f64]> = row.iter().map(std::slice::from_ref).collect();
    fixture()
        .artifacts
        .iter()
        .map(|a| hitcast::model::Model::predict_proba_columns(&a.model, &cols)[0])
        .collect()
}

const FEATURES: [&str; 4] = ["danceability", "energy", "valence", "tempo"];

fn row_of(t: &Value) -> Vec<f64> {
    FEATURES.iter().map(|f| t[f].as_f64().unwrap()).collect()
}

#[test]
fn curves_sweep_each_feature_over_the_data_range_holding_the_others() {
    let (status, a) = post("/api/curves", &json!({ "features": track(), "points": 7 }));
    assert_eq!(status, StatusCode::OK, "{a}");
    let curves = a["curves"].as_array().unwrap();
    assert_eq!(curves.len(), 4);
    let models = &fixture().dashboard.features;
    let held = row_of(&track());
    for (j, c) in curves.iter().enumerate() {
        assert_eq!(c["feature"], FEATURES[j]);
        assert_eq!(c["value"].as_f64().unwrap(), held[j]);
        let grid: Vec<f64> = c["grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(grid.len(), 7);
        // The slider's range: the middle 99 % of the data.
        let f = &models[j];
        assert_eq!((grid[0], grid[6]), (f.lo, f.hi));
        assert!(f.min <= f.lo && f.lo < f.hi && f.hi <= f.max, "{f:?}");
        for (k, &g) in grid.iter().enumerate() {
            let mut row = held.clone();
            row[j] = g;
            let want = library_p(&row);
            for (a, w) in fixture().artifacts.iter().zip(&want) {
                assert_eq!(
                    c["probabilities"][a.family.name()][k].as_f64().unwrap(),
                    *w,
                    "{} {k}",
                    FEATURES[j]
                );
            }
        }
    }
    let (_, default) = post("/api/curves", &json!({ "features": track() }));
    assert_eq!(default["curves"][0]["grid"].as_array().unwrap().len(), 25);
    for bad in [json!(1), json!(102), json!("many"), json!(2.5)] {
        let (status, e) = post(
            "/api/curves",
            &json!({ "features": track(), "points": bad }),
        );
        assert_eq!(
            (status, e["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("points")),
            "{e}"
        );
    }
    let mut bad = track();
    bad["tempo"] = json!(-5.0);
    let (status, e) = post("/api/curves", &json!({ "features": bad }));
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("features.tempo"))
    );
}

#[test]
fn neighbours_are_the_nearest_training_tracks_in_standardised_distance() {
    let p = &fixture().prepared;
    let train = p.dataset.subset(&p.split.train);
    let held = row_of(&track());
    // An independent brute force: standardise by the training mean and (population) sd.
    let stats: Vec<(f64, f64)> = FEATURES
        .iter()
        .map(|f| {
            let c = &train.x[train.feature_index(f).unwrap()];
            let m = c.iter().sum::<f64>() / c.len() as f64;
            let sd = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / c.len() as f64).sqrt();
            (m, sd)
        })
        .collect();
    let mut d: Vec<(f64, usize)> = (0..train.len())
        .map(|i| {
            let s: f64 = FEATURES
                .iter()
                .enumerate()
                .map(|(j, f)| {
                    let (m, sd) = stats[j];
                    let v = train.x[train.feature_index(f).unwrap()][i];
                    ((v - m) / sd - (held[j] - m) / sd).powi(2)
                })
                .sum();
            (s.sqrt(), i)
        })
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (status, a) = post("/api/neighbours", &json!({ "features": track(), "k": 4 }));
    assert_eq!(status, StatusCode::OK, "{a}");
    let got = a["neighbours"].as_array().unwrap();
    assert_eq!(got.len(), 4);
    for (n, &(dist, i)) in got.iter().zip(&d) {
        assert_eq!(n["id"], train.ids[i]);
        assert_eq!(n["title"], train.names[i]);
        assert_eq!(n["artist"], train.artists[i]);
        assert_eq!(n["hit"], train.y[i] == 1);
        assert!((n["distance"].as_f64().unwrap() - dist).abs() < 1e-9);
        let want = library_p(&row_of(&n["features"]));
        for (a, w) in fixture().artifacts.iter().zip(&want) {
            assert_eq!(n["probabilities"][a.family.name()].as_f64().unwrap(), *w);
        }
    }
    // Loading a neighbour makes it the nearest, at distance 0.
    let (_, again) = post(
        "/api/neighbours",
        &json!({ "features": got[2]["features"] }),
    );
    assert_eq!(again["neighbours"][0]["id"], got[2]["id"]);
    assert_eq!(again["neighbours"][0]["distance"].as_f64().unwrap(), 0.0);
    assert_eq!(again["neighbours"].as_array().unwrap().len(), 5);
    for bad in [json!(0), json!(26), json!(-1)] {
        let (status, e) = post("/api/neighbours", &json!({ "features": track(), "k": bad }));
        assert_eq!(
            (status, e["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("k"))
        );
    }
}

#[test]
fn position_gives_percentiles_among_all_tracks_hits_and_model_scores() {
    let p = &fixture().prepared;
    let train = p.dataset.subset(&p.split.train);
    let (status, a) = post("/api/position", &json!({ "features": track() }));
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["tracks"], train.len());
    assert_eq!(a["hits"], train.positives());
    let share = |values: &mut dyn Iterator<Item = f64>, x: f64| {
        let (mut below, mut equal, mut n) = (0usize, 0usize, 0usize);
        for v in values {
            n += 1;
            if v < x {
                below += 1;
            } else if v == x {
                equal += 1;
            }
        }
        100.0 * (below as f64 + equal as f64 / 2.0) / n as f64
    };
    let held = row_of(&track());
    for (j, f) in FEATURES.iter().enumerate() {
        let col = &train.x[train.feature_index(f).unwrap()];
        let all = share(&mut col.iter().copied(), held[j]);
        let hits = share(
            &mut col
                .iter()
                .zip(&train.y)
                .filter(|(_, &y)| y == 1)
                .map(|(v, _)| *v),
            held[j],
        );
        assert!(
            (a["features"][f]["among_all"].as_f64().unwrap() - all).abs() < 1e-9,
            "{f}"
        );
        assert!(
            (a["features"][f]["among_hits"].as_f64().unwrap() - hits).abs() < 1e-9,
            "{f}"
        );
    }
    // Each model's probability is ranked among its holdout scores (out of sample).
    let holdout = p.dataset.subset(&p.split.test);
    assert_eq!(a["holdout"], holdout.len());
    let want = library_p(&held);
    for (m, w) in fixture().artifacts.iter().zip(&want) {
        let scores = m.model.predict_proba(&holdout).unwrap();
        let q = &a["models"][m.family.name()];
        assert_eq!(q["probability"].as_f64().unwrap(), *w);
        assert!(
            (q["percentile"].as_f64().unwrap() - share(&mut scores.iter().copied(), *w)).abs()
                < 1e-9
        );
    }
}

#[test]
fn an_uploaded_csv_is_scored_as_hitcast_predict_scores_it() {
    let path = super::fixture("tracks.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let (status, a) = post(
        "/api/score",
        &json!({ "name": "../../etc/tracks.csv", "csv": text }),
    );
    assert_eq!(status, StatusCode::OK, "{a}");
    let tracks = hitcast::score::read_tracks(&fixture().artifacts, &path).unwrap();
    assert_eq!(a["name"], "tracks.csv", "only the file name is kept");
    assert_eq!(a["rows"], tracks.len());
    assert_eq!(
        a["csv"].as_str().unwrap(),
        hitcast::score::prediction_csv(&fixture().artifacts, &tracks).unwrap()
    );
    for (i, t) in a["tracks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(t["id"], tracks.ids[i]);
        assert_eq!(t["title"], tracks.title(i));
    }
    // Ingest's positioned error, for the upload's name.
    let bad = "track_id,danceability,energy,valence,tempo\na,0.5,0.5,0.5,120\nb,0.5,0.5,2.5,120\n";
    let (status, e) = post("/api/score", &json!({ "name": "mine.csv", "csv": bad }));
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("csv"))
    );
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("mine.csv: row 2 (line 3), column `valence`"),
        "{e}"
    );
    let (status, e) = post(
        "/api/score",
        &json!({ "csv": "track_id,danceability\nx,0.5\n" }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"].as_str().unwrap().contains("upload.csv"), "{e}");
    let (status, e) = post("/api/score", &json!({ "name": "x.csv" }));
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("csv"))
    );
    let (status, e) = post("/api/score", &json!({ "name": "", "csv": text }));
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );
    // The file's bytes as base64 (the page sends them so ingest judges the encoding), and a
    // chosen separator.
    use base64::Engine as _;
    let b64 = |t: &[u8]| base64::engine::general_purpose::STANDARD.encode(t);
    let (status, same) = post(
        "/api/score",
        &json!({ "name": "tracks.csv", "csv_base64": b64(text.as_bytes()) }),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["csv"], a["csv"]);
    let semi = text.replace(',', ";");
    let (status, s) = post(
        "/api/score",
        &json!({ "csv_base64": b64(semi.as_bytes()), "delimiter": ";" }),
    );
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["csv"], a["csv"]);
    let latin =
        b"track_id,track_name,danceability,energy,valence,tempo\na,Caf\xe9,0.5,0.5,0.5,120\n";
    let (status, e) = post(
        "/api/score",
        &json!({ "name": "l.csv", "csv_base64": b64(latin) }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("row 1 (line 2): column `track_name` is not valid UTF-8"),
        "{e}"
    );
    for (body, field) in [
        (json!({ "csv_base64": "not base64!" }), "csv_base64"),
        (json!({ "csv": text, "delimiter": "x" }), "delimiter"),
        (json!({ "csv": text, "csv_base64": "" }), "csv"),
    ] {
        let (status, e) = post("/api/score", &body);
        assert_eq!(
            (status, e["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{e}"
        );
    }
    // Names are counted in characters: 200 × "é" (400 bytes) is a name.
    let (status, e) = post(
        "/api/score",
        &json!({ "name": "é".repeat(200) + ".csv", "csv": text }),
    );
    assert_eq!(status, StatusCode::OK, "{e}");
    // Over the size limit: a 413 before anything is read.
    let big = "x".repeat(hitcast::serve::MAX_UPLOAD_BYTES + 1);
    let (status, e) = post("/api/score", &json!({ "csv": big }));
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("csv")),
        "{e}"
    );
}

/// Wide, deep trees are slow to explain (recursive TreeSHAP): the dashboard then holds an
/// explain batch to fewer tracks, says how many in `/api/models`, and refuses one more.
#[test]
fn explain_batches_shrink_for_models_slow_to_explain() {
    use hitcast::data::{FeatureSet, IngestOptions};
    let source = DataSource::Csv {
        path: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/all_features.csv"),
        options: IngestOptions {
            features: FeatureSet::All,
            ..Default::default()
        },
        split_file: None,
    };
    let prepared = source.prepare(&SplitOptions::default(), 7).unwrap();
    assert_eq!(prepared.dataset.n_features(), 15);
    let params = ModelParams {
        forest: ForestParams {
            n_trees: 300,
            min_samples_leaf: 1,
            max_depth: 30,
            ..Default::default()
        },
        ..Default::default()
    };
    let artifacts: Vec<Artifact> = hitcast::model::Family::ALL
        .iter()
        .map(|&f| {
            let m = Trained::fit(f, &prepared.dataset, &prepared.split.train, &params, 7).unwrap();
            Artifact::new(m, &prepared.dataset, &prepared.split.train, &params, 7)
        })
        .collect();
    let cost: u64 = artifacts
        .iter()
        .map(|a| {
            hitcast::explain::Explainer::new(&a.model)
                .unwrap()
                .cost_per_track()
        })
        .sum();
    let dashboard = Dashboard::build(&prepared, "fixture", artifacts, 7).unwrap();
    let limit = dashboard.explain_batch_limit();
    assert!(
        limit < hitcast::serve::MAX_EXPLAIN_BATCH,
        "{limit} ({cost} per track)"
    );
    assert_eq!(limit as u64, hitcast::serve::EXPLAIN_BUDGET / cost);
    // The narrow fixture's models keep the full batch.
    assert_eq!(
        fixture().dashboard.explain_batch_limit(),
        hitcast::serve::MAX_EXPLAIN_BATCH
    );
    let track: serde_json::Map<String, Value> = dashboard
        .features
        .iter()
        .map(|f| (f.name.clone(), json!((f.lo + f.hi) / 2.0)))
        .collect();
    let models: Value = serde_json::to_value(&dashboard).unwrap();
    assert_eq!(models["explain_batch_limit"], json!(limit));
    let limits = Limits::default();
    let app = router(Arc::new(dashboard), &limits);
    let explain = |n: usize| {
        let body = json!({ "tracks": vec![Value::Object(track.clone()); n] }).to_string();
        let request = Request::post("/api/explain")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = rt.block_on(app.clone().oneshot(request)).unwrap();
        let status = response.status();
        let bytes = rt
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    };
    let (status, v) = explain(2);
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["explanations"].as_array().map(Vec::len), Some(2));
    let (status, e) = explain(limit + 1);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains(&format!("at most {limit}")),
        "{e}"
    );
}
