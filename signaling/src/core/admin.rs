//! The Admin API (Janus `janus_process_incoming_admin_request`), sans-IO like the rest.

use std::time::Instant;

use serde_json::{Map, Value};

use super::{lock, Core, Response};
use crate::auth::TokenError;
use crate::ids::{HandleId, SessionId};
use crate::proto::request::{self, Envelope};
use crate::proto::validate::{self, opt, req, Kind, Param};
use crate::proto::{reply, ApiError, ErrorCode};
use crate::session::registry::TimeoutOverride;

/// Keys of `handle_info.info.flags`, all reported (false unless the host says otherwise).
const FLAGS: [&str; 20] = [
    "got-offer",
    "got-answer",
    "negotiated",
    "processing-offer",
    "starting",
    "ice-restart",
    "ready",
    "stopped",
    "alert",
    "trickle",
    "all-trickles",
    "resend-trickles",
    "trickle-synced",
    "data-channels",
    "has-audio",
    "has-video",
    "new-datachan-sdp",
    "rfc4588-rtx",
    "cleaning",
    "e2ee",
];

fn success(session_id: u64, tx: &str) -> Map<String, Value> {
    reply::message("success", session_id, Some(tx))
}

fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::StoredDisabled => ApiError::new(
            ErrorCode::Unknown,
            "Stored-Token based authentication disabled",
        ),
        TokenError::Exists => ApiError::new(ErrorCode::Unknown, "Error adding token"),
        TokenError::NotFound => ApiError::new(ErrorCode::Unknown, "Error removing token"),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Core {
    /// One Admin API request; returns the reply.
    pub fn handle_admin(&self, now: Instant, msg: &Value) -> Value {
        self.stats.admin_request();
        let empty = Map::new();
        let root = msg.as_object().unwrap_or(&empty);
        let env = match request::decode_envelope(root) {
            Ok(env) => env,
            Err(e) => return self.fail(e.session_id, None, e.error).reply,
        };
        match self.admin_dispatch(now, root, &env) {
            Ok(r) => r.reply,
            Err(e) => self.fail(env.session_id, Some(&env.transaction), e).reply,
        }
    }

    fn admin_dispatch(
        &self,
        now: Instant,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Result<Response, ApiError> {
        let verb = env.janus.to_ascii_lowercase();
        let tx = env.transaction.as_str();
        let secret = root.get("admin_secret").and_then(Value::as_str);
        if env.session_id == 0 && env.handle_id == 0 {
            match verb.as_str() {
                "info" => return Ok(Response::reply(self.server_info(tx))),
                "ping" => return Ok(Response::reply(reply::pong(tx))),
                _ => {}
            }
            if !self.auth.check_admin(secret) {
                return Err(ApiError::of(ErrorCode::Unauthorized));
            }
            return self
                .admin_global(&verb, root, env)
                .map(|m| Response::reply(Value::Object(m)));
        }
        if env.session_id == 0 || (env.handle_key && env.handle_id == 0) {
            return Err(ApiError::of(ErrorCode::SessionNotFound));
        }
        if !self.auth.check_admin(secret) {
            return Err(ApiError::of(ErrorCode::Unauthorized));
        }
        let sid = SessionId(env.session_id);
        {
            let r = lock(&self.registry);
            if r.session(sid).is_none() {
                return Err(ApiError::new(
                    ErrorCode::SessionNotFound,
                    format!("No such session {sid}"),
                ));
            }
            if env.handle_id > 0 && r.handle_in(sid, HandleId(env.handle_id)).is_none() {
                return Err(ApiError::new(
                    ErrorCode::HandleNotFound,
                    format!("No such handle {} in session {sid}", env.handle_id),
                ));
            }
        }
        if env.handle_id == 0 {
            self.admin_session(&verb, sid, root, env)
        } else {
            self.admin_handle(now, &verb, sid, HandleId(env.handle_id), root, env)
        }
    }

    fn unhandled_admin(env: &Envelope) -> ApiError {
        ApiError::new(
            ErrorCode::InvalidRequestPath,
            format!("Unhandled request '{}' at this path", env.janus),
        )
    }

    /// A setter taking one parameter; returns the validated value.
    fn admin_param(root: &Map<String, Value>, p: Param) -> Result<&Value, ApiError> {
        validate::check(root, &[p], validate::PLAIN)?;
        root.get(p.name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingMandatoryElement,
                format!("Missing mandatory element ({})", p.name),
            )
        })
    }

    fn changed_settings(&self) {
        let observer = lock(&self.observer).clone();
        if let Some(o) = observer {
            o(&self.settings());
        }
    }

    fn admin_global(
        &self,
        verb: &str,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Result<Map<String, Value>, ApiError> {
        let tx = env.transaction.as_str();
        let mut out = success(0, tx);
        let bool_setter = |key: &'static str| -> Result<bool, ApiError> {
            Ok(Self::admin_param(root, req(key, Kind::Bool))?
                .as_bool()
                .unwrap_or(false))
        };
        let uint_setter = |key: &'static str| -> Result<u64, ApiError> {
            Ok(Self::admin_param(root, req(key, Kind::PositiveInteger))?
                .as_u64()
                .unwrap_or(0))
        };
        match verb {
            "get_status" => {
                let s = self.settings();
                let mut st = Map::new();
                st.insert("token_auth".into(), self.auth.token_auth_enabled().into());
                st.insert("session_timeout".into(), s.session_timeout.into());
                st.insert(
                    "reclaim_session_timeout".into(),
                    self.general.reclaim_session_timeout.into(),
                );
                st.insert(
                    "candidates_timeout".into(),
                    self.general.candidates_timeout.into(),
                );
                st.insert("log_level".into(), s.log_level.into());
                st.insert("log_timestamps".into(), s.log_timestamps.into());
                st.insert("log_colors".into(), s.log_colors.into());
                st.insert("locking_debug".into(), s.locking_debug.into());
                st.insert("refcount_debug".into(), s.refcount_debug.into());
                st.insert("libnice_debug".into(), s.libnice_debug.into());
                st.insert("min_nack_queue".into(), s.min_nack_queue.into());
                st.insert("nack-optimizations".into(), s.nack_optimizations.into());
                st.insert("no_media_timer".into(), s.no_media_timer.into());
                st.insert("slowlink_threshold".into(), s.slowlink_threshold.into());
                out.insert("status".into(), Value::Object(st));
                return Ok(out);
            }
            "set_session_timeout" => {
                let t = uint_setter("timeout")?;
                lock(&self.settings).session_timeout = t;
                out.insert("timeout".into(), t.into());
            }
            "set_log_level" => {
                let level = uint_setter("level")?;
                let level = u8::try_from(level)
                    .ok()
                    .filter(|l| *l <= 7)
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidElementType,
                            "Invalid element type (level should be between 0 and 7)",
                        )
                    })?;
                lock(&self.settings).log_level = level;
                out.insert("level".into(), level.into());
            }
            "set_log_timestamps" => {
                let v = bool_setter("timestamps")?;
                lock(&self.settings).log_timestamps = v;
                out.insert("log_timestamps".into(), v.into());
            }
            "set_log_colors" => {
                let v = bool_setter("colors")?;
                lock(&self.settings).log_colors = v;
                out.insert("log_colors".into(), v.into());
            }
            "set_locking_debug" => {
                let v = bool_setter("debug")?;
                lock(&self.settings).locking_debug = v;
                out.insert("locking_debug".into(), v.into());
            }
            "set_refcount_debug" => {
                let v = bool_setter("debug")?;
                lock(&self.settings).refcount_debug = v;
                out.insert("refcount_debug".into(), v.into());
            }
            "set_libnice_debug" => {
                let v = bool_setter("debug")?;
                lock(&self.settings).libnice_debug = v;
                out.insert("libnice_debug".into(), v.into());
            }
            "set_min_nack_queue" => {
                let v = uint_setter("min_nack_queue")?;
                lock(&self.settings).min_nack_queue = v;
                out.insert("min_nack_queue".into(), v.into());
            }
            "set_nack_optimizations" => {
                let v = bool_setter("nack_optimizations")?;
                lock(&self.settings).nack_optimizations = v;
                out.insert("nack-optimizations".into(), v.into());
            }
            "set_no_media_timer" => {
                let v = uint_setter("no_media_timer")?;
                lock(&self.settings).no_media_timer = v;
                out.insert("no_media_timer".into(), v.into());
            }
            "set_slowlink_threshold" => {
                let v = uint_setter("slowlink_threshold")?;
                lock(&self.settings).slowlink_threshold = v;
                out.insert("slowlink_threshold".into(), v.into());
            }
            "accept_new_sessions" => {
                let v = bool_setter("accept")?;
                lock(&self.settings).accept_new_sessions = v;
                out.insert("accept".into(), v.into());
            }
            "list_sessions" => {
                let ids = lock(&self.registry).session_ids();
                out.insert(
                    "sessions".into(),
                    ids.into_iter().map(|s| Value::from(s.0)).collect(),
                );
                return Ok(out);
            }
            "message_plugin" => {
                validate::check(
                    root,
                    &[req("plugin", Kind::String), opt("request", Kind::Object)],
                    validate::PLAIN,
                )?;
                let name = root
                    .get("plugin")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let plugin = self
                    .plugin(name)
                    .ok_or_else(|| ApiError::new(ErrorCode::PluginNotFound, "Invalid plugin"))?;
                let request = root
                    .get("request")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                let response = plugin.handle_admin_message(request).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unknown,
                        "Plugin doesn't support Admin API messages",
                    )
                })?;
                out.insert("response".into(), response);
                return Ok(out);
            }
            "add_token" => {
                self.auth.token_exists("").map_err(token_error)?;
                validate::check(
                    root,
                    &[req("token", Kind::String), opt("plugins", Kind::Array)],
                    validate::PLAIN,
                )?;
                let token = root
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.auth.add_token(token).map_err(token_error)?;
                let wanted = strings(root.get("plugins"));
                let known: Vec<String> = self
                    .plugins
                    .iter()
                    .map(|p| p.info().package.to_owned())
                    .collect();
                let allowed: Vec<String> = if root
                    .get("plugins")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
                {
                    wanted.into_iter().filter(|p| known.contains(p)).collect()
                } else {
                    known
                };
                let list = self.auth.allow(token, &allowed).map_err(token_error)?;
                let mut data = Map::new();
                data.insert(
                    "plugins".into(),
                    list.into_iter().map(Value::from).collect(),
                );
                out.insert("data".into(), Value::Object(data));
                return Ok(out);
            }
            "list_tokens" => {
                let list = self.auth.list().map_err(token_error)?;
                let tokens: Vec<Value> = list
                    .into_iter()
                    .filter(|(_, plugins)| !plugins.is_empty())
                    .map(|(t, plugins)| {
                        let mut m = Map::new();
                        m.insert("token".into(), t.into());
                        m.insert(
                            "allowed_plugins".into(),
                            plugins.into_iter().map(Value::from).collect(),
                        );
                        Value::Object(m)
                    })
                    .collect();
                let mut data = Map::new();
                data.insert("tokens".into(), Value::Array(tokens));
                out.insert("data".into(), Value::Object(data));
                return Ok(out);
            }
            "allow_token" | "disallow_token" => {
                self.auth.token_exists("").map_err(token_error)?;
                validate::check(
                    root,
                    &[req("token", Kind::String), req("plugins", Kind::Array)],
                    validate::PLAIN,
                )?;
                let token = root
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !self.auth.token_exists(token).map_err(token_error)? {
                    return Err(ApiError::new(
                        ErrorCode::TokenNotFound,
                        format!("Token {token} not found"),
                    ));
                }
                let raw = root
                    .get("plugins")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if raw.is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::InvalidElementType,
                        "Invalid element type (plugins should be a non-empty array)",
                    ));
                }
                let wanted = strings(root.get("plugins"));
                let all_known =
                    wanted.len() == raw.len() && wanted.iter().all(|p| self.plugin(p).is_some());
                if !all_known {
                    return Err(ApiError::new(
                        ErrorCode::InvalidElementType,
                        "Invalid element type (some of the provided plugins are invalid)",
                    ));
                }
                let list = if verb == "allow_token" {
                    self.auth.allow(token, &wanted)
                } else {
                    self.auth.disallow(token, &wanted)
                }
                .map_err(token_error)?;
                let mut data = Map::new();
                data.insert(
                    "plugins".into(),
                    list.into_iter().map(Value::from).collect(),
                );
                out.insert("data".into(), Value::Object(data));
                return Ok(out);
            }
            "remove_token" => {
                self.auth.token_exists("").map_err(token_error)?;
                validate::check(root, &[req("token", Kind::String)], validate::PLAIN)?;
                let token = root
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.auth.remove_token(token).map_err(token_error)?;
                return Ok(out);
            }
            "loops_info" => {
                out.insert("loops".into(), Value::Array(Vec::new()));
                return Ok(out);
            }
            "query_transport" => {
                validate::check(
                    root,
                    &[req("transport", Kind::String), opt("request", Kind::Object)],
                    validate::PLAIN,
                )?;
                let name = root
                    .get("transport")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !lock(&self.transports).iter().any(|t| t.package == name) {
                    return Err(ApiError::new(
                        ErrorCode::PluginNotFound,
                        "Invalid transport",
                    ));
                }
                // Our transports have no admin requests; Janus's HTTP transport answers so.
                let what = root
                    .get("request")
                    .and_then(|r| r.get("request"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut response = Map::new();
                response.insert("error_code".into(), 411.into());
                response.insert("error".into(), format!("Unknown request '{what}'").into());
                out.insert("response".into(), Value::Object(response));
                return Ok(out);
            }
            "query_eventhandler" => {
                validate::check(
                    root,
                    &[req("handler", Kind::String), opt("request", Kind::Object)],
                    validate::PLAIN,
                )?;
                return Err(ApiError::new(
                    ErrorCode::PluginNotFound,
                    "Invalid event handler",
                ));
            }
            "query_logger" => {
                validate::check(
                    root,
                    &[req("logger", Kind::String), opt("request", Kind::Object)],
                    validate::PLAIN,
                )?;
                return Err(ApiError::new(ErrorCode::PluginNotFound, "Invalid logger"));
            }
            "custom_event" => {
                validate::check(
                    root,
                    &[req("schema", Kind::String), req("data", Kind::Object)],
                    validate::PLAIN,
                )?;
                return Err(ApiError::new(ErrorCode::Unknown, "Event handlers disabled"));
            }
            "custom_logline" => {
                validate::check(
                    root,
                    &[
                        req("line", Kind::String),
                        opt("level", Kind::PositiveInteger),
                    ],
                    validate::PLAIN,
                )?;
                let line = root.get("line").and_then(Value::as_str).unwrap_or_default();
                tracing::info!(target: "ianus::admin", "{line}");
                return Ok(out);
            }
            "resolve_address" | "test_stun" => {
                validate::check(root, &[req("address", Kind::String)], validate::PLAIN)?;
                // Resolving or probing would block the core; Ianus does not offer it.
                let text = if verb == "test_stun" {
                    "STUN request failed"
                } else {
                    "Could not resolve address"
                };
                return Err(ApiError::new(ErrorCode::Unknown, text));
            }
            _ => return Err(Self::unhandled_admin(env)),
        }
        self.changed_settings();
        Ok(out)
    }

    fn admin_session(
        &self,
        verb: &str,
        sid: SessionId,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Result<Response, ApiError> {
        let tx = env.transaction.as_str();
        match verb {
            "destroy_session" => self.destroy(sid, tx),
            "list_handles" => {
                let handles: Vec<Value> = lock(&self.registry)
                    .session(sid)
                    .map(|s| s.handles.iter().map(|h| Value::from(h.0)).collect())
                    .unwrap_or_default();
                let mut out = success(sid.0, tx);
                out.insert("handles".into(), Value::Array(handles));
                Ok(Response::reply(Value::Object(out)))
            }
            "set_session_timeout" => {
                validate::check(root, &[req("timeout", Kind::Integer)], validate::PLAIN)?;
                let t = root.get("timeout").and_then(Value::as_i64).unwrap_or(-2);
                let value = match t {
                    -1 => TimeoutOverride::Global,
                    t if t >= 0 => TimeoutOverride::Seconds(t.unsigned_abs()),
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidElementType,
                            "Invalid element type (timeout should be a positive integer or -1)",
                        ))
                    }
                };
                let found = lock(&self.registry)
                    .session_mut(sid)
                    .map(|s| s.timeout = value)
                    .is_some();
                if !found {
                    return Err(ApiError::new(
                        ErrorCode::SessionNotFound,
                        format!("No such session {sid}"),
                    ));
                }
                let mut out = success(sid.0, tx);
                out.insert("timeout".into(), t.into());
                Ok(Response::reply(Value::Object(out)))
            }
            _ => Err(Self::unhandled_admin(env)),
        }
    }

    fn admin_handle(
        &self,
        now: Instant,
        verb: &str,
        sid: SessionId,
        hid: HandleId,
        root: &Map<String, Value>,
        env: &Envelope,
    ) -> Result<Response, ApiError> {
        let tx = env.transaction.as_str();
        match verb {
            "detach_handle" => {
                // The reply goes back to the admin; `detached` to the session's owner.
                self.detach(sid, hid, tx)?.send_after();
                Ok(Response::reply(reply::success(sid.0, tx)))
            }
            "hangup_webrtc" => {
                self.hangup_pc(hid, "Admin API");
                Ok(Response::reply(reply::success(sid.0, tx)))
            }
            "handle_info" => {
                validate::check(root, &[opt("plugin_only", Kind::Bool)], validate::PLAIN)?;
                let plugin_only = root
                    .get("plugin_only")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let info = self.handle_info(now, sid, hid, plugin_only)?;
                let mut out = success(sid.0, tx);
                out.insert("handle_id".into(), hid.0.into());
                out.insert("info".into(), Value::Object(info));
                Ok(Response::reply(Value::Object(out)))
            }
            // TEST ONLY (not a Janus request): outgoing loss on this handle's PeerConnection.
            "test_loss" if self.host.test_hooks() => {
                validate::check(
                    root,
                    &[req("percent", Kind::PositiveInteger)],
                    validate::PLAIN,
                )?;
                let percent = root
                    .get("percent")
                    .and_then(Value::as_u64)
                    .and_then(|p| u8::try_from(p).ok())
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidElementType,
                            "Invalid element type (percent should be between 0 and 100)",
                        )
                    })?;
                let dropped = self.host.set_test_loss(hid, percent).ok_or_else(|| {
                    ApiError::new(ErrorCode::Unknown, "No PeerConnection on this handle")
                })?;
                let mut out = success(sid.0, tx);
                out.insert("percent".into(), percent.into());
                out.insert("dropped".into(), dropped.into());
                Ok(Response::reply(Value::Object(out)))
            }
            "start_pcap" | "start_text2pcap" | "stop_pcap" | "stop_text2pcap" => Err(
                ApiError::new(ErrorCode::Unknown, "Packet captures are not supported"),
            ),
            _ => Err(Self::unhandled_admin(env)),
        }
    }

    /// Janus's `handle_info.info`: core facts, the plugin's `query_session`, and (unless
    /// `plugin_only`) the host's WebRTC state merged over defaults for every flag.
    fn handle_info(
        &self,
        now: Instant,
        sid: SessionId,
        hid: HandleId,
        plugin_only: bool,
    ) -> Result<Map<String, Value>, ApiError> {
        let global = self.settings().session_timeout;
        let mut info = Map::new();
        let (plugin, core_flags) = {
            let r = lock(&self.registry);
            let (Some(s), Some(h)) = (r.session(sid), r.handle_in(sid, hid)) else {
                return Err(ApiError::new(
                    ErrorCode::HandleNotFound,
                    format!("No such handle {hid} in session {sid}"),
                ));
            };
            info.insert("session_id".into(), sid.0.into());
            info.insert(
                "session_last_activity".into(),
                self.micros_since_epoch(s.last_activity).into(),
            );
            let timeout = match s.timeout {
                TimeoutOverride::Global => global,
                TimeoutOverride::Seconds(n) => n,
            };
            info.insert("session_timeout".into(), timeout.into());
            if let Some(o) = &s.owner {
                info.insert("session_transport".into(), o.sink.transport().into());
            }
            info.insert("handle_id".into(), hid.0.into());
            if let Some(o) = &h.opaque_id {
                info.insert("opaque_id".into(), o.clone().into());
            }
            if let Some(t) = &h.token {
                info.insert("token".into(), t.clone().into());
            }
            info.insert("loop-running".into(), true.into());
            info.insert("created".into(), self.micros_since_epoch(h.created).into());
            info.insert("current_time".into(), self.micros_since_epoch(now).into());
            info.insert("plugin".into(), h.package.into());
            let flags = [
                ("got-offer", h.got_offer),
                ("got-answer", h.got_answer),
                ("negotiated", h.negotiated()),
                ("trickle", h.trickled),
                ("all-trickles", h.all_trickles),
            ];
            (h.plugin.clone(), flags)
        };
        let query = plugin.query_session(hid);
        if query.is_object() {
            info.insert("plugin_specific".into(), query);
        }
        if plugin_only {
            return Ok(info);
        }
        let mut flags: Map<String, Value> = FLAGS
            .iter()
            .map(|f| ((*f).to_owned(), Value::Bool(false)))
            .collect();
        for (k, v) in core_flags {
            flags.insert(k.into(), v.into());
        }
        let host = match self.host.handle_info(hid) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let Some(Value::Object(hf)) = host.get("flags") {
            for (k, v) in hf {
                flags.insert(k.clone(), v.clone());
            }
        }
        info.insert("flags".into(), Value::Object(flags));
        let mut sdps = Map::new();
        sdps.insert("profile".into(), "UDP/TLS/RTP/SAVPF".into());
        info.insert("sdps".into(), Value::Object(sdps));
        for (k, v) in host {
            if k == "flags" {
                continue;
            }
            info.insert(k, v);
        }
        Ok(info)
    }
}
