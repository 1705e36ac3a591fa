//! Request/event sequences of plugins API §2 driven through the sans-IO [`State`]: the
//! outputs stand in for the core's event sink, and the exact event shapes are asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use media_core::forward::RouterEvent;
use media_core::sdp::{self, AnswerOptions, Codec, Direction, SessionDescription};
use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};

use super::*;
use crate::config::VideoRoomConfig;

const CHROMIUM_OFFER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/media-core/tests/data/sdp/chromium156_offer_av_data_simulcast.sdp"
));

const A: HandleId = HandleId(101);
const B: HandleId = HandleId(102);
const C: HandleId = HandleId(103);
const D: HandleId = HandleId(104);

fn state() -> State {
    let mut s = State::new(&VideoRoomConfig::default());
    let opened = s.take_outputs();
    assert_eq!(
        opened
            .iter()
            .filter(|o| matches!(o, Output::Media(MediaOp::OpenRoom { .. })))
            .count(),
        2,
        "one router per sample room"
    );
    s
}

/// The offer as a plugin sees it: transport stripped, simulcast reported aside (host order).
fn publisher_offer() -> Jsep {
    let mut sd = SessionDescription::parse(CHROMIUM_OFFER).expect("offer parses");
    sd.strip_transport();
    let mut j = Jsep::new(JsepType::Offer, sd.to_sdp_string());
    j.simulcast = Some(json!([{"mindex": 1, "mid": "1", "rids": ["h", "m", "l"], "rid-ext": 10}]));
    j
}

/// A browser-like answer to one of our subscriber offers (recvonly, RTX kept).
fn subscriber_answer(offer: &Jsep) -> Jsep {
    let sd = SessionDescription::parse(&offer.sdp).expect("our offer parses");
    let opts = AnswerOptions {
        direction: Direction::RecvOnly,
        video_codecs: vec![Codec::Vp8, Codec::Vp9, Codec::H264],
        ..AnswerOptions::default()
    };
    Jsep::new(JsepType::Answer, sdp::answer(&sd, &opts).to_sdp_string())
}

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

/// Runs one async request; returns its reply event (the one carrying `tx`) and all outputs.
fn ask(s: &mut State, h: HandleId, body: Value, jsep: Option<Jsep>) -> (Ev, Vec<Output>) {
    s.handle_async(h, "tx", &body, jsep.as_ref());
    let out = s.take_outputs();
    let mut evs: Vec<Ev> = events(&out)
        .into_iter()
        .filter(|e| e.handle == h && e.tx.as_deref() == Some("tx"))
        .collect();
    assert!(!evs.is_empty(), "no reply to {body}: {out:?}");
    (evs.remove(evs.len() - 1), out)
}

fn error_of(e: &Ev) -> (u64, String) {
    (
        e.data["error_code"].as_u64().unwrap_or(0),
        e.data["error"].as_str().unwrap_or("").to_owned(),
    )
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Alice joins room 1234 and publishes audio + simulcast video + data; her PC comes up.
fn alice_publishes(s: &mut State) -> Ev {
    s.create_session(A);
    let (joined, _) = ask(
        s,
        A,
        json!({"request":"join","room":1234,"ptype":"publisher","display":"alice","id":111}),
        None,
    );
    assert_eq!(joined.data["videoroom"], "joined");
    let (configured, _) = ask(
        s,
        A,
        json!({"request":"configure","audio":true,"video":true}),
        Some(publisher_offer()),
    );
    s.setup_media(A);
    s.take_outputs();
    configured
}

#[test]
fn publisher_join_configure_and_answer() {
    let mut s = state();
    s.create_session(A);
    let (joined, out) = ask(
        &mut s,
        A,
        json!({"request":"join","room":1234,"ptype":"publisher","display":"alice"}),
        None,
    );
    assert_eq!(out.len(), 1, "nobody else to notify");
    assert_eq!(
        keys(&joined.data),
        [
            "videoroom",
            "room",
            "description",
            "id",
            "private_id",
            "publishers"
        ]
    );
    assert_eq!(joined.data["room"], 1234);
    assert_eq!(joined.data["description"], "Demo Room");
    assert_eq!(joined.data["publishers"], json!([]));
    assert!(joined.data["id"]
        .as_u64()
        .is_some_and(|id| id > 0 && id < 1 << 53));
    assert!(joined.data["private_id"].as_u64().is_some_and(|p| p > 0));

    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request":"configure","audio":true,"video":true}),
        Some(publisher_offer()),
    );
    assert_eq!(
        keys(&ev.data),
        [
            "videoroom",
            "room",
            "configured",
            "audio_codec",
            "video_codec",
            "streams"
        ]
    );
    assert_eq!(ev.data["configured"], "ok");
    assert_eq!(ev.data["audio_codec"], "opus");
    assert_eq!(ev.data["video_codec"], "vp8");
    assert_eq!(
        ev.data["streams"],
        json!([
            {"type":"audio","mindex":0,"mid":"0","codec":"opus","fec":true},
            {"type":"video","mindex":1,"mid":"1","codec":"vp8","simulcast":true},
            {"type":"data","mindex":2,"mid":"2"}
        ])
    );
    let answer = ev.jsep.expect("an answer");
    assert_eq!(answer.kind, JsepType::Answer);
    let sd = SessionDescription::parse(&answer.sdp).expect("answer parses");
    assert_eq!(sd.session_name, "VideoRoom 1234");
    assert_eq!(sd.media.len(), 3);
    for m in &sd.media[..2] {
        assert_eq!(m.direction(), Direction::RecvOnly);
        let codecs = m
            .formats_in_order()
            .filter(|p| p.codec() != Codec::Rtx)
            .count();
        assert_eq!(codecs, 1, "one codec: {m:?}");
    }
    assert_eq!(
        sd.media[0].formats_in_order().next().map(|p| p.codec()),
        Some(Codec::Opus)
    );
    assert_eq!(
        sd.media[1].formats_in_order().next().map(|p| p.codec()),
        Some(Codec::Vp8)
    );
    assert!(sd.media[1].rtx_map().next().is_some(), "RTX kept for VP8");
    let uris = |m: &sdp::MediaSection| -> Vec<String> {
        m.extmaps.iter().map(|e| e.uri.clone()).collect()
    };
    assert!(
        !uris(&sd.media[0])
            .iter()
            .any(|u| u.contains("transport-wide")),
        "audio keeps no TWCC in a VideoRoom answer"
    );
    assert!(uris(&sd.media[1])
        .iter()
        .any(|u| u.contains("transport-wide")));
    // Nor transport-cc feedback: Chromium would count the audio in its bandwidth estimate
    // and give the video less than the room's cap.
    let fb = |m: &sdp::MediaSection| -> Vec<String> {
        m.formats_in_order()
            .flat_map(|p| p.rtcp_fb.clone())
            .collect()
    };
    assert!(!fb(&sd.media[0]).iter().any(|f| f == "transport-cc"));
    assert!(fb(&sd.media[1]).iter().any(|f| f == "transport-cc"));
    assert!(!uris(&sd.media[1])
        .iter()
        .any(|u| u.contains("abs-send-time")));
    assert!(sd.media[2].is_data());

    // The PC comes up: the router learns the streams, keyed by RTP m-line index.
    s.setup_media(A);
    let ops = media(&s.take_outputs());
    let add = ops
        .iter()
        .find_map(|m| match m {
            MediaOp::AddPublisher { streams, label, .. } => Some((streams.clone(), label.clone())),
            _ => None,
        })
        .expect("AddPublisher");
    assert_eq!(add.0.len(), 2);
    assert_eq!(
        (add.0[0].index, add.0[0].codec, add.0[0].pt, add.0[0].layers),
        (0, Codec::Opus, 111, 1)
    );
    assert_eq!(
        (add.0[1].index, add.0[1].codec, add.0[1].pt, add.0[1].layers),
        (1, Codec::Vp8, 96, 3)
    );
    assert_eq!(add.0[0].audio_level_ext, Some(1));
    assert_eq!(
        add.1,
        joined.data["id"].to_string(),
        "data label = participant ID"
    );
}

