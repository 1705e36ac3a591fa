//! AudioBridge errors: one typed enum, mapped to Janus's numeric codes and texts in one place
//! (`janus_audiobridge.c` `JANUS_AUDIOBRIDGE_ERROR_*`, plugins API §4.3 "Error codes").
//!
//! Texts are Janus's, word for word (typos included), because clients and the conformance
//! test compare them.

use serde_json::{json, Value};

/// Why an AudioBridge request failed. [`AudioBridgeError::code`] is the only place codes live.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioBridgeError {
    /// 480: no body.
    #[error("No message??")]
    NoMessage,
    /// 481: the body is not a JSON object.
    #[error("JSON error: not an object")]
    NotAnObject,
    /// 482: unknown `request`.
    #[error("Unknown request '{0}'")]
    UnknownRequest(String),
    /// 483 `Missing mandatory element (<name>)`.
    #[error("Missing mandatory element ({0})")]
    Missing(String),
    /// 484 `Invalid element type (<name> should be <type>)`.
    #[error("Invalid element type ({name} should be {expected})")]
    InvalidType {
        name: String,
        expected: &'static str,
    },
    /// 484 with a free text (bad values, unsupported codecs, SRTP suites...).
    #[error("{0}")]
    InvalidElement(String),
    /// 485 with Janus's text (`No such room (<id>)`; `rtp_forward` omits the `)`).
    #[error("{0}")]
    NoSuchRoom(String),
    /// 486.
    #[error("Room {0} already exists")]
    RoomExists(String),
    /// 487 (`Can't configure (not in a room)`, ...).
    #[error("{0}")]
    NotJoined(String),
    /// 488: Janus fails this way when libopus cannot create a codec; Ianus's engine creates
    /// its codecs in the mixer, so no request reports it (kept for the table).
    #[allow(dead_code)]
    #[error("{0}")]
    Libopus(String),
    /// 489 (`Unauthorized (wrong pin)`, `... (not in the allowed list)`, plain RTP refused).
    #[error("{0}")]
    Unauthorized(String),
    /// 490 (`User ID <id> already exists`, `File ID exists (<id>)`).
    #[error("{0}")]
    IdExists(String),
    /// 491.
    #[error("{0}")]
    AlreadyJoined(String),
    /// 492.
    #[error("No such user {user} in room {room}")]
    NoSuchUser { user: String, room: String },
    /// 493.
    #[error("{0}")]
    InvalidSdp(String),
    /// 494 (`No such group (<name>)`, or just `No such group` for `rtp_forward`).
    #[error("{0}")]
    NoSuchGroup(String),
    /// 499.
    #[error("{0}")]
    Unknown(String),
}

impl AudioBridgeError {
    /// Janus's numeric code (`JANUS_AUDIOBRIDGE_ERROR_*`).
    pub fn code(&self) -> u16 {
        use AudioBridgeError::*;
        match self {
            NoMessage => 480,
            NotAnObject => 481,
            UnknownRequest(_) => 482,
            Missing(_) => 483,
            InvalidType { .. } | InvalidElement(_) => 484,
            NoSuchRoom(_) => 485,
            RoomExists(_) => 486,
            NotJoined(_) => 487,
            Libopus(_) => 488,
            Unauthorized(_) => 489,
            IdExists(_) => 490,
            AlreadyJoined(_) => 491,
            NoSuchUser { .. } => 492,
            InvalidSdp(_) => 493,
            NoSuchGroup(_) => 494,
            Unknown(_) => 499,
        }
    }

    /// `No such room (<id>)`.
    pub fn no_such_room(id: impl std::fmt::Display) -> Self {
        AudioBridgeError::NoSuchRoom(format!("No such room ({id})"))
    }

    /// `Unauthorized (wrong <name>)` for secrets, pins and admin keys (plugins API §0.3).
    pub fn wrong(name: &str) -> Self {
        AudioBridgeError::Unauthorized(format!("Unauthorized (wrong {name})"))
    }

    /// The `plugindata.data` Janus sends for an error, sync or async.
    pub fn to_json(&self) -> Value {
        json!({"audiobridge": "event", "error_code": self.code(), "error": self.to_string()})
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_janus_code_and_text() {
        use AudioBridgeError as E;
        let cases: Vec<(E, u16, &str)> = vec![
            (E::NoMessage, 480, "No message??"),
            (E::NotAnObject, 481, "JSON error: not an object"),
            (E::UnknownRequest("x".into()), 482, "Unknown request 'x'"),
            (
                E::Missing("room".into()),
                483,
                "Missing mandatory element (room)",
            ),
            (
                E::InvalidType {
                    name: "room".into(),
                    expected: "a positive integer",
                },
                484,
                "Invalid element type (room should be a positive integer)",
            ),
            (E::no_such_room(7), 485, "No such room (7)"),
            (E::RoomExists("7".into()), 486, "Room 7 already exists"),
            (
                E::NotJoined("Can't leave (not in a room)".into()),
                487,
                "Can't leave (not in a room)",
            ),
            (
                E::Libopus("Error creating Opus encoder".into()),
                488,
                "Error creating Opus encoder",
            ),
            (E::wrong("pin"), 489, "Unauthorized (wrong pin)"),
            (
                E::IdExists("User ID 5 already exists".into()),
                490,
                "User ID 5 already exists",
            ),
            (
                E::AlreadyJoined("Already in this room".into()),
                491,
                "Already in this room",
            ),
            (
                E::NoSuchUser {
                    user: "5".into(),
                    room: "7".into(),
                },
                492,
                "No such user 5 in room 7",
            ),
            (E::InvalidSdp("x".into()), 493, "x"),
            (
                E::NoSuchGroup("No such group (g)".into()),
                494,
                "No such group (g)",
            ),
            (E::Unknown("x".into()), 499, "x"),
        ];
        for (e, code, text) in cases {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(e.to_string(), text);
            assert_eq!(
                e.to_json(),
                json!({"audiobridge": "event", "error_code": code, "error": text})
            );
        }
    }
}
