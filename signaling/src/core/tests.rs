//! The core on a virtual clock, with a recording plugin, host and sink.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Core;
use crate::config::GeneralConfig;
use crate::host::{HostError, TrickleCandidate, WebRtcEvent, WebRtcHost};
use crate::ids::{HandleId, SessionId};
use crate::jsep::{Jsep, JsepType};
use crate::plugin::{Plugin, PluginEvents, PluginInfo, PluginResult};
use crate::session::{ConnId, EventSink, Owner, SessionOver};

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Answers `{"sync":true}` at once, `{"fail":true}` with an error, anything else with an
/// ack and (from inside `handle_message`) an event, with an answer when given an offer.
#[derive(Default)]
struct TestPlugin {
    log: Arc<Log>,
    events: OnceLock<Arc<dyn PluginEvents>>,
}

impl Plugin for TestPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: "janus.plugin.echotest",
            name: "test",
            author: "test",
            description: "test",
            version_string: "0.0.1",
            version: 1,
        }
    }
    fn init(&self, events: Arc<dyn PluginEvents>) {
        let _ = self.events.set(events);
    }
    fn create_session(&self, handle: HandleId) -> Result<(), i32> {
        self.log.push(format!("create_session {handle}"));
        Ok(())
    }
    fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    ) -> PluginResult {
        if body["sync"] == json!(true) {
            return PluginResult::Ok(json!({"echotest": "response"}));
        }
        if body["fail"] == json!(true) {
            return PluginResult::Error("nope".into());
        }
        let answer = jsep
            .filter(|j| j.kind == JsepType::Offer)
            .map(|j| Jsep::new(JsepType::Answer, j.sdp));
        if let Some(ev) = self.events.get() {
            let _ = ev.push_event(
                handle,
                Some(transaction),
                json!({"echotest": "event", "result": "ok"}),
                answer,
            );
        }
        PluginResult::OkWait(Some("I'm taking my time!".into()))
    }
    fn setup_media(&self, handle: HandleId) {
        self.log.push(format!("setup_media {handle}"));
    }
    fn hangup_media(&self, handle: HandleId) {
        self.log.push(format!("hangup_media {handle}"));
    }
    fn destroy_session(&self, handle: HandleId) {
        self.log.push(format!("destroy_session {handle}"));
    }
    fn query_session(&self, _handle: HandleId) -> Value {
        json!({"state": "test"})
    }
}

#[derive(Default)]
struct TestHost {
    log: Arc<Log>,
    pcs: Mutex<std::collections::HashSet<HandleId>>,
    /// `[admin] test_hooks` as the application would report it.
    hooks: std::sync::atomic::AtomicBool,
}

impl WebRtcHost for TestHost {
    fn handle_remote_jsep(&self, handle: HandleId, jsep: &Jsep) -> Result<Jsep, HostError> {
        if !jsep.sdp.starts_with("v=") {
            return Err(HostError::new(465, "Invalid SDP (doesn't start with v=)"));
        }
        self.pcs.lock().unwrap().insert(handle);
        self.log
            .push(format!("remote {} {handle}", jsep.kind.as_str()));
        Ok(jsep.clone())
    }
    fn handle_local_jsep(&self, handle: HandleId, mut jsep: Jsep) -> Result<Jsep, HostError> {
        self.log
            .push(format!("local {} {handle}", jsep.kind.as_str()));
        jsep.sdp.push_str("a=merged\r\n");
        Ok(jsep)
    }
    fn handle_trickle(&self, handle: HandleId, candidate: Option<TrickleCandidate>) {
        self.log.push(format!(
            "trickle {handle} {}",
            candidate.map(|c| c.candidate).unwrap_or_default()
        ));
    }
    fn hangup(&self, handle: HandleId, reason: &str, silent: bool) -> bool {
        self.log.push(format!("hangup {handle} {reason} {silent}"));
        self.pcs.lock().unwrap().remove(&handle)
    }
    fn destroy(&self, handle: HandleId) {
        self.log.push(format!("destroy {handle}"));
    }
    fn handle_info(&self, _handle: HandleId) -> Option<Value> {
        Some(json!({"flags": {"ready": true}, "webrtc": {"ice": {}, "dtls": {}, "media": {}}}))
    }
    fn test_hooks(&self) -> bool {
        self.hooks.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn set_test_loss(&self, handle: HandleId, percent: u8) -> Option<u64> {
        self.log.push(format!("test_loss {handle} {percent}"));
        self.pcs.lock().unwrap().contains(&handle).then_some(7)
    }
}

#[derive(Default)]
struct Sink(Mutex<Vec<Value>>, Mutex<Vec<SessionOver>>);

impl EventSink for Sink {
    fn transport(&self) -> &'static str {
        "janus.transport.test"
    }
    fn send(&self, _session: SessionId, event: Value) {
        self.0.lock().unwrap().push(event);
    }
    fn session_over(&self, _session: SessionId, why: SessionOver) {
        self.1.lock().unwrap().push(why);
    }
}