#[test]
fn others_see_joined_publishers_and_the_publishers_event() {
    let mut s = state();
    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher","display":"bob"}),
        None,
    );
    alice_publishes(&mut s);
    // Bob heard about Alice when her PC came up (checked by re-running setup on a new pub).
    s.create_session(C);
    let (joined, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"publisher"}),
        None,
    );
    let pubs = joined.data["publishers"].as_array().expect("list");
    assert_eq!(pubs.len(), 1, "only Alice publishes");
    assert_eq!(
        pubs[0],
        json!({"id":111,"display":"alice","audio_codec":"opus","video_codec":"vp8",
               "streams":[{"type":"audio","mindex":0,"mid":"0","codec":"opus","fec":true,"talking":false},
                          {"type":"video","mindex":1,"mid":"1","codec":"vp8","simulcast":true},
                          {"type":"data","mindex":2,"mid":"2"}],
               "talking":false})
    );

    // A fresh publication notifies everyone else with one `publishers` entry.
    s.create_session(D);
    ask(
        &mut s,
        D,
        json!({"request":"join","room":1234,"ptype":"publisher","id":444}),
        None,
    );
    ask(
        &mut s,
        D,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    s.setup_media(D);
    let evs = events(&s.take_outputs());
    let targets: Vec<HandleId> = evs.iter().map(|e| e.handle).collect();
    assert!(targets.contains(&A) && targets.contains(&B) && targets.contains(&C));
    assert!(!targets.contains(&D));
    let e = &evs[0];
    assert_eq!(keys(&e.data), ["videoroom", "room", "publishers"]);
    assert_eq!(e.data["publishers"][0]["id"], 444);
    assert_eq!(e.data["publishers"][0]["streams"][0].get("talking"), None);
    assert_eq!(e.tx, None, "unsolicited");
}

