//! Participants: the asynchronous requests of plugins API §4.3 (`join`, `configure`,
//! `changeroom`, `leave`, `hangup`) and the SDP answer/offer of §4.4.
//!
//! Every request is validated in Janus's order with its texts, including its quirks: a
//! `join` whose JSEP is then refused still joined; `changeroom` resets `muted` and puts the
//! spatial position at 64 by default; the plain-RTP fields are (mis)checked on the request
//! itself, not inside `rtp`.

use std::net::SocketAddr;

use media_core::sdp::{
    self, AnswerOptions, Codec, Direction, LocalMedia, MediaKind, OfferBuilder, OfferCodec,
    OfferMedia, RtpExtension, SessionDescription,
};
use serde_json::{json, Value};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};

use super::api::{self, Id, Ty};
use super::core::{MediaOp, State};
use super::errors::AudioBridgeError;
use super::room::{ForwardCodec, BITRATES, MAX_EXPECTED_LOSS, MAX_PREBUFFERING};

/// Janus's `DEFAULT_COMPLEXITY` (Opus encoder complexity).
pub const DEFAULT_COMPLEXITY: u64 = 4;
/// Payload type of Opus in our own offers (Janus uses 100).
const OFFER_OPUS_PT: u8 = 100;
/// Extension ids in our own offers (mid 1; audio level 2, as Janus).
const OFFER_MID_EXT: u16 = 1;
const OFFER_LEVEL_EXT: u16 = 2;

/// `join`/`changeroom` fields (Janus's `join_parameters`).
const JOIN_PARAMS: &[api::Param] = &[
    ("display", Ty::Str, false),
    ("token", Ty::Str, false),
    ("group", Ty::Str, false),
    ("muted", Ty::Bool, false),
    ("codec", Ty::Str, false),
    ("prebuffer", Ty::PosInt, false),
    ("bitrate", Ty::PosInt, false),
    ("quality", Ty::PosInt, false),
    ("expected_loss", Ty::PosInt, false),
    ("volume", Ty::PosInt, false),
    ("spatial_position", Ty::PosInt, false),
    ("audio_level_average", Ty::PosInt, false),
    ("audio_active_packets", Ty::PosInt, false),
    ("record", Ty::Bool, false),
    ("filename", Ty::Str, false),
    ("generate_offer", Ty::Bool, false),
    ("rtp", Ty::Object, false),
    ("secret", Ty::Str, false),
];

/// Plain-RTP fields (Janus checks them against the request body, not the `rtp` object).
const RTP_PARAMS: &[api::Param] = &[
    ("ip", Ty::Str, false),
    ("port", Ty::PosInt, false),
    ("payload_type", Ty::PosInt, false),
    ("audiolevel_ext", Ty::PosInt, false),
    ("fec", Ty::Bool, false),
];

/// `configure` fields (Janus's `configure_parameters`).
const CONFIGURE_PARAMS: &[api::Param] = &[
    ("muted", Ty::Bool, false),
    ("prebuffer", Ty::PosInt, false),
    ("bitrate", Ty::PosInt, false),
    ("quality", Ty::PosInt, false),
    ("expected_loss", Ty::PosInt, false),
    ("volume", Ty::PosInt, false),
    ("group", Ty::Str, false),
    ("spatial_position", Ty::PosInt, false),
    ("record", Ty::Bool, false),
    ("filename", Ty::Str, false),
    ("display", Ty::Str, false),
    ("generate_offer", Ty::Bool, false),
    ("update", Ty::Bool, false),
];

/// A plain-RTP participant's transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainRtp {
    pub local_port: u16,
    pub remote: Option<SocketAddr>,
}