impl Sink {
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Rig {
    core: Arc<Core>,
    plugin: Arc<TestPlugin>,
    host: Arc<TestHost>,
    sink: Arc<Sink>,
    owner: Owner,
    t0: Instant,
}

/// Plugin events reach the core directly (the Gateway's `Callbacks`, minus the Weak).
struct Direct(std::sync::Weak<Core>);

impl PluginEvents for Direct {
    fn push_event(
        &self,
        h: HandleId,
        t: Option<String>,
        d: Value,
        j: Option<Jsep>,
    ) -> Result<(), crate::plugin::PushError> {
        self.0
            .upgrade()
            .map(|c| c.push_event(h, t, d, j))
            .unwrap_or(Err(crate::plugin::PushError::NoSuchHandle))
    }
    fn close_pc(&self, h: HandleId) {
        if let Some(c) = self.0.upgrade() {
            c.close_pc(h);
        }
    }
    fn end_session(&self, h: HandleId) {
        if let Some(c) = self.0.upgrade() {
            c.end_session(h);
        }
    }
}

fn rig_with(general: GeneralConfig) -> Rig {
    let plugin = Arc::new(TestPlugin::default());
    let host = Arc::new(TestHost::default());
    let t0 = Instant::now();
    let core = Arc::new(Core::new(general, vec![plugin.clone()], host.clone(), t0));
    plugin.init(Arc::new(Direct(Arc::downgrade(&core))));
    let sink = Arc::new(Sink::default());
    let owner = Owner {
        conn: ConnId::next(),
        sink: sink.clone(),
    };
    Rig {
        core,
        plugin,
        host,
        sink,
        owner,
        t0,
    }
}

fn rig() -> Rig {
    rig_with(GeneralConfig::default())
}

impl Rig {
    fn req(&self, at: Duration, v: Value) -> Value {
        let r = self.core.handle_request(self.t0 + at, &self.owner, &v);
        let reply = r.reply.clone();
        r.send_after();
        reply
    }
    fn create(&self) -> u64 {
        self.req(
            Duration::ZERO,
            json!({"janus": "create", "transaction": "c"}),
        )["data"]["id"]
            .as_u64()
            .unwrap()
    }
    fn attach(&self, s: u64) -> u64 {
        let r = self.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.echotest", "transaction": "a"}));
        r["data"]["id"].as_u64().unwrap()
    }
}

fn code(v: &Value) -> (u64, String) {
    (
        v["error"]["code"].as_u64().unwrap_or(0),
        v["error"]["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn create_attach_keepalive_shapes() {
    let r = rig();
    let reply = r.req(
        Duration::ZERO,
        json!({"janus": "create", "transaction": "c"}),
    );
    assert!(reply.get("session_id").is_none());
    let s = reply["data"]["id"].as_u64().unwrap();
    let reply = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.echotest", "transaction": "a"}));
    assert_eq!(reply["session_id"], json!(s));
    assert_eq!(reply["janus"], "success");
    let ka = r.req(
        Duration::ZERO,
        json!({"janus": "KEEPALIVE", "session_id": s, "transaction": "k"}),
    );
    assert_eq!(
        ka,
        json!({"janus": "ack", "session_id": s, "transaction": "k"})
    );
    let taken = r.req(
        Duration::ZERO,
        json!({"janus": "create", "id": s, "transaction": "c2"}),
    );
    assert_eq!(code(&taken), (468, "Session ID already in use".into()));
    assert_eq!(taken["session_id"], json!(s));
    let chosen = r.req(
        Duration::ZERO,
        json!({"janus": "create", "id": 1234, "transaction": "c3"}),
    );
    assert_eq!(chosen["data"]["id"], json!(1234));
}

#[test]
fn wrong_level_verbs() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let e = r.req(
        Duration::ZERO,
        json!({"janus": "attach", "plugin": "x", "transaction": "t"}),
    );
    assert_eq!(
        code(&e),
        (457, "Unhandled request 'attach' at this path".into())
    );
    let e = r.req(
        Duration::ZERO,
        json!({"janus": "info", "session_id": s, "transaction": "t"}),
    );
    assert_eq!(code(&e), (453, "Unknown request 'info'".into()));
    let e = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "handle_id": h, "plugin": "x", "transaction": "t"}));
    assert_eq!(
        code(&e),
        (457, "Unhandled request 'attach' at this path".into())
    );
    let e = r.req(
        Duration::ZERO,
        json!({"janus": "message", "session_id": s, "body": {}, "transaction": "t"}),
    );
    assert_eq!(code(&e).0, 457);
    let e = r.req(
        Duration::ZERO,
        json!({"janus": "keepalive", "session_id": 1, "transaction": "t"}),
    );
    assert_eq!(code(&e), (458, "No such session 1".into()));
    let e = r.req(
        Duration::ZERO,
        json!({"janus": "detach", "session_id": s, "handle_id": 99, "transaction": "t"}),
    );
    assert_eq!(code(&e), (459, format!("No such handle 99 in session {s}")));
    let e = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.nope", "transaction": "t"}));
    assert_eq!(code(&e), (460, "No such plugin 'janus.plugin.nope'".into()));
    let e = r.core.handle_request(r.t0, &r.owner, &json!([1])).reply;
    assert_eq!(
        code(&e),
        (456, "Missing mandatory element (transaction)".into())
    );
}