#[test]
fn subscriber_attach_start_and_publisher_departure() {
    let mut s = state();
    alice_publishes(&mut s);
    s.create_session(C);
    let (attached, out) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"subscriber","streams":[{"feed":111}],
               "use_msid":true}),
        None,
    );
    assert!(
        media(&out).is_empty(),
        "nothing for the router before the PC is up"
    );
    assert_eq!(keys(&attached.data), ["videoroom", "room", "streams"]);
    assert_eq!(attached.data["videoroom"], "attached");
    assert_eq!(
        attached.data["streams"],
        json!([
            {"type":"audio","active":true,"mindex":0,"mid":"0","ready":false,"send":true,
             "feed_id":111,"feed_display":"alice","feed_mid":"0","codec":"opus"},
            {"type":"video","active":true,"mindex":1,"mid":"1","ready":false,"send":true,
             "feed_id":111,"feed_display":"alice","feed_mid":"1","codec":"vp8",
             "simulcast":{"substream":-1,"substream-target":2,"temporal-layer":-1,"temporal-layer-target":2}},
            {"type":"data","active":true,"mindex":2,"mid":"2","ready":false,"send":true,
             "sources":1,"source_ids":[111]}
        ])
    );
    let offer = attached.jsep.expect("an offer");
    assert_eq!(offer.kind, JsepType::Offer);
    let sd = SessionDescription::parse(&offer.sdp).expect("offer parses");
    assert_eq!(sd.session_name, "VideoRoom 1234");
    let mids: Vec<_> = sd
        .media
        .iter()
        .map(|m| m.mid.clone().unwrap_or_default())
        .collect();
    assert_eq!(mids, ["0", "1", "2"]);
    assert_eq!(sd.media[0].direction(), Direction::SendOnly);
    assert_eq!(sd.media[0].pts().collect::<Vec<_>>(), [111]);
    assert_eq!(
        sd.media[0]
            .payload(111)
            .and_then(|p| p.fmtp.clone())
            .as_deref(),
        Some("useinbandfec=1")
    );
    assert_eq!(sd.media[1].pts().collect::<Vec<_>>(), [96, 97]);
    assert!(sd.media[1].ssrc_group("FID").is_some(), "RTX SSRC group");
    assert_eq!(sd.media[1].msids[0].stream, "111", "use_msid: publisher ID");
    let ext_ids: Vec<(u16, String)> = sd.media[1]
        .extmaps
        .iter()
        .map(|e| (e.id, e.uri.clone()))
        .collect();
    for (id, frag) in [
        (2, "abs-send-time"),
        (3, "transport-wide"),
        (4, "sdes:mid"),
        (12, "playout-delay"),
        (13, "video-orientation"),
    ] {
        assert!(
            ext_ids.iter().any(|(i, u)| *i == id && u.contains(frag)),
            "{frag} at {id}: {ext_ids:?}"
        );
    }
    assert!(
        sd.media[0].extmaps.iter().any(|e| e.id == 1),
        "audio-level offered"
    );
    assert!(sd.media[2].is_data());

    // start + answer: started, streams ready; the PC comes up → one snapshot.
    let answer = subscriber_answer(&offer);
    let (started, _) = ask(
        &mut s,
        C,
        json!({"request":"start","room":1234}),
        Some(answer),
    );
    assert_eq!(
        started.data,
        json!({"videoroom":"event","room":1234,"started":"ok"})
    );
    s.setup_media(C);
    let ops = media(&s.take_outputs());
    let subs = ops
        .iter()
        .find_map(|m| match m {
            MediaOp::SetSubscriber {
                subscriptions,
                handle,
                ..
            } if *handle == C => Some(subscriptions.clone()),
            _ => None,
        })
        .expect("a snapshot");
    assert_eq!(subs.len(), 2, "audio and video");
    assert_eq!(subs[0].source, Some((A.0, 0)));
    assert_eq!(
        (subs[1].source, subs[1].pt, subs[1].rtx_pt),
        (Some((A.0, 1)), 96, Some(97))
    );
    assert!(subs.iter().all(|x| x.send));
    assert!(ops.iter().any(|m| matches!(m, MediaOp::DataTargets { publisher, targets } if *publisher == A && targets == &vec![C])));

    // pause → snapshot with send:false; start again → PLI to the source.
    let (paused, out) = ask(&mut s, C, json!({"request":"pause"}), None);
    assert_eq!(paused.data["paused"], "ok");
    assert!(media(&out).iter().any(|m| matches!(m, MediaOp::SetSubscriber { subscriptions, .. } if subscriptions.iter().all(|x| !x.send))));
    let (_, out) = ask(&mut s, C, json!({"request":"start"}), None);
    assert!(media(&out)
        .iter()
        .any(|m| matches!(m, MediaOp::RequestKeyframe { publisher, .. } if *publisher == A)));

    // Alice's PC dies: others hear `unpublished`, the subscriber gets `updated` + an offer
    // whose m-lines are inactive (kept, never removed).
    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher"}),
        None,
    );
    s.hangup_media(A);
    let out = s.take_outputs();
    let evs = events(&out);
    let unpublished = evs.iter().find(|e| e.handle == B).expect("B notified");
    assert_eq!(
        unpublished.data,
        json!({"videoroom":"event","room":1234,"unpublished":111})
    );
    let updated = evs.iter().find(|e| e.handle == C).expect("C renegotiated");
    assert_eq!(updated.tx, None);
    assert_eq!(updated.data["videoroom"], "updated");
    assert_eq!(updated.data["streams"][0]["active"], false);
    assert_eq!(updated.data["streams"][1]["active"], false);
    let sd = SessionDescription::parse(&updated.jsep.as_ref().expect("offer").sdp).expect("parses");
    assert_eq!(sd.media.len(), 3);
    assert_eq!(sd.media[0].direction(), Direction::Inactive);
    assert_eq!(sd.media[1].direction(), Direction::Inactive);
    assert!(media(&out)
        .iter()
        .any(|m| matches!(m, MediaOp::RemovePublisher { handle, .. } if *handle == A)));
}

#[test]
fn update_while_unanswered_is_deferred_then_offered() {
    let mut s = state();
    alice_publishes(&mut s);
    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher","id":222}),
        None,
    );
    ask(
        &mut s,
        B,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    s.setup_media(B);
    s.create_session(C);
    let (attached, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"subscriber","streams":[{"feed":111,"mid":"1"}]}),
        None,
    );
    assert_eq!(attached.data["streams"].as_array().map(Vec::len), Some(1));
    // Not answered yet: `updating`, no offer.
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"update","subscribe":[{"feed":222,"mid":"1"}]}),
        None,
    );
    assert_eq!(ev.data, json!({"videoroom":"updating","room":1234}));
    assert!(ev.jsep.is_none());
    // The answer to the first offer releases the cumulative one as an unsolicited `updated`.
    let answer = subscriber_answer(attached.jsep.as_ref().expect("offer"));
    s.handle_async(C, "tx2", &json!({"request":"start"}), Some(&answer));
    let evs = events(&s.take_outputs());
    assert_eq!(evs[0].data["started"], "ok");
    assert_eq!(evs[1].tx, None);
    assert_eq!(evs[1].data["videoroom"], "updated");
    assert_eq!(evs[1].data["streams"].as_array().map(Vec::len), Some(2));
    assert_eq!(evs[1].data["streams"][1]["feed_id"], 222);
    assert!(evs[1].jsep.is_some());
    // Nothing changes: `updated` without streams or offer.
    let answer = subscriber_answer(evs[1].jsep.as_ref().expect("offer"));
    ask(&mut s, C, json!({"request":"start"}), Some(answer));
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"unsubscribe","streams":[{"feed":999}]}),
        None,
    );
    assert_eq!(ev.data, json!({"videoroom":"updated","room":1234}));
    // Unsubscribe by feed: answered → `updated` with an offer, the m-line kept inactive.
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"unsubscribe","streams":[{"feed":222}]}),
        None,
    );
    assert_eq!(ev.data["videoroom"], "updated");
    assert_eq!(ev.data["streams"][1]["active"], false);
    // A new subscription of the same type and codec reuses that m-line.
    let answer = subscriber_answer(ev.jsep.as_ref().expect("offer"));
    ask(&mut s, C, json!({"request":"start"}), Some(answer));
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"subscribe","streams":[{"feed":222,"mid":"1"}]}),
        None,
    );
    assert_eq!(ev.data["streams"].as_array().map(Vec::len), Some(2));
    assert_eq!(ev.data["streams"][1]["active"], true);
}

#[test]
fn legacy_feed_subscription_and_switch() {
    let mut s = state();
    alice_publishes(&mut s);
    s.create_session(C);
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"subscriber","feed":111,"offer_data":false}),
        None,
    );
    assert_eq!(
        keys(&ev.data),
        ["videoroom", "room", "id", "warning", "display", "streams"]
    );
    assert_eq!(ev.data["id"], 111);
    assert_eq!(ev.data["warning"], "deprecated_api");
    assert_eq!(
        ev.data["streams"].as_array().map(Vec::len),
        Some(2),
        "offer_data:false"
    );

    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher","id":222}),
        None,
    );
    ask(
        &mut s,
        B,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    s.setup_media(B);
    s.take_outputs();
    let (ev, out) = ask(
        &mut s,
        C,
        json!({"request":"switch","streams":[{"feed":222,"mid":"1","sub_mid":"1"}]}),
        None,
    );
    assert_eq!(
        keys(&ev.data),
        ["videoroom", "switched", "room", "changes", "streams"]
    );
    assert_eq!(ev.data["changes"], 1);
    assert_eq!(ev.data["streams"][1]["feed_id"], 222);
    assert!(ev.jsep.is_none(), "no renegotiation");
    assert!(media(&out)
        .iter()
        .any(|m| matches!(m, MediaOp::RequestKeyframe { publisher, .. } if *publisher == B)));
}