/// A participant (Janus `janus_audiobridge_participant`); kept on the session after
/// `leave`, as Janus reuses it for the next `join`.
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub room: Option<Id>,
    pub id: Id,
    pub display: Option<String>,
    /// Joined with the room secret: immune to `mute_room`.
    pub admin: bool,
    pub muted: bool,
    /// Its audio may be mixed (PeerConnection up while in a room).
    pub active: bool,
    pub group: usize,
    /// Chosen by the first `join` only (as Janus).
    pub codec: ForwardCodec,
    pub prebuffer: u64,
    pub volume: u64,
    pub spatial_position: u64,
    pub stereo: bool,
    pub bitrate: u64,
    pub complexity: u64,
    pub expected_loss: u64,
    pub fec: bool,
    /// Opus payload type of its SDP (0 = none seen).
    pub opus_pt: u8,
    /// Negotiated audio-level extension id (0 = none).
    pub extmap_id: u8,
    /// Negotiated mid extension id (0 = none) and the mid of its audio m-line.
    pub mid_ext: u8,
    pub mid: Option<String>,
    pub talking: bool,
    pub user_audio_active_packets: u64,
    pub user_audio_level_average: u64,
    /// Recording its audio to MJR.
    pub recording: bool,
    pub mjr_base: Option<String>,
    /// SSRC of the mix we send it.
    pub ssrc: u32,
    pub rtp: Option<PlainRtp>,
}

impl Participant {
    /// The payload type of its audio.
    pub fn payload_type(&self) -> u8 {
        match self.codec {
            ForwardCodec::Opus if self.opus_pt > 0 => self.opus_pt,
            ForwardCodec::Opus => OFFER_OPUS_PT,
            other => other.static_pt().unwrap_or(0),
        }
    }
}

fn sdp_codec(c: ForwardCodec) -> Codec {
    match c {
        ForwardCodec::Opus => Codec::Opus,
        ForwardCodec::Pcmu => Codec::Pcmu,
        ForwardCodec::Pcma => Codec::Pcma,
    }
}

fn random_ssrc() -> u32 {
    loop {
        let s = rand::random::<u32>();
        if s != 0 {
            return s;
        }
    }
}

/// Settings `join` and `changeroom` read the same way.
struct JoinFields {
    volume: u64,
    bitrate: u64,
    complexity: u64,
    expected_loss: u64,
}

impl State {
    /// An asynchronous request: errors become error events with the request's transaction.
    pub fn handle_async(&mut self, h: HandleId, tx: &str, body: &Value, jsep: Option<&Jsep>) {
        if !self.sessions.contains_key(&h) {
            return;
        }
        let before = self.participant(h).and_then(|p| p.room.clone());
        if let Err(e) = self.process_async(h, tx, body, jsep) {
            self.push(h, Some(tx), e.to_json(), None);
        }
        let after = self.participant(h).and_then(|p| p.room.clone());
        for r in [before, after].into_iter().flatten() {
            self.sync_room(&r);
        }
    }

    fn process_async(
        &mut self,
        h: HandleId,
        tx: &str,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), AudioBridgeError> {
        if !body.is_object() {
            return Err(AudioBridgeError::NotAnObject);
        }
        api::check(body, &[("request", Ty::Str, true)])?;
        let original = api::opt_str(body, "request").unwrap_or_default().to_owned();
        let request = original.to_ascii_lowercase();
        let (event, generate_offer) = match request.as_str() {
            "join" => self.join(h, body, jsep)?,
            "configure" => self.configure(h, body, jsep)?,
            "changeroom" => self.change_room(h, body)?,
            "leave" => (self.leave(h)?, false),
            "hangup" => {
                self.out_close_pc(h);
                (json!({"audiobridge": "hangingup"}), false)
            }
            _ => return Err(AudioBridgeError::UnknownRequest(original)),
        };
        self.negotiate(h, tx, event, jsep, generate_offer)
    }

