//! Who receives a session's events: the transport connection that created or claimed it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::ids::SessionId;

/// One transport instance (a WebSocket connection, or the HTTP transport as a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// A process-unique connection ID.
    pub fn next() -> ConnId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Why a transport stops serving a session (Janus `session_over(timeout, claimed)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOver {
    Destroyed,
    TimedOut,
    /// Another connection claimed it; the session lives on elsewhere.
    Claimed,
}

/// The transport side of a connection. Implementations must not block and must not call
/// back into the core (they are called with the registry locked in a few places).
pub trait EventSink: Send + Sync {
    /// Transport package, e.g. `janus.transport.websockets` (Admin `session_transport`).
    fn transport(&self) -> &'static str;
    /// Queues an event of `session` for the client.
    fn send(&self, session: SessionId, event: Value);
    /// The session is no longer served by this connection.
    fn session_over(&self, session: SessionId, why: SessionOver);
}

/// A connection and its sink.
#[derive(Clone)]
pub struct Owner {
    pub conn: ConnId,
    pub sink: Arc<dyn EventSink>,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("conn", &self.conn)
            .field("transport", &self.sink.transport())
            .finish()
    }
}