#[test]
fn simulcast_configure_and_router_notifications() {
    let mut s = state();
    alice_publishes(&mut s);
    s.create_session(C);
    let (attached, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"subscriber","streams":[{"feed":111}]}),
        None,
    );
    let answer = subscriber_answer(attached.jsep.as_ref().expect("offer"));
    ask(&mut s, C, json!({"request":"start"}), Some(answer));
    s.setup_media(C);
    s.take_outputs();
    let (ev, out) = ask(
        &mut s,
        C,
        json!({"request":"configure","substream":0,"temporal":1}),
        None,
    );
    assert_eq!(
        ev.data,
        json!({"videoroom":"event","room":1234,"configured":"ok"})
    );
    let snap = media(&out)
        .into_iter()
        .find_map(|m| match m {
            MediaOp::SetSubscriber { subscriptions, .. } => Some(subscriptions),
            _ => None,
        })
        .expect("targets changed → new snapshot");
    assert_eq!((snap[1].substream_target, snap[1].temporal_target), (0, 1));
    // The engine switches: the subscriber hears it with the subscriber mid.
    s.router_event(
        &Id::Num(1234),
        RouterEvent::Substream {
            subscriber: C.0,
            sub_index: 1,
            substream: 0,
        },
    );
    let evs = events(&s.take_outputs());
    assert_eq!(
        evs[0].data,
        json!({"videoroom":"event","room":1234,"mid":"1","substream":0})
    );
    // Asking for the layer already relayed is confirmed at once.
    let (_, out) = ask(
        &mut s,
        C,
        json!({"request":"configure","mid":"1","substream":0}),
        None,
    );
    let evs = events(&out);
    assert_eq!(
        evs[0].data,
        json!({"videoroom":"event","room":1234,"mid":"1","substream":0})
    );
    assert_eq!(evs[0].tx, None);
    // Out-of-range layers are refused.
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"configure","substream":3}),
        None,
    );
    assert_eq!(
        error_of(&ev),
        (
            430,
            "Invalid value (substream/spatial_layer should be 0, 1 or 2)".into()
        )
    );
    let (ev, _) = ask(
        &mut s,
        C,
        json!({"request":"configure","mid":"7","send":false}),
        None,
    );
    assert_eq!(
        error_of(&ev),
        (428, "No such mid '7' in subscription".into())
    );
}

#[test]
fn talking_events_need_audiolevel_event() {
    let mut s = state();
    s.handle_sync("create", &json!({"room": 77, "audiolevel_event": true}));
    s.take_outputs();
    s.create_session(A);
    ask(
        &mut s,
        A,
        json!({"request":"join","room":77,"ptype":"publisher","id":1}),
        None,
    );
    ask(
        &mut s,
        A,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    s.setup_media(A);
    s.take_outputs();
    s.router_event(
        &Id::Num(77),
        RouterEvent::Talking {
            publisher: A.0,
            index: 0,
            talking: true,
            level_avg: 12.5,
        },
    );
    let evs = events(&s.take_outputs());
    assert_eq!(evs.len(), 1, "the speaker too");
    assert_eq!(
        evs[0].data,
        json!({"videoroom":"talking","room":77,"id":1,"mindex":0,"mid":"0","audio-level-dBov-avg":12.5})
    );
}

#[test]
fn join_errors_have_janus_codes() {
    let mut s = state();
    s.create_session(A);
    let cases = [
        (
            json!({"request":"configure"}),
            424,
            "Invalid request on unconfigured participant",
        ),
        (
            json!({"request":"join","ptype":"publisher"}),
            429,
            "Missing mandatory element (room)",
        ),
        (
            json!({"request":"join","room":"x","ptype":"publisher"}),
            430,
            "Invalid element type (room should be a positive integer)",
        ),
        (
            json!({"request":"join","room":1234}),
            429,
            "Missing mandatory element (ptype)",
        ),
        (
            json!({"request":"join","room":4321,"ptype":"publisher"}),
            426,
            "No such room (4321)",
        ),
        (
            json!({"request":"join","room":1234,"ptype":"viewer"}),
            430,
            "Invalid element (ptype)",
        ),
        (
            json!({"request":"join","room":1234,"ptype":"subscriber","feed":5}),
            428,
            "No such feed (5)",
        ),
        (
            json!({"request":"join","room":1234,"ptype":"subscriber"}),
            429,
            "Missing mandatory element (feed)",
        ),
    ];
    for (body, code, text) in cases {
        let (ev, _) = ask(&mut s, A, body.clone(), None);
        assert_eq!(error_of(&ev), (code, text.to_owned()), "{body}");
    }
    // Pins.
    s.handle_sync("create", &json!({"room": 9, "pin": "1234"}));
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request":"join","room":9,"ptype":"publisher","pin":"0"}),
        None,
    );
    assert_eq!(error_of(&ev), (433, "Unauthorized (wrong pin)".into()));
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request":"join","room":9,"ptype":"publisher"}),
        None,
    );
    assert_eq!(
        error_of(&ev),
        (429, "Missing mandatory element (pin)".into())
    );
    // Joined once; twice is 425; the same ID on another handle is 436.
    ask(
        &mut s,
        A,
        json!({"request":"join","room":1234,"ptype":"publisher","id":5}),
        None,
    );
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request":"join","room":1234,"ptype":"publisher"}),
        None,
    );
    assert_eq!(
        error_of(&ev),
        (425, "Already in as a publisher on this handle".into())
    );
    s.create_session(B);
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher","id":5}),
        None,
    );
    assert_eq!(error_of(&ev), (436, "User ID 5 already exists".into()));
    // Publisher-only and subscriber-only requests.
    let (ev, _) = ask(&mut s, A, json!({"request":"start"}), None);
    assert_eq!(error_of(&ev), (423, "Unknown request 'start'".into()));
    let (ev, _) = ask(&mut s, A, json!({"request":"unpublish"}), None);
    assert_eq!(
        error_of(&ev),
        (435, "Can't unpublish, not published".into())
    );
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request":"configure","streams":[{"mid":"9"}]}),
        None,
    );
    assert_eq!(error_of(&ev), (428, "No such mid '9' published".into()));
    let (ev, _) = ask(
        &mut s,
        A,
        json!({"request":"configure","audiocodec":"pcmu"}),
        Some(publisher_offer()),
    );
    assert_eq!(
        error_of(&ev),
        (430, "Audio codec unavailable in this room".into())
    );
}

