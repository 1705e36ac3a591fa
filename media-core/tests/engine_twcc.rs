//! Transport-cc feedback from the real engine on loopback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): a client keyed like a browser (ICE
//! check, DTLS via the `dtls` crate, SRTP) sends RTP carrying the transport-wide sequence
//! number in a one-byte header extension (id 3, as Chrome and Janus number it) and receives
//! SRTCP feedback that reports every sequence number with the right status. After a
//! renegotiation without the extension the feedback stops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use media_core::dtls::fingerprint::{sha256_fingerprint, Fingerprint};
use media_core::engine::{
    DatagramConn, DtlsRole, Engine, EngineConfig, MediaKind, MediaSink, Peer, PeerEvent,
    PeerObserver, RecvStreamParams, RemoteParams, RtpIn,
};
use media_core::rtcp::{CompoundIter, Rtcp, TwccStatus};
use media_core::sdp::SessionDescription;
use media_core::srtp::{ProtectionProfile, SrtpContext, SrtpKeys};
use stun::message::{Message, Setter, BINDING_REQUEST};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(15);
const CLIENT_UFRAG: &str = "twcU";
const CLIENT_PWD: &str = "clientpassword0123456789";
const CLIENT_SSRC: u32 = 0x3333_3333;
const TWCC_EXT: u8 = 3;

struct Events(mpsc::UnboundedSender<PeerEvent>);
impl PeerObserver for Events {
    fn on_event(&self, _peer: &Peer, event: PeerEvent) {
        let _ = self.0.send(event);
    }
}

struct Discard;
impl MediaSink for Discard {
    fn on_rtp(&self, _peer: &Peer, _rtp: RtpIn) {}
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

/// A VP8-ish RTP packet with a one-byte-header extension block (RFC 8285 §4.2) holding the
/// transport-wide sequence number (§2).
fn rtp_with_twcc(seq: u16, transport_seq: u16) -> Vec<u8> {
    let mut p = vec![0x90, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&CLIENT_SSRC.to_be_bytes());
    p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01]);
    p.push((TWCC_EXT << 4) | 1);
    p.extend_from_slice(&transport_seq.to_be_bytes());
    p.push(0);
    p.extend((0..400).map(|i| (i as u8) ^ (seq as u8)));
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

fn params(client_fp: &str, twcc_ext: Option<u8>) -> RemoteParams {
    RemoteParams {
        ice_ufrag: CLIENT_UFRAG.to_owned(),
        ice_pwd: CLIENT_PWD.to_owned(),
        fingerprint: Some(Fingerprint::parse(&format!("sha-256 {client_fp}")).expect("fp")),
        dtls_role: DtlsRole::Server,
        data_channels: false,
        streams: vec![RecvStreamParams {
            mid: "0".into(),
            kind: MediaKind::Video,
            ssrcs: vec![CLIENT_SSRC],
            rids: vec![],
            rtx_pts: vec![],
            pts: vec![96],
        }],
        mid_ext: None,
        rid_ext: None,
        repaired_rid_ext: None,
        twcc_ext,
    }
}

/// One decoded feedback packet.
#[derive(Debug)]
struct Feedback {
    sender_ssrc: u32,
    media_ssrc: u32,
    fb_pkt_count: u8,
    packets: Vec<(u16, TwccStatus)>,
}

/// Decrypts an SRTCP datagram and returns its transport-cc packets.
fn feedback_in(inp: &mut SrtpContext, datagram: &[u8]) -> Vec<Feedback> {
    let plain = inp.unprotect_rtcp(datagram).expect("SRTCP authenticates");
    let mut out = Vec::new();
    for p in CompoundIter::new(&plain) {
        let p = p.expect("valid RTCP");
        if let Ok(Rtcp::TransportCc(t)) = p.parse() {
            out.push(Feedback {
                sender_ssrc: t.sender_ssrc,
                media_ssrc: t.media_ssrc,
                fb_pkt_count: t.fb_pkt_count,
                packets: t.packets().map(|x| (x.seq, x.status)).collect(),
            });
        }
    }
    out
}

