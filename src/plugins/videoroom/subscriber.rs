//! Subscribers: one PeerConnection carrying any number of publishers' streams (multistream,
//! plugins API §2.4). The plugin offers; the client answers with `start`.
//!
//! Subscriber m-lines are numbered by index (mids "0", "1"...). They are never removed: a
//! stream whose source goes away stays as an `inactive` m-line and may be reused by a later
//! subscription of the same type and codec.

use media_core::forward::{Subscription, SUBSCRIBER_DD_EXT_ID};
use media_core::rtp::ext::PlayoutDelay;
use media_core::sdp::{
    negotiated, Codec, Direction, MediaKind, OfferBuilder, OfferCodec, OfferMedia, RtpExtension,
    SessionDescription,
};
use serde_json::{json, Map, Value};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};

use super::api::{self, Id, Ty};
use super::core::{MediaOp, Session, State};
use super::errors::VideoRoomError;
use super::publisher::{apply_delays, PubStream, Publisher, StreamKind};

/// Fields of a subscriber `join` (Janus's `subscriber_parameters`).
const JOIN_PARAMS: &[api::Param] = &[
    ("streams", Ty::Array, false),
    ("private_id", Ty::PosInt, false),
    ("autoupdate", Ty::Bool, false),
    ("audio", Ty::Bool, false),
    ("video", Ty::Bool, false),
    ("data", Ty::Bool, false),
    ("offer_audio", Ty::Bool, false),
    ("offer_video", Ty::Bool, false),
    ("offer_data", Ty::Bool, false),
    ("substream", Ty::PosInt, false),
    ("temporal", Ty::PosInt, false),
    ("fallback", Ty::PosInt, false),
    ("spatial_layer", Ty::PosInt, false),
    ("temporal_layer", Ty::PosInt, false),
];

const CONFIGURE_PARAMS: &[api::Param] = &[
    ("streams", Ty::Array, false),
    ("update", Ty::Bool, false),
    ("restart", Ty::Bool, false),
    ("audio", Ty::Bool, false),
    ("video", Ty::Bool, false),
    ("data", Ty::Bool, false),
];

const CONFIGURE_STREAM_PARAMS: &[api::Param] = &[
    ("mid", Ty::Str, false),
    ("send", Ty::Bool, false),
    ("audio_active_packets", Ty::PosInt, false),
    ("substream", Ty::PosInt, false),
    ("temporal", Ty::PosInt, false),
    ("fallback", Ty::PosInt, false),
    ("spatial_layer", Ty::PosInt, false),
    ("temporal_layer", Ty::PosInt, false),
    ("min_delay", Ty::Int, false),
    ("max_delay", Ty::Int, false),
];

const REMOVE_PARAMS: &[api::Param] = &[("mid", Ty::Str, false), ("sub_mid", Ty::Str, false)];

/// Default simulcast fallback (µs) when a subscriber sets none (plugins API §0.6).
const DEFAULT_FALLBACK_US: u64 = 250_000;

/// Where a subscriber stream's media comes from: a publisher handle and its stream's mid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub publisher: HandleId,
    pub mid: String,
}

/// One m-line of a subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct SubStream {
    pub mindex: usize,
    pub mid: String,
    pub kind: StreamKind,
    pub codec: Option<Codec>,
    /// Canonical payload type (§0.5).
    pub pt: u8,
    pub h264_profile: Option<String>,
    pub vp9_profile: Option<String>,
    /// At most one for audio/video; any number for the data m-line.
    pub sources: Vec<Source>,
    pub crossrefid: Option<String>,
    pub send: bool,
    /// The client answered this m-line with something other than `inactive`.
    pub ready: bool,
    pub ssrc: u32,
    pub rtx_ssrc: u32,
    /// RTX payload type the client kept in its answer.
    pub rtx_pt: Option<u8>,
    pub substream: i32,
    pub substream_target: u8,
    pub temporal: i32,
    pub temporal_target: u8,
    pub fallback: u64,
    pub spatial_layer: i32,
    pub target_spatial_layer: i32,
    pub temporal_layer: i32,
    pub target_temporal_layer: i32,
    pub min_delay: i32,
    pub max_delay: i32,
    /// `a=msid` with `use_msid`: publisher ID and our mid.
    pub msid: Option<(String, String)>,
}

impl SubStream {
    fn reset_layers(&mut self) {
        self.substream = -1;
        self.substream_target = 2;
        self.temporal = -1;
        self.temporal_target = 2;
        self.spatial_layer = -1;
        self.target_spatial_layer = 1;
        self.temporal_layer = -1;
        self.target_temporal_layer = 2;
    }

    /// Layer overrides of a `streams` entry (`substream`, `temporal`, `fallback`, SVC).
    fn apply_layers(&mut self, s: &Value, with_fallback: bool) {
        if let Some(v) = api::opt_int(s, "substream").filter(|v| (0..=2).contains(v)) {
            self.substream_target = v as u8;
        }
        if let Some(v) = api::opt_int(s, "temporal") {
            self.temporal_target = v.clamp(0, 2) as u8;
        }
        if with_fallback {
            if let Some(v) = s.get("fallback").and_then(Value::as_u64) {
                self.fallback = v;
            }
        }
        if let Some(v) = api::opt_int(s, "spatial_layer") {
            self.target_spatial_layer = v as i32;
        }
        if let Some(v) = api::opt_int(s, "temporal_layer") {
            self.target_temporal_layer = v as i32;
        }
    }
}

/// A handle that joined as `subscriber`.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub room: Id,
    pub private_id: u64,
    pub use_msid: bool,
    pub autoupdate: bool,
    /// Needs an explicit `start` (Janus starts subscribers paused).
    pub paused: bool,
    pub kicked: bool,
    /// PeerConnection up.
    pub started: bool,
    pub streams: Vec<SubStream>,
    /// The last offer was answered (further offers may be sent at once).
    pub answered: bool,
    pub pending_offer: bool,
    pub pending_restart: bool,
    /// A publisher left while `autoupdate` was off: the next `update` renegotiates anyway.
    pub skipped_autoupdate: bool,
    pub sdp_session: u64,
    pub sdp_version: u64,
    pub last_offer: Option<SessionDescription>,
    /// Last snapshot given to the forwarding engine.
    pub last_snapshot: Option<Vec<Subscription>>,
    /// Its room was destroyed: a room created later with the same ID is not its room.
    pub orphaned: bool,
}

