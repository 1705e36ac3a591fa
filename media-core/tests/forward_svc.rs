//! VP9 SVC through `RoomCore` on a virtual clock: a synthetic L3T3 publisher (one SSRC,
//! RFC 9628 non-flexible descriptors, libwebrtc's temporal pattern 0,2,1,2 with U on the
//! first TL2 and the TL1 picture, three spatial layers per picture, two packets per layer
//! frame, M on the picture's last packet) and subscribers asking for fewer layers. Checked
//! what a receiver needs: no sequence gaps, only the wanted layers, the marker bit on the
//! last relayed packet of every picture and nowhere else, climbs only at keyframes, a
//! keyframe requested when a climb is wanted, events for every change.

use std::time::{Duration, Instant};

use bytes::Bytes;
use media_core::engine::MediaKind;
use media_core::forward::{
    IncomingPacket, PublishedStream, RoomConfig, RoomCore, RouterEvent, RouterOutput, Subscription,
};
use media_core::rtcp;
use media_core::rtp::{vp9::Vp9Descriptor, RtpView};
use media_core::sdp::Codec;

mod common;
use common::svc::{check_continuity, drain, room_with_publisher, subscribe, Outs, SUB};

const VP9_PT: u8 = 98;
const SUB_PT: u8 = 100;
const SUB_SSRC: u32 = 0xB0B0;
const PUB_SSRC: u32 = 0x9999;
const FRAME: Duration = Duration::from_millis(33);
/// Temporal id and U bit per picture of the 4-picture pattern.
const PATTERN: [(u8, bool); 4] = [(0, false), (2, true), (1, true), (2, false)];
const PACKETS_PER_LAYER: usize = 2;

struct Svc {
    core: RoomCore<u64>,
    now: Instant,
    seq: u16,
    picture: u64,
    layers: u8,
    /// F=1: reference indices (one P_DIFF) instead of TL0PICIDX.
    flexible: bool,
}

impl Svc {
    fn new(spatial: u8, temporal: u8) -> Self {
        let now = Instant::now();
        let core = room_with_publisher(now, Codec::Vp9, VP9_PT);
        let mut s = Svc {
            core,
            now,
            seq: 1000,
            picture: 0,
            layers: 3,
            flexible: false,
        };
        s.subscribe(spatial, temporal);
        s.drain();
        s
    }

    fn subscribe(&mut self, spatial: u8, temporal: u8) -> Outs {
        subscribe(
            &mut self.core,
            self.now,
            (SUB_SSRC, SUB_PT),
            spatial,
            temporal,
        );
        self.drain()
    }

    fn drain(&mut self) -> Outs {
        drain(&mut self.core)
    }

    /// One VP9 packet: descriptor I=1 L=1, 15-bit picture id, TID/U/SID/D, then TL0PICIDX
    /// (F=0) or one P_DIFF when inter-picture predicted (F=1).
    #[allow(clippy::too_many_arguments)]
    fn packet(&mut self, sid: u8, tid: u8, u: bool, key: bool, b: bool, e: bool, m: bool) -> Bytes {
        let mut p = vec![0x80, if m { 0x80 } else { 0 } | VP9_PT];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&((self.picture as u32).wrapping_mul(3000)).to_be_bytes());
        p.extend_from_slice(&PUB_SSRC.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        let p_bit = !key;
        let b0 = 0x80
            | if p_bit { 0x40 } else { 0 }
            | 0x20
            | if b { 0x08 } else { 0 }
            | if e { 0x04 } else { 0 }
            | if self.flexible { 0x10 } else { 0 };
        let pid = 0x8000 | (self.picture as u16 & 0x7fff);
        p.push(b0);
        p.extend_from_slice(&pid.to_be_bytes());
        let d = u8::from(sid > 0);
        p.push((tid << 5) | if u { 0x10 } else { 0 } | (sid << 1) | d);
        if !self.flexible {
            p.push((self.picture / 4) as u8);
        } else if p_bit {
            // P_DIFF 1 (the previous picture), N=0.
            p.push(1 << 1);
        }
        // Payload: a tag naming the layer frame, then filler.
        p.extend_from_slice(&[0xEE, sid, tid, self.picture as u8]);
        p.resize(200, 0x55);
        Bytes::from(p)
    }

