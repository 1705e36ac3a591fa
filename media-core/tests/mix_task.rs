//! The mixing task (`MixerHandle`) on tokio's paused clock: packets through a real engine
//! peer's sink, mixed RTP to fake outputs, one packet per participant per 20 ms, drops
//! counted, files played from disk, plain-RTP participants and forwarders over real UDP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use media_core::engine::{
    Engine, EngineConfig, MediaKind, Peer, PeerEvent, PeerObserver, RtpIn, SendError,
};
use media_core::mix::task::MEDIA_QUEUE;
use media_core::mix::udp::RtpEndpoint;
use media_core::mix::{
    AudioCodec, ForwarderConfig, MixOut, MixerConfig, MixerEvent, MixerHandle, MixerInput,
    MixerObserver, ParticipantConfig, ParticipantId, UdpOut,
};
use opus::{Application, Channels, Decoder, Encoder};
use tokio::sync::mpsc;

struct NoEvents;
impl PeerObserver for NoEvents {
    fn on_event(&self, _peer: &Peer, _event: PeerEvent) {}
}

struct Events(mpsc::UnboundedSender<MixerEvent>);
impl MixerObserver for Events {
    fn on_event(&self, event: MixerEvent) {
        let _ = self.0.send(event);
    }
}

/// Collects what the mixer sends to one participant.
struct Capture(mpsc::UnboundedSender<Vec<u8>>);
impl MixOut for Capture {
    fn send_rtp(&self, packet: &[u8]) -> Result<(), SendError> {
        self.0
            .send(packet.to_vec())
            .map_err(|_| SendError::NotConnected)
    }
}

fn capture() -> (Arc<dyn MixOut>, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(Capture(tx)), rx)
}

struct Tone {
    enc: Encoder,
    freq: f64,
    n: u64,
    seq: u16,
}

impl Tone {
    fn new(freq: f64) -> Self {
        Tone {
            enc: Encoder::new(48_000, Channels::Mono, Application::Voip).unwrap(),
            freq,
            n: 0,
            seq: 1,
        }
    }

    fn payload(&mut self) -> Vec<u8> {
        let pcm: Vec<i16> = (0..960)
            .map(|i| {
                let t = (self.n + i) as f64 / 48_000.0;
                (6000.0 * (2.0 * std::f64::consts::PI * self.freq * t).sin()) as i16
            })
            .collect();
        self.n += 960;
        self.enc.encode_vec(&pcm, 1275).unwrap()
    }

    fn packet(&mut self) -> Bytes {
        let mut b = vec![0x80, 111];
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&(self.n as u32).to_be_bytes());
        b.extend_from_slice(&0x1234u32.to_be_bytes());
        b.extend(self.payload());
        self.seq = self.seq.wrapping_add(1);
        Bytes::from(b)
    }
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

/// Decodes RTP packets (12-byte headers) at 48 kHz mono.
fn decode(packets: &[Vec<u8>]) -> Vec<i16> {
    let mut dec = Decoder::new(48_000, Channels::Mono).unwrap();
    let mut pcm = Vec::new();
    for p in packets {
        let mut out = [0i16; 960];
        let n = dec.decode(&p[12..], &mut out, false).unwrap();
        pcm.extend_from_slice(&out[..n]);
    }
    pcm
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Ok(p) = rx.try_recv() {
        v.push(p);
    }
    v
}

