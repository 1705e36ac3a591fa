//! The typed SDP model (RFC 8866 syntax, JSEP/Unified Plan attributes).
//!
//! Attributes Ianus acts on are typed fields; every other attribute is kept verbatim in
//! `attributes` so a parse → serialize round trip loses nothing a peer said, only the line
//! order of attributes (the serializer uses one canonical order, close to Janus's and
//! Chrome's).

use std::fmt;

/// `m=` media type (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    Application,
    /// `text`, `message`, ...: parsed, always rejected in answers.
    Other(String),
}

impl MediaKind {
    pub fn parse(s: &str) -> Self {
        match s {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => MediaKind::Application,
            other => MediaKind::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
            MediaKind::Other(s) => s,
        }
    }

    /// Audio or video: an RTP section.
    pub fn is_rtp(&self) -> bool {
        matches!(self, MediaKind::Audio | MediaKind::Video)
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Media direction attribute (RFC 8866 §6.7, RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction seen from the other side (sendonly ↔ recvonly).
    pub fn reverse(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Builds a direction from its two halves.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// RFC 3264 §6.1: what an answerer willing to do `local` answers to an `offered` direction.
    pub fn answer_to(offered: Direction, local: Direction) -> Self {
        Direction::from_flags(
            offered.receives() && local.sends(),
            offered.sends() && local.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// DTLS role attribute (RFC 4145 §4, RFC 8842 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    Active,
    Passive,
    ActPass,
    HoldConn,
}

impl Setup {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Setup::Active,
            "passive" => Setup::Passive,
            "actpass" => Setup::ActPass,
            "holdconn" => Setup::HoldConn,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `o=` line (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub session_version: u64,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            username: "-".to_owned(),
            session_id: 0,
            session_version: 0,
            net_type: "IN".to_owned(),
            addr_type: "IP4".to_owned(),
            address: "127.0.0.1".to_owned(),
        }
    }
}

/// `c=` line (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Connection {
    /// `IN IP4 <ip>` or `IN IP6 <ip>`.
    pub fn for_ip(ip: std::net::IpAddr) -> Self {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
            address: ip.to_string(),
        }
    }
}

/// Any attribute Ianus does not model, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    pub fn new(name: impl Into<String>, value: Option<String>) -> Self {
        Attribute {
            name: name.into(),
            value,
        }
    }
}

/// A non-attribute line kept verbatim (`i=`, `u=`, `e=`, `p=`, `b=`, `r=`, `z=`, `k=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpLine {
    pub kind: char,
    pub value: String,
}

/// `a=group:<semantics> <mid>...` (RFC 5888, RFC 9143 for BUNDLE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub semantics: String,
    pub mids: Vec<String>,
}

/// `a=fingerprint:<hash> <hex>` (RFC 8122 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash function name, lower-cased (`sha-256`).
    pub hash: String,
    /// Colon-separated upper-case hex as written by the peer.
    pub value: String,
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

/// Everything said about one payload type: rtpmap, fmtp, rtcp-fb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFormat {
    pub pt: u8,
    pub rtpmap: Option<RtpMap>,
    /// Format parameters after the payload type (RFC 8866 §6.15).
    pub fmtp: Option<String>,
    /// `a=rtcp-fb:<pt> <value>` values (RFC 4585 §4.2), e.g. `nack pli`.
    pub rtcp_fb: Vec<String>,
}

impl PayloadFormat {
    pub fn new(pt: u8, encoding: &str, clock_rate: u32, channels: Option<u16>) -> Self {
        PayloadFormat {
            pt,
            rtpmap: Some(RtpMap {
                encoding: encoding.to_owned(),
                clock_rate,
                channels,
            }),
            fmtp: None,
            rtcp_fb: Vec::new(),
        }
    }

