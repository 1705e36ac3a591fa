//! AudioBridge media through the real `ianus` binary, driven over the Janus API: two plain-RTP
//! G.711 participants (PCMU in group "a", PCMA in group "b", played by this test over UDP)
//! and two forwarders (an SRTP PCMA forwarder of group "a" keyed with a base64
//! `srtp_crypto`, and a plain PCMU forwarder of the whole room). Each participant must hear
//! the other and not itself; the group forwarder only group "a"; the room forwarder both.
//! Real time, bounded (~3 s of media, every wait capped).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../signaling/tests/common/mod.rs"]
mod common;

mod ianus_process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::Ws;
use ianus_process::IanusProcess as Ianus;
use media_core::mix::g711::Law;
use media_core::rtp::RtpView;
use media_core::srtp::{ProtectionProfile, SrtpContext};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

async fn start_ianus() -> Ianus {
    Ianus::start("audiobridge-g711", |_| {
        r#"[plugins.audiobridge]
local_ip = "127.0.0.1"
"#
        .to_string()
    })
    .await
}

/// One WebSocket session with AudioBridge handles.
struct Client {
    ws: Ws,
    session: u64,
    tx: u32,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let mut ws = Ws::open(addr).await;
        let session = ws.create().await;
        Client { ws, session, tx: 0 }
    }

    async fn attach(&mut self) -> u64 {
        let r = self
            .ws
            .request(json!({"janus": "attach", "session_id": self.session,
                            "plugin": "janus.plugin.audiobridge", "transaction": "attach"}))
            .await;
        r["data"]["id"].as_u64().expect("handle id")
    }

    /// The plugin data of a request's sync reply or async event.
    async fn message(&mut self, h: u64, body: Value) -> Value {
        self.tx += 1;
        let tx = format!("g{}", self.tx);
        self.ws
            .send(
                &json!({"janus": "message", "session_id": self.session, "handle_id": h,
                          "transaction": tx, "body": body}),
            )
            .await;
        let (m, _) = self
            .ws
            .recv_until(|m| {
                m["transaction"] == tx.as_str()
                    && (m["janus"] == "success" || m["janus"] == "event")
                    || m["janus"] == "error" && m["transaction"] == tx.as_str()
            })
            .await;
        assert_ne!(m["janus"], "error", "{m}");
        m["plugindata"]["data"].clone()
    }
}

/// A G.711 tone sender's packets: 160 samples (20 ms) each.
fn g711_packet(law: Law, freq: f64, k: u32, ssrc: u32) -> Vec<u8> {
    let pcm: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(k * 160 + i) / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    let mut b = vec![0x80, law.payload_type()];
    b.extend_from_slice(&(k as u16).to_be_bytes());
    b.extend_from_slice(&(k * 160).to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    let mut codes = [0u8; 160];
    law.encode(&pcm, &mut codes);
    b.extend_from_slice(&codes);
    b
}

/// Every datagram arriving on `socket` until `until`.
async fn collect(socket: Arc<UdpSocket>, until: tokio::time::Instant) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
        got.push(buf[..n].to_vec());
    }
    got
}

/// The audio of G.711 RTP packets (payload type checked, 20 ms each), in arrival order.
fn decode(packets: &[Vec<u8>], law: Law) -> Vec<i16> {
    let mut pcm = Vec::new();
    for p in packets {
        let v = RtpView::try_parse(p).expect("RTP");
        assert_eq!(v.payload_type(), law.payload_type());
        assert_eq!(v.payload().len(), 160, "20 ms of G.711");
        let mut out = [0i16; 160];
        law.decode(v.payload(), &mut out);
        pcm.extend_from_slice(&out);
    }
    pcm
}