#[test]
fn idle_session_times_out_with_a_timeout_event_and_no_handle_events() {
    let mut g = GeneralConfig::default();
    g.session_timeout = 3;
    let r = rig_with(g);
    let s = r.create();
    let h = r.attach(s);
    r.plugin.log.take();
    let mut t = Duration::ZERO;
    while r.core.stats().sessions == 1 {
        t += Duration::from_secs(2);
        assert!(t < Duration::from_secs(20), "never expired");
        r.core.handle_tick(r.t0 + t);
    }
    assert_eq!(t, Duration::from_secs(6));
    assert_eq!(
        r.sink.take(),
        vec![json!({"janus": "timeout", "session_id": s})]
    );
    assert_eq!(*r.sink.1.lock().unwrap(), vec![SessionOver::TimedOut]);
    assert_eq!(r.plugin.log.take(), vec![format!("destroy_session {h}")]);
    let e = r.req(
        t,
        json!({"janus": "keepalive", "session_id": s, "transaction": "k"}),
    );
    assert_eq!(code(&e).0, 458);
    assert_eq!(r.core.stats().sessions_timed_out, 1);
}

#[test]
fn keepalives_keep_a_session_and_per_session_override_wins() {
    let r = rig();
    let s = r.create();
    for i in 1..=40u64 {
        let at = Duration::from_secs(i * 2);
        if i % 10 == 0 {
            r.req(
                at,
                json!({"janus": "keepalive", "session_id": s, "transaction": "k"}),
            );
        }
        r.core.handle_tick(r.t0 + at);
    }
    assert_eq!(r.core.stats().sessions, 1);
    let v = r.core.handle_admin(
        r.t0,
        &json!({"janus": "set_session_timeout", "session_id": s, "timeout": 0, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v["timeout"], json!(0));
    r.core.handle_tick(r.t0 + Duration::from_secs(1000));
    r.core.handle_tick(r.t0 + Duration::from_secs(1002));
    assert_eq!(r.core.stats().sessions, 1);
}

#[test]
fn transport_loss_destroys_or_waits_for_a_claim() {
    let r = rig();
    let s = r.create();
    r.attach(s);
    r.core.transport_gone(r.owner.conn);
    assert_eq!(r.core.stats().sessions, 0);
    assert!(r.sink.take().is_empty(), "no events on transport loss");

    let mut g = GeneralConfig::default();
    g.reclaim_session_timeout = 10;
    let r = rig_with(g);
    let s = r.create();
    let h = r.attach(s);
    r.core.transport_gone(r.owner.conn);
    r.core.handle_tick(r.t0 + Duration::from_secs(2));
    let other = Arc::new(Sink::default());
    let new_owner = Owner {
        conn: ConnId::next(),
        sink: other.clone(),
    };
    let claim = json!({"janus": "claim", "session_id": s, "transaction": "cl"});
    let v = r
        .core
        .handle_request(r.t0 + Duration::from_secs(3), &new_owner, &claim)
        .reply;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "cl"})
    );
    r.core.webrtc_event(HandleId(h), WebRtcEvent::Up);
    assert_eq!(other.take()[0]["janus"], "webrtcup");

    // A second orphan, never claimed: gone once the window (from last activity) passed.
    let s2 = r.create();
    r.core.transport_gone(r.owner.conn);
    for i in 1..=7 {
        r.core.handle_tick(r.t0 + Duration::from_secs(i * 2));
    }
    let e = r.core.handle_request(
        r.t0 + Duration::from_secs(15),
        &new_owner,
        &json!({"janus": "claim", "session_id": s2, "transaction": "x"}),
    );
    assert_eq!(code(&e.reply).0, 458);
    assert_eq!(r.core.stats().sessions_reclaim_expired, 1);
}

