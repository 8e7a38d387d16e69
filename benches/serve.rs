//! Dashboard load under a slow-client attack, on loopback: counted single predictions for a
//! fixed time, first alone, then while attackers hold half-sent requests open (half of them
//! stop inside the headers, half inside the body) and reopen each one the server closes. It
//! reports throughput and latency of both phases and how long the server took to close each
//! half-sent request, then stops by itself. The server runs in this process with the default
//! models (synthetic data, seed 42) and short, bench-set timeouts.
//!
//! `cargo bench --bench serve -- [--seconds 15] [--connections 16] [--half-open 300]
//! [--timeout 2] [--route /api/predict]`: `--route /api/curves` (or `/api/neighbours`,
//! `/api/position`, `/api/explain`) loads that route with the same track instead;
//! `--half-open 0` skips the attack phase.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hitcast::data::{DataSource, SplitOptions, SynthParams};
use hitcast::model::{Artifact, Family, ModelParams, Trained};
use hitcast::serve::{run, Dashboard, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const BODY: &str =
    r#"{"features":{"danceability":0.71,"energy":0.64,"valence":0.5,"tempo":121.0}}"#;

struct Options {
    seconds: u64,
    connections: usize,
    half_open: usize,
    timeout: Duration,
    route: String,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 15,
        connections: 16,
        half_open: 300,
        timeout: Duration::from_secs(2),
        route: "/api/predict".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |i: usize| -> f64 {
        args.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{} needs a number", args[i]))
    };
    for (i, a) in args.iter().enumerate() {
        match a.as_str() {
            "--seconds" => o.seconds = value(i) as u64,
            "--connections" => o.connections = value(i) as usize,
            "--half-open" => o.half_open = value(i) as usize,
            "--timeout" => o.timeout = Duration::from_secs_f64(value(i)),
            "--route" => {
                o.route = args
                    .get(i + 1)
                    .filter(|r| r.starts_with("/api/"))
                    .unwrap_or_else(|| panic!("--route needs a path under /api/"))
                    .clone()
            }
            _ => {} // `cargo bench` passes `--bench`; values are read above
        }
    }
    o
}

fn start(timeout: Duration) -> SocketAddr {
    let prepared = DataSource::Synthetic(SynthParams::default())
        .prepare(&SplitOptions::default(), 42)
        .expect("synthetic data");
    let params = ModelParams::default();
    let artifacts = Family::ALL
        .iter()
        .map(|&f| {
            let m = Trained::fit(f, &prepared.dataset, &prepared.split.train, &params, 42)
                .expect("fit");
            Artifact::new(m, &prepared.dataset, &prepared.split.train, &params, 42)
        })
        .collect();
    let dashboard = Dashboard::build(&prepared, "synthetic", artifacts, 42).expect("dashboard");
    let limits = Limits::default()
        .with_header_timeout(timeout)
        .with_body_timeout(timeout);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        run("127.0.0.1:0".parse().unwrap(), dashboard, &limits, |a| {
            tx.send(a).unwrap()
        })
        .expect("serve")
    });
    rx.recv().expect("server address")
}

#[derive(Default)]
struct Load {
    ok: u64,
    errors: u64,
    micros: Vec<u32>,
}

/// Reads one response off a keep-alive connection: its status.
async fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let bad = || std::io::Error::other("malformed response");
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad())?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(bad)?;
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + length);
    Ok(status)
}

/// One keep-alive client sending predictions back to back until `until`.
async fn client(addr: SocketAddr, until: Instant, route: String) -> Load {
    let request = format!(
        "POST {route} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut load = Load::default();
    let mut buf = Vec::new();
    let mut conn: Option<TcpStream> = None;
    while Instant::now() < until {
        let s = match &mut conn {
            Some(s) => s,
            None => match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    conn.insert(s)
                }
                Err(_) => {
                    load.errors += 1;
                    continue;
                }
            },
        };
        let t = Instant::now();
        let status = match s.write_all(request.as_bytes()).await {
            Ok(()) => response(s, &mut buf).await,
            Err(e) => Err(e),
        };
        match status {
            Ok(200) => {
                load.ok += 1;
                load.micros
                    .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            Ok(_) => load.errors += 1,
            Err(_) => {
                load.errors += 1;
                conn = None;
                buf.clear();
            }
        }
    }
    load
}

