//! Shared fixtures of the protocol tests: a small EchoTest-like plugin, a fake WebRTC host,
//! a gateway on free ports, and minimal WebSocket / HTTP clients.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use signaling::config::{AdminConfig, GeneralConfig, HttpConfig, WsConfig};
use signaling::host::{HostError, TrickleCandidate, WebRtcEvent, WebRtcHost};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};
use signaling::plugin::{Plugin, PluginEvents, PluginInfo, PluginResult};
use signaling::{Gateway, Listeners};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Every wait in these tests is bounded by this.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out"),
    }
}

/// Plugin calls, for tests to wait on.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Create(u64),
    SetupMedia(u64),
    HangupMedia(u64),
    Destroy(u64),
}

/// Behaves like Janus's EchoTest at the API level: every message is acked with a hint and
/// answered by an event (with an answer to an offer); `hangup_media` pushes `done`.
/// `{"request":"sync"}` is answered synchronously, `{"request":"fail"}` with an error.
pub struct EchoPlugin {
    events: OnceLock<Arc<dyn PluginEvents>>,
    calls: mpsc::UnboundedSender<Call>,
}

impl EchoPlugin {
    pub fn new() -> (Arc<EchoPlugin>, mpsc::UnboundedReceiver<Call>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(EchoPlugin {
                events: OnceLock::new(),
                calls: tx,
            }),
            rx,
        )
    }
}

impl Plugin for EchoPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "janus.plugin.echotest",
            name: "JANUS EchoTest plugin",
            author: "Ianus tests",
            description: "A test plugin",
            version_string: "0.0.7",
            version: 7,
        }
    }
    fn init(&self, events: Arc<dyn PluginEvents>) {
        let _ = self.events.set(events);
    }
    fn create_session(&self, handle: HandleId) -> Result<(), i32> {
        let _ = self.calls.send(Call::Create(handle.0));
        Ok(())
    }
    fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    ) -> PluginResult {
        match body.get("request").and_then(Value::as_str) {
            Some("sync") => return PluginResult::Ok(json!({"echotest": "response", "sync": true})),
            Some("fail") => return PluginResult::Error("Plugin said no".into()),
            _ => {}
        }
        let events = self.events.get().cloned();
        let answer = jsep
            .filter(|j| j.kind == JsepType::Offer)
            .map(|j| Jsep::new(JsepType::Answer, j.sdp));
        tokio::spawn(async move {
            if let Some(ev) = events {
                let _ = ev.push_event(
                    handle,
                    Some(transaction),
                    json!({"echotest": "event", "result": "ok"}),
                    answer,
                );
            }
        });
        PluginResult::OkWait(Some("I'm taking my time!".into()))
    }
    fn handle_admin_message(&self, request: Value) -> Option<Value> {
        Some(json!({"echotest": "admin", "request": request}))
    }
    fn setup_media(&self, handle: HandleId) {
        let _ = self.calls.send(Call::SetupMedia(handle.0));
    }
    fn hangup_media(&self, handle: HandleId) {
        let _ = self.calls.send(Call::HangupMedia(handle.0));
        if let Some(ev) = self.events.get() {
            let _ = ev.push_event(
                handle,
                None,
                json!({"echotest": "event", "result": "done"}),
                None,
            );
        }
    }
    fn destroy_session(&self, handle: HandleId) {
        let _ = self.calls.send(Call::Destroy(handle.0));
    }
    fn query_session(&self, _handle: HandleId) -> Value {
        json!({"audio_active": true, "video_active": true})
    }
}

/// A WebRTC host without media: SDPs must start with `v=`, a PC exists once an SDP was
/// applied, and a non-silent hangup is reported back at once.
#[derive(Default)]
pub struct FakeHost {
    gateway: OnceLock<Weak<Gateway>>,
    pcs: Mutex<HashSet<HandleId>>,
    pub trickles: Mutex<Vec<(HandleId, Option<TrickleCandidate>)>>,
}

impl WebRtcHost for FakeHost {
    fn handle_remote_jsep(&self, handle: HandleId, jsep: &Jsep) -> Result<Jsep, HostError> {
        if !jsep.sdp.starts_with("v=") {
            return Err(HostError::new(465, "Invalid SDP (doesn't start with v=)"));
        }
        if jsep.kind == JsepType::Answer {
            return Err(HostError::new(469, "Unexpected ANSWER (did we offer?)"));
        }
        self.pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle);
        Ok(jsep.clone())
    }
    fn handle_local_jsep(&self, handle: HandleId, mut jsep: Jsep) -> Result<Jsep, HostError> {
        self.pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle);
        jsep.sdp.push_str("a=ice-lite\r\n");
        Ok(jsep)
    }
    fn handle_trickle(&self, handle: HandleId, candidate: Option<TrickleCandidate>) {
        self.trickles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((handle, candidate));
    }
    fn hangup(&self, handle: HandleId, reason: &str, silent: bool) -> bool {
        let had = self
            .pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle);
        if had && !silent {
            if let Some(gw) = self.gateway.get().and_then(Weak::upgrade) {
                gw.webrtc_event(
                    handle,
                    WebRtcEvent::Hangup {
                        reason: reason.to_owned(),
                    },
                );
            }
        }
        had
    }
    fn destroy(&self, handle: HandleId) {
        self.pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle);
    }
    fn handle_info(&self, handle: HandleId) -> Option<Value> {
        let has = self
            .pcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&handle);
        has.then(|| json!({"flags": {"negotiated": true}, "sdps": {"profile": "UDP/TLS/RTP/SAVPF"}, "webrtc": {"ice": {}, "dtls": {}, "media": {}}}))
    }
}

