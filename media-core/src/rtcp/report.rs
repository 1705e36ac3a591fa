//! Sender/receiver reports, SDES and BYE (RFC 3550 §6.4-6.6).

use super::compound::{read_u32, RtcpPacket};
use super::RtcpError;

/// One reception report block (RFC 3550 §6.4.1), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the last report, as a fixed-point number /256.
    pub fraction_lost: u8,
    /// Cumulative packets lost: 24-bit signed (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

pub const REPORT_BLOCK_LEN: usize = 24;

impl ReportBlock {
    fn parse(b: &[u8]) -> Option<Self> {
        let lost = read_u32(b, 4)?;
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Some(ReportBlock {
            ssrc: read_u32(b, 0)?,
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost,
            highest_seq: read_u32(b, 8)?,
            jitter: read_u32(b, 12)?,
            last_sr: read_u32(b, 16)?,
            delay_since_last_sr: read_u32(b, 20)?,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        let lost = (self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        out.extend_from_slice(&((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&self.highest_seq.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// Report blocks of an SR/RR.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        self.chunks.next().and_then(ReportBlock::parse)
    }
}

fn blocks(b: &[u8], count: u8) -> Result<&[u8], RtcpError> {
    b.get(..REPORT_BLOCK_LEN * usize::from(count))
        .ok_or(RtcpError::Truncated("report blocks"))
}

/// SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    pub ssrc: u32,
    /// 64-bit NTP timestamp.
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let b = p.body();
        let short = RtcpError::Truncated("sender report");
        let hi = read_u32(b, 4).ok_or(short.clone())?;
        let lo = read_u32(b, 8).ok_or(short.clone())?;
        Ok(SenderReport {
            ssrc: read_u32(b, 0).ok_or(short.clone())?,
            ntp: (u64::from(hi) << 32) | u64::from(lo),
            rtp_timestamp: read_u32(b, 12).ok_or(short.clone())?,
            packet_count: read_u32(b, 16).ok_or(short.clone())?,
            octet_count: read_u32(b, 20).ok_or(short)?,
            blocks: blocks(&b[24..], p.count())?,
        })
    }

    pub fn reports(&self) -> ReportBlocks<'a> {
        ReportBlocks {
            chunks: self.blocks.chunks_exact(REPORT_BLOCK_LEN),
        }
    }

    /// The middle 32 bits of the NTP timestamp: what a report block's LSR echoes.
    pub fn ntp_middle(&self) -> u32 {
        (self.ntp >> 16) as u32
    }
}

/// RR (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    pub ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let b = p.body();
        Ok(ReceiverReport {
            ssrc: read_u32(b, 0).ok_or(RtcpError::Truncated("receiver report"))?,
            blocks: blocks(&b[4..], p.count())?,
        })
    }

    pub fn reports(&self) -> ReportBlocks<'a> {
        ReportBlocks {
            chunks: self.blocks.chunks_exact(REPORT_BLOCK_LEN),
        }
    }
}

/// SDES item type CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

/// SDES (RFC 3550 §6.5): chunks of SSRC + items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    body: &'a [u8],
    count: u8,
}

/// One SDES chunk: its source and CNAME, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    pub ssrc: u32,
    pub cname: Option<&'a str>,
}

impl<'a> Sdes<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let s = Sdes {
            body: p.body(),
            count: p.count(),
        };
        // Validate every chunk once so iteration cannot fail later.
        let mut n = 0;
        let mut it = s.chunks_checked();
        for c in &mut it {
            c?;
            n += 1;
        }
        if n != usize::from(s.count) {
            return Err(RtcpError::Truncated("sdes chunks"));
        }
        Ok(s)
    }

    fn chunks_checked(&self) -> SdesIter<'a> {
        SdesIter {
            b: self.body,
            pos: 0,
            left: self.count,
        }
    }

    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        self.chunks_checked().map_while(Result::ok)
    }
}

#[derive(Debug, Clone)]
struct SdesIter<'a> {
    b: &'a [u8],
    pos: usize,
    left: u8,
}

impl<'a> Iterator for SdesIter<'a> {
    type Item = Result<SdesChunk<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let short = RtcpError::Truncated("sdes chunk");
        let Some(ssrc) = read_u32(self.b, self.pos) else {
            self.left = 0;
            return Some(Err(short));
        };
        let mut pos = self.pos + 4;
        let mut cname = None;
        loop {
            let Some(&ty) = self.b.get(pos) else {
                self.left = 0;
                return Some(Err(short));
            };
            if ty == 0 {
                // End of items; the chunk is padded to a 32-bit boundary.
                pos = (pos + 4) & !3;
                break;
            }
            let Some(&len) = self.b.get(pos + 1) else {
                self.left = 0;
                return Some(Err(short));
            };
            let Some(text) = self.b.get(pos + 2..pos + 2 + usize::from(len)) else {
                self.left = 0;
                return Some(Err(short));
            };
            if ty == SDES_CNAME {
                cname = std::str::from_utf8(text).ok();
            }
            pos += 2 + usize::from(len);
        }
        self.pos = pos;
        Some(Ok(SdesChunk { ssrc, cname }))
    }
}

/// BYE (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    pub reason: Option<&'a str>,
}

impl<'a> Bye<'a> {
    pub fn try_from_packet(p: &RtcpPacket<'a>) -> Result<Self, RtcpError> {
        let b = p.body();
        let n = 4 * usize::from(p.count());
        let ssrcs = b.get(..n).ok_or(RtcpError::Truncated("bye"))?;
        let reason = b
            .get(n)
            .and_then(|len| b.get(n + 1..n + 1 + usize::from(*len)));
        Ok(Bye {
            ssrcs,
            reason: reason.and_then(|r| std::str::from_utf8(r).ok()),
        })
    }

    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.ssrcs
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}
