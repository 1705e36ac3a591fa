//! Ianus media core: one UDP socket (per address family) multiplexing every peer, ICE-lite,
//! DTLS-SRTP, RTP/RTCP, SDP offer/answer, SCTP data channels and the forwarding engine.
//!
//! It knows nothing of JSON or Janus. Everything but `net` and `engine` is sans-IO: inputs
//! carry `now`, outputs are values the engine turns into syscalls.

pub mod dtls;
pub mod engine;
pub mod forward;
#[doc(hidden)]
pub mod fuzzing;
pub mod ice;
pub mod mix;
pub mod net;
pub mod rtcp;
pub mod rtp;
pub mod sctp;
pub mod sdp;
pub mod srtp;
