//! The engine against a minimal client built from the external crates (`stun`, `dtls`,
//! `webrtc-sctp`, `webrtc-data`) on loopback: ICE-lite nomination, DTLS with the fingerprint
//! check and GCM chosen, SRTP both ways, a data-channel echo, malformed and unauthenticated
//! input dropped and counted, and the peer reported closed when the client says goodbye.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use media_core::dtls::fingerprint::{sha256_fingerprint, Fingerprint};
use media_core::engine::{
    DatagramConn, DtlsRole, Engine, EngineConfig, MediaKind, MediaSink, OutgoingMessage, Peer,
    PeerEvent, PeerObserver, RecvStreamParams, RemoteParams, RtpIn,
};
use media_core::srtp::{ProtectionProfile, SrtpContext, SrtpKeys};
use stun::message::{Getter, Message, Setter, BINDING_REQUEST};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(15);
const CLIENT_UFRAG: &str = "cliU";
const CLIENT_PWD: &str = "clientpassword0123456789";
const CLIENT_SSRC: u32 = 0x1111_1111;
const ECHO_SSRC: u32 = 0x2222_2222;

struct Events(mpsc::UnboundedSender<PeerEvent>);
impl PeerObserver for Events {
    fn on_event(&self, _peer: &Peer, event: PeerEvent) {
        let _ = self.0.send(event);
    }
}

/// Echoes RTP with our SSRC and text data with a prefix, like EchoTest.
struct Echo;
impl MediaSink for Echo {
    fn on_rtp(&self, peer: &Peer, rtp: RtpIn) {
        assert_eq!(rtp.kind, MediaKind::Audio);
        let mut p = rtp.packet.to_vec();
        p[8..12].copy_from_slice(&ECHO_SSRC.to_be_bytes());
        peer.send_rtp(&p).expect("echo send");
    }
    fn on_data(&self, peer: &Peer, label: &str, _protocol: &str, data: Bytes, text: bool) {
        let mut reply = b"echo: ".to_vec();
        reply.extend_from_slice(&data);
        peer.send_data(OutgoingMessage {
            label: Some(label.to_owned()),
            protocol: None,
            data: reply.into(),
            text,
        })
        .expect("data send");
    }
}

fn stun_request(server_ufrag: &str, server_pwd: &str, nominate: bool) -> Vec<u8> {
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
    if nominate {
        m.add(stun::attributes::ATTR_USE_CANDIDATE, &[]);
    }
    stun::integrity::MessageIntegrity::new_short_term_integrity(server_pwd.to_owned())
        .add_to(&mut m)
        .expect("mi");
    stun::fingerprint::FINGERPRINT.add_to(&mut m).expect("fp");
    m.raw.clone()
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 111];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&CLIENT_SSRC.to_be_bytes());
    p.extend((0..160).map(|i| (i as u8) ^ (seq as u8)));
    p
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

