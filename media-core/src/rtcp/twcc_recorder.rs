//! Receive side of transport-wide congestion control
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): remembers when each transport-wide
//! sequence number arrived and turns that into feedback packets (§3.1) every
//! [`TWCC_PERIOD`], so the sender's bandwidth estimator (Chrome's send-side BWE) can ramp up.
//!
//! Sans-IO: [`TwccRecorder::record`] per packet (O(1), no allocation), and
//! [`TwccRecorder::poll_feedback`] from a timer. Memory is one ring of [`TWCC_HISTORY`]
//! arrival times, allocated at construction.
//!
//! Times are kept in 250 µs ticks (the delta unit, §3.1.5) in a wrapping `u32`: 2^32 ticks are
//! exactly 2^24 × 64 ms, the wrap of the 24-bit reference time (§3.1), so the reference time
//! of a packet is its tick >> 8 and its first delta the low 8 bits. Quantising arrivals
//! (rather than deltas) keeps rounding errors from accumulating, as libwebrtc does.
//!
//! Like libwebrtc's feedback generator, a packet arriving after it was reported lost moves the
//! start of the next feedback back to it (within the ring), so the sender learns it arrived.

use std::time::{Duration, Instant};

use super::twcc_build::{transport_cc, TwccHeader, TWCC_HEADER_LEN};
use crate::rtp::SeqUnwrapper;

/// How often feedback is sent while packets arrive. libwebrtc's receiver sends every 100 ms by
/// default (adapting between 50 and 250 ms with the bitrate); Janus sends every 200 ms
/// (`twcc_period`). 100 ms lets Chrome's estimator react twice as fast as with Janus, for one
/// ~70-byte datagram per period back to the sender (~6 kbit/s at a few hundred packets/s);
/// 50 ms would double that and the timer work for little gain.
pub const TWCC_PERIOD: Duration = Duration::from_millis(100);
/// Packets remembered: 1,024 sequence numbers (4 KiB) cover ten periods at 1,000 packets/s
/// (~10 Mbit/s of 1,200-byte packets), so a late timer never loses a report. Packets older
/// than the highest minus this are neither recorded nor reported.
pub const TWCC_HISTORY: usize = 1024;
/// Largest feedback packet: with the SRTCP trailer (≤ 20 bytes) and IP/UDP headers it stays
/// well inside a 1,500-byte MTU; a backlog that does not fit is split over several packets.
pub const MAX_FEEDBACK_LEN: usize = 1200;

/// Marks a ring slot with no arrival (an arrival that lands on this tick is moved one tick).
const EMPTY: u32 = u32::MAX;
/// 250 µs (§3.1.5).
const TICK_MICROS: u64 = 250;

/// Arrival times of transport-wide sequence numbers, and the feedback state.
#[derive(Debug, Clone)]
pub struct TwccRecorder {
    /// Tick 0; set by the first packet.
    epoch: Option<Instant>,
    /// Arrival tick of extended sequence number `s` at `s % TWCC_HISTORY`, or [`EMPTY`].
    /// Holds exactly the window `(highest - TWCC_HISTORY, highest]`.
    arrivals: Box<[u32]>,
    unwrapper: SeqUnwrapper,
    highest: u64,
    /// First extended sequence number not reported yet (`highest + 1` when none is pending).
    next: u64,
    fb_count: u8,
    /// Feedback is due on a grid of [`TWCC_PERIOD`] (anchored at the first feedback), so a
    /// coarser caller timer does not stretch the period; `None` until the first feedback.
    next_due: Option<Instant>,
}

impl Default for TwccRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl TwccRecorder {
    pub fn new() -> Self {
        TwccRecorder {
            epoch: None,
            arrivals: vec![EMPTY; TWCC_HISTORY].into_boxed_slice(),
            unwrapper: SeqUnwrapper::new(),
            highest: 0,
            next: 1,
            fb_count: 0,
            next_due: None,
        }
    }

