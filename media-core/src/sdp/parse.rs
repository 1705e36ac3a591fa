//! SDP text → [`SessionDescription`] (RFC 8866 §5 grammar, leniently: `\n` or `\r\n` line
//! ends, empty lines skipped, unknown line types and attributes kept).
//!
//! Everything the peer controls is bounded by the `MAX_*` constants of the module root, and
//! every malformed known attribute is a typed [`SdpError`], never a panic.

use super::model::*;
use super::{
    SdpError, MAX_FORMATS_PER_SECTION, MAX_LINES, MAX_LINE_LEN, MAX_MEDIA_SECTIONS, MAX_SDP_LEN,
};

impl SessionDescription {
    /// Parses an SDP. Errors mirror Janus's (`Invalid SDP (doesn't start with v=)`,
    /// `Missing mandatory lines (o=, s= or m=)`) where Janus has one.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        if text.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge {
                len: text.len(),
                max: MAX_SDP_LEN,
            });
        }
        if !text.starts_with("v=") {
            return Err(SdpError::NoVersionLine);
        }
        let mut sdp = SessionDescription {
            timing: Vec::new(),
            ..Default::default()
        };
        sdp.session_name.clear();
        let (mut have_o, mut have_s) = (false, false);
        let mut count = 0usize;
        for (idx, raw) in text.split('\n').enumerate() {
            let line_no = idx + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_LINES {
                return Err(SdpError::TooManyLines { max: MAX_LINES });
            }
            if line.len() > MAX_LINE_LEN {
                return Err(SdpError::LineTooLong {
                    line: line_no,
                    max: MAX_LINE_LEN,
                });
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
                return Err(invalid(line_no, "not of the form <letter>=<value>"));
            }
            let kind = bytes[0] as char;
            let value = &line[2..];
            let err = |reason| invalid(line_no, reason);
            if kind == 'm' {
                if sdp.media.len() >= MAX_MEDIA_SECTIONS {
                    return Err(SdpError::TooManyMediaSections {
                        max: MAX_MEDIA_SECTIONS,
                    });
                }
                let m = parse_m_line(value).map_err(|e| e.at(line_no))?;
                sdp.media.push(m);
                continue;
            }
            if let Some(m) = sdp.media.last_mut() {
                match kind {
                    'c' => {
                        if m.connection.is_some() {
                            return Err(err("multiple c= lines in one m= section"));
                        }
                        m.connection = Some(parse_connection(value).ok_or(err("invalid c= line"))?);
                    }
                    'a' => parse_media_attribute(m, value).map_err(|e| e.at(line_no))?,
                    'v' | 'o' | 's' | 't' | 'z' | 'r' | 'u' | 'e' | 'p' => {
                        return Err(err("session-level line inside an m= section"))
                    }
                    _ => m.lines.push(SdpLine {
                        kind,
                        value: value.to_owned(),
                    }),
                }
                continue;
            }
            match kind {
                'v' => {
                    if count != 1 || value != "0" {
                        return Err(err("invalid v= line"));
                    }
                }
                'o' => {
                    if have_o {
                        return Err(err("multiple o= lines"));
                    }
                    sdp.origin = parse_origin(value).ok_or(err("invalid o= line"))?;
                    have_o = true;
                }
                's' => {
                    if have_s {
                        return Err(err("multiple s= lines"));
                    }
                    sdp.session_name = value.to_owned();
                    have_s = true;
                }
                't' => sdp.timing.push(value.to_owned()),
                'c' => {
                    if sdp.connection.is_some() {
                        return Err(err("multiple session-level c= lines"));
                    }
                    sdp.connection = Some(parse_connection(value).ok_or(err("invalid c= line"))?);
                }
                'a' => parse_session_attribute(&mut sdp, value).map_err(|e| e.at(line_no))?,
                _ => sdp.lines.push(SdpLine {
                    kind,
                    value: value.to_owned(),
                }),
            }
        }
        if !have_o || !have_s || sdp.media.is_empty() {
            return Err(SdpError::MissingMandatoryLines);
        }
        if sdp.timing.is_empty() {
            sdp.timing.push("0 0".to_owned());
        }
        Ok(sdp)
    }
}

