//! The AudioBridge mixer core on a virtual clock: synthetic participants each send a sine
//! tone encoded with Opus or G.711; every participant's (and forwarder's) output is decoded
//! and analysed (Goertzel) to check it holds every other contributor's tone and not its own,
//! and a group forwarder only its group's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media_core::engine::SendError;
use media_core::mix::g711::Law;
use media_core::mix::room::Destination;
use media_core::mix::{
    AudioCodec, ForwarderConfig, MixCore, MixOut, MixOutput, MixerConfig, MixerEvent, MixerInput,
    ParticipantConfig, ParticipantId, FRAME,
};
use opus::{Application, Channels, Decoder, Encoder};

const PT: u8 = 111;
const LEVEL_EXT: u8 = 1;

struct NullOut;
impl MixOut for NullOut {
    fn send_rtp(&self, _packet: &[u8]) -> Result<(), SendError> {
        Ok(())
    }
}

/// A participant's sending side: a tone, encoded at 48 kHz, 20 ms per packet.
struct Sender {
    enc: Encoder,
    freq: f64,
    amp: f64,
    n: u64,
    seq: u16,
    ssrc: u32,
    level_ext: bool,
}

impl Sender {
    fn new(freq: f64, ssrc: u32) -> Self {
        Sender {
            enc: Encoder::new(48_000, Channels::Mono, Application::Voip).unwrap(),
            freq,
            amp: 5000.0,
            n: 0,
            seq: 65_500, // wraps during the tests
            ssrc,
            level_ext: false,
        }
    }

    fn with_fec(mut self) -> Self {
        self.enc.set_inband_fec(true).unwrap();
        self.enc.set_packet_loss_perc(20).unwrap();
        self
    }

    /// The next packet (`silent` = digital silence).
    fn packet(&mut self, silent: bool) -> Bytes {
        let mut pcm = [0i16; 960];
        for (i, s) in pcm.iter_mut().enumerate() {
            let t = (self.n + i as u64) as f64 / 48_000.0;
            if !silent {
                *s = (self.amp * (2.0 * std::f64::consts::PI * self.freq * t).sin()) as i16;
            }
        }
        self.n += 960;
        let mut payload = [0u8; 1275];
        let len = self.enc.encode(&pcm, &mut payload).unwrap();
        let mut b = vec![0x80, PT];
        if self.level_ext {
            b[0] |= 0x10;
        }
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&((self.n as u32).wrapping_mul(1)).to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        if self.level_ext {
            let level = if silent { 127 } else { 12 };
            b.extend_from_slice(&[0xBE, 0xDE, 0, 1, LEVEL_EXT << 4, level, 0, 0]);
        }
        b.extend_from_slice(&payload[..len]);
        self.seq = self.seq.wrapping_add(1);
        Bytes::from(b)
    }
}

/// A G.711 participant's sending side: a tone at 8 kHz, 160 samples per packet.
struct G711Sender {
    law: Law,
    freq: f64,
    n: u64,
    seq: u16,
    ssrc: u32,
}

impl G711Sender {
    fn new(law: Law, freq: f64, ssrc: u32) -> Self {
        G711Sender {
            law,
            freq,
            n: 0,
            seq: 100,
            ssrc,
        }
    }

    fn packet(&mut self) -> Bytes {
        let pcm: Vec<i16> = (0..160)
            .map(|i| {
                let t = (self.n + i) as f64 / 8000.0;
                (5000.0 * (2.0 * std::f64::consts::PI * self.freq * t).sin()) as i16
            })
            .collect();
        let mut b = vec![0x80, self.law.payload_type()];
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&(self.n as u32).to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        let mut codes = [0u8; 160];
        self.law.encode(&pcm, &mut codes);
        b.extend_from_slice(&codes);
        self.n += 160;
        self.seq = self.seq.wrapping_add(1);
        Bytes::from(b)
    }
}

/// What one participant (or forwarder) received.
struct Received {
    dec: Decoder,
    /// G.711 streams are decoded with this law (8 kHz) instead of Opus (48 kHz).
    law: Option<Law>,
    rate: usize,
    channels: usize,
    pcm: Vec<i16>,
    packets: u64,
    last: Option<(u16, u32, u32)>,
    /// (frame, payload, shared stream) of every packet.
    payloads: Vec<(u64, Vec<u8>, Option<usize>)>,
}

impl Received {
    fn new(channels: usize) -> Self {
        let ch = if channels == 2 {
            Channels::Stereo
        } else {
            Channels::Mono
        };
        Received {
            dec: Decoder::new(48_000, ch).unwrap(),
            law: None,
            rate: 48_000,
            channels,
            pcm: Vec::new(),
            packets: 0,
            last: None,
            payloads: Vec::new(),
        }
    }

