//! The body of the `janus_request` fuzz target (`fuzz/fuzz_targets/janus_request.rs`),
//! shared with the regression replay in `tests/fuzz_regressions.rs` so the two cannot drift
//! (style.md §5 item 3, §6 habit 2).
//!
//! Arbitrary bytes go through what a transport does with a client payload: JSON parsing as a
//! WebSocket message (several concatenated values, at most
//! [`MAX_OBJECTS_PER_MESSAGE`](crate::transport::limits::MAX_OBJECTS_PER_MESSAGE)) and as an
//! HTTP body (one value), then the request decoders of [`crate::proto::request`] and the whole
//! sans-IO [`Core`] — core and Admin API — with a scripted plugin and host. Every reply must be
//! a JSON object with a `janus` verb, and every error code one of the table's.
//!
//! A fresh core per input keeps runs reproducible. It starts with session 1 (client-chosen
//! ID) holding one handle; since handle IDs are random, a request naming `"handle_id": 1` is
//! pointed at that handle so the fuzzer reaches `message`, `trickle`, `hangup` and `detach`.
//!
//! Not part of the API: hidden from the docs and free to change with the fuzz target.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::config::GeneralConfig;
use crate::core::Core;
use crate::host::{HostError, TrickleCandidate, WebRtcEvent, WebRtcHost};
use crate::ids::{HandleId, SessionId};
use crate::jsep::{Jsep, JsepType};
use crate::plugin::{Plugin, PluginEvents, PluginInfo, PluginResult, PushError};
use crate::proto::request::{self, Trickle};
use crate::proto::ErrorCode;
use crate::session::{ConnId, EventSink, Owner, SessionOver};
use crate::transport::json;
use crate::transport::limits::MAX_OBJECTS_PER_MESSAGE;

/// The plugin package the fuzzed core knows (attach to it succeeds).
pub const FUZZ_PLUGIN: &str = "janus.plugin.echotest";
/// The session every fuzzed core starts with.
pub const FUZZ_SESSION: u64 = 1;
/// `handle_id` value that names the pre-attached handle.
pub const FUZZ_HANDLE_ALIAS: u64 = 1;
/// Largest input parsed: the HTTP transport's default body cap is far larger, but
/// serde_json's cost is linear and the fuzzer gains nothing from megabytes.
const MAX_INPUT: usize = 64 * 1024;

/// Janus requests (core and Admin API) on arbitrary bytes. See the module doc.
pub fn exercise_janus_request(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    // Through the transports' own parsers: a WebSocket message (concatenated values, a parse
    // error ends the list and is worded as Janus does), then an HTTP body (one value).
    let mut values = Vec::new();
    if let Ok(text) = std::str::from_utf8(data) {
        for item in json::parse_many(text, MAX_OBJECTS_PER_MESSAGE) {
            match item {
                Ok(v) => values.push(v),
                Err(e) => assert_eq!(e.code, ErrorCode::InvalidJson.code()),
            }
        }
    }
    match json::parse_one(data) {
        Ok(v) if values.len() != 1 => values.push(v),
        Ok(_) => {}
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidJson.code()),
    }
    if values.is_empty() {
        return;
    }

    for v in &values {
        decode_directly(v);
    }

    let rig = Rig::new();
    let mut now = rig.t0;
    for mut v in values {
        now += Duration::from_millis(250);
        if let Some(obj) = v.as_object_mut() {
            if obj.get("handle_id").and_then(Value::as_u64) == Some(FUZZ_HANDLE_ALIAS) {
                obj.insert("handle_id".to_owned(), json!(rig.handle.0));
            }
        }
        let r = rig.core.handle_request(now, &rig.owner, &v);
        check_reply(&r.reply);
        for d in &r.after {
            check_event(d.event());
        }
        r.send_after();
        let admin = rig.core.handle_admin(now, &v);
        check_reply(&admin);
    }
    rig.core.webrtc_event(rig.handle, WebRtcEvent::Up);
    rig.core.webrtc_event(
        rig.handle,
        WebRtcEvent::Hangup {
            reason: "fuzz".to_owned(),
        },
    );
    // Session timeouts, then the transport going away, reclaim every session.
    rig.core.handle_tick(now + Duration::from_secs(3600));
    rig.core.transport_gone(rig.owner.conn);
    rig.core.handle_tick(now + Duration::from_secs(7200));
    let _ = rig.core.stats();
}

