//! The forwarding engine: one fan-out task per room (VideoRoom, and later Streaming and
//! Record&Play playout) relaying publishers' RTP to subscribers.
//!
//! Shape (design.md, style.md §2): the room's state lives in ONE task that owns it (`&mut`, no
//! lock per packet). Publishers' packets reach it through their peer's [`MediaSink`] as a
//! bounded channel message carrying the decrypted packet as one `Bytes`; for each subscriber
//! bound to that source the task rewrites the header (SSRC, sequence, timestamp, payload
//! type, VP8 picture id / TL0PICIDX) into a per-subscriber scratch buffer and the subscriber's
//! [`Peer`] encrypts once and sends. Subscriber lists are snapshots replaced on
//! join/leave/update, never locked per packet. A full channel drops and counts.
//!
//! The core ([`RoomCore`]) is sans-IO: `handle_packet(now, ..)`, `handle_feedback(now, ..)`,
//! `handle_timeout(now)` and `poll_output()` returning [`RouterOutput`]s (packets to send on a
//! given peer, RTCP to a publisher, events). The task in [`task`] drives it with real time and
//! real peers; tests drive it on a virtual clock with a loss emulator.
//!
//! What the core does per published stream: an RTX cache (≥ 1 s, `min_nack_queue`) answering
//! subscriber NACKs (as RTX when the subscriber negotiated it, plain otherwise); NACKs upstream
//! for losses seen from the publisher; PLI to the publisher on subscriber join, layer switch,
//! subscriber PLI/FIR and every `fir_freq` without a keyframe, aggregated to at most one per
//! 500 ms per publisher stream; REMB to the publisher from the room/publisher bitrate;
//! simulcast substream/temporal selection with fallback; VP9 SVC spatial/temporal layer
//! selection on one SSRC (RFC 9628 layer indices; the marker bit moves to the last relayed
//! layer of each picture); AV1 SVC the same way from the dependency-descriptor header
//! extension (AV1 RTP spec Appendix A, [`crate::rtp::dd`]); sender reports rewritten per
//! subscriber so lip-sync holds.
//!
//! RTP forwarders that "act as a viewer" (VideoRoom `rtp_forward` with `simulcast: true`) are
//! subscribers here too ([`RouterInput::SetForwarder`]): one m-line following the best
//! substream and temporal layer with the same selection, fallback, keyframe switching and
//! header continuity, but sent through an [`RtpEgress`] (plain UDP or SDES-SRTP) instead of a
//! peer, and without header extensions (a plain RTP receiver negotiated none). Duplicating
//! the selection in the plugin would fork the one piece that must behave like Janus's
//! simulcast context everywhere.
//!
//! AV1 SVC: a per-stream [`crate::rtp::dd::DdReader`] keeps the template structure of the
//! last key frame and maps each packet's template to its spatial/temporal ids. Spatial climbs
//! wait for a key frame (requested with a PLI); temporal climbs happen at a frame whose DTI
//! is "switch" for the decode target the subscriber will follow (`decide_svc`); going down
//! takes effect at the next picture. The descriptor is relayed to subscribers byte for byte
//! (two-byte extension form when it carries the structure): its `active_decode_targets` are
//! NOT rewritten when layers are dropped. Why that is enough: relayed frames reference only
//! relayed frames (that is what the selection guarantees), and a receiver decodes by the
//! frame diffs; libwebrtc reads the active decode targets and chains only for loss
//! notification, which it does not negotiate by default. A receiver that picked its decode
//! target from the (unrewritten) bitmask would wait for frames that never come; rewriting it
//! (and the frame numbers) is the known next step if one shows up. An AV1 packet whose
//! descriptor cannot be resolved (no structure yet, malformed) is dropped on SVC lines and a
//! key frame requested.

use bytes::Bytes;

use crate::engine::{MediaKind, Peer};
use crate::rtp::ext::PlayoutDelay;
use crate::sdp::Codec;

/// A publisher in a room (the plugin's participant id).
pub type PublisherId = u64;
/// A subscriber (the plugin's subscriber handle id).
pub type SubscriberId = u64;

/// One stream a publisher sends, as negotiated in its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedStream {
    /// Index of the stream in the publisher peer's received streams (`RtpIn::stream`).
    pub index: usize,
    /// The publisher's mid for it (for events and `feed_mid`).
    pub mid: String,
    pub kind: MediaKind,
    pub codec: Codec,
    /// Payload type the publisher uses.
    pub pt: u8,
    /// RTP clock rate (48000 audio, 90000 video).
    pub clock_rate: u32,
    /// Simulcast layers (1 = no simulcast). Layer 0 = lowest.
    pub layers: u8,
    /// The audio-level extension id, for talking detection (`None` = not negotiated).
    pub audio_level_ext: Option<u8>,
}

