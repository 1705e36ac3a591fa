//! One simulated WebRTC peer: a UDP socket, ICE as the controlling full agent, DTLS (client or
//! server per `a=setup`), then SRTP with `media_core::srtp`.
//!
//! ICE: we send Binding requests with USE-CANDIDATE + ICE-CONTROLLING to every server
//! candidate (aggressive nomination) and answer the server's own checks, since Janus (libnice)
//! is a full agent that checks too. Our tie-breaker is the largest possible, so a server that
//! also thinks it controls loses the conflict (we answer 487 and it switches role).
//!
//! Receive path, per datagram: one `recv_from`, demux on the first byte, SRTP decrypt in place,
//! payload check, counters. Nothing allocates per packet and no lock is taken per packet; the
//! orchestrator reads atomics and gets the full report when the task ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dtls::cipher_suite::CipherSuiteId;
use dtls::config::{ClientAuthType, Config, ExtendedMasterSecretType};
use dtls::conn::DTLSConn;
use dtls::crypto::Certificate;
use dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use media_core::dtls::fingerprint::{sha256_fingerprint, Fingerprint};
use media_core::engine::DatagramConn;
use media_core::ice::stun::{self, StunClass, StunMessage, StunWriter, TransactionId};
use media_core::srtp::{ProtectionProfile, SrtpContext, SrtpError, SrtpKeys};
use rand::distributions::{Alphanumeric, DistString};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use webrtc_util::{Conn, KeyingMaterialExporter};

use super::media::{self, PayloadError};
use super::sdp::{LocalTransport, RemoteDescription};
use super::stats::{Histogram, SeqExtender, SeqTracker};

const ICE_TIMEOUT: Duration = Duration::from_secs(10);
const DTLS_TIMEOUT: Duration = Duration::from_secs(15);
const CONSENT_INTERVAL: Duration = Duration::from_secs(2);
const TIE_BREAKER: u64 = u64::MAX;
const HOST_PRIORITY: u32 = 2_130_706_431;
/// Streams one subscriber PC may carry (trailer stream ids above are counted as malformed).
const MAX_STREAMS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("UDP socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("ICE: no Binding success from any of {0} server candidate(s) within {1:?}")]
    IceTimeout(usize, Duration),
    #[error("DTLS: {0}")]
    Dtls(String),
    #[error("DTLS: server certificate does not match its SDP fingerprint")]
    Fingerprint,
    #[error("SRTP: {0}")]
    Srtp(#[from] SrtpError),
}

/// What this peer does with media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends video; reads RTCP for keyframe requests.
    Publisher,
    /// Receives video with trailers from one or more publishers.
    Subscriber,
    /// Sends Opus and receives the mix.
    Audio,
}

/// Everything peers share: the clock epoch, the measurement flag and the certificate.
pub struct Common {
    pub epoch: Instant,
    pub measuring: AtomicBool,
    pub cert: Certificate,
    pub fingerprint: String,
}

impl Common {
    pub fn new() -> Result<Self, PeerError> {
        let cert = Certificate::generate_self_signed(vec!["ianus-load".to_owned()])
            .map_err(|e| PeerError::Dtls(e.to_string()))?;
        let fingerprint = sha256_fingerprint(cert.certificate[0].as_ref());
        Ok(Common {
            epoch: Instant::now(),
            measuring: AtomicBool::new(false),
            cert,
            fingerprint,
        })
    }
}

/// Counters the orchestrator reads while the peer runs.
#[derive(Default)]
pub struct Live {
    /// Media packets received that passed every check (first copies only).
    pub valid: AtomicU64,
    /// Set when the server asks the publisher for a keyframe (PLI/FIR).
    pub keyframe_request: AtomicBool,
}

/// Per received stream, at the end.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    pub stream: u32,
    pub seq: SeqTracker,
    /// RTP sequence numbers that disagree with the payload's own sequence (a server that
    /// renumbers wrongly, or hides loss).
    pub seq_mismatch: u64,
}

/// What a peer's receive task saw, returned when it ends.
#[derive(Clone, Default)]
pub struct RxReport {
    pub streams: Vec<StreamReport>,
    pub latency: Histogram,
    pub auth_failures: u64,
    pub replayed: u64,
    pub malformed: u64,
    pub no_trailer: u64,
    pub corrupt: u64,
    pub before_keys: u64,
    pub rtcp: u64,
}

