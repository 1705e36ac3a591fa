//! SRTP/SRTCP contexts for one peer, keyed from the DTLS handshake (RFC 5764 §4.2).
//!
//! Built on `rtc-srtp` 0.21 (the sans-IO webrtc-rs line) with its `ring` crypto provider,
//! chosen over `webrtc-srtp` 0.17 by `benches/benches/srtp_protect.rs` on 1,200-byte packets:
//!
//! | crate | profile | protect | unprotect |
//! |---|---|---|---|
//! | webrtc-srtp 0.17.2 | AES_CM_128_HMAC_SHA1_80 | 898 ns | 914 ns |
//! | webrtc-srtp 0.17.2 | AEAD_AES_128_GCM | 949 ns | 969 ns |
//! | rtc-srtp 0.21.1 | AES_CM_128_HMAC_SHA1_80 | 915 ns | 916 ns |
//! | rtc-srtp 0.21.1 | AEAD_AES_128_GCM | 276 ns | 251 ns |
//!
//! Only `rtc-srtp`'s GCM uses the CPU's AES-NI/PCLMUL (through `ring`); `webrtc-srtp`'s GCM is
//! no cheaper than AES-CM. That is also why the engine negotiates GCM whenever the browser
//! offers it: 3.5× less CPU per packet on the hot path.
//!
//! Two things are added on top of the crate:
//! - **bounded per-SSRC state**: the crate keeps a map entry per SSRC it ever sees, so a peer
//!   spraying random SSRCs could grow it without limit. [`SrtpSession`] admits at most
//!   [`MAX_SSRCS_PER_DIRECTION`] distinct SSRCs per direction and drops the rest unseen;
//! - **length guards** before calling into the crate, whose SRTCP path indexes the packet
//!   header without checking the length.
//!
//! Replay protection is on in both directions (RFC 3711 §3.3.2).

use bytes::Bytes;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
pub use rtc_srtp::protection_profile::ProtectionProfile;

/// Distinct SSRCs a peer may use per direction: a Unified Plan PC with a few m-lines, each with
/// simulcast (3) and RTX, stays far below this.
pub const MAX_SSRCS_PER_DIRECTION: usize = 64;

/// Replay window for SRTP (packets). Wide enough for NACK-driven reordering.
const SRTP_REPLAY_WINDOW: usize = 1024;
/// Replay window for SRTCP (indices).
const SRTCP_REPLAY_WINDOW: usize = 128;

/// Smallest SRTCP packet worth handing to the crate: 8-byte header + 4-byte index + 10-byte tag.
const MIN_SRTCP_LEN: usize = 8 + 4 + 10;
/// Smallest SRTP packet: 12-byte header + 4-byte tag (the shortest tag of any profile).
const MIN_SRTP_LEN: usize = 12 + 4;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    #[error("packet too short")]
    TooShort,
    #[error("too many SSRCs on this peer")]
    TooManySsrcs,
    #[error("SRTP: {0}")]
    Crypto(String),
    #[error("no crypto provider")]
    NoCryptoProvider,
    #[error("unsupported DTLS-SRTP profile")]
    UnsupportedProfile,
}

/// Keys exported from DTLS (RFC 5764 §4.2): each side's write key and salt.
#[derive(Clone)]
pub struct SrtpKeys {
    pub profile: ProtectionProfile,
    pub local_key: Vec<u8>,
    pub local_salt: Vec<u8>,
    pub remote_key: Vec<u8>,
    pub remote_salt: Vec<u8>,
}

impl SrtpKeys {
    /// Splits the `EXTRACTOR-dtls_srtp` keying material into the two directions.
    /// Layout: client key, server key, client salt, server salt.
    pub fn from_keying_material(
        profile: ProtectionProfile,
        material: &[u8],
        is_client: bool,
    ) -> Result<Self, SrtpError> {
        let (k, s) = (profile.key_len(), profile.salt_len());
        if material.len() < 2 * (k + s) {
            return Err(SrtpError::TooShort);
        }
        let client_key = material[..k].to_vec();
        let server_key = material[k..2 * k].to_vec();
        let client_salt = material[2 * k..2 * k + s].to_vec();
        let server_salt = material[2 * k + s..2 * (k + s)].to_vec();
        Ok(if is_client {
            SrtpKeys {
                profile,
                local_key: client_key,
                local_salt: client_salt,
                remote_key: server_key,
                remote_salt: server_salt,
            }
        } else {
            SrtpKeys {
                profile,
                local_key: server_key,
                local_salt: server_salt,
                remote_key: client_key,
                remote_salt: client_salt,
            }
        })
    }

