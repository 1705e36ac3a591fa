//! The Janus API over WebSocket: every request and error path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn handshake_requires_the_janus_subprotocol() {
    let srv = start(Options::default()).await;
    assert!(within(ws_connect(srv.ws(), None)).await.is_err());
    assert!(within(ws_connect(srv.ws(), Some("chat"))).await.is_err());
    assert!(within(ws_connect(srv.ws(), Some("janus-admin-protocol")))
        .await
        .is_err());
    assert!(within(ws_connect(srv.admin_ws(), Some("janus-protocol")))
        .await
        .is_err());
    let mut ws = Ws::open(srv.ws()).await;
    assert_eq!(
        ws.request(json!({"janus": "ping", "transaction": "p"}))
            .await,
        json!({"janus": "pong", "transaction": "p"})
    );
}

#[tokio::test]
async fn info_lists_plugins_and_transports() {
    let srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let info = ws
        .request(json!({"janus": "info", "transaction": "i"}))
        .await;
    assert_eq!(info["janus"], "server_info");
    assert_eq!(info["version"], json!(1102));
    assert_eq!(info["version_string"], "1.1.2");
    assert_eq!(
        info["plugins"]["janus.plugin.echotest"]["version"],
        json!(7)
    );
    assert!(info["transports"]["janus.transport.websockets"].is_object());
    assert!(info["transports"]["janus.transport.http"].is_object());
    for k in [
        "session-timeout",
        "reclaim-session-timeout",
        "server-name",
        "api_secret",
        "auth_token",
        "dependencies",
        "events",
        "loggers",
    ] {
        assert!(info.get(k).is_some(), "missing {k}");
    }
}

