//! Compound RTCP (RFC 3550 §6.1) split into validated packets, and the packet-kind dispatch
//! (RFC 3550 §12.1, RFC 4585 §6.1, RFC 5104 §4.3, REMB, transport-cc).

use super::feedback::{Fir, Nack, Pli, Remb};
use super::report::{Bye, ReceiverReport, Sdes, SenderReport};
use super::twcc::TransportCc;
use super::RtcpError;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
pub const PT_APP: u8 = 204;
/// RFC 4585 §6.1 transport-layer feedback.
pub const PT_RTPFB: u8 = 205;
/// RFC 4585 §6.1 payload-specific feedback.
pub const PT_PSFB: u8 = 206;

pub const FMT_NACK: u8 = 1;
pub const FMT_TWCC: u8 = 15;
pub const FMT_PLI: u8 = 1;
pub const FMT_FIR: u8 = 4;
/// Application layer feedback (RFC 4585 §6.4); REMB when it starts with "REMB".
pub const FMT_AFB: u8 = 15;

/// Bounds the packets taken from one compound: a 1,500-byte datagram holds at most 375
/// minimal packets; real compounds carry 2-5.
pub const MAX_PACKETS_PER_COMPOUND: usize = 64;

/// What an RTCP packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RtcpKind {
    SenderReport,
    ReceiverReport,
    Sdes,
    Bye,
    App,
    /// RFC 4585 §6.2.1 generic NACK.
    Nack,
    /// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.
    TransportCc,
    /// RFC 4585 §6.3.1.
    Pli,
    /// RFC 5104 §4.3.1.
    Fir,
    /// draft-alvestrand-rmcat-remb-03 §2.2.
    Remb,
    /// Other transport-layer feedback (FMT).
    OtherRtpfb(u8),
    /// Other payload-specific feedback (FMT), e.g. SLI, RPSI, other AFB.
    OtherPsfb(u8),
    /// Unknown packet type (e.g. XR 207).
    Unknown(u8),
}

/// The name the engine uses when it only cares about feedback.
pub type FeedbackKind = RtcpKind;

/// One RTCP packet of a compound: header validated, length within the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    data: &'a [u8],
    /// End of the body (padding excluded).
    body_end: usize,
}

impl<'a> RtcpPacket<'a> {
    /// Validates one packet at the start of `buf`; returns it and its total length.
    pub fn try_parse(buf: &'a [u8]) -> Result<(Self, usize), RtcpError> {
        let hdr = buf.get(..4).ok_or(RtcpError::TooShort)?;
        if hdr[0] >> 6 != 2 {
            return Err(RtcpError::BadVersion(hdr[0] >> 6));
        }
        let len = 4 * (usize::from(u16::from_be_bytes([hdr[2], hdr[3]])) + 1);
        let data = buf.get(..len).ok_or(RtcpError::TooShort)?;
        let mut body_end = len;
        if hdr[0] & 0x20 != 0 {
            // RFC 3550 §6.4.1: the last octet counts padding octets, itself included.
            let pad = usize::from(data[len - 1]);
            if pad == 0 || pad > len - 4 {
                return Err(RtcpError::BadPadding);
            }
            body_end -= pad;
        }
        Ok((RtcpPacket { data, body_end }, len))
    }

    /// The whole packet, header and padding included.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    pub fn packet_type(&self) -> u8 {
        self.data[1]
    }

    /// RC (reports, sources, chunks) or FMT (feedback) field.
    pub fn count(&self) -> u8 {
        self.data[0] & 0x1f
    }

    /// Payload after the 4-byte header, padding excluded.
    pub fn body(&self) -> &'a [u8] {
        &self.data[4..self.body_end]
    }

    pub fn kind(&self) -> RtcpKind {
        let fmt = self.count();
        match (self.packet_type(), fmt) {
            (PT_SR, _) => RtcpKind::SenderReport,
            (PT_RR, _) => RtcpKind::ReceiverReport,
            (PT_SDES, _) => RtcpKind::Sdes,
            (PT_BYE, _) => RtcpKind::Bye,
            (PT_APP, _) => RtcpKind::App,
            (PT_RTPFB, FMT_NACK) => RtcpKind::Nack,
            (PT_RTPFB, FMT_TWCC) => RtcpKind::TransportCc,
            (PT_RTPFB, f) => RtcpKind::OtherRtpfb(f),
            (PT_PSFB, FMT_PLI) => RtcpKind::Pli,
            (PT_PSFB, FMT_FIR) => RtcpKind::Fir,
            (PT_PSFB, FMT_AFB) if self.body().get(8..12) == Some(b"REMB") => RtcpKind::Remb,
            (PT_PSFB, f) => RtcpKind::OtherPsfb(f),
            (pt, _) => RtcpKind::Unknown(pt),
        }
    }

    /// First SSRC of the body: packet sender of SR, RR, feedback and APP; first source of
    /// SDES/BYE.
    pub fn sender_ssrc(&self) -> Option<u32> {
        read_u32(self.body(), 0)
    }

    /// Media source of feedback packets (RFC 4585 §6.1).
    pub fn media_ssrc(&self) -> Option<u32> {
        matches!(self.packet_type(), PT_RTPFB | PT_PSFB)
            .then(|| read_u32(self.body(), 4))
            .flatten()
    }

    /// The packet as a typed view.
    pub fn parse(&self) -> Result<Rtcp<'a>, RtcpError> {
        Ok(match self.kind() {
            RtcpKind::SenderReport => Rtcp::SenderReport(SenderReport::try_from_packet(self)?),
            RtcpKind::ReceiverReport => {
                Rtcp::ReceiverReport(ReceiverReport::try_from_packet(self)?)
            }
            RtcpKind::Sdes => Rtcp::Sdes(Sdes::try_from_packet(self)?),
            RtcpKind::Bye => Rtcp::Bye(Bye::try_from_packet(self)?),
            RtcpKind::Nack => Rtcp::Nack(Nack::try_from_packet(self)?),
            RtcpKind::TransportCc => Rtcp::TransportCc(TransportCc::try_from_packet(self)?),
            RtcpKind::Pli => Rtcp::Pli(Pli::try_from_packet(self)?),
            RtcpKind::Fir => Rtcp::Fir(Fir::try_from_packet(self)?),
            RtcpKind::Remb => Rtcp::Remb(Remb::try_from_packet(self)?),
            _ => Rtcp::Other(*self),
        })
    }
}

/// Typed view of one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rtcp<'a> {
    SenderReport(SenderReport<'a>),
    ReceiverReport(ReceiverReport<'a>),
    Sdes(Sdes<'a>),
    Bye(Bye<'a>),
    Nack(Nack<'a>),
    TransportCc(TransportCc<'a>),
    Pli(Pli),
    Fir(Fir<'a>),
    Remb(Remb<'a>),
    /// APP and anything not modelled, left as is.
    Other(RtcpPacket<'a>),
}

/// Iterates the packets of a compound; yields one error and stops on a malformed one.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
    count: usize,
    done: bool,
}

impl<'a> CompoundIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        CompoundIter {
            rest: buf,
            count: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        self.count += 1;
        if self.count > MAX_PACKETS_PER_COMPOUND {
            self.done = true;
            return Some(Err(RtcpError::TooManyPackets));
        }
        match RtcpPacket::try_parse(self.rest) {
            Ok((p, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(p))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Checks a whole compound (every packet valid) without looking inside the packets.
pub fn validate_compound(buf: &[u8]) -> Result<usize, RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::TooShort);
    }
    CompoundIter::new(buf).try_fold(0, |n, p| p.map(|_| n + 1))
}

pub(crate) fn read_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn read_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}
