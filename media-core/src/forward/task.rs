//! The room task: one tokio task per room owning a [`RoomCore`] (`&mut`, no lock per packet),
//! fed by an unbounded control channel (signalling rate) and a bounded media channel (packet
//! rate; full = drop and count, never block the engine's receive task).
//!
//! Publishers' and subscribers' peers get [`MediaSink`]s that only `try_send` into the media
//! channel: nothing else runs on the engine's receive task. The task drains the core after
//! every input — each RTP output is a slice of the core's scratch buffer, encrypted once for
//! its subscriber straight into an [`RtpBatch`] arena slot — and sends the batch with one
//! `sendmmsg` when the arena is full (64 packets) and after handling everything that woke it
//! (so nothing queued outlives the wake-up: a removed subscriber gets nothing more). The
//! fan-out allocates nothing of its own per packet per subscriber. It then sleeps until the
//! core's next timer. RTCP stays on [`Peer::send_rtcp`] (a few per second). RTP forwarders
//! ([`Target::Egress`]) send each packet through their own egress at once (one `sendto`, no
//! batch: there are few of them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::room::{CoreStats, RoomCore, RouterOutput};
use super::{
    IncomingPacket, PublisherId, RoomConfig, RouterInput, RouterObserver, SubscriberId, Target,
};
use crate::engine::{MediaSink, Peer, RtpBatch, RtpIn};

/// Media-channel depth: ~4 s of a 1,000 packet/s room. A burst beyond it means the task is
/// starved; dropping (and counting) is better than growing memory or blocking the receive task.
pub const MEDIA_QUEUE: usize = 4096;
/// Media inputs taken from the channel per wake-up (amortises the wake-up and `Instant::now`).
const MEDIA_BATCH: usize = 64;
/// Sleep used when the core has no timer (re-armed as soon as it has one).
const IDLE: Duration = Duration::from_secs(3600);

/// Counters of one room, readable from any thread (the metrics and Admin API read them).
/// The task stores its core's totals after every batch; the sinks count queue drops.
#[derive(Debug, Default)]
pub struct RouterStats {
    /// RTP packets received from publishers (through the media channel).
    pub packets_in: AtomicU64,
    /// RTP packets handed to subscribers' peers (retransmissions included).
    pub packets_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Inputs dropped because the media channel was full.
    pub media_queue_drops: AtomicU64,
    /// Sends that failed (peer not connected yet, socket busy, SRTP error).
    pub send_errors: AtomicU64,
    /// `sendmmsg` calls that carried the RTP (packets_out / this = packets per syscall).
    pub send_syscalls: AtomicU64,
    /// Packets a subscriber did not get by choice (layer/temporal filtering, paused, waiting
    /// for a keyframe).
    pub packets_filtered: AtomicU64,
    /// Packets the core refused (unknown publisher or stream, malformed, unexpected PT).
    pub packets_invalid: AtomicU64,
    /// Duplicate publisher packets not relayed again (RTX probes).
    pub duplicates: AtomicU64,
    /// Sequence numbers subscribers NACKed.
    pub nacks_in: AtomicU64,
    /// NACKed packets retransmitted from the cache.
    pub retransmissions: AtomicU64,
    /// NACKed packets no longer (or never) in the cache.
    pub nack_misses: AtomicU64,
    /// NACK packets sent to publishers.
    pub nacks_sent: AtomicU64,
    /// PLI compounds sent to publishers.
    pub plis_sent: AtomicU64,
    pub rembs_sent: AtomicU64,
    /// Sender reports sent to subscribers.
    pub srs_sent: AtomicU64,
}

impl RouterStats {
    fn publish(&self, c: &CoreStats, send_errors: u64, send_syscalls: u64) {
        let r = Ordering::Relaxed;
        self.send_syscalls.store(send_syscalls, r);
        self.packets_in.store(c.packets_in, r);
        self.packets_out.store(c.packets_out, r);
        self.bytes_out.store(c.bytes_out, r);
        self.packets_filtered.store(c.packets_filtered, r);
        self.packets_invalid.store(c.packets_invalid, r);
        self.duplicates.store(c.duplicates, r);
        self.nacks_in.store(c.nacks_in, r);
        self.retransmissions.store(c.retransmissions, r);
        self.nack_misses.store(c.nack_misses, r);
        self.nacks_sent.store(c.nacks_sent, r);
        self.plis_sent.store(c.plis_sent, r);
        self.rembs_sent.store(c.rembs_sent, r);
        self.srs_sent.store(c.srs_sent, r);
        self.send_errors.store(send_errors, r);
    }
}

enum Control {
    Input(RouterInput),
    Close,
}

/// The plugins' handle on a room's forwarding task. Cheap to clone; the task ends on
/// [`close`](Self::close) or when every handle is gone.
#[derive(Clone)]
pub struct RouterHandle {
    ctrl: mpsc::UnboundedSender<Control>,
    media: mpsc::Sender<RouterInput>,
    stats: Arc<RouterStats>,
}

impl std::fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterHandle").finish_non_exhaustive()
    }
}

impl RouterHandle {
    /// Starts the room task (inside a tokio runtime).
    pub fn spawn(config: RoomConfig, observer: Arc<dyn RouterObserver>) -> RouterHandle {
        let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
        let (media, media_rx) = mpsc::channel(MEDIA_QUEUE);
        let stats = Arc::new(RouterStats::default());
        let core = RoomCore::new(config);
        tokio::spawn(run(core, ctrl_rx, media_rx, observer, stats.clone()));
        RouterHandle { ctrl, media, stats }
    }

    /// Control input: never dropped (unbounded control channel, bounded by signaling rate).
    pub fn control(&self, input: RouterInput) {
        // A send error means the task ended (room closed): nothing left to configure.
        let _ = self.ctrl.send(Control::Input(input));
    }

