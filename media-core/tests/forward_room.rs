//! `RoomCore` on a virtual clock: synthetic VP8 simulcast publishers (descriptors built by
//! hand), subscribers that check what a decoder would (one SSRC, continuous sequence numbers,
//! non-decreasing timestamps, picture id / TL0PICIDX continuity, keyframe at every switch),
//! loss emulation with a fixed seed, and the feedback loops (NACK, PLI, REMB, SR).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media_core::engine::MediaKind;
use media_core::forward::{
    IncomingPacket, PublishedStream, PublisherId, RoomConfig, RoomCore, RouterEvent, RouterOutput,
    SubscriberId, Subscription,
};
use media_core::rtcp::{self, CompoundIter, Rtcp, SenderInfo};
use media_core::rtp::{seq_delta, ts_delta, vp8::Vp8Descriptor, RtpView};
use media_core::sdp::Codec;
use rand::{Rng, SeedableRng};

const VP8_PT: u8 = 96;
const OPUS_PT: u8 = 111;
const SUB_PT: u8 = 100;
const SUB_RTX_PT: u8 = 101;
const FRAME: Duration = Duration::from_millis(33);

// ---------------------------------------------------------------------------------------------
// Harness

#[derive(Debug, Clone)]
enum Out {
    Rtp {
        sub: SubscriberId,
        packet: Vec<u8>,
        rtx: bool,
    },
    SubRtcp {
        sub: SubscriberId,
        packet: Vec<u8>,
    },
    PubRtcp {
        publisher: PublisherId,
        packet: Vec<u8>,
    },
    Event(RouterEvent),
}

struct Room {
    core: RoomCore<u64>,
    now: Instant,
}

fn config() -> RoomConfig {
    RoomConfig {
        bitrate: 0,
        fir_freq: 0,
        nack_queue_ms: 1000,
        audio_active_packets: 0,
        audio_level_average: 25,
    }
}

impl Room {
    fn new(config: RoomConfig) -> Self {
        Room {
            core: RoomCore::new(config),
            now: Instant::now(),
        }
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut v = Vec::new();
        while let Some(o) = self.core.poll_output() {
            v.push(match o {
                RouterOutput::Rtp {
                    subscriber,
                    peer,
                    packet,
                    retransmission,
                    ..
                } => {
                    assert_eq!(*peer, subscriber, "output names the subscriber's peer");
                    Out::Rtp {
                        sub: subscriber,
                        packet: packet.to_vec(),
                        rtx: retransmission,
                    }
                }
                RouterOutput::SubscriberRtcp {
                    subscriber, packet, ..
                } => Out::SubRtcp {
                    sub: subscriber,
                    packet: packet.to_vec(),
                },
                RouterOutput::PublisherRtcp {
                    publisher, packet, ..
                } => Out::PubRtcp {
                    publisher,
                    packet: packet.to_vec(),
                },
                RouterOutput::Event(e) => Out::Event(e),
            });
        }
        v
    }

    fn packet(&mut self, publisher: PublisherId, index: usize, layer: u8, p: Bytes) -> Vec<Out> {
        self.core.handle_packet(
            self.now,
            IncomingPacket {
                publisher,
                index,
                layer,
                packet: p,
            },
        );
        self.drain()
    }

    /// Moves the clock, running every timer that falls due on the way.
    fn advance(&mut self, d: Duration) -> Vec<Out> {
        let end = self.now + d;
        let mut outs = Vec::new();
        for _ in 0..10_000 {
            match self.core.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.core.handle_timeout(self.now);
                    outs.extend(self.drain());
                }
                _ => {
                    self.now = end;
                    return outs;
                }
            }
        }
        panic!("timer loop does not converge");
    }

    fn add_publisher(&mut self, id: PublisherId, streams: Vec<PublishedStream>) {
        self.core.add_publisher(self.now, id, id, streams);
    }

    fn set_subscriber(&mut self, id: SubscriberId, subs: Vec<Subscription>) -> Vec<Out> {
        self.core.set_subscriber(self.now, id, id, subs);
        self.drain()
    }

    fn subscriber_rtcp(&mut self, id: SubscriberId, packet: &[u8]) -> Vec<Out> {
        self.core.handle_subscriber_rtcp(self.now, id, packet);
        self.drain()
    }
}

fn video_stream(index: usize, layers: u8) -> PublishedStream {
    PublishedStream {
        index,
        mid: index.to_string(),
        kind: MediaKind::Video,
        codec: Codec::Vp8,
        pt: VP8_PT,
        clock_rate: 90_000,
        layers,
        audio_level_ext: None,
    }
}

fn audio_stream(index: usize) -> PublishedStream {
    PublishedStream {
        index,
        mid: index.to_string(),
        kind: MediaKind::Audio,
        codec: Codec::Opus,
        pt: OPUS_PT,
        clock_rate: 48_000,
        layers: 1,
        audio_level_ext: Some(1),
    }
}

fn sub(source: (PublisherId, usize), ssrc: u32) -> Subscription {
    Subscription {
        sub_index: 0,
        source: Some(source),
        ssrc,
        rtx_ssrc: None,
        pt: SUB_PT,
        rtx_pt: None,
        send: true,
        substream_target: 2,
        temporal_target: 2,
        fallback_us: 250_000,
        playout_delay: None,
    }
}

fn with_rtx(mut s: Subscription, rtx_ssrc: u32) -> Subscription {
    s.rtx_ssrc = Some(rtx_ssrc);
    s.rtx_pt = Some(SUB_RTX_PT);
    s
}

// ---------------------------------------------------------------------------------------------
// A VP8 simulcast publisher (RFC 7741 §4.2 descriptors with 15-bit picture ids, TL0PICIDX,
// TID/Y), libwebrtc's 3-layer temporal pattern 0,2,1,2 with Y on the first TL2 and TL1.

#[derive(Debug, Clone)]
struct SimLayer {
    ssrc: u32,
    seq: u16,
    ts: u32,
    pid: u16,
    tl0: u8,
    packets_per_frame: usize,
    key_pending: bool,
}

struct SimPub {
    id: PublisherId,
    layers: Vec<SimLayer>,
    frame: u64,
    counter: u32,
    temporal: bool,
}

/// The payload tag identifying an original packet: publisher, layer, running counter.
fn tag(p: &[u8]) -> u32 {
    let v = RtpView::try_parse(p).expect("rtp");
    let pl = v.payload();
    let d = Vp8Descriptor::parse(pl).expect("vp8");
    let t = &pl[d.len + 1..d.len + 5];
    u32::from_be_bytes([t[0], t[1], t[2], t[3]])
}

fn tag_layer(t: u32) -> u8 {
    ((t >> 24) & 0x0f) as u8
}

fn tag_publisher(t: u32) -> u64 {
    u64::from(t >> 28)
}

