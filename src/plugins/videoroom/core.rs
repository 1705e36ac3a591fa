//! The VideoRoom state machine: rooms, participants, subscriptions. Requests and media
//! callbacks go in; Janus events, PeerConnection closes and forwarding-engine operations come
//! out as [`Output`]s, executed by `mod.rs` after the state lock is released.
//!
//! Sans-IO so that the request/event sequences of plugins API §2 are unit-tested without a
//! network, and so that no event is pushed (and no core callback re-entered) under the lock.

use std::collections::{BTreeMap, HashMap};

use media_core::forward::{RoomConfig, RouterEvent, Subscription};
use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::Jsep;

use super::api::{self, Id, Ty};
use super::errors::VideoRoomError;
use super::publisher::{self, Departure, PubStream, Publisher, StreamKind};
use super::room::{self, Room, RoomSettings};
use super::subscriber::Subscriber;
use crate::config::{RoomIdConfig, VideoRoomConfig};

/// Requests Janus handles asynchronously (ack now, event later).
pub const ASYNC_REQUESTS: &[&str] = &[
    "join",
    "joinandconfigure",
    "update",
    "configure",
    "publish",
    "unpublish",
    "start",
    "pause",
    "switch",
    "subscribe",
    "unsubscribe",
    "leave",
];

/// Plugin-wide settings (`general` of Janus's jcfg).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub admin_key: Option<String>,
    pub lock_rtp_forward: bool,
    pub string_ids: bool,
}

/// What the state machine asks of the outside world, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `push_event` on `handle`.
    Event {
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<Jsep>,
    },
    /// Ask the core to close the handle's PeerConnection.
    ClosePc(HandleId),
    Media(MediaOp),
}

/// Forwarding-engine operations (one router per room). IDs on the router are handle IDs.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaOp {
    OpenRoom {
        room: Id,
        config: RoomConfig,
    },
    SetConfig {
        room: Id,
        config: RoomConfig,
    },
    CloseRoom {
        room: Id,
    },
    /// Install the publisher sink on the handle's peer and (re)declare its streams. `label`
    /// names its data-channel messages towards subscribers (Janus uses the participant ID).
    AddPublisher {
        room: Id,
        handle: HandleId,
        label: String,
        streams: Vec<media_core::forward::PublishedStream>,
        /// The publisher's header-extension IDs the engine reads.
        extensions: media_core::forward::ExtensionIds,
    },
    RemovePublisher {
        room: Id,
        handle: HandleId,
    },
    /// A subscriber's whole subscription snapshot (installs its sink the first time).
    SetSubscriber {
        room: Id,
        handle: HandleId,
        subscriptions: Vec<Subscription>,
    },
    RemoveSubscriber {
        room: Id,
        handle: HandleId,
    },
    RequestKeyframe {
        room: Id,
        publisher: HandleId,
    },
    SetPublisherBitrate {
        room: Id,
        publisher: HandleId,
        bitrate: u32,
    },
    /// Subscriber handles that get a publisher's data-channel messages.
    DataTargets {
        publisher: HandleId,
        targets: Vec<HandleId>,
    },
    /// Where a publisher's RTP forwarders send (viewer forwarders go through `room`'s task).
    Forwarders {
        room: Id,
        publisher: HandleId,
        targets: Vec<super::forwarder::ForwardTarget>,
    },
}

/// What a handle is in this plugin (Janus `participant_type`).
#[derive(Debug, Clone)]
pub enum Session {
    Fresh,
    Publisher(Box<Publisher>),
    Subscriber(Box<Subscriber>),
}

/// All rooms and handles of the plugin.
#[derive(Debug)]
pub struct State {
    pub settings: Settings,
    pub rooms: BTreeMap<Id, Room>,
    pub sessions: HashMap<HandleId, Session>,
    out: Vec<Output>,
    /// Last data-channel fan-out sent per publisher (only changes are sent).
    data_targets: HashMap<HandleId, Vec<HandleId>>,
    /// Last RTP forwarder targets sent per publisher.
    forward_targets: HashMap<HandleId, Vec<super::forwarder::ForwardTarget>>,
}

