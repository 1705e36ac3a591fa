//! The cryptographic transforms, in place on the caller's buffer:
//! - AES-CM + HMAC-SHA1 (RFC 3711 §4.1.1, §4.2.1; SRTCP §3.4), encrypt-then-MAC: the tag is
//!   verified (in constant time) before anything is decrypted;
//! - AEAD AES-GCM (RFC 7714 §8–§10) through `ring`, whose AES-GCM uses AES-NI/VAES and
//!   (V)PCLMULQDQ.
//!
//! Callers have checked lengths and found the header length, SSRC and packet index; this
//! module only transforms bytes.

use hmac::{Hmac, Mac};
use ring::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use sha1::Sha1;

use super::kdf::{self, Aes};
use super::{ProtectionProfile, SrtpError};

type HmacSha1 = Hmac<Sha1>;

/// HMAC-SHA1 session auth key length (RFC 3711 §8.2: n_a = 160 bits).
const AUTH_KEY_LEN: usize = 20;
/// SRTCP's HMAC-SHA1 tag: 80 bits for both SHA1 profiles (RFC 5764 §4.1.2).
const RTCP_HMAC_TAG_LEN: usize = 10;
/// The GCM tag (RFC 7714 §14: 16 octets for both AEAD profiles).
pub(super) const GCM_TAG_LEN: usize = 16;
/// The SRTCP trailer word: E flag ‖ 31-bit SRTCP index (RFC 3711 §3.4).
pub(super) const SRTCP_INDEX_LEN: usize = 4;
/// The E flag of that word.
const E_FLAG: u32 = 1 << 31;
/// The fixed RTCP prefix left in the clear: header word + sender SSRC (RFC 3711 §3.4).
pub(super) const RTCP_CLEAR_PREFIX: usize = 8;

/// Session keys of one kind of traffic (SRTP or SRTCP) for AES-CM + HMAC-SHA1.
pub(super) struct CmSession {
    aes: Aes,
    salt: [u8; 14],
    /// Keyed once; cloned per packet (a copy of the inner/outer hash states, no allocation).
    mac: HmacSha1,
}

/// Session keys of one kind of traffic for AEAD AES-GCM.
pub(super) struct GcmSession {
    key: LessSafeKey,
    salt: [u8; 12],
}

/// The keyed transform of one direction.
// Held once per context, never moved per packet.
#[allow(clippy::large_enum_variant)]
pub(super) enum Transform {
    AesCm {
        rtp: CmSession,
        rtcp: CmSession,
        /// 10 (SHA1_80) or 4 (SHA1_32) bytes on SRTP; SRTCP always has 10.
        rtp_tag_len: usize,
    },
    Gcm {
        rtp: GcmSession,
        rtcp: GcmSession,
    },
}

