//! Room settings (plugins API §4.1) as `create` and the config file give them, and what a
//! room holds: participants, token ACL, groups, RTP forwarders and announcements.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{json, Map, Value};
use signaling::ids::HandleId;

use super::api::{self, Id, Ty};
use super::errors::AudioBridgeError;

/// Mixing rates Janus accepts (Opus's internal rates).
pub const SAMPLING_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// Janus's `DEFAULT_PREBUFFERING` and `MAX_PREBUFFERING` (packets).
pub const DEFAULT_PREBUFFERING: u64 = 6;
pub const MAX_PREBUFFERING: u64 = 50;
/// Most forwarding groups a room may declare (`JANUS_AUDIOBRIDGE_MAX_GROUPS`).
pub const MAX_GROUPS: usize = 5;
/// Opus bitrates Janus accepts (outside: libopus's automatic choice).
pub const BITRATES: std::ops::RangeInclusive<u64> = 500..=512_000;
/// Highest Opus FEC expected-loss percentage Janus accepts.
pub const MAX_EXPECTED_LOSS: u64 = 20;

/// `create` fields (Janus's `create_parameters`).
pub const CREATE_PARAMS: &[api::Param] = &[
    ("description", Ty::Str, false),
    ("secret", Ty::Str, false),
    ("pin", Ty::Str, false),
    ("is_private", Ty::Bool, false),
    ("allowed", Ty::Array, false),
    ("sampling_rate", Ty::PosInt, false),
    ("sampling", Ty::PosInt, false),
    ("spatial_audio", Ty::Bool, false),
    ("record", Ty::Bool, false),
    ("record_file", Ty::Str, false),
    ("record_dir", Ty::Str, false),
    ("mjrs", Ty::Bool, false),
    ("mjrs_dir", Ty::Str, false),
    ("allow_rtp_participants", Ty::Bool, false),
    ("permanent", Ty::Bool, false),
    ("audiolevel_ext", Ty::Bool, false),
    ("audiolevel_event", Ty::Bool, false),
    ("audio_active_packets", Ty::PosInt, false),
    ("audio_level_average", Ty::PosInt, false),
    ("default_prebuffering", Ty::PosInt, false),
    ("default_expectedloss", Ty::PosInt, false),
    ("default_bitrate", Ty::PosInt, false),
    ("groups", Ty::Array, false),
];

/// `edit` fields (Janus's `edit_parameters`).
pub const EDIT_PARAMS: &[api::Param] = &[
    ("secret", Ty::Str, false),
    ("new_description", Ty::Str, false),
    ("new_secret", Ty::Str, false),
    ("new_pin", Ty::Str, false),
    ("new_is_private", Ty::Bool, false),
    ("new_record_dir", Ty::Str, false),
    ("new_mjrs_dir", Ty::Str, false),
    ("permanent", Ty::Bool, false),
];

/// What a room is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSettings {
    pub description: String,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub sampling_rate: u32,
    pub spatial_audio: bool,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    /// Talk-detection window and threshold; 0 without `audiolevel_event` (as Janus).
    pub audio_active_packets: u64,
    pub audio_level_average: u64,
    pub default_prebuffering: u64,
    pub default_expectedloss: u64,
    pub default_bitrate: u64,
    pub record: bool,
    pub record_file: Option<String>,
    pub record_dir: Option<String>,
    pub mjrs: bool,
    pub mjrs_dir: Option<String>,
    pub allow_rtp: bool,
}

