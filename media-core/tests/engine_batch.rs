//! Batched sends end to end on loopback: several clients (STUN + DTLS from the external
//! crates, as in `engine_loopback.rs`) connect to one engine; RTP for all of them goes
//! through one `RtpBatch` (and through a room task, which batches its fan-out) and every
//! client decrypts its own packets, in order and intact, with the keys of its own DTLS
//! session.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use media_core::dtls::fingerprint::{sha256_fingerprint, Fingerprint};
use media_core::engine::{
    DatagramConn, DtlsRole, Engine, EngineConfig, MediaKind, Peer, PeerEvent, PeerObserver,
    RemoteParams, RtpBatch, RtpIn, SendError,
};
use media_core::forward::{
    PublishedStream, RoomConfig, RouterEvent, RouterHandle, RouterInput, RouterObserver,
    Subscription,
};
use media_core::sdp::Codec;
use media_core::srtp::{ProtectionProfile, SrtpContext, SrtpKeys};
use stun::message::{Message, Setter, BINDING_REQUEST};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(15);
const CLIENT_UFRAG: &str = "cliB";
const CLIENT_PWD: &str = "clientpassword0123456789";

struct Events(mpsc::UnboundedSender<PeerEvent>);
impl PeerObserver for Events {
    fn on_event(&self, _peer: &Peer, event: PeerEvent) {
        let _ = self.0.send(event);
    }
}

struct NoRoomEvents;
impl RouterObserver for NoRoomEvents {
    fn on_event(&self, _event: RouterEvent) {}
}

fn stun_request(server_ufrag: &str, server_pwd: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.build(&[
        Box::new(BINDING_REQUEST),
        Box::new(stun::agent::TransactionId::new()),
    ])
    .expect("build");
    stun::textattrs::TextAttribute::new(
        stun::attributes::ATTR_USERNAME,
        format!("{server_ufrag}:{CLIENT_UFRAG}"),
    )
    .add_to(&mut m)
    .expect("username");
    m.add(
        stun::attributes::ATTR_PRIORITY,
        &1_853_817_087u32.to_be_bytes(),
    );
    m.add(stun::attributes::ATTR_ICE_CONTROLLING, &7u64.to_be_bytes());
    m.add(stun::attributes::ATTR_USE_CANDIDATE, &[]);
    stun::integrity::MessageIntegrity::new_short_term_integrity(server_pwd.to_owned())
        .add_to(&mut m)
        .expect("mi");
    stun::fingerprint::FINGERPRINT.add_to(&mut m).expect("fp");
    m.raw.clone()
}