impl Subscriber {
    /// May receive media now (relay conditions of Janus's `relay_rtp_packet`).
    pub fn receives(&self) -> bool {
        self.started && !self.paused && !self.kicked && !self.orphaned
    }
}

fn random_ssrc() -> u32 {
    rand::random::<u32>().max(1)
}

/// Janus's `subscriber_stream_add`: a new m-line at the end, fed by `ps`.
fn new_stream(
    mindex: usize,
    p: &Publisher,
    ps: &PubStream,
    use_msid: bool,
    crossrefid: Option<&str>,
) -> SubStream {
    let mid = mindex.to_string();
    let mut s = SubStream {
        mindex,
        mid: mid.clone(),
        kind: ps.kind,
        codec: ps.codec,
        pt: ps.codec.map_or(0, super::publisher::canonical_pt),
        h264_profile: (ps.codec == Some(Codec::H264))
            .then(|| ps.h264_profile.clone())
            .flatten(),
        vp9_profile: (ps.codec == Some(Codec::Vp9))
            .then(|| ps.vp9_profile.clone())
            .flatten(),
        sources: vec![Source {
            publisher: p.handle,
            mid: ps.mid.clone(),
        }],
        crossrefid: crossrefid.map(str::to_owned),
        send: true,
        ready: false,
        ssrc: random_ssrc(),
        rtx_ssrc: random_ssrc(),
        rtx_pt: None,
        substream: -1,
        substream_target: 2,
        temporal: -1,
        temporal_target: 2,
        fallback: 0,
        spatial_layer: -1,
        target_spatial_layer: 1,
        temporal_layer: -1,
        target_temporal_layer: 2,
        min_delay: -1,
        max_delay: -1,
        msid: use_msid.then(|| (p.id.to_string(), mid)),
    };
    s.reset_layers();
    s
}

/// Publisher handle + the `streams` entry that asked for it, validated.
struct Wanted {
    publisher: HandleId,
    entry: Value,
}

impl State {
    /// Checks a `streams` list of `join`/`subscribe`: every feed must be publishing, every
    /// mid must exist, layers must be 0..=2 (Janus's order of checks).
    fn wanted_streams(&self, room: &Id, list: &[Value]) -> Result<Vec<Wanted>, VideoRoomError> {
        let string_ids = self.settings.string_ids;
        let mut out = Vec::with_capacity(list.len());
        for s in list {
            api::check(s, api::SUBSCRIBER_STREAM)?;
            api::check(s, &[api::id_param("feed", string_ids, true)])?;
            let feed = api::loose_id(s.get("feed"), string_ids);
            let publisher = self
                .participant_by_id(room, &feed)
                .filter(|h| self.publisher(*h).is_some_and(|p| p.started))
                .ok_or_else(|| VideoRoomError::NoSuchFeed(format!("No such feed ({feed})")))?;
            if let Some(mid) = api::opt_str(s, "mid") {
                if self.source(publisher, mid).is_none() {
                    return Err(VideoRoomError::NoSuchFeed(format!(
                        "No such mid '{mid}' in feed ({feed})"
                    )));
                }
            }
            api::check_layers(s)?;
            out.push(Wanted {
                publisher,
                entry: s.clone(),
            });
        }
        Ok(out)
    }

