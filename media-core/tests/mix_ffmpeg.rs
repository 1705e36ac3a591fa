//! Plain RTP with ffmpeg as the far end (Debian's ffmpeg, installed by scripts/test.sh): an
//! ffmpeg sends a 450 Hz Opus tone to a plain-RTP participant's socket and another ffmpeg
//! records what the mixer sends back; a third records an RTP forwarder of the mix. The
//! participant must hear the other talker (950 Hz) and not itself; the forwarder carries
//! both. Real time, bounded (~5 s).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use media_core::mix::udp::RtpEndpoint;
use media_core::mix::{
    ForwarderConfig, MixerConfig, MixerEvent, MixerHandle, MixerInput, MixerObserver,
    ParticipantConfig, ParticipantId, UdpOut,
};
use opus::{Application, Channels, Encoder};
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
    let sdp = temp(&format!("{name}.sdp"));
    let wav = temp(&format!("{name}.wav"));
    std::fs::write(
        &sdp,
        format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mix\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"
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
        .args(["-t", &seconds.to_string(), "-ac", "1", "-ar", "48000", "-y"])
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
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 48_000.0).cos();
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