    /// Number of keying-material bytes to export for `profile`.
    pub fn material_len(profile: ProtectionProfile) -> usize {
        2 * (profile.key_len() + profile.salt_len())
    }
}

/// The RFC 8122/5764 profile name, as getStats and Admin `handle_info` print it.
pub fn profile_name(profile: ProtectionProfile) -> &'static str {
    match profile {
        ProtectionProfile::Aes128CmHmacSha1_80 => "SRTP_AES128_CM_SHA1_80",
        ProtectionProfile::Aes128CmHmacSha1_32 => "SRTP_AES128_CM_SHA1_32",
        ProtectionProfile::Aes256CmHmacSha1_80 => "SRTP_AES256_CM_SHA1_80",
        ProtectionProfile::Aes256CmHmacSha1_32 => "SRTP_AES256_CM_SHA1_32",
        ProtectionProfile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
        ProtectionProfile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        _ => "unknown",
    }
}

/// A small set of admitted SSRCs; linear scan beats hashing at this size.
#[derive(Default)]
struct SsrcSet {
    seen: Vec<u32>,
}

impl SsrcSet {
    fn admit(&mut self, ssrc: u32) -> bool {
        if self.seen.contains(&ssrc) {
            return true;
        }
        if self.seen.len() >= MAX_SSRCS_PER_DIRECTION {
            return false;
        }
        self.seen.push(ssrc);
        true
    }
}

/// One direction of SRTP: the inbound half (decrypt) or the outbound half (encrypt).
pub struct SrtpContext {
    ctx: Context,
    rtp_ssrcs: SsrcSet,
    rtcp_ssrcs: SsrcSet,
}

impl SrtpContext {
    /// The context that decrypts what the remote peer sends.
    pub fn inbound(keys: &SrtpKeys) -> Result<Self, SrtpError> {
        Self::new(&keys.remote_key, &keys.remote_salt, keys.profile)
    }

    /// The context that encrypts what we send.
    pub fn outbound(keys: &SrtpKeys) -> Result<Self, SrtpError> {
        Self::new(&keys.local_key, &keys.local_salt, keys.profile)
    }

    fn new(key: &[u8], salt: &[u8], profile: ProtectionProfile) -> Result<Self, SrtpError> {
        let provider =
            rtc_srtp::crypto::default_provider().map_err(|_| SrtpError::NoCryptoProvider)?;
        let ctx = Context::new(
            key,
            salt,
            profile,
            Some(srtp_replay_protection(SRTP_REPLAY_WINDOW)),
            Some(srtcp_replay_protection(SRTCP_REPLAY_WINDOW)),
            provider.crypto(),
        )
        .map_err(crypto)?;
        Ok(SrtpContext {
            ctx,
            rtp_ssrcs: SsrcSet::default(),
            rtcp_ssrcs: SsrcSet::default(),
        })
    }

    /// Decrypts and authenticates an SRTP packet; the result is the plain RTP packet.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Bytes, SrtpError> {
        let ssrc = rtp_ssrc(packet).ok_or(SrtpError::TooShort)?;
        if !self.rtp_ssrcs.admit(ssrc) {
            return Err(SrtpError::TooManySsrcs);
        }
        Ok(self.ctx.decrypt_rtp(packet).map_err(crypto)?.freeze())
    }

    /// Encrypts a plain RTP packet.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Bytes, SrtpError> {
        let ssrc = rtp_ssrc(packet).ok_or(SrtpError::TooShort)?;
        if !self.rtp_ssrcs.admit(ssrc) {
            return Err(SrtpError::TooManySsrcs);
        }
        Ok(self.ctx.encrypt_rtp(packet).map_err(crypto)?.freeze())
    }

    /// Decrypts and authenticates an SRTCP compound packet.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Bytes, SrtpError> {
        if packet.len() < MIN_SRTCP_LEN {
            return Err(SrtpError::TooShort);
        }
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        if !self.rtcp_ssrcs.admit(ssrc) {
            return Err(SrtpError::TooManySsrcs);
        }
        Ok(self.ctx.decrypt_rtcp(packet).map_err(crypto)?.freeze())
    }

    /// Encrypts a plain RTCP compound packet.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Bytes, SrtpError> {
        if packet.len() < 8 {
            return Err(SrtpError::TooShort);
        }
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        if !self.rtcp_ssrcs.admit(ssrc) {
            return Err(SrtpError::TooManySsrcs);
        }
        Ok(self.ctx.encrypt_rtcp(packet).map_err(crypto)?.freeze())
    }
}

