//! Request/event sequences of plugins API §4 driven through the sans-IO [`State`]: the
//! outputs stand in for the core's event sink and the mixer, and the exact event shapes and
//! Janus's error codes/texts are asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::{Arc, Mutex};

use media_core::sdp::{MediaKind, SessionDescription};
use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};

use super::*;
use crate::config::AudioBridgeConfig;
use crate::plugins::audiobridge::media::{self, MixTransport, MixerEvent, RtpPorts};
use crate::plugins::audiobridge::{room, store, sync, AudioBridge};
use signaling::plugin::Plugin as _;

const CHROMIUM_OFFER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/media-core/tests/data/sdp/chromium156_offer_av_data_simulcast.sdp"
));

const A: HandleId = HandleId(101);
const B: HandleId = HandleId(102);
const C: HandleId = HandleId(103);

/// Hands out fixed ports without binding anything.
#[derive(Default)]
pub struct FakePorts {
    pub allocated: Mutex<Vec<HandleId>>,
}

impl RtpPorts for FakePorts {
    fn allocate(&self, handle: HandleId) -> Option<u16> {
        let mut a = self.allocated.lock().unwrap();
        a.push(handle);
        Some(20000 + 2 * a.len() as u16)
    }
    fn local_ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
    }
    fn socket(&self, _handle: HandleId) -> Option<Arc<UdpSocket>> {
        None
    }
    fn release(&self, _handle: HandleId) {}
}

fn state_with(cfg: &AudioBridgeConfig) -> State {
    let mut s = State::new(cfg, Arc::new(FakePorts::default()), None);
    s.take_outputs();
    for h in [A, B, C] {
        s.create_session(h);
    }
    s
}

fn state() -> State {
    state_with(&AudioBridgeConfig::default())
}

/// The offer as the plugin sees it: transport stripped (audio + video + data).
fn offer() -> Jsep {
    let mut sd = SessionDescription::parse(CHROMIUM_OFFER).expect("offer parses");
    sd.strip_transport();
    Jsep::new(JsepType::Offer, sd.to_sdp_string())
}

#[derive(Debug)]
struct Ev {
    handle: HandleId,
    tx: Option<String>,
    data: Value,
    jsep: Option<Jsep>,
}

fn events(out: &[Output]) -> Vec<Ev> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event {
                handle,
                transaction,
                data,
                jsep,
            } => Some(Ev {
                handle: *handle,
                tx: transaction.clone(),
                data: data.clone(),
                jsep: jsep.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn media(out: &[Output]) -> Vec<MediaOp> {
    out.iter()
        .filter_map(|o| match o {
            Output::Media(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Unsolicited events `h` got.
fn notes(out: &[Output], h: HandleId) -> Vec<Value> {
    events(out)
        .into_iter()
        .filter(|e| e.handle == h && e.tx.is_none())
        .map(|e| e.data)
        .collect()
}

/// Runs one async request; returns its reply event and all outputs.
fn ask(s: &mut State, h: HandleId, body: Value, jsep: Option<Jsep>) -> (Ev, Vec<Output>) {
    s.handle_async(h, "tx", &body, jsep.as_ref());
    let out = s.take_outputs();
    let mut evs: Vec<Ev> = events(&out)
        .into_iter()
        .filter(|e| e.handle == h && e.tx.as_deref() == Some("tx"))
        .collect();
    assert_eq!(evs.len(), 1, "one reply to {body}: {out:?}");
    (evs.remove(0), out)
}

fn sync(s: &mut State, body: Value) -> Value {
    let req = body["request"].as_str().unwrap().to_ascii_lowercase();
    s.handle_sync(&req, &body, Some(A)).expect("a sync request")
}

fn err(v: &Value) -> (u64, String) {
    (
        v["error_code"].as_u64().unwrap_or(0),
        v["error"].as_str().unwrap_or("").to_owned(),
    )
}

fn join(s: &mut State, h: HandleId, id: u64, display: &str) -> Ev {
    let (ev, _) = ask(
        s,
        h,
        json!({"request": "join", "room": 1234, "id": id, "display": display}),
        None,
    );
    assert_eq!(ev.data["audiobridge"], "joined", "{:?}", ev.data);
    ev
}

/// Joins and negotiates (offer with `configure`, as the demo does); the PC comes up.
fn join_and_connect(s: &mut State, h: HandleId, id: u64, display: &str) {
    join(s, h, id, display);
    let (ev, _) = ask(
        s,
        h,
        json!({"request": "configure", "muted": false}),
        Some(offer()),
    );
    assert_eq!(ev.data, json!({"audiobridge": "event", "result": "ok"}));
    assert!(ev.jsep.is_some());
    s.setup_media(h);
    s.take_outputs();
}

fn mixed_params(out: &[Output], h: HandleId) -> Option<media::MixParticipant> {
    media(out).into_iter().rev().find_map(|m| match m {
        MediaOp::SetParticipant { handle, params, .. } if handle == h => Some(params),
        _ => None,
    })
}

#[test]
fn sample_room_1234_is_configured_with_a_mixer() {
    let mut s = State::new(
        &AudioBridgeConfig::default(),
        Arc::new(FakePorts::default()),
        None,
    );
    let out = s.take_outputs();
    assert!(
        matches!(&media(&out)[..], [MediaOp::OpenRoom { room: Id::Num(1234), config }]
        if config.sampling_rate == 16000 && !config.spatial_audio)
    );
    s.create_session(A);
    let list = sync(&mut s, json!({"request": "list"}));
    assert_eq!(
        list,
        json!({"audiobridge": "success", "list": [{"room": 1234, "description": "Demo Room",
            "sampling_rate": 16000, "spatial_audio": false, "pin_required": false,
            "record": false, "muted": false, "num_participants": 0}]})
    );
}

#[test]
fn create_edit_exists_destroy() {
    let mut s = state();
    let r = sync(
        &mut s,
        json!({"request": "create", "room": 42, "pin": "p", "secret": "s",
                                "sampling_rate": 48000, "spatial_audio": true}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "created", "room": 42, "permanent": false})
    );
    assert!(media(&s.take_outputs())
        .iter()
        .any(|m| matches!(m, MediaOp::OpenRoom { room: Id::Num(42), config } if config.sampling_rate == 48000 && config.spatial_audio)));
    assert_eq!(
        err(&sync(&mut s, json!({"request": "create", "room": 42}))),
        (486, "Room 42 already exists".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "create", "sampling_rate": 44100})
        )),
        (499, "Unsupported sampling rate 44100".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "create", "groups": ["a", "b", "c", "d", "e", "f"]})
        )),
        (484, "Too many groups specified (max 5 allowed)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "create", "groups": ["a", 1]})
        )),
        (
            484,
            "Invalid element in the groups array (not a string)".into()
        )
    );
    assert_eq!(
        err(&sync(&mut s, json!({"request": "create", "allowed": [1]}))),
        (
            484,
            "Invalid element in the allowed array (not a string)".into()
        )
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "create", "is_private": "yes"})
        )),
        (
            484,
            "Invalid element type (is_private should be a boolean)".into()
        )
    );
    let random = sync(&mut s, json!({"request": "create"}));
    assert!(random["room"]
        .as_u64()
        .is_some_and(|r| r > 0 && r < (1 << 53)));
    // exists
    assert_eq!(
        sync(&mut s, json!({"request": "exists", "room": 42})),
        json!({"audiobridge": "success", "room": 42, "exists": true})
    );
    assert_eq!(
        err(&sync(&mut s, json!({"request": "exists"}))),
        (483, "Missing mandatory element (room)".into())
    );
    // edit
    assert_eq!(
        err(&sync(&mut s, json!({"request": "edit", "room": 42}))),
        (483, "Missing mandatory element (secret)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "edit", "room": 42, "secret": "x"})
        )),
        (489, "Unauthorized (wrong secret)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "edit", "room": 43, "secret": "x"})
        )),
        (485, "No such room (43)".into())
    );
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "edit", "room": 42, "secret": "s", "new_pin": "",
                            "new_description": "Forty-two", "new_is_private": true})
        ),
        json!({"audiobridge": "edited", "room": 42, "permanent": false})
    );
    let list = sync(&mut s, json!({"request": "list"}));
    assert!(
        !list["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room"] == 42),
        "private rooms are not listed"
    );
    // destroy with a participant in it: it hears `destroyed` and its PC is closed.
    ask(
        &mut s,
        A,
        json!({"request": "join", "room": 42, "id": 1}),
        None,
    );
    let r = sync(
        &mut s,
        json!({"request": "destroy", "room": 42, "secret": "s"}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "destroyed", "room": 42, "permanent": false})
    );
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "destroyed", "room": 42})]
    );
    assert!(out.contains(&Output::ClosePc(A)));
    assert!(media(&out).contains(&MediaOp::CloseRoom { room: Id::Num(42) }));
    assert_eq!(
        sync(&mut s, json!({"request": "exists", "room": 42}))["exists"],
        false
    );
    // The participant is out of the room: it may join another one.
    let (ev, _) = ask(&mut s, A, json!({"request": "join", "room": 1234}), None);
    assert_eq!(ev.data["audiobridge"], "joined");
}

