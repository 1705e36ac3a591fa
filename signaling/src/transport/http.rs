//! HTTP REST transport with long poll (Janus `janus.transport.http`), plus the helpers the
//! Admin HTTP server shares.
//!
//! API errors are HTTP 200 with a JSON error body; real statuses only for unknown paths
//! and sessions (404), unauthorized long polls (403), `/info` with another method than GET
//! (400), the session/handle redirect (302) and oversized bodies (413).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::cors::Cors;
use super::json::parse_one;
use super::limits::{MAX_EVENTS_PER_POLL, MAX_POLLS_PER_SESSION};
use super::mailbox::{Mailbox, Mailboxes};
use crate::config::HttpConfig;
use crate::gateway::Gateway;
use crate::ids::SessionId;
use crate::proto::{reply, ApiError, ErrorCode};
use crate::session::{ConnId, Owner};

pub type Resp = hyper::Response<Full<Bytes>>;

/// Accepts connections and serves each with `handler` until `shutdown`.
pub async fn accept_loop<F, Fut>(listener: TcpListener, stop: watch::Receiver<bool>, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let stopped = super::stopped(stop);
    tokio::pin!(stopped);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("http accept: {e}");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("http connection: {e}");
            }
        });
    }
}

/// A response with CORS headers.
pub fn respond(cors: &Cors, status: StatusCode, content_type: Option<&str>, body: Bytes) -> Resp {
    let mut b = cors.apply(hyper::Response::builder().status(status));
    if let Some(ct) = content_type {
        b = b.header("Content-Type", ct);
    }
    b.body(Full::new(body))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

pub fn empty(cors: &Cors, status: StatusCode) -> Resp {
    respond(cors, status, None, Bytes::new())
}

pub fn json(cors: &Cors, v: &Value) -> Resp {
    respond(
        cors,
        StatusCode::OK,
        Some("application/json"),
        Bytes::from(v.to_string()),
    )
}

pub fn api_error(cors: &Cors, e: &ApiError) -> Resp {
    json(cors, &reply::error(0, None, e.code, &e.reason))
}

pub fn preflight(cors: &Cors, req: &Request<Incoming>) -> Resp {
    cors.preflight(
        hyper::Response::builder().status(StatusCode::OK),
        req.headers(),
    )
    .body(Full::new(Bytes::new()))
    .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// Where a path points below the base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Root,
    Info,
    Session(u64),
    Handle(u64, u64),
    NotFound,
}

/// Reads an ID like `g_ascii_strtoull`: leading digits, 0 if none.
fn path_id(s: &str) -> u64 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

pub fn route(path: &str, base: &str) -> Route {
    let base = base.trim_end_matches('/');
    let Some(rest) = path.strip_prefix(base) else {
        return Route::NotFound;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Route::NotFound;
    }
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => Route::Root,
        ["info"] => Route::Info,
        [s] => match path_id(s) {
            0 => Route::NotFound,
            s => Route::Session(s),
        },
        [s, h] => match (path_id(s), path_id(h)) {
            (0, _) | (_, 0) => Route::NotFound,
            (s, h) => Route::Handle(s, h),
        },
        _ => Route::NotFound,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `key` in a query string.
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

/// Reads the body up to `max` bytes. `Err` is the response to send instead.
pub async fn read_body(req: Request<Incoming>, max: usize, cors: &Cors) -> Result<Bytes, Resp> {
    match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(empty(cors, StatusCode::PAYLOAD_TOO_LARGE))
        }
        Err(_) => Err(empty(cors, StatusCode::BAD_REQUEST)),
    }
}

/// Parses a POST body into a request object, copying the path IDs into it.
pub fn request_from_body(
    body: &[u8],
    session: Option<u64>,
    handle: Option<u64>,
) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "Request payload missing",
        ));
    }
    let mut v = parse_one(body)?;
    let Value::Object(obj) = &mut v else {
        return Err(ApiError::new(
            ErrorCode::InvalidJsonObject,
            "JSON error: not an object",
        ));
    };
    merge_id(
        obj,
        "session_id",
        session,
        "Conflicting session ID (payload and path)",
    )?;
    merge_id(
        obj,
        "handle_id",
        handle,
        "Conflicting handle ID (payload and path)",
    )?;
    Ok(v)
}