    /// The rtpmap, or the RFC 3551 §6 static assignment for payload types without one.
    pub fn encoding(&self) -> Option<(&str, u32, Option<u16>)> {
        if let Some(m) = &self.rtpmap {
            return Some((m.encoding.as_str(), m.clock_rate, m.channels));
        }
        match self.pt {
            0 => Some(("PCMU", 8000, Some(1))),
            8 => Some(("PCMA", 8000, Some(1))),
            9 => Some(("G722", 8000, Some(1))),
            13 => Some(("CN", 8000, Some(1))),
            18 => Some(("G729", 8000, Some(1))),
            _ => None,
        }
    }

    /// The codec this payload type carries.
    pub fn codec(&self) -> Codec {
        match self.encoding() {
            Some((name, _, _)) => Codec::from_encoding(name),
            None => Codec::Other,
        }
    }

    /// Value of one `key=value` format parameter (`;`-separated, keys case-insensitive).
    pub fn fmtp_param(&self, key: &str) -> Option<&str> {
        fmtp_param(self.fmtp.as_deref()?, key)
    }
}

/// Looks a `key=value` parameter up in an fmtp string.
pub fn fmtp_param<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// Codecs Ianus knows by name (Janus's codec names, `janus-plugins-api.md` §0.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    Opus,
    Multiopus,
    Red,
    Pcmu,
    Pcma,
    G722,
    TelephoneEvent,
    Vp8,
    Vp9,
    H264,
    Av1,
    H265,
    Rtx,
    Other,
}

impl Codec {
    /// From an rtpmap encoding name (case-insensitive, RFC 8866 §6.6).
    pub fn from_encoding(name: &str) -> Self {
        let n = name.to_ascii_lowercase();
        match n.as_str() {
            "opus" => Codec::Opus,
            "multiopus" => Codec::Multiopus,
            "red" => Codec::Red,
            "pcmu" => Codec::Pcmu,
            "pcma" => Codec::Pcma,
            "g722" => Codec::G722,
            "telephone-event" => Codec::TelephoneEvent,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "h264" => Codec::H264,
            "av1" | "av1x" => Codec::Av1,
            "h265" => Codec::H265,
            "rtx" => Codec::Rtx,
            _ => Codec::Other,
        }
    }

    /// Janus's lower-case name (`opus`, `vp8`, ...), as used in plugin requests and events.
    pub fn janus_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Multiopus => "multiopus",
            Codec::Red => "red",
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
            Codec::G722 => "g722",
            Codec::TelephoneEvent => "dtmf",
            Codec::Vp8 => "vp8",
            Codec::Vp9 => "vp9",
            Codec::H264 => "h264",
            Codec::Av1 => "av1",
            Codec::H265 => "h265",
            Codec::Rtx => "rtx",
            Codec::Other => "other",
        }
    }

    pub fn from_janus_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "multiopus" => Codec::Multiopus,
            "red" => Codec::Red,
            "pcmu" => Codec::Pcmu,
            "pcma" => Codec::Pcma,
            "g722" => Codec::G722,
            "dtmf" => Codec::TelephoneEvent,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "h264" => Codec::H264,
            "av1" => Codec::Av1,
            "h265" => Codec::H265,
            _ => return None,
        })
    }

    /// The rtpmap Janus writes for this codec (`janus_sdp_get_codec_rtpmap`).
    pub fn rtpmap(self) -> Option<(&'static str, u32, Option<u16>)> {
        Some(match self {
            Codec::Opus => ("opus", 48000, Some(2)),
            Codec::Multiopus => ("multiopus", 48000, Some(6)),
            Codec::Red => ("red", 48000, Some(2)),
            Codec::Pcmu => ("PCMU", 8000, None),
            Codec::Pcma => ("PCMA", 8000, None),
            Codec::G722 => ("G722", 8000, None),
            Codec::TelephoneEvent => ("telephone-event", 8000, None),
            Codec::Vp8 => ("VP8", 90000, None),
            Codec::Vp9 => ("VP9", 90000, None),
            Codec::H264 => ("H264", 90000, None),
            Codec::Av1 => ("AV1", 90000, None),
            Codec::H265 => ("H265", 90000, None),
            Codec::Rtx | Codec::Other => return None,
        })
    }

    pub fn is_audio(self) -> bool {
        matches!(
            self,
            Codec::Opus
                | Codec::Multiopus
                | Codec::Red
                | Codec::Pcmu
                | Codec::Pcma
                | Codec::G722
                | Codec::TelephoneEvent
        )
    }

    pub fn is_video(self) -> bool {
        matches!(
            self,
            Codec::Vp8 | Codec::Vp9 | Codec::H264 | Codec::Av1 | Codec::H265
        )
    }
}