#[test]
fn admin_key_guards_create_and_private_listing() {
    let cfg = AudioBridgeConfig {
        admin_key: Some("k".into()),
        lock_rtp_forward: true,
        lock_play_file: true,
        ..AudioBridgeConfig::default()
    };
    let mut s = state_with(&cfg);
    assert_eq!(
        err(&sync(&mut s, json!({"request": "create"}))),
        (483, "Missing mandatory element (admin_key)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "create", "admin_key": "no"})
        )),
        (489, "Unauthorized (wrong admin_key)".into())
    );
    let r = sync(
        &mut s,
        json!({"request": "create", "admin_key": "k", "room": 9, "is_private": true}),
    );
    assert_eq!(r["audiobridge"], "created");
    assert_eq!(
        sync(&mut s, json!({"request": "list"}))["list"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sync(&mut s, json!({"request": "list", "admin_key": "k"}))["list"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "rtp_forward", "room": 1234, "host": "127.0.0.1", "port": 5000, "secret": "adminpwd"})
        )),
        (483, "Missing mandatory element (admin_key)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "play_file", "room": 1234, "filename": "/nonexistent", "secret": "adminpwd"})
        )),
        (483, "Missing mandatory element (admin_key)".into())
    );
}

#[test]
fn allowed_tokens_gate_joins() {
    let mut s = state();
    let r = sync(
        &mut s,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd",
                                "action": "add", "allowed": ["t1", "t2"]}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "success", "room": 1234, "allowed": ["t1", "t2"]})
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "nope"})
        )),
        (484, "Unsupported action 'nope' (allowed)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "add", "allowed": [3]})
        )),
        (
            484,
            "Invalid element in the allowed array (not a string)".into()
        )
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "allowed", "room": 1234, "action": "enable"})
        )),
        (483, "Missing mandatory element (secret)".into())
    );
    let r = sync(
        &mut s,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "enable"}),
    );
    assert_eq!(r["allowed"], json!(["t1", "t2"]));
    let (ev, _) = ask(&mut s, A, json!({"request": "join", "room": 1234}), None);
    assert_eq!(
        err(&ev.data),
        (489, "Unauthorized (not in the allowed list)".into())
    );
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": 1234, "token": "t2"}),
        None,
    );
    assert_eq!(ev.data["audiobridge"], "joined");
    let r = sync(
        &mut s,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "remove", "allowed": ["t1"]}),
    );
    assert_eq!(r["allowed"], json!(["t2"]));
    let r = sync(
        &mut s,
        json!({"request": "allowed", "room": 1234, "secret": "adminpwd", "action": "disable"}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "success", "room": 1234}),
        "no list on disable"
    );
}

#[test]
fn join_notifies_the_room_and_lists_the_others() {
    let mut s = state();
    let a = join(&mut s, A, 11, "alice");
    assert_eq!(
        a.data,
        json!({"audiobridge": "joined", "room": 1234, "id": 11, "participants": []})
    );
    s.handle_async(
        B,
        "tx",
        &json!({"request": "join", "room": 1234, "id": 22, "display": "bob", "muted": true}),
        None,
    );
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "joined", "room": 1234,
                "participants": [{"id": 22, "display": "bob", "setup": false, "muted": true}]})]
    );
    let reply = events(&out).into_iter().find(|e| e.handle == B).unwrap();
    assert_eq!(
        reply.data,
        json!({"audiobridge": "joined", "room": 1234, "id": 22,
               "participants": [{"id": 11, "display": "alice", "setup": false, "muted": false}]})
    );
    // Not in the mixer until their PeerConnection is up, and never mixed while muted.
    assert!(!mixed_params(&out, B).unwrap().receives);
    assert!(!mixed_params(&out, B).unwrap().mixed);
    let l = sync(&mut s, json!({"request": "listparticipants", "room": 1234}));
    assert_eq!(
        l,
        json!({"audiobridge": "participants", "room": 1234, "participants": [
            {"id": 11, "display": "alice", "setup": false, "muted": false},
            {"id": 22, "display": "bob", "setup": false, "muted": true}]})
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "listparticipants", "room": 9})
        )),
        (485, "No such room (9)".into())
    );
}

#[test]
fn join_errors_in_janus_order() {
    let mut s = state();
    s.handle_sync(
        "create",
        &json!({"request": "create", "room": 5, "pin": "p", "secret": "s", "groups": ["g1", "g2"]}),
        None,
    );
    s.take_outputs();
    let cases: Vec<(Value, u64, &str)> = vec![
        (
            json!({"request": "join"}),
            483,
            "Missing mandatory element (room)",
        ),
        (
            json!({"request": "join", "room": "x"}),
            484,
            "Invalid element type (room should be a positive integer)",
        ),
        (
            json!({"request": "join", "room": 1234, "display": 3}),
            484,
            "Invalid element type (display should be a string)",
        ),
        (
            json!({"request": "join", "room": 1234, "id": -1}),
            484,
            "Invalid element type (id should be a positive integer)",
        ),
        (
            json!({"request": "join", "room": 77}),
            485,
            "No such room (77)",
        ),
        (
            json!({"request": "join", "room": 5}),
            483,
            "Missing mandatory element (pin)",
        ),
        (
            json!({"request": "join", "room": 5, "pin": "x"}),
            489,
            "Unauthorized (wrong pin)",
        ),
        (
            json!({"request": "join", "room": 5, "pin": "p", "secret": "x"}),
            489,
            "Unauthorized (wrong secret)",
        ),
        (
            json!({"request": "join", "room": 5, "pin": "p"}),
            483,
            "Missing mandatory element (group)",
        ),
        (
            json!({"request": "join", "room": 5, "pin": "p", "group": "g9"}),
            494,
            "No such group (g9)",
        ),
        (
            json!({"request": "join", "room": 1234, "quality": 11}),
            484,
            "Invalid element (quality should be a positive integer between 1 and 10)",
        ),
        (
            json!({"request": "join", "room": 1234, "quality": 0}),
            484,
            "Invalid element (quality should be a positive integer between 1 and 10)",
        ),
        (
            json!({"request": "join", "room": 1234, "expected_loss": 21}),
            484,
            "Invalid element (expected_loss should be a positive integer between 0 and 20)",
        ),
        (
            json!({"request": "join", "room": 1234, "codec": "g722"}),
            484,
            "Invalid element (codec must opus, pcmu or pcma)",
        ),
        (
            json!({"request": "join", "room": 1234, "rtp": {"ip": "127.0.0.1", "port": 5000}}),
            489,
            "Plain RTP participants not allowed in this room",
        ),
        (
            json!({"request": "join", "room": 1234, "rtp": 5}),
            484,
            "Invalid element type (rtp should be an object)",
        ),
    ];
    for (body, code, text) in cases {
        let (ev, _) = ask(&mut s, A, body.clone(), None);
        assert_eq!(err(&ev.data), (code, text.to_owned()), "{body}");
    }
    join(&mut s, A, 11, "alice");
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request": "join", "room": 1234, "id": 11}),
        None,
    );
    assert_eq!(err(&ev.data), (490, "User ID 11 already exists".into()));
    let (ev, _) = ask(&mut s, A, json!({"request": "join", "room": 1234}), None);
    assert_eq!(
        err(&ev.data),
        (
            491,
            "Already in a room (use changeroom to join another one)".into()
        )
    );
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request": "join", "room": 5, "pin": "p", "group": "g2", "secret": "s"}),
        None,
    );
    assert_eq!(ev.data["audiobridge"], "joined");
    assert_eq!(s.participant(B).unwrap().group, 2);
    assert!(s.participant(B).unwrap().admin);
    let (ev, _) = ask(&mut s, C, json!({"request": "nope"}), None);
    assert_eq!(err(&ev.data), (482, "Unknown request 'nope'".into()));
}

