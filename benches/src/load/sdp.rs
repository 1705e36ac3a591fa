//! The little SDP the tool writes and reads. It offers one sendonly VP8 (VideoRoom publisher)
//! or sendrecv Opus (AudioBridge) m-line, and answers a VideoRoom subscriber offer with
//! recvonly for every audio/video m-line (other m-lines rejected). Host candidates are put in
//! the SDP itself (`trickle: false`), so no trickle messages are needed in either direction.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Our ICE/DTLS identity as it appears in the SDP.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    pub ufrag: String,
    pub pwd: String,
    /// "AB:CD:..." of our certificate (sha-256).
    pub fingerprint: String,
    pub candidate: SocketAddr,
}

/// What the tool needs from the server's SDP.
#[derive(Debug, Clone, Default)]
pub struct RemoteDescription {
    pub ufrag: String,
    pub pwd: String,
    /// "sha-256 AB:CD:..."
    pub fingerprint: String,
    /// `a=setup` value (`active`, `passive`, `actpass`).
    pub setup: String,
    pub candidates: Vec<SocketAddr>,
    pub media: Vec<RemoteMedia>,
}

#[derive(Debug, Clone, Default)]
pub struct RemoteMedia {
    pub kind: String,
    pub port: u16,
    pub mid: String,
    /// (payload type, encoding name lower-case), in m-line order.
    pub codecs: Vec<(u8, String)>,
    pub direction: String,
    /// The id the answer gives the ssrc-audio-level extension (None: not accepted).
    pub audio_level_ext: Option<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SdpError {
    #[error("SDP has no {0}")]
    Missing(&'static str),
}

fn session_head(out: &mut String, mids: &[String]) {
    let id: u64 = rand::random::<u64>() >> 2;
    let _ = write!(
        out,
        "v=0\r\no=- {id} 2 IN IP4 127.0.0.1\r\ns=ianus-load\r\nt=0 0\r\na=group:BUNDLE {}\r\na=msid-semantic: WMS *\r\n",
        mids.join(" ")
    );
}

fn transport_lines(out: &mut String, l: &LocalTransport, setup: &str) {
    let ip = l.candidate.ip();
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "c=IN {fam} {ip}\r\na=rtcp:9 IN {fam} {ip}\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:sha-256 {}\r\na=setup:{setup}\r\n",
        l.ufrag, l.pwd, l.fingerprint
    );
}

fn candidate_lines(out: &mut String, l: &LocalTransport) {
    let _ = write!(
        out,
        "a=candidate:1 1 udp 2130706431 {} {} typ host\r\na=end-of-candidates\r\n",
        l.candidate.ip(),
        l.candidate.port()
    );
}

/// A publisher's offer: one sendonly VP8 video m-line with `ssrc`.
pub fn video_offer(l: &LocalTransport, ssrc: u32, pt: u8) -> String {
    let mut s = String::with_capacity(1024);
    session_head(&mut s, &["0".to_owned()]);
    let _ = write!(s, "m=video 9 UDP/TLS/RTP/SAVPF {pt}\r\n");
    transport_lines(&mut s, l, "actpass");
    let _ = write!(
        s,
        "a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:{pt} VP8/90000\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\na=rtcp-fb:{pt} ccm fir\r\na=msid:load v{ssrc}\r\na=ssrc:{ssrc} cname:ianus-load\r\na=ssrc:{ssrc} msid:load v{ssrc}\r\n"
    );
    candidate_lines(&mut s, l);
    s
}

/// The RFC 6464 header extension browsers send with Opus.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// The id the tool offers for it.
pub const AUDIO_LEVEL_ID: u8 = 1;

/// An AudioBridge participant's offer: one sendrecv Opus m-line with `ssrc` and, as browsers
/// do, the ssrc-audio-level extension.
pub fn audio_offer(l: &LocalTransport, ssrc: u32, pt: u8) -> String {
    let mut s = String::with_capacity(1024);
    session_head(&mut s, &["0".to_owned()]);
    let _ = write!(s, "m=audio 9 UDP/TLS/RTP/SAVPF {pt}\r\n");
    transport_lines(&mut s, l, "actpass");
    let _ = write!(
        s,
        "a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\na=extmap:{AUDIO_LEVEL_ID} {AUDIO_LEVEL_URI}\r\na=msid:load a{ssrc}\r\na=ssrc:{ssrc} cname:ianus-load\r\na=ssrc:{ssrc} msid:load a{ssrc}\r\n"
    );
    candidate_lines(&mut s, l);
    s
}

/// The answer to a subscriber offer: recvonly VP8/Opus where offered, the rest rejected.
/// Returns the SDP and, per accepted m-line, (mid, kind, payload type).
pub fn subscriber_answer(l: &LocalTransport, offer: &RemoteDescription) -> String {
    let mut s = String::with_capacity(1024);
    let accepted: Vec<(usize, u8)> = offer
        .media
        .iter()
        .enumerate()
        .filter(|(_, m)| m.port != 0)
        .filter_map(|(i, m)| {
            let want = match m.kind.as_str() {
                "video" => "vp8",
                "audio" => "opus",
                _ => return None,
            };
            m.codecs
                .iter()
                .find(|(_, n)| n == want)
                .map(|(pt, _)| (i, *pt))
        })
        .collect();
    let mids: Vec<String> = accepted
        .iter()
        .map(|(i, _)| offer.media[*i].mid.clone())
        .collect();
    session_head(&mut s, &mids);
    let mut first = true;
    for (i, m) in offer.media.iter().enumerate() {
        let proto = if m.kind == "application" {
            "UDP/DTLS/SCTP webrtc-datachannel"
        } else {
            "UDP/TLS/RTP/SAVPF"
        };
        match accepted.iter().find(|(j, _)| *j == i) {
            Some((_, pt)) => {
                let _ = write!(s, "m={} 9 {proto} {pt}\r\n", m.kind);
                transport_lines(&mut s, l, "active");
                let codec = if m.kind == "video" {
                    "VP8/90000"
                } else {
                    "opus/48000/2"
                };
                let _ = write!(
                    s,
                    "a=mid:{}\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:{pt} {codec}\r\n",
                    m.mid
                );
                if first {
                    candidate_lines(&mut s, l);
                    first = false;
                }
            }
            None => {
                let fmt = if m.kind == "application" {
                    "webrtc-datachannel".to_owned()
                } else {
                    m.codecs.first().map_or("0".to_owned(), |c| c.0.to_string())
                };
                let p = if m.kind == "application" {
                    "UDP/DTLS/SCTP"
                } else {
                    "UDP/TLS/RTP/SAVPF"
                };
                let _ = write!(
                    s,
                    "m={} 0 {p} {fmt}\r\nc=IN IP4 0.0.0.0\r\na=mid:{}\r\na=inactive\r\n",
                    m.kind, m.mid
                );
            }
        }
    }
    s
}

/// Parses what the tool needs; session-level attributes apply to every m-line.
pub fn parse(sdp: &str) -> Result<RemoteDescription, SdpError> {
    let mut d = RemoteDescription::default();
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            if let Some(prev) = d.media.last_mut() {
                fill_codecs(prev, &rtpmap);
            }
            rtpmap.clear();
            let mut it = m.split_whitespace();
            let kind = it.next().unwrap_or_default().to_owned();
            let port = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let _proto = it.next();
            let codecs = it
                .filter_map(|f| f.parse::<u8>().ok())
                .map(|pt| (pt, String::new()))
                .collect();
            d.media.push(RemoteMedia {
                kind,
                port,
                codecs,
                ..Default::default()
            });
            continue;
        }
        let Some(a) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = a.split_once(':').unwrap_or((a, ""));
        match name {
            "ice-ufrag" if d.ufrag.is_empty() => d.ufrag = value.to_owned(),
            "ice-pwd" if d.pwd.is_empty() => d.pwd = value.to_owned(),
            "fingerprint" if d.fingerprint.is_empty() => d.fingerprint = value.to_owned(),
            "setup" if d.setup.is_empty() => d.setup = value.to_owned(),
            "candidate" => {
                if let Some(c) = parse_candidate(value) {
                    if !d.candidates.contains(&c) {
                        d.candidates.push(c);
                    }
                }
            }
            "mid" => {
                if let Some(m) = d.media.last_mut() {
                    m.mid = value.to_owned();
                }
            }
            "rtpmap" => {
                let mut it = value.split_whitespace();
                if let (Some(pt), Some(enc)) = (it.next().and_then(|p| p.parse().ok()), it.next()) {
                    let name = enc
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    rtpmap.push((pt, name));
                }
            }
            "extmap" => {
                let mut it = value.split_whitespace();
                let id = it
                    .next()
                    .and_then(|i| i.split('/').next())
                    .and_then(|i| i.parse::<u8>().ok());
                if let (Some(id @ 1..=14), Some(AUDIO_LEVEL_URI), Some(m)) =
                    (id, it.next(), d.media.last_mut())
                {
                    m.audio_level_ext = Some(id);
                }
            }
            "sendrecv" | "sendonly" | "recvonly" | "inactive" => {
                if let Some(m) = d.media.last_mut() {
                    m.direction = name.to_owned();
                }
            }
            _ => {}
        }
    }
    if let Some(prev) = d.media.last_mut() {
        fill_codecs(prev, &rtpmap);
    }
    if d.ufrag.is_empty() || d.pwd.is_empty() {
        return Err(SdpError::Missing("ICE credentials"));
    }
    if d.fingerprint.is_empty() {
        return Err(SdpError::Missing("DTLS fingerprint"));
    }
    Ok(d)
}

