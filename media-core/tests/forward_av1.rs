//! AV1 SVC through `RoomCore` on a virtual clock: a synthetic L3T3 publisher (one SSRC, the
//! dependency descriptor in a two-byte header extension, one template per spatial/temporal
//! layer, decode target 3S+T, temporal pattern 0,2,1,2, T0 frames switch points of every
//! decode target, two packets per layer frame, M on the picture's last packet, the structure
//! on the key picture's first packet) and subscribers asking for fewer layers. Checked what a
//! receiver needs: exactly the wanted layer frames, no sequence gaps, the marker on the last
//! relayed packet of every picture, the descriptor relayed under the subscriber's ID (and
//! parseable from the relayed packets alone), climbs only where the descriptor allows them,
//! a keyframe requested when a spatial climb is wanted, events for every change.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media_core::engine::MediaKind;
use media_core::forward::{
    ExtensionIds, IncomingPacket, PublishedStream, RoomConfig, RoomCore, RouterEvent, RouterOutput,
    Subscription, SUBSCRIBER_DD_EXT_ID,
};
use media_core::rtcp::{self, CompoundIter, Rtcp};
use media_core::rtp::dd::DdReader;
use media_core::rtp::RtpView;
use media_core::sdp::Codec;

const AV1_PT: u8 = 45;
const SUB_PT: u8 = 45;
const SUB_SSRC: u32 = 0xA1A1;
const PUB_SSRC: u32 = 0x5151;
const PUB_DD_ID: u8 = 7;
const SUB: u64 = 10;
const FRAME: Duration = Duration::from_millis(33);
const TEMPORAL_PATTERN: [u8; 4] = [0, 2, 1, 2];
const PACKETS_PER_LAYER: usize = 2;

/// MSB-first bit writer for the descriptors.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    n: usize,
}

impl Bits {
    fn f(&mut self, width: u32, v: u32) -> &mut Self {
        for i in (0..width).rev() {
            if self.n.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let last = self.bytes.len() - 1;
            self.bytes[last] |= (((v >> i) & 1) as u8) << (7 - self.n % 8);
            self.n += 1;
        }
        self
    }
}

/// DTIs of the template of (s, t) for decode target (ds, dt): not present below the
/// template's layers; T0 frames are switch points; otherwise discardable at the template's
/// own temporal layer and required above it.
fn dti(s: u8, t: u8, ds: u8, dt: u8) -> u32 {
    if ds < s || dt < t {
        0
    } else if t == 0 {
        2
    } else if dt == t {
        1
    } else {
        3
    }
}

/// The descriptor of one packet: template 3S+T; the L3T3 structure when `structure`.
fn descriptor(sof: bool, eof: bool, s: u8, t: u8, frame: u16, structure: bool) -> Vec<u8> {
    let mut b = Bits::default();
    b.f(1, sof.into())
        .f(1, eof.into())
        .f(6, u32::from(3 * s + t))
        .f(16, frame.into());
    if structure {
        b.f(5, 0b10000); // structure present, nothing custom
        b.f(6, 0).f(5, 8); // template id offset 0, 9 decode targets
        for i in 0..9u8 {
            // next_layer_idc: next temporal, new spatial, or end.
            b.f(
                2,
                if i == 8 {
                    3
                } else if i % 3 == 2 {
                    2
                } else {
                    1
                },
            );
        }
        for i in 0..9u8 {
            for d in 0..9u8 {
                b.f(2, dti(i / 3, i % 3, d / 3, d % 3));
            }
        }
        for i in 0..9u8 {
            // fdiffs: the previous frame of the same spatial layer, and the lower spatial
            // layer of the same picture.
            b.f(1, 1).f(4, 0);
            if i >= 3 {
                b.f(1, 1).f(4, 0);
            }
            b.f(1, 0);
        }
        b.f(1, 0); // ns(10) = 0: no chains
        b.f(1, 1); // resolutions
        for s in 0..3u32 {
            b.f(16, (320 << s) - 1).f(16, (180 << s) - 1);
        }
    }
    b.bytes
}

#[derive(Default)]
struct Outs {
    rtp: Vec<Vec<u8>>,
    rtx: Vec<Vec<u8>>,
    plis: usize,
    events: Vec<RouterEvent>,
}

impl Outs {
    fn extend(&mut self, o: Outs) {
        self.rtp.extend(o.rtp);
        self.rtx.extend(o.rtx);
        self.plis += o.plis;
        self.events.extend(o.events);
    }
}

