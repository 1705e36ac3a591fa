//! The table of sessions and handles, and the session watchdog's decisions.
//!
//! Pure data on a caller-supplied clock: the core locks it, decides, unlocks, and only then
//! calls plugins, the host and transports.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::owner::{ConnId, Owner};
use crate::ids::{random_id, HandleId, SessionId};
use crate::plugin::Plugin;

/// Per-session timeout override (Admin `set_session_timeout` with a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutOverride {
    /// `-1`: use the global value.
    Global,
    /// Seconds; 0 = never.
    Seconds(u64),
}

#[derive(Debug)]
pub struct Session {
    pub id: SessionId,
    /// `None` once the transport went away (waiting to be reclaimed).
    pub owner: Option<Owner>,
    pub created: Instant,
    pub last_activity: Instant,
    pub timeout: TimeoutOverride,
    /// Set by one watchdog pass; the next pass expires the session (Janus does the same).
    pub marked: bool,
    pub handles: BTreeSet<HandleId>,
}

pub struct Handle {
    pub id: HandleId,
    pub session: SessionId,
    pub plugin: Arc<dyn Plugin>,
    pub package: &'static str,
    pub opaque_id: Option<String>,
    pub token: Option<String>,
    pub loop_index: Option<u64>,
    pub created: Instant,
    /// Negotiation flags (Janus `GOT_OFFER`/`GOT_ANSWER`): trickles are validated only once
    /// a round is complete; before that they are accepted as early candidates.
    pub got_offer: bool,
    pub got_answer: bool,
    /// A `trickle` was received (Admin flag `trickle`).
    pub trickled: bool,
    /// End-of-candidates was received (Admin flag `all-trickles`).
    pub all_trickles: bool,
}

impl Handle {
    pub fn negotiated(&self) -> bool {
        self.got_offer && self.got_answer
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.id)
            .field("session", &self.session)
            .field("plugin", &self.package)
            .finish()
    }
}

/// A session the watchdog removed.
#[derive(Debug)]
pub struct Expired {
    pub session: Session,
    pub handles: Vec<Handle>,
    /// Timed out (gets a `timeout` event) rather than a reclaim window that ran out.
    pub timed_out: bool,
}

#[derive(Debug, Default)]
pub struct Registry {
    sessions: HashMap<SessionId, Session>,
    handles: HashMap<HandleId, Handle>,
}

impl Registry {
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    pub fn handle(&self, id: HandleId) -> Option<&Handle> {
        self.handles.get(&id)
    }

    pub fn handle_mut(&mut self, id: HandleId) -> Option<&mut Handle> {
        self.handles.get_mut(&id)
    }

    /// The handle if it belongs to `session`.
    pub fn handle_in(&self, session: SessionId, handle: HandleId) -> Option<&Handle> {
        self.handles.get(&handle).filter(|h| h.session == session)
    }