    /// `join`: enter a room (plugins API §4.3); the others hear `joined`.
    fn join(
        &mut self,
        h: HandleId,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(Value, bool), AudioBridgeError> {
        let string_ids = self.settings.string_ids;
        if self.participant(h).is_some_and(|p| p.room.is_some()) {
            return Err(AudioBridgeError::AlreadyJoined(
                "Already in a room (use changeroom to join another one)".into(),
            ));
        }
        api::check(body, JOIN_PARAMS)?;
        let mut rtp = body.get("rtp").cloned();
        if rtp.is_some() {
            api::check(body, RTP_PARAMS)?;
            if jsep.is_some() {
                // A PeerConnection is being negotiated: plain RTP is ignored.
                rtp = None;
            }
        }
        api::check(body, &[api::id_param("room", string_ids, true)])?;
        api::check(body, &[api::id_param("id", string_ids, false)])?;
        let room_id = api::loose_id(body.get("room"), string_ids);
        let room = self.room(&room_id)?;
        if rtp.is_some() && !room.settings.allow_rtp {
            return Err(AudioBridgeError::Unauthorized(
                "Plain RTP participants not allowed in this room".into(),
            ));
        }
        let (group, admin) = self.admission(&room_id, body)?;
        let room = self.room(&room_id)?;
        let prebuffer = api::opt_u64(body, "prebuffer")
            .filter(|p| *p <= MAX_PREBUFFERING)
            .unwrap_or(room.settings.default_prebuffering);
        let fields = join_fields(
            body,
            room.settings.default_bitrate,
            room.settings.default_expectedloss,
        )?;
        let codec = match api::opt_str(body, "codec") {
            Some(name) => ForwardCodec::from_name(name).ok_or_else(|| {
                AudioBridgeError::InvalidElement(
                    "Invalid element (codec must opus, pcmu or pcma)".into(),
                )
            })?,
            None => ForwardCodec::Opus,
        };
        let user_id = self.new_user_id(&room_id, body.get("id"))?;
        let spatial = self.room(&room_id)?.settings.spatial_audio;
        let started = self.started(h);
        let session = self
            .sessions
            .get_mut(&h)
            .ok_or_else(|| AudioBridgeError::Unknown("No session".into()))?;
        let p = session.participant.get_or_insert_with(|| Participant {
            room: None,
            id: user_id.clone(),
            display: None,
            admin: false,
            muted: false,
            active: false,
            group: 0,
            codec,
            prebuffer,
            volume: 100,
            spatial_position: 0,
            stereo: false,
            bitrate: 0,
            complexity: DEFAULT_COMPLEXITY,
            expected_loss: 0,
            fec: false,
            opus_pt: 0,
            extmap_id: 0,
            mid_ext: 0,
            mid: None,
            talking: false,
            user_audio_active_packets: 0,
            user_audio_level_average: 0,
            recording: false,
            mjr_base: None,
            ssrc: random_ssrc(),
            rtp: None,
        });
        p.room = Some(room_id.clone());
        p.id = user_id.clone();
        p.group = group;
        p.admin = admin;
        p.display = api::opt_str(body, "display").map(str::to_owned);
        p.muted = api::is_true(body, "muted");
        p.prebuffer = prebuffer;
        p.volume = fields.volume;
        p.complexity = fields.complexity;
        p.bitrate = fields.bitrate;
        p.expected_loss = fields.expected_loss;
        p.stereo = spatial;
        if spatial {
            p.spatial_position = api::opt_u64(body, "spatial_position")
                .unwrap_or(50)
                .min(100);
        }
        p.user_audio_active_packets = api::opt_u64(body, "audio_active_packets").unwrap_or(0);
        p.user_audio_level_average = api::opt_u64(body, "audio_level_average").unwrap_or(0);
        p.active = started;
        if !started {
            p.opus_pt = 0;
            p.extmap_id = 0;
            p.talking = false;
        }
        // Plain RTP: a socket of ours, and where to send if the participant said.
        let mut rtp_reply = None;
        if let Some(rtp) = &rtp {
            if p.codec == ForwardCodec::Opus {
                let pt = rtp.get("payload_type").and_then(Value::as_u64).unwrap_or(0);
                p.opus_pt = if pt == 0 {
                    OFFER_OPUS_PT
                } else {
                    pt.min(127) as u8
                };
            }
            if let Some(id) = rtp
                .get("audiolevel_ext")
                .and_then(Value::as_u64)
                .filter(|i| *i > 0)
            {
                p.extmap_id = id.min(14) as u8;
            }
            if p.codec == ForwardCodec::Opus
                && rtp.get("fec").and_then(Value::as_bool) == Some(true)
            {
                p.fec = true;
            }
            let remote = match (
                rtp.get("ip").and_then(Value::as_str),
                rtp.get("port").and_then(Value::as_u64),
            ) {
                (Some(ip), Some(port)) if port > 0 => ip.parse().ok().and_then(|ip| {
                    u16::try_from(port)
                        .ok()
                        .map(|port| SocketAddr::new(ip, port))
                }),
                _ => None,
            };
            let pt = p.payload_type();
            let ports = self.ports.clone();
            if let Some(local_port) = ports.allocate(h) {
                if let Some(p) = self.participant_mut(h) {
                    p.rtp = Some(PlainRtp { local_port, remote });
                }
                rtp_reply = Some(
                    json!({"ip": ports.local_ip().to_string(), "port": local_port,
                                        "payload_type": pt}),
                );
            } else {
                tracing::warn!("audiobridge: no free port for plain RTP participant");
            }
        }
        self.apply_recording(h, body, true);
        if let Some(r) = self.rooms.get_mut(&room_id) {
            r.participants.push(h);
        }
        // The others hear about the newcomer (not yet set up), then it gets the list.
        let mut newcomer = self.participant_json(h, false, false);
        newcomer["setup"] = false.into();
        let msg =
            json!({"audiobridge": "joined", "room": room_id.to_json(), "participants": [newcomer]});
        self.notify_room(&room_id, &msg, Some(h));
        let mut event = json!({"audiobridge": "joined", "room": room_id.to_json(),
                               "id": user_id.to_json(),
                               "participants": self.participant_list(&room_id, Some(h))});
        if let Some(r) = rtp_reply {
            event["rtp"] = r;
        }
        let generate_offer = rtp.is_none() && api::is_true(body, "generate_offer");
        if generate_offer {
            if let Some(s) = self.sessions.get_mut(&h) {
                s.plugin_offer = true;
            }
        }
        Ok((event, generate_offer))
    }

    /// Pin, token ACL, optional admin secret and group of a `join`/`changeroom`; returns
    /// (group index, admin).
    fn admission(&self, room_id: &Id, body: &Value) -> Result<(usize, bool), AudioBridgeError> {
        let room = self.room(room_id)?;
        api::check_secret(room.settings.pin.as_deref(), body, "pin")?;
        if room.check_allowed {
            let token = api::opt_str(body, "token");
            if !token.is_some_and(|t| room.allowed.iter().any(|a| a == t)) {
                return Err(AudioBridgeError::Unauthorized(
                    "Unauthorized (not in the allowed list)".into(),
                ));
            }
        }
        let mut admin = false;
        if body.get("secret").is_some() {
            api::check_secret(room.settings.secret.as_deref(), body, "secret")?;
            admin = true;
        }
        let mut group = 0;
        if !room.groups.is_empty() {
            api::check(body, &[("group", Ty::Str, true)])?;
            let name = api::opt_str(body, "group").unwrap_or_default();
            group = room
                .group_index(name)
                .ok_or_else(|| AudioBridgeError::NoSuchGroup(format!("No such group ({name})")))?;
        }
        Ok((group, admin))
    }

    /// The requested participant ID if free, else a random one.
    fn new_user_id(&self, room_id: &Id, requested: Option<&Value>) -> Result<Id, AudioBridgeError> {
        let string_ids = self.settings.string_ids;
        if let Some(v) = requested {
            let id = api::loose_id(Some(v), string_ids);
            if self.participant_by_id(room_id, &id).is_some() {
                return Err(AudioBridgeError::IdExists(format!(
                    "User ID {id} already exists"
                )));
            }
            if !id.is_unset() {
                return Ok(id);
            }
        }
        loop {
            let id = Id::random(string_ids);
            if self.participant_by_id(room_id, &id).is_none() {
                return Ok(id);
            }
        }
    }

    /// `record`/`filename` of `join`/`configure` (per-participant MJR); joining a room with
    /// `mjrs` records too.
    fn apply_recording(&mut self, h: HandleId, body: &Value, joining: bool) {
        let room_mjrs = joining
            && self
                .participant(h)
                .and_then(|p| p.room.as_ref())
                .and_then(|r| self.rooms.get(r))
                .is_some_and(|r| r.settings.mjrs);
        let Some(p) = self.participant_mut(h) else {
            return;
        };
        if let Some(base) = api::opt_str(body, "filename") {
            p.mjr_base = Some(base.to_owned());
        }
        match api::opt_bool(body, "record") {
            _ if room_mjrs => p.recording = true,
            Some(on) => p.recording = on,
            None => {}
        }
        if p.recording && p.mjr_base.is_none() {
            let room = p.room.as_ref().map(ToString::to_string).unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            p.mjr_base = Some(format!("audiobridge-{room}-user-{}-{now}", p.id));
        }
    }

    /// `configure`: change settings; with a JSEP, negotiate (plugins API §4.3).
    fn configure(
        &mut self,
        h: HandleId,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(Value, bool), AudioBridgeError> {
        let Some(room_id) = self.participant(h).and_then(|p| p.room.clone()) else {
            return Err(AudioBridgeError::NotJoined(
                "Can't configure (not in a room)".into(),
            ));
        };
        api::check(body, CONFIGURE_PARAMS)?;
        let groups: Vec<String> = self.room(&room_id)?.groups.clone();
        let Some(p) = self.participant_mut(h) else {
            return Err(AudioBridgeError::NotJoined(
                "Can't configure (not in a room)".into(),
            ));
        };
        if let Some(pb) = api::opt_u64(body, "prebuffer").filter(|v| *v <= MAX_PREBUFFERING) {
            p.prebuffer = pb;
        }
        if let Some(v) = api::opt_u64(body, "volume") {
            p.volume = v;
        }
        if let Some(b) = api::opt_u64(body, "bitrate") {
            p.bitrate = if BITRATES.contains(&b) { b } else { 0 };
        }
        if let Some(q) = api::opt_u64(body, "quality") {
            if !(1..=10).contains(&q) {
                return Err(quality_error());
            }
            p.complexity = q;
        }
        if let Some(l) = api::opt_u64(body, "expected_loss") {
            if l > MAX_EXPECTED_LOSS {
                return Err(loss_error());
            }
            p.expected_loss = l;
        }
        if let (Some(name), false) = (api::opt_str(body, "group"), groups.is_empty()) {
            let idx = groups
                .iter()
                .position(|g| g == name)
                .ok_or_else(|| AudioBridgeError::NoSuchGroup(format!("No such group ({name})")))?;
            p.group = idx + 1;
        }
        let muted = api::opt_bool(body, "muted");
        let display = api::opt_str(body, "display");
        let spatial = api::opt_u64(body, "spatial_position").filter(|_| p.stereo);
        if muted.is_some() || display.is_some() || spatial.is_some() {
            if let Some(m) = muted {
                p.muted = m;
            }
            if let Some(d) = display {
                p.display = Some(d.to_owned());
            }
            if let Some(s) = spatial {
                p.spatial_position = s.min(100);
            }
            let setup = self.started(h);
            self.notify_updated(h, &room_id, false, setup);
        }
        self.apply_recording(h, body, false);
        let update = api::is_true(body, "update");
        let plugin_offer = self.sessions.get(&h).is_some_and(|s| s.plugin_offer);
        if update && !(jsep.is_some_and(|j| j.update) && plugin_offer) {
            tracing::debug!("audiobridge: 'update' without an SDP update, ignored");
        }
        let generate_offer = if update && plugin_offer {
            true
        } else {
            api::opt_bool(body, "generate_offer").unwrap_or(false)
        };
        if generate_offer {
            if let Some(s) = self.sessions.get_mut(&h) {
                s.plugin_offer = true;
            }
        }
        Ok((
            json!({"audiobridge": "event", "result": "ok"}),
            generate_offer,
        ))
    }

    /// `changeroom`: leave the current room for another on the same PeerConnection.
    fn change_room(
        &mut self,
        h: HandleId,
        body: &Value,
    ) -> Result<(Value, bool), AudioBridgeError> {
        let string_ids = self.settings.string_ids;
        api::check(body, JOIN_PARAMS)?;
        api::check(body, &[api::id_param("room", string_ids, true)])?;
        let room_id = api::loose_id(body.get("room"), string_ids);
        let Some(old_room) = self.participant(h).and_then(|p| p.room.clone()) else {
            return Err(AudioBridgeError::NotJoined(
                "Can't change room (not in a room in the first place)".into(),
            ));
        };
        if old_room == room_id {
            return Err(AudioBridgeError::AlreadyJoined(
                "Already in this room".into(),
            ));
        }
        self.room(&room_id)?;
        let (group, admin) = self.admission(&room_id, body)?;
        let room = self.room(&room_id)?;
        let fields = join_fields(
            body,
            room.settings.default_bitrate,
            room.settings.default_expectedloss,
        )?;
        let spatial_room = room.settings.spatial_audio;
        let user_id = self.new_user_id(&room_id, body.get("id"))?;
        // Out of the old room first: its participants hear `leaving`.
        let old_id = self
            .participant(h)
            .map(|p| p.id.clone())
            .unwrap_or(Id::Num(0));
        if let Some(r) = self.rooms.get_mut(&old_room) {
            r.participants.retain(|x| *x != h);
        }
        let msg = json!({"audiobridge": "event", "room": old_room.to_json(), "leaving": old_id.to_json()});
        self.notify_room(&old_room, &msg, Some(h));
        let started = self.started(h);
        let Some(p) = self.participant_mut(h) else {
            return Err(AudioBridgeError::NotJoined(
                "Can't change room (not in a room in the first place)".into(),
            ));
        };
        p.talking = false;
        p.recording = false;
        p.id = user_id.clone();
        p.group = group;
        p.admin = admin;
        p.display = api::opt_str(body, "display").map(str::to_owned);
        p.room = Some(room_id.clone());
        p.muted = api::is_true(body, "muted");
        p.volume = fields.volume;
        p.stereo = spatial_room;
        p.spatial_position = api::opt_u64(body, "spatial_position")
            .unwrap_or(64)
            .min(100);
        p.bitrate = fields.bitrate;
        if body.get("quality").is_some() {
            p.complexity = fields.complexity;
        }
        if body.get("expected_loss").is_some() {
            p.expected_loss = fields.expected_loss;
        }
        if let Some(r) = self.rooms.get_mut(&room_id) {
            r.participants.push(h);
        }
        let msg = json!({"audiobridge": "joined", "room": room_id.to_json(),
                         "participants": [self.participant_json(h, started, false)]});
        self.notify_room(&room_id, &msg, Some(h));
        Ok((
            json!({"audiobridge": "roomchanged", "room": room_id.to_json(), "id": user_id.to_json(),
                   "participants": self.participant_list(&room_id, Some(h))}),
            false,
        ))
    }

    /// `leave`: out of the room; the PeerConnection stays up.
    fn leave(&mut self, h: HandleId) -> Result<Value, AudioBridgeError> {
        let Some(room_id) = self.participant(h).and_then(|p| p.room.clone()) else {
            return Err(AudioBridgeError::NotJoined(
                "Can't leave (not in a room)".into(),
            ));
        };
        let id = self
            .participant(h)
            .map(|p| p.id.clone())
            .unwrap_or(Id::Num(0));
        let msg =
            json!({"audiobridge": "event", "room": room_id.to_json(), "leaving": id.to_json()});
        self.notify_room(&room_id, &msg, Some(h));
        if let Some(r) = self.rooms.get_mut(&room_id) {
            r.participants.retain(|x| *x != h);
        }
        if let Some(p) = self.participant_mut(h) {
            p.room = None;
            p.active = false;
            p.recording = false;
        }
        Ok(json!({"audiobridge": "left", "room": room_id.to_json(), "id": id.to_json()}))
    }

    /// The SDP part of every asynchronous request (Janus's handler tail): answer an offer,
    /// make an offer (`generate_offer`), or take an answer; then push the event.
    fn negotiate(
        &mut self,
        h: HandleId,
        tx: &str,
        event: Value,
        jsep: Option<&Jsep>,
        generate_offer: bool,
    ) -> Result<(), AudioBridgeError> {
        if jsep.is_none() && !generate_offer {
            self.push(h, Some(tx), event, None);
            return Ok(());
        }
        let plugin_offer = self.sessions.get(&h).is_some_and(|s| s.plugin_offer);
        let mut remote = None;
        if let Some(j) = jsep {
            if j.e2ee {
                return Err(AudioBridgeError::InvalidElement(
                    "Media encryption unsupported by this plugin".into(),
                ));
            }
            if j.kind == JsepType::Offer && plugin_offer {
                return Err(AudioBridgeError::InvalidSdp(
                    "Received an offer on a plugin-offered session".into(),
                ));
            }
            if j.kind == JsepType::Answer && !plugin_offer {
                return Err(AudioBridgeError::InvalidSdp(
                    "Received an answer when we didn't send an offer".into(),
                ));
            }
            let sd = SessionDescription::parse(&j.sdp).map_err(|e| {
                AudioBridgeError::InvalidSdp(format!("Error parsing {}: {e}", j.sdp))
            })?;
            remote = Some((j.kind, j.update, sd));
        }
        if let Some(s) = self.sessions.get_mut(&h) {
            match &remote {
                Some((JsepType::Offer, true, _)) => s.sdp_version += 1,
                Some((JsepType::Offer, false, _)) => {
                    s.sdp_version = 1;
                    s.sdp_sessid = now_us();
                }
                _ => {}
            }
        }
        let mut extmap_id: i64 = if generate_offer {
            i64::from(OFFER_LEVEL_EXT)
        } else {
            -1
        };
        if let (Some((_, _, sd)), Some(p)) = (&remote, self.participant_mut(h)) {
            if let Some(pt) = sd
                .media
                .iter()
                .flat_map(|m| m.formats_in_order())
                .find(|f| f.codec() == Codec::Opus)
                .map(|f| f.pt)
            {
                p.opus_pt = pt;
                if sd
                    .media
                    .iter()
                    .flat_map(|m| m.payloads.iter())
                    .any(|f| f.fmtp_param("useinbandfec") == Some("1"))
                {
                    p.fec = true;
                }
            }
            for m in sd.media.iter().filter(|m| m.kind == MediaKind::Audio) {
                if let Some(e) = m.extmap(RtpExtension::AudioLevel) {
                    extmap_id = i64::from(e.id);
                }
            }
            // The mixer writes the mid of the (first) audio m-line into what it sends.
            if let Some(m) = sd.media.iter().find(|m| m.kind == MediaKind::Audio) {
                p.mid.clone_from(&m.mid);
                p.mid_ext = m
                    .extmap(RtpExtension::Mid)
                    .and_then(|e| u8::try_from(e.id).ok())
                    .unwrap_or(0);
            }
        }
        if matches!(remote, Some((JsepType::Answer, _, _))) {
            self.push(h, Some(tx), event, None);
            return Ok(());
        }
        let Some(p) = self.participant(h).filter(|p| p.room.is_some()).cloned() else {
            return Err(AudioBridgeError::NotJoined(
                "Can't handle SDP (not in a room)".into(),
            ));
        };
        let room_id = p.room.clone().unwrap_or(Id::Num(0));
        let (rate, level_ext_allowed) = self.rooms.get(&room_id).map_or((16000, false), |r| {
            (r.settings.sampling_rate, r.settings.audiolevel_ext)
        });
        let (sessid, version) = self
            .sessions
            .get(&h)
            .map_or((0, 1), |s| (s.sdp_sessid, s.sdp_version.max(1)));
        let session_name = format!("AudioBridge {room_id}");
        let fmtp = format!(
            "maxplaybackrate={rate}; stereo={s}; sprop-stereo={s}; useinbandfec={f}",
            s = u8::from(p.stereo),
            f = u8::from(p.fec)
        );
        let out = match remote {
            Some((_, _, offer)) => {
                let mut sd = answer_offer(&offer, &p, &session_name, &fmtp);
                sd.origin.session_id = sessid;
                sd.origin.session_version = version;
                Jsep::new(JsepType::Answer, sd.to_sdp_string())
            }
            None => {
                let pt = match p.codec {
                    ForwardCodec::Opus => OFFER_OPUS_PT,
                    other => other.static_pt().unwrap_or(0),
                };
                let mut codec = OfferCodec::new(sdp_codec(p.codec), pt);
                codec.fmtp = (p.codec == ForwardCodec::Opus).then(|| fmtp.clone());
                let media = OfferMedia::audio("audio")
                    .direction(Direction::SendRecv)
                    .codecs(vec![codec])
                    .extensions(vec![
                        (RtpExtension::Mid, OFFER_MID_EXT),
                        (RtpExtension::AudioLevel, OFFER_LEVEL_EXT),
                    ])
                    .ssrc(p.ssrc, None)
                    .msid("janus", "janusaudio");
                let mut builder = OfferBuilder::new(sessid).session_name(session_name.clone());
                if version > 1 {
                    builder = builder.session_version(version);
                }
                let sd = builder.media(media).build();
                if let Some(p) = self.participant_mut(h) {
                    p.mid = Some("audio".to_owned());
                    p.mid_ext = OFFER_MID_EXT as u8;
                }
                if let Some(s) = self.sessions.get_mut(&h) {
                    if s.sdp_version <= 1 {
                        s.sdp_version = 1;
                    }
                }
                Jsep::new(JsepType::Offer, sd.to_sdp_string())
            }
        };
        if let Some(p) = self.participant_mut(h) {
            p.extmap_id = if extmap_id > -1 && level_ext_allowed {
                u8::try_from(extmap_id).unwrap_or(0)
            } else {
                0
            };
        }
        self.push(h, Some(tx), event, Some(out));
        Ok(())
    }

    /// `resetdecoder` (sync, on the caller's own handle).
    pub(super) fn reset_decoder(&mut self, h: Option<HandleId>) -> Result<Value, AudioBridgeError> {
        let room = h
            .and_then(|h| self.participant(h))
            .and_then(|p| p.room.clone());
        let (Some(h), Some(room)) = (h, room) else {
            return Err(AudioBridgeError::NotJoined(
                "Can't reset (not in a room)".into(),
            ));
        };
        self.media(MediaOp::ResetDecoder { room, handle: h });
        Ok(json!({"audiobridge": "success"}))
    }
}

fn quality_error() -> AudioBridgeError {
    AudioBridgeError::InvalidElement(
        "Invalid element (quality should be a positive integer between 1 and 10)".into(),
    )
}

fn loss_error() -> AudioBridgeError {
    AudioBridgeError::InvalidElement(
        "Invalid element (expected_loss should be a positive integer between 0 and 20)".into(),
    )
}

/// `volume`, `bitrate`, `quality`, `expected_loss` of `join`/`changeroom`, with Janus's
/// fallbacks and errors.
fn join_fields(
    body: &Value,
    default_bitrate: u64,
    default_loss: u64,
) -> Result<JoinFields, AudioBridgeError> {
    let volume = api::opt_u64(body, "volume").unwrap_or(100);
    let bitrate = api::opt_u64(body, "bitrate")
        .filter(|b| BITRATES.contains(b))
        .unwrap_or(default_bitrate);
    let complexity = api::opt_u64(body, "quality").unwrap_or(DEFAULT_COMPLEXITY);
    if !(1..=10).contains(&complexity) {
        return Err(quality_error());
    }
    let expected_loss = api::opt_u64(body, "expected_loss").unwrap_or(default_loss);
    if expected_loss > MAX_EXPECTED_LOSS {
        return Err(loss_error());
    }
    Ok(JoinFields {
        volume,
        bitrate,
        complexity,
        expected_loss,
    })
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1))
}

