//! SDP behaviour through the public surface of `media_core::sdp`, on browser-shaped fixtures.

use std::net::{IpAddr, Ipv4Addr};

use media_core::sdp::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/sdp/{}", env!("CARGO_MANIFEST_DIR"), name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn chrome_offer() -> SessionDescription {
    SessionDescription::parse(&fixture("chromium156_offer_av_data_simulcast.sdp"))
        .expect("chrome offer parses")
}

fn firefox_offer() -> SessionDescription {
    SessionDescription::parse(&fixture("firefox128_offer_av_data.sdp"))
        .expect("firefox offer parses")
}

fn transport() -> TransportAttrs {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let mut t = TransportAttrs::new(
        "KM+p",
        "CtS6MBvppYKKpepD3sMqg8",
        "40:3E:00:11",
        Setup::Passive,
        ip,
    );
    t.candidates.push(LocalCandidate::host(ip, 42766));
    t
}

fn lines(sdp: &str) -> Vec<&str> {
    sdp.lines().collect()
}

#[test]
fn chromium_offer_parses_into_typed_sections() {
    let o = chrome_offer();
    assert_eq!(o.origin.session_id, 4611731400430051336);
    assert_eq!(o.media.len(), 3);
    assert_eq!(
        o.bundle_mids(),
        Some(&["0".to_owned(), "1".to_owned(), "2".to_owned()][..])
    );
    assert!(o.extmap_allow_mixed);

    let audio = &o.media[0];
    assert_eq!(audio.kind, MediaKind::Audio);
    assert_eq!(audio.mid.as_deref(), Some("0"));
    assert_eq!(audio.direction(), Direction::SendRecv);
    assert!(audio.rtcp_mux && audio.rtcp_rsize);
    assert_eq!(
        audio.pts().collect::<Vec<_>>(),
        vec![111, 63, 9, 0, 8, 13, 110, 126]
    );
    let opus = audio.payload(111).expect("opus");
    assert_eq!(opus.codec(), Codec::Opus);
    assert_eq!(opus.fmtp_param("useinbandfec"), Some("1"));
    assert_eq!(opus.rtcp_fb, vec!["transport-cc"]);
    assert_eq!(audio.payload(0).map(|p| p.codec()), Some(Codec::Pcmu));
    assert_eq!(
        audio.extmap(RtpExtension::AudioLevel).map(|e| e.id),
        Some(1)
    );
    assert_eq!(audio.ssrc_ids(), vec![2710863524]);
    assert_eq!(
        audio.ssrc_attr(2710863524, "cname"),
        Some("yT1mG2vQkPz8Xw4c")
    );
    assert_eq!(
        audio.ssrc_attr(2710863524, "msid"),
        Some("5f3c2b1a-6d7e-4f80-9a1b-2c3d4e5f6a7b 0c8e2f4a-1b3d-4c5e-8f70-a1b2c3d4e5f6")
    );

    let video = &o.media[1];
    assert_eq!(video.kind, MediaKind::Video);
    assert_eq!(video.pts().count(), 31);
    let rtx: Vec<(u8, u8)> = video.rtx_map().collect();
    assert!(rtx.contains(&(97, 96)) && rtx.contains(&(46, 45)) && rtx.contains(&(115, 114)));
    assert_eq!(video.payload(45).map(|p| p.codec()), Some(Codec::Av1));
    assert_eq!(
        video.payload(100).and_then(|p| p.fmtp_param("profile-id")),
        Some("2")
    );
    assert_eq!(video.extmap(RtpExtension::Rid).map(|e| e.id), Some(10));
    assert_eq!(
        video
            .extmap(RtpExtension::DependencyDescriptor)
            .map(|e| e.id),
        Some(9)
    );
    let rids: Vec<&str> = video.rids.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(rids, ["h", "m", "l"]);
    let sc = video.simulcast.as_ref().expect("simulcast");
    assert_eq!(sc.send.len(), 3);
    assert!(sc.recv.is_empty());

    let data = &o.media[2];
    assert!(data.is_data());
    assert_eq!(data.sctp_port, Some(5000));
    assert_eq!(data.max_message_size, Some(262144));

    let t = o.effective_transport(1);
    assert_eq!(t.ice_ufrag, Some("Xq7J"));
    assert_eq!(t.setup, Some(Setup::ActPass));
    assert_eq!(t.fingerprint.map(|f| f.hash.as_str()), Some("sha-256"));
    assert_eq!(o.validate_remote(), Ok(()));
}