/// Where an RTP forwarder's packets go (VideoRoom `rtp_forward`: a UDP socket, SRTP when
/// keyed). Called on the room task for each packet: must not block or allocate.
pub trait RtpEgress: Send + Sync {
    /// Sends one RTP packet (already rewritten). `Err` = dropped (counted as a send error).
    fn send_rtp(&self, packet: &[u8]) -> Result<(), EgressError>;
}

/// Why an [`RtpEgress`] dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    #[error("packet larger than the egress accepts")]
    TooLarge,
    #[error("SRTP protection failed")]
    Srtp,
    #[error("socket send failed")]
    Send,
}

/// What a room task's subscriber outputs go to: a WebRTC peer, or an RTP forwarder's egress.
#[derive(Clone)]
pub enum Target {
    Peer(Peer),
    Egress(std::sync::Arc<dyn RtpEgress>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Peer(_) => f.write_str("Target::Peer"),
            Target::Egress(_) => f.write_str("Target::Egress"),
        }
    }
}

/// One m-line of a subscriber and what feeds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The subscriber's m-line index (its mid is this number as a string).
    pub sub_index: usize,
    /// The source: publisher and the index of its [`PublishedStream`]; `None` = inactive.
    pub source: Option<(PublisherId, usize)>,
    /// SSRC (and RTX SSRC when negotiated) we announced for this m-line.
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    /// Payload type in the subscriber's SDP (canonical PT; see plugins API §0.5).
    pub pt: u8,
    /// RTX payload type when negotiated.
    pub rtx_pt: Option<u8>,
    /// Relay this m-line (per-stream `send`, moderation, pause all = false).
    pub send: bool,
    /// Simulcast targets (0..=2) and fallback (µs); ignored without simulcast. For a VP9 SVC
    /// stream (one SSRC whose descriptors carry layer indices) `substream_target` is the
    /// spatial-layer target and `temporal_target` the temporal-layer one (Janus's
    /// `spatial_layer` / `temporal_layer`).
    pub substream_target: u8,
    pub temporal_target: u8,
    pub fallback_us: u64,
    /// Playout delay to announce on this m-line (Janus's per-stream `min_delay`/`max_delay`,
    /// 10 ms units): written in the playout-delay extension of every relayed packet in place
    /// of whatever the publisher sent. `None` = relay the publisher's value, if any. Only set
    /// when the subscriber's SDP carries the extension.
    pub playout_delay: Option<PlayoutDelay>,
}

/// Room-wide settings the core needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomConfig {
    /// REMB cap for publishers in bit/s (0 = none). Janus raises 1..63999 to 64000.
    pub bitrate: u32,
    /// Periodic keyframe request when no keyframe was seen for this long (0 = off), seconds.
    pub fir_freq: u32,
    /// NACK / RTX cache depth in milliseconds (`min_nack_queue`, at least 1000 here).
    pub nack_queue_ms: u32,
    /// Talking detection: packets per window and average dBov threshold (0 packets = off).
    pub audio_active_packets: u32,
    pub audio_level_average: u8,
}

/// What the room reports to its owner (the plugin turns these into Janus events).
#[derive(Debug, Clone, PartialEq)]
pub enum RouterEvent {
    /// The relayed simulcast substream of a subscriber m-line changed.
    Substream {
        subscriber: SubscriberId,
        sub_index: usize,
        substream: u8,
    },
    /// The relayed temporal layer changed.
    Temporal {
        subscriber: SubscriberId,
        sub_index: usize,
        temporal: u8,
    },
    /// VP9/AV1 SVC: the highest relayed spatial layer changed (Janus event `spatial_layer`).
    SpatialLayer {
        subscriber: SubscriberId,
        sub_index: usize,
        spatial: u8,
    },
    /// VP9/AV1 SVC: the relayed temporal layer changed (Janus event `temporal_layer`).
    TemporalLayer {
        subscriber: SubscriberId,
        sub_index: usize,
        temporal: u8,
    },
    /// A publisher's audio crossed the talking threshold.
    Talking {
        publisher: PublisherId,
        index: usize,
        talking: bool,
        level_avg: f32,
    },
}

/// Receives a room's events. Called from the room task: never block.
pub trait RouterObserver: Send + Sync {
    fn on_event(&self, event: RouterEvent);
}

/// A packet on its way into a room (what the publisher's sink sends to the task).
#[derive(Debug, Clone)]
pub struct IncomingPacket {
    pub publisher: PublisherId,
    /// `RtpIn::stream` of the publisher peer.
    pub index: usize,
    /// Simulcast layer (`RtpIn::layer`).
    pub layer: u8,
    pub packet: Bytes,
}

