//! Per-subscriber header continuity (what Janus's `janus_rtp_header_update` and
//! `janus_vp8_simulcast_descriptor_update` do): one outgoing sequence space, timestamp line
//! and VP8 picture-id / TL0PICIDX space across source switches, with deliberate drops
//! (temporal layers, padding) closed so the receiver never NACKs them.
//!
//! Why not `rtp::SeqRewriter`: it keeps its offset private, and relaying needs it twice —
//! for NACKs (subscriber sequence number → original packet, [`OutMap`]) and for packets that
//! arrive late (an upstream retransmission after some drops must get the number it would
//! have had, not the current offset). [`SeqMap`] is the same rewriter with a ring of the
//! offset each incoming number saw.

use crate::rtp::seq_is_newer;

/// Incoming numbers remembered per subscriber m-line for late packets, and outgoing numbers
/// remembered for NACK translation: a power of two covering the RTX cache's second.
pub(crate) const VIDEO_SEQ_MAP: usize = 1024;
pub(crate) const AUDIO_SEQ_MAP: usize = 256;
/// A late packet whose successors are all further than this is too old to place.
const MAX_LATE_SEARCH: u16 = 64;

/// Sequence-number rewriting with drop closing (RFC 3550 §5.1 continuity for the receiver).
#[derive(Debug)]
pub(crate) struct SeqMap {
    offset: u16,
    highest_in: Option<u16>,
    last_out: Option<u16>,
    rebase: bool,
    /// `(incoming seq, offset in force just before it)` per incoming seq.
    seen: Box<[Option<(u16, u16)>]>,
    mask: usize,
}

impl SeqMap {
    pub(crate) fn new(len: usize) -> Self {
        let n = len.max(2).next_power_of_two();
        SeqMap {
            offset: 0,
            highest_in: None,
            last_out: None,
            rebase: false,
            seen: vec![None; n].into_boxed_slice(),
            mask: n - 1,
        }
    }

    /// The next packet comes from another source: it continues at the last number + 1.
    pub(crate) fn switch_source(&mut self) {
        self.rebase = true;
    }

    fn begin(&mut self, seq: u16) {
        if self.rebase || self.highest_in.is_none() {
            let next = self.last_out.map_or(seq, |o| o.wrapping_add(1));
            self.offset = next.wrapping_sub(seq);
            self.highest_in = None;
            self.rebase = false;
            self.seen.iter_mut().for_each(|s| *s = None);
        }
    }

    /// The outgoing number of a relayed packet, and whether it is the newest so far.
    /// `None` for a late packet too old to place (drop it).
    pub(crate) fn relay(&mut self, seq: u16) -> Option<(u16, bool)> {
        self.begin(seq);
        match self.highest_in {
            Some(h) if !seq_is_newer(seq, h) => {
                let off = self.offset_for_late(seq)?;
                Some((seq.wrapping_add(off), false))
            }
            _ => {
                self.remember(seq);
                self.highest_in = Some(seq);
                let out = seq.wrapping_add(self.offset);
                self.last_out = Some(out);
                Some((out, true))
            }
        }
    }

    /// A packet not relayed on purpose: later numbers close the gap. Only packets newer than
    /// any seen move the offset (an old one was already accounted for, or never will be).
    pub(crate) fn drop_packet(&mut self, seq: u16) {
        if self.rebase || self.highest_in.is_none() {
            return;
        }
        if self.highest_in.is_some_and(|h| seq_is_newer(seq, h)) {
            self.remember(seq);
            self.offset = self.offset.wrapping_sub(1);
            self.highest_in = Some(seq);
        }
    }

    fn remember(&mut self, seq: u16) {
        if let Some(s) = self.seen.get_mut(usize::from(seq) & self.mask) {
            *s = Some((seq, self.offset));
        }
    }

    /// The offset a packet that never came in order would have had: the one in force just
    /// before its first successor we saw (drops between it and that successor cannot have
    /// happened, or the successor would be the dropped one). A duplicate of a dropped packet
    /// maps onto its successor's number; the caller's layer filter drops those first.
    fn offset_for_late(&self, seq: u16) -> Option<u16> {
        (1..=MAX_LATE_SEARCH)
            .find_map(|k| {
                let s = seq.wrapping_add(k);
                match self.seen.get(usize::from(s) & self.mask)? {
                    Some((x, off)) if *x == s => Some(*off),
                    _ => None,
                }
            })
            .or_else(|| match self.seen.get(usize::from(seq) & self.mask)? {
                Some((x, off)) if *x == seq => Some(*off),
                _ => None,
            })
    }
}