/// RTP header extensions Ianus uses (RFC 8285 `a=extmap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RtpExtension {
    /// RFC 9143 §15.1: BUNDLE demux by mid.
    Mid,
    /// RFC 8852 §3.1: simulcast layer by rid.
    Rid,
    /// RFC 8852 §3.2: the rid of the stream an RTX packet repairs.
    RepairedRid,
    /// RFC 6464.
    AudioLevel,
    /// 3GPP TS 26.114 §7.4.5 (CVO).
    VideoOrientation,
    /// webrtc.org playout-delay.
    PlayoutDelay,
    /// draft-holmer-rmcat-transport-wide-cc-extensions-01.
    TransportCc,
    /// webrtc.org abs-send-time.
    AbsSendTime,
    /// AV1 RTP spec, Appendix A.
    DependencyDescriptor,
    /// RFC 5450.
    TimeOffset,
}

impl RtpExtension {
    pub const ALL: [RtpExtension; 10] = [
        RtpExtension::Mid,
        RtpExtension::Rid,
        RtpExtension::RepairedRid,
        RtpExtension::AudioLevel,
        RtpExtension::VideoOrientation,
        RtpExtension::PlayoutDelay,
        RtpExtension::TransportCc,
        RtpExtension::AbsSendTime,
        RtpExtension::DependencyDescriptor,
        RtpExtension::TimeOffset,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            RtpExtension::Mid => "urn:ietf:params:rtp-hdrext:sdes:mid",
            RtpExtension::Rid => "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            RtpExtension::RepairedRid => "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            RtpExtension::AudioLevel => "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            RtpExtension::VideoOrientation => "urn:3gpp:video-orientation",
            RtpExtension::PlayoutDelay => "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            RtpExtension::TransportCc => {
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            }
            RtpExtension::AbsSendTime => "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            RtpExtension::DependencyDescriptor => {
                "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
            }
            RtpExtension::TimeOffset => "urn:ietf:params:rtp-hdrext:toffset",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        RtpExtension::ALL.into_iter().find(|e| e.uri() == uri)
    }

    /// The ID Janus uses when it offers this extension (`janus-core-api.md` §8.2).
    pub fn janus_default_id(self) -> Option<u16> {
        Some(match self {
            RtpExtension::AudioLevel => 1,
            RtpExtension::AbsSendTime => 2,
            RtpExtension::TransportCc => 3,
            RtpExtension::Mid => 4,
            RtpExtension::Rid => 5,
            RtpExtension::RepairedRid => 6,
            RtpExtension::PlayoutDelay => 12,
            RtpExtension::VideoOrientation => 13,
            RtpExtension::TimeOffset => 14,
            RtpExtension::DependencyDescriptor => return None,
        })
    }

    /// Extensions that only make sense on audio (A) or video (V) sections.
    pub fn applies_to(self, kind: &MediaKind) -> bool {
        match self {
            RtpExtension::AudioLevel => *kind == MediaKind::Audio,
            RtpExtension::VideoOrientation
            | RtpExtension::PlayoutDelay
            | RtpExtension::Rid
            | RtpExtension::RepairedRid
            | RtpExtension::DependencyDescriptor
            | RtpExtension::TimeOffset => *kind == MediaKind::Video,
            _ => kind.is_rtp(),
        }
    }
}

