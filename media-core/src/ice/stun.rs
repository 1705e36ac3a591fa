//! STUN messages (RFC 5389) as far as an ICE-lite responder needs them.
//!
//! Why not the `stun` crate (already a dependency)? Its `Message` owns a `Vec` for the raw bytes
//! and another for the attributes, so every decoded check allocates, and decoding copies the
//! datagram. An ICE-lite agent needs a handful of attributes of one method (Binding), so a
//! borrowed view ([`StunMessage`]) over the received datagram plus an append-only writer
//! ([`StunWriter`]) into a caller-owned buffer are ~300 lines, allocate nothing and are easy
//! to fuzz. Integrity and fingerprint are computed over the original bytes with the header
//! length patched on the stack (RFC 5389 §15.4), never over a copy.
//!
//! Bounds: a message is at most [`MAX_MESSAGE_LEN`] bytes (one UDP datagram on our socket),
//! USERNAME at most 513 bytes (RFC 5389 §15.3), ERROR-CODE reasons at most 763 bytes
//! (§15.6). Every length read from the wire is checked before it is used: garbage yields a
//! [`StunError`], never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// HMAC-SHA1 keyed with a short-term credential (RFC 5389 §15.4).
pub type IntegrityKey = Hmac<Sha1>;

/// The fixed value of bytes 4..8 of every RFC 5389 message (§6).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Header size (§6).
pub const HEADER_LEN: usize = 20;
/// Largest message we parse: one datagram of our receive buffer. Chromium's checks are
/// ~100–150 bytes.
pub const MAX_MESSAGE_LEN: usize = 1500;
/// RFC 5389 §15.3: "MUST contain a UTF-8 encoded sequence of less than 513 bytes".
pub const MAX_USERNAME_LEN: usize = 513;
/// RFC 5389 §15.6: the reason phrase is "less than 128 characters (which can be as long as
/// 763 bytes)".
pub const MAX_REASON_LEN: usize = 763;
/// XOR of the FINGERPRINT CRC-32 (§15.5).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// The Binding method (§18.1), the only one ICE uses.
pub const METHOD_BINDING: u16 = 0x0001;

/// Attribute types (RFC 5389 §18.2, RFC 8445 §16.1).
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

/// Size of a MESSAGE-INTEGRITY attribute, header included.
const INTEGRITY_ATTR_LEN: usize = 4 + 20;
/// Size of a FINGERPRINT attribute, header included.
const FINGERPRINT_ATTR_LEN: usize = 4 + 4;

/// Why a datagram is not a usable STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StunError {
    #[error("shorter than a STUN header")]
    TooShort,
    #[error("longer than {MAX_MESSAGE_LEN} bytes")]
    TooLong,
    #[error("not a STUN message (leading bits or magic cookie)")]
    NotStun,
    #[error("header length {0} does not match the datagram")]
    BadLength(usize),
    #[error("attribute {0:#06x} overruns the message")]
    TruncatedAttribute(u16),
    #[error("attribute {0:#06x} has an invalid value")]
    BadAttribute(u16),
    #[error("FINGERPRINT is not the last attribute")]
    FingerprintNotLast,
}

/// Message class (RFC 5389 §6: the C1/C0 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunClass {
    Request,
    Indication,
    SuccessResponse,
    ErrorResponse,
}

impl StunClass {
    fn bits(self) -> u16 {
        match self {
            StunClass::Request => 0x0000,
            StunClass::Indication => 0x0010,
            StunClass::SuccessResponse => 0x0100,
            StunClass::ErrorResponse => 0x0110,
        }
    }

    fn from_type(t: u16) -> Self {
        match t & 0x0110 {
            0x0000 => StunClass::Request,
            0x0010 => StunClass::Indication,
            0x0100 => StunClass::SuccessResponse,
            _ => StunClass::ErrorResponse,
        }
    }
}

/// Message type field from method and class (§6, figure 3).
fn message_type(method: u16, class: StunClass) -> u16 {
    let m = method & 0x0FFF;
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | class.bits()
}

