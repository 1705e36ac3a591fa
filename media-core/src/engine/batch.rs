//! [`RtpBatch`]: RTP for many peers, encrypted into one reused arena and sent with one
//! `sendmmsg` per socket ([`crate::net::udp`]).
//!
//! Why: the room task turns one published packet into N subscriber packets back to back.
//! [`Peer::send_rtp`] makes one `sendto` per packet; the batch makes one syscall per
//! [`MAX_BATCH`] packets. Each packet is encrypted straight into its arena slot under the
//! peer's own SRTP lock ([`Peer::protect_rtp_into`]), so the batched path allocates nothing
//! per packet and copies no more than `send_rtp` does. Per-packet engine counters become
//! one update per flush.
//!
//! The caller decides when to flush: the room task flushes when the arena is full and when
//! it has handled everything that woke it, so a packet waits at most for ~64 encryptions.
//! Packets left in a dropped batch are not sent: flush first.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::peer::PeerShared;
use super::{EngineShared, Peer, SendError};
use crate::net::udp::{SendBatch, SendOutcome, MAX_BATCH};

/// Totals of one batch's flushes (the owner folds them into its own stats).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    pub flushes: u64,
    pub syscalls: u64,
    pub sent: u64,
    /// Packets encrypted but not sent (socket buffer full, destination refused).
    pub dropped: u64,
}

/// An arena of up to [`MAX_BATCH`] encrypted RTP packets waiting for one `sendmmsg`.
pub struct RtpBatch {
    datagrams: SendBatch,
    /// The peer of each queued packet (drops are counted per peer).
    owners: Vec<Arc<PeerShared>>,
    /// The engine whose sockets the queued packets leave from.
    engine: Option<Arc<EngineShared>>,
    stats: BatchStats,
}

impl std::fmt::Debug for RtpBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpBatch")
            .field("queued", &self.datagrams.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for RtpBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RtpBatch {
    pub fn new() -> Self {
        RtpBatch {
            datagrams: SendBatch::new(),
            owners: Vec::with_capacity(MAX_BATCH),
            engine: None,
            stats: BatchStats::default(),
        }
    }

    /// Packets queued and not yet flushed.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    pub fn stats(&self) -> BatchStats {
        self.stats
    }

    /// Encrypts `packet` for `peer` into the arena; flushes first when the arena is full (or
    /// the peer belongs to another engine than the queued packets). Errors are those of
    /// [`Peer::protect_rtp_into`]; nothing is queued then.
    pub fn push_rtp(&mut self, peer: &Peer, packet: &[u8]) -> Result<(), SendError> {
        if peer.shared.test_loss.drop_next() {
            return Ok(()); // "lost on the network" (test hook, as in `Peer::send_rtp`)
        }
        let same_engine = self
            .engine
            .as_ref()
            .is_some_and(|e| Arc::ptr_eq(e, &peer.shared.engine));
        if !same_engine && !self.is_empty() {
            self.flush();
        }
        if self.datagrams.is_full() {
            self.flush();
        }
        if !same_engine {
            self.engine = Some(peer.shared.engine.clone());
        }
        let Some(buf) = self.datagrams.next_buf() else {
            return Err(SendError::WouldBlock);
        };
        let to = peer.protect_rtp_into(packet, buf)?;
        self.datagrams.commit(to);
        self.owners.push(peer.shared.clone());
        Ok(())
    }

    /// Sends everything queued (one `sendmmsg` per socket used) and empties the arena.
    pub fn flush(&mut self) -> SendOutcome {
        let mut out = SendOutcome::default();
        if let (Some(engine), false) = (self.engine.as_ref(), self.datagrams.is_empty()) {
            let owners = &self.owners;
            out = engine.send_batch(&self.datagrams, |i| {
                if let Some(p) = owners.get(i) {
                    p.counters.send_drops.fetch_add(1, Ordering::Relaxed);
                }
            });
            self.stats.flushes += 1;
            self.stats.syscalls += out.calls as u64;
            self.stats.sent += out.sent as u64;
            self.stats.dropped += out.dropped as u64;
        }
        self.datagrams.clear();
        self.owners.clear();
        out
    }
}
