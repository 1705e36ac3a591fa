//! Per-SSRC SRTP/SRTCP state: packet-index estimation (RFC 3711 §3.3.1, Appendix A), replay
//! windows (§3.3.2) and the bounded table that holds them. Fixed-size arrays throughout: after
//! an SSRC's slot is created, nothing here allocates.

use super::{SrtpError, MAX_SSRCS_PER_DIRECTION};

/// Largest SRTP packet index: 48 bits, ROC ‖ SEQ (RFC 3711 §3.3.1). Past it the master key
/// must be replaced (§9.2).
pub(super) const MAX_SRTP_INDEX: u64 = (1 << 48) - 1;
/// Largest SRTCP index: 31 bits (RFC 3711 §3.4).
pub(super) const MAX_SRTCP_INDEX: u32 = (1 << 31) - 1;

/// RFC 3711 Appendix A: the 48-bit index of sequence number `seq`, guessed from the highest
/// index `last` seen so far (ROC = `last >> 16`, s_l = its low 16 bits). A packet that would
/// fall before the stream's start (ROC - 1 with ROC = 0) is taken as being in ROC 0, as
/// libsrtp and webrtc-rs do. `None` when the guess overflows 48 bits (key exhausted).
pub(super) fn estimate_index(last: u64, seq: u16) -> Option<u64> {
    let roc = last >> 16;
    let s_l = i32::from(last as u16);
    let seq_i = i32::from(seq);
    let v = if s_l < 32_768 {
        if seq_i - s_l > 32_768 {
            roc.saturating_sub(1)
        } else {
            roc
        }
    } else if s_l - 32_768 > seq_i {
        roc + 1
    } else {
        roc
    };
    let index = (v << 16) | u64::from(seq);
    (index <= MAX_SRTP_INDEX).then_some(index)
}

/// A sliding replay window of `64 × WORDS` indices below the highest one accepted, kept as a
/// ring of bits (bit `index mod size`).
#[derive(Clone)]
pub(super) struct ReplayWindow<const WORDS: usize> {
    top: u64,
    bits: [u64; WORDS],
}

impl<const WORDS: usize> ReplayWindow<WORDS> {
    const SIZE: u64 = 64 * WORDS as u64;

    /// A window whose first accepted index is `first`.
    pub(super) fn new(first: u64) -> Self {
        let mut w = ReplayWindow {
            top: first,
            bits: [0; WORDS],
        };
        w.set(first);
        w
    }

    fn slot(index: u64) -> (usize, u64) {
        let pos = index % Self::SIZE;
        ((pos / 64) as usize, 1 << (pos % 64))
    }

    fn set(&mut self, index: u64) {
        let (w, b) = Self::slot(index);
        self.bits[w] |= b;
    }

