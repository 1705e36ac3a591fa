//! TEST ONLY: a share of one peer's outgoing RTP thrown away before encryption, as if the
//! network had lost it, so that real browsers exercise NACK/RTX repair end to end.
//!
//! Off by default; the application only turns it on through an Admin API request that exists
//! when its config enables test hooks (`[admin] test_hooks = true`). Off, it costs the send
//! path one relaxed atomic load. On, a racy xorshift32 decides (lost updates between senders
//! only repeat a draw, which is harmless for a loss emulator).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Per-peer loss setting and counter.
#[derive(Debug)]
pub(crate) struct TestLoss {
    /// Share of packets dropped, 0..=100 (0 = off).
    percent: AtomicU32,
    /// xorshift32 state (never 0).
    rng: AtomicU32,
    /// Packets dropped so far.
    dropped: AtomicU64,
}

impl Default for TestLoss {
    fn default() -> Self {
        TestLoss {
            percent: AtomicU32::new(0),
            rng: AtomicU32::new(0x9E37_79B9),
            dropped: AtomicU64::new(0),
        }
    }
}

impl TestLoss {
    /// Sets the share of packets to drop (clamped to 100; 0 turns it off).
    pub(crate) fn set(&self, percent: u8) {
        self.percent
            .store(u32::from(percent.min(100)), Ordering::Relaxed);
    }

    /// Whether to drop the packet about to be sent.
    #[inline]
    pub(crate) fn drop_next(&self) -> bool {
        let p = self.percent.load(Ordering::Relaxed);
        if p == 0 {
            return false;
        }
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.store(x, Ordering::Relaxed);
        let drop = x % 100 < p;
        if drop {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_drops_about_the_share_asked() {
        let l = TestLoss::default();
        assert!((0..1000).all(|_| !l.drop_next()));
        l.set(20);
        let n = (0..10_000).filter(|_| l.drop_next()).count();
        assert!((1700..2300).contains(&n), "dropped {n} of 10000 at 20%");
        assert_eq!(l.dropped(), n as u64);
        l.set(0);
        assert!((0..1000).all(|_| !l.drop_next()));
        l.set(250);
        assert!((0..100).all(|_| l.drop_next()), "clamped to 100%");
    }
}