    fn g711(law: Law) -> Self {
        Received {
            law: Some(law),
            rate: 8000,
            ..Received::new(1)
        }
    }

    fn take(&mut self, frame: u64, packet: &[u8], shared: Option<usize>) {
        assert!(packet.len() > 12);
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let step = if self.law.is_some() { 160 } else { 960 };
        if let Some((s, t, c)) = self.last {
            assert_eq!(seq, s.wrapping_add(1), "sequence continuity");
            assert_eq!(ts, t.wrapping_add(step), "timestamp cadence");
            assert_eq!(ssrc, c, "one SSRC per stream");
        }
        self.last = Some((seq, ts, ssrc));
        let hdr = if packet[0] & 0x10 != 0 {
            let words = usize::from(u16::from_be_bytes([packet[14], packet[15]]));
            16 + 4 * words
        } else {
            12
        };
        let payload = &packet[hdr..];
        if let Some(law) = self.law {
            assert_eq!(packet[1] & 0x7f, law.payload_type(), "G.711 payload type");
            assert_eq!(payload.len(), 160, "20 ms of G.711");
            let mut out = [0i16; 160];
            law.decode(payload, &mut out);
            self.pcm.extend_from_slice(&out);
        } else {
            let mut out = vec![0i16; 960 * self.channels];
            let n = self.dec.decode(payload, &mut out, false).unwrap();
            assert_eq!(n, 960);
            self.pcm.extend_from_slice(&out);
        }
        self.packets += 1;
        self.payloads.push((frame, payload.to_vec(), shared));
    }

    /// Tone amplitude at `freq` over the last second (channel `ch`).
    fn tone(&self, freq: f64, ch: usize) -> f64 {
        let samples: Vec<f64> = self
            .pcm
            .iter()
            .skip(ch)
            .step_by(self.channels)
            .map(|&s| f64::from(s))
            .collect();
        let window = &samples[samples.len() - self.rate..];
        goertzel(window, freq, self.rate as f64)
    }
}

/// Amplitude of the `freq` component of `x` (Goertzel algorithm).
fn goertzel(x: &[f64], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

struct Room {
    core: MixCore,
    t0: Instant,
    frame: u64,
    rx: HashMap<ParticipantId, Received>,
    fwd: HashMap<u32, Received>,
    events: Vec<MixerEvent>,
    channels: usize,
}

impl Room {
    fn new(config: MixerConfig) -> Self {
        let t0 = Instant::now();
        let channels = if config.spatial_audio { 2 } else { 1 };
        Room {
            core: MixCore::new(config, t0).unwrap(),
            t0,
            frame: 0,
            rx: HashMap::new(),
            fwd: HashMap::new(),
            events: Vec::new(),
            channels,
        }
    }

    fn now(&self) -> Instant {
        self.t0 + FRAME * self.frame as u32
    }

    fn add(&mut self, id: u64, config: ParticipantConfig) {
        let now = self.now();
        self.core
            .handle_input(
                now,
                MixerInput::AddParticipant {
                    id: ParticipantId(id),
                    config: ParticipantConfig {
                        ssrc: 1000 + id as u32,
                        ..config
                    },
                    out: Arc::new(NullOut),
                },
            )
            .unwrap();
        self.rx
            .insert(ParticipantId(id), Received::new(self.channels));
    }

    /// Adds a G.711 participant (PT 0 or 8, as the plugin sets it).
    fn add_g711(&mut self, id: u64, law: Law, config: ParticipantConfig) {
        let codec = match law {
            Law::Mu => AudioCodec::Pcmu,
            Law::A => AudioCodec::Pcma,
        };
        self.add(
            id,
            ParticipantConfig {
                codec,
                pt: law.payload_type(),
                ..config
            },
        );
        self.rx.insert(ParticipantId(id), Received::g711(law));
    }

    fn input(&mut self, input: MixerInput) {
        let now = self.now();
        self.core.handle_input(now, input).unwrap();
    }

    /// Delivers `packets` a few ms into the current period, then runs the frame due at the
    /// end of it and decodes every output.
    fn step(&mut self, packets: Vec<(u64, Bytes)>) {
        let at = self.now() + Duration::from_millis(5);
        for (id, p) in packets {
            self.core.handle_packet(at, ParticipantId(id), p);
        }
        self.frame += 1;
        let now = self.now();
        assert!(self.core.handle_timeout(now), "a frame is due every 20 ms");
        assert!(!self.core.handle_timeout(now), "only one frame per period");
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                MixOutput::Rtp { to, packet, .. } => match to {
                    Destination::Participant { id, shared } => self
                        .rx
                        .get_mut(&id)
                        .unwrap()
                        .take(self.frame, packet, shared),
                    Destination::Forwarder { stream_id, shared } => self
                        .fwd
                        .entry(stream_id)
                        .or_insert_with(|| Received::new(1))
                        .take(self.frame, packet, Some(shared)),
                },
                MixOutput::Event(e) => self.events.push(e),
                MixOutput::Recording(_) => panic!("not recording"),
            }
        }
    }

    fn rx(&self, id: u64) -> &Received {
        &self.rx[&ParticipantId(id)]
    }
}

