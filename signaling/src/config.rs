//! Configuration sections the application embeds in its TOML file.
//!
//! Every default equals Janus's Debian sample configuration (`/etc/janus/janus.jcfg` and the
//! transport `.jcfg` files), so a missing file reproduces a stock Janus: same ports, same
//! timeouts, same `admin_secret`. Keys reuse the Janus names.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Deserialize;

/// `[general]`: Janus `janus.jcfg` `general`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneralConfig {
    /// `server-name` in `info`, `emitter` in event-handler events.
    pub server_name: String,
    /// Seconds without activity before a session expires (0 = never).
    pub session_timeout: u64,
    /// Seconds a session survives its transport going away (0 = destroy at once).
    pub reclaim_session_timeout: u64,
    /// Age limit (s) of queued trickle candidates; reported in `info`.
    pub candidates_timeout: u64,
    /// Shared secret every request must carry as `apisecret`.
    pub api_secret: Option<String>,
    /// Require a `token` (stored via the Admin API, or HMAC-signed with `token_auth_secret`).
    pub token_auth: bool,
    /// Switches token auth to HMAC-SHA1 signed tokens.
    pub token_auth_secret: Option<String>,
    /// Secret of the Admin API (`admin_secret`); the Debian sample sets `janusoverlord`.
    pub admin_secret: Option<String>,
    /// `false` makes `create` fail with 472 (draining).
    pub accept_new_sessions: bool,
    /// Cluster node slot carried by the low three decimal digits of every ID.
    pub node_slot: u16,
    /// Echo `opaque_id` in API events.
    pub opaqueid_in_api: bool,
    /// Omit `dependencies` from `info`.
    pub hide_dependencies: bool,
    /// Period of the session watchdog (Janus: 2 s). Not a TOML key; tests shorten it.
    #[serde(skip)]
    pub watchdog_period: Duration,
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            server_name: "MyJanusInstance".to_owned(),
            session_timeout: 60,
            reclaim_session_timeout: 0,
            candidates_timeout: 45,
            api_secret: None,
            token_auth: false,
            token_auth_secret: None,
            admin_secret: Some("janusoverlord".to_owned()),
            accept_new_sessions: true,
            node_slot: 0,
            opaqueid_in_api: false,
            hide_dependencies: false,
            watchdog_period: Duration::from_secs(2),
        }
    }
}

/// Default cap of a request body: SDPs with many m-lines stay far below it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// `[http]`: Janus `janus.transport.http.jcfg` (REST API + long poll).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub enabled: bool,
    pub ip: IpAddr,
    /// 0 = any free port (tests).
    pub port: u16,
    pub base_path: String,
    /// CORS `Access-Control-Allow-Origin`; `None` = `*`.
    pub allow_origin: Option<String>,
    /// Refuse (403) requests whose `Origin` differs from `allow_origin`.
    pub enforce_cors: bool,
    /// Larger request bodies are refused (HTTP 413).
    pub max_body_bytes: usize,
    /// Long poll answered with a keepalive after this long (Janus: 30 s). Not a TOML key.
    #[serde(skip)]
    pub long_poll_timeout: Duration,
    /// A POST whose reply takes longer is ended with an empty body (Janus: 10 s). Not a TOML key.
    #[serde(skip)]
    pub reply_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8088,
            base_path: "/janus".to_owned(),
            allow_origin: None,
            enforce_cors: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            long_poll_timeout: Duration::from_secs(30),
            reply_timeout: Duration::from_secs(10),
        }
    }
}

/// `[websockets]`: Janus `janus.transport.websockets.jcfg`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    pub enabled: bool,
    pub ip: IpAddr,
    pub port: u16,
    /// Larger (reassembled) messages close the connection.
    pub max_message_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            enabled: true,
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8188,
            max_message_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// `[admin]`: the Admin API listeners (HTTP also serves `GET /metrics`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    pub http_enabled: bool,
    pub http_ip: IpAddr,
    pub http_port: u16,
    pub base_path: String,
    pub ws_enabled: bool,
    pub ws_ip: IpAddr,
    pub ws_port: u16,
    /// TEST ONLY: offer Admin requests that degrade media on purpose (`test_loss`: drop a
    /// share of one handle's outgoing RTP). For the real-peer tests; never in production.
    pub test_hooks: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            http_enabled: true,
            http_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            http_port: 7088,
            base_path: "/admin".to_owned(),
            ws_enabled: true,
            ws_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ws_port: 7188,
            test_hooks: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct File {
        general: GeneralConfig,
        http: HttpConfig,
        websockets: WsConfig,
        admin: AdminConfig,
    }

    /// The Janus Debian sample values, written out as the application's TOML.
    const SAMPLE: &str = r#"
[general]
server_name = "MyJanusInstance"
session_timeout = 60
reclaim_session_timeout = 0
candidates_timeout = 45
token_auth = false
admin_secret = "janusoverlord"
accept_new_sessions = true
node_slot = 0
opaqueid_in_api = false
hide_dependencies = false

[http]
enabled = true
ip = "0.0.0.0"
port = 8088
base_path = "/janus"
enforce_cors = false
max_body_bytes = 1048576

[websockets]
enabled = true
ip = "0.0.0.0"
port = 8188
max_message_bytes = 1048576

[admin]
http_enabled = true
http_ip = "0.0.0.0"
http_port = 7088
base_path = "/admin"
ws_enabled = true
ws_ip = "0.0.0.0"
ws_port = 7188
"#;

    #[test]
    fn sample_and_empty_file_are_the_defaults() {
        assert_eq!(toml::from_str::<File>(SAMPLE).unwrap(), File::default());
        assert_eq!(toml::from_str::<File>("").unwrap(), File::default());
        let d = GeneralConfig::default();
        assert_eq!(d.admin_secret.as_deref(), Some("janusoverlord"));
        assert_eq!(d.watchdog_period, Duration::from_secs(2));
        assert_eq!(
            HttpConfig::default().long_poll_timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn unknown_keys_are_refused_and_port_zero_is_allowed() {
        assert!(toml::from_str::<File>("[general]\nsession_timeot = 1\n").is_err());
        assert!(
            toml::from_str::<File>("[http]\nlong_poll_timeout = 1\n").is_err(),
            "test-only knobs are not TOML keys"
        );
        let f: File = toml::from_str("[http]\nport = 0\n[general]\napi_secret = \"x\"\n").unwrap();
        assert_eq!(f.http.port, 0);
        assert_eq!(f.general.api_secret.as_deref(), Some("x"));
    }
}
