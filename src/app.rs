//! Wires the pieces: transports → signaling core → plugins → media engine.
//!
//! [`MediaHost`] is the application's [`WebRtcHost`]: it owns one `media_core` [`Peer`] per
//! handle that negotiates, applies remote SDPs to it, completes plugin SDPs with our transport
//! attributes (ICE-lite credentials, fingerprint, DTLS role, candidates) and turns the engine's
//! peer events into Janus `webrtcup`/`media`/`hangup` events.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use dashmap::DashMap;
use media_core::engine::{
    remote_params, remote_transport, DtlsRole, Engine, EngineConfig, MediaKind, Peer, PeerEvent,
    PeerObserver, RecvStreamParams, RemoteParams,
};
use media_core::sdp::{self, SessionDescription, Setup};
use serde_json::{json, Value};
use signaling::host::{HostError, TrickleCandidate, WebRtcEvent, WebRtcHost};
use signaling::ids::HandleId;
use signaling::jsep::{Jsep, JsepType};
use signaling::Gateway;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("media engine: {0}")]
    Engine(#[from] media_core::engine::EngineError),
    #[error("listeners: {0}")]
    Listen(#[from] std::io::Error),
}

/// Starts everything and runs until Ctrl-C / SIGTERM.
pub async fn run(config: Config) -> Result<(), AppError> {
    let engine = Engine::start(EngineConfig {
        bind_ip: config.media.ip,
        port: config.media.port,
        port_range: config.media.port_range().unwrap_or(None),
        ipv6: config.media.ipv6,
        announced_ips: config.media.nat_1_1_mapping.clone(),
        consent_timeout: std::time::Duration::from_secs(config.media.ice_consent_timeout),
        no_media_timer: std::time::Duration::from_secs(config.media.no_media_timer),
    })
    .await?;
    tracing::info!(
        "media on udp {} (announced {:?})",
        engine.local_addr(),
        engine
            .candidates()
            .iter()
            .map(|c| c.addr)
            .collect::<Vec<_>>()
    );
    let host = MediaHost::new(engine.clone(), config.admin.test_hooks);
    if config.admin.test_hooks {
        tracing::warn!("[admin] test_hooks enabled: Admin requests can degrade media (tests only)");
    }
    let plugins = crate::plugins::load(&config.plugins, host.clone());
    let gateway = Gateway::new(config.general.clone(), plugins, host.clone());
    host.set_gateway(&gateway);
    gateway.set_info_extra(media_info(&engine, &config));
    let metrics = Arc::new(crate::metrics::Metrics::new(
        gateway.clone(),
        engine.clone(),
    ));
    let render: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(move || metrics.render());
    let listeners = signaling::serve(
        gateway.clone(),
        config.http.clone(),
        config.websockets.clone(),
        config.admin.clone(),
        Some(render),
    )
    .await?;
    tracing::info!(
        "listening: http {:?}, ws {:?}, admin http {:?}, admin ws {:?}",
        listeners.http,
        listeners.ws,
        listeners.admin_http,
        listeners.admin_ws
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    Ok(())
}

/// The media facts of `info`: the address we announce and how ICE/DTLS are set up.
fn media_info(engine: &Engine, config: &Config) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    let ips: Vec<String> = engine
        .candidates()
        .iter()
        .map(|c| c.addr.ip().to_string())
        .collect();
    m.insert("local-ip".into(), Value::from(config.media.ip.to_string()));
    if let Some(first) = ips.first() {
        if !config.media.nat_1_1_mapping.is_empty() {
            m.insert("public-ip".into(), Value::from(first.clone()));
            if ips.len() > 1 {
                m.insert("public-ips".into(), json!(ips));
            }
        }
    }
    m.insert("ice-lite".into(), Value::Bool(true));
    m.insert("full-trickle".into(), Value::Bool(false));
    m.insert("dtls-mtu".into(), Value::from(1200));
    m
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Negotiation state of one handle's PeerConnection.
struct PcState {
    peer: Peer,
    /// Last remote description (full, with transport attributes).
    remote: Option<SessionDescription>,
    /// Last local description we sent.
    local: Option<String>,
    /// We sent an offer and wait for the answer.
    offer_pending: bool,
    /// Our DTLS role once known.
    role: Option<DtlsRole>,
    /// The remote ICE ufrag, to tell restarts.
    remote_ufrag: Option<String>,
    /// `trickle` requests seen (for Admin flags).
    trickles: u32,
    /// The peer trickles (its jsep did not say `trickle: false`), Admin flag `trickle`.
    trickle: bool,
    /// Janus's `got-offer`/`got-answer`: an offer/answer was exchanged, in either direction.
    got_offer: bool,
    got_answer: bool,
    /// When negotiation started (Admin `agent-created`).
    created: Instant,
    remote_streams: Vec<RecvStreamParams>,
}

/// The application's WebRTC host: one engine peer per negotiating handle.
pub struct MediaHost {
    me: Weak<MediaHost>,
    /// Origin of Admin timestamps; created just before the gateway, so `agent-created` is
    /// on the clock of the core's `created`/`current_time` (to a few microseconds).
    epoch: Instant,
    engine: Engine,
    pcs: DashMap<HandleId, Arc<Mutex<PcState>>>,
    gateway: OnceLock<Weak<Gateway>>,
    /// `[admin] test_hooks`: Admin `test_loss` is offered (tests only).
    test_hooks: bool,
}

impl MediaHost {
    pub fn new(engine: Engine, test_hooks: bool) -> Arc<MediaHost> {
        Arc::new_cyclic(|me| MediaHost {
            me: me.clone(),
            epoch: Instant::now(),
            engine,
            pcs: DashMap::new(),
            gateway: OnceLock::new(),
            test_hooks,
        })
    }

    fn set_gateway(&self, gateway: &Arc<Gateway>) {
        let _ = self.gateway.set(Arc::downgrade(gateway));
    }

    /// The engine peer of `handle`, if it negotiated one.
    pub fn peer(&self, handle: HandleId) -> Option<Peer> {
        let pc = self.pcs.get(&handle)?.clone();
        let guard = pc.lock().ok()?;
        Some(guard.peer.clone())
    }

    fn emit(&self, handle: HandleId, event: WebRtcEvent) {
        if let Some(gw) = self.gateway.get().and_then(Weak::upgrade) {
            gw.webrtc_event(handle, event);
        }
    }

    fn pc_for(&self, handle: HandleId) -> Arc<Mutex<PcState>> {
        self.pcs
            .entry(handle)
            .or_insert_with(|| {
                let observer = Arc::new(HandleObserver {
                    handle,
                    host: self.me.clone(),
                });
                let peer = self.engine.new_peer(observer);
                Arc::new(Mutex::new(PcState {
                    peer,
                    remote: None,
                    local: None,
                    offer_pending: false,
                    role: None,
                    remote_ufrag: None,
                    trickles: 0,
                    trickle: true,
                    got_offer: false,
                    got_answer: false,
                    created: Instant::now(),
                    remote_streams: Vec::new(),
                }))
            })
            .clone()
    }
}

/// Forwards one peer's engine events to the gateway as Janus events of its handle.
struct HandleObserver {
    handle: HandleId,
    host: Weak<MediaHost>,
}

impl PeerObserver for HandleObserver {
    fn on_event(&self, peer: &Peer, event: PeerEvent) {
        let Some(host) = self.host.upgrade() else {
            return;
        };
        let ev = match event {
            PeerEvent::Connected => WebRtcEvent::Up,
            PeerEvent::Media {
                mid,
                kind,
                receiving,
                ..
            } => WebRtcEvent::Media {
                mid,
                kind: kind.as_str(),
                receiving,
                substream: None,
                seconds: None,
            },
            PeerEvent::Closed(reason) => {
                // A handle may already negotiate a new PeerConnection when the old one's close
                // is reported (VideoRoom `unpublish` then `publish`): only the current PC's
                // close is a hangup, or the new publication would be torn down.
                let current = host.pcs.get(&self.handle).map(|pc| pc.clone());
                if current.is_some_and(|pc| pc.lock().is_ok_and(|st| st.peer.id() != peer.id())) {
                    return;
                }
                host.pcs.remove(&self.handle);
                WebRtcEvent::Hangup {
                    reason: reason.janus_reason(),
                }
            }
            PeerEvent::IceConnected | PeerEvent::DataOpen { .. } => return,
        };
        host.emit(self.handle, ev);
    }
}

fn sdp_error(reason: &str) -> HostError {
    HostError::new(465, reason)
}

/// Janus's checks on a remote SDP, with its error texts (core API §2.9): all are 465.
fn parse_remote_sdp(text: &str) -> Result<SessionDescription, HostError> {
    use media_core::sdp::SdpError;
    let sd = SessionDescription::parse(text).map_err(|e| match e {
        SdpError::NoVersionLine | SdpError::MissingMandatoryLines => sdp_error(&e.to_string()),
        _ => sdp_error("JSEP error: invalid SDP"),
    })?;
    sd.validate_remote()
        .map_err(|_| sdp_error("Error processing SDP"))?;
    Ok(sd)
}

impl WebRtcHost for MediaHost {
    fn handle_remote_jsep(&self, handle: HandleId, jsep: &Jsep) -> Result<Jsep, HostError> {
        let sd = parse_remote_sdp(&jsep.sdp)?;
        let existing = self.pcs.get(&handle).map(|p| p.clone());
        if jsep.kind == JsepType::Answer {
            let offered = existing
                .as_ref()
                .and_then(|pc| pc.lock().ok().map(|g| g.offer_pending))
                .unwrap_or(false);
            if !offered {
                return Err(HostError::new(469, "Unexpected ANSWER (did we offer?)"));
            }
        }
        let transport = remote_transport(&sd).map_err(|_| sdp_error("Error processing SDP"))?;
        let pc = self.pc_for(handle);
        let mut st = pc
            .lock()
            .map_err(|_| HostError::new(490, "Unknown error"))?;
        let update = st.remote.is_some();
        let restart = st
            .remote_ufrag
            .as_deref()
            .is_some_and(|u| u != transport.ice_ufrag);
        // We take the DTLS server role whenever the peer lets us (Janus answers `active`):
        // the server picks the SRTP profile, and only as server can we pick AES-GCM, which
        // costs a third of AES-CM-SHA1 per packet (media-core `srtp` module doc). RFC 5763 §5
        // allows either answer to an `actpass` offer.
        let role = match transport.setup {
            Some(Setup::Passive) => DtlsRole::Client,
            _ => DtlsRole::Server,
        };
        let params = remote_params(
            &sd,
            &transport,
            role,
            jsep.rid_order.as_deref() == Some("lmh"),
        );
        let simulcast = simulcast_json(&sd, &params);
        if restart && jsep.kind == JsepType::Offer {
            // RFC 8839 §4.4.1.1.1: an ICE restart offer gets fresh credentials in the answer too.
            st.peer.restart_ice();
        }
        st.remote_streams = params.streams.clone();
        st.peer.set_remote(params);
        st.role = Some(role);
        st.remote_ufrag = Some(transport.ice_ufrag.clone());
        st.trickle = jsep.trickle != Some(false);
        match jsep.kind {
            JsepType::Offer => {
                st.got_offer = true;
                st.got_answer = false;
            }
            JsepType::Answer => {
                st.got_answer = true;
                st.offer_pending = false;
            }
        }
        let mut stripped = sd.clone();
        stripped.strip_transport();
        st.remote = Some(sd);
        let mut out = Jsep::new(jsep.kind, stripped.to_sdp_string());
        out.update = update;
        out.restart = restart;
        out.e2ee = jsep.e2ee;
        out.simulcast = simulcast;
        Ok(out)
    }

    fn handle_local_jsep(&self, handle: HandleId, jsep: Jsep) -> Result<Jsep, HostError> {
        let mut sd = SessionDescription::parse(&jsep.sdp)
            .map_err(|e| HostError::new(465, format!("Error processing SDP: {e}")))?;
        let pc = self.pc_for(handle);
        let mut st = pc
            .lock()
            .map_err(|_| HostError::new(490, "Unknown error"))?;
        let (ufrag, pwd) = if jsep.restart {
            st.peer.restart_ice()
        } else {
            st.peer.ice_credentials()
        };
        let setup = match (jsep.kind, st.role) {
            (JsepType::Offer, _) => Setup::ActPass,
            (JsepType::Answer, Some(DtlsRole::Client)) => Setup::Active,
            (JsepType::Answer, _) => Setup::Passive,
        };
        let candidates = self.engine.candidates();
        let address = candidates
            .first()
            .map(|c| c.addr.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let mut attrs =
            sdp::TransportAttrs::new(ufrag, pwd, self.engine.fingerprint(), setup, address);
        attrs.candidates = candidates
            .iter()
            .map(|c| sdp::LocalCandidate {
                ip: c.addr.ip(),
                port: c.addr.port(),
                priority: Some(c.priority),
            })
            .collect();
        attrs.ice_lite = true;
        if jsep.kind == JsepType::Answer {
            if let Some(remote) = st.remote.as_ref() {
                // The plugin saw the offer without rid/simulcast lines: answer them here,
                // as Janus's core does when merging.
                sdp::answer_simulcast(&mut sd, remote);
            }
        }
        sdp::merge_transport(&mut sd, &attrs);
        let text = sd.to_sdp_string();
        match jsep.kind {
            JsepType::Offer => {
                st.offer_pending = true;
                st.got_offer = true;
                st.got_answer = false;
            }
            JsepType::Answer => st.got_answer = true,
        }
        st.local = Some(text.clone());
        let mut out = Jsep::new(jsep.kind, text);
        out.e2ee = jsep.e2ee;
        Ok(out)
    }

    fn handle_trickle(&self, handle: HandleId, _candidate: Option<TrickleCandidate>) {
        // ICE-lite: we answer the browser's checks and need none of its candidates.
        if let Some(pc) = self.pcs.get(&handle) {
            if let Ok(mut st) = pc.lock() {
                st.trickles += 1;
            }
        }
    }

    fn hangup(&self, handle: HandleId, reason: &str, silent: bool) -> bool {
        match self.pcs.remove(&handle) {
            Some((_, pc)) => {
                if let Ok(st) = pc.lock() {
                    st.peer.close(reason, silent);
                }
                true
            }
            None => false,
        }
    }

    fn destroy(&self, handle: HandleId) {
        self.hangup(handle, "Detach", true);
    }

    fn test_hooks(&self) -> bool {
        self.test_hooks
    }

    fn set_test_loss(&self, handle: HandleId, percent: u8) -> Option<u64> {
        if !self.test_hooks {
            return None;
        }
        let peer = self.peer(handle)?;
        tracing::warn!("test hook: dropping {percent}% of the RTP sent to handle {handle}");
        Some(peer.set_test_loss(percent))
    }

    fn handle_info(&self, handle: HandleId) -> Option<Value> {
        let pc = self.pcs.get(&handle)?.clone();
        let st = pc.lock().ok()?;
        let info = st.peer.info();
        let c = st.peer.counters();
        use std::sync::atomic::Ordering::Relaxed;
        let recv_counters = c.recv_streams.lock().map(|g| g.clone()).unwrap_or_default();
        let media: serde_json::Map<String, Value> = st
            .remote_streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (packets, bytes) = recv_counters
                    .get(i)
                    .map(|sc| (sc.packets.load(Relaxed), sc.bytes.load(Relaxed)))
                    .unwrap_or_default();
                (
                    i.to_string(),
                    json!({
                        "type": s.kind.as_str(),
                        "mindex": i,
                        "mid": s.mid,
                        "ssrc": {"ssrc-peer": s.ssrcs.first()},
                        "rid-simulcast": if s.rids.is_empty() { Value::Null } else { json!({"rid": s.rids}) },
                        "stats": {"in": {"packets": packets, "bytes": bytes}},
                    }),
                )
            })
            .collect();
        let out_streams: Vec<Value> = c
            .send_ssrcs
            .iter()
            .filter(|slot| slot.ssrc.load(Relaxed) != 0)
            .map(|slot| {
                json!({
                    "ssrc": slot.ssrc.load(Relaxed),
                    "packets": slot.packets.load(Relaxed),
                    "bytes": slot.bytes.load(Relaxed),
                    "nacks": slot.nacks.load(Relaxed),
                    "plis": slot.plis.load(Relaxed),
                })
            })
            .collect();
        let data_negotiated = st
            .remote
            .as_ref()
            .is_some_and(|r| r.media.iter().any(|m| m.is_data() && !m.is_rejected()));
        Some(json!({
            "flags": {
                "got-offer": st.got_offer,
                "got-answer": st.got_answer,
                "negotiated": st.remote.is_some() && st.local.is_some(),
                "ready": info.dtls_state == media_core::engine::DtlsState::Connected,
                "trickle": st.trickle || st.trickles > 0,
                "data-channels": data_negotiated,
                "rfc4588-rtx": st.local.as_deref().is_some_and(|l| l.contains(" rtx/")),
                "has-audio": st.remote_streams.iter().any(|s| s.kind == MediaKind::Audio),
                "has-video": st.remote_streams.iter().any(|s| s.kind == MediaKind::Video),
            },
            "agent-created": u64::try_from(st.created.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX),
            // Nothing waits in a per-handle queue: packets go out from the engine's socket.
            "queued-packets": 0,
            "ice-mode": "lite",
            "ice-role": "controlled",
            "sdps": {
                "profile": "UDP/TLS/RTP/SAVPF",
                "local": st.local,
                "remote": st.remote.as_ref().map(|s| s.to_sdp_string()),
            },
            "webrtc": {
                "ice": {
                    "state": format!("{:?}", info.ice_state).to_lowercase(),
                    "selected-pair": info.selected.map(|a| a.to_string()),
                    "local-candidates": self.engine.candidates().iter().map(|c| c.addr.to_string()).collect::<Vec<_>>(),
                    "ready": info.selected.is_some(),
                },
                "dtls": {
                    "fingerprint": info.local_fingerprint,
                    "remote-fingerprint": info.remote_fingerprint,
                    "remote-fingerprint-hash": "sha-256",
                    "dtls-role": info.dtls_role,
                    "dtls-state": format!("{:?}", info.dtls_state).to_lowercase(),
                    "srtp-profile": info.srtp_profile,
                    "valid": info.dtls_state == media_core::engine::DtlsState::Connected,
                    "ready": info.dtls_state == media_core::engine::DtlsState::Connected,
                    "sctp-association": info.data_channels,
                },
                "media": media,
                "out-streams": out_streams,
                "stats": {
                    "in": {
                        "packets": c.rtp_packets_in.load(Relaxed),
                        "bytes": c.rtp_bytes_in.load(Relaxed),
                        "audio_packets": c.audio_packets_in.load(Relaxed),
                        "video_packets": c.video_packets_in.load(Relaxed),
                        "nacks": c.nacks_in.load(Relaxed),
                        "plis": c.plis_in.load(Relaxed),
                        "data_messages": c.data_in.load(Relaxed),
                    },
                    "out": {
                        "packets": c.rtp_packets_out.load(Relaxed),
                        "bytes": c.rtp_bytes_out.load(Relaxed),
                        "nacks": c.nacks_out.load(Relaxed),
                        "plis": c.plis_out.load(Relaxed),
                        "data_messages": c.data_out.load(Relaxed),
                    },
                },
            },
        }))
    }
}

/// Janus's `jsep.simulcast` for plugins: `[{mindex, mid, rids (highest first), rid-ext}]` or
/// `ssrcs` for SSRC-based (`a=ssrc-group:SIM`) simulcast.
fn simulcast_json(sd: &SessionDescription, params: &RemoteParams) -> Option<Value> {
    let mut out = Vec::new();
    let rtp_mindexes = sd
        .media
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind.is_rtp())
        .map(|(i, _)| i);
    for (s, mindex) in params.streams.iter().zip(rtp_mindexes) {
        let sim = sd.media.get(mindex).and_then(|m| m.ssrc_group("SIM"));
        if s.rids.len() > 1 {
            let high_first: Vec<&String> = s.rids.iter().rev().collect();
            out.push(json!({"mindex": mindex, "mid": s.mid, "rids": high_first, "rid-ext": params.rid_ext}));
        } else if let Some(sim) = sim {
            out.push(json!({"mindex": mindex, "mid": s.mid, "ssrcs": sim.ssrcs}));
        }
    }
    (!out.is_empty()).then(|| Value::Array(out))
}