impl SimPub {
    fn new(id: PublisherId, layers: usize, temporal: bool) -> Self {
        SimPub {
            id,
            layers: (0..layers)
                .map(|l| SimLayer {
                    ssrc: 0x1000_0000 * id as u32 + 0x100 * l as u32 + 7,
                    seq: (1000 * l as u16).wrapping_add(60_000 + 7 * id as u16),
                    ts: 1_000_000 * (l as u32 + 1) + 5 * id as u32,
                    pid: (100 * l as u16 + 32_700) & 0x7fff,
                    tl0: 250 - 10 * l as u8,
                    packets_per_frame: l + 1,
                    key_pending: true,
                })
                .collect(),
            frame: 0,
            counter: 0,
            temporal,
        }
    }

    /// One frame on each of `layers` (keyframes where requested).
    fn frame(&mut self, layers: &[u8]) -> Vec<(u8, Bytes)> {
        let mut out = Vec::new();
        let pattern = [0u8, 2, 1, 2];
        let phase = (self.frame % 4) as usize;
        for &l in layers {
            let id = self.id;
            let Some(sl) = self.layers.get_mut(usize::from(l)) else {
                continue;
            };
            let key = sl.key_pending;
            sl.key_pending = false;
            let tid = if key || !self.temporal {
                0
            } else {
                pattern[phase]
            };
            let sync = !key && (phase == 1 || phase == 2) && self.temporal;
            if tid == 0 {
                sl.tl0 = sl.tl0.wrapping_add(1);
            }
            sl.pid = (sl.pid + 1) & 0x7fff;
            sl.ts = sl.ts.wrapping_add(3000);
            for i in 0..sl.packets_per_frame {
                self.counter += 1;
                let t = ((id as u32) << 28) | (u32::from(l) << 24) | (self.counter & 0xff_ffff);
                let mut b = vec![
                    0x80,
                    VP8_PT
                        | if i + 1 == sl.packets_per_frame {
                            0x80
                        } else {
                            0
                        },
                ];
                b.extend_from_slice(&sl.seq.to_be_bytes());
                b.extend_from_slice(&sl.ts.to_be_bytes());
                b.extend_from_slice(&sl.ssrc.to_be_bytes());
                b.push(0x80 | if i == 0 { 0x10 } else { 0 });
                b.push(0xE0);
                b.extend_from_slice(&(0x8000 | sl.pid).to_be_bytes());
                b.push(sl.tl0);
                b.push((tid << 6) | if sync { 0x20 } else { 0 });
                b.push(if key && i == 0 { 0x00 } else { 0x01 });
                b.extend_from_slice(&t.to_be_bytes());
                b.resize(120, 0xAB);
                sl.seq = sl.seq.wrapping_add(1);
                out.push((l, Bytes::from(b)));
            }
        }
        self.frame += 1;
        out
    }

    /// Honours PLIs addressed to our SSRCs.
    fn feedback(&mut self, outs: &[Out]) -> usize {
        let mut plis = 0;
        for o in outs {
            let Out::PubRtcp { publisher, packet } = o else {
                continue;
            };
            if *publisher != self.id {
                continue;
            }
            for p in CompoundIter::new(packet) {
                if let Ok(Rtcp::Pli(pli)) = p.expect("valid rtcp").parse() {
                    plis += 1;
                    for l in &mut self.layers {
                        if l.ssrc == pli.media_ssrc {
                            l.key_pending = true;
                        }
                    }
                }
            }
        }
        plis
    }
}

/// Sends one frame of `layers` into the room; returns everything it produced.
fn step(room: &mut Room, sim: &mut SimPub, layers: &[u8], index: usize) -> Vec<Out> {
    let mut outs = room.advance(FRAME);
    for (l, p) in sim.frame(layers) {
        outs.extend(room.packet(sim.id, index, l, p));
    }
    sim.feedback(&outs);
    outs
}

// ---------------------------------------------------------------------------------------------
// What a decoder checks.

#[derive(Debug, Default)]
struct Receiver {
    ssrc: u32,
    last_seq: Option<u16>,
    last_ts: Option<u32>,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
    last_source: Option<(u64, u8)>,
    /// (publisher, layer) in the order they were relayed.
    sources: Vec<(u64, u8)>,
    tids: Vec<u8>,
    packets: BTreeMap<u16, Vec<u8>>,
}

impl Receiver {
    fn new(ssrc: u32) -> Self {
        Receiver {
            ssrc,
            ..Default::default()
        }
    }

    fn take(&mut self, outs: &[Out], me: SubscriberId) {
        for o in outs {
            if let Out::Rtp { sub, packet, rtx } = o {
                if *sub == me {
                    assert!(!rtx, "no retransmission expected here");
                    self.check(packet);
                }
            }
        }
    }

    fn check(&mut self, p: &[u8]) {
        let v = RtpView::try_parse(p).expect("rtp");
        assert_eq!(v.ssrc(), self.ssrc);
        assert_eq!(v.payload_type(), SUB_PT);
        let seq = v.sequence_number();
        if let Some(last) = self.last_seq {
            assert_eq!(seq, last.wrapping_add(1), "sequence continuity");
        }
        if let Some(last) = self.last_ts {
            assert!(
                ts_delta(v.timestamp(), last) >= 0,
                "timestamps never go back"
            );
        }
        let d = Vp8Descriptor::parse(v.payload()).expect("vp8");
        let pid = d.picture_id.expect("pid");
        let tl0 = d.tl0picidx.expect("tl0");
        let t = tag(p);
        let source = (tag_publisher(t), tag_layer(t));
        if self.last_source != Some(source) {
            assert!(
                d.is_keyframe(v.payload()),
                "a switch to {source:?} starts on a keyframe"
            );
            if let (Some(lp), Some(lt)) = (self.last_pid, self.last_tl0) {
                assert_eq!(
                    pid,
                    (lp + 1) & 0x7fff,
                    "picture id continues across a switch"
                );
                assert_eq!(
                    tl0,
                    lt.wrapping_add(1),
                    "TL0PICIDX continues across a switch"
                );
            }
            self.sources.push(source);
            self.last_source = Some(source);
        } else if let (Some(lp), Some(lt)) = (self.last_pid, self.last_tl0) {
            let dp = pid.wrapping_sub(lp) & 0x7fff;
            assert!(
                dp <= 4,
                "picture id moves forward by small steps ({lp} -> {pid})"
            );
            assert!(tl0.wrapping_sub(lt) <= 1, "TL0PICIDX steps by at most one");
        }
        self.tids.push(d.tid.expect("tid"));
        self.last_seq = Some(seq);
        self.last_ts = Some(v.timestamp());
        self.last_pid = Some(pid);
        self.last_tl0 = Some(tl0);
        self.packets.insert(seq, p.to_vec());
    }
}

fn events(outs: &[Out]) -> Vec<RouterEvent> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn substreams(outs: &[Out]) -> Vec<u8> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Substream { substream, .. } => Some(substream),
            _ => None,
        })
        .collect()
}