/// The decoders of [`crate::proto::request`] on one value, in the core's order.
fn decode_directly(v: &Value) {
    let Some(root) = v.as_object() else { return };
    let Ok(env) = request::decode_envelope(root) else {
        return;
    };
    let _ = (
        env.verb.as_str(),
        env.verb.index(),
        request::create_id(root),
    );
    let _ = request::decode_attach(root);
    if let Ok(m) = request::decode_message(root) {
        if let Some(j) = m.jsep {
            let _ = (j.kind.as_str(), j.sdp.len());
        }
    }
    if let Some(j) = root.get("jsep") {
        let _ = request::decode_jsep(j);
    }
    match request::decode_trickle(root) {
        Ok(Trickle::One(c)) => {
            let _ = request::parse_candidate(c);
        }
        Ok(Trickle::Many(Value::Array(list))) => {
            for c in list {
                let _ = request::parse_candidate(c);
            }
        }
        Ok(Trickle::Many(_)) | Err(_) => {}
    }
}

/// A reply is an object with a `janus` verb; an error carries a code from the table.
fn check_reply(reply: &Value) {
    let obj = reply.as_object().expect("replies are JSON objects");
    assert!(obj.get("janus").is_some_and(Value::is_string), "{reply}");
    if obj.get("janus").and_then(Value::as_str) == Some("error") {
        let code = reply["error"]["code"]
            .as_u64()
            .expect("errors carry a code");
        let known = u16::try_from(code)
            .ok()
            .and_then(ErrorCode::from_code)
            .is_some();
        assert!(known, "error code {code} is not in the table: {reply}");
        assert!(reply["error"]["reason"].is_string(), "{reply}");
    }
    let _ = serde_json::to_vec(reply).expect("replies serialise");
}

fn check_event(event: &Value) {
    assert!(event.is_object(), "events are JSON objects: {event}");
    let _ = serde_json::to_vec(event).expect("events serialise");
}

/// A fresh core with session [`FUZZ_SESSION`] and one attached handle.
struct Rig {
    core: Arc<Core>,
    owner: Owner,
    handle: HandleId,
    t0: Instant,
}

impl Rig {
    fn new() -> Rig {
        let plugin = Arc::new(FuzzPlugin::default());
        let t0 = Instant::now();
        let core = Arc::new(Core::new(
            GeneralConfig::default(),
            vec![plugin.clone()],
            Arc::new(FuzzHost),
            t0,
        ));
        plugin.init(Arc::new(Direct(Arc::downgrade(&core))));
        let owner = Owner {
            conn: ConnId::next(),
            sink: Arc::new(FuzzSink::default()),
        };
        let created = core.handle_request(
            t0,
            &owner,
            &json!({"janus": "create", "transaction": "fuzz", "id": FUZZ_SESSION}),
        );
        assert_eq!(created.reply["data"]["id"], json!(FUZZ_SESSION));
        let attached = core.handle_request(
            t0,
            &owner,
            &json!({"janus": "attach", "transaction": "fuzz", "session_id": FUZZ_SESSION,
                    "plugin": FUZZ_PLUGIN}),
        );
        let handle = HandleId(
            attached.reply["data"]["id"]
                .as_u64()
                .expect("attach to the fuzz plugin succeeds"),
        );
        Rig {
            core,
            owner,
            handle,
            t0,
        }
    }
}

/// Plugin events reach the core directly (what the Gateway's callbacks do).
struct Direct(Weak<Core>);

impl PluginEvents for Direct {
    fn push_event(
        &self,
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<Jsep>,
    ) -> Result<(), PushError> {
        match self.0.upgrade() {
            Some(core) => core.push_event(handle, transaction, data, jsep),
            None => Err(PushError::NoSuchHandle),
        }
    }
    fn close_pc(&self, handle: HandleId) {
        if let Some(core) = self.0.upgrade() {
            core.close_pc(handle);
        }
    }
    fn end_session(&self, handle: HandleId) {
        if let Some(core) = self.0.upgrade() {
            core.end_session(handle);
        }
    }
}