#[test]
fn destroy_sends_no_handle_events() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    r.req(Duration::ZERO, json!({"janus": "message", "session_id": s, "handle_id": h, "body": {}, "jsep": {"type": "offer", "sdp": "v=0\r\n"}, "transaction": "m"}));
    r.sink.take();
    let v = r.req(
        Duration::ZERO,
        json!({"janus": "destroy", "session_id": s, "transaction": "x"}),
    );
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "x"})
    );
    assert!(r.sink.take().is_empty());
    assert!(r
        .host
        .log
        .take()
        .contains(&format!("hangup {h} Detach true")));
    assert_eq!(
        r.plugin.log.take(),
        vec![
            format!("create_session {h}"),
            format!("hangup_media {h}"),
            format!("destroy_session {h}")
        ]
    );
}

#[test]
fn detach_replies_then_sends_detached() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let resp = r.core.handle_request(
        r.t0,
        &r.owner,
        &json!({"janus": "detach", "session_id": s, "handle_id": h, "transaction": "d"}),
    );
    assert_eq!(
        resp.reply,
        json!({"janus": "success", "session_id": s, "transaction": "d"})
    );
    assert!(r.sink.take().is_empty(), "detached must follow the reply");
    resp.send_after();
    assert_eq!(
        r.sink.take(),
        vec![json!({"janus": "detached", "session_id": s, "sender": h})]
    );
    let again = r.req(
        Duration::ZERO,
        json!({"janus": "detach", "session_id": s, "handle_id": h, "transaction": "d"}),
    );
    assert_eq!(
        code(&again),
        (459, format!("No such handle {h} in session {s}"))
    );
}

#[test]
fn message_sync_async_error_and_jsep_paths() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let m = |body: Value| json!({"janus": "message", "session_id": s, "handle_id": h, "body": body, "transaction": "m"});
    let v = r.req(Duration::ZERO, m(json!({"sync": true})));
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "m", "sender": h,
               "plugindata": {"plugin": "janus.plugin.echotest", "data": {"echotest": "response"}}})
    );
    let v = r.req(Duration::ZERO, m(json!({"fail": true})));
    assert_eq!(code(&v), (462, "nope".into()));
    let mut offer = m(json!({}));
    offer["jsep"] = json!({"type": "offer", "sdp": "v=0\r\n"});
    let v = r.req(Duration::ZERO, offer);
    assert_eq!(
        v,
        json!({"janus": "ack", "session_id": s, "transaction": "m", "hint": "I'm taking my time!"})
    );
    let ev = r.sink.take();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["janus"], "event");
    assert_eq!(ev[0]["transaction"], "m");
    assert_eq!(ev[0]["sender"], json!(h));
    assert_eq!(
        ev[0]["jsep"],
        json!({"type": "answer", "sdp": "v=0\r\na=merged\r\n"})
    );
    assert_eq!(
        r.host.log.take(),
        vec![format!("remote offer {h}"), format!("local answer {h}")]
    );
    let mut bad = m(json!({}));
    bad["jsep"] = json!({"type": "offer", "sdp": "x"});
    assert_eq!(
        code(&r.req(Duration::ZERO, bad)),
        (465, "Invalid SDP (doesn't start with v=)".into())
    );
    assert_eq!(
        code(&r.req(
            Duration::ZERO,
            json!({"janus": "message", "session_id": s, "handle_id": h, "transaction": "m"})
        ))
        .0,
        456
    );
}