#[test]
fn round_trip_is_lossless_for_browser_sdps() {
    for name in [
        "chromium156_offer_av_data_simulcast.sdp",
        "firefox128_offer_av_data.sdp",
        "chromium156_answer_to_ianus_offer.sdp",
    ] {
        let a = SessionDescription::parse(&fixture(name)).expect(name);
        let text = a.to_sdp_string();
        let b = SessionDescription::parse(&text).expect("reparse");
        assert_eq!(a, b, "{name}");
        assert_eq!(text, b.to_string(), "{name}: serialization is stable");
        // Same set of lines as the browser wrote (order may differ).
        let mut orig: Vec<&str> = fixture_lines(name);
        let mut out: Vec<&str> = text.lines().collect();
        orig.sort_unstable();
        out.sort_unstable();
        assert_eq!(orig, out, "{name}");
    }
}

fn fixture_lines(name: &str) -> Vec<&'static str> {
    let s: &'static str = Box::leak(fixture(name).into_boxed_str());
    s.lines().collect()
}

#[test]
fn unknown_attributes_survive_a_round_trip() {
    let text = fixture("chromium156_offer_av_data_simulcast.sdp")
        .replace(
            "a=mid:1\r\n",
            "a=mid:1\r\na=x-google-flag:conference\r\na=bundle-only\r\n",
        )
        .replace("s=-\r\n", "s=-\r\na=x-session-thing:42\r\n");
    let sdp = SessionDescription::parse(&text).expect("parses");
    let out = sdp.to_sdp_string();
    assert!(out.contains("a=x-google-flag:conference\r\n"));
    assert!(out.contains("a=bundle-only\r\n"));
    assert!(out.contains("a=x-session-thing:42\r\n"));
}