struct Av1 {
    core: RoomCore<u64>,
    now: Instant,
    seq: u16,
    picture: u64,
    frame_number: u16,
}

impl Av1 {
    fn new(spatial: u8, temporal: u8) -> Self {
        let mut core = RoomCore::new(RoomConfig {
            bitrate: 0,
            fir_freq: 0,
            nack_queue_ms: 1000,
            audio_active_packets: 0,
            audio_level_average: 25,
        });
        let now = Instant::now();
        core.set_publisher_extensions(
            now,
            1,
            ExtensionIds {
                dependency_descriptor: Some(PUB_DD_ID),
                ..ExtensionIds::default()
            },
        );
        core.add_publisher(
            now,
            1,
            1,
            vec![PublishedStream {
                index: 0,
                mid: "0".into(),
                kind: MediaKind::Video,
                codec: Codec::Av1,
                pt: AV1_PT,
                clock_rate: 90_000,
                layers: 1,
                audio_level_ext: None,
            }],
        );
        let mut a = Av1 {
            core,
            now,
            seq: 3000,
            picture: 0,
            frame_number: 100,
        };
        a.subscribe(spatial, temporal);
        a
    }

    fn subscribe(&mut self, spatial: u8, temporal: u8) -> Outs {
        self.core.set_subscriber(
            self.now,
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
                substream_target: spatial,
                temporal_target: temporal,
                fallback_us: 0,
                playout_delay: None,
            }],
        );
        self.drain()
    }

    fn drain(&mut self) -> Outs {
        let mut o = Outs::default();
        while let Some(out) = self.core.poll_output() {
            match out {
                RouterOutput::Rtp {
                    packet,
                    retransmission,
                    ..
                } => {
                    if retransmission {
                        o.rtx.push(packet.to_vec());
                    } else {
                        o.rtp.push(packet.to_vec());
                    }
                }
                RouterOutput::PublisherRtcp { packet, .. } => {
                    for p in CompoundIter::new(packet) {
                        if let Ok(Rtcp::Pli(_)) = p.expect("valid rtcp").parse() {
                            o.plis += 1;
                        }
                    }
                }
                RouterOutput::SubscriberRtcp { .. } => {}
                RouterOutput::Event(e) => o.events.push(e),
            }
        }
        o
    }

    /// One packet: RTP header, two-byte extension block with the descriptor, AV1
    /// aggregation header (N=1 on a key picture's first packet), a tag naming the frame.
    #[allow(clippy::too_many_arguments)]
    fn packet(&mut self, s: u8, t: u8, key: bool, sof: bool, eof: bool, m: bool) -> Bytes {
        let dd = descriptor(sof, eof, s, t, self.frame_number, key && s == 0 && sof);
        self.packet_with(&dd, s, t, key, sof, m)
    }

    fn packet_with(&mut self, dd: &[u8], s: u8, t: u8, key: bool, sof: bool, m: bool) -> Bytes {
        let mut p = vec![0x90, if m { 0x80 } else { 0 } | AV1_PT];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&((self.picture as u32).wrapping_mul(3000)).to_be_bytes());
        p.extend_from_slice(&PUB_SSRC.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        let mut ext = vec![PUB_DD_ID, dd.len() as u8];
        ext.extend_from_slice(dd);
        while !ext.len().is_multiple_of(4) {
            ext.push(0);
        }
        p.extend_from_slice(&[0x10, 0x00]);
        p.extend_from_slice(&((ext.len() / 4) as u16).to_be_bytes());
        p.extend_from_slice(&ext);
        p.push(if key && s == 0 && sof { 0x08 } else { 0 } | if sof { 0 } else { 0x80 });
        p.extend_from_slice(&[0xEE, s, t, self.picture as u8]);
        p.resize(p.len() + 150, 0x55);
        Bytes::from(p)
    }

    fn picture(&mut self, key: bool) -> Outs {
        let t = if key {
            0
        } else {
            TEMPORAL_PATTERN[(self.picture % 4) as usize]
        };
        let mut outs = Outs::default();
        for s in 0..3u8 {
            for k in 0..PACKETS_PER_LAYER {
                let eof = k + 1 == PACKETS_PER_LAYER;
                let pkt = self.packet(s, t, key, k == 0, eof, eof && s == 2);
                self.core.handle_packet(
                    self.now,
                    IncomingPacket {
                        publisher: 1,
                        index: 0,
                        layer: 0,
                        packet: pkt,
                    },
                );
                outs.extend(self.drain());
            }
            self.frame_number = self.frame_number.wrapping_add(1);
        }
        self.picture += 1;
        self.now += FRAME;
        outs
    }

    fn send(&mut self, pkt: Bytes) -> Outs {
        self.core.handle_packet(
            self.now,
            IncomingPacket {
                publisher: 1,
                index: 0,
                layer: 0,
                packet: pkt,
            },
        );
        self.drain()
    }

    fn run(&mut self, pictures: usize, first_key: bool) -> Outs {
        let mut all = Outs::default();
        for i in 0..pictures {
            all.extend(self.picture(first_key && i == 0));
        }
        all
    }
}

