//! Plain RTP with ffmpeg as the far end (Debian's ffmpeg, installed by scripts/test.sh): an
//! ffmpeg sends a 450 Hz Opus tone to a plain-RTP participant's socket and another ffmpeg
//! records what the mixer sends back; a third records an RTP forwarder of the mix. The
//! participant must hear the other talker (950 Hz) and not itself; the forwarder carries
//! both. A second test does the same in G.711: ffmpeg sends PCMU as a plain-RTP participant,
//! and ffmpeg receives a PCMA forwarder of one group and an SRTP (AES_CM_128_HMAC_SHA1_80,
//! keyed with an SDP `a=crypto` line, ffmpeg's own SRTP) PCMU forwarder of the whole room.
//! Real time, bounded (~5 s each).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use media_core::mix::udp::RtpEndpoint;
use media_core::mix::{
    AudioCodec, ForwarderConfig, MixerConfig, MixerEvent, MixerHandle, MixerInput, MixerObserver,
    ParticipantConfig, ParticipantId, SrtpUdpOut, UdpOut,
};
use opus::{Application, Channels, Encoder};
use std::sync::atomic::Ordering;
use tokio::process::{Child, Command};

struct NoEvents;
impl MixerObserver for NoEvents {
    fn on_event(&self, _event: MixerEvent) {}
}

/// A free UDP port (bound then released; ffmpeg binds it right after).
fn free_port() -> u16 {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    s.local_addr().expect("addr").port()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ianus-mix-ffmpeg-{}-{name}", std::process::id()))
}

/// An ffmpeg recording `seconds` of Opus RTP arriving on `port` (PT 111) into a WAV file.
fn record(port: u16, name: &str, seconds: u32) -> (Child, PathBuf) {
    record_sdp(
        port,
        name,
        seconds,
        "111",
        "a=rtpmap:111 opus/48000/2\r\n",
        48_000,
    )
}

/// An ffmpeg recording `seconds` of RTP on `port` described by `pt` and `attributes` into a
/// mono WAV file at `rate`.
fn record_sdp(
    port: u16,
    name: &str,
    seconds: u32,
    pt: &str,
    attributes: &str,
    rate: u32,
) -> (Child, PathBuf) {
    let sdp = temp(&format!("{name}.sdp"));
    let wav = temp(&format!("{name}.wav"));
    std::fs::write(
        &sdp,
        format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mix\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {pt}\r\n{attributes}"
        ),
    )
    .expect("sdp");
    let child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-protocol_whitelist",
            "file,udp,rtp",
        ])
        .arg("-i")
        .arg(&sdp)
        .args([
            "-t",
            &seconds.to_string(),
            "-ac",
            "1",
            "-ar",
            &rate.to_string(),
            "-y",
        ])
        .arg(&wav)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg (apt-get install ffmpeg)");
    (child, wav)
}