impl Transform {
    /// Derives the six session keys from the master key and salt (RFC 3711 §4.3; RFC 7714 §11).
    pub(super) fn new(
        profile: ProtectionProfile,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<Self, SrtpError> {
        if master_key.len() != profile.key_len() || master_salt.len() != profile.salt_len() {
            return Err(SrtpError::KeyLength);
        }
        let master = Aes::new(master_key)?;
        if profile.is_aead() {
            let gcm = |enc: u8, salt_label: u8| -> Result<GcmSession, SrtpError> {
                let mut key = [0u8; 32];
                let key = &mut key[..master_key.len()];
                kdf::derive(&master, master_salt, enc, key)?;
                let mut salt = [0u8; 12];
                kdf::derive(&master, master_salt, salt_label, &mut salt)?;
                Ok(GcmSession {
                    key: gcm_key(key)?,
                    salt,
                })
            };
            Ok(Transform::Gcm {
                rtp: gcm(kdf::LABEL_RTP_ENCRYPTION, kdf::LABEL_RTP_SALT)?,
                rtcp: gcm(kdf::LABEL_RTCP_ENCRYPTION, kdf::LABEL_RTCP_SALT)?,
            })
        } else {
            let cm = |enc: u8, auth: u8, salt_label: u8| -> Result<CmSession, SrtpError> {
                let mut key = [0u8; 32];
                let key = &mut key[..master_key.len()];
                kdf::derive(&master, master_salt, enc, key)?;
                let mut auth_key = [0u8; AUTH_KEY_LEN];
                kdf::derive(&master, master_salt, auth, &mut auth_key)?;
                let mut salt = [0u8; 14];
                kdf::derive(&master, master_salt, salt_label, &mut salt)?;
                cm_session(key, &auth_key, salt)
            };
            Ok(Transform::AesCm {
                rtp: cm(
                    kdf::LABEL_RTP_ENCRYPTION,
                    kdf::LABEL_RTP_AUTH,
                    kdf::LABEL_RTP_SALT,
                )?,
                rtcp: cm(
                    kdf::LABEL_RTCP_ENCRYPTION,
                    kdf::LABEL_RTCP_AUTH,
                    kdf::LABEL_RTCP_SALT,
                )?,
                rtp_tag_len: profile.rtp_tag_len(),
            })
        }
    }

    /// A GCM transform keyed directly with session keys (RFC 7714 §16–§17 vectors).
    #[cfg(test)]
    pub(super) fn gcm_from_session_keys(key: &[u8], salt: [u8; 12]) -> Result<Self, SrtpError> {
        Ok(Transform::Gcm {
            rtp: GcmSession {
                key: gcm_key(key)?,
                salt,
            },
            rtcp: GcmSession {
                key: gcm_key(key)?,
                salt,
            },
        })
    }

    /// Bytes SRTP appends to an RTP packet.
    pub(super) fn rtp_overhead(&self) -> usize {
        match self {
            Transform::AesCm { rtp_tag_len, .. } => *rtp_tag_len,
            Transform::Gcm { .. } => GCM_TAG_LEN,
        }
    }

    /// Bytes SRTCP appends to an RTCP packet (tag + index word).
    pub(super) fn rtcp_overhead(&self) -> usize {
        SRTCP_INDEX_LEN
            + match self {
                Transform::AesCm { .. } => RTCP_HMAC_TAG_LEN,
                Transform::Gcm { .. } => GCM_TAG_LEN,
            }
    }

    /// Encrypts the payload of the RTP packet in `buf` (header `hdr_len` bytes) and appends
    /// the tag. `buf` has room reserved for [`Self::rtp_overhead`].
    pub(super) fn protect_rtp(
        &self,
        buf: &mut Vec<u8>,
        hdr_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), SrtpError> {
        match self {
            Transform::AesCm {
                rtp, rtp_tag_len, ..
            } => {
                let (_, payload) = buf.split_at_mut(hdr_len);
                rtp.aes
                    .apply_keystream(&cm_iv(&rtp.salt, ssrc, index), payload);
                // M = authenticated portion ‖ ROC (RFC 3711 §4.2).
                let tag = cm_tag(&rtp.mac, buf, &((index >> 16) as u32).to_be_bytes());
                buf.extend_from_slice(&tag[..*rtp_tag_len]);
            }
            Transform::Gcm { rtp, .. } => {
                let (header, payload) = buf.split_at_mut(hdr_len);
                let tag = rtp
                    .key
                    .seal_in_place_separate_tag(
                        gcm_rtp_nonce(&rtp.salt, ssrc, index),
                        Aad::from(&*header),
                        payload,
                    )
                    .map_err(|_| SrtpError::Crypto)?;
                buf.extend_from_slice(tag.as_ref());
            }
        }
        Ok(())
    }

    /// Authenticates and decrypts the SRTP packet in `buf`; returns the RTP packet's length.
    /// On error `buf` holds garbage.
    pub(super) fn unprotect_rtp(
        &self,
        buf: &mut [u8],
        hdr_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, SrtpError> {
        let plain_len = buf
            .len()
            .checked_sub(self.rtp_overhead())
            .filter(|n| *n >= hdr_len)
            .ok_or(SrtpError::TooShort)?;
        match self {
            Transform::AesCm { rtp, .. } => {
                let (packet, tag) = buf.split_at_mut(plain_len);
                cm_verify(&rtp.mac, packet, &((index >> 16) as u32).to_be_bytes(), tag)?;
                rtp.aes
                    .apply_keystream(&cm_iv(&rtp.salt, ssrc, index), &mut packet[hdr_len..]);
            }
            Transform::Gcm { rtp, .. } => {
                let (header, rest) = buf.split_at_mut(hdr_len);
                rtp.key
                    .open_in_place(
                        gcm_rtp_nonce(&rtp.salt, ssrc, index),
                        Aad::from(&*header),
                        rest,
                    )
                    .map_err(|_| SrtpError::Authentication)?;
            }
        }
        Ok(plain_len)
    }

    /// Encrypts the RTCP compound packet in `buf` and appends the E flag, SRTCP index and
    /// tag in the profile's order (AES-CM: index then tag, RFC 3711 §3.4; GCM: tag then
    /// index, RFC 7714 §9.1). Always encrypts (E = 1). `buf.len() >= 8`.
    pub(super) fn protect_rtcp(
        &self,
        buf: &mut Vec<u8>,
        ssrc: u32,
        index: u32,
    ) -> Result<(), SrtpError> {
        let e_index = (E_FLAG | index).to_be_bytes();
        match self {
            Transform::AesCm { rtcp, .. } => {
                rtcp.aes.apply_keystream(
                    &cm_iv(&rtcp.salt, ssrc, u64::from(index)),
                    &mut buf[RTCP_CLEAR_PREFIX..],
                );
                buf.extend_from_slice(&e_index);
                let tag = cm_tag(&rtcp.mac, buf, &[]);
                buf.extend_from_slice(&tag[..RTCP_HMAC_TAG_LEN]);
            }
            Transform::Gcm { rtcp, .. } => {
                let aad = gcm_rtcp_aad(buf, e_index);
                let tag = rtcp
                    .key
                    .seal_in_place_separate_tag(
                        gcm_rtcp_nonce(&rtcp.salt, ssrc, index),
                        Aad::from(aad),
                        &mut buf[RTCP_CLEAR_PREFIX..],
                    )
                    .map_err(|_| SrtpError::Crypto)?;
                buf.extend_from_slice(tag.as_ref());
                buf.extend_from_slice(&e_index);
            }
        }
        Ok(())
    }

    /// Reads the E flag and SRTCP index of the SRTCP packet in `buf`
    /// (`buf.len() >= 8 + rtcp_overhead`).
    pub(super) fn rtcp_index(&self, buf: &[u8]) -> Option<(bool, u32)> {
        let at = match self {
            Transform::AesCm { .. } => {
                buf.len().checked_sub(RTCP_HMAC_TAG_LEN + SRTCP_INDEX_LEN)?
            }
            Transform::Gcm { .. } => buf.len().checked_sub(SRTCP_INDEX_LEN)?,
        };
        let word = u32::from_be_bytes(buf.get(at..at + SRTCP_INDEX_LEN)?.try_into().ok()?);
        Some((word & E_FLAG != 0, word & !E_FLAG))
    }

    /// Authenticates and (if E is set) decrypts the SRTCP packet in `buf`; returns the RTCP
    /// packet's length. On error `buf` holds garbage.
    pub(super) fn unprotect_rtcp(
        &self,
        buf: &mut [u8],
        ssrc: u32,
        encrypted: bool,
        index: u32,
    ) -> Result<usize, SrtpError> {
        let plain_len = buf
            .len()
            .checked_sub(self.rtcp_overhead())
            .filter(|n| *n >= RTCP_CLEAR_PREFIX)
            .ok_or(SrtpError::TooShort)?;
        match self {
            Transform::AesCm { rtcp, .. } => {
                let (authenticated, tag) = buf.split_at_mut(plain_len + SRTCP_INDEX_LEN);
                cm_verify(&rtcp.mac, authenticated, &[], tag)?;
                if encrypted {
                    rtcp.aes.apply_keystream(
                        &cm_iv(&rtcp.salt, ssrc, u64::from(index)),
                        &mut authenticated[RTCP_CLEAR_PREFIX..plain_len],
                    );
                }
            }
            Transform::Gcm { rtcp, .. } => {
                let nonce = gcm_rtcp_nonce(&rtcp.salt, ssrc, index);
                let e_index: [u8; SRTCP_INDEX_LEN] = if encrypted {
                    (E_FLAG | index).to_be_bytes()
                } else {
                    index.to_be_bytes()
                };
                if encrypted {
                    // [prefix | ciphertext | tag | E‖index]; AAD = prefix ‖ E‖index (§9.2).
                    let aad = gcm_rtcp_aad(buf, e_index);
                    let end = plain_len + GCM_TAG_LEN;
                    rtcp.key
                        .open_in_place(nonce, Aad::from(aad), &mut buf[RTCP_CLEAR_PREFIX..end])
                        .map_err(|_| SrtpError::Authentication)?;
                } else {
                    // [packet | tag | E‖index]; AAD = packet ‖ E‖index, no ciphertext
                    // (§10.2). Move the index word next to the packet to make the AAD one
                    // slice; the tag is copied out first.
                    let tag = Tag::try_from(&buf[plain_len..plain_len + GCM_TAG_LEN])
                        .map_err(|_| SrtpError::TooShort)?;
                    buf[plain_len..plain_len + SRTCP_INDEX_LEN].copy_from_slice(&e_index);
                    let (aad, rest) = buf.split_at_mut(plain_len + SRTCP_INDEX_LEN);
                    rtcp.key
                        .open_in_place_separate_tag(
                            nonce,
                            Aad::from(&*aad),
                            tag,
                            &mut rest[..0],
                            0..,
                        )
                        .map_err(|_| SrtpError::Authentication)?;
                }
            }
        }
        Ok(plain_len)
    }
}

fn gcm_key(key: &[u8]) -> Result<LessSafeKey, SrtpError> {
    let alg = match key.len() {
        16 => &aead::AES_128_GCM,
        32 => &aead::AES_256_GCM,
        _ => return Err(SrtpError::KeyLength),
    };
    UnboundKey::new(alg, key)
        .map(LessSafeKey::new)
        .map_err(|_| SrtpError::KeyLength)
}

fn cm_session(key: &[u8], auth_key: &[u8], salt: [u8; 14]) -> Result<CmSession, SrtpError> {
    Ok(CmSession {
        aes: Aes::new(key)?,
        salt,
        mac: <HmacSha1 as Mac>::new_from_slice(auth_key).map_err(|_| SrtpError::KeyLength)?,
    })
}

/// RFC 3711 §4.1.1: IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16), for SRTP (i = the
/// 48-bit packet index) and SRTCP (i = the 31-bit SRTCP index).
pub(super) fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[4..8].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..14].copy_from_slice(&index.to_be_bytes()[2..]);
    for (v, s) in iv.iter_mut().zip(salt) {
        *v ^= s;
    }
    iv
}

