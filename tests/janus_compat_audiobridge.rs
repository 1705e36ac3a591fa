//! Conformance of the real `ianus` binary with Debian's Janus 1.1.2 for the AudioBridge API:
//! the same request sequence over WebSocket against both servers (each freshly started with
//! the sample room 1234), comparing the plugin data of every reply and event.
//!
//! Values are compared exactly except those random by design (forwarder `stream_id`s, the
//! address and port a plain-RTP participant is told to use); error codes and texts must match
//! word for word. Lists Janus builds from hash tables (participants, rooms, tokens,
//! forwarders) are compared as sets. Media is out of scope (Janus cannot gather candidates on
//! loopback without a network namespace): every request here works without a PeerConnection.
//! `stop_all_files` (Janus 1.2) is not compared: 1.1.2 does not know it. `permanent` rooms
//! go to Janus's jcfg copy and to Ianus's `rooms_file`.
//!
//! Skipped (with a notice) when `/usr/bin/janus` is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../signaling/tests/common/mod.rs"]
mod common;
#[path = "../signaling/tests/janus_ref/mod.rs"]
mod janus_ref;

mod ianus_process;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::Ws;
use ianus_process::IanusProcess as Ianus;
use janus_ref::{start_janus, JANUS};
use serde_json::{json, Map, Value};

const PLUGIN: &str = "janus.plugin.audiobridge";

// ---------------------------------------------------------------------------------------------
// The Ianus binary