/// The samples of a 16-bit mono WAV file (finds the `data` chunk).
fn wav_samples(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).expect("wav written");
    let mut pos = 12;
    while pos + 8 <= b.len() {
        let len = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        if &b[pos..pos + 4] == b"data" {
            let end = (pos + 8 + len).min(b.len());
            return b[pos + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        pos += 8 + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

fn goertzel(x: &[i16], freq: f64) -> f64 {
    goertzel_at(x, freq, 48_000.0)
}

fn goertzel_at(x: &[i16], freq: f64, rate: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt() / x.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_as_a_plain_rtp_participant_and_as_a_forwarder_target() {
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 48_000,
            ..MixerConfig::default()
        },
        Arc::new(NoEvents),
    )
    .expect("mixer");
    let localhost: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();

    // What the mixer sends participant 1 goes to an ffmpeg recorder.
    let back_port = free_port();
    let (mut rec_back, wav_back) = record(back_port, "back", 3);
    let endpoint = RtpEndpoint::bind(
        mixer.clone(),
        ParticipantId(1),
        localhost,
        (Ipv4Addr::LOCALHOST, back_port).into(),
    )
    .await
    .expect("endpoint");
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(1),
        config: ParticipantConfig {
            ssrc: 11,
            ..ParticipantConfig::default()
        },
        out: endpoint.out(),
    });
    // Participant 2 (fed by the test) talks at 950 Hz; its own output is not looked at.
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(2),
        config: ParticipantConfig {
            ssrc: 22,
            ..ParticipantConfig::default()
        },
        out: Arc::new(
            UdpOut::forwarder((Ipv4Addr::LOCALHOST, 9).into())
                .await
                .expect("udp"),
        ),
    });
    // The full mix forwarded to a second ffmpeg recorder.
    let fwd_port = free_port();
    let (mut rec_fwd, wav_fwd) = record(fwd_port, "fwd", 3);
    mixer.control(MixerInput::AddForwarder {
        stream_id: 1,
        config: ForwarderConfig {
            ssrc: 0xF00D,
            pt: 111,
            codec: AudioCodec::Opus,
            group: 0,
            always_on: false,
            out: Arc::new(
                UdpOut::forwarder((Ipv4Addr::LOCALHOST, fwd_port).into())
                    .await
                    .expect("udp"),
            ),
        },
    });

    // ffmpeg sends participant 1's voice: a 450 Hz tone as Opus RTP, paced in real time.
    let mut sender = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=450:sample_rate=48000",
            "-t",
            "5",
            "-ac",
            "1",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-frame_duration",
            "20",
            "-payload_type",
            "111",
            "-f",
            "rtp",
        ])
        .arg(format!("rtp://127.0.0.1:{}", endpoint.local_addr().port()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg sender");

    let mut enc = Encoder::new(48_000, Channels::Mono, Application::Voip).expect("encoder");
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let (mut n, mut seq) = (0u64, 0u16);
    let run = async {
        loop {
            ticker.tick().await;
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (n + i) as f64 / 48_000.0;
                    (6000.0 * (2.0 * std::f64::consts::PI * 950.0 * t).sin()) as i16
                })
                .collect();
            n += 960;
            let mut p = vec![0x80, 111];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&(n as u32).to_be_bytes());
            p.extend_from_slice(&0x2222u32.to_be_bytes());
            p.extend(enc.encode_vec(&pcm, 1275).expect("encode"));
            seq = seq.wrapping_add(1);
            mixer.push_rtp(ParticipantId(2), Bytes::from(p));
        }
    };
    let recorders = async {
        let a = rec_back.wait().await.expect("ffmpeg back");
        let b = rec_fwd.wait().await.expect("ffmpeg fwd");
        (a, b)
    };
    let (back, fwd) = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(20), recorders) => r.expect("recorders finish"),
        () = run => unreachable!(),
    };
    let _ = sender.kill().await;
    assert!(
        back.success() && fwd.success(),
        "ffmpeg recorders: {back:?} {fwd:?}"
    );

    let back = wav_samples(&wav_back);
    let fwd = wav_samples(&wav_fwd);
    for f in [&wav_back, &wav_fwd] {
        let _ = std::fs::remove_file(f);
        let _ = std::fs::remove_file(f.with_extension("sdp"));
    }
    assert!(back.len() >= 48_000 * 2, "3 s recorded: {}", back.len());
    let tail = |x: &[i16]| x[x.len() - 48_000..].to_vec();
    let (back, fwd) = (tail(&back), tail(&fwd));
    let heard = (goertzel(&back, 950.0), goertzel(&back, 450.0));
    assert!(
        heard.0 > 2000.0 && heard.1 < 150.0,
        "participant 1 hears {heard:?}"
    );
    let mixed = (goertzel(&fwd, 950.0), goertzel(&fwd, 450.0));
    assert!(
        mixed.0 > 2000.0 && mixed.1 > 1000.0,
        "the forwarder carries {mixed:?}"
    );
    assert!(
        mixer
            .stats()
            .packets_invalid
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    );
    mixer.close();
}