async fn next_event(
    rx: &mut mpsc::UnboundedReceiver<PeerEvent>,
    want: impl Fn(&PeerEvent) -> bool,
) -> PeerEvent {
    timeout(DEADLINE, async {
        loop {
            let ev = rx.recv().await.expect("observer alive");
            if want(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("event before the deadline")
}

/// A connected client: its peer in the engine, the SRTP packets it receives, its keys.
struct Client {
    peer: Peer,
    srtp_rx: mpsc::Receiver<Vec<u8>>,
    inbound: SrtpContext,
    demux: tokio::task::JoinHandle<()>,
    _dtls: dtls::conn::DTLSConn,
}

impl Client {
    async fn next_rtp(&mut self) -> Bytes {
        let datagram = timeout(DEADLINE, self.srtp_rx.recv())
            .await
            .expect("packet in time")
            .expect("packet");
        self.inbound
            .unprotect_rtp(&datagram)
            .expect("authenticates with this client's keys")
    }
}

/// ICE (one nominating check) and DTLS (client role) against the engine, like a browser.
async fn connect(engine: &Engine) -> Client {
    let server: SocketAddr = engine.local_addr();
    let (tx, mut events) = mpsc::unbounded_channel();
    let peer = engine.new_peer(Arc::new(Events(tx)));
    let (ufrag, pwd) = peer.ice_credentials();
    let cert =
        dtls::crypto::Certificate::generate_self_signed(vec!["client".to_owned()]).expect("cert");
    let fp = sha256_fingerprint(cert.certificate[0].as_ref());
    peer.set_remote(RemoteParams {
        ice_ufrag: CLIENT_UFRAG.to_owned(),
        ice_pwd: CLIENT_PWD.to_owned(),
        fingerprint: Some(Fingerprint::parse(&format!("sha-256 {fp}")).expect("fp")),
        dtls_role: DtlsRole::Server,
        data_channels: false,
        streams: vec![],
        mid_ext: None,
        rid_ext: None,
        repaired_rid_ext: None,
        twcc_ext: None,
    });
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    socket
        .send_to(&stun_request(&ufrag, &pwd), server)
        .await
        .expect("send");
    let (dtls_tx, dtls_rx) = mpsc::channel(64);
    let (srtp_tx, srtp_rx) = mpsc::channel::<Vec<u8>>(1024);
    let reader = socket.clone();
    let demux = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, _)) = reader.recv_from(&mut buf).await {
            match buf[0] {
                20..=63 => {
                    let _ = dtls_tx.send(Bytes::copy_from_slice(&buf[..n])).await;
                }
                128..=191 => {
                    let _ = srtp_tx.send(buf[..n].to_vec()).await;
                }
                _ => {}
            }
        }
    });
    next_event(&mut events, |e| matches!(e, PeerEvent::IceConnected)).await;
    let conn = Arc::new(DatagramConn::new(
        dtls_rx,
        socket.clone(),
        Arc::new(Mutex::new(Some(server))),
        socket.local_addr().expect("addr"),
    ));
    let config = dtls::config::Config {
        certificates: vec![cert],
        insecure_skip_verify: true,
        srtp_protection_profiles: vec![
            dtls::extension::extension_use_srtp::SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
        ],
        extended_master_secret: dtls::config::ExtendedMasterSecretType::Require,
        ..Default::default()
    };
    let dtls_conn = timeout(
        DEADLINE,
        dtls::conn::DTLSConn::new(conn, config, true, None),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    next_event(&mut events, |e| matches!(e, PeerEvent::Connected)).await;
    use webrtc_util::KeyingMaterialExporter;
    let profile = ProtectionProfile::AeadAes128Gcm;
    let material = dtls_conn
        .connection_state()
        .await
        .export_keying_material("EXTRACTOR-dtls_srtp", &[], SrtpKeys::material_len(profile))
        .await
        .expect("export");
    let keys = SrtpKeys::from_keying_material(profile, &material, true).expect("keys");
    Client {
        peer,
        srtp_rx,
        inbound: SrtpContext::inbound(&keys).expect("ctx"),
        demux,
        _dtls: dtls_conn,
    }
}

fn rtp(pt: u8, seq: u16, ssrc: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..len).map(|i| (i as u8) ^ (seq as u8) ^ (ssrc as u8)));
    p
}

async fn local_engine() -> Engine {
    Engine::start(EngineConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port: 0,
        ..EngineConfig::default()
    })
    .await
    .expect("engine")
}

#[tokio::test]
async fn one_batch_reaches_several_peers_intact_and_in_order() {
    let engine = local_engine().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect(&engine).await);
    }
    let out_before = engine.stats().packets_out.load(Ordering::Relaxed);

    // 30 rounds × 3 peers = 90 packets: more than one arena (64), so the batch also flushes
    // itself once on the way.
    let mut batch = RtpBatch::new();
    let mut sent: Vec<Vec<Vec<u8>>> = vec![Vec::new(); clients.len()];
    for seq in 1..=30u16 {
        for (k, c) in clients.iter().enumerate() {
            let p = rtp(96, seq, 0x1000 + k as u32, 1000 + k * 7);
            batch.push_rtp(&c.peer, &p).expect("queued");
            sent[k].push(p);
        }
    }
    assert_eq!(batch.len(), 90 - 64);
    let outcome = batch.flush();
    assert_eq!((outcome.sent, outcome.dropped), (26, 0));
    assert!(batch.is_empty());
    let stats = batch.stats();
    assert_eq!((stats.flushes, stats.sent, stats.dropped), (2, 90, 0));
    assert!(stats.syscalls <= 4, "one sendmmsg per flush: {stats:?}");

    for (k, c) in clients.iter_mut().enumerate() {
        for want in &sent[k] {
            let got = c.next_rtp().await;
            assert_eq!(
                &got[..],
                &want[..],
                "client {k} gets its own packets intact"
            );
        }
        assert_eq!(
            c.peer.counters().rtp_packets_out.load(Ordering::Relaxed),
            30
        );
        assert_eq!(c.peer.counters().send_drops.load(Ordering::Relaxed), 0);
    }
    assert_eq!(
        engine.stats().packets_out.load(Ordering::Relaxed) - out_before,
        90
    );

    // A peer that is not connected is refused at push time; nothing is queued for it.
    let (tx, _rx) = mpsc::unbounded_channel();
    let stranger = engine.new_peer(Arc::new(Events(tx)));
    assert_eq!(
        batch.push_rtp(&stranger, &rtp(96, 1, 9, 100)),
        Err(SendError::NotConnected)
    );
    assert!(batch.is_empty());
    for c in clients {
        c.demux.abort();
    }
}