fn room_48k() -> MixerConfig {
    MixerConfig {
        sampling_rate: 48_000,
        ..MixerConfig::default()
    }
}

const TONES: [f64; 4] = [400.0, 700.0, 1000.0, 1300.0];

/// Runs `seconds` with every sender in `senders` sending each period.
fn run(room: &mut Room, senders: &mut [(u64, Sender)], seconds: u32) {
    for _ in 0..seconds * 50 {
        let packets = senders
            .iter_mut()
            .map(|(id, s)| (*id, s.packet(false)))
            .collect();
        room.step(packets);
    }
}

fn assert_hears(room: &Room, listener: u64, tones: &[f64], not: &[f64]) {
    let rx = room.rx(listener);
    let heard: Vec<f64> = tones.iter().map(|&f| rx.tone(f, 0)).collect();
    let absent: Vec<f64> = not.iter().map(|&f| rx.tone(f, 0)).collect();
    for (f, a) in tones.iter().zip(&heard) {
        assert!(
            *a > 2000.0,
            "participant {listener} should hear {f} Hz: amplitude {a:.0} (heard {heard:?}, absent {absent:?})"
        );
    }
    for (f, a) in not.iter().zip(&absent) {
        assert!(
            *a < 100.0,
            "participant {listener} should not hear {f} Hz: amplitude {a:.0} (heard {heard:?})"
        );
    }
}

#[test]
fn each_talker_hears_every_other_tone_but_not_its_own() {
    let mut room = Room::new(room_48k());
    let mut senders = Vec::new();
    for (i, &f) in TONES.iter().enumerate() {
        room.add(i as u64, ParticipantConfig::default());
        senders.push((i as u64, Sender::new(f, 77 + i as u32)));
    }
    run(&mut room, &mut senders, 3);
    for (i, &own) in TONES.iter().enumerate() {
        let others: Vec<f64> = TONES.iter().copied().filter(|&f| f != own).collect();
        assert_hears(&room, i as u64, &others, &[own]);
        assert!(room.core.is_contributor(ParticipantId(i as u64)));
    }
    // Four talkers: four mix-minus encodes, no shared stream needed.
    let frames = room.core.stats().frames;
    assert_eq!(room.core.stats().contributors, 4);
    assert_eq!(room.core.stats().encoders_live, 4);
    assert!(room.core.stats().encodes <= frames * 5);
}

#[test]
fn a_muted_participant_leaves_the_others_mixes_and_hears_everyone() {
    let mut room = Room::new(room_48k());
    let mut senders = Vec::new();
    for (i, &f) in TONES[..3].iter().enumerate() {
        room.add(i as u64, ParticipantConfig::default());
        senders.push((i as u64, Sender::new(f, 50 + i as u32)));
    }
    run(&mut room, &mut senders, 2);
    assert_hears(&room, 1, &[TONES[0], TONES[2]], &[TONES[1]]);
    room.input(MixerInput::UpdateParticipant {
        id: ParticipantId(0),
        config: ParticipantConfig {
            muted: true,
            ssrc: 1000,
            ..ParticipantConfig::default()
        },
    });
    run(&mut room, &mut senders, 2);
    assert!(!room.core.is_contributor(ParticipantId(0)));
    assert_hears(&room, 1, &[TONES[2]], &[TONES[0], TONES[1]]);
    assert_hears(&room, 2, &[TONES[1]], &[TONES[0], TONES[2]]);
    // The muted one gets the shared full mix: both others.
    assert_hears(&room, 0, &[TONES[1], TONES[2]], &[TONES[0]]);
    let last = room.rx(0).payloads.last().unwrap();
    assert!(
        last.2.is_some(),
        "muted participant is on the shared stream"
    );

    // Room mute: nobody is mixed.
    room.input(MixerInput::MuteRoom(true));
    run(&mut room, &mut senders, 2);
    for id in 0..3 {
        assert_hears(&room, id, &[], &TONES[..3]);
    }
}

