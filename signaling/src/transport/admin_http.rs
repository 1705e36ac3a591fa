//! The Admin API over HTTP (`/admin[/<session>[/<handle>]]`, `GET /admin/info`) and the
//! Prometheus endpoint `GET /metrics`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::cors::Cors;
use super::http::{
    accept_loop, api_error, empty, json, made_up_transaction, preflight, read_body,
    request_from_body, respond, Route,
};
use super::MetricsFn;
use crate::config::{AdminConfig, HttpConfig};
use crate::gateway::Gateway;
use crate::proto::{reply, ApiError, ErrorCode};

/// Prometheus text exposition format 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

struct Admin {
    gw: Arc<Gateway>,
    base: String,
    max_body: usize,
    cors: Cors,
    metrics: Option<MetricsFn>,
}

pub async fn run(
    listener: TcpListener,
    gw: Arc<Gateway>,
    cfg: AdminConfig,
    http: HttpConfig,
    metrics: Option<MetricsFn>,
    stop: watch::Receiver<bool>,
) {
    let admin = Arc::new(Admin {
        gw,
        base: cfg.base_path,
        max_body: http.max_body_bytes,
        cors: Cors {
            allow_origin: http.allow_origin,
            enforce: http.enforce_cors,
        },
        metrics,
    });
    accept_loop(listener, stop, move |req| {
        let admin = admin.clone();
        async move { admin.handle(req).await }
    })
    .await;
}

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> super::http::Resp {
        let cors = &self.cors;
        if req.method() == Method::GET && req.uri().path() == "/metrics" {
            return match &self.metrics {
                Some(render) => respond(
                    cors,
                    StatusCode::OK,
                    Some(METRICS_CONTENT_TYPE),
                    Bytes::from(render()),
                ),
                None => empty(cors, StatusCode::NOT_FOUND),
            };
        }
        if cors.refuses(req.headers()) {
            return empty(cors, StatusCode::FORBIDDEN);
        }
        let method = req.method().clone();
        if method == Method::OPTIONS {
            return preflight(cors, &req);
        }
        if method != Method::GET && method != Method::POST {
            let e = ApiError::new(
                ErrorCode::TransportSpecific,
                format!("Unsupported method {method}"),
            );
            return api_error(cors, &e);
        }
        let route = super::http::route(req.uri().path(), &self.base);
        let (session, handle) = match (route, method == Method::GET) {
            (Route::Info, true) => {
                let v = self.gw.core().handle_admin(Instant::now(), &info_request());
                return json(cors, &v);
            }
            (Route::Info, false) => return empty(cors, StatusCode::BAD_REQUEST),
            (Route::NotFound, _) | (_, true) => return empty(cors, StatusCode::NOT_FOUND),
            (Route::Root, false) => (None, None),
            (Route::Session(s), false) => (Some(s), None),
            (Route::Handle(s, h), false) => (Some(s), Some(h)),
        };
        let body = match read_body(req, self.max_body, cors).await {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        match request_from_body(&body, session, handle) {
            Ok(msg) => json(cors, &self.gw.core().handle_admin(Instant::now(), &msg)),
            Err(e) => api_error(cors, &e),
        }
    }
}

fn info_request() -> serde_json::Value {
    serde_json::Value::Object(reply::message("info", 0, Some(&made_up_transaction())))
}
