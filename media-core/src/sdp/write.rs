//! [`SessionDescription`] → SDP text, CRLF line ends (RFC 8866 §5).
//!
//! Attribute order is canonical: session transport attributes first, then per section
//! `c=`, direction, mid, rtcp-mux, ICE, DTLS, codecs, extensions, msid/ssrc, unknown
//! attributes, candidates — the layout Janus's `janus_sdp_write` + `janus_sdp_merge` produce.

use std::fmt::{self, Write};

use super::model::*;

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        // RFC 8866 §5: i u e p c b precede t=; r z k follow it.
        for l in self.lines.iter().filter(|l| "iuep".contains(l.kind)) {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        if let Some(c) = &self.connection {
            write_connection(f, c)?;
        }
        for l in self.lines.iter().filter(|l| l.kind == 'b') {
            write!(f, "b={}\r\n", l.value)?;
        }
        if self.timing.is_empty() {
            write!(f, "t=0 0\r\n")?;
        }
        for t in &self.timing {
            write!(f, "t={t}\r\n")?;
        }
        for l in self.lines.iter().filter(|l| !"iuepb".contains(l.kind)) {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        for g in &self.groups {
            write!(f, "a=group:{}", g.semantics)?;
            for mid in &g.mids {
                write!(f, " {mid}")?;
            }
            f.write_str("\r\n")?;
        }
        if self.ice_lite {
            f.write_str("a=ice-lite\r\n")?;
        }
        write_ice(f, &self.ice_ufrag, &self.ice_pwd, &self.ice_options)?;
        for fp in &self.fingerprints {
            write!(f, "a=fingerprint:{} {}\r\n", fp.hash, fp.value)?;
        }
        if let Some(s) = self.setup {
            write!(f, "a=setup:{s}\r\n")?;
        }
        if self.extmap_allow_mixed {
            f.write_str("a=extmap-allow-mixed\r\n")?;
        }
        if let Some(ms) = &self.msid_semantic {
            write!(f, "a=msid-semantic:{ms}\r\n")?;
        }
        if let Some(d) = self.direction {
            write!(f, "a={d}\r\n")?;
        }
        for e in &self.extmaps {
            write_extmap(f, e)?;
        }
        for a in &self.attributes {
            write_attribute(f, a)?;
        }
        for m in &self.media {
            write_media(f, m)?;
        }
        Ok(())
    }
}

impl SessionDescription {
    /// The SDP text (CRLF line ends).
    pub fn to_sdp_string(&self) -> String {
        let mut s = String::with_capacity(2048 + 1024 * self.media.len());
        // Writing into a String cannot fail.
        let _ = write!(s, "{self}");
        s
    }
}

fn write_connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(f, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address)
}

fn write_ice(
    f: &mut fmt::Formatter<'_>,
    ufrag: &Option<String>,
    pwd: &Option<String>,
    options: &Option<String>,
) -> fmt::Result {
    if let Some(u) = ufrag {
        write!(f, "a=ice-ufrag:{u}\r\n")?;
    }
    if let Some(p) = pwd {
        write!(f, "a=ice-pwd:{p}\r\n")?;
    }
    if let Some(o) = options {
        write!(f, "a=ice-options:{o}\r\n")?;
    }
    Ok(())
}

fn write_extmap(f: &mut fmt::Formatter<'_>, e: &ExtMap) -> fmt::Result {
    write!(f, "a=extmap:{}", e.id)?;
    if let Some(d) = e.direction {
        write!(f, "/{d}")?;
    }
    write!(f, " {}", e.uri)?;
    if let Some(a) = &e.attributes {
        write!(f, " {a}")?;
    }
    f.write_str("\r\n")
}

fn write_attribute(f: &mut fmt::Formatter<'_>, a: &Attribute) -> fmt::Result {
    match &a.value {
        Some(v) => write!(f, "a={}:{}\r\n", a.name, v),
        None => write!(f, "a={}\r\n", a.name),
    }
}

fn write_simulcast_list(f: &mut fmt::Formatter<'_>, list: &[Vec<SimulcastRid>]) -> fmt::Result {
    for (i, stream) in list.iter().enumerate() {
        if i > 0 {
            f.write_str(";")?;
        }
        for (j, r) in stream.iter().enumerate() {
            if j > 0 {
                f.write_str(",")?;
            }
            if r.paused {
                f.write_str("~")?;
            }
            f.write_str(&r.rid)?;
        }
    }
    Ok(())
}