fn invalid(line: usize, reason: &'static str) -> SdpError {
    SdpError::InvalidLine { line, reason }
}

/// A line error before its line number is known.
struct LineErr(&'static str);

impl LineErr {
    fn at(self, line: usize) -> SdpError {
        invalid(line, self.0)
    }
}

impl From<&'static str> for LineErr {
    fn from(s: &'static str) -> Self {
        LineErr(s)
    }
}

fn parse_origin(v: &str) -> Option<Origin> {
    let mut it = v.split_ascii_whitespace();
    let o = Origin {
        username: it.next()?.to_owned(),
        session_id: it.next()?.parse().ok()?,
        session_version: it.next()?.parse().ok()?,
        net_type: it.next()?.to_owned(),
        addr_type: it.next()?.to_owned(),
        address: it.next()?.to_owned(),
    };
    it.next().is_none().then_some(o)
}

fn parse_connection(v: &str) -> Option<Connection> {
    let mut it = v.split_ascii_whitespace();
    let c = Connection {
        net_type: it.next()?.to_owned(),
        addr_type: it.next()?.to_owned(),
        address: it.next()?.to_owned(),
    };
    it.next().is_none().then_some(c)
}

fn parse_m_line(v: &str) -> Result<MediaSection, LineErr> {
    let mut it = v.split(' ').filter(|s| !s.is_empty());
    let kind = MediaKind::parse(it.next().ok_or("m= line without media type")?);
    let port_s = it.next().ok_or("m= line without port")?;
    let (port, port_count) = match port_s.split_once('/') {
        Some((p, n)) => (
            p.parse().ok(),
            Some(n.parse().map_err(|_| "invalid port count")?),
        ),
        None => (port_s.parse().ok(), None),
    };
    let port = port.ok_or("invalid m= port")?;
    let proto = it.next().ok_or("m= line without proto")?;
    let mut m = MediaSection::new(kind, proto);
    m.port = port;
    m.port_count = port_count;
    for f in it {
        if m.formats.len() >= MAX_FORMATS_PER_SECTION {
            return Err("too many formats in m= line".into());
        }
        if proto.contains("RTP") {
            match f.parse::<u8>() {
                Ok(pt) if pt < 128 => {
                    if m.payload(pt).is_none() {
                        m.payloads.push(PayloadFormat {
                            pt,
                            rtpmap: None,
                            fmtp: None,
                            rtcp_fb: Vec::new(),
                        });
                    }
                }
                _ => return Err("invalid payload type in m= line".into()),
            }
        }
        m.formats.push(f.to_owned());
    }
    if m.formats.is_empty() {
        return Err("m= line without formats".into());
    }
    Ok(m)
}

fn split_attr(v: &str) -> Result<(&str, Option<&str>), LineErr> {
    let (name, value) = match v.split_once(':') {
        Some((n, val)) => (n, Some(val)),
        None => (v, None),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("invalid attribute name".into());
    }
    Ok((name, value))
}

fn need<'a>(v: Option<&'a str>, what: &'static str) -> Result<&'a str, LineErr> {
    v.filter(|s| !s.trim().is_empty()).ok_or(LineErr(what))
}

fn parse_session_attribute(sdp: &mut SessionDescription, v: &str) -> Result<(), LineErr> {
    let (name, value) = split_attr(v)?;
    match name {
        "group" => sdp.groups.push(parse_group(need(value, "empty group")?)?),
        "ice-lite" => sdp.ice_lite = true,
        "ice-ufrag" => sdp.ice_ufrag = Some(parse_ice_token(value)?),
        "ice-pwd" => sdp.ice_pwd = Some(parse_ice_token(value)?),
        "ice-options" => {
            sdp.ice_options = Some(need(value, "empty ice-options")?.trim().to_owned())
        }
        "fingerprint" => sdp.fingerprints.push(parse_fingerprint(value)?),
        "setup" => sdp.setup = Some(parse_setup(value)?),
        "msid-semantic" => sdp.msid_semantic = Some(value.unwrap_or("").to_owned()),
        "extmap-allow-mixed" => sdp.extmap_allow_mixed = true,
        "sendrecv" | "sendonly" | "recvonly" | "inactive" if value.is_none() => {
            sdp.direction = Direction::parse(name)
        }
        "extmap" => sdp.extmaps.push(parse_extmap(value)?),
        _ => sdp
            .attributes
            .push(Attribute::new(name, value.map(str::to_owned))),
    }
    Ok(())
}

