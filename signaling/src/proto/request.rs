//! Decoding of core API requests, in the order and with the texts of Janus's
//! `janus_process_incoming_request`.
//!
//! Decoding is split by step because Janus checks lazily: the envelope first, then (after
//! the session lookup and secret check) the verb's own keys. Clients see whichever error
//! comes first, so the steps must stay in that order.

use serde_json::{Map, Value};

use super::validate::{self, opt, req, Kind, Param};
use super::{ApiError, ErrorCode};
use crate::host::TrickleCandidate;
use crate::jsep::{Jsep, JsepType};

/// Keys every request is checked for (`incoming_request_parameters`).
const ENVELOPE: [Param; 3] = [
    req("transaction", Kind::String),
    req("janus", Kind::String),
    opt("id", Kind::PositiveInteger),
];

/// The verbs of the core API, for dispatch and per-verb counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Info,
    Ping,
    Create,
    Keepalive,
    Attach,
    Destroy,
    Claim,
    Detach,
    Hangup,
    Message,
    Trickle,
    /// Anything else (answered 457 at the root, 453 elsewhere).
    Other,
}

impl Verb {
    pub const ALL: [Verb; 12] = [
        Verb::Info,
        Verb::Ping,
        Verb::Create,
        Verb::Keepalive,
        Verb::Attach,
        Verb::Destroy,
        Verb::Claim,
        Verb::Detach,
        Verb::Hangup,
        Verb::Message,
        Verb::Trickle,
        Verb::Other,
    ];

    /// Verbs match case-insensitively (Janus uses `strcasecmp`).
    pub fn parse(text: &str) -> Verb {
        Verb::ALL
            .iter()
            .copied()
            .find(|v| *v != Verb::Other && v.as_str().eq_ignore_ascii_case(text))
            .unwrap_or(Verb::Other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Info => "info",
            Verb::Ping => "ping",
            Verb::Create => "create",
            Verb::Keepalive => "keepalive",
            Verb::Attach => "attach",
            Verb::Destroy => "destroy",
            Verb::Claim => "claim",
            Verb::Detach => "detach",
            Verb::Hangup => "hangup",
            Verb::Message => "message",
            Verb::Trickle => "trickle",
            Verb::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        Verb::ALL
            .iter()
            .position(|v| *v == self)
            .unwrap_or(Verb::ALL.len() - 1)
    }
}

/// The common part of every request.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The verb as sent (error texts quote it verbatim).
    pub janus: String,
    pub verb: Verb,
    pub transaction: String,
    /// 0 when absent, `null` or not an integer (Janus treats those as "no session").
    pub session_id: u64,
    pub handle_id: u64,
    /// `handle_id` present and not `null`, even if unusable (then: 458).
    pub handle_key: bool,
    pub apisecret: Option<String>,
    pub token: Option<String>,
}

/// An envelope failure: no transaction to echo, maybe a session ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    pub session_id: u64,
    pub error: ApiError,
}

/// Reads an ID the way Janus does: integers only, anything else is 0.
fn id_of(root: &Map<String, Value>, key: &str) -> u64 {
    match root.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i as u64))
            .unwrap_or(0),
        _ => 0,
    }
}

fn string_of(root: &Map<String, Value>, key: &str) -> Option<String> {
    root.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Checks the envelope of a request object (core API or Admin API).
pub fn decode_envelope(root: &Map<String, Value>) -> Result<Envelope, EnvelopeError> {
    let session_id = id_of(root, "session_id");
    let handle_id = id_of(root, "handle_id");
    validate::check(root, &ENVELOPE, validate::PLAIN)
        .map_err(|error| EnvelopeError { session_id, error })?;
    let janus = string_of(root, "janus").unwrap_or_default();
    Ok(Envelope {
        verb: Verb::parse(&janus),
        janus,
        transaction: string_of(root, "transaction").unwrap_or_default(),
        session_id,
        handle_id,
        handle_key: !matches!(root.get("handle_id"), None | Some(Value::Null)),
        apisecret: string_of(root, "apisecret"),
        token: string_of(root, "token"),
    })
}

/// `create`'s optional client-chosen session ID (already type-checked by the envelope).
pub fn create_id(root: &Map<String, Value>) -> Option<u64> {
    root.get("id").and_then(Value::as_u64).filter(|id| *id > 0)
}

/// `attach`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attach {
    pub plugin: String,
    pub opaque_id: Option<String>,
    pub loop_index: Option<u64>,
}

pub fn decode_attach(root: &Map<String, Value>) -> Result<Attach, ApiError> {
    const PARAMS: [Param; 3] = [
        req("plugin", Kind::String),
        opt("opaque_id", Kind::String),
        opt("loop_index", Kind::PositiveInteger),
    ];
    validate::check(root, &PARAMS, validate::PLAIN)?;
    Ok(Attach {
        plugin: string_of(root, "plugin").unwrap_or_default(),
        opaque_id: string_of(root, "opaque_id"),
        loop_index: root.get("loop_index").and_then(Value::as_u64),
    })
}