#[test]
fn offer_is_answered_with_the_first_audio_mline_only() {
    let mut s = state();
    join(&mut s, A, 11, "alice");
    let (ev, out) = ask(
        &mut s,
        A,
        json!({"request": "configure", "muted": false}),
        Some(offer()),
    );
    assert_eq!(ev.data, json!({"audiobridge": "event", "result": "ok"}));
    let jsep = ev.jsep.expect("an answer");
    assert_eq!(jsep.kind, JsepType::Answer);
    let sd = SessionDescription::parse(&jsep.sdp).expect("answer parses");
    assert_eq!(sd.session_name, "AudioBridge 1234");
    assert_eq!(sd.media.len(), 3, "one section per offered one");
    let audio = &sd.media[0];
    assert_eq!(audio.kind, MediaKind::Audio);
    assert!(!audio.is_rejected());
    let formats: Vec<u8> = audio.formats_in_order().map(|f| f.pt).collect();
    assert_eq!(formats, [111], "Opus only");
    assert_eq!(
        audio.payloads[0].fmtp.as_deref(),
        Some("maxplaybackrate=16000; stereo=0; sprop-stereo=0; useinbandfec=1")
    );
    let uris: Vec<&str> = audio.extmaps.iter().map(|e| e.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "urn:ietf:params:rtp-hdrext:sdes:mid"
        ]
    );
    assert!(jsep.sdp.contains("a=sendrecv"));
    assert!(jsep
        .sdp
        .contains(&format!("a=ssrc:{}", s.participant(A).unwrap().ssrc)));
    assert!(sd.media[1].is_rejected(), "video rejected");
    assert!(sd.media[2].is_rejected(), "data rejected");
    // What the mixer is told: Opus PT 111, FEC (the offer asked), level ext 1, mid ext 4.
    let p = mixed_params(&out, A).unwrap();
    assert_eq!(
        (p.pt, p.fec, p.audio_level_ext, p.mid_ext),
        (111, true, Some(1), Some(4))
    );
    assert_eq!(p.mid.as_deref(), Some("0"));
    assert!(!p.receives, "not before the PeerConnection is up");
    // PC up: the others hear `setup: true`, the mixer sends to and mixes the participant.
    join(&mut s, B, 22, "bob");
    s.setup_media(A);
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, B),
        [json!({"audiobridge": "event", "room": 1234,
                "participants": [{"id": 11, "display": "alice", "setup": true, "muted": false}]})]
    );
    let p = mixed_params(&out, A).unwrap();
    assert!(p.receives && p.mixed);
    assert_eq!(p.transport, MixTransport::WebRtc);
    // With the audio-level extension, lists carry `talking`.
    let l = sync(&mut s, json!({"request": "listparticipants", "room": 1234}));
    assert_eq!(l["participants"][0]["talking"], false);
    assert!(l["participants"][1].get("talking").is_none());
}

#[test]
fn pcmu_participants_and_spatial_rooms() {
    let mut s = state();
    sync(
        &mut s,
        json!({"request": "create", "room": 8, "sampling_rate": 8000, "spatial_audio": true}),
    );
    s.take_outputs();
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": 8, "id": 1, "codec": "pcmu",
                                        "spatial_position": 130}),
        Some(offer()),
    );
    assert_eq!(ev.data["audiobridge"], "joined");
    let sd = SessionDescription::parse(&ev.jsep.unwrap().sdp).unwrap();
    let formats: Vec<u8> = sd.media[0].formats_in_order().map(|f| f.pt).collect();
    assert_eq!(formats, [0], "PCMU answered");
    assert_eq!(s.participant(A).unwrap().spatial_position, 100, "clamped");
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request": "join", "room": 8, "id": 2}),
        None,
    );
    assert_eq!(ev.data["participants"][0]["spatial_position"], 100);
    let (_, out) = ask(
        &mut s,
        A,
        json!({"request": "configure", "spatial_position": 10}),
        None,
    );
    assert_eq!(
        notes(&out, B),
        [json!({"audiobridge": "event", "room": 8, "participants": [
            {"id": 1, "setup": false, "muted": false, "spatial_position": 10}]})]
    );
}

#[test]
fn configure_changes_settings_and_tells_the_others() {
    let mut s = state();
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "configure", "muted": true}),
        None,
    );
    assert_eq!(
        err(&ev.data),
        (487, "Can't configure (not in a room)".into())
    );
    join_and_connect(&mut s, A, 11, "alice");
    join(&mut s, B, 22, "bob");
    let (ev, out) = ask(
        &mut s,
        A,
        json!({"request": "configure", "muted": true, "display": "al"}),
        None,
    );
    assert_eq!(ev.data, json!({"audiobridge": "event", "result": "ok"}));
    assert!(ev.jsep.is_none());
    assert_eq!(
        notes(&out, B),
        [json!({"audiobridge": "event", "room": 1234,
                "participants": [{"id": 11, "display": "al", "setup": true, "muted": true}]})]
    );
    assert!(
        !mixed_params(&out, A).unwrap().mixed,
        "muted: out of the mix"
    );
    let (ev, out) = ask(
        &mut s,
        A,
        json!({"request": "configure", "volume": 150, "bitrate": 100, "prebuffer": 10}),
        None,
    );
    assert_eq!(ev.data["result"], "ok");
    assert!(
        notes(&out, B).is_empty(),
        "no notification for private settings"
    );
    let p = mixed_params(&out, A).unwrap();
    assert_eq!((p.volume, p.bitrate, p.prebuffer), (150, 0, 10));
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "configure", "quality": 0}),
        None,
    );
    assert_eq!(err(&ev.data).0, 484);
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "configure", "expected_loss": 30}),
        None,
    );
    assert_eq!(err(&ev.data).0, 484);
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "configure", "muted": "no"}),
        None,
    );
    assert_eq!(
        err(&ev.data),
        (
            484,
            "Invalid element type (muted should be a boolean)".into()
        )
    );
    // A second offer on a plugin-answered session renegotiates.
    let mut again = offer();
    again.update = true;
    let (ev, _) = ask(&mut s, A, json!({"request": "configure"}), Some(again));
    let sd = SessionDescription::parse(&ev.jsep.unwrap().sdp).unwrap();
    assert_eq!(sd.origin.session_version, 2);
}