/// A plugin scripted by the message body, so every [`PluginResult`] and callback is reached:
/// `{"sync":true}` answers at once with the body, `{"invalid":true}` with a non-object,
/// `{"fail":true}` with an error, `{"close":true}` closes the PeerConnection, `{"end":true}`
/// ends the session; anything else is acked and echoed back as an event (with an answer
/// to an offer, like EchoTest).
#[derive(Default)]
struct FuzzPlugin {
    events: OnceLock<Arc<dyn PluginEvents>>,
}

impl Plugin for FuzzPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: FUZZ_PLUGIN,
            name: "fuzz",
            author: "ianus",
            description: "scripted plugin for fuzzing",
            version_string: "0.0.1",
            version: 1,
        }
    }
    fn init(&self, events: Arc<dyn PluginEvents>) {
        let _ = self.events.set(events);
    }
    fn create_session(&self, _handle: HandleId) -> Result<(), i32> {
        Ok(())
    }
    fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    ) -> PluginResult {
        let flag = |k: &str| body.get(k) == Some(&Value::Bool(true));
        if flag("sync") {
            return PluginResult::Ok(body);
        }
        if flag("invalid") {
            return PluginResult::Ok(Value::Null);
        }
        if flag("fail") {
            return PluginResult::Error("scripted failure".to_owned());
        }
        let Some(events) = self.events.get() else {
            return PluginResult::OkWait(None);
        };
        if flag("close") {
            events.close_pc(handle);
        }
        if flag("end") {
            events.end_session(handle);
            return PluginResult::OkWait(None);
        }
        let answer = jsep
            .filter(|j| j.kind == JsepType::Offer)
            .map(|j| Jsep::new(JsepType::Answer, j.sdp));
        let _ = events.push_event(handle, Some(transaction), body, answer);
        let _ = events.push_event(handle, None, json!({"fuzz": "event"}), None);
        PluginResult::OkWait(Some("scripted".to_owned()))
    }
    fn setup_media(&self, _handle: HandleId) {}
    fn hangup_media(&self, _handle: HandleId) {}
    fn destroy_session(&self, _handle: HandleId) {}
    fn query_session(&self, _handle: HandleId) -> Value {
        json!({"state": "fuzz"})
    }
}

/// A host that accepts any SDP starting with `v=` (the Janus text otherwise) and echoes it.
struct FuzzHost;

impl WebRtcHost for FuzzHost {
    fn handle_remote_jsep(&self, _handle: HandleId, jsep: &Jsep) -> Result<Jsep, HostError> {
        if !jsep.sdp.starts_with("v=") {
            return Err(HostError::new(465, "Invalid SDP (doesn't start with v=)"));
        }
        Ok(jsep.clone())
    }
    fn handle_local_jsep(&self, _handle: HandleId, jsep: Jsep) -> Result<Jsep, HostError> {
        Ok(jsep)
    }
    fn handle_trickle(&self, _handle: HandleId, _candidate: Option<TrickleCandidate>) {}
    fn hangup(&self, _handle: HandleId, _reason: &str, _silent: bool) -> bool {
        true
    }
    fn destroy(&self, _handle: HandleId) {}
    fn handle_info(&self, _handle: HandleId) -> Option<Value> {
        Some(json!({"flags": {"ready": true}}))
    }
}

/// Checks and drops every event (bounded: nothing is kept).
#[derive(Default)]
struct FuzzSink {
    sent: Mutex<usize>,
}

impl EventSink for FuzzSink {
    fn transport(&self) -> &'static str {
        "janus.transport.fuzz"
    }
    fn send(&self, _session: SessionId, event: Value) {
        check_event(&event);
        if let Ok(mut n) = self.sent.lock() {
            *n += 1;
        }
    }
    fn session_over(&self, _session: SessionId, _why: SessionOver) {}
}