    pub fn session_ids(&self) -> Vec<SessionId> {
        let mut ids: Vec<_> = self.sessions.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Creates a session with `id` (client-chosen) or a fresh random one. `None` if taken.
    pub fn create_session(
        &mut self,
        id: Option<u64>,
        node_slot: u16,
        owner: Owner,
        now: Instant,
    ) -> Option<SessionId> {
        let id = match id {
            Some(id) if self.sessions.contains_key(&SessionId(id)) => return None,
            Some(id) => SessionId(id),
            None => loop {
                let candidate = SessionId(random_id(node_slot));
                if !self.sessions.contains_key(&candidate) {
                    break candidate;
                }
            },
        };
        self.sessions.insert(
            id,
            Session {
                id,
                owner: Some(owner),
                created: now,
                last_activity: now,
                timeout: TimeoutOverride::Global,
                marked: false,
                handles: BTreeSet::new(),
            },
        );
        Some(id)
    }

    /// Any request reaching a session refreshes it.
    pub fn touch(&mut self, id: SessionId, now: Instant) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) => {
                s.last_activity = now;
                s.marked = false;
                true
            }
            None => false,
        }
    }

    /// A fresh handle ID, unique across all sessions.
    pub fn new_handle_id(&self, node_slot: u16) -> HandleId {
        loop {
            let id = HandleId(random_id(node_slot));
            if !self.handles.contains_key(&id) {
                return id;
            }
        }
    }

    /// Inserts a handle; false if its session is gone.
    pub fn insert_handle(&mut self, handle: Handle) -> bool {
        let Some(session) = self.sessions.get_mut(&handle.session) else {
            return false;
        };
        session.handles.insert(handle.id);
        self.handles.insert(handle.id, handle);
        true
    }

    pub fn remove_handle(&mut self, id: HandleId) -> Option<Handle> {
        let handle = self.handles.remove(&id)?;
        if let Some(s) = self.sessions.get_mut(&handle.session) {
            s.handles.remove(&id);
        }
        Some(handle)
    }

    /// Removes a session with all its handles.
    pub fn remove_session(&mut self, id: SessionId) -> Option<(Session, Vec<Handle>)> {
        let session = self.sessions.remove(&id)?;
        let handles = session
            .handles
            .iter()
            .filter_map(|h| self.handles.remove(h))
            .collect();
        Some((session, handles))
    }

    /// The connection `conn` went away. With no reclaim window its sessions are removed and
    /// returned; otherwise they lose their owner and wait for a `claim`.
    pub fn transport_gone(
        &mut self,
        conn: ConnId,
        reclaim: Duration,
    ) -> Vec<(Session, Vec<Handle>)> {
        let ids: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.owner.as_ref().is_some_and(|o| o.conn == conn))
            .map(|s| s.id)
            .collect();
        if reclaim.is_zero() {
            return ids
                .into_iter()
                .filter_map(|id| self.remove_session(id))
                .collect();
        }
        for id in ids {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.owner = None;
            }
        }
        Vec::new()
    }

    /// One watchdog pass (Janus `janus_check_sessions`): an idle session is marked on one
    /// pass and removed on the next; an orphan is removed once its reclaim window passed.
    pub fn watchdog(
        &mut self,
        now: Instant,
        global_timeout: Duration,
        reclaim: Duration,
    ) -> Vec<Expired> {
        let mut doomed = Vec::new();
        for s in self.sessions.values_mut() {
            let idle = now.saturating_duration_since(s.last_activity);
            let timeout = match s.timeout {
                TimeoutOverride::Global => global_timeout,
                TimeoutOverride::Seconds(n) => Duration::from_secs(n),
            };
            let timed_out = !timeout.is_zero() && idle >= timeout;
            let orphan_expired = s.owner.is_none() && idle >= reclaim;
            if timed_out || orphan_expired {
                if s.marked {
                    doomed.push((s.id, s.owner.is_some()));
                } else {
                    s.marked = true;
                }
            }
        }
        doomed
            .into_iter()
            .filter_map(|(id, has_owner)| {
                self.remove_session(id).map(|(session, handles)| Expired {
                    session,
                    handles,
                    timed_out: has_owner,
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::owner::{EventSink, SessionOver};
    use serde_json::Value;

    struct Null;
    impl EventSink for Null {
        fn transport(&self) -> &'static str {
            "test"
        }
        fn send(&self, _: SessionId, _: Value) {}
        fn session_over(&self, _: SessionId, _: SessionOver) {}
    }

    fn owner(conn: u64) -> Owner {
        Owner {
            conn: ConnId(conn),
            sink: Arc::new(Null),
        }
    }

    const TWO: Duration = Duration::from_secs(2);

    #[test]
    fn idle_session_is_marked_then_expired() {
        let t0 = Instant::now();
        let mut r = Registry::default();
        let id = r.create_session(None, 0, owner(1), t0).unwrap();
        let timeout = Duration::from_secs(3);
        let mut t = t0;
        let mut expired_at = None;
        for _ in 0..10 {
            t += TWO;
            if let Some(e) = r.watchdog(t, timeout, Duration::ZERO).pop() {
                assert_eq!(e.session.id, id);
                assert!(e.timed_out);
                expired_at = Some(t - t0);
                break;
            }
        }
        // 3 s timeout, 2 s watchdog: marked at 4 s, expired at 6 s (Janus observed 6.5 s).
        assert_eq!(expired_at, Some(Duration::from_secs(6)));
    }

    #[test]
    fn activity_unmarks_and_zero_disables() {
        let t0 = Instant::now();
        let mut r = Registry::default();
        let id = r.create_session(Some(42), 0, owner(1), t0).unwrap();
        assert_eq!(id, SessionId(42));
        assert!(r.create_session(Some(42), 0, owner(1), t0).is_none());
        let timeout = Duration::from_secs(3);
        assert!(r
            .watchdog(t0 + Duration::from_secs(4), timeout, Duration::ZERO)
            .is_empty());
        r.touch(id, t0 + Duration::from_secs(5));
        assert!(r
            .watchdog(t0 + Duration::from_secs(6), timeout, Duration::ZERO)
            .is_empty());
        r.session_mut(id).unwrap().timeout = TimeoutOverride::Seconds(0);
        assert!(r
            .watchdog(t0 + Duration::from_secs(600), timeout, Duration::ZERO)
            .is_empty());
        assert!(r
            .watchdog(t0 + Duration::from_secs(602), timeout, Duration::ZERO)
            .is_empty());
    }

    #[test]
    fn orphans_wait_for_the_reclaim_window_counted_from_last_activity() {
        let t0 = Instant::now();
        let mut r = Registry::default();
        let id = r.create_session(None, 0, owner(7), t0).unwrap();
        let reclaim = Duration::from_secs(10);
        assert!(r.transport_gone(ConnId(7), reclaim).is_empty());
        assert!(r.session(id).unwrap().owner.is_none());
        let never = Duration::ZERO;
        assert!(r
            .watchdog(t0 + Duration::from_secs(8), never, reclaim)
            .is_empty());
        assert!(r
            .watchdog(t0 + Duration::from_secs(10), never, reclaim)
            .is_empty());
        let e = r.watchdog(t0 + Duration::from_secs(12), never, reclaim);
        assert_eq!(e.len(), 1);
        assert!(!e[0].timed_out);
    }

    #[test]
    fn transport_gone_without_reclaim_removes_only_that_connections_sessions() {
        let t0 = Instant::now();
        let mut r = Registry::default();
        let a = r.create_session(None, 0, owner(1), t0).unwrap();
        let b = r.create_session(None, 0, owner(2), t0).unwrap();
        let gone = r.transport_gone(ConnId(1), Duration::ZERO);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0.id, a);
        assert!(r.session(b).is_some());
    }
}