    /// Sends one whole picture (every spatial layer the publisher sends); returns what the
    /// subscriber got.
    fn picture(&mut self, key: bool) -> Outs {
        let (tid, u) = if key {
            (0, false)
        } else {
            PATTERN[(self.picture % 4) as usize]
        };
        let mut outs = Outs::default();
        for sid in 0..self.layers {
            for k in 0..PACKETS_PER_LAYER {
                let b = k == 0;
                let e = k + 1 == PACKETS_PER_LAYER;
                let m = e && sid + 1 == self.layers;
                let pkt = self.packet(sid, tid, u, key, b, e, m);
                self.core.handle_packet(
                    self.now,
                    IncomingPacket {
                        publisher: 1,
                        index: 0,
                        layer: 0,
                        packet: pkt,
                    },
                );
                let o = self.drain();
                outs.rtp.extend(o.rtp);
                outs.rtx.extend(o.rtx);
                outs.plis += o.plis;
                outs.events.extend(o.events);
            }
        }
        self.picture += 1;
        self.now += FRAME;
        outs
    }

    fn run(&mut self, pictures: usize, first_key: bool) -> Outs {
        let mut all = Outs::default();
        for i in 0..pictures {
            let o = self.picture(first_key && i == 0);
            all.rtp.extend(o.rtp);
            all.rtx.extend(o.rtx);
            all.plis += o.plis;
            all.events.extend(o.events);
        }
        all
    }
}

/// What a relayed packet says: (spatial, temporal, picture tag, marker, outgoing seq).
fn facts(p: &[u8]) -> (u8, u8, u8, bool, u16) {
    let v = RtpView::try_parse(p).expect("rtp");
    assert_eq!(v.ssrc(), SUB_SSRC);
    assert_eq!(v.payload_type(), SUB_PT);
    let pl = v.payload();
    let d = Vp9Descriptor::parse(pl).expect("vp9 descriptor survives the rewrite");
    let tag = &pl[d.len..d.len + 4];
    assert_eq!(tag[0], 0xEE);
    assert_eq!(Some(tag[1]), d.sid);
    assert_eq!(Some(tag[2]), d.tid);
    (tag[1], tag[2], tag[3], v.marker(), v.sequence_number())
}

/// Receiver-side checks: continuous sequence numbers, and per picture exactly one marker,
/// on its last relayed packet, which ends the highest relayed spatial layer frame.
fn check_stream(rtp: &[Vec<u8>]) {
    let f: Vec<_> = rtp.iter().map(|p| facts(p)).collect();
    check_continuity(&f);
}

fn layers_of(rtp: &[Vec<u8>]) -> (u8, u8) {
    rtp.iter()
        .map(|p| facts(p))
        .fold((0, 0), |(s, t), x| (s.max(x.0), t.max(x.1)))
}

#[test]
fn spatial_target_drops_upper_layers_and_marks_the_relayed_picture_end() {
    let mut s = Svc::new(1, 2);
    let o = s.run(12, true);
    check_stream(&o.rtp);
    assert!(o.rtp.iter().all(|p| facts(p).0 <= 1), "no spatial layer 2");
    // Layers 0 and 1 of all 12 pictures, two packets each.
    assert_eq!(o.rtp.len(), 12 * 2 * PACKETS_PER_LAYER);
    assert_eq!(layers_of(&o.rtp), (1, 2));
    assert!(o.events.contains(&RouterEvent::SpatialLayer {
        subscriber: SUB,
        sub_index: 0,
        spatial: 1
    }));
    assert!(o.events.contains(&RouterEvent::TemporalLayer {
        subscriber: SUB,
        sub_index: 0,
        temporal: 2
    }));
    // Nothing asks for a keyframe: the subscriber has all it wants.
    assert_eq!(o.plis, 0);
}