/// What a relayed packet says: (spatial, temporal, picture tag, marker, outgoing seq).
fn facts(p: &[u8]) -> (u8, u8, u8, bool, u16) {
    let v = RtpView::try_parse(p).expect("rtp");
    assert_eq!((v.ssrc(), v.payload_type()), (SUB_SSRC, SUB_PT));
    let tag = &v.payload()[1..5];
    assert_eq!(tag[0], 0xEE);
    (tag[1], tag[2], tag[3], v.marker(), v.sequence_number())
}

/// Receiver-side checks: continuous sequence numbers; exactly one marker per picture, on
/// its last relayed packet; the descriptor present under the subscriber's ID on every
/// packet, parseable in order by a reader that only sees the relayed stream, and naming the
/// frame's layers.
fn check_stream(rtp: &[Vec<u8>]) {
    let f: Vec<_> = rtp.iter().map(|p| facts(p)).collect();
    for w in f.windows(2) {
        assert_eq!(w[1].4, w[0].4.wrapping_add(1), "no sequence gap");
    }
    for (i, x) in f.iter().enumerate() {
        let last_of_picture = f.get(i + 1).is_none_or(|n| n.2 != x.2);
        assert_eq!(x.3, last_of_picture, "marker on {x:?}");
    }
    let mut reader = DdReader::new();
    for (p, x) in rtp.iter().zip(&f) {
        let v = RtpView::try_parse(p).expect("rtp");
        let dd = v
            .extension(SUBSCRIBER_DD_EXT_ID)
            .expect("descriptor relayed");
        let d = reader.parse(dd).expect("descriptor parses downstream");
        assert_eq!((d.spatial_id, d.temporal_id), (x.0, x.1));
        // The structure needs the two-byte form; other packets fit the one-byte form.
        let profile = v.extension_profile().expect("extension block");
        if dd.len() > 16 {
            assert_eq!(profile, 0x1000);
        } else {
            assert_eq!(profile, 0xBEDE);
        }
    }
}

/// (picture, spatial, temporal) of every relayed layer frame.
fn frames(rtp: &[Vec<u8>]) -> BTreeSet<(u8, u8, u8)> {
    rtp.iter()
        .map(|p| {
            let f = facts(p);
            (f.2, f.0, f.1)
        })
        .collect()
}

#[test]
fn every_spatial_and_temporal_target_gets_exactly_its_layers() {
    for s in 0..3u8 {
        for t in 0..3u8 {
            let mut a = Av1::new(s, t);
            let o = a.run(12, true);
            check_stream(&o.rtp);
            let want: BTreeSet<(u8, u8, u8)> = (0..12u8)
                .flat_map(|pic| {
                    let tid = if pic == 0 {
                        0
                    } else {
                        TEMPORAL_PATTERN[usize::from(pic % 4)]
                    };
                    (0..=s).map(move |sid| (pic, sid, tid))
                })
                .filter(|f| f.2 <= t)
                .collect();
            assert_eq!(frames(&o.rtp), want, "target S{s}T{t}");
            assert_eq!(o.rtp.len(), want.len() * PACKETS_PER_LAYER);
            assert!(o.events.contains(&RouterEvent::SpatialLayer {
                subscriber: SUB,
                sub_index: 0,
                spatial: s
            }));
            assert!(o.events.contains(&RouterEvent::TemporalLayer {
                subscriber: SUB,
                sub_index: 0,
                temporal: t
            }));
            assert_eq!(o.plis, 0, "S{s}T{t} has all it wants");
            // The first relayed packet carries the structure, in the two-byte form.
            let first = RtpView::try_parse(&o.rtp[0]).expect("rtp");
            assert_eq!(first.extension_profile(), Some(0x1000));
        }
    }
}