impl RxReport {
    /// Packets that prove the server dropped or altered media.
    pub fn integrity_failures(&self) -> u64 {
        self.auth_failures + self.malformed + self.no_trailer + self.corrupt
    }
}

/// A bound socket and our ICE credentials, before signaling.
pub struct PeerSetup {
    pub socket: Arc<UdpSocket>,
    pub local: LocalTransport,
}

impl PeerSetup {
    pub async fn bind(ip: std::net::IpAddr, common: &Common) -> Result<Self, PeerError> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let candidate = socket.local_addr()?;
        let mut rng = rand::thread_rng();
        Ok(PeerSetup {
            socket: Arc::new(socket),
            local: LocalTransport {
                ufrag: Alphanumeric.sample_string(&mut rng, 8),
                pwd: Alphanumeric.sample_string(&mut rng, 24),
                fingerprint: common.fingerprint.clone(),
                candidate,
            },
        })
    }
}

/// A peer with keys, ready to send; its receive and consent tasks run until [`Connected::stop`].
pub struct Connected {
    pub socket: Arc<UdpSocket>,
    pub remote: SocketAddr,
    /// The sending context, taken by the sender task.
    pub srtp_out: Option<SrtpContext>,
    pub live: Arc<Live>,
    stop: watch::Sender<bool>,
    rx_task: tokio::task::JoinHandle<RxReport>,
    consent_task: tokio::task::JoinHandle<()>,
    _dtls: Arc<DTLSConn>,
}

impl Connected {
    /// Stops the tasks and returns what the receiver saw.
    pub async fn stop(self) -> RxReport {
        let _ = self.stop.send(true);
        self.consent_task.abort();
        let report = match tokio::time::timeout(Duration::from_secs(2), self.rx_task).await {
            Ok(Ok(r)) => r,
            _ => RxReport::default(),
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), self._dtls.close()).await;
        report
    }
}

/// ICE credentials of both sides, as the tasks need them.
struct Ice {
    local_ufrag: String,
    remote_ufrag: String,
    local_key: stun::IntegrityKey,
    remote_key: stun::IntegrityKey,
}

/// Runs ICE and DTLS against the server described by `remote` (plus candidates trickled
/// into `extra`), then starts the receive task.
pub async fn connect(
    setup: PeerSetup,
    remote: &RemoteDescription,
    extra: Arc<Mutex<Vec<SocketAddr>>>,
    role: Role,
    common: Arc<Common>,
) -> Result<Connected, PeerError> {
    let PeerSetup { socket, local } = setup;
    let ice = Arc::new(Ice {
        local_ufrag: local.ufrag.clone(),
        remote_ufrag: remote.ufrag.clone(),
        local_key: stun::integrity_key(&local.pwd),
        remote_key: stun::integrity_key(&remote.pwd),
    });
    let expected = Fingerprint::parse(&remote.fingerprint).map_err(|_| PeerError::Fingerprint)?;
    let (selected_tx, mut selected_rx) = watch::channel::<Option<SocketAddr>>(None);
    let (dtls_tx, dtls_rx) = mpsc::channel::<Bytes>(64);
    let (keys_tx, keys_rx) = oneshot::channel::<SrtpContext>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let live = Arc::new(Live::default());
    let rx_task = tokio::spawn(receive(Receiver {
        socket: socket.clone(),
        ice: ice.clone(),
        selected: selected_tx,
        dtls: Some(dtls_tx),
        keys: Some(keys_rx),
        srtp: None,
        role,
        live: live.clone(),
        common: common.clone(),
        stop: stop_rx.clone(),
        report: RxReport::default(),
        slots: Vec::new(),
        audio: AudioSlot::default(),
    }));
    let mut candidates: Vec<SocketAddr> = remote
        .candidates
        .iter()
        .copied()
        .filter(|c| c.is_ipv4() == local.candidate.is_ipv4())
        .collect();
    let consent_task = tokio::spawn(checks(
        socket.clone(),
        ice.clone(),
        candidates.clone(),
        extra.clone(),
        selected_rx.clone(),
        stop_rx,
    ));
    let fail = |e: PeerError| {
        let _ = stop_tx.send(true);
        consent_task.abort();
        rx_task.abort();
        e
    };
    let deadline = tokio::time::Instant::now() + ICE_TIMEOUT;
    let selected = loop {
        if let Some(a) = *selected_rx.borrow_and_update() {
            break a;
        }
        match tokio::time::timeout_at(deadline, selected_rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => {
                if let Ok(e) = extra.lock() {
                    candidates.extend(e.iter().copied());
                }
                return Err(fail(PeerError::IceTimeout(candidates.len(), ICE_TIMEOUT)));
            }
        }
    };
    // a=setup: the server's "active" makes us the DTLS server; otherwise we are the client
    // ("passive" answer, or an "actpass" offer we answered with "active").
    let is_client = remote.setup != "active";
    let conn = DatagramConn::new(
        dtls_rx,
        socket.clone(),
        Arc::new(Mutex::new(Some(selected))),
        local.candidate,
    );
    let (dtls, keys) = match handshake(Arc::new(conn), &common.cert, is_client, &expected).await {
        Ok(v) => v,
        Err(e) => return Err(fail(e)),
    };
    let inbound = SrtpContext::inbound(&keys).map_err(|e| fail(e.into()))?;
    let srtp_out = SrtpContext::outbound(&keys).map_err(|e| fail(e.into()))?;
    let _ = keys_tx.send(inbound);
    Ok(Connected {
        socket,
        remote: selected,
        srtp_out: Some(srtp_out),
        live,
        stop: stop_tx,
        rx_task,
        consent_task,
        _dtls: dtls,
    })
}

