//! Synchronous requests (plugins API §4.2): answered at once inside the core's `success`
//! envelope, from the Janus API and the Admin API alike.
//!
//! Each validates in Janus's order with its texts, quirks included: `rtp_forward` reports a
//! missing room as `No such room (<id>` (no closing parenthesis) and an unknown group as
//! plain `No such group`; `enable_recording`/`enable_mjrs` read `room` without validating it;
//! `stop_all_files` is the 1.2 addition (Debian's 1.1.2 does not know it).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use serde_json::{json, Value};
use signaling::ids::HandleId;

use super::api::{self, Id, Ty};
use super::core::{MediaOp, State};
use super::errors::AudioBridgeError;
use super::room::{self, Announcement, ForwardCodec, Forwarder, Room, RoomSettings};

/// Every synchronous request name (anything else is async or unknown).
pub const SYNC_REQUESTS: &[&str] = &[
    "create",
    "edit",
    "destroy",
    "enable_recording",
    "enable_mjrs",
    "list",
    "exists",
    "allowed",
    "mute",
    "unmute",
    "mute_room",
    "unmute_room",
    "kick",
    "kick_all",
    "listparticipants",
    "resetdecoder",
    "rtp_forward",
    "stop_rtp_forward",
    "listforwarders",
    "play_file",
    "is_playing",
    "stop_file",
    "stop_all_files",
];

/// `rtp_forward` fields (Janus's `rtp_forward_parameters`).
const RTP_FORWARD_PARAMS: &[api::Param] = &[
    ("group", Ty::Str, false),
    ("ssrc", Ty::PosInt, false),
    ("codec", Ty::Str, false),
    ("ptype", Ty::PosInt, false),
    ("port", Ty::PosInt, true),
    ("host", Ty::Str, true),
    ("host_family", Ty::Str, false),
    ("srtp_suite", Ty::PosInt, false),
    ("srtp_crypto", Ty::Str, false),
    ("always_on", Ty::Bool, false),
];

const PLAY_FILE_PARAMS: &[api::Param] = &[
    ("filename", Ty::Str, true),
    ("file_id", Ty::Str, false),
    ("group", Ty::Str, false),
    ("loop", Ty::Bool, false),
];

impl State {
    /// A synchronous request; `None` when `request` is not one. `request` is lower-cased,
    /// the body an object with a string `request`; `handle` is `None` from the Admin API.
    pub fn handle_sync(
        &mut self,
        request: &str,
        body: &Value,
        handle: Option<HandleId>,
    ) -> Option<Value> {
        if !SYNC_REQUESTS.contains(&request) {
            return None;
        }
        let result = match request {
            "create" => self.create(body),
            "edit" => self.edit(body),
            "destroy" => self.destroy(body),
            "enable_recording" => self.enable_recording(body),
            "enable_mjrs" => self.enable_mjrs(body),
            "list" => self.list(body),
            "exists" => self.exists(body),
            "allowed" => self.allowed(body),
            "mute" | "unmute" => self.mute(body, request == "mute"),
            "mute_room" | "unmute_room" => self.mute_room(body, request == "mute_room"),
            "kick" => self.kick(body),
            "kick_all" => self.kick_all(body),
            "listparticipants" => self.list_participants(body),
            "resetdecoder" => self.reset_decoder(handle),
            "rtp_forward" => self.rtp_forward(body),
            "stop_rtp_forward" => self.stop_rtp_forward(body),
            "listforwarders" => self.list_forwarders(body),
            "play_file" => self.play_file(body),
            "is_playing" => self.is_playing(body),
            "stop_file" => self.stop_file(body),
            _ => self.stop_all_files(body),
        };
        Some(result.unwrap_or_else(|e| e.to_json()))
    }