#[tokio::test]
async fn rtp_with_transport_wide_seq_gets_transport_cc_feedback() {
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
    peer.set_remote(params(&client_fp, Some(TWCC_EXT)));
    peer.set_sink(Some(Arc::new(Discard)));

    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    socket
        .send_to(&stun_request(&ufrag, &pwd), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 1500];
    timeout(DEADLINE, socket.recv_from(&mut buf))
        .await
        .expect("STUN answer")
        .expect("recv");
    next_event(&mut events, |e| matches!(e, PeerEvent::IceConnected)).await;

    let (dtls_tx, dtls_rx) = mpsc::channel(64);
    let (srtp_tx, mut srtp_rx) = mpsc::channel::<Vec<u8>>(256);
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
    next_event(&mut events, |e| matches!(e, PeerEvent::Connected)).await;
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

    // Transport-wide numbers across the 16-bit wrap; 65,533 and 2 are lost, 4 comes late.
    let sent: Vec<u16> = vec![65_530, 65_531, 65_532, 65_534, 65_535, 0, 1, 3, 5, 4, 6];
    let lost = [65_533u16, 2];
    for (i, tseq) in sent.iter().enumerate() {
        let plain = rtp_with_twcc(1000 + i as u16, *tseq);
        socket
            .send_to(out.protect_rtp(&plain).expect("protect"), server)
            .await
            .expect("send");
    }

    // Collect feedback until every sent number was reported received.
    let mut reported: BTreeMap<u16, Vec<TwccStatus>> = BTreeMap::new();
    let mut feedbacks = Vec::new();
    timeout(DEADLINE, async {
        while !sent.iter().all(|s| {
            reported
                .get(s)
                .is_some_and(|v| v.iter().any(|st| *st != TwccStatus::NotReceived))
        }) {
            let d = srtp_rx.recv().await.expect("demux alive");
            for fb in feedback_in(&mut inp, &d) {
                for (seq, st) in &fb.packets {
                    reported.entry(*seq).or_default().push(*st);
                }
                feedbacks.push(fb);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("feedback for every packet in time; got {feedbacks:?}"));

    let first = &feedbacks[0];
    assert_eq!(first.media_ssrc, CLIENT_SSRC, "first media SSRC seen");
    assert_ne!(first.sender_ssrc, 0);
    for (i, fb) in feedbacks.iter().enumerate() {
        assert_eq!(
            fb.sender_ssrc, first.sender_ssrc,
            "one sender SSRC per peer"
        );
        assert_eq!(
            usize::from(fb.fb_pkt_count),
            i,
            "feedback packets are counted"
        );
    }
    assert_eq!(
        reported.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5, 6, 65_530, 65_531, 65_532, 65_533, 65_534, 65_535],
        "a contiguous range across the wrap"
    );
    for s in lost {
        assert!(
            reported[&s].iter().all(|st| *st == TwccStatus::NotReceived),
            "{s} reported lost"
        );
    }
    for s in &sent {
        assert!(
            reported[s].iter().all(|st| *st != TwccStatus::NotReceived)
                || (*s == 4 && reported[s].last() != Some(&TwccStatus::NotReceived)),
            "{s} reported received: {:?}",
            reported[s]
        );
    }

    // Renegotiated without the extension: no more feedback.
    peer.set_remote(params(&client_fp, None));
    for (i, tseq) in (7u16..12).enumerate() {
        let plain = rtp_with_twcc(2000 + i as u16, tseq);
        socket
            .send_to(out.protect_rtp(&plain).expect("protect"), server)
            .await
            .expect("send");
    }
    // Three feedback periods of silence.
    let quiet = timeout(Duration::from_millis(300), async {
        loop {
            let d = srtp_rx.recv().await.expect("demux alive");
            if !feedback_in(&mut inp, &d).is_empty() {
                return;
            }
        }
    })
    .await;
    assert!(
        quiet.is_err(),
        "no transport-cc feedback without the extension"
    );
    demux.abort();
}

#[test]
fn remote_params_carry_the_negotiated_transport_cc_id() {
    let sdp = |name: &str| {
        let path = format!("{}/tests/data/sdp/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        SessionDescription::parse(&text).expect("parses")
    };
    for (name, id) in [
        ("chromium156_offer_av_data_simulcast.sdp", 3),
        ("firefox128_offer_av_data.sdp", 7),
    ] {
        let sd = sdp(name);
        let t = media_core::engine::remote_transport(&sd).expect("transport");
        let p = media_core::engine::remote_params(&sd, &t, DtlsRole::Server, false);
        assert_eq!(p.twcc_ext, Some(id), "{name}");
    }
}
