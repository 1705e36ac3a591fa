//! Certificate fingerprints (RFC 8122 §5) and the SDP `a=fingerprint` attribute.
//!
//! After the DTLS handshake the peer's certificate must hash to the fingerprint its SDP
//! announced (RFC 8842 §5.1, RFC 5763 §5): self-signed certificates carry no other trust. Our own
//! fingerprint goes into our SDP as `sha-256` (what every browser sends and expects); when
//! checking a peer we accept the hash functions RFC 8122 lists that browsers still use.

use std::fmt;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Longest digest we handle (SHA-512).
const MAX_DIGEST_LEN: usize = 64;

/// Hash functions of RFC 8122 §5 (the IANA "Hash Function Textual Names" registry) that
/// browsers use; MD5/MD2 are refused (RFC 8122 §5: "MUST NOT be used").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    /// The textual name as written in SDP (lower case).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "sha-1",
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    /// Parses a textual name, case-insensitively (RFC 8122 §5 grammar is case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    fn hash(self, data: &[u8], out: &mut [u8; MAX_DIGEST_LEN]) {
        let n = self.digest_len();
        match self {
            HashAlgorithm::Sha1 => out[..n].copy_from_slice(&Sha1::digest(data)),
            HashAlgorithm::Sha256 => out[..n].copy_from_slice(&Sha256::digest(data)),
            HashAlgorithm::Sha384 => out[..n].copy_from_slice(&Sha384::digest(data)),
            HashAlgorithm::Sha512 => out[..n].copy_from_slice(&Sha512::digest(data)),
        }
    }
}

/// Why an `a=fingerprint` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    #[error("expected `<hash-func> <hex:hex:...>`")]
    Syntax,
    #[error("unsupported hash function {0:?}")]
    UnsupportedHash(String),
    #[error("invalid hex byte {0:?}")]
    BadHex(String),
    #[error("{got} bytes where {algorithm} has {expected}")]
    WrongLength {
        algorithm: &'static str,
        expected: usize,
        got: usize,
    },
}

/// A fingerprint: hash function and digest.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    algorithm: HashAlgorithm,
    digest: [u8; MAX_DIGEST_LEN],
}

impl Fingerprint {
    /// Hashes a DER certificate.
    pub fn of_certificate(algorithm: HashAlgorithm, der: &[u8]) -> Self {
        let mut digest = [0u8; MAX_DIGEST_LEN];
        algorithm.hash(der, &mut digest);
        Fingerprint { algorithm, digest }
    }

    /// Parses the value of `a=fingerprint:` — `sha-256 AB:CD:…` — with or without the
    /// `a=fingerprint:` / `fingerprint:` prefix. Hash name and hex are case-insensitive;
    /// every byte is two hex digits separated by ':' (RFC 8122 §5).
    pub fn parse(s: &str) -> Result<Self, FingerprintError> {
        let s = s.trim();
        let s = s.strip_prefix("a=").unwrap_or(s);
        let s = match s.get(..12) {
            Some(p) if p.eq_ignore_ascii_case("fingerprint:") => &s[12..],
            _ => s,
        };
        let mut parts = s.split_ascii_whitespace();
        let (Some(name), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(FingerprintError::Syntax);
        };
        let algorithm = HashAlgorithm::from_name(name)
            .ok_or_else(|| FingerprintError::UnsupportedHash(name.to_owned()))?;
        let mut digest = [0u8; MAX_DIGEST_LEN];
        let mut n = 0;
        for pair in hex.split(':') {
            // `from_str_radix` alone would accept "+A".
            let byte = (pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(pair, 16).ok())
                .flatten()
                .ok_or_else(|| FingerprintError::BadHex(pair.chars().take(8).collect()))?;
            if n < MAX_DIGEST_LEN {
                digest[n] = byte;
            }
            n += 1;
        }
        if n != algorithm.digest_len() {
            return Err(FingerprintError::WrongLength {
                algorithm: algorithm.name(),
                expected: algorithm.digest_len(),
                got: n,
            });
        }
        Ok(Fingerprint { algorithm, digest })
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    pub fn digest(&self) -> &[u8] {
        &self.digest[..self.algorithm.digest_len()]
    }

    /// Whether a DER certificate hashes to this fingerprint (with this fingerprint's hash).
    pub fn matches(&self, der: &[u8]) -> bool {
        Fingerprint::of_certificate(self.algorithm, der) == *self
    }

    /// The hex part as written in SDP: upper-case, colon-separated.
    pub fn hex(&self) -> String {
        colon_hex(self.digest())
    }
}

/// `sha-256 AB:CD:…`, the value of an `a=fingerprint` line.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm.name(), self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = FingerprintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fingerprint::parse(s)
    }
}