pub const OFFER: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";

/// A running gateway on free loopback ports.
pub struct Server {
    pub gw: Arc<Gateway>,
    pub host: Arc<FakeHost>,
    pub calls: mpsc::UnboundedReceiver<Call>,
    pub listeners: Listeners,
}

pub struct Options {
    pub general: GeneralConfig,
    pub http: HttpConfig,
}

impl Default for Options {
    fn default() -> Self {
        let general = GeneralConfig {
            watchdog_period: Duration::from_millis(100),
            ..GeneralConfig::default()
        };
        let http = HttpConfig {
            ip: [127, 0, 0, 1].into(),
            port: 0,
            ..HttpConfig::default()
        };
        Options { general, http }
    }
}

pub async fn start(opts: Options) -> Server {
    let (plugin, calls) = EchoPlugin::new();
    let host = Arc::new(FakeHost::default());
    let gw = Gateway::new(opts.general, vec![plugin], host.clone());
    let _ = host.gateway.set(Arc::downgrade(&gw));
    let lo = [127, 0, 0, 1].into();
    let ws = WsConfig {
        ip: lo,
        port: 0,
        ..WsConfig::default()
    };
    let admin = AdminConfig {
        http_ip: lo,
        http_port: 0,
        ws_ip: lo,
        ws_port: 0,
        ..AdminConfig::default()
    };
    let metrics: signaling::MetricsFn = Arc::new(|| "ianus_test_metric 1\n".to_owned());
    let listeners = signaling::serve(gw.clone(), opts.http, ws, admin, Some(metrics))
        .await
        .expect("listeners bind");
    Server {
        gw,
        host,
        calls,
        listeners,
    }
}

impl Server {
    pub fn http(&self) -> SocketAddr {
        self.listeners.http.expect("http enabled")
    }
    pub fn ws(&self) -> SocketAddr {
        self.listeners.ws.expect("ws enabled")
    }
    pub fn admin_http(&self) -> SocketAddr {
        self.listeners.admin_http.expect("admin http enabled")
    }
    pub fn admin_ws(&self) -> SocketAddr {
        self.listeners.admin_ws.expect("admin ws enabled")
    }

    /// Waits for a plugin call matching `pred`.
    pub async fn call(&mut self, pred: impl Fn(&Call) -> bool) -> Call {
        within(async {
            loop {
                let c = self.calls.recv().await.expect("plugin alive");
                if pred(&c) {
                    return c;
                }
            }
        })
        .await
    }
}

/// A WebSocket client speaking JSON.
pub struct Ws {
    pub stream: WebSocketStream<TcpStream>,
}

pub async fn ws_connect(
    addr: SocketAddr,
    protocol: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{addr}/").into_client_request()?;
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().expect("header value"));
    }
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(tokio_tungstenite::tungstenite::Error::Io)?;
    let (stream, _) = tokio_tungstenite::client_async(req, tcp).await?;
    Ok(Ws { stream })
}

impl Ws {
    pub async fn open(addr: SocketAddr) -> Ws {
        within(ws_connect(addr, Some("janus-protocol")))
            .await
            .expect("ws connects")
    }
    pub async fn send(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }
    pub async fn send_text(&mut self, t: &str) {
        within(self.stream.send(Message::text(t.to_owned())))
            .await
            .expect("ws send");
    }
    /// The next JSON message; `None` when the connection closed.
    pub async fn recv_opt(&mut self) -> Option<Value> {
        within(async {
            loop {
                match self.stream.next().await {
                    Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).ok(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await
    }
    pub async fn recv(&mut self) -> Value {
        self.recv_opt().await.expect("a message")
    }
    /// Waits for the message matching `pred`, returning it and the ones skipped before.
    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let v = self.recv().await;
            if pred(&v) {
                return (v, skipped);
            }
            skipped.push(v);
        }
    }
    pub async fn request(&mut self, v: Value) -> Value {
        let tx = v.get("transaction").cloned();
        self.send(&v).await;
        let (reply, _) = self
            .recv_until(|m| m.get("transaction") == tx.as_ref() && m["janus"] != "event")
            .await;
        reply
    }
    pub async fn create(&mut self) -> u64 {
        let r = self
            .request(json!({"janus": "create", "transaction": "create"}))
            .await;
        r["data"]["id"].as_u64().expect("session id")
    }
    pub async fn attach(&mut self, s: u64) -> u64 {
        let r = self
            .request(json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.echotest", "transaction": "attach"}))
            .await;
        r["data"]["id"].as_u64().expect("handle id")
    }
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    within(async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        parse_http(&String::from_utf8_lossy(&raw))
    })
    .await
}

fn parse_http(raw: &str) -> HttpResponse {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub async fn post(addr: SocketAddr, path: &str, v: &Value) -> Value {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &v.to_string(),
    )
    .await
    .json()
}

pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http(addr, "GET", path, &[], "").await
}

pub fn error_of(v: &Value) -> (u64, String) {
    (
        v["error"]["code"].as_u64().unwrap_or(0),
        v["error"]["reason"].as_str().unwrap_or("").to_owned(),
    )
}
