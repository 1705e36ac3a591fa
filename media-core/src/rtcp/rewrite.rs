//! In-place SSRC rewriting of a compound RTCP packet, for relaying feedback between peers
//! whose SSRCs differ (Janus's `janus_rtcp_fix_ssrc`). Lengths never change.

use super::compound::{read_u32, validate_compound, RtcpKind, RtcpPacket};
use super::report::REPORT_BLOCK_LEN;
use super::RtcpError;

/// Which SSRC field is being rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SsrcRole {
    /// Packet sender (SR, RR, feedback, APP).
    Sender,
    /// Media source of RTPFB/PSFB (RFC 4585 §6.1).
    Media,
    /// Source of an SR/RR report block.
    ReportBlock,
    /// SDES chunk or BYE source.
    Source,
    /// FIR FCI target (RFC 5104 §4.3.1.2).
    FirTarget,
    /// SSRC listed in a REMB.
    RembTarget,
}

fn patch(
    buf: &mut [u8],
    off: usize,
    kind: RtcpKind,
    role: SsrcRole,
    f: &mut impl FnMut(RtcpKind, SsrcRole, u32) -> Option<u32>,
) {
    if let Some(old) = read_u32(buf, off) {
        if let Some(new) = f(kind, role, old) {
            buf[off..off + 4].copy_from_slice(&new.to_be_bytes());
        }
    }
}

/// Calls `f(kind, role, ssrc)` for every SSRC field of every packet in the compound;
/// `Some(new)` replaces the value. The compound is validated first; on error nothing is
/// changed. Padding is never touched. Returns the number of packets visited.
pub fn rewrite_ssrcs(
    buf: &mut [u8],
    mut f: impl FnMut(RtcpKind, SsrcRole, u32) -> Option<u32>,
) -> Result<usize, RtcpError> {
    let packets = validate_compound(buf)?;
    let mut off = 0;
    for _ in 0..packets {
        let (kind, count, len, end) = {
            let (p, len) = RtcpPacket::try_parse(&buf[off..])?;
            (p.kind(), usize::from(p.count()), len, 4 + p.body().len())
        };
        let pkt = &mut buf[off..off + end];
        let body = 4;
        let mut patch = |pkt: &mut [u8], at: usize, role| patch(pkt, at, kind, role, &mut f);
        match kind {
            RtcpKind::SenderReport | RtcpKind::ReceiverReport => {
                patch(pkt, body, SsrcRole::Sender);
                let first = body
                    + if kind == RtcpKind::SenderReport {
                        24
                    } else {
                        4
                    };
                for i in 0..count {
                    let at = first + i * REPORT_BLOCK_LEN;
                    if at + REPORT_BLOCK_LEN <= end {
                        patch(pkt, at, SsrcRole::ReportBlock);
                    }
                }
            }
            RtcpKind::Sdes => {
                let mut pos = body;
                for _ in 0..count {
                    if pos + 4 > end {
                        break;
                    }
                    patch(pkt, pos, SsrcRole::Source);
                    pos += 4;
                    // Skip items to the END octet, then to the next 32-bit boundary.
                    while pos < end && pkt[pos] != 0 {
                        pos += 2 + usize::from(pkt.get(pos + 1).copied().unwrap_or(0));
                    }
                    pos = (pos + 4) & !3;
                }
            }
            RtcpKind::Bye => {
                for i in 0..count {
                    if body + 4 * i + 4 <= end {
                        patch(pkt, body + 4 * i, SsrcRole::Source);
                    }
                }
            }
            RtcpKind::App => patch(pkt, body, SsrcRole::Sender),
            RtcpKind::Unknown(_) => {}
            _ => {
                // RTPFB / PSFB (RFC 4585 §6.1).
                patch(pkt, body, SsrcRole::Sender);
                patch(pkt, body + 4, SsrcRole::Media);
                if kind == RtcpKind::Fir {
                    let mut at = body + 8;
                    while at + 8 <= end {
                        patch(pkt, at, SsrcRole::FirTarget);
                        at += 8;
                    }
                } else if kind == RtcpKind::Remb {
                    let n = usize::from(pkt.get(body + 12).copied().unwrap_or(0));
                    for i in 0..n {
                        let at = body + 16 + 4 * i;
                        if at + 4 <= end {
                            patch(pkt, at, SsrcRole::RembTarget);
                        }
                    }
                }
            }
        }
        off += len;
    }
    Ok(packets)
}

fn is_feedback(kind: RtcpKind) -> bool {
    !matches!(
        kind,
        RtcpKind::SenderReport
            | RtcpKind::ReceiverReport
            | RtcpKind::Sdes
            | RtcpKind::Bye
            | RtcpKind::App
            | RtcpKind::Unknown(_)
    )
}

/// Relaying helper: in every feedback packet (RTPFB/PSFB) set the sender SSRC and the media
/// SSRC (FIR targets and REMB SSRCs included) when given; other packets are untouched.
pub fn rewrite_feedback_ssrcs(
    buf: &mut [u8],
    sender: Option<u32>,
    media: Option<u32>,
) -> Result<usize, RtcpError> {
    rewrite_ssrcs(buf, |kind, role, _| {
        if !is_feedback(kind) {
            return None;
        }
        match role {
            SsrcRole::Sender => sender,
            // RFC 4585 §6.1/RFC 5104 §4.3.1.2: REMB and FIR carry media SSRC 0; keep it.
            SsrcRole::Media if matches!(kind, RtcpKind::Remb | RtcpKind::Fir) => None,
            SsrcRole::Media | SsrcRole::FirTarget | SsrcRole::RembTarget => media,
            _ => None,
        }
    })
}
