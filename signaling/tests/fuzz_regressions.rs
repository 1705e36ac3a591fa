//! Fuzz inputs replayed by plain `cargo test` (style.md §5 item 3, §6 habit 2): every file of
//! `fuzz/corpus/janus_request/` (seeds) and `fuzz/regressions/janus_request/` (minimised
//! crashes, kept forever) goes through `signaling::fuzzing::exercise_janus_request`, the very
//! function `fuzz/fuzz_targets/janus_request.rs` runs, so the two cannot drift.
//!
//! The seeds are built here: a client's whole life (create, attach, message with JSEP,
//! trickle, hangup, detach, destroy), Admin API requests, and the malformed shapes Janus
//! answers with 454/455/456/467. `IANUS_WRITE_CORPUS=1 cargo test -p ianus-signaling --test
//! fuzz_regressions` (re)writes them into `fuzz/corpus/janus_request/`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use signaling::fuzzing::{exercise_janus_request, FUZZ_HANDLE_ALIAS, FUZZ_PLUGIN, FUZZ_SESSION};

const TARGET: &str = "janus_request";

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn janus_request_corpus_and_regressions_replay_without_panics() {
    let mut ran = 0;
    let mut panicked = Vec::new();
    for kind in ["corpus", "regressions"] {
        for path in files(&fuzz_dir().join(kind).join(TARGET)) {
            let data = std::fs::read(&path).expect("readable fuzz input");
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| exercise_janus_request(&data))).is_err() {
                panicked.push(path.display().to_string());
            }
        }
    }
    assert!(panicked.is_empty(), "panics on {panicked:#?}");
    assert!(ran > 0, "no seeds in fuzz/corpus/{TARGET}");
    assert!(
        fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{TARGET}.rs"))
            .is_file(),
        "the fuzz target exists"
    );
}

/// The generated seeds run without panics; with `IANUS_WRITE_CORPUS` set they are written.
#[test]
fn seeds_are_valid_inputs() {
    let write = std::env::var_os("IANUS_WRITE_CORPUS").is_some();
    for (name, data) in seeds() {
        exercise_janus_request(&data);
        if write {
            let dir = fuzz_dir().join("corpus").join(TARGET);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(name), &data).expect("write seed");
        }
    }
}

const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:ufrg\r\na=ice-pwd:passwordpasswordpassword\r\n\
a=fingerprint:sha-256 AB:CD:EF\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\n\
a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n";

