//! ICE-lite (RFC 8445 §2.5): the server answers the browser's connectivity checks, learns the
//! path they arrive on, selects the nominated one and watches consent (RFC 7675).
//!
//! - [`stun`]: allocation-free STUN view and writer (RFC 5389), the subset ICE needs;
//! - [`agent`]: [`IceLiteAgent`], one per peer, sans-IO (`handle_stun`, `handle_timeout`,
//!   `poll_event`, `poll_timeout`).
//!
//! The engine routes a STUN datagram from an unknown 5-tuple to its peer by the local ufrag of
//! its USERNAME ([`local_ufrag`]).

pub mod agent;
pub mod stun;

pub use agent::{
    random_credentials, CandidateInfo, IceConfig, IceError, IceEvent, IceLiteAgent, IceReply,
    IceState, DEFAULT_CONSENT_TIMEOUT, DEFAULT_DISCONNECTED_TIMEOUT,
};
pub use stun::{local_ufrag, StunError, StunMessage};