#[test]
fn answer_to_chromium_mirrors_janus() {
    let offer = chrome_offer();
    let opts = AnswerOptions {
        local: vec![
            LocalMedia {
                mid: "0".into(),
                ssrc: Some(3164816266),
                ..Default::default()
            },
            LocalMedia {
                mid: "1".into(),
                ssrc: Some(2544462133),
                rtx_ssrc: Some(1111),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let ans = answer(&offer, &opts);
    assert_eq!(ans.origin.session_id, offer.origin.session_id);
    assert_eq!(ans.media.len(), 3);

    let a = &ans.media[0];
    assert_eq!(a.formats, vec!["111"]);
    assert_eq!(a.direction, Some(Direction::SendRecv));
    assert_eq!(
        a.payload(111).and_then(|p| p.fmtp.clone()).as_deref(),
        Some("useinbandfec=1")
    );
    let ids: Vec<u16> = a.extmaps.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    assert_eq!(
        a.msids[0],
        Msid {
            stream: "janus".into(),
            track: Some("janus0".into())
        }
    );
    assert_eq!(a.ssrcs[0].ssrc, 3164816266);
    assert_eq!(a.ssrcs[0].value.as_deref(), Some("janus"));
    assert!(
        a.ice_ufrag.is_none() && a.candidates.is_empty(),
        "answers are bare"
    );

    let v = &ans.media[1];
    assert_eq!(v.formats, vec!["96", "97"]);
    assert_eq!(
        v.payload(97).and_then(|p| p.fmtp.clone()).as_deref(),
        Some("apt=96")
    );
    assert_eq!(v.payload(96).map(|p| p.rtcp_fb.len()), Some(5));
    assert!(v.extmap(RtpExtension::Rid).is_some());
    assert!(v.extmap(RtpExtension::DependencyDescriptor).is_some());
    assert!(
        v.extmaps.iter().all(|e| e.extension().is_some()),
        "unknown extensions dropped"
    );
    let rids: Vec<(&str, RidDirection)> = v
        .rids
        .iter()
        .map(|r| (r.id.as_str(), r.direction))
        .collect();
    assert_eq!(
        rids,
        [
            ("h", RidDirection::Recv),
            ("m", RidDirection::Recv),
            ("l", RidDirection::Recv)
        ]
    );
    let sc = v.simulcast.as_ref().expect("simulcast answered");
    assert!(sc.send.is_empty() && sc.recv.len() == 3);
    assert_eq!(
        v.ssrc_group("FID").map(|g| g.ssrcs.clone()),
        Some(vec![2544462133, 1111])
    );

    let d = &ans.media[2];
    assert_eq!(d.formats, vec!["webrtc-datachannel"]);
    assert_eq!(d.sctp_port, Some(5000));

    let text = ans.to_sdp_string();
    assert!(text.contains("a=simulcast:recv h;m;l\r\n"));
    assert!(text.contains("a=rid:h recv\r\n"));
    assert!(text.contains("a=ssrc-group:FID 2544462133 1111\r\n"));
    assert!(text.contains("a=ssrc:2544462133 cname:janus\r\n"));
}

#[test]
fn merged_answer_has_janus_transport_lines() {
    let offer = chrome_offer();
    let mut ans = answer(&offer, &AnswerOptions::default());
    merge_transport(&mut ans, &transport());
    let text = ans.to_sdp_string();
    let l = lines(&text);
    assert_eq!(l[0], "v=0");
    assert!(
        l[1].starts_with("o=- 4611731400430051336 2 IN IP4 192.0.2.10"),
        "{}",
        l[1]
    );
    assert_eq!(l[2], "s=-");
    for line in [
        "a=group:BUNDLE 0 1 2",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 40:3E:00:11",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS *",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 192.0.2.10",
        "a=rtcp-mux",
        "a=ice-ufrag:KM+p",
        "a=ice-pwd:CtS6MBvppYKKpepD3sMqg8",
        "a=setup:passive",
        "a=candidate:1 1 udp 2130640895 192.0.2.10 42766 typ host",
        "a=end-of-candidates",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=sctp-port:5000",
    ] {
        assert!(l.contains(&line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("a=ice-lite"));
    assert_eq!(text.matches("a=end-of-candidates").count(), 3);
    assert!(!l.iter().any(|x| x.starts_with("c=")
        && l.iter().position(|y| y == x) < l.iter().position(|y| y.starts_with("m="))));
    // What we send parses back and passes the checks a peer (or we) would make.
    let back = SessionDescription::parse(&text).expect("reparse");
    assert_eq!(back.validate_remote(), Ok(()));

    let mut t = transport();
    t.ice_lite = true;
    t.end_of_candidates = false;
    merge_transport(&mut ans, &t);
    let text = ans.to_sdp_string();
    assert!(text.contains("a=ice-lite\r\n"));
    assert!(!text.contains("a=end-of-candidates"));
}

#[test]
fn merge_keeps_rejected_sections_out_of_bundle() {
    let offer = chrome_offer();
    let opts = AnswerOptions {
        data_channels: false,
        ..Default::default()
    };
    let mut ans = answer(&offer, &opts);
    assert!(ans.media[2].is_rejected());
    merge_transport(&mut ans, &transport());
    let text = ans.to_sdp_string();
    assert!(text.contains("a=group:BUNDLE 0 1\r\n"));
    assert!(text.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
}

#[test]
fn codec_preferences_and_profiles() {
    let offer = chrome_offer();
    let pick =
        |opts: AnswerOptions| -> Vec<String> { answer(&offer, &opts).media[1].formats.clone() };

    let h264 = AnswerOptions {
        video_codecs: vec![Codec::H264],
        ..Default::default()
    };
    assert_eq!(
        pick(h264),
        ["102", "103"],
        "first packetization-mode=1 H264"
    );

    let h264_prof = AnswerOptions {
        video_codecs: vec![Codec::H264],
        h264_profile: Some("42E01F".into()),
        ..Default::default()
    };
    assert_eq!(pick(h264_prof), ["106", "107"]);

    let vp9 = AnswerOptions {
        video_codecs: vec![Codec::Vp9],
        vp9_profile: Some("2".into()),
        ..Default::default()
    };
    assert_eq!(pick(vp9), ["100", "101"]);

    let vp9_default = AnswerOptions {
        video_codecs: vec![Codec::Vp9],
        ..Default::default()
    };
    let ans = answer(&offer, &vp9_default);
    assert_eq!(ans.media[1].formats, ["98", "99"]);
    assert_eq!(
        ans.media[1]
            .payload(98)
            .and_then(|p| p.fmtp.clone())
            .as_deref(),
        Some("profile-id=0")
    );

    let no_rtx = AnswerOptions {
        rtx: false,
        ..Default::default()
    };
    assert_eq!(pick(no_rtx), ["96"]);

    // A forced codec the peer lacks rejects the section, like Janus.
    let forced = AnswerOptions {
        local: vec![LocalMedia {
            mid: "0".into(),
            codec: Some(Codec::Multiopus),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ans = answer(&offer, &forced);
    assert!(ans.media[0].is_rejected());
    assert_eq!(ans.media[0].mid.as_deref(), Some("0"));

    let pcmu = AnswerOptions {
        audio_codecs: vec![Codec::Pcmu, Codec::Opus],
        ..Default::default()
    };
    assert_eq!(answer(&offer, &pcmu).media[0].formats, ["0"]);
}

#[test]
fn directions_follow_rfc3264_and_the_echotest_rule() {
    let text = fixture("chromium156_offer_av_data_simulcast.sdp");
    let recvonly =
        SessionDescription::parse(&text.replacen("a=sendrecv", "a=recvonly", 2)).expect("parse");
    let ans = answer(&recvonly, &AnswerOptions::default());
    assert_eq!(ans.media[0].direction, Some(Direction::SendOnly));
    assert!(
        ans.media[1].simulcast.is_none(),
        "no simulcast when we do not receive"
    );
    let echo = AnswerOptions {
        sendonly_becomes_inactive: true,
        ..Default::default()
    };
    let ans = answer(&recvonly, &echo);
    assert_eq!(ans.media[0].direction, Some(Direction::Inactive));
    assert!(ans.media[0].ssrcs.is_empty() && ans.media[0].msids.is_empty());

    let publisher = AnswerOptions {
        direction: Direction::RecvOnly,
        ..Default::default()
    };
    let ans = answer(&chrome_offer(), &publisher);
    assert_eq!(ans.media[0].direction, Some(Direction::RecvOnly));
    assert!(ans.media[0].msids.is_empty());
}

#[test]
fn answer_to_firefox() {
    let offer = firefox_offer();
    assert_eq!(
        offer.validate_remote(),
        Ok(()),
        "session-level fingerprint is inherited"
    );
    assert_eq!(
        offer
            .effective_transport(0)
            .fingerprint
            .map(|f| f.hash.as_str()),
        Some("sha-256")
    );
    let ans = answer(&offer, &AnswerOptions::default());
    let a = &ans.media[0];
    assert_eq!(a.formats, ["109"]);
    assert_eq!(
        a.payload(109).and_then(|p| p.fmtp.clone()).as_deref(),
        Some("useinbandfec=1;stereo=1")
    );
    // csrc-audio-level is not ours: dropped.
    assert_eq!(
        a.extmaps.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![1, 3]
    );
    let v = &ans.media[1];
    assert_eq!(v.formats, ["120", "124"]);
    let pd = v.extmap(RtpExtension::PlayoutDelay).expect("playout-delay");
    assert_eq!((pd.id, pd.direction), (6, Some(Direction::SendOnly)));
    assert!(ans.to_sdp_string().contains(
        "a=extmap:6/sendonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
    ));

    let neg = negotiated(&ans, &offer);
    let nv = neg.by_mid("1").expect("video");
    assert_eq!(nv.remote_ssrcs, vec![3034425012]);
    assert_eq!(nv.remote_rtx_ssrcs, vec![(3034425012, 1383720330)]);
    assert_eq!(nv.rtx, vec![(124, 120)]);
    assert_eq!(nv.ext_id(RtpExtension::Mid), Some(3));
    assert_eq!(
        neg.data().map(|d| d.max_message_size),
        Some(Some(1073741823))
    );
}

#[test]
fn legacy_data_channel_is_answered_in_kind() {
    let text = fixture("chromium156_offer_av_data_simulcast.sdp")
        .replace(
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "m=application 9 DTLS/SCTP 5000",
        )
        .replace(
            "a=sctp-port:5000\r\na=max-message-size:262144\r\n",
            "a=sctpmap:5000 webrtc-datachannel 1024\r\n",
        );
    let offer = SessionDescription::parse(&text).expect("parse");
    let mut ans = answer(&offer, &AnswerOptions::default());
    merge_transport(&mut ans, &transport());
    let out = ans.to_sdp_string();
    assert!(out.contains("m=application 9 DTLS/SCTP 5000\r\n"), "{out}");
    assert!(out.contains("a=sctpmap:5000 webrtc-datachannel 16\r\n"));
    assert!(!out.contains("a=sctp-port"));
}

#[test]
fn second_data_section_and_unknown_kinds_are_rejected() {
    let text = fixture("chromium156_offer_av_data_simulcast.sdp");
    let extra = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:3\r\na=sctp-port:5000\r\nm=text 9 RTP/AVP 98\r\na=mid:4\r\n";
    let offer = SessionDescription::parse(&format!("{text}{extra}")).expect("parse");
    let ans = answer(&offer, &AnswerOptions::default());
    assert!(!ans.media[2].is_rejected());
    assert!(ans.media[3].is_rejected());
    assert!(ans.media[4].is_rejected());
    assert_eq!(ans.media[4].kind, MediaKind::Other("text".into()));
}

#[test]
fn legacy_simulcast_syntax_is_answered_in_kind() {
    let text = fixture("chromium156_offer_av_data_simulcast.sdp")
        .replace("a=simulcast:send h;m;l", "a=simulcast: send rid=h;m;l");
    let offer = SessionDescription::parse(&text).expect("parse");
    let ans = answer(&offer, &AnswerOptions::default());
    assert!(ans
        .to_sdp_string()
        .contains("a=simulcast:recv rid=h;m;l\r\n"));
}

#[test]
fn strip_transport_leaves_what_a_plugin_may_see() {
    let mut sdp = chrome_offer();
    sdp.media[0].attributes.push(Attribute::new(
        "crypto",
        Some("1 AES_CM_128_HMAC_SHA1_80 inline:x".into()),
    ));
    sdp.media[0]
        .candidates
        .push("1 1 udp 2122260223 192.0.2.1 5000 typ host".into());
    sdp.strip_transport();
    let text = sdp.to_sdp_string();
    for gone in [
        "a=ice-",
        "a=fingerprint",
        "a=setup",
        "a=group",
        "a=msid-semantic",
        "a=extmap-allow-mixed",
        "a=rid",
        "a=simulcast",
        "a=rtcp:",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=candidate",
        "a=ssrc",
        "a=sctp-port",
        "a=max-message-size",
        "a=crypto",
    ] {
        assert!(!text.contains(gone), "{gone} left in\n{text}");
    }
    for kept in [
        "a=mid:1",
        "a=rtpmap:96 VP8/90000",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=msid:",
        "a=sendrecv",
    ] {
        assert!(text.contains(kept), "{kept} missing");
    }
}

#[test]
fn server_offer_and_browser_answer_negotiate() {
    let offer = OfferBuilder::new(0)
        .session_name("VideoRoom 1234")
        .media(OfferMedia::audio("0").ssrc(1001, None))
        .media(
            OfferMedia::video("1")
                .ssrc(2002, Some(2003))
                .msid("feed", "video-track"),
        )
        .data("2", false)
        .build();
    let v = &offer.media[1];
    assert_eq!(v.formats, ["96", "97"]);
    assert_eq!(v.direction, Some(Direction::SendOnly));
    assert_eq!(v.payload(96).map(|p| p.rtcp_fb.len()), Some(5));
    let ids: Vec<(u16, Option<RtpExtension>)> =
        v.extmaps.iter().map(|e| (e.id, e.extension())).collect();
    assert_eq!(
        ids,
        [
            (4, Some(RtpExtension::Mid)),
            (12, Some(RtpExtension::PlayoutDelay)),
            (13, Some(RtpExtension::VideoOrientation))
        ]
    );
    let mut offer = offer;
    let mut t = transport();
    t.setup = Setup::ActPass;
    merge_transport(&mut offer, &t);
    let text = offer.to_sdp_string();
    assert!(text.contains("s=VideoRoom 1234\r\n"));
    assert!(text.contains("a=msid:feed video-track\r\n"));
    assert!(text.contains("a=ssrc-group:FID 2002 2003\r\n"));
    assert!(text.contains("a=setup:actpass\r\n"));
    assert!(text.contains("a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"));
    assert_ne!(offer.origin.session_id, 0, "merge picks a session id");
    let offer = SessionDescription::parse(&text).expect("reparse our offer");

    let remote = SessionDescription::parse(&fixture("chromium156_answer_to_ianus_offer.sdp"))
        .expect("answer");
    assert_eq!(remote.validate_remote(), Ok(()));
    let neg = negotiated(&offer, &remote);
    assert_eq!(neg.media.len(), 3);
    let a = &neg.media[0];
    assert_eq!(
        (a.kind.clone(), a.sends(), a.receives()),
        (MediaKind::Audio, true, false)
    );
    assert_eq!(a.local_ssrc, Some(1001));
    assert_eq!(
        a.main_codec()
            .map(|c| (c.pt, c.codec, c.clock_rate, c.channels)),
        Some((111, Codec::Opus, 48000, Some(2)))
    );
    assert_eq!(a.ext_id(RtpExtension::AudioLevel), Some(1));
    let v = &neg.media[1];
    assert_eq!((v.local_ssrc, v.local_rtx_ssrc), (Some(2002), Some(2003)));
    assert_eq!(v.rtx, vec![(97, 96)]);
    assert_eq!(v.apt(97), Some(96));
    assert_eq!(v.rtx_pt(96), Some(97));
    assert_eq!(v.ext_id(RtpExtension::PlayoutDelay), Some(12));
    assert!(v.remote_ssrcs.is_empty());
    assert_eq!(
        neg.data(),
        Some(DataChannelParams {
            sctp_port: 5000,
            max_message_size: Some(262144)
        })
    );
}

#[test]
fn negotiated_from_a_chromium_publisher() {
    let offer = chrome_offer();
    let ans = answer(
        &offer,
        &AnswerOptions {
            direction: Direction::RecvOnly,
            ..Default::default()
        },
    );
    let neg = negotiated(&ans, &offer);
    let a = neg.by_mid("0").expect("audio");
    assert_eq!(a.remote_ssrcs, vec![2710863524]);
    assert!(a.receives() && !a.sends());
    assert_eq!(
        a.remote_msid.as_ref().map(|m| m.stream.as_str()),
        Some("5f3c2b1a-6d7e-4f80-9a1b-2c3d4e5f6a7b")
    );
    let v = neg.by_mid("1").expect("video");
    assert_eq!(v.remote_rids, ["h", "m", "l"]);
    assert_eq!(v.codecs.len(), 1);
    assert_eq!(v.codecs[0].codec, Codec::Vp8);
    assert_eq!(v.ext_id(RtpExtension::Mid), Some(4));
    assert_eq!(v.ext_id(RtpExtension::Rid), Some(10));
    assert_eq!(v.ext_id(RtpExtension::RepairedRid), Some(11));
    assert_eq!(v.ext_id(RtpExtension::TransportCc), Some(3));
    assert_eq!(v.ext_id(RtpExtension::VideoOrientation), Some(13));
    assert_eq!(neg.ext_id(RtpExtension::AudioLevel), Some(1));
}

#[test]
fn ssrc_simulcast_is_understood() {
    let text = fixture("chromium156_offer_av_data_simulcast.sdp")
        .replace("a=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l\r\n",
            "a=ssrc-group:SIM 10 20 30\r\na=ssrc-group:FID 10 11\r\na=ssrc-group:FID 20 21\r\na=ssrc-group:FID 30 31\r\na=ssrc:10 cname:x\r\na=ssrc:11 cname:x\r\na=ssrc:20 cname:x\r\na=ssrc:21 cname:x\r\na=ssrc:30 cname:x\r\na=ssrc:31 cname:x\r\n");
    let offer = SessionDescription::parse(&text).expect("parse");
    let ans = answer(&offer, &AnswerOptions::default());
    let neg = negotiated(&ans, &offer);
    let v = neg.by_mid("1").expect("video");
    assert_eq!(v.remote_sim_ssrcs, vec![10, 20, 30]);
    assert_eq!(v.remote_ssrcs, vec![10, 20, 30]);
    assert_eq!(v.remote_rtx_ssrcs, vec![(10, 11), (20, 21), (30, 31)]);
    assert!(v.remote_rids.is_empty());
}

#[test]
fn janus_validation_errors() {
    assert_eq!(
        SessionDescription::parse("o=- 1 1 IN IP4 0.0.0.0\r\n"),
        Err(SdpError::NoVersionLine)
    );
    assert_eq!(
        SdpError::NoVersionLine.to_string(),
        "Invalid SDP (doesn't start with v=)"
    );
    assert_eq!(
        SessionDescription::parse("v=0\r\ns=-\r\nt=0 0\r\n"),
        Err(SdpError::MissingMandatoryLines)
    );
    assert_eq!(
        SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"),
        Err(SdpError::MissingMandatoryLines)
    );
    assert_eq!(
        SdpError::MissingMandatoryLines.to_string(),
        "Missing mandatory lines (o=, s= or m=)"
    );

    let text = fixture("chromium156_offer_av_data_simulcast.sdp");
    let drop = |needle: &str| {
        let t: String = text
            .split_inclusive('\n')
            .filter(|l| !l.starts_with(needle))
            .collect();
        SessionDescription::parse(&t)
            .expect("still parses")
            .validate_remote()
    };
    assert_eq!(drop("a=ice-ufrag"), Err(SdpError::MissingIceUfrag));
    assert_eq!(drop("a=ice-pwd"), Err(SdpError::MissingIcePwd));
    assert_eq!(drop("a=fingerprint"), Err(SdpError::MissingFingerprint));
}

#[test]
fn malformed_known_attributes_are_typed_errors() {
    let base = fixture("chromium156_offer_av_data_simulcast.sdp");
    for (from, to) in [
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:200 opus/48000/2"),
        ("a=extmap:4 urn", "a=extmap:0 urn"),
        ("a=ssrc:2710863524 cname", "a=ssrc:abc cname"),
        ("a=setup:actpass", "a=setup:sideways"),
        ("m=audio 9 UDP", "m=audio 99999 UDP"),
        ("a=rid:h send", "a=rid:h sideways"),
        ("o=- 4611731400430051336", "o=- notanumber"),
        ("a=sctp-port:5000", "a=sctp-port:x"),
    ] {
        let t = base.replacen(from, to, 1);
        assert!(
            matches!(
                SessionDescription::parse(&t),
                Err(SdpError::InvalidLine { .. })
            ),
            "{to}"
        );
    }
}

#[test]
fn peer_controlled_sizes_are_bounded() {
    let big = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_SDP_LEN / 5));
    assert!(matches!(
        SessionDescription::parse(&big),
        Err(SdpError::TooLarge { .. })
    ));
    let many = format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n{}",
        "a=x\r\n".repeat(MAX_LINES + 1)
    );
    assert!(matches!(
        SessionDescription::parse(&many),
        Err(SdpError::TooManyLines { .. })
    ));
    let long = format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\na={}\r\n",
        "x".repeat(MAX_LINE_LEN)
    );
    assert!(matches!(
        SessionDescription::parse(&long),
        Err(SdpError::LineTooLong { .. })
    ));
    let sections = format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n{}",
        "m=audio 9 RTP/AVP 0\r\n".repeat(MAX_MEDIA_SECTIONS + 1)
    );
    assert!(matches!(
        SessionDescription::parse(&sections),
        Err(SdpError::TooManyMediaSections { .. })
    ));
    let pts: Vec<String> = (0..129).map(|i| (i % 128).to_string()).collect();
    let fmts = format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=video 9 RTP/AVP {}\r\n",
        pts.join(" ")
    );
    assert!(SessionDescription::parse(&fmts).is_err());
}

/// Deterministic xorshift64* so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn garbage_never_panics() {
    let seeds = [
        fixture("chromium156_offer_av_data_simulcast.sdp"),
        fixture("firefox128_offer_av_data.sdp"),
        fixture("chromium156_answer_to_ianus_offer.sdp"),
    ];
    let mut rng = Rng(0x1a2b_3c4d_5e6f_7081);
    let opts = AnswerOptions::default();
    for round in 0..3000 {
        let seed = &seeds[round % seeds.len()];
        let mut ls: Vec<String> = seed.lines().map(str::to_owned).collect();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(ls.len());
            match rng.below(7) {
                0 => {
                    ls.remove(i);
                }
                1 => {
                    let j = rng.below(ls.len());
                    let dup = ls[j].clone();
                    ls.insert(i, dup);
                }
                2 => {
                    let cut = rng.below(ls[i].len() + 1);
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| ls[i].is_char_boundary(*c))
                        .unwrap_or(0);
                    ls[i].truncate(cut);
                }
                3 => {
                    let mut b = ls[i].clone().into_bytes();
                    if !b.is_empty() {
                        let k = rng.below(b.len());
                        b[k] = b" :/;=~0123456789abcx-*\t"[rng.below(23)];
                    }
                    ls[i] = String::from_utf8_lossy(&b).into_owned();
                }
                4 => {
                    let j = rng.below(ls.len());
                    ls.swap(i, j);
                }
                5 => ls[i] = ls[i].replace(' ', "  "),
                _ => {
                    let n = rng.below(40);
                    let junk: Vec<u8> = (0..n).map(|_| (rng.next() & 0x7f) as u8).collect();
                    ls[i].push_str(&String::from_utf8_lossy(&junk));
                }
            }
        }
        let text = ls.join("\r\n");
        if let Ok(sdp) = SessionDescription::parse(&text) {
            let out = sdp.to_sdp_string();
            // Whatever we accept must serialize to something we accept again.
            let again = SessionDescription::parse(&out);
            assert!(
                again.is_ok(),
                "round {round}: reparse failed {again:?}\n{out}"
            );
            let _ = sdp.validate_remote();
            let mut ans = answer(&sdp, &opts);
            merge_transport(&mut ans, &transport());
            let _ = negotiated(&ans, &sdp);
            let mut s = sdp.clone();
            s.strip_transport();
            let _ = s.to_sdp_string();
        }
    }
    // Random bytes (valid UTF-8 after lossy conversion), with and without a v= prefix.
    for _ in 0..2000 {
        let n = rng.below(300);
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let s = String::from_utf8_lossy(&bytes).into_owned();
        let _ = SessionDescription::parse(&s);
        let _ = SessionDescription::parse(&format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n{s}"));
    }
}

#[test]
fn simulcast_is_re_added_to_an_answer_built_from_a_stripped_offer() {
    let offer = chrome_offer();
    let mut stripped = offer.clone();
    stripped.strip_transport();
    let mut ans = answer(&stripped, &AnswerOptions::default());
    assert!(
        ans.media[1].simulcast.is_none(),
        "the plugin cannot see rids"
    );
    answer_simulcast(&mut ans, &offer);
    answer_simulcast(&mut ans, &offer);
    let v = &ans.media[1];
    assert_eq!(v.rids.len(), 3, "idempotent");
    assert_eq!(v.simulcast.as_ref().map(|s| s.recv.len()), Some(3));
    assert!(ans.media[0].simulcast.is_none());
    let recvonly = AnswerOptions {
        direction: Direction::SendOnly,
        ..Default::default()
    };
    let mut ans = answer(&stripped, &recvonly);
    answer_simulcast(&mut ans, &offer);
    assert!(
        ans.media[1].simulcast.is_none(),
        "not when we do not receive"
    );
}

#[test]
fn transport_cc_feedback_only_with_the_transport_cc_extension() {
    let offer = chrome_offer();
    // Chromium offers transport-cc feedback and the extension on audio and video.
    assert_eq!(
        offer.media[0].payload(111).map(|p| p.rtcp_fb.clone()),
        Some(vec!["transport-cc".to_owned()])
    );
    assert!(offer.media[0].extmap(RtpExtension::TransportCc).is_some());
    let fb = |ans: &SessionDescription, i: usize, pt: u8| {
        ans.media[i]
            .payload(pt)
            .map(|p| p.rtcp_fb.clone())
            .unwrap_or_default()
    };
    // Extension accepted (EchoTest's defaults): feedback kept on both.
    let ans = answer(&offer, &AnswerOptions::default());
    assert_eq!(fb(&ans, 0, 111), ["transport-cc"]);
    assert!(fb(&ans, 1, 96).contains(&"transport-cc".to_owned()));
    // Extension not accepted (VideoRoom audio, like Janus): no transport-cc feedback either,
    // or Chromium would count that audio against the publisher's bandwidth estimate.
    let no_twcc = AnswerOptions {
        extensions: vec![RtpExtension::Mid, RtpExtension::AudioLevel],
        ..Default::default()
    };
    let ans = answer(&offer, &no_twcc);
    assert!(fb(&ans, 0, 111).is_empty());
    assert_eq!(
        fb(&ans, 1, 96),
        ["goog-remb", "ccm fir", "nack", "nack pli"],
        "the rest kept, in the offer's order"
    );
}
