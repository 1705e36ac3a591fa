//! The receive task: owns the routing tables and every peer's inbound state.
//!
//! Per datagram (RFC 7983 demux on the first byte):
//! - STUN → the peer named by the USERNAME's local ufrag; its ICE-lite agent answers and may
//!   nominate the path, which becomes the peer's 5-tuple route and send address;
//! - DTLS → accepted only from an address that passed an authenticated check; the ClientHello
//!   is sniffed to choose the SRTP profile (GCM when offered), then handed to the DTLS task;
//! - SRTP/SRTCP → decrypted once with the peer's inbound context (owned here, no lock) and
//!   given to the peer's sink as one shared `Bytes`; the transport-wide sequence number of
//!   each RTP packet is recorded for transport-cc feedback when negotiated.
//!
//! Anything else, or anything from an unknown source, is dropped and counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::dtls_transport::{self, DatagramConn, DtlsRole, DTLS_QUEUE};
use super::peer::{
    CloseReason, DtlsState, IceState, MediaKind, MediaSink, Peer, PeerEvent, PeerId, PeerShared,
    RemoteParams, RtpIn, StreamCounters,
};
use super::{Control, EngineShared};
use crate::dtls::clienthello::ClientHelloSniffer;
use crate::ice::{IceEvent, IceLiteAgent};
use crate::net::demux::{classify, PacketClass};
use crate::rtcp::TwccRecorder;
use crate::rtp::RtpView;
use crate::srtp::SrtpContext;

/// Largest datagram we read (bigger ones are truncated by the kernel and fail to decrypt).
const RECV_BUFFER: usize = 2048;
/// DTLS datagrams buffered per peer while the ClientHello is being reassembled.
const MAX_PENDING_DTLS: usize = 8;
/// SSRC → stream routes remembered per peer.
const MAX_ROUTES: usize = 32;
/// How often timers (consent, no-media) are checked.
const TICK: Duration = Duration::from_millis(250);
/// How often peers with unreported transport-cc arrivals are visited. Half of
/// [`crate::rtcp::TWCC_PERIOD`]: the recorder keeps its own 100 ms grid, this only bounds how
/// late a feedback can be. Only peers with pending arrivals are visited, so thousands of
/// subscribers (which receive nothing) cost nothing here.
const TWCC_TICK: Duration = Duration::from_millis(50);

enum DtlsPhase {
    Waiting {
        sniffer: ClientHelloSniffer,
        pending: Vec<Bytes>,
    },
    Running {
        tx: mpsc::Sender<Bytes>,
    },
    Closed,
}

#[derive(Clone, Copy)]
struct Route {
    ssrc: u32,
    stream: usize,
    layer: u8,
    rtx: bool,
}

/// Transport-cc feedback of a peer that negotiated the transport-wide sequence number
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01).
struct TwccState {
    /// Header-extension id from the remote SDP.
    ext: u8,
    recorder: TwccRecorder,
    /// Our SSRC as the feedback sender: random, fixed for the peer's life.
    sender_ssrc: u32,
    /// The first media SSRC seen with the extension (the feedback is transport-wide; the
    /// field is informative, §3.1).
    media_ssrc: Option<u32>,
    /// In [`Receiver::twcc_pending`].
    queued: bool,
}

struct StreamState {
    receiving: bool,
    last_packet: Option<Instant>,
}

struct Entry {
    peer: Peer,
    ice: IceLiteAgent,
    remote: Option<RemoteParams>,
    addr: Option<SocketAddr>,
    dtls: DtlsPhase,
    srtp_in: Option<SrtpContext>,
    sink: Option<Arc<dyn MediaSink>>,
    routes: Vec<Route>,
    streams: Vec<StreamState>,
    /// Shared with the peer's counters (Admin `handle_info`), indexed like `streams`.
    stream_counters: Arc<Vec<StreamCounters>>,
    twcc: Option<TwccState>,
}

impl Entry {
    fn shared(&self) -> &Arc<PeerShared> {
        &self.peer.shared
    }
}