#[test]
fn full_target_relays_everything_with_the_publishers_markers() {
    let mut s = Svc::new(2, 2);
    let o = s.run(8, true);
    check_stream(&o.rtp);
    assert_eq!(o.rtp.len(), 8 * 3 * PACKETS_PER_LAYER);
}

#[test]
fn temporal_target_drops_whole_pictures_without_gaps() {
    let mut s = Svc::new(2, 0);
    let o = s.run(12, true);
    check_stream(&o.rtp);
    assert!(o.rtp.iter().all(|p| facts(p).1 == 0));
    // Pictures 0, 4, 8: the TL0 ones.
    let pictures: std::collections::BTreeSet<u8> = o.rtp.iter().map(|p| facts(p).2).collect();
    assert_eq!(pictures.into_iter().collect::<Vec<_>>(), vec![0, 4, 8]);
    let mut s = Svc::new(0, 1);
    let o = s.run(12, true);
    check_stream(&o.rtp);
    assert_eq!(layers_of(&o.rtp), (0, 1));
    // TL0 and TL1 pictures of spatial layer 0: 6 of 12.
    assert_eq!(o.rtp.len(), 6 * PACKETS_PER_LAYER);
}

#[test]
fn spatial_up_waits_for_a_keyframe_and_asks_for_one() {
    let mut s = Svc::new(0, 2);
    let o = s.run(4, true);
    assert_eq!(layers_of(&o.rtp).0, 0);
    let mut all = o.rtp;
    // Ask for everything: upper layers keep being dropped until a keyframe, and one is
    // requested from the publisher.
    s.subscribe(2, 2);
    let o = s.run(3, false);
    assert!(o.rtp.iter().all(|p| facts(p).0 == 0));
    assert!(o.plis >= 1, "a keyframe is requested");
    all.extend(o.rtp);
    let o = s.picture(true);
    assert!(o.events.contains(&RouterEvent::SpatialLayer {
        subscriber: SUB,
        sub_index: 0,
        spatial: 2
    }));
    // The whole key picture, every layer.
    assert_eq!(o.rtp.len(), 3 * PACKETS_PER_LAYER);
    all.extend(o.rtp);
    let o = s.run(4, false);
    assert_eq!(layers_of(&o.rtp).0, 2);
    all.extend(o.rtp);
    check_stream(&all);
}

#[test]
fn spatial_down_takes_effect_at_the_next_picture() {
    let mut s = Svc::new(2, 2);
    let mut all = s.run(2, true).rtp;
    // Lowered in the middle of a picture: that picture completes at the old layers (its
    // marker stays where the publisher put it), the next one stops at layer 0.
    let (tid, u) = PATTERN[(s.picture % 4) as usize];
    for sid in 0..3u8 {
        for k in 0..PACKETS_PER_LAYER {
            if sid == 1 && k == 0 {
                let o = s.subscribe(0, 2);
                assert!(o.rtp.is_empty());
            }
            let e = k + 1 == PACKETS_PER_LAYER;
            let p = s.packet(sid, tid, u, false, k == 0, e, e && sid == 2);
            s.core.handle_packet(
                s.now,
                IncomingPacket {
                    publisher: 1,
                    index: 0,
                    layer: 0,
                    packet: p,
                },
            );
            all.extend(s.drain().rtp);
        }
    }
    s.picture += 1;
    s.now += FRAME;
    assert_eq!(all.len(), 3 * 3 * PACKETS_PER_LAYER);
    let o = s.run(4, false);
    assert!(o.rtp.iter().all(|p| facts(p).0 == 0));
    assert!(o.events.contains(&RouterEvent::SpatialLayer {
        subscriber: SUB,
        sub_index: 0,
        spatial: 0
    }));
    all.extend(o.rtp);
    check_stream(&all);
}