#[test]
fn plugin_offers_and_sdp_errors() {
    let mut s = state();
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": 1234, "id": 1, "generate_offer": true}),
        None,
    );
    assert_eq!(ev.data["audiobridge"], "joined");
    let j = ev.jsep.expect("an offer");
    assert_eq!(j.kind, JsepType::Offer);
    assert!(j.sdp.contains("a=rtpmap:100 opus/48000/2"), "{}", j.sdp);
    assert!(j
        .sdp
        .contains("a=fmtp:100 maxplaybackrate=16000; stereo=0; sprop-stereo=0; useinbandfec=0"));
    assert!(j.sdp.contains("a=sendrecv"));
    assert!(j
        .sdp
        .contains("a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level"));
    // Offers are refused on a plugin-offered session.
    let (ev, _) = ask(&mut s, A, json!({"request": "configure"}), Some(offer()));
    assert_eq!(
        err(&ev.data),
        (493, "Received an offer on a plugin-offered session".into())
    );
    // The answer is taken without a JSEP back.
    let answer = Jsep::new(JsepType::Answer, j.sdp.clone());
    let (ev, _) = ask(&mut s, A, json!({"request": "configure"}), Some(answer));
    assert_eq!(ev.data, json!({"audiobridge": "event", "result": "ok"}));
    assert!(ev.jsep.is_none());
    assert_eq!(s.participant(A).unwrap().opus_pt, 100);
    // An answer we did not ask for, and encrypted media, are refused.
    join(&mut s, B, 2, "b");
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request": "configure"}),
        Some(Jsep::new(JsepType::Answer, offer().sdp)),
    );
    assert_eq!(
        err(&ev.data),
        (
            493,
            "Received an answer when we didn't send an offer".into()
        )
    );
    let mut e2ee = offer();
    e2ee.e2ee = true;
    let (ev, _) = ask(&mut s, B, json!({"request": "configure"}), Some(e2ee));
    assert_eq!(
        err(&ev.data),
        (484, "Media encryption unsupported by this plugin".into())
    );
    // An offer outside a room cannot be answered.
    let (ev, _) = ask(&mut s, C, json!({"request": "hangup"}), Some(offer()));
    assert_eq!(
        err(&ev.data),
        (487, "Can't handle SDP (not in a room)".into())
    );
}

#[test]
fn mute_unmute_and_mute_room() {
    let mut s = state();
    join_and_connect(&mut s, A, 11, "alice");
    join_and_connect(&mut s, B, 22, "bob");
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "mute", "room": 1234, "id": 99, "secret": "adminpwd"})
        )),
        (492, "No such user 99 in room 1234".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "mute", "room": 1234, "id": 11})
        )),
        (483, "Missing mandatory element (secret)".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "mute", "room": 1234, "secret": "adminpwd"})
        )),
        (483, "Missing mandatory element (id)".into())
    );
    let r = sync(
        &mut s,
        json!({"request": "mute", "room": 1234, "id": 11, "secret": "adminpwd"}),
    );
    assert_eq!(r, json!({"audiobridge": "success", "room": 1234}));
    let out = s.take_outputs();
    // Updates carry no `talking` (only participant lists do).
    let update = json!({"audiobridge": "event", "room": 1234,
                        "participants": [{"id": 11, "display": "alice", "setup": true, "muted": true}]});
    assert_eq!(
        notes(&out, A),
        std::slice::from_ref(&update),
        "the muted one hears it too"
    );
    assert_eq!(notes(&out, B), [update]);
    assert!(!mixed_params(&out, A).unwrap().mixed);
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "mute", "room": 1234, "id": 11, "secret": "adminpwd"})
        ),
        json!({"audiobridge": "success"}),
        "already muted: nothing to do"
    );
    sync(
        &mut s,
        json!({"request": "unmute", "room": 1234, "id": 11, "secret": "adminpwd"}),
    );
    assert!(mixed_params(&s.take_outputs(), A).unwrap().mixed);
    // mute_room: everybody hears it; only admins stay in the mix.
    s.participant_mut(B).unwrap().admin = true;
    let r = sync(
        &mut s,
        json!({"request": "mute_room", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(r, json!({"audiobridge": "success", "room": 1234}));
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "event", "room": 1234, "muted": true})]
    );
    assert_eq!(
        notes(&out, B),
        [json!({"audiobridge": "event", "room": 1234, "muted": true})]
    );
    assert!(!mixed_params(&out, A).unwrap().mixed);
    assert!(
        mixed_params(&out, B).is_none(),
        "the admin's snapshot did not change"
    );
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "mute_room", "room": 1234, "secret": "adminpwd"})
        ),
        json!({"audiobridge": "success"})
    );
    assert_eq!(
        sync(&mut s, json!({"request": "list"}))["list"][0]["muted"],
        true
    );
    sync(
        &mut s,
        json!({"request": "unmute_room", "room": 1234, "secret": "adminpwd"}),
    );
    assert!(mixed_params(&s.take_outputs(), A).unwrap().mixed);
}

#[test]
fn kick_closes_the_pc_and_hangup_takes_the_participant_out() {
    let mut s = state();
    join_and_connect(&mut s, A, 11, "alice");
    join_and_connect(&mut s, B, 22, "bob");
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "kick", "room": 1234, "id": 22, "secret": "adminpwd"})
        ),
        json!({"audiobridge": "success"})
    );
    let out = s.take_outputs();
    let kicked = json!({"audiobridge": "event", "room": 1234, "kicked": 22});
    assert_eq!(notes(&out, A), std::slice::from_ref(&kicked));
    assert_eq!(notes(&out, B), [kicked]);
    assert!(out.contains(&Output::ClosePc(B)));
    // The core reports the closed PC: out of the room.
    s.hangup_media(B);
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "event", "room": 1234, "leaving": 22})]
    );
    assert!(media(&out).contains(&MediaOp::RemoveParticipant {
        room: Id::Num(1234),
        handle: B
    }));
    assert_eq!(
        sync(&mut s, json!({"request": "listparticipants", "room": 1234}))["participants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    join_and_connect(&mut s, B, 22, "bob");
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "kick_all", "room": 1234, "secret": "adminpwd"})
        ),
        json!({"audiobridge": "success"})
    );
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "event", "room": 1234, "kicked_all": 11})]
    );
    assert_eq!(
        notes(&out, B),
        [json!({"audiobridge": "event", "room": 1234, "kicked_all": 22})]
    );
    assert!(out.contains(&Output::ClosePc(A)) && out.contains(&Output::ClosePc(B)));
}

