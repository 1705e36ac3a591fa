//! The IO boundary of the media core: the UDP socket, the receive task and the per-peer DTLS
//! tasks. Everything protocol-shaped lives in the sans-IO modules (`ice`, `dtls`, `srtp`,
//! `rtp`, `rtcp`, `sdp`); this module only moves bytes between them and the OS.
//!
//! Shape (design.md): one UDP socket per address family multiplexes every peer. One receive
//! task owns the routing tables (ICE ufrag → peer, 5-tuple → peer) and each peer's inbound
//! SRTP context, so the per-packet path takes no lock; changes reach it as [`Control`]
//! messages. Sends go straight from the caller's task to the socket (`try_send_to`: a full
//! socket buffer drops and counts rather than blocking a fan-out loop).

mod batch;
mod dtls_transport;
mod peer;
mod recv;
mod remote;
mod test_loss;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use crate::sctp::OutgoingMessage;
pub use batch::{BatchStats, RtpBatch};
pub use dtls_transport::{DatagramConn, DtlsError, DtlsRole, DTLS_HANDSHAKE_TIMEOUT};
pub use peer::{
    CloseReason, DtlsState, IceState, MediaKind, MediaSink, Peer, PeerCounters, PeerEvent, PeerId,
    PeerInfo, PeerObserver, RecvStreamParams, RemoteParams, RtpIn, SendError, SendSsrcCounters,
    StreamCounters, MAX_SEND_SSRCS,
};
pub use remote::{remote_params, remote_transport, RemoteSdpError, RemoteTransport};

use peer::PeerShared;

/// Engine settings (the application maps its `[media]` config section onto this).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address the media socket binds (`0.0.0.0` = all IPv4 interfaces).
    pub bind_ip: IpAddr,
    /// UDP port of the media socket(s) (0 = any free port, or the first free one of
    /// `port_range`).
    pub port: u16,
    /// With `port` 0: try these ports in order (Janus `rtp_port_range`, inclusive).
    pub port_range: Option<(u16, u16)>,
    /// Also listen on IPv6 (a second socket, `[::]`, same port) — Janus `ipv6`.
    pub ipv6: bool,
    /// Addresses announced in our candidates (Janus `nat_1_1_mapping`); empty = auto-detect.
    pub announced_ips: Vec<IpAddr>,
    /// A peer whose consent checks stop for this long is dropped (RFC 7675 §5.1: 30 s).
    pub consent_timeout: Duration,
    /// `no_media_timer`: a stream silent this long is reported as not receiving.
    pub no_media_timer: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            port_range: None,
            ipv6: false,
            announced_ips: Vec::new(),
            consent_timeout: Duration::from_secs(30),
            no_media_timer: Duration::from_secs(1),
        }
    }
}

/// Engine-wide counters, read by the application's metrics.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub peers: AtomicU64,
    pub peers_ice_connected: AtomicU64,
    pub peers_dtls_connected: AtomicU64,
    pub stun_in: AtomicU64,
    pub dtls_in: AtomicU64,
    pub rtp_packets_in: AtomicU64,
    pub rtp_bytes_in: AtomicU64,
    pub rtcp_packets_in: AtomicU64,
    pub audio_packets_in: AtomicU64,
    pub video_packets_in: AtomicU64,
    pub audio_bytes_in: AtomicU64,
    pub video_bytes_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub send_drops: AtomicU64,
    pub srtp_failures: AtomicU64,
    pub dtls_failures: AtomicU64,
    pub malformed_dropped: AtomicU64,
    pub unknown_source_dropped: AtomicU64,
    pub nacks_in: AtomicU64,
    pub plis_in: AtomicU64,
}

/// A candidate of ours, as it goes into SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalCandidate {
    pub addr: SocketAddr,
    /// RFC 8445 §5.1.2 priority of a host candidate.
    pub priority: u32,
}

pub(crate) enum Control {
    Register {
        peer: Arc<PeerShared>,
    },
    SetRemote {
        peer: PeerId,
        params: Box<RemoteParams>,
    },
    RestartIce {
        peer: PeerId,
        ufrag: String,
        pwd: String,
    },
    SetSink {
        peer: PeerId,
        sink: Option<Arc<dyn MediaSink>>,
    },
    Close {
        peer: PeerId,
        reason: CloseReason,
        silent: bool,
    },
    DtlsDone {
        peer: PeerId,
        /// Boxed: the SRTP context is large and this message is sent once per peer.
        result: Result<Box<crate::srtp::SrtpContext>, CloseReason>,
    },
}

