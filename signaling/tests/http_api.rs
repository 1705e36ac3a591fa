//! The Janus API over HTTP: REST paths, status codes, CORS and long polls.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

async fn session(srv: &Server) -> u64 {
    post(
        srv.http(),
        "/janus",
        &json!({"janus": "create", "transaction": "c"}),
    )
    .await["data"]["id"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn rest_paths_and_statuses() {
    let srv = start(Options::default()).await;
    let addr = srv.http();
    let s = session(&srv).await;
    let attached = post(
        addr,
        &format!("/janus/{s}"),
        &json!({"janus": "attach", "plugin": "janus.plugin.echotest", "transaction": "a"}),
    )
    .await;
    assert_eq!(attached["session_id"], json!(s));
    let h = attached["data"]["id"].as_u64().unwrap();
    let ka = post(
        addr,
        &format!("/janus/{s}"),
        &json!({"janus": "keepalive", "transaction": "k"}),
    )
    .await;
    assert_eq!(
        ka,
        json!({"janus": "ack", "session_id": s, "transaction": "k"})
    );
    // WebSocket-style bodies on the root path work too.
    let ka = post(
        addr,
        "/janus",
        &json!({"janus": "keepalive", "session_id": s, "transaction": "k2"}),
    )
    .await;
    assert_eq!(ka["janus"], "ack");

    assert_eq!(get(addr, "/janus").await.status, 404);
    assert_eq!(get(addr, "/nope").await.status, 404);
    assert_eq!(get(addr, &format!("/janus/{s}/{h}/x")).await.status, 404);
    assert_eq!(get(addr, "/janus/123456").await.status, 404);
    assert_eq!(get(addr, "/janus/abc").await.status, 404);
    let redirect = get(addr, &format!("/janus/{s}/{h}")).await;
    assert_eq!(redirect.status, 302);
    assert_eq!(
        redirect.header("Location"),
        Some(format!("/janus/{s}").as_str())
    );
    let info = get(addr, "/janus/info").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.header("Content-Type"), Some("application/json"));
    assert_eq!(info.json()["janus"], "server_info");
    assert_eq!(
        http(addr, "POST", "/janus/info", &[], "{}").await.status,
        400
    );

    let del = http(addr, "DELETE", "/janus", &[], "").await;
    assert_eq!(del.status, 200);
    assert_eq!(
        error_of(&del.json()),
        (450, "Unsupported method DELETE".into())
    );
    let bad = http(addr, "POST", "/janus", &[], "{\"janus\":")
        .await
        .json();
    assert_eq!(bad["error"]["code"], json!(454));
    assert!(bad.get("transaction").is_none());
    assert_eq!(
        error_of(&http(addr, "POST", "/janus", &[], "[]").await.json()),
        (455, "JSON error: not an object".into())
    );
    let conflict = post(
        addr,
        &format!("/janus/{s}"),
        &json!({"janus": "keepalive", "session_id": s + 1, "transaction": "k"}),
    )
    .await;
    assert_eq!(
        error_of(&conflict),
        (457, "Conflicting session ID (payload and path)".into())
    );
    let conflict = post(
        addr,
        &format!("/janus/{s}/{h}"),
        &json!({"janus": "detach", "handle_id": h + 1, "transaction": "d"}),
    )
    .await;
    assert_eq!(
        error_of(&conflict),
        (457, "Conflicting handle ID (payload and path)".into())
    );
    let e = post(
        addr,
        &format!("/janus/{s}/{h}"),
        &json!({"janus": "attach", "plugin": "x", "transaction": "a"}),
    )
    .await;
    assert_eq!(
        error_of(&e),
        (457, "Unhandled request 'attach' at this path".into())
    );

    // janus.js destroys with sendBeacon: text/plain.
    let destroyed = http(
        addr,
        "POST",
        &format!("/janus/{s}"),
        &[("Content-Type", "text/plain;charset=UTF-8")],
        &json!({"janus": "destroy", "transaction": "x"}).to_string(),
    )
    .await;
    assert_eq!(
        destroyed.json(),
        json!({"janus": "success", "session_id": s, "transaction": "x"})
    );
    assert_eq!(get(addr, &format!("/janus/{s}")).await.status, 404);
}

#[tokio::test]
async fn cors_headers_and_preflight() {
    let srv = start(Options::default()).await;
    let pre = http(
        srv.http(),
        "OPTIONS",
        "/janus",
        &[
            ("Origin", "http://demo"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        "",
    )
    .await;
    assert_eq!(pre.status, 200);
    assert_eq!(pre.body, "");
    assert_eq!(pre.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(pre.header("Access-Control-Allow-Methods"), Some("POST"));
    assert_eq!(
        pre.header("Access-Control-Allow-Headers"),
        Some("content-type")
    );
    assert_eq!(pre.header("Access-Control-Max-Age"), Some("86400"));
    let r = http(
        srv.http(),
        "POST",
        "/janus",
        &[("Origin", "http://demo")],
        r#"{"janus":"ping","transaction":"p"}"#,
    )
    .await;
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));

    let mut opts = Options::default();
    opts.http.allow_origin = Some("http://good".into());
    opts.http.enforce_cors = true;
    let strict = start(opts).await;
    let ok = http(
        strict.http(),
        "POST",
        "/janus",
        &[("Origin", "http://good")],
        r#"{"janus":"ping","transaction":"p"}"#,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("Access-Control-Allow-Origin"),
        Some("http://good")
    );
    assert_eq!(ok.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(ok.header("Vary"), Some("Origin"));
    let refused = http(
        strict.http(),
        "POST",
        "/janus",
        &[("Origin", "http://evil")],
        r#"{"janus":"ping","transaction":"p"}"#,
    )
    .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn long_poll_object_or_array_and_keepalive() {
    let mut opts = Options::default();
    opts.http.long_poll_timeout = Duration::from_millis(200);
    let srv = start(opts).await;
    let addr = srv.http();
    let s = session(&srv).await;
    let h = post(
        addr,
        &format!("/janus/{s}"),
        &json!({"janus": "attach", "plugin": "janus.plugin.echotest", "transaction": "a"}),
    )
    .await["data"]["id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        get(addr, &format!("/janus/{s}")).await.json(),
        json!({"janus": "keepalive"})
    );
    assert_eq!(
        get(addr, &format!("/janus/{s}?maxev=5&rid=1")).await.json(),
        json!([{"janus": "keepalive"}])
    );
    assert_eq!(
        get(addr, &format!("/janus/{s}?maxev=0")).await.json(),
        json!({"janus": "keepalive"})
    );

    for i in 0..3 {
        let r = post(
            addr,
            &format!("/janus/{s}/{h}"),
            &json!({"janus": "message", "body": {"n": i}, "transaction": format!("m{i}")}),
        )
        .await;
        assert_eq!(r["janus"], "ack");
    }
    // The plugin answers from a task: collect the three events, whatever the batching.
    let mut events = Vec::new();
    let one = within(async {
        loop {
            let r = get(addr, &format!("/janus/{s}")).await.json();
            if r["janus"] == "event" {
                return r;
            }
        }
    })
    .await;
    assert!(one.is_object());
    events.push(one);
    within(async {
        while events.len() < 3 {
            let r = get(addr, &format!("/janus/{s}?maxev=10")).await.json();
            let arr = r.as_array().expect("maxev > 1 gives an array").clone();
            events.extend(arr.into_iter().filter(|e| e["janus"] == "event"));
        }
    })
    .await;
    assert!(events
        .iter()
        .all(|e| e["sender"] == json!(h) && e["session_id"] == json!(s)));
}

#[tokio::test]
async fn concurrent_polls_one_event_one_keepalive() {
    let srv = start(Options::default()).await;
    let addr = srv.http();
    let s = session(&srv).await;
    let h = post(
        addr,
        &format!("/janus/{s}"),
        &json!({"janus": "attach", "plugin": "janus.plugin.echotest", "transaction": "a"}),
    )
    .await["data"]["id"]
        .as_u64()
        .unwrap();
    let p1 = tokio::spawn(async move { get(addr, &format!("/janus/{s}")).await.json() });
    let p2 = tokio::spawn(async move { get(addr, &format!("/janus/{s}")).await.json() });
    // Both polls refreshed the session (an ack each) before the event is pushed.
    within(async {
        while srv
            .gw
            .stats()
            .requests
            .iter()
            .find(|(v, _)| *v == "keepalive")
            .map(|(_, n)| *n)
            .unwrap_or(0)
            < 2
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    tokio::task::yield_now().await;
    srv.gw.webrtc_event(
        signaling::ids::HandleId(h),
        signaling::host::WebRtcEvent::Up,
    );
    let (a, b) = (within(p1).await.unwrap(), within(p2).await.unwrap());
    let mut kinds = [
        a["janus"].as_str().unwrap().to_owned(),
        b["janus"].as_str().unwrap().to_owned(),
    ];
    kinds.sort();
    assert_eq!(kinds, ["keepalive", "webrtcup"]);
}

#[tokio::test]
async fn timeout_event_reaches_the_pending_poll_then_404() {
    let mut opts = Options::default();
    opts.general.session_timeout = 1;
    let srv = start(opts).await;
    let addr = srv.http();
    let s = session(&srv).await;
    // The poll refreshes the session once, then waits (30 s) while the watchdog expires it.
    let r = get(addr, &format!("/janus/{s}?maxev=2")).await;
    assert_eq!(r.json(), json!([{"janus": "timeout", "session_id": s}]));
    assert_eq!(get(addr, &format!("/janus/{s}")).await.status, 404);
    assert_eq!(srv.gw.stats().sessions_timed_out, 1);
}

#[tokio::test]
async fn long_poll_needs_the_secret_and_oversized_bodies_are_refused() {
    let mut opts = Options::default();
    opts.general.api_secret = Some("s3cret".into());
    opts.http.max_body_bytes = 1024;
    let srv = start(opts).await;
    let addr = srv.http();
    let s = post(
        addr,
        "/janus",
        &json!({"janus": "create", "apisecret": "s3cret", "transaction": "c"}),
    )
    .await["data"]["id"]
        .as_u64()
        .unwrap();
    assert_eq!(get(addr, &format!("/janus/{s}")).await.status, 403);
    assert_eq!(
        get(addr, &format!("/janus/{s}?apisecret=wrong"))
            .await
            .status,
        403
    );
    let e = post(
        addr,
        &format!("/janus/{s}"),
        &json!({"janus": "keepalive", "transaction": "k"}),
    )
    .await;
    assert_eq!(error_of(&e).0, 403);
    let big = format!(
        "{{\"janus\":\"ping\",\"transaction\":\"{}\"}}",
        "x".repeat(4096)
    );
    assert_eq!(http(addr, "POST", "/janus", &[], &big).await.status, 413);
}

#[tokio::test]
async fn garbage_on_the_sockets_does_not_hurt() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start(Options::default()).await;
    for addr in [srv.http(), srv.ws(), srv.admin_http(), srv.admin_ws()] {
        let mut s = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
        within(s.write_all(b"\x00\xff\x16\x03\x01 garbage\r\n\r\n\r\n"))
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = within(s.read_to_end(&mut sink)).await;
    }
    let mut ws = Ws::open(srv.ws()).await;
    futures_util::SinkExt::send(
        &mut ws.stream,
        tokio_tungstenite::tungstenite::Message::binary(vec![0xff, 0xfe, 0x00]),
    )
    .await
    .unwrap();
    assert_eq!(ws.recv().await["error"]["code"], json!(454));
    assert_eq!(
        ws.request(json!({"janus": "ping", "transaction": "p"}))
            .await["janus"],
        "pong"
    );
    let r = post(
        srv.http(),
        "/janus",
        &json!({"janus": "ping", "transaction": "p"}),
    )
    .await;
    assert_eq!(r["janus"], "pong");
}