/// `message`: the body and the client's JSEP, validated but not yet applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub body: Value,
    pub jsep: Option<Jsep>,
}

pub fn decode_message(root: &Map<String, Value>) -> Result<Message, ApiError> {
    validate::check(root, &[req("body", Kind::Object)], validate::PLAIN)?;
    let body = root.get("body").cloned().unwrap_or(Value::Null);
    let jsep = match root.get("jsep") {
        None => None,
        Some(v) => Some(decode_jsep(v)?),
    };
    Ok(Message { body, jsep })
}

/// A client JSEP (`type`, `sdp`, `trickle`, `rid_order`, `force_relay`, `e2ee`).
pub fn decode_jsep(v: &Value) -> Result<Jsep, ApiError> {
    const PARAMS: [Param; 6] = [
        req("type", Kind::String),
        req("sdp", Kind::String),
        opt("trickle", Kind::Bool),
        opt("rid_order", Kind::String),
        opt("force_relay", Kind::Bool),
        opt("e2ee", Kind::Bool),
    ];
    let Value::Object(obj) = v else {
        return Err(ApiError::new(
            ErrorCode::InvalidJsonObject,
            "Invalid jsep object",
        ));
    };
    validate::check(obj, &PARAMS, validate::JSEP)?;
    let kind_text = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    let kind = if kind_text.eq_ignore_ascii_case("offer") {
        JsepType::Offer
    } else if kind_text.eq_ignore_ascii_case("answer") {
        JsepType::Answer
    } else {
        return Err(ApiError::new(
            ErrorCode::JsepUnknownType,
            format!("JSEP error: unknown message type '{kind_text}'"),
        ));
    };
    let mut jsep = Jsep::new(
        kind,
        obj.get("sdp").and_then(Value::as_str).unwrap_or_default(),
    );
    jsep.trickle = obj.get("trickle").and_then(Value::as_bool);
    jsep.e2ee = obj.get("e2ee").and_then(Value::as_bool).unwrap_or(false);
    jsep.rid_order = string_of(obj, "rid_order");
    Ok(jsep)
}

/// What a `trickle` request carries (checked for presence only: Janus validates the
/// candidates themselves only once the PeerConnection has negotiated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trickle<'a> {
    One(&'a Value),
    Many(&'a Value),
}

pub fn decode_trickle(root: &Map<String, Value>) -> Result<Trickle<'_>, ApiError> {
    match (root.get("candidate"), root.get("candidates")) {
        (None, None) => Err(ApiError::new(
            ErrorCode::MissingMandatoryElement,
            "Missing mandatory element (candidate|candidates)",
        )),
        (Some(_), Some(_)) => Err(ApiError::new(
            ErrorCode::InvalidJson,
            "Can't have both candidate and candidates",
        )),
        (Some(one), None) => Ok(Trickle::One(one)),
        (None, Some(many)) => Ok(Trickle::Many(many)),
    }
}