/// `a=extmap:<id>[/<direction>] <uri> [<attributes>]` (RFC 8285 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtMap {
    pub id: u16,
    pub direction: Option<Direction>,
    pub uri: String,
    pub attributes: Option<String>,
}

impl ExtMap {
    pub fn extension(&self) -> Option<RtpExtension> {
        RtpExtension::from_uri(&self.uri)
    }
}

/// `a=ssrc:<ssrc> <attribute>[:<value>]` (RFC 5576 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcAttr {
    pub ssrc: u32,
    pub attribute: String,
    pub value: Option<String>,
}

/// `a=ssrc-group:<semantics> <ssrc>...` (RFC 5576 §4.2): `FID` (RTX), `SIM` (simulcast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    pub semantics: String,
    pub ssrcs: Vec<u32>,
}

/// `a=msid:<stream> [<track>]` (RFC 8830 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msid {
    pub stream: String,
    pub track: Option<String>,
}

/// `send`/`recv` of `a=rid` (RFC 8851 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    Send,
    Recv,
}

impl RidDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            RidDirection::Send => "send",
            RidDirection::Recv => "recv",
        }
    }

    pub fn reverse(self) -> Self {
        match self {
            RidDirection::Send => RidDirection::Recv,
            RidDirection::Recv => RidDirection::Send,
        }
    }
}

/// `a=rid:<id> <send|recv> [<params>]` (RFC 8851 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rid {
    pub id: String,
    pub direction: RidDirection,
    pub params: Option<String>,
}

/// One rid in a simulcast stream list; `~` marks it paused (RFC 8853 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulcastRid {
    pub rid: String,
    pub paused: bool,
}

/// `a=simulcast` (RFC 8853 §5.1): `;` separates streams, `,` alternatives of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simulcast {
    pub send: Vec<Vec<SimulcastRid>>,
    pub recv: Vec<Vec<SimulcastRid>>,
    /// Old draft syntax `send rid=h;m;l` (Firefox < 71), answered in kind.
    pub legacy_rid_prefix: bool,
}

/// `a=sctpmap:<port> <app> [<streams>]` (draft-ietf-mmusic-sctp-sdp-05, the `DTLS/SCTP` syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpMap {
    pub port: u16,
    pub app: String,
    pub streams: Option<u32>,
}

