//! The retransmission cache of one published layer: a ring of the last packets, indexed by
//! sequence number, answering subscribers' NACKs (RFC 4585 §6.2.1) with RTX (RFC 4588) or
//! plain retransmissions. Entries are the received `Bytes` themselves (a refcount, no copy)
//! and expire after the room's NACK queue depth (Janus `min_nack_queue`, ≥ 1 s here).

use std::time::{Duration, Instant};

use bytes::Bytes;

/// Slots per video layer: 1 s of 1,200-byte packets at ~16 Mbit/s (a power of two, so the
/// slot is `seq & mask`; 16-bit sequence numbers never alias inside it).
pub(crate) const VIDEO_CACHE_SLOTS: usize = 2048;
/// Slots per audio stream: 10 s of 20 ms Opus frames.
pub(crate) const AUDIO_CACHE_SLOTS: usize = 512;
/// Shortest age a cached packet is kept for, whatever the configuration says: a NACK needs
/// at least an RTT plus the receiver's reaction time to come back.
pub(crate) const MIN_CACHE_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Slot {
    seq: u16,
    at: Instant,
    packet: Bytes,
}

#[derive(Debug)]
pub(crate) struct RtxCache {
    slots: Box<[Option<Slot>]>,
    mask: usize,
    max_age: Duration,
}

impl RtxCache {
    /// `slots` is rounded up to a power of two.
    pub(crate) fn new(slots: usize, max_age: Duration) -> Self {
        let n = slots.max(2).next_power_of_two();
        RtxCache {
            slots: vec![None; n].into_boxed_slice(),
            mask: n - 1,
            max_age: max_age.max(MIN_CACHE_AGE),
        }
    }

    pub(crate) fn set_max_age(&mut self, max_age: Duration) {
        self.max_age = max_age.max(MIN_CACHE_AGE);
    }

    /// Keeps `packet` (sequence number `seq`); the slot's previous occupant is released.
    /// Takes the buffer itself: a `Bytes` made from a `Vec` allocates a shared header on its
    /// first clone, so the fan-out reads the packet from here instead of cloning it.
    pub(crate) fn insert(&mut self, seq: u16, now: Instant, packet: Bytes) {
        if let Some(slot) = self.slots.get_mut(usize::from(seq) & self.mask) {
            *slot = Some(Slot {
                seq,
                at: now,
                packet,
            });
        }
    }

    /// The packet with sequence number `seq`, whatever its age.
    pub(crate) fn peek(&self, seq: u16) -> Option<&Bytes> {
        match self.slots.get(usize::from(seq) & self.mask)? {
            Some(s) if s.seq == seq => Some(&s.packet),
            _ => None,
        }
    }

    /// The packet with sequence number `seq`, if still cached and not older than the depth.
    pub(crate) fn get(&self, seq: u16, now: Instant) -> Option<&Bytes> {
        match self.slots.get(usize::from(seq) & self.mask)? {
            Some(s) if s.seq == seq && now.saturating_duration_since(s.at) <= self.max_age => {
                Some(&s.packet)
            }
            _ => None,
        }
    }

    /// Whether `seq` was received (whatever its age): a late copy of it is a duplicate.
    pub(crate) fn contains(&self, seq: u16) -> bool {
        self.peek(seq).is_some()
    }

    /// Forgets everything (the publisher restarted its sequence space).
    pub(crate) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_found_by_seq_until_overwritten_or_expired() {
        let t0 = Instant::now();
        let mut c = RtxCache::new(8, Duration::from_millis(10));
        for seq in 65530u16..=65535 {
            c.insert(seq, t0, Bytes::from(vec![seq as u8]));
        }
        c.insert(0, t0, Bytes::from_static(b"z"));
        assert_eq!(c.get(65535, t0).map(|b| b[0]), Some(255));
        assert_eq!(c.get(0, t0).map(|b| b[0]), Some(b'z'));
        // 8 slots: 65531 + 8 wraps onto 3.
        c.insert(3, t0, Bytes::from_static(b"x"));
        assert!(c.get(65531, t0).is_none());
        // The floor of 1 s applies.
        assert!(c.get(0, t0 + Duration::from_millis(999)).is_some());
        assert!(c.get(0, t0 + Duration::from_millis(1001)).is_none());
        assert!(c.contains(0) && !c.contains(65531));
        c.clear();
        assert!(c.get(3, t0).is_none());
    }
}