fn publisher_feedback(outs: &[Out]) -> Vec<(&'static str, Vec<u16>, u64)> {
    let mut v = Vec::new();
    for o in outs {
        let Out::PubRtcp { packet, .. } = o else {
            continue;
        };
        for p in CompoundIter::new(packet) {
            match p.expect("valid rtcp").parse().expect("typed") {
                Rtcp::Pli(_) => v.push(("pli", vec![], 0)),
                Rtcp::Nack(n) => v.push(("nack", n.lost().collect(), 0)),
                Rtcp::Remb(r) => v.push(("remb", vec![], r.bitrate)),
                other => panic!("unexpected feedback {other:?}"),
            }
        }
    }
    v
}

fn count(outs: &[Out], kind: &str) -> usize {
    publisher_feedback(outs)
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .count()
}

fn rtp_to(outs: &[Out], me: SubscriberId) -> Vec<Vec<u8>> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Rtp { sub, packet, .. } if *sub == me => Some(packet.clone()),
            _ => None,
        })
        .collect()
}

fn nack(media_ssrc: u32, lost: &[u16]) -> Vec<u8> {
    let mut b = Vec::new();
    rtcp::build_nack(&mut b, 0x5151, media_ssrc, lost);
    b
}

fn pli(media_ssrc: u32) -> Vec<u8> {
    let mut b = Vec::new();
    rtcp::build_pli(&mut b, 0x5151, media_ssrc);
    b
}

/// A room with publisher 1 (3-layer VP8) warmed up for a second, and subscriber 10.
fn simulcast_room(target: u8, temporal: u8) -> (Room, SimPub, Receiver) {
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 3)]);
    let mut sim = SimPub::new(1, 3, true);
    for _ in 0..30 {
        step(&mut room, &mut sim, &[0, 1, 2], 0);
    }
    let mut s = sub((1, 0), 0xAAAA);
    s.substream_target = target;
    s.temporal_target = temporal;
    let outs = room.set_subscriber(10, vec![s]);
    sim.feedback(&outs);
    (room, sim, Receiver::new(0xAAAA))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn simulcast_switches_two_zero_two_keep_one_continuous_stream() {
    let (mut room, mut sim, mut rx) = simulcast_room(2, 2);
    let mut all = Vec::new();
    for _ in 0..20 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert_eq!(substreams(&all), vec![2]);
    let mut s = sub((1, 0), 0xAAAA);
    s.substream_target = 0;
    let outs = room.set_subscriber(10, vec![s.clone()]);
    sim.feedback(&outs);
    let mut all = outs;
    for _ in 0..20 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert_eq!(substreams(&all), vec![0]);
    s.substream_target = 2;
    let outs = room.set_subscriber(10, vec![s]);
    sim.feedback(&outs);
    let mut all = outs;
    for _ in 0..20 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert_eq!(substreams(&all), vec![2]);
    assert_eq!(rx.sources, vec![(1, 2), (1, 0), (1, 2)]);
    assert!(rx.packets.len() > 100);
}

#[test]
fn a_stalled_layer_falls_back_and_climbs_back() {
    let (mut room, mut sim, mut rx) = simulcast_room(2, 2);
    for _ in 0..10 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
    }
    // Layer 2 stops (the publisher's uplink degraded) for a second.
    let mut all = Vec::new();
    for _ in 0..30 {
        let outs = step(&mut room, &mut sim, &[0, 1], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert_eq!(substreams(&all), vec![1]);
    let mut all = Vec::new();
    for _ in 0..30 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert_eq!(substreams(&all), vec![2]);
    assert_eq!(rx.sources, vec![(1, 2), (1, 1), (1, 2)]);
}

#[test]
fn publisher_switch_continues_the_subscriber_stream() {
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 1)]);
    room.add_publisher(2, vec![video_stream(0, 1)]);
    let mut a = SimPub::new(1, 1, false);
    let mut b = SimPub::new(2, 1, false);
    let mut rx = Receiver::new(0xCAFE);
    let outs = room.set_subscriber(10, vec![sub((1, 0), 0xCAFE)]);
    a.feedback(&outs);
    for _ in 0..20 {
        let mut outs = step(&mut room, &mut a, &[0], 0);
        outs.extend(step(&mut room, &mut b, &[0], 0));
        rx.take(&outs, 10);
    }
    let outs = room.set_subscriber(10, vec![sub((2, 0), 0xCAFE)]);
    assert!(
        b.feedback(&outs) >= 1,
        "the new source is asked for a keyframe"
    );
    for _ in 0..20 {
        let mut outs = step(&mut room, &mut a, &[0], 0);
        outs.extend(step(&mut room, &mut b, &[0], 0));
        rx.take(&outs, 10);
    }
    assert_eq!(rx.sources, vec![(1, 0), (2, 0)]);
}

#[test]
fn temporal_layers_above_the_target_are_dropped_without_sequence_gaps() {
    let (mut room, mut sim, mut rx) = simulcast_room(0, 0);
    let mut all = Vec::new();
    for _ in 0..40 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert!(!rx.tids.is_empty());
    assert!(rx.tids.iter().all(|&t| t == 0));
    let temporals: Vec<u8> = events(&all)
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Temporal { temporal, .. } => Some(temporal),
            _ => None,
        })
        .collect();
    assert_eq!(temporals, vec![0]);
    // Raising the target climbs on the next layer-sync pictures.
    let mut s = sub((1, 0), 0xAAAA);
    s.substream_target = 0;
    s.temporal_target = 2;
    let mut all = room.set_subscriber(10, vec![s]);
    let before = rx.tids.len();
    for _ in 0..40 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        all.extend(outs);
    }
    assert!(rx.tids[before..].contains(&2));
    assert!(rx.tids[before..].contains(&1));
    let temporals: Vec<u8> = events(&all)
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Temporal { temporal, .. } => Some(temporal),
            _ => None,
        })
        .collect();
    assert_eq!(temporals, vec![1, 2]);
}