    /// `join` with `ptype: "subscriber"`: streams (or the legacy `feed`) → `attached` + offer.
    pub(super) fn join_subscriber(
        &mut self,
        h: HandleId,
        tx: &str,
        room_id: Id,
        body: &Value,
    ) -> Result<(), VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, JOIN_PARAMS)?;
        let private_id = body.get("private_id").and_then(Value::as_u64).unwrap_or(0);
        let mut list = body
            .get("streams")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let legacy = list.is_empty();
        if legacy {
            api::check(body, &[api::id_param("feed", string_ids, true)])?;
            let feed = body.get("feed").cloned().unwrap_or(Value::Null);
            list = vec![json!({ "feed": feed })];
        }
        let use_msid = api::is_true(body, "use_msid");
        let autoupdate = api::opt_bool(body, "autoupdate").unwrap_or(true);
        let wanted = self.wanted_streams(&room_id, &list)?;
        let room = self.room(&room_id)?;
        let owner = if room.settings.require_pvtid {
            let owner = u32::try_from(private_id)
                .ok()
                .and_then(|p| room.private_ids.get(&p).copied())
                .filter(|_| private_id != 0);
            Some(owner.ok_or_else(|| {
                VideoRoomError::Unauthorized(
                    "Unauthorized (this room requires a valid private_id)".into(),
                )
            })?)
        } else {
            None
        };
        let allow = |kind: StreamKind| {
            let key = match kind {
                StreamKind::Audio => "offer_audio",
                StreamKind::Video => "offer_video",
                StreamKind::Data => "offer_data",
            };
            !legacy || api::opt_bool(body, key).unwrap_or(true)
        };
        let mut streams: Vec<SubStream> = Vec::new();
        for w in &wanted {
            let Some(p) = self.publisher(w.publisher) else {
                continue;
            };
            let chosen: Vec<&PubStream> = match api::opt_str(&w.entry, "mid") {
                Some(mid) => p.stream_by_mid(mid).into_iter().collect(),
                None => p.streams.iter().collect(),
            };
            let crossrefid = api::opt_str(&w.entry, "crossrefid");
            for ps in chosen {
                if ps.disabled || !allow(ps.kind) {
                    continue;
                }
                if ps.kind == StreamKind::Data {
                    if let Some(d) = streams.iter_mut().find(|s| s.kind == StreamKind::Data) {
                        if !d
                            .sources
                            .iter()
                            .any(|x| x.publisher == p.handle && x.mid == ps.mid)
                        {
                            d.sources.push(Source {
                                publisher: p.handle,
                                mid: ps.mid.clone(),
                            });
                        }
                        continue;
                    }
                }
                let mut s = new_stream(streams.len(), p, ps, use_msid, crossrefid);
                if ps.kind == StreamKind::Video {
                    s.apply_layers(&w.entry, api::opt_str(&w.entry, "mid").is_some());
                    apply_delays(&w.entry, &mut s.min_delay, &mut s.max_delay);
                }
                streams.push(s);
            }
        }
        if streams.is_empty() {
            return Err(VideoRoomError::InvalidSdp(
                "Can't offer an SDP with no stream".into(),
            ));
        }
        if let Some(o) = owner.and_then(|o| self.publisher_mut(o)) {
            o.subscriptions.push(h);
        }
        self.sessions.insert(
            h,
            Session::Subscriber(Box::new(Subscriber {
                room: room_id.clone(),
                private_id,
                use_msid,
                autoupdate,
                paused: true,
                kicked: false,
                started: false,
                streams,
                answered: false,
                pending_offer: false,
                pending_restart: false,
                skipped_autoupdate: false,
                sdp_session: api::random_js_safe(),
                sdp_version: 0,
                last_offer: None,
                last_snapshot: None,
                orphaned: false,
            })),
        );
        let mut event = Map::new();
        event.insert("videoroom".into(), "attached".into());
        event.insert("room".into(), room_id.to_json());
        if legacy {
            // Janus names the (last) feed and its display at top level for old clients.
            let first = self.subscriber(h).and_then(|s| s.streams.first()).cloned();
            if let Some((p, _)) = first
                .as_ref()
                .and_then(|s| s.sources.first())
                .and_then(|src| self.source(src.publisher, &src.mid))
            {
                event.insert("id".into(), p.id.to_json());
                event.insert("warning".into(), "deprecated_api".into());
                if let Some(d) = &p.display {
                    event.insert("display".into(), d.clone().into());
                }
            }
        }
        event.insert("streams".into(), self.summary(h));
        let offer = self.subscriber_offer(h, false);
        self.push(h, Some(tx), Value::Object(event), offer);
        Ok(())
    }

    /// Requests on a subscriber handle.
    pub(super) fn subscriber_request(
        &mut self,
        h: HandleId,
        tx: &str,
        request: &str,
        original: &str,
        body: &Value,
        jsep: Option<&Jsep>,
    ) -> Result<(), VideoRoomError> {
        let room_id = self
            .subscriber(h)
            .filter(|s| !s.orphaned)
            .map(|s| s.room.clone())
            .filter(|r| self.rooms.contains_key(r))
            .ok_or(VideoRoomError::RoomGone)?;
        let room_json = room_id.to_json();
        let event = match request {
            "join" | "joinandconfigure" => {
                return Err(VideoRoomError::AlreadyJoined(
                    "Already in as a subscriber on this handle",
                ))
            }
            "start" => {
                let resume = self.subscriber(h).is_some_and(|s| s.paused) && jsep.is_none();
                if resume {
                    self.keyframe_from_sources(h);
                }
                if let Some(s) = self.subscriber_mut(h) {
                    s.paused = false;
                }
                Some(json!({"videoroom": "event", "room": room_json, "started": "ok"}))
            }
            "pause" => {
                if let Some(s) = self.subscriber_mut(h) {
                    s.paused = true;
                }
                Some(json!({"videoroom": "event", "room": room_json, "paused": "ok"}))
            }
            "subscribe" | "unsubscribe" | "update" => {
                self.update_subscription(h, tx, request, &room_id, body)?;
                None
            }
            "configure" => {
                self.configure_subscriber(h, tx, &room_id, body, jsep.is_some_and(|j| j.update))?
            }
            "switch" => self.switch(h, tx, &room_id, body)?,
            "leave" => {
                self.subscriber_hangup(h);
                self.out_close_pc(h);
                if let Some(s) = self.subscriber_mut(h) {
                    s.started = false;
                }
                Some(json!({"videoroom": "event", "room": room_json, "left": "ok"}))
            }
            _ => return Err(VideoRoomError::UnknownRequest(original.to_owned())),
        };
        match jsep {
            None => {
                if let Some(ev) = event {
                    self.push(h, Some(tx), ev, None);
                }
            }
            Some(j) if j.kind == JsepType::Answer => {
                if let Some(ev) = event {
                    self.push(h, Some(tx), ev, None);
                }
                self.answered(h, j);
            }
            Some(_) => {
                return Err(VideoRoomError::InvalidSdpType(
                    "Only publishers send offers".into(),
                ))
            }
        }
        Ok(())
    }

    /// A PLI for every video source of this subscriber (resume after pause).
    fn keyframe_from_sources(&mut self, h: HandleId) {
        let Some(s) = self.subscriber(h) else { return };
        let room = s.room.clone();
        let mut pubs: Vec<HandleId> = s
            .streams
            .iter()
            .filter(|st| st.kind == StreamKind::Video)
            .flat_map(|st| st.sources.iter().map(|x| x.publisher))
            .collect();
        pubs.dedup();
        for p in pubs {
            self.media(MediaOp::RequestKeyframe {
                room: room.clone(),
                publisher: p,
            });
        }
    }

    /// The client answered our offer: mark answered m-lines ready, keep the RTX it accepted,
    /// and send a deferred offer if one is pending (as an unsolicited `updated`).
    fn answered(&mut self, h: HandleId, answer: &Jsep) {
        let parsed = SessionDescription::parse(&answer.sdp).ok();
        let Some(s) = self.subscriber_mut(h) else {
            return;
        };
        if let (Some(a), Some(offer)) = (parsed.as_ref(), s.last_offer.as_ref()) {
            let neg = negotiated(offer, a);
            for st in &mut s.streams {
                let Some(m) = a.media.get(st.mindex) else {
                    continue;
                };
                if !m.is_rejected() && m.direction() != Direction::Inactive {
                    st.ready = true;
                }
                st.rtx_pt = neg
                    .media
                    .get(st.mindex)
                    .and_then(|n| n.rtx_pt(st.pt))
                    .filter(|_| st.kind == StreamKind::Video);
            }
        }
        if s.pending_offer {
            s.pending_offer = false;
            let restart = std::mem::take(&mut s.pending_restart);
            let room = s.room.clone();
            let ev =
                json!({"videoroom": "updated", "room": room.to_json(), "streams": self.summary(h)});
            let offer = self.subscriber_offer(h, restart);
            self.push(h, None, ev, offer);
        } else {
            s.answered = true;
        }
    }

    /// `subscribe`, `unsubscribe` and `update` (unsubscribe first, then subscribe).
    fn update_subscription(
        &mut self,
        h: HandleId,
        tx: &str,
        request: &str,
        room_id: &Id,
        body: &Value,
    ) -> Result<(), VideoRoomError> {
        let string_ids = self.settings.string_ids;
        let update = request == "update";
        let subscribe = update || request == "subscribe";
        let unsubscribe = update || request == "unsubscribe";
        if update {
            api::check(
                body,
                &[
                    ("subscribe", Ty::Array, false),
                    ("unsubscribe", Ty::Array, false),
                ],
            )?;
        } else {
            api::check(body, &[("streams", Ty::Array, true)])?;
        }
        let field = |name: &'static str| body.get(if update { name } else { "streams" });
        let sub_list = if subscribe {
            field("subscribe").and_then(Value::as_array).cloned()
        } else {
            None
        };
        if sub_list.as_ref().is_some_and(Vec::is_empty) {
            return Err(VideoRoomError::InvalidElement(
                "Empty subscription list".into(),
            ));
        }
        let unsub_list = if unsubscribe {
            field("unsubscribe").and_then(Value::as_array).cloned()
        } else {
            None
        };
        if unsub_list.as_ref().is_some_and(Vec::is_empty) {
            return Err(VideoRoomError::InvalidElement(
                "Empty unsubscription list".into(),
            ));
        }
        for s in unsub_list.iter().flatten() {
            api::check(s, REMOVE_PARAMS)?;
            api::check(s, &[api::id_param("feed", string_ids, false)])?;
        }
        if update && sub_list.is_none() && unsub_list.is_none() {
            return Err(VideoRoomError::MissingText(
                "At least one of either 'subscribe' or 'unsubscribe' must be present".into(),
            ));
        }
        let wanted = match &sub_list {
            Some(l) => self.wanted_streams(room_id, l)?,
            None => Vec::new(),
        };
        let mut changes = 0usize;
        for s in unsub_list.iter().flatten() {
            changes += self.unsubscribe_one(h, room_id, s);
        }
        for w in &wanted {
            changes += self.subscribe_one(h, w);
        }
        let Some(sub) = self.subscriber_mut(h) else {
            return Ok(());
        };
        if std::mem::take(&mut sub.skipped_autoupdate) {
            changes += 1;
        }
        let room_json = room_id.to_json();
        if changes == 0 {
            self.push(
                h,
                Some(tx),
                json!({"videoroom": "updated", "room": room_json}),
                None,
            );
        } else if !sub.answered {
            sub.pending_offer = true;
            self.push(
                h,
                Some(tx),
                json!({"videoroom": "updating", "room": room_json}),
                None,
            );
        } else {
            let ev = json!({"videoroom": "updated", "room": room_json, "streams": self.summary(h)});
            let offer = self.subscriber_offer(h, false);
            self.push(h, Some(tx), ev, offer);
        }
        Ok(())
    }

    /// Removes what one `unsubscribe` entry names; returns how many a/v m-lines changed.
    fn unsubscribe_one(&mut self, h: HandleId, room: &Id, entry: &Value) -> usize {
        let string_ids = self.settings.string_ids;
        let feed = entry
            .get("feed")
            .map(|v| api::loose_id(Some(v), string_ids))
            .and_then(|f| self.participant_by_id(room, &f))
            .filter(|p| self.publisher(*p).is_some_and(|x| x.started));
        let sub_mid = api::opt_str(entry, "sub_mid");
        let mid = api::opt_str(entry, "mid");
        let Some(s) = self.subscriber_mut(h) else {
            return 0;
        };
        let mut changes = 0;
        if let Some(sub_mid) = sub_mid {
            if let Some(st) = s.streams.iter_mut().find(|st| st.mid == sub_mid) {
                st.sources.clear();
                if st.kind != StreamKind::Data {
                    st.ready = false;
                }
                changes += 1;
            }
            return changes;
        }
        let Some(feed) = feed else { return 0 };
        for st in &mut s.streams {
            let before = st.sources.len();
            st.sources.retain(|src| {
                src.publisher != feed || mid.is_some_and(|m| !m.eq_ignore_ascii_case(&src.mid))
            });
            if st.sources.len() != before && st.kind != StreamKind::Data {
                st.ready = false;
                changes += 1;
            }
        }
        changes
    }

    /// Adds what one validated `subscribe` entry asks for, reusing inactive m-lines of the
    /// same type and codec first; returns how many m-lines changed.
    fn subscribe_one(&mut self, h: HandleId, w: &Wanted) -> usize {
        let Some(p) = self.publisher(w.publisher).cloned() else {
            return 0;
        };
        let chosen: Vec<PubStream> = match api::opt_str(&w.entry, "mid") {
            Some(mid) => p.stream_by_mid(mid).cloned().into_iter().collect(),
            None => p.streams.clone(),
        };
        let crossrefid = api::opt_str(&w.entry, "crossrefid");
        let single = api::opt_str(&w.entry, "mid").is_some();
        let Some(s) = self.subscriber_mut(h) else {
            return 0;
        };
        let mut changes = 0;
        for ps in chosen.iter().filter(|ps| !ps.disabled) {
            let source = Source {
                publisher: p.handle,
                mid: ps.mid.clone(),
            };
            if ps.kind == StreamKind::Data {
                if let Some(d) = s.streams.iter_mut().find(|x| x.kind == StreamKind::Data) {
                    if !d.sources.contains(&source) {
                        d.sources.push(source);
                    }
                    continue;
                }
            }
            let reuse = s.streams.iter().position(|x| {
                x.sources.is_empty()
                    && x.kind == ps.kind
                    && (x.kind == StreamKind::Data || x.codec == ps.codec)
            });
            let idx = match reuse {
                Some(i) => {
                    let st = &mut s.streams[i];
                    st.sources = vec![source];
                    st.send = true;
                    st.reset_layers();
                    st.crossrefid = crossrefid.map(str::to_owned);
                    if s.use_msid {
                        st.msid = Some((p.id.to_string(), st.mid.clone()));
                    }
                    i
                }
                None => {
                    let st = new_stream(s.streams.len(), &p, ps, s.use_msid, crossrefid);
                    s.streams.push(st);
                    s.streams.len() - 1
                }
            };
            changes += 1;
            let st = &mut s.streams[idx];
            if single {
                if let Some(send) = api::opt_bool(&w.entry, "send") {
                    st.send = send;
                }
            }
            if ps.kind == StreamKind::Video {
                st.apply_layers(&w.entry, true);
                apply_delays(&w.entry, &mut st.min_delay, &mut st.max_delay);
            }
        }
        changes
    }

    /// Subscriber `configure`: per-stream `send`, layers, delays; `update`/`restart` re-offer.
    fn configure_subscriber(
        &mut self,
        h: HandleId,
        tx: &str,
        room_id: &Id,
        body: &Value,
        sdp_update: bool,
    ) -> Result<Option<Value>, VideoRoomError> {
        api::check(body, CONFIGURE_PARAMS)?;
        if self.subscriber(h).is_some_and(|s| s.kicked) {
            return Err(VideoRoomError::Unauthorized(
                "Unauthorized, you have been kicked".into(),
            ));
        }
        let streams = match body.get("streams") {
            Some(s) => s.as_array().cloned().unwrap_or_default(),
            None => {
                let mut one = Map::new();
                for k in [
                    "mid",
                    "send",
                    "spatial_layer",
                    "substream",
                    "temporal_layer",
                    "temporal",
                    "fallback",
                    "min_delay",
                    "max_delay",
                ] {
                    if let Some(v) = body.get(k) {
                        one.insert(k.into(), v.clone());
                    }
                }
                vec![Value::Object(one)]
            }
        };
        let mut toggles = [
            api::opt_bool(body, "audio"),
            api::opt_bool(body, "video"),
            api::opt_bool(body, "data"),
        ];
        for s in &streams {
            api::check(s, CONFIGURE_STREAM_PARAMS)?;
            let mid = api::opt_str(s, "mid");
            match mid {
                None if streams.len() > 1 => {
                    return Err(VideoRoomError::InvalidElement(
                        "Invalid value (mid can't be null in a streams array)".into(),
                    ))
                }
                Some(m)
                    if !self
                        .subscriber(h)
                        .is_some_and(|x| x.streams.iter().any(|st| st.mid == m)) =>
                {
                    return Err(VideoRoomError::NoSuchFeed(format!(
                        "No such mid '{m}' in subscription"
                    )))
                }
                Some(_) => toggles = [None, None, None],
                None => {}
            }
            api::check_layers(s)?;
        }
        let room_json = room_id.to_json();
        let mut notes = Vec::new();
        let mut keyframes = Vec::new();
        let simulcast_of = |st: &SubStream| -> bool {
            st.kind == StreamKind::Video
                && st
                    .sources
                    .first()
                    .and_then(|src| self.source(src.publisher, &src.mid))
                    .is_some_and(|(_, ps)| ps.simulcast())
        };
        let flags: Vec<bool> = self
            .subscriber(h)
            .map(|s| s.streams.iter().map(simulcast_of).collect())
            .unwrap_or_default();
        let Some(sub) = self.subscriber_mut(h) else {
            return Ok(None);
        };
        for s in &streams {
            let mid = api::opt_str(s, "mid");
            let send = api::opt_bool(s, "send");
            for (st, simulcast) in sub.streams.iter_mut().zip(flags.iter().copied()) {
                let source = st.sources.first().map(|x| x.publisher);
                match st.kind {
                    StreamKind::Audio => {
                        if let Some(v) = toggles[0] {
                            st.send = v;
                        }
                    }
                    StreamKind::Video => {
                        if let Some(v) = toggles[1] {
                            st.send = v;
                            if v {
                                keyframes.extend(source);
                            }
                        }
                    }
                    StreamKind::Data => {
                        if let Some(v) = toggles[2] {
                            st.send = v;
                        }
                    }
                }
                if mid.is_some_and(|m| !m.eq_ignore_ascii_case(&st.mid)) {
                    continue;
                }
                if let Some(v) = send {
                    st.send = v;
                    if v && st.kind == StreamKind::Video {
                        keyframes.extend(source);
                    }
                }
                if st.kind != StreamKind::Video {
                    continue;
                }
                if simulcast {
                    if let Some(t) = api::opt_int(s, "substream").filter(|v| (0..=2).contains(v)) {
                        st.substream_target = t as u8;
                        if i64::from(st.substream) == t {
                            notes.push(json!({"videoroom": "event", "room": room_json.clone(),
                                              "mid": st.mid, "substream": st.substream}));
                        }
                    }
                    if let Some(t) =
                        api::opt_int(s, "temporal").filter(|_| st.codec == Some(Codec::Vp8))
                    {
                        st.temporal_target = t.clamp(0, 2) as u8;
                        if i64::from(st.temporal) == t {
                            notes.push(json!({"videoroom": "event", "room": room_json.clone(),
                                              "mid": st.mid, "temporal": st.temporal}));
                        }
                    }
                    if let Some(f) = s.get("fallback").and_then(Value::as_u64) {
                        st.fallback = f;
                    }
                } else if matches!(st.codec, Some(Codec::Vp9 | Codec::Av1)) {
                    // VP9 / AV1 SVC targets (the engine drops the layers above them).
                    if let Some(t) =
                        api::opt_int(s, "spatial_layer").filter(|v| (0..=2).contains(v))
                    {
                        st.target_spatial_layer = t as i32;
                        if i64::from(st.spatial_layer) == t {
                            notes.push(json!({"videoroom": "event", "room": room_json.clone(),
                                              "mid": st.mid, "spatial_layer": st.spatial_layer}));
                        }
                    }
                    if let Some(t) =
                        api::opt_int(s, "temporal_layer").filter(|v| (0..=2).contains(v))
                    {
                        st.target_temporal_layer = t as i32;
                        if i64::from(st.temporal_layer) == t {
                            notes.push(json!({"videoroom": "event", "room": room_json.clone(),
                                              "mid": st.mid, "temporal_layer": st.temporal_layer}));
                        }
                    }
                }
                apply_delays(s, &mut st.min_delay, &mut st.max_delay);
            }
        }
        let restart = api::is_true(body, "restart");
        let reoffer = sdp_update || restart || api::is_true(body, "update");
        let answered = sub.answered;
        if reoffer && !answered {
            sub.pending_offer = true;
            sub.pending_restart = true;
        }
        keyframes.dedup();
        for p in keyframes {
            self.media(MediaOp::RequestKeyframe {
                room: room_id.clone(),
                publisher: p,
            });
        }
        for n in notes {
            self.push(h, None, n, None);
        }
        let event = json!({"videoroom": "event", "room": room_json, "configured": "ok"});
        if reoffer {
            if answered {
                let offer = self.subscriber_offer(h, restart);
                self.push(h, Some(tx), event, offer);
            }
            // Deferred: the offer follows the pending answer, as Janus does (no event now).
            return Ok(None);
        }
        Ok(Some(event))
    }

    /// `switch`: re-point m-lines to other publishers' streams of the same type and codec,
    /// without renegotiation unless an inactive m-line gets a source.
    fn switch(
        &mut self,
        h: HandleId,
        tx: &str,
        room_id: &Id,
        body: &Value,
    ) -> Result<Option<Value>, VideoRoomError> {
        let string_ids = self.settings.string_ids;
        api::check(body, &[("streams", Ty::Array, false)])?;
        let mut list = body
            .get("streams")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if list.is_empty() {
            // Legacy form: switch every compatible m-line to the streams of one publisher.
            let Some(feed_v) =
                body.get("feed")
                    .filter(|v| if string_ids { v.is_string() } else { true })
            else {
                return Err(VideoRoomError::MissingText(
                    "At least one between 'streams' and 'feed' must be specified".into(),
                ));
            };
            let feed = api::loose_id(Some(feed_v), string_ids);
            let p = self
                .participant_by_id(room_id, &feed)
                .filter(|x| self.publisher(*x).is_some_and(|p| p.started))
                .and_then(|x| self.publisher(x))
                .ok_or_else(|| VideoRoomError::NoSuchFeed(format!("No such feed ({feed})")))?;
            let sub = self.subscriber(h).ok_or(VideoRoomError::RoomGone)?;
            let mut used = Vec::new();
            for ps in &p.streams {
                if let Some(st) = sub.streams.iter().find(|st| {
                    st.kind == ps.kind
                        && st.kind != StreamKind::Data
                        && st.codec == ps.codec
                        && !used.contains(&st.mindex)
                }) {
                    used.push(st.mindex);
                    list.push(json!({"feed": p.id.to_json(), "mid": ps.mid, "sub_mid": st.mid}));
                }
            }
        }
        if list.is_empty() {
            return Err(VideoRoomError::InvalidElement("Empty switch list".into()));
        }
        let mut targets = Vec::with_capacity(list.len());
        for s in &list {
            api::check(s, &[("mid", Ty::Str, true), ("sub_mid", Ty::Str, true)])?;
            api::check(s, &[api::id_param("feed", string_ids, true)])?;
            let feed = api::loose_id(s.get("feed"), string_ids);
            let publisher = self
                .participant_by_id(room_id, &feed)
                .filter(|x| self.publisher(*x).is_some_and(|p| p.started))
                .ok_or_else(|| VideoRoomError::NoSuchFeed(format!("No such feed ({feed})")))?;
            let mid = api::opt_str(s, "mid").unwrap_or_default();
            if self.source(publisher, mid).is_none() {
                return Err(VideoRoomError::NoSuchFeed(format!(
                    "No such mid '{mid}' in feed ({feed})"
                )));
            }
            let sub_mid = api::opt_str(s, "sub_mid").unwrap_or_default();
            targets.push((publisher, mid.to_owned(), sub_mid.to_owned()));
        }
        let mut changes = 0usize;
        let mut renegotiate = false;
        let mut keyframes = Vec::new();
        for (publisher, mid, sub_mid) in targets {
            let Some((p, ps)) = self.source(publisher, &mid) else {
                continue;
            };
            let (kind, codec, pid) = (ps.kind, ps.codec, p.id.to_string());
            let Some(sub) = self.subscriber_mut(h) else {
                break;
            };
            let use_msid = sub.use_msid;
            let Some(st) = sub.streams.iter_mut().find(|x| x.mid == sub_mid) else {
                continue;
            };
            let source = Source {
                publisher,
                mid: mid.clone(),
            };
            if st.sources.contains(&source) || st.kind != kind || st.codec != codec {
                continue;
            }
            changes += 1;
            if st.sources.is_empty() {
                renegotiate = true;
            }
            st.sources = vec![source];
            st.send = true;
            st.reset_layers();
            if use_msid {
                st.msid = Some((pid, st.mid.clone()));
            }
            keyframes.push(publisher);
        }
        keyframes.dedup();
        for p in keyframes {
            self.media(MediaOp::RequestKeyframe {
                room: room_id.clone(),
                publisher: p,
            });
        }
        let room_json = room_id.to_json();
        let event = json!({"videoroom": "event", "switched": "ok", "room": room_json,
                           "changes": changes, "streams": self.summary(h)});
        if renegotiate {
            // Janus sends the renegotiation first, then the `switched` event.
            let answered = self.subscriber(h).is_some_and(|s| s.answered);
            if answered {
                let ev =
                    json!({"videoroom": "updated", "room": room_json, "streams": self.summary(h)});
                let offer = self.subscriber_offer(h, false);
                self.push(h, Some(tx), ev, offer);
            } else if let Some(s) = self.subscriber_mut(h) {
                s.pending_offer = true;
            }
        }
        Ok(Some(event))
    }

    /// A subscriber's PeerConnection went away: its streams go too (Janus clears them).
    pub(super) fn subscriber_hangup(&mut self, h: HandleId) {
        let Some(s) = self.subscriber_mut(h) else {
            return;
        };
        s.paused = true;
        s.answered = false;
        s.pending_offer = false;
        s.pending_restart = false;
        s.started = false;
        s.streams.clear();
        s.last_offer = None;
        let had = s.last_snapshot.take().is_some();
        let room = s.room.clone();
        if had {
            self.media(MediaOp::RemoveSubscriber { room, handle: h });
        }
    }

    /// A publisher's streams are gone: every m-line fed by it becomes inactive, and affected
    /// subscribers are renegotiated (`autoupdate`) or marked for the next `update`.
    pub(super) fn drop_source(&mut self, publisher: HandleId) {
        let mut affected = Vec::new();
        for (h, s) in self.sessions.iter_mut() {
            let Session::Subscriber(s) = s else { continue };
            let mut av = false;
            for st in &mut s.streams {
                let before = st.sources.len();
                st.sources.retain(|x| x.publisher != publisher);
                if st.sources.len() != before && st.kind != StreamKind::Data {
                    st.ready = false;
                    av = true;
                }
            }
            if av {
                affected.push(*h);
            }
        }
        for h in affected {
            let room_alive = self
                .subscriber(h)
                .is_some_and(|s| self.rooms.contains_key(&s.room));
            let Some(s) = self.subscriber_mut(h) else {
                continue;
            };
            if !s.autoupdate || !room_alive {
                s.skipped_autoupdate = true;
            } else if !s.answered {
                s.pending_offer = true;
            } else {
                let room = s.room.clone();
                let ev = json!({"videoroom": "updated", "room": room.to_json(), "streams": self.summary(h)});
                let offer = self.subscriber_offer(h, false);
                self.push(h, None, ev, offer);
            }
        }
    }

    /// The `streams` summary of `attached`/`updated`/`switched` events.
    pub(super) fn summary(&self, h: HandleId) -> Value {
        let Some(s) = self.subscriber(h) else {
            return Value::Array(Vec::new());
        };
        let string_ids = self.settings.string_ids;
        let list = s
            .streams
            .iter()
            .map(|st| {
                let first = st
                    .sources
                    .first()
                    .and_then(|src| self.source(src.publisher, &src.mid));
                let mut m = Map::new();
                m.insert("type".into(), st.kind.as_str().into());
                m.insert(
                    "active".into(),
                    (first.is_some() || st.kind == StreamKind::Data).into(),
                );
                m.insert("mindex".into(), st.mindex.into());
                m.insert("mid".into(), st.mid.clone().into());
                if let Some(c) = &st.crossrefid {
                    m.insert("crossrefid".into(), c.clone().into());
                }
                m.insert("ready".into(), st.ready.into());
                m.insert("send".into(), st.send.into());
                let Some((p, ps)) = first else {
                    return Value::Object(m);
                };
                if st.kind == StreamKind::Data {
                    let ids: Vec<Value> = st
                        .sources
                        .iter()
                        .filter_map(|src| self.publisher(src.publisher))
                        .map(|p| {
                            if string_ids {
                                Value::from(p.id.to_string())
                            } else {
                                p.id.to_json()
                            }
                        })
                        .collect();
                    m.insert("sources".into(), st.sources.len().into());
                    m.insert("source_ids".into(), Value::Array(ids));
                    return Value::Object(m);
                }
                m.insert("feed_id".into(), p.id.to_json());
                if let Some(d) = &p.display {
                    m.insert("feed_display".into(), d.clone().into());
                }
                m.insert("feed_mid".into(), ps.mid.clone().into());
                if let Some(d) = &ps.description {
                    m.insert("feed_description".into(), d.clone().into());
                }
                if let Some(c) = st.codec {
                    m.insert("codec".into(), c.janus_name().into());
                }
                if st.kind == StreamKind::Video {
                    if let (Some(Codec::H264), Some(pr)) = (st.codec, &st.h264_profile) {
                        m.insert("h264-profile".into(), pr.clone().into());
                    }
                    if let (Some(Codec::Vp9), Some(pr)) = (st.codec, &st.vp9_profile) {
                        m.insert("vp9-profile".into(), pr.clone().into());
                    }
                    if st.min_delay > -1 && st.max_delay > -1 {
                        m.insert(
                            "playout-delay".into(),
                            json!({"min-delay": st.min_delay, "max-delay": st.max_delay}),
                        );
                    }
                }
                if ps.simulcast() {
                    let mut sc = Map::new();
                    sc.insert("substream".into(), st.substream.into());
                    sc.insert("substream-target".into(), st.substream_target.into());
                    sc.insert("temporal-layer".into(), st.temporal.into());
                    sc.insert("temporal-layer-target".into(), st.temporal_target.into());
                    if st.fallback > 0 {
                        sc.insert("fallback".into(), st.fallback.into());
                    }
                    m.insert("simulcast".into(), Value::Object(sc));
                }
                Value::Object(m)
            })
            .collect();
        Value::Array(list)
    }

    /// Builds and records a new offer for the subscriber's current m-lines (§2.4): session
    /// `VideoRoom <room>`, one codec per m-line at its canonical PT, RTX for video,
    /// `sendonly` or `inactive`, Janus's extension IDs, one data m-line.
    pub(super) fn subscriber_offer(&mut self, h: HandleId, restart: bool) -> Option<Jsep> {
        let s = self.subscriber(h)?;
        let twcc = self
            .rooms
            .get(&s.room)
            .is_none_or(|r| r.settings.transport_wide_cc_ext);
        let mut b = OfferBuilder::new(s.sdp_session)
            .session_name(format!("VideoRoom {}", s.room))
            .session_version(s.sdp_version + 1);
        for st in &s.streams {
            let live = st
                .sources
                .first()
                .and_then(|src| self.source(src.publisher, &src.mid))
                .filter(|(_, ps)| !ps.disabled)
                .map(|(_, ps)| ps);
            if st.kind == StreamKind::Data {
                b = b.data(st.mid.clone(), false);
                continue;
            }
            let Some(codec) = st.codec else {
                b = b.rejected(
                    if st.kind == StreamKind::Audio {
                        MediaKind::Audio
                    } else {
                        MediaKind::Video
                    },
                    st.mid.clone(),
                );
                continue;
            };
            let mut oc = OfferCodec::new(codec, st.pt);
            let mut exts = vec![(RtpExtension::Mid, 4)];
            let mut m = if st.kind == StreamKind::Audio {
                oc.fmtp = live.and_then(opus_fmtp).filter(|_| codec == Codec::Opus);
                if live.is_some_and(|ps| ps.audio_level_ext.is_some()) {
                    exts.push((RtpExtension::AudioLevel, 1));
                }
                OfferMedia::audio(st.mid.clone())
            } else {
                oc.fmtp = video_fmtp(codec, st);
                oc = oc.with_rtx(rtx_pt_for(st.pt));
                if live.is_some_and(|ps| ps.video_orient_ext.is_some()) {
                    exts.push((RtpExtension::VideoOrientation, 13));
                }
                if live.is_some_and(|ps| ps.playout_delay_ext.is_some()) {
                    exts.push((RtpExtension::PlayoutDelay, 12));
                }
                if twcc {
                    exts.push((RtpExtension::TransportCc, 3));
                }
                if codec == Codec::Av1 && live.is_some_and(|ps| ps.dd_ext.is_some()) {
                    exts.push((
                        RtpExtension::DependencyDescriptor,
                        u16::from(SUBSCRIBER_DD_EXT_ID),
                    ));
                }
                exts.push((RtpExtension::AbsSendTime, 2));
                OfferMedia::video(st.mid.clone())
            };
            m = m
                .codecs(vec![oc])
                .extensions(exts)
                .direction(if live.is_some() {
                    Direction::SendOnly
                } else {
                    Direction::Inactive
                })
                .ssrc(st.ssrc, Some(st.rtx_ssrc));
            if let (Some((stream, track)), Some(_)) = (&st.msid, live) {
                m = m.msid(stream.clone(), track.clone());
            }
            b = b.media(m);
        }
        let sd = b.build();
        let text = sd.to_sdp_string();
        let s = self.subscriber_mut(h)?;
        s.sdp_version += 1;
        s.answered = false;
        s.last_offer = Some(sd);
        let mut jsep = Jsep::new(JsepType::Offer, text);
        jsep.restart = restart;
        Some(jsep)
    }

    /// The forwarding engine's view of a subscriber: its audio/video m-lines and what feeds
    /// them, with every relay condition folded into `send`.
    pub(super) fn snapshot(&self, h: HandleId) -> Vec<Subscription> {
        let Some(s) = self.subscriber(h) else {
            return Vec::new();
        };
        let receives = s.receives();
        s.streams
            .iter()
            .filter(|st| st.kind != StreamKind::Data)
            .map(|st| {
                let src = st.sources.first().and_then(|x| {
                    let (p, ps) = self.source(x.publisher, &x.mid)?;
                    Some((x.publisher, p, ps))
                });
                let source = src.and_then(|(ph, _, ps)| Some((ph.0, ps.rtp_index?)));
                // VP9 and AV1 on one SSRC: the layers are in the payload descriptor or the
                // dependency descriptor.
                let svc = src.is_some_and(|(_, _, ps)| {
                    matches!(ps.codec, Some(Codec::Vp9 | Codec::Av1)) && ps.layers <= 1
                });
                let flowing = src.is_some_and(|(_, p, ps)| {
                    p.started
                        && p.room.is_some()
                        && !p.kicked
                        && ps.active
                        && !ps.muted
                        && !ps.disabled
                });
                Subscription {
                    sub_index: st.mindex,
                    source,
                    ssrc: st.ssrc,
                    rtx_ssrc: st.rtx_pt.map(|_| st.rtx_ssrc),
                    pt: st.pt,
                    rtx_pt: st.rtx_pt,
                    send: receives && st.send && st.ready && flowing,
                    // VP9/AV1 SVC (one layer, layer indices in the descriptor): the engine
                    // reads these as the spatial/temporal layer targets.
                    substream_target: if svc {
                        st.target_spatial_layer.clamp(0, 2) as u8
                    } else {
                        st.substream_target
                    },
                    temporal_target: if svc {
                        st.target_temporal_layer.clamp(0, 2) as u8
                    } else {
                        st.temporal_target
                    },
                    fallback_us: if st.fallback == 0 {
                        DEFAULT_FALLBACK_US
                    } else {
                        st.fallback
                    },
                    playout_delay: src.and_then(|(_, _, ps)| playout_delay(st, ps)),
                }
            })
            .collect()
    }
}