    fn room_param(&self, body: &Value) -> Result<Id, AudioBridgeError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[api::id_param("room", string_ids, true)])?;
        Ok(api::loose_id(body.get("room"), string_ids))
    }

    /// The room must exist and `secret` match.
    fn modifiable(&self, id: &Id, body: &Value) -> Result<(), AudioBridgeError> {
        let room = self.room(id)?;
        api::check_secret(room.settings.secret.as_deref(), body, "secret")
    }

    fn admin_key(&self, body: &Value) -> Result<(), AudioBridgeError> {
        if let Some(key) = self.settings.admin_key.clone() {
            api::check(body, &[("admin_key", Ty::Str, true)])?;
            api::check_secret(Some(&key), body, "admin_key")?;
        }
        Ok(())
    }

    fn create(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let string_ids = self.settings.string_ids;
        api::check(body, room::CREATE_PARAMS)?;
        api::check(body, &[api::id_param("room", string_ids, false)])?;
        self.admin_key(body)?;
        if !api::all_strings(body, "allowed") {
            return Err(AudioBridgeError::InvalidElement(
                "Invalid element in the allowed array (not a string)".into(),
            ));
        }
        if let Some(groups) = body.get("groups").and_then(Value::as_array) {
            if groups.len() > room::MAX_GROUPS {
                return Err(AudioBridgeError::InvalidElement(format!(
                    "Too many groups specified (max {} allowed)",
                    room::MAX_GROUPS
                )));
            }
            if !api::all_strings(body, "groups") {
                return Err(AudioBridgeError::InvalidElement(
                    "Invalid element in the groups array (not a string)".into(),
                ));
            }
        }
        let wanted = body
            .get("room")
            .map(|v| api::loose_id(Some(v), string_ids))
            .filter(|id| !id.is_unset());
        if let Some(id) = &wanted {
            if self.rooms.contains_key(id) {
                return Err(AudioBridgeError::RoomExists(id.to_string()));
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
        let room = Room::new(
            id.clone(),
            settings,
            api::strings(body, "allowed"),
            api::strings(body, "groups"),
        );
        self.add_room(room);
        let permanent = api::is_true(body, "permanent") && self.persist(&id, true);
        Ok(json!({"audiobridge": "created", "room": id.to_json(), "permanent": permanent}))
    }

    fn edit(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(body, room::EDIT_PARAMS)?;
        let id = self.room_param(body)?;
        self.modifiable(&id, body)?;
        let room = self.room_mut(&id)?;
        room.apply_edit(body);
        let config = self.mix_config(self.room(&id)?);
        self.media(MediaOp::SetConfig {
            room: id.clone(),
            config,
        });
        let permanent = api::is_true(body, "permanent") && self.persist(&id, true);
        Ok(json!({"audiobridge": "edited", "room": id.to_json(), "permanent": permanent}))
    }

    fn destroy(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(body, &[("permanent", Ty::Bool, false)])?;
        let id = self.room_param(body)?;
        self.modifiable(&id, body)?;
        let Some(room) = self.rooms.remove(&id) else {
            return Err(AudioBridgeError::no_such_room(&id));
        };
        let msg = json!({"audiobridge": "destroyed", "room": id.to_json()});
        for h in &room.participants {
            if let Some(p) = self.participant_mut(*h) {
                p.room = None;
                p.active = false;
            }
            self.push(*h, None, msg.clone(), None);
            self.out_close_pc(*h);
        }
        self.forget_room(&id);
        self.media(MediaOp::CloseRoom { room: id.clone() });
        let permanent = api::is_true(body, "permanent") && self.persist(&id, false);
        Ok(json!({"audiobridge": "destroyed", "room": id.to_json(), "permanent": permanent}))
    }

    fn enable_recording(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(
            body,
            &[
                ("record", Ty::Bool, true),
                ("record_file", Ty::Str, false),
                ("record_dir", Ty::Str, false),
            ],
        )?;
        let id = self.access_room(body, true)?;
        let on = api::is_true(body, "record");
        if let (true, Some(dir)) = (on, api::opt_str(body, "record_dir")) {
            std::fs::create_dir_all(dir).map_err(|e| {
                AudioBridgeError::Unknown(format!(
                    "mkdir error: {} ({e})",
                    e.raw_os_error().unwrap_or(0)
                ))
            })?;
        }
        let room = self.room_mut(&id)?;
        if room.settings.record != on {
            room.settings.record = on;
            if on {
                if let Some(f) = api::opt_str(body, "record_file") {
                    room.settings.record_file = Some(f.to_owned());
                }
                if let Some(d) = api::opt_str(body, "record_dir") {
                    room.settings.record_dir = Some(d.to_owned());
                }
            }
            let config = self.mix_config(self.room(&id)?);
            self.media(MediaOp::SetConfig {
                room: id.clone(),
                config,
            });
        }
        Ok(json!({"audiobridge": "success", "record": on}))
    }

    fn enable_mjrs(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(
            body,
            &[("mjrs", Ty::Bool, true), ("mjrs_dir", Ty::Str, false)],
        )?;
        let id = self.access_room(body, true)?;
        let on = api::is_true(body, "mjrs");
        let room = self.room_mut(&id)?;
        if let (true, Some(d)) = (on, api::opt_str(body, "mjrs_dir")) {
            room.settings.mjrs_dir = Some(d.to_owned());
        }
        if room.settings.mjrs != on {
            room.settings.mjrs = on;
            let members = room.participants.clone();
            for h in members {
                if let Some(p) = self.participant_mut(h) {
                    p.recording = on;
                }
                if on {
                    self.apply_recording_default(h);
                }
            }
            self.sync_room(&id);
        }
        Ok(json!({"audiobridge": "success", "mjrs": on}))
    }

    /// A recording participant without a file name gets Janus's default one.
    fn apply_recording_default(&mut self, h: HandleId) {
        if let Some(p) = self.participant_mut(h) {
            if p.mjr_base.is_none() {
                let room = p.room.as_ref().map(ToString::to_string).unwrap_or_default();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros());
                p.mjr_base = Some(format!("audiobridge-{room}-user-{}-{now}", p.id));
            }
        }
    }

    fn list(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
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
        Ok(json!({"audiobridge": "success", "list": list}))
    }

    fn exists(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.room_param(body)?;
        let exists = self.rooms.contains_key(&id);
        Ok(json!({"audiobridge": "success", "room": id.to_json(), "exists": exists}))
    }

    fn allowed(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(
            body,
            &[
                ("secret", Ty::Str, false),
                ("action", Ty::Str, true),
                ("allowed", Ty::Array, false),
            ],
        )?;
        let id = self.room_param(body)?;
        let given = api::opt_str(body, "action").unwrap_or_default();
        let action = given.to_ascii_lowercase();
        if !["enable", "disable", "add", "remove"].contains(&action.as_str()) {
            return Err(AudioBridgeError::InvalidElement(format!(
                "Unsupported action '{given}' (allowed)"
            )));
        }
        self.modifiable(&id, body)?;
        let add_or_remove = matches!(action.as_str(), "add" | "remove");
        if add_or_remove && !api::all_strings(body, "allowed") {
            return Err(AudioBridgeError::InvalidElement(
                "Invalid element in the allowed array (not a string)".into(),
            ));
        }
        let room = self.room_mut(&id)?;
        match action.as_str() {
            "enable" => room.check_allowed = true,
            "disable" => room.check_allowed = false,
            _ => {
                for t in api::strings(body, "allowed").unwrap_or_default() {
                    if action == "add" {
                        room.allow(t);
                    } else {
                        room.allowed.retain(|a| *a != t);
                    }
                }
            }
        }
        let mut reply = json!({"audiobridge": "success", "room": id.to_json()});
        if action != "disable" {
            reply["allowed"] = json!(room.allowed);
        }
        Ok(reply)
    }

    /// `room` + `id` + secret, in Janus's order; returns the participant's handle.
    fn target(&self, body: &Value) -> Result<(Id, HandleId), AudioBridgeError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[("secret", Ty::Str, false)])?;
        let room = self.room_param(body)?;
        api::check(body, &[api::id_param("id", string_ids, true)])?;
        self.modifiable(&room, body)?;
        let user = api::loose_id(body.get("id"), string_ids);
        let h =
            self.participant_by_id(&room, &user)
                .ok_or_else(|| AudioBridgeError::NoSuchUser {
                    user: user.to_string(),
                    room: room.to_string(),
                })?;
        Ok((room, h))
    }

    fn mute(&mut self, body: &Value, mute: bool) -> Result<Value, AudioBridgeError> {
        let (room, h) = self.target(body)?;
        let Some(p) = self.participant_mut(h) else {
            return Err(AudioBridgeError::Unknown("Invalid participant".into()));
        };
        if p.muted == mute {
            return Ok(json!({"audiobridge": "success"}));
        }
        p.muted = mute;
        let setup = self.started(h);
        self.notify_updated(h, &room, true, setup);
        self.sync_room(&room);
        Ok(json!({"audiobridge": "success", "room": room.to_json()}))
    }

    fn mute_room(&mut self, body: &Value, mute: bool) -> Result<Value, AudioBridgeError> {
        api::check(body, &[("secret", Ty::Str, false)])?;
        let id = self.room_param(body)?;
        self.modifiable(&id, body)?;
        let room = self.room_mut(&id)?;
        if room.muted == mute {
            return Ok(json!({"audiobridge": "success"}));
        }
        room.muted = mute;
        let msg = json!({"audiobridge": "event", "room": id.to_json(), "muted": mute});
        self.notify_room(&id, &msg, None);
        self.sync_room(&id);
        Ok(json!({"audiobridge": "success", "room": id.to_json()}))
    }

    /// `kick`: everybody hears `kicked`; closing the PeerConnection takes the participant out
    /// (through `hangup_media`, as in Janus).
    fn kick(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let (room, h) = self.target(body)?;
        let id = self
            .participant(h)
            .map(|p| p.id.to_json())
            .unwrap_or(Value::Null);
        let msg = json!({"audiobridge": "event", "room": room.to_json(), "kicked": id});
        self.notify_room(&room, &msg, None);
        self.out_close_pc(h);
        Ok(json!({"audiobridge": "success"}))
    }

    fn kick_all(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(body, &[("secret", Ty::Str, false)])?;
        let id = self.room_param(body)?;
        self.modifiable(&id, body)?;
        let members = self.room(&id)?.participants.clone();
        for h in members {
            let user = self
                .participant(h)
                .map(|p| p.id.to_json())
                .unwrap_or(Value::Null);
            let msg = json!({"audiobridge": "event", "room": id.to_json(), "kicked_all": user});
            self.push(h, None, msg, None);
            self.out_close_pc(h);
        }
        Ok(json!({"audiobridge": "success"}))
    }

    fn list_participants(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.room_param(body)?;
        self.room(&id)?;
        let list = self.participant_list(&id, None);
        Ok(json!({"audiobridge": "participants", "room": id.to_json(), "participants": list}))
    }

    fn rtp_forward(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(body, RTP_FORWARD_PARAMS)?;
        let id = self.room_param(body)?;
        if self.settings.lock_rtp_forward {
            self.admin_key(body)?;
        }
        let ssrc = api::opt_u64(body, "ssrc").map_or(0, |v| v as u32);
        let codec = match api::opt_str(body, "codec") {
            Some(name) => ForwardCodec::from_name(name).ok_or_else(|| {
                AudioBridgeError::InvalidElement(format!("Unsupported codec ({name})"))
            })?,
            None => ForwardCodec::Opus,
        };
        let ptype = api::opt_u64(body, "ptype").map_or(100, |v| v as u32);
        // Janus keeps the port in 16 bits.
        let port = api::opt_u64(body, "port").map_or(0, |v| v as u16);
        if port == 0 {
            return Err(AudioBridgeError::InvalidElement(format!(
                "Invalid port number ({port})"
            )));
        }
        let host = api::opt_str(body, "host").unwrap_or_default();
        let family = match api::opt_str(body, "host_family") {
            None => None,
            Some(f) if f.eq_ignore_ascii_case("ipv4") => Some(false),
            Some(f) if f.eq_ignore_ascii_case("ipv6") => Some(true),
            Some(f) => {
                return Err(AudioBridgeError::InvalidElement(format!(
                    "Unsupported protocol family ({f})"
                )))
            }
        };
        let ip = resolve(host, family).ok_or_else(|| {
            AudioBridgeError::InvalidElement(format!("Could not resolve address ({host})..."))
        })?;
        let mut srtp = None;
        if let (Some(suite), Some(crypto)) = (
            api::opt_u64(body, "srtp_suite"),
            api::opt_str(body, "srtp_crypto"),
        ) {
            if suite != 32 && suite != 80 {
                return Err(AudioBridgeError::InvalidElement(format!(
                    "Invalid SRTP suite ({suite})"
                )));
            }
            srtp = Some((suite as u8, crypto.to_owned()));
        }
        let room = self.rooms.get(&id).ok_or_else(|| {
            // Janus's text lacks the closing parenthesis here.
            AudioBridgeError::NoSuchRoom(format!("No such room ({id}"))
        })?;
        api::check_secret(room.settings.secret.as_deref(), body, "secret")?;
        let mut group = 0;
        let mut group_name = None;
        if !room.groups.is_empty() {
            if let Some(name) = api::opt_str(body, "group") {
                group = room
                    .group_index(name)
                    .ok_or_else(|| AudioBridgeError::NoSuchGroup("No such group".into()))?;
                group_name = Some(name.to_owned());
            }
        }
        // A key too short for the suite makes Janus create nothing and report stream 0.
        let stream_id = match &srtp {
            Some((suite, key)) if media_core::srtp::SdesKey::from_base64(*suite, key).is_err() => 0,
            _ => {
                let stream_id = loop {
                    let s = rand::random::<u32>();
                    if s != 0 && !room.forwarders.contains_key(&s) {
                        break s;
                    }
                };
                let pt = match codec.static_pt() {
                    Some(pt) => u32::from(pt),
                    None => ptype,
                };
                let f = Forwarder {
                    group,
                    addr: SocketAddr::new(ip, port),
                    ssrc,
                    codec,
                    pt,
                    srtp,
                    always_on: api::is_true(body, "always_on"),
                };
                if let Some(r) = self.rooms.get_mut(&id) {
                    r.forwarders.insert(stream_id, f);
                }
                self.sync_forwarders(&id);
                stream_id
            }
        };
        let mut reply = json!({"audiobridge": "success", "room": id.to_json()});
        if let Some(g) = group_name {
            reply["group"] = g.into();
        }
        reply["stream_id"] = stream_id.into();
        reply["host"] = ip.to_string().into();
        reply["port"] = port.into();
        Ok(reply)
    }

    fn stop_rtp_forward(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        api::check(body, &[("stream_id", Ty::PosInt, true)])?;
        let id = self.room_param(body)?;
        if self.settings.lock_rtp_forward {
            self.admin_key(body)?;
        }
        let stream_id = api::opt_u64(body, "stream_id").map_or(0, |v| v as u32);
        self.modifiable(&id, body)?;
        if self.room_mut(&id)?.forwarders.remove(&stream_id).is_some() {
            self.sync_forwarders(&id);
        }
        Ok(json!({"audiobridge": "success", "room": id.to_json(), "stream_id": stream_id}))
    }

    fn list_forwarders(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.room_param(body)?;
        self.modifiable(&id, body)?;
        let room = self.room(&id)?;
        let list: Vec<Value> = room
            .forwarders
            .iter()
            .map(|(sid, f)| room.forwarder_entry(*sid, f))
            .collect();
        Ok(json!({"audiobridge": "forwarders", "room": id.to_json(), "rtp_forwarders": list}))
    }

    /// Common checks of the file requests: room, fields, admin key (`lock_play_file`), secret.
    fn file_request(&self, body: &Value, fields: &[api::Param]) -> Result<Id, AudioBridgeError> {
        let id = self.room_param(body)?;
        api::check(body, fields)?;
        if self.settings.lock_play_file {
            self.admin_key(body)?;
        }
        self.modifiable(&id, body)?;
        Ok(id)
    }

    fn play_file(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.file_request(body, PLAY_FILE_PARAMS)?;
        let room = self.room(&id)?;
        let mut group = 0;
        if !room.groups.is_empty() {
            api::check(body, &[("group", Ty::Str, true)])?;
            let name = api::opt_str(body, "group").unwrap_or_default();
            group = room
                .group_index(name)
                .ok_or_else(|| AudioBridgeError::NoSuchGroup(format!("No such group ({name})")))?;
        }
        let file_id = match api::opt_str(body, "file_id") {
            Some(f) => f.to_owned(),
            None => loop {
                let f = Id::random(true).to_string();
                if !room.announcements.contains_key(&f) {
                    break f;
                }
            },
        };
        if room.announcements.contains_key(&file_id) {
            return Err(AudioBridgeError::IdExists(format!(
                "File ID exists ({file_id})"
            )));
        }
        let filename = api::opt_str(body, "filename")
            .unwrap_or_default()
            .to_owned();
        // Janus only checks the file opens; the mixer finds out whether it is Ogg/Opus.
        if std::fs::File::open(&filename).is_err() {
            return Err(AudioBridgeError::Unknown("Error opening file".into()));
        }
        let looping = api::is_true(body, "loop");
        if let Some(r) = self.rooms.get_mut(&id) {
            r.announcements.insert(
                file_id.clone(),
                Announcement {
                    filename: filename.clone(),
                    group,
                    looping,
                    started: false,
                },
            );
        }
        self.media(MediaOp::PlayFile {
            room: id.clone(),
            file_id: file_id.clone(),
            path: filename,
            group,
            looping,
        });
        Ok(json!({"audiobridge": "success", "room": id.to_json(), "file_id": file_id}))
    }

    fn is_playing(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.file_request(body, &[("file_id", Ty::Str, true)])?;
        let file_id = api::opt_str(body, "file_id").unwrap_or_default();
        let playing = self
            .room(&id)?
            .announcements
            .get(file_id)
            .is_some_and(|a| a.started);
        Ok(
            json!({"audiobridge": "success", "room": id.to_json(), "file_id": file_id,
                  "playing": playing}),
        )
    }

    fn stop_file(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.file_request(body, &[("file_id", Ty::Str, true)])?;
        let file_id = api::opt_str(body, "file_id").unwrap_or_default().to_owned();
        let removed = self.room_mut(&id)?.announcements.remove(&file_id);
        if let Some(a) = removed {
            self.media(MediaOp::StopFile {
                room: id.clone(),
                file_id: file_id.clone(),
            });
            if a.started {
                let msg = json!({"audiobridge": "announcement-stopped", "room": id.to_json(),
                                 "file_id": file_id});
                self.notify_room(&id, &msg, None);
            }
        }
        Ok(json!({"audiobridge": "success", "room": id.to_json(), "file_id": file_id}))
    }

    fn stop_all_files(&mut self, body: &Value) -> Result<Value, AudioBridgeError> {
        let id = self.file_request(body, &[])?;
        let all = std::mem::take(&mut self.room_mut(&id)?.announcements);
        let mut stopped = Vec::new();
        for (file_id, a) in all {
            self.media(MediaOp::StopFile {
                room: id.clone(),
                file_id: file_id.clone(),
            });
            if a.started {
                let msg = json!({"audiobridge": "announcement-stopped", "room": id.to_json(),
                                 "file_id": file_id});
                self.notify_room(&id, &msg, None);
                stopped.push(file_id);
            }
        }
        Ok(json!({"audiobridge": "success", "room": id.to_json(), "file_id_list": stopped}))
    }
}