pub(crate) struct EngineShared {
    /// The socket of `bind_ip`'s family.
    socket: Arc<UdpSocket>,
    /// The IPv6 socket when `ipv6` is on and `socket` is IPv4.
    socket6: Option<Arc<UdpSocket>>,
    local_addr: SocketAddr,
    certificate: dtls::crypto::Certificate,
    pub(crate) fingerprint: String,
    ctrl: mpsc::UnboundedSender<Control>,
    candidates: Vec<LocalCandidate>,
    config: EngineConfig,
    next_peer: AtomicU64,
    stats: Arc<EngineStats>,
}

impl EngineShared {
    pub(crate) fn control(&self, c: Control) {
        // The receive task lives as long as the engine; a send error means shutdown.
        let _ = self.ctrl.send(c);
    }

    /// The socket that reaches `to` (one per address family).
    pub(crate) fn socket_for(&self, to: &SocketAddr) -> &Arc<UdpSocket> {
        match &self.socket6 {
            Some(s6) if to.is_ipv6() => s6,
            _ => &self.socket,
        }
    }

    /// Sends without waiting: a full socket buffer is reported, never waited on.
    pub(crate) fn send_datagram(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<()> {
        match self.socket_for(&to).try_send_to(buf, to) {
            Ok(_) => {
                self.stats.packets_out.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bytes_out
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.send_drops.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

impl EngineShared {
    /// Sends a batch without waiting: one `sendmmsg` per socket the destinations need;
    /// `on_drop(i)` for each datagram not sent. Engine counters move once per batch.
    pub(crate) fn send_batch(
        &self,
        batch: &crate::net::udp::SendBatch,
        mut on_drop: impl FnMut(usize),
    ) -> crate::net::udp::SendOutcome {
        let out = match &self.socket6 {
            Some(s6) => {
                let a = batch.send_on(&self.socket, |d| !d.is_ipv6(), &mut on_drop);
                let b = batch.send_on(s6, |d| d.is_ipv6(), &mut on_drop);
                crate::net::udp::SendOutcome {
                    sent: a.sent + b.sent,
                    bytes: a.bytes + b.bytes,
                    dropped: a.dropped + b.dropped,
                    calls: a.calls + b.calls,
                }
            }
            None => batch.send_on(&self.socket, |_| true, &mut on_drop),
        };
        let s = &self.stats;
        s.packets_out.fetch_add(out.sent as u64, Ordering::Relaxed);
        s.bytes_out.fetch_add(out.bytes as u64, Ordering::Relaxed);
        if out.dropped > 0 {
            s.send_drops
                .fetch_add(out.dropped as u64, Ordering::Relaxed);
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("binding the media socket: {0}")]
    Bind(std::io::Error),
    #[error("making the DTLS certificate: {0}")]
    Certificate(String),
}

/// The media engine. Cloning gives another handle on the same engine.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<EngineShared>,
}

impl Engine {
    /// Binds the media socket, makes the DTLS certificate (ECDSA P-256) and starts the
    /// receive task. Must be called inside a tokio runtime.
    pub async fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        let socket = bind_media_socket(&config).map_err(EngineError::Bind)?;
        let local_addr = socket.local_addr().map_err(EngineError::Bind)?;
        let socket6 = if config.ipv6 && config.bind_ip.is_ipv4() {
            let addr = SocketAddr::new(
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                local_addr.port(),
            );
            Some(Arc::new(bind_udp(addr).map_err(EngineError::Bind)?))
        } else {
            None
        };
        let certificate = dtls::crypto::Certificate::generate_self_signed(vec!["ianus".to_owned()])
            .map_err(|e| EngineError::Certificate(e.to_string()))?;
        let der = certificate
            .certificate
            .first()
            .ok_or_else(|| EngineError::Certificate("empty certificate chain".into()))?;
        let fingerprint = crate::dtls::fingerprint::sha256_fingerprint(der.as_ref());
        let ips = if config.announced_ips.is_empty() {
            let mut ips = detect_ips(config.bind_ip);
            if socket6.is_some() {
                ips.extend(detect_ipv6());
            }
            ips
        } else {
            config.announced_ips.clone()
        };
        let candidates = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| LocalCandidate {
                addr: SocketAddr::new(*ip, local_addr.port()),
                priority: host_priority(i as u32),
            })
            .collect();
        let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(EngineShared {
            socket: Arc::new(socket),
            socket6,
            local_addr,
            certificate,
            fingerprint,
            ctrl,
            candidates,
            config,
            next_peer: AtomicU64::new(1),
            stats: Arc::new(EngineStats::default()),
        });
        tokio::spawn(recv::run(shared.clone(), ctrl_rx));
        Ok(Engine { shared })
    }

    /// `sha-256` fingerprint of our certificate ("AB:CD:…").
    pub fn fingerprint(&self) -> &str {
        &self.shared.fingerprint
    }

    /// Our host candidates (one per announced address, all on the one media port).
    pub fn candidates(&self) -> &[LocalCandidate] {
        &self.shared.candidates
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    pub fn stats(&self) -> &EngineStats {
        &self.shared.stats
    }

    /// Creates a PeerConnection with fresh ICE credentials. Nothing flows until
    /// [`Peer::set_remote`] is called and the browser's checks arrive.
    pub fn new_peer(&self, observer: Arc<dyn PeerObserver>) -> Peer {
        let (ufrag, pwd) = crate::ice::random_credentials();
        let shared = Arc::new(PeerShared {
            id: self.shared.next_peer.fetch_add(1, Ordering::Relaxed),
            engine: self.shared.clone(),
            local_ufrag: Mutex::new(ufrag),
            local_pwd: Mutex::new(pwd),
            selected: Arc::new(Mutex::new(None)),
            srtp_out: Mutex::new(None),
            observer,
            data_tx: Mutex::new(None),
            data_sink: Mutex::new(None),
            ice_state: Default::default(),
            dtls_state: Default::default(),
            srtp_profile: Mutex::new(None),
            remote_fingerprint: Mutex::new(None),
            dtls_role: Mutex::new(None),
            counters: PeerCounters::default(),
            closed: Default::default(),
            test_loss: Default::default(),
        });
        self.shared.stats.peers.fetch_add(1, Ordering::Relaxed);
        self.shared.control(Control::Register {
            peer: shared.clone(),
        });
        Peer { shared }
    }
}

/// RFC 8445 §5.1.2.1: type preference 126 (host), local preference by order, component 1.
fn host_priority(index: u32) -> u32 {
    (126 << 24) | ((65535u32.saturating_sub(index)) << 8) | (256 - 1)
}

/// Binds the main media socket: `port`, or the first free port of `port_range`.
fn bind_media_socket(config: &EngineConfig) -> std::io::Result<UdpSocket> {
    match (config.port, config.port_range) {
        (0, Some((lo, hi))) => {
            let mut last = std::io::Error::new(std::io::ErrorKind::AddrInUse, "empty port range");
            for port in lo..=hi {
                match bind_udp(SocketAddr::new(config.bind_ip, port)) {
                    Ok(s) => return Ok(s),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        (port, _) => bind_udp(SocketAddr::new(config.bind_ip, port)),
    }
}

/// A non-blocking UDP socket with large buffers (a fan-out burst must not overflow the
/// kernel queue); IPv6 sockets are IPv6-only so the IPv4 socket can share the port.
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// The global IPv6 address the OS would route from, if any (no packet is sent).
fn detect_ipv6() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("[::]:0").ok()?;
    // Documentation prefix (RFC 3849): connect() only selects a route.
    s.connect("[2001:db8::1]:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// The addresses to announce when none are configured: the bound address if specific,
/// otherwise the address the OS would route from (no packet is sent), else loopback.
fn detect_ips(bind: IpAddr) -> Vec<IpAddr> {
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        // TEST-NET-1 address: connect() on UDP only selects a route, nothing is sent.
        s.connect("192.0.2.1:9")?;
        s.local_addr()
    });
    match probe {
        Ok(a) if !a.ip().is_unspecified() => vec![a.ip()],
        _ => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    }
}
