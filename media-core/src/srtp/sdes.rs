//! Outbound SRTP keyed out of band, the way RTP forwarders are keyed (Janus `srtp_suite` +
//! `srtp_crypto`, used by the AudioBridge and VideoRoom forwarders alike): an
//! `AES_CM_128_HMAC_SHA1_32`/`_80` suite (RFC 4568 §6.2) and the 30-byte master key ‖ salt in
//! base64, as in an SDES `a=crypto:… inline:<key||salt>` line (RFC 4568 §6.1).
//!
//! The base64 text is read the way Janus reads it (GLib's `g_base64_decode`), so the same
//! `srtp_crypto` is accepted or refused by both servers: characters outside the alphabet are
//! skipped, each four alphabet characters (`=` included) give three bytes less the padding,
//! a trailing incomplete group gives nothing, and a key longer than 30 bytes is used for its
//! first 30 (libsrtp reads only the key length of the suite).
//!
//! [`SdesSender`] is one forwarder's outbound context: encrypting into the context's scratch
//! buffer under an uncontended lock, so nothing is allocated per packet.

use std::sync::Mutex;

use super::{ProtectionProfile, SrtpContext, SrtpError};

/// AES-CM-128 master key (16 bytes) + master salt (14 bytes): RFC 3711 §8.2 defaults.
pub const SDES_MASTER_LEN: usize = 30;
const KEY_LEN: usize = 16;

/// A forwarder's suite and master key (copied per forwarder target; the key never shows in
/// `Debug` output, so it cannot end up in logs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SdesKey {
    profile: ProtectionProfile,
    master: [u8; SDES_MASTER_LEN],
}

impl std::fmt::Debug for SdesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdesKey")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl SdesKey {
    /// `tag_bits` is Janus's `srtp_suite`: 32 (`AES_CM_128_HMAC_SHA1_32`) or 80
    /// (`AES_CM_128_HMAC_SHA1_80`); `master` the key then the salt (at least 30 bytes).
    pub fn new(tag_bits: u8, master: &[u8]) -> Result<Self, SrtpError> {
        let profile = match tag_bits {
            32 => ProtectionProfile::Aes128CmHmacSha1_32,
            80 => ProtectionProfile::Aes128CmHmacSha1_80,
            _ => return Err(SrtpError::Suite),
        };
        let master = master
            .get(..SDES_MASTER_LEN)
            .and_then(|m| <[u8; SDES_MASTER_LEN]>::try_from(m).ok())
            .ok_or(SrtpError::KeyLength)?;
        Ok(SdesKey { profile, master })
    }

    /// The key from Janus's `srtp_crypto` text (see the module doc for how it is decoded).
    pub fn from_base64(tag_bits: u8, text: &str) -> Result<Self, SrtpError> {
        let mut master = [0u8; SDES_MASTER_LEN];
        if decode_glib_base64(text, &mut master) < SDES_MASTER_LEN {
            return Err(SrtpError::KeyLength);
        }
        Self::new(tag_bits, &master)
    }

    pub fn profile(&self) -> ProtectionProfile {
        self.profile
    }

    /// A fresh outbound context for one forwarder target.
    pub fn outbound(&self) -> Result<SrtpContext, SrtpError> {
        SrtpContext::new(
            self.profile,
            &self.master[..KEY_LEN],
            &self.master[KEY_LEN..],
        )
    }
}

/// Value of a base64 alphabet character (`=` counts as a zero digit, as in GLib), `None` for
/// characters the decoder skips.
fn rank(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => 0,
        _ => return None,
    } as u32)
}

/// Decodes `text` like GLib's `g_base64_decode` into `out` (bytes past its end are counted
/// but dropped); returns the decoded length.
fn decode_glib_base64(text: &str, out: &mut [u8]) -> usize {
    let (mut acc, mut digits, mut len) = (0u32, 0usize, 0usize);
    let mut group = [0u8; 4];
    for c in text.bytes() {
        let Some(r) = rank(c) else { continue };
        acc = (acc << 6) | r;
        group[digits] = c;
        digits += 1;
        if digits == 4 {
            let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
            let n = match group {
                [_, _, b'=', _] => 1,
                [_, _, _, b'='] => 2,
                _ => 3,
            };
            for b in &bytes[..n] {
                if let Some(slot) = out.get_mut(len) {
                    *slot = *b;
                }
                len += 1;
            }
            (acc, digits) = (0, 0);
        }
    }
    len
}

/// One forwarder target's outbound SRTP context.
pub struct SdesSender {
    /// Taken by the one task that forwards the stream (uncontended); `protect_rtp` needs
    /// `&mut` for the rollover counter and the scratch buffer.
    ctx: Mutex<SrtpContext>,
}

impl std::fmt::Debug for SdesSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdesSender").finish_non_exhaustive()
    }
}

impl SdesSender {
    pub fn new(key: &SdesKey) -> Result<Self, SrtpError> {
        Ok(SdesSender {
            ctx: Mutex::new(key.outbound()?),
        })
    }

    /// Encrypts the plain RTP `packet` and hands the SRTP packet to `send` (valid only
    /// during the call: it lives in the context's scratch buffer).
    pub fn protect_with<R>(
        &self,
        packet: &[u8],
        send: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, SrtpError> {
        let mut ctx = self.ctx.lock().map_err(|_| SrtpError::Crypto)?;
        let protected = ctx.protect_rtp(packet)?;
        Ok(send(protected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> (usize, Vec<u8>) {
        let mut out = [0u8; 64];
        let n = decode_glib_base64(text, &mut out);
        (n, out[..n.min(64)].to_vec())
    }

    #[test]
    fn base64_is_read_as_glib_reads_it() {
        assert_eq!(decoded("aGVsbG8="), (5, b"hello".to_vec()));
        assert_eq!(decoded("aGVsbA=="), (4, b"hell".to_vec()));
        // Outside the alphabet: skipped, wherever it stands.
        assert_eq!(decoded(" aG\nVs!bG8="), (5, b"hello".to_vec()));
        // A trailing incomplete group gives nothing; padding is optional only in that sense.
        assert_eq!(decoded("aGVsbG8").0, 3);
        assert_eq!(decoded("not base64!").0, 6);
        assert_eq!(decoded("").0, 0);
    }

    #[test]
    fn keys_shorter_than_30_bytes_or_unknown_suites_are_refused() {
        // 30 bytes = 40 base64 characters; 29 bytes cannot make a key.
        let ok = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";
        assert_eq!(decoded(ok).0, 30);
        assert!(SdesKey::from_base64(80, ok).is_ok());
        assert!(SdesKey::from_base64(32, ok).is_ok());
        assert_eq!(
            SdesKey::from_base64(80, &ok[..36]),
            Err(SrtpError::KeyLength)
        );
        assert_eq!(SdesKey::from_base64(40, ok), Err(SrtpError::Suite));
        // Longer keys: the first 30 bytes are the key.
        let long = format!("{ok}AAAA");
        assert_eq!(
            SdesKey::from_base64(80, &long),
            SdesKey::from_base64(80, ok)
        );
        assert!(!format!("{:?}", SdesKey::from_base64(80, ok)).contains("65"));
    }
}
