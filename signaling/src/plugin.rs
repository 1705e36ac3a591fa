//! The plugin seam, modelled on Janus's `src/plugins/plugin.h`.
//!
//! A plugin sees JSON bodies and (stripped) JSEP, never packets. Media access goes through
//! whatever the application gave the plugin when it was built (for Ianus: `media_core`
//! handles looked up by [`HandleId`]), so this crate stays packet-free.
//!
//! Calls into a plugin must not block: `handle_message` returns at once with a sync result or
//! an ack, and the plugin pushes the asynchronous events later through [`PluginEvents`].

use std::sync::Arc;

use serde_json::Value;

use crate::ids::HandleId;
use crate::jsep::Jsep;

/// What `info` and the Admin API report about a plugin (Janus `get_*` callbacks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Package name used on `attach`, e.g. `janus.plugin.echotest`.
    pub package: &'static str,
    pub name: &'static str,
    pub author: &'static str,
    pub description: &'static str,
    pub version_string: &'static str,
    pub version: u32,
}

/// The immediate answer of a plugin to a `message` (Janus `janus_plugin_result`).
#[derive(Debug, Clone, PartialEq)]
pub enum PluginResult {
    /// Synchronous reply: the core answers `success` with `plugindata.data` = this value.
    Ok(Value),
    /// Asynchronous: the core answers `ack` (with the optional `hint`), the plugin pushes an
    /// `event` with the same transaction later.
    OkWait(Option<String>),
    /// The plugin failed the request as a whole: the core answers error 462 with this text.
    Error(String),
}

/// Why `push_event` refused an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    #[error("no such handle")]
    NoSuchHandle,
    /// The JSEP the plugin pushed could not be merged (bad SDP, no PeerConnection…).
    #[error("JSEP error {code}: {reason}")]
    Jsep { code: u16, reason: String },
    /// `data` must be a JSON object (Janus: `JANUS_ERROR_INVALID_JSON_OBJECT`).
    #[error("event data is not a JSON object")]
    InvalidData,
}

/// The return path from plugins to the core (Janus `janus_callbacks`).
pub trait PluginEvents: Send + Sync {
    /// Sends `{"janus":"event","sender":handle,"transaction"?,"plugindata":{plugin,data},"jsep"?}`.
    /// A JSEP is first completed with the transport attributes by the [`crate::host::WebRtcHost`].
    fn push_event(
        &self,
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<Jsep>,
    ) -> Result<(), PushError>;
    /// Closes the handle's PeerConnection (hangup reason `Close PC`).
    fn close_pc(&self, handle: HandleId);
    /// Detaches the handle from the plugin side (sends `detached`).
    fn end_session(&self, handle: HandleId);
    /// An event for event handlers / monitoring; no wire effect on the Janus API.
    fn notify_event(&self, _handle: Option<HandleId>, _data: Value) {}
}

/// A Janus plugin. Object-safe; one instance serves every handle attached to it.
pub trait Plugin: Send + Sync {
    fn info(&self) -> PluginInfo;
    /// Called once before any handle attaches; keep `events` for later pushes.
    fn init(&self, events: Arc<dyn PluginEvents>);
    /// A handle attached. `Err(code)` makes `attach` fail with 461.
    fn create_session(&self, handle: HandleId) -> Result<(), i32>;
    /// A `message` request. `jsep` is present when the client negotiates; it has already been
    /// applied to the PeerConnection by the host and carries `update`/`simulcast` when relevant.
    fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    ) -> PluginResult;
    /// An Admin API `message_plugin` request; `None` = not supported (490).
    fn handle_admin_message(&self, _request: Value) -> Option<Value> {
        None
    }
    /// The PeerConnection of `handle` is up (ICE + DTLS done): media may flow.
    fn setup_media(&self, handle: HandleId);
    /// The PeerConnection of `handle` went away.
    fn hangup_media(&self, handle: HandleId);
    /// The handle is being detached or its session destroyed.
    fn destroy_session(&self, handle: HandleId);
    /// Plugin-specific state for Admin `handle_info` (`plugin_specific`).
    fn query_session(&self, handle: HandleId) -> Value;
}