/// What a NACK gets back: the RTX packet restored (RFC 4588 §4) or the plain packet.
fn restore(p: &[u8], rtx: Option<u32>, media_ssrc: u32) -> Vec<u8> {
    match rtx {
        None => p.to_vec(),
        Some(rtx_ssrc) => {
            let v = RtpView::try_parse(p).expect("rtx");
            assert_eq!(v.ssrc(), rtx_ssrc);
            assert_eq!(v.payload_type(), SUB_RTX_PT);
            let mut r = media_core::rtp::rtx::unwrap(p, SUB_PT)
                .expect("unwrap")
                .to_vec();
            r[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
            r
        }
    }
}

#[test]
fn nacks_are_answered_from_the_cache_as_rtx_and_plain_even_after_a_layer_switch() {
    let (mut room, mut sim, _) = simulcast_room(2, 2);
    let mut plain = sub((1, 0), 0xAAAA);
    plain.sub_index = 0;
    let rtx = with_rtx(sub((1, 0), 0xBBBB), 0xBBB1);
    room.set_subscriber(10, vec![plain.clone()]);
    let outs = room.set_subscriber(11, vec![rtx.clone()]);
    sim.feedback(&outs);
    let mut got: BTreeMap<(u64, u16), Vec<u8>> = BTreeMap::new();
    let record = |outs: &[Out], got: &mut BTreeMap<(u64, u16), Vec<u8>>| {
        for o in outs {
            if let Out::Rtp { sub, packet, .. } = o {
                let seq = RtpView::try_parse(packet).expect("rtp").sequence_number();
                got.insert((*sub, seq), packet.clone());
            }
        }
    };
    for _ in 0..10 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        record(&outs, &mut got);
    }
    // Both move to layer 0.
    plain.substream_target = 0;
    let mut rtx0 = rtx.clone();
    rtx0.substream_target = 0;
    sim.feedback(&room.set_subscriber(10, vec![plain]));
    sim.feedback(&room.set_subscriber(11, vec![rtx0]));
    for _ in 0..10 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        record(&outs, &mut got);
    }
    for (me, ssrc, rtx_ssrc) in [(10u64, 0xAAAA, None), (11, 0xBBBB, Some(0xBBB1))] {
        let mine: Vec<(&u16, &Vec<u8>)> = got
            .iter()
            .filter(|((s, _), _)| *s == me)
            .map(|((_, q), p)| (q, p))
            .collect();
        let first_layer2 = mine
            .iter()
            .find(|(_, p)| tag_layer(tag(p)) == 2)
            .expect("layer 2 packets");
        let last_layer0 = mine
            .iter()
            .rev()
            .find(|(_, p)| tag_layer(tag(p)) == 0)
            .expect("layer 0 packets");
        let wanted = [*first_layer2.0, *last_layer0.0];
        let outs = room.subscriber_rtcp(me, &nack(ssrc, &wanted));
        let back: Vec<&Out> = outs
            .iter()
            .filter(|o| matches!(o, Out::Rtp { rtx: true, .. }))
            .collect();
        assert_eq!(back.len(), 2, "both NACKed packets come back");
        for (o, (_, original)) in back.iter().zip([first_layer2, last_layer0]) {
            let Out::Rtp { packet, .. } = o else {
                unreachable!()
            };
            assert_eq!(&restore(packet, rtx_ssrc, ssrc), *original);
        }
    }
    // RTX sequence numbers are the RTX stream's own, consecutive.
    let outs = room.subscriber_rtcp(
        11,
        &nack(
            0xBBBB,
            &[*got
                .keys()
                .rev()
                .find(|k| k.0 == 11)
                .map(|k| &k.1)
                .expect("seq")],
        ),
    );
    let Out::Rtp { packet, .. } = &outs[0] else {
        panic!("rtx")
    };
    assert_eq!(
        RtpView::try_parse(packet).expect("rtp").sequence_number(),
        2
    );
    // Unknown numbers are counted, not answered.
    let outs = room.subscriber_rtcp(10, &nack(0xAAAA, &[12345]));
    assert!(outs.is_empty());
    assert!(room.core.stats().nack_misses >= 1);
}

#[test]
fn many_subscriber_plis_make_one_upstream_pli_per_interval() {
    let (mut room, mut sim, mut rx) = simulcast_room(2, 2);
    for _ in 0..30 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
    }
    // 20 PLIs over 400 ms while media flows; the publisher answers none of them.
    let mut outs = Vec::new();
    for i in 0..20 {
        outs.extend(room.subscriber_rtcp(10, &pli(0xAAAA)));
        outs.extend(room.advance(Duration::from_millis(20)));
        if i % 2 == 0 {
            for (l, p) in sim.frame(&[0, 1, 2]) {
                outs.extend(room.packet(1, 0, l, p));
            }
        }
    }
    assert_eq!(count(&outs, "pli"), 1);
    // Still wanted after the interval: one more.
    let outs = room.advance(Duration::from_millis(150));
    assert_eq!(count(&outs, "pli"), 1);
    // A keyframe satisfies what was asked before it.
    sim.layers[2].key_pending = true;
    for _ in 0..3 {
        step(&mut room, &mut sim, &[0, 1, 2], 0);
    }
    let outs = room.advance(Duration::from_secs(2));
    assert_eq!(count(&outs, "pli"), 0);
    // FIR (RFC 5104) counts as a keyframe request too.
    let mut fir = Vec::new();
    rtcp::build_fir(&mut fir, 0x5151, &[(0xAAAA, 1)]);
    let outs = room.subscriber_rtcp(10, &fir);
    assert_eq!(count(&outs, "pli"), 1);
}

#[test]
fn fir_freq_asks_for_keyframes_when_none_come() {
    let mut cfg = config();
    cfg.fir_freq = 2;
    let mut room = Room::new(cfg);
    room.add_publisher(1, vec![video_stream(0, 1)]);
    let mut sim = SimPub::new(1, 1, false);
    let outs = room.set_subscriber(10, vec![sub((1, 0), 0xAAAA)]);
    sim.feedback(&outs);
    let mut plis = 0;
    let t0 = room.now;
    let mut at = Vec::new();
    for _ in 0..(7000 / 33) {
        let outs = step(&mut room, &mut sim, &[0], 0);
        let n = count(&outs, "pli");
        if n > 0 {
            at.push(room.now.duration_since(t0).as_millis());
        }
        plis += n;
    }
    // The first frame is a keyframe; then one request every 2 s (each answered).
    assert_eq!(plis, 3, "PLIs at {at:?}");
}

#[test]
fn remb_ramps_up_then_repeats_every_five_seconds() {
    let mut cfg = config();
    cfg.bitrate = 1_000_000;
    let mut room = Room::new(cfg);
    room.add_publisher(1, vec![video_stream(0, 1)]);
    let mut sim = SimPub::new(1, 1, false);
    let mut rembs = Vec::new();
    for _ in 0..(6000 / 33) {
        let outs = step(&mut room, &mut sim, &[0], 0);
        for (k, _, b) in publisher_feedback(&outs) {
            if k == "remb" {
                rembs.push((room.now, b));
            }
        }
    }
    let rates: Vec<u64> = rembs.iter().map(|r| r.1).collect();
    assert_eq!(rates.len(), 5, "{rates:?}");
    for (got, want) in rates
        .iter()
        .zip([250_000u64, 333_333, 500_000, 1_000_000, 1_000_000])
    {
        assert!(got.abs_diff(want) * 100 <= want, "{got} ≈ {want}");
    }
    assert!(rembs[4].0.duration_since(rembs[3].0) >= Duration::from_secs(5));
    // `configure bitrate` answers at once.
    room.core.set_publisher_bitrate(room.now, 1, 300_000);
    let outs = room.drain();
    let fb = publisher_feedback(&outs);
    assert_eq!(fb.len(), 1);
    assert!(fb[0].2.abs_diff(300_000) < 3000);
}

