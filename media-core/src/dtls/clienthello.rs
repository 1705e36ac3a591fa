//! Reads the peer's DTLS ClientHello before the DTLS stack does, to choose the SRTP profile.
//!
//! Why: Chromium lists `SRTP_AES128_CM_HMAC_SHA1_80` first in `use_srtp`, and the DTLS server
//! picks the first profile of the client's list it supports; AES-GCM costs ~6× less per packet
//! (design.md). So, as DTLS server, we look at the ClientHello, and configure the server with
//! GCM alone when the client offers it.
//!
//! Chromium 156's ClientHello (DTLS 1.3 + a post-quantum key share, ~1,413 bytes) is split into
//! handshake fragments (RFC 6347 §4.2.3, RFC 9147 §5.5) over **two datagrams**, which may arrive
//! in any order or be retransmitted. [`ClientHelloSniffer`] is fed every DTLS datagram from the
//! peer, walks its records (several per datagram allowed, RFC 6347 §4.1.1), reassembles
//! fragments of handshake type 1 by `fragment_offset`/`fragment_length` into a bounded buffer
//! and, once every byte is there, parses the ClientHello (RFC 5246 §7.4.1.2 with the DTLS
//! cookie, RFC 6347 §4.2.1) far enough for cipher suites, `use_srtp` (RFC 5764 §4.1.1) and
//! `supported_versions` (RFC 8446 §4.2.1).
//!
//! The sniffer only reads; the datagrams still go to the DTLS stack unchanged.

/// Largest ClientHello we reassemble. Chromium's is ~1.4 KB; with a larger PQ share or many
/// extensions a few KB. The bound keeps a peer from making us allocate 16 MB (the 24-bit
/// length field).
pub const MAX_CLIENT_HELLO_LEN: usize = 8192;
/// Distinct byte ranges kept while reassembling; real peers send 2–3 fragments.
pub const MAX_FRAGMENTS: usize = 32;

/// `use_srtp` profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2).
pub const SRTP_AES128_CM_HMAC_SHA1_80: u16 = 0x0001;
pub const SRTP_AES128_CM_HMAC_SHA1_32: u16 = 0x0002;
pub const SRTP_AEAD_AES_128_GCM: u16 = 0x0007;
pub const SRTP_AEAD_AES_256_GCM: u16 = 0x0008;

/// `supported_versions` values (RFC 9147 §5.3 and RFC 6347).
pub const DTLS_1_2: u16 = 0xFEFD;
pub const DTLS_1_3: u16 = 0xFEFC;

const RECORD_HEADER_LEN: usize = 13;
const HANDSHAKE_HEADER_LEN: usize = 12;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_USE_SRTP: u16 = 14;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Why the datagrams do not make a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientHelloError {
    #[error("DTLS record truncated")]
    TruncatedRecord,
    #[error("record version is not DTLS")]
    NotDtls,
    #[error("handshake fragment truncated")]
    TruncatedFragment,
    #[error("ClientHello of {0} bytes exceeds {MAX_CLIENT_HELLO_LEN}")]
    TooLarge(usize),
    #[error("fragment does not fit in the announced message length")]
    FragmentOutOfBounds,
    #[error("fragments announce different message lengths")]
    InconsistentLength,
    #[error("overlapping fragments disagree")]
    OverlapMismatch,
    #[error("more than {MAX_FRAGMENTS} fragments")]
    TooManyFragments,
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// What we learn from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// `client_version` (legacy_version; 0xFEFD for DTLS 1.2 and 1.3 ClientHellos).
    pub client_version: u16,
    /// Cipher suites in the client's order of preference.
    pub cipher_suites: Vec<u16>,
    /// `use_srtp` protection profiles in the client's order; empty without the extension.
    pub srtp_profiles: Vec<u16>,
    /// `use_srtp` MKI (RFC 5764 §4.1.1); browsers send none.
    pub srtp_mki: Vec<u8>,
    /// `supported_versions`; empty when absent (DTLS ≤ 1.2 client).
    pub supported_versions: Vec<u16>,
    /// Whether the DTLS cookie is non-empty (a second ClientHello after HelloVerifyRequest).
    pub has_cookie: bool,
}