impl RoomSettings {
    /// Settings from a `create` body already checked against [`CREATE_PARAMS`]; out-of-range
    /// values fall back to defaults as in Janus, an unsupported rate is an error (499).
    pub fn from_create(body: &Value, id: &Id) -> Result<RoomSettings, AudioBridgeError> {
        let description = api::opt_str(body, "description")
            .filter(|d| !d.is_empty())
            .map_or_else(|| format!("Room {id}"), str::to_owned);
        let sampling = body
            .get("sampling_rate")
            .or_else(|| body.get("sampling"))
            .and_then(Value::as_u64)
            // Janus stores the rate in a 32-bit field.
            .map_or(16000, |v| v as u32);
        let audiolevel_event = api::is_true(body, "audiolevel_event");
        let positive_or = |name: &str, default: u64| {
            api::opt_u64(body, name)
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        let prebuffering = api::opt_u64(body, "default_prebuffering")
            .filter(|v| *v <= MAX_PREBUFFERING)
            .unwrap_or(DEFAULT_PREBUFFERING);
        let settings = RoomSettings {
            description,
            is_private: api::is_true(body, "is_private"),
            secret: api::opt_str(body, "secret").map(str::to_owned),
            pin: api::opt_str(body, "pin").map(str::to_owned),
            sampling_rate: sampling,
            spatial_audio: api::is_true(body, "spatial_audio"),
            audiolevel_ext: api::opt_bool(body, "audiolevel_ext").unwrap_or(true),
            audiolevel_event,
            audio_active_packets: if audiolevel_event {
                positive_or("audio_active_packets", 100)
            } else {
                0
            },
            audio_level_average: if audiolevel_event {
                positive_or("audio_level_average", 25)
            } else {
                0
            },
            default_prebuffering: prebuffering,
            default_expectedloss: api::opt_u64(body, "default_expectedloss")
                .filter(|v| *v <= MAX_EXPECTED_LOSS)
                .unwrap_or(0),
            default_bitrate: api::opt_u64(body, "default_bitrate")
                .filter(|v| BITRATES.contains(v))
                .unwrap_or(0),
            record: api::is_true(body, "record"),
            record_file: api::opt_str(body, "record_file").map(str::to_owned),
            record_dir: api::opt_str(body, "record_dir").map(str::to_owned),
            mjrs: api::is_true(body, "mjrs"),
            mjrs_dir: api::opt_str(body, "mjrs_dir").map(str::to_owned),
            allow_rtp: api::is_true(body, "allow_rtp_participants"),
        };
        if !SAMPLING_RATES.contains(&settings.sampling_rate) {
            return Err(AudioBridgeError::Unknown(format!(
                "Unsupported sampling rate {}",
                settings.sampling_rate
            )));
        }
        Ok(settings)
    }
}

/// An RTP forwarder of the room's mix (or of one group's mix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarder {
    /// Group index + 1 (0 = the whole room).
    pub group: usize,
    pub addr: SocketAddr,
    /// 0 = use the stream ID (as Janus reports it).
    pub ssrc: u32,
    pub codec: ForwardCodec,
    /// As given (Janus reports it unchecked); the low 7 bits go on the wire.
    pub pt: u32,
    /// SRTP (suite 32/80, base64 master key+salt) when requested.
    pub srtp: Option<(u8, String)>,
    /// Send silence while nobody talks.
    pub always_on: bool,
}

/// Codecs a forwarder (and a participant) may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardCodec {
    Opus,
    Pcmu,
    Pcma,
}

impl ForwardCodec {
    /// Janus's `janus_audiocodec_from_name` restricted to what AudioBridge accepts.
    pub fn from_name(name: &str) -> Option<ForwardCodec> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(ForwardCodec::Opus),
            "pcmu" => Some(ForwardCodec::Pcmu),
            "pcma" => Some(ForwardCodec::Pcma),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ForwardCodec::Opus => "opus",
            ForwardCodec::Pcmu => "pcmu",
            ForwardCodec::Pcma => "pcma",
        }
    }

    /// G.711's static payload types (RFC 3551 §6).
    pub fn static_pt(self) -> Option<u8> {
        match self {
            ForwardCodec::Opus => None,
            ForwardCodec::Pcmu => Some(0),
            ForwardCodec::Pcma => Some(8),
        }
    }
}

/// A file being played into the room (`play_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub filename: String,
    /// Group index + 1 (0 = everybody).
    pub group: usize,
    pub looping: bool,
    /// The mixer reported its first frame (`announcement-started` sent).
    pub started: bool,
}