#[test]
fn leave_changeroom_hangup_and_detach() {
    let mut s = state();
    sync(&mut s, json!({"request": "create", "room": 5}));
    let (ev, _) = ask(&mut s, A, json!({"request": "leave"}), None);
    assert_eq!(err(&ev.data), (487, "Can't leave (not in a room)".into()));
    let (ev, _) = ask(&mut s, A, json!({"request": "changeroom", "room": 5}), None);
    assert_eq!(
        err(&ev.data),
        (
            487,
            "Can't change room (not in a room in the first place)".into()
        )
    );
    join_and_connect(&mut s, A, 11, "alice");
    join(&mut s, B, 22, "bob");
    ask(
        &mut s,
        C,
        json!({"request": "join", "room": 5, "id": 33}),
        None,
    );
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "changeroom", "room": 1234}),
        None,
    );
    assert_eq!(err(&ev.data), (491, "Already in this room".into()));
    let (ev, _) = ask(&mut s, A, json!({"request": "changeroom", "room": 6}), None);
    assert_eq!(err(&ev.data), (485, "No such room (6)".into()));
    let (ev, out) = ask(
        &mut s,
        A,
        json!({"request": "changeroom", "room": 5, "id": 11, "display": "al"}),
        None,
    );
    assert_eq!(
        ev.data,
        json!({"audiobridge": "roomchanged", "room": 5, "id": 11,
               "participants": [{"id": 33, "setup": false, "muted": false}]})
    );
    assert_eq!(
        notes(&out, B),
        [json!({"audiobridge": "event", "room": 1234, "leaving": 11})]
    );
    assert_eq!(
        notes(&out, C),
        [json!({"audiobridge": "joined", "room": 5,
                "participants": [{"id": 11, "display": "al", "setup": true, "muted": false}]})]
    );
    let m = media(&out);
    assert!(m.contains(&MediaOp::RemoveParticipant {
        room: Id::Num(1234),
        handle: A
    }));
    assert!(m.iter().any(
        |x| matches!(x, MediaOp::SetParticipant { room: Id::Num(5), handle, .. } if *handle == A)
    ));
    // leave: the PC stays, the others hear `leaving`.
    let (ev, out) = ask(&mut s, A, json!({"request": "leave"}), None);
    assert_eq!(ev.data, json!({"audiobridge": "left", "room": 5, "id": 11}));
    assert_eq!(
        notes(&out, C),
        [json!({"audiobridge": "event", "room": 5, "leaving": 11})]
    );
    assert!(!out.iter().any(|o| matches!(o, Output::ClosePc(_))));
    // hangup closes the PC.
    let (ev, out) = ask(&mut s, B, json!({"request": "hangup"}), None);
    assert_eq!(ev.data, json!({"audiobridge": "hangingup"}));
    assert!(out.contains(&Output::ClosePc(B)));
    // Without an `id`, changeroom picks a new random one (as Janus).
    ask(
        &mut s,
        A,
        json!({"request": "join", "room": 1234, "id": 11}),
        None,
    );
    let (ev, _) = ask(&mut s, A, json!({"request": "changeroom", "room": 5}), None);
    assert!(ev.data["id"]
        .as_u64()
        .is_some_and(|id| id != 11 && id < (1 << 53)));
    // Detach: the room hears `leaving`.
    s.destroy_session(C);
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "event", "room": 5, "leaving": 33})]
    );
    assert!(!s.has_session(C));
}

#[test]
fn resetdecoder_needs_a_room() {
    let mut s = state();
    assert_eq!(
        err(&sync(&mut s, json!({"request": "resetdecoder"}))),
        (487, "Can't reset (not in a room)".into())
    );
    join(&mut s, A, 1, "a");
    s.take_outputs();
    assert_eq!(
        sync(&mut s, json!({"request": "resetdecoder"})),
        json!({"audiobridge": "success"})
    );
    assert!(media(&s.take_outputs()).contains(&MediaOp::ResetDecoder {
        room: Id::Num(1234),
        handle: A
    }));
    assert_eq!(
        err(&s
            .handle_sync("resetdecoder", &json!({"request": "resetdecoder"}), None)
            .unwrap())
        .0,
        487,
        "no handle from the Admin API"
    );
}

#[test]
fn rtp_forwarders() {
    let mut s = state();
    let f = |extra: Value| {
        let mut b = json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd",
                           "host": "127.0.0.1", "port": 5002});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(Value, u64, &str)> = vec![
        (
            json!({"request": "rtp_forward", "room": 1234}),
            483,
            "Missing mandatory element (port)",
        ),
        (f(json!({"codec": "g722"})), 484, "Unsupported codec (g722)"),
        (f(json!({"port": 65536})), 484, "Invalid port number (0)"),
        (
            f(json!({"host_family": "ipx"})),
            484,
            "Unsupported protocol family (ipx)",
        ),
        (
            f(json!({"host": "127.0.0.1", "host_family": "ipv6"})),
            484,
            "Could not resolve address (127.0.0.1)...",
        ),
        (
            f(json!({"srtp_suite": 40, "srtp_crypto": "x"})),
            484,
            "Invalid SRTP suite (40)",
        ),
        (f(json!({"room": 9})), 485, "No such room (9"),
        (
            f(json!({"secret": "no"})),
            489,
            "Unauthorized (wrong secret)",
        ),
    ];
    for (body, code, text) in cases {
        assert_eq!(
            err(&sync(&mut s, body.clone())),
            (code, text.to_owned()),
            "{body}"
        );
    }
    let r = sync(&mut s, f(json!({"ssrc": 1234, "always_on": true})));
    let sid = r["stream_id"].as_u64().unwrap();
    assert_eq!(
        r,
        json!({"audiobridge": "success", "room": 1234, "stream_id": sid, "host": "127.0.0.1", "port": 5002})
    );
    assert!(media(&s.take_outputs())
        .iter()
        .any(|m| matches!(m, MediaOp::Forwarders { forwarders, .. } if forwarders.len() == 1)));
    // Names are resolved (before the plugin takes its lock); the reply has the address.
    let named = f(json!({"host": "localhost", "host_family": "ipv4", "port": 5006}));
    let pre = sync::pre_resolve("rtp_forward", &named).expect("localhost resolves");
    assert_eq!(pre["host"], "127.0.0.1");
    let r = sync(&mut s, named);
    assert_eq!(
        (r["host"].clone(), r["port"].clone()),
        (json!("127.0.0.1"), json!(5006))
    );
    let stop = json!({"request": "stop_rtp_forward", "room": 1234, "secret": "adminpwd",
                      "stream_id": r["stream_id"]});
    sync(&mut s, stop);
    assert!(
        sync::pre_resolve("rtp_forward", &f(json!({}))).is_none(),
        "a literal stays"
    );
    let r2 = sync(&mut s, f(json!({"codec": "pcmu", "port": 5004})));
    let sid2 = r2["stream_id"].as_u64().unwrap();
    let l = sync(
        &mut s,
        json!({"request": "listforwarders", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(l["audiobridge"], "forwarders");
    let list = l["rtp_forwarders"].as_array().unwrap();
    let one = list.iter().find(|x| x["stream_id"] == sid).unwrap();
    assert_eq!(
        *one,
        json!({"stream_id": sid, "ip": "127.0.0.1", "port": 5002, "ssrc": 1234, "codec": "opus",
               "ptype": 100, "always_on": true})
    );
    let two = list.iter().find(|x| x["stream_id"] == sid2).unwrap();
    assert_eq!(
        (two["ptype"].clone(), two["ssrc"].clone()),
        (json!(0), json!(sid2))
    );
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "stop_rtp_forward", "room": 1234, "secret": "adminpwd", "stream_id": sid})
        ),
        json!({"audiobridge": "success", "room": 1234, "stream_id": sid})
    );
    let l = sync(
        &mut s,
        json!({"request": "listforwarders", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(l["rtp_forwarders"].as_array().unwrap().len(), 1);
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "stop_rtp_forward", "room": 1234})
        )),
        (483, "Missing mandatory element (stream_id)".into())
    );
}

