//! Transport-cc feedback builder (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1),
//! the inverse of [`super::TransportCc`]: one packet appended to a caller-owned buffer, no
//! other allocation.
//!
//! The caller gives one receive delta per reported sequence number (`None` = not received),
//! already in 250 µs units and relative to the previous received packet (the first one to the
//! reference time), exactly as they go on the wire (§3.1.5). Chunks are chosen greedily
//! (§3.1.3, §3.1.4): a run-length chunk when the run covers at least what a vector would,
//! otherwise a 1-bit vector (14 symbols) when no large delta is among them, otherwise the
//! longer of a run and a 2-bit vector (7 symbols). Only the last chunk may be a partly filled
//! vector, which parsers (this crate's and libwebrtc's) cut at the status count.

use super::compound::{FMT_TWCC, PT_RTPFB};

/// Fixed part of a feedback packet: RTCP header, both SSRCs, base sequence, status count,
/// reference time and feedback packet count (§3.1).
pub const TWCC_HEADER_LEN: usize = 20;
/// Run-length chunk capacity: the run length field has 13 bits (§3.1.3).
pub const TWCC_MAX_RUN: usize = 0x1fff;
const ONE_BIT_CAPACITY: usize = 14;
const TWO_BIT_CAPACITY: usize = 7;

/// The fixed fields of a transport-cc feedback packet (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TwccHeader {
    pub sender_ssrc: u32,
    pub media_ssrc: u32,
    /// Transport-wide sequence number of the first reported packet.
    pub base_seq: u16,
    /// Multiples of 64 ms; only the low 24 bits are sent (the field wraps, §3.1).
    pub reference_time: u32,
    /// Counts feedback packets sent, so the sender can detect lost feedback.
    pub fb_pkt_count: u8,
}

/// Packet status symbol of a delta (§3.1.1): 0 not received, 1 small (fits in an unsigned
/// byte), 2 large or negative (signed 16 bits).
fn symbol(d: Option<i16>) -> u16 {
    match d {
        None => 0,
        Some(0..=255) => 1,
        Some(_) => 2,
    }
}

/// Appends one transport-cc feedback packet reporting `deltas[i]` for `base_seq + i` and
/// returns the bytes written. At most 65,535 statuses are reported (the count is 16 bits);
/// an empty list writes nothing (parsers refuse a zero status count). Padding to 32 bits uses
/// the P bit with the count in the last octet (RFC 3550 §6.4.1), as libwebrtc does.
pub fn transport_cc<I>(out: &mut Vec<u8>, header: &TwccHeader, deltas: I) -> usize
where
    I: IntoIterator<Item = Option<i16>>,
    I::IntoIter: Clone,
{
    let deltas = deltas.into_iter();
    let count = deltas.clone().take(usize::from(u16::MAX)).count();
    if count == 0 {
        return 0;
    }
    let start = out.len();
    out.extend_from_slice(&[0x80 | FMT_TWCC, PT_RTPFB, 0, 0]);
    out.extend_from_slice(&header.sender_ssrc.to_be_bytes());
    out.extend_from_slice(&header.media_ssrc.to_be_bytes());
    out.extend_from_slice(&header.base_seq.to_be_bytes());
    out.extend_from_slice(&(count as u16).to_be_bytes());
    out.extend_from_slice(
        &(((header.reference_time & 0x00ff_ffff) << 8) | u32::from(header.fb_pkt_count))
            .to_be_bytes(),
    );
    write_chunks(out, deltas.clone().take(count).map(symbol), count);
    // §3.1.5: one octet per small delta, two (signed) per large one, in status order.
    for d in deltas.take(count).flatten() {
        match u8::try_from(d) {
            Ok(small) => out.push(small),
            Err(_) => out.extend_from_slice(&d.to_be_bytes()),
        }
    }
    let pad = (4 - (out.len() - start) % 4) % 4;
    if pad > 0 {
        out.extend(std::iter::repeat_n(0, pad - 1));
        out.push(pad as u8);
        out[start] |= 0x20;
    }
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    out.len() - start
}