#[test]
fn spatial_up_waits_for_a_keyframe_and_asks_for_one() {
    let mut a = Av1::new(0, 2);
    let mut all = a.run(4, true).rtp;
    assert!(frames(&all).iter().all(|f| f.1 == 0));
    let o = a.subscribe(2, 2);
    assert!(o.rtp.is_empty());
    let o = a.run(3, false);
    assert!(
        frames(&o.rtp).iter().all(|f| f.1 == 0),
        "no climb before a key"
    );
    assert!(o.plis >= 1, "a keyframe is requested");
    all.extend(o.rtp);
    let o = a.picture(true);
    assert!(o.events.contains(&RouterEvent::SpatialLayer {
        subscriber: SUB,
        sub_index: 0,
        spatial: 2
    }));
    assert_eq!(o.rtp.len(), 3 * PACKETS_PER_LAYER, "the whole key picture");
    all.extend(o.rtp);
    let o = a.run(4, false);
    assert_eq!(o.rtp.len(), 4 * 3 * PACKETS_PER_LAYER);
    all.extend(o.rtp);
    check_stream(&all);
}

#[test]
fn spatial_down_takes_effect_at_the_next_picture() {
    let mut a = Av1::new(2, 2);
    let mut all = a.run(3, true).rtp;
    a.subscribe(1, 2);
    let o = a.run(4, false);
    assert!(frames(&o.rtp).iter().all(|f| f.1 <= 1));
    assert_eq!(o.rtp.len(), 4 * 2 * PACKETS_PER_LAYER);
    assert_eq!(o.plis, 0);
    all.extend(o.rtp);
    check_stream(&all);
}

#[test]
fn temporal_up_waits_for_a_switch_point() {
    let mut a = Av1::new(1, 0);
    // Pictures 0..4 (T0 at 0 and 4): the target rises after picture 4, so pictures 5-7
    // (T2, T1, T2) wait for the next switch point, the T0 picture 8.
    let mut all = a.run(5, true).rtp;
    assert_eq!(
        frames(&all).iter().map(|f| f.0).collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 4])
    );
    a.subscribe(1, 2);
    let o = a.run(7, false);
    let pictures: Vec<u8> = frames(&o.rtp).iter().map(|f| f.0).collect();
    assert_eq!(
        pictures,
        vec![8, 8, 9, 9, 10, 10, 11, 11],
        "two spatial layers each"
    );
    assert!(o.events.contains(&RouterEvent::TemporalLayer {
        subscriber: SUB,
        sub_index: 0,
        temporal: 2
    }));
    assert_eq!(o.plis, 0, "a temporal climb needs no keyframe");
    all.extend(o.rtp);
    check_stream(&all);
}

#[test]
fn a_retransmission_keeps_the_descriptor_and_the_moved_marker() {
    let mut a = Av1::new(0, 2);
    let o = a.run(3, true);
    check_stream(&o.rtp);
    let first = o.rtp.first().expect("relayed");
    let last = o.rtp.last().expect("relayed");
    let (sid, _, pic, marker, seq) = facts(last);
    assert_eq!((sid, pic, marker), (0, 2, true), "M moved to layer 0");
    let v = RtpView::try_parse(first).expect("rtp");
    assert!(v.extension(SUBSCRIBER_DD_EXT_ID).expect("dd").len() > 16);
    let mut nack = Vec::new();
    rtcp::build_nack(&mut nack, 0x7777, SUB_SSRC, &[facts(first).4, seq]);
    a.core.handle_subscriber_rtcp(a.now, SUB, &nack);
    let o = a.drain();
    assert_eq!(
        o.rtx,
        vec![first.clone(), last.clone()],
        "retransmissions are the packets as first relayed, structure included"
    );
}

#[test]
fn an_unresolvable_descriptor_is_dropped_without_a_gap_and_asks_for_a_keyframe() {
    let mut a = Av1::new(2, 2);
    let mut all = a.run(2, true).rtp;
    // A truncated descriptor, and one naming a template the structure does not have (its
    // key frame, with a new structure, was lost).
    let p = a.packet_with(&[0x80], 0, 0, false, true, false);
    let o = a.send(p);
    assert!(o.rtp.is_empty());
    let mut bad = Bits::default();
    bad.f(1, 1).f(1, 1).f(6, 40).f(16, 999);
    let p = a.packet_with(&bad.bytes, 0, 0, false, true, true);
    let o = a.send(p);
    assert!(o.rtp.is_empty());
    assert!(o.plis >= 1, "a keyframe brings a structure");
    a.now += FRAME;
    a.picture += 1;
    let o = a.run(3, false);
    assert_eq!(o.rtp.len(), 3 * 3 * PACKETS_PER_LAYER);
    all.extend(o.rtp);
    check_stream(&all);
}