#[test]
fn loss_is_concealed_and_the_cadence_holds() {
    let mut room = Room::new(room_48k());
    room.add(1, ParticipantConfig::default());
    room.add(2, ParticipantConfig::default());
    let mut a = Sender::new(TONES[0], 1).with_fec();
    let mut b = Sender::new(TONES[1], 2);
    for k in 0..150u32 {
        let pa = a.packet(false);
        let pb = b.packet(false);
        let mut packets = vec![(2, pb)];
        // Every 7th packet of participant 1 is lost; a burst of 3 at 2 s.
        if k % 7 != 3 && !(100..103).contains(&k) {
            packets.push((1, pa));
        }
        room.step(packets);
    }
    let s = room.core.stats().clone();
    assert!(s.fec_frames > 0, "single losses recovered with FEC: {s:?}");
    assert!(
        s.plc_frames > 0,
        "the burst's first frames concealed with PLC: {s:?}"
    );
    assert_eq!(room.rx(1).packets, 150);
    assert_eq!(room.rx(2).packets, 150);
    // Participant 2 still hears 1's tone at full strength.
    assert_hears(&room, 2, &[TONES[0]], &[TONES[1]]);
}

#[test]
fn ten_seconds_are_exactly_500_frames_for_everyone() {
    let mut room = Room::new(room_48k());
    let mut senders = Vec::new();
    for id in 0..3u64 {
        room.add(id, ParticipantConfig::default());
        senders.push((id, Sender::new(TONES[id as usize], id as u32)));
    }
    // Two listeners who never send, one forwarder.
    room.add(10, ParticipantConfig::default());
    room.add(11, ParticipantConfig::default());
    room.input(MixerInput::AddForwarder {
        stream_id: 5,
        config: ForwarderConfig {
            ssrc: 555,
            pt: 100,
            codec: AudioCodec::Opus,
            group: 0,
            always_on: false,
            out: Arc::new(NullOut),
        },
    });
    run(&mut room, &mut senders, 10);
    for id in [0, 1, 2, 10, 11] {
        assert_eq!(room.rx(id).packets, 500, "participant {id}");
    }
    assert_eq!(room.fwd[&5].packets, 500);
    assert_eq!(room.core.stats().frames, 500);
    assert_eq!(room.core.stats().frames_skipped, 0);
}

#[test]
fn a_late_driver_catches_up_without_drift() {
    let mut room = Room::new(room_48k());
    room.add(1, ParticipantConfig::default());
    // The driver wakes 90 ms late: it runs the 4 missed frames back to back.
    let late = room.t0 + Duration::from_millis(90);
    let mut ran = 0;
    while room.core.handle_timeout(late) {
        ran += 1;
        room.drain();
    }
    assert_eq!(ran, 4);
    assert_eq!(
        room.core.poll_timeout(),
        room.t0 + Duration::from_millis(100)
    );
    // A second late by much more than the catch-up limit skips, keeping the grid.
    // The outgoing timestamp follows time across the skipped frames; the sequence does not
    // jump (nothing was lost, nothing was sent).
    let very_late = room.t0 + Duration::from_millis(1_000 + 7);
    let (seq, ts, _) = room.rx(1).last.unwrap();
    room.rx.get_mut(&ParticipantId(1)).unwrap().last = None;
    while room.core.handle_timeout(very_late) {
        room.drain();
    }
    assert_eq!(room.core.stats().frames_skipped, 45);
    assert_eq!(
        room.core.poll_timeout(),
        room.t0 + Duration::from_millis(1_020)
    );
    let (seq2, ts2, _) = room.rx(1).last.unwrap();
    assert_eq!(seq2, seq.wrapping_add(1));
    assert_eq!(ts2, ts.wrapping_add(46 * 960));
}

