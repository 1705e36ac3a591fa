//! The WebRTC seam: what the signaling core asks of the media side, and what it hears back.
//!
//! Janus's core processes every SDP before the plugin sees it (ICE credentials, fingerprint,
//! candidates) and merges its transport attributes into every SDP a plugin emits. Here that
//! work belongs to a [`WebRtcHost`] implemented by the application on top of `media_core`, so
//! this crate never touches packets.

use serde_json::Value;

use crate::ids::HandleId;
use crate::jsep::Jsep;

/// A Janus API error as the core sends it: code (see `proto::error_code`) and reason text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}")]
pub struct HostError {
    pub code: u16,
    pub reason: String,
}

impl HostError {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        HostError {
            code,
            reason: reason.into(),
        }
    }
}

/// One trickled candidate, as janus.js sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrickleCandidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u32>,
}

/// Implemented by the application: owns the PeerConnection of each handle.
pub trait WebRtcHost: Send + Sync {
    /// A client JSEP arrived on `handle` (before the plugin sees it). Validate and apply it;
    /// return the JSEP for the plugin (with `update`/`simulcast` filled in).
    /// Errors use the Janus codes of `janus-core-api.md` §2.9 (465, 469, 471, 490…).
    fn handle_remote_jsep(&self, handle: HandleId, jsep: &Jsep) -> Result<Jsep, HostError>;
    /// A plugin pushes `jsep` for `handle`: complete it with ICE credentials, fingerprint,
    /// setup role and candidates, and make it the local description.
    fn handle_local_jsep(&self, handle: HandleId, jsep: Jsep) -> Result<Jsep, HostError>;
    /// A trickled candidate; `None` is end-of-candidates. ICE-lite hosts may ignore them.
    fn handle_trickle(&self, handle: HandleId, candidate: Option<TrickleCandidate>);
    /// Close the PeerConnection of `handle` (if any). Returns true if there was one; the host
    /// reports the closing through [`WebRtcEvent::Hangup`] unless `silent`.
    fn hangup(&self, handle: HandleId, reason: &str, silent: bool) -> bool;
    /// The handle is gone: free everything.
    fn destroy(&self, handle: HandleId);
    /// The `webrtc`/`flags`/`sdps` part of Admin `handle_info` (an object), if a PC exists.
    fn handle_info(&self, handle: HandleId) -> Option<Value>;
    /// TEST ONLY: whether the Admin API offers test hooks (`[admin] test_hooks = true`).
    /// Without them the core answers `test_loss` like any unknown request.
    fn test_hooks(&self) -> bool {
        false
    }
    /// TEST ONLY (Admin `test_loss`): drop `percent` % of the RTP sent on `handle`'s
    /// PeerConnection, as a lossy network would (0 = off). Returns the packets dropped so
    /// far, or `None` when the handle has no PeerConnection.
    fn set_test_loss(&self, _handle: HandleId, _percent: u8) -> Option<u64> {
        None
    }
}

/// What the media side reports about a handle's PeerConnection.
#[derive(Debug, Clone, PartialEq)]
pub enum WebRtcEvent {
    /// ICE and DTLS are up (`webrtcup`); the core then calls `Plugin::setup_media`.
    Up,
    /// First packet on a medium (`receiving: true`) or none for `no_media_timer` (`false`).
    Media {
        mid: String,
        kind: &'static str,
        receiving: bool,
        substream: Option<u8>,
        seconds: Option<u32>,
    },
    /// Losses over the last second above `slowlink_threshold`.
    SlowLink {
        mid: String,
        media: &'static str,
        uplink: bool,
        lost: u32,
    },
    /// The PeerConnection closed (`hangup` with `reason`); the core then calls `hangup_media`.
    Hangup { reason: String },
}