/// One `m=` section and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    pub kind: MediaKind,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    /// `m=` formats as written: payload types for RTP, `webrtc-datachannel`/`5000` for data.
    pub formats: Vec<String>,
    pub connection: Option<Connection>,
    /// `i=`, `b=`, `k=` lines.
    pub lines: Vec<SdpLine>,
    pub mid: Option<String>,
    pub direction: Option<Direction>,
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    pub ice_options: Option<String>,
    pub fingerprints: Vec<Fingerprint>,
    pub setup: Option<Setup>,
    /// `a=candidate:` values, verbatim (RFC 8839 §5.1).
    pub candidates: Vec<String>,
    pub end_of_candidates: bool,
    /// `a=rtcp:` value (RFC 3605), verbatim.
    pub rtcp: Option<String>,
    pub rtcp_mux: bool,
    pub rtcp_rsize: bool,
    /// Per payload type attributes, in m-line order, then any others mentioned.
    pub payloads: Vec<PayloadFormat>,
    /// `a=rtcp-fb:* <value>`.
    pub rtcp_fb_all: Vec<String>,
    pub extmaps: Vec<ExtMap>,
    pub msids: Vec<Msid>,
    pub ssrcs: Vec<SsrcAttr>,
    pub ssrc_groups: Vec<SsrcGroup>,
    pub rids: Vec<Rid>,
    pub simulcast: Option<Simulcast>,
    pub sctp_port: Option<u16>,
    pub max_message_size: Option<u64>,
    pub sctpmap: Option<SctpMap>,
    /// Unmodelled attributes, verbatim, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaSection {
    /// An empty section (port 9, no formats).
    pub fn new(kind: MediaKind, proto: &str) -> Self {
        MediaSection {
            kind,
            port: 9,
            port_count: None,
            proto: proto.to_owned(),
            formats: Vec::new(),
            connection: None,
            lines: Vec::new(),
            mid: None,
            direction: None,
            ice_ufrag: None,
            ice_pwd: None,
            ice_options: None,
            fingerprints: Vec::new(),
            setup: None,
            candidates: Vec::new(),
            end_of_candidates: false,
            rtcp: None,
            rtcp_mux: false,
            rtcp_rsize: false,
            payloads: Vec::new(),
            rtcp_fb_all: Vec::new(),
            extmaps: Vec::new(),
            msids: Vec::new(),
            ssrcs: Vec::new(),
            ssrc_groups: Vec::new(),
            rids: Vec::new(),
            simulcast: None,
            sctp_port: None,
            max_message_size: None,
            sctpmap: None,
            attributes: Vec::new(),
        }
    }

    /// Port 0: the section is rejected or stopped (RFC 3264 §6, RFC 8829 §5.2.2).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Direction, defaulting to `sendrecv` (RFC 8866 §6.7).
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or_default()
    }

    /// Whether `m=` proto is one of the SCTP-over-DTLS ones.
    pub fn is_data(&self) -> bool {
        self.kind == MediaKind::Application && self.proto.contains("SCTP")
    }

    /// Payload types listed on the `m=` line, in order (non-numeric formats skipped).
    pub fn pts(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|pt| *pt < 128)
    }

    pub fn payload(&self, pt: u8) -> Option<&PayloadFormat> {
        self.payloads.iter().find(|p| p.pt == pt)
    }

    pub fn payload_mut(&mut self, pt: u8) -> Option<&mut PayloadFormat> {
        self.payloads.iter_mut().find(|p| p.pt == pt)
    }

    /// Appends a payload type to the `m=` line and its attributes.
    pub fn add_payload(&mut self, p: PayloadFormat) {
        self.formats.push(p.pt.to_string());
        self.payloads.retain(|q| q.pt != p.pt);
        self.payloads.push(p);
    }

    /// Payload formats in m-line order (only those with attributes or a static mapping).
    pub fn formats_in_order(&self) -> impl Iterator<Item = &PayloadFormat> + '_ {
        self.pts().filter_map(|pt| self.payload(pt))
    }

    /// RTX payload type → associated payload type (RFC 4588 §8.6 `apt`).
    pub fn rtx_map(&self) -> impl Iterator<Item = (u8, u8)> + '_ {
        self.formats_in_order()
            .filter(|p| p.codec() == Codec::Rtx)
            .filter_map(|p| {
                let apt = p.fmtp_param("apt")?.parse::<u8>().ok()?;
                Some((p.pt, apt))
            })
    }

    pub fn extmap(&self, ext: RtpExtension) -> Option<&ExtMap> {
        self.extmaps.iter().find(|e| e.uri == ext.uri())
    }

    /// Unmodelled attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// SSRCs in order of first appearance in `a=ssrc` lines.
    pub fn ssrc_ids(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for s in &self.ssrcs {
            if !out.contains(&s.ssrc) {
                out.push(s.ssrc);
            }
        }
        out
    }

    /// Value of `a=ssrc:<ssrc> <attribute>:<value>` (e.g. `cname`, `msid`).
    pub fn ssrc_attr(&self, ssrc: u32, attribute: &str) -> Option<&str> {
        self.ssrcs
            .iter()
            .find(|s| s.ssrc == ssrc && s.attribute == attribute)
            .and_then(|s| s.value.as_deref())
    }

    pub fn ssrc_group(&self, semantics: &str) -> Option<&SsrcGroup> {
        self.ssrc_groups
            .iter()
            .find(|g| g.semantics.eq_ignore_ascii_case(semantics))
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    pub connection: Option<Connection>,
    /// `t=` values; `["0 0"]` for WebRTC.
    pub timing: Vec<String>,
    /// `i=`, `u=`, `e=`, `p=`, `b=`, `r=`, `z=`, `k=` lines.
    pub lines: Vec<SdpLine>,
    pub groups: Vec<Group>,
    pub ice_lite: bool,
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    pub ice_options: Option<String>,
    pub fingerprints: Vec<Fingerprint>,
    pub setup: Option<Setup>,
    /// `a=msid-semantic:` value verbatim (e.g. ` WMS *`).
    pub msid_semantic: Option<String>,
    /// RFC 8285 §6: one- and two-byte extension headers may be mixed.
    pub extmap_allow_mixed: bool,
    pub direction: Option<Direction>,
    /// Session-level extmaps (rare; RFC 8285 allows them).
    pub extmaps: Vec<ExtMap>,
    pub attributes: Vec<Attribute>,
    pub media: Vec<MediaSection>,
}