#[tokio::test]
async fn session_lifecycle_and_reply_shapes() {
    let mut srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let created = ws
        .request(json!({"janus": "create", "transaction": "c"}))
        .await;
    assert_eq!(created["janus"], "success");
    assert!(created.get("session_id").is_none());
    let s = created["data"]["id"].as_u64().unwrap();
    let attached = ws
        .request(json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.echotest", "opaque_id": "o", "transaction": "a"}))
        .await;
    assert_eq!(attached["session_id"], json!(s));
    let h = attached["data"]["id"].as_u64().unwrap();
    srv.call(|c| *c == Call::Create(h)).await;
    let ka = ws
        .request(json!({"janus": "keepalive", "session_id": s, "transaction": "k"}))
        .await;
    assert_eq!(
        ka,
        json!({"janus": "ack", "session_id": s, "transaction": "k"})
    );

    // A second session on the same connection.
    let s2 = ws.create().await;
    assert_ne!(s, s2);
    assert_eq!(srv.gw.stats().sessions, 2);

    ws.send(&json!({"janus": "detach", "session_id": s, "handle_id": h, "transaction": "d"}))
        .await;
    assert_eq!(
        ws.recv().await,
        json!({"janus": "success", "session_id": s, "transaction": "d"})
    );
    assert_eq!(
        ws.recv().await,
        json!({"janus": "detached", "session_id": s, "sender": h})
    );
    srv.call(|c| *c == Call::Destroy(h)).await;
    let again = ws
        .request(json!({"janus": "detach", "session_id": s, "handle_id": h, "transaction": "d2"}))
        .await;
    assert_eq!(
        error_of(&again),
        (459, format!("No such handle {h} in session {s}"))
    );

    let h2 = ws.attach(s).await;
    let destroyed = ws
        .request(json!({"janus": "destroy", "session_id": s, "transaction": "x"}))
        .await;
    assert_eq!(
        destroyed,
        json!({"janus": "success", "session_id": s, "transaction": "x"})
    );
    srv.call(|c| *c == Call::Destroy(h2)).await;
    let gone = ws
        .request(json!({"janus": "keepalive", "session_id": s, "transaction": "k"}))
        .await;
    assert_eq!(error_of(&gone), (458, format!("No such session {s}")));
    assert_eq!(gone["session_id"], json!(s));
}

#[tokio::test]
async fn envelope_and_path_errors() {
    let srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    ws.send(&json!({"janus": "create"})).await;
    let e = ws.recv().await;
    assert_eq!(
        error_of(&e),
        (456, "Missing mandatory element (transaction)".into())
    );
    assert!(e.get("transaction").is_none());
    ws.send(&json!({"janus": "create", "transaction": 5})).await;
    assert_eq!(
        error_of(&ws.recv().await),
        (
            467,
            "Invalid element type (transaction should be a string)".into()
        )
    );
    ws.send_text("{\"janus\":").await;
    let e = ws.recv().await;
    assert_eq!(e["error"]["code"], json!(454));
    assert!(e["error"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Invalid Janus API request - <string>(1,"));
    ws.send_text("[1,2]").await;
    assert_eq!(
        error_of(&ws.recv().await),
        (456, "Missing mandatory element (transaction)".into())
    );

    let e = ws
        .request(json!({"janus": "attach", "plugin": "janus.plugin.echotest", "transaction": "a"}))
        .await;
    assert_eq!(
        error_of(&e),
        (457, "Unhandled request 'attach' at this path".into())
    );
    let e = ws
        .request(json!({"janus": "bogus", "transaction": "b"}))
        .await;
    assert_eq!(
        error_of(&e),
        (457, "Unhandled request 'bogus' at this path".into())
    );
    let s = ws.create().await;
    let e = ws
        .request(json!({"janus": "bogus", "session_id": s, "transaction": "b"}))
        .await;
    assert_eq!(error_of(&e), (453, "Unknown request 'bogus'".into()));
    let e = ws
        .request(json!({"janus": "info", "session_id": s, "transaction": "b"}))
        .await;
    assert_eq!(error_of(&e), (453, "Unknown request 'info'".into()));
    let e = ws
        .request(json!({"janus": "attach", "session_id": s, "transaction": "a"}))
        .await;
    assert_eq!(
        error_of(&e),
        (456, "Missing mandatory element (plugin)".into())
    );
    let e = ws.request(json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.nope", "transaction": "a"})).await;
    assert_eq!(
        error_of(&e),
        (460, "No such plugin 'janus.plugin.nope'".into())
    );
    let e = ws.request(json!({"janus": "attach", "session_id": s, "plugin": "janus.plugin.echotest", "opaque_id": null, "transaction": "a"})).await;
    assert_eq!(
        error_of(&e),
        (
            467,
            "Invalid element type (opaque_id should be a string)".into()
        )
    );
    let e = ws
        .request(json!({"janus": "create", "id": s, "transaction": "c"}))
        .await;
    assert_eq!(error_of(&e), (468, "Session ID already in use".into()));
    let h = ws.attach(s).await;
    let e = ws.request(json!({"janus": "attach", "session_id": s, "handle_id": h, "plugin": "x", "transaction": "a"})).await;
    assert_eq!(
        error_of(&e),
        (457, "Unhandled request 'attach' at this path".into())
    );
    let e = ws
        .request(json!({"janus": "message", "session_id": s, "body": {}, "transaction": "m"}))
        .await;
    assert_eq!(
        error_of(&e),
        (457, "Unhandled request 'message' at this path".into())
    );
    let e = ws
        .request(
            json!({"janus": "keepalive", "session_id": s, "handle_id": "x", "transaction": "k"}),
        )
        .await;
    assert_eq!(error_of(&e), (459, "Handle not found".into()));
}

#[tokio::test]
async fn concatenated_requests_in_one_message_are_processed_in_order() {
    let srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    ws.send_text(r#"{"janus":"ping","transaction":"1"}{"janus":"ping","transaction":"2"}"#)
        .await;
    assert_eq!(ws.recv().await["transaction"], "1");
    assert_eq!(ws.recv().await["transaction"], "2");
}

fn msg(s: u64, h: u64, body: Value) -> Value {
    json!({"janus": "message", "session_id": s, "handle_id": h, "body": body, "transaction": "m"})
}

#[tokio::test]
async fn message_paths() {
    let srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;

    let mut offer = msg(s, h, json!({"audio": true}));
    offer["jsep"] = json!({"type": "offer", "sdp": OFFER});
    ws.send(&offer).await;
    let first = ws.recv().await;
    let second = ws.recv().await;
    let (ack, event) = if first["janus"] == "ack" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(
        ack,
        json!({"janus": "ack", "session_id": s, "transaction": "m", "hint": "I'm taking my time!"})
    );
    assert_eq!(event["janus"], "event");
    assert_eq!(event["sender"], json!(h));
    assert_eq!(event["transaction"], "m");
    assert_eq!(
        event["plugindata"],
        json!({"plugin": "janus.plugin.echotest", "data": {"echotest": "event", "result": "ok"}})
    );
    assert_eq!(event["jsep"]["type"], "answer");
    assert!(event["jsep"]["sdp"]
        .as_str()
        .unwrap()
        .ends_with("a=ice-lite\r\n"));

    let sync = ws.request(msg(s, h, json!({"request": "sync"}))).await;
    assert_eq!(sync["janus"], "success");
    assert_eq!(sync["sender"], json!(h));
    assert_eq!(sync["plugindata"]["data"]["sync"], json!(true));
    let e = ws.request(msg(s, h, json!({"request": "fail"}))).await;
    assert_eq!(error_of(&e), (462, "Plugin said no".into()));

    let e = ws
        .request(json!({"janus": "message", "session_id": s, "handle_id": h, "transaction": "m"}))
        .await;
    assert_eq!(
        error_of(&e),
        (456, "Missing mandatory element (body)".into())
    );
    let cases = [
        (json!("x"), 455, "Invalid jsep object"),
        (
            json!({"type": "offer"}),
            456,
            "JSEP error: missing mandatory element (sdp)",
        ),
        (
            json!({"sdp": "v=0"}),
            456,
            "JSEP error: missing mandatory element (type)",
        ),
        (
            json!({"type": "offer", "sdp": 1}),
            467,
            "JSEP error: invalid element type (sdp should be a string)",
        ),
        (
            json!({"type": "offer", "sdp": "v=0", "trickle": "no"}),
            467,
            "JSEP error: invalid element type (trickle should be a boolean)",
        ),
        (
            json!({"type": "pranswer", "sdp": "v=0"}),
            464,
            "JSEP error: unknown message type 'pranswer'",
        ),
        (
            json!({"type": "offer", "sdp": "nope"}),
            465,
            "Invalid SDP (doesn't start with v=)",
        ),
        (
            json!({"type": "answer", "sdp": "v=0"}),
            469,
            "Unexpected ANSWER (did we offer?)",
        ),
    ];
    for (jsep, code, reason) in cases {
        let mut m = msg(s, h, json!({}));
        m["jsep"] = jsep.clone();
        let e = ws.request(m).await;
        assert_eq!(error_of(&e), (code, reason.to_owned()), "jsep {jsep}");
    }
}

#[tokio::test]
async fn trickle_paths() {
    let srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;
    let t = |extra: Value| {
        let mut v =
            json!({"janus": "trickle", "session_id": s, "handle_id": h, "transaction": "t"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let ack = json!({"janus": "ack", "session_id": s, "transaction": "t"});
    // Before any SDP: accepted (queued) whatever they contain.
    assert_eq!(ws.request(t(json!({"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}))).await, ack);
    assert_eq!(
        ws.request(t(json!({"candidate": {"candidate": "x"}})))
            .await,
        ack
    );
    assert_eq!(
        error_of(&ws.request(t(json!({}))).await),
        (
            456,
            "Missing mandatory element (candidate|candidates)".into()
        )
    );
    assert_eq!(
        error_of(
            &ws.request(t(json!({"candidate": {}, "candidates": []})))
                .await
        ),
        (454, "Can't have both candidate and candidates".into())
    );

    let mut offer = msg(s, h, json!({}));
    offer["jsep"] = json!({"type": "offer", "sdp": OFFER});
    ws.send(&offer).await;
    ws.recv_until(|m| m["janus"] == "event").await;

    let cases = [
        (
            json!({"candidate": {"candidate": "c"}}),
            456,
            "Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)",
        ),
        (
            json!({"candidate": {"sdpMid": "0"}}),
            456,
            "Trickle error: missing mandatory element (candidate)",
        ),
        (
            json!({"candidate": {"sdpMid": 0, "candidate": "c"}}),
            467,
            "Trickle error: invalid element type (sdpMid should be a string)",
        ),
        (
            json!({"candidate": {"sdpMLineIndex": "0", "candidate": "c"}}),
            467,
            "Trickle error: invalid element type (sdpMLineIndex should be a positive integer)",
        ),
        (
            json!({"candidate": {"sdpMid": "0", "candidate": 5}}),
            467,
            "Trickle error: invalid element type (candidate should be a string)",
        ),
        (
            json!({"candidates": "x"}),
            467,
            "candidates is not an array",
        ),
    ];
    for (extra, code, reason) in cases {
        let e = ws.request(t(extra.clone())).await;
        assert_eq!(error_of(&e), (code, reason.to_owned()), "{extra}");
    }
    assert_eq!(
        ws.request(t(
            json!({"candidates": [{"candidate": "a", "sdpMid": "0"}, {"broken": true}]})
        ))
        .await,
        ack
    );
    assert_eq!(
        ws.request(t(json!({"candidate": {"completed": true}})))
            .await,
        ack
    );
    assert_eq!(ws.request(t(json!({"candidate": null}))).await, ack);
    let trickles = srv.host.trickles.lock().unwrap().clone();
    assert!(trickles
        .iter()
        .any(|(_, c)| c.as_ref().is_some_and(|c| c.candidate == "a")));
    assert!(trickles.iter().any(|(_, c)| c.is_none()));
}

#[tokio::test]
async fn hangup_with_a_pc_sends_plugin_event_then_hangup_then_success() {
    let mut srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;
    let noop = ws
        .request(json!({"janus": "hangup", "session_id": s, "handle_id": h, "transaction": "h0"}))
        .await;
    assert_eq!(
        noop,
        json!({"janus": "success", "session_id": s, "transaction": "h0"})
    );

    let mut offer = msg(s, h, json!({}));
    offer["jsep"] = json!({"type": "offer", "sdp": OFFER});
    ws.send(&offer).await;
    ws.recv_until(|m| m["janus"] == "event").await;
    srv.gw.webrtc_event(
        signaling::ids::HandleId(h),
        signaling::host::WebRtcEvent::Up,
    );
    assert_eq!(
        ws.recv().await,
        json!({"janus": "webrtcup", "session_id": s, "sender": h})
    );
    srv.call(|c| *c == Call::SetupMedia(h)).await;

    ws.send(&json!({"janus": "hangup", "session_id": s, "handle_id": h, "transaction": "h1"}))
        .await;
    let a = ws.recv().await;
    let b = ws.recv().await;
    let c = ws.recv().await;
    assert_eq!(a["plugindata"]["data"]["result"], "done");
    assert_eq!(
        b,
        json!({"janus": "hangup", "session_id": s, "sender": h, "reason": "Janus API"})
    );
    assert_eq!(
        c,
        json!({"janus": "success", "session_id": s, "transaction": "h1"})
    );
}

#[tokio::test]
async fn closing_the_socket_destroys_its_sessions_silently() {
    let mut srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;
    let _other = ws.create().await;
    drop(ws);
    srv.call(|c| *c == Call::Destroy(h)).await;
    within(async {
        while srv.gw.stats().sessions > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut ws = Ws::open(srv.ws()).await;
    let e = ws
        .request(json!({"janus": "claim", "session_id": s, "transaction": "cl"}))
        .await;
    assert_eq!(error_of(&e).0, 458);
}

#[tokio::test]
async fn claim_moves_events_to_the_new_connection_and_across_transports() {
    let mut opts = Options::default();
    opts.general.reclaim_session_timeout = 30;
    let srv = start(opts).await;
    let mut a = Ws::open(srv.ws()).await;
    let s = a.create().await;
    let h = a.attach(s).await;
    let mut b = Ws::open(srv.ws()).await;
    let claimed = b
        .request(json!({"janus": "claim", "session_id": s, "transaction": "cl"}))
        .await;
    assert_eq!(
        claimed,
        json!({"janus": "success", "session_id": s, "transaction": "cl"})
    );
    let same = b
        .request(json!({"janus": "claim", "session_id": s, "transaction": "cl2"}))
        .await;
    assert_eq!(same["janus"], "success");
    srv.gw.webrtc_event(
        signaling::ids::HandleId(h),
        signaling::host::WebRtcEvent::Up,
    );
    assert_eq!(b.recv().await["janus"], "webrtcup");

    // HTTP claims it; then its long poll receives the events.
    let r = post(
        srv.http(),
        "/janus",
        &json!({"janus": "claim", "session_id": s, "transaction": "hc"}),
    )
    .await;
    assert_eq!(
        r,
        json!({"janus": "success", "session_id": s, "transaction": "hc"})
    );
    srv.gw.webrtc_event(
        signaling::ids::HandleId(h),
        signaling::host::WebRtcEvent::Media {
            mid: "0".into(),
            kind: "audio",
            receiving: true,
            substream: None,
            seconds: None,
        },
    );
    let ev = get(srv.http(), &format!("/janus/{s}")).await.json();
    assert_eq!(ev["janus"], "media");
    assert_eq!(ev["sender"], json!(h));

    // Transport gone with a reclaim window: the session survives and can be claimed back.
    drop(b);
    let mut c = Ws::open(srv.ws()).await;
    let back = c
        .request(json!({"janus": "claim", "session_id": s, "transaction": "cb"}))
        .await;
    assert_eq!(back["janus"], "success");
}

#[tokio::test]
async fn idle_session_gets_a_timeout_event() {
    let mut opts = Options::default();
    opts.general.session_timeout = 1;
    let mut srv = start(opts).await;
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;
    assert_eq!(
        ws.recv().await,
        json!({"janus": "timeout", "session_id": s})
    );
    srv.call(|c| *c == Call::Destroy(h)).await;
    let e = ws
        .request(json!({"janus": "keepalive", "session_id": s, "transaction": "k"}))
        .await;
    assert_eq!(error_of(&e).0, 458);
    assert_eq!(srv.gw.stats().sessions_timed_out, 1);
}

#[tokio::test]
async fn auth_secret_and_tokens() {
    let mut opts = Options::default();
    opts.general.api_secret = Some("s3cret".into());
    opts.general.token_auth = true;
    let srv = start(opts).await;
    let mut ws = Ws::open(srv.ws()).await;
    let e = ws
        .request(json!({"janus": "create", "transaction": "c"}))
        .await;
    assert_eq!(
        error_of(&e),
        (
            403,
            "Unauthorized request (wrong or missing secret/token)".into()
        )
    );
    assert_eq!(
        ws.request(json!({"janus": "info", "transaction": "i"}))
            .await["janus"],
        "server_info"
    );
    let s = ws
        .request(json!({"janus": "create", "apisecret": "s3cret", "transaction": "c"}))
        .await["data"]["id"]
        .as_u64()
        .unwrap();
    let added = post(srv.admin_http(), "/admin", &json!({"janus": "add_token", "token": "t1", "plugins": ["janus.plugin.other"], "transaction": "a", "admin_secret": "janusoverlord"})).await;
    assert_eq!(added["data"]["plugins"], json!([]));
    let e = ws.request(json!({"janus": "attach", "session_id": s, "token": "t1", "plugin": "janus.plugin.echotest", "transaction": "a"})).await;
    assert_eq!(
        error_of(&e),
        (
            405,
            "Provided token can't access plugin 'janus.plugin.echotest'".into()
        )
    );
    let ok = ws.request(json!({"janus": "attach", "session_id": s, "apisecret": "s3cret", "plugin": "janus.plugin.echotest", "transaction": "a"})).await;
    assert_eq!(ok["janus"], "success");
    let e = ws.request(json!({"janus": "keepalive", "session_id": s, "apisecret": "wrong", "transaction": "k"})).await;
    assert_eq!(error_of(&e).0, 403);
}

#[tokio::test]
async fn draining_refuses_new_sessions() {
    let mut opts = Options::default();
    opts.general.accept_new_sessions = false;
    let srv = start(opts).await;
    let mut ws = Ws::open(srv.ws()).await;
    let e = ws
        .request(json!({"janus": "create", "transaction": "c"}))
        .await;
    assert_eq!(
        error_of(&e),
        (472, "Currently not accepting new sessions".into())
    );
}

#[tokio::test]
async fn oversized_messages_close_the_connection() {
    let srv = start(Options::default()).await;
    let mut ws = Ws::open(srv.ws()).await;
    let big = format!(
        "{{\"janus\":\"ping\",\"transaction\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let _ = futures_util::SinkExt::send(
        &mut ws.stream,
        tokio_tungstenite::tungstenite::Message::text(big),
    )
    .await;
    assert_eq!(ws.recv_opt().await, None);
    let mut ws = Ws::open(srv.ws()).await;
    assert_eq!(
        ws.request(json!({"janus": "ping", "transaction": "p"}))
            .await["janus"],
        "pong"
    );
}
