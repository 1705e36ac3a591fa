//! The JSEP object carried by `message` requests and `event`s.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `offer` or `answer` (Janus refuses `pranswer` and `rollback` with 464).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsepType {
    Offer,
    Answer,
}

impl JsepType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsepType::Offer => "offer",
            JsepType::Answer => "answer",
        }
    }
}

/// A session description plus the flags Janus passes next to it.
///
/// Inbound (client → plugin) the host fills `update` and `simulcast`; outbound (plugin →
/// client) a plugin may set `restart` to ask for an ICE restart offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jsep {
    #[serde(rename = "type")]
    pub kind: JsepType,
    pub sdp: String,
    /// `trickle: false` from the client; `None` means absent (= true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub e2ee: bool,
    /// Renegotiation of an existing PeerConnection (set by the host on the way in).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub update: bool,
    /// ICE restart requested (plugin → host on the way out, or detected on the way in).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart: bool,
    /// `[{mindex, mid, rids|ssrcs, rid-ext}]` as Janus's core hands it to plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulcast: Option<Value>,
    /// `rid_order` from janus.js (`hml` default, or `lmh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid_order: Option<String>,
}

impl Jsep {
    pub fn new(kind: JsepType, sdp: impl Into<String>) -> Self {
        Jsep {
            kind,
            sdp: sdp.into(),
            trickle: None,
            e2ee: false,
            update: false,
            restart: false,
            simulcast: None,
            rid_order: None,
        }
    }

    /// The object sent to clients: `{type, sdp[, e2ee]}`.
    pub fn to_wire(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("type".into(), Value::from(self.kind.as_str()));
        m.insert("sdp".into(), Value::from(self.sdp.clone()));
        if self.e2ee {
            m.insert("e2ee".into(), Value::Bool(true));
        }
        Value::Object(m)
    }
}