/// One candidate with Janus's checks (`janus_ice_trickle_parse`). `Ok(None)` is
/// end-of-candidates: `null`, any non-object, or an object with `completed`.
pub fn parse_candidate(v: &Value) -> Result<Option<TrickleCandidate>, ApiError> {
    let Value::Object(c) = v else { return Ok(None) };
    if c.contains_key("completed") {
        return Ok(None);
    }
    let invalid = |text: &str| ApiError::new(ErrorCode::InvalidElementType, text);
    let mid = c.get("sdpMid");
    if mid.is_some_and(|m| !m.is_string()) {
        return Err(invalid(
            "Trickle error: invalid element type (sdpMid should be a string)",
        ));
    }
    let mline = c.get("sdpMLineIndex");
    if mline.is_some_and(|m| !m.is_u64()) {
        return Err(invalid(
            "Trickle error: invalid element type (sdpMLineIndex should be a positive integer)",
        ));
    }
    if mid.is_none() && mline.is_none() {
        return Err(ApiError::new(
            ErrorCode::MissingMandatoryElement,
            "Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)",
        ));
    }
    let candidate = match c.get("candidate") {
        None => {
            return Err(ApiError::new(
                ErrorCode::MissingMandatoryElement,
                "Trickle error: missing mandatory element (candidate)",
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(invalid(
                "Trickle error: invalid element type (candidate should be a string)",
            ))
        }
    };
    Ok(Some(TrickleCandidate {
        candidate,
        sdp_mid: mid.and_then(Value::as_str).map(str::to_owned),
        sdp_mline_index: mline
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok()),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn envelope_requires_a_string_transaction_and_keeps_the_session() {
        let e = decode_envelope(&obj(json!({"janus": "keepalive", "session_id": 5}))).unwrap_err();
        assert_eq!(e.session_id, 5);
        assert_eq!(
            (e.error.code, e.error.reason.as_str()),
            (456, "Missing mandatory element (transaction)")
        );
        let e = decode_envelope(&obj(json!({"janus": "ping", "transaction": 7}))).unwrap_err();
        assert_eq!(
            e.error.reason,
            "Invalid element type (transaction should be a string)"
        );
        let e = decode_envelope(&obj(json!({"transaction": "t"}))).unwrap_err();
        assert_eq!(e.error.reason, "Missing mandatory element (janus)");
        let e = decode_envelope(&obj(
            json!({"janus": "create", "transaction": "t", "id": "x"}),
        ))
        .unwrap_err();
        assert_eq!(
            e.error.reason,
            "Invalid element type (id should be a positive integer)"
        );
    }

    #[test]
    fn envelope_reads_ids_like_janus() {
        let env = decode_envelope(&obj(
            json!({"janus": "KeepAlive", "transaction": "t", "session_id": "12", "handle_id": "x"}),
        ))
        .unwrap();
        assert_eq!(env.verb, Verb::Keepalive);
        assert_eq!(env.session_id, 0);
        assert!(env.handle_key);
        let env = decode_envelope(&obj(
            json!({"janus": "x", "transaction": "t", "handle_id": null}),
        ))
        .unwrap();
        assert!(!env.handle_key);
        assert_eq!(env.verb, Verb::Other);
    }

    #[test]
    fn attach_validation() {
        let e = decode_attach(&obj(json!({}))).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (456, "Missing mandatory element (plugin)")
        );
        let e = decode_attach(&obj(json!({"plugin": "p", "opaque_id": null}))).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (467, "Invalid element type (opaque_id should be a string)")
        );
        let a = decode_attach(&obj(
            json!({"plugin": "p", "opaque_id": "o", "loop_index": 2}),
        ))
        .unwrap();
        assert_eq!(a.opaque_id.as_deref(), Some("o"));
        assert_eq!(a.loop_index, Some(2));
    }

    #[test]
    fn message_and_jsep_validation_texts() {
        let e = decode_message(&obj(json!({}))).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (456, "Missing mandatory element (body)")
        );
        let e = decode_message(&obj(json!({"body": {}, "jsep": "x"}))).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (455, "Invalid jsep object"));
        let e = decode_message(&obj(json!({"body": {}, "jsep": null}))).unwrap_err();
        assert_eq!(e.code, 455);
        let e = decode_message(&obj(json!({"body": {}, "jsep": {"type": "offer"}}))).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (456, "JSEP error: missing mandatory element (sdp)")
        );
        let e = decode_message(&obj(json!({"body": {}, "jsep": {"type": 1, "sdp": "v=0"}})))
            .unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (
                467,
                "JSEP error: invalid element type (type should be a string)"
            )
        );
        let e = decode_message(&obj(
            json!({"body": {}, "jsep": {"type": "pranswer", "sdp": "v=0"}}),
        ))
        .unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (464, "JSEP error: unknown message type 'pranswer'")
        );
        let m = decode_message(&obj(
            json!({"body": {"a": 1}, "jsep": {"type": "OFFER", "sdp": "v=0", "trickle": false}}),
        ))
        .unwrap();
        let jsep = m.jsep.unwrap();
        assert_eq!(jsep.kind, JsepType::Offer);
        assert_eq!(jsep.trickle, Some(false));
    }

    #[test]
    fn trickle_presence_and_candidate_texts() {
        let e = decode_trickle(&obj(json!({}))).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (456, "Missing mandatory element (candidate|candidates)")
        );
        let e = decode_trickle(&obj(json!({"candidate": {}, "candidates": []}))).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (454, "Can't have both candidate and candidates")
        );
        assert_eq!(parse_candidate(&Value::Null), Ok(None));
        assert_eq!(parse_candidate(&json!({"completed": true})), Ok(None));
        let e = parse_candidate(&json!({"candidate": "c"})).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (
                456,
                "Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)"
            )
        );
        let e = parse_candidate(&json!({"sdpMid": "0"})).unwrap_err();
        assert_eq!(
            e.reason,
            "Trickle error: missing mandatory element (candidate)"
        );
        let e = parse_candidate(&json!({"sdpMid": 0, "candidate": "c"})).unwrap_err();
        assert_eq!(
            (e.code, e.reason.as_str()),
            (
                467,
                "Trickle error: invalid element type (sdpMid should be a string)"
            )
        );
        let e = parse_candidate(&json!({"sdpMLineIndex": -1, "candidate": "c"})).unwrap_err();
        assert_eq!(
            e.reason,
            "Trickle error: invalid element type (sdpMLineIndex should be a positive integer)"
        );
        let e = parse_candidate(&json!({"sdpMid": "0", "candidate": 1})).unwrap_err();
        assert_eq!(
            e.reason,
            "Trickle error: invalid element type (candidate should be a string)"
        );
        let c = parse_candidate(
            &json!({"sdpMid": "0", "sdpMLineIndex": 0, "candidate": "candidate:1"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.sdp_mline_index, Some(0));
    }
}
