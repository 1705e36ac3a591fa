//! The handle a plugin (through the application) holds on one PeerConnection.
//!
//! A [`Peer`] is cheap to clone. Sending (`send_rtp`, `send_rtcp`, `send_data`) may be called
//! from any task: it takes only this peer's own SRTP lock, encrypts once and hands the
//! datagram to the shared socket without waiting. Receiving happens in the engine's receive
//! task, which calls the peer's [`MediaSink`] — that call must not block.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Control, EngineShared};
use crate::dtls::fingerprint::Fingerprint;
use crate::engine::dtls_transport::DtlsRole;
use crate::sctp::OutgoingMessage;
use crate::srtp::SrtpContext;

/// Identifies a peer inside one engine.
pub type PeerId = u64;

/// Audio or video (data channels are not RTP streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// One received m-line as the remote SDP describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvStreamParams {
    pub mid: String,
    pub kind: MediaKind,
    /// SSRCs announced with `a=ssrc` (media first, then RTX/simulcast as listed).
    pub ssrcs: Vec<u32>,
    /// `a=rid` values in the order the plugin wants (index = simulcast layer as sent).
    pub rids: Vec<String>,
    /// RTX payload type → associated payload type (RFC 4588 `apt`).
    pub rtx_pts: Vec<(u8, u8)>,
    /// Payload types of this m-line.
    pub pts: Vec<u8>,
}

/// What the engine needs from the remote description.
#[derive(Debug, Clone)]
pub struct RemoteParams {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    pub fingerprint: Option<Fingerprint>,
    /// Our DTLS role (from the `a=setup` exchange).
    pub dtls_role: DtlsRole,
    /// The remote SDP has an `m=application` section.
    pub data_channels: bool,
    pub streams: Vec<RecvStreamParams>,
    /// Header-extension ids from the SDP (`urn:ietf:params:rtp-hdrext:sdes:mid`, rid, rrid).
    pub mid_ext: Option<u8>,
    pub rid_ext: Option<u8>,
    pub repaired_rid_ext: Option<u8>,
    /// Id of the transport-wide sequence number extension
    /// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2): when set, the engine sends
    /// transport-cc feedback for the packets it receives.
    pub twcc_ext: Option<u8>,
}

/// One received RTP packet, decrypted, as handed to a [`MediaSink`].
#[derive(Debug, Clone)]
pub struct RtpIn {
    /// Index into [`RemoteParams::streams`].
    pub stream: usize,
    pub kind: MediaKind,
    /// Simulcast layer index into the stream's `rids`/`ssrcs` (0 when not simulcast).
    pub layer: u8,
    /// The plain RTP packet (header + payload); one buffer shared by every consumer.
    pub packet: Bytes,
}

/// Why a peer went away (maps to Janus's `hangup` reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Closed on request (`reason` chosen by the caller, e.g. "Janus API").
    Local(String),
    /// The peer stopped answering consent checks.
    IceFailed,
    DtlsAlert,
    DtlsTimeout,
    DtlsError(String),
}

impl CloseReason {
    pub fn janus_reason(&self) -> String {
        match self {
            CloseReason::Local(r) => r.clone(),
            CloseReason::IceFailed => "ICE failed".to_owned(),
            CloseReason::DtlsAlert => "DTLS alert".to_owned(),
            CloseReason::DtlsTimeout => "DTLS timeout".to_owned(),
            CloseReason::DtlsError(_) => "DTLS error".to_owned(),
        }
    }
}

/// State changes reported to the application.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    IceConnected,
    /// ICE and DTLS done, SRTP keyed: Janus's `webrtcup`.
    Connected,
    /// First packet of a received stream (`receiving: true`), or the stream went silent.
    Media {
        stream: usize,
        mid: String,
        kind: MediaKind,
        receiving: bool,
    },
    DataOpen {
        label: String,
    },
    Closed(CloseReason),
}

/// Receives a peer's events (the application turns them into Janus events).
pub trait PeerObserver: Send + Sync {
    fn on_event(&self, peer: &Peer, event: PeerEvent);
}

/// Receives a peer's media. Called from the engine's receive task: never block.
pub trait MediaSink: Send + Sync {
    fn on_rtp(&self, peer: &Peer, rtp: RtpIn);
    fn on_rtcp(&self, _peer: &Peer, _packet: Bytes) {}
    fn on_data(&self, _peer: &Peer, _label: &str, _protocol: &str, _data: Bytes, _text: bool) {}
}