fn parse_media_attribute(m: &mut MediaSection, v: &str) -> Result<(), LineErr> {
    let (name, value) = split_attr(v)?;
    match name {
        "mid" => {
            let mid = need(value, "empty mid")?;
            // RFC 8843 §9.1: a mid is a token of at most 16 characters in JSEP; allow more
            // but not whitespace, which would break `a=group` serialization.
            if mid.contains(char::is_whitespace) {
                return Err("invalid mid".into());
            }
            m.mid = Some(mid.to_owned());
        }
        "sendrecv" | "sendonly" | "recvonly" | "inactive" if value.is_none() => {
            m.direction = Direction::parse(name)
        }
        "ice-ufrag" => m.ice_ufrag = Some(parse_ice_token(value)?),
        "ice-pwd" => m.ice_pwd = Some(parse_ice_token(value)?),
        "ice-options" => m.ice_options = Some(need(value, "empty ice-options")?.trim().to_owned()),
        "fingerprint" => m.fingerprints.push(parse_fingerprint(value)?),
        "setup" => m.setup = Some(parse_setup(value)?),
        "candidate" => m
            .candidates
            .push(need(value, "empty candidate")?.to_owned()),
        "end-of-candidates" => m.end_of_candidates = true,
        "rtcp" => m.rtcp = Some(need(value, "empty rtcp")?.to_owned()),
        "rtcp-mux" => m.rtcp_mux = true,
        "rtcp-rsize" => m.rtcp_rsize = true,
        "rtpmap" => {
            let (pt, rest) = pt_and_rest(value)?;
            let map = parse_rtpmap(rest)?;
            payload_entry(m, pt)?.rtpmap = Some(map);
        }
        "fmtp" => {
            let (pt, rest) = pt_and_rest(value)?;
            let p = payload_entry(m, pt)?;
            if p.fmtp.is_some() {
                // A second fmtp for one payload type: keep it verbatim, do not merge.
                m.attributes
                    .push(Attribute::new(name, value.map(str::to_owned)));
            } else {
                p.fmtp = Some(rest.trim().to_owned());
            }
        }
        "rtcp-fb" => {
            let val = need(value, "empty rtcp-fb")?;
            let (pt, rest) = val.split_once(' ').ok_or("invalid rtcp-fb")?;
            let rest = rest.trim();
            if rest.is_empty() {
                return Err("invalid rtcp-fb".into());
            }
            if pt == "*" {
                m.rtcp_fb_all.push(rest.to_owned());
            } else {
                let pt = parse_pt(pt)?;
                payload_entry(m, pt)?.rtcp_fb.push(rest.to_owned());
            }
        }
        "extmap" => m.extmaps.push(parse_extmap(value)?),
        "msid" => {
            let val = need(value, "empty msid")?;
            let mut it = val.split_ascii_whitespace();
            let stream = it.next().ok_or("empty msid")?.to_owned();
            let track = it.next().map(str::to_owned);
            m.msids.push(Msid { stream, track });
        }
        "ssrc" => {
            let val = need(value, "empty ssrc")?;
            let (ssrc, rest) = match val.split_once(' ') {
                Some((s, r)) => (s, r.trim()),
                None => (val, ""),
            };
            let ssrc = ssrc.parse::<u32>().map_err(|_| "invalid ssrc")?;
            let (attribute, value) = match rest.split_once(':') {
                Some((a, v)) => (a.to_owned(), Some(v.to_owned())),
                None => (rest.to_owned(), None),
            };
            m.ssrcs.push(SsrcAttr {
                ssrc,
                attribute,
                value,
            });
        }
        "ssrc-group" => {
            let val = need(value, "empty ssrc-group")?;
            let mut it = val.split_ascii_whitespace();
            let semantics = it.next().ok_or("empty ssrc-group")?.to_owned();
            let mut ssrcs = Vec::new();
            for s in it {
                if ssrcs.len() >= MAX_SSRCS_PER_GROUP {
                    return Err("too many ssrcs in ssrc-group".into());
                }
                ssrcs.push(s.parse::<u32>().map_err(|_| "invalid ssrc in ssrc-group")?);
            }
            m.ssrc_groups.push(SsrcGroup { semantics, ssrcs });
        }
        "rid" => {
            let val = need(value, "empty rid")?;
            let mut it = val.splitn(3, ' ');
            let id = it.next().ok_or("empty rid")?.to_owned();
            let direction = match it.next() {
                Some("send") => RidDirection::Send,
                Some("recv") => RidDirection::Recv,
                _ => return Err("invalid rid direction".into()),
            };
            let params = it
                .next()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            m.rids.push(Rid {
                id,
                direction,
                params,
            });
        }
        "simulcast" => m.simulcast = Some(parse_simulcast(need(value, "empty simulcast")?)?),
        "sctp-port" => {
            m.sctp_port = Some(
                need(value, "empty sctp-port")?
                    .trim()
                    .parse()
                    .map_err(|_| "invalid sctp-port")?,
            )
        }
        "max-message-size" => {
            m.max_message_size = Some(
                need(value, "empty max-message-size")?
                    .trim()
                    .parse()
                    .map_err(|_| "invalid max-message-size")?,
            )
        }
        "sctpmap" => {
            let val = need(value, "empty sctpmap")?;
            let mut it = val.split_ascii_whitespace();
            let port = it
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or("invalid sctpmap port")?;
            let app = it.next().ok_or("invalid sctpmap")?.to_owned();
            let streams = match it.next() {
                Some(s) => Some(s.parse().map_err(|_| "invalid sctpmap streams")?),
                None => None,
            };
            m.sctpmap = Some(SctpMap { port, app, streams });
        }
        _ => m
            .attributes
            .push(Attribute::new(name, value.map(str::to_owned))),
    }
    Ok(())
}

