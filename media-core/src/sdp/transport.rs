//! The transport half of an SDP: checking a remote one, stripping it before a plugin sees
//! the SDP, and merging Ianus's own into a bare SDP on the way out (Janus's
//! `janus_sdp_process_remote`, `janus_sdp_anonymize`, `janus_sdp_merge`;
//! `janus-core-api.md` §8.2).

use std::net::IpAddr;

use super::model::*;
use super::SdpError;

/// Media-level attribute names Janus strips before a plugin sees a remote SDP.
const STRIPPED_MEDIA_ATTRIBUTES: &[&str] = &[
    "crypto",
    "fingerprint",
    "setup",
    "connection",
    "group",
    "msid-semantic",
    "rid",
    "simulcast",
    "rtcp",
    "rtcp-mux",
    "rtcp-rsize",
    "candidate",
    "end-of-candidates",
    "ssrc",
    "ssrc-group",
    "sctpmap",
    "sctp-port",
    "max-message-size",
];

/// Session-level attribute names Janus strips.
const STRIPPED_SESSION_ATTRIBUTES: &[&str] = &[
    "fingerprint",
    "group",
    "msid-semantic",
    "extmap-allow-mixed",
    "rtcp-rsize",
];

impl SessionDescription {
    /// Checks what Janus requires of a remote SDP before it starts ICE/DTLS: ICE credentials
    /// and a fingerprint, at session level or in the section carrying the (bundled)
    /// transport. Janus answers a failure with 465 `Error processing SDP`.
    pub fn validate_remote(&self) -> Result<(), SdpError> {
        let Some(idx) = self.transport_mindex() else {
            // Everything rejected: nothing to connect, nothing to check.
            return Ok(());
        };
        let t = self.effective_transport(idx);
        if t.ice_ufrag.is_none() {
            return Err(SdpError::MissingIceUfrag);
        }
        if t.ice_pwd.is_none() {
            return Err(SdpError::MissingIcePwd);
        }
        if t.fingerprint.is_none() {
            return Err(SdpError::MissingFingerprint);
        }
        Ok(())
    }

    /// Removes transport attributes as Janus's core does before handing an SDP to a plugin
    /// (`janus-core-api.md` §8.2, last bullet). Simulcast rids and SSRCs are removed too: the
    /// caller reads them first with [`super::negotiated`]/[`MediaSection::rids`].
    pub fn strip_transport(&mut self) {
        self.ice_ufrag = None;
        self.ice_pwd = None;
        self.ice_options = None;
        self.ice_lite = false;
        self.fingerprints.clear();
        self.groups.clear();
        self.msid_semantic = None;
        self.extmap_allow_mixed = false;
        self.attributes.retain(|a| {
            !a.name.starts_with("ice-") && !STRIPPED_SESSION_ATTRIBUTES.contains(&a.name.as_str())
        });
        for m in &mut self.media {
            m.ice_ufrag = None;
            m.ice_pwd = None;
            m.ice_options = None;
            m.fingerprints.clear();
            m.setup = None;
            m.rids.clear();
            m.simulcast = None;
            m.rtcp = None;
            m.rtcp_mux = false;
            m.rtcp_rsize = false;
            m.candidates.clear();
            m.end_of_candidates = false;
            m.ssrcs.clear();
            m.ssrc_groups.clear();
            m.sctpmap = None;
            m.sctp_port = None;
            m.max_message_size = None;
            m.attributes.retain(|a| {
                !a.name.starts_with("ice-") && !STRIPPED_MEDIA_ATTRIBUTES.contains(&a.name.as_str())
            });
        }
    }
}

/// One local ICE candidate to advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    pub ip: IpAddr,
    pub port: u16,
    /// RFC 8445 §5.1.2 priority; `None` computes a host priority.
    pub priority: Option<u32>,
}

impl LocalCandidate {
    pub fn host(ip: IpAddr, port: u16) -> Self {
        LocalCandidate {
            ip,
            port,
            priority: None,
        }
    }

    /// RFC 8445 §5.1.2.1: type preference 126 (host), local preference from the index
    /// (IPv6 first as RFC 8421 suggests), component 1.
    fn priority(&self, index: usize) -> u32 {
        self.priority.unwrap_or_else(|| {
            let family: u32 = if self.ip.is_ipv6() { 65535 } else { 65279 };
            let local = family.saturating_sub(index.min(255) as u32);
            (126u32 << 24) | (local << 8) | (256 - 1)
        })
    }
}

/// What Ianus's transport adds to an SDP it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportAttrs {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    /// `a=fingerprint:sha-256 <AA:BB:...>` at session level.
    pub fingerprint: Fingerprint,
    /// `active`/`passive` when answering, `actpass` when offering (RFC 8842 §5.2).
    pub setup: Setup,
    /// The address in `o=` and every `c=`.
    pub address: IpAddr,
    pub candidates: Vec<LocalCandidate>,
    /// Half-trickle (Janus's default): candidates are complete, write `a=end-of-candidates`.
    pub end_of_candidates: bool,
    /// Add `a=ice-lite` (RFC 8445 §2.5).
    pub ice_lite: bool,
}