#[test]
fn lossy_subscriber_is_repaired_to_the_complete_sequence() {
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 1)]);
    let mut sim = SimPub::new(1, 1, true);
    sim.layers[0].packets_per_frame = 3;
    for _ in 0..10 {
        step(&mut room, &mut sim, &[0], 0);
    }
    // Two identical subscriptions (temporal target 1: drops are closed as well); subscriber
    // 11 loses 10% of what reaches it, retransmissions included, and NACKs every 20 ms.
    let mut a = sub((1, 0), 0xAAAA);
    a.temporal_target = 1;
    let b = with_rtx(a.clone(), 0xAAA1);
    sim.feedback(&room.set_subscriber(10, vec![a]));
    sim.feedback(&room.set_subscriber(11, vec![b]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1a05);
    let mut reference: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut lossy: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut lost = 0;
    let mut deliver = |outs: &[Out],
                       reference: &mut BTreeMap<u16, Vec<u8>>,
                       lossy: &mut BTreeMap<u16, Vec<u8>>,
                       rng: &mut rand::rngs::StdRng| {
        for o in outs {
            let Out::Rtp { sub, packet, rtx } = o else {
                continue;
            };
            match sub {
                10 => {
                    assert!(!rtx);
                    let seq = RtpView::try_parse(packet).expect("rtp").sequence_number();
                    reference.insert(seq, packet.clone());
                }
                11 => {
                    if rng.gen_bool(0.1) {
                        lost += 1;
                        continue;
                    }
                    let p = restore(packet, rtx.then_some(0xAAA1), 0xAAAA);
                    let seq = RtpView::try_parse(&p).expect("rtp").sequence_number();
                    lossy.insert(seq, p);
                }
                _ => {}
            }
        }
    };
    let nack_round = |room: &mut Room, lossy: &BTreeMap<u16, Vec<u8>>| -> Vec<Out> {
        let (Some(&first), Some(&last)) = (lossy.keys().next(), lossy.keys().next_back()) else {
            return Vec::new();
        };
        let missing: Vec<u16> = (0..=seq_delta(last, first) as u16)
            .map(|k| first.wrapping_add(k))
            .filter(|s| !lossy.contains_key(s))
            .collect();
        if missing.is_empty() {
            return Vec::new();
        }
        room.subscriber_rtcp(11, &nack(0xAAAA, &missing))
    };
    for i in 0..300 {
        let outs = step(&mut room, &mut sim, &[0], 0);
        deliver(&outs, &mut reference, &mut lossy, &mut rng);
        if i % 2 == 0 {
            let outs = nack_round(&mut room, &lossy);
            deliver(&outs, &mut reference, &mut lossy, &mut rng);
        }
    }
    for _ in 0..10 {
        room.advance(Duration::from_millis(20));
        let outs = nack_round(&mut room, &lossy);
        deliver(&outs, &mut reference, &mut lossy, &mut rng);
    }
    assert!(lost > 40, "the emulator did lose packets ({lost})");
    // The reference stream itself has no gaps (temporal drops closed).
    let seqs: Vec<u16> = reference.keys().copied().collect();
    let first = *reference.keys().next().expect("packets");
    assert_eq!(
        reference.len(),
        usize::from(seq_delta(*seqs.last().expect("x"), first) as u16) + 1
    );
    // The lossy subscriber ends with exactly the same packets (SSRC aside, both are 0xAAAA).
    assert_eq!(lossy.len(), reference.len());
    assert!(lossy == reference, "repaired packets are byte-identical");
    assert!(room.core.stats().retransmissions as usize >= lost);
}

#[test]
fn talking_is_detected_from_the_audio_level_window() {
    let mut cfg = config();
    cfg.audio_active_packets = 10;
    cfg.audio_level_average = 25;
    let mut room = Room::new(cfg);
    room.add_publisher(1, vec![audio_stream(0)]);
    let audio = |seq: u16, level: u8| -> Bytes {
        let mut b = vec![0x90, OPUS_PT];
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        b.extend_from_slice(&0x4242u32.to_be_bytes());
        b.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 0x10, 0x80 | level, 0, 0]);
        b.extend_from_slice(&[0xFC; 40]);
        Bytes::from(b)
    };
    let mut evs = Vec::new();
    let mut seq = 0u16;
    for level in [10u8; 10].into_iter().chain([120u8; 10]).chain([30; 10]) {
        room.advance(Duration::from_millis(20));
        seq += 1;
        evs.extend(events(&room.packet(1, 0, 0, audio(seq, level))));
    }
    assert_eq!(
        evs,
        vec![
            RouterEvent::Talking {
                publisher: 1,
                index: 0,
                talking: true,
                level_avg: 10.0
            },
            RouterEvent::Talking {
                publisher: 1,
                index: 0,
                talking: false,
                level_avg: 120.0
            },
        ]
    );
}

#[test]
fn audio_is_relayed_at_once_with_continuous_numbers() {
    let mut room = Room::new(config());
    room.add_publisher(1, vec![audio_stream(0)]);
    room.set_subscriber(10, vec![sub((1, 0), 0xA0)]);
    let mut last: Option<(u16, u32)> = None;
    for i in 0..50u16 {
        room.advance(Duration::from_millis(20));
        let mut b = vec![0x80, OPUS_PT];
        b.extend_from_slice(&(40_000u16.wrapping_add(i)).to_be_bytes());
        b.extend_from_slice(&(u32::from(i) * 960).to_be_bytes());
        b.extend_from_slice(&0x4242u32.to_be_bytes());
        b.extend_from_slice(&[1, 2, 3]);
        let outs = room.packet(1, 0, 0, Bytes::from(b));
        let p = rtp_to(&outs, 10);
        assert_eq!(p.len(), 1);
        let v = RtpView::try_parse(&p[0]).expect("rtp");
        assert_eq!((v.ssrc(), v.payload_type()), (0xA0, SUB_PT));
        if let Some((s, t)) = last {
            assert_eq!(v.sequence_number(), s.wrapping_add(1));
            assert_eq!(v.timestamp(), t.wrapping_add(960));
        }
        last = Some((v.sequence_number(), v.timestamp()));
    }
}

#[test]
fn a_removed_subscriber_gets_nothing_more() {
    let (mut room, mut sim, mut rx) = simulcast_room(2, 2);
    room.set_subscriber(11, vec![sub((1, 0), 0xBBBB)]);
    for _ in 0..10 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        assert!(!rtp_to(&outs, 11).is_empty() || sim.frame < 12);
    }
    let seq = rx.last_seq.expect("relayed");
    room.core.remove_subscriber(room.now, 10);
    let mut outs = room.subscriber_rtcp(10, &nack(0xAAAA, &[seq]));
    for _ in 0..10 {
        outs.extend(step(&mut room, &mut sim, &[0, 1, 2], 0));
    }
    assert!(rtp_to(&outs, 10).is_empty());
    assert!(!rtp_to(&outs, 11).is_empty());
    assert!(!outs.iter().any(|o| matches!(
        o,
        Out::SubRtcp { sub: 10, .. } | Out::Event(RouterEvent::Substream { subscriber: 10, .. })
    )));
}