#[test]
fn publishers_limit_and_leave() {
    let mut s = state();
    let created = s
        .handle_sync("create", &json!({"publishers": 1, "description": "screen"}))
        .expect("sync");
    assert_eq!(keys(&created), ["videoroom", "room", "permanent"]);
    let room = created["room"].clone();
    s.take_outputs();
    s.create_session(A);
    ask(
        &mut s,
        A,
        json!({"request":"join","room":room,"ptype":"publisher"}),
        None,
    );
    ask(
        &mut s,
        A,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    s.setup_media(A);
    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":room,"ptype":"publisher"}),
        None,
    );
    let (ev, _) = ask(
        &mut s,
        B,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    assert_eq!(
        error_of(&ev),
        (
            432,
            "Maximum number of publishers (1) already reached".into()
        )
    );
    // B leaves: A hears `leaving`, B gets `leaving: ok`.
    let (ev, out) = ask(&mut s, B, json!({"request":"leave"}), None);
    assert_eq!(
        ev.data,
        json!({"videoroom":"event","room":room,"leaving":"ok"})
    );
    let evs = events(&out);
    let b_id = evs
        .iter()
        .find(|e| e.handle == A)
        .map(|e| e.data["leaving"].clone());
    assert!(b_id.is_some_and(|v| v.is_u64()));
    // Detaching a publisher: `unpublished` then `leaving`.
    s.create_session(C);
    ask(
        &mut s,
        C,
        json!({"request":"join","room":room,"ptype":"publisher","id":3}),
        None,
    );
    s.take_outputs();
    s.hangup_media(A);
    s.destroy_session(A);
    let evs = events(&s.take_outputs());
    let to_c: Vec<&Value> = evs
        .iter()
        .filter(|e| e.handle == C)
        .map(|e| &e.data)
        .collect();
    assert_eq!(to_c.len(), 2);
    assert!(to_c[0].get("unpublished").is_some());
    assert!(to_c[1].get("leaving").is_some());
}

#[test]
fn sync_requests_shapes_and_errors() {
    let mut s = state();
    let r = s
        .handle_sync("exists", &json!({"room":1234}))
        .expect("sync");
    assert_eq!(r, json!({"videoroom":"success","room":1234,"exists":true}));
    let r = s.handle_sync("exists", &json!({})).expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"event","error_code":429,"error":"Missing mandatory element (room)"})
    );
    let r = s.handle_sync("list", &json!({})).expect("sync");
    assert_eq!(r["list"].as_array().map(Vec::len), Some(2));
    assert_eq!(r["list"][1]["videocodec"], "vp9");
    assert_eq!(r["list"][1]["video_svc"], true);
    let r = s
        .handle_sync("create", &json!({"room":1234}))
        .expect("sync");
    assert_eq!(r["error_code"], 427);
    assert_eq!(r["error"], "Room 1234 already exists");
    let r = s
        .handle_sync("edit", &json!({"room":1234,"new_description":"x"}))
        .expect("sync");
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(429), json!("Missing mandatory element (secret)"))
    );
    let r = s
        .handle_sync("edit", &json!({"room":1234,"secret":"no"}))
        .expect("sync");
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(433), json!("Unauthorized (wrong secret)"))
    );
    let r = s
        .handle_sync(
            "edit",
            &json!({"room":1234,"secret":"adminpwd","new_description":"x"}),
        )
        .expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"edited","room":1234,"permanent":false})
    );
    let r = s
        .handle_sync("listparticipants", &json!({"room":1234}))
        .expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"participants","room":1234,"participants":[]})
    );
    let r = s
        .handle_sync("listforwarders", &json!({"room":1234,"secret":"adminpwd"}))
        .expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"forwarders","room":1234,"publishers":[]})
    );
    let r = s
        .handle_sync(
            "enable_recording",
            &json!({"room":1234,"secret":"adminpwd","record":true}),
        )
        .expect("sync");
    assert_eq!(r, json!({"videoroom":"success","record":true}));
    let r = s
        .handle_sync(
            "allowed",
            &json!({"room":1234,"secret":"adminpwd","action":"add","allowed":["t"]}),
        )
        .expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"success","room":1234,"allowed":["t"]})
    );
    let r = s
        .handle_sync("kick", &json!({"secret":"adminpwd","id":5}))
        .expect("sync");
    assert_eq!(
        r["error"], "No such room (0)",
        "Janus overwrites the room error"
    );
    let r = s
        .handle_sync("kick", &json!({"room":1234,"secret":"adminpwd","id":5}))
        .expect("sync");
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(428), json!("No such user 5 in room 1234"))
    );
    assert_eq!(
        s.handle_sync("join", &json!({})),
        None,
        "join is asynchronous"
    );
    // Destroy: participants get `destroyed` and their PCs closed.
    s.handle_sync(
        "allowed",
        &json!({"room":1234,"secret":"adminpwd","action":"disable"}),
    );
    s.create_session(A);
    ask(
        &mut s,
        A,
        json!({"request":"join","room":1234,"ptype":"publisher"}),
        None,
    );
    let r = s
        .handle_sync("destroy", &json!({"room":1234,"secret":"adminpwd"}))
        .expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"destroyed","room":1234,"permanent":false})
    );
    let out = s.take_outputs();
    assert!(events(&out)
        .iter()
        .any(|e| e.handle == A && e.data == json!({"videoroom":"destroyed","room":1234})));
    assert!(out.contains(&Output::ClosePc(A)));
    assert!(out.contains(&Output::Media(MediaOp::CloseRoom {
        room: Id::Num(1234)
    })));
    let (ev, _) = ask(&mut s, A, json!({"request":"configure"}), None);
    assert_eq!(error_of(&ev), (426, "No such room".into()));
}