#[test]
fn announcements() {
    let mut s = state();
    join(&mut s, A, 1, "a");
    s.take_outputs();
    let file = std::env::temp_dir().join(format!("ianus-ab-test-{}.opus", std::process::id()));
    std::fs::write(&file, b"OggS").unwrap();
    let path = file.to_string_lossy().to_string();
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "play_file", "room": 1234, "secret": "adminpwd", "filename": "/nonexistent/x.opus"})
        )),
        (499, "Error opening file".into())
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "play_file", "room": 1234, "secret": "adminpwd"})
        )),
        (483, "Missing mandatory element (filename)".into())
    );
    let r = sync(
        &mut s,
        json!({"request": "play_file", "room": 1234, "secret": "adminpwd", "filename": path, "file_id": "f1"}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "success", "room": 1234, "file_id": "f1"})
    );
    assert!(media(&s.take_outputs())
        .iter()
        .any(|m| matches!(m, MediaOp::PlayFile { file_id, .. } if file_id == "f1")));
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "play_file", "room": 1234, "secret": "adminpwd", "filename": path, "file_id": "f1"})
        )),
        (490, "File ID exists (f1)".into())
    );
    let playing = |s: &mut State| {
        sync(
            s,
            json!({"request": "is_playing", "room": 1234, "secret": "adminpwd", "file_id": "f1"}),
        )
    };
    assert_eq!(
        playing(&mut s),
        json!({"audiobridge": "success", "room": 1234, "file_id": "f1", "playing": false})
    );
    s.mixer_event(
        &Id::Num(1234),
        MixerEvent::AnnouncementStarted {
            file_id: "f1".into(),
        },
    );
    assert_eq!(
        notes(&s.take_outputs(), A),
        [json!({"audiobridge": "announcement-started", "room": 1234, "file_id": "f1"})]
    );
    assert_eq!(playing(&mut s)["playing"], true);
    assert_eq!(
        sync(
            &mut s,
            json!({"request": "stop_file", "room": 1234, "secret": "adminpwd", "file_id": "f1"})
        ),
        json!({"audiobridge": "success", "room": 1234, "file_id": "f1"})
    );
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A),
        [json!({"audiobridge": "announcement-stopped", "room": 1234, "file_id": "f1"})]
    );
    assert!(media(&out).contains(&MediaOp::StopFile {
        room: Id::Num(1234),
        file_id: "f1".into()
    }));
    // A file ending by itself is announced too; stop_all_files lists what it stopped.
    sync(
        &mut s,
        json!({"request": "play_file", "room": 1234, "secret": "adminpwd", "filename": path, "file_id": "f2"}),
    );
    s.mixer_event(
        &Id::Num(1234),
        MixerEvent::AnnouncementStarted {
            file_id: "f2".into(),
        },
    );
    s.mixer_event(
        &Id::Num(1234),
        MixerEvent::AnnouncementEnded {
            file_id: "f2".into(),
        },
    );
    let out = s.take_outputs();
    assert_eq!(
        notes(&out, A)[1],
        json!({"audiobridge": "announcement-stopped", "room": 1234, "file_id": "f2"})
    );
    let r = sync(
        &mut s,
        json!({"request": "play_file", "room": 1234, "secret": "adminpwd", "filename": path}),
    );
    let random = r["file_id"].as_str().unwrap().to_owned();
    assert_eq!(random.len(), 36, "a UUID");
    s.mixer_event(
        &Id::Num(1234),
        MixerEvent::AnnouncementStarted {
            file_id: random.clone(),
        },
    );
    sync(
        &mut s,
        json!({"request": "play_file", "room": 1234, "secret": "adminpwd", "filename": path, "file_id": "quiet"}),
    );
    let r = sync(
        &mut s,
        json!({"request": "stop_all_files", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "success", "room": 1234, "file_id_list": [random]})
    );
    assert_eq!(
        err(&sync(
            &mut s,
            json!({"request": "is_playing", "room": 1234, "secret": "adminpwd"})
        )),
        (483, "Missing mandatory element (file_id)".into())
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn talking_events_follow_the_mixer_when_enabled() {
    let mut s = state();
    sync(
        &mut s,
        json!({"request": "create", "room": 7, "audiolevel_event": true, "audio_active_packets": 50, "audio_level_average": 40}),
    );
    let cfg = media(&s.take_outputs()).into_iter().find_map(|m| match m {
        MediaOp::OpenRoom { config, .. } => Some(config),
        _ => None,
    });
    assert_eq!(
        cfg.map(|c| (c.audio_active_packets, c.audio_level_average)),
        Some((50, 40))
    );
    ask(
        &mut s,
        A,
        json!({"request": "join", "room": 7, "id": 1, "audio_level_average": 30}),
        Some(offer()),
    );
    ask(
        &mut s,
        B,
        json!({"request": "join", "room": 7, "id": 2}),
        None,
    );
    s.setup_media(A);
    let p = mixed_params(&s.take_outputs(), A).unwrap();
    assert_eq!(p.talk_window, Some((50, 30)), "per-user threshold wins");
    s.mixer_event(
        &Id::Num(7),
        MixerEvent::Talking {
            handle: A,
            talking: true,
        },
    );
    let out = s.take_outputs();
    let talking = json!({"audiobridge": "talking", "room": 7, "id": 1});
    assert_eq!(
        notes(&out, A),
        std::slice::from_ref(&talking),
        "the speaker hears it too"
    );
    assert_eq!(notes(&out, B), [talking]);
    let l = sync(&mut s, json!({"request": "listparticipants", "room": 7}));
    assert_eq!(l["participants"][0]["talking"], true);
    s.mixer_event(
        &Id::Num(7),
        MixerEvent::Talking {
            handle: A,
            talking: false,
        },
    );
    assert_eq!(
        notes(&s.take_outputs(), B),
        [json!({"audiobridge": "stopped-talking", "room": 7, "id": 1})]
    );
    // Rooms without audiolevel_event stay silent.
    join(&mut s, C, 3, "c");
    s.mixer_event(
        &Id::Num(1234),
        MixerEvent::Talking {
            handle: C,
            talking: true,
        },
    );
    assert!(notes(&s.take_outputs(), C).is_empty());
}

#[test]
fn plain_rtp_participants_get_our_address() {
    let mut s = state();
    sync(
        &mut s,
        json!({"request": "create", "room": 3, "allow_rtp_participants": true}),
    );
    s.take_outputs();
    let (ev, out) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": 3, "id": 1,
        "rtp": {"ip": "198.51.100.7", "port": 5000, "payload_type": 111, "audiolevel_ext": 1, "fec": true}}),
        None,
    );
    assert_eq!(
        ev.data,
        json!({"audiobridge": "joined", "room": 3, "id": 1, "participants": [],
               "rtp": {"ip": "192.0.2.1", "port": 20002, "payload_type": 111}})
    );
    let p = mixed_params(&out, A).unwrap();
    assert_eq!(
        p.transport,
        MixTransport::PlainRtp {
            local_port: 20002,
            remote: Some("198.51.100.7:5000".parse().unwrap())
        }
    );
    assert!(p.receives && p.mixed && p.fec);
    assert_eq!(p.audio_level_ext, Some(1));
    // G.711 plain RTP gets its static payload type; hangup releases the socket.
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request": "join", "room": 3, "id": 2, "codec": "pcma", "rtp": {}}),
        None,
    );
    assert_eq!(ev.data["rtp"]["payload_type"], 8);
    s.hangup_media(B);
    assert!(media(&s.take_outputs()).contains(&MediaOp::ReleaseRtp { handle: B }));
    // With an SDP, the rtp object is ignored.
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request": "join", "room": 3, "id": 3, "rtp": {}}),
        Some(offer()),
    );
    assert!(ev.data.get("rtp").is_none());
    assert!(ev.jsep.is_some());
}

#[test]
fn query_session_reports_janus_keys() {
    let mut s = state();
    assert_eq!(s.query_session(A)["state"], "idle");
    join_and_connect(&mut s, A, 11, "alice");
    let q = s.query_session(A);
    assert_eq!(q["state"], "inroom");
    assert_eq!(q["room"], 1234);
    assert_eq!(q["id"], 11);
    assert_eq!(q["started"], true);
    assert_eq!(q["talking"], false);
}

// ---------------------------------------------------------------------------------------------
// The plugin shell and the media executor with a recording fake mixer

#[derive(Default)]
struct Recorded {
    calls: Mutex<Vec<String>>,
}

struct FakeMixer(Arc<Recorded>);