struct Receiver {
    engine: Arc<EngineShared>,
    peers: HashMap<PeerId, Entry>,
    by_ufrag: HashMap<String, PeerId>,
    by_addr: HashMap<SocketAddr, PeerId>,
    stun_out: Vec<u8>,
    /// Peers with transport-cc arrivals not yet reported, each once. Its capacity is kept at
    /// least the number of peers so that queueing on the packet path never allocates.
    twcc_pending: Vec<PeerId>,
    /// Feedback packet being built (reused).
    rtcp_out: Vec<u8>,
}

pub(super) async fn run(engine: Arc<EngineShared>, mut ctrl: mpsc::UnboundedReceiver<Control>) {
    let socket = engine.socket.clone();
    let socket6 = engine.socket6.clone();
    let mut buf6 = vec![0u8; if socket6.is_some() { RECV_BUFFER } else { 0 }];
    let mut rx = Receiver {
        engine,
        peers: HashMap::new(),
        by_ufrag: HashMap::new(),
        by_addr: HashMap::new(),
        stun_out: Vec::with_capacity(256),
        twcc_pending: Vec::new(),
        rtcp_out: Vec::with_capacity(crate::rtcp::MAX_FEEDBACK_LEN),
    };
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut twcc_tick = tokio::time::interval(TWCC_TICK);
    twcc_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            c = ctrl.recv() => match c {
                Some(c) => rx.handle_control(c),
                None => break,
            },
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => rx.handle_datagram(Instant::now(), from, &buf[..n]),
                Err(e) => tracing::debug!("media socket receive error: {e}"),
            },
            r = recv6(socket6.as_deref(), &mut buf6) => match r {
                Ok((n, from)) => rx.handle_datagram(Instant::now(), from, &buf6[..n]),
                Err(e) => tracing::debug!("media socket (IPv6) receive error: {e}"),
            },
            _ = tick.tick() => rx.handle_tick(Instant::now()),
            // Armed only while feedback is owed: an idle server does not wake 20 times a
            // second for nothing (the interval keeps its schedule meanwhile).
            _ = twcc_tick.tick(), if !rx.twcc_pending.is_empty() => {
                rx.handle_twcc_tick(Instant::now())
            }
        }
    }
}