/// Writes the packet chunks for `count` symbols (§3.1.2-§3.1.4).
fn write_chunks<I>(out: &mut Vec<u8>, mut symbols: I, count: usize)
where
    I: Iterator<Item = u16> + Clone,
{
    let mut remaining = count;
    while remaining > 0 {
        let mut look = symbols.clone();
        let Some(first) = look.next() else {
            return;
        };
        let max_run = remaining.min(TWCC_MAX_RUN);
        let mut run = 1;
        while run < max_run && look.next() == Some(first) {
            run += 1;
        }
        let one_bit = remaining.min(ONE_BIT_CAPACITY);
        let two_bit = remaining.min(TWO_BIT_CAPACITY);
        let (chunk, n) = if run >= one_bit {
            (run_length(first, run), run)
        } else if symbols.clone().take(one_bit).all(|s| s < 2) {
            (vector(symbols.clone().take(one_bit), 1), one_bit)
        } else if run >= two_bit {
            (run_length(first, run), run)
        } else {
            (vector(symbols.clone().take(two_bit), 2), two_bit)
        };
        out.extend_from_slice(&chunk.to_be_bytes());
        if n > 0 {
            symbols.nth(n - 1);
        }
        remaining -= n;
    }
}

/// §3.1.3: `0 S(2) run(13)`.
fn run_length(symbol: u16, run: usize) -> u16 {
    (symbol << 13) | (run as u16 & 0x1fff)
}

