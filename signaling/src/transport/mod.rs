//! The transports: WebSocket, HTTP REST + long poll, and the Admin API over both.
//!
//! Only this module touches sockets. Each listener runs in its own tokio task; requests go
//! to the sans-IO [`Core`](crate::core::Core) and replies/events come back through
//! [`EventSink`](crate::session::EventSink)s.

mod admin_http;
mod cors;
mod http;
pub(crate) mod json;
pub mod limits;
mod mailbox;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{AdminConfig, HttpConfig, WsConfig};
use crate::gateway::Gateway;
use crate::info;

/// The `/metrics` renderer the application passes to [`serve`].
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

/// The bound addresses of the enabled listeners.
#[derive(Debug)]
pub struct Listeners {
    pub http: Option<SocketAddr>,
    pub ws: Option<SocketAddr>,
    pub admin_http: Option<SocketAddr>,
    pub admin_ws: Option<SocketAddr>,
    stop: watch::Sender<bool>,
}

impl Listeners {
    /// Stops accepting connections on every listener (open connections finish on their own).
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

/// Resolves when `shutdown` was called; never if the [`Listeners`] were just dropped.
async fn stopped(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Binds every enabled listener and spawns its task.
pub async fn serve(
    gw: Arc<Gateway>,
    http: HttpConfig,
    ws: WsConfig,
    admin: AdminConfig,
    metrics: Option<MetricsFn>,
) -> std::io::Result<Listeners> {
    let (stop, rx) = watch::channel(false);
    let mut out = Listeners {
        http: None,
        ws: None,
        admin_http: None,
        admin_ws: None,
        stop,
    };
    if http.enabled {
        let l = TcpListener::bind((http.ip, http.port)).await?;
        out.http = Some(l.local_addr()?);
        gw.core().register_transport(info::HTTP_TRANSPORT);
        tokio::spawn(http::run(l, gw.clone(), http.clone(), rx.clone()));
    }
    if ws.enabled {
        let l = TcpListener::bind((ws.ip, ws.port)).await?;
        out.ws = Some(l.local_addr()?);
        gw.core().register_transport(info::WS_TRANSPORT);
        tokio::spawn(ws::run(
            l,
            gw.clone(),
            ws.max_message_bytes,
            ws::Api::Janus,
            rx.clone(),
        ));
    }
    if admin.http_enabled {
        let l = TcpListener::bind((admin.http_ip, admin.http_port)).await?;
        out.admin_http = Some(l.local_addr()?);
        gw.core().register_transport(info::HTTP_TRANSPORT);
        tokio::spawn(admin_http::run(
            l,
            gw.clone(),
            admin.clone(),
            http.clone(),
            metrics,
            rx.clone(),
        ));
    }
    if admin.ws_enabled {
        let l = TcpListener::bind((admin.ws_ip, admin.ws_port)).await?;
        out.admin_ws = Some(l.local_addr()?);
        gw.core().register_transport(info::WS_TRANSPORT);
        tokio::spawn(ws::run(
            l,
            gw.clone(),
            ws.max_message_bytes,
            ws::Api::Admin,
            rx.clone(),
        ));
    }
    Ok(out)
}