fn method_of(t: u16) -> u16 {
    (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
}

/// 96-bit transaction id (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; 12]);

/// A borrowed, validated view of one STUN message. Attribute values point into the datagram.
///
/// Only the attributes ICE uses are decoded; others are skipped (comprehension-required ones
/// included: Chromium adds only comprehension-optional `GOOG-*` attributes, and refusing
/// unknown ones would only make interop brittle).
#[derive(Debug, Clone, Copy)]
pub struct StunMessage<'a> {
    raw: &'a [u8],
    class: StunClass,
    method: u16,
    transaction_id: TransactionId,
    username: Option<&'a str>,
    /// Offset of the MESSAGE-INTEGRITY attribute header.
    integrity: Option<usize>,
    /// Offset of the FINGERPRINT attribute header.
    fingerprint: Option<usize>,
    priority: Option<u32>,
    use_candidate: bool,
    ice_controlling: Option<u64>,
    ice_controlled: Option<u64>,
    xor_mapped_address: Option<SocketAddr>,
    error_code: Option<(u16, &'a str)>,
}

/// Checks the 20-byte header (§6) and returns (type, body length).
fn check_header(buf: &[u8]) -> Result<(u16, usize), StunError> {
    if buf.len() < HEADER_LEN {
        return Err(StunError::TooShort);
    }
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(StunError::TooLong);
    }
    // The two most significant bits are zero (§6); the cookie tells STUN from RFC 3489 and
    // from other protocols sharing the port.
    if buf[0] & 0xC0 != 0 || be32(&buf[4..8]) != MAGIC_COOKIE {
        return Err(StunError::NotStun);
    }
    let len = usize::from(be16(&buf[2..4]));
    if len % 4 != 0 || HEADER_LEN + len != buf.len() {
        return Err(StunError::BadLength(len));
    }
    Ok((be16(&buf[0..2]), len))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Iterates `(type, offset of the attribute header, value)` of a message whose header passed
/// [`check_header`]. Stops with an error on the first attribute that overruns the message.
struct Attributes<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, usize, &'a [u8]), StunError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        if rest.len() < 4 {
            self.pos = self.buf.len();
            return Some(Err(StunError::TruncatedAttribute(0)));
        }
        let typ = be16(&rest[0..2]);
        let len = usize::from(be16(&rest[2..4]));
        let padded = (len + 3) & !3;
        let Some(value) = rest.get(4..4 + len) else {
            self.pos = self.buf.len();
            return Some(Err(StunError::TruncatedAttribute(typ)));
        };
        let at = self.pos;
        // Padding may be missing only at the very end, which the header check already rules
        // out (the body is a multiple of 4), so `pos` stays within or just past the buffer.
        self.pos = self.pos.saturating_add(4 + padded);
        Some(Ok((typ, at, value)))
    }
}

fn attributes(buf: &[u8]) -> Attributes<'_> {
    Attributes {
        buf,
        pos: HEADER_LEN,
    }
}