fn fill_codecs(m: &mut RemoteMedia, rtpmap: &[(u8, String)]) {
    for (pt, name) in m.codecs.iter_mut() {
        if let Some((_, n)) = rtpmap.iter().find(|(p, _)| p == pt) {
            name.clone_from(n);
        }
    }
}

/// `foundation component transport priority address port typ ...`: UDP, component 1 only.
pub fn parse_candidate(value: &str) -> Option<SocketAddr> {
    let value = value.strip_prefix("candidate:").unwrap_or(value);
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() < 6 || f[1] != "1" || !f[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let ip: IpAddr = f[4].parse().ok()?;
    let port: u16 = f[5].parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_offer_and_answers_recvonly() {
        let offer = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n\
            a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
            a=candidate:1 1 udp 2015363327 127.0.0.2 40000 typ host\r\na=candidate:2 1 tcp 1 127.0.0.2 9 typ host\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n";
        let d = parse(offer).expect("parse");
        assert_eq!(d.ufrag, "abcd");
        assert_eq!(d.setup, "actpass");
        assert_eq!(
            d.candidates,
            vec!["127.0.0.2:40000".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!(d.media[0].codecs[0], (96, "vp8".to_owned()));
        let l = LocalTransport {
            ufrag: "u".into(),
            pwd: "p".into(),
            fingerprint: "CC".into(),
            candidate: "127.0.0.1:5000".parse().expect("addr"),
        };
        let a = subscriber_answer(&l, &d);
        assert!(a.contains("a=group:BUNDLE 0\r\n"));
        assert!(a.contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(a.contains("a=recvonly"));
        assert!(a.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel"));
        assert!(a.contains("a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"));
    }

    #[test]
    fn reads_the_audio_level_id_the_answer_accepted() {
        let answer = "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:sha-256 AA\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:3/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
        assert_eq!(
            parse(answer).expect("parse").media[0].audio_level_ext,
            Some(3)
        );
        let without = answer.replace("ssrc-audio-level", "toffset");
        assert_eq!(
            parse(&without).expect("parse").media[0].audio_level_ext,
            None
        );
    }
}