#[test]
fn temporal_up_enters_at_a_switching_up_point() {
    let mut s = Svc::new(0, 0);
    // Pictures 0..3 (key first): only picture 0 (TL0) relayed.
    let mut all = s.run(4, true).rtp;
    assert_eq!(all.len(), PACKETS_PER_LAYER);
    s.subscribe(0, 2);
    // Picture 4 (TL0, U=0) relayed; picture 5 (TL2, U=1) is a switching-up point: from it on
    // everything flows.
    let o = s.run(4, false);
    let pictures: Vec<u8> = o.rtp.iter().map(|p| facts(p).2).collect();
    assert_eq!(pictures, vec![4, 4, 5, 5, 6, 6, 7, 7]);
    assert!(o.events.contains(&RouterEvent::TemporalLayer {
        subscriber: SUB,
        sub_index: 0,
        temporal: 2
    }));
    all.extend(o.rtp);
    check_stream(&all);

    // Starting from TL0 with target 1, the TL2 picture 9 is skipped and TL1 picture 10
    // (U=1) is the entry.
    let mut s = Svc::new(0, 0);
    s.run(8, true);
    s.subscribe(0, 1);
    let o = s.run(4, false);
    let pictures: Vec<u8> = o.rtp.iter().map(|p| facts(p).2).collect();
    assert_eq!(pictures, vec![8, 8, 10, 10]);
}

#[test]
fn a_retransmitted_end_of_picture_keeps_its_marker() {
    let mut s = Svc::new(0, 2);
    let o = s.run(3, true);
    check_stream(&o.rtp);
    // The last relayed packet of picture 2 got M=1 from the forwarder (the publisher's is on
    // layer 2, dropped here).
    let last = o.rtp.last().expect("relayed");
    let (sid, _, pic, marker, seq) = facts(last);
    assert_eq!((sid, pic, marker), (0, 2, true));
    let mut nack = Vec::new();
    rtcp::build_nack(&mut nack, 0x5151, SUB_SSRC, &[seq]);
    s.core.handle_subscriber_rtcp(s.now, SUB, &nack);
    let o = s.drain();
    assert_eq!(o.rtx.len(), 1);
    assert_eq!(
        o.rtx[0], *last,
        "the retransmission is the packet as first relayed"
    );
}

#[test]
fn a_publisher_without_upper_layers_keeps_its_own_markers() {
    // The publisher sends spatial layers 0 and 1 only (bandwidth): a subscriber asking for 2
    // gets both with the publisher's marker on layer 1, and no keyframe storm.
    let mut s = Svc::new(2, 2);
    s.layers = 2;
    let o = s.run(8, true);
    check_stream(&o.rtp);
    assert_eq!(o.rtp.len(), 8 * 2 * PACKETS_PER_LAYER);
    assert_eq!(o.plis, 0);
}

#[test]
fn flexible_mode_is_filtered_the_same_way() {
    let mut s = Svc::new(1, 1);
    s.flexible = true;
    let o = s.run(12, true);
    check_stream(&o.rtp);
    assert_eq!(layers_of(&o.rtp), (1, 1));
    // Spatial layers 0-1 of the TL0 and TL1 pictures (6 of 12).
    assert_eq!(o.rtp.len(), 6 * 2 * PACKETS_PER_LAYER);
    assert!(o.rtp.iter().all(|p| {
        let v = RtpView::try_parse(p).expect("rtp");
        let d = Vp9Descriptor::parse(v.payload()).expect("vp9");
        d.flexible && d.tl0picidx.is_none()
    }));
}