/// Decodes (XOR-)MAPPED-ADDRESS (§15.1, §15.2).
fn decode_address(
    value: &[u8],
    xor: bool,
    tid: &[u8; 12],
    typ: u16,
) -> Result<SocketAddr, StunError> {
    if value.len() < 4 {
        return Err(StunError::BadAttribute(typ));
    }
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = be16(&value[2..4]);
    if xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    match (value[1], value.len()) {
        (0x01, 8) => {
            let mut a = [0u8; 4];
            a.copy_from_slice(&value[4..8]);
            if xor {
                for (b, k) in a.iter_mut().zip(cookie) {
                    *b ^= k;
                }
            }
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        (0x02, 20) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&value[4..20]);
            if xor {
                let key = cookie.iter().chain(tid.iter());
                for (b, k) in a.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => Err(StunError::BadAttribute(typ)),
    }
}

impl<'a> StunMessage<'a> {
    /// Parses and validates the framing of one message. Integrity and fingerprint are checked
    /// separately ([`Self::check_integrity`], [`Self::check_fingerprint`]): the key depends on
    /// the USERNAME the caller reads first.
    pub fn try_parse(buf: &'a [u8]) -> Result<Self, StunError> {
        let (typ, _) = check_header(buf)?;
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&buf[8..20]);
        let mut m = StunMessage {
            raw: buf,
            class: StunClass::from_type(typ),
            method: method_of(typ),
            transaction_id: TransactionId(tid),
            username: None,
            integrity: None,
            fingerprint: None,
            priority: None,
            use_candidate: false,
            ice_controlling: None,
            ice_controlled: None,
            xor_mapped_address: None,
            error_code: None,
        };
        for a in attributes(buf) {
            let (t, at, v) = a?;
            if m.fingerprint.is_some() {
                return Err(StunError::FingerprintNotLast);
            }
            if t == attr::FINGERPRINT {
                if v.len() != 4 {
                    return Err(StunError::BadAttribute(t));
                }
                m.fingerprint = Some(at);
                continue;
            }
            // §15.4: attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are ignored.
            if m.integrity.is_some() {
                continue;
            }
            // §15: "only the first occurrence needs to be processed by a receiver, and any
            // duplicates MAY be ignored". The engine routes by the first USERNAME
            // ([`local_ufrag`]); the agent must authenticate that same one.
            let duplicate = match t {
                attr::USERNAME => m.username.is_some(),
                attr::PRIORITY => m.priority.is_some(),
                attr::USE_CANDIDATE => m.use_candidate,
                attr::ICE_CONTROLLING => m.ice_controlling.is_some(),
                attr::ICE_CONTROLLED => m.ice_controlled.is_some(),
                attr::XOR_MAPPED_ADDRESS => m.xor_mapped_address.is_some(),
                attr::ERROR_CODE => m.error_code.is_some(),
                _ => false,
            };
            if duplicate {
                continue;
            }
            match t {
                attr::USERNAME => {
                    if v.len() > MAX_USERNAME_LEN {
                        return Err(StunError::BadAttribute(t));
                    }
                    m.username =
                        Some(std::str::from_utf8(v).map_err(|_| StunError::BadAttribute(t))?);
                }
                attr::MESSAGE_INTEGRITY => {
                    if v.len() != 20 {
                        return Err(StunError::BadAttribute(t));
                    }
                    m.integrity = Some(at);
                }
                attr::PRIORITY => {
                    if v.len() != 4 {
                        return Err(StunError::BadAttribute(t));
                    }
                    m.priority = Some(be32(v));
                }
                attr::USE_CANDIDATE => {
                    if !v.is_empty() {
                        return Err(StunError::BadAttribute(t));
                    }
                    m.use_candidate = true;
                }
                attr::ICE_CONTROLLING | attr::ICE_CONTROLLED => {
                    if v.len() != 8 {
                        return Err(StunError::BadAttribute(t));
                    }
                    if t == attr::ICE_CONTROLLING {
                        m.ice_controlling = Some(be64(v));
                    } else {
                        m.ice_controlled = Some(be64(v));
                    }
                }
                attr::XOR_MAPPED_ADDRESS => {
                    m.xor_mapped_address = Some(decode_address(v, true, &tid, t)?);
                }
                attr::ERROR_CODE => {
                    if v.len() < 4 || v.len() > 4 + MAX_REASON_LEN {
                        return Err(StunError::BadAttribute(t));
                    }
                    let class = u16::from(v[2] & 0x07);
                    let number = u16::from(v[3]);
                    if !(3..=6).contains(&class) || number > 99 {
                        return Err(StunError::BadAttribute(t));
                    }
                    let reason =
                        std::str::from_utf8(&v[4..]).map_err(|_| StunError::BadAttribute(t))?;
                    m.error_code = Some((class * 100 + number, reason));
                }
                _ => {}
            }
        }
        Ok(m)
    }

    pub fn class(&self) -> StunClass {
        self.class
    }
    pub fn method(&self) -> u16 {
        self.method
    }
    pub fn is_binding_request(&self) -> bool {
        self.class == StunClass::Request && self.method == METHOD_BINDING
    }
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }
    pub fn username(&self) -> Option<&'a str> {
        self.username
    }
    pub fn priority(&self) -> Option<u32> {
        self.priority
    }
    pub fn use_candidate(&self) -> bool {
        self.use_candidate
    }
    /// Tie-breaker of ICE-CONTROLLING (RFC 8445 §7.1.3).
    pub fn ice_controlling(&self) -> Option<u64> {
        self.ice_controlling
    }
    /// Tie-breaker of ICE-CONTROLLED (RFC 8445 §7.1.3).
    pub fn ice_controlled(&self) -> Option<u64> {
        self.ice_controlled
    }
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        self.xor_mapped_address
    }
    /// ERROR-CODE as (code 300–699, reason phrase).
    pub fn error_code(&self) -> Option<(u16, &'a str)> {
        self.error_code
    }
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }
    /// The datagram this view borrows.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Verifies MESSAGE-INTEGRITY (§15.4) with a key made by [`integrity_key`]; false when the
    /// attribute is absent. The comparison is constant-time.
    pub fn check_integrity(&self, key: &IntegrityKey) -> bool {
        let Some(at) = self.integrity else {
            return false;
        };
        let mut mac = key.clone();
        mac_message_prefix(&mut mac, self.raw, at);
        mac.verify_slice(&self.raw[at + 4..at + INTEGRITY_ATTR_LEN])
            .is_ok()
    }

    /// Verifies FINGERPRINT (§15.5); true when the attribute is absent (it is optional in
    /// RFC 5389; integrity is what authenticates a check).
    pub fn check_fingerprint(&self) -> bool {
        let Some(at) = self.fingerprint else {
            return true;
        };
        fingerprint_of(&self.raw[..at]) == be32(&self.raw[at + 4..at + 8])
    }
}