#[test]
fn kick_and_moderate_notify_everyone() {
    let mut s = state();
    alice_publishes(&mut s);
    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher","id":222}),
        None,
    );
    s.take_outputs();
    let r = s
        .handle_sync(
            "moderate",
            &json!({"room":1234,"id":111,"mid":"0","mute":true}),
        )
        .expect("sync");
    assert_eq!(r["error_code"], 429, "secret needed");
    let r = s
        .handle_sync(
            "moderate",
            &json!({"room":1234,"secret":"adminpwd","id":111,"mid":"0","mute":true}),
        )
        .expect("sync");
    assert_eq!(r, json!({"videoroom":"success"}));
    let evs = events(&s.take_outputs());
    assert_eq!(evs.len(), 2, "target included");
    assert_eq!(
        evs[0].data,
        json!({"videoroom":"event","room":1234,"id":111,"mid":"0","moderation":"muted"})
    );
    let r = s
        .handle_sync(
            "moderate",
            &json!({"room":1234,"secret":"adminpwd","id":111,"mid":"9","mute":true}),
        )
        .expect("sync");
    assert_eq!(r["error"], "No such stream 9");

    let r = s
        .handle_sync("kick", &json!({"room":1234,"secret":"adminpwd","id":111}))
        .expect("sync");
    assert_eq!(r, json!({"videoroom":"success"}));
    let out = s.take_outputs();
    let evs = events(&out);
    assert!(evs.iter().any(|e| e.handle == A
        && e.data == json!({"videoroom":"event","room":1234,"leaving":"ok","reason":"kicked"})));
    assert!(evs
        .iter()
        .any(|e| e.handle == B && e.data == json!({"videoroom":"event","room":1234,"kicked":111})));
    assert!(
        !evs.iter().any(|e| e.data.get("unpublished").is_some()),
        "no separate unpublished"
    );
    assert!(out.contains(&Output::ClosePc(A)));
}

#[test]
fn rtp_forwarders_are_created_listed_and_stopped() {
    let mut s = state();
    alice_publishes(&mut s);
    let r = s
        .handle_sync(
            "rtp_forward",
            &json!({"room":1234,"secret":"adminpwd","publisher_id":111,"host":"127.0.0.1",
                    "streams":[{"mid":"1","port":5004,"pt":100,"ssrc":7,"port_2":5006},
                               {"mid":"0","port":5002},{"mid":"2","port":5008}]}),
        )
        .expect("sync");
    assert_eq!(
        keys(&r),
        ["publisher_id", "forwarders", "room", "videoroom"]
    );
    let f = r["forwarders"].as_array().expect("list");
    assert_eq!(f.len(), 4);
    assert_eq!(
        keys(&f[0]),
        ["stream_id", "host", "port", "type", "pt", "ssrc"]
    );
    assert_eq!(
        (f[0]["type"].clone(), f[0]["port"].clone()),
        (json!("video"), json!(5004))
    );
    assert_eq!(f[1]["substream"], 1);
    assert_eq!(f[3]["type"], "data");
    let out = s.take_outputs();
    let targets = media(&out)
        .into_iter()
        .find_map(|m| match m {
            MediaOp::Forwarders {
                publisher, targets, ..
            } if publisher == A => Some(targets),
            _ => None,
        })
        .expect("forwarder targets for the media side");
    assert_eq!(targets.len(), 4);
    assert_eq!(
        (
            targets[0].rtp_index,
            targets[0].layer,
            targets[0].pt,
            targets[0].ssrc
        ),
        (Some(1), 0, 100, 7)
    );
    assert_eq!((targets[1].rtp_index, targets[1].layer), (Some(1), 1));
    assert_eq!(targets[3].rtp_index, None, "data");
    assert!(media(&out)
        .iter()
        .any(|m| matches!(m, MediaOp::RequestKeyframe { publisher, .. } if *publisher == A)));

    let list = s
        .handle_sync("listforwarders", &json!({"room":1234,"secret":"adminpwd"}))
        .expect("sync");
    assert_eq!(list["publishers"][0]["publisher_id"], 111);
    assert_eq!(list["publishers"][0]["display"], "alice");
    assert_eq!(
        list["publishers"][0]["forwarders"].as_array().map(Vec::len),
        Some(4)
    );
    let id = f[2]["stream_id"].clone();
    let r = s
        .handle_sync(
            "stop_rtp_forward",
            &json!({"room":1234,"secret":"adminpwd","publisher_id":111,"stream_id":id}),
        )
        .expect("sync");
    assert_eq!(
        r,
        json!({"videoroom":"stop_rtp_forward","room":1234,"publisher_id":111,"stream_id":id})
    );
    // They go with the publication.
    s.hangup_media(A);
    let list = s
        .handle_sync("listforwarders", &json!({"room":1234,"secret":"adminpwd"}))
        .expect("sync");
    assert_eq!(list["publishers"], json!([]));
    // The deprecated flat form.
    s.create_session(B);
    ask(
        &mut s,
        B,
        json!({"request":"join","room":1234,"ptype":"publisher","id":222}),
        None,
    );
    ask(
        &mut s,
        B,
        json!({"request":"configure"}),
        Some(publisher_offer()),
    );
    let r = s
        .handle_sync(
            "rtp_forward",
            &json!({"room":1234,"secret":"adminpwd","publisher_id":222,"host":"127.0.0.1",
                    "audio_port":6000,"video_port":6002}),
        )
        .expect("sync");
    assert_eq!(
        keys(&r["rtp_stream"]),
        [
            "audio_stream_id",
            "audio",
            "video_stream_id",
            "video",
            "warning",
            "host"
        ]
    );
}

