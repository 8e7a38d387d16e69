//! The dashboard's API over real HTTP on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;

use hitcast::data::{DataSource, SplitOptions, SynthParams};
use hitcast::model::{Artifact, BoostParams, ForestParams, Model, ModelParams, Trained};
use hitcast::serve::{run, Dashboard};
use serde_json::{json, Value};

struct Server {
    addr: SocketAddr,
    artifacts: Vec<Artifact>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
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
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            run("127.0.0.1:0".parse().unwrap(), dashboard, |addr| {
                tx.send(addr).unwrap()
            })
            .unwrap();
        });
        Server {
            addr: rx.recv().unwrap(),
            artifacts,
        }
    })
}

/// A minimal HTTP/1.1 exchange: (status, body).
fn request(method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(server().addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post(path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = request(
        "POST",
        path,
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn track() -> Value {
    json!({"danceability": 0.71, "energy": 0.64, "valence": 0.5, "tempo": 121.0})
}

#[test]
fn health_models_and_page() {
    let (status, body) = request("GET", "/api/health", None, b"");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["models"], 3);
    let (status, body) = request("GET", "/api/models", None, b"");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["features"].as_array().unwrap().len(), 4);
    assert_eq!(v["models"][2]["name"], "boost");
    assert!(
        v["features"][3]["min"].as_f64().unwrap()
            < v["features"][3]["mean_top100"].as_f64().unwrap()
    );
    assert_eq!(v["presets"][0]["name"], "average hit");
    let (status, page) = request("GET", "/", None, b"");
    assert_eq!(status, 200);
    assert!(page.contains("type=\"range\"") || page.contains("type=range"));
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "no external assets"
    );
}

#[test]
fn predictions_equal_the_library() {
    let (status, v) = post("/api/predict", &json!({ "features": track() }));
    assert_eq!(status, 200, "{v}");
    let row = [0.71, 0.64, 0.5, 121.0];
    for a in &server().artifacts {
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
        (json!({ "tracks": [track()] }), "features", "features"),
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

    let (status, body) = request(
        "POST",
        "/api/predict",
        Some("application/json"),
        b"{\"features\": {NaN",
    );
    assert_eq!(status, 400);
    assert!(body.contains("invalid JSON"), "{body}");
    let (status, body) = request(
        "POST",
        "/api/predict",
        Some("text/plain"),
        track().to_string().as_bytes(),
    );
    assert_eq!(status, 415, "{body}");
    let big = vec![b' '; 3 * 1024 * 1024];
    let (status, _) = request("POST", "/api/predict", Some("application/json"), &big);
    assert_eq!(status, 413);
    let many: Vec<Value> = (0..10_001).map(|_| track()).collect();
    let (status, v) = post("/api/predict/batch", &json!({ "tracks": many }));
    assert_eq!(status, 413, "{v}");
    let (status, body) = request("GET", "/nope", None, b"");
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""));
}

#[test]
fn explain_answers_one_track_and_a_batch_adding_up_to_the_predictions() {
    let (status, one) = post("/api/explain", &json!({ "features": track() }));
    assert_eq!(status, 200, "{one}");
    let (_, predicted) = post("/api/predict", &json!({ "features": track() }));
    for a in &server().artifacts {
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
    assert_eq!(status, 200);
    assert_eq!(batch["explanations"][1], one["explanations"]);

    let mut bad = track();
    bad["tempo"] = json!("fast");
    let (status, e) = post("/api/explain", &json!({ "tracks": [track(), bad] }));
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("tracks[1].tempo"))
    );
    let (status, e) = post(
        "/api/explain",
        &json!({ "features": {"danceability": 0.5} }),
    );
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("features.energy"))
    );
    let (status, _) = post("/api/explain", &json!({ "nothing": 1 }));
    assert_eq!(status, 400);
    let many: Vec<Value> = (0..=hitcast::serve::MAX_EXPLAIN_BATCH)
        .map(|_| track())
        .collect();
    let (status, _) = post("/api/explain", &json!({ "tracks": many }));
    assert_eq!(status, 413);
}
