//! The room task (`RouterHandle`) with real engine peers: sinks only enqueue, the task drives
//! the core, counts what it does, drops and counts when the media queue is full, stops
//! relaying to removed subscribers and ends on `close`. The peers never connect, so every
//! send fails with `NotConnected` and is counted; what matters here is the plumbing.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use media_core::engine::{Engine, EngineConfig, MediaKind, Peer, PeerEvent, PeerObserver, RtpIn};
use media_core::forward::task::MEDIA_QUEUE;
use media_core::forward::{
    EgressError, PublishedStream, RoomConfig, RouterEvent, RouterHandle, RouterInput,
    RouterObserver, RouterStats, RtpEgress, Subscription,
};
use media_core::sdp::Codec;
use tokio::sync::mpsc;

struct NoEvents;
impl PeerObserver for NoEvents {
    fn on_event(&self, _peer: &Peer, _event: PeerEvent) {}
}

struct Events(mpsc::UnboundedSender<RouterEvent>);
impl RouterObserver for Events {
    fn on_event(&self, event: RouterEvent) {
        let _ = self.0.send(event);
    }
}

fn audio(seq: u16, level: u8) -> Bytes {
    let mut b = vec![0x90, 111];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    b.extend_from_slice(&0x4242u32.to_be_bytes());
    b.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, level, 0, 0]);
    b.extend_from_slice(&[0xFC; 40]);
    Bytes::from(b)
}

