//! SDP for Unified Plan WebRTC (RFC 8866 syntax, RFC 3264 offer/answer, RFC 8829 JSEP),
//! shaped after what Janus reads and writes (`janus-core-api.md` §8).
//!
//! - [`SessionDescription::parse`] / [`SessionDescription::to_sdp_string`]: typed model,
//!   unknown attributes kept verbatim.
//! - [`SessionDescription::validate_remote`], [`SessionDescription::strip_transport`]: what
//!   the core does to a remote SDP before a plugin sees it.
//! - [`answer`] / [`OfferBuilder`]: bare SDPs a plugin emits.
//! - [`merge_transport`]: Ianus's ICE/DTLS attributes added on the way out.
//! - [`negotiated`]: per-mid parameters the engine routes RTP with.

mod answer;
mod model;
mod negotiated;
mod offer;
mod parse;
mod transport;
mod write;

pub use answer::{
    answer, answer_simulcast, AnswerOptions, LocalMedia, DEFAULT_AUDIO_CODECS, DEFAULT_EXTENSIONS,
    DEFAULT_VIDEO_CODECS, SCTPMAP_STREAMS, SCTP_PORT, SUPPORTED_RTCP_FB,
};
pub use model::*;
pub use negotiated::{negotiated, DataChannelParams, Negotiated, NegotiatedCodec, NegotiatedMedia};
pub use offer::{OfferBuilder, OfferCodec, OfferMedia};
pub use transport::{
    merge_transport, LocalCandidate, TransportAttrs, PROTO_DATA, PROTO_DATA_LEGACY, PROTO_RTP,
};

/// Largest SDP accepted. Chrome's offer for 16 simulcast video tracks is ~60 KB.
pub const MAX_SDP_LEN: usize = 256 * 1024;
/// Most non-empty lines accepted (a section is ~40-80 lines in browser SDPs).
pub const MAX_LINES: usize = 8192;
/// Longest line accepted (browser fmtp and candidate lines stay under 300 bytes).
pub const MAX_LINE_LEN: usize = 4096;
/// Most `m=` sections (Janus has no limit; browsers cope badly beyond ~100 transceivers).
pub const MAX_MEDIA_SECTIONS: usize = 256;
/// Most formats on one `m=` line: the whole 7-bit payload-type space (RFC 3550 §5.1).
pub const MAX_FORMATS_PER_SECTION: usize = 128;

/// Why an SDP was refused. Display texts reuse Janus's where Janus has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP too large ({len} bytes, max {max})")]
    TooLarge { len: usize, max: usize },
    #[error("Invalid SDP (doesn't start with v=)")]
    NoVersionLine,
    #[error("Missing mandatory lines (o=, s= or m=)")]
    MissingMandatoryLines,
    #[error("Too many lines (max {max})")]
    TooManyLines { max: usize },
    #[error("Line {line} too long (max {max} bytes)")]
    LineTooLong { line: usize, max: usize },
    #[error("Too many m-lines (max {max})")]
    TooManyMediaSections { max: usize },
    #[error("Invalid line {line}: {reason}")]
    InvalidLine { line: usize, reason: &'static str },
    #[error("Missing ICE ufrag")]
    MissingIceUfrag,
    #[error("Missing ICE pwd")]
    MissingIcePwd,
    #[error("Missing DTLS fingerprint")]
    MissingFingerprint,
}