/// How the server treated the half-sent requests of one attacker.
#[derive(Default)]
struct Attack {
    /// Seconds from sending the partial request to the server closing the connection.
    head_closed: Vec<f64>,
    body_closed: Vec<f64>,
    /// Still open `wait` after being sent (never closed by the server).
    kept_open: u64,
}

/// Opens a half-sent request, waits for the server to close it, and again, until `until`.
async fn attacker(addr: SocketAddr, until: Instant, in_body: bool, wait: Duration) -> Attack {
    let partial: &[u8] = if in_body {
        b"POST /api/predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
          Content-Length: 80\r\n\r\n{\"features\":{\"danc"
    } else {
        b"POST /api/predict HTTP/1.1\r\nHost: bench\r\nContent-Ty"
    };
    let mut attack = Attack::default();
    while Instant::now() < until {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let t = Instant::now();
        if s.write_all(partial).await.is_err() {
            continue;
        }
        // Drain whatever the server sends (a 408 for a late body) until it closes.
        let closed = tokio::time::timeout(wait, async {
            let mut b = [0u8; 1024];
            while let Ok(n) = s.read(&mut b).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        match (closed, in_body) {
            (Ok(()), false) => attack.head_closed.push(t.elapsed().as_secs_f64()),
            (Ok(()), true) => attack.body_closed.push(t.elapsed().as_secs_f64()),
            (Err(_), _) => attack.kept_open += 1,
        }
    }
    attack
}

async fn phase(addr: SocketAddr, o: &Options, attackers: usize) -> (Load, Attack, f64) {
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(o.seconds);
    let mut attacks = JoinSet::new();
    for i in 0..attackers {
        attacks.spawn(attacker(addr, until, i % 2 == 1, o.timeout * 3));
    }
    let mut clients = JoinSet::new();
    for _ in 0..o.connections {
        clients.spawn(client(addr, until, o.route.clone()));
    }
    let mut load = Load::default();
    while let Some(l) = clients.join_next().await {
        let l = l.expect("client task");
        load.ok += l.ok;
        load.errors += l.errors;
        load.micros.extend(l.micros);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let mut attack = Attack::default();
    while let Some(a) = attacks.join_next().await {
        let a = a.expect("attacker task");
        attack.head_closed.extend(a.head_closed);
        attack.body_closed.extend(a.body_closed);
        attack.kept_open += a.kept_open;
    }
    (load, attack, elapsed)
}

fn percentile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn closes(label: &str, mut secs: Vec<f64>) {
    secs.sort_by(f64::total_cmp);
    if secs.is_empty() {
        println!("{label}: none");
        return;
    }
    let at = |q: f64| secs[((secs.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: {} closed by the server after {:.2} s min, {:.2} s median, {:.2} s max",
        secs.len(),
        at(0.0),
        at(0.5),
        at(1.0)
    );
}

fn main() {
    let o = options();
    eprintln!("training the default models …");
    let addr = start(o.timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "POST {}: {} s per phase, {} keep-alive clients, {} half-sent requests held open, \
         header and body timeout {:.1} s",
        o.route,
        o.seconds,
        o.connections,
        o.half_open,
        o.timeout.as_secs_f64()
    );
    println!("| phase | requests | requests/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|");
    let mut attack = Attack::default();
    let phases = [("alone", 0), ("with half-sent requests", o.half_open)];
    for &(name, attackers) in &phases[..if o.half_open == 0 { 1 } else { 2 }] {
        let (mut load, a, elapsed) = runtime.block_on(phase(addr, &o, attackers));
        load.micros.sort_unstable();
        println!(
            "| {name} | {} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            load.ok,
            load.ok as f64 / elapsed,
            percentile_ms(&load.micros, 0.5),
            percentile_ms(&load.micros, 0.99),
            load.errors
        );
        attack = a;
    }
    closes("half-sent headers", attack.head_closed);
    closes("half-sent bodies", attack.body_closed);
    println!(
        "kept open longer than {:.1} s: {}",
        (o.timeout * 3).as_secs_f64(),
        attack.kept_open
    );
}