fn merge_id(
    obj: &mut Map<String, Value>,
    key: &str,
    from_path: Option<u64>,
    conflict: &str,
) -> Result<(), ApiError> {
    let Some(id) = from_path else { return Ok(()) };
    match obj.get(key) {
        None | Some(Value::Null) => {
            obj.insert(key.to_owned(), Value::from(id));
            Ok(())
        }
        Some(v) if v.as_u64() == Some(id) => Ok(()),
        Some(_) => Err(ApiError::new(ErrorCode::InvalidRequestPath, conflict)),
    }
}

/// A transaction for requests the transport makes up (`GET /info`, long-poll keepalives).
pub fn made_up_transaction() -> String {
    format!("ianus-{:016x}", rand::random::<u64>())
}

/// The REST API server.
struct Api {
    gw: Arc<Gateway>,
    cfg: HttpConfig,
    cors: Cors,
    owner: Owner,
    mailboxes: Arc<Mailboxes>,
}

pub async fn run(
    listener: TcpListener,
    gw: Arc<Gateway>,
    cfg: HttpConfig,
    stop: watch::Receiver<bool>,
) {
    let mailboxes = Arc::new(Mailboxes::new(Arc::downgrade(gw.core())));
    let api = Arc::new(Api {
        cors: Cors {
            allow_origin: cfg.allow_origin.clone(),
            enforce: cfg.enforce_cors,
        },
        owner: Owner {
            conn: ConnId::next(),
            sink: mailboxes.clone(),
        },
        gw,
        cfg,
        mailboxes,
    });
    accept_loop(listener, stop, move |req| {
        let api = api.clone();
        async move { api.handle(req).await }
    })
    .await;
}

