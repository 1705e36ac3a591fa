//! The TOML configuration: Janus's sample defaults, overridable section by section.
//!
//! Every key has a default that runs (`cargo run --release` with no file at all reproduces
//! Janus's sample configuration: the same ports, the same sample rooms). The sample
//! `ianus.toml` at the repository root documents each key with its default; a test checks
//! that it parses to exactly [`Config::default`].

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
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
    /// `[plugins.videoroom]`: Janus's `janus.plugin.videoroom.jcfg`.
    pub videoroom: VideoRoomConfig,
    /// `[plugins.audiobridge]`: Janus's `janus.plugin.audiobridge.jcfg`.
    pub audiobridge: AudioBridgeConfig,
}

/// `[plugins.audiobridge]`: the `general` settings and the static rooms (`room-<id>`
/// categories of Janus's jcfg). Defaults are Debian's sample: room 1234 at 16 kHz.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioBridgeConfig {
    /// If set, `create` (and `list` of private rooms) needs it (Janus `admin_key`).
    pub admin_key: Option<String>,
    /// With `admin_key`, `rtp_forward`/`stop_rtp_forward` need it too.
    pub lock_rtp_forward: bool,
    /// With `admin_key`, `play_file`/`is_playing`/`stop_file`/`stop_all_files` need it too.
    pub lock_play_file: bool,
    /// Room and participant IDs are strings instead of numbers.
    pub string_ids: bool,
    /// Suffix a room recording carries while it is being written (Janus `record_tmp_ext`).
    pub record_tmp_ext: Option<String>,
    /// Ports for plain-RTP participants, `"min-max"` (Janus `rtp_port_range`).
    pub rtp_port_range: String,
    /// Address plain-RTP participants are told to send to (and their sockets bind);
    /// unset = the machine's primary address, as Janus detects it.
    pub local_ip: Option<IpAddr>,
    /// Where rooms created or edited with `"permanent": true` are kept (TOML, `[[rooms]]`
    /// tables with the keys of `[[plugins.audiobridge.rooms]]`), loaded at start after the
    /// rooms below (a room there replaces one here with the same ID). Unset: `permanent`
    /// requests are answered `"permanent": false`, as Janus does when it cannot save.
    pub rooms_file: Option<String>,
    /// Rooms created at start (`[[plugins.audiobridge.rooms]]`); `rooms = []` for none.
    pub rooms: Vec<AudioBridgeRoom>,
}

impl Default for AudioBridgeConfig {
    fn default() -> Self {
        AudioBridgeConfig {
            admin_key: None,
            lock_rtp_forward: false,
            lock_play_file: false,
            string_ids: false,
            record_tmp_ext: None,
            rtp_port_range: "10000-60000".to_owned(),
            local_ip: None,
            rooms_file: None,
            rooms: vec![AudioBridgeRoom {
                room: RoomIdConfig::Num(1234),
                description: Some("Demo Room".to_owned()),
                secret: Some("adminpwd".to_owned()),
                ..AudioBridgeRoom::default()
            }],
        }
    }
}

/// One static AudioBridge room; keys and defaults are those of Janus's `create` (plugins
/// API §4.1). Also the format of `rooms_file`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioBridgeRoom {
    /// Required: the room ID (0 is refused).
    pub room: RoomIdConfig,
    /// Default `room-<id>`, as Janus names a jcfg room without one.
    pub description: Option<String>,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    /// Mixing rate: 8000, 12000, 16000, 24000 or 48000.
    pub sampling_rate: u32,
    /// Stereo mix with per-participant panning.
    pub spatial_audio: bool,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    pub audio_active_packets: u64,
    pub audio_level_average: u64,
    /// Packets buffered per participant before mixing (at most 50).
    pub default_prebuffering: u64,
    /// Opus FEC expected loss, percent (0..=20).
    pub default_expectedloss: u64,
    /// Opus bitrate for participants, bit/s (0 = libopus's choice).
    pub default_bitrate: u64,
    /// Record the mix to a WAV file.
    pub record: bool,
    pub record_file: Option<String>,
    pub record_dir: Option<String>,
    pub mjrs: bool,
    pub mjrs_dir: Option<String>,
    /// Allow plain-RTP participants (`join` with an `rtp` object).
    pub allow_rtp_participants: bool,
    /// Forwarding groups (at most 5); participants must then name one.
    pub groups: Option<Vec<String>>,
    /// Token ACL for joins (enabled when present).
    pub allowed: Option<Vec<String>>,
}

