//! `janus.plugin.videoroom`: the SFU of plugins API §2 (multistream, Janus 1.1.2 API).
//!
//! - [`core`]: the sans-IO state machine (rooms, publishers, subscribers) turning requests and
//!   PeerConnection callbacks into events, PC closes and forwarding-engine operations;
//!   [`sync`], [`publisher`], [`subscriber`] hold its request handlers, [`room`] the room
//!   settings, [`api`]/[`errors`] validation and Janus's error table.
//! - [`media`]: one `media_core::forward` router per room and the peers' sinks.
//!
//! Like Janus, synchronous requests are answered inline and asynchronous ones run in order on
//! one worker task (so a `configure` sent right after `join` sees the join); PeerConnection
//! callbacks and router events go through the same worker, so `handle_message`, `setup_media`
//! and the engine's tasks never wait on room logic.

pub mod api;
mod core;
pub mod errors;
mod forward_out;
mod forwarder;
mod media;
mod publisher;
mod room;
mod subscriber;
mod sync;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use media_core::forward::RouterEvent;
use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::Jsep;
use signaling::plugin::{Plugin, PluginEvents, PluginInfo, PluginResult};
use tokio::sync::mpsc;

use self::api::{Id, Ty};
use self::core::{Output, State, ASYNC_REQUESTS};
use self::errors::VideoRoomError;
pub use self::media::RouterFactory;
use crate::app::MediaHost;
use crate::config::VideoRoomConfig;

const PACKAGE: &str = "janus.plugin.videoroom";

/// Work for the plugin's worker, processed in arrival order.
enum Work {
    Message {
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    },
    SetupMedia(HandleId),
    HangupMedia(HandleId),
    Destroy(HandleId),
    Router {
        room: Id,
        event: RouterEvent,
    },
}

pub struct VideoRoom {
    me: Weak<VideoRoom>,
    events: OnceLock<Arc<dyn PluginEvents>>,
    state: Mutex<State>,
    /// Held while a batch of outputs is executed, taken before the state lock is released,
    /// so batches reach the core in the order the state produced them.
    exec: Mutex<()>,
    queue: mpsc::UnboundedSender<Work>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Work>>>,
    /// Set once the worker task runs; before that, work is processed inline.
    worker: OnceLock<()>,
    media: media::Media,
}

impl VideoRoom {
    pub fn new(config: &VideoRoomConfig, host: Arc<MediaHost>) -> Arc<VideoRoom> {
        Self::with_routers(config, host, media::engine_routers())
    }

    /// With a chosen forwarding engine (tests use a recording fake).
    pub fn with_routers(
        config: &VideoRoomConfig,
        host: Arc<MediaHost>,
        routers: RouterFactory,
    ) -> Arc<VideoRoom> {
        let (queue, inbox) = mpsc::unbounded_channel();
        let plugin = Arc::new_cyclic(|me: &Weak<VideoRoom>| {
            let weak = me.clone();
            let events: Arc<dyn Fn(Id, RouterEvent) + Send + Sync> =
                Arc::new(move |room, event| {
                    if let Some(me) = weak.upgrade() {
                        me.enqueue(Work::Router { room, event });
                    }
                });
            VideoRoom {
                me: me.clone(),
                events: OnceLock::new(),
                state: Mutex::new(State::new(config)),
                exec: Mutex::new(()),
                queue,
                inbox: Mutex::new(Some(inbox)),
                worker: OnceLock::new(),
                media: media::Media::new(host, routers, events),
            }
        });
        // The configured rooms' routers.
        let opened = plugin.lock().take_outputs();
        plugin.execute(opened);
        plugin
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, work: Work) {
        if self.worker.get().is_some() {
            if let Err(e) = self.queue.send(work) {
                self.process(e.0);
            }
        } else {
            self.process(work);
        }
    }

    /// Runs `work` on the state, then executes what it produced (in order, see `exec`).
    fn process(&self, work: Work) {
        let mut st = self.lock();
        match work {
            Work::Message {
                handle,
                transaction,
                body,
                jsep,
            } => st.handle_async(handle, &transaction, &body, jsep.as_ref()),
            Work::SetupMedia(h) => st.setup_media(h),
            Work::HangupMedia(h) => st.hangup_media(h),
            Work::Destroy(h) => st.destroy_session(h),
            Work::Router { room, event } => st.router_event(&room, event),
        }
        self.finish(st);
    }