impl Api {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Resp {
        let cors = &self.cors;
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
            self.gw.core().stats.error(e.code);
            return api_error(cors, &e);
        }
        let get = method == Method::GET;
        match (route(req.uri().path(), &self.cfg.base_path), get) {
            (Route::NotFound, _) | (Route::Root, true) => empty(cors, StatusCode::NOT_FOUND),
            (Route::Info, true) => json(cors, &self.gw.core().server_info(&made_up_transaction())),
            (Route::Info, false) => empty(cors, StatusCode::BAD_REQUEST),
            (Route::Session(s), true) => {
                let query = req.uri().query().map(str::to_owned);
                self.long_poll(s, query.as_deref()).await
            }
            (Route::Handle(s, _), true) => {
                if !self.keepalive(s, None) {
                    return empty(cors, StatusCode::NOT_FOUND);
                }
                let location = format!("{}/{s}", self.cfg.base_path.trim_end_matches('/'));
                cors.apply(hyper::Response::builder().status(StatusCode::FOUND))
                    .header("Location", location)
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
            }
            (Route::Root, false) => self.post(req, None, None).await,
            (Route::Session(s), false) => self.post(req, Some(s), None).await,
            (Route::Handle(s, h), false) => self.post(req, Some(s), Some(h)).await,
        }
    }

    async fn post(
        self: &Arc<Self>,
        req: Request<Incoming>,
        session: Option<u64>,
        handle: Option<u64>,
    ) -> Resp {
        let cors = &self.cors;
        let body = match read_body(req, self.cfg.max_body_bytes, cors).await {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        let msg = match request_from_body(&body, session, handle) {
            Ok(v) => v,
            Err(e) => {
                self.gw.core().stats.error(e.code);
                return api_error(cors, &e);
            }
        };
        let core = self.gw.core().clone();
        let owner = self.owner.clone();
        // Plugins must not block, but one that does must not hold the reply forever.
        let work =
            tokio::task::spawn_blocking(move || core.handle_request(Instant::now(), &owner, &msg));
        match tokio::time::timeout(self.cfg.reply_timeout, work).await {
            Ok(Ok(r)) => {
                let resp = json(cors, &r.reply);
                r.send_after();
                resp
            }
            _ => empty(cors, StatusCode::OK),
        }
    }

    /// Injects a keepalive for `s` (as Janus does for every GET); false if no such session.
    fn keepalive(&self, s: u64, query: Option<&str>) -> bool {
        let mut m = reply::message("keepalive", s, Some(&made_up_transaction()));
        if let Some(secret) = query_param(query, "apisecret") {
            m.insert("apisecret".into(), secret.into());
        }
        if let Some(token) = query_param(query, "token") {
            m.insert("token".into(), token.into());
        }
        let r = self
            .gw
            .core()
            .handle_request(Instant::now(), &self.owner, &Value::Object(m));
        r.reply.get("janus").and_then(Value::as_str) == Some("ack")
    }

    async fn long_poll(&self, s: u64, query: Option<&str>) -> Resp {
        let cors = &self.cors;
        let core = self.gw.core();
        let secret = query_param(query, "apisecret");
        let token = query_param(query, "token");
        if !core
            .auth()
            .check_request(secret.as_deref(), token.as_deref())
        {
            return empty(cors, StatusCode::FORBIDDEN);
        }
        if !self.keepalive(s, query) {
            return empty(cors, StatusCode::NOT_FOUND);
        }
        let maxev = query_param(query, "maxev")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(1)
            .max(1);
        let maxev = usize::try_from(maxev)
            .unwrap_or(MAX_EVENTS_PER_POLL)
            .min(MAX_EVENTS_PER_POLL);
        let sid = SessionId(s);
        // Events go to the session's owner; polls on a session owned elsewhere only wait.
        let mailbox = if core.session_owner(sid) == Some(self.owner.conn) {
            self.mailboxes.get_or_create(sid)
        } else {
            Arc::new(Mailbox::default())
        };
        let events = if mailbox.waiting() >= MAX_POLLS_PER_SESSION {
            Vec::new()
        } else {
            mailbox.poll(maxev, self.cfg.long_poll_timeout).await
        };
        let events = if events.is_empty() {
            vec![reply::keepalive()]
        } else {
            events
        };
        if maxev == 1 {
            json(
                cors,
                &events.into_iter().next().unwrap_or_else(reply::keepalive),
            )
        } else {
            json(cors, &Value::Array(events))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes() {
        assert_eq!(route("/janus", "/janus"), Route::Root);
        assert_eq!(route("/janus/", "/janus"), Route::Root);
        assert_eq!(route("/janus/info", "/janus"), Route::Info);
        assert_eq!(route("/janus/12", "/janus"), Route::Session(12));
        assert_eq!(route("/janus/12/34", "/janus"), Route::Handle(12, 34));
        assert_eq!(route("/janus/12/34/5", "/janus"), Route::NotFound);
        assert_eq!(route("/janus/abc", "/janus"), Route::NotFound);
        assert_eq!(route("/janusx", "/janus"), Route::NotFound);
        assert_eq!(route("/other", "/janus"), Route::NotFound);
    }

    #[test]
    fn path_ids_are_merged_or_conflict() {
        let v = request_from_body(br#"{"janus":"keepalive"}"#, Some(5), None).unwrap();
        assert_eq!(v["session_id"], json!(5));
        let e = request_from_body(br#"{"session_id":6}"#, Some(5), None).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (457, "Conflicting session ID (payload and path)")
        );
        let e = request_from_body(br#"{"handle_id":6}"#, Some(5), Some(7)).unwrap_err();
        assert_eq!(e.reason, "Conflicting handle ID (payload and path)");
        assert_eq!(request_from_body(b"[1]", None, None).unwrap_err().code, 455);
        assert_eq!(request_from_body(b"{", None, None).unwrap_err().code, 454);
    }

    #[test]
    fn query_params() {
        assert_eq!(
            query_param(Some("rid=1&maxev=10&token=a%3Ab"), "token").as_deref(),
            Some("a:b")
        );
        assert_eq!(query_param(Some("rid=1"), "maxev"), None);
        assert_eq!(query_param(None, "maxev"), None);
    }
}