impl ClientHello {
    /// Whether `use_srtp` lists AEAD_AES_128_GCM (RFC 7714 §14.2).
    pub fn offers_aes_128_gcm(&self) -> bool {
        self.offers_srtp_profile(SRTP_AEAD_AES_128_GCM)
    }

    pub fn offers_srtp_profile(&self, profile: u16) -> bool {
        self.srtp_profiles.contains(&profile)
    }

    /// Whether the client offers DTLS 1.3 (RFC 9147 §5.3).
    pub fn offers_dtls13(&self) -> bool {
        self.supported_versions.contains(&DTLS_1_3)
    }
}

/// Reassembles and parses the first ClientHello of a peer. See the module doc.
#[derive(Debug, Default)]
pub struct ClientHelloSniffer {
    /// `message_seq` being reassembled (a later one, e.g. after HelloVerifyRequest, restarts).
    message_seq: Option<u16>,
    /// The message body, allocated once at its announced length.
    buf: Vec<u8>,
    /// Received byte ranges `[start, end)`, sorted and merged.
    ranges: Vec<(usize, usize)>,
    done: bool,
}

impl ClientHelloSniffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a ClientHello was already returned (later datagrams are ignored).
    pub fn is_complete(&self) -> bool {
        self.done
    }

    /// Feeds one datagram. Returns the ClientHello once its last missing fragment arrived,
    /// `Ok(None)` while incomplete (or after completion, or for datagrams without one).
    pub fn push(&mut self, datagram: &[u8]) -> Result<Option<ClientHello>, ClientHelloError> {
        if self.done {
            return Ok(None);
        }
        let mut rest = datagram;
        while !rest.is_empty() {
            // RFC 9147 §4: a unified header (001xxxxx) is an encrypted record; nothing of the
            // ClientHello follows one, and its length may be implicit.
            if rest[0] & 0xE0 == 0x20 {
                break;
            }
            if rest.len() < RECORD_HEADER_LEN {
                return Err(ClientHelloError::TruncatedRecord);
            }
            if rest[1] != 0xFE {
                return Err(ClientHelloError::NotDtls);
            }
            let content_type = rest[0];
            let epoch = u16::from_be_bytes([rest[3], rest[4]]);
            let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            let body = rest
                .get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len)
                .ok_or(ClientHelloError::TruncatedRecord)?;
            rest = &rest[RECORD_HEADER_LEN + len..];
            // The ClientHello travels in cleartext, epoch 0.
            if content_type != CONTENT_HANDSHAKE || epoch != 0 {
                continue;
            }
            if let Some(hello) = self.handle_handshake_record(body)? {
                return Ok(Some(hello));
            }
        }
        Ok(None)
    }

    fn handle_handshake_record(
        &mut self,
        mut body: &[u8],
    ) -> Result<Option<ClientHello>, ClientHelloError> {
        while !body.is_empty() {
            if body.len() < HANDSHAKE_HEADER_LEN {
                return Err(ClientHelloError::TruncatedFragment);
            }
            let msg_type = body[0];
            let total = be24(&body[1..4]);
            let seq = u16::from_be_bytes([body[4], body[5]]);
            let offset = be24(&body[6..9]);
            let frag_len = be24(&body[9..12]);
            let frag = body
                .get(HANDSHAKE_HEADER_LEN..HANDSHAKE_HEADER_LEN + frag_len)
                .ok_or(ClientHelloError::TruncatedFragment)?;
            body = &body[HANDSHAKE_HEADER_LEN + frag_len..];
            if msg_type != HANDSHAKE_CLIENT_HELLO {
                continue;
            }
            if self.add_fragment(seq, total, offset, frag)? {
                let hello = parse_client_hello(&self.buf)?;
                self.done = true;
                self.buf = Vec::new();
                self.ranges = Vec::new();
                return Ok(Some(hello));
            }
        }
        Ok(None)
    }

    /// Stores one fragment; true when the message is complete.
    fn add_fragment(
        &mut self,
        seq: u16,
        total: usize,
        offset: usize,
        frag: &[u8],
    ) -> Result<bool, ClientHelloError> {
        if total > MAX_CLIENT_HELLO_LEN {
            return Err(ClientHelloError::TooLarge(total));
        }
        let end = offset
            .checked_add(frag.len())
            .filter(|&e| e <= total)
            .ok_or(ClientHelloError::FragmentOutOfBounds)?;
        match self.message_seq {
            // A retransmission of an older ClientHello: ignore.
            Some(current) if seq < current => return Ok(false),
            Some(current) if seq == current => {
                if total != self.buf.len() {
                    return Err(ClientHelloError::InconsistentLength);
                }
            }
            _ => {
                self.message_seq = Some(seq);
                self.buf = vec![0; total];
                self.ranges.clear();
            }
        }
        // Bytes already received must be identical (a peer rewriting them is broken or hostile).
        for &(s, e) in &self.ranges {
            let (lo, hi) = (s.max(offset), e.min(end));
            if lo < hi && self.buf[lo..hi] != frag[lo - offset..hi - offset] {
                return Err(ClientHelloError::OverlapMismatch);
            }
        }
        self.buf[offset..end].copy_from_slice(frag);
        if offset < end {
            self.insert_range(offset, end)?;
        }
        Ok(self.ranges.first() == Some(&(0, total)))
    }

    fn insert_range(&mut self, start: usize, end: usize) -> Result<(), ClientHelloError> {
        let (mut start, mut end) = (start, end);
        // Merge every range touching [start, end).
        self.ranges.retain(|&(s, e)| {
            let touches = s <= end && start <= e;
            if touches {
                start = start.min(s);
                end = end.max(e);
            }
            !touches
        });
        if self.ranges.len() >= MAX_FRAGMENTS {
            return Err(ClientHelloError::TooManyFragments);
        }
        let at = self.ranges.partition_point(|&(s, _)| s < start);
        self.ranges.insert(at, (start, end));
        Ok(())
    }
}

