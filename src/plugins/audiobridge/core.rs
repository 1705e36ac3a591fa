//! The AudioBridge state machine: rooms, participants, forwarders and announcements.
//! Requests and PeerConnection callbacks go in; Janus events, PeerConnection closes and
//! mixer operations come out as [`Output`]s, executed by `mod.rs` after the lock is released.
//!
//! Sans-IO so that the request/event sequences of plugins API §4 are unit-tested without a
//! network, and so that no event is pushed (and no core callback re-entered) under the lock.
//! The mixer sees snapshots: after every change, [`State::sync_room`] re-sends what changed
//! for each participant of the room (what it contributes, what it receives, codec settings).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::Jsep;

use super::api::{self, Id};
use super::errors::AudioBridgeError;
use super::media::{MixConfig, MixParticipant, MixTransport, MixerEvent, RecordTarget, RtpPorts};
use super::participant::Participant;
use super::room::{Room, RoomSettings};
use super::store::{self, RoomStore};
use crate::config::{AudioBridgeConfig, AudioBridgeRoom, RoomIdConfig};

/// Requests Janus handles asynchronously (ack now, event later).
pub const ASYNC_REQUESTS: &[&str] = &["join", "configure", "changeroom", "leave", "hangup"];

/// Plugin-wide settings (`general` of Janus's jcfg).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub admin_key: Option<String>,
    /// Only meaningful with `admin_key` (as in Janus).
    pub lock_rtp_forward: bool,
    pub lock_play_file: bool,
    pub string_ids: bool,
    pub record_tmp_ext: Option<String>,
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

/// Mixer operations (one mixer per room). Participants are keyed by handle.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaOp {
    OpenRoom {
        room: Id,
        config: MixConfig,
    },
    SetConfig {
        room: Id,
        config: MixConfig,
    },
    CloseRoom {
        room: Id,
    },
    /// Adds a participant or replaces its settings (a snapshot).
    SetParticipant {
        room: Id,
        handle: HandleId,
        params: MixParticipant,
    },
    RemoveParticipant {
        room: Id,
        handle: HandleId,
    },
    /// `resetdecoder`: a fresh Opus decoder for this participant.
    ResetDecoder {
        room: Id,
        handle: HandleId,
    },
    /// The room's RTP forwarders, whole (stream ID → forwarder).
    Forwarders {
        room: Id,
        forwarders: Vec<(u32, super::room::Forwarder)>,
    },
    PlayFile {
        room: Id,
        file_id: String,
        path: String,
        group: usize,
        looping: bool,
    },
    StopFile {
        room: Id,
        file_id: String,
    },
    /// The handle's plain-RTP socket is no longer needed.
    ReleaseRtp {
        handle: HandleId,
    },
}

/// One handle attached to the plugin (Janus `janus_audiobridge_session`).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Created by the first `join` and kept after `leave` (Janus reuses it).
    pub participant: Option<Participant>,
    /// The PeerConnection is up (`setup` in participant lists).
    pub started: bool,
    /// We sent the offer (`generate_offer`): clients answer, never offer.
    pub plugin_offer: bool,
    /// `o=` of our SDPs: session id and version (bumped on renegotiation).
    pub sdp_sessid: u64,
    pub sdp_version: u64,
}

