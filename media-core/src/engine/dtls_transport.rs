//! DTLS-SRTP over the shared UDP socket (RFC 5764), with `dtls` 0.17 (webrtc-rs).
//!
//! The crate wants a connection object per peer; [`DatagramConn`] is that object: the demux
//! pushes each DTLS datagram of the peer into a bounded channel, and sends go out of the one
//! shared socket to the peer's ICE-selected address. The handshake is bounded by a timeout,
//! the peer certificate is checked against the SDP fingerprint (RFC 8122 §5), and the SRTP keys
//! are exported with the `EXTRACTOR-dtls_srtp` label.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use dtls::cipher_suite::CipherSuiteId;
use dtls::config::{ClientAuthType, Config, ExtendedMasterSecretType};
use dtls::conn::DTLSConn;
use dtls::crypto::Certificate;
use dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use webrtc_util::{Conn, KeyingMaterialExporter};

use crate::dtls::fingerprint::{sha256_fingerprint, Fingerprint};
use crate::srtp::{ProtectionProfile, SrtpKeys};

/// How long a DTLS handshake may take before the peer is dropped ("DTLS timeout").
pub const DTLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// DTLS datagrams queued per peer before the demux drops them.
pub const DTLS_QUEUE: usize = 64;
/// Our DTLS records stay below this (Janus `dtls_mtu` default).
pub const DTLS_MTU: usize = 1200;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DtlsError {
    #[error("DTLS handshake timed out")]
    Timeout,
    #[error("DTLS: {0}")]
    Handshake(String),
    #[error("peer certificate does not match the SDP fingerprint")]
    FingerprintMismatch,
    #[error("no peer certificate")]
    NoCertificate,
    #[error("no SRTP profile negotiated")]
    NoSrtpProfile,
    #[error("keying material export failed: {0}")]
    Export(String),
}

/// The per-peer connection object handed to the DTLS crate.
pub struct DatagramConn {
    rx: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    socket: Arc<UdpSocket>,
    remote: Arc<Mutex<Option<SocketAddr>>>,
    local: SocketAddr,
}

impl DatagramConn {
    pub fn new(
        rx: mpsc::Receiver<Bytes>,
        socket: Arc<UdpSocket>,
        remote: Arc<Mutex<Option<SocketAddr>>>,
        local: SocketAddr,
    ) -> Self {
        DatagramConn {
            rx: tokio::sync::Mutex::new(rx),
            socket,
            remote,
            local,
        }
    }

    fn remote(&self) -> Option<SocketAddr> {
        self.remote.lock().ok().and_then(|g| *g)
    }
}

fn closed() -> webrtc_util::Error {
    webrtc_util::Error::Io(std::io::Error::from(std::io::ErrorKind::NotConnected).into())
}