fn be24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// A bounds-checked reader over the ClientHello body.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ClientHelloError> {
        if self.buf.len() < n {
            return Err(ClientHelloError::Malformed(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ClientHelloError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, ClientHelloError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a 1-byte length prefix.
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], ClientHelloError> {
        let n = usize::from(self.u8(what)?);
        self.take(n, what)
    }
    /// A vector with a 2-byte length prefix.
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], ClientHelloError> {
        let n = usize::from(self.u16(what)?);
        self.take(n, what)
    }
}

fn u16_list(b: &[u8], what: &'static str) -> Result<Vec<u16>, ClientHelloError> {
    if !b.len().is_multiple_of(2) {
        return Err(ClientHelloError::Malformed(what));
    }
    Ok(b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// Parses a complete ClientHello body (RFC 6347 §4.2.1; extensions RFC 5246 §7.4.1.4).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, ClientHelloError> {
    let mut r = Reader { buf: body };
    let client_version = r.u16("client_version")?;
    r.take(32, "random")?;
    let session_id = r.vec8("session_id")?;
    if session_id.len() > 32 {
        return Err(ClientHelloError::Malformed("session_id"));
    }
    let cookie = r.vec8("cookie")?;
    let suites = r.vec16("cipher_suites")?;
    if suites.is_empty() {
        return Err(ClientHelloError::Malformed("cipher_suites"));
    }
    let cipher_suites = u16_list(suites, "cipher_suites")?;
    if r.vec8("compression_methods")?.is_empty() {
        return Err(ClientHelloError::Malformed("compression_methods"));
    }
    let mut hello = ClientHello {
        client_version,
        cipher_suites,
        has_cookie: !cookie.is_empty(),
        ..Default::default()
    };
    // Extensions are optional (RFC 5246 §7.4.1.2): absent when nothing follows.
    if r.buf.is_empty() {
        return Ok(hello);
    }
    let mut ext = Reader {
        buf: r.vec16("extensions")?,
    };
    if !r.buf.is_empty() {
        return Err(ClientHelloError::Malformed("trailing bytes"));
    }
    while !ext.buf.is_empty() {
        let typ = ext.u16("extension")?;
        let data = ext.vec16("extension")?;
        let mut d = Reader { buf: data };
        match typ {
            EXT_USE_SRTP => {
                hello.srtp_profiles = u16_list(d.vec16("use_srtp")?, "use_srtp")?;
                hello.srtp_mki = d.vec8("use_srtp mki")?.to_vec();
            }
            EXT_SUPPORTED_VERSIONS => {
                hello.supported_versions =
                    u16_list(d.vec8("supported_versions")?, "supported_versions")?;
            }
            _ => {}
        }
    }
    Ok(hello)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello body like Chromium's: DTLS 1.2 legacy version, GCM suites, use_srtp with
    /// SHA1_80 first, supported_versions with 1.3, a big (PQ-sized) key share to fill it out.
    fn chromium_like_body() -> Vec<u8> {
        let mut b = vec![0xFE, 0xFD];
        b.extend_from_slice(&[0x42; 32]); // random
        b.push(0); // session_id
        b.push(0); // cookie
        let suites: [u16; 5] = [0x1301, 0xC02B, 0xC02F, 0xCCA9, 0xC009];
        b.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
        for s in suites {
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]); // compression: null
        let mut exts = Vec::new();
        let mut ext = |typ: u16, data: &[u8]| {
            exts.extend_from_slice(&typ.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(data);
        };
        ext(0x0017, &[]); // extended_master_secret
        ext(EXT_SUPPORTED_VERSIONS, &[4, 0xFE, 0xFC, 0xFE, 0xFD]);
        ext(EXT_USE_SRTP, &[0, 8, 0, 1, 0, 2, 0, 7, 0, 8, 0]);
        // key_share with an X25519MLKEM768-sized entry (1216 bytes).
        let mut ks = Vec::new();
        ks.extend_from_slice(&(1220u16).to_be_bytes());
        ks.extend_from_slice(&0x11ECu16.to_be_bytes());
        ks.extend_from_slice(&1216u16.to_be_bytes());
        ks.extend_from_slice(&[0x5A; 1216]);
        ext(0x0033, &ks);
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(&exts);
        b
    }

    /// One handshake fragment in one DTLS record.
    fn record(msg_seq: u16, total: usize, offset: usize, frag: &[u8]) -> Vec<u8> {
        let mut hs = vec![HANDSHAKE_CLIENT_HELLO];
        hs.extend_from_slice(&(total as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&msg_seq.to_be_bytes());
        hs.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&(frag.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(frag);
        let mut r = vec![CONTENT_HANDSHAKE, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0];
        r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        r.extend_from_slice(&hs);
        r
    }

    fn check_chromium_like(h: &ClientHello) {
        assert_eq!(h.client_version, DTLS_1_2);
        assert_eq!(h.cipher_suites, [0x1301, 0xC02B, 0xC02F, 0xCCA9, 0xC009]);
        assert_eq!(h.srtp_profiles, [1, 2, 7, 8]);
        assert!(h.offers_aes_128_gcm());
        assert!(h.offers_dtls13());
        assert!(h.srtp_mki.is_empty());
        assert!(!h.has_cookie);
    }

    #[test]
    fn single_datagram_client_hello() {
        let body = chromium_like_body();
        let mut s = ClientHelloSniffer::new();
        let h = s
            .push(&record(0, body.len(), 0, &body))
            .expect("valid")
            .expect("complete");
        check_chromium_like(&h);
        assert!(s.is_complete());
        assert_eq!(s.push(&record(0, body.len(), 0, &body)), Ok(None));
    }

    #[test]
    fn two_datagram_client_hello_in_either_order() {
        let body = chromium_like_body();
        assert!(body.len() > 1300, "spans two datagrams like Chromium's");
        let split = 1100;
        let first = record(0, body.len(), 0, &body[..split]);
        let second = record(0, body.len(), split, &body[split..]);
        for order in [[&first, &second], [&second, &first]] {
            let mut s = ClientHelloSniffer::new();
            assert_eq!(s.push(order[0]), Ok(None));
            let h = s.push(order[1]).expect("valid").expect("complete");
            check_chromium_like(&h);
        }
    }

    #[test]
    fn overlapping_retransmitted_and_multi_record_datagrams() {
        let body = chromium_like_body();
        let n = body.len();
        let mut s = ClientHelloSniffer::new();
        // A ChangeCipherSpec-like record and a fragment in one datagram.
        let mut d = vec![20, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        d.extend(record(0, n, 0, &body[..500]));
        assert_eq!(s.push(&d), Ok(None));
        // Same fragment again (retransmission) and an overlapping one.
        assert_eq!(s.push(&record(0, n, 0, &body[..500])), Ok(None));
        assert_eq!(s.push(&record(0, n, 400, &body[400..900])), Ok(None));
        // Two records in the last datagram.
        let mut d = record(0, n, 900, &body[900..1200]);
        d.extend(record(0, n, 1200, &body[1200..]));
        let h = s.push(&d).expect("valid").expect("complete");
        check_chromium_like(&h);
    }

    #[test]
    fn later_message_seq_restarts_and_older_is_ignored() {
        let body = chromium_like_body();
        let n = body.len();
        let mut s = ClientHelloSniffer::new();
        assert_eq!(s.push(&record(1, n, 0, &body[..100])), Ok(None));
        assert_eq!(s.push(&record(0, n, 100, &body[100..])), Ok(None));
        assert!(s
            .push(&record(1, n, 100, &body[100..]))
            .expect("valid")
            .is_some());
    }

    #[test]
    fn inconsistent_fragments_are_rejected() {
        let body = chromium_like_body();
        let n = body.len();
        let mut s = ClientHelloSniffer::new();
        s.push(&record(0, n, 0, &body[..600])).expect("first");
        assert_eq!(
            s.push(&record(0, n + 1, 600, &body[600..])),
            Err(ClientHelloError::InconsistentLength)
        );
        let mut other = body[500..700].to_vec();
        other[0] ^= 1;
        assert_eq!(
            s.push(&record(0, n, 500, &other)),
            Err(ClientHelloError::OverlapMismatch)
        );
        assert_eq!(
            s.push(&record(0, n, n - 10, &body[..20])),
            Err(ClientHelloError::FragmentOutOfBounds)
        );
        assert_eq!(
            ClientHelloSniffer::new().push(&record(0, MAX_CLIENT_HELLO_LEN + 1, 0, &body[..10])),
            Err(ClientHelloError::TooLarge(MAX_CLIENT_HELLO_LEN + 1))
        );
        let mut s = ClientHelloSniffer::new();
        let mut result = Ok(None);
        for i in 0..=MAX_FRAGMENTS {
            result = s.push(&record(0, n, i * 2, &body[i * 2..i * 2 + 1]));
        }
        assert_eq!(result, Err(ClientHelloError::TooManyFragments));
    }

    #[test]
    fn truncated_records_and_garbage_are_errors_not_panics() {
        let body = chromium_like_body();
        let full = record(0, body.len(), 0, &body);
        let mut s = ClientHelloSniffer::new();
        assert_eq!(s.push(&full[..10]), Err(ClientHelloError::TruncatedRecord));
        assert_eq!(s.push(&full[..100]), Err(ClientHelloError::TruncatedRecord));
        let mut not_dtls = full.clone();
        not_dtls[1] = 0x03;
        assert_eq!(s.push(&not_dtls), Err(ClientHelloError::NotDtls));
        // A complete but truncated ClientHello body.
        let short = &body[..40];
        assert!(matches!(
            ClientHelloSniffer::new().push(&record(0, short.len(), 0, short)),
            Err(ClientHelloError::Malformed(_))
        ));
        // Handshake header claiming more than the record holds.
        let mut bad = full.clone();
        bad[13 + 11] = 0xFF;
        assert_eq!(
            ClientHelloSniffer::new().push(&bad),
            Err(ClientHelloError::TruncatedFragment)
        );
        // No use_srtp: no profiles, no GCM.
        let mut plain = body[..body.len()].to_vec();
        let h = parse_client_hello(&plain).expect("valid");
        assert!(h.offers_aes_128_gcm());
        plain.truncate(2 + 32 + 1 + 1 + 2 + 10 + 2); // drop all extensions
        let h = parse_client_hello(&plain).expect("no extensions is valid");
        assert!(h.srtp_profiles.is_empty() && !h.offers_aes_128_gcm());

        // Pseudo-random mutations never panic.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..5000 {
            let mut d = full.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % d.len();
                d[i] = (x >> 32) as u8;
            }
            let cut = (x as usize >> 8) % (d.len() + 1);
            let _ = ClientHelloSniffer::new().push(&d[..cut]);
            let _ = ClientHelloSniffer::new().push(&d);
            let _ = parse_client_hello(&d[25..]);
        }
    }
}
