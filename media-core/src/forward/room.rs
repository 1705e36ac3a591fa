//! [`RoomCore`]: the sans-IO fan-out of one room. Inputs carry `now`; outputs are polled.
//!
//! Per published packet the core parses the header and codec descriptor once, updates the
//! publisher stream (layer activity, RTX cache, upstream loss, keyframe bookkeeping, REMB,
//! talking) and then, lazily — one subscriber m-line per [`RoomCore::poll_output`] call —
//! decides and rewrites the packet for each bound subscriber into ONE scratch buffer that the
//! returned [`RouterOutput::Rtp`] lends out. The caller sends it (encrypt once, non-blocking
//! send) before polling again, so forwarding allocates nothing per packet per subscriber.
//!
//! Per subscriber m-line: one outgoing SSRC, continuous sequence numbers (gaps from
//! deliberate drops closed, RFC 3550 §5.1), a timestamp line that advances by wall-clock time
//! across switches, VP8 picture id / TL0PICIDX continuity (RFC 7741 §4.2), switches only on a
//! keyframe of the new source, simulcast fallback and temporal dropping ([`super::simulcast`]),
//! VP9 and AV1 (dependency descriptor) SVC layer dropping on one SSRC (`decide_svc`).
//!
//! Feedback: subscriber NACKs (RFC 4585 §6.2.1) are answered from the publisher stream's RTX
//! cache through the subscriber's sequence mapping, as RTX (RFC 4588 §4) when negotiated;
//! gaps in what publishers send are NACKed upstream (bounded, retried a few times); PLIs
//! (RFC 4585 §6.3.1) are aggregated per publisher stream ([`super::keyframe`]); REMB
//! (draft-alvestrand-rmcat-remb-03) follows Janus's ramp; publisher SRs are rewritten per
//! subscriber (SSRC, RTP timestamp through the subscriber's mapping, RFC 3550 §6.4.1) so
//! lip-sync holds.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::cache::{RtxCache, AUDIO_CACHE_SLOTS, VIDEO_CACHE_SLOTS};
use super::keyframe::KeyframeRequests;
use super::rewrite::{OutEntry, OutMap, SeqMap, Vp8Rewrite, AUDIO_SEQ_MAP, VIDEO_SEQ_MAP};
use super::simulcast::{next_temporal, LayerActivity, MAX_LAYERS};
use super::{
    ExtensionIds, IncomingPacket, PublishedStream, PublisherId, RoomConfig, RouterEvent,
    RouterInput, SubscriberId, Subscription, Target,
};
use crate::engine::{MediaKind, Peer};
use crate::rtcp::{self, CompoundIter, Rtcp, RtcpKind, SenderInfo};
use crate::rtp::dd::{DdError, DdReader, FrameDescriptor};
use crate::rtp::{self, seq_delta, vp8::Vp8Descriptor, vp9::Vp9Descriptor, RtpView, TsRewriter};
use crate::sdp::Codec;

/// Streams kept per publisher (a peer's SDP decides how many it offers).
pub const MAX_STREAMS_PER_PUBLISHER: usize = 32;
/// M-lines kept per subscriber.
pub const MAX_LINES_PER_SUBSCRIBER: usize = 128;
/// Retransmissions one subscriber RTCP compound may trigger (a NACK can name 3,400 packets;
/// a burst that large is better repaired by a keyframe than by flooding the link).
pub const MAX_RETRANSMISSIONS_PER_RTCP: usize = 256;
/// Retransmissions per second one subscriber may cause (token bucket refill), and the
/// bucket size: NACKs cost a peer a few bytes and us a full packet each, so what a
/// subscriber can make us send must not depend on how fast it asks. 1,000/s repairs 10%
/// loss of a 10 Mbit/s stream.
pub const RETRANSMISSIONS_PER_SECOND: u32 = 1000;
pub const RETRANSMISSION_BURST: u32 = 500;
/// Sequence numbers tracked as missing per published layer for upstream NACKs.
pub const MAX_UPSTREAM_MISSING: usize = 128;
/// A forward jump larger than this is not NACKed (an outage or a restart: ask for a
/// keyframe instead of hundreds of packets).
pub const MAX_NACK_GAP: u16 = 100;
/// RFC 3550 §A.1 `MAX_DROPOUT`: a sequence jump beyond it (either way) is a source restart.
pub const MAX_DROPOUT: i16 = 3000;
/// Upstream NACK retry interval (no RTT estimate yet: a typical WAN round trip).
pub const NACK_RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// NACKs sent per missing packet before giving up (first try included).
pub const MAX_NACK_TRIES: u8 = 3;
/// Janus: REMBs at bitrate/4, /3, /2, /1 on the first video packets, then every 5 s.
pub const REMB_STARTUP_STEPS: u8 = 4;
pub const REMB_INTERVAL: Duration = Duration::from_secs(5);
/// Janus raises REMB caps below this to it.
pub const MIN_REMB_BITRATE: u32 = 64_000;
/// `fallback` when a subscription says 0 (plugins API §0.6).
pub const DEFAULT_FALLBACK: Duration = Duration::from_micros(250_000);
/// Packet-sender SSRC of the feedback we originate (RFC 4585 §6.1; receivers ignore it).
pub const FEEDBACK_SSRC: u32 = 1;

/// Counters kept by the core (the task publishes them as [`super::RouterStats`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoreStats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_filtered: u64,
    pub packets_invalid: u64,
    pub nacks_in: u64,
    pub retransmissions: u64,
    pub nack_misses: u64,
    pub nacks_sent: u64,
    pub plis_sent: u64,
    pub rembs_sent: u64,
    pub srs_sent: u64,
    /// Packets already received (RTX probes, duplicated retransmissions): not relayed again.
    pub duplicates: u64,
    /// Fan-outs cut short because an input arrived before the outputs were drained.
    pub fanouts_abandoned: u64,
}

/// What the core wants done. Packets borrow the core's scratch buffer: send (or copy) them
/// before polling again.
#[derive(Debug)]
pub enum RouterOutput<'a, P = Peer> {
    /// RTP for a subscriber m-line (a forwarded packet, or a retransmission).
    Rtp {
        subscriber: SubscriberId,
        sub_index: usize,
        peer: &'a P,
        packet: &'a [u8],
        retransmission: bool,
    },
    /// RTCP for a subscriber (rewritten sender reports).
    SubscriberRtcp {
        subscriber: SubscriberId,
        peer: &'a P,
        packet: &'a [u8],
    },
    /// RTCP for a publisher (PLI, NACK, REMB).
    PublisherRtcp {
        publisher: PublisherId,
        peer: &'a P,
        packet: &'a [u8],
    },
    Event(RouterEvent),
}

/// One published layer's upstream state.
#[derive(Debug)]
struct Layer {
    ssrc: Option<u32>,
    /// Bumped when the source restarts (new SSRC or a sequence jump): subscribers re-sync.
    epoch: u8,
    highest: Option<u16>,
    cache: Option<RtxCache>,
    missing: Vec<Missing>,
}

