//! The Admin API over HTTP and WebSocket, and `/metrics`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::field_reassign_with_default
)]

mod common;

use common::*;
use serde_json::{json, Value};

const SECRET: &str = "janusoverlord";

fn admin(verb: &str, extra: Value) -> Value {
    let mut v = json!({"janus": verb, "transaction": "t", "admin_secret": SECRET});
    for (k, val) in extra.as_object().cloned().unwrap_or_default() {
        v[k] = val;
    }
    v
}

#[tokio::test]
async fn admin_over_http() {
    let mut srv = start(Options::default()).await;
    let addr = srv.admin_http();
    let info = get(addr, "/admin/info").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["janus"], "server_info");
    assert_eq!(
        http(addr, "POST", "/admin/info", &[], "{}").await.status,
        400
    );
    let ping = post(
        addr,
        "/admin",
        &json!({"janus": "ping", "transaction": "p"}),
    )
    .await;
    assert_eq!(ping, json!({"janus": "pong", "transaction": "p"}));
    let e = post(
        addr,
        "/admin",
        &json!({"janus": "list_sessions", "transaction": "t"}),
    )
    .await;
    assert_eq!(
        error_of(&e),
        (
            403,
            "Unauthorized request (wrong or missing secret/token)".into()
        )
    );
    let e = post(
        addr,
        "/admin",
        &json!({"janus": "list_sessions", "transaction": "t", "admin_secret": "nope"}),
    )
    .await;
    assert_eq!(error_of(&e).0, 403);
    let e = post(addr, "/admin", &json!({"janus": "list_sessions"})).await;
    assert_eq!(
        error_of(&e),
        (456, "Missing mandatory element (transaction)".into())
    );
    let e = http(addr, "POST", "/admin", &[], "").await.json();
    assert_eq!(error_of(&e), (454, "Request payload missing".into()));

    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;
    let v = post(addr, "/admin", &admin("list_sessions", json!({}))).await;
    assert_eq!(
        v,
        json!({"janus": "success", "transaction": "t", "sessions": [s]})
    );
    let v = post(
        addr,
        &format!("/admin/{s}"),
        &admin("list_handles", json!({})),
    )
    .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t", "handles": [h]})
    );
    let v = post(
        addr,
        &format!("/admin/{s}/{h}"),
        &admin("handle_info", json!({})),
    )
    .await;
    assert_eq!(v["handle_id"], json!(h));
    let info = &v["info"];
    for k in [
        "session_id",
        "session_last_activity",
        "session_timeout",
        "session_transport",
        "handle_id",
        "created",
        "current_time",
        "plugin",
        "plugin_specific",
        "flags",
        "sdps",
    ] {
        assert!(info.get(k).is_some(), "handle_info lacks {k}: {info}");
    }
    assert_eq!(info["session_transport"], "janus.transport.websockets");
    assert_eq!(
        info["plugin_specific"],
        json!({"audio_active": true, "video_active": true})
    );
    let v = post(
        addr,
        &format!("/admin/{s}/{h}"),
        &admin("handle_info", json!({"plugin_only": true})),
    )
    .await;
    assert!(v["info"].get("flags").is_none());
    let v = post(addr, &format!("/admin/{s}/{h}"), &admin("bogus", json!({}))).await;
    assert_eq!(
        error_of(&v),
        (457, "Unhandled request 'bogus' at this path".into())
    );
    let v = post(addr, "/admin", &admin("create", json!({}))).await;
    assert_eq!(
        error_of(&v),
        (457, "Unhandled request 'create' at this path".into())
    );
    let v = post(
        addr,
        &format!("/admin/{s}/{}", h + 1),
        &admin("handle_info", json!({})),
    )
    .await;
    assert_eq!(error_of(&v).0, 459);

    let v = post(addr, "/admin", &admin("get_status", json!({}))).await;
    for k in [
        "token_auth",
        "session_timeout",
        "reclaim_session_timeout",
        "candidates_timeout",
        "log_level",
        "log_timestamps",
        "log_colors",
        "locking_debug",
        "refcount_debug",
        "libnice_debug",
        "min_nack_queue",
        "nack-optimizations",
        "no_media_timer",
        "slowlink_threshold",
    ] {
        assert!(v["status"].get(k).is_some(), "status lacks {k}");
    }
    let setters = [
        ("set_log_level", json!({"level": 5}), "level"),
        (
            "set_log_timestamps",
            json!({"timestamps": true}),
            "log_timestamps",
        ),
        ("set_log_colors", json!({"colors": false}), "log_colors"),
        ("set_locking_debug", json!({"debug": true}), "locking_debug"),
        (
            "set_refcount_debug",
            json!({"debug": true}),
            "refcount_debug",
        ),
        ("set_libnice_debug", json!({"debug": true}), "libnice_debug"),
        (
            "set_min_nack_queue",
            json!({"min_nack_queue": 300}),
            "min_nack_queue",
        ),
        (
            "set_nack_optimizations",
            json!({"nack_optimizations": true}),
            "nack-optimizations",
        ),
        (
            "set_no_media_timer",
            json!({"no_media_timer": 2}),
            "no_media_timer",
        ),
        (
            "set_slowlink_threshold",
            json!({"slowlink_threshold": 4}),
            "slowlink_threshold",
        ),
        ("set_session_timeout", json!({"timeout": 120}), "timeout"),
    ];
    for (verb, params, key) in setters {
        let v = post(addr, "/admin", &admin(verb, params.clone())).await;
        assert_eq!(v["janus"], "success", "{verb}: {v}");
        assert_eq!(
            &v[key],
            params.as_object().unwrap().values().next().unwrap(),
            "{verb}"
        );
    }
    assert_eq!(srv.gw.settings().log_level, 5);
    let v = post(addr, "/admin", &admin("set_log_level", json!({}))).await;
    assert_eq!(
        error_of(&v),
        (456, "Missing mandatory element (level)".into())
    );
    let v = post(
        addr,
        "/admin",
        &admin(
            "message_plugin",
            json!({"plugin": "janus.plugin.echotest", "request": {"x": 1}}),
        ),
    )
    .await;
    assert_eq!(
        v["response"],
        json!({"echotest": "admin", "request": {"x": 1}})
    );
    let v = post(
        addr,
        "/admin",
        &admin(
            "message_plugin",
            json!({"plugin": "janus.plugin.nope", "request": {}}),
        ),
    )
    .await;
    assert_eq!(error_of(&v), (460, "Invalid plugin".into()));
    let v = post(addr, "/admin", &admin("add_token", json!({"token": "x"}))).await;
    assert_eq!(
        error_of(&v),
        (490, "Stored-Token based authentication disabled".into())
    );

    let v = post(
        addr,
        &format!("/admin/{s}/{h}"),
        &admin("detach_handle", json!({})),
    )
    .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t"})
    );
    assert_eq!(
        ws.recv().await,
        json!({"janus": "detached", "session_id": s, "sender": h})
    );
    srv.call(|c| *c == Call::Destroy(h)).await;
    let v = post(
        addr,
        &format!("/admin/{s}"),
        &admin("destroy_session", json!({})),
    )
    .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t"})
    );
    assert_eq!(srv.gw.stats().sessions, 0);
}

