//! Sequence-number and timestamp arithmetic (RFC 3550 §A.1, RFC 1982 serial numbers) and the
//! rewriters that turn a switching source (simulcast layer changes, publisher swaps) into one
//! continuous outgoing stream, as Janus's `janus_rtp_header_update` does.

use std::time::Instant;

/// `a - b` in 16-bit serial arithmetic (positive when `a` is newer).
pub fn seq_delta(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// Whether `a` comes after `b` (RFC 1982 §3.2; half the space apart counts as not newer).
pub fn seq_is_newer(a: u16, b: u16) -> bool {
    seq_delta(a, b) > 0
}

/// `a - b` for 32-bit RTP timestamps.
pub fn ts_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

pub fn ts_is_newer(a: u32, b: u32) -> bool {
    ts_delta(a, b) > 0
}

/// Extends 16-bit sequence numbers to 64 bits by counting roll-overs (RFC 3550 §A.1).
/// Reordered packets are placed relative to the highest seen, so a late packet from
/// before a wrap gets the previous cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqUnwrapper {
    highest: Option<i64>,
}

impl SeqUnwrapper {
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended sequence number of `seq` (the first packet has cycle 0; a packet from
    /// before the first one's cycle saturates at 0).
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.highest {
            None => i64::from(seq),
            Some(h) => h + i64::from(seq_delta(seq, h as u16)),
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        ext.max(0) as u64
    }

    /// Highest extended sequence number seen.
    pub fn highest(&self) -> Option<u64> {
        self.highest.map(|h| h.max(0) as u64)
    }

    /// Roll-over count of the highest packet (RFC 3550 §A.1 `cycles >> 16`).
    pub fn cycles(&self) -> u64 {
        self.highest().map_or(0, |h| h >> 16)
    }
}

/// Maps incoming sequence numbers onto one continuous outgoing space.
///
/// After [`switch_source`](Self::switch_source) the next packet continues at the highest
/// outgoing number + 1, whatever its own number. Older (reordered or retransmitted) packets
/// keep the current offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqRewriter {
    offset: u16,
    highest_in: Option<u16>,
    highest_out: Option<u16>,
    start: Option<u16>,
    switching: bool,
}

impl SeqRewriter {
    /// The first packet keeps its number.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first packet is numbered `out_seq` (e.g. a random start, RFC 3550 §5.1).
    pub fn starting_at(out_seq: u16) -> Self {
        SeqRewriter {
            start: Some(out_seq),
            ..Self::default()
        }
    }

    /// The next packet comes from a new source: re-base on it.
    pub fn switch_source(&mut self) {
        self.switching = true;
    }

    pub fn rewrite(&mut self, seq: u16) -> u16 {
        if self.switching || self.highest_in.is_none() {
            let next = match self.highest_out {
                Some(h) => h.wrapping_add(1),
                None => self.start.unwrap_or(seq),
            };
            self.offset = next.wrapping_sub(seq);
            self.highest_in = None;
            self.switching = false;
        }
        let out = seq.wrapping_add(self.offset);
        if self.highest_in.is_none_or(|h| seq_is_newer(seq, h)) {
            self.highest_in = Some(seq);
            self.highest_out = Some(out);
        }
        out
    }

    /// A packet the relay chose not to forward (e.g. a dropped temporal layer): later
    /// packets close the gap so the receiver does not NACK it. Only packets newer than any
    /// seen shift the offset.
    pub fn drop_packet(&mut self, seq: u16) {
        if self.switching || self.highest_in.is_none() {
            return;
        }
        if self.highest_in.is_some_and(|h| seq_is_newer(seq, h)) {
            self.offset = self.offset.wrapping_sub(1);
            self.highest_in = Some(seq);
        }
    }

    /// Highest outgoing sequence number so far.
    pub fn last_out(&self) -> Option<u16> {
        self.highest_out
    }
}

/// Maps incoming RTP timestamps onto one continuous outgoing timeline. On a switch the next
/// packet's timestamp advances from the last one by the wall-clock time elapsed (at least one
/// tick), so playout stays plausible for the receiver's jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsRewriter {
    clock_rate: u32,
    offset: u32,
    highest_in: Option<u32>,
    highest_out: Option<u32>,
    last_time: Option<Instant>,
    start: Option<u32>,
    switching: bool,
}

impl TsRewriter {
    /// `clock_rate` in Hz (48000 for Opus, 90000 for video).
    pub fn new(clock_rate: u32) -> Self {
        TsRewriter {
            clock_rate,
            offset: 0,
            highest_in: None,
            highest_out: None,
            last_time: None,
            start: None,
            switching: false,
        }
    }

    pub fn starting_at(clock_rate: u32, out_ts: u32) -> Self {
        TsRewriter {
            start: Some(out_ts),
            ..Self::new(clock_rate)
        }
    }

    pub fn switch_source(&mut self) {
        self.switching = true;
    }

    pub fn rewrite(&mut self, ts: u32, now: Instant) -> u32 {
        if self.switching || self.highest_in.is_none() {
            let next = match (self.highest_out, self.last_time) {
                (Some(out), Some(t)) => {
                    let micros = now.saturating_duration_since(t).as_micros();
                    let ticks = (micros * u128::from(self.clock_rate) / 1_000_000)
                        .min(u128::from(u32::MAX / 2));
                    out.wrapping_add((ticks as u32).max(1))
                }
                (Some(out), None) => out.wrapping_add(1),
                _ => self.start.unwrap_or(ts),
            };
            self.offset = next.wrapping_sub(ts);
            self.highest_in = None;
            self.switching = false;
        }
        let out = ts.wrapping_add(self.offset);
        if self
            .highest_in
            .is_none_or(|h| ts_is_newer(ts, h) || ts == h)
        {
            self.highest_in = Some(ts);
            self.highest_out = Some(out);
            self.last_time = Some(now);
        }
        out
    }

    pub fn last_out(&self) -> Option<u32> {
        self.highest_out
    }
}