fn write_media(f: &mut fmt::Formatter<'_>, m: &MediaSection) -> fmt::Result {
    write!(f, "m={} {}", m.kind, m.port)?;
    if let Some(n) = m.port_count {
        write!(f, "/{n}")?;
    }
    write!(f, " {}", m.proto)?;
    for fmt in &m.formats {
        write!(f, " {fmt}")?;
    }
    f.write_str("\r\n")?;
    for l in m.lines.iter().filter(|l| l.kind == 'i') {
        write!(f, "i={}\r\n", l.value)?;
    }
    if let Some(c) = &m.connection {
        write_connection(f, c)?;
    }
    for l in m.lines.iter().filter(|l| l.kind != 'i') {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    if let Some(d) = m.direction {
        write!(f, "a={d}\r\n")?;
    }
    if let Some(mid) = &m.mid {
        write!(f, "a=mid:{mid}\r\n")?;
    }
    if let Some(r) = &m.rtcp {
        write!(f, "a=rtcp:{r}\r\n")?;
    }
    if m.rtcp_mux {
        f.write_str("a=rtcp-mux\r\n")?;
    }
    if m.rtcp_rsize {
        f.write_str("a=rtcp-rsize\r\n")?;
    }
    write_ice(f, &m.ice_ufrag, &m.ice_pwd, &m.ice_options)?;
    for fp in &m.fingerprints {
        write!(f, "a=fingerprint:{} {}\r\n", fp.hash, fp.value)?;
    }
    if let Some(s) = m.setup {
        write!(f, "a=setup:{s}\r\n")?;
    }
    // Payload attributes in m-line order, then any mentioned only by attributes. A payload
    // type listed twice on the m= line still has one rtpmap/fmtp/rtcp-fb set (RFC 8866 §6.6,
    // §6.15: they are per payload type), so it is written once: writing it per occurrence
    // grew the SDP on every parse/write round trip (fuzz/regressions/sdp/).
    let mut in_line: Vec<u8> = Vec::new();
    for pt in m.pts() {
        if !in_line.contains(&pt) {
            in_line.push(pt);
        }
    }
    let ordered = in_line
        .iter()
        .filter_map(|pt| m.payload(*pt))
        .chain(m.payloads.iter().filter(|p| !in_line.contains(&p.pt)));
    for p in ordered {
        if let Some(r) = &p.rtpmap {
            write!(f, "a=rtpmap:{} {}/{}", p.pt, r.encoding, r.clock_rate)?;
            if let Some(ch) = r.channels {
                write!(f, "/{ch}")?;
            }
            f.write_str("\r\n")?;
        }
        for fb in &p.rtcp_fb {
            write!(f, "a=rtcp-fb:{} {}\r\n", p.pt, fb)?;
        }
        if let Some(fmtp) = &p.fmtp {
            write!(f, "a=fmtp:{} {}\r\n", p.pt, fmtp)?;
        }
    }
    for fb in &m.rtcp_fb_all {
        write!(f, "a=rtcp-fb:* {fb}\r\n")?;
    }
    for e in &m.extmaps {
        write_extmap(f, e)?;
    }
    if let Some(p) = m.sctp_port {
        write!(f, "a=sctp-port:{p}\r\n")?;
    }
    if let Some(s) = &m.sctpmap {
        write!(f, "a=sctpmap:{} {}", s.port, s.app)?;
        if let Some(n) = s.streams {
            write!(f, " {n}")?;
        }
        f.write_str("\r\n")?;
    }
    if let Some(n) = m.max_message_size {
        write!(f, "a=max-message-size:{n}\r\n")?;
    }
    for ms in &m.msids {
        write!(f, "a=msid:{}", ms.stream)?;
        if let Some(t) = &ms.track {
            write!(f, " {t}")?;
        }
        f.write_str("\r\n")?;
    }
    for r in &m.rids {
        write!(f, "a=rid:{} {}", r.id, r.direction.as_str())?;
        if let Some(p) = &r.params {
            write!(f, " {p}")?;
        }
        f.write_str("\r\n")?;
    }
    if let Some(sc) = &m.simulcast {
        f.write_str("a=simulcast:")?;
        let prefix = if sc.legacy_rid_prefix { "rid=" } else { "" };
        let mut first = true;
        for (dir, list) in [("send", &sc.send), ("recv", &sc.recv)] {
            if list.is_empty() {
                continue;
            }
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{dir} {prefix}")?;
            write_simulcast_list(f, list)?;
        }
        f.write_str("\r\n")?;
    }
    for g in &m.ssrc_groups {
        write!(f, "a=ssrc-group:{}", g.semantics)?;
        for s in &g.ssrcs {
            write!(f, " {s}")?;
        }
        f.write_str("\r\n")?;
    }
    for s in &m.ssrcs {
        write!(f, "a=ssrc:{} {}", s.ssrc, s.attribute)?;
        if let Some(v) = &s.value {
            write!(f, ":{v}")?;
        }
        f.write_str("\r\n")?;
    }
    for a in &m.attributes {
        write_attribute(f, a)?;
    }
    for c in &m.candidates {
        write!(f, "a=candidate:{c}\r\n")?;
    }
    if m.end_of_candidates {
        f.write_str("a=end-of-candidates\r\n")?;
    }
    Ok(())
}