/// HMAC-SHA1 over `packet ‖ trailer` (RFC 3711 §4.2.1), untruncated.
fn cm_tag(mac: &HmacSha1, packet: &[u8], trailer: &[u8]) -> [u8; 20] {
    let mut m = mac.clone();
    m.update(packet);
    m.update(trailer);
    m.finalize().into_bytes().into()
}

/// Compares the left-truncated HMAC-SHA1 of `packet ‖ trailer` with `tag` in constant time.
fn cm_verify(mac: &HmacSha1, packet: &[u8], trailer: &[u8], tag: &[u8]) -> Result<(), SrtpError> {
    let mut m = mac.clone();
    m.update(packet);
    m.update(trailer);
    m.verify_truncated_left(tag)
        .map_err(|_| SrtpError::Authentication)
}

/// RFC 7714 §8.1: IV = (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt.
fn gcm_rtp_nonce(salt: &[u8; 12], ssrc: u32, index: u64) -> Nonce {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    for (v, s) in iv.iter_mut().zip(salt) {
        *v ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

/// RFC 7714 §9.1: IV = (0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ SRTCP index) XOR salt.
fn gcm_rtcp_nonce(salt: &[u8; 12], ssrc: u32, index: u32) -> Nonce {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&(index & !E_FLAG).to_be_bytes());
    for (v, s) in iv.iter_mut().zip(salt) {
        *v ^= s;
    }
    Nonce::assume_unique_for_key(iv)
}

/// RFC 7714 §9.2: the AAD of an encrypted SRTCP packet, the 8 clear bytes ‖ E‖index.
fn gcm_rtcp_aad(buf: &[u8], e_index: [u8; SRTCP_INDEX_LEN]) -> [u8; 12] {
    let mut aad = [0u8; 12];
    aad[..RTCP_CLEAR_PREFIX].copy_from_slice(&buf[..RTCP_CLEAR_PREFIX]);
    aad[RTCP_CLEAR_PREFIX..].copy_from_slice(&e_index);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 §3.4: with E = 0 the payload stays in the clear but is still authenticated.
    #[test]
    fn aes_cm_srtcp_with_e_clear_is_authenticated_only() {
        let profile = ProtectionProfile::Aes128CmHmacSha1_80;
        let t = Transform::new(profile, &[7; 16], &[9; 14]).expect("keys");
        let Transform::AesCm { rtcp, .. } = &t else {
            panic!("AES-CM transform expected");
        };
        let plain: Vec<u8> = [0x80, 201, 0, 1, 0, 0, 0, 42].to_vec();
        let mut wire = plain.clone();
        wire.extend_from_slice(&5u32.to_be_bytes()); // E = 0, index 5
        let tag = cm_tag(&rtcp.mac, &wire, &[]);
        wire.extend_from_slice(&tag[..RTCP_HMAC_TAG_LEN]);
        assert_eq!(t.rtcp_index(&wire), Some((false, 5)));
        let mut buf = wire.clone();
        let n = t.unprotect_rtcp(&mut buf, 42, false, 5).expect("authentic");
        assert_eq!(&buf[..n], &plain[..]);
        let mut bad = wire.clone();
        bad[3] ^= 1;
        assert_eq!(
            t.unprotect_rtcp(&mut bad, 42, false, 5),
            Err(SrtpError::Authentication)
        );
    }
}
