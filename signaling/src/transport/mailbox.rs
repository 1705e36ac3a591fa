//! Per-session event queues of the HTTP transport, drained by long polls.
//!
//! Several polls may wait on one session: a new event wakes them all, one takes the
//! events and the others answer with a keepalive (as Janus does).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::Notify;

use super::limits::MAX_QUEUED_EVENTS_PER_SESSION;
use crate::core::Core;
use crate::ids::SessionId;
use crate::session::{EventSink, SessionOver};

#[derive(Default)]
pub struct Mailbox {
    queue: Mutex<VecDeque<Value>>,
    notify: Notify,
    closed: AtomicBool,
    /// Polls currently waiting (bounded by the HTTP transport).
    waiting: AtomicUsize,
}

/// Decrements the waiting count when a poll ends, however it ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Mailbox {
    /// Queues an event; false if the queue is full (the event is dropped).
    fn push(&self, event: Value) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= MAX_QUEUED_EVENTS_PER_SESSION {
            return false;
        }
        q.push_back(event);
        drop(q);
        self.notify.notify_waiters();
        true
    }

    fn take(&self, max: usize) -> Vec<Value> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let n = max.min(q.len());
        q.drain(..n).collect()
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Ends every pending poll (claimed away, destroyed, timed out).
    fn wake_all(&self, close: bool) {
        if close {
            self.closed.store(true, Ordering::Release);
        }
        self.notify.notify_waiters();
    }

    /// Waits up to `timeout` for events; an empty result means "answer with a keepalive".
    pub async fn poll(&self, max: usize, timeout: Duration) -> Vec<Value> {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        let ready = self.take(max);
        if !ready.is_empty() || self.closed.load(Ordering::Acquire) {
            return ready;
        }
        if tokio::time::timeout(timeout, notified).await.is_err() {
            return Vec::new();
        }
        self.take(max)
    }
}

/// The HTTP transport's event sink: one mailbox per session it serves.
pub struct Mailboxes {
    boxes: DashMap<SessionId, Arc<Mailbox>>,
    core: Weak<Core>,
}

impl Mailboxes {
    pub fn new(core: Weak<Core>) -> Mailboxes {
        Mailboxes {
            boxes: DashMap::new(),
            core,
        }
    }

    pub fn get_or_create(&self, session: SessionId) -> Arc<Mailbox> {
        self.boxes.entry(session).or_default().clone()
    }

    pub fn remove(&self, session: SessionId) {
        if let Some((_, b)) = self.boxes.remove(&session) {
            b.wake_all(true);
        }
    }
}

impl EventSink for Mailboxes {
    fn transport(&self) -> &'static str {
        "janus.transport.http"
    }

    fn send(&self, session: SessionId, event: Value) {
        if !self.get_or_create(session).push(event) {
            if let Some(core) = self.core.upgrade() {
                core.count_dropped_event();
            }
        }
    }

    fn session_over(&self, session: SessionId, why: SessionOver) {
        match why {
            // The session lives on elsewhere: pending polls get a keepalive.
            SessionOver::Claimed => {
                if let Some((_, b)) = self.boxes.remove(&session) {
                    b.wake_all(false);
                }
            }
            SessionOver::Destroyed | SessionOver::TimedOut => self.remove(session),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn one_poll_gets_the_event_the_others_a_keepalive() {
        let mb = Arc::new(Mailbox::default());
        let a = tokio::spawn({
            let mb = mb.clone();
            async move { mb.poll(10, Duration::from_secs(5)).await }
        });
        let b = tokio::spawn({
            let mb = mb.clone();
            async move { mb.poll(10, Duration::from_secs(5)).await }
        });
        // Let both polls register before the event arrives.
        while mb.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        assert!(mb.push(json!({"janus": "event"})));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(a.len() + b.len(), 1);
    }

    #[tokio::test]
    async fn queued_events_return_at_once_and_timeout_gives_nothing() {
        let mb = Mailbox::default();
        mb.push(json!(1));
        mb.push(json!(2));
        assert_eq!(mb.poll(1, Duration::from_secs(5)).await, vec![json!(1)]);
        assert_eq!(mb.poll(10, Duration::from_secs(5)).await, vec![json!(2)]);
        assert!(mb.poll(10, Duration::from_millis(10)).await.is_empty());
    }
}