/// A room and who is in it.
#[derive(Debug, Clone)]
pub struct Room {
    pub id: Id,
    pub settings: RoomSettings,
    /// The token ACL is enforced (`allowed` given at creation, or `allowed enable`).
    pub check_allowed: bool,
    /// Tokens, in insertion order.
    pub allowed: Vec<String>,
    /// Group names; a participant's group is its index + 1.
    pub groups: Vec<String>,
    /// Participant handles, in join order.
    pub participants: Vec<HandleId>,
    /// `mute_room`: only participants who joined with the room secret are mixed.
    pub muted: bool,
    pub forwarders: BTreeMap<u32, Forwarder>,
    pub announcements: BTreeMap<String, Announcement>,
}

impl Room {
    pub fn new(
        id: Id,
        settings: RoomSettings,
        allowed: Option<Vec<String>>,
        groups: Option<Vec<String>>,
    ) -> Room {
        let mut room = Room {
            id,
            settings,
            check_allowed: allowed.is_some(),
            allowed: Vec::new(),
            groups: Vec::new(),
            participants: Vec::new(),
            muted: false,
            forwarders: BTreeMap::new(),
            announcements: BTreeMap::new(),
        };
        for t in allowed.unwrap_or_default() {
            room.allow(t);
        }
        // Duplicates are skipped; an empty list disables groups (as Janus).
        for g in groups.unwrap_or_default() {
            if !room.groups.contains(&g) {
                room.groups.push(g);
            }
        }
        room
    }

    pub fn allow(&mut self, token: String) {
        if !self.allowed.contains(&token) {
            self.allowed.push(token);
        }
    }

    /// The group index (+1) of `name`, if the room has it.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g == name).map(|i| i + 1)
    }

    pub fn group_name(&self, index: usize) -> Option<&str> {
        index
            .checked_sub(1)
            .and_then(|i| self.groups.get(i))
            .map(String::as_str)
    }

    /// Applies a validated `edit` body: only the fields Janus lets change (an empty
    /// `new_pin` removes the PIN, an empty `new_secret` or `new_description` is ignored).
    pub fn apply_edit(&mut self, body: &Value) {
        let s = &mut self.settings;
        if let Some(d) = api::opt_str(body, "new_description").filter(|d| !d.is_empty()) {
            s.description = d.to_owned();
        }
        if let Some(v) = api::opt_bool(body, "new_is_private") {
            s.is_private = v;
        }
        if let Some(v) = api::opt_str(body, "new_secret").filter(|v| !v.is_empty()) {
            s.secret = Some(v.to_owned());
        }
        if let Some(v) = api::opt_str(body, "new_pin") {
            s.pin = (!v.is_empty()).then(|| v.to_owned());
        }
        if let Some(v) = api::opt_str(body, "new_record_dir") {
            s.record_dir = Some(v.to_owned());
        }
        if let Some(v) = api::opt_str(body, "new_mjrs_dir") {
            s.mjrs_dir = Some(v.to_owned());
        }
    }

    /// One entry of the `list` reply, with Janus's keys and order.
    pub fn list_entry(&self) -> Value {
        let s = &self.settings;
        let mut m = Map::new();
        m.insert("room".into(), self.id.to_json());
        m.insert("description".into(), s.description.clone().into());
        m.insert("sampling_rate".into(), s.sampling_rate.into());
        m.insert("spatial_audio".into(), s.spatial_audio.into());
        m.insert("pin_required".into(), s.pin.is_some().into());
        m.insert("record".into(), s.record.into());
        m.insert("muted".into(), self.muted.into());
        m.insert("num_participants".into(), self.participants.len().into());
        Value::Object(m)
    }

    /// One entry of `listforwarders`.
    pub fn forwarder_entry(&self, stream_id: u32, f: &Forwarder) -> Value {
        let mut v = json!({"stream_id": stream_id});
        if let Some(g) = self.group_name(f.group) {
            v["group"] = g.into();
        }
        v["ip"] = f.addr.ip().to_string().into();
        v["port"] = f.addr.port().into();
        v["ssrc"] = (if f.ssrc != 0 { f.ssrc } else { stream_id }).into();
        v["codec"] = f.codec.name().into();
        v["ptype"] = f.pt.into();
        if f.srtp.is_some() {
            v["srtp"] = true.into();
        }
        v["always_on"] = f.always_on.into();
        v
    }
}