    /// The sink to install on a publisher's peer (`peer.set_sink(..)`): packets go into the
    /// bounded media channel, dropped and counted when full.
    pub fn publisher_sink(&self, publisher: PublisherId) -> Arc<dyn MediaSink> {
        Arc::new(PublisherSink {
            publisher,
            media: self.media.clone(),
            stats: self.stats.clone(),
        })
    }

    /// The sink to install on a subscriber's peer: its RTCP (NACK/PLI/FIR) reaches the room.
    pub fn subscriber_sink(&self, subscriber: SubscriberId) -> Arc<dyn MediaSink> {
        Arc::new(SubscriberSink {
            subscriber,
            media: self.media.clone(),
            stats: self.stats.clone(),
        })
    }

    /// Packets in/out, drops, NACKs served, PLIs sent.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Ends the task (room destroyed).
    pub fn close(&self) {
        let _ = self.ctrl.send(Control::Close);
    }
}

fn try_media(media: &mpsc::Sender<RouterInput>, stats: &RouterStats, input: RouterInput) {
    if media.try_send(input).is_err() {
        stats.media_queue_drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs on the engine's receive task: one `try_send`, nothing else.
struct PublisherSink {
    publisher: PublisherId,
    media: mpsc::Sender<RouterInput>,
    stats: Arc<RouterStats>,
}

impl MediaSink for PublisherSink {
    fn on_rtp(&self, _peer: &Peer, rtp: RtpIn) {
        let input = RouterInput::Packet(IncomingPacket {
            publisher: self.publisher,
            index: rtp.stream,
            layer: rtp.layer,
            packet: rtp.packet,
        });
        try_media(&self.media, &self.stats, input);
    }

    fn on_rtcp(&self, _peer: &Peer, packet: Bytes) {
        let input = RouterInput::PublisherRtcp {
            publisher: self.publisher,
            packet,
        };
        try_media(&self.media, &self.stats, input);
    }
}

/// A subscriber's peer only sends RTCP (its m-lines are recvonly).
struct SubscriberSink {
    subscriber: SubscriberId,
    media: mpsc::Sender<RouterInput>,
    stats: Arc<RouterStats>,
}

impl MediaSink for SubscriberSink {
    fn on_rtp(&self, _peer: &Peer, _rtp: RtpIn) {}

    fn on_rtcp(&self, _peer: &Peer, packet: Bytes) {
        let input = RouterInput::SubscriberRtcp {
            subscriber: self.subscriber,
            packet,
        };
        try_media(&self.media, &self.stats, input);
    }
}

async fn run(
    mut core: RoomCore<Target>,
    mut ctrl_rx: mpsc::UnboundedReceiver<Control>,
    mut media_rx: mpsc::Receiver<RouterInput>,
    observer: Arc<dyn RouterObserver>,
    stats: Arc<RouterStats>,
) {
    let mut batch: Vec<RouterInput> = Vec::with_capacity(MEDIA_BATCH);
    let mut out = RtpBatch::new();
    let mut send_errors = 0u64;
    let mut armed: Option<Instant> = None;
    let sleep = tokio::time::sleep(IDLE);
    tokio::pin!(sleep);
    let mut media_open = true;
    loop {
        let deadline = core.poll_timeout();
        if deadline != armed {
            armed = deadline;
            let at = deadline.unwrap_or_else(|| Instant::now() + IDLE);
            sleep.as_mut().reset(tokio::time::Instant::from_std(at));
        }
        tokio::select! {
            // Control first: a removed subscriber must not get one more packet.
            biased;
            c = ctrl_rx.recv() => match c {
                Some(Control::Input(input)) => {
                    core.handle_input(Instant::now(), input);
                }
                Some(Control::Close) | None => break,
            },
            n = media_rx.recv_many(&mut batch, MEDIA_BATCH), if media_open => {
                if n == 0 {
                    media_open = false;
                }
                let now = Instant::now();
                for input in batch.drain(..) {
                    core.handle_input(now, input);
                    drain(&mut core, observer.as_ref(), &mut out, &mut send_errors);
                }
            }
            () = &mut sleep, if armed.is_some() => {
                armed = None;
                core.handle_timeout(Instant::now());
            }
        }
        drain(&mut core, observer.as_ref(), &mut out, &mut send_errors);
        out.flush();
        let b = out.stats();
        stats.publish(core.stats(), send_errors + b.dropped, b.syscalls);
    }
}

/// Takes everything the core has queued. Each RTP output borrows the core's scratch buffer,
/// so it is encrypted into the batch before the next one is produced; the batch sends itself
/// when full, the caller flushes the rest.
fn drain(
    core: &mut RoomCore<Target>,
    observer: &dyn RouterObserver,
    batch: &mut RtpBatch,
    send_errors: &mut u64,
) {
    while let Some(out) = core.poll_output() {
        let sent = match out {
            RouterOutput::Rtp { peer, packet, .. } => match peer {
                Target::Peer(p) => batch.push_rtp(p, packet).map_err(drop),
                Target::Egress(e) => e.send_rtp(packet).map_err(drop),
            },
            RouterOutput::SubscriberRtcp { peer, packet, .. }
            | RouterOutput::PublisherRtcp { peer, packet, .. } => match peer {
                Target::Peer(p) => p.send_rtcp(packet).map_err(drop),
                // Janus's forwarders send no sender reports (RTCP only flows back from
                // the receiver on `rtcp_port`).
                Target::Egress(_) => Ok(()),
            },
            RouterOutput::Event(e) => {
                observer.on_event(e);
                Ok(())
            }
        };
        if sent.is_err() {
            *send_errors += 1;
        }
    }
}
