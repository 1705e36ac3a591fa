//! Zero-copy RTP (RFC 3550 §5): a validated header view, RFC 8285 header extensions, in-place
//! rewriting for relaying, sequence/timestamp continuity, codec descriptors (VP8, VP9, H.264),
//! the AV1 dependency descriptor ([`dd`]) and RTX (RFC 4588). Nothing here allocates on the
//! parse and rewrite paths except [`rtx::unwrap`], which returns a fresh `Bytes` by design
//! (and [`dd::DdReader`]'s one-time structure boxes).

pub mod dd;
pub mod ext;
pub mod h264;
pub mod rtx;
pub mod seq;
mod view;
pub mod vp8;
pub mod vp9;

pub use seq::{
    seq_delta, seq_is_newer, ts_delta, ts_is_newer, SeqRewriter, SeqUnwrapper, TsRewriter,
};
pub use view::{
    ExtensionElement, Extensions, RtpView, RtpViewMut, ONE_BYTE_PROFILE, RTP_HEADER_LEN,
    TWO_BYTE_PROFILE, TWO_BYTE_PROFILE_MASK,
};

/// Why bytes are not a usable RTP packet (or codec payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    #[error("RTP packet too short")]
    TooShort,
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("invalid RTP padding")]
    BadPadding,
    #[error("no header extension with id {0}")]
    NoSuchExtension(u8),
    #[error("header extension {id} has {have} bytes, value has {want}")]
    ExtensionLength { id: u8, have: usize, want: usize },
    #[error("codec payload: {0}")]
    Codec(&'static str),
}

/// Whether `payload` starts a keyframe of `codec` (VP8 and H.264, the codecs Janus 1.1.2
/// relays simulcast for; `false` for the others). Pick the codec from the negotiated payload
/// type: a VP8 check on H.264 bytes (or the reverse) gives meaningless answers.
pub fn is_keyframe(codec: crate::sdp::Codec, payload: &[u8]) -> bool {
    match codec {
        crate::sdp::Codec::Vp8 => vp8::is_keyframe(payload),
        crate::sdp::Codec::H264 => h264::is_keyframe(payload),
        _ => false,
    }
}
