//! VideoRoom errors: one typed enum, mapped to Janus's numeric codes and texts in one place
//! (`janus_videoroom.c` `JANUS_VIDEOROOM_ERROR_*`, plugins API §2.4 "Error codes").
//!
//! Texts are Janus's, word for word, because clients (and our conformance test) compare them.

use serde_json::{json, Value};

/// Why a VideoRoom request failed. [`VideoRoomError::code`] is the only place codes live.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VideoRoomError {
    /// 421: no body.
    #[error("No message??")]
    NoMessage,
    /// 422: the body is not a JSON object.
    #[error("JSON error: not an object")]
    NotAnObject,
    /// 423: unknown `request` (or a request this participant type does not handle).
    #[error("Unknown request '{0}'")]
    UnknownRequest(String),
    /// 424: anything but `join`/`joinandconfigure` on a fresh handle.
    #[error("Invalid request on unconfigured participant")]
    JoinFirst,
    /// 425: `join` on a handle that already joined (text depends on the role).
    #[error("{0}")]
    AlreadyJoined(&'static str),
    /// 426 with the room in the text.
    #[error("No such room ({0})")]
    NoSuchRoom(String),
    /// 426 without the room (a subscriber whose room vanished).
    #[error("No such room")]
    RoomGone,
    /// 427.
    #[error("Room {0} already exists")]
    RoomExists(String),
    /// 428: feed, user, stream or mid unknown; the text says which.
    #[error("{0}")]
    NoSuchFeed(String),
    /// 429 `Missing mandatory element (<name>)`.
    #[error("Missing mandatory element ({0})")]
    Missing(String),
    /// 429 with a free text (e.g. "At least one of either 'subscribe' or 'unsubscribe' ...").
    #[error("{0}")]
    MissingText(String),
    /// 430 `Invalid element type (<name> should be <type>)`.
    #[error("Invalid element type ({name} should be {expected})")]
    InvalidType {
        name: String,
        expected: &'static str,
    },
    /// 430 with a free text (bad values, unavailable codecs...).
    #[error("{0}")]
    InvalidElement(String),
    /// 431.
    #[error("{0}")]
    InvalidSdpType(String),
    /// 432.
    #[error("Maximum number of publishers ({0}) already reached")]
    PublishersFull(u64),
    /// 433 (`Unauthorized (wrong pin)`, `... kicked`, ACL, e2ee...).
    #[error("{0}")]
    Unauthorized(String),
    /// 434.
    #[error("Can't publish, already published")]
    AlreadyPublished,
    /// 435.
    #[error("Can't unpublish, not published")]
    NotPublished,
    /// 436.
    #[error("User ID {0} already exists")]
    IdExists(String),
    /// 437.
    #[error("{0}")]
    InvalidSdp(String),
    /// 499.
    #[error("{0}")]
    Unknown(String),
}

impl VideoRoomError {
    /// Janus's numeric code (`JANUS_VIDEOROOM_ERROR_*`).
    pub fn code(&self) -> u16 {
        use VideoRoomError::*;
        match self {
            NoMessage => 421,
            NotAnObject => 422,
            UnknownRequest(_) => 423,
            JoinFirst => 424,
            AlreadyJoined(_) => 425,
            NoSuchRoom(_) | RoomGone => 426,
            RoomExists(_) => 427,
            NoSuchFeed(_) => 428,
            Missing(_) | MissingText(_) => 429,
            InvalidType { .. } | InvalidElement(_) => 430,
            InvalidSdpType(_) => 431,
            PublishersFull(_) => 432,
            Unauthorized(_) => 433,
            AlreadyPublished => 434,
            NotPublished => 435,
            IdExists(_) => 436,
            InvalidSdp(_) => 437,
            Unknown(_) => 499,
        }
    }

    /// `Unauthorized (wrong <name>)` for secrets, pins and admin keys (plugins API §0.3).
    pub fn wrong(name: &str) -> Self {
        VideoRoomError::Unauthorized(format!("Unauthorized (wrong {name})"))
    }

    /// The `plugindata.data` Janus sends for an error, sync or async.
    pub fn to_json(&self) -> Value {
        json!({"videoroom": "event", "error_code": self.code(), "error": self.to_string()})
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_janus_code_and_text() {
        let cases: Vec<(VideoRoomError, u16, &str)> = vec![
            (VideoRoomError::NoMessage, 421, "No message??"),
            (
                VideoRoomError::NotAnObject,
                422,
                "JSON error: not an object",
            ),
            (
                VideoRoomError::UnknownRequest("foo".into()),
                423,
                "Unknown request 'foo'",
            ),
            (
                VideoRoomError::JoinFirst,
                424,
                "Invalid request on unconfigured participant",
            ),
            (
                VideoRoomError::AlreadyJoined("Already in as a publisher on this handle"),
                425,
                "Already in as a publisher on this handle",
            ),
            (
                VideoRoomError::NoSuchRoom("42".into()),
                426,
                "No such room (42)",
            ),
            (VideoRoomError::RoomGone, 426, "No such room"),
            (
                VideoRoomError::RoomExists("1234".into()),
                427,
                "Room 1234 already exists",
            ),
            (
                VideoRoomError::NoSuchFeed("No such feed (9)".into()),
                428,
                "No such feed (9)",
            ),
            (
                VideoRoomError::Missing("room".into()),
                429,
                "Missing mandatory element (room)",
            ),
            (
                VideoRoomError::InvalidType {
                    name: "room".into(),
                    expected: "a positive integer",
                },
                430,
                "Invalid element type (room should be a positive integer)",
            ),
            (
                VideoRoomError::InvalidSdpType("Only publishers send offers".into()),
                431,
                "Only publishers send offers",
            ),
            (
                VideoRoomError::PublishersFull(6),
                432,
                "Maximum number of publishers (6) already reached",
            ),
            (
                VideoRoomError::wrong("pin"),
                433,
                "Unauthorized (wrong pin)",
            ),
            (
                VideoRoomError::AlreadyPublished,
                434,
                "Can't publish, already published",
            ),
            (
                VideoRoomError::NotPublished,
                435,
                "Can't unpublish, not published",
            ),
            (
                VideoRoomError::IdExists("7".into()),
                436,
                "User ID 7 already exists",
            ),
            (
                VideoRoomError::InvalidSdp("Can't offer an SDP with no stream".into()),
                437,
                "Can't offer an SDP with no stream",
            ),
            (VideoRoomError::Unknown("x".into()), 499, "x"),
        ];
        for (e, code, text) in cases {
            assert_eq!(e.code(), code, "{e:?}");
            assert_eq!(e.to_string(), text);
            assert_eq!(
                e.to_json(),
                json!({"videoroom":"event","error_code":code,"error":text})
            );
        }
    }
}