impl State {
    /// Plugin state with the configured rooms (invalid ones are logged and skipped).
    pub fn new(cfg: &VideoRoomConfig) -> State {
        let mut state = State {
            settings: Settings {
                admin_key: cfg.admin_key.clone(),
                lock_rtp_forward: cfg.lock_rtp_forward,
                string_ids: cfg.string_ids,
            },
            rooms: BTreeMap::new(),
            sessions: HashMap::new(),
            out: Vec::new(),
            data_targets: HashMap::new(),
            forward_targets: HashMap::new(),
        };
        for r in &cfg.rooms {
            let id = match (&r.room, cfg.string_ids) {
                (RoomIdConfig::Num(0), _) => {
                    tracing::warn!("videoroom: config room without an ID skipped");
                    continue;
                }
                (RoomIdConfig::Num(n), false) => Id::Num(*n),
                (RoomIdConfig::Num(n), true) => Id::Str(n.to_string()),
                (RoomIdConfig::Str(s), true) => Id::Str(s.clone()),
                (RoomIdConfig::Str(s), false) => match s.parse::<u64>() {
                    Ok(n) if n > 0 => Id::Num(n),
                    _ => {
                        tracing::warn!("videoroom: room {s:?} needs string_ids; skipped");
                        continue;
                    }
                },
            };
            if state.rooms.contains_key(&id) {
                tracing::warn!("videoroom: duplicate room {id} skipped");
                continue;
            }
            let mut body = room::config_room_body(r);
            if r.description.is_none() {
                body["description"] = format!("room-{id}").into();
            }
            let settings = match RoomSettings::from_create(&body, &id) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("videoroom: room {id} skipped: {e}");
                    continue;
                }
            };
            state.add_room(Room::new(id, settings, r.allowed.clone()));
        }
        state
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    // -----------------------------------------------------------------------------------------
    // Small helpers shared by the request modules

    pub(super) fn push(&mut self, h: HandleId, tx: Option<&str>, data: Value, jsep: Option<Jsep>) {
        self.out.push(Output::Event {
            handle: h,
            transaction: tx.map(str::to_owned),
            data,
            jsep,
        });
    }

    pub(super) fn media(&mut self, op: MediaOp) {
        self.out.push(Output::Media(op));
    }

    pub(super) fn out_close_pc(&mut self, h: HandleId) {
        self.out.push(Output::ClosePc(h));
    }

    pub(super) fn add_room(&mut self, room: Room) {
        self.media(MediaOp::OpenRoom {
            room: room.id.clone(),
            config: room.settings.router_config(),
        });
        self.rooms.insert(room.id.clone(), room);
    }

    pub(super) fn room(&self, id: &Id) -> Result<&Room, VideoRoomError> {
        self.rooms
            .get(id)
            .ok_or_else(|| VideoRoomError::NoSuchRoom(id.to_string()))
    }

    pub(super) fn room_mut(&mut self, id: &Id) -> Result<&mut Room, VideoRoomError> {
        self.rooms
            .get_mut(id)
            .ok_or_else(|| VideoRoomError::NoSuchRoom(id.to_string()))
    }

    pub(super) fn publisher(&self, h: HandleId) -> Option<&Publisher> {
        match self.sessions.get(&h) {
            Some(Session::Publisher(p)) => Some(p),
            _ => None,
        }
    }

    pub(super) fn publisher_mut(&mut self, h: HandleId) -> Option<&mut Publisher> {
        match self.sessions.get_mut(&h) {
            Some(Session::Publisher(p)) => Some(p),
            _ => None,
        }
    }

    pub(super) fn subscriber(&self, h: HandleId) -> Option<&Subscriber> {
        match self.sessions.get(&h) {
            Some(Session::Subscriber(s)) => Some(s),
            _ => None,
        }
    }

    pub(super) fn subscriber_mut(&mut self, h: HandleId) -> Option<&mut Subscriber> {
        match self.sessions.get_mut(&h) {
            Some(Session::Subscriber(s)) => Some(s),
            _ => None,
        }
    }

    /// The participant (publisher handle) with `id` in `room`.
    pub(super) fn participant_by_id(&self, room: &Id, id: &Id) -> Option<HandleId> {
        let r = self.rooms.get(room)?;
        r.participants
            .iter()
            .copied()
            .find(|h| self.publisher(*h).is_some_and(|p| &p.id == id))
    }

    /// A publishing participant and one of its streams, for subscriptions.
    pub(super) fn source(
        &self,
        publisher: HandleId,
        mid: &str,
    ) -> Option<(&Publisher, &PubStream)> {
        let p = self.publisher(publisher)?;
        Some((p, p.stream_by_mid(mid)?))
    }

    /// Sends `msg` to every participant of `room` but `except` (Janus's
    /// `janus_videoroom_notify_participants`; subscribers are not participants).
    pub(super) fn notify_participants(&mut self, room: &Id, msg: &Value, except: Option<HandleId>) {
        let targets: Vec<HandleId> = match self.rooms.get(room) {
            Some(r) => r
                .participants
                .iter()
                .copied()
                .filter(|h| Some(*h) != except)
                .collect(),
            None => return,
        };
        for h in targets {
            self.push(h, None, msg.clone(), None);
        }
    }

    /// Janus's `janus_videoroom_access_room`: the room must exist; `modify` checks `secret`,
    /// `join` checks `pin` (signed tokens are not supported, see `RoomSettings`).
    pub(super) fn access_room(
        &self,
        id: &Id,
        body: &Value,
        modify: bool,
        join: bool,
    ) -> Result<(), VideoRoomError> {
        let room = self.room(id)?;
        if modify {
            api::check_secret(room.settings.secret.as_deref(), body, "secret")?;
        }
        if join {
            api::check_secret(room.settings.pin.as_deref(), body, "pin")?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Handle lifecycle

    pub fn has_session(&self, h: HandleId) -> bool {
        self.sessions.contains_key(&h)
    }

    pub fn create_session(&mut self, h: HandleId) {
        self.sessions.insert(h, Session::Fresh);
    }

    /// The handle's PeerConnection is up (Janus `setup_media`).
    pub fn setup_media(&mut self, h: HandleId) {
        let room = match self.sessions.get_mut(&h) {
            Some(Session::Publisher(p)) => {
                p.started = true;
                p.unpublished_sent = false;
                p.room.clone()
            }
            Some(Session::Subscriber(s)) => {
                s.started = true;
                Some(s.room.clone())
            }
            _ => None,
        };
        if self.publisher(h).is_some() {
            self.notify_about_publisher(h);
            self.add_publisher_media(h);
        }
        if let Some(room) = room {
            self.sync_media(&room);
        }
    }

    /// The handle's PeerConnection went away (Janus `hangup_media`).
    pub fn hangup_media(&mut self, h: HandleId) {
        let room = self.room_of(h);
        if self.publisher(h).is_some() {
            self.publisher_hangup(h);
        } else if self.subscriber(h).is_some() {
            self.subscriber_hangup(h);
        }
        if let Some(room) = room {
            self.sync_media(&room);
        }
    }

    /// The handle is detached: a publisher unpublishes and leaves, a subscriber goes away.
    pub fn destroy_session(&mut self, h: HandleId) {
        let room = self.room_of(h);
        if self.publisher(h).is_some() {
            self.publisher_hangup(h);
            self.leave_room(h, Departure::Leaving);
        } else if self.subscriber(h).is_some() {
            self.subscriber_hangup(h);
            if let Some(s) = self.subscriber(h) {
                let (room, owner_pvt) = (s.room.clone(), s.private_id);
                let owner = self
                    .rooms
                    .get(&room)
                    .and_then(|r| r.private_ids.get(&(owner_pvt as u32)).copied())
                    .filter(|_| owner_pvt > 0 && owner_pvt <= u64::from(u32::MAX));
                if let Some(p) = owner.and_then(|o| self.publisher_mut(o)) {
                    p.subscriptions.retain(|x| *x != h);
                }
            }
        }
        self.sessions.remove(&h);
        self.data_targets.remove(&h);
        self.forward_targets.remove(&h);
        if let Some(room) = room {
            self.sync_media(&room);
        }
    }

    fn room_of(&self, h: HandleId) -> Option<Id> {
        match self.sessions.get(&h) {
            Some(Session::Publisher(p)) => p.room.clone(),
            Some(Session::Subscriber(s)) => Some(s.room.clone()),
            _ => None,
        }
    }

    /// A publisher stops publishing (hangup, `unpublish`, detach): its streams go, the
    /// subscribers' m-lines become inactive (renegotiated with `autoupdate`), and the room
    /// hears `unpublished` once.
    pub(super) fn publisher_hangup(&mut self, h: HandleId) {
        let Some(p) = self.publisher_mut(h) else {
            return;
        };
        p.started = false;
        p.audio_codec = None;
        p.video_codec = None;
        p.firefox = false;
        p.e2ee = false;
        p.recording_base = None;
        let had_streams = !p.streams.is_empty();
        p.streams.clear();
        p.forwarders.clear();
        let room = p.room.clone();
        let (id, already) = (p.id.clone(), p.unpublished_sent);
        p.unpublished_sent = true;
        if had_streams {
            self.drop_source(h);
        }
        if let Some(room) = room.filter(|r| self.rooms.contains_key(r)) {
            self.media(MediaOp::RemovePublisher {
                room: room.clone(),
                handle: h,
            });
            if !already {
                let msg = json!({"videoroom": "event", "room": room.to_json(), "unpublished": id.to_json()});
                self.notify_participants(&room, &msg, Some(h));
            }
        }
    }

    /// A participant leaves its room (`leave`, detach, kick): others hear `leaving`/`kicked`.
    pub(super) fn leave_room(&mut self, h: HandleId, why: Departure) {
        let Some(p) = self.publisher_mut(h) else {
            return;
        };
        let Some(room) = p.room.take() else { return };
        let (id, pvt) = (p.id.clone(), p.private_id);
        if !self.rooms.contains_key(&room) {
            return;
        }
        let key = match why {
            Departure::Leaving => "leaving",
            Departure::Kicked => "kicked",
        };
        let msg = json!({"videoroom": "event", "room": room.to_json(), key: id.to_json()});
        self.notify_participants(&room, &msg, Some(h));
        if let Some(r) = self.rooms.get_mut(&room) {
            r.participants.retain(|x| *x != h);
            r.private_ids.remove(&pvt);
        }
        self.media(MediaOp::RemovePublisher {
            room: room.clone(),
            handle: h,
        });
        self.sync_media(&room);
    }

    // -----------------------------------------------------------------------------------------
    // Requests

    /// An asynchronous request (`join`, `configure`, `start`...): errors become error events.
    pub fn handle_async(&mut self, h: HandleId, tx: &str, body: &Value, jsep: Option<&Jsep>) {
        if !self.sessions.contains_key(&h) {
            return;
        }
        let room = self.room_of(h);
        if let Err(e) = self.process_async(h, tx, body, jsep) {
            self.push(h, Some(tx), e.to_json(), None);
        }
        for r in [room, self.room_of(h)].into_iter().flatten() {
            self.sync_media(&r);
        }
    }

    fn process_async(
        &mut self,
        h: HandleId,
        tx: &str,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), VideoRoomError> {
        if !body.is_object() {
            return Err(VideoRoomError::NotAnObject);
        }
        api::check(body, &[("request", Ty::Str, true)])?;
        let original = api::opt_str(body, "request").unwrap_or_default().to_owned();
        let request = original.to_ascii_lowercase();
        match self.sessions.get(&h) {
            Some(Session::Fresh) => {
                if request != "join" && request != "joinandconfigure" {
                    return Err(VideoRoomError::JoinFirst);
                }
                self.join(h, tx, &request, body, jsep)
            }
            Some(Session::Publisher(_)) => {
                self.publisher_request(h, tx, &request, &original, body, jsep)
            }
            Some(Session::Subscriber(_)) => {
                self.subscriber_request(h, tx, &request, &original, body, jsep)
            }
            None => Ok(()),
        }
    }

    /// `join` on a fresh handle: common checks, then the publisher or subscriber flavour.
    fn join(
        &mut self,
        h: HandleId,
        tx: &str,
        request: &str,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[api::id_param("room", string_ids, true)])?;
        api::check(body, publisher::join_params())?;
        let room_id = api::loose_id(body.get("room"), string_ids);
        self.access_room(&room_id, body, false, true)?;
        let ptype = api::opt_str(body, "ptype").unwrap_or_default();
        if ptype.eq_ignore_ascii_case("publisher") {
            self.join_publisher(h, tx, request, room_id, body, jsep)
        } else if ptype.eq_ignore_ascii_case("subscriber") {
            self.join_subscriber(h, tx, room_id, body)
        } else {
            Err(VideoRoomError::InvalidElement(
                "Invalid element (ptype)".into(),
            ))
        }
    }

    // -----------------------------------------------------------------------------------------
    // Media bookkeeping

    /// Re-sends what changed for the forwarding engine in `room`: each live subscriber's
    /// snapshot and each publisher's data-channel recipients.
    pub(super) fn sync_media(&mut self, room: &Id) {
        let subs: Vec<HandleId> = self
            .sessions
            .iter()
            .filter_map(|(h, s)| match s {
                Session::Subscriber(s) if &s.room == room && s.started && !s.orphaned => Some(*h),
                _ => None,
            })
            .collect();
        for h in subs {
            let snapshot = self.snapshot(h);
            let Some(s) = self.subscriber_mut(h) else {
                continue;
            };
            if s.last_snapshot.as_ref() != Some(&snapshot) {
                s.last_snapshot = Some(snapshot.clone());
                self.media(MediaOp::SetSubscriber {
                    room: room.clone(),
                    handle: h,
                    subscriptions: snapshot,
                });
            }
        }
        let publishers: Vec<HandleId> = self
            .rooms
            .get(room)
            .map(|r| r.participants.clone())
            .unwrap_or_default();
        for p in publishers {
            let has_data = self.publisher(p).is_some_and(|x| x.started && x.has_data());
            let targets = if has_data {
                self.data_recipients(p)
            } else {
                Vec::new()
            };
            let previous = self.data_targets.get(&p).cloned().unwrap_or_default();
            if previous != targets {
                self.data_targets.insert(p, targets.clone());
                self.media(MediaOp::DataTargets {
                    publisher: p,
                    targets,
                });
            }
            let forwards = self
                .publisher(p)
                .map(super::forwarder::targets)
                .unwrap_or_default();
            let previous = self.forward_targets.get(&p).cloned().unwrap_or_default();
            if previous != forwards {
                self.forward_targets.insert(p, forwards.clone());
                self.media(MediaOp::Forwarders {
                    room: room.clone(),
                    publisher: p,
                    targets: forwards,
                });
            }
        }
    }

    /// Subscribers whose data m-line carries `publisher` and may receive now.
    fn data_recipients(&self, publisher: HandleId) -> Vec<HandleId> {
        let mut v: Vec<HandleId> = self
            .sessions
            .iter()
            .filter_map(|(h, s)| match s {
                Session::Subscriber(s) if s.receives() => s
                    .streams
                    .iter()
                    .any(|st| {
                        st.kind == StreamKind::Data
                            && st.send
                            && st.ready
                            && st.sources.iter().any(|src| src.publisher == publisher)
                    })
                    .then_some(*h),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    /// What the forwarding engine reports, as Janus events.
    pub fn router_event(&mut self, room: &Id, ev: RouterEvent) {
        match ev {
            RouterEvent::Substream {
                subscriber,
                sub_index,
                substream,
            } => self.layer_event(HandleId(subscriber), sub_index, "substream", substream),
            RouterEvent::Temporal {
                subscriber,
                sub_index,
                temporal,
            } => self.layer_event(HandleId(subscriber), sub_index, "temporal", temporal),
            RouterEvent::SpatialLayer {
                subscriber,
                sub_index,
                spatial,
            } => self.layer_event(HandleId(subscriber), sub_index, "spatial_layer", spatial),
            RouterEvent::TemporalLayer {
                subscriber,
                sub_index,
                temporal,
            } => self.layer_event(HandleId(subscriber), sub_index, "temporal_layer", temporal),
            RouterEvent::Talking {
                publisher,
                index,
                talking,
                level_avg,
            } => {
                let h = HandleId(publisher);
                let Some(p) = self.publisher_mut(h) else {
                    return;
                };
                let Some(ps) = p.streams.iter_mut().find(|s| s.rtp_index == Some(index)) else {
                    return;
                };
                ps.talking = talking;
                let (mindex, mid, id) = (ps.mindex, ps.mid.clone(), p.id.clone());
                let enabled = self
                    .rooms
                    .get(room)
                    .is_some_and(|r| r.settings.audiolevel_event);
                if enabled {
                    let msg = json!({
                        "videoroom": if talking { "talking" } else { "stopped-talking" },
                        "room": room.to_json(), "id": id.to_json(), "mindex": mindex, "mid": mid,
                        "audio-level-dBov-avg": level_avg,
                    });
                    self.notify_participants(room, &msg, None);
                }
            }
        }
    }

    fn layer_event(&mut self, h: HandleId, sub_index: usize, key: &str, value: u8) {
        let Some(s) = self.subscriber_mut(h) else {
            return;
        };
        let room = s.room.clone();
        let Some(st) = s.streams.iter_mut().find(|x| x.mindex == sub_index) else {
            return;
        };
        match key {
            "substream" => st.substream = i32::from(value),
            "spatial_layer" => st.spatial_layer = i32::from(value),
            "temporal_layer" => st.temporal_layer = i32::from(value),
            _ => st.temporal = i32::from(value),
        }
        let mid = st.mid.clone();
        let msg = json!({"videoroom": "event", "room": room.to_json(), "mid": mid, key: value});
        self.push(h, None, msg, None);
    }

    /// Admin `handle_info` `plugin_specific`, with Janus's keys.
    pub fn query_session(&self, h: HandleId) -> Value {
        let mut v = serde_json::Map::new();
        match self.sessions.get(&h) {
            Some(Session::Publisher(p)) => {
                v.insert("type".into(), "publisher".into());
                if let Some(r) = &p.room {
                    v.insert("room".into(), r.to_json());
                    v.insert("id".into(), p.id.to_json());
                    v.insert("private_id".into(), p.private_id.into());
                    if let Some(d) = &p.display {
                        v.insert("display".into(), d.clone().into());
                    }
                    v.insert("bitrate".into(), p.bitrate.into());
                    if p.e2ee {
                        v.insert("e2ee".into(), true.into());
                    }
                    let streams: Vec<Value> = p
                        .streams
                        .iter()
                        .map(|s| {
                            let mut m =
                                json!({"type": s.kind.as_str(), "mindex": s.mindex, "mid": s.mid});
                            if let Some(d) = &s.description {
                                m["description"] = d.clone().into();
                            }
                            if let Some(c) = s.codec_name() {
                                m["codec"] = c.into();
                            }
                            if s.simulcast() {
                                m["simulcast"] = true.into();
                            }
                            if s.audio_level_ext.is_some() {
                                m["talking"] = s.talking.into();
                            }
                            m["subscribers"] = self.subscribers_of(h, &s.mid).into();
                            m
                        })
                        .collect();
                    v.insert("streams".into(), Value::Array(streams));
                }
            }
            Some(Session::Subscriber(s)) => {
                v.insert("type".into(), "subscriber".into());
                v.insert("room".into(), s.room.to_json());
                v.insert("private_id".into(), s.private_id.into());
                v.insert("answered".into(), s.answered.into());
                v.insert("pending_offer".into(), s.pending_offer.into());
                v.insert("pending_restart".into(), s.pending_restart.into());
                v.insert("paused".into(), s.paused.into());
                v.insert("streams".into(), self.summary(h));
            }
            _ => {}
        }
        // Hangups complete synchronously here, and a session in the map is not destroyed.
        v.insert("hangingup".into(), 0.into());
        v.insert("destroyed".into(), 0.into());
        Value::Object(v)
    }

    /// How many subscriber m-lines a publisher stream feeds.
    fn subscribers_of(&self, publisher: HandleId, mid: &str) -> usize {
        self.sessions
            .values()
            .filter_map(|s| match s {
                Session::Subscriber(s) => Some(s),
                _ => None,
            })
            .flat_map(|s| s.streams.iter())
            .filter(|st| {
                st.sources
                    .iter()
                    .any(|x| x.publisher == publisher && x.mid == mid)
            })
            .count()
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