#[test]
fn trickles_are_acked_early_and_validated_once_negotiated() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let t = |extra: Value| {
        let mut v =
            json!({"janus": "trickle", "session_id": s, "handle_id": h, "transaction": "t"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        r.req(Duration::ZERO, v)
    };
    assert_eq!(
        t(json!({"candidate": {"candidate": "c"}}))["janus"],
        "ack",
        "early: not validated"
    );
    assert_eq!(code(&t(json!({}))).0, 456);
    assert_eq!(code(&t(json!({"candidate": {}, "candidates": []}))).0, 454);
    r.req(Duration::ZERO, json!({"janus": "message", "session_id": s, "handle_id": h, "body": {}, "jsep": {"type": "offer", "sdp": "v=0"}, "transaction": "m"}));
    assert_eq!(
        code(&t(json!({"candidate": {"candidate": "c"}}))),
        (
            456,
            "Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)".into()
        )
    );
    assert_eq!(code(&t(json!({"candidates": {}}))).0, 467);
    assert_eq!(
        t(json!({"candidates": [{"candidate": "a", "sdpMid": "0"}, {"bad": 1}]}))["janus"],
        "ack"
    );
    assert_eq!(t(json!({"candidate": null}))["janus"], "ack");
    assert_eq!(t(json!({"candidate": {"completed": true}}))["janus"], "ack");
    let log = r.host.log.take();
    assert!(log.contains(&format!("trickle {h} a")));
    assert!(log.contains(&format!("trickle {h} ")));
}

#[test]
fn webrtc_events_reach_plugin_and_client() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    r.plugin.log.take();
    r.core.webrtc_event(HandleId(h), WebRtcEvent::Up);
    r.core.webrtc_event(
        HandleId(h),
        WebRtcEvent::Media {
            mid: "0".into(),
            kind: "audio",
            receiving: true,
            substream: None,
            seconds: None,
        },
    );
    r.core.webrtc_event(
        HandleId(h),
        WebRtcEvent::SlowLink {
            mid: "1".into(),
            media: "video",
            uplink: false,
            lost: 7,
        },
    );
    r.core.webrtc_event(
        HandleId(h),
        WebRtcEvent::Hangup {
            reason: "DTLS alert".into(),
        },
    );
    assert_eq!(
        r.sink.take(),
        vec![
            json!({"janus": "webrtcup", "session_id": s, "sender": h}),
            json!({"janus": "media", "session_id": s, "sender": h, "mid": "0", "type": "audio", "receiving": true}),
            json!({"janus": "slowlink", "session_id": s, "sender": h, "mid": "1", "media": "video", "uplink": false, "lost": 7}),
            json!({"janus": "hangup", "session_id": s, "sender": h, "reason": "DTLS alert"}),
        ]
    );
    assert_eq!(
        r.plugin.log.take(),
        vec![format!("setup_media {h}"), format!("hangup_media {h}")]
    );
    let v = r.req(
        Duration::ZERO,
        json!({"janus": "hangup", "session_id": s, "handle_id": h, "transaction": "h"}),
    );
    assert_eq!(v["janus"], "success");
    assert!(r
        .host
        .log
        .take()
        .contains(&format!("hangup {h} Janus API false")));
}