#[test]
fn silent_listeners_share_one_encoded_stream() {
    let mut room = Room::new(room_48k());
    let mut talkers = [(0, Sender::new(TONES[0], 1)), (1, Sender::new(TONES[1], 2))];
    for id in 0..2 {
        room.add(id, ParticipantConfig::default());
    }
    // 5 who never send, 3 who send digital silence, 2 muted talkers.
    for id in 10..15 {
        room.add(id, ParticipantConfig::default());
    }
    let mut quiet: Vec<(u64, Sender)> = (20..23)
        .map(|id| (id, Sender::new(500.0, id as u32)))
        .collect();
    for (id, _) in &quiet {
        room.add(*id, ParticipantConfig::default());
    }
    let mut muted: Vec<(u64, Sender)> = (30..32)
        .map(|id| (id, Sender::new(1500.0, id as u32)))
        .collect();
    for (id, _) in &muted {
        room.add(
            *id,
            ParticipantConfig {
                muted: true,
                ..ParticipantConfig::default()
            },
        );
    }
    let frames = 150u64;
    for _ in 0..frames {
        let mut packets: Vec<(u64, Bytes)> = talkers
            .iter_mut()
            .map(|(id, s)| (*id, s.packet(false)))
            .collect();
        packets.extend(quiet.iter_mut().map(|(id, s)| (*id, s.packet(true))));
        packets.extend(muted.iter_mut().map(|(id, s)| (*id, s.packet(false))));
        room.step(packets);
    }
    let s = room.core.stats();
    assert_eq!(s.contributors, 2);
    // Two mix-minus encoders + one shared: 3, not one per participant (12).
    assert_eq!(s.encoders_live, 3, "{s:?}");
    let last = room.frame;
    let listeners: Vec<u64> = (10..15).chain(20..23).chain(30..32).collect();
    let payloads: Vec<&Vec<u8>> = listeners
        .iter()
        .map(|id| {
            let (f, p, shared) = room.rx(*id).payloads.last().unwrap();
            assert_eq!(*f, last);
            assert_eq!(*shared, Some(0));
            p
        })
        .collect();
    assert!(
        payloads.windows(2).all(|w| w[0] == w[1]),
        "one payload for all listeners"
    );
    // Each with its own SSRC.
    let ssrcs: std::collections::HashSet<u32> = listeners
        .iter()
        .map(|id| room.rx(*id).last.unwrap().2)
        .collect();
    assert_eq!(ssrcs.len(), listeners.len());
    // Encodes over the steady state: 3 per frame.
    let before = room.core.stats().encodes;
    room.step(
        talkers
            .iter_mut()
            .map(|(id, s)| (*id, s.packet(false)))
            .collect(),
    );
    assert_eq!(room.core.stats().encodes - before, 3);
    // Listeners hear both talkers; talkers only each other.
    assert_hears(&room, 10, &[TONES[0], TONES[1]], &[500.0, 1500.0]);
    assert_hears(&room, 30, &[TONES[0], TONES[1]], &[1500.0]);
    assert_hears(&room, 0, &[TONES[1]], &[TONES[0], 500.0, 1500.0]);
}

#[test]
fn malformed_rtp_is_dropped_and_counted() {
    let mut room = Room::new(room_48k());
    room.add(1, ParticipantConfig::default());
    room.add(2, ParticipantConfig::default());
    let mut s = Sender::new(TONES[0], 9);
    let good = s.packet(false);
    let mut wrong_pt = good.to_vec();
    wrong_pt[1] = 96;
    let mut v1 = good.to_vec();
    v1[0] = 0x40;
    let header_only = good.slice(..12);
    let bad: Vec<(u64, Bytes)> = vec![
        (1, Bytes::from_static(&[0x80, 111, 0])),
        (1, Bytes::from(v1)),
        (1, Bytes::from(wrong_pt)),
        (1, header_only),
        (1, Bytes::new()),
        (99, good.clone()),
    ];
    room.step(bad);
    assert_eq!(room.core.stats().packets_invalid, 6);
    assert_eq!(room.core.stats().packets_in, 6);
    room.step(vec![(1, good.clone()), (1, good)]);
    assert_eq!(room.core.stats().packets_invalid, 6);
    assert_eq!(room.core.stats().duplicates, 1);
    assert_eq!(room.rx(2).packets, 2, "mixing goes on");
}

#[test]
fn talking_events_follow_the_audio_level_window() {
    let mut room = Room::new(MixerConfig {
        audio_active_packets: 10,
        audio_level_average: 25,
        ..room_48k()
    });
    room.add(
        1,
        ParticipantConfig {
            audio_level_ext: Some(LEVEL_EXT),
            ..ParticipantConfig::default()
        },
    );
    let mut s = Sender::new(TONES[0], 3);
    s.level_ext = true;
    for _ in 0..20 {
        let p = s.packet(false);
        room.step(vec![(1, p)]);
    }
    for _ in 0..20 {
        let p = s.packet(true);
        room.step(vec![(1, p)]);
    }
    let talking: Vec<(bool, f32)> = room
        .events
        .iter()
        .filter_map(|e| match e {
            MixerEvent::Talking {
                id: ParticipantId(1),
                talking,
                level_avg,
            } => Some((*talking, *level_avg)),
            _ => None,
        })
        .collect();
    assert_eq!(talking, vec![(true, 12.0), (false, 127.0)]);
}

#[test]
fn talking_events_from_decoded_energy_without_the_extension() {
    let mut room = Room::new(MixerConfig {
        audio_active_packets: 10,
        audio_level_average: 25,
        ..room_48k()
    });
    room.add(1, ParticipantConfig::default());
    let mut s = Sender::new(TONES[0], 3);
    s.amp = 20_000.0;
    for _ in 0..40 {
        let p = s.packet(false);
        room.step(vec![(1, p)]);
    }
    for _ in 0..40 {
        let p = s.packet(true);
        room.step(vec![(1, p)]);
    }
    let states: Vec<bool> = room
        .events
        .iter()
        .filter_map(|e| match e {
            MixerEvent::Talking { talking, .. } => Some(*talking),
            _ => None,
        })
        .collect();
    assert_eq!(states, vec![true, false]);
}

