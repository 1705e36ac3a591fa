//! Synchronous requests (plugins API §2.2): answered at once inside the core's `success`
//! envelope, from the Janus API and the Admin API alike.
//!
//! Each one validates in Janus's order, including two quirks clients can observe: `kick` and
//! `moderate` report a bad `id` but not a bad `room` (that becomes `No such room (0)`), and
//! `enable_recording` does not validate `room` at all.

use serde_json::{json, Value};
use signaling::ids::HandleId;

use super::api::{self, Id, Ty};
use super::core::{MediaOp, State};
use super::errors::VideoRoomError;
use super::forwarder;
use super::publisher::Departure;
use super::room::{self, Room, RoomSettings};

/// Every synchronous request name (anything else is async or unknown).
pub const SYNC_REQUESTS: &[&str] = &[
    "create",
    "edit",
    "destroy",
    "list",
    "rtp_forward",
    "stop_rtp_forward",
    "exists",
    "allowed",
    "kick",
    "moderate",
    "listparticipants",
    "listforwarders",
    "enable_recording",
    "publish_remotely",
    "unpublish_remotely",
    "listremotes",
    "add_remote_publisher",
    "update_remote_publisher",
    "remove_remote_publisher",
];

/// `rtp_forward` fields (Janus's `rtp_forward_parameters`).
const RTP_FORWARD_PARAMS: &[api::Param] = &[
    ("secret", Ty::Str, false),
    ("host", Ty::Str, true),
    ("host_family", Ty::Str, false),
    ("simulcast", Ty::Bool, false),
    ("srtp_suite", Ty::PosInt, false),
    ("srtp_crypto", Ty::Str, false),
    ("streams", Ty::Array, false),
    ("video_port", Ty::PosInt, false),
    ("video_rtcp_port", Ty::PosInt, false),
    ("video_ssrc", Ty::PosInt, false),
    ("video_pt", Ty::PosInt, false),
    ("video_port_2", Ty::PosInt, false),
    ("video_ssrc_2", Ty::PosInt, false),
    ("video_pt_2", Ty::PosInt, false),
    ("video_port_3", Ty::PosInt, false),
    ("video_ssrc_3", Ty::PosInt, false),
    ("video_pt_3", Ty::PosInt, false),
    ("audio_port", Ty::PosInt, false),
    ("audio_rtcp_port", Ty::PosInt, false),
    ("audio_ssrc", Ty::PosInt, false),
    ("audio_pt", Ty::PosInt, false),
    ("data_port", Ty::PosInt, false),
];

impl State {
    /// A synchronous request; `None` when `request` is not one (the caller then tries the
    /// asynchronous list). `request` is already lower-cased and the body validated as an
    /// object with a string `request`.
    pub fn handle_sync(&mut self, request: &str, body: &Value) -> Option<Value> {
        if !SYNC_REQUESTS.contains(&request) {
            return None;
        }
        let result = match request {
            "create" => self.create(body),
            "edit" => self.edit(body),
            "destroy" => self.destroy(body),
            "list" => self.list(body),
            "exists" => self.exists(body),
            "allowed" => self.allowed(body),
            "kick" => self.kick(body),
            "moderate" => self.moderate(body),
            "listparticipants" => self.list_participants(body),
            "listforwarders" => self.list_forwarders(body),
            "stop_rtp_forward" => self.stop_rtp_forward(body),
            "rtp_forward" => self.rtp_forward(body),
            "enable_recording" => self.enable_recording(body),
            _ => Err(VideoRoomError::Unknown(
                "Remote publishers (SFU cascading) are not supported yet".into(),
            )),
        };
        Some(result.unwrap_or_else(|e| e.to_json()))
    }