async fn until(stats: &RouterStats, what: &str, f: impl Fn(&RouterStats) -> bool) {
    for _ in 0..500 {
        if f(stats) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("timed out waiting for {what}: {stats:?}");
}

#[tokio::test]
async fn the_room_task_relays_counts_and_stops() {
    let engine = Engine::start(EngineConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..EngineConfig::default()
    })
    .await
    .expect("engine");
    let publisher = engine.new_peer(Arc::new(NoEvents));
    let subscriber = engine.new_peer(Arc::new(NoEvents));
    let (tx, mut events) = mpsc::unbounded_channel();
    let room = RouterHandle::spawn(
        RoomConfig {
            bitrate: 0,
            fir_freq: 0,
            nack_queue_ms: 1000,
            audio_active_packets: 5,
            audio_level_average: 25,
        },
        Arc::new(Events(tx)),
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
            audio_level_ext: Some(1),
        }],
    });
    room.control(RouterInput::SetSubscriber {
        subscriber: 7,
        peer: subscriber.clone(),
        subscriptions: vec![Subscription {
            sub_index: 0,
            source: Some((1, 0)),
            ssrc: 0xABCD,
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
    let sink = room.publisher_sink(1);
    for seq in 1..=5 {
        sink.on_rtp(
            &publisher,
            RtpIn {
                stream: 0,
                kind: MediaKind::Audio,
                layer: 0,
                packet: audio(seq, 10),
            },
        );
    }
    let stats = room.stats();
    until(stats, "5 relayed", |s| {
        s.packets_out.load(Ordering::Relaxed) == 5
    })
    .await;
    assert_eq!(stats.packets_in.load(Ordering::Relaxed), 5);
    // Not connected: each send was tried and failed.
    assert_eq!(stats.send_errors.load(Ordering::Relaxed), 5);
    assert_eq!(
        events.recv().await,
        Some(RouterEvent::Talking {
            publisher: 1,
            index: 0,
            talking: true,
            level_avg: 10.0
        })
    );

    // A subscriber NACK goes through its sink and is answered from the cache.
    let mut nack = Vec::new();
    media_core::rtcp::build_nack(&mut nack, 1, 0xABCD, &[2, 3]);
    room.subscriber_sink(7)
        .on_rtcp(&subscriber, Bytes::from(nack));
    until(stats, "retransmissions", |s| {
        s.retransmissions.load(Ordering::Relaxed) == 2
    })
    .await;

    // A full media queue drops and counts (this single-threaded runtime runs the task only
    // when the test yields).
    let before = stats.media_queue_drops.load(Ordering::Relaxed);
    for seq in 0..(MEDIA_QUEUE as u16 + 10) {
        sink.on_rtp(
            &publisher,
            RtpIn {
                stream: 0,
                kind: MediaKind::Audio,
                layer: 0,
                packet: audio(100 + seq, 100),
            },
        );
    }
    assert_eq!(stats.media_queue_drops.load(Ordering::Relaxed) - before, 10);
    until(stats, "the queue drained", |s| {
        s.packets_in.load(Ordering::Relaxed) == 5 + MEDIA_QUEUE as u64
    })
    .await;

    // Removed: nothing more for it.
    room.control(RouterInput::RemoveSubscriber { subscriber: 7 });
    let out = stats.packets_out.load(Ordering::Relaxed);
    for seq in 0..5 {
        sink.on_rtp(
            &publisher,
            RtpIn {
                stream: 0,
                kind: MediaKind::Audio,
                layer: 0,
                packet: audio(10_000 + seq, 100),
            },
        );
    }
    until(stats, "all in", |s| {
        s.packets_in.load(Ordering::Relaxed) == 10 + MEDIA_QUEUE as u64
    })
    .await;
    assert_eq!(stats.packets_out.load(Ordering::Relaxed), out);

    // Closed: the task ends and its queue with it; later packets are dropped and counted.
    room.close();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let drops = stats.media_queue_drops.load(Ordering::Relaxed);
    sink.on_rtp(
        &publisher,
        RtpIn {
            stream: 0,
            kind: MediaKind::Audio,
            layer: 0,
            packet: audio(20_000, 100),
        },
    );
    assert_eq!(stats.media_queue_drops.load(Ordering::Relaxed), drops + 1);
}

/// A VP8 packet of simulcast `layer`: descriptor without extensions (RFC 7741 §4.2), a
/// keyframe when asked (payload header P bit clear), the layer in the payload.
fn vp8(seq: u16, layer: u8, key: bool) -> Bytes {
    let mut b = vec![0x80, 0x80 | 96];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    b.extend_from_slice(&(0x1000 + u32::from(layer)).to_be_bytes());
    b.extend_from_slice(&[0x10, if key { 0x00 } else { 0x01 }, layer]);
    b.extend_from_slice(&[0xAB; 60]);
    Bytes::from(b)
}

struct ChannelEgress(mpsc::UnboundedSender<Vec<u8>>);
impl RtpEgress for ChannelEgress {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), EgressError> {
        self.0.send(packet.to_vec()).map_err(|_| EgressError::Send)
    }
}

/// `rtp_forward` with `simulcast: true` as the room task runs it: the forwarder's egress gets
/// the top layer only, as one stream with the forwarder's SSRC and PT and no extensions.
#[tokio::test]
async fn a_viewer_forwarder_egress_gets_one_rewritten_stream_of_the_top_layer() {
    let engine = Engine::start(EngineConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..EngineConfig::default()
    })
    .await
    .expect("engine");
    let publisher = engine.new_peer(Arc::new(NoEvents));
    let (tx, _events) = mpsc::unbounded_channel();
    let room = RouterHandle::spawn(
        RoomConfig {
            bitrate: 0,
            fir_freq: 0,
            nack_queue_ms: 1000,
            audio_active_packets: 0,
            audio_level_average: 25,
        },
        Arc::new(Events(tx)),
    );
    room.control(RouterInput::AddPublisher {
        publisher: 1,
        peer: publisher.clone(),
        streams: vec![PublishedStream {
            index: 0,
            mid: "0".into(),
            kind: MediaKind::Video,
            codec: Codec::Vp8,
            pt: 96,
            clock_rate: 90_000,
            layers: 2,
            audio_level_ext: None,
        }],
    });
    let (out_tx, mut out) = mpsc::unbounded_channel();
    room.control(RouterInput::SetForwarder {
        forwarder: 1 << 63,
        egress: Arc::new(ChannelEgress(out_tx)),
        source: (1, 0),
        ssrc: 0x5EED,
        pt: 100,
    });
    let sink = room.publisher_sink(1);
    let send = |seq: u16, layer: u8, key: bool| {
        sink.on_rtp(
            &publisher,
            RtpIn {
                stream: 0,
                kind: MediaKind::Video,
                layer,
                packet: vp8(seq, layer, key),
            },
        );
    };
    for i in 0..5u16 {
        send(5000 + i, 1, i == 0);
        send(100 + i, 0, i == 0);
    }
    let mut last_seq = None;
    for i in 0..5 {
        let p = tokio::time::timeout(Duration::from_secs(5), out.recv())
            .await
            .expect("a forwarded packet in time")
            .expect("egress open");
        let v = media_core::rtp::RtpView::try_parse(&p).expect("rtp");
        assert_eq!(v.ssrc(), 0x5EED, "packet {i}: the forwarder's SSRC");
        assert_eq!(v.payload_type(), 100);
        assert!(!v.has_extension());
        assert_eq!(v.payload()[2], 1, "packet {i}: the top layer");
        if let Some(l) = last_seq {
            assert_eq!(v.sequence_number(), u16::wrapping_add(l, 1));
        }
        last_seq = Some(v.sequence_number());
    }
    let stats = room.stats();
    until(stats, "the lower layer filtered", |s| {
        s.packets_filtered.load(Ordering::Relaxed) >= 5
    })
    .await;
    assert!(out.try_recv().is_err(), "nothing of the lower layer");
    room.close();
}
