//! What the SVC tests (`forward_svc.rs` for VP9, `forward_av1.rs` for AV1) share: a room with
//! one single-SSRC video publisher on a virtual clock, one subscriber asking for a spatial /
//! temporal target, the outputs sorted by kind, and the receiver-side continuity check.

use std::time::Instant;

use media_core::engine::MediaKind;
use media_core::forward::{
    PublishedStream, RoomConfig, RoomCore, RouterEvent, RouterOutput, Subscription,
};
use media_core::rtcp::{CompoundIter, Rtcp};
use media_core::sdp::Codec;

/// The subscriber's id (also its peer).
pub const SUB: u64 = 10;
/// The publisher's id (also its peer and participant id).
pub const PUB: u64 = 1;

/// Everything the core emitted since the last drain.
#[derive(Default)]
pub struct Outs {
    pub rtp: Vec<Vec<u8>>,
    pub rtx: Vec<Vec<u8>>,
    pub plis: usize,
    pub events: Vec<RouterEvent>,
}

impl Outs {
    pub fn extend(&mut self, o: Outs) {
        self.rtp.extend(o.rtp);
        self.rtx.extend(o.rtx);
        self.plis += o.plis;
        self.events.extend(o.events);
    }
}

/// A room (no REMB, no periodic FIR, 1 s RTX cache) with publisher [`PUB`] sending one video
/// stream of `codec` with payload type `pt` on mid "0".
pub fn room_with_publisher(now: Instant, codec: Codec, pt: u8) -> RoomCore<u64> {
    let mut core = RoomCore::new(RoomConfig {
        bitrate: 0,
        fir_freq: 0,
        nack_queue_ms: 1000,
        audio_active_packets: 0,
        audio_level_average: 25,
    });
    core.add_publisher(
        now,
        PUB,
        PUB,
        vec![PublishedStream {
            index: 0,
            mid: "0".into(),
            kind: MediaKind::Video,
            codec,
            pt,
            clock_rate: 90_000,
            layers: 1,
            audio_level_ext: None,
        }],
    );
    core
}

/// Subscribes (or re-targets) [`SUB`] to the publisher's stream at `spatial`/`temporal`.
pub fn subscribe(
    core: &mut RoomCore<u64>,
    now: Instant,
    (ssrc, pt): (u32, u8),
    spatial: u8,
    temporal: u8,
) {
    core.set_subscriber(
        now,
        SUB,
        SUB,
        vec![Subscription {
            sub_index: 0,
            source: Some((PUB, 0)),
            ssrc,
            rtx_ssrc: None,
            pt,
            rtx_pt: None,
            send: true,
            substream_target: spatial,
            temporal_target: temporal,
            fallback_us: 0,
            playout_delay: None,
        }],
    );
}

/// Takes every output: RTP (first sends and retransmissions apart), PLIs to the publisher
/// counted, events kept.
pub fn drain(core: &mut RoomCore<u64>) -> Outs {
    let mut o = Outs::default();
    while let Some(out) = core.poll_output() {
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

/// What a receiver needs of relayed packets, given per packet (spatial, temporal, picture
/// tag, marker, outgoing seq): continuous sequence numbers, and per picture exactly one
/// marker, on its last relayed packet.
pub fn check_continuity(f: &[(u8, u8, u8, bool, u16)]) {
    for w in f.windows(2) {
        assert_eq!(w[1].4, w[0].4.wrapping_add(1), "no sequence gap");
    }
    for (i, x) in f.iter().enumerate() {
        let last_of_picture = f.get(i + 1).is_none_or(|n| n.2 != x.2);
        assert_eq!(
            x.3, last_of_picture,
            "marker exactly on the last relayed packet of picture {}: {:?}",
            x.2, x
        );
    }
}
