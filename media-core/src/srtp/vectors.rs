//! Published test vectors: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key
//! derivation), RFC 7714 §16 (SRTP) and §17 (SRTCP) for AEAD_AES_128_GCM and
//! AEAD_AES_256_GCM. The RFC 7714 vectors are given with session keys, so they are applied
//! below the key derivation.

use super::kdf::{self, Aes};
use super::replay::RtcpStream;
use super::transform::{cm_iv, Transform};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

const B3_MASTER_KEY: &str = "E1F97A0D3E018BE0D64FA32C06DE4139";
const B3_MASTER_SALT: &str = "0EC675AD498AFEEBB6960B3AABE6";

#[test]
fn rfc3711_b3_key_derivation() {
    let master = Aes::new(&hex(B3_MASTER_KEY)).expect("key");
    let salt = hex(B3_MASTER_SALT);

    let mut key = [0u8; 16];
    kdf::derive(&master, &salt, kdf::LABEL_RTP_ENCRYPTION, &mut key).expect("derive");
    assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));

    let mut session_salt = [0u8; 14];
    kdf::derive(&master, &salt, kdf::LABEL_RTP_SALT, &mut session_salt).expect("derive");
    assert_eq!(session_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));

    // The vector derives a 94-octet auth key; HMAC-SHA1 uses its first 20.
    let mut auth = [0u8; 94];
    kdf::derive(&master, &salt, kdf::LABEL_RTP_AUTH, &mut auth).expect("derive");
    assert_eq!(
        auth.to_vec(),
        hex(
            "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
        )
    );
}

#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let aes = Aes::new(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).expect("key");
    let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")
        .try_into()
        .expect("14 bytes");
    // SSRC 0, ROC 0, SEQ 0: the IV is the salt shifted by 16 bits.
    let iv = cm_iv(&salt, 0, 0);
    assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
    // The keystream segment: 65,282 blocks (encrypting zeros yields the keystream).
    let mut ks = vec![0u8; 1_044_512];
    aes.apply_keystream(&iv, &mut ks);
    let block = |j: usize| ks[16 * j..16 * (j + 1)].to_vec();
    assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
    assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
    assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
    assert_eq!(block(0xfeff), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
    assert_eq!(block(0xff00), hex("362B7C3C6773516318A077D7FC5073AE"));
    assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
    // Uneven lengths take the same keystream.
    let mut short = vec![0u8; 37];
    aes.apply_keystream(&iv, &mut short);
    assert_eq!(&short[..], &ks[..37]);
}

const KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// "Quid pro quo".
const SALT_7714: &str = "517569642070726f2071756f";

/// RFC 7714 §16: "Gallia est omnis divisa in partes tres", SEQ 0xf17b, SSRC 0x5501a0b2.
const RTP_7714: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                        20646976 69736120 696e2070 61727465 73207472 6573";
/// RFC 7714 §16.1.1.
const SRTP_128: &str = "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca
                        be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1
                        6a9152cf 765ee439 0cce";
/// RFC 7714 §16.2.1.
const SRTP_256: &str = "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa
                        b1801238 9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff
                        d6b0f9bb 7878d7a7 6c13";
/// RFC 7714 §17.1–§17.4: the RTCP packet (SSRC "Mars") with SRTCP index 0x5d4.
const RTCP_7714: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                         4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";
/// RFC 7714 §17.1.
const SRTCP_128: &str = "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7
                         6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458
                         96cf4d2f c5abf872 45d9eade 800005d4";
/// RFC 7714 §17.2.
const SRTCP_256: &str = "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d
                         bffe0a50 a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c
                         4446839f 57ff6f6c b26ac3be 800005d4";
/// RFC 7714 §17.3: authenticated only (E = 0).
const SRTCP_128_TAG_ONLY: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a
                                  0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef
                                  deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4";
const SRTCP_INDEX_7714: u32 = 0x5d4;

fn gcm_context(profile: ProtectionProfile, key: &str) -> SrtpContext {
    let salt: [u8; 12] = hex(SALT_7714).try_into().expect("12 bytes");
    let transform = Transform::gcm_from_session_keys(&hex(key), salt).expect("key");
    SrtpContext::from_transform(profile, transform)
}

fn check_srtp(profile: ProtectionProfile, key: &str, expected: &str) {
    let (plain, expected) = (hex(RTP_7714), hex(expected));
    let mut tx = gcm_context(profile, key);
    assert_eq!(tx.protect_rtp(&plain).expect("protect"), &expected[..]);
    let mut rx = gcm_context(profile, key);
    let mut buf = expected.clone();
    let n = rx.unprotect_rtp_in_place(&mut buf).expect("unprotect");
    assert_eq!(&buf[..n], &plain[..]);
    // One flipped bit anywhere (header = AAD, payload, tag) fails.
    for at in [1, 13, expected.len() - 1] {
        let mut bad = expected.clone();
        bad[at] ^= 0x20;
        let mut rx = gcm_context(profile, key);
        assert_eq!(
            rx.unprotect_rtp_in_place(&mut bad),
            Err(SrtpError::Authentication)
        );
    }
}

fn check_srtcp(profile: ProtectionProfile, key: &str, expected: &str) {
    let (plain, expected) = (hex(RTCP_7714), hex(expected));
    let mut rx = gcm_context(profile, key);
    let mut buf = expected.clone();
    let n = rx.unprotect_rtcp_in_place(&mut buf).expect("unprotect");
    assert_eq!(&buf[..n], &plain[..]);
    // The sender at index 0x5d4.
    let mut tx = gcm_context(profile, key);
    let ssrc = u32::from_be_bytes([plain[4], plain[5], plain[6], plain[7]]);
    tx.session
        .rtcp
        .insert(
            ssrc,
            RtcpStream {
                next: SRTCP_INDEX_7714,
                ..RtcpStream::outbound()
            },
        )
        .expect("slot");
    assert_eq!(tx.protect_rtcp(&plain).expect("protect"), &expected[..]);
}

#[test]
fn rfc7714_16_1_srtp_aead_aes_128_gcm() {
    check_srtp(ProtectionProfile::AeadAes128Gcm, KEY_128, SRTP_128);
}

#[test]
fn rfc7714_16_2_srtp_aead_aes_256_gcm() {
    check_srtp(ProtectionProfile::AeadAes256Gcm, KEY_256, SRTP_256);
}

#[test]
fn rfc7714_17_1_srtcp_aead_aes_128_gcm() {
    check_srtcp(ProtectionProfile::AeadAes128Gcm, KEY_128, SRTCP_128);
}

#[test]
fn rfc7714_17_2_srtcp_aead_aes_256_gcm() {
    check_srtcp(ProtectionProfile::AeadAes256Gcm, KEY_256, SRTCP_256);
}

#[test]
fn rfc7714_17_3_srtcp_authenticated_only() {
    let mut rx = gcm_context(ProtectionProfile::AeadAes128Gcm, KEY_128);
    let mut buf = hex(SRTCP_128_TAG_ONLY);
    let n = rx.unprotect_rtcp_in_place(&mut buf).expect("unprotect");
    assert_eq!(&buf[..n], &hex(RTCP_7714)[..]);
    // The clear payload is authenticated.
    let mut rx = gcm_context(ProtectionProfile::AeadAes128Gcm, KEY_128);
    let mut bad = hex(SRTCP_128_TAG_ONLY);
    bad[40] ^= 1;
    assert_eq!(
        rx.unprotect_rtcp_in_place(&mut bad),
        Err(SrtpError::Authentication)
    );
}