/// Bounds `a=ssrc-group` (SIM has ≤ 3 in practice, FID 2).
const MAX_SSRCS_PER_GROUP: usize = 16;

fn parse_pt(s: &str) -> Result<u8, LineErr> {
    match s.trim().parse::<u8>() {
        Ok(pt) if pt < 128 => Ok(pt),
        _ => Err("invalid payload type".into()),
    }
}

fn pt_and_rest(value: Option<&str>) -> Result<(u8, &str), LineErr> {
    let v = need(value, "missing payload type")?;
    let (pt, rest) = v.split_once(' ').unwrap_or((v, ""));
    Ok((parse_pt(pt)?, rest))
}

fn payload_entry(m: &mut MediaSection, pt: u8) -> Result<&mut PayloadFormat, LineErr> {
    if let Some(i) = m.payloads.iter().position(|p| p.pt == pt) {
        return m.payloads.get_mut(i).ok_or(LineErr("payload lookup"));
    }
    if m.payloads.len() >= MAX_FORMATS_PER_SECTION {
        return Err("too many payload types".into());
    }
    m.payloads.push(PayloadFormat {
        pt,
        rtpmap: None,
        fmtp: None,
        rtcp_fb: Vec::new(),
    });
    m.payloads.last_mut().ok_or(LineErr("payload lookup"))
}

fn parse_rtpmap(s: &str) -> Result<RtpMap, LineErr> {
    let mut it = s.trim().split('/');
    let encoding = it
        .next()
        .filter(|e| !e.is_empty())
        .ok_or("invalid rtpmap")?
        .to_owned();
    let clock_rate = it
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or("invalid rtpmap clock rate")?;
    let channels = match it.next() {
        Some(c) => Some(c.parse().map_err(|_| "invalid rtpmap channels")?),
        None => None,
    };
    if it.next().is_some() {
        return Err("invalid rtpmap".into());
    }
    Ok(RtpMap {
        encoding,
        clock_rate,
        channels,
    })
}