/// ICE state as reported by Admin `handle_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IceState {
    New = 0,
    Checking = 1,
    Connected = 2,
    Failed = 3,
    Closed = 4,
}

/// DTLS state as reported by Admin `handle_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DtlsState {
    New = 0,
    Trying = 1,
    Connected = 2,
    Failed = 3,
    Closed = 4,
}

/// Counters of one received stream (m-line), read by Admin `handle_info`.
#[derive(Debug, Default)]
pub struct StreamCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

/// Outgoing SSRCs whose counters are kept per peer (m-lines × (media + RTX) stays below).
pub const MAX_SEND_SSRCS: usize = 16;

/// Counters of one SSRC we send, and the feedback the peer sent about it.
#[derive(Debug, Default)]
pub struct SendSsrcCounters {
    /// 0 = free slot.
    pub ssrc: AtomicU32,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub nacks: AtomicU64,
    pub plis: AtomicU64,
}

/// Per-peer counters (read by Admin `handle_info` and the metrics).
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// One entry per received stream, replaced when the remote description changes.
    pub recv_streams: Mutex<Arc<Vec<StreamCounters>>>,
    /// Slots claimed by the SSRCs we send, first come first served.
    pub send_ssrcs: [SendSsrcCounters; MAX_SEND_SSRCS],
    pub rtp_packets_in: AtomicU64,
    pub rtp_bytes_in: AtomicU64,
    pub rtp_packets_out: AtomicU64,
    pub rtp_bytes_out: AtomicU64,
    pub rtcp_packets_in: AtomicU64,
    pub rtcp_packets_out: AtomicU64,
    pub audio_packets_in: AtomicU64,
    pub video_packets_in: AtomicU64,
    pub audio_bytes_in: AtomicU64,
    pub video_bytes_in: AtomicU64,
    pub nacks_in: AtomicU64,
    pub nacks_out: AtomicU64,
    pub plis_in: AtomicU64,
    pub plis_out: AtomicU64,
    pub srtp_errors: AtomicU64,
    pub send_drops: AtomicU64,
    pub data_in: AtomicU64,
    pub data_out: AtomicU64,
}

/// State shared by the peer's handle, its DTLS task and the receive task.
pub(crate) struct PeerShared {
    pub(crate) id: PeerId,
    pub(crate) engine: Arc<EngineShared>,
    pub(crate) local_ufrag: Mutex<String>,
    pub(crate) local_pwd: Mutex<String>,
    pub(crate) selected: Arc<Mutex<Option<SocketAddr>>>,
    pub(crate) srtp_out: Mutex<Option<SrtpContext>>,
    pub(crate) observer: Arc<dyn PeerObserver>,
    pub(crate) data_tx: Mutex<Option<mpsc::Sender<OutgoingMessage>>>,
    /// The sink as seen by the SCTP task (the receive task keeps its own copy, lock-free).
    pub(crate) data_sink: Mutex<Option<Arc<dyn MediaSink>>>,
    pub(crate) ice_state: AtomicU8,
    pub(crate) dtls_state: AtomicU8,
    pub(crate) srtp_profile: Mutex<Option<&'static str>>,
    pub(crate) remote_fingerprint: Mutex<Option<String>>,
    pub(crate) dtls_role: Mutex<Option<DtlsRole>>,
    pub(crate) counters: PeerCounters,
    pub(crate) closed: std::sync::atomic::AtomicBool,
    /// TEST ONLY outgoing RTP loss (off unless the application enables test hooks).
    pub(crate) test_loss: super::test_loss::TestLoss,
}

/// A PeerConnection in the engine.
#[derive(Clone)]
pub struct Peer {
    pub(crate) shared: Arc<PeerShared>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("id", &self.shared.id).finish()
    }
}

/// Why a send was not done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    #[error("not connected yet")]
    NotConnected,
    #[error("SRTP protect failed")]
    Srtp,
    #[error("socket busy, packet dropped")]
    WouldBlock,
    #[error("no data channel")]
    NoDataChannel,
}

/// A snapshot of a peer for Admin `handle_info`.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub local_ufrag: String,
    pub local_pwd: String,
    pub ice_state: IceState,
    pub dtls_state: DtlsState,
    pub selected: Option<SocketAddr>,
    pub srtp_profile: Option<&'static str>,
    pub local_fingerprint: String,
    pub remote_fingerprint: Option<String>,
    pub dtls_role: Option<&'static str>,
    pub data_channels: bool,
}

