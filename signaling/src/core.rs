//! The sans-IO dispatcher: requests in, replies and events out.
//!
//! [`Core`] owns the sessions, handles and settings; every input carries `now`, so tests
//! drive it on a virtual clock without sockets. Replies are returned; events go to the
//! [`EventSink`] of the session's owner. The registry lock is never held while a plugin,
//! the WebRTC host or a sink runs, so plugins may call back (`push_event`, `end_session`)
//! from inside `handle_message`.

mod admin;
mod events;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::auth::Auth;
use crate::config::GeneralConfig;
use crate::host::WebRtcHost;
use crate::ids::{HandleId, SessionId};
use crate::info::{self, TransportInfo};
use crate::jsep::JsepType;
use crate::plugin::{Plugin, PluginResult};
use crate::proto::request::{self, Envelope, Trickle, Verb};
use crate::proto::{reply, ApiError, ErrorCode};
use crate::session::{EventSink, Handle, Owner, Registry, SessionOver};
use crate::stats::Stats;

pub use crate::stats::GatewayStats;

/// An event to hand to a sink once the reply has been sent (e.g. `detached` after the
/// `success` of `detach`).
pub struct Delivery {
    sink: Arc<dyn EventSink>,
    session: SessionId,
    event: Value,
}

impl Delivery {
    pub fn send(self) {
        self.sink.send(self.session, self.event);
    }

    pub fn event(&self) -> &Value {
        &self.event
    }
}

/// The reply to one request, and the events that must follow it.
pub struct Response {
    pub reply: Value,
    pub after: Vec<Delivery>,
}

impl Response {
    fn reply(reply: Value) -> Self {
        Response {
            reply,
            after: Vec::new(),
        }
    }

    /// Sends the trailing events (call after the reply went out).
    pub fn send_after(self) {
        for d in self.after {
            d.send();
        }
    }
}

/// Settings the Admin API reads and changes at run time (`get_status`, `set_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub session_timeout: u64,
    pub accept_new_sessions: bool,
    pub log_level: u8,
    pub log_timestamps: bool,
    pub log_colors: bool,
    pub locking_debug: bool,
    pub refcount_debug: bool,
    pub libnice_debug: bool,
    pub min_nack_queue: u64,
    pub nack_optimizations: bool,
    pub no_media_timer: u64,
    pub slowlink_threshold: u64,
}

impl Settings {
    fn from_config(general: &GeneralConfig) -> Settings {
        Settings {
            session_timeout: general.session_timeout,
            accept_new_sessions: general.accept_new_sessions,
            log_level: 4,
            log_timestamps: false,
            log_colors: true,
            locking_debug: false,
            refcount_debug: false,
            libnice_debug: false,
            min_nack_queue: 200,
            nack_optimizations: false,
            no_media_timer: 1,
            slowlink_threshold: 0,
        }
    }
}

/// Called after an Admin setter changed [`Settings`] (e.g. to apply `set_log_level`).
pub type SettingsObserver = Arc<dyn Fn(&Settings) + Send + Sync>;

pub struct Core {
    general: GeneralConfig,
    plugins: Vec<Arc<dyn Plugin>>,
    host: Arc<dyn WebRtcHost>,
    auth: Auth,
    registry: Mutex<Registry>,
    settings: Mutex<Settings>,
    observer: Mutex<Option<SettingsObserver>>,
    transports: Mutex<Vec<TransportInfo>>,
    info_extra: Mutex<Map<String, Value>>,
    pub(crate) stats: Stats,
    /// Origin of the monotonic microseconds the Admin API reports.
    epoch: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the core needs to know about a handle outside the lock.
struct HandleRef {
    session: SessionId,
    plugin: Arc<dyn Plugin>,
    package: &'static str,
    opaque_id: Option<String>,
    owner: Option<Owner>,
}

impl Core {
    pub fn new(
        general: GeneralConfig,
        plugins: Vec<Arc<dyn Plugin>>,
        host: Arc<dyn WebRtcHost>,
        now: Instant,
    ) -> Core {
        let auth = Auth::new(
            general.api_secret.clone(),
            general.token_auth,
            general.token_auth_secret.clone(),
            general.admin_secret.clone(),
        );
        Core {
            settings: Mutex::new(Settings::from_config(&general)),
            general,
            plugins,
            host,
            auth,
            registry: Mutex::new(Registry::default()),
            observer: Mutex::new(None),
            transports: Mutex::new(Vec::new()),
            info_extra: Mutex::new(Map::new()),
            stats: Stats::default(),
            epoch: now,
        }
    }