/// Answers a participant's (stripped) offer as Janus does (§4.4): the first audio m-line
/// only, with the participant's codec, mid + audio-level extensions, `sendrecv`, session
/// name `AudioBridge <room>`, Opus fmtp `maxplaybackrate=<rate>; stereo; sprop-stereo;
/// useinbandfec`; everything else (video, data, more audio) rejected.
pub fn answer_offer(
    offer: &SessionDescription,
    p: &Participant,
    session_name: &str,
    fmtp: &str,
) -> SessionDescription {
    let codec = sdp_codec(p.codec);
    let mut accepted = false;
    let local: Vec<LocalMedia> = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let accept = m.kind == MediaKind::Audio && !accepted;
            accepted |= accept;
            LocalMedia {
                mid: m.mid.clone().unwrap_or_else(|| i.to_string()),
                ssrc: accept.then_some(p.ssrc),
                codec: Some(codec),
                reject: !accept,
                ..LocalMedia::default()
            }
        })
        .collect();
    let opts = AnswerOptions {
        audio_codecs: vec![codec],
        video_codecs: Vec::new(),
        extensions: vec![RtpExtension::Mid, RtpExtension::AudioLevel],
        rtx: false,
        opus_fec: false,
        direction: Direction::SendRecv,
        simulcast: false,
        data_channels: false,
        session_name: Some(session_name.to_owned()),
        local,
        ..AnswerOptions::default()
    };
    let mut answer = sdp::answer(offer, &opts);
    if codec == Codec::Opus {
        for m in answer.media.iter_mut().filter(|m| !m.is_rejected()) {
            let first = m.formats_in_order().next().map(|f| f.pt);
            if let Some(pt) = first {
                if let Some(f) = m.payload_mut(pt) {
                    f.fmtp = Some(fmtp.to_owned());
                }
            }
        }
    }
    answer
}