    /// Records the arrival of transport-wide sequence number `seq` (§2). Duplicates keep the
    /// first arrival; packets older than [`TWCC_HISTORY`] behind the highest are ignored.
    pub fn record(&mut self, seq: u16, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let micros = arrival.saturating_duration_since(epoch).as_micros() as u64;
        // Wrapping on purpose: see the module doc.
        let mut tick = ((micros + TICK_MICROS / 2) / TICK_MICROS) as u32;
        if tick == EMPTY {
            tick = EMPTY - 1;
        }
        let first = self.unwrapper.highest().is_none();
        let ext = self.unwrapper.extend(seq);
        let n = TWCC_HISTORY as u64;
        if first {
            self.highest = ext;
            self.next = ext;
        } else if ext > self.highest {
            // Slide the window: forget what falls out of it.
            let fresh = (ext - self.highest).min(n);
            for s in ext + 1 - fresh..=ext {
                self.arrivals[(s % n) as usize] = EMPTY;
            }
            self.highest = ext;
            // Losses older than the window can no longer be reported.
            self.next = self.next.max((ext + 1).saturating_sub(n));
        } else if ext + n <= self.highest {
            return;
        }
        let slot = &mut self.arrivals[(ext % n) as usize];
        if *slot != EMPTY {
            return;
        }
        *slot = tick;
        // Reported lost already: report again from here.
        self.next = self.next.min(ext);
    }

    /// Whether packets arrived that no feedback has reported yet.
    pub fn has_pending(&self) -> bool {
        self.epoch.is_some() && self.next <= self.highest
    }

    /// When feedback is next due (`None`: at the first poll with something pending).
    pub fn next_due(&self) -> Option<Instant> {
        self.next_due
    }

    /// Appends one feedback packet (§3.1) reporting what arrived since the last one, if the
    /// period is up, and returns whether it did. When the backlog does not fit in one packet
    /// (more than [`MAX_FEEDBACK_LEN`] bytes, or a receive delta beyond ±8.19 s that 16 bits
    /// cannot carry) the packet covers a prefix: call again, each packet is one datagram.
    pub fn poll_feedback(
        &mut self,
        now: Instant,
        sender_ssrc: u32,
        media_ssrc: u32,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.has_pending() || self.next_due.is_some_and(|due| now < due) {
            return false;
        }
        let (count, reference) = self.plan();
        let header = TwccHeader {
            sender_ssrc,
            media_ssrc,
            base_seq: self.next as u16,
            reference_time: reference >> 8,
            fb_pkt_count: self.fb_count,
        };
        let deltas = Deltas {
            arrivals: &self.arrivals,
            seq: self.next,
            end: self.next + count,
            prev: reference & !0xff,
        };
        transport_cc(out, &header, deltas);
        self.fb_count = self.fb_count.wrapping_add(1);
        self.next += count;
        if !self.has_pending() {
            // Next grid point strictly after `now`.
            let due = self.next_due.unwrap_or(now);
            let period = TWCC_PERIOD.as_nanos();
            let behind = now.saturating_duration_since(due).as_nanos() % period;
            self.next_due = Some(now + Duration::from_nanos((period - behind) as u64));
        }
        true
    }

    /// How many statuses from `next` fit in one packet, and the tick of the first received
    /// one among them (its reference time; 0 if none was received).
    fn plan(&self) -> (u64, u32) {
        let n = TWCC_HISTORY as u64;
        let mut len = TWCC_HEADER_LEN + 3; // + worst-case padding
        let mut count = 0u64;
        let mut reference = None;
        let mut prev = 0u32;
        for s in self.next..=self.highest {
            let a = self.arrivals[(s % n) as usize];
            let mut add = if count.is_multiple_of(7) { 2 } else { 0 }; // worst case: 2-bit vectors
            if a != EMPTY {
                let delta = match reference {
                    None => i32::from(a as u8),
                    Some(_) => a.wrapping_sub(prev) as i32,
                };
                if i16::try_from(delta).is_err() {
                    break;
                }
                add += if (0..=255).contains(&delta) { 1 } else { 2 };
            }
            if len + add > MAX_FEEDBACK_LEN || count == u64::from(u16::MAX) {
                break;
            }
            len += add;
            count += 1;
            if a != EMPTY {
                reference.get_or_insert(a);
                prev = a;
            }
        }
        (count, reference.unwrap_or(0))
    }
}

