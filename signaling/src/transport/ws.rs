//! WebSocket transport: `janus-protocol` (API) and `janus-admin-protocol` (Admin API).
//!
//! A handshake without the right subprotocol is refused (Janus drops it). One connection
//! may own several sessions; its events are pushed on it. When the connection closes its
//! sessions are destroyed, or wait `reclaim_session_timeout` for a `claim`.

use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::json::parse_many;
use super::limits::{MAX_OBJECTS_PER_MESSAGE, WS_OUTBOUND_QUEUE};
use crate::core::Core;
use crate::gateway::Gateway;
use crate::ids::SessionId;
use crate::proto::reply;
use crate::session::{ConnId, EventSink, Owner, SessionOver};

/// Which API a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Janus,
    Admin,
}

impl Api {
    fn subprotocol(self) -> &'static str {
        match self {
            Api::Janus => "janus-protocol",
            Api::Admin => "janus-admin-protocol",
        }
    }
}

pub async fn run(
    listener: TcpListener,
    gw: Arc<Gateway>,
    max_message: usize,
    api: Api,
    stop: watch::Receiver<bool>,
) {
    let stopped = super::stopped(stop);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, gw.clone(), max_message, api));
                }
                Err(e) => {
                    tracing::warn!("websocket accept: {e}");
                    tokio::task::yield_now().await;
                }
            },
        }
    }
}

/// Accepts the handshake only if the client offers our subprotocol. (The error type is
/// tungstenite's callback signature.)
#[allow(clippy::result_large_err)]
fn negotiate(api: Api, req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    let wanted = api.subprotocol();
    let offered = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == wanted);
    if !offered {
        let mut err = ErrorResponse::new(Some(format!("subprotocol {wanted} required")));
        *err.status_mut() = StatusCode::BAD_REQUEST;
        return Err(err);
    }
    resp.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(wanted));
    Ok(resp)
}

/// The event path of one connection.
struct WsSink {
    tx: mpsc::Sender<Message>,
    core: Weak<Core>,
}

impl EventSink for WsSink {
    fn transport(&self) -> &'static str {
        "janus.transport.websockets"
    }

    fn send(&self, _session: SessionId, event: Value) {
        if self.tx.try_send(Message::text(event.to_string())).is_err() {
            if let Some(core) = self.core.upgrade() {
                core.count_dropped_event();
            }
        }
    }

    /// Janus keeps the socket open after a session ends (janus.js closes it on `timeout`).
    fn session_over(&self, _session: SessionId, _why: SessionOver) {}
}

async fn connection(stream: TcpStream, gw: Arc<Gateway>, max_message: usize, api: Api) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, resp: Response| negotiate(api, req, resp);
    let ws = match tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
        .await
    {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!("websocket handshake refused: {e}");
            return;
        }
    };
    let (mut write, mut read) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(WS_OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if write.send(m).await.is_err() {
                break;
            }
        }
        let _ = write.close().await;
    });
    let conn = ConnId::next();
    let core = gw.core().clone();
    let owner = Owner {
        conn,
        sink: Arc::new(WsSink {
            tx: tx.clone(),
            core: Arc::downgrade(&core),
        }),
    };
    while let Some(msg) = read.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t.as_str().to_owned(),
            Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        for item in parse_many(&text, MAX_OBJECTS_PER_MESSAGE) {
            let (reply, after) = match item {
                Err(e) => (reply::error(0, None, e.code, &e.reason), Vec::new()),
                Ok(v) => match api {
                    Api::Janus => {
                        let r = core.handle_request(Instant::now(), &owner, &v);
                        (r.reply, r.after)
                    }
                    Api::Admin => (core.handle_admin(Instant::now(), &v), Vec::new()),
                },
            };
            if tx.send(Message::text(reply.to_string())).await.is_err() {
                break;
            }
            for d in after {
                d.send();
            }
        }
    }
    core.transport_gone(conn);
    drop(owner);
    drop(tx);
    // Let queued replies drain; a stuck peer cannot hold the task for long.
    let mut writer = writer;
    if tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}
