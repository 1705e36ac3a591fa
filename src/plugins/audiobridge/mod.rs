//! `janus.plugin.audiobridge`: the audio MCU of plugins API §4 (Janus 1.1.2 API).
//!
//! - [`core`]: the sans-IO state machine (rooms, participants) turning requests and
//!   PeerConnection callbacks into events, PC closes and mixer operations; [`sync`] and
//!   [`participant`] hold its request handlers, [`room`] the room settings, [`api`]/[`errors`]
//!   validation and Janus's error table.
//! - [`media`]: one mixer per room behind the [`media::RoomMixer`] seam, plain-RTP ports;
//!   `mixer` implements the seam on `media_core::mix`.
//!
//! Like Janus (and VideoRoom here), synchronous requests are answered inline and
//! asynchronous ones run in order on one worker task, so a `configure` sent right after
//! `join` sees the join; PeerConnection callbacks and mixer events go through the same
//! worker, so neither `handle_message` nor the engine's tasks ever wait on room logic.

pub mod api;
mod core;
pub mod errors;
pub mod media;
mod mixer;
mod participant;
mod room;
mod store;
mod sync;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::Jsep;
use signaling::plugin::{Plugin, PluginEvents, PluginInfo, PluginResult};
use tokio::sync::mpsc;

use self::api::{Id, Ty};
use self::core::{Output, State, ASYNC_REQUESTS};
use self::errors::AudioBridgeError;
use self::media::{MixerEvent, MixerFactory, RtpPorts, UdpPorts};
use crate::app::MediaHost;
use crate::config::AudioBridgeConfig;

const PACKAGE: &str = "janus.plugin.audiobridge";

/// The plugin the server runs, for `/metrics` (tests build others; they are not reported).
static RUNNING: OnceLock<Weak<AudioBridge>> = OnceLock::new();

/// What `/metrics` reports about AudioBridge, read at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioBridgeMetrics {
    pub rooms: u64,
    pub participants: u64,
    /// Summed over every mixer since start (see `mixer::mixer_totals`).
    pub packets_in: u64,
    pub packets_out: u64,
    pub packets_invalid: u64,
    pub queue_drops: u64,
    pub frames_skipped: u64,
}

/// The running plugin's rooms and participants and its mixers' counters.
pub fn metrics() -> AudioBridgeMetrics {
    let [packets_in, packets_out, packets_invalid, queue_drops, frames_skipped] =
        mixer::mixer_totals();
    let mut m = AudioBridgeMetrics {
        packets_in,
        packets_out,
        packets_invalid,
        queue_drops,
        frames_skipped,
        ..AudioBridgeMetrics::default()
    };
    if let Some(p) = RUNNING.get().and_then(Weak::upgrade) {
        let st = p.lock();
        m.rooms = st.rooms.len() as u64;
        m.participants = st.rooms.values().map(|r| r.participants.len() as u64).sum();
    }
    m
}

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
    Mixer {
        room: Id,
        event: MixerEvent,
    },
}

pub struct AudioBridge {
    me: Weak<AudioBridge>,
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

impl AudioBridge {
    pub fn new(config: &AudioBridgeConfig, host: Arc<MediaHost>) -> Arc<AudioBridge> {
        let range = parse_range(&config.rtp_port_range).unwrap_or((10000, 60000));
        let ports: Arc<dyn RtpPorts> = Arc::new(UdpPorts::new(config.local_ip, range));
        let store = config
            .rooms_file
            .as_ref()
            .map(|p| Arc::new(store::TomlRoomStore::new(p)) as Arc<dyn store::RoomStore>);
        let plugin = Self::with_mixers(config, Some(host), mixer::engine_mixers(), ports, store);
        let _ = RUNNING.set(Arc::downgrade(&plugin));
        plugin
    }

    /// With a chosen mixing engine and port allocator (tests use recording fakes).
    pub fn with_mixers(
        config: &AudioBridgeConfig,
        host: Option<Arc<MediaHost>>,
        mixers: MixerFactory,
        ports: Arc<dyn RtpPorts>,
        store: Option<Arc<dyn store::RoomStore>>,
    ) -> Arc<AudioBridge> {
        let (queue, inbox) = mpsc::unbounded_channel();
        let plugin = Arc::new_cyclic(|me: &Weak<AudioBridge>| {
            let weak = me.clone();
            let events: Arc<dyn Fn(Id, MixerEvent) + Send + Sync> = Arc::new(move |room, event| {
                if let Some(me) = weak.upgrade() {
                    me.enqueue(Work::Mixer { room, event });
                }
            });
            AudioBridge {
                me: me.clone(),
                events: OnceLock::new(),
                state: Mutex::new(State::new(config, ports.clone(), store)),
                exec: Mutex::new(()),
                queue,
                inbox: Mutex::new(Some(inbox)),
                worker: OnceLock::new(),
                media: media::Media::new(host, mixers, events, ports),
            }
        });
        // The configured rooms' mixers.
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
            Work::Mixer { room, event } => st.mixer_event(&room, event),
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
                            tracing::debug!("audiobridge: push_event to {handle} failed: {e}");
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

    /// The synchronous part of `handle_message` (also used by the Admin API, `handle` None):
    /// `Ok(Ok(reply))` for a sync request, `Ok(Err(name))` for an async one.
    fn sync_or_route(
        &self,
        body: &Value,
        handle: Option<HandleId>,
    ) -> Result<Result<Value, String>, AudioBridgeError> {
        if body.is_null() {
            return Err(AudioBridgeError::NoMessage);
        }
        if !body.is_object() {
            return Err(AudioBridgeError::NotAnObject);
        }
        api::check(body, &[("request", Ty::Str, true)])?;
        let original = api::opt_str(body, "request").unwrap_or_default().to_owned();
        let request = original.to_ascii_lowercase();
        let resolved = sync::pre_resolve(&request, body);
        let body = resolved.as_ref().unwrap_or(body);
        let mut st = self.lock();
        if let Some(reply) = st.handle_sync(&request, body, handle) {
            self.finish(st);
            return Ok(Ok(reply));
        }
        drop(st);
        if handle.is_some() && ASYNC_REQUESTS.contains(&request.as_str()) {
            Ok(Err(original))
        } else {
            Err(AudioBridgeError::UnknownRequest(original))
        }
    }
}

/// `"min-max"` → (min, max); `None` when malformed.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = text.trim().split_once('-')?;
    let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo > 0 && lo <= hi).then_some((lo, hi))
}

impl Plugin for AudioBridge {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS AudioBridge plugin",
            author: "Meetecho s.r.l.",
            description: "This is a plugin implementing an audio conference bridge for Janus, mixing Opus streams.",
            version_string: "0.0.12",
            version: 12,
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
                AudioBridgeError::Unknown("No session associated with this handle...".into())
                    .to_json(),
            );
        }
        match self.sync_or_route(&body, Some(handle)) {
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
        Some(match self.sync_or_route(&request, None) {
            Ok(Ok(reply)) => reply,
            Ok(Err(name)) => AudioBridgeError::UnknownRequest(name).to_json(),
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
