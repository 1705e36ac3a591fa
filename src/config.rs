//! The TOML configuration: Janus's sample defaults, overridable section by section.
//!
//! Every key has a default that runs (`cargo run --release` with no file at all reproduces
//! Janus's sample configuration: the same ports, the same sample rooms). The sample
//! `ianus.toml` at the repository root documents each key with its default; a test checks
//! that it parses to exactly [`Config::default`].

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use signaling::config::{AdminConfig, GeneralConfig, HttpConfig, WsConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Janus `janus.jcfg` `general`: sessions, secrets, tokens.
    pub general: GeneralConfig,
    /// Janus `janus.transport.http.jcfg`.
    pub http: HttpConfig,
    /// Janus `janus.transport.websockets.jcfg`.
    pub websockets: WsConfig,
    /// Admin API listeners (HTTP also serves `/metrics`).
    pub admin: AdminConfig,
    /// The media engine.
    pub media: MediaConfig,
    /// Logging.
    pub log: LogConfig,
    /// Plugins.
    pub plugins: PluginsConfig,
}

/// `[media]`: the one UDP socket and ICE/DTLS behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Address the media socket binds.
    pub ip: IpAddr,
    /// UDP port shared by every PeerConnection (one firewall rule). 0 = any free port, or
    /// the first free one of `rtp_port_range`.
    pub port: u16,
    /// With `port = 0`: ports to try, `"min-max"` (Janus `rtp_port_range`); empty = any.
    pub rtp_port_range: String,
    /// Also listen on IPv6 (same port, second socket), as Janus's `ipv6`.
    pub ipv6: bool,
    /// Addresses announced in candidates (Janus `nat_1_1_mapping`); empty = auto-detect.
    pub nat_1_1_mapping: Vec<IpAddr>,
    /// Seconds without media before a `media` event with `receiving: false` (Janus default 1).
    pub no_media_timer: u64,
    /// Seconds without ICE consent checks before the PeerConnection is dropped (RFC 7675).
    pub ice_consent_timeout: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            ip: IpAddr::from([0, 0, 0, 0]),
            port: 20000,
            rtp_port_range: String::new(),
            ipv6: false,
            nat_1_1_mapping: Vec::new(),
            no_media_timer: 1,
            ice_consent_timeout: 30,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `ianus=debug,media_core=trace`, …); `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
        }
    }
}

/// `[plugins]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Package names not to load (Janus `plugins.disable`), e.g. `["janus.plugin.echotest"]`.
    pub disable: Vec<String>,
}

impl MediaConfig {
    /// `rtp_port_range` as `(min, max)`; `None` when empty.
    pub fn port_range(&self) -> Result<Option<(u16, u16)>, String> {
        let r = self.rtp_port_range.trim();
        if r.is_empty() {
            return Ok(None);
        }
        let bad = || format!("[media] rtp_port_range must be \"min-max\", got {r:?}");
        let (lo, hi) = r.split_once('-').ok_or_else(bad)?;
        let (lo, hi): (u16, u16) = (
            lo.trim().parse().map_err(|_| bad())?,
            hi.trim().parse().map_err(|_| bad())?,
        );
        if lo == 0 || lo > hi {
            return Err(bad());
        }
        Ok(Some((lo, hi)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_file_parses_to_exactly_the_defaults() {
        let sample = include_str!("../ianus.toml");
        let parsed = Config::from_toml(sample).expect("ianus.toml parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(
            Config::from_toml("").expect("empty parses"),
            Config::default()
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Config::from_toml("[media]\nprot = 1\n").is_err());
        assert!(Config::from_toml("[nope]\n").is_err());
    }

    #[test]
    fn port_ranges_parse_or_are_refused() {
        let mut m = MediaConfig::default();
        assert_eq!(m.port_range(), Ok(None));
        m.rtp_port_range = "20000-20100".into();
        assert_eq!(m.port_range(), Ok(Some((20000, 20100))));
        for bad in ["20000", "b-c", "200-100", "0-10", "1-70000"] {
            m.rtp_port_range = bad.into();
            assert!(m.port_range().is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn sections_override_single_keys() {
        let c = Config::from_toml("[media]\nport = 0\n[http]\nport = 9999\n").expect("parses");
        assert_eq!(c.media.port, 0);
        assert_eq!(c.http.port, 9999);
        assert_eq!(c.websockets, WsConfig::default());
    }
}
