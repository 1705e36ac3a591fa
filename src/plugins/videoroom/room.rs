//! Rooms: the settings of plugins API §2.1 (from `create` or the config file), `edit`, the
//! `list` summary, and what the forwarding engine needs of them.

use std::collections::HashMap;

use media_core::forward::RoomConfig;
use media_core::sdp::Codec;
use serde_json::{json, Map, Value};
use signaling::ids::HandleId;

use super::api::{self, Id, Ty};
use super::errors::VideoRoomError;

/// Janus's default `publishers` ("FIXME How should we choose a default?" in janus_videoroom.c).
pub const DEFAULT_PUBLISHERS: u64 = 3;
/// REMB caps below this are raised to it (Janus: "Don't go below 64k").
pub const MIN_BITRATE: u32 = 64_000;
/// Talk detection defaults (packets per window, dBov threshold).
pub const DEFAULT_AUDIO_ACTIVE_PACKETS: u32 = 100;
pub const DEFAULT_AUDIO_LEVEL_AVERAGE: u32 = 25;
/// At most this many codecs per room list; more are ignored, as Janus does.
const MAX_ROOM_CODECS: usize = 5;
/// NACK/RTX history the forwarding engine keeps per published stream (its minimum).
const NACK_QUEUE_MS: u32 = 1000;

/// Audio codec names a room accepts (`janus_audiocodec_from_name`).
const AUDIO_CODEC_NAMES: &[&str] = &[
    "opus",
    "multiopus",
    "red",
    "isac32",
    "isac16",
    "pcmu",
    "pcma",
    "g722",
    "l16-48",
    "l16",
];
/// Video codec names a room accepts (`janus_videocodec_from_name`).
const VIDEO_CODEC_NAMES: &[&str] = &["vp8", "vp9", "h264", "av1", "h265"];

/// The fields `create` accepts, with their types (Janus's `create_parameters`).
pub const CREATE_PARAMS: &[api::Param] = &[
    ("description", Ty::Str, false),
    ("is_private", Ty::Bool, false),
    ("allowed", Ty::Array, false),
    ("secret", Ty::Str, false),
    ("pin", Ty::Str, false),
    ("require_pvtid", Ty::Bool, false),
    ("signed_tokens", Ty::Bool, false),
    ("bitrate", Ty::PosInt, false),
    ("bitrate_cap", Ty::Bool, false),
    ("fir_freq", Ty::PosInt, false),
    ("publishers", Ty::PosInt, false),
    ("audiocodec", Ty::Str, false),
    ("videocodec", Ty::Str, false),
    ("vp9_profile", Ty::Str, false),
    ("h264_profile", Ty::Str, false),
    ("opus_fec", Ty::Bool, false),
    ("opus_dtx", Ty::Bool, false),
    ("video_svc", Ty::Bool, false),
    ("audiolevel_ext", Ty::Bool, false),
    ("audiolevel_event", Ty::Bool, false),
    ("audio_active_packets", Ty::PosInt, false),
    ("audio_level_average", Ty::PosInt, false),
    ("videoorient_ext", Ty::Bool, false),
    ("playoutdelay_ext", Ty::Bool, false),
    ("transport_wide_cc_ext", Ty::Bool, false),
    ("record", Ty::Bool, false),
    ("rec_dir", Ty::Str, false),
    ("lock_record", Ty::Bool, false),
    ("permanent", Ty::Bool, false),
    ("notify_joining", Ty::Bool, false),
    ("require_e2ee", Ty::Bool, false),
    ("dummy_publisher", Ty::Bool, false),
    ("dummy_streams", Ty::Array, false),
];

/// The fields `edit` accepts (Janus's `edit_parameters`).
pub const EDIT_PARAMS: &[api::Param] = &[
    ("secret", Ty::Str, false),
    ("new_description", Ty::Str, false),
    ("new_is_private", Ty::Bool, false),
    ("new_secret", Ty::Str, false),
    ("new_pin", Ty::Str, false),
    ("new_require_pvtid", Ty::Bool, false),
    ("new_bitrate", Ty::PosInt, false),
    ("new_fir_freq", Ty::PosInt, false),
    ("new_publishers", Ty::PosInt, false),
    ("new_lock_record", Ty::Bool, false),
    ("new_rec_dir", Ty::Str, false),
    ("permanent", Ty::Bool, false),
];