#[test]
fn srtp_forwarders_carry_their_key_and_unusable_keys_create_no_media_forwarder() {
    let mut s = state();
    alice_publishes(&mut s);
    // 30 bytes of key + salt in base64 (40 characters), as in an SDES inline key.
    let key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";
    let r = s
        .handle_sync(
            "rtp_forward",
            &json!({"room":1234,"secret":"adminpwd","publisher_id":111,"host":"127.0.0.1",
                    "srtp_suite":32,"srtp_crypto":key,
                    "streams":[{"mid":"0","port":5002},{"mid":"2","port":5008}]}),
        )
        .expect("sync");
    let f = r["forwarders"].as_array().expect("list");
    assert_eq!(f.len(), 2);
    assert_eq!(
        keys(&f[0]),
        ["stream_id", "host", "port", "type", "srtp"],
        "audio: srtp last, as Janus"
    );
    assert_eq!(f[0]["srtp"], true);
    assert_eq!(f[1]["type"], "data");
    assert!(f[1].get("srtp").is_none(), "data is never encrypted");
    let targets = media(&s.take_outputs())
        .into_iter()
        .find_map(|m| match m {
            MediaOp::Forwarders {
                publisher, targets, ..
            } if publisher == A => Some(targets),
            _ => None,
        })
        .expect("targets");
    assert_eq!(
        targets[0].srtp.map(|k| k.profile()),
        Some(media_core::srtp::ProtectionProfile::Aes128CmHmacSha1_32)
    );
    assert_eq!(targets[0].stream_id, f[0]["stream_id"]);
    assert!(targets[1].srtp.is_none());

    // Too short (29 bytes) or not base64: Janus creates no audio/video forwarder and still
    // replies with success, listing what it did create.
    for bad in [&key[..36], "not base64!"] {
        for body in [
            json!({"room":1234,"secret":"adminpwd","publisher_id":111,"host":"127.0.0.1",
                   "srtp_suite":80,"srtp_crypto":bad,
                   "streams":[{"mid":"1","port":5004,"port_2":5006},{"mid":"2","port":5010}]}),
            json!({"room":1234,"secret":"adminpwd","publisher_id":111,"host":"127.0.0.1",
                   "srtp_suite":80,"srtp_crypto":bad,"audio_port":6000,"data_port":6004}),
        ] {
            let r = s.handle_sync("rtp_forward", &body).expect("sync");
            assert_eq!(r["videoroom"], "rtp_forward");
            match r.get("forwarders") {
                Some(f) => {
                    let f = f.as_array().expect("list");
                    assert_eq!(f.len(), 1, "{bad}: only the data forwarder");
                    assert_eq!(f[0]["type"], "data");
                }
                None => assert_eq!(
                    keys(&r["rtp_stream"]),
                    ["data_stream_id", "data", "warning", "host"]
                ),
            }
        }
    }
    // A wrong suite is refused before anything else.
    let r = s
        .handle_sync(
            "rtp_forward",
            &json!({"room":1234,"secret":"adminpwd","publisher_id":111,"host":"127.0.0.1",
                    "srtp_suite":40,"srtp_crypto":key,"audio_port":6000}),
        )
        .expect("sync");
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(430), json!("Invalid SRTP suite (40)"))
    );
}

#[test]
fn svc_layer_changes_reach_the_subscriber_as_janus_events() {
    let mut s = state();
    alice_publishes(&mut s);
    s.create_session(C);
    let (attached, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"subscriber","streams":[{"feed":111}]}),
        None,
    );
    let answer = subscriber_answer(attached.jsep.as_ref().expect("offer"));
    ask(&mut s, C, json!({"request":"start"}), Some(answer));
    s.setup_media(C);
    s.take_outputs();
    s.router_event(
        &Id::Num(1234),
        RouterEvent::SpatialLayer {
            subscriber: C.0,
            sub_index: 1,
            spatial: 1,
        },
    );
    s.router_event(
        &Id::Num(1234),
        RouterEvent::TemporalLayer {
            subscriber: C.0,
            sub_index: 1,
            temporal: 0,
        },
    );
    let evs = events(&s.take_outputs());
    assert_eq!(
        evs[0].data,
        json!({"videoroom":"event","room":1234,"mid":"1","spatial_layer":1})
    );
    assert_eq!(
        evs[1].data,
        json!({"videoroom":"event","room":1234,"mid":"1","temporal_layer":0})
    );
}

/// `simulcast: true` on a simulcast video stream: ONE forwarder that the room task relays
/// like a subscriber (a viewer target), with the publisher's PT unless `pt` is given and
/// Janus's default SSRC, the stream id, unless `ssrc` is given; no `port_2`/`port_3` ones.
/// `simulcast: true` on audio changes nothing.
#[test]
fn a_simulcast_forwarder_is_one_viewer_target_with_janus_defaults() {
    let mut s = state();
    alice_publishes(&mut s);
    let r = s
        .handle_sync(
            "rtp_forward",
            &json!({"room":1234,"secret":"adminpwd","publisher_id":111,"host":"127.0.0.1",
                    "streams":[{"mid":"1","port":5004,"simulcast":true},
                               {"mid":"1","port":5006,"simulcast":true,"ssrc":77,"pt":100},
                               {"mid":"0","port":5002,"simulcast":true}]}),
        )
        .expect("sync");
    let f = r["forwarders"].as_array().expect("list");
    assert_eq!(f.len(), 3);
    let targets = media(&s.take_outputs())
        .into_iter()
        .find_map(|m| match m {
            MediaOp::Forwarders {
                publisher, targets, ..
            } if publisher == A => Some(targets),
            _ => None,
        })
        .expect("targets");
    assert_eq!(targets.len(), 3);
    let t = &targets[0];
    assert!(t.viewer);
    assert_eq!(t.rtp_index, Some(1));
    assert_eq!(
        (t.pt, t.ssrc),
        (96, t.stream_id),
        "publisher PT, stream id as SSRC"
    );
    assert_eq!(t.stream_id, f[0]["stream_id"]);
    let t = &targets[1];
    assert!(t.viewer);
    assert_eq!((t.pt, t.ssrc), (100, 77));
    assert!(!targets[2].viewer, "audio is forwarded as is");
    assert_eq!((targets[2].pt, targets[2].ssrc), (0, 0));
}

