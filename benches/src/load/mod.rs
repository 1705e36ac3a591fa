//! `ianus-load`: a load generator for any Janus-protocol server (Ianus, Janus), driving
//! VideoRoom and AudioBridge through the WebSocket API with real ICE, DTLS and SRTP.
//!
//! - [`janus`]: the WebSocket API client;
//! - [`sdp`]: the offers and answers the tool writes, and the parts of the server's it reads;
//! - [`peer`]: one simulated PeerConnection (ICE controlling agent, DTLS, SRTP, receive checks);
//! - [`media`]: pre-encoded VP8-shaped video with checkable trailers, real Opus;
//! - [`stats`], [`procstat`]: what is counted and measured;
//! - [`scenario`]: the runs; [`report`]: the table and the JSON.

pub mod janus;
pub mod media;
pub mod peer;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod sdp;
pub mod stats;