#[test]
fn api_secret_and_tokens() {
    let mut g = GeneralConfig::default();
    g.api_secret = Some("secret".into());
    g.token_auth = true;
    let r = rig_with(g);
    assert_eq!(
        code(&r.req(
            Duration::ZERO,
            json!({"janus": "create", "transaction": "c"})
        ))
        .0,
        403
    );
    assert_eq!(
        r.req(Duration::ZERO, json!({"janus": "ping", "transaction": "p"}))["janus"],
        "pong"
    );
    assert_eq!(
        r.req(Duration::ZERO, json!({"janus": "info", "transaction": "i"}))["janus"],
        "server_info"
    );
    let admin = |v: Value| r.core.handle_admin(r.t0, &v);
    let v = admin(
        json!({"janus": "add_token", "token": "tok", "plugins": ["janus.plugin.none"], "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v["data"]["plugins"], json!([]));
    let s = r.req(
        Duration::ZERO,
        json!({"janus": "create", "token": "tok", "transaction": "c"}),
    )["data"]["id"]
        .as_u64()
        .unwrap();
    let e = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "token": "tok", "plugin": "janus.plugin.echotest", "transaction": "a"}));
    assert_eq!(
        code(&e),
        (
            405,
            "Provided token can't access plugin 'janus.plugin.echotest'".into()
        )
    );
    let ok = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "apisecret": "secret", "plugin": "janus.plugin.echotest", "transaction": "a"}));
    assert_eq!(ok["janus"], "success");
    let v = admin(
        json!({"janus": "allow_token", "token": "tok", "plugins": ["janus.plugin.echotest"], "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v["data"]["plugins"], json!(["janus.plugin.echotest"]));
    let ok = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "token": "tok", "plugin": "janus.plugin.echotest", "transaction": "a"}));
    assert_eq!(ok["janus"], "success");
    let v =
        admin(json!({"janus": "list_tokens", "transaction": "t", "admin_secret": "janusoverlord"}));
    assert_eq!(
        v["data"]["tokens"],
        json!([{"token": "tok", "allowed_plugins": ["janus.plugin.echotest"]}])
    );
    let v = admin(
        json!({"janus": "allow_token", "token": "nope", "plugins": ["janus.plugin.echotest"], "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(code(&v), (470, "Token nope not found".into()));
    let v = admin(
        json!({"janus": "remove_token", "token": "tok", "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v, json!({"janus": "success", "transaction": "t"}));
    assert_eq!(
        code(&r.req(
            Duration::ZERO,
            json!({"janus": "keepalive", "session_id": s, "token": "tok", "transaction": "k"})
        ))
        .0,
        403
    );
}

#[test]
fn signed_tokens_authorize_requests_and_plugins() {
    let mut g = GeneralConfig::default();
    g.token_auth = true;
    g.token_auth_secret = Some("janus".into());
    let r = rig_with(g);
    let data = "4000000000,janus,janus.plugin.echotest";
    let token = format!("{data}:{}", crate::auth::sign("janus", data));
    let s = r.req(
        Duration::ZERO,
        json!({"janus": "create", "token": token, "transaction": "c"}),
    )["data"]["id"]
        .as_u64()
        .unwrap();
    let ok = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "token": token, "plugin": "janus.plugin.echotest", "transaction": "a"}));
    assert_eq!(ok["janus"], "success");
    let data2 = "4000000000,janus";
    let token2 = format!("{data2}:{}", crate::auth::sign("janus", data2));
    let e = r.req(Duration::ZERO, json!({"janus": "attach", "session_id": s, "token": token2, "plugin": "janus.plugin.echotest", "transaction": "a"}));
    assert_eq!(code(&e).0, 405);
    let v = r.core.handle_admin(r.t0, &json!({"janus": "add_token", "token": "x", "transaction": "t", "admin_secret": "janusoverlord"}));
    assert_eq!(
        code(&v),
        (490, "Stored-Token based authentication disabled".into())
    );
}

#[test]
fn admin_requests() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let admin = |v: Value| r.core.handle_admin(r.t0 + Duration::from_secs(1), &v);
    assert_eq!(
        code(&admin(
            json!({"janus": "list_sessions", "transaction": "t"})
        ))
        .0,
        403
    );
    assert_eq!(
        code(&admin(
            json!({"janus": "list_sessions", "transaction": "t", "admin_secret": "bad"})
        ))
        .0,
        403
    );
    let v = admin(
        json!({"janus": "list_sessions", "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(
        v,
        json!({"janus": "success", "transaction": "t", "sessions": [s]})
    );
    let v = admin(
        json!({"janus": "list_handles", "session_id": s, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t", "handles": [h]})
    );
    let v = admin(
        json!({"janus": "handle_info", "session_id": s, "handle_id": h, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    let info = &v["info"];
    assert_eq!(v["handle_id"], json!(h));
    assert_eq!(info["plugin"], "janus.plugin.echotest");
    assert_eq!(info["plugin_specific"], json!({"state": "test"}));
    assert_eq!(info["flags"]["ready"], json!(true));
    assert_eq!(info["flags"]["got-offer"], json!(false));
    assert!(info["webrtc"]["ice"].is_object());
    assert_eq!(info["session_transport"], "janus.transport.test");
    let v = admin(json!({"janus": "create", "transaction": "t", "admin_secret": "janusoverlord"}));
    assert_eq!(
        code(&v),
        (457, "Unhandled request 'create' at this path".into())
    );
    let v = admin(
        json!({"janus": "set_log_level", "level": 9, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(
        code(&v),
        (
            467,
            "Invalid element type (level should be between 0 and 7)".into()
        )
    );
    let v = admin(
        json!({"janus": "set_session_timeout", "timeout": 30, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v["timeout"], json!(30));
    let v =
        admin(json!({"janus": "get_status", "transaction": "t", "admin_secret": "janusoverlord"}));
    assert_eq!(v["status"]["session_timeout"], json!(30));
    let v = admin(
        json!({"janus": "accept_new_sessions", "accept": false, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v["accept"], json!(false));
    assert_eq!(
        code(&r.req(
            Duration::ZERO,
            json!({"janus": "create", "transaction": "c"})
        )),
        (472, "Currently not accepting new sessions".into())
    );
    let v = admin(
        json!({"janus": "hangup_webrtc", "session_id": s, "handle_id": h, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(v["janus"], "success");
    assert!(r
        .host
        .log
        .take()
        .contains(&format!("hangup {h} Admin API false")));
    let v = admin(
        json!({"janus": "message_plugin", "plugin": "janus.plugin.echotest", "request": {}, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(
        code(&v),
        (490, "Plugin doesn't support Admin API messages".into())
    );
    let v = admin(
        json!({"janus": "detach_handle", "session_id": s, "handle_id": h, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t"})
    );
    assert_eq!(
        r.sink.take(),
        vec![json!({"janus": "detached", "session_id": s, "sender": h})]
    );
    let v = admin(
        json!({"janus": "destroy_session", "session_id": s, "transaction": "t", "admin_secret": "janusoverlord"}),
    );
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t"})
    );
    assert_eq!(r.core.stats().sessions, 0);
}

#[test]
fn plugin_end_session_detaches_and_push_to_unknown_handle_fails() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    r.core.end_session(HandleId(h));
    assert_eq!(
        r.sink.take(),
        vec![json!({"janus": "detached", "session_id": s, "sender": h})]
    );
    assert_eq!(
        r.core.push_event(HandleId(h), None, json!({}), None),
        Err(crate::plugin::PushError::NoSuchHandle)
    );
    assert_eq!(r.core.stats().handles, 0);
}

/// A tiny deterministic generator (xorshift) for malformed-input tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Random values for the keys the core reads.
fn random_value(rng: &mut Rng, ids: &[u64], depth: u32) -> Value {
    match rng.next() % 9 {
        0 => Value::Null,
        1 => Value::from(rng.next().is_multiple_of(2)),
        2 => Value::from(*rng.pick(ids)),
        3 => Value::from(-(rng.next() as i64 % 5)),
        4 => Value::from(1.5),
        5 => Value::from(*rng.pick(&[
            "offer",
            "answer",
            "v=0\r\n",
            "",
            "janus.plugin.echotest",
            "x",
        ])),
        6 if depth < 3 => Value::Array(
            (0..rng.next() % 3)
                .map(|_| random_value(rng, ids, depth + 1))
                .collect(),
        ),
        7 if depth < 3 => random_object(rng, ids, depth + 1),
        _ => Value::from(*rng.pick(ids)),
    }
}

fn random_object(rng: &mut Rng, ids: &[u64], depth: u32) -> Value {
    const KEYS: [&str; 16] = [
        "janus",
        "transaction",
        "session_id",
        "handle_id",
        "plugin",
        "opaque_id",
        "body",
        "jsep",
        "type",
        "sdp",
        "candidate",
        "candidates",
        "sdpMid",
        "sdpMLineIndex",
        "completed",
        "token",
    ];
    let mut m = serde_json::Map::new();
    for _ in 0..rng.next() % 7 {
        m.insert((*rng.pick(&KEYS)).to_owned(), random_value(rng, ids, depth));
    }
    Value::Object(m)
}

#[test]
fn malformed_requests_never_panic_and_always_get_one_reply() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let ids = [0, 1, s, h, u64::MAX, 1 << 53];
    let verbs = [
        "create",
        "attach",
        "message",
        "trickle",
        "detach",
        "hangup",
        "destroy",
        "keepalive",
        "claim",
        "info",
        "ping",
        "x",
    ];
    let admin_verbs = [
        "list_sessions",
        "handle_info",
        "set_session_timeout",
        "add_token",
        "message_plugin",
        "x",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..5000 {
        let mut v = random_object(&mut rng, &ids, 0);
        if !rng.next().is_multiple_of(4) {
            v["janus"] = Value::from(*rng.pick(&verbs));
            v["transaction"] = Value::from(format!("t{i}"));
        }
        let reply = r.core.handle_request(r.t0, &r.owner, &v);
        assert!(reply.reply["janus"].is_string(), "{v} -> {}", reply.reply);
        reply.send_after();
        v["janus"] = Value::from(*rng.pick(&admin_verbs));
        v["admin_secret"] = Value::from("janusoverlord");
        assert!(r.core.handle_admin(r.t0, &v)["janus"].is_string());
        let garbage = random_value(&mut rng, &ids, 0);
        assert!(r.core.handle_request(r.t0, &r.owner, &garbage).reply["janus"].is_string());
    }
}

#[test]
fn opaque_id_is_echoed_only_when_configured() {
    let mut g = GeneralConfig::default();
    g.opaqueid_in_api = true;
    let r = rig_with(g);
    let s = r.create();
    let h = r.req(
        Duration::ZERO,
        json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.echotest", "opaque_id": "o1", "transaction": "a"}),
    )["data"]["id"]
        .as_u64()
        .unwrap();
    r.core.webrtc_event(HandleId(h), WebRtcEvent::Up);
    assert_eq!(
        r.sink.take(),
        vec![json!({"janus": "webrtcup", "session_id": s, "sender": h, "opaque_id": "o1"})]
    );
    let v = r.req(Duration::ZERO, json!({"janus": "message", "session_id": s, "handle_id": h, "body": {"sync": true}, "transaction": "m"}));
    assert_eq!(v["opaque_id"], "o1");
}

#[test]
fn test_loss_exists_only_with_test_hooks() {
    let r = rig();
    let s = r.create();
    let h = r.attach(s);
    let admin = |v: Value| r.core.handle_admin(r.t0, &v);
    let ask = |percent: Value| {
        admin(
            json!({"janus": "test_loss", "session_id": s, "handle_id": h, "percent": percent,
            "transaction": "t", "admin_secret": "janusoverlord"}),
        )
    };
    // Off (the default): an unknown request, nothing reaches the host.
    assert_eq!(
        code(&ask(json!(20))),
        (457, "Unhandled request 'test_loss' at this path".into())
    );
    assert!(!r
        .host
        .log
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("test_loss")));
    r.host
        .hooks
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // Still needs the admin secret.
    let v = admin(
        json!({"janus": "test_loss", "session_id": s, "handle_id": h, "percent": 20, "transaction": "t"}),
    );
    assert_eq!(code(&v).0, 403);
    assert_eq!(code(&ask(json!(101))).0, 467);
    assert_eq!(code(&ask(json!("x"))).0, 467);
    assert_eq!(
        code(&ask(json!(20))),
        (490, "No PeerConnection on this handle".into())
    );
    r.req(
        Duration::ZERO,
        json!({"janus": "message", "session_id": s, "handle_id": h, "transaction": "m",
        "body": {}, "jsep": {"type": "offer", "sdp": "v=0\r\n"}}),
    );
    let v = ask(json!(20));
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t", "percent": 20, "dropped": 7})
    );
}