impl Default for SessionDescription {
    fn default() -> Self {
        SessionDescription {
            origin: Origin::default(),
            session_name: "-".to_owned(),
            connection: None,
            timing: vec!["0 0".to_owned()],
            lines: Vec::new(),
            groups: Vec::new(),
            ice_lite: false,
            ice_ufrag: None,
            ice_pwd: None,
            ice_options: None,
            fingerprints: Vec::new(),
            setup: None,
            msid_semantic: None,
            extmap_allow_mixed: false,
            direction: None,
            extmaps: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }
}

/// Transport parameters of one section after session-level inheritance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveTransport<'a> {
    pub ice_ufrag: Option<&'a str>,
    pub ice_pwd: Option<&'a str>,
    pub ice_options: Option<&'a str>,
    pub fingerprint: Option<&'a Fingerprint>,
    pub setup: Option<Setup>,
}

impl SessionDescription {
    pub fn group(&self, semantics: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.semantics.eq_ignore_ascii_case(semantics))
    }

    /// The BUNDLE group's mids (RFC 9143), if any.
    pub fn bundle_mids(&self) -> Option<&[String]> {
        self.group("BUNDLE").map(|g| g.mids.as_slice())
    }

    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaSection> {
        self.media.iter().find(|m| m.mid.as_deref() == Some(mid))
    }

    /// Transport attributes of section `mindex`: media-level values win over session-level
    /// ones (RFC 8839 §5.4, RFC 8122 §5). The fingerprint prefers sha-256.
    pub fn effective_transport(&self, mindex: usize) -> EffectiveTransport<'_> {
        let m = self.media.get(mindex);
        EffectiveTransport {
            ice_ufrag: m
                .and_then(|m| m.ice_ufrag.as_deref())
                .or(self.ice_ufrag.as_deref()),
            ice_pwd: m
                .and_then(|m| m.ice_pwd.as_deref())
                .or(self.ice_pwd.as_deref()),
            ice_options: m
                .and_then(|m| m.ice_options.as_deref())
                .or(self.ice_options.as_deref()),
            fingerprint: m
                .and_then(|m| best_fingerprint(&m.fingerprints))
                .or_else(|| best_fingerprint(&self.fingerprints)),
            setup: m.and_then(|m| m.setup).or(self.setup),
        }
    }

    /// Index of the first section that is not rejected: the one whose transport BUNDLE uses
    /// (Janus bundles everything on it).
    pub fn transport_mindex(&self) -> Option<usize> {
        self.media.iter().position(|m| !m.is_rejected())
    }
}

/// sha-256 first, else any.
pub fn best_fingerprint(fps: &[Fingerprint]) -> Option<&Fingerprint> {
    fps.iter()
        .find(|f| f.hash == "sha-256")
        .or_else(|| fps.first())
}