/// Everything configurable about a room (plugins API §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSettings {
    pub description: String,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub require_pvtid: bool,
    pub signed_tokens: bool,
    pub max_publishers: u64,
    pub bitrate: u32,
    pub bitrate_cap: bool,
    pub fir_freq: u32,
    /// Janus codec names in priority order (`opus`, `vp8`...).
    pub audio_codecs: Vec<String>,
    pub video_codecs: Vec<String>,
    pub vp9_profile: Option<String>,
    pub h264_profile: Option<String>,
    pub opus_fec: bool,
    pub opus_dtx: bool,
    pub video_svc: bool,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    /// 0 unless `audiolevel_event` (Janus leaves them unset then).
    pub audio_active_packets: u32,
    pub audio_level_average: u32,
    pub videoorient_ext: bool,
    pub playoutdelay_ext: bool,
    pub transport_wide_cc_ext: bool,
    /// Accepted and reported; recording itself is not implemented yet.
    pub record: bool,
    pub rec_dir: Option<String>,
    pub lock_record: bool,
    pub notify_joining: bool,
    pub require_e2ee: bool,
    /// Accepted and reported; no dummy publisher is created yet.
    pub dummy_publisher: bool,
}

/// Splits a codec list (`"vp8,h264"`) the way Janus does: at most [`MAX_ROOM_CODECS`], names
/// checked case-insensitively against `known`. `None` = an empty or unknown name.
fn codec_list(csv: &str, known: &[&str]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for name in csv.split(',').take(MAX_ROOM_CODECS) {
        let lower = name.to_ascii_lowercase();
        if !known.contains(&lower.as_str()) {
            return None;
        }
        out.push(lower);
    }
    Some(out)
}

fn opt_string(body: &Value, name: &str) -> Option<String> {
    api::opt_str(body, name).map(str::to_owned)
}