/// §3.1.4: `1 0` + 14 one-bit symbols, or `1 1` + 7 two-bit symbols, left-aligned (a short
/// last vector leaves its trailing symbols zero).
fn vector(symbols: impl Iterator<Item = u16>, bits: u32) -> u16 {
    let (mut chunk, capacity) = if bits == 1 {
        (0x8000u16, ONE_BIT_CAPACITY as u32)
    } else {
        (0xc000u16, TWO_BIT_CAPACITY as u32)
    };
    for (i, s) in (0u32..).zip(symbols) {
        chunk |= s << (bits * (capacity - 1 - i));
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::{CompoundIter, Rtcp, TwccStatus};

    const HDR: TwccHeader = TwccHeader {
        sender_ssrc: 0x0102_0304,
        media_ssrc: 0x0506_0708,
        base_seq: 0,
        reference_time: 0x12_3456,
        fb_pkt_count: 9,
    };

    /// Builds, parses back, and checks every field against the input.
    fn round_trip(base_seq: u16, deltas: &[Option<i16>]) -> Vec<u8> {
        let h = TwccHeader { base_seq, ..HDR };
        let mut out = vec![0xEE]; // appends after existing bytes
        let n = transport_cc(&mut out, &h, deltas.iter().copied());
        assert_eq!(n, out.len() - 1);
        assert_eq!(n % 4, 0);
        let bytes = out.split_off(1);
        let mut it = CompoundIter::new(&bytes);
        let p = it.next().expect("one packet").expect("valid");
        assert!(it.next().is_none(), "exactly one packet");
        let Ok(Rtcp::TransportCc(t)) = p.parse() else {
            panic!("not transport-cc: {bytes:02x?}")
        };
        assert_eq!(
            (t.sender_ssrc, t.media_ssrc, t.base_seq, t.fb_pkt_count),
            (h.sender_ssrc, h.media_ssrc, base_seq, 9)
        );
        assert_eq!(t.reference_time, 0x12_3456);
        assert_eq!(usize::from(t.status_count), deltas.len());
        let got: Vec<_> = t.packets().collect();
        assert_eq!(got.len(), deltas.len());
        for (i, (p, d)) in got.iter().zip(deltas).enumerate() {
            assert_eq!(p.seq, base_seq.wrapping_add(i as u16));
            assert_eq!(p.delta, d.map(i32::from), "packet {i}");
            let want = match d {
                None => TwccStatus::NotReceived,
                Some(0..=255) => TwccStatus::SmallDelta,
                Some(_) => TwccStatus::LargeDelta,
            };
            assert_eq!(p.status, want, "packet {i}");
        }
        bytes
    }

    fn chunks(bytes: &[u8]) -> Vec<u16> {
        let count = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        let mut pos = 20;
        let mut seen = 0;
        let mut out = Vec::new();
        while seen < count {
            let c = u16::from_be_bytes([bytes[pos], bytes[pos + 1]]);
            seen += if c & 0x8000 == 0 {
                usize::from(c & 0x1fff)
            } else if c & 0x4000 == 0 {
                14
            } else {
                7
            };
            out.push(c);
            pos += 2;
        }
        out
    }

    #[test]
    fn empty_feedback_writes_nothing() {
        let mut out = Vec::new();
        assert_eq!(transport_cc(&mut out, &HDR, std::iter::empty()), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn the_draft_example_shapes_round_trip() {
        // All received with small deltas: one run-length chunk.
        let b = round_trip(100, &[Some(4); 20]);
        assert_eq!(chunks(&b), vec![0x2000 | 20]);
        // Mixed small and lost: one-bit vectors, the last one partly filled.
        let mixed: Vec<_> = (0..20).map(|i| (i % 3 != 0).then_some(i as i16)).collect();
        let b = round_trip(7, &mixed);
        assert_eq!(chunks(&b).len(), 2);
        assert!(chunks(&b).iter().all(|c| c & 0xc000 == 0x8000));
        // A negative and a large delta force two-bit vectors.
        let b = round_trip(0, &[Some(1), Some(-4), None, Some(300), Some(255), Some(0)]);
        assert_eq!(chunks(&b), vec![0xc000 | 0b01_10_00_10_01_01_00]);
        // Padding: 20 + 2 + 6 deltas = 28 bytes is aligned; 20 + 2 + 1 = 23 → P bit, 1 pad.
        let b = round_trip(0, &[Some(1)]);
        assert_eq!(b.len(), 24);
        assert_eq!(b[0] & 0x20, 0x20);
        assert_eq!(b[23], 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let d: Vec<_> = (0..10).map(|_| Some(8)).collect();
        round_trip(0xfffa, &d);
    }

    #[test]
    fn long_loss_runs_cost_one_chunk_each() {
        // 1 received, 5,000 lost, 1 received, then 9,000 lost (more than one run holds).
        let mut d = vec![Some(3)];
        d.extend(std::iter::repeat_n(None, 5000));
        d.push(Some(-20_000));
        d.extend(std::iter::repeat_n(None, 9000));
        let b = round_trip(65_000, &d);
        // A 1-bit vector takes the received packet and 13 losses; a 2-bit one the large delta.
        assert_eq!(
            chunks(&b),
            vec![0xa000, 4987, 0xe000, 0x1fff, 8994 - 0x1fff]
        );
    }

    #[test]
    fn reordering_and_extreme_deltas_round_trip() {
        let d = [
            Some(0),
            Some(i16::MIN),
            Some(i16::MAX),
            Some(-1),
            Some(256),
            Some(255),
            None,
            Some(1),
            Some(-250),
            Some(2),
        ];
        round_trip(1, &d);
    }

    #[test]
    fn chunk_choice_is_compact() {
        // 13 small then a large: the run (13) beats a two-bit vector (7).
        let mut d = vec![Some(1); 13];
        d.push(Some(-1));
        d.extend(vec![Some(1); 13]);
        let b = round_trip(0, &d);
        assert_eq!(
            chunks(&b),
            vec![0x2000 | 13, 0xc000 | 0b10_01_01_01_01_01_01, 0x2000 | 7]
        );
    }

    #[test]
    fn random_status_lists_round_trip() {
        // A fixed-seed xorshift: many shapes, reproducible.
        let mut x: u32 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..300 {
            let len = (next() % 400) as usize + 1;
            let lossy = next() % 4;
            let d: Vec<Option<i16>> = (0..len)
                .map(|_| {
                    let r = next();
                    match r % 16 {
                        n if n < lossy * 3 => None,
                        14 => Some((r >> 8) as i16),
                        15 => Some(-((r >> 20) as i16 & 0x3ff)),
                        _ => Some((r >> 24) as i16),
                    }
                })
                .collect();
            round_trip(next() as u16, &d);
        }
    }

    #[test]
    fn at_most_65535_statuses() {
        let mut out = Vec::new();
        transport_cc(&mut out, &HDR, std::iter::repeat_n(None, 70_000));
        let p = CompoundIter::new(&out).next().expect("one").expect("valid");
        let Ok(Rtcp::TransportCc(t)) = p.parse() else {
            panic!()
        };
        assert_eq!(t.status_count, u16::MAX);
    }
}