async fn handshake(
    conn: Arc<dyn Conn + Send + Sync>,
    cert: &Certificate,
    is_client: bool,
    expected: &Fingerprint,
) -> Result<(Arc<DTLSConn>, SrtpKeys), PeerError> {
    // As a server our ECDSA certificate allows ECDSA suites only (offering RSA suites next to
    // it can stall the handshake); as a client we offer both, as Janus may hold an RSA key.
    let cipher_suites = if is_client {
        vec![
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
            CipherSuiteId::Tls_Ecdhe_Rsa_With_Aes_128_Gcm_Sha256,
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
            CipherSuiteId::Tls_Ecdhe_Rsa_With_Aes_256_Cbc_Sha,
        ]
    } else {
        vec![
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
        ]
    };
    let config = Config {
        certificates: vec![cert.clone()],
        cipher_suites,
        srtp_protection_profiles: vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ],
        client_auth: ClientAuthType::RequireAnyClientCert,
        extended_master_secret: ExtendedMasterSecretType::Request,
        insecure_skip_verify: true,
        mtu: 1200,
        ..Default::default()
    };
    let dtls = tokio::time::timeout(DTLS_TIMEOUT, DTLSConn::new(conn, config, is_client, None))
        .await
        .map_err(|_| PeerError::Dtls(format!("handshake timed out after {DTLS_TIMEOUT:?}")))?
        .map_err(|e| PeerError::Dtls(e.to_string()))?;
    let state = dtls.connection_state().await;
    let cert = state
        .peer_certificates
        .first()
        .ok_or_else(|| PeerError::Dtls("no server certificate".into()))?;
    if !expected.matches(cert) {
        return Err(PeerError::Fingerprint);
    }
    let profile = match dtls.selected_srtpprotection_profile() {
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => {
            ProtectionProfile::Aes128CmHmacSha1_80
        }
        p => return Err(PeerError::Dtls(format!("unexpected SRTP profile {p:?}"))),
    };
    let material = state
        .export_keying_material("EXTRACTOR-dtls_srtp", &[], SrtpKeys::material_len(profile))
        .await
        .map_err(|e| PeerError::Dtls(e.to_string()))?;
    let keys = SrtpKeys::from_keying_material(profile, &material, is_client)?;
    Ok((Arc::new(dtls), keys))
}

fn binding_request(buf: &mut Vec<u8>, ice: &Ice) {
    buf.clear();
    let tid = TransactionId(rand::random());
    let username = format!("{}:{}", ice.remote_ufrag, ice.local_ufrag);
    let mut w = StunWriter::new(buf, stun::METHOD_BINDING, StunClass::Request, tid);
    w.username(&username)
        .priority(HOST_PRIORITY)
        .ice_controlling(TIE_BREAKER)
        .use_candidate()
        .message_integrity(&ice.remote_key);
    w.finish_with_fingerprint();
}