#[tokio::test]
async fn browser_like_client_gets_ice_dtls_gcm_srtp_and_data_echo() {
    let engine = Engine::start(EngineConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port: 0,
        ..EngineConfig::default()
    })
    .await
    .expect("engine");
    let server: SocketAddr = engine.local_addr();
    let (tx, mut events) = mpsc::unbounded_channel();
    let peer = engine.new_peer(Arc::new(Events(tx)));
    let (ufrag, pwd) = peer.ice_credentials();

    let client_cert =
        dtls::crypto::Certificate::generate_self_signed(vec!["client".to_owned()]).expect("cert");
    let client_fp = sha256_fingerprint(client_cert.certificate[0].as_ref());
    peer.set_remote(RemoteParams {
        ice_ufrag: CLIENT_UFRAG.to_owned(),
        ice_pwd: CLIENT_PWD.to_owned(),
        fingerprint: Some(Fingerprint::parse(&format!("sha-256 {client_fp}")).expect("fp")),
        dtls_role: DtlsRole::Server,
        data_channels: true,
        streams: vec![RecvStreamParams {
            mid: "0".into(),
            kind: MediaKind::Audio,
            ssrcs: vec![CLIENT_SSRC],
            rids: vec![],
            rtx_pts: vec![],
            pts: vec![111],
        }],
        mid_ext: None,
        rid_ext: None,
        repaired_rid_ext: None,
        twcc_ext: None,
    });
    peer.set_sink(Some(Arc::new(Echo)));

    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    // Garbage first: dropped and counted, the engine carries on.
    socket
        .send_to(&[0xff, 1, 2, 3], server)
        .await
        .expect("send");
    // A check with the wrong password is refused.
    socket
        .send_to(&stun_request(&ufrag, "wrong-password-wrong", true), server)
        .await
        .expect("send");
    // ICE: a nominating check with the right credentials.
    socket
        .send_to(&stun_request(&ufrag, &pwd, true), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 1500];
    let (n, _) = timeout(DEADLINE, socket.recv_from(&mut buf))
        .await
        .expect("STUN answer")
        .expect("recv");
    let mut resp = Message::new();
    resp.raw = buf[..n].to_vec();
    resp.decode().expect("STUN response decodes");
    stun::integrity::MessageIntegrity::new_short_term_integrity(pwd.clone())
        .check(&mut resp)
        .expect("integrity");
    let mut mapped = stun::xoraddr::XorMappedAddress::default();
    mapped.get_from(&resp).expect("xor-mapped-address");
    assert_eq!(
        SocketAddr::new(mapped.ip, mapped.port),
        socket.local_addr().expect("addr")
    );
    next_event(&mut events, |e| matches!(e, PeerEvent::IceConnected)).await;

    // Client-side demux: DTLS to the DTLS stack, SRTP to the test.
    let (dtls_tx, dtls_rx) = mpsc::channel(64);
    let (srtp_tx, mut srtp_rx) = mpsc::channel::<Vec<u8>>(64);
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
    let conn = Arc::new(DatagramConn::new(
        dtls_rx,
        socket.clone(),
        Arc::new(Mutex::new(Some(server))),
        socket.local_addr().expect("addr"),
    ));
    let config = dtls::config::Config {
        certificates: vec![client_cert],
        insecure_skip_verify: true,
        srtp_protection_profiles: vec![
            dtls::extension::extension_use_srtp::SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
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
    .expect("handshake before the deadline")
    .expect("handshake");
    // GCM although the client listed AES-CM first: Ianus picks GCM whenever offered.
    assert_eq!(
        dtls_conn.selected_srtpprotection_profile(),
        dtls::extension::extension_use_srtp::SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm
    );
    next_event(&mut events, |e| matches!(e, PeerEvent::Connected)).await;
    assert_eq!(peer.info().srtp_profile, Some("SRTP_AEAD_AES_128_GCM"));

    use webrtc_util::KeyingMaterialExporter;
    let state = dtls_conn.connection_state().await;
    let profile = ProtectionProfile::AeadAes128Gcm;
    let material = state
        .export_keying_material("EXTRACTOR-dtls_srtp", &[], SrtpKeys::material_len(profile))
        .await
        .expect("export");
    let keys = SrtpKeys::from_keying_material(profile, &material, true).expect("keys");
    let mut out = SrtpContext::outbound(&keys).expect("ctx");
    let mut inp = SrtpContext::inbound(&keys).expect("ctx");

    for seq in 1..=5u16 {
        let plain = rtp(seq);
        socket
            .send_to(out.protect_rtp(&plain).expect("protect"), server)
            .await
            .expect("send");
        let echoed = timeout(DEADLINE, srtp_rx.recv())
            .await
            .expect("echo in time")
            .expect("echo");
        let dec = inp.unprotect_rtp(&echoed).expect("echo authenticates");
        assert_eq!(&dec[8..12], &ECHO_SSRC.to_be_bytes());
        assert_eq!(&dec[12..], &plain[12..], "payload intact");
    }
    let ev = next_event(&mut events, |e| matches!(e, PeerEvent::Media { .. })).await;
    assert_eq!(
        ev,
        PeerEvent::Media {
            stream: 0,
            mid: "0".into(),
            kind: MediaKind::Audio,
            receiving: true
        }
    );
    assert_eq!(peer.counters().rtp_packets_in.load(Ordering::Relaxed), 5);

    // Data channel over SCTP over the same DTLS connection.
    let dtls_conn = Arc::new(dtls_conn);
    let assoc = Arc::new(
        timeout(
            DEADLINE,
            webrtc_sctp::association::Association::client(webrtc_sctp::association::Config {
                net_conn: dtls_conn.clone(),
                max_receive_buffer_size: 0,
                max_message_size: 0,
                mtu: 0,
                name: "client".into(),
                remote_port: 5000,
                local_port: 5000,
            }),
        )
        .await
        .expect("SCTP in time")
        .expect("SCTP association"),
    );
    let dc = webrtc_data::data_channel::DataChannel::dial(
        &assoc,
        0,
        webrtc_data::data_channel::Config {
            label: "JanusDataChannel".into(),
            ..Default::default()
        },
    )
    .await
    .expect("channel opens");
    dc.write_data_channel(&Bytes::from_static(b"hello"), true)
        .await
        .expect("write");
    let mut rbuf = vec![0u8; 1024];
    let (n, text) = timeout(DEADLINE, dc.read_data_channel(&mut rbuf))
        .await
        .expect("reply in time")
        .expect("read");
    assert!(text);
    assert_eq!(&rbuf[..n], b"echo: hello");

    let stats = engine.stats();
    assert!(
        stats.malformed_dropped.load(Ordering::Relaxed) >= 2,
        "garbage and the bad check are counted"
    );

    // The client closes: the engine notices the DTLS close_notify and reports the peer closed.
    let _ = assoc.close().await;
    dtls_conn.close().await.expect("close");
    let ev = next_event(&mut events, |e| matches!(e, PeerEvent::Closed(_))).await;
    assert!(matches!(ev, PeerEvent::Closed(_)));
    assert!(peer.is_closed());
    assert_eq!(stats.peers.load(Ordering::Relaxed), 0);
    demux.abort();
}

#[tokio::test]
async fn a_peer_that_stops_consent_checks_is_closed_and_counted_out() {
    let engine = Engine::start(EngineConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port: 0,
        consent_timeout: Duration::from_secs(1),
        ..EngineConfig::default()
    })
    .await
    .expect("engine");
    let (tx, mut events) = mpsc::unbounded_channel();
    let peer = engine.new_peer(Arc::new(Events(tx)));
    let (ufrag, pwd) = peer.ice_credentials();
    peer.set_remote(RemoteParams {
        ice_ufrag: CLIENT_UFRAG.to_owned(),
        ice_pwd: CLIENT_PWD.to_owned(),
        fingerprint: None,
        dtls_role: DtlsRole::Server,
        data_channels: false,
        streams: vec![],
        mid_ext: None,
        rid_ext: None,
        repaired_rid_ext: None,
        twcc_ext: None,
    });
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket
        .send_to(&stun_request(&ufrag, &pwd, true), engine.local_addr())
        .await
        .expect("send");
    next_event(&mut events, |e| matches!(e, PeerEvent::IceConnected)).await;
    assert_eq!(
        engine.stats().peers_ice_connected.load(Ordering::Relaxed),
        1
    );
    // The client vanishes: no more checks. Consent expires and the peer is dropped.
    let ev = next_event(&mut events, |e| matches!(e, PeerEvent::Closed(_))).await;
    assert_eq!(
        ev,
        PeerEvent::Closed(media_core::engine::CloseReason::IceFailed)
    );
    assert!(peer.is_closed());
    assert_eq!(engine.stats().peers.load(Ordering::Relaxed), 0);
    assert_eq!(
        engine.stats().peers_ice_connected.load(Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn dtls_from_an_unchecked_address_is_dropped() {
    let engine = Engine::start(EngineConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port: 0,
        ..Default::default()
    })
    .await
    .expect("engine");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    // A DTLS record header (handshake, DTLS 1.2) from nobody we know.
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    record.resize(60, 0);
    socket
        .send_to(&record, engine.local_addr())
        .await
        .expect("send");
    timeout(DEADLINE, async {
        while engine
            .stats()
            .unknown_source_dropped
            .load(Ordering::Relaxed)
            == 0
        {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the datagram is counted as dropped");
}

#[tokio::test]
async fn the_port_range_skips_busy_ports() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let Some(next) = port.checked_add(1) else {
        return;
    };
    let engine = Engine::start(EngineConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port: 0,
        port_range: Some((port, next)),
        ..Default::default()
    })
    .await;
    // The next port may be taken by someone else on a busy machine: then binding fails cleanly.
    if let Ok(engine) = engine {
        assert_eq!(engine.local_addr().port(), next);
    }
}

#[tokio::test]
async fn checks_over_ipv6_are_answered_from_the_ipv6_socket() {
    let Ok(client) = UdpSocket::bind("[::1]:0").await else {
        eprintln!("NOTICE: no IPv6 loopback here; skipping");
        return;
    };
    let engine = Engine::start(EngineConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port: 0,
        ipv6: true,
        announced_ips: vec!["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")],
        ..Default::default()
    })
    .await
    .expect("engine");
    let (tx, mut events) = mpsc::unbounded_channel();
    let peer = engine.new_peer(Arc::new(Events(tx)));
    let (ufrag, pwd) = peer.ice_credentials();
    peer.set_remote(RemoteParams {
        ice_ufrag: CLIENT_UFRAG.to_owned(),
        ice_pwd: CLIENT_PWD.to_owned(),
        fingerprint: None,
        dtls_role: DtlsRole::Server,
        data_channels: false,
        streams: vec![],
        mid_ext: None,
        rid_ext: None,
        repaired_rid_ext: None,
        twcc_ext: None,
    });
    let server6 = SocketAddr::new("::1".parse().expect("ip"), engine.local_addr().port());
    client
        .send_to(&stun_request(&ufrag, &pwd, true), server6)
        .await
        .expect("send");
    let mut buf = vec![0u8; 1500];
    let (_, from) = timeout(DEADLINE, client.recv_from(&mut buf))
        .await
        .expect("answer in time")
        .expect("recv");
    assert_eq!(from, server6);
    next_event(&mut events, |e| matches!(e, PeerEvent::IceConnected)).await;
    assert!(engine.candidates().iter().any(|c| c.addr.is_ipv6()));
}