impl Peer {
    pub fn id(&self) -> PeerId {
        self.shared.id
    }

    /// Local ICE credentials to put in our SDP.
    pub fn ice_credentials(&self) -> (String, String) {
        let ufrag = self
            .shared
            .local_ufrag
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        let pwd = self
            .shared
            .local_pwd
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        (ufrag, pwd)
    }

    /// Applies (or re-applies, on renegotiation) the remote description.
    pub fn set_remote(&self, params: RemoteParams) {
        if let Ok(mut r) = self.shared.dtls_role.lock() {
            *r = Some(params.dtls_role);
        }
        self.shared.engine.control(Control::SetRemote {
            peer: self.id(),
            params: Box::new(params),
        });
    }

    /// Starts an ICE restart: new local credentials (the current path stays until the browser
    /// nominates again with the new ones).
    pub fn restart_ice(&self) -> (String, String) {
        let (ufrag, pwd) = crate::ice::random_credentials();
        if let Ok(mut g) = self.shared.local_ufrag.lock() {
            *g = ufrag.clone();
        }
        if let Ok(mut g) = self.shared.local_pwd.lock() {
            *g = pwd.clone();
        }
        self.shared.engine.control(Control::RestartIce {
            peer: self.id(),
            ufrag: ufrag.clone(),
            pwd: pwd.clone(),
        });
        (ufrag, pwd)
    }

    /// Where received media goes from now on (`None` to stop).
    pub fn set_sink(&self, sink: Option<Arc<dyn MediaSink>>) {
        if let Ok(mut d) = self.shared.data_sink.lock() {
            *d = sink.clone();
        }
        self.shared.engine.control(Control::SetSink {
            peer: self.id(),
            sink,
        });
    }

    /// Encrypts and sends one plain RTP packet.
    pub fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError> {
        let to = self.selected().ok_or(SendError::NotConnected)?;
        if self.shared.test_loss.drop_next() {
            return Ok(()); // "lost on the network" (test hook)
        }
        // Encrypted into the context's scratch buffer and sent from it, under the lock: no
        // allocation per packet (srtp module doc).
        let mut guard = self.shared.srtp_out.lock().map_err(|_| SendError::Srtp)?;
        let ctx = guard.as_mut().ok_or(SendError::NotConnected)?;
        let protected = ctx.protect_rtp(packet).map_err(|_| SendError::Srtp)?;
        let c = &self.shared.counters;
        c.rtp_packets_out.fetch_add(1, Ordering::Relaxed);
        c.rtp_bytes_out
            .fetch_add(packet.len() as u64, Ordering::Relaxed);
        self.shared
            .engine
            .send_datagram(protected, to)
            .map_err(|_| {
                c.send_drops.fetch_add(1, Ordering::Relaxed);
                SendError::WouldBlock
            })
    }

    /// TEST ONLY: drop `percent` % of the RTP sent to this peer from now on (0 = off), as a
    /// lossy network would; returns the packets dropped so far. Only reachable through the
    /// application's test hooks (`[admin] test_hooks`), never in production.
    pub fn set_test_loss(&self, percent: u8) -> u64 {
        self.shared.test_loss.set(percent);
        self.shared.test_loss.dropped()
    }

    /// Encrypts and sends one plain RTCP compound packet.
    pub fn send_rtcp(&self, packet: &[u8]) -> Result<(), SendError> {
        let to = self.selected().ok_or(SendError::NotConnected)?;
        let mut guard = self.shared.srtp_out.lock().map_err(|_| SendError::Srtp)?;
        let ctx = guard.as_mut().ok_or(SendError::NotConnected)?;
        let protected = ctx.protect_rtcp(packet).map_err(|_| SendError::Srtp)?;
        self.shared
            .counters
            .rtcp_packets_out
            .fetch_add(1, Ordering::Relaxed);
        self.shared
            .engine
            .send_datagram(protected, to)
            .map_err(|_| {
                self.shared
                    .counters
                    .send_drops
                    .fetch_add(1, Ordering::Relaxed);
                SendError::WouldBlock
            })
    }