impl TransportAttrs {
    /// Convenience: sha-256 fingerprint, host candidates, half-trickle, no ice-lite.
    pub fn new(
        ice_ufrag: impl Into<String>,
        ice_pwd: impl Into<String>,
        fingerprint_sha256: impl Into<String>,
        setup: Setup,
        address: IpAddr,
    ) -> Self {
        TransportAttrs {
            ice_ufrag: ice_ufrag.into(),
            ice_pwd: ice_pwd.into(),
            fingerprint: Fingerprint {
                hash: "sha-256".to_owned(),
                value: fingerprint_sha256.into(),
            },
            setup,
            address,
            candidates: Vec::new(),
            end_of_candidates: true,
            ice_lite: false,
        }
    }
}

/// Proto of RTP sections Ianus sends (RFC 5764 §8, JSEP §5.1.2).
pub const PROTO_RTP: &str = "UDP/TLS/RTP/SAVPF";
/// Proto of the data section (RFC 8841 §4.1).
pub const PROTO_DATA: &str = "UDP/DTLS/SCTP";
/// Old data section proto (draft-ietf-mmusic-sctp-sdp-05) answered in kind.
pub const PROTO_DATA_LEGACY: &str = "DTLS/SCTP";

/// Adds Ianus's transport attributes to a bare SDP, as `janus_sdp_merge` does: session-level
/// BUNDLE group, `ice-options:trickle`, fingerprint, `extmap-allow-mixed`, `msid-semantic`,
/// optional `ice-lite`; per section `c=`, port 9, proto, `rtcp-mux`, ICE credentials, setup
/// and candidates. Rejected sections (port 0) keep port 0 and get only `c=`.
pub fn merge_transport(sdp: &mut SessionDescription, t: &TransportAttrs) {
    let conn = Connection::for_ip(t.address);
    sdp.origin.net_type = "IN".to_owned();
    sdp.origin.addr_type = conn.addr_type.clone();
    sdp.origin.address = conn.address.clone();
    if sdp.origin.session_id == 0 {
        // RFC 8866 §5.2 suggests an NTP timestamp; any 62-bit random number is as unique.
        sdp.origin.session_id = (rand::random::<u64>() >> 2).max(1);
    }
    if sdp.session_name.is_empty() {
        sdp.session_name = "-".to_owned();
    }
    sdp.connection = None;

    // RFC 9143 §7.1: the answerer's BUNDLE group lists the accepted mids, the tagged
    // (transport-carrying) one first — that is the first accepted section here.
    let mids: Vec<String> = sdp
        .media
        .iter()
        .filter(|m| !m.is_rejected())
        .filter_map(|m| m.mid.clone())
        .collect();
    sdp.groups
        .retain(|g| !g.semantics.eq_ignore_ascii_case("BUNDLE"));
    if !mids.is_empty() {
        sdp.groups.insert(
            0,
            Group {
                semantics: "BUNDLE".to_owned(),
                mids,
            },
        );
    }
    sdp.ice_lite = t.ice_lite;
    sdp.ice_ufrag = None;
    sdp.ice_pwd = None;
    sdp.ice_options = Some("trickle".to_owned());
    sdp.fingerprints = vec![t.fingerprint.clone()];
    sdp.setup = None;
    sdp.extmap_allow_mixed = true;
    sdp.msid_semantic = Some(" WMS *".to_owned());

    let candidates: Vec<String> = t
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{} 1 udp {} {} {} typ host",
                i + 1,
                c.priority(i),
                c.ip,
                c.port
            )
        })
        .collect();
    for m in &mut sdp.media {
        m.connection = Some(conn.clone());
        m.fingerprints.clear();
        if m.is_rejected() {
            m.ice_ufrag = None;
            m.ice_pwd = None;
            m.ice_options = None;
            m.setup = None;
            m.candidates.clear();
            m.end_of_candidates = false;
            continue;
        }
        m.port = 9;
        m.port_count = None;
        if m.kind.is_rtp() {
            m.proto = PROTO_RTP.to_owned();
            m.rtcp_mux = true;
        } else if m.kind == MediaKind::Application && m.proto != PROTO_DATA_LEGACY {
            m.proto = PROTO_DATA.to_owned();
        }
        m.ice_ufrag = Some(t.ice_ufrag.clone());
        m.ice_pwd = Some(t.ice_pwd.clone());
        m.ice_options = Some("trickle".to_owned());
        m.setup = Some(t.setup);
        m.candidates = candidates.clone();
        m.end_of_candidates = t.end_of_candidates;
    }
}