impl Layer {
    fn new() -> Self {
        Layer {
            ssrc: None,
            epoch: 0,
            highest: None,
            cache: None,
            missing: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    seq: u16,
    next_at: Instant,
    tries: u8,
}

#[derive(Debug, Default)]
struct Talk {
    sum: u32,
    count: u32,
    talking: bool,
}

#[derive(Debug)]
struct PubStream {
    info: PublishedStream,
    video: bool,
    layers: [Layer; MAX_LAYERS],
    activity: LayerActivity,
    kf: KeyframeRequests,
    /// Last keyframe (or periodic request) for `fir_freq`; `None` before the first packet.
    fir_base: Option<Instant>,
    /// Subscriber m-lines fed by this stream: (subscriber slot, line index).
    bindings: Vec<(u32, u32)>,
    talk: Talk,
    /// AV1: the dependency descriptors' template structure and active decode targets.
    dd: DdReader,
}

impl PubStream {
    fn new(info: PublishedStream) -> Self {
        PubStream {
            video: info.kind == MediaKind::Video,
            info,
            layers: [Layer::new(), Layer::new(), Layer::new()],
            activity: LayerActivity::default(),
            kf: KeyframeRequests::default(),
            fir_base: None,
            bindings: Vec::new(),
            talk: Talk::default(),
            dd: DdReader::new(),
        }
    }

    fn layer_count(&self) -> u8 {
        self.info.layers.clamp(1, MAX_LAYERS as u8)
    }

    /// Layers whose SSRC is known (bit per layer).
    fn known_layers(&self) -> u8 {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.ssrc.is_some())
            .fold(0, |m, (i, _)| m | (1 << i))
    }
}

#[derive(Debug)]
struct Publisher<P> {
    id: PublisherId,
    peer: P,
    streams: Vec<PubStream>,
    /// `configure bitrate` override (0 = room default).
    bitrate: u32,
    remb_startup: u8,
    remb_last: Option<Instant>,
    ext: ExtensionIds,
}

impl<P> Publisher<P> {
    fn stream_pos(&self, index: usize) -> Option<usize> {
        self.streams.iter().position(|s| s.info.index == index)
    }
}

#[derive(Debug)]
struct Line {
    sub: Subscription,
    /// Bumped when the source changes: NACKs for packets of an older source are not
    /// answered from the new one's cache.
    source_gen: u8,
    /// Layer being relayed (`None` = waiting to start: next relayed packet re-bases).
    current: Option<u8>,
    epoch: u8,
    temporal: u8,
    announced_substream: Option<u8>,
    announced_temporal: Option<u8>,
    /// VP9 SVC: the highest spatial layer relayed (the temporal one is `temporal`), and
    /// whether this line has seen layer indices at all.
    spatial: u8,
    svc: bool,
    announced_spatial: Option<u8>,
    seq: SeqMap,
    ts: Option<TsRewriter>,
    ts_off: Option<u32>,
    vp8: Vp8Rewrite,
    out: OutMap,
    rtx_seq: u16,
    packets: u32,
    octets: u32,
    /// The m-line's mid (its index as text), written in the mid extension.
    mid: Mid,
}

/// A mid without allocation per packet (RFC 8285 one-byte elements carry ≤ 16 bytes).
#[derive(Debug, Clone, Copy)]
struct Mid {
    bytes: [u8; 16],
    len: u8,
}

impl Mid {
    fn of_index(i: usize) -> Self {
        let text = i.to_string();
        let mut bytes = [0u8; 16];
        let n = text.len().min(16);
        bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
        Mid {
            bytes,
            len: n as u8,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Line {
    fn new(sub: Subscription, kind: Option<MediaKind>) -> Self {
        let sub_index = sub.sub_index;
        let len = match kind {
            Some(MediaKind::Audio) => AUDIO_SEQ_MAP,
            _ => VIDEO_SEQ_MAP,
        };
        Line {
            temporal: sub.temporal_target,
            sub,
            source_gen: 0,
            current: None,
            epoch: 0,
            announced_substream: None,
            announced_temporal: None,
            spatial: 0,
            svc: false,
            announced_spatial: None,
            seq: SeqMap::new(len),
            ts: None,
            ts_off: None,
            vp8: Vp8Rewrite::default(),
            out: OutMap::new(len),
            rtx_seq: 0,
            packets: 0,
            octets: 0,
            mid: Mid::of_index(sub_index),
        }
    }

    fn fallback(&self) -> Duration {
        if self.sub.fallback_us == 0 {
            DEFAULT_FALLBACK
        } else {
            Duration::from_micros(self.sub.fallback_us)
        }
    }

    /// Stop relaying; the next relayed packet starts a new segment (keyframe first).
    fn restart(&mut self) {
        self.current = None;
        self.ts_off = None;
    }
}

#[derive(Debug)]
struct Subscriber<P> {
    id: SubscriberId,
    peer: P,
    lines: Vec<Line>,
    ext: ExtensionIds,
    rtx_budget: TokenBucket,
}

/// Retransmission budget of one subscriber.
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    tokens: u32,
    at: Option<Instant>,
}

impl TokenBucket {
    fn full() -> Self {
        TokenBucket {
            tokens: RETRANSMISSION_BURST,
            at: None,
        }
    }

    /// Refills for the time elapsed; whether one retransmission may go.
    fn has_tokens(&mut self, now: Instant) -> bool {
        if let Some(at) = self.at {
            let micros = now.saturating_duration_since(at).as_micros();
            let add = micros * u128::from(RETRANSMISSIONS_PER_SECOND) / 1_000_000;
            if add > 0 {
                self.tokens =
                    (u128::from(self.tokens) + add).min(u128::from(RETRANSMISSION_BURST)) as u32;
                self.at = Some(now);
            }
        } else {
            self.at = Some(now);
        }
        self.tokens > 0
    }

    fn spend(&mut self) {
        self.tokens = self.tokens.saturating_sub(1);
    }
}

/// A publisher packet parsed once for the whole fan-out.
#[derive(Debug, Clone, Copy)]
struct Meta {
    layer: u8,
    epoch: u8,
    seq: u16,
    ts: u32,
    /// End of the fixed header and CSRCs, start of the payload (the extension block between
    /// them is rebuilt per subscriber).
    csrc_end: usize,
    payload_start: usize,
    ext: ExtValues,
    payload_len: usize,
    /// Older than the newest seen on its layer (reordered or an upstream retransmission).
    late: bool,
    /// The codec's keyframes can be recognised (VP8, VP9, H.264, AV1): switches wait for one.
    keyframe_aware: bool,
    keyframe: bool,
    /// First packet of a picture (VP8 S=1, PID 0); temporal decisions happen here.
    picture_start: bool,
    tid: Option<u8>,
    layer_sync: bool,
    /// (value, offset in the payload, 15-bit)
    pid: Option<(u16, usize, bool)>,
    /// (value, offset in the payload)
    tl0: Option<(u8, usize)>,
    /// VP9 layer indices or the AV1 dependency descriptor's layers, when present (SVC).
    svc: Option<SvcLayers>,
    /// An AV1 packet whose dependency descriptor cannot be resolved (no structure yet, or
    /// malformed): its layers are unknown, so SVC lines drop it.
    svc_unknown: bool,
}

/// What a VP9 descriptor (RFC 9628 §4.2) or an AV1 dependency descriptor (AV1 RTP spec
/// §A.8) says about a packet's place in an SVC picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SvcLayers {
    sid: u8,
    tid: u8,
    /// VP9 U: the picture is a safe entry into its temporal layer (see `decide_svc`).
    switching_up: bool,
    /// AV1: the decode targets this frame is a switch point of (DTI `S`, bit per decode
    /// target); `None` for VP9.
    switch_dts: Option<u32>,
    /// B / E: first / last packet of this spatial layer's frame.
    frame_start: bool,
    frame_end: bool,
}

/// Header-extension values carried over to subscribers (read once per published packet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ExtValues {
    audio_level: Option<u8>,
    video_orientation: Option<u8>,
    playout_delay: Option<[u8; 3]>,
    /// Where the dependency descriptor's value is in the packet: (offset, length). Too long
    /// to copy per packet; read from the cached packet when relaying.
    dependency_descriptor: Option<(u16, u8)>,
}

impl ExtValues {
    /// `audio_level` is the stream's own ID when known (else the peer's).
    fn read(view: &RtpView<'_>, ids: &ExtensionIds, audio_level: Option<u8>) -> Self {
        let mut v = ExtValues::default();
        if !view.has_extension() {
            return v;
        }
        let audio_level = audio_level.or(ids.audio_level);
        for e in view.extensions() {
            let id = Some(e.id);
            if id == audio_level {
                v.audio_level = e.value.first().copied();
            } else if id == ids.video_orientation {
                v.video_orientation = e.value.first().copied();
            } else if id == ids.playout_delay {
                v.playout_delay = e.value.get(..3).and_then(|b| b.try_into().ok());
            } else if id == ids.dependency_descriptor {
                v.dependency_descriptor = u16::try_from(e.offset)
                    .ok()
                    .zip(u8::try_from(e.value.len()).ok());
            }
        }
        v
    }

    /// The values one m-line sends: its own playout delay (Janus's subscriber `min_delay` /
    /// `max_delay`) replaces the publisher's. Three bytes on the stack: nothing allocated.
    fn for_line(mut self, sub: &Subscription) -> Self {
        if let Some(d) = sub.playout_delay {
            let mut v = [0u8; 3];
            if rtp::ext::write_playout_delay(&mut v, d) {
                self.playout_delay = Some(v);
            }
        }
        self
    }

    /// The dependency descriptor's value in `packet` (the one `read` looked at).
    fn dependency_descriptor<'p>(&self, packet: &'p [u8]) -> Option<&'p [u8]> {
        let (at, len) = self.dependency_descriptor?;
        let at = usize::from(at);
        packet.get(at..at + usize::from(len))
    }
}

/// The packet being fanned out; it lives in its layer's RTX cache slot (`meta.layer`,
/// `meta.seq`), so nothing is cloned.
struct Fanout {
    publisher: usize,
    stream: usize,
    meta: Meta,
    next: usize,
}

/// Queued non-fan-out work; built into the scratch buffer when polled.
#[derive(Debug)]
enum Pending {
    Retransmit {
        sub: usize,
        id: SubscriberId,
        line: usize,
        out_seq: u16,
    },
    Sr {
        sub: usize,
        id: SubscriberId,
        line: usize,
        ntp: u64,
        rtp_ts: u32,
    },
    Pli {
        publisher: usize,
        id: PublisherId,
        stream: usize,
        layers: u8,
    },
    UpstreamNack {
        publisher: usize,
        id: PublisherId,
        stream: usize,
        layer: u8,
    },
    Remb {
        publisher: usize,
        id: PublisherId,
        bitrate: u32,
    },
    Event(RouterEvent),
}

enum Ready {
    Rtp {
        sub: usize,
        sub_index: usize,
        len: usize,
        retransmission: bool,
    },
    SubscriberRtcp {
        sub: usize,
    },
    PublisherRtcp {
        publisher: usize,
    },
    Event(RouterEvent),
}

/// The fan-out state machine of one room. `P` is the peer handle outputs name ([`Peer`] in
/// production; tests use any value).
pub struct RoomCore<P = Peer> {
    config: RoomConfig,
    now: Option<Instant>,
    publishers: Vec<Option<Publisher<P>>>,
    publisher_slots: HashMap<PublisherId, usize>,
    subscribers: Vec<Option<Subscriber<P>>>,
    subscriber_slots: HashMap<SubscriberId, usize>,
    /// Extension IDs given before (or after) the peer was added; kept until it is removed.
    publisher_ext: HashMap<PublisherId, ExtensionIds>,
    subscriber_ext: HashMap<SubscriberId, ExtensionIds>,
    fanout: Option<Fanout>,
    pending: VecDeque<Pending>,
    scratch: Vec<u8>,
    /// Second buffer for RTX wrapping (the plain retransmission is built first).
    scratch2: Vec<u8>,
    nack_list: Vec<u16>,
    next_timeout: Option<Instant>,
    stats: CoreStats,
}

