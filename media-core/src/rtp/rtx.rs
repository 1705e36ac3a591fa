//! RTX retransmission payload format (RFC 4588 §4): an RTX packet carries the original
//! sequence number (OSN) in its first two payload bytes, then the original payload, on its
//! own SSRC and payload type (`apt` maps it back, §8.6).

use bytes::{BufMut, Bytes, BytesMut};

use super::view::{RtpView, RtpViewMut};
use super::RtpError;

/// The OSN of an RTX packet (RFC 4588 §4).
pub fn osn(rtx: &RtpView<'_>) -> Option<u16> {
    let p = rtx.payload();
    Some(u16::from_be_bytes([*p.first()?, *p.get(1)?]))
}

/// Restores the original packet into a new buffer: sequence number = OSN, payload type =
/// `apt`, padding dropped. The SSRC stays the RTX one: set the media SSRC if needed.
/// `None` for non-RTP input or an RTX payload shorter than the OSN.
pub fn unwrap(packet: &[u8], apt: u8) -> Option<Bytes> {
    let v = RtpView::try_parse(packet).ok()?;
    let osn = osn(&v)?;
    let hdr = v.header_len();
    let payload = &v.payload()[2..];
    let mut out = BytesMut::with_capacity(hdr + payload.len());
    out.put_slice(&packet[..hdr]);
    out.put_slice(payload);
    out[0] &= !0x20;
    out[1] = (out[1] & 0x80) | (apt & 0x7f);
    out[2..4].copy_from_slice(&osn.to_be_bytes());
    Some(out.freeze())
}

/// Restores the original packet in place (the payload moves two bytes back) and returns its
/// new length. With `ssrc`, also writes the media SSRC. No allocation.
pub fn unwrap_in_place(buf: &mut [u8], apt: u8, ssrc: Option<u32>) -> Result<usize, RtpError> {
    let (hdr, range, osn) = {
        let v = RtpView::try_parse(buf)?;
        let osn = osn(&v).ok_or(RtpError::TooShort)?;
        (v.header_len(), v.payload_range(), osn)
    };
    buf.copy_within(range.start + 2..range.end, hdr);
    let len = range.end - 2;
    buf[0] &= !0x20;
    let mut m = RtpViewMut::try_parse(&mut buf[..len])?;
    m.set_payload_type(apt);
    m.set_sequence_number(osn);
    if let Some(s) = ssrc {
        m.set_ssrc(s);
    }
    Ok(len)
}

/// Appends to `out` the RTX packet retransmitting `packet` (RFC 4588 §4): same header and
/// extensions, padding dropped, payload type `rtx_pt`, SSRC `rtx_ssrc`, sequence number
/// `rtx_seq` (the RTX stream's own counter), OSN + original payload.
pub fn wrap(
    packet: &[u8],
    rtx_pt: u8,
    rtx_ssrc: u32,
    rtx_seq: u16,
    out: &mut Vec<u8>,
) -> Result<(), RtpError> {
    let v = RtpView::try_parse(packet)?;
    let start = out.len();
    out.extend_from_slice(&packet[..v.header_len()]);
    out.extend_from_slice(&v.sequence_number().to_be_bytes());
    out.extend_from_slice(v.payload());
    let p = &mut out[start..];
    p[0] &= !0x20;
    let mut m = RtpViewMut::try_parse(p)?;
    m.set_payload_type(rtx_pt);
    m.set_ssrc(rtx_ssrc);
    m.set_sequence_number(rtx_seq);
    Ok(())
}
