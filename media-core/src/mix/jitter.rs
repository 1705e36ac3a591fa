//! A participant's jitter buffer: packets in by sequence number, one packet (or a loss) out
//! per playout step.
//!
//! Sequence numbers are extended to 64 bits relative to the playout point, so wrap-around is
//! invisible. Playout starts once `prebuffer` packets are held (or the span they cover
//! reaches it); a packet older than the playout point is late and dropped, one already held
//! is a duplicate. A hole at the playout point is a loss; the packet right after it is lent
//! out with the loss so the decoder can use its in-band FEC. When nothing is held for
//! [`MAX_CONCEALED`] steps in a row the sender has stopped (DTX, mute, hang-up): the buffer
//! goes idle and prebuffers again on the next packet instead of concealing forever.
//!
//! Storage is a fixed ring of `Bytes` (the received buffers themselves): nothing is
//! allocated per packet.

use bytes::Bytes;

use crate::rtp::seq_delta;

/// Ring size: the largest span of sequence numbers held at once (~1.3 s of 20 ms packets).
pub const SLOTS: usize = 64;
/// Consecutive empty steps concealed before the buffer goes idle (100 ms of 20 ms frames).
pub const MAX_CONCEALED: u32 = 5;

/// Stored for packets without an audio level.
const NO_LEVEL: u8 = 0xFF;

/// Why a packet was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Older than the playout point.
    Late,
    /// Already held.
    Duplicate,
}