impl RoomSettings {
    /// Settings from a validated `create` body (or a config room turned into one). `id` names
    /// the default description.
    pub fn from_create(body: &Value, id: &Id) -> Result<RoomSettings, VideoRoomError> {
        let audio_codecs = match api::opt_str(body, "audiocodec") {
            None => vec!["opus".to_owned()],
            Some(csv) => codec_list(csv, AUDIO_CODEC_NAMES).ok_or_else(|| {
                VideoRoomError::InvalidElement(
                    "Invalid element (audiocodec can only be or contain opus, isac32, isac16, pcmu, pcma or g722)".into(),
                )
            })?,
        };
        let video_codecs = match api::opt_str(body, "videocodec") {
            None => vec!["vp8".to_owned()],
            Some(csv) => codec_list(csv, VIDEO_CODEC_NAMES).ok_or_else(|| {
                VideoRoomError::InvalidElement(
                    "Invalid element (videocodec can only be or contain vp8, vp9, av1, h264 or h265)"
                        .into(),
                )
            })?,
        };
        let has = |list: &[String], c: &str| list.iter().any(|x| x == c);
        let opus = has(&audio_codecs, "opus");
        let description = match api::opt_str(body, "description") {
            Some(d) if !d.is_empty() => d.to_owned(),
            _ => format!("Room {id}"),
        };
        let bitrate = api::opt_u32(body, "bitrate").unwrap_or(0);
        let audiolevel_event = api::is_true(body, "audiolevel_event");
        let positive_or = |name: &str, default: u32| match api::opt_u32(body, name) {
            Some(v) if v > 0 => v,
            _ => default,
        };
        Ok(RoomSettings {
            description,
            is_private: api::is_true(body, "is_private"),
            secret: opt_string(body, "secret"),
            pin: opt_string(body, "pin"),
            require_pvtid: api::is_true(body, "require_pvtid"),
            // Signed tokens need the core's HMAC token mode, which Ianus does not expose to
            // plugins yet: like Janus without it, the flag is ignored.
            signed_tokens: false,
            max_publishers: body
                .get("publishers")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_PUBLISHERS),
            bitrate: if bitrate > 0 && bitrate < MIN_BITRATE {
                MIN_BITRATE
            } else {
                bitrate
            },
            bitrate_cap: api::is_true(body, "bitrate_cap"),
            fir_freq: api::opt_u32(body, "fir_freq").unwrap_or(0),
            vp9_profile: opt_string(body, "vp9_profile").filter(|_| has(&video_codecs, "vp9")),
            h264_profile: opt_string(body, "h264_profile").filter(|_| has(&video_codecs, "h264")),
            opus_fec: api::opt_bool(body, "opus_fec").is_none_or(|v| v && opus),
            opus_dtx: api::opt_bool(body, "opus_dtx").is_some_and(|v| v && opus),
            video_svc: api::is_true(body, "video_svc") && video_codecs == ["vp9"],
            audiolevel_ext: api::opt_bool(body, "audiolevel_ext").unwrap_or(true),
            audiolevel_event,
            audio_active_packets: if audiolevel_event {
                positive_or("audio_active_packets", DEFAULT_AUDIO_ACTIVE_PACKETS)
            } else {
                0
            },
            audio_level_average: if audiolevel_event {
                positive_or("audio_level_average", DEFAULT_AUDIO_LEVEL_AVERAGE)
            } else {
                0
            },
            videoorient_ext: api::opt_bool(body, "videoorient_ext").unwrap_or(true),
            playoutdelay_ext: api::opt_bool(body, "playoutdelay_ext").unwrap_or(true),
            transport_wide_cc_ext: api::opt_bool(body, "transport_wide_cc_ext").unwrap_or(true),
            record: api::is_true(body, "record"),
            rec_dir: opt_string(body, "rec_dir"),
            lock_record: api::is_true(body, "lock_record"),
            notify_joining: api::is_true(body, "notify_joining"),
            require_e2ee: api::is_true(body, "require_e2ee"),
            dummy_publisher: api::is_true(body, "dummy_publisher"),
            audio_codecs,
            video_codecs,
        })
    }

    /// The room's codecs we can negotiate, in priority order (names Ianus has no codec for,
    /// such as `isac32`, are skipped).
    pub fn audio_codecs(&self) -> Vec<Codec> {
        self.audio_codecs
            .iter()
            .filter_map(|n| Codec::from_janus_name(n))
            .collect()
    }

    pub fn video_codecs(&self) -> Vec<Codec> {
        self.video_codecs
            .iter()
            .filter_map(|n| Codec::from_janus_name(n))
            .collect()
    }

    pub fn allows_audio(&self, name: &str) -> bool {
        self.audio_codecs
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    pub fn allows_video(&self, name: &str) -> bool {
        self.video_codecs
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// What the forwarding engine needs (talk detection only with `audiolevel_event`).
    pub fn router_config(&self) -> RoomConfig {
        RoomConfig {
            bitrate: self.bitrate,
            fir_freq: self.fir_freq,
            nack_queue_ms: NACK_QUEUE_MS,
            audio_active_packets: if self.audiolevel_event && self.audiolevel_ext {
                self.audio_active_packets
            } else {
                0
            },
            audio_level_average: self.audio_level_average.min(127) as u8,
        }
    }
}

/// A room and who is in it.
#[derive(Debug, Clone)]
pub struct Room {
    pub id: Id,
    pub settings: RoomSettings,
    /// The `allowed` token ACL is enforced (it was given at creation or `allowed enable`).
    pub check_allowed: bool,
    /// Tokens, in insertion order.
    pub allowed: Vec<String>,
    /// Publisher handles (publishing or not), in join order.
    pub participants: Vec<HandleId>,
    /// `private_id` → owner handle (for `require_pvtid`).
    pub private_ids: HashMap<u32, HandleId>,
}

impl Room {
    pub fn new(id: Id, settings: RoomSettings, allowed: Option<Vec<String>>) -> Room {
        let mut room = Room {
            id,
            settings,
            check_allowed: allowed.is_some(),
            allowed: Vec::new(),
            participants: Vec::new(),
            private_ids: HashMap::new(),
        };
        for t in allowed.unwrap_or_default() {
            room.allow(t);
        }
        room
    }

    pub fn allow(&mut self, token: String) {
        if !self.allowed.contains(&token) {
            self.allowed.push(token);
        }
    }

    /// Applies a validated `edit` body: only the fields Janus lets change.
    pub fn apply_edit(&mut self, body: &Value) {
        let s = &mut self.settings;
        if let Some(d) = api::opt_str(body, "new_description").filter(|d| !d.is_empty()) {
            s.description = d.to_owned();
        }
        if let Some(v) = api::opt_bool(body, "new_is_private") {
            s.is_private = v;
        }
        if let Some(v) = api::opt_bool(body, "new_require_pvtid") {
            s.require_pvtid = v;
        }
        if let Some(v) = body.get("new_publishers").and_then(Value::as_u64) {
            s.max_publishers = v;
        }
        if let Some(v) = api::opt_u32(body, "new_bitrate") {
            s.bitrate = if v > 0 && v < MIN_BITRATE {
                MIN_BITRATE
            } else {
                v
            };
        }
        if let Some(v) = api::opt_u32(body, "new_fir_freq") {
            s.fir_freq = v;
        }
        if let Some(v) = api::opt_str(body, "new_secret").filter(|v| !v.is_empty()) {
            s.secret = Some(v.to_owned());
        }
        if let Some(v) = api::opt_str(body, "new_pin").filter(|v| !v.is_empty()) {
            s.pin = Some(v.to_owned());
        }
        if let Some(v) = api::opt_bool(body, "new_lock_record") {
            s.lock_record = v;
        }
        if let Some(v) = api::opt_str(body, "new_rec_dir") {
            s.rec_dir = Some(v.to_owned());
        }
    }

    /// One entry of the `list` reply, with Janus's keys (including `require_e2ee`, which the
    /// 1.1.2 code emits although its doc omits it).
    pub fn list_entry(&self) -> Value {
        let s = &self.settings;
        let mut m = Map::new();
        m.insert("room".into(), self.id.to_json());
        m.insert("description".into(), s.description.clone().into());
        m.insert("pin_required".into(), s.pin.is_some().into());
        m.insert("is_private".into(), s.is_private.into());
        m.insert("max_publishers".into(), s.max_publishers.into());
        m.insert("bitrate".into(), s.bitrate.into());
        if s.bitrate_cap {
            m.insert("bitrate_cap".into(), true.into());
        }
        m.insert("fir_freq".into(), s.fir_freq.into());
        m.insert("require_pvtid".into(), s.require_pvtid.into());
        m.insert("require_e2ee".into(), s.require_e2ee.into());
        m.insert("dummy_publisher".into(), s.dummy_publisher.into());
        m.insert("notify_joining".into(), s.notify_joining.into());
        m.insert("audiocodec".into(), s.audio_codecs.join(",").into());
        m.insert("videocodec".into(), s.video_codecs.join(",").into());
        if s.opus_fec {
            m.insert("opus_fec".into(), true.into());
        }
        if s.opus_dtx {
            m.insert("opus_dtx".into(), true.into());
        }
        if s.video_svc {
            m.insert("video_svc".into(), true.into());
        }
        m.insert("record".into(), s.record.into());
        if let Some(d) = &s.rec_dir {
            m.insert("rec_dir".into(), d.clone().into());
        }
        m.insert("lock_record".into(), s.lock_record.into());
        m.insert("num_participants".into(), self.participants.len().into());
        m.insert("audiolevel_ext".into(), s.audiolevel_ext.into());
        m.insert("audiolevel_event".into(), s.audiolevel_event.into());
        if s.audiolevel_event {
            m.insert("audio_active_packets".into(), s.audio_active_packets.into());
            m.insert("audio_level_average".into(), s.audio_level_average.into());
        }
        m.insert("videoorient_ext".into(), s.videoorient_ext.into());
        m.insert("playoutdelay_ext".into(), s.playoutdelay_ext.into());
        m.insert(
            "transport_wide_cc_ext".into(),
            s.transport_wide_cc_ext.into(),
        );
        Value::Object(m)
    }
}

/// A config-file room as the `create` body Janus would have parsed from its jcfg category.
pub fn config_room_body(r: &crate::config::VideoRoomRoom) -> Value {
    let mut b = json!({
        "is_private": r.is_private,
        "require_pvtid": r.require_pvtid,
        "signed_tokens": r.signed_tokens,
        "publishers": r.publishers,
        "bitrate": r.bitrate,
        "bitrate_cap": r.bitrate_cap,
        "fir_freq": r.fir_freq,
        "audiocodec": r.audiocodec,
        "videocodec": r.videocodec,
        "opus_fec": r.opus_fec,
        "opus_dtx": r.opus_dtx,
        "video_svc": r.video_svc,
        "audiolevel_ext": r.audiolevel_ext,
        "audiolevel_event": r.audiolevel_event,
        "audio_active_packets": r.audio_active_packets,
        "audio_level_average": r.audio_level_average,
        "videoorient_ext": r.videoorient_ext,
        "playoutdelay_ext": r.playoutdelay_ext,
        "transport_wide_cc_ext": r.transport_wide_cc_ext,
        "record": r.record,
        "lock_record": r.lock_record,
        "notify_joining": r.notify_joining,
        "require_e2ee": r.require_e2ee,
        "dummy_publisher": r.dummy_publisher,
    });
    let optional = [
        ("description", &r.description),
        ("secret", &r.secret),
        ("pin", &r.pin),
        ("vp9_profile", &r.vp9_profile),
        ("h264_profile", &r.h264_profile),
        ("rec_dir", &r.rec_dir),
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
    }
    b
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create_defaults_are_janus_defaults() {
        let s = RoomSettings::from_create(&json!({}), &Id::Num(7)).expect("defaults");
        assert_eq!(s.description, "Room 7");
        assert_eq!(s.max_publishers, 3);
        assert_eq!(s.audio_codecs, ["opus"]);
        assert_eq!(s.video_codecs, ["vp8"]);
        assert!(s.opus_fec && !s.opus_dtx);
        assert!(s.audiolevel_ext && !s.audiolevel_event);
        assert_eq!((s.audio_active_packets, s.audio_level_average), (0, 0));
        assert!(s.videoorient_ext && s.playoutdelay_ext && s.transport_wide_cc_ext);
    }

    #[test]
    fn create_applies_janus_rules() {
        let s = RoomSettings::from_create(
            &json!({"bitrate": 1000, "audiocodec": "PCMU,opus", "videocodec": "vp9",
                    "video_svc": true, "vp9_profile": "2", "h264_profile": "42e01f",
                    "audiolevel_event": true, "audio_active_packets": 0}),
            &Id::Num(1),
        )
        .expect("valid");
        assert_eq!(s.bitrate, MIN_BITRATE);
        assert_eq!(s.audio_codecs, ["pcmu", "opus"]);
        assert!(s.video_svc);
        assert_eq!(s.vp9_profile.as_deref(), Some("2"));
        assert_eq!(s.h264_profile, None, "h264 is not in the room");
        assert_eq!((s.audio_active_packets, s.audio_level_average), (100, 25));
        let e = RoomSettings::from_create(&json!({"videocodec": "vp8,,h264"}), &Id::Num(1))
            .unwrap_err();
        assert_eq!(e.code(), 430);
        assert_eq!(
            e.to_string(),
            "Invalid element (videocodec can only be or contain vp8, vp9, av1, h264 or h265)"
        );
        let e =
            RoomSettings::from_create(&json!({"audiocodec": "speex"}), &Id::Num(1)).unwrap_err();
        assert!(e.to_string().starts_with("Invalid element (audiocodec"));
        // Extra codecs past five are ignored, unchecked.
        let s = RoomSettings::from_create(
            &json!({"videocodec": "vp8,vp9,h264,av1,h265,bogus"}),
            &Id::Num(1),
        )
        .expect("sixth ignored");
        assert_eq!(s.video_codecs.len(), 5);
        let s = RoomSettings::from_create(
            &json!({"audiocodec": "pcma", "opus_fec": true}),
            &Id::Num(1),
        )
        .expect("valid");
        assert!(!s.opus_fec, "FEC needs opus in the room");
    }

    #[test]
    fn edit_changes_only_editable_fields() {
        let mut r = Room::new(
            Id::Num(1),
            RoomSettings::from_create(&json!({"secret": "a"}), &Id::Num(1)).expect("valid"),
            None,
        );
        r.apply_edit(
            &json!({"new_description": "x", "new_secret": "", "new_bitrate": 10,
                             "new_publishers": 9, "new_pin": "p"}),
        );
        assert_eq!(r.settings.description, "x");
        assert_eq!(
            r.settings.secret.as_deref(),
            Some("a"),
            "an empty new_secret is ignored"
        );
        assert_eq!(r.settings.bitrate, MIN_BITRATE);
        assert_eq!(r.settings.max_publishers, 9);
        assert_eq!(r.list_entry()["pin_required"], json!(true));
    }

    #[test]
    fn list_entry_has_janus_keys() {
        let r = Room::new(
            Id::Num(1234),
            RoomSettings::from_create(&json!({"description": "Demo Room"}), &Id::Num(1234))
                .expect("valid"),
            None,
        );
        let entry = r.list_entry();
        let keys: Vec<&str> = entry
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "room",
                "description",
                "pin_required",
                "is_private",
                "max_publishers",
                "bitrate",
                "fir_freq",
                "require_pvtid",
                "require_e2ee",
                "dummy_publisher",
                "notify_joining",
                "audiocodec",
                "videocodec",
                "opus_fec",
                "record",
                "lock_record",
                "num_participants",
                "audiolevel_ext",
                "audiolevel_event",
                "videoorient_ext",
                "playoutdelay_ext",
                "transport_wide_cc_ext"
            ]
        );
    }
}