/// Amplitude of `freq` over the last second (Goertzel).
fn tone(pcm: &[i16], freq: f64) -> f64 {
    assert!(pcm.len() >= 8000, "a second of audio: {}", pcm.len());
    let x = &pcm[pcm.len() - 8000..];
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt() / x.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_participants_group_and_srtp_forwarders_through_the_api() {
    let ianus = start_ianus().await;
    let mut c = Client::connect(ianus.ws).await;
    let admin = c.attach().await;
    let r = c
        .message(
            admin,
            json!({"request": "create", "room": 4242, "sampling_rate": 16000,
                   "allow_rtp_participants": true, "groups": ["a", "b"]}),
        )
        .await;
    assert_eq!(r["audiobridge"], "created", "{r}");

    // Two plain-RTP participants: PCMU in group a (500 Hz), PCMA in group b (1200 Hz).
    let mut parts = Vec::new();
    for (codec, group, law) in [("pcmu", "a", Law::Mu), ("pcma", "b", Law::A)] {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let port = sock.local_addr().expect("addr").port();
        let h = c.attach().await;
        let joined = c
            .message(
                h,
                json!({"request": "join", "room": 4242, "codec": codec, "group": group,
                       "rtp": {"ip": "127.0.0.1", "port": port}}),
            )
            .await;
        assert_eq!(joined["audiobridge"], "joined", "{joined}");
        assert_eq!(
            joined["rtp"]["payload_type"],
            law.payload_type(),
            "{joined}"
        );
        let ours: SocketAddr = format!(
            "{}:{}",
            joined["rtp"]["ip"].as_str().expect("ip"),
            joined["rtp"]["port"]
        )
        .parse()
        .expect("address");
        parts.push((sock, ours, law));
    }

    // Forwarders: SRTP PCMA of group a, plain PCMU of the whole room.
    let master: Vec<u8> = (0u8..30)
        .map(|i| i.wrapping_mul(29).wrapping_add(3))
        .collect();
    let crypto = base64::engine::general_purpose::STANDARD.encode(&master);
    let fwd_group = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let fwd_room = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let r = c
        .message(
            admin,
            json!({"request": "rtp_forward", "room": 4242, "host": "127.0.0.1",
                   "port": fwd_group.local_addr().unwrap().port(), "codec": "pcma",
                   "group": "a", "srtp_suite": 80, "srtp_crypto": crypto}),
        )
        .await;
    assert_eq!(
        (r["audiobridge"].as_str(), r["group"].as_str()),
        (Some("success"), Some("a")),
        "{r}"
    );
    let r = c
        .message(
            admin,
            json!({"request": "rtp_forward", "room": 4242, "host": "127.0.0.1",
                   "port": fwd_room.local_addr().unwrap().port(), "codec": "pcmu"}),
        )
        .await;
    assert_eq!(r["audiobridge"], "success", "{r}");

    // 3 s of both talkers, paced in real time; everything received is kept.
    let until = tokio::time::Instant::now() + Duration::from_millis(3200);
    let rx: Vec<_> = [
        parts[0].0.clone(),
        parts[1].0.clone(),
        fwd_group.clone(),
        fwd_room.clone(),
    ]
    .into_iter()
    .map(|s| tokio::spawn(collect(s, until)))
    .collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for k in 0..150u32 {
        ticker.tick().await;
        for ((sock, to, law), freq) in parts.iter().zip([500.0, 1200.0]) {
            let p = g711_packet(*law, freq, k, 0x1000 + u32::from(law.payload_type()));
            sock.send_to(&p, to).await.expect("send");
        }
    }
    let mut got = Vec::new();
    for t in rx {
        got.push(t.await.expect("collector"));
    }

    let a = decode(&got[0], Law::Mu);
    let b = decode(&got[1], Law::A);
    let (a_hears, b_hears) = (
        (tone(&a, 1200.0), tone(&a, 500.0)),
        (tone(&b, 500.0), tone(&b, 1200.0)),
    );
    assert!(
        a_hears.0 > 2000.0 && a_hears.1 < 150.0,
        "PCMU participant hears {a_hears:?}"
    );
    assert!(
        b_hears.0 > 2000.0 && b_hears.1 < 150.0,
        "PCMA participant hears {b_hears:?}"
    );

    // The SRTP forwarder decrypts with the key given as `srtp_crypto`.
    let mut srtp = SrtpContext::new(
        ProtectionProfile::Aes128CmHmacSha1_80,
        &master[..16],
        &master[16..],
    )
    .expect("srtp");
    let plain: Vec<Vec<u8>> = got[2]
        .iter()
        .map(|p| srtp.unprotect_rtp(p).expect("authentic SRTP").to_vec())
        .collect();
    let g = decode(&plain, Law::A);
    let group = (tone(&g, 500.0), tone(&g, 1200.0));
    assert!(
        group.0 > 2000.0 && group.1 < 150.0,
        "group a's forwarder carries {group:?}"
    );
    let room = decode(&got[3], Law::Mu);
    let room = (tone(&room, 500.0), tone(&room, 1200.0));
    assert!(
        room.0 > 2000.0 && room.1 > 2000.0,
        "the room's forwarder carries {room:?}"
    );
}