impl media::RoomMixer for FakeMixer {
    fn set_config(&self, c: media::MixConfig) {
        self.0
            .calls
            .lock()
            .unwrap()
            .push(format!("config {}", c.sampling_rate));
    }
    fn set_participant(
        &self,
        handle: HandleId,
        params: media::MixParticipant,
        _peer: Option<media_core::engine::Peer>,
        _rtp: Option<Arc<UdpSocket>>,
    ) {
        self.0
            .calls
            .lock()
            .unwrap()
            .push(format!("set {} mixed={}", handle.0, params.mixed));
    }
    fn remove_participant(&self, handle: HandleId) {
        self.0
            .calls
            .lock()
            .unwrap()
            .push(format!("remove {}", handle.0));
    }
    fn participant_sink(&self, _h: HandleId) -> Option<Arc<dyn media_core::engine::MediaSink>> {
        None
    }
    fn reset_decoder(&self, handle: HandleId) {
        self.0
            .calls
            .lock()
            .unwrap()
            .push(format!("reset {}", handle.0));
    }
    fn set_forwarders(&self, f: Vec<(u32, room::Forwarder)>) {
        self.0
            .calls
            .lock()
            .unwrap()
            .push(format!("forwarders {}", f.len()));
    }
    fn play_file(&self, file_id: String, _p: String, _g: usize, _l: bool) {
        self.0.calls.lock().unwrap().push(format!("play {file_id}"));
    }
    fn stop_file(&self, file_id: String) {
        self.0.calls.lock().unwrap().push(format!("stop {file_id}"));
    }
    fn close(&self) {
        self.0.calls.lock().unwrap().push("close".into());
    }
}

#[derive(Default)]
struct Sink {
    pushed: Mutex<Vec<(HandleId, Option<String>, Value)>>,
    closed: Mutex<Vec<HandleId>>,
}

impl signaling::plugin::PluginEvents for Sink {
    fn push_event(
        &self,
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        _jsep: Option<Jsep>,
    ) -> Result<(), signaling::plugin::PushError> {
        self.pushed
            .lock()
            .unwrap()
            .push((handle, transaction, data));
        Ok(())
    }
    fn close_pc(&self, handle: HandleId) {
        self.closed.lock().unwrap().push(handle);
    }
    fn end_session(&self, _handle: HandleId) {}
}

fn plugin() -> (Arc<AudioBridge>, Arc<Recorded>, Arc<Sink>) {
    let rec = Arc::new(Recorded::default());
    let r = rec.clone();
    let factory: media::MixerFactory = Arc::new(move |_cfg, _events| {
        Some(Arc::new(FakeMixer(r.clone())) as Arc<dyn media::RoomMixer>)
    });
    let p = AudioBridge::with_mixers(
        &AudioBridgeConfig::default(),
        None,
        factory,
        Arc::new(FakePorts::default()),
        None,
    );
    let sink = Arc::new(Sink::default());
    p.init(sink.clone());
    (p, rec, sink)
}

#[test]
fn plugin_routes_sync_async_and_unknown_requests() {
    use signaling::plugin::{Plugin, PluginResult};
    let (p, rec, sink) = plugin();
    assert_eq!(p.info().package, "janus.plugin.audiobridge");
    assert_eq!(
        p.handle_message(A, "t".into(), json!({"request": "list"}), None),
        PluginResult::Ok(
            json!({"audiobridge": "event", "error_code": 499, "error": "No session associated with this handle..."})
        )
    );
    p.create_session(A).unwrap();
    let r = p.handle_message(A, "t".into(), Value::Null, None);
    assert_eq!(
        r,
        PluginResult::Ok(
            json!({"audiobridge": "event", "error_code": 480, "error": "No message??"})
        )
    );
    let r = p.handle_message(A, "t".into(), json!([1]), None);
    assert_eq!(
        r,
        PluginResult::Ok(
            json!({"audiobridge": "event", "error_code": 481, "error": "JSON error: not an object"})
        )
    );
    let r = p.handle_message(A, "t".into(), json!({}), None);
    assert_eq!(
        r,
        PluginResult::Ok(
            json!({"audiobridge": "event", "error_code": 483, "error": "Missing mandatory element (request)"})
        )
    );
    let r = p.handle_message(A, "t".into(), json!({"request": "dance"}), None);
    assert_eq!(
        r,
        PluginResult::Ok(
            json!({"audiobridge": "event", "error_code": 482, "error": "Unknown request 'dance'"})
        )
    );
    let r = p.handle_message(
        A,
        "t".into(),
        json!({"request": "EXISTS", "room": 1234}),
        None,
    );
    assert_eq!(
        r,
        PluginResult::Ok(json!({"audiobridge": "success", "room": 1234, "exists": true}))
    );
    // Async: ack now, the event through the sink (inline here: no runtime, no worker).
    let r = p.handle_message(
        A,
        "t1".into(),
        json!({"request": "join", "room": 1234, "id": 5}),
        None,
    );
    assert_eq!(r, PluginResult::OkWait(None));
    let pushed = sink.pushed.lock().unwrap().clone();
    assert_eq!(pushed.last().unwrap().1.as_deref(), Some("t1"));
    assert_eq!(pushed.last().unwrap().2["audiobridge"], "joined");
    // The PC comes up: the participant is handed to the room's mixer, mixed.
    p.setup_media(A);
    assert!(rec
        .calls
        .lock()
        .unwrap()
        .iter()
        .any(|c| c == "set 101 mixed=true"));
    // Admin API: sync only.
    assert_eq!(
        p.handle_admin_message(json!({"request": "join", "room": 1234})),
        Some(json!({"audiobridge": "event", "error_code": 482, "error": "Unknown request 'join'"}))
    );
    assert_eq!(
        p.handle_admin_message(json!({"request": "exists", "room": 1})),
        Some(json!({"audiobridge": "success", "room": 1, "exists": false}))
    );
    // Kick: the core is asked to close the PC; its hangup takes the participant out.
    p.handle_message(
        A,
        "t".into(),
        json!({"request": "kick", "room": 1234, "id": 5, "secret": "adminpwd"}),
        None,
    );
    assert_eq!(*sink.closed.lock().unwrap(), [A]);
    p.hangup_media(A);
    assert!(rec.calls.lock().unwrap().iter().any(|c| c == "remove 101"));
    assert_eq!(p.query_session(A)["state"], "idle");
    p.destroy_session(A);
    assert_eq!(p.query_session(A), json!({}));
    let r = p.handle_message(
        A,
        "t".into(),
        json!({"request": "destroy", "room": 1234, "secret": "adminpwd"}),
        None,
    );
    assert!(matches!(r, PluginResult::Ok(_)), "no session any more");
}

#[test]
fn media_executor_drives_the_room_mixers() {
    use signaling::plugin::Plugin;
    let (p, rec, _sink) = plugin();
    p.create_session(B).unwrap();
    p.handle_message(
        B,
        "t".into(),
        json!({"request": "create", "room": 9, "secret": "s"}),
        None,
    );
    p.handle_message(B, "t".into(), json!({"request": "rtp_forward", "room": 9, "secret": "s", "host": "127.0.0.1", "port": 4000}), None);
    p.handle_message(
        B,
        "t".into(),
        json!({"request": "join", "room": 9, "id": 1}),
        None,
    );
    p.handle_message(B, "t".into(), json!({"request": "resetdecoder"}), None);
    p.handle_message(
        B,
        "t".into(),
        json!({"request": "destroy", "room": 9, "secret": "s"}),
        None,
    );
    let calls = rec.calls.lock().unwrap().clone();
    assert!(calls.contains(&"forwarders 1".to_owned()), "{calls:?}");
    assert!(
        calls.contains(&"set 102 mixed=false".to_owned()),
        "{calls:?}"
    );
    assert!(calls.contains(&"reset 102".to_owned()), "{calls:?}");
    assert_eq!(calls.last().map(String::as_str), Some("close"));
}