fn participant(ssrc: u32) -> ParticipantConfig {
    ParticipantConfig {
        ssrc,
        ..ParticipantConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_mixing_task_mixes_on_a_steady_cadence_and_stops() {
    let engine = Engine::start(EngineConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..EngineConfig::default()
    })
    .await
    .expect("engine");
    let peer_a = engine.new_peer(Arc::new(NoEvents));
    let peer_b = engine.new_peer(Arc::new(NoEvents));
    let (tx, mut events) = mpsc::unbounded_channel();
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 48_000,
            ..MixerConfig::default()
        },
        Arc::new(Events(tx)),
    )
    .unwrap();
    let (out_a, mut rx_a) = capture();
    let (out_b, mut rx_b) = capture();
    let (out_c, mut rx_c) = capture();
    for (id, out) in [(1, out_a), (2, out_b), (3, out_c)] {
        mixer.control(MixerInput::AddParticipant {
            id: ParticipantId(id),
            config: participant(id as u32),
            out,
        });
    }
    let sink_a = mixer.participant_sink(ParticipantId(1));
    let sink_b = mixer.participant_sink(ParticipantId(2));
    let (mut tone_a, mut tone_b) = (Tone::new(500.0), Tone::new(800.0));
    let rtp = |packet| RtpIn {
        stream: 0,
        kind: MediaKind::Audio,
        layer: 0,
        packet,
    };
    // 2 s of virtual time, one packet per participant per 20 ms.
    for _ in 0..100 {
        sink_a.on_rtp(&peer_a, rtp(tone_a.packet()));
        sink_b.on_rtp(&peer_b, rtp(tone_b.packet()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = mixer.stats();
    let frames = stats.frames.load(Ordering::Relaxed);
    assert!((99..=101).contains(&frames), "frames {frames}");
    assert_eq!(stats.packets_in.load(Ordering::Relaxed), 200);
    assert_eq!(stats.frames_skipped.load(Ordering::Relaxed), 0);
    let (a, b, c) = (drain(&mut rx_a), drain(&mut rx_b), drain(&mut rx_c));
    for got in [&a, &b, &c] {
        assert_eq!(
            got.len() as u64,
            frames,
            "one packet per participant per frame"
        );
    }
    let last_second = |p: &[Vec<u8>]| decode(&p[p.len() - 50..]);
    let (pa, pb, pc) = (last_second(&a), last_second(&b), last_second(&c));
    assert!(goertzel(&pa, 800.0) > 2000.0 && goertzel(&pa, 500.0) < 100.0);
    assert!(goertzel(&pb, 500.0) > 2000.0 && goertzel(&pb, 800.0) < 100.0);
    assert!(goertzel(&pc, 500.0) > 2000.0 && goertzel(&pc, 800.0) > 2000.0);
    // Two talkers with their own mix-minus, one listener on the shared stream.
    assert_eq!(stats.encoders_live.load(Ordering::Relaxed), 3);

    // Video and a peer's other traffic are ignored by the sink.
    sink_a.on_rtp(
        &peer_a,
        RtpIn {
            kind: MediaKind::Video,
            ..rtp(tone_a.packet())
        },
    );
    // A full media queue drops and counts (the current-thread runtime runs the task only
    // when the test yields).
    for _ in 0..MEDIA_QUEUE + 7 {
        sink_b.on_rtp(&peer_b, rtp(tone_b.packet()));
    }
    assert_eq!(stats.media_queue_drops.load(Ordering::Relaxed), 7);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        stats.packets_in.load(Ordering::Relaxed),
        200 + MEDIA_QUEUE as u64
    );

    // Removed: nothing more for it; the others go on.
    mixer.control(MixerInput::RemoveParticipant {
        id: ParticipantId(2),
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    drain(&mut rx_b);
    drain(&mut rx_c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(drain(&mut rx_b).is_empty());
    assert_eq!(drain(&mut rx_c).len(), 10);

    // Talking detection from decoded energy (no audio-level extension): the tones at
    // −15 dBov are above Janus's default threshold (25) over the 100-packet window, and the
    // event reached the observer through the task.
    let mut talking = Vec::new();
    while let Ok(e) = events.try_recv() {
        talking.push(e);
    }
    // (Participant 1 has sent long enough to fill a window; 2 was removed before.)
    assert!(
        talking.iter().any(|e| matches!(e,
            MixerEvent::Talking { id: ParticipantId(1), talking: true, level_avg } if *level_avg < 25.0)),
        "talking event for 1: {talking:?}"
    );

    mixer.close();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(mixer.is_closed());
    assert!(!mixer.push_rtp(ParticipantId(1), tone_a.packet()));
    drop(engine);
}

/// An empty room runs no frames (no wake-ups); the first participant starts a fresh frame
/// grid (no catch-up burst for the time it slept), and the room sleeps again once it is
/// empty.
#[tokio::test(start_paused = true)]
async fn an_empty_room_sleeps_until_someone_joins() {
    let (tx, _events) = mpsc::unbounded_channel();
    let mixer = MixerHandle::spawn(MixerConfig::default(), Arc::new(Events(tx))).unwrap();
    let stats = mixer.stats();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        stats.frames.load(Ordering::Relaxed),
        0,
        "an empty room mixed"
    );

    let (out, mut rx) = capture();
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(1),
        config: participant(1),
        out,
    });
    tokio::time::sleep(Duration::from_millis(1010)).await;
    let frames = stats.frames.load(Ordering::Relaxed);
    assert!((49..=51).contains(&frames), "frames after 1 s: {frames}");
    assert_eq!(stats.frames_skipped.load(Ordering::Relaxed), 0);
    assert_eq!(drain(&mut rx).len() as u64, frames, "one packet per frame");

    mixer.control(MixerInput::RemoveParticipant {
        id: ParticipantId(1),
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let after_leave = stats.frames.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(stats.frames.load(Ordering::Relaxed), after_leave);
    mixer.close();
}

/// A minimal Ogg Opus file, one page per packet (RFC 7845 headers, CRCs left zero).
fn ogg_opus(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
    let tags = b"OpusTags\0\0\0\0\0\0\0\0".to_vec();
    let all: Vec<Vec<u8>> = [vec![head, tags], packets.to_vec()].concat();
    let mut out = Vec::new();
    for (i, p) in all.iter().enumerate() {
        let mut lacing = vec![255u8; p.len() / 255];
        lacing.push((p.len() % 255) as u8);
        out.extend_from_slice(b"OggS\0");
        out.push(if i == 0 { 2 } else { 0 });
        out.extend_from_slice(&(i as u64 * 960).to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        out.extend_from_slice(p);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_file_from_disk_plays_into_the_mix() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 48_000,
            ..MixerConfig::default()
        },
        Arc::new(Events(tx)),
    )
    .unwrap();
    let (out, mut rx) = capture();
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(1),
        config: participant(1),
        out,
    });
    let mut tone = Tone::new(600.0);
    let packets: Vec<Vec<u8>> = (0..100).map(|_| tone.payload()).collect();
    let path = std::env::temp_dir().join(format!("ianus-mix-test-{}.opus", std::process::id()));
    std::fs::write(&path, ogg_opus(&packets)).unwrap();
    mixer.control(MixerInput::PlayFile {
        file_id: "f1".into(),
        path: path.clone(),
        loop_: false,
        group: 0,
    });
    mixer.control(MixerInput::PlayFile {
        file_id: "missing".into(),
        path: path.with_extension("nope"),
        loop_: false,
        group: 0,
    });
    let mut done = false;
    let mut failed = false;
    while !(done && failed) {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(MixerEvent::FileDone { file_id })) if file_id == "f1" => done = true,
            Ok(Some(MixerEvent::FileError { file_id, .. })) if file_id == "missing" => {
                failed = true
            }
            Ok(Some(_)) => {}
            other => panic!("no file event: {other:?}"),
        }
    }
    let _ = std::fs::remove_file(&path);
    let got = drain(&mut rx);
    let pcm = decode(&got);
    // The 2 s file is in the participant's output.
    let loud: Vec<f64> = pcm.chunks(48_000 / 2).map(|c| goertzel(c, 600.0)).collect();
    assert!(
        loud.iter().filter(|a| **a > 2000.0).count() >= 3,
        "file audible: {loud:?}"
    );
    mixer.close();
}