#[async_trait]
impl Conn for DatagramConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let datagram = self.rx.lock().await.recv().await.ok_or_else(closed)?;
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let n = self.recv(buf).await?;
        Ok((n, self.remote().unwrap_or(self.local)))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        let to = self.remote().ok_or_else(closed)?;
        Ok(self.socket.send_to(buf, to).await?)
    }

    async fn send_to(&self, buf: &[u8], _target: SocketAddr) -> webrtc_util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.rx.lock().await.close();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Which DTLS side we play (RFC 5763 §5: `a=setup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    /// We answer the ClientHello (`a=setup:passive` from us).
    Server,
    /// We send the ClientHello (`a=setup:active` from us).
    Client,
}

/// What the handshake produced.
pub struct DtlsOutcome {
    pub conn: Arc<DTLSConn>,
    pub keys: SrtpKeys,
    pub remote_fingerprint: String,
}

/// The SRTP profiles to offer: with `gcm_only`, AES-128-GCM alone (the client listed it and
/// the crate picks the first of *the client's* list it supports, so this is how we choose it);
/// otherwise GCM then AES-CM-SHA1-80.
pub fn srtp_profiles(gcm_only: bool) -> Vec<SrtpProtectionProfile> {
    if gcm_only {
        vec![SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm]
    } else {
        vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ]
    }
}

/// Runs the handshake over `conn` (the engine passes a [`DatagramConn`]) and derives the SRTP
/// keys.
pub async fn handshake(
    conn: Arc<dyn Conn + Send + Sync>,
    certificate: Certificate,
    role: DtlsRole,
    profiles: Vec<SrtpProtectionProfile>,
    expected: Option<Fingerprint>,
) -> Result<DtlsOutcome, DtlsError> {
    let config = Config {
        certificates: vec![certificate],
        // Explicit ECDSA suites: the default list also offers RSA suites next to an ECDSA
        // certificate, which can stall handshakes (design.md).
        cipher_suites: vec![
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256,
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
        ],
        srtp_protection_profiles: profiles,
        client_auth: ClientAuthType::RequireAnyClientCert,
        extended_master_secret: ExtendedMasterSecretType::Request,
        // Self-signed certificates: trust comes from the SDP fingerprint, checked below.
        insecure_skip_verify: true,
        mtu: DTLS_MTU,
        ..Default::default()
    };
    let is_client = role == DtlsRole::Client;
    let dtls = tokio::time::timeout(
        DTLS_HANDSHAKE_TIMEOUT,
        DTLSConn::new(conn, config, is_client, None),
    )
    .await
    .map_err(|_| DtlsError::Timeout)?
    .map_err(|e| DtlsError::Handshake(e.to_string()))?;

    let state = dtls.connection_state().await;
    let cert = state
        .peer_certificates
        .first()
        .ok_or(DtlsError::NoCertificate)?;
    let remote_fingerprint = sha256_fingerprint(cert);
    if let Some(expected) = expected {
        if !expected.matches(cert) {
            let _ = dtls.close().await;
            return Err(DtlsError::FingerprintMismatch);
        }
    }
    let profile = match dtls.selected_srtpprotection_profile() {
        SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm => ProtectionProfile::AeadAes256Gcm,
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => {
            ProtectionProfile::Aes128CmHmacSha1_80
        }
        SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32 => {
            ProtectionProfile::Aes128CmHmacSha1_32
        }
        _ => return Err(DtlsError::NoSrtpProfile),
    };
    let material = state
        .export_keying_material("EXTRACTOR-dtls_srtp", &[], SrtpKeys::material_len(profile))
        .await
        .map_err(|e| DtlsError::Export(e.to_string()))?;
    let keys = SrtpKeys::from_keying_material(profile, &material, is_client)
        .map_err(|e| DtlsError::Export(e.to_string()))?;
    Ok(DtlsOutcome {
        conn: Arc::new(dtls),
        keys,
        remote_fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::SrtpContext;

    fn cert(name: &str) -> Certificate {
        Certificate::generate_self_signed(vec![name.to_owned()]).expect("certificate")
    }

    fn fingerprint_of(c: &Certificate) -> Fingerprint {
        let fp = sha256_fingerprint(c.certificate[0].as_ref());
        Fingerprint::parse(&format!("sha-256 {fp}")).expect("fingerprint")
    }

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1]);
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[7u8; 200]);
        p
    }

    /// Two in-memory endpoints: our server side and a client side, both on the DTLS crate.
    async fn run_pair(
        gcm_only: bool,
        client_profiles: Vec<SrtpProtectionProfile>,
        expected: impl FnOnce(&Certificate) -> Fingerprint,
    ) -> (Result<DtlsOutcome, DtlsError>, Option<SrtpKeys>) {
        let (a, b) = webrtc_util::conn::conn_pipe::pipe();
        let (server_cert, client_cert) = (cert("server"), cert("client"));
        let expected = expected(&client_cert);
        let server = tokio::spawn(handshake(
            Arc::new(a),
            server_cert,
            DtlsRole::Server,
            srtp_profiles(gcm_only),
            Some(expected),
        ));
        let config = Config {
            certificates: vec![client_cert],
            insecure_skip_verify: true,
            srtp_protection_profiles: client_profiles,
            ..Default::default()
        };
        let client = tokio::time::timeout(
            Duration::from_secs(10),
            DTLSConn::new(Arc::new(b), config, true, None),
        )
        .await;
        let client_keys = match client {
            Ok(Ok(conn)) => {
                let profile = match conn.selected_srtpprotection_profile() {
                    SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => {
                        ProtectionProfile::AeadAes128Gcm
                    }
                    _ => ProtectionProfile::Aes128CmHmacSha1_80,
                };
                let state = conn.connection_state().await;
                let material = state
                    .export_keying_material(
                        "EXTRACTOR-dtls_srtp",
                        &[],
                        SrtpKeys::material_len(profile),
                    )
                    .await
                    .expect("export");
                Some(SrtpKeys::from_keying_material(profile, &material, true).expect("keys"))
            }
            _ => None,
        };
        let outcome = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server finishes")
            .expect("server task");
        (outcome, client_keys)
    }

    #[tokio::test]
    async fn in_memory_handshake_keys_srtp_both_ways_with_gcm() {
        let (outcome, client_keys) = run_pair(
            true,
            vec![
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            ],
            fingerprint_of,
        )
        .await;
        let outcome = outcome.expect("server handshake");
        let client_keys = client_keys.expect("client handshake");
        assert!(matches!(
            outcome.keys.profile,
            ProtectionProfile::AeadAes128Gcm
        ));
        // Client → server and server → client with the exported keys.
        let mut c_out = SrtpContext::outbound(&client_keys).expect("ctx");
        let mut s_in = SrtpContext::inbound(&outcome.keys).expect("ctx");
        let p = rtp(5, 1);
        assert_eq!(
            &s_in
                .unprotect_rtp(c_out.protect_rtp(&p).expect("protect"))
                .expect("unprotect")[..],
            &p[..]
        );
        let mut s_out = SrtpContext::outbound(&outcome.keys).expect("ctx");
        let mut c_in = SrtpContext::inbound(&client_keys).expect("ctx");
        let p = rtp(6, 1);
        assert_eq!(
            &c_in
                .unprotect_rtp(s_out.protect_rtp(&p).expect("protect"))
                .expect("unprotect")[..],
            &p[..]
        );
    }

    #[tokio::test]
    async fn without_gcm_the_client_gets_aes_cm() {
        let (outcome, _) = run_pair(
            false,
            vec![SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80],
            fingerprint_of,
        )
        .await;
        assert!(matches!(
            outcome.expect("handshake").keys.profile,
            ProtectionProfile::Aes128CmHmacSha1_80
        ));
    }

    #[tokio::test]
    async fn a_certificate_that_does_not_match_the_sdp_fingerprint_is_refused() {
        let (outcome, _) = run_pair(
            true,
            vec![SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm],
            |_| fingerprint_of(&cert("someone else")),
        )
        .await;
        assert!(matches!(outcome, Err(DtlsError::FingerprintMismatch)));
    }
}