#[tokio::test]
async fn admin_accept_new_sessions_and_hangup_webrtc() {
    let mut srv = start(Options::default()).await;
    let addr = srv.admin_http();
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws.create().await;
    let h = ws.attach(s).await;
    let mut offer = json!({"janus": "message", "session_id": s, "handle_id": h, "body": {}, "transaction": "m"});
    offer["jsep"] = json!({"type": "offer", "sdp": OFFER});
    ws.send(&offer).await;
    ws.recv_until(|m| m["janus"] == "event").await;
    let v = post(
        addr,
        &format!("/admin/{s}/{h}"),
        &admin("hangup_webrtc", json!({})),
    )
    .await;
    assert_eq!(
        v,
        json!({"janus": "success", "session_id": s, "transaction": "t"})
    );
    let (hangup, _) = ws.recv_until(|m| m["janus"] == "hangup").await;
    assert_eq!(hangup["reason"], "Admin API");
    srv.call(|c| *c == Call::HangupMedia(h)).await;

    let v = post(
        addr,
        "/admin",
        &admin("accept_new_sessions", json!({"accept": false})),
    )
    .await;
    assert_eq!(v["accept"], json!(false));
    let e = ws
        .request(json!({"janus": "create", "transaction": "c"}))
        .await;
    assert_eq!(error_of(&e).0, 472);
    post(
        addr,
        "/admin",
        &admin("accept_new_sessions", json!({"accept": true})),
    )
    .await;
    assert_eq!(
        ws.request(json!({"janus": "create", "transaction": "c"}))
            .await["janus"],
        "success"
    );
}