/// What a subscriber's outgoing packet was made of, for answering its NACKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutEntry {
    pub(crate) out_seq: u16,
    pub(crate) in_seq: u16,
    pub(crate) layer: u8,
    /// The layer's source epoch (a publisher restart invalidates older cache entries).
    pub(crate) epoch: u8,
    /// The m-line's source generation (a new publisher invalidates older entries).
    pub(crate) source_gen: u8,
    pub(crate) tl0_off: u8,
    pub(crate) pid_off: u16,
    pub(crate) ts_off: u32,
    /// The marker bit was set on the way out (VP9 SVC: end of the relayed picture); a
    /// retransmission must carry it too.
    pub(crate) marker: bool,
}

/// Outgoing sequence number → [`OutEntry`], a ring like the cache.
#[derive(Debug)]
pub(crate) struct OutMap {
    entries: Box<[Option<OutEntry>]>,
    mask: usize,
}

impl OutMap {
    pub(crate) fn new(len: usize) -> Self {
        let n = len.max(2).next_power_of_two();
        OutMap {
            entries: vec![None; n].into_boxed_slice(),
            mask: n - 1,
        }
    }

    pub(crate) fn insert(&mut self, e: OutEntry) {
        if let Some(s) = self.entries.get_mut(usize::from(e.out_seq) & self.mask) {
            *s = Some(e);
        }
    }

    pub(crate) fn get(&self, out_seq: u16) -> Option<OutEntry> {
        match self.entries.get(usize::from(out_seq) & self.mask)? {
            Some(e) if e.out_seq == out_seq => Some(*e),
            _ => None,
        }
    }
}

/// VP8 picture id (15-bit space, written back in the packet's own 7- or 15-bit width) and
/// TL0PICIDX continuity across switches (RFC 7741 §4.2): the first picture of a new source
/// follows the last one sent, so the receiver's reference tracking sees no jump.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Vp8Rewrite {
    pid_off: u16,
    tl0_off: u8,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
    rebase_pid: bool,
    rebase_tl0: bool,
}

const PID_MASK: u16 = 0x7fff;

impl Vp8Rewrite {
    pub(crate) fn switch_source(&mut self) {
        self.rebase_pid = true;
        self.rebase_tl0 = true;
    }

    /// Maps one packet's picture id and TL0PICIDX; `newest` packets advance the state.
    pub(crate) fn map(
        &mut self,
        pid: Option<u16>,
        tl0: Option<u8>,
        newest: bool,
    ) -> (Option<u16>, Option<u8>) {
        let pid = pid.map(|p| {
            if self.rebase_pid {
                let next = self.last_pid.map_or(p, |l| l.wrapping_add(1) & PID_MASK);
                self.pid_off = next.wrapping_sub(p) & PID_MASK;
                self.rebase_pid = false;
            }
            let out = p.wrapping_add(self.pid_off) & PID_MASK;
            if newest {
                self.last_pid = Some(out);
            }
            out
        });
        let tl0 = tl0.map(|t| {
            if self.rebase_tl0 {
                let next = self.last_tl0.map_or(t, |l| l.wrapping_add(1));
                self.tl0_off = next.wrapping_sub(t);
                self.rebase_tl0 = false;
            }
            let out = t.wrapping_add(self.tl0_off);
            if newest {
                self.last_tl0 = Some(out);
            }
            out
        });
        (pid, tl0)
    }

    pub(crate) fn offsets(&self) -> (u16, u8) {
        (self.pid_off, self.tl0_off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_closed_and_late_packets_keep_their_place() {
        let mut m = SeqMap::new(64);
        assert_eq!(m.relay(100), Some((100, true)));
        // 101 lost upstream, 102 relayed, 103 dropped, 104 relayed.
        assert_eq!(m.relay(102), Some((102, true)));
        m.drop_packet(103);
        assert_eq!(m.relay(104), Some((103, true)));
        // 101 arrives late (an upstream retransmission): it fills its own gap.
        assert_eq!(m.relay(101), Some((101, false)));
        // Switch: continues at last + 1 whatever the new numbers are.
        m.switch_source();
        assert_eq!(m.relay(5000), Some((104, true)));
        assert_eq!(m.relay(5001), Some((105, true)));
    }

    #[test]
    fn wraps_across_zero() {
        let mut m = SeqMap::new(64);
        assert_eq!(m.relay(65534), Some((65534, true)));
        m.drop_packet(65535);
        assert_eq!(m.relay(0), Some((65535, true)));
        assert_eq!(m.relay(1), Some((0, true)));
    }

    #[test]
    fn picture_ids_continue_across_switches_in_either_width() {
        let mut v = Vp8Rewrite::default();
        assert_eq!(v.map(Some(0x7ffe), Some(9), true), (Some(0x7ffe), Some(9)));
        assert_eq!(v.map(Some(0x7fff), Some(9), true), (Some(0x7fff), Some(9)));
        v.switch_source();
        assert_eq!(v.map(Some(17), Some(200), true), (Some(0), Some(10)));
        assert_eq!(v.map(Some(18), Some(200), true), (Some(1), Some(10)));
        assert_eq!(v.map(Some(19), Some(201), true), (Some(2), Some(11)));
    }
}