/// RTP header-extension IDs (RFC 8285 `a=extmap`) one peer negotiated.
///
/// Relayed packets get their extension block rebuilt per subscriber (as Janus's core does):
/// the publisher's values are read with the publisher's IDs and written with the
/// subscriber's; the subscriber's own mid goes in the mid extension. The publisher's mid,
/// rid, transport-cc and abs-send-time never reach subscribers: Chrome routes a packet by
/// its mid before its SSRC (RFC 9143 §9.2) and drops unknown mids, so a publisher's mid
/// relayed as-is would land on the wrong m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtensionIds {
    pub mid: Option<u8>,
    pub audio_level: Option<u8>,
    pub video_orientation: Option<u8>,
    pub playout_delay: Option<u8>,
    /// AV1 RTP spec Appendix A dependency descriptor: read from AV1 publishers to select
    /// layers, relayed to subscribers unchanged (two-byte form when longer than 16 bytes).
    pub dependency_descriptor: Option<u8>,
}

/// The ID subscribers' offers give the dependency descriptor (Janus has no fixed default for
/// it; 11 is free among the IDs above and in `RtpExtension::janus_default_id`).
pub const SUBSCRIBER_DD_EXT_ID: u8 = 11;

impl ExtensionIds {
    /// The IDs Janus's VideoRoom (and ours) offers subscribers: the default for subscribers.
    pub const JANUS_SUBSCRIBER: ExtensionIds = ExtensionIds {
        mid: Some(4),
        audio_level: Some(1),
        video_orientation: Some(13),
        playout_delay: Some(12),
        dependency_descriptor: Some(SUBSCRIBER_DD_EXT_ID),
    };
}

/// Control messages and media for a room task; see [`task`] for the handle that sends them.
#[derive(Clone)]
pub enum RouterInput {
    Packet(IncomingPacket),
    /// RTCP from a subscriber (NACK, PLI, FIR, RR…), plain.
    SubscriberRtcp {
        subscriber: SubscriberId,
        packet: Bytes,
    },
    /// RTCP from a publisher (SR for lip-sync, …), plain.
    PublisherRtcp {
        publisher: PublisherId,
        packet: Bytes,
    },
    AddPublisher {
        publisher: PublisherId,
        peer: Peer,
        streams: Vec<PublishedStream>,
    },
    RemovePublisher {
        publisher: PublisherId,
    },
    /// Adds or replaces a subscriber's whole subscription list (a snapshot).
    SetSubscriber {
        subscriber: SubscriberId,
        peer: Peer,
        subscriptions: Vec<Subscription>,
    },
    RemoveSubscriber {
        subscriber: SubscriberId,
    },
    /// Adds or updates an RTP forwarder following a (simulcast) video stream like a
    /// subscriber ([`RoomCore::set_forwarder`]); removed with `RemoveSubscriber`. `forwarder`
    /// shares the subscriber id space: callers pick ids no handle can have.
    SetForwarder {
        forwarder: SubscriberId,
        egress: std::sync::Arc<dyn RtpEgress>,
        source: (PublisherId, usize),
        ssrc: u32,
        pt: u8,
    },
    /// Ask the publisher for a keyframe on every video stream (`configure keyframe:true`).
    RequestKeyframe {
        publisher: PublisherId,
    },
    /// Per-publisher REMB cap override (`configure bitrate`), 0 = room default.
    SetPublisherBitrate {
        publisher: PublisherId,
        bitrate: u32,
    },
    SetConfig(RoomConfig),
    /// The publisher's header-extension IDs (from its SDP). Without it only the audio level
    /// (`PublishedStream::audio_level_ext`) is carried over to subscribers.
    PublisherExtensions {
        publisher: PublisherId,
        extensions: ExtensionIds,
    },
    /// The subscriber's header-extension IDs; default [`ExtensionIds::JANUS_SUBSCRIBER`].
    SubscriberExtensions {
        subscriber: SubscriberId,
        extensions: ExtensionIds,
    },
}

// The handle the plugins use (implemented in `task.rs`), with these signatures:
//
// ```ignore
// pub struct RouterHandle { .. }            // Clone + Send + Sync
// impl RouterHandle {
//     /// Starts the room task (inside a tokio runtime).
//     pub fn spawn(config: RoomConfig, observer: Arc<dyn RouterObserver>) -> RouterHandle;
//     /// Control input: never dropped (unbounded control channel, bounded by signaling rate).
//     pub fn control(&self, input: RouterInput);
//     /// The sink to install on a publisher's peer (`peer.set_sink(..)`): packets go into the
//     /// bounded media channel, dropped and counted when full.
//     pub fn publisher_sink(&self, publisher: PublisherId) -> Arc<dyn MediaSink>;
//     /// The sink to install on a subscriber's peer: its RTCP (NACK/PLI/FIR) reaches the room.
//     pub fn subscriber_sink(&self, subscriber: SubscriberId) -> Arc<dyn MediaSink>;
//     pub fn stats(&self) -> &RouterStats;  // packets in/out, drops, nacks served, plis sent
//     /// Ends the task (room destroyed).
//     pub fn close(&self);
// }
// ```

mod cache;
mod keyframe;
mod rewrite;
pub mod room;
mod simulcast;
pub mod task;

pub use room::{CoreStats, RoomCore, RouterOutput};
pub use task::{RouterHandle, RouterStats};