/// A config-file room as the `create` body Janus would have parsed from its jcfg category.
pub fn config_room_body(r: &crate::config::AudioBridgeRoom) -> Value {
    let mut b = json!({
        "is_private": r.is_private,
        "sampling_rate": r.sampling_rate,
        "spatial_audio": r.spatial_audio,
        "audiolevel_ext": r.audiolevel_ext,
        "audiolevel_event": r.audiolevel_event,
        "audio_active_packets": r.audio_active_packets,
        "audio_level_average": r.audio_level_average,
        "default_prebuffering": r.default_prebuffering,
        "default_expectedloss": r.default_expectedloss,
        "default_bitrate": r.default_bitrate,
        "record": r.record,
        "mjrs": r.mjrs,
        "allow_rtp_participants": r.allow_rtp_participants,
    });
    let optional = [
        ("description", &r.description),
        ("secret", &r.secret),
        ("pin", &r.pin),
        ("record_file", &r.record_file),
        ("record_dir", &r.record_dir),
        ("mjrs_dir", &r.mjrs_dir),
    ];
    if let Some(obj) = b.as_object_mut() {
        for (k, v) in optional {
            if let Some(v) = v {
                obj.insert(k.into(), v.clone().into());
            }
        }
        if let Some(a) = &r.allowed {
            obj.insert("allowed".into(), json!(a));
        }
        if let Some(g) = &r.groups {
            obj.insert("groups".into(), json!(g));
        }
    }
    b
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create_defaults_are_janus_defaults() {
        let s = RoomSettings::from_create(&json!({}), &Id::Num(7)).unwrap();
        assert_eq!(s.description, "Room 7");
        assert_eq!(s.sampling_rate, 16000);
        assert!(s.audiolevel_ext && !s.audiolevel_event && !s.spatial_audio);
        assert_eq!((s.audio_active_packets, s.audio_level_average), (0, 0));
        assert_eq!(s.default_prebuffering, 6);
        assert_eq!((s.default_expectedloss, s.default_bitrate), (0, 0));
    }

    #[test]
    fn out_of_range_values_fall_back_and_bad_rates_fail() {
        let s = RoomSettings::from_create(
            &json!({"sampling": 48000, "audiolevel_event": true, "audio_active_packets": 0,
                    "default_prebuffering": 51, "default_expectedloss": 21,
                    "default_bitrate": 100, "description": ""}),
            &Id::Num(1),
        )
        .unwrap();
        assert_eq!(s.sampling_rate, 48000, "`sampling` is the old name");
        assert_eq!((s.audio_active_packets, s.audio_level_average), (100, 25));
        assert_eq!(s.default_prebuffering, 6);
        assert_eq!((s.default_expectedloss, s.default_bitrate), (0, 0));
        assert_eq!(s.description, "Room 1");
        let e =
            RoomSettings::from_create(&json!({"sampling_rate": 44100}), &Id::Num(1)).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (499, "Unsupported sampling rate 44100".into())
        );
    }

    #[test]
    fn edit_and_list_entry() {
        let mut r = Room::new(
            Id::Num(1234),
            RoomSettings::from_create(&json!({"pin": "p", "secret": "s"}), &Id::Num(1234)).unwrap(),
            None,
            Some(vec!["a".into(), "b".into(), "a".into()]),
        );
        assert_eq!(r.groups, ["a", "b"]);
        assert_eq!(r.group_index("b"), Some(2));
        assert_eq!(r.group_name(1), Some("a"));
        assert_eq!(r.group_name(0), None);
        assert_eq!(r.list_entry()["pin_required"], json!(true));
        r.apply_edit(&json!({"new_pin": "", "new_secret": "", "new_description": "x"}));
        assert_eq!(r.settings.pin, None, "an empty new_pin removes the PIN");
        assert_eq!(
            r.settings.secret.as_deref(),
            Some("s"),
            "an empty new_secret is ignored"
        );
        let keys: Vec<String> = r
            .list_entry()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "room",
                "description",
                "sampling_rate",
                "spatial_audio",
                "pin_required",
                "record",
                "muted",
                "num_participants"
            ]
        );
    }
}