impl Default for AudioBridgeRoom {
    fn default() -> Self {
        AudioBridgeRoom {
            room: RoomIdConfig::Num(0),
            description: None,
            is_private: false,
            secret: None,
            pin: None,
            sampling_rate: 16000,
            spatial_audio: false,
            audiolevel_ext: true,
            audiolevel_event: false,
            audio_active_packets: 100,
            audio_level_average: 25,
            default_prebuffering: 6,
            default_expectedloss: 0,
            default_bitrate: 0,
            record: false,
            record_file: None,
            record_dir: None,
            mjrs: false,
            mjrs_dir: None,
            allow_rtp_participants: false,
            groups: None,
            allowed: None,
        }
    }
}

/// `[plugins.videoroom]`: the `general` settings and the static rooms (`room-<id>`
/// categories in Janus's jcfg). Defaults are Debian's sample: rooms 1234 and 5678.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoRoomConfig {
    /// If set, `create` (and `list` of private rooms) needs it (Janus `admin_key`).
    pub admin_key: Option<String>,
    /// With `admin_key`, `rtp_forward`/`stop_rtp_forward` need it too.
    pub lock_rtp_forward: bool,
    /// Room and participant IDs are strings instead of numbers.
    pub string_ids: bool,
    /// Rooms created at start (`[[plugins.videoroom.rooms]]`); `rooms = []` for none.
    pub rooms: Vec<VideoRoomRoom>,
}

impl Default for VideoRoomConfig {
    fn default() -> Self {
        VideoRoomConfig {
            admin_key: None,
            lock_rtp_forward: false,
            string_ids: false,
            rooms: vec![
                VideoRoomRoom {
                    room: RoomIdConfig::Num(1234),
                    description: Some("Demo Room".to_owned()),
                    secret: Some("adminpwd".to_owned()),
                    publishers: 6,
                    bitrate: 128_000,
                    fir_freq: 10,
                    ..VideoRoomRoom::default()
                },
                VideoRoomRoom {
                    room: RoomIdConfig::Num(5678),
                    description: Some("VP9-SVC Demo Room".to_owned()),
                    secret: Some("adminpwd".to_owned()),
                    publishers: 6,
                    bitrate: 512_000,
                    fir_freq: 10,
                    videocodec: "vp9".to_owned(),
                    video_svc: true,
                    ..VideoRoomRoom::default()
                },
            ],
        }
    }
}

/// A room ID in the config: a number, or a string with `string_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RoomIdConfig {
    Num(u64),
    Str(String),
}

/// One static room; keys and defaults are those of Janus's `create` (plugins API §2.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoRoomRoom {
    /// Required: the room ID (0 is refused).
    pub room: RoomIdConfig,
    /// Default `room-<id>`, as Janus names a jcfg room without one.
    pub description: Option<String>,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub require_pvtid: bool,
    pub signed_tokens: bool,
    /// Most concurrently active publishers.
    pub publishers: u64,
    /// REMB cap for publishers, bit/s (0 = none).
    pub bitrate: u64,
    pub bitrate_cap: bool,
    /// Seconds between keyframe requests (0 = off).
    pub fir_freq: u64,
    /// Allowed codecs in priority order (at most 5).
    pub audiocodec: String,
    pub videocodec: String,
    pub vp9_profile: Option<String>,
    pub h264_profile: Option<String>,
    pub opus_fec: bool,
    pub opus_dtx: bool,
    pub video_svc: bool,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    pub audio_active_packets: u64,
    pub audio_level_average: u64,
    pub videoorient_ext: bool,
    pub playoutdelay_ext: bool,
    pub transport_wide_cc_ext: bool,
    /// Accepted and reported; recording is not implemented yet.
    pub record: bool,
    pub rec_dir: Option<String>,
    pub lock_record: bool,
    pub notify_joining: bool,
    pub require_e2ee: bool,
    /// Accepted and reported; no dummy publisher is created yet.
    pub dummy_publisher: bool,
    /// Token ACL for joins (enabled when present).
    pub allowed: Option<Vec<String>>,
}

