//! The asynchronous paths into the core: plugin pushes and WebRTC events.

use serde_json::Value;

use super::{lock, Core};
use crate::host::WebRtcEvent;
use crate::ids::HandleId;
use crate::jsep::{Jsep, JsepType};
use crate::plugin::PushError;
use crate::proto::reply;

impl Core {
    /// A plugin event (`PluginEvents::push_event`). A JSEP is completed by the host first;
    /// if that fails nothing is sent.
    pub fn push_event(
        &self,
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<Jsep>,
    ) -> Result<(), PushError> {
        if !data.is_object() {
            return Err(PushError::InvalidData);
        }
        let h = self.handle_ref(handle).ok_or(PushError::NoSuchHandle)?;
        let jsep = match jsep {
            Some(j) => {
                let kind = j.kind;
                let merged =
                    self.host
                        .handle_local_jsep(handle, j)
                        .map_err(|e| PushError::Jsep {
                            code: e.code,
                            reason: e.reason,
                        })?;
                if let Some(hd) = lock(&self.registry).handle_mut(handle) {
                    match kind {
                        JsepType::Offer => hd.got_offer = true,
                        JsepType::Answer => hd.got_answer = true,
                    }
                }
                Some(merged.to_wire())
            }
            None => None,
        };
        let event = reply::plugin_event(
            h.session,
            handle,
            self.opaque(&h.opaque_id),
            transaction.as_deref(),
            h.package,
            data,
            jsep,
        );
        self.send_to_owner(&h.owner, h.session, event);
        Ok(())
    }

    fn send_to_owner(
        &self,
        owner: &Option<crate::session::Owner>,
        session: crate::ids::SessionId,
        event: Value,
    ) {
        match owner {
            Some(o) => {
                self.stats.event_sent();
                o.sink.send(session, event);
            }
            // The transport is gone and the session waits to be reclaimed: Janus drops it.
            None => self.stats.event_dropped(),
        }
    }

    /// What the WebRTC host reports about a handle's PeerConnection.
    pub fn webrtc_event(&self, handle: HandleId, event: WebRtcEvent) {
        let Some(h) = self.handle_ref(handle) else {
            return;
        };
        let opaque = self.opaque(&h.opaque_id);
        let out = match event {
            WebRtcEvent::Up => {
                h.plugin.setup_media(handle);
                reply::handle_event("webrtcup", h.session, handle, opaque)
            }
            WebRtcEvent::Media {
                mid,
                kind,
                receiving,
                substream,
                seconds,
            } => {
                let mut m = reply::handle_event("media", h.session, handle, opaque);
                m.insert("mid".into(), Value::from(mid));
                m.insert("type".into(), Value::from(kind));
                m.insert("receiving".into(), Value::from(receiving));
                if let Some(s) = substream {
                    m.insert("substream".into(), Value::from(s));
                }
                if let Some(s) = seconds {
                    m.insert("seconds".into(), Value::from(s));
                }
                m
            }
            WebRtcEvent::SlowLink {
                mid,
                media,
                uplink,
                lost,
            } => {
                let mut m = reply::handle_event("slowlink", h.session, handle, opaque);
                m.insert("mid".into(), Value::from(mid));
                m.insert("media".into(), Value::from(media));
                m.insert("uplink".into(), Value::from(uplink));
                m.insert("lost".into(), Value::from(lost));
                m
            }
            WebRtcEvent::Hangup { reason } => {
                if let Some(hd) = lock(&self.registry).handle_mut(handle) {
                    hd.got_offer = false;
                    hd.got_answer = false;
                    hd.all_trickles = false;
                }
                self.stats.hangup();
                h.plugin.hangup_media(handle);
                let mut m = reply::handle_event("hangup", h.session, handle, opaque);
                m.insert("reason".into(), Value::from(reason));
                m
            }
        };
        self.send_to_owner(&h.owner, h.session, Value::Object(out));
    }

    /// `PluginEvents::close_pc`: hang up with reason `Close PC`.
    pub fn close_pc(&self, handle: HandleId) {
        if self.handle_ref(handle).is_some() {
            self.hangup_pc(handle, "Close PC");
        }
    }

    /// `PluginEvents::end_session`: the plugin detaches the handle; the client gets
    /// `detached`. Calls the plugin's `destroy_session` synchronously.
    pub fn end_session(&self, handle: HandleId) {
        let (h, owner) = {
            let mut r = lock(&self.registry);
            let Some(h) = r.remove_handle(handle) else {
                return;
            };
            let owner = r.session(h.session).and_then(|s| s.owner.clone());
            (h, owner)
        };
        for d in self.close_handle(&h, owner.as_ref(), "Detach") {
            d.send();
        }
    }
}