fn line(values: &[Value]) -> Vec<u8> {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("")
        .into_bytes()
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let s = FUZZ_SESSION;
    let h = FUZZ_HANDLE_ALIAS;
    let candidate = json!({"sdpMid": "0", "sdpMLineIndex": 0,
        "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0"});
    vec![
        (
            "info.json",
            line(&[json!({"janus": "info", "transaction": "t1"})]),
        ),
        (
            "ping.json",
            line(&[json!({"janus": "ping", "transaction": "p"})]),
        ),
        (
            "create_with_id.json",
            line(&[json!({"janus": "create", "transaction": "c", "id": 4242})]),
        ),
        (
            "attach_opaque.json",
            line(&[
                json!({"janus": "attach", "session_id": s, "plugin": FUZZ_PLUGIN,
                "transaction": "a", "opaque_id": "echotest-abc", "loop_index": 0}),
            ]),
        ),
        (
            "message_offer.json",
            line(
                &[json!({"janus": "message", "session_id": s, "handle_id": h,
                "transaction": "m", "body": {"audio": true, "video": true},
                "jsep": {"type": "offer", "sdp": OFFER, "trickle": true}})],
            ),
        ),
        (
            "message_sync.json",
            line(
                &[json!({"janus": "message", "session_id": s, "handle_id": h,
                "transaction": "m", "body": {"sync": true, "request": "list"}})],
            ),
        ),
        (
            "message_scripted_failures.json",
            line(&[
                json!({"janus": "message", "session_id": s, "handle_id": h,
                    "transaction": "f", "body": {"fail": true}}),
                json!({"janus": "message", "session_id": s, "handle_id": h,
                    "transaction": "i", "body": {"invalid": true}}),
                json!({"janus": "message", "session_id": s, "handle_id": h,
                    "transaction": "x", "body": {"close": true},
                    "jsep": {"type": "answer", "sdp": OFFER, "e2ee": false}}),
            ]),
        ),
        (
            "trickle_one_many_completed.json",
            line(&[
                json!({"janus": "trickle", "session_id": s, "handle_id": h,
                    "transaction": "t", "candidate": candidate}),
                json!({"janus": "trickle", "session_id": s, "handle_id": h,
                    "transaction": "u", "candidates": [candidate, {"completed": true}]}),
                json!({"janus": "trickle", "session_id": s, "handle_id": h,
                    "transaction": "v", "candidate": {"completed": true}}),
            ]),
        ),
        (
            "whole_life_ws_message.json",
            line(&[
                json!({"janus": "keepalive", "session_id": s, "transaction": "k"}),
                json!({"janus": "attach", "session_id": s, "plugin": FUZZ_PLUGIN,
                    "transaction": "a2"}),
                json!({"janus": "message", "session_id": s, "handle_id": h,
                    "transaction": "m2", "body": {"request": "configure"},
                    "jsep": {"type": "offer", "sdp": OFFER}}),
                json!({"janus": "hangup", "session_id": s, "handle_id": h, "transaction": "h"}),
                json!({"janus": "detach", "session_id": s, "handle_id": h, "transaction": "d"}),
                json!({"janus": "claim", "session_id": s, "transaction": "cl"}),
                json!({"janus": "destroy", "session_id": s, "transaction": "x"}),
            ]),
        ),
        (
            "message_end_session.json",
            line(
                &[json!({"janus": "message", "session_id": s, "handle_id": h,
                "transaction": "e", "body": {"end": true}})],
            ),
        ),
        (
            "admin_requests.json",
            line(&[
                json!({"janus": "list_sessions", "transaction": "l",
                    "admin_secret": "janusoverlord"}),
                json!({"janus": "list_handles", "session_id": s, "transaction": "lh",
                    "admin_secret": "janusoverlord"}),
                json!({"janus": "handle_info", "session_id": s, "handle_id": h,
                    "transaction": "hi", "admin_secret": "janusoverlord", "plugin_only": false}),
                json!({"janus": "get_status", "transaction": "g",
                    "admin_secret": "janusoverlord"}),
                json!({"janus": "set_session_timeout", "transaction": "st", "timeout": 5,
                    "admin_secret": "janusoverlord"}),
                json!({"janus": "add_token", "transaction": "at", "token": "tok",
                    "plugins": [FUZZ_PLUGIN], "admin_secret": "janusoverlord"}),
                json!({"janus": "list_tokens", "transaction": "lt",
                    "admin_secret": "janusoverlord"}),
                json!({"janus": "message_plugin", "transaction": "mp", "plugin": FUZZ_PLUGIN,
                    "request": {"x": 1}, "admin_secret": "janusoverlord"}),
                json!({"janus": "hangup_webrtc", "session_id": s, "handle_id": h,
                    "transaction": "hw", "admin_secret": "janusoverlord"}),
                json!({"janus": "destroy_session", "session_id": s, "transaction": "ds",
                    "admin_secret": "janusoverlord"}),
            ]),
        ),
        (
            "malformed_envelopes.json",
            line(&[
                json!({"janus": "keepalive", "session_id": s}),
                json!({"janus": 7, "transaction": "t"}),
                json!({"transaction": "t", "session_id": "12", "handle_id": null}),
                json!({"janus": "create", "transaction": "t", "id": -1}),
                json!({"janus": "message", "session_id": s, "handle_id": 0, "transaction": "z",
                    "body": []}),
                json!({"janus": "message", "session_id": s, "handle_id": h, "transaction": "y",
                    "body": {}, "jsep": {"type": "pranswer", "sdp": "v=0"}}),
                json!({"janus": "trickle", "session_id": s, "handle_id": h, "transaction": "w",
                    "candidate": {}, "candidates": []}),
                json!([1, 2, 3]),
                json!("just a string"),
            ]),
        ),
        (
            "truncated_json.json",
            b"{\"janus\": \"create\", \"transac".to_vec(),
        ),
        (
            "http_body_with_whitespace.json",
            b"  {\"janus\":\"info\",\"transaction\":\"\\u00e9\\ud83d\\ude00\"}\n".to_vec(),
        ),
    ]
}