fn parse_ice_token(value: Option<&str>) -> Result<String, LineErr> {
    let v = need(value, "empty ICE credential")?.trim();
    if v.contains(char::is_whitespace) {
        return Err("invalid ICE credential".into());
    }
    Ok(v.to_owned())
}

fn parse_fingerprint(value: Option<&str>) -> Result<Fingerprint, LineErr> {
    let v = need(value, "empty fingerprint")?;
    let mut it = v.split_ascii_whitespace();
    let hash = it.next().ok_or("invalid fingerprint")?.to_ascii_lowercase();
    let value = it.next().ok_or("invalid fingerprint")?.to_owned();
    if !value.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return Err("invalid fingerprint".into());
    }
    Ok(Fingerprint { hash, value })
}

fn parse_setup(value: Option<&str>) -> Result<Setup, LineErr> {
    Setup::parse(need(value, "empty setup")?.trim()).ok_or(LineErr("invalid setup"))
}

fn parse_group(v: &str) -> Result<Group, LineErr> {
    let mut it = v.split_ascii_whitespace();
    let semantics = it.next().ok_or("empty group")?.to_owned();
    let mids: Vec<String> = it.map(str::to_owned).collect();
    if mids.len() > MAX_MEDIA_SECTIONS {
        return Err("too many mids in group".into());
    }
    Ok(Group { semantics, mids })
}

fn parse_extmap(value: Option<&str>) -> Result<ExtMap, LineErr> {
    let v = need(value, "empty extmap")?;
    let mut it = v.split_ascii_whitespace();
    let id_dir = it.next().ok_or("invalid extmap")?;
    let (id, direction) = match id_dir.split_once('/') {
        Some((id, d)) => (
            id,
            Some(Direction::parse(d).ok_or("invalid extmap direction")?),
        ),
        None => (id_dir, None),
    };
    // RFC 8285 §5: 1-14 one-byte, 1-255 two-byte; 4096-4351 only in answers (§7).
    let id: u16 = id.parse().map_err(|_| "invalid extmap id")?;
    if id == 0 || (id > 255 && !(4096..=4351).contains(&id)) {
        return Err("invalid extmap id".into());
    }
    let uri = it.next().ok_or("invalid extmap")?.to_owned();
    let rest: Vec<&str> = it.collect();
    let attributes = (!rest.is_empty()).then(|| rest.join(" "));
    Ok(ExtMap {
        id,
        direction,
        uri,
        attributes,
    })
}

fn parse_simulcast(v: &str) -> Result<Simulcast, LineErr> {
    let mut sc = Simulcast::default();
    let mut it = v.split_ascii_whitespace();
    let mut seen = 0;
    while let Some(dir) = it.next() {
        seen += 1;
        if seen > 2 {
            return Err("invalid simulcast".into());
        }
        let mut list = it.next().ok_or("invalid simulcast")?;
        if let Some(rest) = list.strip_prefix("rid=") {
            sc.legacy_rid_prefix = true;
            list = rest;
        }
        let parsed = parse_simulcast_list(list)?;
        match dir {
            "send" => sc.send = parsed,
            "recv" => sc.recv = parsed,
            _ => return Err("invalid simulcast direction".into()),
        }
    }
    if seen == 0 {
        return Err("invalid simulcast".into());
    }
    Ok(sc)
}

/// Bounds the rids of one `a=simulcast` direction (browsers send ≤ 4).
const MAX_SIMULCAST_RIDS: usize = 16;

fn parse_simulcast_list(s: &str) -> Result<Vec<Vec<SimulcastRid>>, LineErr> {
    let mut out = Vec::new();
    let mut total = 0;
    for stream in s.split(';') {
        let mut alts = Vec::new();
        for alt in stream.split(',') {
            total += 1;
            if total > MAX_SIMULCAST_RIDS {
                return Err("too many simulcast rids".into());
            }
            let (rid, paused) = match alt.strip_prefix('~') {
                Some(r) => (r, true),
                None => (alt, false),
            };
            if rid.is_empty() {
                return Err("empty simulcast rid".into());
            }
            alts.push(SimulcastRid {
                rid: rid.to_owned(),
                paused,
            });
        }
        out.push(alts);
    }
    Ok(out)
}
