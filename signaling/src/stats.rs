//! Counters the application exports as metrics (`Gateway::stats`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::proto::request::Verb;
use crate::proto::ErrorCode;

/// A snapshot of the gateway's gauges and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayStats {
    pub sessions: usize,
    pub handles: usize,
    pub sessions_created: u64,
    pub sessions_destroyed: u64,
    pub sessions_timed_out: u64,
    /// Orphaned sessions (transport gone) whose reclaim window ran out.
    pub sessions_reclaim_expired: u64,
    pub handles_attached: u64,
    pub handles_detached: u64,
    /// PeerConnections that hung up (any reason).
    pub hangups: u64,
    /// Core API requests by verb (`"other"` for unknown verbs).
    pub requests: Vec<(&'static str, u64)>,
    pub admin_requests: u64,
    /// Error replies by code (core and Admin API).
    pub errors: Vec<(u16, u64)>,
    pub events_sent: u64,
    /// Events dropped: full transport queue, or no transport to deliver to.
    pub events_dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    sessions_created: AtomicU64,
    sessions_destroyed: AtomicU64,
    sessions_timed_out: AtomicU64,
    sessions_reclaim_expired: AtomicU64,
    handles_attached: AtomicU64,
    handles_detached: AtomicU64,
    hangups: AtomicU64,
    requests: [AtomicU64; Verb::ALL.len()],
    admin_requests: AtomicU64,
    /// Indexed like `ErrorCode::all()`; codes outside the table count as 490.
    errors: [AtomicU64; 26],
    events_sent: AtomicU64,
    events_dropped: AtomicU64,
}

impl Stats {
    pub fn request(&self, verb: Verb) {
        self.requests[verb.index()].fetch_add(1, Relaxed);
    }
    pub fn admin_request(&self) {
        self.admin_requests.fetch_add(1, Relaxed);
    }
    pub fn error(&self, code: u16) {
        let code = ErrorCode::from_code(code).unwrap_or(ErrorCode::Unknown);
        if let Some(i) = ErrorCode::all().position(|c| c == code) {
            if let Some(c) = self.errors.get(i) {
                c.fetch_add(1, Relaxed);
            }
        }
    }
    pub fn session_created(&self) {
        self.sessions_created.fetch_add(1, Relaxed);
    }
    pub fn session_destroyed(&self) {
        self.sessions_destroyed.fetch_add(1, Relaxed);
    }
    pub fn session_timed_out(&self) {
        self.sessions_timed_out.fetch_add(1, Relaxed);
    }
    pub fn session_reclaim_expired(&self) {
        self.sessions_reclaim_expired.fetch_add(1, Relaxed);
    }
    pub fn handle_attached(&self) {
        self.handles_attached.fetch_add(1, Relaxed);
    }
    pub fn handle_detached(&self) {
        self.handles_detached.fetch_add(1, Relaxed);
    }
    pub fn hangup(&self) {
        self.hangups.fetch_add(1, Relaxed);
    }
    pub fn event_sent(&self) {
        self.events_sent.fetch_add(1, Relaxed);
    }
    pub fn event_dropped(&self) {
        self.events_dropped.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self, sessions: usize, handles: usize) -> GatewayStats {
        GatewayStats {
            sessions,
            handles,
            sessions_created: self.sessions_created.load(Relaxed),
            sessions_destroyed: self.sessions_destroyed.load(Relaxed),
            sessions_timed_out: self.sessions_timed_out.load(Relaxed),
            sessions_reclaim_expired: self.sessions_reclaim_expired.load(Relaxed),
            handles_attached: self.handles_attached.load(Relaxed),
            handles_detached: self.handles_detached.load(Relaxed),
            hangups: self.hangups.load(Relaxed),
            requests: Verb::ALL
                .iter()
                .map(|v| (v.as_str(), self.requests[v.index()].load(Relaxed)))
                .collect(),
            admin_requests: self.admin_requests.load(Relaxed),
            errors: ErrorCode::all()
                .zip(self.errors.iter())
                .map(|(c, n)| (c.code(), n.load(Relaxed)))
                .collect(),
            events_sent: self.events_sent.load(Relaxed),
            events_dropped: self.events_dropped.load(Relaxed),
        }
    }
}