/// The test's Opus talker: a 950 Hz tone, 20 ms packets, real-time paced, until dropped.
async fn talk_950(mixer: &MixerHandle, id: ParticipantId) {
    let mut enc = Encoder::new(48_000, Channels::Mono, Application::Voip).expect("encoder");
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let (mut n, mut seq) = (0u64, 0u16);
    loop {
        ticker.tick().await;
        let pcm: Vec<i16> = (0..960)
            .map(|i| {
                let t = (n + i) as f64 / 48_000.0;
                (6000.0 * (2.0 * std::f64::consts::PI * 950.0 * t).sin()) as i16
            })
            .collect();
        n += 960;
        let mut p = vec![0x80, 111];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(n as u32).to_be_bytes());
        p.extend_from_slice(&0x2222u32.to_be_bytes());
        p.extend(enc.encode_vec(&pcm, 1275).expect("encode"));
        seq = seq.wrapping_add(1);
        mixer.push_rtp(id, Bytes::from(p));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_as_a_pcmu_participant_and_as_g711_group_and_srtp_forwarder_targets() {
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 16_000,
            ..MixerConfig::default()
        },
        Arc::new(NoEvents),
    )
    .expect("mixer");
    let localhost: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();

    // Participant 1: ffmpeg sending PCMU (group 1); its mix-minus back to an ffmpeg recorder.
    let back_port = free_port();
    let (mut rec_back, wav_back) = record_sdp(
        back_port,
        "g711-back",
        3,
        "0",
        "a=rtpmap:0 PCMU/8000\r\n",
        8000,
    );
    let endpoint = RtpEndpoint::bind(
        mixer.clone(),
        ParticipantId(1),
        localhost,
        (Ipv4Addr::LOCALHOST, back_port).into(),
    )
    .await
    .expect("endpoint");
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(1),
        config: ParticipantConfig {
            ssrc: 11,
            codec: AudioCodec::Pcmu,
            pt: 0,
            group: 1,
            ..ParticipantConfig::default()
        },
        out: endpoint.out(),
    });
    // Participant 2 (fed by the test, Opus 950 Hz) is in group 2.
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(2),
        config: ParticipantConfig {
            ssrc: 22,
            group: 2,
            ..ParticipantConfig::default()
        },
        out: Arc::new(
            UdpOut::forwarder((Ipv4Addr::LOCALHOST, 9).into())
                .await
                .expect("udp"),
        ),
    });
    // A PCMA forwarder of group 2 only.
    let group_port = free_port();
    let (mut rec_group, wav_group) = record_sdp(
        group_port,
        "g711-group",
        3,
        "8",
        "a=rtpmap:8 PCMA/8000\r\n",
        8000,
    );
    mixer.control(MixerInput::AddForwarder {
        stream_id: 1,
        config: ForwarderConfig {
            ssrc: 0xA1A1,
            pt: 8,
            codec: AudioCodec::Pcma,
            group: 2,
            always_on: false,
            out: Arc::new(
                UdpOut::forwarder((Ipv4Addr::LOCALHOST, group_port).into())
                    .await
                    .expect("udp"),
            ),
        },
    });
    // An SRTP PCMU forwarder of the whole room; ffmpeg decrypts with the SDP's key.
    let master: Vec<u8> = (0u8..30)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let srtp_port = free_port();
    let (mut rec_srtp, wav_srtp) = record_sdp(
        srtp_port,
        "g711-srtp",
        3,
        "0",
        &format!(
            "a=rtpmap:0 PCMU/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            base64(&master)
        ),
        8000,
    );
    let srtp = SrtpUdpOut::new(
        UdpOut::forwarder((Ipv4Addr::LOCALHOST, srtp_port).into())
            .await
            .expect("udp"),
        80,
        &master,
    )
    .expect("srtp");
    mixer.control(MixerInput::AddForwarder {
        stream_id: 2,
        config: ForwarderConfig {
            ssrc: 0x5555,
            pt: 0,
            codec: AudioCodec::Pcmu,
            group: 0,
            always_on: false,
            out: Arc::new(srtp),
        },
    });

    // ffmpeg sends participant 1's voice: a 450 Hz tone as PCMU, 20 ms per packet.
    let mut sender = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=450:sample_rate=8000:samples_per_frame=160",
            "-t",
            "5",
            "-ac",
            "1",
            "-c:a",
            "pcm_mulaw",
            "-payload_type",
            "0",
            "-f",
            "rtp",
        ])
        .arg(format!(
            "rtp://127.0.0.1:{}?pkt_size=172",
            endpoint.local_addr().port()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg sender");

    let recorders = async {
        let a = rec_back.wait().await.expect("ffmpeg back");
        let b = rec_group.wait().await.expect("ffmpeg group");
        let c = rec_srtp.wait().await.expect("ffmpeg srtp");
        (a, b, c)
    };
    let (back, group, srtp) = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(20), recorders) => r.expect("recorders finish"),
        () = talk_950(&mixer, ParticipantId(2)) => unreachable!(),
    };
    let _ = sender.kill().await;
    assert!(
        back.success() && group.success() && srtp.success(),
        "ffmpeg recorders: {back:?} {group:?} {srtp:?}"
    );
    let wavs = [&wav_back, &wav_group, &wav_srtp];
    let [back, group, srtp] = wavs.map(|w| wav_samples(w));
    for f in wavs {
        let _ = std::fs::remove_file(f);
        let _ = std::fs::remove_file(f.with_extension("sdp"));
    }
    for (name, x) in [("back", &back), ("group", &group), ("srtp", &srtp)] {
        assert!(x.len() >= 8000 * 2, "{name}: 3 s recorded: {}", x.len());
    }
    let tail = |x: &[i16]| x[x.len() - 8000..].to_vec();
    let tones = |x: &[i16]| {
        let t = tail(x);
        (
            goertzel_at(&t, 950.0, 8000.0),
            goertzel_at(&t, 450.0, 8000.0),
        )
    };
    let heard = tones(&back);
    assert!(
        heard.0 > 2000.0 && heard.1 < 150.0,
        "the PCMU participant hears {heard:?}"
    );
    let g = tones(&group);
    assert!(
        g.0 > 2000.0 && g.1 < 150.0,
        "group 2's forwarder carries {g:?}"
    );
    let all = tones(&srtp);
    assert!(
        all.0 > 2000.0 && all.1 > 1000.0,
        "the SRTP forwarder carries {all:?}"
    );
    let stats = mixer.stats();
    assert_eq!(stats.packets_invalid.load(Ordering::Relaxed), 0);
    assert_eq!(stats.send_errors.load(Ordering::Relaxed), 0);
    mixer.close();
}

/// Standard base64 (RFC 4648 §4), for the SDP crypto line.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
