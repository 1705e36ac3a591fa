//! RTCP (RFC 3550 §6, RFC 4585, RFC 5104, REMB, transport-cc): a bounded compound iterator
//! with typed borrowed views, builders into caller-owned buffers, and in-place SSRC
//! rewriting for relaying. Parsing never allocates and never panics on any input.

pub mod build;
mod compound;
mod feedback;
mod report;
mod rewrite;
mod twcc;
pub mod twcc_build;
pub mod twcc_recorder;

pub use build::{
    bye as build_bye, fir as build_fir, nack as build_nack, pli as build_pli, remb as build_remb,
    rr as build_rr, sdes_cname as build_sdes_cname, sr as build_sr, SenderInfo, MAX_COUNT,
    MAX_NACK_PAIRS, MAX_REMB_SSRCS,
};
pub use compound::{
    validate_compound, CompoundIter, FeedbackKind, Rtcp, RtcpKind, RtcpPacket, FMT_AFB, FMT_FIR,
    FMT_NACK, FMT_PLI, FMT_TWCC, MAX_PACKETS_PER_COMPOUND, PT_APP, PT_BYE, PT_PSFB, PT_RR,
    PT_RTPFB, PT_SDES, PT_SR,
};
pub use feedback::{Fir, Nack, Pli, Remb};
pub use report::{
    Bye, ReceiverReport, ReportBlock, ReportBlocks, Sdes, SdesChunk, SenderReport,
    REPORT_BLOCK_LEN, SDES_CNAME,
};
pub use rewrite::{rewrite_feedback_ssrcs, rewrite_ssrcs, SsrcRole};
pub use twcc::{TransportCc, TwccPacket, TwccPackets, TwccStatus};
pub use twcc_build::{transport_cc as build_transport_cc, TwccHeader};
pub use twcc_recorder::{TwccRecorder, MAX_FEEDBACK_LEN, TWCC_HISTORY, TWCC_PERIOD};

/// Why bytes are not valid RTCP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    #[error("RTCP packet too short")]
    TooShort,
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    #[error("invalid RTCP padding")]
    BadPadding,
    #[error("more than {} packets in a compound", MAX_PACKETS_PER_COMPOUND)]
    TooManyPackets,
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
}