/// All rooms and handles of the plugin.
pub struct State {
    pub settings: Settings,
    pub rooms: BTreeMap<Id, Room>,
    pub sessions: HashMap<HandleId, Session>,
    pub(super) ports: Arc<dyn RtpPorts>,
    /// Where `permanent` rooms are kept (`rooms_file`), and which rooms are.
    store: Option<Arc<dyn RoomStore>>,
    persisted: BTreeSet<Id>,
    out: Vec<Output>,
    /// What each handle's mixer entry was last set to (only changes are sent).
    mixed: HashMap<HandleId, (Id, MixParticipant)>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("rooms", &self.rooms.len())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl State {
    /// Plugin state with the configured rooms, then the stored permanent ones (invalid ones
    /// are logged and skipped).
    pub fn new(
        cfg: &AudioBridgeConfig,
        ports: Arc<dyn RtpPorts>,
        store: Option<Arc<dyn RoomStore>>,
    ) -> State {
        let mut state = State {
            settings: Settings {
                admin_key: cfg.admin_key.clone(),
                lock_rtp_forward: cfg.lock_rtp_forward && cfg.admin_key.is_some(),
                lock_play_file: cfg.lock_play_file && cfg.admin_key.is_some(),
                string_ids: cfg.string_ids,
                record_tmp_ext: cfg.record_tmp_ext.clone(),
            },
            rooms: BTreeMap::new(),
            sessions: HashMap::new(),
            ports,
            store: store.clone(),
            persisted: BTreeSet::new(),
            out: Vec::new(),
            mixed: HashMap::new(),
        };
        for r in &cfg.rooms {
            state.add_config_room(r, false);
        }
        for r in store.map(|s| s.load()).unwrap_or_default() {
            if let Some(id) = state.add_config_room(&r, true) {
                state.persisted.insert(id);
            }
        }
        state
    }

    /// A room of the config file or of `rooms_file` (which replaces a config room).
    fn add_config_room(&mut self, r: &AudioBridgeRoom, replace: bool) -> Option<Id> {
        let string_ids = self.settings.string_ids;
        {
            let id = match (&r.room, string_ids) {
                (RoomIdConfig::Num(0), _) => {
                    tracing::warn!("audiobridge: config room without an ID skipped");
                    return None;
                }
                (RoomIdConfig::Num(n), false) => Id::Num(*n),
                (RoomIdConfig::Num(n), true) => Id::Str(n.to_string()),
                (RoomIdConfig::Str(s), true) => Id::Str(s.clone()),
                (RoomIdConfig::Str(s), false) => match s.parse::<u64>() {
                    Ok(n) if n > 0 => Id::Num(n),
                    _ => {
                        tracing::warn!("audiobridge: room {s:?} needs string_ids; skipped");
                        return None;
                    }
                },
            };
            if self.rooms.contains_key(&id) {
                if !replace {
                    tracing::warn!("audiobridge: duplicate room {id} skipped");
                    return None;
                }
                self.rooms.remove(&id);
                self.media(MediaOp::CloseRoom { room: id.clone() });
            }
            let mut body = super::room::config_room_body(r);
            if r.description.is_none() {
                body["description"] = format!("room-{id}").into();
            }
            let settings = match RoomSettings::from_create(&body, &id) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("audiobridge: room {id} skipped: {e}");
                    return None;
                }
            };
            let groups = r
                .groups
                .clone()
                .filter(|g| g.len() <= super::room::MAX_GROUPS);
            self.add_room(Room::new(id.clone(), settings, r.allowed.clone(), groups));
            Some(id)
        }
    }

    /// Marks `id` permanent (or not) and rewrites `rooms_file`; `false` when there is no
    /// file or it could not be written (Janus's `"permanent": false`).
    pub(super) fn persist(&mut self, id: &Id, keep: bool) -> bool {
        let Some(store) = self.store.clone() else {
            return false;
        };
        if keep {
            self.persisted.insert(id.clone());
        } else {
            self.persisted.remove(id);
        }
        let rooms: Vec<AudioBridgeRoom> = self
            .persisted
            .iter()
            .filter_map(|id| self.rooms.get(id))
            .map(store::room_config)
            .collect();
        store.save(&rooms)
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    // -----------------------------------------------------------------------------------------
    // Helpers shared by the request modules

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
        let config = self.mix_config(&room);
        self.media(MediaOp::OpenRoom {
            room: room.id.clone(),
            config,
        });
        self.rooms.insert(room.id.clone(), room);
    }

    /// What the room's mixer runs with.
    pub(super) fn mix_config(&self, room: &Room) -> MixConfig {
        let s = &room.settings;
        MixConfig {
            sampling_rate: s.sampling_rate,
            spatial_audio: s.spatial_audio,
            groups: room.groups.len(),
            audio_active_packets: if s.audiolevel_event && s.audiolevel_ext {
                s.audio_active_packets as u32
            } else {
                0
            },
            audio_level_average: s.audio_level_average.min(127) as u8,
            record: s.record.then(|| RecordTarget {
                dir: s.record_dir.clone(),
                file: s.record_file.clone(),
                tmp_ext: self.settings.record_tmp_ext.clone(),
                room: room.id.to_string(),
            }),
            default_expectedloss: s.default_expectedloss as u8,
            default_bitrate: s.default_bitrate as u32,
        }
    }

    pub(super) fn room(&self, id: &Id) -> Result<&Room, AudioBridgeError> {
        self.rooms
            .get(id)
            .ok_or_else(|| AudioBridgeError::no_such_room(id))
    }

    pub(super) fn room_mut(&mut self, id: &Id) -> Result<&mut Room, AudioBridgeError> {
        self.rooms
            .get_mut(id)
            .ok_or_else(|| AudioBridgeError::no_such_room(id))
    }

    pub(super) fn participant(&self, h: HandleId) -> Option<&Participant> {
        self.sessions.get(&h)?.participant.as_ref()
    }

    pub(super) fn participant_mut(&mut self, h: HandleId) -> Option<&mut Participant> {
        self.sessions.get_mut(&h)?.participant.as_mut()
    }

    pub(super) fn started(&self, h: HandleId) -> bool {
        self.sessions.get(&h).is_some_and(|s| s.started)
    }

    /// The handle of participant `user` in `room`.
    pub(super) fn participant_by_id(&self, room: &Id, user: &Id) -> Option<HandleId> {
        self.rooms
            .get(room)?
            .participants
            .iter()
            .copied()
            .find(|h| {
                self.participant(*h)
                    .is_some_and(|p| &p.id == user && p.room.as_ref() == Some(room))
            })
    }

    /// Sends `msg` to every participant of `room` but `except`
    /// (`janus_audiobridge_notify_participants`).
    pub(super) fn notify_room(&mut self, room: &Id, msg: &Value, except: Option<HandleId>) {
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

    /// A participant as the others see it in `event`/`joined` lists: `id`, `display`,
    /// `setup`, `muted`, `spatial_position` in spatial rooms; `talking` only where Janus adds
    /// it (participant lists, for users with the audio-level extension).
    pub(super) fn participant_json(&self, h: HandleId, setup: bool, talking: bool) -> Value {
        let Some(p) = self.participant(h) else {
            return Value::Null;
        };
        let mut v = json!({"id": p.id.to_json()});
        if let Some(d) = &p.display {
            v["display"] = d.clone().into();
        }
        v["setup"] = setup.into();
        v["muted"] = p.muted.into();
        if talking && p.extmap_id > 0 {
            v["talking"] = p.talking.into();
        }
        let spatial = p
            .room
            .as_ref()
            .and_then(|r| self.rooms.get(r))
            .is_some_and(|r| r.settings.spatial_audio);
        if spatial {
            v["spatial_position"] = p.spatial_position.into();
        }
        v
    }

    /// Everyone in `room` but `except`, as a participant list.
    pub(super) fn participant_list(&self, room: &Id, except: Option<HandleId>) -> Value {
        let list: Vec<Value> = self
            .rooms
            .get(room)
            .map(|r| r.participants.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|h| Some(*h) != except)
            .map(|h| self.participant_json(h, self.started(h), true))
            .collect();
        Value::Array(list)
    }

    /// `{"audiobridge":"event","room":R,"participants":[<h>]}` to the others in the room.
    pub(super) fn notify_updated(&mut self, h: HandleId, room: &Id, to_self: bool, setup: bool) {
        let msg = json!({"audiobridge": "event", "room": room.to_json(),
                         "participants": [self.participant_json(h, setup, false)]});
        self.notify_room(room, &msg, (!to_self).then_some(h));
    }

    /// Janus's `janus_audiobridge_access_room`: the room (read loosely from `room`) must exist;
    /// `modify` checks `secret`.
    pub(super) fn access_room(&self, body: &Value, modify: bool) -> Result<Id, AudioBridgeError> {
        let id = api::loose_id(body.get("room"), self.settings.string_ids);
        let room = self.room(&id)?;
        if modify {
            api::check_secret(room.settings.secret.as_deref(), body, "secret")?;
        }
        Ok(id)
    }

    // -----------------------------------------------------------------------------------------
    // Handle lifecycle

    pub fn has_session(&self, h: HandleId) -> bool {
        self.sessions.contains_key(&h)
    }

    pub fn create_session(&mut self, h: HandleId) {
        self.sessions.insert(h, Session::default());
    }

    /// The handle's PeerConnection is up (Janus `setup_media`): the others hear `setup: true`
    /// and the participant starts receiving the mix.
    pub fn setup_media(&mut self, h: HandleId) {
        let Some(session) = self.sessions.get_mut(&h) else {
            return;
        };
        let Some(p) = session.participant.as_mut() else {
            return;
        };
        session.started = true;
        let Some(room) = p.room.clone() else { return };
        p.active = true;
        self.notify_updated(h, &room, false, true);
        self.sync_room(&room);
    }

    /// The handle's PeerConnection went away (Janus `hangup_media`): in AudioBridge this
    /// takes the participant out of its room.
    pub fn hangup_media(&mut self, h: HandleId) {
        let Some(session) = self.sessions.get_mut(&h) else {
            return;
        };
        session.started = false;
        session.plugin_offer = false;
        let Some(p) = session.participant.as_mut() else {
            return;
        };
        let room = p.room.take();
        let id = p.id.clone();
        p.active = false;
        p.muted = true;
        p.display = None;
        p.talking = false;
        p.recording = false;
        p.mjr_base = None;
        let had_rtp = p.rtp.take().is_some();
        if let Some(room) = room {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.participants.retain(|x| *x != h);
            }
            let msg =
                json!({"audiobridge": "event", "room": room.to_json(), "leaving": id.to_json()});
            self.notify_room(&room, &msg, Some(h));
            self.sync_room(&room);
        }
        if had_rtp {
            self.media(MediaOp::ReleaseRtp { handle: h });
        }
    }

    /// The handle is detached: it leaves its room as on hangup, then is forgotten.
    pub fn destroy_session(&mut self, h: HandleId) {
        self.hangup_media(h);
        self.sessions.remove(&h);
        self.mixed.remove(&h);
    }

    // -----------------------------------------------------------------------------------------
    // Mixer snapshots

    /// What the mixer should do with participant `h` of `room` now.
    fn mix_params(&self, h: HandleId, room: &Room) -> Option<MixParticipant> {
        let p = self.participant(h)?;
        let s = &room.settings;
        let talk = s.audiolevel_event && p.extmap_id > 0;
        Some(MixParticipant {
            transport: match &p.rtp {
                Some(r) => MixTransport::PlainRtp {
                    local_port: r.local_port,
                    remote: r.remote,
                },
                None => MixTransport::WebRtc,
            },
            codec: p.codec,
            pt: p.payload_type(),
            ssrc: p.ssrc,
            audio_level_ext: (p.extmap_id > 0).then_some(p.extmap_id),
            mid_ext: (p.mid_ext > 0).then_some(p.mid_ext),
            mid: p.mid.clone(),
            mixed: (p.active || p.rtp.is_some()) && !p.muted && (p.admin || !room.muted),
            receives: self.started(h) || p.rtp.is_some(),
            volume: p.volume,
            spatial_position: s.spatial_audio.then_some(p.spatial_position.min(100) as u8),
            group: p.group,
            prebuffer: p.prebuffer as u32,
            bitrate: p.bitrate as u32,
            complexity: p.complexity as u8,
            expected_loss: p.expected_loss as u8,
            fec: p.fec,
            talk_window: if talk {
                let packets = if p.user_audio_active_packets > 0 {
                    p.user_audio_active_packets
                } else {
                    s.audio_active_packets
                };
                let level = if p.user_audio_level_average > 0 {
                    p.user_audio_level_average
                } else {
                    s.audio_level_average
                };
                Some((packets as u32, level.min(127) as u8))
            } else {
                None
            },
            recording: p.recording.then(|| p.mjr_base.clone()).flatten(),
        })
    }

    /// Re-sends what changed for `room`'s mixer: each participant's snapshot, removals.
    pub(super) fn sync_room(&mut self, room_id: &Id) {
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        let wanted: Vec<(HandleId, MixParticipant)> = room
            .participants
            .iter()
            .filter_map(|h| Some((*h, self.mix_params(*h, room)?)))
            .collect();
        let gone: Vec<HandleId> = self
            .mixed
            .iter()
            .filter(|(h, (r, _))| r == room_id && !wanted.iter().any(|(w, _)| w == *h))
            .map(|(h, _)| *h)
            .collect();
        for h in gone {
            self.mixed.remove(&h);
            self.media(MediaOp::RemoveParticipant {
                room: room_id.clone(),
                handle: h,
            });
        }
        for (h, params) in wanted {
            if let Some((old_room, old)) = self.mixed.get(&h) {
                if old_room == room_id && *old == params {
                    continue;
                }
                if old_room != room_id {
                    let old_room = old_room.clone();
                    self.media(MediaOp::RemoveParticipant {
                        room: old_room,
                        handle: h,
                    });
                }
            }
            self.mixed.insert(h, (room_id.clone(), params.clone()));
            self.media(MediaOp::SetParticipant {
                room: room_id.clone(),
                handle: h,
                params,
            });
        }
    }

    /// Forgets mixer entries of a room that went away (its mixer closes with it).
    pub(super) fn forget_room(&mut self, room_id: &Id) {
        self.mixed.retain(|_, (r, _)| r != room_id);
    }

    /// The room's forwarders, whole, to its mixer.
    pub(super) fn sync_forwarders(&mut self, room_id: &Id) {
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        let forwarders = room
            .forwarders
            .iter()
            .map(|(id, f)| (*id, f.clone()))
            .collect();
        self.media(MediaOp::Forwarders {
            room: room_id.clone(),
            forwarders,
        });
    }

    /// What a room's mixer reports, as Janus events.
    pub fn mixer_event(&mut self, room_id: &Id, ev: MixerEvent) {
        match ev {
            MixerEvent::Talking { handle, talking } => {
                let enabled = self
                    .rooms
                    .get(room_id)
                    .is_some_and(|r| r.settings.audiolevel_event);
                let Some(p) = self.participant_mut(handle) else {
                    return;
                };
                if p.room.as_ref() != Some(room_id) || p.talking == talking {
                    return;
                }
                p.talking = talking;
                let id = p.id.clone();
                if enabled {
                    let msg = json!({"audiobridge": if talking { "talking" } else { "stopped-talking" },
                                     "room": room_id.to_json(), "id": id.to_json()});
                    self.notify_room(room_id, &msg, None);
                }
            }
            MixerEvent::AnnouncementStarted { file_id } => {
                let Some(a) = self
                    .rooms
                    .get_mut(room_id)
                    .and_then(|r| r.announcements.get_mut(&file_id))
                else {
                    return;
                };
                if a.started {
                    return;
                }
                a.started = true;
                let msg = json!({"audiobridge": "announcement-started", "room": room_id.to_json(),
                                 "file_id": file_id});
                self.notify_room(room_id, &msg, None);
            }
            MixerEvent::AnnouncementEnded { file_id } => {
                let Some(a) = self
                    .rooms
                    .get_mut(room_id)
                    .and_then(|r| r.announcements.remove(&file_id))
                else {
                    return;
                };
                if a.started {
                    let msg = json!({"audiobridge": "announcement-stopped",
                                     "room": room_id.to_json(), "file_id": file_id});
                    self.notify_room(room_id, &msg, None);
                }
            }
        }
    }

    /// Admin `handle_info` `plugin_specific`, with Janus's keys.
    pub fn query_session(&self, h: HandleId) -> Value {
        let Some(s) = self.sessions.get(&h) else {
            return json!({});
        };
        let mut v = serde_json::Map::new();
        let p = s.participant.as_ref();
        let in_room = p.is_some_and(|p| p.room.is_some());
        v.insert(
            "state".into(),
            if in_room { "inroom" } else { "idle" }.into(),
        );
        if let Some(p) = p {
            let room = p.room.as_ref().and_then(|r| self.rooms.get(r));
            if let Some(r) = &p.room {
                v.insert("room".into(), r.to_json());
            }
            v.insert("id".into(), p.id.to_json());
            if let Some(g) = room.and_then(|r| r.group_name(p.group)) {
                v.insert("group".into(), g.into());
            }
            if let Some(d) = &p.display {
                v.insert("display".into(), d.clone().into());
            }
            if p.admin {
                v.insert("admin".into(), true.into());
            }
            v.insert("muted".into(), p.muted.into());
            v.insert("active".into(), p.active.into());
            v.insert("prebuffer-count".into(), p.prebuffer.into());
            if p.stereo {
                v.insert("spatial_position".into(), p.spatial_position.into());
            }
            if p.extmap_id > 0 {
                v.insert("talking".into(), p.talking.into());
            }
            v.insert("fec".into(), p.fec.into());
            if p.fec {
                v.insert("expected-loss".into(), p.expected_loss.into());
            }
            if p.bitrate > 0 {
                v.insert("opus-bitrate".into(), p.bitrate.into());
            }
            if let Some(r) = &p.rtp {
                let mut rtp = serde_json::Map::new();
                rtp.insert("local-ip".into(), self.ports.local_ip().to_string().into());
                rtp.insert("local-port".into(), r.local_port.into());
                if let Some(a) = r.remote {
                    rtp.insert("remote-ip".into(), a.ip().to_string().into());
                    rtp.insert("remote-port".into(), a.port().into());
                }
                rtp.insert("local-ssrc".into(), p.ssrc.into());
                v.insert("plain-rtp".into(), Value::Object(rtp));
            }
        }
        if s.plugin_offer {
            v.insert("plugin-offer".into(), true.into());
        }
        v.insert("started".into(), s.started.into());
        v.insert("hangingup".into(), false.into());
        v.insert("destroyed".into(), false.into());
        Value::Object(v)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