#[test]
fn send_false_relays_nothing_and_resuming_restarts_on_a_keyframe() {
    let (mut room, mut sim, mut rx) = simulcast_room(2, 2);
    for _ in 0..5 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
    }
    let mut s = sub((1, 0), 0xAAAA);
    s.send = false;
    room.set_subscriber(10, vec![s.clone()]);
    for _ in 0..20 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        assert!(rtp_to(&outs, 10).is_empty());
    }
    s.send = true;
    let outs = room.set_subscriber(10, vec![s]);
    assert_eq!(count(&outs, "pli"), 1, "resuming asks for a keyframe");
    sim.feedback(&outs);
    rx.last_source = None; // the resumed segment must start on a keyframe again
    for _ in 0..5 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
    }
    assert_eq!(rx.sources.len(), 2);
}

#[test]
fn upstream_losses_are_nacked_retried_and_late_packets_fill_the_gap() {
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 1)]);
    let mut sim = SimPub::new(1, 1, false);
    sim.layers[0].packets_per_frame = 1;
    sim.feedback(&room.set_subscriber(10, vec![sub((1, 0), 0xAAAA)]));
    let mut frames: Vec<Bytes> = Vec::new();
    for _ in 0..8 {
        room.advance(FRAME);
        frames.extend(sim.frame(&[0]).into_iter().map(|(_, p)| p));
    }
    let seq_of = |p: &Bytes| RtpView::try_parse(p).expect("rtp").sequence_number();
    let mut got = Vec::new();
    for (i, p) in frames.iter().enumerate() {
        if i == 4 || i == 5 {
            continue;
        }
        let outs = room.packet(1, 0, 0, p.clone());
        if i == 6 {
            let fb = publisher_feedback(&outs);
            assert_eq!(
                fb,
                vec![("nack", vec![seq_of(&frames[4]), seq_of(&frames[5])], 0)]
            );
        }
        got.extend(rtp_to(&outs, 10));
    }
    // Retried until they come, then no more.
    let outs = room.advance(Duration::from_millis(110));
    assert_eq!(count(&outs, "nack"), 1);
    for p in [&frames[4], &frames[5]] {
        got.extend(rtp_to(&room.packet(1, 0, 0, p.clone()), 10));
    }
    assert_eq!(count(&room.advance(Duration::from_secs(1)), "nack"), 0);
    // Duplicates (RTX probes resend old packets) are not relayed again.
    assert!(rtp_to(&room.packet(1, 0, 0, frames[5].clone()), 10).is_empty());
    assert!(rtp_to(&room.packet(1, 0, 0, frames[2].clone()), 10).is_empty());
    assert_eq!(room.core.stats().duplicates, 2);
    let mut seqs: Vec<u16> = got
        .iter()
        .map(|p| RtpView::try_parse(p).expect("rtp").sequence_number())
        .collect();
    seqs.sort_unstable_by_key(|s| seq_delta(*s, seqs_first(&got)));
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0].wrapping_add(1),
            "late packets take their own numbers"
        );
    }
    assert_eq!(seqs.len(), 8);
}

fn seqs_first(got: &[Vec<u8>]) -> u16 {
    RtpView::try_parse(&got[0]).expect("rtp").sequence_number()
}

#[test]
fn sender_reports_are_rewritten_through_the_subscriber_mapping() {
    let (mut room, mut sim, mut rx) = simulcast_room(1, 2);
    let mut relayed = Vec::new();
    for _ in 0..10 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        relayed.extend(rtp_to(&outs, 10));
    }
    let last = relayed.last().expect("relayed");
    let out_ts = RtpView::try_parse(last).expect("rtp").timestamp();
    let layer = &sim.layers[1];
    // The publisher's SR names the RTP time of its last frame on layer 1.
    let mut sr = Vec::new();
    rtcp::build_sr(
        &mut sr,
        &SenderInfo {
            ssrc: layer.ssrc,
            ntp: 0xDEAD_BEEF_0000_0000,
            rtp_timestamp: layer.ts,
            packet_count: 1,
            octet_count: 1,
        },
        &[],
    );
    // SRs of layers nobody relays produce nothing.
    let mut sr0 = Vec::new();
    rtcp::build_sr(
        &mut sr0,
        &SenderInfo {
            ssrc: sim.layers[0].ssrc,
            ..Default::default()
        },
        &[],
    );
    room.core.handle_publisher_rtcp(room.now, 1, &sr0);
    assert!(room.drain().is_empty());
    room.core.handle_publisher_rtcp(room.now, 1, &sr);
    let outs = room.drain();
    assert_eq!(outs.len(), 1);
    let Out::SubRtcp { sub: 10, packet } = &outs[0] else {
        panic!("an SR for subscriber 10: {outs:?}");
    };
    let p = CompoundIter::new(packet)
        .next()
        .expect("one")
        .expect("valid");
    let Ok(Rtcp::SenderReport(s)) = p.parse() else {
        panic!("sr")
    };
    assert_eq!(s.ssrc, 0xAAAA);
    assert_eq!(s.ntp, 0xDEAD_BEEF_0000_0000);
    assert_eq!(s.rtp_timestamp, out_ts);
    assert_eq!(s.packet_count as usize, relayed.len());
}

#[test]
fn malformed_and_unknown_input_is_counted_not_relayed() {
    let (mut room, _sim, _) = simulcast_room(2, 2);
    let before = room.core.stats().packets_invalid;
    for junk in [
        &b""[..],
        &[0x80][..],
        &[0x40; 20][..],
        &[0x80, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        assert!(room
            .packet(1, 0, 0, Bytes::copy_from_slice(junk))
            .is_empty());
    }
    assert!(room
        .packet(99, 0, 0, Bytes::from_static(&[0x80; 20]))
        .is_empty());
    assert!(room
        .packet(1, 7, 0, Bytes::from_static(&[0x80; 20]))
        .is_empty());
    assert!(room
        .packet(1, 0, 5, Bytes::from_static(&[0x80; 20]))
        .is_empty());
    assert_eq!(room.core.stats().packets_invalid - before, 7);
    for junk in [&b""[..], &[0x81, 205, 0, 9][..], &[0xff; 64][..]] {
        assert!(room.subscriber_rtcp(10, junk).is_empty());
    }
}

#[test]
fn header_extensions_are_rebuilt_with_the_subscribers_ids_and_mid() {
    use media_core::forward::ExtensionIds;
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 1)]);
    // The publisher's IDs: mid 9, video orientation 7, TWCC 5, abs-send-time 3.
    room.core.set_publisher_extensions(
        room.now,
        1,
        ExtensionIds {
            mid: Some(9),
            audio_level: None,
            video_orientation: Some(7),
            playout_delay: None,
            dependency_descriptor: None,
        },
    );
    let mut s = sub((1, 0), 0xAAAA);
    s.sub_index = 3;
    room.set_subscriber(10, vec![s.clone()]);
    room.set_subscriber(11, vec![s]);
    room.core.set_subscriber_extensions(
        room.now,
        11,
        ExtensionIds {
            mid: Some(1),
            audio_level: None,
            video_orientation: None,
            playout_delay: None,
            dependency_descriptor: None,
        },
    );
    let mut b = vec![0x90, 0x80 | VP8_PT, 0, 1, 0, 0, 0, 9, 0, 0, 0x12, 0x34];
    b.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x03]);
    b.extend_from_slice(&[0x90, b'0', 0x70, 0x03, 0x51, 0x00, 0x2A, 0x32, 1, 2, 3, 0]);
    let payload = [0x90, 0xE0, 0x80, 0x05, 0x07, 0x00, 0x00, 0xDE, 0xAD];
    b.extend_from_slice(&payload);
    let outs = room.packet(1, 0, 0, Bytes::from(b));
    let p10 = &rtp_to(&outs, 10)[0];
    let v = RtpView::try_parse(p10).expect("rtp");
    let exts: Vec<(u8, Vec<u8>)> = v.extensions().map(|e| (e.id, e.value.to_vec())).collect();
    // Janus's subscriber IDs: mid 4 (the m-line's own mid), video orientation 13.
    assert_eq!(exts, vec![(4, b"3".to_vec()), (13, vec![0x03])]);
    assert_eq!(v.payload(), &payload[..]);
    let p11 = &rtp_to(&outs, 11)[0];
    let v = RtpView::try_parse(p11).expect("rtp");
    let exts: Vec<(u8, Vec<u8>)> = v.extensions().map(|e| (e.id, e.value.to_vec())).collect();
    assert_eq!(exts, vec![(1, b"3".to_vec())]);
    assert_eq!(v.payload(), &payload[..]);
    // Nothing to write: no extension block at all.
    room.core
        .set_subscriber_extensions(room.now, 11, ExtensionIds::default());
    let mut b = vec![0x80, VP8_PT, 0, 2, 0, 0, 0, 9, 0, 0, 0x12, 0x34];
    b.extend_from_slice(&[0x90, 0xE0, 0x80, 0x05, 0x07, 0x00, 0x01, 0xBE, 0xEF]);
    let outs = room.packet(1, 0, 0, Bytes::from(b));
    let p11 = &rtp_to(&outs, 11)[0];
    let v = RtpView::try_parse(p11).expect("rtp");
    assert!(!v.has_extension());
    assert_eq!(p11.len(), 12 + 9);
}

