//! The `server_info` object of `info` (core and Admin API), with every key Janus 1.1.2 has.
//!
//! Values describe Ianus; `version`/`version_string` claim 1.1.2 so clients that gate
//! features on the Janus version behave as with the release whose API we implement.

use serde_json::{Map, Value};

use crate::config::GeneralConfig;
use crate::plugin::PluginInfo;

/// `version` of the Janus API we implement (1.1.2).
pub const JANUS_VERSION: u32 = 1102;
pub const JANUS_VERSION_STRING: &str = "1.1.2";
pub const SERVER_NAME: &str = "Ianus WebRTC Server";

/// A transport as listed in `info.transports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportInfo {
    pub package: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub version_string: &'static str,
    pub version: u32,
}

pub const HTTP_TRANSPORT: TransportInfo = TransportInfo {
    package: "janus.transport.http",
    name: "JANUS REST (HTTP/HTTPS) transport plugin",
    description:
        "This transport plugin adds REST (HTTP/HTTPS) support to the Janus API (Ianus: hyper).",
    version_string: "0.0.2",
    version: 2,
};

pub const WS_TRANSPORT: TransportInfo = TransportInfo {
    package: "janus.transport.websockets",
    name: "JANUS WebSockets transport plugin",
    description:
        "This transport plugin adds WebSockets support to the Janus API (Ianus: tokio-tungstenite).",
    version_string: "0.0.1",
    version: 1,
};

fn entry(name: &str, author: &str, description: &str, version_string: &str, version: u32) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(name));
    m.insert("author".into(), Value::from(author));
    m.insert("description".into(), Value::from(description));
    m.insert("version_string".into(), Value::from(version_string));
    m.insert("version".into(), Value::from(version));
    Value::Object(m)
}

/// Runtime values `info` reports that may change after start.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub api_secret: bool,
    pub token_auth: bool,
    pub accepting: bool,
    pub session_timeout: u64,
    pub min_nack_queue: u64,
}

/// Builds the reply; `extra` (from the application: `local-ip`, `ice-lite`, …) overrides
/// the placeholders of the media keys.
pub fn server_info(
    transaction: &str,
    general: &GeneralConfig,
    live: Live,
    transports: &[TransportInfo],
    plugins: &[PluginInfo],
    extra: &Map<String, Value>,
) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("janus", "server_info".into());
    put("transaction", transaction.into());
    put("name", SERVER_NAME.into());
    put("version", JANUS_VERSION.into());
    put("version_string", JANUS_VERSION_STRING.into());
    put("author", "Ianus contributors".into());
    put("commit-hash", "not-a-git-repo".into());
    put(
        "compile-time",
        concat!("ianus-signaling ", env!("CARGO_PKG_VERSION")).into(),
    );
    put("log-to-stdout", true.into());
    put("log-to-file", false.into());
    put("data_channels", true.into());
    put("accepting-new-sessions", live.accepting.into());
    put("session-timeout", live.session_timeout.into());
    put(
        "reclaim-session-timeout",
        general.reclaim_session_timeout.into(),
    );
    put("candidates-timeout", general.candidates_timeout.into());
    put("server-name", general.server_name.clone().into());
    put("local-ip", "0.0.0.0".into());
    put("ipv6", false.into());
    put("ice-lite", true.into());
    put("ice-tcp", false.into());
    put("ice-nomination", "aggressive".into());
    put("ice-keepalive-conncheck", false.into());
    put("full-trickle", false.into());
    put("mdns-enabled", false.into());
    put("min-nack-queue", live.min_nack_queue.into());
    put("nack-optimizations", false.into());
    put("twcc-period", 200.into());
    put("dtls-mtu", 1200.into());
    put("static-event-loops", 0.into());
    put("api_secret", live.api_secret.into());
    put("auth_token", live.token_auth.into());
    put("event_handlers", false.into());
    put("opaqueid_in_api", general.opaqueid_in_api.into());
    if !general.hide_dependencies {
        let mut deps = Map::new();
        deps.insert("tokio".into(), "1".into());
        deps.insert("hyper".into(), "1".into());
        deps.insert("tungstenite".into(), "0.30".into());
        deps.insert("serde_json".into(), "1".into());
        put("dependencies", Value::Object(deps));
    }
    for (k, v) in extra {
        put(k, v.clone());
    }
    let transports: Map<String, Value> = transports
        .iter()
        .map(|t| {
            (
                t.package.to_owned(),
                entry(
                    t.name,
                    "Meetecho s.r.l.",
                    t.description,
                    t.version_string,
                    t.version,
                ),
            )
        })
        .collect();
    put("transports", Value::Object(transports));
    put("events", Value::Object(Map::new()));
    put("loggers", Value::Object(Map::new()));
    let plugins: Map<String, Value> = plugins
        .iter()
        .map(|p| {
            (
                p.package.to_owned(),
                entry(p.name, p.author, p.description, p.version_string, p.version),
            )
        })
        .collect();
    put("plugins", Value::Object(plugins));
    Value::Object(m)
}
