//! `permanent` rooms: Janus rewrites its jcfg; Ianus's TOML configuration stays read-only and
//! permanent rooms go to a separate `rooms_file` (`[[rooms]]` tables with the keys of
//! `[[plugins.audiobridge.rooms]]`), loaded at start.
//!
//! Behind [`RoomStore`] so the state machine's tests use an in-memory fake.

use std::path::PathBuf;

use serde_json::Value;

use super::room::Room;
use crate::config::{AudioBridgeRoom, RoomIdConfig};

use super::api::Id;

/// Where permanent rooms live.
pub trait RoomStore: Send + Sync {
    /// The stored rooms (none when there is no file yet or it cannot be read).
    fn load(&self) -> Vec<AudioBridgeRoom>;
    /// Replaces the stored rooms; `false` when they could not be written (Janus then answers
    /// `"permanent": false`).
    fn save(&self, rooms: &[AudioBridgeRoom]) -> bool;
}

/// A TOML file, written whole through a temporary file and a rename (never half-written).
pub struct TomlRoomStore {
    path: PathBuf,
}

impl TomlRoomStore {
    pub fn new(path: impl Into<PathBuf>) -> TomlRoomStore {
        TomlRoomStore { path: path.into() }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Stored {
    rooms: Vec<AudioBridgeRoom>,
}

/// `null`s removed (TOML has no null; absent means default).
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// The TOML text of `rooms`.
pub fn to_toml(rooms: &[AudioBridgeRoom]) -> Option<String> {
    let list = serde_json::to_value(rooms).ok()?;
    let doc = strip_nulls(serde_json::json!({ "rooms": list }));
    toml::to_string(&doc).ok()
}

impl RoomStore for TomlRoomStore {
    fn load(&self) -> Vec<AudioBridgeRoom> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        match toml::from_str::<Stored>(&text) {
            Ok(s) => s.rooms,
            Err(e) => {
                tracing::warn!("audiobridge: {} not loaded: {e}", self.path.display());
                Vec::new()
            }
        }
    }

    fn save(&self, rooms: &[AudioBridgeRoom]) -> bool {
        let Some(text) = to_toml(rooms) else {
            return false;
        };
        let tmp = self.path.with_extension("toml.tmp");
        let ok = std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &self.path).is_ok();
        if !ok {
            tracing::warn!("audiobridge: could not write {}", self.path.display());
        }
        ok
    }
}

/// A room as a config entry (what `create` would need to make it again).
pub fn room_config(room: &Room) -> AudioBridgeRoom {
    let s = &room.settings;
    AudioBridgeRoom {
        room: match &room.id {
            Id::Num(n) => RoomIdConfig::Num(*n),
            Id::Str(s) => RoomIdConfig::Str(s.clone()),
        },
        description: Some(s.description.clone()),
        is_private: s.is_private,
        secret: s.secret.clone(),
        pin: s.pin.clone(),
        sampling_rate: s.sampling_rate,
        spatial_audio: s.spatial_audio,
        audiolevel_ext: s.audiolevel_ext,
        audiolevel_event: s.audiolevel_event,
        audio_active_packets: if s.audiolevel_event {
            s.audio_active_packets
        } else {
            100
        },
        audio_level_average: if s.audiolevel_event {
            s.audio_level_average
        } else {
            25
        },
        default_prebuffering: s.default_prebuffering,
        default_expectedloss: s.default_expectedloss,
        default_bitrate: s.default_bitrate,
        record: s.record,
        record_file: s.record_file.clone(),
        record_dir: s.record_dir.clone(),
        mjrs: s.mjrs,
        mjrs_dir: s.mjrs_dir.clone(),
        allow_rtp_participants: s.allow_rtp,
        groups: (!room.groups.is_empty()).then(|| room.groups.clone()),
        allowed: room.check_allowed.then(|| room.allowed.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::audiobridge::room::RoomSettings;
    use serde_json::json;

    #[test]
    fn rooms_round_trip_through_the_toml_file() {
        let id = Id::Num(4242);
        let settings = RoomSettings::from_create(
            &json!({"description": "kept", "pin": "p", "sampling_rate": 48000,
                    "audiolevel_event": true, "audio_active_packets": 10}),
            &id,
        )
        .unwrap();
        let room = Room::new(id, settings, Some(vec!["t".into()]), Some(vec!["g".into()]));
        let cfg = room_config(&room);
        let path = std::env::temp_dir().join(format!(
            "ianus-ab-store-{}-{:x}.toml",
            std::process::id(),
            rand::random::<u32>()
        ));
        let store = TomlRoomStore::new(&path);
        assert!(store.load().is_empty(), "no file yet");
        assert!(store.save(std::slice::from_ref(&cfg)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[[rooms]]"), "{text}");
        assert!(!text.contains("secret"), "unset keys are left out: {text}");
        assert_eq!(store.load(), [cfg]);
        assert!(store.save(&[]));
        assert!(store.load().is_empty());
        let _ = std::fs::remove_file(&path);
        assert!(
            !TomlRoomStore::new("/nonexistent/dir/rooms.toml").save(&[]),
            "an unwritable path reports failure"
        );
    }
}
