//! Transport-wide congestion control feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1), parsed without allocation.
//!
//! ```text
//! sender SSRC | media SSRC | base seq (16) | status count (16) |
//! reference time (24, ×64 ms) | fb pkt count (8) | packet chunks (16 each) | recv deltas
//! ```
//! Run-length chunk: `0 S(2) run(13)`; status vector: `1 0 14×1-bit` or `1 1 7×2-bit`.
//! Symbols: 00 not received, 01 small delta (1 byte, unsigned), 10 large or negative delta
//! (2 bytes, signed); deltas are in 250 µs units.

use super::compound::{read_u16, read_u32, RtcpPacket};
use super::RtcpError;

/// Per-packet status (§3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwccStatus {
    NotReceived,
    SmallDelta,
    LargeDelta,
}

impl TwccStatus {
    fn from_bits(b: u16) -> Result<Self, RtcpError> {
        match b {
            0 => Ok(TwccStatus::NotReceived),
            1 => Ok(TwccStatus::SmallDelta),
            2 => Ok(TwccStatus::LargeDelta),
            _ => Err(RtcpError::Invalid("reserved transport-cc status symbol")),
        }
    }

    fn delta_len(self) -> usize {
        match self {
            TwccStatus::NotReceived => 0,
            TwccStatus::SmallDelta => 1,
            TwccStatus::LargeDelta => 2,
        }
    }
}

/// One packet's feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccPacket {
    pub seq: u16,
    pub status: TwccStatus,
    /// Arrival delta from the previous received packet (or the reference time), in 250 µs.
    pub delta: Option<i32>,
}

/// A validated transport-cc feedback packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCc<'a> {
    pub sender_ssrc: u32,
    pub media_ssrc: u32,
    pub base_seq: u16,
    pub status_count: u16,
    /// 24-bit reference time in multiples of 64 ms.
    pub reference_time: u32,
    pub fb_pkt_count: u8,
    chunks: &'a [u8],
    deltas: &'a [u8],
}

/// Decodes chunk `c` into (symbol count, symbol at index i).
fn chunk_len(c: u16) -> usize {
    if c & 0x8000 == 0 {
        usize::from(c & 0x1fff)
    } else if c & 0x4000 == 0 {
        14
    } else {
        7
    }
}

fn chunk_symbol(c: u16, i: usize) -> u16 {
    if c & 0x8000 == 0 {
        (c >> 13) & 0x3
    } else if c & 0x4000 == 0 {
        (c >> (13 - i)) & 0x1
    } else {
        (c >> (12 - 2 * i)) & 0x3
    }
}

impl<'a> TransportCc<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let b = p.body();
        let short = || RtcpError::Truncated("transport-cc");
        let rt = read_u32(b, 12).ok_or_else(short)?;
        let status_count = read_u16(b, 10).ok_or_else(short)?;
        let mut remaining = usize::from(status_count);
        let mut pos = 16;
        let mut delta_bytes = 0usize;
        while remaining > 0 {
            let c = read_u16(b, pos).ok_or_else(short)?;
            pos += 2;
            let n = chunk_len(c).min(remaining);
            if c & 0x8000 == 0 {
                // A run-length chunk repeats one symbol.
                delta_bytes += TwccStatus::from_bits(chunk_symbol(c, 0))?.delta_len() * n;
            } else {
                for i in 0..n {
                    delta_bytes += TwccStatus::from_bits(chunk_symbol(c, i))?.delta_len();
                }
            }
            remaining -= n;
        }
        let deltas = b
            .get(pos..pos + delta_bytes)
            .ok_or(RtcpError::Truncated("transport-cc deltas"))?;
        Ok(TransportCc {
            sender_ssrc: read_u32(b, 0).ok_or_else(short)?,
            media_ssrc: read_u32(b, 4).ok_or_else(short)?,
            base_seq: read_u16(b, 8).ok_or_else(short)?,
            status_count,
            reference_time: rt >> 8,
            fb_pkt_count: rt as u8,
            chunks: &b[16..pos],
            deltas,
        })
    }

    /// Reference time in microseconds (sign-extended 24-bit × 64 ms).
    pub fn reference_time_micros(&self) -> i64 {
        let signed = ((self.reference_time << 8) as i32) >> 8;
        i64::from(signed) * 64_000
    }

    /// One entry per reported packet, starting at `base_seq`.
    pub fn packets(&self) -> TwccPackets<'a> {
        TwccPackets {
            chunks: self.chunks,
            deltas: self.deltas,
            chunk_pos: 0,
            in_chunk: 0,
            chunk: 0,
            chunk_n: 0,
            delta_pos: 0,
            seq: self.base_seq,
            remaining: self.status_count,
        }
    }
}

/// Iterator over [`TwccPacket`]s (validated at parse: never fails).
#[derive(Debug, Clone)]
pub struct TwccPackets<'a> {
    chunks: &'a [u8],
    deltas: &'a [u8],
    chunk_pos: usize,
    in_chunk: usize,
    chunk: u16,
    chunk_n: usize,
    delta_pos: usize,
    seq: u16,
    remaining: u16,
}

impl Iterator for TwccPackets<'_> {
    type Item = TwccPacket;

    fn next(&mut self) -> Option<TwccPacket> {
        if self.remaining == 0 {
            return None;
        }
        while self.in_chunk >= self.chunk_n {
            self.chunk = read_u16(self.chunks, self.chunk_pos)?;
            self.chunk_pos += 2;
            self.chunk_n = chunk_len(self.chunk);
            self.in_chunk = 0;
        }
        let status = TwccStatus::from_bits(chunk_symbol(self.chunk, self.in_chunk)).ok()?;
        self.in_chunk += 1;
        let delta = match status {
            TwccStatus::NotReceived => None,
            TwccStatus::SmallDelta => {
                let d = *self.deltas.get(self.delta_pos)?;
                self.delta_pos += 1;
                Some(i32::from(d))
            }
            TwccStatus::LargeDelta => {
                let d = read_u16(self.deltas, self.delta_pos)? as i16;
                self.delta_pos += 2;
                Some(i32::from(d))
            }
        };
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.remaining -= 1;
        Some(TwccPacket { seq, status, delta })
    }
}