/// A plain-RTP participant (an ffmpeg-like far end over UDP) and a forwarder of the mix,
/// on real time: bounded to a couple of seconds.
#[tokio::test]
async fn plain_rtp_participants_and_forwarders_over_udp() {
    let (tx, _events) = mpsc::unbounded_channel();
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 48_000,
            ..MixerConfig::default()
        },
        Arc::new(Events(tx)),
    )
    .unwrap();
    let localhost: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
    let far_end = tokio::net::UdpSocket::bind(localhost).await.unwrap();
    let endpoint = RtpEndpoint::bind(
        mixer.clone(),
        ParticipantId(1),
        localhost,
        far_end.local_addr().unwrap(),
    )
    .await
    .unwrap();
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(1),
        config: participant(1),
        out: endpoint.out(),
    });
    // A second participant talking (fed directly), so the far end has something to hear.
    let (out2, _rx2) = capture();
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(2),
        config: participant(2),
        out: out2,
    });
    let forward_to = tokio::net::UdpSocket::bind(localhost).await.unwrap();
    mixer.control(MixerInput::AddForwarder {
        stream_id: 9,
        config: ForwarderConfig {
            ssrc: 0xF00D,
            pt: 100,
            codec: AudioCodec::Opus,
            group: 0,
            always_on: false,
            out: Arc::new(
                UdpOut::forwarder(forward_to.local_addr().unwrap())
                    .await
                    .unwrap(),
            ),
        },
    });
    let (mut far_tone, mut tone2) = (Tone::new(450.0), Tone::new(950.0));
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut heard: Vec<Vec<u8>> = Vec::new();
    let mut forwarded: Vec<Vec<u8>> = Vec::new();
    let (mut buf, mut buf2) = ([0u8; 1500], [0u8; 1500]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while heard.len() < 60 || forwarded.len() < 60 {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::select! {
            _ = ticker.tick() => {
                far_end.send_to(&far_tone.packet(), endpoint.local_addr()).await.unwrap();
                mixer.push_rtp(ParticipantId(2), tone2.packet());
            }
            r = far_end.recv_from(&mut buf) => heard.push(buf[..r.unwrap().0].to_vec()),
            r = forward_to.recv_from(&mut buf2) => forwarded.push(buf2[..r.unwrap().0].to_vec()),
        }
    }
    assert!(mixer.stats().packets_in.load(Ordering::Relaxed) >= 100);
    // The far end hears participant 2, not itself; the forwarder carries both.
    let pcm = decode(&heard[heard.len() - 20..]);
    assert!(goertzel(&pcm, 950.0) > 2000.0, "{}", goertzel(&pcm, 950.0));
    assert!(goertzel(&pcm, 450.0) < 150.0, "{}", goertzel(&pcm, 450.0));
    let f = &forwarded[forwarded.len() - 20..];
    assert!(f
        .iter()
        .all(|p| p[1] & 0x7f == 100 && u32::from_be_bytes([p[8], p[9], p[10], p[11]]) == 0xF00D));
    let pcm = decode(f);
    assert!(goertzel(&pcm, 950.0) > 2000.0 && goertzel(&pcm, 450.0) > 2000.0);
    mixer.close();
}