    pub fn general(&self) -> &GeneralConfig {
        &self.general
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn set_settings_observer(&self, observer: SettingsObserver) {
        *lock(&self.observer) = Some(observer);
    }

    /// Lists a transport in `info` (called by `serve` for each listener it starts).
    pub fn register_transport(&self, t: TransportInfo) {
        let mut ts = lock(&self.transports);
        if !ts.iter().any(|x| x.package == t.package) {
            ts.push(t);
        }
    }

    /// Keys merged into `info` (media facts only the application knows: `local-ip`,
    /// `ice-lite`, `ipv6`, `public-ip`, …).
    pub fn set_info_extra(&self, extra: Map<String, Value>) {
        *lock(&self.info_extra) = extra;
    }

    pub fn stats(&self) -> GatewayStats {
        let (sessions, handles) = {
            let r = lock(&self.registry);
            (r.session_count(), r.handle_count())
        };
        self.stats.snapshot(sessions, handles)
    }

    /// The connection that receives `session`'s events (`None`: no such session, or its
    /// transport is gone).
    pub fn session_owner(&self, session: SessionId) -> Option<crate::session::ConnId> {
        lock(&self.registry)
            .session(session)
            .and_then(|s| s.owner.as_ref().map(|o| o.conn))
    }

    /// A transport dropped an event because a bounded queue was full.
    pub fn count_dropped_event(&self) {
        self.stats.event_dropped();
    }

    fn plugin(&self, package: &str) -> Option<&Arc<dyn Plugin>> {
        self.plugins.iter().find(|p| p.info().package == package)
    }

    fn micros_since_epoch(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn fail(&self, session_id: u64, transaction: Option<&str>, e: ApiError) -> Response {
        self.stats.error(e.code);
        Response::reply(reply::error(session_id, transaction, e.code, &e.reason))
    }

    pub(crate) fn server_info(&self, transaction: &str) -> Value {
        let settings = self.settings();
        let live = info::Live {
            api_secret: self.auth.api_secret_enabled(),
            token_auth: self.auth.token_auth_enabled(),
            accepting: settings.accept_new_sessions,
            session_timeout: settings.session_timeout,
            min_nack_queue: settings.min_nack_queue,
        };
        let plugins: Vec<_> = self.plugins.iter().map(|p| p.info()).collect();
        let transports = lock(&self.transports).clone();
        let extra = lock(&self.info_extra).clone();
        info::server_info(
            transaction,
            &self.general,
            live,
            &transports,
            &plugins,
            &extra,
        )
    }

    fn handle_ref(&self, id: HandleId) -> Option<HandleRef> {
        let r = lock(&self.registry);
        let h = r.handle(id)?;
        let owner = r.session(h.session).and_then(|s| s.owner.clone());
        Some(HandleRef {
            session: h.session,
            plugin: h.plugin.clone(),
            package: h.package,
            opaque_id: h.opaque_id.clone(),
            owner,
        })
    }

    fn opaque<'a>(&self, opaque_id: &'a Option<String>) -> Option<&'a str> {
        if self.general.opaqueid_in_api {
            opaque_id.as_deref()
        } else {
            None
        }
    }

    /// One request from the connection `origin`. `msg` is the parsed JSON.
    pub fn handle_request(&self, now: Instant, origin: &Owner, msg: &Value) -> Response {
        // A non-object has none of the envelope keys (Janus: 456 on `transaction`); the HTTP
        // transport refuses it earlier with 455.
        let empty = Map::new();
        let root = msg.as_object().unwrap_or(&empty);
        let env = match request::decode_envelope(root) {
            Ok(env) => env,
            Err(e) => return self.fail(e.session_id, None, e.error),
        };
        self.stats.request(env.verb);
        match self.dispatch(now, origin, root, &env) {
            Ok(r) => r,
            Err(e) => self.fail(env.session_id, Some(&env.transaction), e),
        }
    }

    fn unhandled(env: &Envelope) -> ApiError {
        ApiError::new(
            ErrorCode::InvalidRequestPath,
            format!("Unhandled request '{}' at this path", env.janus),
        )
    }

