//! Ianus signaling: the Janus JSON API (sessions, handles, transactions, events, errors), its
//! transports (WebSocket, HTTP REST + long-poll, Admin API) and the plugin trait.
//!
//! It knows nothing of packets: media is reached through [`host::WebRtcHost`].

pub mod host;
pub mod ids;
pub mod jsep;
pub mod plugin;