/// Receive deltas (§3.1.5) of a range of the ring, for the builder (which walks it twice).
#[derive(Clone)]
struct Deltas<'a> {
    arrivals: &'a [u32],
    seq: u64,
    end: u64,
    /// Tick of the previous received packet (first: the reference time).
    prev: u32,
}

impl Iterator for Deltas<'_> {
    type Item = Option<i16>;

    fn next(&mut self) -> Option<Option<i16>> {
        if self.seq >= self.end {
            return None;
        }
        let a = *self
            .arrivals
            .get((self.seq % self.arrivals.len() as u64) as usize)?;
        self.seq += 1;
        if a == EMPTY {
            return Some(None);
        }
        // `plan` checked that every delta of the range fits.
        let d = a.wrapping_sub(self.prev) as i32 as i16;
        self.prev = a;
        Some(Some(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::{CompoundIter, Rtcp, TwccStatus};

    const MS: Duration = Duration::from_millis(1);

    /// The fields of one feedback packet.
    struct Fb {
        sender_ssrc: u32,
        media_ssrc: u32,
        base_seq: u16,
        status_count: u16,
        fb_pkt_count: u8,
        statuses: Vec<TwccStatus>,
    }

    /// What a sender reconstructs from one feedback packet: (seq, arrival µs or None).
    fn decode(buf: &[u8]) -> (Fb, Vec<(u16, Option<i64>)>) {
        let mut it = CompoundIter::new(buf);
        let p = it.next().expect("a packet").expect("valid");
        assert!(it.next().is_none(), "one packet per poll");
        assert!(buf.len() <= MAX_FEEDBACK_LEN);
        let Ok(Rtcp::TransportCc(t)) = p.parse() else {
            panic!("not transport-cc")
        };
        let mut time = t.reference_time_micros();
        let pkts = t
            .packets()
            .map(|p| {
                (
                    p.seq,
                    p.delta.map(|d| {
                        time += i64::from(d) * 250;
                        time
                    }),
                )
            })
            .collect();
        let fb = Fb {
            sender_ssrc: t.sender_ssrc,
            media_ssrc: t.media_ssrc,
            base_seq: t.base_seq,
            status_count: t.status_count,
            fb_pkt_count: t.fb_pkt_count,
            statuses: t.packets().map(|p| p.status).collect(),
        };
        (fb, pkts)
    }

    fn poll(r: &mut TwccRecorder, now: Instant) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        r.poll_feedback(now, 1, 2, &mut out).then_some(out)
    }

    #[test]
    fn feedback_reports_arrivals_losses_and_counts_up() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        assert!(poll(&mut r, t0).is_none(), "nothing recorded");
        for (seq, ms) in [(10u16, 0u32), (11, 5), (13, 12), (14, 12)] {
            r.record(seq, t0 + ms * MS);
        }
        let now = t0 + 20 * MS;
        let fb = poll(&mut r, now).expect("first feedback at once");
        let (t, pkts) = decode(&fb);
        assert_eq!((t.sender_ssrc, t.media_ssrc, t.fb_pkt_count), (1, 2, 0));
        assert_eq!(t.base_seq, 10);
        assert_eq!(
            pkts,
            vec![
                (10, Some(0)),
                (11, Some(5_000)),
                (12, None),
                (13, Some(12_000)),
                (14, Some(12_000))
            ]
        );
        assert!(!r.has_pending());
        assert!(poll(&mut r, now).is_none(), "nothing new");
        // New packets: not before the period is up, then only the new ones.
        r.record(15, t0 + 30 * MS);
        assert!(poll(&mut r, now + 99 * MS).is_none());
        let fb = poll(&mut r, now + 100 * MS).expect("due");
        let (t, pkts) = decode(&fb);
        assert_eq!((t.base_seq, t.fb_pkt_count), (15, 1));
        assert_eq!(pkts.len(), 1);
        // Absolute arrival times agree across feedback packets (same reference clock).
        assert_eq!(pkts[0].1, Some(30_000));
    }

    #[test]
    fn deltas_do_not_drift_and_are_rounded_to_250us() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        // 100 packets 1.1 ms apart: each delta is 4 or 5 ticks, the sum is exact.
        for i in 0..100u16 {
            r.record(i, t0 + Duration::from_micros(1_100 * u64::from(i)));
        }
        let fb = poll(&mut r, t0 + 200 * MS).expect("feedback");
        let (_, pkts) = decode(&fb);
        for (i, (_, at)) in pkts.iter().enumerate() {
            let want = 1_100 * i as i64;
            let got = at.expect("received");
            assert!((got - want).abs() <= 125, "packet {i}: {got} vs {want}");
        }
    }

    #[test]
    fn sequence_numbers_wrap_and_reordering_gives_negative_deltas() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        r.record(65_533, t0);
        r.record(65_535, t0 + 2 * MS);
        r.record(65_534, t0 + 3 * MS); // reordered
        r.record(1, t0 + 4 * MS); // 0 lost, across the wrap
        let (t, pkts) = decode(&poll(&mut r, t0 + 5 * MS).expect("feedback"));
        assert_eq!(t.base_seq, 65_533);
        assert_eq!(
            pkts,
            vec![
                (65_533, Some(0)),
                (65_534, Some(3_000)),
                (65_535, Some(2_000)),
                (0, None),
                (1, Some(4_000))
            ]
        );
        let statuses = t.statuses;
        assert_eq!(statuses[2], TwccStatus::LargeDelta, "negative delta");
    }

    #[test]
    fn a_packet_reported_lost_and_arriving_late_is_reported_again() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        r.record(1, t0);
        r.record(3, t0 + MS);
        let (_, pkts) = decode(&poll(&mut r, t0 + 2 * MS).expect("feedback"));
        assert_eq!(pkts[1], (2, None));
        r.record(2, t0 + 10 * MS);
        r.record(4, t0 + 11 * MS);
        let (t, pkts) = decode(&poll(&mut r, t0 + 102 * MS).expect("feedback"));
        assert_eq!(t.base_seq, 2);
        assert_eq!(
            pkts,
            vec![(2, Some(10_000)), (3, Some(1_000)), (4, Some(11_000))]
        );
        // A duplicate keeps the first arrival and reports nothing new.
        r.record(4, t0 + 500 * MS);
        assert!(!r.has_pending());
    }

    #[test]
    fn a_large_gap_is_bounded_by_the_history() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        r.record(0, t0);
        r.record(30_000, t0 + MS);
        let (t, pkts) = decode(&poll(&mut r, t0 + 2 * MS).expect("feedback"));
        assert_eq!(usize::from(t.status_count), TWCC_HISTORY);
        assert_eq!(t.base_seq, 30_000 - TWCC_HISTORY as u16 + 1);
        assert!(pkts[..TWCC_HISTORY - 1].iter().all(|p| p.1.is_none()));
        assert_eq!(pkts[TWCC_HISTORY - 1], (30_000, Some(1_000)));
        // Too old to record now.
        r.record(30_000 - TWCC_HISTORY as u16, t0 + 3 * MS);
        assert!(!r.has_pending());
    }

    #[test]
    fn a_backlog_too_big_for_one_packet_is_split() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        // Every other packet arrives 300 ms after its predecessor... then alternating back:
        // large (2-byte) deltas everywhere, 1,000 packets → more than 1,200 bytes.
        for i in 0..1000u16 {
            let ms = if i % 2 == 0 { 0 } else { 300 };
            r.record(i, t0 + ms * MS + Duration::from_micros(u64::from(i)));
        }
        let now = t0 + 400 * MS;
        let mut seen = Vec::new();
        let mut counts = Vec::new();
        while let Some(fb) = poll(&mut r, now) {
            let (t, pkts) = decode(&fb);
            counts.push(t.fb_pkt_count);
            seen.extend(pkts);
        }
        assert!(counts.len() >= 2, "split into {} packets", counts.len());
        assert_eq!(counts, (0..counts.len() as u8).collect::<Vec<_>>());
        assert_eq!(seen.len(), 1000);
        for (i, (seq, at)) in seen.iter().enumerate() {
            assert_eq!(*seq, i as u16);
            let want = if i % 2 == 0 { 0 } else { 300_000 } + i as i64;
            assert!((at.expect("received") - want).abs() <= 125);
        }
        assert!(
            poll(&mut r, now).is_none(),
            "drained; next one on the period"
        );
    }

    #[test]
    fn a_gap_of_more_than_8_seconds_between_neighbours_is_split() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        r.record(0, t0);
        r.record(1, t0 + 9_000 * MS); // 36,000 ticks later: the delta does not fit 16 bits
        let now = t0 + 9_001 * MS;
        let (a, pa) = decode(&poll(&mut r, now).expect("first"));
        let (b, pb) = decode(&poll(&mut r, now).expect("second"));
        assert!(poll(&mut r, now).is_none());
        assert_eq!((a.base_seq, pa), (0, vec![(0, Some(0))]));
        assert_eq!(b.base_seq, 1);
        let at = pb[0].1.expect("received");
        assert!((at - 9_000_000).abs() <= 250);
    }

    #[test]
    fn feedback_keeps_to_a_100ms_grid_with_a_50ms_timer() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        let mut sent = Vec::new();
        let mut seq = 0u16;
        // A packet every 10 ms, a timer every 50 ms that fires 0-3 ms late.
        for k in 0..100u32 {
            let tick = t0 + k * 50 * MS + (k % 4) * MS;
            while u32::from(seq) * 10 < k * 50 {
                r.record(seq, t0 + u32::from(seq) * 10 * MS);
                seq += 1;
            }
            if poll(&mut r, tick).is_some() {
                sent.push(tick);
            }
        }
        let span = sent[sent.len() - 1].duration_since(sent[0]);
        let avg = span / (sent.len() as u32 - 1);
        assert!(
            avg >= 95 * MS && avg <= 105 * MS,
            "average period {avg:?} over {} packets",
            sent.len()
        );
    }

    #[test]
    fn an_idle_sender_gets_no_feedback_and_resumes_promptly() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new();
        r.record(0, t0);
        assert!(poll(&mut r, t0).is_some());
        for k in 1..100 {
            assert!(poll(&mut r, t0 + k * 50 * MS).is_none());
        }
        r.record(1, t0 + 5_000 * MS);
        let (_, pkts) = decode(&poll(&mut r, t0 + 5_010 * MS).expect("due at once"));
        assert_eq!(pkts, vec![(1, Some(5_000_000))]);
    }

    #[test]
    fn arbitrary_input_never_panics_and_every_feedback_parses() {
        let t0 = Instant::now();
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut r = TwccRecorder::new();
        let mut seq = 0u16;
        let mut polls = 0;
        for _ in 0..20_000 {
            let v = next();
            // Mostly in order, with jumps, reorders and arrival times that go backwards.
            seq = match v % 50 {
                0 => seq.wrapping_add((v >> 8) as u16),
                1..=3 => seq.wrapping_sub((v >> 8) as u16 % 40),
                _ => seq.wrapping_add(1),
            };
            let at = t0 + Duration::from_micros(u64::from(next() % 20_000_000));
            r.record(seq, at);
            if v % 7 == 0 {
                let now = t0 + Duration::from_micros(u64::from(next() % 30_000_000));
                while let Some(fb) = poll(&mut r, now) {
                    decode(&fb);
                    polls += 1;
                    assert!(polls < 100_000, "poll terminates");
                }
            }
        }
        assert!(polls > 0);
    }
}
