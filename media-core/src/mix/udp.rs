//! Plain RTP over UDP: participants without WebRTC (Janus's `rtp` participants, e.g. an
//! ffmpeg or a SIP gateway) and forwarders of the mix (`rtp_forward`).
//!
//! [`UdpOut`] sends with `try_send_to` (never blocks the mixing task; a full socket buffer
//! drops and is counted as a send error). [`RtpEndpoint`] binds a socket for a plain-RTP
//! participant: what arrives on it goes to the mixer like a peer's packets, the mix goes back
//! to the far end from the same socket (symmetric RTP, what ffmpeg and gateways expect).
//! [`SrtpUdpOut`] is a forwarder with SDES-style keying (Janus `srtp_suite` + `srtp_crypto`):
//! the project's own SRTP ([`crate::srtp::sdes`]), one context per forwarder, encrypting into
//! the context's scratch buffer (no allocation per packet).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::{MixOut, MixerHandle, ParticipantId};
use crate::engine::SendError;
use crate::srtp::{SdesKey, SdesSender, SrtpError};

/// Receive buffer reserved per datagram (larger datagrams are truncated and then rejected
/// as malformed by the mixer).
const RECV_BUF: usize = 1500;
/// Receive-buffer block: datagrams are split off it, so a `Bytes` costs no allocation of its
/// own until the block is used up.
const RECV_BLOCK: usize = 64 * 1024;

/// Sends mixed RTP to one UDP address.
#[derive(Debug, Clone)]
pub struct UdpOut {
    socket: Arc<UdpSocket>,
    to: SocketAddr,
}

impl UdpOut {
    pub fn new(socket: Arc<UdpSocket>, to: SocketAddr) -> Self {
        UdpOut { socket, to }
    }

    /// A forwarder target: an unconnected socket bound to an ephemeral port of `to`'s
    /// family.
    pub async fn forwarder(to: SocketAddr) -> io::Result<Self> {
        let any: SocketAddr = if to.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        Ok(UdpOut::new(Arc::new(UdpSocket::bind(any).await?), to))
    }

    pub fn destination(&self) -> SocketAddr {
        self.to
    }
}

impl MixOut for UdpOut {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError> {
        match self.socket.try_send_to(packet, self.to) {
            Ok(_) => Ok(()),
            Err(_) => Err(SendError::WouldBlock),
        }
    }
}

/// AES-CM master key + master salt of an SDES forwarder: 16 + 14 bytes.
pub const SRTP_MASTER_LEN: usize = crate::srtp::SDES_MASTER_LEN;

/// An SRTP forwarder: [`UdpOut`] behind an outbound SRTP context ([`SdesSender`], shared
/// with the VideoRoom's forwarders).
#[derive(Debug)]
pub struct SrtpUdpOut {
    udp: UdpOut,
    srtp: SdesSender,
}

impl SrtpUdpOut {
    /// `tag_bits` is Janus's `srtp_suite`: 80 (`AES_CM_128_HMAC_SHA1_80`) or 32
    /// (`AES_CM_128_HMAC_SHA1_32`); `master` the decoded `srtp_crypto` (key then salt).
    pub fn new(udp: UdpOut, tag_bits: u8, master: &[u8]) -> Result<Self, SrtpError> {
        Self::with_key(udp, &SdesKey::new(tag_bits, master)?)
    }

    pub fn with_key(udp: UdpOut, key: &SdesKey) -> Result<Self, SrtpError> {
        Ok(SrtpUdpOut {
            udp,
            srtp: SdesSender::new(key)?,
        })
    }
}

impl MixOut for SrtpUdpOut {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError> {
        self.srtp
            .protect_with(packet, |protected| self.udp.send_rtp(protected))
            .map_err(|_| SendError::Srtp)?
    }
}

/// A plain-RTP participant's socket: receives into the mixer, sends the mix back.
#[derive(Debug)]
pub struct RtpEndpoint {
    out: Arc<UdpOut>,
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl RtpEndpoint {
    /// Binds `local` (port 0 = any) and starts receiving for participant `id`. The mix is
    /// sent to `remote`; packets from other sources are accepted too (the far end may send
    /// from another port, as ffmpeg does with separate input and output).
    pub async fn bind(
        mixer: MixerHandle,
        id: ParticipantId,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind(local).await?);
        let local = socket.local_addr()?;
        let rx = socket.clone();
        let task = tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(RECV_BLOCK);
            loop {
                if buf.capacity() < RECV_BUF {
                    buf = BytesMut::with_capacity(RECV_BLOCK);
                }
                buf.clear();
                match rx.recv_buf_from(&mut buf).await {
                    Ok((n, _)) if n > 0 => {
                        let packet = buf.split_to(n).freeze();
                        if !mixer.push_rtp(id, packet) {
                            break;
                        }
                    }
                    Ok(_) => {}
                    // ICMP port unreachable surfaces as an error on Linux: keep receiving.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(_) => break,
                }
            }
        });
        Ok(RtpEndpoint {
            out: Arc::new(UdpOut::new(socket, remote)),
            local,
            task,
        })
    }

    /// Where the far end should send its RTP.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The [`MixOut`] to give the mixer for this participant.
    pub fn out(&self) -> Arc<dyn MixOut> {
        self.out.clone()
    }
}

impl Drop for RtpEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