    fn dispatch(
        &self,
        now: Instant,
        origin: &Owner,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Result<Response, ApiError> {
        let tx = env.transaction.as_str();
        if env.session_id == 0 && env.handle_id == 0 {
            return match env.verb {
                Verb::Info => Ok(Response::reply(self.server_info(tx))),
                Verb::Ping => Ok(Response::reply(reply::pong(tx))),
                Verb::Create => Ok(self.create(now, origin, root, env)),
                _ => Err(Self::unhandled(env)),
            };
        }
        if env.session_id == 0 {
            return Err(ApiError::of(ErrorCode::SessionNotFound));
        }
        if env.handle_key && env.handle_id == 0 {
            return Err(ApiError::of(ErrorCode::HandleNotFound));
        }
        if !self
            .auth
            .check_request(env.apisecret.as_deref(), env.token.as_deref())
        {
            return Err(ApiError::of(ErrorCode::Unauthorized));
        }
        let sid = SessionId(env.session_id);
        let hid = (env.handle_id > 0).then_some(HandleId(env.handle_id));
        {
            let mut r = lock(&self.registry);
            if !r.touch(sid, now) {
                return Err(ApiError::new(
                    ErrorCode::SessionNotFound,
                    format!("No such session {sid}"),
                ));
            }
            if let Some(h) = hid {
                if r.handle_in(sid, h).is_none() {
                    return Err(ApiError::new(
                        ErrorCode::HandleNotFound,
                        format!("No such handle {h} in session {sid}"),
                    ));
                }
            }
        }
        match (env.verb, hid) {
            (Verb::Keepalive, _) => Ok(Response::reply(reply::ack(sid.0, tx, None))),
            (Verb::Attach, None) => self.attach(now, sid, root, env),
            (Verb::Destroy, None) => self.destroy(sid, tx),
            (Verb::Claim, None) => self.claim(sid, origin, tx),
            (Verb::Attach | Verb::Destroy | Verb::Claim, Some(_)) => Err(Self::unhandled(env)),
            (Verb::Detach, Some(h)) => self.detach(sid, h, tx),
            (Verb::Hangup, Some(h)) => self.hangup(sid, h, tx),
            (Verb::Message, Some(h)) => self.message(sid, h, root, tx),
            (Verb::Trickle, Some(h)) => self.trickle(sid, h, root, tx),
            (Verb::Detach | Verb::Hangup | Verb::Message | Verb::Trickle, None) => {
                Err(Self::unhandled(env))
            }
            (Verb::Info | Verb::Ping | Verb::Create | Verb::Other, _) => Err(ApiError::new(
                ErrorCode::UnknownRequest,
                format!("Unknown request '{}'", env.janus),
            )),
        }
    }

    fn create(
        &self,
        now: Instant,
        origin: &Owner,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Response {
        let tx = Some(env.transaction.as_str());
        if !lock(&self.settings).accept_new_sessions {
            return self.fail(0, tx, ApiError::of(ErrorCode::NotAcceptingSessions));
        }
        if !self
            .auth
            .check_request(env.apisecret.as_deref(), env.token.as_deref())
        {
            return self.fail(0, tx, ApiError::of(ErrorCode::Unauthorized));
        }
        let wanted = request::create_id(root);
        let created = lock(&self.registry).create_session(
            wanted,
            self.general.node_slot,
            origin.clone(),
            now,
        );
        match created {
            Some(id) => {
                self.stats.session_created();
                Response::reply(reply::success_with_id(0, &env.transaction, id.0))
            }
            None => self.fail(
                wanted.unwrap_or(0),
                tx,
                ApiError::new(ErrorCode::SessionConflict, "Session ID already in use"),
            ),
        }
    }

    fn attach(
        &self,
        now: Instant,
        sid: SessionId,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Result<Response, ApiError> {
        let a = request::decode_attach(root)?;
        let plugin = self
            .plugin(&a.plugin)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::PluginNotFound,
                    format!("No such plugin '{}'", a.plugin),
                )
            })?
            .clone();
        let package = plugin.info().package;
        let mut token = None;
        if self.auth.token_auth_enabled() {
            if let Some(t) = env.token.as_deref() {
                if !self.auth.token_allows_plugin(t, package) {
                    return Err(ApiError::new(
                        ErrorCode::UnauthorizedPlugin,
                        format!("Provided token can't access plugin '{}'", a.plugin),
                    ));
                }
            }
            token = env.token.clone();
        }
        let id = {
            let mut r = lock(&self.registry);
            let id = r.new_handle_id(self.general.node_slot);
            let inserted = r.insert_handle(Handle {
                id,
                session: sid,
                plugin: plugin.clone(),
                package,
                opaque_id: a.opaque_id,
                token,
                loop_index: a.loop_index,
                created: now,
                got_offer: false,
                got_answer: false,
                trickled: false,
                all_trickles: false,
            });
            if !inserted {
                return Err(ApiError::new(
                    ErrorCode::SessionNotFound,
                    format!("No such session {sid}"),
                ));
            }
            id
        };
        if let Err(code) = plugin.create_session(id) {
            lock(&self.registry).remove_handle(id);
            return Err(ApiError::new(
                ErrorCode::PluginAttach,
                format!("Couldn't attach to plugin: error '{code}'"),
            ));
        }
        self.stats.handle_attached();
        Ok(Response::reply(reply::success_with_id(
            sid.0,
            &env.transaction,
            id.0,
        )))
    }

