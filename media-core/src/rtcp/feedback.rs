//! Feedback messages: generic NACK (RFC 4585 §6.2.1), PLI (§6.3.1), FIR (RFC 5104 §4.3.1)
//! and REMB (draft-alvestrand-rmcat-remb-03 §2.2). All views borrow the packet.

use super::compound::{read_u32, RtcpPacket};
use super::RtcpError;

fn ssrcs(p: &RtcpPacket<'_>, what: &'static str) -> Result<(u32, u32), RtcpError> {
    let b = p.body();
    Ok((
        read_u32(b, 0).ok_or(RtcpError::Truncated(what))?,
        read_u32(b, 4).ok_or(RtcpError::Truncated(what))?,
    ))
}

/// Generic NACK: FCI entries of PID + BLP (bitmask of the 16 following losses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    pub sender_ssrc: u32,
    pub media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Nack<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc) = ssrcs(p, "nack")?;
        let fci = &p.body()[8..];
        if fci.is_empty() || !fci.len().is_multiple_of(4) {
            return Err(RtcpError::Truncated("nack fci"));
        }
        Ok(Nack {
            sender_ssrc,
            media_ssrc,
            fci,
        })
    }

    /// (PID, BLP) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (u16, u16)> + 'a {
        self.fci.chunks_exact(4).map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u16::from_be_bytes([c[2], c[3]]),
            )
        })
    }

    /// Every lost sequence number: PID, then PID+i+1 for each set bit i of BLP.
    pub fn lost(&self) -> impl Iterator<Item = u16> + 'a {
        self.pairs().flat_map(|(pid, blp)| {
            std::iter::once(pid).chain(
                (0..16u16)
                    .filter(move |i| blp & (1 << i) != 0)
                    .map(move |i| pid.wrapping_add(i + 1)),
            )
        })
    }
}

/// PLI: no FCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pli {
    pub sender_ssrc: u32,
    pub media_ssrc: u32,
}

impl Pli {
    pub fn try_from_packet(p: &RtcpPacket<'_>) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc) = ssrcs(p, "pli")?;
        Ok(Pli {
            sender_ssrc,
            media_ssrc,
        })
    }
}

/// FIR: FCI entries of (target SSRC, command sequence number); media SSRC is 0 (RFC 5104
/// §4.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    pub sender_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Fir<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let (sender_ssrc, _) = ssrcs(p, "fir")?;
        let fci = &p.body()[8..];
        if fci.is_empty() || !fci.len().is_multiple_of(8) {
            return Err(RtcpError::Truncated("fir fci"));
        }
        Ok(Fir { sender_ssrc, fci })
    }

    /// (SSRC, sequence number) per FCI entry.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u8)> + 'a {
        self.fci
            .chunks_exact(8)
            .map(|c| (u32::from_be_bytes([c[0], c[1], c[2], c[3]]), c[4]))
    }
}

/// REMB: the receiver's estimated maximum bitrate for the listed SSRCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remb<'a> {
    pub sender_ssrc: u32,
    /// Bits per second (mantissa × 2^exp).
    pub bitrate: u64,
    ssrcs: &'a [u8],
}

impl<'a> Remb<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let (sender_ssrc, _) = ssrcs(p, "remb")?;
        let b = p.body();
        if b.get(8..12) != Some(b"REMB") {
            return Err(RtcpError::Truncated("remb identifier"));
        }
        let n = usize::from(*b.get(12).ok_or(RtcpError::Truncated("remb"))?);
        let exp = b.get(13).ok_or(RtcpError::Truncated("remb"))? >> 2;
        let mantissa = u64::from(read_u32(b, 12).ok_or(RtcpError::Truncated("remb"))? & 0x3_ffff);
        let ssrcs = b
            .get(16..16 + 4 * n)
            .ok_or(RtcpError::Truncated("remb ssrcs"))?;
        // exp ≤ 63 and mantissa < 2^18: saturate instead of overflowing.
        let bitrate = mantissa
            .checked_shl(u32::from(exp))
            .filter(|v| v >> exp == mantissa)
            .unwrap_or(u64::MAX);
        Ok(Remb {
            sender_ssrc,
            bitrate,
            ssrcs,
        })
    }

    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.ssrcs
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}
