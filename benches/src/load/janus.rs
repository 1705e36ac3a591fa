//! A Janus API client over WebSocket (subprotocol `janus-protocol`): one session, many
//! handles. Requests wait for their reply by transaction (an `ack` is followed by the plugin's
//! `event`), unsolicited messages (trickle, webrtcup, hangup, media) go to the handle's event
//! channel. Every wait is bounded; a closed socket fails every pending request at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// How long any request may wait for its reply, unless told otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const KEEPALIVE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the server closed the WebSocket")]
    Closed,
    #[error("{what}: no reply within {secs} s")]
    Timeout { what: String, secs: f64 },
    #[error("{what}: the server refused it (error {code}: {reason})")]
    Refused {
        what: String,
        code: i64,
        reason: String,
    },
    #[error("{what}: unexpected reply {reply}")]
    Unexpected { what: String, reply: String },
}

impl JanusError {
    /// Janus's "no such plugin" (`JANUS_ERROR_PLUGIN_NOT_FOUND`).
    pub fn is_plugin_missing(&self) -> bool {
        matches!(self, JanusError::Refused { code: 460, .. })
    }
}

type Waiters = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>;
type Handles = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>>;

/// A plugin's reply: `plugindata.data` and the JSEP, if any.
#[derive(Debug, Clone)]
pub struct PluginReply {
    pub data: Value,
    pub jsep: Option<Value>,
}

pub struct JanusClient {
    out: mpsc::UnboundedSender<Message>,
    waiters: Waiters,
    handles: Handles,
    next_tx: AtomicU64,
    session: AtomicU64,
    timeout: Duration,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl JanusClient {
    /// Connects; `timeout` bounds the connection and every later request.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, JanusError> {
        let fail = |reason: String| JanusError::Connect {
            url: url.to_owned(),
            reason,
        };
        let mut req = url.into_client_request().map_err(|e| fail(e.to_string()))?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(req))
            .await
            .map_err(|_| fail("timed out".into()))?
            .map_err(|e| fail(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let waiters: Waiters = Arc::default();
        let handles: Handles = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let (w, h) = (waiters.clone(), handles.clone());
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let tx = v.get("transaction").and_then(Value::as_str);
                if let Some(waiter) = tx.and_then(|t| lock(&w).get(t).cloned()) {
                    let _ = waiter.send(v);
                    continue;
                }
                if let Some(sender) = v.get("sender").and_then(Value::as_u64) {
                    if let Some(ch) = lock(&h).get(&sender) {
                        let _ = ch.send(v);
                    }
                }
            }
            // Closed: dropping every waiter fails their requests with `Closed`.
            lock(&w).clear();
            lock(&h).clear();
        });
        Ok(JanusClient {
            out,
            waiters,
            handles,
            next_tx: AtomicU64::new(1),
            session: AtomicU64::new(0),
            timeout,
            tasks: vec![writer, reader],
        })
    }

    pub fn session(&self) -> u64 {
        self.session.load(Ordering::Relaxed)
    }

    /// Sends `body` (transaction and session added) and returns the receiver of its replies.
    fn send(
        &self,
        mut body: Value,
    ) -> Result<(String, mpsc::UnboundedReceiver<Value>), JanusError> {
        let tx = format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = json!(tx);
        let s = self.session();
        if s != 0 && body.get("session_id").is_none() {
            body["session_id"] = json!(s);
        }
        let (wtx, wrx) = mpsc::unbounded_channel();
        lock(&self.waiters).insert(tx.clone(), wtx);
        self.out
            .send(Message::text(body.to_string()))
            .map_err(|_| JanusError::Closed)?;
        Ok((tx, wrx))
    }

    async fn next(
        &self,
        what: &str,
        rx: &mut mpsc::UnboundedReceiver<Value>,
    ) -> Result<Value, JanusError> {
        match tokio::time::timeout(self.timeout, rx.recv()).await {
            Err(_) => Err(JanusError::Timeout {
                what: what.into(),
                secs: self.timeout.as_secs_f64(),
            }),
            Ok(None) => Err(JanusError::Closed),
            Ok(Some(v)) => Ok(v),
        }
    }

    /// A core request answered by `success` (or `error`).
    async fn core(&self, what: &str, body: Value) -> Result<Value, JanusError> {
        let (tx, mut rx) = self.send(body)?;
        let r = self.next(what, &mut rx).await;
        lock(&self.waiters).remove(&tx);
        let v = r?;
        match v.get("janus").and_then(Value::as_str) {
            Some("success") | Some("ack") => Ok(v),
            Some("error") => Err(refused(what, &v["error"])),
            _ => Err(JanusError::Unexpected {
                what: what.into(),
                reply: v.to_string(),
            }),
        }
    }

    pub async fn create_session(self: &Arc<Self>) -> Result<u64, JanusError> {
        let v = self
            .core("create session", json!({"janus": "create"}))
            .await?;
        let id = v["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Unexpected {
                what: "create session".into(),
                reply: v.to_string(),
            })?;
        self.session.store(id, Ordering::Relaxed);
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEEPALIVE).await;
                let Some(c) = me.upgrade() else { break };
                if c.core("keepalive", json!({"janus": "keepalive"}))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(id)
    }

    /// Attaches to `plugin`; returns the handle id and its channel of unsolicited events.
    pub async fn attach(
        &self,
        plugin: &str,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Value>), JanusError> {
        let what = format!("attach {plugin}");
        let v = self
            .core(&what, json!({"janus": "attach", "plugin": plugin}))
            .await?;
        let id = v["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Unexpected {
                what,
                reply: v.to_string(),
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.handles).insert(id, tx);
        Ok((id, rx))
    }

    /// A plugin message; waits through `ack` for the plugin's answer. Errors the plugin puts
    /// in `plugindata.data` (`error_code`) are returned as [`JanusError::Refused`].
    pub async fn message(
        &self,
        what: &str,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<PluginReply, JanusError> {
        let mut req = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(j) = jsep {
            req["jsep"] = j;
        }
        let (tx, mut rx) = self.send(req)?;
        let result = loop {
            let v = match self.next(what, &mut rx).await {
                Ok(v) => v,
                Err(e) => break Err(e),
            };
            match v.get("janus").and_then(Value::as_str) {
                Some("ack") => continue,
                Some("error") => break Err(refused(what, &v["error"])),
                Some("success") | Some("event") => {
                    let data = v["plugindata"]["data"].clone();
                    if let Some(code) = data.get("error_code").and_then(Value::as_i64) {
                        let reason = data["error"].as_str().unwrap_or_default().to_owned();
                        break Err(JanusError::Refused {
                            what: what.into(),
                            code,
                            reason,
                        });
                    }
                    break Ok(PluginReply {
                        data,
                        jsep: v.get("jsep").cloned(),
                    });
                }
                _ => continue,
            }
        };
        lock(&self.waiters).remove(&tx);
        result
    }

    /// Destroys the session (the server detaches every handle); best effort, bounded.
    pub async fn destroy(&self) {
        let _ = self
            .core("destroy session", json!({"janus": "destroy"}))
            .await;
    }
}

impl Drop for JanusClient {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn refused(what: &str, e: &Value) -> JanusError {
    JanusError::Refused {
        what: what.into(),
        code: e["code"].as_i64().unwrap_or(0),
        reason: e["reason"].as_str().unwrap_or_default().to_owned(),
    }
}