    /// Closes a handle without telling the client (destroy, timeout, transport loss).
    fn teardown(&self, handle: &Handle, reason: &str) {
        if self.host.hangup(handle.id, reason, true) {
            handle.plugin.hangup_media(handle.id);
        }
        handle.plugin.destroy_session(handle.id);
        self.host.destroy(handle.id);
    }

    fn destroy(&self, sid: SessionId, tx: &str) -> Result<Response, ApiError> {
        let removed = lock(&self.registry).remove_session(sid);
        let Some((session, handles)) = removed else {
            return Err(ApiError::new(
                ErrorCode::SessionNotFound,
                format!("No such session {sid}"),
            ));
        };
        if let Some(owner) = &session.owner {
            owner.sink.session_over(sid, SessionOver::Destroyed);
        }
        for h in &handles {
            self.teardown(h, "Detach");
        }
        self.stats.session_destroyed();
        Ok(Response::reply(reply::success(sid.0, tx)))
    }

    fn claim(&self, sid: SessionId, origin: &Owner, tx: &str) -> Result<Response, ApiError> {
        let previous = {
            let mut r = lock(&self.registry);
            let s = r.session_mut(sid).ok_or_else(|| {
                ApiError::new(ErrorCode::SessionNotFound, format!("No such session {sid}"))
            })?;
            if s.owner.as_ref().is_some_and(|o| o.conn == origin.conn) {
                None
            } else {
                s.owner.replace(origin.clone())
            }
        };
        if let Some(old) = previous {
            old.sink.session_over(sid, SessionOver::Claimed);
        }
        Ok(Response::reply(reply::success(sid.0, tx)))
    }