#[test]
fn spatial_audio_pans_each_talker() {
    let mut room = Room::new(MixerConfig {
        spatial_audio: true,
        ..room_48k()
    });
    room.add(
        1,
        ParticipantConfig {
            spatial_position: 0,
            ..ParticipantConfig::default()
        },
    );
    room.add(
        2,
        ParticipantConfig {
            spatial_position: 100,
            ..ParticipantConfig::default()
        },
    );
    room.add(3, ParticipantConfig::default());
    let mut senders = vec![(1, Sender::new(TONES[0], 1)), (2, Sender::new(TONES[1], 2))];
    run(&mut room, &mut senders, 2);
    let l = room.rx(3);
    assert!(l.tone(TONES[0], 0) > 2000.0 && l.tone(TONES[0], 1) < 300.0);
    assert!(l.tone(TONES[1], 1) > 2000.0 && l.tone(TONES[1], 0) < 300.0);
    // Mix-minus still removes one's own voice.
    assert!(room.rx(1).tone(TONES[0], 0) < 100.0);
    assert!(room.rx(1).tone(TONES[1], 1) > 2000.0);
}

#[test]
fn lower_room_rates_mix_too() {
    for rate in [8000, 16_000, 24_000] {
        let mut room = Room::new(MixerConfig {
            sampling_rate: rate,
            ..MixerConfig::default()
        });
        room.add(1, ParticipantConfig::default());
        room.add(2, ParticipantConfig::default());
        let mut senders = vec![(1, Sender::new(TONES[0], 1)), (2, Sender::new(TONES[1], 2))];
        run(&mut room, &mut senders, 2);
        assert_hears(&room, 1, &[TONES[1]], &[TONES[0]]);
        assert_hears(&room, 2, &[TONES[0]], &[TONES[1]]);
    }
}

#[test]
fn a_file_plays_into_everyones_mix_then_reports_done() {
    let mut room = Room::new(room_48k());
    room.add(1, ParticipantConfig::default());
    room.add(2, ParticipantConfig::default());
    let mut tone = Sender::new(900.0, 0);
    let packets: Vec<Bytes> = (0..75)
        .map(|_| {
            let p = tone.packet(false);
            p.slice(12..)
        })
        .collect();
    room.core
        .play_packets("intro".into(), packets, false, 0)
        .unwrap();
    for _ in 0..75 {
        room.step(vec![]);
    }
    assert_hears(&room, 1, &[900.0], &[]);
    assert_hears(&room, 2, &[900.0], &[]);
    room.step(vec![]);
    assert!(room.events.contains(&MixerEvent::FileDone {
        file_id: "intro".into()
    }));
    assert_eq!(room.core.files().count(), 0);
}

#[test]
fn quiet_and_muted_participants_are_not_decoded_until_they_speak() {
    let mut room = Room::new(room_48k());
    let with_ext = ParticipantConfig {
        audio_level_ext: Some(LEVEL_EXT),
        ..ParticipantConfig::default()
    };
    room.add(1, with_ext.clone());
    room.add(2, with_ext.clone());
    room.add(
        3,
        ParticipantConfig {
            muted: true,
            ..with_ext.clone()
        },
    );
    let mut senders: Vec<(u64, Sender)> = [(1, 400.0), (2, 700.0), (3, 1000.0)]
        .into_iter()
        .map(|(id, f)| {
            let mut s = Sender::new(f, id as u32);
            s.level_ext = true;
            (id, s)
        })
        .collect();
    // 1 s: participant 1 talks, 2 is silent (level 127), 3 talks but is muted.
    for _ in 0..50 {
        let packets = senders
            .iter_mut()
            .map(|(id, s)| (*id, s.packet(*id == 2)))
            .collect();
        room.step(packets);
    }
    let skipped = room.core.stats().decodes_skipped;
    // Everything of 2 and 3 after the prebuffer: ~2 × 45 packets; nothing of 1.
    assert!((85..=100).contains(&skipped), "skipped {skipped}");
    assert!(room.core.is_contributor(ParticipantId(1)));
    assert!(!room.core.is_contributor(ParticipantId(2)));
    // 2 s: now 2 talks too; it is decoded again and heard.
    for _ in 0..100 {
        let packets = senders
            .iter_mut()
            .map(|(id, s)| (*id, s.packet(false)))
            .collect();
        room.step(packets);
    }
    assert!(room.core.is_contributor(ParticipantId(2)));
    let skipped_later = room.core.stats().decodes_skipped - skipped;
    // The muted one's 100, plus 2's silent packets still in its jitter buffer (prebuffer 6).
    assert!(
        (100..=106).contains(&skipped_later),
        "only the muted one is skipped: {skipped_later}"
    );
    assert_hears(&room, 1, &[700.0], &[400.0, 1000.0]);
    assert_hears(&room, 2, &[400.0], &[700.0, 1000.0]);
    assert_hears(&room, 3, &[400.0, 700.0], &[1000.0]);
}