/// The playout delay the engine writes on a subscriber m-line, as Janus decides it: the
/// subscriber stream's `min_delay`/`max_delay` when set, else the publisher stream's (which
/// Janus stamps on the published packets), else none (the publisher's own value, if it sent
/// one, is relayed). Only when the publisher negotiated the extension: that is when our
/// offer to the subscriber carries it (`subscriber_offer`).
fn playout_delay(st: &SubStream, ps: &PubStream) -> Option<PlayoutDelay> {
    ps.playout_delay_ext?;
    let set = |min: i32, max: i32| {
        (min > -1 && max > -1).then(|| PlayoutDelay {
            min: u16::try_from(min).unwrap_or(u16::MAX),
            max: u16::try_from(max).unwrap_or(u16::MAX),
        })
    };
    set(st.min_delay, st.max_delay).or_else(|| set(ps.min_delay, ps.max_delay))
}

/// RTX payload type offered next to a video codec's canonical PT.
fn rtx_pt_for(pt: u8) -> u8 {
    pt.saturating_add(1).min(127)
}

/// Opus parameters copied from the publisher's stream (FEC, DTX, stereo).
fn opus_fmtp(ps: &PubStream) -> Option<String> {
    let mut v = Vec::new();
    if ps.opus_fec {
        v.push("useinbandfec=1");
    }
    if ps.opus_dtx {
        v.push("usedtx=1");
    }
    if ps.opus_stereo {
        v.push("stereo=1");
    }
    (!v.is_empty()).then(|| v.join(";"))
}

/// Video profile parameters: H.264 `profile-level-id` + `packetization-mode=1` (the only mode
/// Ianus relays), VP9 `profile-id`.
fn video_fmtp(codec: Codec, st: &SubStream) -> Option<String> {
    match codec {
        Codec::H264 => Some(format!(
            "profile-level-id={};packetization-mode=1",
            st.h264_profile.as_deref().unwrap_or("42e01f")
        )),
        Codec::Vp9 => st.vp9_profile.as_ref().map(|p| format!("profile-id={p}")),
        _ => None,
    }
}