/// Connectivity checks until a pair succeeds, then consent checks on the selected pair.
async fn checks(
    socket: Arc<UdpSocket>,
    ice: Arc<Ice>,
    candidates: Vec<SocketAddr>,
    extra: Arc<Mutex<Vec<SocketAddr>>>,
    selected: watch::Receiver<Option<SocketAddr>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = Vec::with_capacity(256);
    let started = Instant::now();
    loop {
        let current = *selected.borrow();
        let pause = match current {
            Some(addr) => {
                binding_request(&mut buf, &ice);
                let _ = socket.send_to(&buf, addr).await;
                CONSENT_INTERVAL
            }
            None => {
                let mut targets = candidates.clone();
                if let Ok(e) = extra.lock() {
                    targets.extend(e.iter().copied().filter(|c| !candidates.contains(c)));
                }
                for t in targets {
                    binding_request(&mut buf, &ice);
                    let _ = socket.send_to(&buf, t).await;
                }
                if started.elapsed() < Duration::from_secs(2) {
                    Duration::from_millis(50)
                } else {
                    Duration::from_millis(250)
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Receive state of one trailer stream.
#[derive(Default)]
struct Slot {
    used: bool,
    seq: SeqTracker,
    ext: SeqExtender,
    offset: Option<u64>,
    mismatch: u64,
}

#[derive(Default)]
struct AudioSlot {
    seq: SeqTracker,
    ext: SeqExtender,
    ssrc: Option<u32>,
}

struct Receiver {
    socket: Arc<UdpSocket>,
    ice: Arc<Ice>,
    selected: watch::Sender<Option<SocketAddr>>,
    dtls: Option<mpsc::Sender<Bytes>>,
    keys: Option<oneshot::Receiver<SrtpContext>>,
    srtp: Option<SrtpContext>,
    role: Role,
    live: Arc<Live>,
    common: Arc<Common>,
    stop: watch::Receiver<bool>,
    report: RxReport,
    slots: Vec<Slot>,
    audio: AudioSlot,
}

async fn receive(mut r: Receiver) -> RxReport {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::with_capacity(256);
    let socket = r.socket.clone();
    let mut stop = r.stop.clone();
    loop {
        let (n, from) = tokio::select! {
            res = socket.recv_from(&mut buf) => match res {
                Ok(v) => v,
                Err(_) => continue,
            },
            _ = stop.changed() => break,
        };
        let Some(&first) = buf.first() else { continue };
        match first {
            0..=3 => r.stun(&buf[..n], from, &mut out).await,
            20..=63 => {
                if let Some(tx) = &r.dtls {
                    if tx.try_send(Bytes::copy_from_slice(&buf[..n])).is_err() && tx.is_closed() {
                        r.dtls = None;
                    }
                }
            }
            128..=191 => r.srtp(&mut buf[..n]),
            _ => r.report.malformed += 1,
        }
    }
    r.finish()
}

impl Receiver {
    async fn stun(&mut self, datagram: &[u8], from: SocketAddr, out: &mut Vec<u8>) {
        let Ok(msg) = StunMessage::try_parse(datagram) else {
            return;
        };
        match msg.class() {
            StunClass::Request if msg.is_binding_request() => {
                let ours = msg
                    .username()
                    .and_then(|u| u.split(':').next())
                    .is_some_and(|u| u == self.ice.local_ufrag);
                if !ours || !msg.check_integrity(&self.ice.local_key) {
                    return;
                }
                out.clear();
                let mut w = StunWriter::new(
                    out,
                    stun::METHOD_BINDING,
                    if msg.ice_controlling().is_some() {
                        StunClass::ErrorResponse
                    } else {
                        StunClass::SuccessResponse
                    },
                    msg.transaction_id(),
                );
                if msg.ice_controlling().is_some() {
                    // Both controlling: our tie-breaker is the maximum, so the server yields.
                    w.error_code(487, "Role Conflict");
                } else {
                    w.xor_mapped_address(from);
                }
                w.message_integrity(&self.ice.local_key);
                w.finish_with_fingerprint();
                let _ = self.socket.send_to(out, from).await;
            }
            StunClass::SuccessResponse
                if msg.check_integrity(&self.ice.remote_key)
                    && self.selected.borrow().is_none() =>
            {
                let _ = self.selected.send(Some(from));
            }
            _ => {}
        }
    }

    fn srtp(&mut self, buf: &mut [u8]) {
        if self.srtp.is_none() {
            if let Some(rx) = self.keys.as_mut() {
                if let Ok(ctx) = rx.try_recv() {
                    self.srtp = Some(ctx);
                    self.keys = None;
                }
            }
        }
        let Some(ctx) = self.srtp.as_mut() else {
            self.report.before_keys += 1;
            return;
        };
        let pt = buf.get(1).copied().unwrap_or(0);
        if (192..=223).contains(&pt) {
            self.report.rtcp += 1;
            if self.role == Role::Publisher {
                if let Ok(len) = ctx.unprotect_rtcp_in_place(buf) {
                    if asks_keyframe(&buf[..len]) {
                        self.live.keyframe_request.store(true, Ordering::Relaxed);
                    }
                }
            }
            return;
        }
        let len = match ctx.unprotect_rtp_in_place(buf) {
            Ok(len) => len,
            Err(SrtpError::Replayed) => {
                self.report.replayed += 1;
                return;
            }
            Err(_) => {
                self.report.auth_failures += 1;
                return;
            }
        };
        let p = &buf[..len];
        match self.role {
            Role::Subscriber => self.video(p),
            Role::Audio => self.mixed_audio(p),
            Role::Publisher => {}
        }
    }

    fn video(&mut self, p: &[u8]) {
        let t = match media::check_video_packet(p) {
            Ok(t) => t,
            Err(PayloadError::Malformed) => {
                self.report.malformed += 1;
                return;
            }
            Err(PayloadError::NoTrailer) => {
                self.report.no_trailer += 1;
                return;
            }
            Err(PayloadError::Corrupt) => {
                self.report.corrupt += 1;
                return;
            }
        };
        let i = t.stream as usize;
        if i >= MAX_STREAMS {
            self.report.malformed += 1;
            return;
        }
        if self.slots.len() <= i {
            // Grows once per new stream, not per packet.
            self.slots.resize_with(i + 1, Slot::default);
        }
        let slot = &mut self.slots[i];
        slot.used = true;
        let rtp_seq = slot.ext.extend(u16::from_be_bytes([p[2], p[3]]));
        let seq = u64::from(t.seq);
        match slot.offset {
            None => slot.offset = Some(rtp_seq.wrapping_sub(seq)),
            Some(o) if o != rtp_seq.wrapping_sub(seq) => slot.mismatch += 1,
            _ => {}
        }
        if slot.seq.record(seq) {
            self.live.valid.fetch_add(1, Ordering::Relaxed);
            if self.common.measuring.load(Ordering::Relaxed) {
                let now = media::now_us(self.common.epoch);
                self.report.latency.record(now.saturating_sub(t.send_us));
            }
        }
    }

    fn mixed_audio(&mut self, p: &[u8]) {
        let Some((start, end)) = media::rtp_payload(p).filter(|(s, e)| e > s) else {
            self.report.malformed += 1;
            return;
        };
        // The mix must be playable: one well-formed 20 ms Opus packet (TOC check, no decode).
        if !media::is_opus_20ms(&p[start..end]) {
            self.report.corrupt += 1;
            return;
        }
        let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
        if self.audio.ssrc.is_some_and(|s| s != ssrc) {
            // A new mixer SSRC restarts sequence accounting.
            self.audio.seq = SeqTracker::default();
            self.audio.ext = SeqExtender::default();
        }
        self.audio.ssrc = Some(ssrc);
        let seq = self.audio.ext.extend(u16::from_be_bytes([p[2], p[3]]));
        if self.audio.seq.record(seq) {
            self.live.valid.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finish(mut self) -> RxReport {
        for (i, s) in self.slots.iter().enumerate() {
            if s.used {
                self.report.streams.push(StreamReport {
                    stream: i as u32,
                    seq: s.seq.clone(),
                    seq_mismatch: s.mismatch,
                });
            }
        }
        if self.role == Role::Audio && self.audio.ssrc.is_some() {
            self.report.streams.push(StreamReport {
                stream: 0,
                seq: self.audio.seq.clone(),
                seq_mismatch: 0,
            });
        }
        self.report
    }
}

/// Whether an RTCP compound packet carries a PLI (206/1) or FIR (206/4).
fn asks_keyframe(mut p: &[u8]) -> bool {
    while p.len() >= 4 {
        let fmt = p[0] & 0x1f;
        if p[1] == 206 && (fmt == 1 || fmt == 4) {
            return true;
        }
        let len = (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1) * 4;
        if len > p.len() {
            break;
        }
        p = &p[len..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pli_and_fir_are_keyframe_requests() {
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        let pli = [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        let mut compound = rr.to_vec();
        compound.extend_from_slice(&pli);
        assert!(asks_keyframe(&compound));
        assert!(!asks_keyframe(&rr));
        let remb = [0x8f, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(!asks_keyframe(&remb));
    }
}