/// Receives on the IPv6 socket, or never when there is none.
async fn recv6(
    socket: Option<&tokio::net::UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

impl Receiver {
    fn handle_control(&mut self, c: Control) {
        match c {
            Control::Register { peer } => {
                let ufrag = peer
                    .local_ufrag
                    .lock()
                    .map(|g| g.clone())
                    .unwrap_or_default();
                let pwd = peer.local_pwd.lock().map(|g| g.clone()).unwrap_or_default();
                let id = peer.id;
                let ice = IceLiteAgent::new(ufrag.clone(), pwd, self.engine.config.consent_timeout);
                self.by_ufrag.insert(ufrag, id);
                self.peers.insert(
                    id,
                    Entry {
                        peer: Peer { shared: peer },
                        ice,
                        remote: None,
                        addr: None,
                        dtls: DtlsPhase::Waiting {
                            sniffer: ClientHelloSniffer::new(),
                            pending: Vec::new(),
                        },
                        srtp_in: None,
                        sink: None,
                        routes: Vec::new(),
                        streams: Vec::new(),
                        stream_counters: Arc::new(Vec::new()),
                        twcc: None,
                    },
                );
            }
            Control::SetRemote { peer, params } => {
                let Some(e) = self.peers.get_mut(&peer) else {
                    return;
                };
                e.ice
                    .set_remote_credentials(&params.ice_ufrag, &params.ice_pwd);
                e.routes = initial_routes(&params);
                e.streams = params
                    .streams
                    .iter()
                    .map(|_| StreamState {
                        receiving: false,
                        last_packet: None,
                    })
                    .collect();
                e.stream_counters = Arc::new(
                    params
                        .streams
                        .iter()
                        .map(|_| StreamCounters::default())
                        .collect(),
                );
                if let Ok(mut c) = e.peer.shared.counters.recv_streams.lock() {
                    *c = e.stream_counters.clone();
                }
                match (params.twcc_ext, e.twcc.as_mut()) {
                    (None, _) => {
                        if e.twcc.take().is_some_and(|t| t.queued) {
                            self.twcc_pending.retain(|id| *id != peer);
                        }
                    }
                    (Some(ext), Some(t)) => t.ext = ext,
                    (Some(ext), None) => {
                        e.twcc = Some(TwccState {
                            ext,
                            recorder: TwccRecorder::new(),
                            sender_ssrc: rand::random::<u32>().max(1),
                            media_ssrc: None,
                            queued: false,
                        });
                    }
                }
                e.remote = Some(*params);
                let want = self.peers.len();
                if self.twcc_pending.capacity() < want {
                    self.twcc_pending
                        .reserve(want.saturating_sub(self.twcc_pending.len()));
                }
            }
            Control::RestartIce { peer, ufrag, pwd } => {
                let Some(e) = self.peers.get_mut(&peer) else {
                    return;
                };
                self.by_ufrag.retain(|_, id| *id != peer);
                self.by_ufrag.insert(ufrag.clone(), peer);
                e.ice.restart(ufrag, pwd);
            }
            Control::SetSink { peer, sink } => {
                if let Some(e) = self.peers.get_mut(&peer) {
                    e.sink = sink;
                }
            }
            Control::Close {
                peer,
                reason,
                silent,
            } => self.close(peer, reason, silent),
            Control::DtlsDone { peer, result } => match result {
                Ok(ctx) => {
                    let Some(e) = self.peers.get_mut(&peer) else {
                        return;
                    };
                    e.srtp_in = Some(*ctx);
                    e.shared()
                        .dtls_state
                        .store(DtlsState::Connected as u8, Ordering::Relaxed);
                    self.engine
                        .stats
                        .peers_dtls_connected
                        .fetch_add(1, Ordering::Relaxed);
                    let p = e.peer.clone();
                    p.shared.observer.on_event(&p, PeerEvent::Connected);
                }
                Err(reason) => {
                    if matches!(reason, CloseReason::DtlsError(_) | CloseReason::DtlsTimeout) {
                        self.engine
                            .stats
                            .dtls_failures
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(e) = self.peers.get(&peer) {
                        e.shared()
                            .dtls_state
                            .store(DtlsState::Failed as u8, Ordering::Relaxed);
                    }
                    self.close(peer, reason, false)
                }
            },
        }
    }

    fn close(&mut self, peer: PeerId, reason: CloseReason, silent: bool) {
        let Some(mut e) = self.peers.remove(&peer) else {
            return;
        };
        self.by_ufrag.retain(|_, id| *id != peer);
        self.by_addr.retain(|_, id| *id != peer);
        if e.twcc.as_ref().is_some_and(|t| t.queued) {
            self.twcc_pending.retain(|id| *id != peer);
        }
        e.dtls = DtlsPhase::Closed;
        let shared = e.shared().clone();
        shared.closed.store(true, Ordering::Release);
        if shared.ice_state.load(Ordering::Relaxed) == IceState::Connected as u8 {
            self.engine
                .stats
                .peers_ice_connected
                .fetch_sub(1, Ordering::Relaxed);
        }
        if shared.dtls_state.load(Ordering::Relaxed) == DtlsState::Connected as u8 {
            self.engine
                .stats
                .peers_dtls_connected
                .fetch_sub(1, Ordering::Relaxed);
        }
        shared
            .ice_state
            .store(IceState::Closed as u8, Ordering::Relaxed);
        shared
            .dtls_state
            .store(DtlsState::Closed as u8, Ordering::Relaxed);
        if let Ok(mut s) = shared.selected.lock() {
            *s = None;
        }
        if let Ok(mut s) = shared.srtp_out.lock() {
            *s = None;
        }
        if let Ok(mut d) = shared.data_tx.lock() {
            *d = None;
        }
        self.engine.stats.peers.fetch_sub(1, Ordering::Relaxed);
        if !silent {
            shared.observer.on_event(&e.peer, PeerEvent::Closed(reason));
        }
    }

    fn handle_tick(&mut self, now: Instant) {
        let no_media = self.engine.config.no_media_timer;
        let mut failed = Vec::new();
        for (id, e) in self.peers.iter_mut() {
            e.ice.handle_timeout(now);
            while let Some(ev) = e.ice.poll_event() {
                if matches!(ev, IceEvent::Failed) {
                    failed.push(*id);
                }
            }
            if no_media.is_zero() {
                continue;
            }
            for (i, s) in e.streams.iter_mut().enumerate() {
                if s.receiving
                    && s.last_packet
                        .is_some_and(|t| now.duration_since(t) >= no_media)
                {
                    s.receiving = false;
                    if let Some(r) = e.remote.as_ref().and_then(|r| r.streams.get(i)) {
                        let ev = PeerEvent::Media {
                            stream: i,
                            mid: r.mid.clone(),
                            kind: r.kind,
                            receiving: false,
                        };
                        e.peer.shared.observer.on_event(&e.peer, ev);
                    }
                }
            }
        }
        for id in failed {
            self.close(id, CloseReason::IceFailed, false);
        }
    }

    /// Sends the transport-cc feedback that is due (§3.1) and forgets peers with nothing
    /// left to report.
    fn handle_twcc_tick(&mut self, now: Instant) {
        let mut i = 0;
        while let Some(id) = self.twcc_pending.get(i).copied() {
            let pending = match self.peers.get_mut(&id).and_then(|e| {
                let t = e.twcc.as_mut()?;
                Some((&e.peer, t))
            }) {
                Some((peer, t)) => {
                    let media_ssrc = t.media_ssrc.unwrap_or(0);
                    self.rtcp_out.clear();
                    while t.recorder.poll_feedback(
                        now,
                        t.sender_ssrc,
                        media_ssrc,
                        &mut self.rtcp_out,
                    ) {
                        // A full socket drops the feedback (counted): the next one covers
                        // newer packets and the sender copes with gaps (fb pkt count).
                        let _ = peer.send_rtcp(&self.rtcp_out);
                        self.rtcp_out.clear();
                    }
                    t.queued = t.recorder.has_pending();
                    t.queued
                }
                None => false,
            };
            if pending {
                i += 1;
            } else {
                self.twcc_pending.swap_remove(i);
            }
        }
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match classify(data) {
            PacketClass::Stun => self.handle_stun(now, from, data),
            PacketClass::Dtls => self.handle_dtls(from, data),
            PacketClass::Rtp => self.handle_srtp(now, from, data, false),
            PacketClass::Rtcp => self.handle_srtp(now, from, data, true),
            _ => {
                self.engine
                    .stats
                    .malformed_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn handle_stun(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.engine.stats.stun_in.fetch_add(1, Ordering::Relaxed);
        let id = match crate::ice::local_ufrag(data).and_then(|u| self.by_ufrag.get(u)) {
            Some(id) => *id,
            None => {
                self.engine
                    .stats
                    .unknown_source_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let Some(e) = self.peers.get_mut(&id) else {
            return;
        };
        self.stun_out.clear();
        match e.ice.handle_stun(now, from, data, &mut self.stun_out) {
            Ok(reply) => {
                if reply.len > 0 {
                    let _ = self
                        .engine
                        .socket_for(&from)
                        .try_send_to(&self.stun_out, from);
                }
            }
            Err(err) => {
                tracing::trace!("STUN from {from} refused: {err}");
                self.engine
                    .stats
                    .malformed_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut became_connected = false;
        while let Some(ev) = e.ice.poll_event() {
            match ev {
                IceEvent::Connected => became_connected = true,
                // A validated source may send DTLS/SRTP even before nomination (RFC 8445
                // §7.3.1.4).
                IceEvent::NewCandidate(addr) => {
                    self.by_addr.insert(addr, id);
                }
                IceEvent::Selected(selected) => {
                    self.by_addr.insert(selected, id);
                    e.addr = Some(selected);
                    if let Ok(mut s) = e.peer.shared.selected.lock() {
                        *s = Some(selected);
                    }
                }
                _ => {}
            }
        }
        if became_connected
            && e.shared().ice_state.load(Ordering::Relaxed) != IceState::Connected as u8
        {
            e.shared()
                .ice_state
                .store(IceState::Connected as u8, Ordering::Relaxed);
            self.engine
                .stats
                .peers_ice_connected
                .fetch_add(1, Ordering::Relaxed);
            let p = e.peer.clone();
            p.shared.observer.on_event(&p, PeerEvent::IceConnected);
            // As DTLS client we speak first, once a path is nominated.
            let client = e
                .remote
                .as_ref()
                .is_some_and(|r| r.dtls_role == DtlsRole::Client);
            if client && matches!(e.dtls, DtlsPhase::Waiting { .. }) {
                let pending = match std::mem::replace(&mut e.dtls, DtlsPhase::Closed) {
                    DtlsPhase::Waiting { pending, .. } => pending,
                    _ => Vec::new(),
                };
                let tx = start_dtls(
                    &self.engine,
                    e,
                    DtlsRole::Client,
                    dtls_transport::srtp_profiles(false),
                    pending,
                );
                e.dtls = DtlsPhase::Running { tx };
            }
        } else if e.shared().ice_state.load(Ordering::Relaxed) == IceState::New as u8 {
            e.shared()
                .ice_state
                .store(IceState::Checking as u8, Ordering::Relaxed);
        }
    }

    fn handle_dtls(&mut self, from: SocketAddr, data: &[u8]) {
        self.engine.stats.dtls_in.fetch_add(1, Ordering::Relaxed);
        let Some(id) = self.by_addr.get(&from).copied() else {
            // DTLS only from an address that passed an authenticated ICE check.
            self.engine
                .stats
                .unknown_source_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(e) = self.peers.get_mut(&id) else {
            return;
        };
        let datagram = Bytes::copy_from_slice(data);
        match &mut e.dtls {
            DtlsPhase::Running { tx } => {
                if tx.try_send(datagram).is_err() {
                    self.engine
                        .stats
                        .malformed_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            DtlsPhase::Closed => {}
            DtlsPhase::Waiting { sniffer, pending } => {
                if pending.len() >= MAX_PENDING_DTLS {
                    self.engine
                        .stats
                        .malformed_dropped
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                pending.push(datagram);
                let Some(remote) = e.remote.as_ref() else {
                    return;
                };
                if remote.dtls_role != DtlsRole::Server {
                    return;
                }
                // Pin the path the DTLS comes from if ICE has not nominated yet.
                if e.addr.is_none() {
                    e.addr = Some(from);
                    if let Ok(mut s) = e.peer.shared.selected.lock() {
                        *s = Some(from);
                    }
                }
                match sniffer.push(data) {
                    Ok(Some(hello)) => {
                        let gcm = hello.offers_aes_128_gcm();
                        let pending = std::mem::take(pending);
                        let tx = start_dtls(
                            &self.engine,
                            e,
                            DtlsRole::Server,
                            dtls_transport::srtp_profiles(gcm),
                            pending,
                        );
                        e.dtls = DtlsPhase::Running { tx };
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::debug!("unparsable ClientHello from {from}: {err}");
                        // Let the DTLS stack judge it: offer both profiles.
                        let pending = std::mem::take(pending);
                        let tx = start_dtls(
                            &self.engine,
                            e,
                            DtlsRole::Server,
                            dtls_transport::srtp_profiles(false),
                            pending,
                        );
                        e.dtls = DtlsPhase::Running { tx };
                    }
                }
            }
        }
    }

    fn handle_srtp(&mut self, now: Instant, from: SocketAddr, data: &[u8], rtcp: bool) {
        let stats = &self.engine.stats;
        let Some(id) = self.by_addr.get(&from).copied() else {
            stats.unknown_source_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(e) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(ctx) = e.srtp_in.as_mut() else {
            stats.malformed_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let c = &e.peer.shared.counters;
        if rtcp {
            match ctx.unprotect_rtcp(data) {
                Ok(plain) => {
                    stats.rtcp_packets_in.fetch_add(1, Ordering::Relaxed);
                    c.rtcp_packets_in.fetch_add(1, Ordering::Relaxed);
                    count_feedback(&plain, stats, c);
                    if let Some(sink) = &e.sink {
                        sink.on_rtcp(&e.peer, plain);
                    }
                }
                Err(_) => {
                    stats.srtp_failures.fetch_add(1, Ordering::Relaxed);
                    c.srtp_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
        let plain = match ctx.unprotect_rtp(data) {
            Ok(p) => p,
            Err(_) => {
                stats.srtp_failures.fetch_add(1, Ordering::Relaxed);
                c.srtp_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let Some(remote) = e.remote.as_ref() else {
            return;
        };
        let Ok(view) = RtpView::try_parse(&plain) else {
            stats.malformed_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // Before routing: probes and packets of unknown SSRCs count for the sender's
        // estimator too.
        if let Some(t) = e.twcc.as_mut() {
            if let Some(seq) = view
                .extension(t.ext)
                .and_then(crate::rtp::ext::transport_cc_seq)
            {
                t.recorder.record(seq, now);
                t.media_ssrc.get_or_insert(view.ssrc());
                if !t.queued {
                    t.queued = true;
                    self.twcc_pending.push(id);
                }
            }
        }
        let Some(route) = route_packet(&mut e.routes, remote, &view) else {
            stats.malformed_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(params) = remote.streams.get(route.stream) else {
            return;
        };
        let kind = params.kind;
        let len = plain.len() as u64;
        stats.rtp_packets_in.fetch_add(1, Ordering::Relaxed);
        stats.rtp_bytes_in.fetch_add(len, Ordering::Relaxed);
        c.rtp_packets_in.fetch_add(1, Ordering::Relaxed);
        c.rtp_bytes_in.fetch_add(len, Ordering::Relaxed);
        match kind {
            MediaKind::Audio => {
                stats.audio_packets_in.fetch_add(1, Ordering::Relaxed);
                stats.audio_bytes_in.fetch_add(len, Ordering::Relaxed);
                c.audio_packets_in.fetch_add(1, Ordering::Relaxed);
                c.audio_bytes_in.fetch_add(len, Ordering::Relaxed);
            }
            MediaKind::Video => {
                stats.video_packets_in.fetch_add(1, Ordering::Relaxed);
                stats.video_bytes_in.fetch_add(len, Ordering::Relaxed);
                c.video_packets_in.fetch_add(1, Ordering::Relaxed);
                c.video_bytes_in.fetch_add(len, Ordering::Relaxed);
            }
        }
        if let Some(sc) = e.stream_counters.get(route.stream) {
            sc.packets.fetch_add(1, Ordering::Relaxed);
            sc.bytes.fetch_add(len, Ordering::Relaxed);
        }
        if let Some(s) = e.streams.get_mut(route.stream) {
            s.last_packet = Some(now);
            if !s.receiving {
                s.receiving = true;
                let ev = PeerEvent::Media {
                    stream: route.stream,
                    mid: params.mid.clone(),
                    kind,
                    receiving: true,
                };
                e.peer.shared.observer.on_event(&e.peer, ev);
            }
        }
        let packet = if route.rtx {
            match unwrap_rtx(&plain, params) {
                Some(p) => p,
                None => return,
            }
        } else {
            plain
        };
        if let Some(sink) = &e.sink {
            sink.on_rtp(
                &e.peer,
                RtpIn {
                    stream: route.stream,
                    kind,
                    layer: route.layer,
                    packet,
                },
            );
        }
    }
}

/// Starts the DTLS task of a peer and returns the queue its datagrams go into.
fn start_dtls(
    engine: &Arc<EngineShared>,
    e: &mut Entry,
    role: DtlsRole,
    profiles: Vec<dtls::extension::extension_use_srtp::SrtpProtectionProfile>,
    pending: Vec<Bytes>,
) -> mpsc::Sender<Bytes> {
    let (tx, rx) = mpsc::channel(DTLS_QUEUE);
    for d in pending {
        let _ = tx.try_send(d);
    }
    let shared = e.peer.shared.clone();
    shared
        .dtls_state
        .store(DtlsState::Trying as u8, Ordering::Relaxed);
    // DTLS goes out of the socket of the peer's address family.
    let family = e.addr.unwrap_or(engine.local_addr);
    let conn = Arc::new(DatagramConn::new(
        rx,
        engine.socket_for(&family).clone(),
        shared.selected.clone(),
        engine.local_addr,
    ));
    let expected = e.remote.as_ref().and_then(|r| r.fingerprint.clone());
    let data_channels = e.remote.as_ref().is_some_and(|r| r.data_channels);
    let certificate = engine.certificate.clone();
    let engine = engine.clone();
    let peer = e.peer.clone();
    tokio::spawn(async move {
        let outcome = dtls_transport::handshake(conn, certificate, role, profiles, expected).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(err) => {
                tracing::debug!("peer {}: DTLS failed: {err}", peer.id());
                let reason = match err {
                    dtls_transport::DtlsError::Timeout => CloseReason::DtlsTimeout,
                    other => CloseReason::DtlsError(other.to_string()),
                };
                engine.control(Control::DtlsDone {
                    peer: peer.id(),
                    result: Err(reason),
                });
                return;
            }
        };
        let (inbound, outbound) = match (
            SrtpContext::inbound(&outcome.keys),
            SrtpContext::outbound(&outcome.keys),
        ) {
            (Ok(i), Ok(o)) => (i, o),
            _ => {
                engine.control(Control::DtlsDone {
                    peer: peer.id(),
                    result: Err(CloseReason::DtlsError("SRTP keying failed".into())),
                });
                return;
            }
        };
        if let Ok(mut p) = peer.shared.srtp_profile.lock() {
            *p = Some(crate::srtp::profile_name(outcome.keys.profile));
        }
        if let Ok(mut f) = peer.shared.remote_fingerprint.lock() {
            *f = Some(outcome.remote_fingerprint.clone());
        }
        if let Ok(mut s) = peer.shared.srtp_out.lock() {
            *s = Some(outbound);
        }
        engine.control(Control::DtlsDone {
            peer: peer.id(),
            result: Ok(Box::new(inbound)),
        });
        let dtls: Arc<dyn webrtc_util::Conn + Send + Sync> = outcome.conn.clone();
        if data_channels {
            let (data_tx, data_rx) = mpsc::channel(crate::sctp::DATA_SEND_QUEUE);
            if let Ok(mut d) = peer.shared.data_tx.lock() {
                *d = Some(data_tx);
            }
            let events_peer = peer.clone();
            let on_event = Arc::new(move |ev: crate::sctp::DataEvent| data_event(&events_peer, ev));
            crate::sctp::run_association(dtls, role == DtlsRole::Client, data_rx, on_event).await;
        } else {
            // Nothing else reads the DTLS connection: read it to notice close_notify.
            let mut buf = vec![0u8; 1500];
            while outcome.conn.read(&mut buf, None).await.is_ok() {}
        }
        if !peer.is_closed() {
            engine.control(Control::Close {
                peer: peer.id(),
                reason: CloseReason::DtlsAlert,
                silent: false,
            });
        }
    });
    tx
}

/// Data-channel events come from the SCTP task, which reads the peer's shared sink slot.
fn data_event(peer: &Peer, ev: crate::sctp::DataEvent) {
    match ev {
        crate::sctp::DataEvent::Open { label, .. } => {
            peer.shared
                .observer
                .on_event(peer, PeerEvent::DataOpen { label });
        }
        crate::sctp::DataEvent::Message {
            label,
            protocol,
            data,
            text,
        } => {
            peer.shared.counters.data_in.fetch_add(1, Ordering::Relaxed);
            if let Ok(sink) = peer.shared.data_sink.lock() {
                if let Some(sink) = sink.as_ref() {
                    sink.on_data(peer, &label, &protocol, data, text);
                }
            }
        }
        crate::sctp::DataEvent::Closed => {}
    }
}

/// Routes known from the SDP's `a=ssrc` lines.
fn initial_routes(params: &RemoteParams) -> Vec<Route> {
    let mut routes = Vec::new();
    for (stream, s) in params.streams.iter().enumerate() {
        for ssrc in &s.ssrcs {
            if routes.len() < MAX_ROUTES {
                // Whether a packet is RTX is decided by its payload type at routing time.
                routes.push(Route {
                    ssrc: *ssrc,
                    stream,
                    layer: 0,
                    rtx: false,
                });
            }
        }
    }
    routes
}

/// Finds (or learns from the mid/rid header extensions) the stream of an RTP packet.
fn route_packet(routes: &mut Vec<Route>, remote: &RemoteParams, view: &RtpView) -> Option<Route> {
    let ssrc = view.ssrc();
    let pt = view.payload_type();
    if let Some(r) = routes.iter().find(|r| r.ssrc == ssrc) {
        let mut r = *r;
        r.rtx = remote
            .streams
            .get(r.stream)
            .is_some_and(|s| s.rtx_pts.iter().any(|(rtx, _)| *rtx == pt));
        return Some(r);
    }
    // Learn: mid extension first, then a unique m-line carrying this payload type.
    let by_mid = remote
        .mid_ext
        .and_then(|id| view.extension(id))
        .and_then(|mid| remote.streams.iter().position(|s| s.mid.as_bytes() == mid));
    let stream = by_mid.or_else(|| {
        let mut it =
            remote.streams.iter().enumerate().filter(|(_, s)| {
                s.pts.contains(&pt) || s.rtx_pts.iter().any(|(rtx, _)| *rtx == pt)
            });
        let first = it.next()?;
        if it.next().is_some() {
            None
        } else {
            Some(first.0)
        }
    })?;
    let s = remote.streams.get(stream)?;
    let rtx = s.rtx_pts.iter().any(|(rtx, _)| *rtx == pt);
    let rid_ext = if rtx {
        remote.repaired_rid_ext
    } else {
        remote.rid_ext
    };
    let layer = rid_ext
        .and_then(|id| view.extension(id))
        .and_then(|rid| s.rids.iter().position(|r| r.as_bytes() == rid))
        .unwrap_or(0) as u8;
    let route = Route {
        ssrc,
        stream,
        layer,
        rtx,
    };
    if routes.len() < MAX_ROUTES {
        routes.push(route);
    }
    Some(route)
}

/// RFC 4588 §4: restores the original packet from an RTX packet (OSN, apt payload type).
fn unwrap_rtx(packet: &Bytes, params: &super::peer::RecvStreamParams) -> Option<Bytes> {
    let view = crate::rtp::RtpView::try_parse(packet).ok()?;
    let apt = params
        .rtx_pts
        .iter()
        .find(|(rtx, _)| *rtx == view.payload_type())?
        .1;
    crate::rtp::rtx::unwrap(packet, apt)
}

/// Counts NACK and PLI/FIR per peer, engine-wide, and per outgoing SSRC they name.
fn count_feedback(plain: &[u8], stats: &super::EngineStats, c: &super::peer::PeerCounters) {
    use crate::rtcp::{CompoundIter, FeedbackKind, Rtcp};
    for pkt in CompoundIter::new(plain) {
        let Ok(pkt) = pkt else { break };
        match pkt.kind() {
            FeedbackKind::Nack => {
                stats.nacks_in.fetch_add(1, Ordering::Relaxed);
                c.nacks_in.fetch_add(1, Ordering::Relaxed);
                if let Some(slot) = pkt.media_ssrc().and_then(|s| c.find_send_ssrc(s)) {
                    slot.nacks.fetch_add(1, Ordering::Relaxed);
                }
            }
            FeedbackKind::Pli => {
                stats.plis_in.fetch_add(1, Ordering::Relaxed);
                c.plis_in.fetch_add(1, Ordering::Relaxed);
                if let Some(slot) = pkt.media_ssrc().and_then(|s| c.find_send_ssrc(s)) {
                    slot.plis.fetch_add(1, Ordering::Relaxed);
                }
            }
            FeedbackKind::Fir => {
                stats.plis_in.fetch_add(1, Ordering::Relaxed);
                c.plis_in.fetch_add(1, Ordering::Relaxed);
                if let Ok(Rtcp::Fir(fir)) = pkt.parse() {
                    for (ssrc, _) in fir.entries() {
                        if let Some(slot) = c.find_send_ssrc(ssrc) {
                            slot.plis.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