#[test]
fn random_bytes_and_garbage_opus_never_break_the_mix() {
    let mut room = Room::new(MixerConfig::default());
    room.add(1, ParticipantConfig::default());
    room.add(
        2,
        ParticipantConfig {
            audio_level_ext: Some(LEVEL_EXT),
            ..ParticipantConfig::default()
        },
    );
    let mut rng = 0x9E37_79B9u32;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng
    };
    let mut seq = 0u16;
    for _ in 0..500 {
        let mut packets = Vec::new();
        for k in 0..8u32 {
            let len = (next() % 300) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half are well-formed RTP of one steady source with garbage Opus inside.
            if k % 2 == 0 && b.len() > 12 {
                seq = seq.wrapping_add(1);
                b[0] = 0x80;
                b[1] = PT;
                b[2..4].copy_from_slice(&seq.to_be_bytes());
                b[8..12].copy_from_slice(&[0, 0, 0, 42]);
            }
            packets.push((1 + u64::from(k % 2), Bytes::from(b)));
        }
        room.step(packets);
    }
    let s = room.core.stats();
    assert_eq!(s.frames, 500);
    assert!(s.packets_invalid > 0);
    assert!(s.decode_errors > 0, "garbage reached the decoder: {s:?}");
    assert_eq!(room.rx(1).packets, 500);
    assert_eq!(room.rx(2).packets, 500);
}

#[test]
fn g711_participants_hear_everyone_else_at_every_room_rate() {
    for rate in [8000, 12_000, 16_000, 24_000, 48_000] {
        let mut room = Room::new(MixerConfig {
            sampling_rate: rate,
            ..MixerConfig::default()
        });
        // Two Opus talkers, a PCMU talker, a PCMA listener that never sends.
        room.add(1, ParticipantConfig::default());
        room.add(2, ParticipantConfig::default());
        room.add_g711(3, Law::Mu, ParticipantConfig::default());
        room.add_g711(4, Law::A, ParticipantConfig::default());
        let mut opus = [(1, Sender::new(400.0, 1)), (2, Sender::new(1000.0, 2))];
        let mut pcmu = G711Sender::new(Law::Mu, 700.0, 3);
        for _ in 0..100 {
            let mut packets: Vec<(u64, Bytes)> = opus
                .iter_mut()
                .map(|(id, s)| (*id, s.packet(false)))
                .collect();
            packets.push((3, pcmu.packet()));
            room.step(packets);
        }
        assert!(room.core.is_contributor(ParticipantId(3)), "{rate}");
        assert_hears(&room, 1, &[700.0, 1000.0], &[400.0]);
        assert_hears(&room, 2, &[400.0, 700.0], &[1000.0]);
        assert_hears(&room, 3, &[400.0, 1000.0], &[700.0]);
        assert_hears(&room, 4, &[400.0, 700.0, 1000.0], &[]);
        assert_eq!(room.rx(3).packets, 100, "{rate}");
        assert_eq!(room.rx(4).packets, 100, "{rate}");
        // The PCMU talker has its own mix-minus; the PCMA listener the shared G.711 stream.
        let (_, _, own) = room.rx(3).payloads.last().unwrap();
        let (_, _, shared) = room.rx(4).payloads.last().unwrap();
        assert_eq!((*own, shared.is_some()), (None, true), "{rate}");
        assert_eq!(room.core.stats().packets_invalid, 0);
    }
}

#[test]
fn silent_g711_listeners_share_one_encoding_per_law() {
    let mut room = Room::new(MixerConfig::default());
    room.add(1, ParticipantConfig::default());
    for id in 10..14 {
        room.add_g711(id, Law::Mu, ParticipantConfig::default());
    }
    room.add_g711(20, Law::A, ParticipantConfig::default());
    room.add_g711(21, Law::A, ParticipantConfig::default());
    let mut talker = Sender::new(600.0, 1);
    for _ in 0..60 {
        let p = talker.packet(false);
        room.step(vec![(1, p)]);
    }
    let before = room.core.stats().g711_encodes;
    let p = talker.packet(false);
    room.step(vec![(1, p)]);
    // One μ-law and one A-law encode for six listeners.
    assert_eq!(room.core.stats().g711_encodes - before, 2);
    let last = |id: u64| room.rx(id).payloads.last().unwrap().clone();
    let mu = last(10);
    assert!((11..14).all(|id| last(id).1 == mu.1 && last(id).2 == mu.2));
    let a = last(20);
    assert_eq!(last(21).1, a.1);
    assert_ne!(a.2, mu.2, "one shared stream per law");
    assert_hears(&room, 12, &[600.0], &[]);
    assert_hears(&room, 21, &[600.0], &[]);
    // Each listener its own SSRC and sequence line.
    let ssrcs: std::collections::HashSet<u32> = [10, 11, 12, 13, 20, 21]
        .iter()
        .map(|id| room.rx(*id).last.unwrap().2)
        .collect();
    assert_eq!(ssrcs.len(), 6);
}