    /// Takes the outputs, orders this batch after the previous one, releases the state.
    fn finish(&self, mut st: MutexGuard<'_, State>) {
        let out = st.take_outputs();
        let _order = self.exec.lock().unwrap_or_else(|e| e.into_inner());
        drop(st);
        self.execute(out);
    }

    fn execute(&self, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Event {
                    handle,
                    transaction,
                    data,
                    jsep,
                } => {
                    if let Some(ev) = self.events.get() {
                        if let Err(e) = ev.push_event(handle, transaction, data, jsep) {
                            tracing::debug!("videoroom: push_event to {handle} failed: {e}");
                        }
                    }
                }
                Output::ClosePc(h) => {
                    if let Some(ev) = self.events.get() {
                        ev.close_pc(h);
                    }
                }
                Output::Media(op) => self.media.apply(op),
            }
        }
    }

    fn start_worker(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(mut inbox) = self.inbox.lock().ok().and_then(|mut i| i.take()) else {
            return;
        };
        let me = self.me.clone();
        rt.spawn(async move {
            while let Some(work) = inbox.recv().await {
                let Some(plugin) = me.upgrade() else { break };
                plugin.process(work);
            }
        });
        let _ = self.worker.set(());
    }

    /// The synchronous part of `handle_message` (also used by the Admin API).
    fn sync_or_route(&self, body: &Value) -> Result<Result<Value, String>, VideoRoomError> {
        if body.is_null() {
            return Err(VideoRoomError::NoMessage);
        }
        if !body.is_object() {
            return Err(VideoRoomError::NotAnObject);
        }
        api::check(body, &[("request", Ty::Str, true)])?;
        let original = api::opt_str(body, "request").unwrap_or_default().to_owned();
        let request = original.to_ascii_lowercase();
        let mut st = self.lock();
        if let Some(reply) = st.handle_sync(&request, body) {
            self.finish(st);
            return Ok(Ok(reply));
        }
        drop(st);
        if ASYNC_REQUESTS.contains(&request.as_str()) {
            Ok(Err(original))
        } else {
            Err(VideoRoomError::UnknownRequest(original))
        }
    }
}

impl Plugin for VideoRoom {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS VideoRoom plugin",
            author: "Meetecho s.r.l.",
            description: "This is a plugin implementing a videoconferencing SFU (Selective Forwarding Unit) for Janus, that is an audio/video router.",
            version_string: "0.0.9",
            version: 9,
        }
    }

    fn init(&self, events: Arc<dyn PluginEvents>) {
        let _ = self.events.set(events);
        self.start_worker();
    }

    fn create_session(&self, handle: HandleId) -> Result<(), i32> {
        self.lock().create_session(handle);
        Ok(())
    }

    fn handle_message(
        &self,
        handle: HandleId,
        transaction: String,
        body: Value,
        jsep: Option<Jsep>,
    ) -> PluginResult {
        if !self.lock().has_session(handle) {
            return PluginResult::Ok(
                VideoRoomError::Unknown("No session associated with this handle...".into())
                    .to_json(),
            );
        }
        match self.sync_or_route(&body) {
            Ok(Ok(reply)) => PluginResult::Ok(reply),
            Ok(Err(_async_request)) => {
                self.enqueue(Work::Message {
                    handle,
                    transaction,
                    body,
                    jsep,
                });
                PluginResult::OkWait(None)
            }
            Err(e) => PluginResult::Ok(e.to_json()),
        }
    }

    /// Janus lets the Admin API run the synchronous requests (`create`, `destroy`, ...).
    fn handle_admin_message(&self, request: Value) -> Option<Value> {
        Some(match self.sync_or_route(&request) {
            Ok(Ok(reply)) => reply,
            Ok(Err(name)) => VideoRoomError::UnknownRequest(name).to_json(),
            Err(e) => e.to_json(),
        })
    }

    fn setup_media(&self, handle: HandleId) {
        self.enqueue(Work::SetupMedia(handle));
    }

    fn hangup_media(&self, handle: HandleId) {
        self.enqueue(Work::HangupMedia(handle));
    }

    fn destroy_session(&self, handle: HandleId) {
        self.enqueue(Work::Destroy(handle));
    }

    fn query_session(&self, handle: HandleId) -> Value {
        let st = self.lock();
        if st.has_session(handle) {
            st.query_session(handle)
        } else {
            json!({})
        }
    }
}