    /// Whether `index` may be processed: newer than the highest, or inside the window and not
    /// seen. Checked before authentication; [`Self::accept`] records it only after.
    pub(super) fn check(&self, index: u64) -> Result<(), SrtpError> {
        if index > self.top {
            return Ok(());
        }
        if self.top - index >= Self::SIZE {
            return Err(SrtpError::Replayed);
        }
        let (w, b) = Self::slot(index);
        if self.bits[w] & b != 0 {
            Err(SrtpError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records an authenticated `index`, sliding the window when it is the newest.
    pub(super) fn accept(&mut self, index: u64) {
        if index > self.top {
            if index - self.top >= Self::SIZE {
                self.bits = [0; WORDS];
            } else {
                // Forget the indices the window slides over (whole words when aligned).
                let mut i = self.top + 1;
                while i <= index {
                    let (w, b) = Self::slot(i);
                    if b == 1 && index - i >= 63 {
                        self.bits[w] = 0;
                        i += 64;
                    } else {
                        self.bits[w] &= !b;
                        i += 1;
                    }
                }
            }
            self.top = index;
        }
        self.set(index);
    }
}

/// SRTP replay window: 1024 packets, wide enough for NACK-driven reordering.
pub(super) type RtpWindow = ReplayWindow<16>;
/// SRTCP replay window: 128 indices.
pub(super) type RtcpWindow = ReplayWindow<2>;

/// State of one SRTP stream (RFC 3711 §3.2.1): the highest index (ROC ‖ s_l) and, inbound,
/// the replay window.
pub(super) struct RtpStream {
    pub(super) index: u64,
    pub(super) window: RtpWindow,
}

impl RtpStream {
    pub(super) fn new(index: u64) -> Self {
        RtpStream {
            index,
            window: RtpWindow::new(index),
        }
    }

    /// Records an authenticated (inbound) or protected (outbound) `index`.
    pub(super) fn advance(&mut self, index: u64) {
        self.window.accept(index);
        self.index = self.index.max(index);
    }
}

/// State of one SRTCP stream: the next index to send (outbound) or the replay window
/// (inbound).
pub(super) struct RtcpStream {
    pub(super) next: u32,
    pub(super) window: RtcpWindow,
}

impl RtcpStream {
    pub(super) fn outbound() -> Self {
        RtcpStream {
            next: 0,
            window: RtcpWindow::new(0),
        }
    }

    pub(super) fn inbound(first: u32) -> Self {
        RtcpStream {
            next: 0,
            window: RtcpWindow::new(u64::from(first)),
        }
    }
}

/// At most [`MAX_SSRCS_PER_DIRECTION`] streams; a linear scan of the SSRC keys beats hashing
/// at this size.
pub(super) struct SsrcTable<T> {
    ssrcs: Vec<u32>,
    streams: Vec<T>,
}

impl<T> SsrcTable<T> {
    pub(super) fn new() -> Self {
        SsrcTable {
            ssrcs: Vec::new(),
            streams: Vec::new(),
        }
    }

    pub(super) fn position(&self, ssrc: u32) -> Option<usize> {
        self.ssrcs.iter().position(|s| *s == ssrc)
    }

    pub(super) fn is_full(&self) -> bool {
        self.ssrcs.len() >= MAX_SSRCS_PER_DIRECTION
    }

    pub(super) fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.streams.get_mut(slot)
    }

    /// Adds a stream (the only allocation: the tables grow up to the cap).
    pub(super) fn insert(&mut self, ssrc: u32, stream: T) -> Result<usize, SrtpError> {
        if self.is_full() {
            return Err(SrtpError::TooManySsrcs);
        }
        self.ssrcs.push(ssrc);
        self.streams.push(stream);
        Ok(self.streams.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_estimation_follows_rfc3711_appendix_a() {
        // In order and across the roll-over.
        assert_eq!(estimate_index(10, 11), Some(11));
        assert_eq!(estimate_index(0xfffe, 0xffff), Some(0xffff));
        assert_eq!(estimate_index(0xffff, 0), Some(0x1_0000));
        assert_eq!(estimate_index(0xfff0, 5), Some(0x1_0005));
        // A late packet from before the roll-over keeps the old ROC.
        assert_eq!(estimate_index(0x1_0005, 0xfff0), Some(0xfff0));
        // Nothing precedes ROC 0.
        assert_eq!(estimate_index(5, 0xfff0), Some(0xfff0));
        // ROC exhausted.
        assert_eq!(estimate_index(MAX_SRTP_INDEX, 0), None);
    }

    #[test]
    fn replay_window_accepts_reordering_and_refuses_duplicates_and_old_packets() {
        let mut w = RtpWindow::new(100);
        assert!(w.check(100).is_err());
        for i in [102, 101, 150, 120] {
            assert!(w.check(i).is_ok(), "{i}");
            w.accept(i);
            assert!(w.check(i).is_err(), "{i} again");
        }
        assert!(w.check(149).is_ok());
        // Slide by more than a word, then by more than the window.
        w.accept(150 + 200);
        assert!(w.check(150).is_err(), "seen");
        assert!(w.check(151).is_ok(), "in the window, unseen");
        w.accept(350 + 1024);
        assert!(w.check(350).is_err(), "too old");
        assert!(w.check(351).is_ok());
        assert!(w.check(1373).is_ok());
        // Sliding reuses the ring: the bit of 5 now stands for 133, and 5 is too old.
        let mut w = RtcpWindow::new(0);
        w.accept(5);
        w.accept(133);
        assert!(w.check(133).is_err());
        assert!(w.check(5).is_err(), "older than the window");
        assert!(w.check(6).is_ok());
        assert!(w.check(132).is_ok());
    }
}