/// Feeds the HMAC with `raw[..at]`, the header length patched to end just after a
/// MESSAGE-INTEGRITY attribute placed at `at` (§15.4).
fn mac_message_prefix(mac: &mut IntegrityKey, raw: &[u8], at: usize) {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&raw[..HEADER_LEN]);
    // `at` is below MAX_MESSAGE_LEN, so the length fits in 16 bits.
    let len = (at + INTEGRITY_ATTR_LEN - HEADER_LEN) as u16;
    header[2..4].copy_from_slice(&len.to_be_bytes());
    mac.update(&header);
    mac.update(&raw[HEADER_LEN..at]);
}

fn fingerprint_of(prefix: &[u8]) -> u32 {
    crc32fast::hash(prefix) ^ FINGERPRINT_XOR
}

/// Makes the short-term-credential key (§15.4: the password, SASLprep'd; ICE passwords are
/// ASCII `ice-char`s, for which SASLprep is the identity).
pub fn integrity_key(password: &str) -> IntegrityKey {
    // HMAC accepts keys of any length; this cannot fail.
    match IntegrityKey::new_from_slice(password.as_bytes()) {
        Ok(k) => k,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// The part before ':' of the USERNAME of a STUN message, i.e. the receiver's ufrag in an ICE
/// check (RFC 8445 §7.2.2). This is how the engine routes a datagram from an unknown 5-tuple
/// to a peer; it scans attributes without building a [`StunMessage`] and never allocates.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    check_header(datagram).ok()?;
    for a in attributes(datagram) {
        let (t, _, v) = a.ok()?;
        if t == attr::USERNAME {
            let end = v.iter().position(|&b| b == b':')?;
            return std::str::from_utf8(&v[..end])
                .ok()
                .filter(|u| !u.is_empty());
        }
    }
    None
}

/// Appends one STUN message to a caller-owned buffer; the header length is kept up to date
/// after each attribute. Nothing allocates once the buffer has capacity (≥ 128 bytes for a
/// Binding response).
pub struct StunWriter<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> StunWriter<'b> {
    /// Starts a message at the end of `buf`.
    pub fn new(buf: &'b mut Vec<u8>, method: u16, class: StunClass, tid: TransactionId) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid.0);
        StunWriter { buf, start }
    }

    fn body_len(&self) -> usize {
        self.buf.len() - self.start - HEADER_LEN
    }

    fn set_len(&mut self, len: usize) {
        let l = (len as u16).to_be_bytes();
        self.buf[self.start + 2] = l[0];
        self.buf[self.start + 3] = l[1];
    }

    fn attribute(&mut self, typ: u16, value: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        let pad = (4 - value.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
        let len = self.body_len();
        self.set_len(len);
        self
    }

    /// USERNAME (§15.3); truncated to [`MAX_USERNAME_LEN`] bytes at a char boundary.
    pub fn username(&mut self, username: &str) -> &mut Self {
        let v = truncate_utf8(username, MAX_USERNAME_LEN);
        self.attribute(attr::USERNAME, v.as_bytes())
    }

    /// XOR-MAPPED-ADDRESS (§15.2). An IPv4-mapped IPv6 source (dual-stack socket) is
    /// reported as the IPv4 address the peer knows itself by.
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) -> &mut Self {
        let port = (addr.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes();
        let cookie = MAGIC_COOKIE.to_be_bytes();
        let ip = match addr.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(ip) => {
                let mut v = [0u8; 8];
                v[1] = 0x01;
                v[2..4].copy_from_slice(&port);
                for (i, (b, k)) in ip.octets().iter().zip(cookie).enumerate() {
                    v[4 + i] = b ^ k;
                }
                self.attribute(attr::XOR_MAPPED_ADDRESS, &v)
            }
            IpAddr::V6(ip) => {
                let mut v = [0u8; 20];
                v[1] = 0x02;
                v[2..4].copy_from_slice(&port);
                let mut tid = [0u8; 12];
                tid.copy_from_slice(&self.buf[self.start + 8..self.start + HEADER_LEN]);
                let key = cookie.iter().chain(tid.iter());
                for (i, (b, k)) in ip.octets().iter().zip(key).enumerate() {
                    v[4 + i] = b ^ k;
                }
                self.attribute(attr::XOR_MAPPED_ADDRESS, &v)
            }
        }
    }

    /// PRIORITY (RFC 8445 §7.1.1).
    pub fn priority(&mut self, priority: u32) -> &mut Self {
        self.attribute(attr::PRIORITY, &priority.to_be_bytes())
    }

    /// USE-CANDIDATE (RFC 8445 §7.1.2).
    pub fn use_candidate(&mut self) -> &mut Self {
        self.attribute(attr::USE_CANDIDATE, &[])
    }

    /// ICE-CONTROLLING with its tie-breaker (RFC 8445 §7.1.3).
    pub fn ice_controlling(&mut self, tie_breaker: u64) -> &mut Self {
        self.attribute(attr::ICE_CONTROLLING, &tie_breaker.to_be_bytes())
    }

    /// ICE-CONTROLLED with its tie-breaker (RFC 8445 §7.1.3).
    pub fn ice_controlled(&mut self, tie_breaker: u64) -> &mut Self {
        self.attribute(attr::ICE_CONTROLLED, &tie_breaker.to_be_bytes())
    }

    /// ERROR-CODE (§15.6); `code` is clamped to 300–699, the reason truncated to
    /// [`MAX_REASON_LEN`] bytes.
    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        let code = code.clamp(300, 699);
        let reason = truncate_utf8(reason, MAX_REASON_LEN);
        let mut v = [0u8; 4 + MAX_REASON_LEN];
        v[2] = (code / 100) as u8;
        v[3] = (code % 100) as u8;
        v[4..4 + reason.len()].copy_from_slice(reason.as_bytes());
        self.attribute(attr::ERROR_CODE, &v[..4 + reason.len()])
    }

    /// SOFTWARE (§15.10), truncated like a reason phrase.
    pub fn software(&mut self, software: &str) -> &mut Self {
        let v = truncate_utf8(software, MAX_REASON_LEN);
        self.attribute(attr::SOFTWARE, v.as_bytes())
    }

    /// MESSAGE-INTEGRITY over everything written so far (§15.4).
    pub fn message_integrity(&mut self, key: &IntegrityKey) -> &mut Self {
        let at = self.buf.len() - self.start;
        let mut mac = key.clone();
        mac_message_prefix(&mut mac, &self.buf[self.start..], at);
        let tag = mac.finalize().into_bytes();
        self.attribute(attr::MESSAGE_INTEGRITY, &tag)
    }

    /// Appends FINGERPRINT (§15.5) and finishes the message; returns its length.
    pub fn finish_with_fingerprint(self) -> usize {
        let len = self.body_len() + FINGERPRINT_ATTR_LEN;
        let mut w = self;
        w.set_len(len);
        let crc = fingerprint_of(&w.buf[w.start..]);
        w.buf.extend_from_slice(&attr::FINGERPRINT.to_be_bytes());
        w.buf.extend_from_slice(&4u16.to_be_bytes());
        w.buf.extend_from_slice(&crc.to_be_bytes());
        w.buf.len() - w.start
    }

    /// Finishes the message without FINGERPRINT; returns its length.
    pub fn finish(self) -> usize {
        self.buf.len() - self.start
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 5769 §2.1 sample request (short-term credentials).
    pub(crate) const RFC5769_REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];
    pub(crate) const RFC5769_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

    /// RFC 5769 §2.2 sample IPv4 response.
    const RFC5769_RESPONSE_V4: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    /// RFC 5769 §2.3 sample IPv6 response.
    const RFC5769_RESPONSE_V6: [u8; 92] = [
        0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01,
        0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9,
        0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
        0x0b, 0x4c,
    ];

    #[test]
    fn rfc5769_request_parses_and_authenticates() {
        let m = StunMessage::try_parse(&RFC5769_REQUEST).expect("parses");
        assert!(m.is_binding_request());
        assert_eq!(m.username(), Some("evtj:h6vY"));
        assert_eq!(m.priority(), Some(0x6e0001ff));
        assert_eq!(m.ice_controlled(), Some(0x932ff9b151263b36));
        assert_eq!(m.ice_controlling(), None);
        assert!(!m.use_candidate());
        assert!(m.check_fingerprint());
        assert!(m.check_integrity(&integrity_key(RFC5769_PASSWORD)));
        assert!(!m.check_integrity(&integrity_key("wrong")));
        assert_eq!(local_ufrag(&RFC5769_REQUEST), Some("evtj"));
    }

    #[test]
    fn rfc5769_responses_decode_mapped_addresses() {
        let key = integrity_key(RFC5769_PASSWORD);
        let v4 = StunMessage::try_parse(&RFC5769_RESPONSE_V4).expect("v4");
        assert_eq!(v4.class(), StunClass::SuccessResponse);
        assert_eq!(v4.method(), METHOD_BINDING);
        assert_eq!(
            v4.xor_mapped_address(),
            Some("192.0.2.1:32853".parse().expect("addr"))
        );
        assert!(v4.check_integrity(&key));
        assert!(v4.check_fingerprint());
        let v6 = StunMessage::try_parse(&RFC5769_RESPONSE_V6).expect("v6");
        assert_eq!(
            v6.xor_mapped_address(),
            Some(
                "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                    .parse()
                    .expect("addr")
            )
        );
        assert!(v6.check_integrity(&key));
        assert!(v6.check_fingerprint());
    }

    /// The writer reproduces RFC 5769's responses byte for byte (same attributes, same order).
    #[test]
    fn writer_reproduces_rfc5769_responses() {
        let key = integrity_key(RFC5769_PASSWORD);
        let tid = TransactionId([
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ]);
        for (addr, expected) in [
            ("192.0.2.1:32853", &RFC5769_RESPONSE_V4[..]),
            (
                "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
                &RFC5769_RESPONSE_V6[..],
            ),
        ] {
            let mut out = Vec::new();
            let mut w = StunWriter::new(&mut out, METHOD_BINDING, StunClass::SuccessResponse, tid);
            w.software("test vector");
            // RFC 5769 pads SOFTWARE with a space where we pad with a zero.
            let last = w.buf.len() - 1;
            w.buf[last] = b' ';
            w.xor_mapped_address(addr.parse().expect("addr"));
            w.message_integrity(&key);
            let n = w.finish_with_fingerprint();
            assert_eq!(n, expected.len());
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn writer_round_trips_ice_attributes() {
        let key = integrity_key("pwd-pwd-pwd-pwd-pwd-pwd");
        let mut out = vec![0xAA; 3]; // appends after existing content
        let tid = TransactionId([7; 12]);
        let mut w = StunWriter::new(&mut out, METHOD_BINDING, StunClass::Request, tid);
        w.username("abcd:efgh")
            .priority(12345)
            .use_candidate()
            .ice_controlling(42);
        w.message_integrity(&key);
        let n = w.finish_with_fingerprint();
        let m = StunMessage::try_parse(&out[3..3 + n]).expect("parses");
        assert_eq!(m.username(), Some("abcd:efgh"));
        assert_eq!(m.priority(), Some(12345));
        assert!(m.use_candidate());
        assert_eq!(m.ice_controlling(), Some(42));
        assert_eq!(m.transaction_id(), tid);
        assert!(m.check_integrity(&key));
        assert!(m.check_fingerprint());

        let mut out = Vec::new();
        let mut w = StunWriter::new(&mut out, METHOD_BINDING, StunClass::ErrorResponse, tid);
        w.error_code(487, "Role Conflict").message_integrity(&key);
        w.finish_with_fingerprint();
        let m = StunMessage::try_parse(&out).expect("parses");
        assert_eq!(m.class(), StunClass::ErrorResponse);
        assert_eq!(m.error_code(), Some((487, "Role Conflict")));
        assert!(m.check_integrity(&key));

        let mut out = Vec::new();
        let mut w = StunWriter::new(&mut out, METHOD_BINDING, StunClass::SuccessResponse, tid);
        w.xor_mapped_address("[::ffff:192.0.2.7]:4242".parse().expect("addr"));
        w.finish();
        let m = StunMessage::try_parse(&out).expect("parses");
        assert_eq!(
            m.xor_mapped_address(),
            Some("192.0.2.7:4242".parse().expect("addr"))
        );
    }

    #[test]
    fn error_response_round_trips() {
        let key = integrity_key("pwd-pwd-pwd-pwd-pwd-pwd");
        let tid = TransactionId([7; 12]);
        let mut out = Vec::new();
        let mut w = StunWriter::new(&mut out, METHOD_BINDING, StunClass::ErrorResponse, tid);
        w.error_code(401, "Unauthorized").message_integrity(&key);
        w.finish_with_fingerprint();
        let m = StunMessage::try_parse(&out).expect("parses");
        assert_eq!(m.class(), StunClass::ErrorResponse);
        assert_eq!(m.error_code(), Some((401, "Unauthorized")));
        assert!(m.check_integrity(&key));
        assert!(m.check_fingerprint());
    }

    #[test]
    fn corrupted_fingerprint_and_integrity_are_detected() {
        let key = integrity_key(RFC5769_PASSWORD);
        let mut bad = RFC5769_REQUEST;
        bad[107] ^= 1;
        let m = StunMessage::try_parse(&bad).expect("framing still valid");
        assert!(!m.check_fingerprint());
        assert!(m.check_integrity(&key));
        let mut bad = RFC5769_REQUEST;
        bad[30] ^= 1; // inside SOFTWARE, covered by both
        let m = StunMessage::try_parse(&bad).expect("framing still valid");
        assert!(!m.check_fingerprint());
        assert!(!m.check_integrity(&key));
    }

    #[test]
    fn malformed_stun_is_rejected_without_panic() {
        assert_eq!(StunMessage::try_parse(&[]).err(), Some(StunError::TooShort));
        assert_eq!(
            StunMessage::try_parse(&[0u8; 19]).err(),
            Some(StunError::TooShort)
        );
        let mut no_cookie = RFC5769_REQUEST;
        no_cookie[4] = 0;
        assert_eq!(
            StunMessage::try_parse(&no_cookie).err(),
            Some(StunError::NotStun)
        );
        assert_eq!(
            StunMessage::try_parse(&RFC5769_REQUEST[..104]).err(),
            Some(StunError::BadLength(0x58))
        );
        // An attribute whose length runs past the end.
        let mut overrun = RFC5769_REQUEST;
        overrun[23] = 0xff;
        assert!(matches!(
            StunMessage::try_parse(&overrun),
            Err(StunError::TruncatedAttribute(_))
        ));
        // FINGERPRINT followed by another attribute.
        let mut v = RFC5769_REQUEST.to_vec();
        v.extend_from_slice(&[0x00, 0x25, 0x00, 0x00]);
        v[3] += 4;
        assert_eq!(
            StunMessage::try_parse(&v).err(),
            Some(StunError::FingerprintNotLast)
        );
        assert_eq!(local_ufrag(&v), Some("evtj"));
        assert_eq!(
            StunMessage::try_parse(&[0u8; 2000]).err(),
            Some(StunError::TooLong)
        );
    }

    /// Deterministic pseudo-random inputs (xorshift): every prefix and mutation of a valid
    /// message must parse or fail cleanly.
    #[test]
    fn garbage_never_panics() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let key = integrity_key(RFC5769_PASSWORD);
        for _ in 0..20_000 {
            let mut v = RFC5769_REQUEST.to_vec();
            let flips = (next() % 6) as usize;
            for _ in 0..flips {
                let i = (next() as usize) % v.len();
                v[i] = next() as u8;
            }
            let cut = (next() as usize) % (v.len() + 1);
            let v = &v[..cut.max(v.len() * ((next() % 2) as usize))];
            let _ = local_ufrag(v);
            if let Ok(m) = StunMessage::try_parse(v) {
                let _ = m.check_integrity(&key);
                let _ = m.check_fingerprint();
            }
        }
    }
}