impl Default for VideoRoomRoom {
    fn default() -> Self {
        VideoRoomRoom {
            room: RoomIdConfig::Num(0),
            description: None,
            is_private: false,
            secret: None,
            pin: None,
            require_pvtid: false,
            signed_tokens: false,
            publishers: 3,
            bitrate: 0,
            bitrate_cap: false,
            fir_freq: 0,
            audiocodec: "opus".to_owned(),
            videocodec: "vp8".to_owned(),
            vp9_profile: None,
            h264_profile: None,
            opus_fec: true,
            opus_dtx: false,
            video_svc: false,
            audiolevel_ext: true,
            audiolevel_event: false,
            audio_active_packets: 100,
            audio_level_average: 25,
            videoorient_ext: true,
            playoutdelay_ext: true,
            transport_wide_cc_ext: true,
            record: false,
            rec_dir: None,
            lock_record: false,
            notify_joining: false,
            require_e2ee: false,
            dummy_publisher: false,
            allowed: None,
        }
    }
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
    fn videoroom_rooms_parse_and_default_to_the_samples() {
        let d = Config::default().plugins.videoroom;
        let ids: Vec<_> = d.rooms.iter().map(|r| r.room.clone()).collect();
        assert_eq!(ids, [RoomIdConfig::Num(1234), RoomIdConfig::Num(5678)]);
        let c = Config::from_toml(
            "[plugins.videoroom]\nstring_ids = true\n[[plugins.videoroom.rooms]]\nroom = \"abc\"\npin = \"1\"\n",
        )
        .expect("parses");
        let v = c.plugins.videoroom;
        assert!(v.string_ids);
        assert_eq!(v.rooms.len(), 1);
        assert_eq!(v.rooms[0].room, RoomIdConfig::Str("abc".into()));
        assert_eq!(v.rooms[0].publishers, 3);
        let none = Config::from_toml("[plugins.videoroom]\nrooms = []\n").expect("parses");
        assert!(none.plugins.videoroom.rooms.is_empty());
    }

    #[test]
    fn audiobridge_rooms_parse_and_default_to_the_sample() {
        let d = Config::default().plugins.audiobridge;
        assert_eq!(d.rooms.len(), 1);
        assert_eq!(d.rooms[0].room, RoomIdConfig::Num(1234));
        assert_eq!(d.rooms[0].sampling_rate, 16000);
        assert_eq!(d.rooms[0].secret.as_deref(), Some("adminpwd"));
        let c = Config::from_toml(
            "[plugins.audiobridge]\n[[plugins.audiobridge.rooms]]\nroom = 7\nspatial_audio = true\ngroups = [\"a\", \"b\"]\n",
        )
        .expect("parses");
        let r = &c.plugins.audiobridge.rooms[0];
        assert!(r.spatial_audio);
        assert_eq!(
            r.groups.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        assert_eq!(r.default_prebuffering, 6);
    }

    #[test]
    fn sections_override_single_keys() {
        let c = Config::from_toml("[media]\nport = 0\n[http]\nport = 9999\n").expect("parses");
        assert_eq!(c.media.port, 0);
        assert_eq!(c.http.port, 9999);
        assert_eq!(c.websockets, WsConfig::default());
    }
}