#[test]
fn group_forwarders_carry_only_their_groups_participants() {
    let mut room = Room::new(MixerConfig::default());
    let grouped = |group| ParticipantConfig {
        group,
        ..ParticipantConfig::default()
    };
    room.add(1, grouped(1));
    room.add(2, grouped(2));
    room.add(3, grouped(0));
    room.add_g711(4, Law::A, grouped(1));
    let forwarder = |codec, group| ForwarderConfig {
        ssrc: 900 + group as u32,
        pt: 100,
        codec,
        group,
        always_on: false,
        out: Arc::new(NullOut),
    };
    room.input(MixerInput::AddForwarder {
        stream_id: 1,
        config: forwarder(AudioCodec::Opus, 1),
    });
    room.input(MixerInput::AddForwarder {
        stream_id: 2,
        config: ForwarderConfig {
            pt: 0,
            ..forwarder(AudioCodec::Pcmu, 2)
        },
    });
    room.input(MixerInput::AddForwarder {
        stream_id: 3,
        config: ForwarderConfig {
            pt: 8,
            ..forwarder(AudioCodec::Pcma, 0)
        },
    });
    room.fwd.insert(2, Received::g711(Law::Mu));
    room.fwd.insert(3, Received::g711(Law::A));
    // An announcement for group 2.
    let mut tone = Sender::new(1500.0, 0);
    let file: Vec<Bytes> = (0..150).map(|_| tone.packet(false).slice(12..)).collect();
    room.core.play_packets("g2".into(), file, false, 2).unwrap();

    let mut senders = [
        (1, Sender::new(400.0, 1)),
        (2, Sender::new(700.0, 2)),
        (3, Sender::new(1000.0, 3)),
    ];
    let mut pcma = G711Sender::new(Law::A, 1300.0, 4);
    for _ in 0..100 {
        let mut packets: Vec<(u64, Bytes)> = senders
            .iter_mut()
            .map(|(id, s)| (*id, s.packet(false)))
            .collect();
        packets.push((4, pcma.packet()));
        room.step(packets);
    }
    let all = [400.0, 700.0, 1000.0, 1300.0, 1500.0];
    let hears = |stream: u32, tones: &[f64]| {
        let rx = &room.fwd[&stream];
        for &f in &all {
            let a = rx.tone(f, 0);
            if tones.contains(&f) {
                assert!(a > 2000.0, "forwarder {stream} should carry {f} Hz: {a:.0}");
            } else {
                assert!(
                    a < 100.0,
                    "forwarder {stream} should not carry {f} Hz: {a:.0}"
                );
            }
        }
    };
    hears(1, &[400.0, 1300.0]);
    hears(2, &[700.0, 1500.0]);
    hears(3, &all);
    for s in [1, 2, 3] {
        assert_eq!(room.fwd[&s].packets, 100, "forwarder {s}");
    }
    // Participants' own mixes ignore groups: the whole room minus themselves.
    assert_hears(&room, 1, &[700.0, 1000.0, 1300.0, 1500.0], &[400.0]);
    assert_hears(&room, 4, &[400.0, 700.0, 1000.0, 1500.0], &[1300.0]);
}

#[test]
fn forwarders_of_an_empty_room_send_only_when_always_on() {
    let mut room = Room::new(MixerConfig::default());
    for (stream_id, always_on) in [(1, false), (2, true)] {
        room.input(MixerInput::AddForwarder {
            stream_id,
            config: ForwarderConfig {
                always_on,
                ..ForwarderConfig::opus(700 + stream_id, 100, Arc::new(NullOut))
            },
        });
    }
    for _ in 0..10 {
        room.step(vec![]);
    }
    assert!(
        !room.fwd.contains_key(&1),
        "nobody in the room: nothing sent"
    );
    assert_eq!(room.fwd[&2].packets, 10, "always_on sends silence");
    // Someone joins: both send, and the first's timestamps kept running meanwhile.
    room.add(1, ParticipantConfig::default());
    room.step(vec![]);
    room.step(vec![]);
    assert_eq!(room.fwd[&1].packets, 2);
    assert_eq!(room.fwd[&2].packets, 12);
}
