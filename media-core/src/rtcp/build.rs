//! RTCP builders appending to a caller-owned buffer (one allocation per buffer, reused).
//! Each function appends one packet and returns the bytes written. Also re-exported at the
//! module root as `build_<name>`.

use super::compound::{
    FMT_AFB, FMT_FIR, FMT_NACK, FMT_PLI, PT_BYE, PT_PSFB, PT_RR, PT_RTPFB, PT_SDES, PT_SR,
};
use super::report::{ReportBlock, SDES_CNAME};

/// RC is a 5-bit field (RFC 3550 §6.4.1): at most 31 report blocks / sources per packet.
pub const MAX_COUNT: usize = 31;
/// At most this many (PID, BLP) pairs per NACK: 800 bytes of FCI, well inside one MTU.
pub const MAX_NACK_PAIRS: usize = 200;
/// REMB's SSRC count is 8 bits.
pub const MAX_REMB_SSRCS: usize = 255;

/// The sender-info block of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ssrc: u32,
    /// 64-bit NTP timestamp (seconds since 1900 in the upper half).
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

fn begin(out: &mut Vec<u8>, count: u8, pt: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1f), pt, 0, 0]);
    start
}

/// Pads to 32 bits with zeros and fills in the length field; returns bytes written.
fn finish(out: &mut Vec<u8>, start: usize) -> usize {
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    out.len() - start
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// RR with up to [`MAX_COUNT`] report blocks (RFC 3550 §6.4.2).
pub fn rr(out: &mut Vec<u8>, ssrc: u32, reports: &[ReportBlock]) -> usize {
    let reports = &reports[..reports.len().min(MAX_COUNT)];
    let start = begin(out, reports.len() as u8, PT_RR);
    put_u32(out, ssrc);
    for r in reports {
        r.write(out);
    }
    finish(out, start)
}

/// SR with up to [`MAX_COUNT`] report blocks (RFC 3550 §6.4.1).
pub fn sr(out: &mut Vec<u8>, info: &SenderInfo, reports: &[ReportBlock]) -> usize {
    let reports = &reports[..reports.len().min(MAX_COUNT)];
    let start = begin(out, reports.len() as u8, PT_SR);
    put_u32(out, info.ssrc);
    out.extend_from_slice(&info.ntp.to_be_bytes());
    put_u32(out, info.rtp_timestamp);
    put_u32(out, info.packet_count);
    put_u32(out, info.octet_count);
    for r in reports {
        r.write(out);
    }
    finish(out, start)
}

/// SDES with one chunk carrying a CNAME (RFC 3550 §6.5.1; a compound needs one, §6.1).
/// CNAMEs longer than 255 bytes are truncated at a character boundary.
pub fn sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) -> usize {
    let mut n = cname.len().min(255);
    while !cname.is_char_boundary(n) {
        n -= 1;
    }
    let start = begin(out, 1, PT_SDES);
    put_u32(out, ssrc);
    out.push(SDES_CNAME);
    out.push(n as u8);
    out.extend_from_slice(&cname.as_bytes()[..n]);
    // END item, then zero padding to 32 bits (§6.5).
    out.push(0);
    finish(out, start)
}

/// BYE for up to [`MAX_COUNT`] sources (RFC 3550 §6.6).
pub fn bye(out: &mut Vec<u8>, ssrcs: &[u32]) -> usize {
    let ssrcs = &ssrcs[..ssrcs.len().min(MAX_COUNT)];
    let start = begin(out, ssrcs.len() as u8, PT_BYE);
    for s in ssrcs {
        put_u32(out, *s);
    }
    finish(out, start)
}

/// Generic NACK (RFC 4585 §6.2.1) for `lost` sequence numbers, packed into (PID, BLP) pairs;
/// sorted input packs best. Writes nothing (returns 0) for an empty list.
pub fn nack(out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32, lost: &[u16]) -> usize {
    if lost.is_empty() {
        return 0;
    }
    let start = begin(out, FMT_NACK, PT_RTPFB);
    put_u32(out, sender_ssrc);
    put_u32(out, media_ssrc);
    let mut pairs = 0;
    let mut cur: Option<(u16, u16)> = None;
    for &seq in lost {
        if let Some((pid, blp)) = cur.as_mut() {
            let d = seq.wrapping_sub(*pid);
            if d == 0 {
                continue;
            }
            if (1..=16).contains(&d) {
                *blp |= 1 << (d - 1);
                continue;
            }
        }
        if let Some((pid, blp)) = cur.take() {
            if pairs == MAX_NACK_PAIRS {
                break;
            }
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&blp.to_be_bytes());
            pairs += 1;
        }
        cur = Some((seq, 0));
    }
    if let Some((pid, blp)) = cur {
        if pairs < MAX_NACK_PAIRS {
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&blp.to_be_bytes());
        }
    }
    finish(out, start)
}

/// PLI (RFC 4585 §6.3.1).
pub fn pli(out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32) -> usize {
    let start = begin(out, FMT_PLI, PT_PSFB);
    put_u32(out, sender_ssrc);
    put_u32(out, media_ssrc);
    finish(out, start)
}

/// FIR (RFC 5104 §4.3.1): media SSRC 0, one FCI entry per (target SSRC, command seq nr).
pub fn fir(out: &mut Vec<u8>, sender_ssrc: u32, entries: &[(u32, u8)]) -> usize {
    let start = begin(out, FMT_FIR, PT_PSFB);
    put_u32(out, sender_ssrc);
    put_u32(out, 0);
    for (ssrc, seq) in entries.iter().take(MAX_NACK_PAIRS) {
        put_u32(out, *ssrc);
        out.extend_from_slice(&[*seq, 0, 0, 0]);
    }
    finish(out, start)
}

/// REMB (draft-alvestrand-rmcat-remb-03 §2.2): `bitrate` bps as 18-bit mantissa × 2^exp
/// (rounded down), media SSRC 0, up to [`MAX_REMB_SSRCS`] SSRCs.
pub fn remb(out: &mut Vec<u8>, sender_ssrc: u32, bitrate: u64, ssrcs: &[u32]) -> usize {
    let ssrcs = &ssrcs[..ssrcs.len().min(MAX_REMB_SSRCS)];
    let mut mantissa = bitrate;
    let mut exp = 0u32;
    while mantissa > 0x3_ffff {
        mantissa >>= 1;
        exp += 1;
    }
    let start = begin(out, FMT_AFB, PT_PSFB);
    put_u32(out, sender_ssrc);
    put_u32(out, 0);
    out.extend_from_slice(b"REMB");
    put_u32(
        out,
        ((ssrcs.len() as u32) << 24) | (exp << 18) | mantissa as u32,
    );
    for s in ssrcs {
        put_u32(out, *s);
    }
    finish(out, start)
}
