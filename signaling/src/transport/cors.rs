//! CORS as Janus's HTTP transport does it: every response carries the allow-origin and
//! max-age headers; a preflight echoes the requested method and headers.

use hyper::header::HeaderMap;
use hyper::http::response::Builder;

/// The configured policy.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_origin: Option<String>,
    pub enforce: bool,
}

impl Cors {
    /// With `enforce_cors`, a request whose `Origin` differs from `allow_origin` gets 403.
    pub fn refuses(&self, headers: &HeaderMap) -> bool {
        match (&self.allow_origin, self.enforce, headers.get("origin")) {
            (Some(allowed), true, Some(origin)) => origin.as_bytes() != allowed.as_bytes(),
            _ => false,
        }
    }

    /// Adds the headers every response carries.
    pub fn apply(&self, mut b: Builder) -> Builder {
        match &self.allow_origin {
            Some(o) => {
                b = b
                    .header("Access-Control-Allow-Origin", o.as_str())
                    .header("Access-Control-Allow-Credentials", "true")
                    .header("Vary", "Origin");
            }
            None => b = b.header("Access-Control-Allow-Origin", "*"),
        }
        b.header("Access-Control-Max-Age", "86400")
    }

    /// Adds the preflight echo of `Access-Control-Request-Method`/`-Headers`.
    pub fn preflight(&self, b: Builder, req: &HeaderMap) -> Builder {
        let mut b = self.apply(b);
        if let Some(m) = req.get("access-control-request-method") {
            b = b.header("Access-Control-Allow-Methods", m.clone());
        }
        if let Some(h) = req.get("access-control-request-headers") {
            b = b.header("Access-Control-Allow-Headers", h.clone());
        }
        b
    }
}
