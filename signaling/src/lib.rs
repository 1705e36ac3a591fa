//! Ianus signaling: the Janus JSON API (sessions, handles, transactions, events, errors), its
//! transports (WebSocket, HTTP REST + long-poll, Admin API) and the plugin trait.
//!
//! It knows nothing of packets: media is reached through [`host::WebRtcHost`].
//!
//! Layers, outside in: [`transport`] (sockets) → [`core::Core`] (sans-IO dispatcher on a
//! caller-supplied clock) → [`session`] (registry, timeouts) and [`proto`] (JSON shapes,
//! error codes) → [`plugin::Plugin`] / [`host::WebRtcHost`].

pub mod auth;
pub mod config;
pub mod core;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
pub mod host;
pub mod ids;
pub mod info;
pub mod jsep;
pub mod plugin;
pub mod proto;
pub mod session;
mod stats;
pub mod transport;

pub use gateway::Gateway;
pub use stats::GatewayStats;
pub use transport::{serve, Listeners, MetricsFn};