/// What one playout step yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The next packet's payload and its RFC 6464 level (when it carried one).
    Packet(&'a Bytes, Option<u8>),
    /// The next packet is missing; `next` is the following one when held (its FEC covers the
    /// loss).
    Lost { next: Option<&'a Bytes> },
    /// Not playing: prebuffering or idle.
    Silent,
}

#[derive(Debug)]
pub struct JitterBuffer {
    /// (extended sequence number, payload, RFC 6464 level or [`NO_LEVEL`]).
    slots: Box<[Option<(u64, Bytes, u8)>]>,
    prebuffer: u16,
    /// Extended sequence number of the next packet to play; `None` while not playing.
    next: Option<u64>,
    /// Extended sequence numbers are anchored on the first packet after a reset.
    anchor: Option<u64>,
    held: usize,
    /// Lowest and highest held extended sequence numbers.
    low: u64,
    high: u64,
    empty_steps: u32,
    /// The packet played by the last step.
    current: Option<Bytes>,
    /// Packets dropped because they were too far ahead of the playout point.
    pub overflows: u64,
}

/// Extended sequence numbers start here so that packets a little older than the first one
/// never underflow.
const BASE: u64 = 1 << 32;

impl JitterBuffer {
    pub fn new(prebuffer: u16) -> Self {
        JitterBuffer {
            slots: (0..SLOTS).map(|_| None).collect(),
            prebuffer: prebuffer.clamp(1, (SLOTS / 2) as u16),
            next: None,
            anchor: None,
            held: 0,
            low: 0,
            high: 0,
            empty_steps: 0,
            current: None,
            overflows: 0,
        }
    }

    pub fn set_prebuffer(&mut self, prebuffer: u16) {
        self.prebuffer = prebuffer.clamp(1, (SLOTS / 2) as u16);
    }

    /// Forgets everything (new source, decoder reset).
    pub fn reset(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.next = None;
        self.anchor = None;
        self.held = 0;
        self.empty_steps = 0;
        self.current = None;
    }

    pub fn is_playing(&self) -> bool {
        self.next.is_some()
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// The extended form of `seq` relative to the playout point (or the last anchor).
    fn extend(&self, seq: u16) -> u64 {
        let reference = self.next.or(self.anchor).unwrap_or(BASE);
        let d = i64::from(seq_delta(seq, reference as u16));
        reference.wrapping_add_signed(d)
    }

    /// Takes one packet's payload, with its RFC 6464 audio level when it carried one.
    pub fn push(&mut self, seq: u16, payload: Bytes, level: Option<u8>) -> Result<(), Rejected> {
        if self.next.is_none() && self.anchor.is_none() {
            self.anchor = Some(BASE + u64::from(seq));
        }
        let ext = self.extend(seq);
        if let Some(next) = self.next {
            if ext < next {
                return Err(Rejected::Late);
            }
        }
        // Too far ahead of what is held: the sender jumped (restart, long outage) or we are
        // starved. Start over from this packet rather than hold a sparse ring.
        let floor = match self.next {
            Some(n) => n,
            None if self.held > 0 => self.low,
            None => ext,
        };
        if ext >= floor + SLOTS as u64 || (self.held > 0 && ext + (SLOTS as u64) <= self.high) {
            self.overflows += self.held as u64;
            self.reset();
            self.anchor = Some(BASE + u64::from(seq));
            return self.push(seq, payload, level);
        }
        let slot = &mut self.slots[(ext % SLOTS as u64) as usize];
        if matches!(slot, Some((s, _, _)) if *s == ext) {
            return Err(Rejected::Duplicate);
        }
        // A stale entry from a previous lap cannot exist: the span is bounded by SLOTS.
        *slot = Some((ext, payload, level.unwrap_or(NO_LEVEL)));
        if self.held == 0 {
            self.low = ext;
            self.high = ext;
        } else {
            self.low = self.low.min(ext);
            self.high = self.high.max(ext);
        }
        self.held += 1;
        self.empty_steps = 0;
        Ok(())
    }

    /// One playout step. A `Packet` or `Lost { next }` borrows the buffer until the next call.
    pub fn pop(&mut self) -> Playout<'_> {
        let next = match self.next {
            Some(n) => n,
            None => {
                if self.held == 0 {
                    return Playout::Silent;
                }
                // Start when enough is held: by count, or by span (losses in the prebuffer).
                let span = self.high - self.low + 1;
                if self.held < usize::from(self.prebuffer) && span < u64::from(self.prebuffer) {
                    return Playout::Silent;
                }
                self.low
            }
        };
        if self.held == 0 {
            self.empty_steps += 1;
            if self.empty_steps > MAX_CONCEALED {
                self.reset();
                return Playout::Silent;
            }
            self.next = Some(next + 1);
            return Playout::Lost { next: None };
        }
        self.next = Some(next + 1);
        let i = (next % SLOTS as u64) as usize;
        if matches!(&self.slots[i], Some((s, _, _)) if *s == next) {
            self.held -= 1;
            if self.held > 0 {
                self.low = next + 1;
            }
            // Moved out of the ring (the slot is free again) and lent from `current` until
            // the next step; the previous one is dropped here.
            let (payload, level) = match self.slots[i].take() {
                Some((_, b, l)) => (Some(b), l),
                None => (None, NO_LEVEL),
            };
            self.current = payload;
            match &self.current {
                Some(b) => Playout::Packet(b, (level != NO_LEVEL).then_some(level)),
                None => Playout::Lost { next: None },
            }
        } else {
            let j = ((next + 1) % SLOTS as u64) as usize;
            match &self.slots[j] {
                Some((s, b, _)) if *s == next + 1 => Playout::Lost { next: Some(b) },
                _ => Playout::Lost { next: None },
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    fn take(j: &mut JitterBuffer) -> Option<u8> {
        match j.pop() {
            Playout::Packet(b, _) => Some(b[0]),
            _ => None,
        }
    }

    #[test]
    fn prebuffers_then_plays_in_order() {
        let mut j = JitterBuffer::new(3);
        j.push(10, p(10), None).unwrap();
        j.push(11, p(11), None).unwrap();
        assert_eq!(j.pop(), Playout::Silent);
        j.push(12, p(12), None).unwrap();
        assert_eq!(take(&mut j), Some(10));
        assert_eq!(take(&mut j), Some(11));
        assert_eq!(take(&mut j), Some(12));
    }

    #[test]
    fn reorders() {
        let mut j = JitterBuffer::new(3);
        for s in [5u16, 3, 4] {
            j.push(s, p(s as u8), None).unwrap();
        }
        assert_eq!(take(&mut j), Some(3));
        assert_eq!(take(&mut j), Some(4));
        assert_eq!(take(&mut j), Some(5));
    }

    #[test]
    fn duplicates_and_late_packets_are_rejected() {
        let mut j = JitterBuffer::new(2);
        j.push(1, p(1), None).unwrap();
        assert_eq!(j.push(1, p(1), None), Err(Rejected::Duplicate));
        j.push(2, p(2), None).unwrap();
        assert_eq!(take(&mut j), Some(1));
        assert_eq!(j.push(1, p(1), None), Err(Rejected::Late));
        assert_eq!(j.push(0, p(0), None), Err(Rejected::Late));
        assert_eq!(take(&mut j), Some(2));
    }

    #[test]
    fn loss_lends_the_next_packet_for_fec() {
        let mut j = JitterBuffer::new(2);
        j.push(1, p(1), None).unwrap();
        j.push(3, p(3), None).unwrap();
        assert_eq!(take(&mut j), Some(1));
        match j.pop() {
            Playout::Lost { next: Some(b) } => assert_eq!(b[0], 3),
            other => panic!("expected a loss with FEC, got {other:?}"),
        }
        assert_eq!(take(&mut j), Some(3));
    }

    #[test]
    fn sequence_wrap_is_seamless() {
        let mut j = JitterBuffer::new(2);
        for s in [65534u16, 65535, 0, 1] {
            j.push(s, p(s as u8), None).unwrap();
        }
        let got: Vec<_> = (0..4).map(|_| take(&mut j)).collect();
        assert_eq!(got, vec![Some(254), Some(255), Some(0), Some(1)]);
        // Across the wrap, an old packet is still late.
        assert_eq!(j.push(65535, p(0), None), Err(Rejected::Late));
    }

    #[test]
    fn conceals_briefly_then_goes_idle_and_restarts() {
        let mut j = JitterBuffer::new(1);
        j.push(100, p(1), None).unwrap();
        assert_eq!(take(&mut j), Some(1));
        for _ in 0..MAX_CONCEALED {
            assert_eq!(j.pop(), Playout::Lost { next: None });
        }
        assert_eq!(j.pop(), Playout::Silent);
        assert!(!j.is_playing());
        // The sender resumes far ahead: it plays again from there.
        j.push(900, p(9), None).unwrap();
        assert_eq!(take(&mut j), Some(9));
    }

    #[test]
    fn a_jump_far_ahead_restarts_the_buffer() {
        let mut j = JitterBuffer::new(1);
        j.push(1, p(1), None).unwrap();
        j.push(2, p(2), None).unwrap();
        j.push(30_000, p(7), None).unwrap();
        assert_eq!(j.overflows, 2);
        assert_eq!(take(&mut j), Some(7));
    }

    #[test]
    fn prebuffer_starts_on_span_when_packets_are_missing() {
        let mut j = JitterBuffer::new(3);
        j.push(10, p(10), None).unwrap();
        assert_eq!(j.pop(), Playout::Silent);
        j.push(12, p(12), None).unwrap();
        assert_eq!(take(&mut j), Some(10));
        assert!(matches!(j.pop(), Playout::Lost { next: Some(_) }));
        assert_eq!(take(&mut j), Some(12));
    }
}