/// Janus's `getaddrinfo` step: an IP literal as is, else the first address of the name
/// (of the requested family). Name lookups use the system resolver (and may block: the
/// plugin runs them before taking its state lock, see [`pre_resolve`]).
fn resolve(host: &str, v6: Option<bool>) -> Option<IpAddr> {
    let family_ok = |ip: &IpAddr| v6.is_none_or(|v6| ip.is_ipv6() == v6);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return family_ok(&ip).then_some(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(family_ok)
}

/// An `rtp_forward` body whose `host` is a name, with the name replaced by its address, so
/// the lookup happens outside the plugin's lock (Janus too resolves before locking). The
/// reply carries the resolved address either way; a name that does not resolve is left for
/// the request to report.
pub fn pre_resolve(request: &str, body: &Value) -> Option<Value> {
    if request != "rtp_forward" {
        return None;
    }
    let host = body.get("host")?.as_str()?;
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let v6 = match body.get("host_family").and_then(Value::as_str) {
        None => None,
        Some(f) if f.eq_ignore_ascii_case("ipv4") => Some(false),
        Some(f) if f.eq_ignore_ascii_case("ipv6") => Some(true),
        Some(_) => return None,
    };
    let ip = resolve(host, v6)?;
    let mut b = body.clone();
    b["host"] = ip.to_string().into();
    Some(b)
}