#[tokio::test]
async fn stored_tokens_through_the_admin_api() {
    let mut opts = Options::default();
    opts.general.token_auth = true;
    let srv = start(opts).await;
    let addr = srv.admin_http();
    let v = post(addr, "/admin", &admin("add_token", json!({"token": "abc"}))).await;
    assert_eq!(v["data"]["plugins"], json!(["janus.plugin.echotest"]));
    let v = post(addr, "/admin", &admin("list_tokens", json!({}))).await;
    assert_eq!(
        v["data"]["tokens"],
        json!([{"token": "abc", "allowed_plugins": ["janus.plugin.echotest"]}])
    );
    let v = post(
        addr,
        "/admin",
        &admin(
            "disallow_token",
            json!({"token": "abc", "plugins": ["janus.plugin.echotest"]}),
        ),
    )
    .await;
    assert_eq!(v["data"]["plugins"], json!([]));
    let v = post(
        addr,
        "/admin",
        &admin(
            "allow_token",
            json!({"token": "abc", "plugins": ["janus.plugin.nope"]}),
        ),
    )
    .await;
    assert_eq!(error_of(&v).0, 467);
    let v = post(
        addr,
        "/admin",
        &admin(
            "allow_token",
            json!({"token": "zzz", "plugins": ["janus.plugin.echotest"]}),
        ),
    )
    .await;
    assert_eq!(error_of(&v), (470, "Token zzz not found".into()));
    let mut ws = Ws::open(srv.ws()).await;
    let s = ws
        .request(json!({"janus": "create", "token": "abc", "transaction": "c"}))
        .await["data"]["id"]
        .as_u64()
        .unwrap();
    let e = ws.request(json!({"janus": "attach", "session_id": s, "token": "abc", "plugin": "janus.plugin.echotest", "transaction": "a"})).await;
    assert_eq!(error_of(&e).0, 405);
    // The long poll takes the token from the query string.
    assert_eq!(get(srv.http(), &format!("/janus/{s}")).await.status, 403);
    let v = post(
        addr,
        "/admin",
        &admin("remove_token", json!({"token": "abc"})),
    )
    .await;
    assert_eq!(v, json!({"janus": "success", "transaction": "t"}));
    let e = ws
        .request(json!({"janus": "keepalive", "session_id": s, "token": "abc", "transaction": "k"}))
        .await;
    assert_eq!(error_of(&e).0, 403);
}

#[tokio::test]
async fn admin_over_websocket_and_metrics() {
    let srv = start(Options::default()).await;
    let mut ws = within(ws_connect(srv.admin_ws(), Some("janus-admin-protocol")))
        .await
        .expect("admin ws");
    let v = ws.request(admin("list_sessions", json!({}))).await;
    assert_eq!(
        v,
        json!({"janus": "success", "transaction": "t", "sessions": []})
    );
    let v = ws
        .request(json!({"janus": "get_status", "transaction": "t"}))
        .await;
    assert_eq!(error_of(&v).0, 403);
    let m = get(srv.admin_http(), "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.header("Content-Type"), Some("text/plain; version=0.0.4"));
    assert_eq!(m.body, "ianus_test_metric 1\n");
}
