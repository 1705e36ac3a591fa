//! AES in counter mode as SRTP uses it twice: the AES-CM keystream of RFC 3711 §4.1.1 and the
//! AES-CM PRF that derives session keys from the master key (§4.3.1, §4.3.3; AES-256 per
//! RFC 6188 §3; the 12-byte GCM master salt per RFC 7714 §11).
//!
//! The counter is written by hand rather than through `ctr::Ctr128BE`: SRTP's counter block
//! is `IV + j` with `IV`'s low 16 bits zero, so a batch of counter blocks is a fill, and
//! encrypting the batch with one `encrypt_blocks` call lets the `aes` crate pipeline 8 blocks
//! through AES-NI without cloning the key schedule into a stream-cipher object per packet.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128Enc, Aes256Enc, Block};

use super::SrtpError;

/// Counter blocks encrypted per `encrypt_blocks` call (the `aes` crate pipelines 8 at a time).
const BATCH_BLOCKS: usize = 16;

/// SRTP's labels for the AES-CM PRF (RFC 3711 §4.3.1, §4.3.2).
pub(super) const LABEL_RTP_ENCRYPTION: u8 = 0x00;
pub(super) const LABEL_RTP_AUTH: u8 = 0x01;
pub(super) const LABEL_RTP_SALT: u8 = 0x02;
pub(super) const LABEL_RTCP_ENCRYPTION: u8 = 0x03;
pub(super) const LABEL_RTCP_AUTH: u8 = 0x04;
pub(super) const LABEL_RTCP_SALT: u8 = 0x05;

/// Longest master salt: 112 bits (RFC 3711 §8.2); GCM's is 96 bits (RFC 7714 §12).
const MAX_MASTER_SALT: usize = 14;

/// An AES encryption key schedule (AES-NI when the CPU has it, detected at run time).
// Held once per context, never moved per packet: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Aes {
    Aes128(Aes128Enc),
    Aes256(Aes256Enc),
}

impl Aes {
    pub(super) fn new(key: &[u8]) -> Result<Self, SrtpError> {
        match key.len() {
            16 => Aes128Enc::new_from_slice(key).map(Aes::Aes128),
            32 => Aes256Enc::new_from_slice(key).map(Aes::Aes256),
            _ => return Err(SrtpError::KeyLength),
        }
        .map_err(|_| SrtpError::KeyLength)
    }

    fn encrypt_blocks(&self, blocks: &mut [Block]) {
        match self {
            Aes::Aes128(c) => c.encrypt_blocks(blocks),
            Aes::Aes256(c) => c.encrypt_blocks(blocks),
        }
    }

    /// XORs `data` with the keystream `E(k, IV) || E(k, IV + 1) || ...` (RFC 3711 §4.1.1).
    /// Encrypting and decrypting are the same operation.
    pub(super) fn apply_keystream(&self, iv: &[u8; 16], data: &mut [u8]) {
        let base = u128::from_be_bytes(*iv);
        let mut ks = [Block::default(); BATCH_BLOCKS];
        let mut j: u128 = 0;
        for chunk in data.chunks_mut(BATCH_BLOCKS * 16) {
            let n = chunk.len().div_ceil(16);
            for (i, block) in ks[..n].iter_mut().enumerate() {
                *block = base.wrapping_add(j + i as u128).to_be_bytes().into();
            }
            self.encrypt_blocks(&mut ks[..n]);
            j += n as u128;
            for (d, k) in chunk.chunks_mut(16).zip(ks.iter()) {
                let kb: &[u8; 16] = k.as_ref();
                if let Ok(full) = <&mut [u8; 16]>::try_from(&mut *d) {
                    let x = u128::from_ne_bytes(*full) ^ u128::from_ne_bytes(*kb);
                    *full = x.to_ne_bytes();
                } else {
                    for (b, kb) in d.iter_mut().zip(kb) {
                        *b ^= kb;
                    }
                }
            }
        }
    }
}

/// The AES-CM PRF with key derivation rate 0 (RFC 5764 §4.1.2 fixes it): fills `out` with the
/// session key, auth key or salt for `label`. The PRF input is the master salt XOR
/// (label ‖ 48 zero bits of `index DIV kdr`), left-aligned in a 112-bit field, times 2^16
/// (§4.3.1, §4.3.3); a 96-bit GCM salt is padded with zeros on the right (RFC 7714 §11).
pub(super) fn derive(
    master: &Aes,
    master_salt: &[u8],
    label: u8,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    if master_salt.len() > MAX_MASTER_SALT {
        return Err(SrtpError::KeyLength);
    }
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    master.apply_keystream(&iv, out);
    Ok(())
}