/// A VP8 keyframe packet (seq `seq`) with the given one-byte-form extension elements
/// (id, value).
fn keyframe_with_extensions(seq: u16, elements: &[(u8, &[u8])]) -> Bytes {
    let mut ext = Vec::new();
    for (id, v) in elements {
        ext.push((id << 4) | (v.len() as u8 - 1));
        ext.extend_from_slice(v);
    }
    while ext.len() % 4 != 0 {
        ext.push(0);
    }
    let x = if ext.is_empty() { 0x80 } else { 0x90 };
    let mut b = vec![x, VP8_PT, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x12, 0x34];
    b[2..4].copy_from_slice(&seq.to_be_bytes());
    if !ext.is_empty() {
        b.extend_from_slice(&[0xBE, 0xDE]);
        b.extend_from_slice(&((ext.len() / 4) as u16).to_be_bytes());
        b.extend_from_slice(&ext);
    }
    // VP8: X, S, picture id (15 bit), TL0PICIDX, TID; a keyframe (P = 0).
    b.extend_from_slice(&[0x90, 0xE0, 0x80, seq as u8, 0x07, 0x00, 0x00, 0xDE, 0xAD]);
    Bytes::from(b)
}

fn extensions_of(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let v = RtpView::try_parse(p).expect("rtp");
    v.extensions().map(|e| (e.id, e.value.to_vec())).collect()
}

#[test]
fn video_orientation_is_relayed_under_the_subscribers_id_with_the_same_value() {
    use media_core::forward::ExtensionIds;
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 1)]);
    // A phone's back camera rotated 270° (C=1, R=3), published under ID 7.
    room.core.set_publisher_extensions(
        room.now,
        1,
        ExtensionIds {
            video_orientation: Some(7),
            ..ExtensionIds::default()
        },
    );
    room.set_subscriber(10, vec![sub((1, 0), 0xAAAA)]);
    room.core.set_subscriber_extensions(
        room.now,
        10,
        ExtensionIds {
            video_orientation: Some(5),
            ..ExtensionIds::default()
        },
    );
    let outs = room.packet(1, 0, 0, keyframe_with_extensions(1, &[(7, &[0x0B])]));
    let got = rtp_to(&outs, 10);
    assert_eq!(got.len(), 1);
    assert_eq!(extensions_of(&got[0]), vec![(5, vec![0x0B])]);
    let cvo = media_core::rtp::ext::video_orientation(&[0x0B]).expect("cvo");
    assert!(cvo.back_camera && cvo.rotation == 270);
    // A retransmission carries it too.
    let outs = room.subscriber_rtcp(10, &nack(0xAAAA, &[seqs_first(&got)]));
    let again = rtp_to(&outs, 10);
    assert_eq!(again.len(), 1);
    assert_eq!(extensions_of(&again[0]), vec![(5, vec![0x0B])]);
}

#[test]
fn playout_delay_is_the_subscribers_when_configured_and_the_publishers_otherwise() {
    use media_core::forward::ExtensionIds;
    use media_core::rtp::ext::{playout_delay, PlayoutDelay};
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 1)]);
    room.core.set_publisher_extensions(
        room.now,
        1,
        ExtensionIds {
            playout_delay: Some(6),
            ..ExtensionIds::default()
        },
    );
    // Subscriber 10 relays the publisher's value; 11 configured min_delay 0, max_delay 50
    // (10 ms units) and 12 a value above the 12-bit range. Both under Janus's ID 12.
    let pd_only = ExtensionIds {
        playout_delay: Some(12),
        ..ExtensionIds::default()
    };
    let configured = |ssrc, min, max| {
        let mut s = sub((1, 0), ssrc);
        s.playout_delay = Some(PlayoutDelay { min, max });
        s
    };
    room.set_subscriber(10, vec![sub((1, 0), 0xA10)]);
    room.set_subscriber(11, vec![configured(0xA11, 0, 50)]);
    room.set_subscriber(12, vec![configured(0xA12, 20, 9000)]);
    for id in [10, 11, 12] {
        room.core.set_subscriber_extensions(room.now, id, pd_only);
    }
    // The publisher asks for 100 ms .. 1 s.
    let published = [0x00, 0xA0, 0x64];
    let read = |p: &[u8]| -> Vec<(u8, Option<PlayoutDelay>)> {
        extensions_of(p)
            .into_iter()
            .map(|(id, v)| (id, playout_delay(&v)))
            .collect()
    };
    let pd = |min, max| Some(PlayoutDelay { min, max });
    let outs = room.packet(1, 0, 0, keyframe_with_extensions(1, &[(6, &published)]));
    assert_eq!(read(&rtp_to(&outs, 10)[0]), vec![(12, pd(10, 100))]);
    assert_eq!(read(&rtp_to(&outs, 11)[0]), vec![(12, pd(0, 50))]);
    assert_eq!(read(&rtp_to(&outs, 12)[0]), vec![(12, pd(20, 4095))]);
    // The publisher stops sending it: only the configured subscribers still get one.
    let outs = room.packet(1, 0, 0, keyframe_with_extensions(2, &[]));
    let to10 = rtp_to(&outs, 10);
    assert!(!RtpView::try_parse(&to10[0]).expect("rtp").has_extension());
    let to11 = rtp_to(&outs, 11);
    assert_eq!(read(&to11[0]), vec![(12, pd(0, 50))]);
    // Retransmissions say the same.
    let outs = room.subscriber_rtcp(11, &nack(0xA11, &[seqs_first(&to11)]));
    assert_eq!(read(&rtp_to(&outs, 11)[0]), vec![(12, pd(0, 50))]);
    // Dropping the setting goes back to relaying the publisher's value.
    room.set_subscriber(11, vec![sub((1, 0), 0xA11)]);
    let outs = room.packet(1, 0, 0, keyframe_with_extensions(3, &[(6, &published)]));
    assert_eq!(read(&rtp_to(&outs, 11)[0]), vec![(12, pd(10, 100))]);
}

