//! `ianus-load` end to end: against the real Ianus binary (VideoRoom 1 publisher × 2
//! subscribers, AudioBridge 3 participants, ~3 s each: media arrives, nothing fails the
//! integrity checks), and against servers that cannot
//! be reached or refuse a request (a clear error and a non-zero exit, quickly).
//!
//! Needs `target/<profile>/ianus` next to the tool (`cargo build --release` first, as
//! scripts/test.sh does).

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const TOOL: &str = env!("CARGO_BIN_EXE_ianus-load");

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free TCP port")
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free UDP port")
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ianus-load-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the tool with a deadline; kills it if it overruns.
fn run_tool(args: &[String], deadline: Duration) -> Output {
    let child = Command::new(TOOL)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ianus-load");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.expect("ianus-load output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("ianus-load did not finish within {deadline:?}");
        }
    }
}

fn ianus_binary() -> PathBuf {
    let bin = Path::new(TOOL).with_file_name("ianus");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release` (the ianus binary) first",
        bin.display()
    );
    bin
}

/// The Ianus binary on free ports, its log in `dir`; killed when dropped.
fn start_ianus(dir: &Path) -> (Killed, u16) {
    let (http, ws, admin, admin_ws, media) = (
        free_tcp_port(),
        free_tcp_port(),
        free_tcp_port(),
        free_tcp_port(),
        free_udp_port(),
    );
    let config = format!(
        "[http]\nport = {http}\n\n[websockets]\nport = {ws}\n\n[admin]\nhttp_port = {admin}\nws_port = {admin_ws}\n\n[media]\nip = \"127.0.0.1\"\nport = {media}\n"
    );
    let config_path = dir.join("ianus.toml");
    std::fs::write(&config_path, config).expect("config");
    let log = std::fs::File::create(dir.join("ianus.log")).expect("log");
    let server = Killed(
        Command::new(ianus_binary())
            .arg("--config")
            .arg(&config_path)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn ianus"),
    );
    let ready_by = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", ws)).is_err() {
        assert!(Instant::now() < ready_by, "ianus did not listen on {ws}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, ws)
}

/// Runs the tool against the Ianus in `dir` for ~3 s with `scenario` arguments; asserts it
/// succeeded and returns the JSON report.
fn run_against_ianus(dir: &Path, scenario: &[&str]) -> serde_json::Value {
    let (server, ws) = start_ianus(dir);
    let json = dir.join("report.json");
    let mut args: Vec<String> = [
        "--url",
        &format!("ws://127.0.0.1:{ws}"),
        "--server-pid",
        &server.0.id().to_string(),
        "--duration",
        "3",
        "--warmup",
        "0.5",
        "--media-timeout",
        "10",
        "--max-runtime",
        "60",
        "--json",
        &json.display().to_string(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(scenario.iter().map(|s| s.to_string()));
    let out = run_tool(&args, Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ianus-load failed: {:?}\n{stdout}\n{stderr}\n--- ianus log ---\n{}",
        out.status,
        std::fs::read_to_string(dir.join("ianus.log")).unwrap_or_default()
    );
    assert!(stdout.contains("forwarded packets/s"), "{stdout}");
    drop(server);
    serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json")
}

#[test]
fn one_publisher_two_subscribers_against_ianus() {
    let dir = temp_dir("e2e");
    let report = run_against_ianus(
        &dir,
        &["videoroom", "--publishers", "1", "--subscribers", "2"],
    );
    let received = report["received_packets"].as_u64().expect("received");
    let sent = report["sent_packets"].as_u64().expect("sent");
    assert!(received > 0, "{report}");
    // Two subscribers of one publisher: each packet sent arrives twice (± the window edges).
    assert!(
        received + 40 >= 2 * sent,
        "received {received}, sent {sent}: {report}"
    );
    assert_eq!(report["integrity"]["failures"], 0, "{report}");
    assert_eq!(report["streams_without_media"], 0, "{report}");
    assert_eq!(report["sub_streams"], 2, "{report}");
    assert!(report["latency_us"]["p50"].as_u64().is_some(), "{report}");
    assert!(report["server"]["cpu_s"].as_f64().is_some(), "{report}");
    assert!(
        report["server"]["rss_bytes"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn three_audiobridge_participants_against_ianus() {
    let dir = temp_dir("e2e-ab");
    // Two talk, one sends a quiet microphone: every participant still receives a mix.
    let report = run_against_ianus(
        &dir,
        &["audiobridge", "--participants", "3", "--talkers", "2"],
    );
    assert_eq!(report["scenario"]["kind"], "audiobridge", "{report}");
    assert_eq!(report["scenario"]["talkers"], 2, "{report}");
    assert_eq!(report["sub_streams"], 3, "{report}");
    assert_eq!(report["streams_without_media"], 0, "{report}");
    // Every participant receives one mixed packet per 20 ms: as many as the three send in
    // the window (± the window edges), each a valid 20 ms Opus packet under valid SRTP.
    let received = report["received_packets"].as_u64().expect("received");
    let sent = report["sent_packets"].as_u64().expect("sent");
    let window = report["window_s"].as_f64().expect("window");
    assert!(
        received as f64 >= 0.9 * 3.0 * 50.0 * window && received + 30 >= sent,
        "received {received}, sent {sent} in {window} s: {report}"
    );
    assert_eq!(report["integrity"]["failures"], 0, "{report}");
    assert_eq!(report["integrity"]["replayed"], 0, "{report}");
    assert_eq!(report["loss"]["lost"], 0, "{report}");
    assert_eq!(report["loss"]["duplicates"], 0, "{report}");
    assert!(report["server"]["cpu_s"].as_f64().is_some(), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = free_tcp_port(); // nothing listens there once the listener is dropped
    let started = Instant::now();
    let out = run_tool(
        &[
            "--url".into(),
            format!("ws://127.0.0.1:{port}"),
            "--quiet".into(),
            "videoroom".into(),
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

type Handshake = tokio_tungstenite::tungstenite::handshake::server::Response;

/// Adds the Janus subprotocol to the handshake answer, as Janus does.
#[allow(clippy::result_large_err)] // the callback signature is tungstenite's
fn janus_protocol(
    _: &tokio_tungstenite::tungstenite::handshake::server::Request,
    mut resp: Handshake,
) -> Result<Handshake, tokio_tungstenite::tungstenite::handshake::server::ErrorResponse> {
    resp.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "janus-protocol".parse().expect("header"),
    );
    Ok(resp)
}

/// A WebSocket server that answers every request with `reply(request)` (None: silence).
fn fake_server(
    reply: fn(&serde_json::Value) -> Option<serde_json::Value>,
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let Ok(Ok((tcp, _))) =
                tokio::time::timeout(Duration::from_secs(20), listener.accept()).await
            else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, janus_protocol).await else {
                return;
            };
            let until = tokio::time::Instant::now() + Duration::from_secs(20);
            while let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout_at(until, ws.next()).await
            {
                let req: serde_json::Value = serde_json::from_str(&t).expect("json request");
                if let Some(r) = reply(&req) {
                    let _ = ws.send(Message::text(r.to_string())).await;
                }
            }
        });
    });
    (port, h)
}

#[test]
fn a_refused_request_is_a_clear_error() {
    let (port, server) = fake_server(|req| {
        Some(serde_json::json!({
            "janus": "error",
            "transaction": req["transaction"],
            "error": {"code": 403, "reason": "Unauthorized request (wrong or missing secret/token)"}
        }))
    });
    let out = run_tool(
        &[
            "--url".into(),
            format!("ws://127.0.0.1:{port}"),
            "--quiet".into(),
            "videoroom".into(),
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused") && stderr.contains("403"),
        "{stderr}"
    );
    let _ = server.join();
}

#[test]
fn a_silent_server_times_out_instead_of_hanging() {
    let (port, server) = fake_server(|_| None);
    let started = Instant::now();
    let out = run_tool(
        &[
            "--url".into(),
            format!("ws://127.0.0.1:{port}"),
            "--request-timeout".into(),
            "1".into(),
            "--quiet".into(),
            "videoroom".into(),
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no reply within 1 s"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(server); // the fake server ends on its own deadline
}