    /// Encrypts one plain RTP packet into `out` (cleared first; its capacity is reused) and
    /// returns where it must go, without sending it: the batched path ([`super::RtpBatch`])
    /// collects many peers' packets and sends them with one `sendmmsg`. Counts the packet as
    /// sent, as [`send_rtp`](Self::send_rtp) does; a later drop is counted by the sender.
    pub fn protect_rtp_into(
        &self,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<SocketAddr, SendError> {
        let to = self.selected().ok_or(SendError::NotConnected)?;
        let mut guard = self.shared.srtp_out.lock().map_err(|_| SendError::Srtp)?;
        let ctx = guard.as_mut().ok_or(SendError::NotConnected)?;
        ctx.protect_rtp_into(packet, out)
            .map_err(|_| SendError::Srtp)?;
        let c = &self.shared.counters;
        c.rtp_packets_out.fetch_add(1, Ordering::Relaxed);
        c.rtp_bytes_out
            .fetch_add(packet.len() as u64, Ordering::Relaxed);
        Ok(to)
    }

    /// Queues a data-channel message (opening the channel `label` if needed).
    pub fn send_data(&self, msg: OutgoingMessage) -> Result<(), SendError> {
        let guard = self
            .shared
            .data_tx
            .lock()
            .map_err(|_| SendError::NoDataChannel)?;
        let tx = guard.as_ref().ok_or(SendError::NoDataChannel)?;
        tx.try_send(msg).map_err(|e| {
            self.shared
                .counters
                .send_drops
                .fetch_add(1, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::WouldBlock,
                mpsc::error::TrySendError::Closed(_) => SendError::NoDataChannel,
            }
        })?;
        self.shared
            .counters
            .data_out
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the PeerConnection. The observer gets `Closed(Local(reason))` unless `silent`.
    pub fn close(&self, reason: &str, silent: bool) {
        self.shared.engine.control(Control::Close {
            peer: self.id(),
            reason: CloseReason::Local(reason.to_owned()),
            silent,
        });
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    pub fn counters(&self) -> &PeerCounters {
        &self.shared.counters
    }

    pub fn info(&self) -> PeerInfo {
        let (local_ufrag, local_pwd) = self.ice_credentials();
        PeerInfo {
            local_ufrag,
            local_pwd,
            ice_state: ice_state_from(self.shared.ice_state.load(Ordering::Relaxed)),
            dtls_state: dtls_state_from(self.shared.dtls_state.load(Ordering::Relaxed)),
            selected: self.selected(),
            srtp_profile: self.shared.srtp_profile.lock().ok().and_then(|g| *g),
            local_fingerprint: self.shared.engine.fingerprint.clone(),
            remote_fingerprint: self
                .shared
                .remote_fingerprint
                .lock()
                .ok()
                .and_then(|g| g.clone()),
            dtls_role: self
                .shared
                .dtls_role
                .lock()
                .ok()
                .and_then(|g| *g)
                .map(|r| match r {
                    DtlsRole::Server => "server",
                    DtlsRole::Client => "client",
                }),
            data_channels: self
                .shared
                .data_tx
                .lock()
                .map(|g| g.is_some())
                .unwrap_or(false),
        }
    }

    fn selected(&self) -> Option<SocketAddr> {
        self.shared.selected.lock().ok().and_then(|g| *g)
    }
}

impl PeerCounters {
    /// The counters of outgoing `ssrc`, claiming a free slot on first use (`None` when full).
    pub fn send_ssrc(&self, ssrc: u32) -> Option<&SendSsrcCounters> {
        if ssrc == 0 {
            return None;
        }
        for slot in &self.send_ssrcs {
            let cur = slot.ssrc.load(Ordering::Relaxed);
            if cur == ssrc {
                return Some(slot);
            }
            if cur == 0 {
                match slot
                    .ssrc
                    .compare_exchange(0, ssrc, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => return Some(slot),
                    Err(now) if now == ssrc => return Some(slot),
                    Err(_) => continue,
                }
            }
        }
        None
    }

    /// The slot of `ssrc` if it was ever sent.
    pub fn find_send_ssrc(&self, ssrc: u32) -> Option<&SendSsrcCounters> {
        self.send_ssrcs
            .iter()
            .find(|s| ssrc != 0 && s.ssrc.load(Ordering::Relaxed) == ssrc)
    }
}

fn ice_state_from(v: u8) -> IceState {
    match v {
        1 => IceState::Checking,
        2 => IceState::Connected,
        3 => IceState::Failed,
        4 => IceState::Closed,
        _ => IceState::New,
    }
}

fn dtls_state_from(v: u8) -> DtlsState {
    match v {
        1 => DtlsState::Trying,
        2 => DtlsState::Connected,
        3 => DtlsState::Failed,
        4 => DtlsState::Closed,
        _ => DtlsState::New,
    }
}