/// SHA-256 of a DER certificate as SDP writes it: `AB:CD:…` (upper case, 95 chars).
pub fn sha256_fingerprint(der: &[u8]) -> String {
    colon_hex(&Sha256::digest(der))
}

fn colon_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256("abc") and SHA-1("abc") (FIPS 180-2 test vectors), standing in for a DER blob.
    const ABC_SHA256: &str = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";
    const ABC_SHA1: &str = "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D";

    #[test]
    fn sha256_fingerprint_is_uppercase_colon_hex() {
        assert_eq!(sha256_fingerprint(b"abc"), ABC_SHA256);
        assert_eq!(sha256_fingerprint(b"abc").len(), 95);
    }

    #[test]
    fn parses_and_matches_case_insensitively() {
        for line in [
            format!("sha-256 {ABC_SHA256}"),
            format!("SHA-256 {}", ABC_SHA256.to_lowercase()),
            format!("a=fingerprint:sha-256 {ABC_SHA256}"),
            format!("  fingerprint:Sha-256   {ABC_SHA256} "),
        ] {
            let fp = Fingerprint::parse(&line).expect("valid");
            assert_eq!(fp.algorithm(), HashAlgorithm::Sha256);
            assert!(fp.matches(b"abc"), "{line}");
            assert!(!fp.matches(b"abd"));
            assert_eq!(fp.to_string(), format!("sha-256 {ABC_SHA256}"));
        }
        let fp: Fingerprint = format!("sha-1 {}", ABC_SHA1.to_lowercase())
            .parse()
            .expect("valid");
        assert_eq!(fp.algorithm(), HashAlgorithm::Sha1);
        assert!(fp.matches(b"abc"));
        assert_eq!(fp.digest().len(), 20);
        assert_eq!(
            Fingerprint::of_certificate(HashAlgorithm::Sha256, b"abc"),
            Fingerprint::parse(&format!("sha-256 {ABC_SHA256}")).expect("valid")
        );
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        assert_eq!(Fingerprint::parse(""), Err(FingerprintError::Syntax));
        assert_eq!(Fingerprint::parse("sha-256"), Err(FingerprintError::Syntax));
        assert_eq!(
            Fingerprint::parse(&format!("sha-256 {ABC_SHA256} extra")),
            Err(FingerprintError::Syntax)
        );
        assert!(matches!(
            Fingerprint::parse(&format!("md5 {ABC_SHA1}")),
            Err(FingerprintError::UnsupportedHash(_))
        ));
        assert!(matches!(
            Fingerprint::parse(&format!("sha-256 {ABC_SHA1}")),
            Err(FingerprintError::WrongLength {
                expected: 32,
                got: 20,
                ..
            })
        ));
        assert!(matches!(
            Fingerprint::parse("sha-1 A9:99:3E:3"),
            Err(FingerprintError::BadHex(_))
        ));
        assert!(matches!(
            Fingerprint::parse("sha-1 ZZ:99"),
            Err(FingerprintError::BadHex(_))
        ));
        assert!(matches!(
            Fingerprint::parse("sha-1 +A:99"),
            Err(FingerprintError::BadHex(_))
        ));
        let long = vec!["AB"; 500].join(":");
        assert!(matches!(
            Fingerprint::parse(&format!("sha-256 {long}")),
            Err(FingerprintError::WrongLength { .. })
        ));
        // Multi-byte UTF-8 never panics the prefix check.
        assert!(Fingerprint::parse("ééééééé sha-256").is_err());
    }
}