#[tokio::test(start_paused = true)]
async fn the_full_mix_is_recorded_to_a_wav_file() {
    let path = std::env::temp_dir().join(format!("ianus-mix-rec-{}.wav", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (tx, _events) = mpsc::unbounded_channel();
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 16_000,
            record_file: Some(path.clone()),
            ..MixerConfig::default()
        },
        Arc::new(Events(tx)),
    )
    .unwrap();
    let (out, _rx) = capture();
    mixer.control(MixerInput::AddParticipant {
        id: ParticipantId(1),
        config: participant(1),
        out,
    });
    let mut tone = Tone::new(700.0);
    for _ in 0..100 {
        mixer.push_rtp(ParticipantId(1), tone.packet());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let frames = mixer.stats().frames.load(Ordering::Relaxed);
    mixer.close();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The writer thread patches the header when it has written everything.
    let expected = frames as usize * 320 * 2;
    let bytes = finished_wav(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
        16_000
    );
    let data_len = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) as usize;
    assert_eq!(data_len, expected, "one frame of 320 samples per period");
    assert_eq!(bytes.len(), 44 + expected);
    // The last second holds the tone (at 16 kHz: resample-free Goertzel at the file's rate).
    let pcm: Vec<f64> = bytes[44..]
        .chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
        .collect();
    let last = &pcm[pcm.len() - 16_000..];
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * 700.0 / 16_000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in last {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let amp = 2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2).sqrt() / last.len() as f64;
    assert!(amp > 3000.0, "tone in the recording: {amp}");
}

/// Waits (bounded) for the writer thread to patch the WAV header, then returns the file.
fn finished_wav(path: &std::path::Path) -> Vec<u8> {
    for _ in 0..500 {
        let bytes = std::fs::read(path).unwrap_or_default();
        if bytes.len() >= 44 && u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) > 0
        {
            return bytes;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never completed", path.display());
}

#[tokio::test(start_paused = true)]
async fn recording_starts_and_stops_at_run_time() {
    let path = std::env::temp_dir().join(format!("ianus-mix-rec2-{}.wav", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (tx, _events) = mpsc::unbounded_channel();
    let mixer = MixerHandle::spawn(
        MixerConfig {
            sampling_rate: 8_000,
            spatial_audio: true,
            ..MixerConfig::default()
        },
        Arc::new(Events(tx)),
    )
    .unwrap();
    // The empty room sleeps; the recording wakes it and starts a frame grid at once (frames
    // at +20 ms multiples from here), so 1,010 ms hold exactly 50 frames.
    tokio::time::sleep(Duration::from_millis(30)).await;
    mixer.control(MixerInput::Record {
        path: Some(path.clone()),
    });
    let before = mixer.stats().frames.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1010)).await;
    mixer.control(MixerInput::Record { path: None });
    tokio::task::yield_now().await;
    let recorded = mixer.stats().frames.load(Ordering::Relaxed) - before;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bytes = finished_wav(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(recorded, 50);
    // Stereo (spatial room) at 8 kHz: 160 samples × 2 channels × 2 bytes per frame.
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 2);
    assert_eq!(bytes.len(), 44 + 50 * 160 * 2 * 2);
    mixer.close();
}