#[test]
fn av1_publishers_negotiate_the_dependency_descriptor_and_subscribers_get_svc_targets() {
    use media_core::forward::SUBSCRIBER_DD_EXT_ID;
    use media_core::sdp::RtpExtension;
    let dd_id = |sdp: &str| {
        let sd = SessionDescription::parse(sdp).expect("sdp");
        sd.media
            .iter()
            .find(|m| m.kind == sdp::MediaKind::Video)
            .and_then(|m| m.extmap(RtpExtension::DependencyDescriptor))
            .map(|e| e.id)
    };
    let mut s = state();
    s.handle_sync("create", &json!({"room": 4321, "videocodec": "av1"}))
        .expect("created");
    s.take_outputs();
    s.create_session(A);
    ask(
        &mut s,
        A,
        json!({"request":"join","room":4321,"ptype":"publisher","display":"alice","id":111}),
        None,
    );
    let mut offer = publisher_offer();
    offer.simulcast = None;
    let (configured, out) = ask(
        &mut s,
        A,
        json!({"request":"configure","audio":true,"video":true}),
        Some(offer),
    );
    assert_eq!(configured.data["video_codec"], "av1");
    // Chromium's offer has the descriptor as extmap 9: kept for the AV1 m-line and given
    // to the engine.
    let answer = configured.jsep.as_ref().expect("answer");
    assert_eq!(dd_id(&answer.sdp), Some(9));
    s.setup_media(A);
    let out: Vec<Output> = out.into_iter().chain(s.take_outputs()).collect();
    let ext = media(&out)
        .into_iter()
        .find_map(|m| match m {
            MediaOp::AddPublisher { extensions, .. } => Some(extensions),
            _ => None,
        })
        .expect("publisher added");
    assert_eq!(ext.dependency_descriptor, Some(9));

    // The subscriber's offer declares it under the ID the engine writes; its snapshot
    // carries Janus's SVC targets (spatial 1, temporal 2), then the configured ones.
    s.create_session(C);
    let (attached, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":4321,"ptype":"subscriber","streams":[{"feed":111}]}),
        None,
    );
    let offer = attached.jsep.as_ref().expect("offer");
    assert_eq!(dd_id(&offer.sdp), Some(u16::from(SUBSCRIBER_DD_EXT_ID)));
    let answer = subscriber_answer(offer);
    ask(&mut s, C, json!({"request":"start"}), Some(answer));
    s.setup_media(C);
    s.take_outputs();
    let (_, out) = ask(
        &mut s,
        C,
        json!({"request":"configure","spatial_layer":0,"temporal_layer":1}),
        None,
    );
    let snap = media(&out)
        .into_iter()
        .find_map(|m| match m {
            MediaOp::SetSubscriber { subscriptions, .. } => Some(subscriptions),
            _ => None,
        })
        .expect("targets changed → new snapshot");
    let video = snap.iter().find(|x| x.sub_index == 1).expect("video line");
    assert_eq!((video.substream_target, video.temporal_target), (0, 1));

    // A VP8 publisher's answer does not take the descriptor.
    let mut s = state();
    let configured = alice_publishes(&mut s);
    assert_eq!(dd_id(&configured.jsep.expect("answer").sdp), None);
}

#[test]
fn publishers_orientation_and_playout_delay_ids_reach_the_engine_and_delays_reach_subscribers() {
    use media_core::forward::ExtensionIds;
    use media_core::rtp::ext::PlayoutDelay;
    let mut s = state();
    s.create_session(A);
    ask(
        &mut s,
        A,
        json!({"request":"join","room":1234,"ptype":"publisher","display":"alice","id":111}),
        None,
    );
    // Chromium's offer, with video orientation moved off the ID subscribers get (13) so the
    // engine has to translate: orientation 14, playout delay 5.
    let mut offer = publisher_offer();
    offer.sdp = offer
        .sdp
        .replace(
            "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
            "a=extmap:15 urn:ietf:params:rtp-hdrext:toffset",
        )
        .replace(
            "a=extmap:13 urn:3gpp:video-orientation",
            "a=extmap:14 urn:3gpp:video-orientation",
        );
    let (_, out) = ask(
        &mut s,
        A,
        json!({"request":"configure","audio":true,"video":true}),
        Some(offer),
    );
    s.setup_media(A);
    let out: Vec<Output> = out.into_iter().chain(s.take_outputs()).collect();
    let ext = media(&out)
        .into_iter()
        .find_map(|m| match m {
            MediaOp::AddPublisher { extensions, .. } => Some(extensions),
            _ => None,
        })
        .expect("publisher added");
    assert_eq!(
        (ext.video_orientation, ext.playout_delay),
        (Some(14), Some(5))
    );

    // The subscriber's offer declares both under the IDs the engine writes by default.
    s.create_session(C);
    let (attached, _) = ask(
        &mut s,
        C,
        json!({"request":"join","room":1234,"ptype":"subscriber","streams":[{"feed":111}]}),
        None,
    );
    let offer = attached.jsep.as_ref().expect("offer");
    let sd = SessionDescription::parse(&offer.sdp).expect("sdp");
    let video = sd
        .media
        .iter()
        .find(|m| m.kind == sdp::MediaKind::Video)
        .expect("video m-line");
    let id_of = |frag: &str| {
        video
            .extmaps
            .iter()
            .find(|e| e.uri.contains(frag))
            .map(|e| e.id)
    };
    let ids = ExtensionIds::JANUS_SUBSCRIBER;
    assert_eq!(
        id_of("video-orientation"),
        ids.video_orientation.map(u16::from)
    );
    assert_eq!(id_of("playout-delay"), ids.playout_delay.map(u16::from));
    let answer = subscriber_answer(offer);
    let (_, out) = ask(&mut s, C, json!({"request":"start"}), Some(answer));
    s.setup_media(C);
    let out: Vec<Output> = out.into_iter().chain(s.take_outputs()).collect();
    let video_delay = |out: &[Output]| {
        media(out)
            .into_iter()
            .rev()
            .find_map(|m| match m {
                MediaOp::SetSubscriber { subscriptions, .. } => Some(subscriptions),
                _ => None,
            })
            .map(|snap| {
                snap.iter()
                    .find(|x| x.sub_index == 1)
                    .expect("video line")
                    .playout_delay
            })
    };
    // Nothing configured: the publisher's own value (if it sends one) is relayed.
    assert_eq!(video_delay(&out), Some(None));

    // The subscriber's min_delay/max_delay (10 ms units) go to the engine.
    let (_, out) = ask(
        &mut s,
        C,
        json!({"request":"configure","min_delay":0,"max_delay":50}),
        None,
    );
    assert_eq!(
        video_delay(&out),
        Some(Some(PlayoutDelay { min: 0, max: 50 }))
    );
    // A negative value switches it off again.
    let (_, out) = ask(
        &mut s,
        C,
        json!({"request":"configure","min_delay":-1}),
        None,
    );
    assert_eq!(video_delay(&out), Some(None));
    // The publisher's own setting applies to subscribers that have none (Janus stamps it
    // on the published packets).
    let (_, out) = ask(
        &mut s,
        A,
        json!({"request":"configure","min_delay":10,"max_delay":20}),
        None,
    );
    assert_eq!(
        video_delay(&out),
        Some(Some(PlayoutDelay { min: 10, max: 20 }))
    );
}