    fn detach(&self, sid: SessionId, hid: HandleId, tx: &str) -> Result<Response, ApiError> {
        let (handle, owner) = {
            let mut r = lock(&self.registry);
            let owner = r.session(sid).and_then(|s| s.owner.clone());
            let handle = r.remove_handle(hid).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::HandleNotFound,
                    format!("No such handle {hid} in session {sid}"),
                )
            })?;
            (handle, owner)
        };
        let after = self.close_handle(&handle, owner.as_ref(), "Detach");
        Ok(Response {
            reply: reply::success(sid.0, tx),
            after,
        })
    }

    /// Detach semantics shared by `detach`, Admin `detach_handle` and plugin `end_session`:
    /// a PeerConnection is hung up with reason `Detach` (reported at once), the plugin
    /// forgets the handle, and `detached` is returned to be sent after the reply.
    fn close_handle(&self, handle: &Handle, owner: Option<&Owner>, reason: &str) -> Vec<Delivery> {
        let opaque = self.opaque(&handle.opaque_id);
        // Janus 1.1.2 closes the PeerConnection of a detached handle without a `hangup`
        // event: the client learns from `detached` (observed against Debian's Janus).
        if self.host.hangup(handle.id, reason, true) {
            handle.plugin.hangup_media(handle.id);
        }
        handle.plugin.destroy_session(handle.id);
        self.host.destroy(handle.id);
        self.stats.handle_detached();
        owner
            .map(|o| Delivery {
                sink: o.sink.clone(),
                session: handle.session,
                event: Value::Object(reply::handle_event(
                    "detached",
                    handle.session,
                    handle.id,
                    opaque,
                )),
            })
            .into_iter()
            .collect()
    }

    fn hangup(&self, sid: SessionId, hid: HandleId, tx: &str) -> Result<Response, ApiError> {
        if !self.host.hangup(hid, "Janus API", false) {
            // No PeerConnection: Janus still tells the plugin (EchoTest then pushes `done`).
            if let Some(h) = self.handle_ref(hid) {
                h.plugin.hangup_media(hid);
            }
        }
        Ok(Response::reply(reply::success(sid.0, tx)))
    }

    /// Asks the host to close the PeerConnection; it reports back with a `Hangup` event.
    pub(crate) fn hangup_pc(&self, hid: HandleId, reason: &str) {
        self.host.hangup(hid, reason, false);
    }

    fn message(
        &self,
        sid: SessionId,
        hid: HandleId,
        root: &Map<String, Value>,
        tx: &str,
    ) -> Result<Response, ApiError> {
        let m = request::decode_message(root)?;
        let h = self.handle_ref(hid).ok_or_else(|| {
            ApiError::new(
                ErrorCode::HandleNotFound,
                format!("No such handle {hid} in session {sid}"),
            )
        })?;
        let jsep = match m.jsep {
            Some(j) => {
                let applied = self.host.handle_remote_jsep(hid, &j)?;
                if let Some(handle) = lock(&self.registry).handle_mut(hid) {
                    match j.kind {
                        JsepType::Offer => handle.got_offer = true,
                        JsepType::Answer => handle.got_answer = true,
                    }
                }
                Some(applied)
            }
            None => None,
        };
        match h.plugin.handle_message(hid, tx.to_owned(), m.body, jsep) {
            PluginResult::Ok(data) if data.is_object() => Ok(Response::reply(
                reply::plugin_success(sid, tx, hid, self.opaque(&h.opaque_id), h.package, data),
            )),
            PluginResult::Ok(_) => Err(ApiError::new(
                ErrorCode::PluginMessage,
                "Plugin returned an invalid JSON response",
            )),
            PluginResult::OkWait(hint) => {
                Ok(Response::reply(reply::ack(sid.0, tx, hint.as_deref())))
            }
            PluginResult::Error(text) => Err(ApiError::new(ErrorCode::PluginMessage, text)),
        }
    }

    fn trickle(
        &self,
        sid: SessionId,
        hid: HandleId,
        root: &Map<String, Value>,
        tx: &str,
    ) -> Result<Response, ApiError> {
        let t = request::decode_trickle(root)?;
        let negotiated = {
            let mut r = lock(&self.registry);
            match r.handle_mut(hid) {
                Some(h) => {
                    h.trickled = true;
                    h.negotiated()
                }
                None => false,
            }
        };
        let mut forward = Vec::new();
        match t {
            // Before a complete offer/answer round Janus queues candidates unchecked.
            Trickle::One(v) if !negotiated => forward.extend(request::parse_candidate(v).ok()),
            Trickle::One(v) => forward.push(request::parse_candidate(v)?),
            Trickle::Many(Value::Array(list)) => {
                forward.extend(list.iter().filter_map(|c| request::parse_candidate(c).ok()));
            }
            Trickle::Many(_) if !negotiated => {}
            Trickle::Many(_) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidElementType,
                    "candidates is not an array",
                ));
            }
        }
        if forward.iter().any(Option::is_none) {
            if let Some(h) = lock(&self.registry).handle_mut(hid) {
                h.all_trickles = true;
            }
        }
        for c in forward {
            self.host.handle_trickle(hid, c);
        }
        Ok(Response::reply(reply::ack(sid.0, tx, None)))
    }

    /// One watchdog pass (every 2 s in Janus).
    pub fn handle_tick(&self, now: Instant) {
        let (timeout, reclaim) = {
            let s = lock(&self.settings);
            (
                Duration::from_secs(s.session_timeout),
                Duration::from_secs(self.general.reclaim_session_timeout),
            )
        };
        let expired = lock(&self.registry).watchdog(now, timeout, reclaim);
        for e in expired {
            let sid = e.session.id;
            if let Some(owner) = &e.session.owner {
                if e.timed_out {
                    owner.sink.send(sid, reply::timeout(sid));
                }
                owner.sink.session_over(sid, SessionOver::TimedOut);
            }
            for h in &e.handles {
                self.teardown(h, "Detach");
            }
            if e.timed_out {
                self.stats.session_timed_out();
            } else {
                self.stats.session_reclaim_expired();
            }
        }
    }

    /// The connection `conn` closed: with `reclaim_session_timeout = 0` its sessions are
    /// destroyed at once (no events), otherwise they wait to be claimed.
    pub fn transport_gone(&self, conn: crate::session::ConnId) {
        let reclaim = Duration::from_secs(self.general.reclaim_session_timeout);
        let gone = lock(&self.registry).transport_gone(conn, reclaim);
        for (_session, handles) in gone {
            for h in &handles {
                self.teardown(h, "Detach");
            }
            self.stats.session_destroyed();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::field_reassign_with_default)]
mod tests;