#[test]
fn a_subscriber_flooding_nacks_gets_a_bounded_number_of_retransmissions() {
    use media_core::forward::room::{RETRANSMISSIONS_PER_SECOND, RETRANSMISSION_BURST};
    let (mut room, mut sim, mut rx) = simulcast_room(2, 2);
    let mut recent = Vec::new();
    for _ in 0..100 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, 10);
        recent.extend(
            rtp_to(&outs, 10)
                .iter()
                .map(|p| RtpView::try_parse(p).expect("rtp").sequence_number()),
        );
    }
    // The last half second: all still cached.
    let flood = nack(0xAAAA, &recent[recent.len() - 45..]);
    let mut sent = 0;
    for _ in 0..20 {
        sent += rtp_to(&room.subscriber_rtcp(10, &flood), 10).len();
    }
    assert_eq!(sent, RETRANSMISSION_BURST as usize);
    room.advance(Duration::from_millis(100));
    let mut more = 0;
    for _ in 0..20 {
        more += rtp_to(&room.subscriber_rtcp(10, &flood), 10).len();
    }
    assert_eq!(more, RETRANSMISSIONS_PER_SECOND as usize / 10);
}

#[test]
fn random_and_mutated_input_never_panics() {
    let (mut room, mut sim, _) = simulcast_room(2, 2);
    room.set_subscriber(11, vec![with_rtx(sub((1, 0), 0xBBBB), 0xBBB1)]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for i in 0..20_000u32 {
        room.now += Duration::from_millis(u64::from(rng.gen_range(0u8..3)));
        match i % 4 {
            0 => {
                // A real packet with a few bytes flipped.
                let frames = sim.frame(&[0, 1, 2]);
                for (l, p) in frames {
                    let mut b = p.to_vec();
                    for _ in 0..rng.gen_range(0..4) {
                        let k = rng.gen_range(0..b.len());
                        b[k] = rng.gen();
                    }
                    b.truncate(rng.gen_range(0..=b.len()));
                    room.packet(1, 0, l, Bytes::from(b));
                }
            }
            1 => {
                let len = rng.gen_range(0..80);
                let b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                room.packet(1, 0, rng.gen_range(0..4), Bytes::from(b));
            }
            2 => {
                let mut b = nack(0xAAAA, &[rng.gen(), rng.gen()]);
                b.extend(pli(0xBBBB));
                let k = rng.gen_range(0..b.len());
                b[k] = rng.gen();
                room.subscriber_rtcp(if rng.gen() { 10 } else { 11 }, &b);
            }
            _ => {
                let len = rng.gen_range(0..64);
                let b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                room.subscriber_rtcp(10, &b);
                room.core.handle_publisher_rtcp(room.now, 1, &b);
                room.drain();
                room.advance(Duration::from_millis(1));
            }
        }
    }
    // Still relaying afterwards.
    let mut got = 0;
    for _ in 0..30 {
        got += rtp_to(&step(&mut room, &mut sim, &[0, 1, 2], 0), 10).len();
    }
    assert!(got > 0);
}

/// VideoRoom `rtp_forward` with `simulcast: true` (Janus: a forwarder with its own simulcast
/// context aiming at substream 2, temporal layer 2): what reaches the forwarder's egress is
/// ONE stream — its own SSRC and PT, continuous sequence numbers, timestamps that never go
/// back, picture ids that continue — following the top layer, falling back when it stops
/// and climbing back only once the top layer sends a keyframe. No header extensions: the
/// receiver is plain RTP.
#[test]
fn a_viewer_forwarder_follows_the_top_layer_falls_back_and_switches_on_keyframes_only() {
    const FWD: SubscriberId = 1 << 63;
    let mut room = Room::new(config());
    room.add_publisher(1, vec![video_stream(0, 3)]);
    let mut sim = SimPub::new(1, 3, true);
    for _ in 0..30 {
        step(&mut room, &mut sim, &[0, 1, 2], 0);
    }
    room.core
        .set_forwarder(room.now, FWD, FWD, (1, 0), 0x5EED, SUB_PT);
    let outs = room.drain();
    sim.feedback(&outs);
    let mut rx = Receiver::new(0x5EED);
    for _ in 0..20 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, FWD);
    }
    assert_eq!(rx.sources, vec![(1, 2)], "the top layer first");
    assert!(rx.tids.contains(&2), "every temporal layer (target 2)");
    // The top layer stops: the forwarder falls back to the next one down.
    for _ in 0..30 {
        let outs = step(&mut room, &mut sim, &[0, 1], 0);
        rx.take(&outs, FWD);
    }
    assert_eq!(rx.sources, vec![(1, 2), (1, 1)]);
    // It comes back, but its keyframe is held back (PLIs unanswered): no switch yet, the
    // middle layer keeps flowing.
    let before = rx.packets.len();
    let mut asked = Vec::new();
    for _ in 0..10 {
        let mut outs = room.advance(FRAME);
        for (l, p) in sim.frame(&[0, 1, 2]) {
            outs.extend(room.packet(1, 0, l, p));
        }
        rx.take(&outs, FWD);
        asked.extend(outs);
    }
    assert_eq!(
        rx.sources,
        vec![(1, 2), (1, 1)],
        "no switch without a keyframe"
    );
    assert!(rx.packets.len() > before, "the fallback layer still flows");
    assert!(count(&asked, "pli") > 0, "a keyframe was asked for");
    // The keyframe comes: switch up, still one continuous stream.
    sim.feedback(&asked);
    for _ in 0..20 {
        let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
        rx.take(&outs, FWD);
    }
    assert_eq!(rx.sources, vec![(1, 2), (1, 1), (1, 2)]);
    assert!(rx
        .packets
        .values()
        .all(|p| !RtpView::try_parse(p).expect("rtp").has_extension()));
    // Removed like a subscriber: nothing more.
    room.core.remove_subscriber(room.now, FWD);
    let outs = step(&mut room, &mut sim, &[0, 1, 2], 0);
    assert!(rtp_to(&outs, FWD).is_empty());
}