#[test]
fn no_engine_means_signalling_only() {
    use signaling::plugin::Plugin;
    let p = AudioBridge::with_mixers(
        &AudioBridgeConfig::default(),
        None,
        media::no_mixer(),
        Arc::new(FakePorts::default()),
        None,
    );
    p.create_session(A).unwrap();
    assert!(matches!(
        p.handle_message(A, "t".into(), json!({"request": "listparticipants", "room": 1234}), None),
        signaling::plugin::PluginResult::Ok(v) if v["audiobridge"] == "participants"
    ));
}

/// Rooms kept in memory; `fail` makes saving fail.
#[derive(Default)]
struct FakeStore {
    rooms: Mutex<Vec<crate::config::AudioBridgeRoom>>,
    fail: bool,
}

impl store::RoomStore for FakeStore {
    fn load(&self) -> Vec<crate::config::AudioBridgeRoom> {
        self.rooms.lock().unwrap().clone()
    }
    fn save(&self, rooms: &[crate::config::AudioBridgeRoom]) -> bool {
        if self.fail {
            return false;
        }
        *self.rooms.lock().unwrap() = rooms.to_vec();
        true
    }
}

#[test]
fn permanent_rooms_are_kept_in_the_rooms_file() {
    let store = Arc::new(FakeStore::default());
    let cfg = AudioBridgeConfig::default();
    let mut s = State::new(&cfg, Arc::new(FakePorts::default()), Some(store.clone()));
    s.create_session(A);
    let r = sync(
        &mut s,
        json!({"request": "create", "room": 50, "permanent": true,
                                "description": "kept", "secret": "s", "groups": ["g"]}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "created", "room": 50, "permanent": true})
    );
    sync(&mut s, json!({"request": "create", "room": 51}));
    let saved = store.rooms.lock().unwrap().clone();
    assert_eq!(saved.len(), 1, "only permanent rooms are saved");
    assert_eq!(saved[0].description.as_deref(), Some("kept"));
    assert_eq!(saved[0].groups.as_deref(), Some(&["g".to_owned()][..]));
    let r = sync(
        &mut s,
        json!({"request": "edit", "room": 50, "secret": "s",
                                "new_description": "renamed", "permanent": true}),
    );
    assert_eq!(r["permanent"], true);
    assert_eq!(
        store.rooms.lock().unwrap()[0].description.as_deref(),
        Some("renamed")
    );
    // A restart finds it again (and the config's room 1234).
    let mut again = State::new(&cfg, Arc::new(FakePorts::default()), Some(store.clone()));
    again.create_session(A);
    let list = sync(&mut again, json!({"request": "list"}));
    let names: Vec<&str> = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["renamed", "Demo Room"], "rooms 50 and 1234");
    let r = sync(
        &mut again,
        json!({"request": "destroy", "room": 50, "secret": "s", "permanent": true}),
    );
    assert_eq!(r["permanent"], true);
    assert!(store.rooms.lock().unwrap().is_empty());
    // No file, or a failing one: the room is created, not permanent.
    let r = sync(
        &mut state(),
        json!({"request": "create", "room": 52, "permanent": true}),
    );
    assert_eq!(r["permanent"], false);
    let failing = Arc::new(FakeStore {
        fail: true,
        ..FakeStore::default()
    });
    let mut s = State::new(&cfg, Arc::new(FakePorts::default()), Some(failing));
    s.create_session(A);
    let r = sync(
        &mut s,
        json!({"request": "create", "room": 53, "permanent": true}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "created", "room": 53, "permanent": false})
    );
}

#[test]
fn string_ids_use_strings_and_uuids() {
    let cfg = AudioBridgeConfig {
        string_ids: true,
        ..AudioBridgeConfig::default()
    };
    let mut s = state_with(&cfg);
    assert_eq!(
        sync(&mut s, json!({"request": "exists", "room": "1234"})),
        json!({"audiobridge": "success", "room": "1234", "exists": true}),
        "the sample room's ID becomes a string"
    );
    assert_eq!(
        err(&sync(&mut s, json!({"request": "exists", "room": 1234}))),
        (484, "Invalid element type (room should be a string)".into())
    );
    let r = sync(&mut s, json!({"request": "create"}));
    let room = r["room"].as_str().expect("a string ID").to_owned();
    assert_eq!(room.len(), 36, "a UUID");
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": room, "id": 7}),
        None,
    );
    assert_eq!(
        err(&ev.data),
        (484, "Invalid element type (id should be a string)".into())
    );
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": room, "display": "a"}),
        None,
    );
    assert_eq!(ev.data["id"].as_str().map(str::len), Some(36));
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request": "join", "room": room, "id": "bob"}),
        None,
    );
    assert_eq!(ev.data["participants"][0]["display"], "a");
    let r = sync(
        &mut s,
        json!({"request": "mute", "room": room, "id": "bob"}),
    );
    assert_eq!(
        r,
        json!({"audiobridge": "success", "room": room}),
        "no secret on this room"
    );
}

#[test]
fn room_defaults_reach_participants_and_the_mixer() {
    let mut s = state();
    let dir = std::env::temp_dir().join(format!("ianus-ab-rec-{}", std::process::id()));
    let r = sync(
        &mut s,
        json!({"request": "create", "room": 6, "default_bitrate": 32000, "default_expectedloss": 10,
               "default_prebuffering": 3, "record": true, "record_dir": dir.to_string_lossy(),
               "record_file": "mix.wav"}),
    );
    assert_eq!(r["audiobridge"], "created");
    let config = media(&s.take_outputs()).into_iter().find_map(|m| match m {
        MediaOp::OpenRoom { config, .. } => Some(config),
        _ => None,
    });
    let record = config.and_then(|c| c.record).expect("recording asked");
    assert_eq!(record.file.as_deref(), Some("mix.wav"));
    assert_eq!(record.dir.as_deref(), Some(dir.to_string_lossy().as_ref()));
    let (_, out) = ask(
        &mut s,
        A,
        json!({"request": "join", "room": 6, "id": 1}),
        None,
    );
    let p = mixed_params(&out, A).unwrap();
    assert_eq!((p.bitrate, p.expected_loss, p.prebuffer), (32000, 10, 3));
    let (_, out) = ask(
        &mut s,
        B,
        json!({"request": "join", "room": 6, "id": 2, "bitrate": 20000, "expected_loss": 0}),
        None,
    );
    let p = mixed_params(&out, B).unwrap();
    assert_eq!((p.bitrate, p.expected_loss), (20000, 0));
    // enable_recording toggles the room's recording (the mixer gets the new settings).
    let r = sync(
        &mut s,
        json!({"request": "enable_recording", "room": 6, "record": false}),
    );
    assert_eq!(r, json!({"audiobridge": "success", "record": false}));
    assert!(media(&s.take_outputs())
        .iter()
        .any(|m| matches!(m, MediaOp::SetConfig { config, .. } if config.record.is_none())));
    assert_eq!(
        sync(&mut s, json!({"request": "list"}))["list"][0]["record"],
        false
    );
    // Per-participant recording (MJR) follows `record`/`filename` and `enable_mjrs`.
    let (_, out) = ask(
        &mut s,
        A,
        json!({"request": "configure", "record": true, "filename": "/tmp/a"}),
        None,
    );
    assert_eq!(
        mixed_params(&out, A).unwrap().recording.as_deref(),
        Some("/tmp/a")
    );
    let r = sync(
        &mut s,
        json!({"request": "enable_mjrs", "room": 6, "mjrs": true}),
    );
    assert_eq!(r, json!({"audiobridge": "success", "mjrs": true}));
    let out = s.take_outputs();
    assert!(mixed_params(&out, B)
        .unwrap()
        .recording
        .is_some_and(|b| b.starts_with("audiobridge-6-user-2-")));
}
