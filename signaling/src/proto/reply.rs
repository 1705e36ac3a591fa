//! Replies and events with Janus's exact key sets and order (`janus_create_message`).
//!
//! Session and handle IDs are JSON numbers; `sender` is the handle ID, the same number
//! janus.js got as `data.id` (janus.js 1.4 looks handles up in a `Map`).

use serde_json::{Map, Value};

use crate::ids::{HandleId, SessionId};

/// `{"janus":kind[,"session_id"][,"transaction"]}`; a zero session ID is left out.
pub fn message(kind: &str, session_id: u64, transaction: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("janus".into(), Value::from(kind));
    if session_id > 0 {
        m.insert("session_id".into(), Value::from(session_id));
    }
    if let Some(t) = transaction {
        m.insert("transaction".into(), Value::from(t));
    }
    m
}

/// `{"janus":"error",...,"error":{"code","reason"}}`.
pub fn error(session_id: u64, transaction: Option<&str>, code: u16, reason: &str) -> Value {
    let mut m = message("error", session_id, transaction);
    let mut e = Map::new();
    e.insert("code".into(), Value::from(code));
    e.insert("reason".into(), Value::from(reason));
    m.insert("error".into(), Value::Object(e));
    Value::Object(m)
}

/// `success` with `data.id` (replies of `create`, without session, and `attach`).
pub fn success_with_id(session_id: u64, transaction: &str, id: u64) -> Value {
    let mut m = message("success", session_id, Some(transaction));
    let mut data = Map::new();
    data.insert("id".into(), Value::from(id));
    m.insert("data".into(), Value::Object(data));
    Value::Object(m)
}

pub fn success(session_id: u64, transaction: &str) -> Value {
    Value::Object(message("success", session_id, Some(transaction)))
}

/// `ack`, with the plugin's optional `hint`.
pub fn ack(session_id: u64, transaction: &str, hint: Option<&str>) -> Value {
    let mut m = message("ack", session_id, Some(transaction));
    if let Some(h) = hint {
        m.insert("hint".into(), Value::from(h));
    }
    Value::Object(m)
}

pub fn pong(transaction: &str) -> Value {
    Value::Object(message("pong", 0, Some(transaction)))
}

/// `{"plugin":package,"data":data}`.
pub fn plugindata(package: &str, data: Value) -> Value {
    let mut p = Map::new();
    p.insert("plugin".into(), Value::from(package));
    p.insert("data".into(), data);
    Value::Object(p)
}

/// Synchronous plugin answer to `message`.
pub fn plugin_success(
    session: SessionId,
    transaction: &str,
    sender: HandleId,
    opaque_id: Option<&str>,
    package: &str,
    data: Value,
) -> Value {
    let mut m = message("success", session.0, Some(transaction));
    m.insert("sender".into(), Value::from(sender.0));
    if let Some(o) = opaque_id {
        m.insert("opaque_id".into(), Value::from(o));
    }
    m.insert("plugindata".into(), plugindata(package, data));
    Value::Object(m)
}

/// Start of every handle event: `janus`, `session_id`, `sender`[, `opaque_id`].
pub fn handle_event(
    kind: &str,
    session: SessionId,
    sender: HandleId,
    opaque_id: Option<&str>,
) -> Map<String, Value> {
    let mut m = message(kind, session.0, None);
    m.insert("sender".into(), Value::from(sender.0));
    if let Some(o) = opaque_id {
        m.insert("opaque_id".into(), Value::from(o));
    }
    m
}

/// A plugin event (`janus_plugin_push_event`).
pub fn plugin_event(
    session: SessionId,
    sender: HandleId,
    opaque_id: Option<&str>,
    transaction: Option<&str>,
    package: &str,
    data: Value,
    jsep: Option<Value>,
) -> Value {
    // Janus's order: janus, session_id, transaction, sender[, opaque_id], plugindata, jsep.
    let mut m = message("event", session.0, transaction);
    m.insert("sender".into(), Value::from(sender.0));
    if let Some(o) = opaque_id {
        m.insert("opaque_id".into(), Value::from(o));
    }
    m.insert("plugindata".into(), plugindata(package, data));
    if let Some(j) = jsep {
        m.insert("jsep".into(), j);
    }
    Value::Object(m)
}

pub fn hangup(
    session: SessionId,
    sender: HandleId,
    opaque_id: Option<&str>,
    reason: &str,
) -> Value {
    let mut m = handle_event("hangup", session, sender, opaque_id);
    m.insert("reason".into(), Value::from(reason));
    Value::Object(m)
}

pub fn timeout(session: SessionId) -> Value {
    Value::Object(message("timeout", session.0, None))
}

/// The long-poll keepalive: no session, no transaction.
pub fn keepalive() -> Value {
    Value::Object(message("keepalive", 0, None))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(v: &Value) -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn create_reply_has_no_session_id_and_attach_has_both() {
        assert_eq!(
            keys(&success_with_id(0, "t", 5)),
            ["janus", "transaction", "data"]
        );
        assert_eq!(
            keys(&success_with_id(7, "t", 5)),
            ["janus", "session_id", "transaction", "data"]
        );
    }

    #[test]
    fn error_shape_without_transaction() {
        assert_eq!(
            error(0, None, 454, "x"),
            json!({"janus": "error", "error": {"code": 454, "reason": "x"}})
        );
        assert_eq!(
            keys(&error(3, Some("t"), 458, "x")),
            ["janus", "session_id", "transaction", "error"]
        );
    }

    #[test]
    fn event_shapes() {
        let e = plugin_event(
            SessionId(1),
            HandleId(2),
            None,
            Some("t"),
            "p",
            json!({}),
            None,
        );
        assert_eq!(
            keys(&e),
            ["janus", "session_id", "transaction", "sender", "plugindata"]
        );
        assert_eq!(e["sender"], json!(2));
        assert_eq!(
            keys(&hangup(SessionId(1), HandleId(2), Some("o"), "r")),
            ["janus", "session_id", "sender", "opaque_id", "reason"]
        );
        assert_eq!(
            timeout(SessionId(9)),
            json!({"janus": "timeout", "session_id": 9})
        );
    }
}