impl<P> std::fmt::Debug for RoomCore<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomCore")
            .field("publishers", &self.publisher_slots.len())
            .field("subscribers", &self.subscriber_slots.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Scratch capacity reserved up front: a full-MTU packet plus an RTX OSN.
const SCRATCH_CAPACITY: usize = 1536;

impl RoomCore<Target> {
    /// Dispatches one contract input (what the room task receives).
    pub fn handle_input(&mut self, now: Instant, input: RouterInput) {
        match input {
            RouterInput::Packet(p) => self.handle_packet(now, p),
            RouterInput::SubscriberRtcp { subscriber, packet } => {
                self.handle_subscriber_rtcp(now, subscriber, &packet)
            }
            RouterInput::PublisherRtcp { publisher, packet } => {
                self.handle_publisher_rtcp(now, publisher, &packet)
            }
            RouterInput::AddPublisher {
                publisher,
                peer,
                streams,
            } => self.add_publisher(now, publisher, Target::Peer(peer), streams),
            RouterInput::RemovePublisher { publisher } => self.remove_publisher(now, publisher),
            RouterInput::SetSubscriber {
                subscriber,
                peer,
                subscriptions,
            } => self.set_subscriber(now, subscriber, Target::Peer(peer), subscriptions),
            RouterInput::SetForwarder {
                forwarder,
                egress,
                source,
                ssrc,
                pt,
            } => self.set_forwarder(now, forwarder, Target::Egress(egress), source, ssrc, pt),
            RouterInput::RemoveSubscriber { subscriber } => self.remove_subscriber(now, subscriber),
            RouterInput::RequestKeyframe { publisher } => self.request_keyframe(now, publisher),
            RouterInput::SetPublisherBitrate { publisher, bitrate } => {
                self.set_publisher_bitrate(now, publisher, bitrate)
            }
            RouterInput::SetConfig(config) => self.set_config(now, config),
            RouterInput::PublisherExtensions {
                publisher,
                extensions,
            } => self.set_publisher_extensions(now, publisher, extensions),
            RouterInput::SubscriberExtensions {
                subscriber,
                extensions,
            } => self.set_subscriber_extensions(now, subscriber, extensions),
        }
    }
}

impl<P> RoomCore<P> {
    pub fn new(config: RoomConfig) -> Self {
        RoomCore {
            config,
            now: None,
            publishers: Vec::new(),
            publisher_slots: HashMap::new(),
            subscribers: Vec::new(),
            subscriber_slots: HashMap::new(),
            publisher_ext: HashMap::new(),
            subscriber_ext: HashMap::new(),
            fanout: None,
            pending: VecDeque::with_capacity(64),
            scratch: Vec::with_capacity(SCRATCH_CAPACITY),
            scratch2: Vec::with_capacity(SCRATCH_CAPACITY),
            nack_list: Vec::with_capacity(MAX_UPSTREAM_MISSING),
            next_timeout: None,
            stats: CoreStats::default(),
        }
    }

    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    pub fn config(&self) -> &RoomConfig {
        &self.config
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    fn begin(&mut self, now: Instant) {
        self.now = Some(now);
        if self.fanout.take().is_some() {
            self.stats.fanouts_abandoned += 1;
        }
    }

    fn schedule(&mut self, at: Instant) {
        if self.next_timeout.is_none_or(|t| at < t) {
            self.next_timeout = Some(at);
        }
    }

    fn cache_age(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.nack_queue_ms))
    }

    // ----- control -------------------------------------------------------------------------

    pub fn set_config(&mut self, now: Instant, config: RoomConfig) {
        self.begin(now);
        self.config = config;
        let age = self.cache_age();
        for p in self.publishers.iter_mut().flatten() {
            for s in &mut p.streams {
                for l in &mut s.layers {
                    if let Some(c) = l.cache.as_mut() {
                        c.set_max_age(age);
                    }
                }
            }
        }
        self.recompute_timeout(now);
    }

    /// Adds a publisher, or replaces its peer and streams (renegotiation): streams whose
    /// index, codec and payload type are unchanged keep their state.
    pub fn add_publisher(
        &mut self,
        now: Instant,
        id: PublisherId,
        peer: P,
        mut streams: Vec<PublishedStream>,
    ) {
        self.begin(now);
        streams.truncate(MAX_STREAMS_PER_PUBLISHER);
        let slot = match self.publisher_slots.get(&id) {
            Some(&s) => s,
            None => {
                let s = free_slot(&mut self.publishers);
                self.publisher_slots.insert(id, s);
                s
            }
        };
        let mut old = self.publishers[slot].take();
        let mut kept_any = Vec::new();
        let new_streams: Vec<PubStream> = streams
            .into_iter()
            .map(|info| {
                let reuse = old.as_mut().and_then(|o| {
                    let pos = o.streams.iter().position(|s| {
                        s.info.index == info.index
                            && s.info.codec == info.codec
                            && s.info.pt == info.pt
                            && s.info.kind == info.kind
                    })?;
                    Some(o.streams.swap_remove(pos))
                });
                match reuse {
                    Some(mut s) => {
                        kept_any.push(info.index);
                        s.info = info;
                        s.bindings.clear();
                        s
                    }
                    None => PubStream::new(info),
                }
            })
            .collect();
        let (bitrate, remb_startup, remb_last) =
            old.as_ref().map_or((0, REMB_STARTUP_STEPS, None), |o| {
                (o.bitrate, o.remb_startup, o.remb_last)
            });
        self.publishers[slot] = Some(Publisher {
            id,
            peer,
            streams: new_streams,
            bitrate,
            remb_startup,
            remb_last,
            ext: self.publisher_ext.get(&id).copied().unwrap_or_default(),
        });
        // Bind every subscriber m-line this publisher feeds; lines whose stream is new start
        // over (keyframe first).
        for (si, sub) in self.subscribers.iter_mut().enumerate() {
            let Some(sub) = sub.as_mut() else { continue };
            for (li, line) in sub.lines.iter_mut().enumerate() {
                let Some((p, index)) = line.sub.source else {
                    continue;
                };
                if p != id {
                    continue;
                }
                let Some(pubr) = self.publishers[slot].as_mut() else {
                    continue;
                };
                if let Some(pos) = pubr.stream_pos(index) {
                    pubr.streams[pos].bindings.push((si as u32, li as u32));
                    if !kept_any.contains(&index) {
                        line.restart();
                        line.source_gen = line.source_gen.wrapping_add(1);
                    }
                }
            }
        }
        self.request_for_waiting_lines(now, slot);
    }

    pub fn remove_publisher(&mut self, now: Instant, id: PublisherId) {
        self.begin(now);
        self.publisher_ext.remove(&id);
        let Some(slot) = self.publisher_slots.remove(&id) else {
            return;
        };
        self.publishers[slot] = None;
        for sub in self.subscribers.iter_mut().flatten() {
            for line in &mut sub.lines {
                if line.sub.source.is_some_and(|(p, _)| p == id) {
                    line.restart();
                }
            }
        }
    }

    /// Adds a subscriber or replaces its subscription list (a snapshot). M-lines keep their
    /// rewriting state across changes, so a new source continues the same outgoing stream.
    pub fn set_subscriber(
        &mut self,
        now: Instant,
        id: SubscriberId,
        peer: P,
        mut subscriptions: Vec<Subscription>,
    ) {
        self.begin(now);
        subscriptions.truncate(MAX_LINES_PER_SUBSCRIBER);
        let slot = match self.subscriber_slots.get(&id) {
            Some(&s) => s,
            None => {
                let s = free_slot(&mut self.subscribers);
                self.subscriber_slots.insert(id, s);
                s
            }
        };
        self.unbind(slot);
        let (mut old_lines, rtx_budget) = self.subscribers[slot]
            .take()
            .map_or((Vec::new(), TokenBucket::full()), |s| {
                (s.lines, s.rtx_budget)
            });
        let mut lines = Vec::with_capacity(subscriptions.len());
        let mut events = Vec::new();
        for new in subscriptions {
            let source_info = new.source.and_then(|(p, index)| {
                let pubr = self
                    .publishers
                    .get(*self.publisher_slots.get(&p)?)?
                    .as_ref()?;
                let s = &pubr.streams[pubr.stream_pos(index)?];
                Some((s.info.kind, s.layer_count()))
            });
            let old = old_lines
                .iter()
                .position(|l| l.sub.sub_index == new.sub_index)
                .map(|i| old_lines.swap_remove(i));
            let line = match old {
                Some(mut line) => {
                    let prev = std::mem::replace(&mut line.sub, new);
                    let new = line.sub.clone();
                    if prev.source != new.source {
                        line.restart();
                        line.source_gen = line.source_gen.wrapping_add(1);
                    } else if !prev.send && new.send {
                        // Resumed: re-base (the gap was never relayed) from a keyframe.
                        line.restart();
                    }
                    // Asking for what is already relayed is answered at once (§0.6).
                    if let Some((_, layers)) = source_info {
                        let t = new.substream_target.min(layers - 1);
                        if layers > 1
                            && prev.substream_target != new.substream_target
                            && line.current == Some(t)
                        {
                            events.push(RouterEvent::Substream {
                                subscriber: id,
                                sub_index: new.sub_index,
                                substream: t,
                            });
                        }
                    }
                    if prev.temporal_target != new.temporal_target
                        && line.announced_temporal == Some(new.temporal_target)
                    {
                        let (subscriber, sub_index, temporal) =
                            (id, new.sub_index, new.temporal_target);
                        events.push(if line.svc {
                            RouterEvent::TemporalLayer {
                                subscriber,
                                sub_index,
                                temporal,
                            }
                        } else {
                            RouterEvent::Temporal {
                                subscriber,
                                sub_index,
                                temporal,
                            }
                        });
                    }
                    if line.svc
                        && prev.substream_target != new.substream_target
                        && line.announced_spatial == Some(new.substream_target)
                    {
                        events.push(RouterEvent::SpatialLayer {
                            subscriber: id,
                            sub_index: new.sub_index,
                            spatial: new.substream_target,
                        });
                    }
                    line
                }
                None => Line::new(new, source_info.map(|(k, _)| k)),
            };
            lines.push(line);
        }
        let ext = self
            .subscriber_ext
            .get(&id)
            .copied()
            .unwrap_or(ExtensionIds::JANUS_SUBSCRIBER);
        self.subscribers[slot] = Some(Subscriber {
            id,
            peer,
            lines,
            ext,
            rtx_budget,
        });
        self.pending.extend(events.into_iter().map(Pending::Event));
        self.bind(slot);
        // A subscriber waiting for its first packet (or a new layer) needs a keyframe now.
        let sources: Vec<PublisherId> = self.subscribers[slot]
            .as_ref()
            .map(|s| {
                s.lines
                    .iter()
                    .filter_map(|l| l.sub.source.map(|x| x.0))
                    .collect()
            })
            .unwrap_or_default();
        for p in sources {
            if let Some(&ps) = self.publisher_slots.get(&p) {
                self.request_for_waiting_lines(now, ps);
            }
        }
    }

    /// An RTP forwarder acting as a viewer (Janus: `rtp_forward` with `simulcast: true`,
    /// whose simulcast context aims at substream 2 and temporal layer 2 with the default
    /// fallback): one line fed by `source`, relayed as `ssrc`/`pt` with every subscriber
    /// guarantee (keyframe switches, continuous numbers and timestamps, VP8 picture ids),
    /// and no header extensions — the receiver is plain RTP and negotiated none. Calling it
    /// again with the same source keeps the line's state.
    pub fn set_forwarder(
        &mut self,
        now: Instant,
        id: SubscriberId,
        peer: P,
        source: (PublisherId, usize),
        ssrc: u32,
        pt: u8,
    ) {
        self.set_subscriber_extensions(now, id, ExtensionIds::default());
        let line = Subscription {
            sub_index: 0,
            source: Some(source),
            ssrc,
            rtx_ssrc: None,
            pt,
            rtx_pt: None,
            send: true,
            substream_target: 2,
            temporal_target: 2,
            fallback_us: 0,
            playout_delay: None,
        };
        self.set_subscriber(now, id, peer, vec![line]);
    }

    pub fn remove_subscriber(&mut self, now: Instant, id: SubscriberId) {
        self.begin(now);
        self.subscriber_ext.remove(&id);
        let Some(slot) = self.subscriber_slots.remove(&id) else {
            return;
        };
        self.unbind(slot);
        self.subscribers[slot] = None;
        self.pending.retain(|p| match p {
            Pending::Retransmit { sub, .. } | Pending::Sr { sub, .. } => *sub != slot,
            _ => true,
        });
    }

    /// The publisher's header-extension IDs (kept until the publisher is removed).
    pub fn set_publisher_extensions(&mut self, now: Instant, id: PublisherId, ext: ExtensionIds) {
        self.begin(now);
        self.publisher_ext.insert(id, ext);
        if let Some(p) = self
            .publisher_slots
            .get(&id)
            .and_then(|&s| self.publishers.get_mut(s))
            .and_then(|p| p.as_mut())
        {
            p.ext = ext;
        }
    }

    /// The subscriber's header-extension IDs (kept until the subscriber is removed).
    pub fn set_subscriber_extensions(&mut self, now: Instant, id: SubscriberId, ext: ExtensionIds) {
        self.begin(now);
        self.subscriber_ext.insert(id, ext);
        if let Some(s) = self
            .subscriber_slots
            .get(&id)
            .and_then(|&s| self.subscribers.get_mut(s))
            .and_then(|s| s.as_mut())
        {
            s.ext = ext;
        }
    }

    /// `configure keyframe:true`: a PLI for every video stream (aggregated as usual).
    pub fn request_keyframe(&mut self, now: Instant, id: PublisherId) {
        self.begin(now);
        let Some(&slot) = self.publisher_slots.get(&id) else {
            return;
        };
        let Some(p) = self.publishers[slot].as_mut() else {
            return;
        };
        for s in p.streams.iter_mut().filter(|s| s.video) {
            s.kf.request(all_layers(s.layer_count()));
        }
        for si in 0..self.stream_count(slot) {
            self.queue_pli(now, slot, si);
        }
    }

    /// `configure bitrate`: a new REMB cap, sent at once (0 = back to the room's).
    pub fn set_publisher_bitrate(&mut self, now: Instant, id: PublisherId, bitrate: u32) {
        self.begin(now);
        let Some(&slot) = self.publisher_slots.get(&id) else {
            return;
        };
        let room = self.config.bitrate;
        let Some(p) = self.publishers[slot].as_mut() else {
            return;
        };
        p.bitrate = bitrate;
        let b = effective_bitrate(p.bitrate, room);
        if b > 0 {
            p.remb_last = Some(now);
            self.pending.push_back(Pending::Remb {
                publisher: slot,
                id,
                bitrate: b,
            });
        }
    }

    fn stream_count(&self, slot: usize) -> usize {
        self.publishers
            .get(slot)
            .and_then(|p| p.as_ref())
            .map_or(0, |p| p.streams.len())
    }

    fn bind(&mut self, slot: usize) {
        let Some(sub) = self.subscribers.get(slot).and_then(|s| s.as_ref()) else {
            return;
        };
        for (li, line) in sub.lines.iter().enumerate() {
            let Some((p, index)) = line.sub.source else {
                continue;
            };
            let Some(&ps) = self.publisher_slots.get(&p) else {
                continue;
            };
            let Some(pubr) = self.publishers[ps].as_mut() else {
                continue;
            };
            if let Some(pos) = pubr.stream_pos(index) {
                pubr.streams[pos].bindings.push((slot as u32, li as u32));
            }
        }
    }

    fn unbind(&mut self, slot: usize) {
        let Some(sub) = self.subscribers.get(slot).and_then(|s| s.as_ref()) else {
            return;
        };
        for line in &sub.lines {
            let Some((p, index)) = line.sub.source else {
                continue;
            };
            let Some(&ps) = self.publisher_slots.get(&p) else {
                continue;
            };
            let Some(pubr) = self.publishers[ps].as_mut() else {
                continue;
            };
            if let Some(pos) = pubr.stream_pos(index) {
                pubr.streams[pos]
                    .bindings
                    .retain(|&(s, _)| s as usize != slot);
            }
        }
    }

    /// Requests keyframes for every video line of this publisher's streams that waits for one.
    fn request_for_waiting_lines(&mut self, now: Instant, ps: usize) {
        let Some(pubr) = self.publishers.get_mut(ps).and_then(|p| p.as_mut()) else {
            return;
        };
        for stream in pubr.streams.iter_mut().filter(|s| s.video) {
            let layers = stream.layer_count();
            for &(si, li) in &stream.bindings {
                let Some(line) = self
                    .subscribers
                    .get(si as usize)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.lines.get(li as usize))
                else {
                    continue;
                };
                if line.current.is_some() || !line.sub.send {
                    continue;
                }
                let want = stream
                    .activity
                    .choose(line.sub.substream_target, layers, now, line.fallback())
                    .unwrap_or(line.sub.substream_target.min(layers - 1));
                stream.kf.request(1 << want);
            }
        }
        for si in 0..self.stream_count(ps) {
            self.queue_pli(now, ps, si);
        }
    }

    /// Queues a PLI compound for the stream if one is wanted and allowed now; otherwise makes
    /// sure the timer will come back for it.
    fn queue_pli(&mut self, now: Instant, ps: usize, si: usize) {
        let Some(p) = self.publishers.get_mut(ps).and_then(|p| p.as_mut()) else {
            return;
        };
        let id = p.id;
        let Some(s) = p.streams.get_mut(si) else {
            return;
        };
        let known = s.known_layers();
        let layers = s.kf.take(now, known);
        if layers != 0 {
            self.pending.push_back(Pending::Pli {
                publisher: ps,
                id,
                stream: si,
                layers,
            });
        } else if s.kf.wanted() & known != 0 {
            if let Some(t) = s.kf.next_due(now) {
                self.schedule(t);
            }
        }
    }

    // ----- media in ------------------------------------------------------------------------

    /// One RTP packet from a publisher: bookkeeping now, fan-out when polled.
    pub fn handle_packet(&mut self, now: Instant, pkt: IncomingPacket) {
        self.begin(now);
        self.stats.packets_in += 1;
        let room_bitrate = self.config.bitrate;
        let cache_age = self.cache_age();
        let (audio_window, audio_threshold) = (
            self.config.audio_active_packets,
            self.config.audio_level_average,
        );
        let fir = self.config.fir_freq;
        let Some(&ps) = self.publisher_slots.get(&pkt.publisher) else {
            self.stats.packets_invalid += 1;
            return;
        };
        let Some(publisher) = self.publishers[ps].as_mut() else {
            self.stats.packets_invalid += 1;
            return;
        };
        let Some(si) = publisher.stream_pos(pkt.index) else {
            self.stats.packets_invalid += 1;
            return;
        };
        let pext = publisher.ext;
        let stream = &mut publisher.streams[si];
        let layer_i = usize::from(pkt.layer);
        if pkt.layer >= stream.layer_count() {
            self.stats.packets_invalid += 1;
            return;
        }
        let Ok(view) = RtpView::try_parse(&pkt.packet) else {
            self.stats.packets_invalid += 1;
            return;
        };
        if view.payload_type() != stream.info.pt {
            self.stats.packets_invalid += 1;
            return;
        }
        let seq = view.sequence_number();
        let ssrc = view.ssrc();
        let video = stream.video;

        // Upstream: SSRC, restarts, losses, cache.
        let layer = &mut stream.layers[layer_i];
        let delta = layer.highest.map(|h| seq_delta(seq, h));
        let restart = match (layer.ssrc, delta) {
            (None, _) => true,
            // A different SSRC on an old number is a repair unwrapped from RTX (RFC 4588: the
            // engine restores OSN and PT, the SSRC stays the RTX one).
            (Some(s), Some(d)) if s != ssrc => !(-MAX_DROPOUT..=0).contains(&d),
            (Some(_), Some(d)) => !(-MAX_DROPOUT..=MAX_DROPOUT).contains(&d),
            (Some(_), None) => false,
        };
        let mut new_gap = false;
        let late;
        if restart {
            if layer.ssrc.is_some() {
                layer.epoch = layer.epoch.wrapping_add(1);
            }
            layer.ssrc = Some(ssrc);
            layer.highest = Some(seq);
            layer.missing.clear();
            match layer.cache.as_mut() {
                Some(c) => c.clear(),
                None => {
                    let slots = if video {
                        VIDEO_CACHE_SLOTS
                    } else {
                        AUDIO_CACHE_SLOTS
                    };
                    layer.cache = Some(RtxCache::new(slots, cache_age));
                    layer.missing = Vec::with_capacity(MAX_UPSTREAM_MISSING);
                }
            }
            late = false;
        } else {
            let d = delta.unwrap_or(1);
            late = d <= 0;
            if d > 0 {
                if video && d > 1 && (d as u16 - 1) <= MAX_NACK_GAP {
                    let h = layer.highest.unwrap_or(seq);
                    for k in 1..d as u16 {
                        if layer.missing.len() >= MAX_UPSTREAM_MISSING {
                            layer.missing.remove(0);
                        }
                        layer.missing.push(Missing {
                            seq: h.wrapping_add(k),
                            next_at: now,
                            tries: 0,
                        });
                    }
                    new_gap = true;
                } else if d as u16 > MAX_NACK_GAP + 1 {
                    layer.missing.clear();
                }
                layer.highest = Some(seq);
            } else if let Some(i) = layer.missing.iter().position(|m| m.seq == seq) {
                layer.missing.remove(i);
            }
        }
        // A late packet already cached is a duplicate (libwebrtc probes bandwidth by resending
        // old packets over RTX): it goes nowhere.
        if late && layer.cache.as_ref().is_some_and(|c| c.contains(seq)) {
            self.stats.duplicates += 1;
            return;
        }
        let epoch = layer.epoch;
        if !late {
            stream.activity.last_seen[layer_i] = Some(now);
        }

        // Codec descriptor, parsed once.
        let payload = view.payload();
        let mut meta = Meta {
            layer: pkt.layer,
            epoch,
            seq,
            ts: view.timestamp(),
            csrc_end: rtp::RTP_HEADER_LEN + 4 * usize::from(view.csrc_count()),
            payload_start: view.header_len(),
            ext: ExtValues::read(&view, &pext, stream.info.audio_level_ext),
            payload_len: payload.len(),
            late,
            keyframe_aware: false,
            keyframe: false,
            picture_start: true,
            tid: None,
            layer_sync: false,
            pid: None,
            tl0: None,
            svc: None,
            svc_unknown: false,
        };
        if video && !payload.is_empty() {
            describe(stream.info.codec, payload, &mut meta);
        }
        if video && stream.info.codec == Codec::Av1 {
            if let Some(dd) = meta.ext.dependency_descriptor(&pkt.packet) {
                match stream.dd.parse(dd) {
                    Ok(d) => describe_av1(&d, &mut meta),
                    Err(e) => {
                        meta.svc_unknown = true;
                        // The structure went with a lost key frame (or the stream was
                        // joined mid-way): only a new key frame brings one.
                        if !late && matches!(e, DdError::NoStructure | DdError::UnknownTemplate(_))
                        {
                            stream.kf.request(1);
                        }
                    }
                }
            }
        }
        // The cache keeps the buffer itself; the fan-out reads it from there.
        if let Some(c) = stream.layers[layer_i].cache.as_mut() {
            c.insert(seq, now, pkt.packet);
        }
        if meta.keyframe {
            stream.kf.keyframe_seen(pkt.layer);
        }
        let mut fir_due = None;
        if video && (meta.keyframe || stream.fir_base.is_none()) {
            stream.fir_base = Some(now);
            if fir > 0 {
                fir_due = Some(now + fir_period(fir));
            }
        }

        // Talking detection (RFC 6464 levels, Janus's window average).
        if !video && audio_window > 0 && !late {
            if let Some(level) = meta
                .ext
                .audio_level
                .and_then(|b| rtp::ext::audio_level(&[b]))
            {
                let t = &mut stream.talk;
                t.sum += u32::from(level.level);
                t.count += 1;
                if t.count >= audio_window {
                    let avg = t.sum as f32 / t.count as f32;
                    let talking = avg < f32::from(audio_threshold);
                    t.sum = 0;
                    t.count = 0;
                    if talking != t.talking {
                        t.talking = talking;
                        self.pending.push_back(Pending::Event(RouterEvent::Talking {
                            publisher: pkt.publisher,
                            index: pkt.index,
                            talking,
                            level_avg: avg,
                        }));
                    }
                }
            }
        }

        if new_gap {
            self.pending.push_back(Pending::UpstreamNack {
                publisher: ps,
                id: pkt.publisher,
                stream: si,
                layer: pkt.layer,
            });
        }

        // REMB ramp (plugins API §2.6).
        if video && !late {
            let b = effective_bitrate(publisher.bitrate, room_bitrate);
            if b > 0 {
                if publisher.remb_startup > 0 {
                    let step = publisher.remb_startup;
                    publisher.remb_startup -= 1;
                    publisher.remb_last = Some(now);
                    self.pending.push_back(Pending::Remb {
                        publisher: ps,
                        id: pkt.publisher,
                        bitrate: b / u32::from(step),
                    });
                } else if publisher
                    .remb_last
                    .is_none_or(|t| now.saturating_duration_since(t) >= REMB_INTERVAL)
                {
                    publisher.remb_last = Some(now);
                    self.pending.push_back(Pending::Remb {
                        publisher: ps,
                        id: pkt.publisher,
                        bitrate: b,
                    });
                }
            }
        }

        let wanted = publisher.streams[si].kf.wanted() != 0;
        if let Some(t) = fir_due {
            self.schedule(t);
        }
        if wanted {
            self.queue_pli(now, ps, si);
        }
        let has_bindings = self.publishers[ps]
            .as_ref()
            .is_some_and(|p| !p.streams[si].bindings.is_empty());
        if has_bindings {
            self.fanout = Some(Fanout {
                publisher: ps,
                stream: si,
                meta,
                next: 0,
            });
        }
    }

    /// RTCP from a subscriber: NACKs answered from the cache, PLI/FIR turned into an
    /// aggregated upstream PLI. Anything else (RR, REMB, TWCC) is not acted upon.
    pub fn handle_subscriber_rtcp(&mut self, now: Instant, id: SubscriberId, packet: &[u8]) {
        self.begin(now);
        let Some(&slot) = self.subscriber_slots.get(&id) else {
            return;
        };
        let mut budget = MAX_RETRANSMISSIONS_PER_RTCP;
        let mut keyframes: Vec<usize> = Vec::new();
        for pkt in CompoundIter::new(packet) {
            let Ok(pkt) = pkt else { break };
            match pkt.kind() {
                RtcpKind::Nack => {
                    let Ok(Rtcp::Nack(nack)) = pkt.parse() else {
                        continue;
                    };
                    let Some(li) = self.line_by_ssrc(slot, nack.media_ssrc) else {
                        continue;
                    };
                    for out_seq in nack.lost() {
                        self.stats.nacks_in += 1;
                        if budget == 0 {
                            self.stats.nack_misses += 1;
                            continue;
                        }
                        budget -= 1;
                        self.pending.push_back(Pending::Retransmit {
                            sub: slot,
                            id,
                            line: li,
                            out_seq,
                        });
                    }
                }
                RtcpKind::Pli => {
                    if let Some(li) = pkt.media_ssrc().and_then(|s| self.line_by_ssrc(slot, s)) {
                        if !keyframes.contains(&li) {
                            keyframes.push(li);
                        }
                    }
                }
                RtcpKind::Fir => {
                    let Ok(Rtcp::Fir(fir)) = pkt.parse() else {
                        continue;
                    };
                    for (ssrc, _) in fir.entries().take(MAX_LINES_PER_SUBSCRIBER) {
                        if let Some(li) = self.line_by_ssrc(slot, ssrc) {
                            if !keyframes.contains(&li) {
                                keyframes.push(li);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for li in keyframes {
            self.keyframe_for_line(now, slot, li);
        }
    }

    fn line_by_ssrc(&self, slot: usize, ssrc: u32) -> Option<usize> {
        let sub = self.subscribers.get(slot)?.as_ref()?;
        sub.lines.iter().position(|l| l.sub.ssrc == ssrc)
    }

    fn keyframe_for_line(&mut self, now: Instant, slot: usize, li: usize) {
        let Some(line) = self
            .subscribers
            .get(slot)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.lines.get(li))
        else {
            return;
        };
        let Some((p, index)) = line.sub.source else {
            return;
        };
        let Some(&ps) = self.publisher_slots.get(&p) else {
            return;
        };
        let Some(pubr) = self.publishers[ps].as_mut() else {
            return;
        };
        let Some(si) = pubr.stream_pos(index) else {
            return;
        };
        let stream = &mut pubr.streams[si];
        let layer = line
            .current
            .unwrap_or(line.sub.substream_target.min(stream.layer_count() - 1));
        stream.kf.request(1 << layer);
        self.queue_pli(now, ps, si);
    }

    /// RTCP from a publisher: sender reports are rewritten for every subscriber m-line that
    /// relays that layer now (SSRC and RTP timestamp mapped, counts our own — RFC 3550
    /// §6.4.1), which keeps audio/video sync at the receiver.
    pub fn handle_publisher_rtcp(&mut self, now: Instant, id: PublisherId, packet: &[u8]) {
        self.begin(now);
        let Some(&ps) = self.publisher_slots.get(&id) else {
            return;
        };
        for pkt in CompoundIter::new(packet) {
            let Ok(pkt) = pkt else { break };
            if pkt.kind() != RtcpKind::SenderReport {
                continue;
            }
            let Ok(Rtcp::SenderReport(sr)) = pkt.parse() else {
                continue;
            };
            let Some(pubr) = self.publishers[ps].as_ref() else {
                return;
            };
            for stream in &pubr.streams {
                let Some(layer) = stream.layers.iter().position(|l| l.ssrc == Some(sr.ssrc)) else {
                    continue;
                };
                let epoch = stream.layers[layer].epoch;
                for &(si, li) in &stream.bindings {
                    let Some(sub) = self.subscribers.get(si as usize).and_then(|s| s.as_ref())
                    else {
                        continue;
                    };
                    let Some(line) = sub.lines.get(li as usize) else {
                        continue;
                    };
                    let Some(ts_off) = line.ts_off else { continue };
                    if line.current != Some(layer as u8) || line.epoch != epoch || !line.sub.send {
                        continue;
                    }
                    self.pending.push_back(Pending::Sr {
                        sub: si as usize,
                        id: sub.id,
                        line: li as usize,
                        ntp: sr.ntp,
                        rtp_ts: sr.rtp_timestamp.wrapping_add(ts_off),
                    });
                }
            }
        }
    }

    // ----- timers --------------------------------------------------------------------------

    /// Upstream NACK retries, throttled PLIs that became due, `fir_freq` requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.begin(now);
        let fir = self.config.fir_freq;
        for ps in 0..self.publishers.len() {
            let Some(p) = self.publishers[ps].as_mut() else {
                continue;
            };
            let id = p.id;
            for (si, s) in p.streams.iter_mut().enumerate() {
                for (li, l) in s.layers.iter_mut().enumerate() {
                    l.missing
                        .retain(|m| m.tries < MAX_NACK_TRIES || m.next_at > now);
                    if l.missing
                        .iter()
                        .any(|m| m.tries < MAX_NACK_TRIES && m.next_at <= now)
                    {
                        self.pending.push_back(Pending::UpstreamNack {
                            publisher: ps,
                            id,
                            stream: si,
                            layer: li as u8,
                        });
                    }
                }
                if s.video && fir > 0 {
                    if let Some(base) = s.fir_base {
                        if now >= base + fir_period(fir) {
                            s.kf.request(s.known_layers());
                            s.fir_base = Some(now);
                        }
                    }
                }
            }
            for si in 0..self.stream_count(ps) {
                self.queue_pli(now, ps, si);
            }
        }
        self.recompute_timeout(now);
    }

    fn recompute_timeout(&mut self, now: Instant) {
        let fir = self.config.fir_freq;
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| {
            if next.is_none_or(|n| t < n) {
                next = Some(t);
            }
        };
        for p in self.publishers.iter().flatten() {
            for s in &p.streams {
                if s.kf.wanted() & s.known_layers() != 0 {
                    if let Some(t) = s.kf.next_due(now) {
                        at(t);
                    }
                }
                for l in &s.layers {
                    for m in &l.missing {
                        at(m.next_at);
                    }
                }
                if s.video && fir > 0 {
                    if let Some(base) = s.fir_base {
                        at(base + fir_period(fir));
                    }
                }
            }
        }
        self.next_timeout = next;
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next thing to send or report. RTP and RTCP borrow the scratch buffer.
    pub fn poll_output(&mut self) -> Option<RouterOutput<'_, P>> {
        let ready = self.next_ready()?;
        self.render(ready)
    }

    fn next_ready(&mut self) -> Option<Ready> {
        loop {
            if let Some(p) = self.pending.pop_front() {
                if let Some(r) = self.build_pending(p) {
                    return Some(r);
                }
                continue;
            }
            if self.fanout.is_some() {
                if let Some(r) = self.fanout_step() {
                    return Some(r);
                }
                continue;
            }
            return None;
        }
    }

    fn render(&self, ready: Ready) -> Option<RouterOutput<'_, P>> {
        Some(match ready {
            Ready::Rtp {
                sub,
                sub_index,
                len,
                retransmission,
            } => {
                let s = self.subscribers.get(sub)?.as_ref()?;
                RouterOutput::Rtp {
                    subscriber: s.id,
                    sub_index,
                    peer: &s.peer,
                    packet: self.scratch.get(..len)?,
                    retransmission,
                }
            }
            Ready::SubscriberRtcp { sub } => {
                let s = self.subscribers.get(sub)?.as_ref()?;
                RouterOutput::SubscriberRtcp {
                    subscriber: s.id,
                    peer: &s.peer,
                    packet: &self.scratch,
                }
            }
            Ready::PublisherRtcp { publisher } => {
                let p = self.publishers.get(publisher)?.as_ref()?;
                RouterOutput::PublisherRtcp {
                    publisher: p.id,
                    peer: &p.peer,
                    packet: &self.scratch,
                }
            }
            Ready::Event(e) => RouterOutput::Event(e),
        })
    }

    /// Forwards the current packet to the next bound m-line that takes it.
    fn fanout_step(&mut self) -> Option<Ready> {
        let now = self.now?;
        let f = self.fanout.as_mut()?;
        let Some(publisher) = self
            .publishers
            .get_mut(f.publisher)
            .and_then(|p| p.as_mut())
        else {
            self.fanout = None;
            return None;
        };
        let Some(stream) = publisher.streams.get_mut(f.stream) else {
            self.fanout = None;
            return None;
        };
        while let Some(&(si, li)) = stream.bindings.get(f.next) {
            f.next += 1;
            let Some(sub) = self
                .subscribers
                .get_mut(si as usize)
                .and_then(|s| s.as_mut())
            else {
                continue;
            };
            let sub_id = sub.id;
            let ext_ids = sub.ext;
            let Some(line) = sub.lines.get_mut(li as usize) else {
                continue;
            };
            match decide(line, stream, &f.meta, now, sub_id, &mut self.pending) {
                Verdict::Filter => {
                    self.stats.packets_filtered += 1;
                }
                Verdict::Drop => {
                    line.seq.drop_packet(f.meta.seq);
                    self.stats.packets_filtered += 1;
                }
                Verdict::Relay => {
                    let Some(packet) = stream
                        .layers
                        .get(usize::from(f.meta.layer))
                        .and_then(|l| l.cache.as_ref())
                        .and_then(|c| c.peek(f.meta.seq))
                    else {
                        self.stats.packets_filtered += 1;
                        continue;
                    };
                    let Some(len) = relay(
                        line,
                        &ext_ids,
                        &f.meta,
                        packet,
                        stream.info.clock_rate,
                        now,
                        &mut self.scratch,
                    ) else {
                        self.stats.packets_filtered += 1;
                        continue;
                    };
                    self.stats.packets_out += 1;
                    self.stats.bytes_out += len as u64;
                    return Some(Ready::Rtp {
                        sub: si as usize,
                        sub_index: line.sub.sub_index,
                        len,
                        retransmission: false,
                    });
                }
            }
        }
        // Done: lines that asked for keyframes during the fan-out get one PLI.
        let (ps, st) = (f.publisher, f.stream);
        self.fanout = None;
        if self.publishers[ps]
            .as_ref()
            .is_some_and(|p| p.streams[st].kf.wanted() != 0)
        {
            self.queue_pli(now, ps, st);
        }
        None
    }

    fn build_pending(&mut self, p: Pending) -> Option<Ready> {
        let now = self.now?;
        match p {
            Pending::Event(e) => Some(Ready::Event(e)),
            Pending::Retransmit {
                sub,
                id,
                line,
                out_seq,
            } => {
                let r = self.build_retransmission(now, sub, id, line, out_seq);
                if r.is_some() {
                    self.stats.retransmissions += 1;
                } else {
                    self.stats.nack_misses += 1;
                }
                r
            }
            Pending::Sr {
                sub,
                id,
                line,
                ntp,
                rtp_ts,
            } => {
                let s = self.subscribers.get(sub)?.as_ref().filter(|s| s.id == id)?;
                let l = s.lines.get(line)?;
                self.scratch.clear();
                rtcp::build_sr(
                    &mut self.scratch,
                    &SenderInfo {
                        ssrc: l.sub.ssrc,
                        ntp,
                        rtp_timestamp: rtp_ts,
                        packet_count: l.packets,
                        octet_count: l.octets,
                    },
                    &[],
                );
                self.stats.srs_sent += 1;
                Some(Ready::SubscriberRtcp { sub })
            }
            Pending::Pli {
                publisher,
                id,
                stream,
                layers,
            } => {
                let p = self
                    .publishers
                    .get(publisher)?
                    .as_ref()
                    .filter(|p| p.id == id)?;
                let s = p.streams.get(stream)?;
                self.scratch.clear();
                for (i, l) in s.layers.iter().enumerate() {
                    if let (true, Some(ssrc)) = (layers & (1 << i) != 0, l.ssrc) {
                        rtcp::build_pli(&mut self.scratch, FEEDBACK_SSRC, ssrc);
                    }
                }
                if self.scratch.is_empty() {
                    return None;
                }
                self.stats.plis_sent += 1;
                Some(Ready::PublisherRtcp { publisher })
            }
            Pending::UpstreamNack {
                publisher,
                id,
                stream,
                layer,
            } => {
                let p = self
                    .publishers
                    .get_mut(publisher)?
                    .as_mut()
                    .filter(|p| p.id == id)?;
                let l = p
                    .streams
                    .get_mut(stream)?
                    .layers
                    .get_mut(usize::from(layer))?;
                let ssrc = l.ssrc?;
                self.nack_list.clear();
                let mut retry = None;
                for m in &mut l.missing {
                    if m.tries < MAX_NACK_TRIES && m.next_at <= now {
                        self.nack_list.push(m.seq);
                        m.tries += 1;
                        m.next_at = now + NACK_RETRY_INTERVAL;
                        retry = Some(m.next_at);
                    }
                }
                if let Some(t) = retry {
                    self.schedule(t);
                }
                self.scratch.clear();
                if rtcp::build_nack(&mut self.scratch, FEEDBACK_SSRC, ssrc, &self.nack_list) == 0 {
                    return None;
                }
                self.stats.nacks_sent += 1;
                Some(Ready::PublisherRtcp { publisher })
            }
            Pending::Remb {
                publisher,
                id,
                bitrate,
            } => {
                let p = self
                    .publishers
                    .get(publisher)?
                    .as_ref()
                    .filter(|p| p.id == id)?;
                // The publisher's video SSRCs (draft-alvestrand-rmcat-remb §2.2).
                let mut ssrcs = [0u32; MAX_STREAMS_PER_PUBLISHER];
                let mut n = 0;
                for l in p.streams.iter().filter(|s| s.video).flat_map(|s| &s.layers) {
                    if let (Some(ssrc), true) = (l.ssrc, n < ssrcs.len()) {
                        ssrcs[n] = ssrc;
                        n += 1;
                    }
                }
                self.scratch.clear();
                rtcp::build_remb(
                    &mut self.scratch,
                    FEEDBACK_SSRC,
                    u64::from(bitrate),
                    &ssrcs[..n],
                );
                self.stats.rembs_sent += 1;
                Some(Ready::PublisherRtcp { publisher })
            }
        }
    }

    /// Rebuilds a packet a subscriber NACKed: its mapping entry names the original layer and
    /// number, and the offsets it was sent with; sent as RTX (RFC 4588 §4: OSN = the
    /// subscriber's number, on the RTX SSRC/PT with its own sequence) when negotiated.
    fn build_retransmission(
        &mut self,
        now: Instant,
        sub: usize,
        id: SubscriberId,
        li: usize,
        out_seq: u16,
    ) -> Option<Ready> {
        let s = self
            .subscribers
            .get_mut(sub)?
            .as_mut()
            .filter(|s| s.id == id)?;
        let line = s.lines.get_mut(li)?;
        let entry = line.out.get(out_seq)?;
        if !s.rtx_budget.has_tokens(now) {
            return None;
        }
        let (p, index) = line.sub.source?;
        if entry.source_gen != line.source_gen {
            return None;
        }
        let pubr = self
            .publishers
            .get(*self.publisher_slots.get(&p)?)?
            .as_ref()?;
        let stream = &pubr.streams[pubr.stream_pos(index)?];
        let layer = stream.layers.get(usize::from(entry.layer))?;
        if layer.epoch != entry.epoch {
            return None;
        }
        let original = layer.cache.as_ref()?.get(entry.in_seq, now)?;
        let view = RtpView::try_parse(original).ok()?;
        let mut pid = None;
        let mut tl0 = None;
        if stream.info.codec == Codec::Vp8 {
            if let Ok(d) = Vp8Descriptor::parse(view.payload()) {
                let (pid_at, tl0_at) = vp8_offsets(&d);
                pid = d.picture_id.zip(pid_at).map(|(v, at)| {
                    (
                        v.wrapping_add(entry.pid_off) & 0x7fff,
                        at,
                        d.picture_id_15bit,
                    )
                });
                tl0 = d
                    .tl0picidx
                    .zip(tl0_at)
                    .map(|(v, at)| (v.wrapping_add(entry.tl0_off), at));
            }
        } else if stream.info.codec == Codec::Vp9 {
            if let Ok(d) = Vp9Descriptor::parse(view.payload()) {
                let (p, t) = vp9_picture_ids(&d);
                pid = p.map(|(v, at, w)| (v.wrapping_add(entry.pid_off) & 0x7fff, at, w));
                tl0 = t.map(|(v, at)| (v.wrapping_add(entry.tl0_off), at));
            }
        }
        let ext =
            ExtValues::read(&view, &pubr.ext, stream.info.audio_level_ext).for_line(&line.sub);
        let rewrite = Rewrite {
            marker: entry.marker,
            pt: line.sub.pt,
            seq: out_seq,
            ts: view.timestamp().wrapping_add(entry.ts_off),
            ssrc: line.sub.ssrc,
            pid,
            tl0,
            ext_ids: &s.ext,
            mid: line.mid.as_bytes(),
            ext,
            dd: ext.dependency_descriptor(original),
        };
        let csrc_end = rtp::RTP_HEADER_LEN + 4 * usize::from(view.csrc_count());
        let target = if line.sub.rtx_ssrc.is_some() && line.sub.rtx_pt.is_some() {
            &mut self.scratch2
        } else {
            &mut self.scratch
        };
        write_packet(target, original, csrc_end, view.header_len(), &rewrite);
        if let (Some(rtx_ssrc), Some(rtx_pt)) = (line.sub.rtx_ssrc, line.sub.rtx_pt) {
            self.scratch.clear();
            rtp::rtx::wrap(
                &self.scratch2,
                rtx_pt,
                rtx_ssrc,
                line.rtx_seq,
                &mut self.scratch,
            )
            .ok()?;
            line.rtx_seq = line.rtx_seq.wrapping_add(1);
        }
        s.rtx_budget.spend();
        let len = self.scratch.len();
        self.stats.packets_out += 1;
        self.stats.bytes_out += len as u64;
        Some(Ready::Rtp {
            sub,
            sub_index: line.sub.sub_index,
            len,
            retransmission: true,
        })
    }
}

enum Verdict {
    /// Not for this m-line (other layer, paused, waiting for a keyframe): no trace left.
    Filter,
    /// Deliberately skipped inside the relayed stream: close the sequence gap.
    Drop,
    Relay,
}

/// Whether one m-line takes this packet, switching layers on keyframes.
fn decide(
    line: &mut Line,
    stream: &mut PubStream,
    meta: &Meta,
    now: Instant,
    subscriber: SubscriberId,
    pending: &mut VecDeque<Pending>,
) -> Verdict {
    if !line.sub.send {
        return Verdict::Filter;
    }
    let layers = stream.layer_count();
    let desired = if layers > 1 {
        stream
            .activity
            .choose(line.sub.substream_target, layers, now, line.fallback())
    } else {
        Some(0)
    };
    let on_current = line.current == Some(meta.layer) && line.epoch == meta.epoch;
    if !on_current {
        if desired != Some(meta.layer) || meta.late {
            return Verdict::Filter;
        }
        if stream.video && meta.keyframe_aware && !meta.keyframe {
            stream.kf.request(1 << meta.layer);
            return Verdict::Filter;
        }
        // Switch (or start) here: the receiver sees one stream continuing.
        line.current = Some(meta.layer);
        line.epoch = meta.epoch;
        line.seq.switch_source();
        if let Some(ts) = line.ts.as_mut() {
            ts.switch_source();
        }
        line.vp8.switch_source();
        if layers > 1 && line.announced_substream != Some(meta.layer) {
            line.announced_substream = Some(meta.layer);
            pending.push_back(Pending::Event(RouterEvent::Substream {
                subscriber,
                sub_index: line.sub.sub_index,
                substream: meta.layer,
            }));
        }
    } else if let Some(d) = desired.filter(|d| *d != meta.layer) {
        // Keep relaying this layer until the wanted one's keyframe arrives.
        stream.kf.request(1 << d);
    }
    if let Some(svc) = meta.svc.filter(|_| layers == 1) {
        return decide_svc(line, stream, meta, svc, subscriber, pending);
    }
    if meta.svc_unknown && line.svc {
        return Verdict::Drop;
    }
    if let Some(tid) = meta.tid {
        if meta.picture_start && !meta.late {
            if let Some(t) = next_temporal(
                line.temporal,
                line.sub.temporal_target,
                tid,
                meta.layer_sync,
                meta.keyframe,
            ) {
                line.temporal = t;
            }
        }
        if line.announced_temporal != Some(line.temporal) {
            line.announced_temporal = Some(line.temporal);
            pending.push_back(Pending::Event(RouterEvent::Temporal {
                subscriber,
                sub_index: line.sub.sub_index,
                temporal: line.temporal,
            }));
        }
        if tid > line.temporal {
            return Verdict::Drop;
        }
    }
    if meta.payload_len == 0 {
        // Padding only (bandwidth probing): nothing for the decoder.
        return Verdict::Drop;
    }
    Verdict::Relay
}

/// Spatial and temporal layers Janus lets a subscriber ask for (`spatial_layer`,
/// `temporal_layer`: 0..=2).
pub const MAX_SVC_LAYER: u8 = 2;

/// VP9 SVC (one SSRC carrying spatial and temporal layers, RFC 9628): which layers this
/// m-line takes. The targets are the subscription's `substream_target` (spatial) and
/// `temporal_target`.
///
/// - Spatial down: at the next picture start (lower layers never reference upper ones).
/// - Spatial up: at a keyframe's first packet, straight to the target (every layer frame of a
///   key picture is intra or inter-layer predicted only). Upper-layer frames with P=0 inside
///   other pictures are not used as entry points: the lower layers' last packet has gone out
///   already, marked as the end of the picture. While the publisher is seen sending a wanted
///   layer above the relayed one, a keyframe is requested (aggregated per stream).
/// - Temporal: as for VP8 ([`next_temporal`]), decided per picture, with U as the sync flag:
///   libwebrtc sets U exactly on frames that reference no frame of their own or a higher
///   temporal layer, so such a frame is a safe entry into its layer.
///   AV1 (dependency descriptor): down at the next picture; up straight to the target at a
///   key frame, or at a frame with DTI "switch" for the decode target of (relayed spatial,
///   target temporal) (AV1 RTP spec §A.8.3.3: no later frame of that target references an
///   earlier one): the picture's first frame, or a later frame of a relayed spatial layer
///   in a picture the line relays (same temporal id, so nothing of it was dropped). The
///   later frame matters for K-SVC (`L3T3_KEY`): there the spatial-layer-0 frame of a delta
///   picture is not part of the upper layers' decode targets, their switch points are their
///   own T0 frames.
/// - Marker: the packet ending the frame of the highest relayed spatial layer gets M=1
///   (RFC 9628 §4.1: M marks the last packet of the picture, as the receiver sees it).
fn decide_svc(
    line: &mut Line,
    stream: &mut PubStream,
    meta: &Meta,
    svc: SvcLayers,
    subscriber: SubscriberId,
    pending: &mut VecDeque<Pending>,
) -> Verdict {
    line.svc = true;
    let spatial_target = line.sub.substream_target.min(MAX_SVC_LAYER);
    let temporal_target = line.sub.temporal_target.min(MAX_SVC_LAYER);
    if meta.picture_start && !meta.late {
        if meta.keyframe || spatial_target < line.spatial {
            line.spatial = spatial_target;
        }
        let next = match svc.switch_dts {
            None => next_temporal(
                line.temporal,
                temporal_target,
                svc.tid,
                svc.switching_up,
                meta.keyframe,
            ),
            // AV1: down (or anything at a key frame) at the picture start; up below.
            Some(_) => (meta.keyframe || temporal_target < line.temporal)
                .then_some(temporal_target)
                .filter(|t| *t != line.temporal),
        };
        if let Some(t) = next {
            line.temporal = t;
        }
    }
    if let Some(switch) = svc.switch_dts {
        // AV1 up: straight to the target at a frame that is a switch point of the decode
        // target the line will follow, if everything before it in its picture was relayed.
        let entry = svc.frame_start
            && !meta.late
            && (meta.picture_start || (svc.sid <= line.spatial && svc.tid <= line.temporal));
        if entry && temporal_target > line.temporal {
            let at_switch = stream
                .dd
                .structure()
                .and_then(|st| st.decode_target_for(line.spatial, temporal_target))
                .is_some_and(|dt| switch & (1 << dt) != 0);
            if at_switch {
                line.temporal = temporal_target;
            }
        }
    }
    if svc.frame_start && !meta.late && svc.sid > line.spatial && svc.sid <= spatial_target {
        stream.kf.request(1);
    }
    if line.announced_spatial != Some(line.spatial) {
        line.announced_spatial = Some(line.spatial);
        pending.push_back(Pending::Event(RouterEvent::SpatialLayer {
            subscriber,
            sub_index: line.sub.sub_index,
            spatial: line.spatial,
        }));
    }
    if line.announced_temporal != Some(line.temporal) {
        line.announced_temporal = Some(line.temporal);
        pending.push_back(Pending::Event(RouterEvent::TemporalLayer {
            subscriber,
            sub_index: line.sub.sub_index,
            temporal: line.temporal,
        }));
    }
    if svc.sid > line.spatial || svc.tid > line.temporal || meta.payload_len == 0 {
        return Verdict::Drop;
    }
    Verdict::Relay
}

/// Rewrites the packet for one m-line into `scratch`; returns its length.
fn relay(
    line: &mut Line,
    ext_ids: &ExtensionIds,
    meta: &Meta,
    packet: &[u8],
    clock_rate: u32,
    now: Instant,
    scratch: &mut Vec<u8>,
) -> Option<usize> {
    let (out_seq, newest) = line.seq.relay(meta.seq)?;
    let ts_rw = line
        .ts
        .get_or_insert_with(|| TsRewriter::new(clock_rate.max(1)));
    let out_ts = ts_rw.rewrite(meta.ts, now);
    let ts_off = out_ts.wrapping_sub(meta.ts);
    line.ts_off = Some(ts_off);
    let (pid, tl0) = line
        .vp8
        .map(meta.pid.map(|p| p.0), meta.tl0.map(|t| t.0), newest);
    let (pid_off, tl0_off) = line.vp8.offsets();
    let marker = line.svc
        && meta
            .svc
            .is_some_and(|v| v.frame_end && v.sid == line.spatial);
    let rewrite = Rewrite {
        marker,
        pt: line.sub.pt,
        seq: out_seq,
        ts: out_ts,
        ssrc: line.sub.ssrc,
        pid: pid.zip(meta.pid).map(|(v, (_, at, w))| (v, at, w)),
        tl0: tl0.zip(meta.tl0).map(|(v, (_, at))| (v, at)),
        ext_ids,
        mid: line.mid.as_bytes(),
        ext: meta.ext.for_line(&line.sub),
        dd: meta.ext.dependency_descriptor(packet),
    };
    write_packet(scratch, packet, meta.csrc_end, meta.payload_start, &rewrite);
    line.out.insert(OutEntry {
        out_seq,
        in_seq: meta.seq,
        layer: meta.layer,
        epoch: meta.epoch,
        source_gen: line.source_gen,
        tl0_off,
        pid_off,
        ts_off,
        marker,
    });
    line.packets = line.packets.wrapping_add(1);
    line.octets = line.octets.wrapping_add(meta.payload_len as u32);
    Some(scratch.len())
}

/// How one outgoing packet differs from the published one.
struct Rewrite<'a> {
    /// Set the marker bit (it is otherwise kept as published).
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    /// (value, offset in the payload, 15-bit)
    pid: Option<(u16, usize, bool)>,
    /// (value, offset in the payload)
    tl0: Option<(u8, usize)>,
    /// The subscriber's extension IDs, its mid and the values carried over.
    ext_ids: &'a ExtensionIds,
    mid: &'a [u8],
    ext: ExtValues,
    /// The dependency descriptor's value, relayed as published.
    dd: Option<&'a [u8]>,
}

/// Writes the packet for one subscriber into `out` (one copy): the fixed header and CSRCs
/// with its PT, sequence number, timestamp and SSRC; a rebuilt RFC 8285 extension block
/// under its IDs (mid first; one-byte form unless a value needs two); the payload (and padding) untouched except the VP8
/// picture id / TL0PICIDX.
fn write_packet(
    out: &mut Vec<u8>,
    packet: &[u8],
    csrc_end: usize,
    payload_start: usize,
    r: &Rewrite<'_>,
) {
    out.clear();
    let (Some(head), Some(body)) = (packet.get(..csrc_end), packet.get(payload_start..)) else {
        return;
    };
    if head.len() < rtp::RTP_HEADER_LEN {
        return;
    }
    out.extend_from_slice(head);
    let ext_start = out.len();
    // RFC 8285 §4.3: the two-byte form when an element does not fit the one-byte form's
    // 16 bytes (a dependency descriptor carrying its structure). Our SDP always has
    // `a=extmap-allow-mixed` (`sdp::merge_transport`), and the receiver parses both forms.
    let two_byte = r.dd.is_some_and(|v| v.len() > 16);
    out.extend_from_slice(if two_byte {
        &[0x10, 0x00, 0, 0]
    } else {
        &[0xBE, 0xDE, 0, 0]
    });
    let mut put = |id: Option<u8>, value: &[u8]| {
        let Some(id) = id else { return };
        if two_byte {
            if id >= 1 && value.len() <= 255 {
                out.push(id);
                out.push(value.len() as u8);
                out.extend_from_slice(value);
            }
        } else if (1..=14).contains(&id) && (1..=16).contains(&value.len()) {
            out.push((id << 4) | (value.len() as u8 - 1));
            out.extend_from_slice(value);
        }
    };
    put(r.ext_ids.mid, r.mid);
    if let Some(v) = r.ext.audio_level {
        put(r.ext_ids.audio_level, &[v]);
    }
    if let Some(v) = r.ext.video_orientation {
        put(r.ext_ids.video_orientation, &[v]);
    }
    if let Some(v) = r.ext.playout_delay {
        put(r.ext_ids.playout_delay, &v);
    }
    if let Some(v) = r.dd {
        put(r.ext_ids.dependency_descriptor, v);
    }
    if out.len() == ext_start + 4 {
        out.truncate(ext_start);
        out[0] &= !0x10;
    } else {
        while !(out.len() - ext_start).is_multiple_of(4) {
            out.push(0);
        }
        let words = ((out.len() - ext_start - 4) / 4) as u16;
        out[ext_start + 2..ext_start + 4].copy_from_slice(&words.to_be_bytes());
        out[0] |= 0x10;
    }
    let payload_at = out.len();
    out.extend_from_slice(body);
    out[1] = (out[1] & 0x80) | (r.pt & 0x7f);
    if r.marker {
        out[1] |= 0x80;
    }
    out[2..4].copy_from_slice(&r.seq.to_be_bytes());
    out[4..8].copy_from_slice(&r.ts.to_be_bytes());
    out[8..12].copy_from_slice(&r.ssrc.to_be_bytes());
    if let Some((v, at, wide)) = r.pid {
        let at = payload_at + at;
        if wide {
            if let Some(b) = out.get_mut(at..at + 2) {
                b.copy_from_slice(&(0x8000 | (v & 0x7fff)).to_be_bytes());
            }
        } else if let Some(b) = out.get_mut(at) {
            *b = (v & 0x7f) as u8;
        }
    }
    if let Some((v, at)) = r.tl0 {
        if let Some(b) = out.get_mut(payload_at + at) {
            *b = v;
        }
    }
}

/// Offsets of the picture id and TL0PICIDX in a VP8 payload (RFC 7741 §4.2: after the
/// required octet and the X octet).
fn vp8_offsets(d: &Vp8Descriptor) -> (Option<usize>, Option<usize>) {
    let pid_len = d
        .picture_id
        .map_or(0, |_| 1 + usize::from(d.picture_id_15bit));
    (d.picture_id.map(|_| 2), d.tl0picidx.map(|_| 2 + pid_len))
}

/// A picture id as found in a payload: (value, offset, 15-bit).
type PictureIdAt = (u16, usize, bool);
/// A TL0PICIDX as found in a payload: (value, offset).
type Tl0At = (u8, usize);

/// Picture id (value, offset, 15-bit) and TL0PICIDX (value, offset) of a VP9 payload: the
/// same continuity rewrite as VP8's (`Vp8Rewrite`) applies across source switches.
fn vp9_picture_ids(d: &Vp9Descriptor) -> (Option<PictureIdAt>, Option<Tl0At>) {
    (
        d.picture_id
            .zip(d.picture_id_offset)
            .map(|(v, at)| (v, at, d.picture_id_15bit)),
        d.tl0picidx.zip(d.tl0picidx_offset),
    )
}

/// Keyframe and layer facts of a video payload (one parse per published packet).
fn describe(codec: Codec, payload: &[u8], meta: &mut Meta) {
    match codec {
        Codec::Vp8 => {
            meta.keyframe_aware = true;
            let Ok(d) = Vp8Descriptor::parse(payload) else {
                return;
            };
            meta.keyframe = d.is_keyframe(payload);
            meta.picture_start = d.start_of_partition && d.partition_id == 0;
            meta.tid = d.tid;
            meta.layer_sync = d.layer_sync;
            let (pid_at, tl0_at) = vp8_offsets(&d);
            meta.pid = d
                .picture_id
                .zip(pid_at)
                .map(|(v, at)| (v, at, d.picture_id_15bit));
            meta.tl0 = d.tl0picidx.zip(tl0_at);
        }
        Codec::H264 => {
            meta.keyframe_aware = true;
            meta.keyframe = rtp::h264::is_keyframe(payload);
        }
        Codec::Vp9 => {
            meta.keyframe_aware = true;
            let Ok(d) = Vp9Descriptor::parse(payload) else {
                return;
            };
            // RFC 9628 §4.2: the first packet (B=1) of the lowest spatial layer, P=0.
            meta.keyframe = d.is_keyframe();
            meta.picture_start = d.is_picture_start();
            (meta.pid, meta.tl0) = vp9_picture_ids(&d);
            // Temporal layers of a simulcast VP9 stream go the VP8 way (`decide`), with U as
            // the sync flag; a single-SSRC stream with layer indices goes `decide_svc`.
            meta.tid = d.tid;
            meta.layer_sync = d.switching_up;
            meta.svc = d.sid.zip(d.tid).map(|(sid, tid)| SvcLayers {
                sid,
                tid,
                switching_up: d.switching_up,
                switch_dts: None,
                frame_start: d.start_of_frame,
                frame_end: d.end_of_frame,
            });
        }
        Codec::Av1 => {
            // AV1 RTP spec §4.4: N=1 marks the first packet of a coded video sequence.
            meta.keyframe_aware = true;
            meta.keyframe = payload.first().is_some_and(|b| b & 0x08 != 0);
        }
        _ => {}
    }
}

/// Layer facts of an AV1 packet from its dependency descriptor (AV1 RTP spec §A.8): one
/// frame per spatial layer, so a picture (temporal unit) starts at a spatial-layer-0 frame
/// start. Key frames stay those of the aggregation header's N bit (`describe`).
fn describe_av1(d: &FrameDescriptor, meta: &mut Meta) {
    meta.picture_start = d.start_of_frame && d.spatial_id == 0;
    // For AV1 simulcast (a layer per SSRC) `decide` takes the temporal id; with no U/Y
    // bit to trust there it climbs only at key frames.
    meta.tid = Some(d.temporal_id);
    meta.layer_sync = false;
    meta.svc = Some(SvcLayers {
        sid: d.spatial_id,
        tid: d.temporal_id,
        switching_up: false,
        switch_dts: Some(d.switch_mask()),
        frame_start: d.start_of_frame,
        frame_end: d.end_of_frame,
    });
}

fn effective_bitrate(publisher: u32, room: u32) -> u32 {
    let b = if publisher > 0 { publisher } else { room };
    if b > 0 {
        b.max(MIN_REMB_BITRATE)
    } else {
        0
    }
}

fn fir_period(fir_freq: u32) -> Duration {
    Duration::from_secs(u64::from(fir_freq))
}

fn all_layers(n: u8) -> u8 {
    ((1u16 << n.min(8)) - 1) as u8
}

fn free_slot<T>(v: &mut Vec<Option<T>>) -> usize {
    match v.iter().position(|s| s.is_none()) {
        Some(i) => i,
        None => {
            v.push(None);
            v.len() - 1
        }
    }
}