#[tokio::test]
async fn a_room_fans_out_through_batches_to_connected_subscribers() {
    let engine = local_engine().await;
    let mut subs = Vec::new();
    for _ in 0..4 {
        subs.push(connect(&engine).await);
    }
    let (tx, _rx) = mpsc::unbounded_channel();
    let publisher = engine.new_peer(Arc::new(Events(tx)));
    let room = RouterHandle::spawn(
        RoomConfig {
            bitrate: 0,
            fir_freq: 0,
            nack_queue_ms: 1000,
            audio_active_packets: 0,
            audio_level_average: 25,
        },
        Arc::new(NoRoomEvents),
    );
    room.control(RouterInput::AddPublisher {
        publisher: 1,
        peer: publisher.clone(),
        streams: vec![PublishedStream {
            index: 0,
            mid: "0".into(),
            kind: MediaKind::Audio,
            codec: Codec::Opus,
            pt: 111,
            clock_rate: 48_000,
            layers: 1,
            audio_level_ext: None,
        }],
    });
    for (k, s) in subs.iter().enumerate() {
        room.control(RouterInput::SetSubscriber {
            subscriber: 10 + k as u64,
            peer: s.peer.clone(),
            subscriptions: vec![Subscription {
                sub_index: 0,
                source: Some((1, 0)),
                ssrc: 0xA000 + k as u32,
                rtx_ssrc: None,
                pt: 111,
                rtx_pt: None,
                send: true,
                substream_target: 2,
                temporal_target: 2,
                fallback_us: 0,
                playout_delay: None,
            }],
        });
    }
    let sink = room.publisher_sink(1);
    const PACKETS: u16 = 40;
    let payloads: Vec<Vec<u8>> = (1..=PACKETS)
        .map(|seq| rtp(111, seq, 0x4242, 160))
        .collect();
    for p in &payloads {
        sink.on_rtp(
            &publisher,
            RtpIn {
                stream: 0,
                kind: MediaKind::Audio,
                layer: 0,
                packet: Bytes::from(p.clone()),
            },
        );
    }
    for (k, s) in subs.iter_mut().enumerate() {
        let mut last_seq = None;
        for want in &payloads {
            let got = s.next_rtp().await;
            // Rewritten to the subscriber's SSRC, payload untouched, sequence continuous.
            assert_eq!(&got[8..12], &(0xA000 + k as u32).to_be_bytes());
            assert_eq!(got[1] & 0x7f, 111);
            assert_eq!(&got[got.len() - 160..], &want[want.len() - 160..]);
            let seq = u16::from_be_bytes([got[2], got[3]]);
            if let Some(prev) = last_seq {
                assert_eq!(seq, u16::wrapping_add(prev, 1));
            }
            last_seq = Some(seq);
        }
    }
    let stats = room.stats();
    timeout(DEADLINE, async {
        while stats.packets_out.load(Ordering::Relaxed) < u64::from(PACKETS) * 4 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("stats published");
    assert_eq!(stats.send_errors.load(Ordering::Relaxed), 0);
    let syscalls = stats.send_syscalls.load(Ordering::Relaxed);
    assert!(
        syscalls > 0 && syscalls <= u64::from(PACKETS),
        "at most one sendmmsg per input for 4 subscribers, got {syscalls}"
    );
    room.close();
    for s in subs {
        s.demux.abort();
    }
}

#[tokio::test]
async fn peers_of_two_engines_in_one_batch_each_leave_from_their_own_socket() {
    let (e1, e2) = (local_engine().await, local_engine().await);
    let mut a = connect(&e1).await;
    let mut b = connect(&e2).await;
    let mut batch = RtpBatch::new();
    let pa = rtp(96, 7, 0xA, 300);
    let pb = rtp(96, 7, 0xB, 300);
    batch.push_rtp(&a.peer, &pa).expect("queued");
    // Another engine: what is queued goes first, from the first engine's socket.
    batch.push_rtp(&b.peer, &pb).expect("queued");
    assert_eq!(batch.stats().flushes, 1);
    batch.flush();
    assert_eq!(batch.stats().sent, 2);
    assert_eq!(&a.next_rtp().await[..], &pa[..]);
    assert_eq!(&b.next_rtp().await[..], &pb[..]);
    assert_eq!(e1.stats().packets_out.load(Ordering::Relaxed), 1);
    assert_eq!(e2.stats().packets_out.load(Ordering::Relaxed), 1);
    a.demux.abort();
    b.demux.abort();
}