async fn start_ianus() -> Ianus {
    Ianus::start("audiobridge-compat", |dir| {
        format!(
            "[plugins.audiobridge]\nlocal_ip = \"127.0.0.1\"\nrooms_file = \"{}\"\n",
            dir.join("audiobridge-rooms.toml").display()
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// A Janus API client over WebSocket

/// Keeps the messages it was not waiting for: acks and events may arrive in either order.
struct Client {
    ws: Ws,
    session: u64,
    pending: Vec<Value>,
    next_tx: u32,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let mut c = Client {
            ws: Ws::open(addr).await,
            session: 0,
            pending: Vec::new(),
            next_tx: 0,
        };
        let r = c.request(json!({"janus": "create"})).await;
        c.session = r["data"]["id"].as_u64().expect("session id");
        c
    }

    fn tx(&mut self) -> String {
        self.next_tx += 1;
        format!("ab{}", self.next_tx)
    }

    /// Sends `req` with a fresh transaction; returns the reply (never an `event`).
    async fn request(&mut self, mut req: Value) -> Value {
        let tx = self.tx();
        req["transaction"] = Value::from(tx.clone());
        if self.session != 0 {
            req["session_id"] = Value::from(self.session);
        }
        self.ws.send(&req).await;
        let is_reply = |m: &Value| m["transaction"] == tx.as_str() && m["janus"] != "event";
        self.wait(is_reply).await
    }

    /// The first message, queued or arriving, that satisfies `pred`.
    async fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        loop {
            let m = self.ws.recv().await;
            if pred(&m) {
                return m;
            }
            self.pending.push(m);
        }
    }

    async fn attach(&mut self) -> u64 {
        let r = self
            .request(json!({"janus": "attach", "plugin": PLUGIN}))
            .await;
        r["data"]["id"].as_u64().expect("handle id")
    }

    /// A `message` on `h`: the plugin data of the sync reply or of the async event (with the
    /// core envelope's verdict: `success` or `ack`+`event`).
    async fn message(&mut self, h: u64, body: Value) -> Value {
        let tx = self.tx();
        let req = json!({"janus": "message", "session_id": self.session, "handle_id": h,
                         "transaction": tx, "body": body});
        self.ws.send(&req).await;
        let reply = self
            .wait(|m| m["transaction"] == tx.as_str() && m["janus"] != "event")
            .await;
        match reply["janus"].as_str() {
            Some("success") => json!({"sync": reply["plugindata"]["data"]}),
            Some("ack") => {
                let ev = self
                    .wait(|m| m["transaction"] == tx.as_str() && m["janus"] == "event")
                    .await;
                json!({"async": ev["plugindata"]["data"], "ack_hint": reply.get("hint")})
            }
            _ => json!({"core": reply["error"]}),
        }
    }

    /// The next unsolicited plugin event on `h` (no transaction).
    async fn event(&mut self, h: u64) -> Value {
        let m = self
            .wait(|m| m["janus"] == "event" && m["sender"] == h && m.get("transaction").is_none())
            .await;
        m["plugindata"]["data"].clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The sequence

/// Values random by design masked, hash-ordered lists sorted.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let kept = match (k.as_str(), val) {
                    ("stream_id", Value::Number(_)) => Value::from("<stream_id>"),
                    ("rtp", Value::Object(r)) => {
                        let mut r = r.clone();
                        for key in ["ip", "port"] {
                            if r.contains_key(key) {
                                r.insert(key.into(), Value::from(format!("<{key}>")));
                            }
                        }
                        Value::Object(r)
                    }
                    ("participants" | "list" | "allowed" | "rtp_forwarders", Value::Array(a)) => {
                        let mut items: Vec<Value> = a.iter().map(normalize).collect();
                        items.sort_by_key(|x| x.to_string());
                        Value::Array(items)
                    }
                    _ => normalize(val),
                };
                out.insert(k.clone(), kept);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

#[derive(Default)]
struct Run {
    seen: Vec<(String, Value)>,
}

impl Run {
    fn note(&mut self, label: &str, v: Value) {
        println!("  {label} -> {v}");
        self.seen.push((label.to_owned(), normalize(&v)));
    }
}

async fn audiobridge_sequence(addr: SocketAddr, file: &Path) -> Run {
    let mut run = Run::default();
    let mut c = Client::connect(addr).await;
    let h1 = c.attach().await;
    let h2 = c.attach().await;
    let h3 = c.attach().await;
    let h4 = c.attach().await;
    let file = file.to_string_lossy().to_string();

    // Plain validation, on a fresh handle.
    for (label, body) in [
        ("no request", json!({})),
        ("request not a string", json!({"request": 5})),
        ("unknown request", json!({"request": "frobnicate"})),
        ("configure before join", json!({"request": "configure"})),
        ("leave before join", json!({"request": "leave"})),
        ("changeroom no room", json!({"request": "changeroom"})),
        (
            "changeroom before join",
            json!({"request": "changeroom", "room": 1234}),
        ),
        (
            "resetdecoder before join",
            json!({"request": "resetdecoder"}),
        ),
        ("hangup before join", json!({"request": "hangup"})),
    ] {
        let r = c.message(h1, body).await;
        run.note(label, r);
    }

    // Synchronous room management.
    for (label, body) in [
        ("list", json!({"request": "list"})),
        ("exists 1234", json!({"request": "exists", "room": 1234})),
        ("exists 4242", json!({"request": "exists", "room": 4242})),
        ("exists no room", json!({"request": "exists"})),
        (
            "exists room string",
            json!({"request": "exists", "room": "1234"}),
        ),
        (
            "exists room negative",
            json!({"request": "exists", "room": -3}),
        ),
        (
            "listparticipants 1234",
            json!({"request": "listparticipants", "room": 1234}),
        ),
        (
            "listparticipants 4242",
            json!({"request": "listparticipants", "room": 4242}),
        ),
        (
            "listparticipants no room",
            json!({"request": "listparticipants"}),
        ),
        (
            "create 4242",
            json!({"request": "create", "room": 4242, "description": "conformance",
            "secret": "s3", "pin": "p1", "sampling_rate": 24000, "audiolevel_event": true,
            "allow_rtp_participants": true, "default_prebuffering": 3}),
        ),
        (
            "create 4242 again",
            json!({"request": "create", "room": 4242}),
        ),
        (
            "create room string",
            json!({"request": "create", "room": "x"}),
        ),
        (
            "create bad rate",
            json!({"request": "create", "sampling_rate": 44100}),
        ),
        (
            "create rate not int",
            json!({"request": "create", "sampling": "16000"}),
        ),
        (
            "create too many groups",
            json!({"request": "create", "groups": ["a", "b", "c", "d", "e", "f"]}),
        ),
        (
            "create groups not strings",
            json!({"request": "create", "groups": ["a", 2]}),
        ),
        (
            "create allowed not strings",
            json!({"request": "create", "allowed": [1]}),
        ),
        (
            "create is_private not bool",
            json!({"request": "create", "is_private": "yes"}),
        ),
        (
            "create 4343 with groups",
            json!({"request": "create", "room": 4343, "secret": "s4",
            "groups": ["a", "b"], "spatial_audio": true}),
        ),
        (
            "edit no secret",
            json!({"request": "edit", "room": 4242, "new_description": "x"}),
        ),
        (
            "edit wrong secret",
            json!({"request": "edit", "room": 4242, "secret": "no"}),
        ),
        (
            "edit secret not string",
            json!({"request": "edit", "room": 4242, "secret": 1}),
        ),
        (
            "edit unknown room",
            json!({"request": "edit", "room": 9999, "secret": "s3"}),
        ),
        ("edit no room", json!({"request": "edit", "secret": "s3"})),
        (
            "edit bad new_is_private",
            json!({"request": "edit", "room": 4242, "secret": "s3", "new_is_private": 1}),
        ),
        (
            "edit ok",
            json!({"request": "edit", "room": 4242, "secret": "s3", "new_description": "edited"}),
        ),
        ("list after create", json!({"request": "list"})),
        (
            "allowed bad action",
            json!({"request": "allowed", "room": 4242, "secret": "s3", "action": "nope"}),
        ),
        (
            "allowed no action",
            json!({"request": "allowed", "room": 4242, "secret": "s3"}),
        ),
        (
            "allowed add",
            json!({"request": "allowed", "room": 4242, "secret": "s3", "action": "add", "allowed": ["tok"]}),
        ),
        (
            "allowed add bad",
            json!({"request": "allowed", "room": 4242, "secret": "s3", "action": "add", "allowed": [3]}),
        ),
        (
            "allowed remove",
            json!({"request": "allowed", "room": 4242, "secret": "s3", "action": "remove", "allowed": ["tok"]}),
        ),
        (
            "allowed disable",
            json!({"request": "allowed", "room": 4242, "secret": "s3", "action": "disable"}),
        ),
        (
            "kick no secret",
            json!({"request": "kick", "room": 4242, "id": 5}),
        ),
        (
            "kick no id",
            json!({"request": "kick", "room": 4242, "secret": "s3"}),
        ),
        ("kick no room", json!({"request": "kick", "id": 5})),
        (
            "kick wrong secret",
            json!({"request": "kick", "room": 4242, "secret": "no", "id": 5}),
        ),
        (
            "kick unknown user",
            json!({"request": "kick", "room": 4242, "secret": "s3", "id": 5}),
        ),
        (
            "kick_all empty",
            json!({"request": "kick_all", "room": 4242, "secret": "s3"}),
        ),
        (
            "mute unknown user",
            json!({"request": "mute", "room": 4242, "secret": "s3", "id": 5}),
        ),
        (
            "unmute no id",
            json!({"request": "unmute", "room": 4242, "secret": "s3"}),
        ),
        (
            "mute_room wrong secret",
            json!({"request": "mute_room", "room": 4242, "secret": "no"}),
        ),
        (
            "enable_recording no record",
            json!({"request": "enable_recording", "room": 4242, "secret": "s3"}),
        ),
        (
            "enable_recording no room",
            json!({"request": "enable_recording", "record": false}),
        ),
        (
            "enable_recording off",
            json!({"request": "enable_recording", "room": 4242, "secret": "s3", "record": false}),
        ),
        (
            "enable_mjrs off",
            json!({"request": "enable_mjrs", "room": 4242, "secret": "s3", "mjrs": false}),
        ),
        (
            "listforwarders wrong secret",
            json!({"request": "listforwarders", "room": 4242, "secret": "no"}),
        ),
        (
            "listforwarders none",
            json!({"request": "listforwarders", "room": 4242, "secret": "s3"}),
        ),
        (
            "rtp_forward no host",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "port": 5000}),
        ),
        (
            "rtp_forward no port",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1"}),
        ),
        (
            "rtp_forward bad codec",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1", "port": 5000, "codec": "g722"}),
        ),
        (
            "rtp_forward port 65536",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1", "port": 65536}),
        ),
        (
            "rtp_forward bad family",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1", "port": 5000, "host_family": "ipx"}),
        ),
        (
            "rtp_forward bad srtp suite",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1", "port": 5000, "srtp_suite": 40, "srtp_crypto": "abc"}),
        ),
        (
            "rtp_forward no such room",
            json!({"request": "rtp_forward", "room": 9999, "host": "127.0.0.1", "port": 5000}),
        ),
        (
            "rtp_forward wrong secret",
            json!({"request": "rtp_forward", "room": 4242, "secret": "no", "host": "127.0.0.1", "port": 5000}),
        ),
        (
            "rtp_forward unknown group",
            json!({"request": "rtp_forward", "room": 4343, "secret": "s4", "host": "127.0.0.1", "port": 5000, "group": "zz"}),
        ),
        (
            "rtp_forward ok",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1", "port": 5000, "ssrc": 1234, "always_on": true}),
        ),
        (
            "rtp_forward pcma",
            json!({"request": "rtp_forward", "room": 4242, "secret": "s3", "host": "127.0.0.1", "port": 5002, "ssrc": 99, "codec": "pcma"}),
        ),
        (
            "rtp_forward group",
            json!({"request": "rtp_forward", "room": 4343, "secret": "s4", "host": "127.0.0.1", "port": 5004, "ssrc": 7, "group": "b"}),
        ),
        (
            "listforwarders two",
            json!({"request": "listforwarders", "room": 4242, "secret": "s3"}),
        ),
        (
            "listforwarders group",
            json!({"request": "listforwarders", "room": 4343, "secret": "s4"}),
        ),
        (
            "stop_rtp_forward no id",
            json!({"request": "stop_rtp_forward", "room": 4242, "secret": "s3"}),
        ),
        (
            "stop_rtp_forward unknown",
            json!({"request": "stop_rtp_forward", "room": 4242, "secret": "s3", "stream_id": 1}),
        ),
        (
            "play_file no filename",
            json!({"request": "play_file", "room": 4242, "secret": "s3"}),
        ),
        (
            "play_file no room",
            json!({"request": "play_file", "filename": file}),
        ),
        (
            "play_file no such room",
            json!({"request": "play_file", "room": 9999, "filename": file}),
        ),
        (
            "play_file wrong secret",
            json!({"request": "play_file", "room": 4242, "secret": "no", "filename": file}),
        ),
        (
            "play_file unreadable",
            json!({"request": "play_file", "room": 4242, "secret": "s3", "filename": "/nonexistent/x.opus"}),
        ),
        (
            "play_file group missing",
            json!({"request": "play_file", "room": 4343, "secret": "s4", "filename": file}),
        ),
        (
            "play_file unknown group",
            json!({"request": "play_file", "room": 4343, "secret": "s4", "filename": file, "group": "zz"}),
        ),
        (
            "play_file ok",
            json!({"request": "play_file", "room": 4242, "secret": "s3", "filename": file, "file_id": "f1"}),
        ),
        (
            "stop_file f1",
            json!({"request": "stop_file", "room": 4242, "secret": "s3", "file_id": "f1"}),
        ),
        (
            "is_playing no file_id",
            json!({"request": "is_playing", "room": 4242, "secret": "s3"}),
        ),
        (
            "is_playing unknown",
            json!({"request": "is_playing", "room": 4242, "secret": "s3", "file_id": "nope"}),
        ),
        (
            "stop_file unknown",
            json!({"request": "stop_file", "room": 4242, "secret": "s3", "file_id": "nope"}),
        ),
    ] {
        let r = c.message(h1, body).await;
        run.note(label, r);
    }

    // Participants.
    for (label, h, body) in [
        ("join no room", h2, json!({"request": "join"})),
        (
            "join unknown room",
            h2,
            json!({"request": "join", "room": 9999}),
        ),
        ("join no pin", h2, json!({"request": "join", "room": 4242})),
        (
            "join wrong pin",
            h2,
            json!({"request": "join", "room": 4242, "pin": "no"}),
        ),
        (
            "join wrong secret",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1", "secret": "no"}),
        ),
        (
            "join bad quality",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1", "quality": 11}),
        ),
        (
            "join bad expected_loss",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1", "expected_loss": 30}),
        ),
        (
            "join bad codec",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1", "codec": "g722"}),
        ),
        (
            "join display not string",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1", "display": 1}),
        ),
        (
            "join rtp not allowed",
            h2,
            json!({"request": "join", "room": 1234, "rtp": {"ip": "127.0.0.1", "port": 5000}}),
        ),
        (
            "join 4242 as 2222",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1", "id": 2222, "display": "two"}),
        ),
        (
            "join taken id",
            h3,
            json!({"request": "join", "room": 4242, "pin": "p1", "id": 2222}),
        ),
        (
            "join again",
            h2,
            json!({"request": "join", "room": 4242, "pin": "p1"}),
        ),
    ] {
        let r = c.message(h, body).await;
        run.note(label, r);
    }
    let r = c
        .message(
            h3,
            json!({"request": "join", "room": 4242, "pin": "p1", "id": 3333, "muted": true}),
        )
        .await;
    run.note("join 4242 as 3333 muted", r);
    let ev = c.event(h2).await;
    run.note("2222 hears 3333 joining", ev);
    let r = c
        .message(h1, json!({"request": "listparticipants", "room": 4242}))
        .await;
    run.note("listparticipants two", r);
    let r = c
        .message(
            h3,
            json!({"request": "configure", "muted": false, "display": "three"}),
        )
        .await;
    run.note("3333 configure", r);
    let ev = c.event(h2).await;
    run.note("2222 hears 3333 configured", ev);
    for (label, body) in [
        (
            "configure bad quality",
            json!({"request": "configure", "quality": 11}),
        ),
        (
            "configure bad type",
            json!({"request": "configure", "muted": "no"}),
        ),
        (
            "configure private settings",
            json!({"request": "configure", "volume": 120, "bitrate": 24000, "prebuffer": 4}),
        ),
        (
            "changeroom same room",
            json!({"request": "changeroom", "room": 4242, "pin": "p1"}),
        ),
        (
            "changeroom unknown room",
            json!({"request": "changeroom", "room": 9999}),
        ),
    ] {
        let r = c.message(h3, body).await;
        run.note(label, r);
    }
    let r = c
        .message(
            h1,
            json!({"request": "mute", "room": 4242, "secret": "s3", "id": 3333}),
        )
        .await;
    run.note("mute 3333", r);
    let ev = c.event(h2).await;
    run.note("2222 hears 3333 muted", ev);
    let ev = c.event(h3).await;
    run.note("3333 hears it was muted", ev);
    let r = c
        .message(
            h1,
            json!({"request": "mute", "room": 4242, "secret": "s3", "id": 3333}),
        )
        .await;
    run.note("mute 3333 again", r);
    let r = c
        .message(
            h1,
            json!({"request": "mute_room", "room": 4242, "secret": "s3"}),
        )
        .await;
    run.note("mute_room", r);
    let ev = c.event(h2).await;
    run.note("2222 hears room muted", ev);
    let ev = c.event(h3).await;
    run.note("3333 hears room muted", ev);
    let r = c
        .message(
            h1,
            json!({"request": "mute_room", "room": 4242, "secret": "s3"}),
        )
        .await;
    run.note("mute_room again", r);
    let r = c.message(h1, json!({"request": "list"})).await;
    run.note("list with a muted room", r);
    let r = c
        .message(
            h1,
            json!({"request": "unmute_room", "room": 4242, "secret": "s3"}),
        )
        .await;
    run.note("unmute_room", r);
    let ev = c.event(h2).await;
    run.note("2222 hears room unmuted", ev);
    let ev = c.event(h3).await;
    run.note("3333 hears room unmuted", ev);
    let r = c
        .message(
            h3,
            json!({"request": "changeroom", "room": 1234, "id": 3333, "display": "moved"}),
        )
        .await;
    run.note("3333 changeroom 1234", r);
    let ev = c.event(h2).await;
    run.note("2222 hears 3333 leaving", ev);
    let r = c.message(h3, json!({"request": "leave"})).await;
    run.note("3333 leaves 1234", r);
    let r = c.message(h3, json!({"request": "leave"})).await;
    run.note("3333 leaves again", r);

    // Groups and spatial audio.
    for (label, body) in [
        (
            "join groups no group",
            json!({"request": "join", "room": 4343}),
        ),
        (
            "join groups unknown group",
            json!({"request": "join", "room": 4343, "group": "zz"}),
        ),
        (
            "join group a",
            json!({"request": "join", "room": 4343, "group": "a", "id": 4444, "spatial_position": 20}),
        ),
        (
            "configure unknown group",
            json!({"request": "configure", "group": "zz"}),
        ),
        (
            "configure group b",
            json!({"request": "configure", "group": "b"}),
        ),
    ] {
        let r = c.message(h4, body).await;
        run.note(label, r);
    }
    let r = c
        .message(h1, json!({"request": "listparticipants", "room": 4343}))
        .await;
    run.note("listparticipants spatial", r);
    let r = c
        .message(
            h1,
            json!({"request": "kick_all", "room": 4343, "secret": "s4"}),
        )
        .await;
    run.note("kick_all 4343", r);
    let ev = c.event(h4).await;
    run.note("4444 hears kicked_all", ev);

    // A plain-RTP participant (no PeerConnection: a kick leaves it in, as in Janus).
    let r = c
        .message(
            h1,
            json!({"request": "join", "room": 4242, "pin": "p1", "id": 5555,
            "rtp": {"ip": "127.0.0.1", "port": 5000, "audiolevel_ext": 1}}),
        )
        .await;
    run.note("plain rtp join", r);
    let ev = c.event(h2).await;
    run.note("2222 hears 5555 joining", ev);
    let r = c
        .message(
            h1,
            json!({"request": "kick", "room": 4242, "secret": "s3", "id": 5555}),
        )
        .await;
    run.note("kick 5555", r);
    let ev = c.event(h2).await;
    run.note("2222 hears 5555 kicked", ev);
    let ev = c.event(h1).await;
    run.note("5555 hears it was kicked", ev);
    let r = c
        .message(h1, json!({"request": "listparticipants", "room": 4242}))
        .await;
    run.note("listparticipants after kick", r);

    // Destroying a room tells its participants.
    let r = c
        .message(
            h1,
            json!({"request": "destroy", "room": 4242, "secret": "no"}),
        )
        .await;
    run.note("destroy wrong secret", r);
    let r = c
        .message(
            h4,
            json!({"request": "destroy", "room": 4242, "secret": "s3"}),
        )
        .await;
    run.note("destroy", r);
    let ev = c.event(h2).await;
    run.note("2222 hears destroyed", ev);
    let ev = c.event(h1).await;
    run.note("5555 hears destroyed", ev);
    let r = c
        .message(h1, json!({"request": "exists", "room": 4242}))
        .await;
    run.note("exists after destroy", r);
    let r = c.message(h2, json!({"request": "configure"})).await;
    run.note("configure in a destroyed room", r);
    let r = c.message(h2, json!({"request": "leave"})).await;
    run.note("leave a destroyed room", r);
    let r = c
        .message(
            h1,
            json!({"request": "destroy", "room": 4343, "secret": "s4"}),
        )
        .await;
    run.note("destroy 4343", r);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audiobridge_api_same_as_debian_janus() {
    if !Path::new(JANUS).exists() {
        println!("NOTICE: {JANUS} not installed; skipping the AudioBridge conformance test");
        return;
    }
    // Any readable file will do for play_file's checks (both servers only open it).
    let file = std::env::temp_dir().join(format!("ianus-ab-compat-{}.opus", std::process::id()));
    std::fs::write(&file, b"OggS").expect("temp file");
    let janus = start_janus().await;
    let ianus = start_ianus().await;
    println!("== janus");
    let j = within_long(audiobridge_sequence(janus.ws, &file)).await;
    drop(janus);
    println!("== ianus");
    let i = within_long(audiobridge_sequence(ianus.ws, &file)).await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(j.seen.len(), i.seen.len());
    let mut diffs = Vec::new();
    for ((label, jv), (_, iv)) in j.seen.iter().zip(&i.seen) {
        if jv != iv {
            diffs.push(format!("{label}:\n    janus {jv}\n    ianus {iv}"));
        }
    }
    for d in &diffs {
        println!("DIFF {d}");
    }
    if !diffs.is_empty() {
        println!("--- ianus log ---\n{}", ianus.log());
    }
    assert!(
        diffs.is_empty(),
        "{} differences from Janus 1.1.2 (printed above)",
        diffs.len()
    );
}

/// A whole sequence is bounded too (each wait inside is bounded by `common::DEADLINE`).
async fn within_long<F: std::future::Future>(f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(120), f).await {
        Ok(v) => v,
        Err(_) => panic!("sequence timed out"),
    }
}

// ---------------------------------------------------------------------------------------------
// Ianus only: a plain-RTP participant really gets the mix, and its packets reach the mixer.

/// `GET path` on the Admin HTTP listener; the body.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin http");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("request sent");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("response read");
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of a Prometheus sample line `name value`.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// An RTP packet carrying one 20 ms Opus frame of silence (TOC 0xF8: CELT fullband 20 ms).
fn opus_silence(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 100];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xf8, 0xff, 0xfe]);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_rtp_participant_exchanges_rtp_with_the_mixer() {
    let ianus = start_ianus().await;
    let mut c = Client::connect(ianus.ws).await;
    let h = c.attach().await;
    let r = c
        .message(
            h,
            json!({"request": "create", "room": 77, "allow_rtp_participants": true}),
        )
        .await;
    assert_eq!(r["sync"]["audiobridge"], "created", "{r}");
    let far = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let far_port = far.local_addr().expect("addr").port();
    let r = c
        .message(
            h,
            json!({"request": "join", "room": 77, "id": 1, "display": "sip",
            "rtp": {"ip": "127.0.0.1", "port": far_port, "payload_type": 100}}),
        )
        .await;
    let joined = &r["async"];
    assert_eq!(joined["audiobridge"], "joined", "{r}");
    assert_eq!(joined["rtp"]["ip"], "127.0.0.1", "the configured local_ip");
    assert_eq!(joined["rtp"]["payload_type"], 100);
    let port = joined["rtp"]["port"].as_u64().expect("our port") as u16;
    assert!((10000..=60000).contains(&port), "in rtp_port_range: {port}");

    // The mix comes to the address the participant gave: RTP, PT 100, one SSRC, 50/s.
    let mut ssrcs = std::collections::HashSet::new();
    let mut buf = [0u8; 1500];
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let mut n = 0;
        while n < 25 {
            let (len, _) = far.recv_from(&mut buf).await.expect("recv");
            assert!(len >= 12 && buf[0] >> 6 == 2, "RTP v2");
            assert_eq!(buf[1] & 0x7f, 100, "the participant's payload type");
            ssrcs.insert(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
            n += 1;
        }
        n
    })
    .await
    .unwrap_or_else(|_| panic!("no mix within 10 s:\n{}", ianus.log()));
    assert_eq!(got, 25);
    assert_eq!(ssrcs.len(), 1, "one outgoing SSRC");

    // What the participant sends reaches the mixer (counted on /metrics).
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    for i in 0..20u16 {
        far.send_to(&opus_silence(i, u32::from(i) * 960, 0x1234), to)
            .await
            .expect("send");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = http_get(ianus.admin_http, "/metrics").await;
        let packets_in = metric(&m, "ianus_audiobridge_packets_in_total").unwrap_or(0);
        let rooms = metric(&m, "ianus_audiobridge_rooms");
        let participants = metric(&m, "ianus_audiobridge_participants");
        if packets_in >= 20 {
            assert_eq!(rooms, Some(2), "1234 and 77");
            assert_eq!(participants, Some(1));
            assert!(metric(&m, "ianus_audiobridge_queue_drops_total").is_some());
            assert!(metric(&m, "ianus_audiobridge_packets_out_total").unwrap_or(0) >= 25);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mixer never counted our packets: {packets_in}\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Without an address, the mix goes to where the participant's packets come from.
    let h2 = c.attach().await;
    let r = c
        .message(
            h2,
            json!({"request": "join", "room": 77, "id": 2, "rtp": {}}),
        )
        .await;
    let port2 = r["async"]["rtp"]["port"].as_u64().expect("port") as u16;
    let far2 = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let to2 = SocketAddr::from(([127, 0, 0, 1], port2));
    let mut buf2 = [0u8; 1500];
    let learnt = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seq = 0u16;
        loop {
            far2.send_to(&opus_silence(seq, u32::from(seq) * 960, 0x5678), to2)
                .await
                .expect("send");
            seq = seq.wrapping_add(1);
            if let Ok(Ok((len, _))) =
                tokio::time::timeout(Duration::from_millis(100), far2.recv_from(&mut buf2)).await
            {
                return len >= 12 && buf2[1] & 0x7f == 100;
            }
        }
    })
    .await;
    assert_eq!(learnt, Ok(true), "no mix back to the learnt address");

    // Leaving stops the mix.
    let r = c.message(h, json!({"request": "leave"})).await;
    assert_eq!(r["async"]["audiobridge"], "left", "{r}");
    let quiet = tokio::time::timeout(Duration::from_secs(3), async {
        // Drain what was in flight, then expect silence on the socket.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), far.recv_from(&mut buf)).await {
                Ok(_) => continue,
                Err(_) => return true,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(quiet, "the mix kept coming after leave");
}