    fn room_param(&self, body: &Value) -> Result<Id, VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[api::id_param("room", string_ids, true)])?;
        Ok(api::loose_id(body.get("room"), string_ids))
    }

    fn create(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, room::CREATE_PARAMS)?;
        api::check(body, &[api::id_param("room", string_ids, false)])?;
        if let Some(key) = self.settings.admin_key.clone() {
            api::check_secret(Some(&key), body, "admin_key")?;
        }
        if let Some(list) = body.get("allowed").and_then(Value::as_array) {
            if list.iter().any(|a| !a.is_string()) {
                return Err(VideoRoomError::InvalidElement(
                    "Invalid element in the allowed array (not a string)".into(),
                ));
            }
        }
        let wanted = body
            .get("room")
            .map(|v| api::loose_id(Some(v), string_ids))
            .filter(|id| !id.is_unset());
        if let Some(id) = &wanted {
            if self.rooms.contains_key(id) {
                return Err(VideoRoomError::RoomExists(id.to_string()));
            }
        }
        let id = match wanted {
            Some(id) => id,
            None => loop {
                let id = Id::random(string_ids);
                if !self.rooms.contains_key(&id) {
                    break id;
                }
            },
        };
        let settings = RoomSettings::from_create(body, &id)?;
        if settings.record {
            tracing::warn!("videoroom: room {id} asks for recording, not implemented yet");
        }
        let allowed = body.get("allowed").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
        self.add_room(Room::new(id.clone(), settings, allowed));
        // `permanent` would rewrite a config file; Ianus's config is read-only TOML.
        Ok(json!({"videoroom": "created", "room": id.to_json(), "permanent": false}))
    }

    fn edit(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let id = self.room_param(body)?;
        api::check(body, room::EDIT_PARAMS)?;
        self.access_room(&id, body, true, false)?;
        let room = self.room_mut(&id)?;
        room.apply_edit(body);
        let config = room.settings.router_config();
        self.media(MediaOp::SetConfig {
            room: id.clone(),
            config,
        });
        Ok(json!({"videoroom": "edited", "room": id.to_json(), "permanent": false}))
    }

    fn destroy(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let id = self.room_param(body)?;
        api::check(body, &[("permanent", Ty::Bool, false)])?;
        self.access_room(&id, body, true, false)?;
        let Some(room) = self.rooms.remove(&id) else {
            return Err(VideoRoomError::NoSuchRoom(id.to_string()));
        };
        let msg = json!({"videoroom": "destroyed", "room": id.to_json()});
        for h in &room.participants {
            if let Some(p) = self.publisher_mut(*h) {
                p.room = None;
            }
            self.push(*h, None, msg.clone(), None);
            self.out_close_pc(*h);
        }
        for s in self.sessions.values_mut() {
            if let super::core::Session::Subscriber(s) = s {
                if s.room == id {
                    s.orphaned = true;
                }
            }
        }
        self.media(MediaOp::CloseRoom { room: id.clone() });
        Ok(json!({"videoroom": "destroyed", "room": id.to_json(), "permanent": false}))
    }

    fn list(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let mut include_private = false;
        if let Some(key) = self.settings.admin_key.clone() {
            let given = body.get("admin_key").and_then(Value::as_str);
            if given.is_some_and(|g| !g.is_empty()) {
                api::check_secret(Some(&key), body, "admin_key")?;
                include_private = true;
            }
        }
        let list: Vec<Value> = self
            .rooms
            .values()
            .filter(|r| include_private || !r.settings.is_private)
            .map(Room::list_entry)
            .collect();
        Ok(json!({"videoroom": "success", "list": list}))
    }

    fn exists(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let id = self.room_param(body)?;
        let exists = self.rooms.contains_key(&id);
        Ok(json!({"videoroom": "success", "room": id.to_json(), "exists": exists}))
    }

    fn allowed(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let id = self.room_param(body)?;
        api::check(
            body,
            &[
                ("secret", Ty::Str, false),
                ("action", Ty::Str, true),
                ("allowed", Ty::Array, false),
            ],
        )?;
        let action = api::opt_str(body, "action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !["enable", "disable", "add", "remove"].contains(&action.as_str()) {
            return Err(VideoRoomError::InvalidElement(format!(
                "Unsupported action '{}' (allowed)",
                api::opt_str(body, "action").unwrap_or_default()
            )));
        }
        self.access_room(&id, body, true, false)?;
        let tokens = body.get("allowed").and_then(Value::as_array);
        if matches!(action.as_str(), "add" | "remove")
            && tokens.is_some_and(|t| t.iter().any(|a| !a.is_string()))
        {
            return Err(VideoRoomError::InvalidElement(
                "Invalid element in the allowed array (not a string)".into(),
            ));
        }
        let room = self.room_mut(&id)?;
        match action.as_str() {
            "enable" => room.check_allowed = true,
            "disable" => room.check_allowed = false,
            add_or_remove => {
                for t in tokens.into_iter().flatten().filter_map(Value::as_str) {
                    if add_or_remove == "add" {
                        room.allow(t.to_owned());
                    } else {
                        room.allowed.retain(|a| a != t);
                    }
                }
            }
        }
        let mut reply = json!({"videoroom": "success", "room": id.to_json()});
        if action != "disable" {
            reply["allowed"] = json!(room.allowed);
        }
        Ok(reply)
    }

    /// `kick`/`moderate` validation: Janus overwrites a `room` error with the `id` check, so
    /// a bad room only shows as `No such room (0)`.
    fn room_and_user(&self, body: &Value) -> Result<(Id, Id), VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[api::id_param("id", string_ids, true)])?;
        let room = api::loose_id(body.get("room"), string_ids);
        let user = api::loose_id(body.get("id"), string_ids);
        Ok((room, user))
    }

    fn target(&self, room: &Id, user: &Id) -> Result<HandleId, VideoRoomError> {
        self.participant_by_id(room, user).ok_or_else(|| {
            VideoRoomError::NoSuchFeed(format!("No such user {user} in room {room}"))
        })
    }

    fn kick(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let (room, user) = self.room_and_user(body)?;
        api::check(body, &[("secret", Ty::Str, false)])?;
        self.access_room(&room, body, true, false)?;
        let h = self.target(&room, &user)?;
        let require_pvtid = self.room(&room)?.settings.require_pvtid;
        let Some(p) = self.publisher_mut(h) else {
            return Err(VideoRoomError::Unknown(
                "Invalid participant instance".into(),
            ));
        };
        if p.kicked {
            return Ok(json!({"videoroom": "success"}));
        }
        p.kicked = true;
        p.started = false;
        let owned = if require_pvtid {
            p.subscriptions.clone()
        } else {
            Vec::new()
        };
        let ev = json!({"videoroom": "event", "room": room.to_json(), "leaving": "ok", "reason": "kicked"});
        self.push(h, None, ev, None);
        // With require_pvtid its subscriptions stop receiving media (the PCs stay up).
        for s in owned {
            if let Some(sub) = self.subscriber_mut(s) {
                sub.kicked = true;
            }
        }
        self.leave_room(h, Departure::Kicked);
        self.out_close_pc(h);
        self.sync_media(&room);
        Ok(json!({"videoroom": "success"}))
    }

    fn moderate(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let (room, user) = self.room_and_user(body)?;
        api::check(
            body,
            &[
                ("secret", Ty::Str, false),
                ("mid", Ty::Str, true),
                ("mute", Ty::Bool, true),
            ],
        )?;
        self.access_room(&room, body, true, false)?;
        let h = self.target(&room, &user)?;
        let mid = api::opt_str(body, "mid").unwrap_or_default().to_owned();
        let mute = api::is_true(body, "mute");
        let Some(p) = self.publisher_mut(h) else {
            return Err(VideoRoomError::Unknown(
                "Invalid participant instance".into(),
            ));
        };
        let Some(ps) = p.streams.iter_mut().find(|s| s.mid == mid) else {
            return Err(VideoRoomError::NoSuchFeed(format!("No such stream {mid}")));
        };
        ps.muted = mute;
        let msg = json!({"videoroom": "event", "room": room.to_json(), "id": p.id.to_json(),
                         "mid": mid, "moderation": if mute { "muted" } else { "unmuted" }});
        self.notify_participants(&room, &msg, None);
        self.sync_media(&room);
        Ok(json!({"videoroom": "success"}))
    }

    fn list_participants(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let id = self.room_param(body)?;
        let room = self.room(&id)?;
        let list: Vec<Value> = room
            .participants
            .iter()
            .filter_map(|h| self.publisher(*h))
            .map(|p| {
                let mut v = json!({"id": p.id.to_json()});
                if let Some(d) = &p.display {
                    v["display"] = d.clone().into();
                }
                v["publisher"] = p.started.into();
                if p.started {
                    let audio: Vec<bool> = p
                        .streams
                        .iter()
                        .filter(|s| s.audio_level_ext.is_some())
                        .map(|s| s.talking)
                        .collect();
                    if !audio.is_empty() {
                        v["talking"] = audio.iter().any(|t| *t).into();
                    }
                }
                v
            })
            .collect();
        Ok(json!({"videoroom": "participants", "room": id.to_json(), "participants": list}))
    }

    fn list_forwarders(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let id = self.room_param(body)?;
        self.access_room(&id, body, true, false)?;
        let list: Vec<Value> = self
            .room(&id)?
            .participants
            .iter()
            .filter_map(|h| self.publisher(*h))
            .filter_map(forwarder::list_entry)
            .collect();
        Ok(json!({"videoroom": "forwarders", "room": id.to_json(), "publishers": list}))
    }

    fn check_rtp_forward_key(&self, body: &Value) -> Result<(), VideoRoomError> {
        if self.settings.lock_rtp_forward {
            if let Some(key) = &self.settings.admin_key {
                api::check_secret(Some(key), body, "admin_key")?;
            }
        }
        Ok(())
    }

    fn stop_rtp_forward(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let string_ids = self.settings.string_ids;
        let room = self.room_param(body)?;
        api::check(body, &[api::id_param("publisher_id", string_ids, true)])?;
        api::check(
            body,
            &[("secret", Ty::Str, false), ("stream_id", Ty::PosInt, true)],
        )?;
        self.check_rtp_forward_key(body)?;
        let publisher = api::loose_id(body.get("publisher_id"), string_ids);
        let stream = body.get("stream_id").and_then(Value::as_u64).unwrap_or(0) as u32;
        self.access_room(&room, body, true, false)?;
        let h = self
            .participant_by_id(&room, &publisher)
            .ok_or_else(|| VideoRoomError::NoSuchFeed(format!("No such feed ({publisher})")))?;
        let removed = self.publisher_mut(h).is_some_and(|p| {
            let before = p.forwarders.len();
            p.forwarders.retain(|f| f.stream_id != stream);
            p.forwarders.len() != before
        });
        if !removed {
            return Err(VideoRoomError::NoSuchFeed(format!(
                "No such stream ({stream})"
            )));
        }
        self.sync_media(&room);
        Ok(
            json!({"videoroom": "stop_rtp_forward", "room": room.to_json(),
                  "publisher_id": publisher.to_json(), "stream_id": stream}),
        )
    }

    /// RTP/SRTP forwarders of a publisher's streams (no RTCP feedback yet; see `forwarder`).
    fn rtp_forward(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, RTP_FORWARD_PARAMS)?;
        let room = self.room_param(body)?;
        api::check(body, &[api::id_param("publisher_id", string_ids, true)])?;
        self.check_rtp_forward_key(body)?;
        let host = forwarder::validate(body)?;
        let publisher = api::loose_id(body.get("publisher_id"), string_ids);
        self.access_room(&room, body, true, false)?;
        let h = self
            .participant_by_id(&room, &publisher)
            .ok_or_else(|| VideoRoomError::NoSuchFeed(format!("No such feed ({publisher})")))?;
        let Some(p) = self.publisher_mut(h) else {
            return Err(VideoRoomError::Unknown(
                "Invalid participant instance".into(),
            ));
        };
        let (created, video) = forwarder::add(p, body, host);
        let mut reply = serde_json::Map::new();
        reply.insert("publisher_id".into(), publisher.to_json());
        reply.extend(created);
        if video {
            self.media(MediaOp::RequestKeyframe {
                room: room.clone(),
                publisher: h,
            });
        }
        self.sync_media(&room);
        reply.insert("room".into(), room.to_json());
        reply.insert("videoroom".into(), "rtp_forward".into());
        Ok(Value::Object(reply))
    }

    /// Accepted and reported; recording itself is not implemented yet.
    fn enable_recording(&mut self, body: &Value) -> Result<Value, VideoRoomError> {
        api::check(body, &[("record", Ty::Bool, true)])?;
        let record = api::is_true(body, "record");
        let id = api::loose_id(body.get("room"), self.settings.string_ids);
        self.access_room(&id, body, true, false)?;
        let room = self.room_mut(&id)?;
        if room.settings.record != record {
            room.settings.record = record;
            let participants = room.participants.clone();
            for h in participants {
                if let Some(p) = self.publisher_mut(h) {
                    p.recording = record;
                }
            }
            if record {
                tracing::warn!("videoroom: recording of room {id} requested, not implemented yet");
            }
        }
        Ok(json!({"videoroom": "success", "record": record}))
    }
}