fn crypto(e: impl std::fmt::Display) -> SrtpError {
    SrtpError::Crypto(e.to_string())
}

fn rtp_ssrc(packet: &[u8]) -> Option<u32> {
    if packet.len() < MIN_SRTP_LEN {
        return None;
    }
    Some(u32::from_be_bytes([
        packet[8], packet[9], packet[10], packet[11],
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(profile: ProtectionProfile) -> (SrtpKeys, SrtpKeys) {
        let len = SrtpKeys::material_len(profile);
        let material: Vec<u8> = (0..len as u8).collect();
        let client = SrtpKeys::from_keying_material(profile, &material, true).expect("keys");
        let server = SrtpKeys::from_keying_material(profile, &material, false).expect("keys");
        (client, server)
    }

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend(std::iter::repeat(0xab).take(100));
        p
    }

    #[test]
    fn client_and_server_keys_interoperate_for_both_profiles() {
        for profile in [
            ProtectionProfile::AeadAes128Gcm,
            ProtectionProfile::Aes128CmHmacSha1_80,
        ] {
            let (client, server) = keys(profile);
            let mut tx = SrtpContext::outbound(&client).expect("ctx");
            let mut rx = SrtpContext::inbound(&server).expect("ctx");
            let plain = rtp(42, 7);
            let enc = tx.protect_rtp(&plain).expect("protect");
            assert_ne!(&enc[12..], &plain[12..]);
            let dec = rx.unprotect_rtp(&enc).expect("unprotect");
            assert_eq!(&dec[..], &plain[..]);
            // Replay is refused.
            assert!(rx.unprotect_rtp(&enc).is_err());
        }
    }

    #[test]
    fn tampered_packets_fail_authentication() {
        let (client, server) = keys(ProtectionProfile::AeadAes128Gcm);
        let mut tx = SrtpContext::outbound(&client).expect("ctx");
        let mut rx = SrtpContext::inbound(&server).expect("ctx");
        let enc = tx.protect_rtp(&rtp(1, 1)).expect("protect");
        let mut bad = enc.to_vec();
        bad[20] ^= 1;
        assert!(rx.unprotect_rtp(&bad).is_err());
    }

    #[test]
    fn ssrc_state_is_bounded() {
        let (client, server) = keys(ProtectionProfile::AeadAes128Gcm);
        let mut tx = SrtpContext::outbound(&client).expect("ctx");
        let mut rx = SrtpContext::inbound(&server).expect("ctx");
        for ssrc in 0..MAX_SSRCS_PER_DIRECTION as u32 {
            let enc = tx.protect_rtp(&rtp(ssrc, 1)).expect("protect");
            rx.unprotect_rtp(&enc).expect("unprotect");
        }
        let mut tx2 = SrtpContext::outbound(&client).expect("ctx");
        let enc = tx2.protect_rtp(&rtp(9999, 1)).expect("protect");
        assert!(matches!(
            rx.unprotect_rtp(&enc),
            Err(SrtpError::TooManySsrcs)
        ));
    }

    #[test]
    fn short_and_garbage_packets_are_errors_not_panics() {
        let (_, server) = keys(ProtectionProfile::Aes128CmHmacSha1_80);
        let mut rx = SrtpContext::inbound(&server).expect("ctx");
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 0x80) as u8).collect();
            let _ = rx.unprotect_rtp(&junk);
            let _ = rx.unprotect_rtcp(&junk);
        }
    }
}