/// VP9 simulcast (one SSRC per layer, each L1T3): the substream is chosen as for VP8 and
/// temporal layers above the target are dropped, entering higher ones at U pictures.
#[test]
fn vp9_simulcast_layers_get_temporal_dropping_too() {
    let mut core: RoomCore<u64> = RoomCore::new(RoomConfig {
        bitrate: 0,
        fir_freq: 0,
        nack_queue_ms: 1000,
        audio_active_packets: 0,
        audio_level_average: 25,
    });
    let mut now = Instant::now();
    core.add_publisher(
        now,
        1,
        1,
        vec![PublishedStream {
            index: 0,
            mid: "0".into(),
            kind: MediaKind::Video,
            codec: Codec::Vp9,
            pt: VP9_PT,
            clock_rate: 90_000,
            layers: 2,
            audio_level_ext: None,
        }],
    );
    let subscribe = |core: &mut RoomCore<u64>, now: Instant, temporal: u8| {
        core.set_subscriber(
            now,
            SUB,
            SUB,
            vec![Subscription {
                sub_index: 0,
                source: Some((1, 0)),
                ssrc: SUB_SSRC,
                rtx_ssrc: None,
                pt: SUB_PT,
                rtx_pt: None,
                send: true,
                substream_target: 1,
                temporal_target: temporal,
                fallback_us: 0,
                playout_delay: None,
            }],
        );
    };
    subscribe(&mut core, now, 0);
    let mut relayed = Vec::new();
    let mut events = Vec::new();
    for picture in 0..12u16 {
        let key = picture == 0;
        let (tid, u) = if key {
            (0, false)
        } else {
            PATTERN[usize::from(picture % 4)]
        };
        if picture == 8 {
            subscribe(&mut core, now, 2);
        }
        for layer in 0..2u8 {
            // One packet per picture and layer: B=E=1, M=1.
            let mut p = vec![0x80, 0x80 | VP9_PT];
            p.extend_from_slice(&(100 * u16::from(layer) + picture).to_be_bytes());
            p.extend_from_slice(&(u32::from(picture) * 3000).to_be_bytes());
            p.extend_from_slice(&(0x7700 + u32::from(layer)).to_be_bytes());
            p.push(0x80 | if key { 0 } else { 0x40 } | 0x20 | 0x08 | 0x04);
            p.extend_from_slice(&(0x8000 | picture).to_be_bytes());
            p.push((tid << 5) | if u { 0x10 } else { 0 });
            p.push((picture / 4) as u8);
            p.extend_from_slice(&[0xEE, layer, tid, picture as u8]);
            p.resize(120, 0);
            core.handle_packet(
                now,
                IncomingPacket {
                    publisher: 1,
                    index: 0,
                    layer,
                    packet: Bytes::from(p),
                },
            );
            while let Some(o) = core.poll_output() {
                match o {
                    RouterOutput::Rtp { packet, .. } => relayed.push(packet.to_vec()),
                    RouterOutput::Event(e) => events.push(e),
                    _ => {}
                }
            }
        }
        now += FRAME;
    }
    let seen: Vec<(u8, u8, u8)> = relayed
        .iter()
        .map(|p| {
            let v = RtpView::try_parse(p).expect("rtp");
            let pl = v.payload();
            let d = Vp9Descriptor::parse(pl).expect("vp9");
            (pl[d.len + 1], pl[d.len + 2], pl[d.len + 3])
        })
        .collect();
    // Layer 0's keyframe first (layer 1 not heard from yet), layer 1 from its keyframe on;
    // TL0 pictures 0 and 4 until the target rises at picture 8 (TL0), then the TL2 picture
    // 9 (U=1) opens everything.
    assert_eq!(
        seen,
        vec![
            (0, 0, 0),
            (1, 0, 0),
            (1, 0, 4),
            (1, 0, 8),
            (1, 2, 9),
            (1, 1, 10),
            (1, 2, 11)
        ]
    );
    for w in relayed.windows(2) {
        let a = RtpView::try_parse(&w[0]).expect("rtp").sequence_number();
        let b = RtpView::try_parse(&w[1]).expect("rtp").sequence_number();
        assert_eq!(b, a.wrapping_add(1), "no sequence gap");
    }
    assert!(events.contains(&RouterEvent::Temporal {
        subscriber: SUB,
        sub_index: 0,
        temporal: 2
    }));
}
