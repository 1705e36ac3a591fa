//! The runs: set up rooms and peers through the Janus API, warm up, measure a window, tear
//! down. Setup runs a few peers at a time (bounded by a semaphore) so DTLS handshakes do not
//! starve the media of peers already running.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::janus::{JanusClient, JanusError};
use super::media::{self, Trailer, VideoSource};
use super::peer::{self, Common, Connected, PeerError, PeerSetup, Role, RxReport};
use super::procstat::{self, ProcSample};
use super::report::*;
use super::sdp::{self, RemoteDescription, SdpError};
use super::stats::Histogram;

/// What to run.
#[derive(Debug, Clone)]
pub enum Scenario {
    VideoRoom {
        publishers: usize,
        subscribers: usize,
        /// Every publisher also subscribes to every other one (one PC, P-1 streams).
        mesh: bool,
    },
    AudioBridge {
        participants: usize,
        /// The first `talkers` participants send a tone; the others a quiet microphone
        /// (with its audio level, as browsers do).
        talkers: usize,
    },
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub url: String,
    pub server_pid: Option<u32>,
    pub bind: IpAddr,
    pub bitrate: u64,
    pub keyframe_secs: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub setup_concurrency: usize,
    /// How long to wait for every subscriber stream's first packet.
    pub media_timeout: Duration,
    /// Bound on connecting and on every API request.
    pub request_timeout: Duration,
    pub label: String,
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Janus(#[from] JanusError),
    #[error("{who}: {source}")]
    Peer { who: String, source: PeerError },
    #[error("{who}: {source}")]
    Sdp { who: String, source: SdpError },
    #[error("{who}: the server sent no JSEP {kind}")]
    NoJsep { who: String, kind: &'static str },
    #[error("{who}: unexpected reply {reply}")]
    Unexpected { who: String, reply: String },
    #[error("not available on this server: {0}")]
    NotAvailable(String),
    #[error("the server process {0} is not readable in /proc")]
    NoServerProcess(u32),
}

fn peer_err(who: &str) -> impl FnOnce(PeerError) -> RunError + '_ {
    move |source| RunError::Peer {
        who: who.to_owned(),
        source,
    }
}

/// Per-publisher counters the senders keep.
#[derive(Default)]
struct SendCounters {
    packets: AtomicU64,
    /// Trailer sequence of the last packet sent (+1; 0 = none yet).
    last_seq_plus1: AtomicU64,
}

struct Running {
    peer: Connected,
    /// Streams this peer receives (0 for a publisher).
    rx_streams: usize,
}

/// Shared state of one run.
struct Run {
    opts: RunOptions,
    client: Arc<JanusClient>,
    common: Arc<Common>,
    stop_send: watch::Sender<bool>,
    sent: Vec<Arc<SendCounters>>,
    started: Instant,
}

pub async fn run(scenario: Scenario, opts: RunOptions) -> Result<Report, RunError> {
    if let Some(pid) = opts.server_pid {
        procstat::sample(Some(pid)).ok_or(RunError::NoServerProcess(pid))?;
    }
    let client = Arc::new(JanusClient::connect(&opts.url, opts.request_timeout).await?);
    client.create_session().await?;
    let common = Arc::new(Common::new().map_err(peer_err("certificate"))?);
    let (stop_send, _) = watch::channel(false);
    let n_senders = match scenario {
        Scenario::VideoRoom { publishers, .. } => publishers,
        Scenario::AudioBridge { participants, .. } => participants,
    };
    let run = Arc::new(Run {
        opts: opts.clone(),
        client: client.clone(),
        common,
        stop_send,
        sent: (0..n_senders).map(|_| Arc::default()).collect(),
        started: Instant::now(),
    });
    let result = match scenario.clone() {
        Scenario::VideoRoom {
            publishers,
            subscribers,
            mesh,
        } => video_room(&run, publishers, subscribers, mesh).await,
        Scenario::AudioBridge {
            participants,
            talkers,
        } => audio_bridge(&run, participants, talkers).await,
    };
    let (peers, cleanup) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = run.stop_send.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(3), client.destroy()).await;
            return Err(e);
        }
    };
    let report = measure(&run, &scenario, peers).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        cleanup.await;
        client.destroy().await;
    })
    .await;
    Ok(report)
}

type Cleanup = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

fn room_id() -> u64 {
    // Random and large: never one of the configured rooms.
    1_000_000 + rand::random::<u64>() % 1_000_000_000
}

/// What a handle's unsolicited events told us.
struct HandleEvents {
    /// Candidates trickled by the server.
    extra: Arc<Mutex<Vec<SocketAddr>>>,
    /// Becomes true on `webrtcup`.
    up: watch::Receiver<bool>,
}

/// Forwards trickled candidates into `extra`, notes `webrtcup`; reports hangups that happen
/// before the run stops.
fn watch_events(
    run: &Arc<Run>,
    who: String,
    mut rx: mpsc::UnboundedReceiver<Value>,
) -> HandleEvents {
    let extra: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let e = extra.clone();
    let (up_tx, up) = watch::channel(false);
    let stopping = run.stop_send.subscribe();
    tokio::spawn(async move {
        while let Some(v) = rx.recv().await {
            match v["janus"].as_str() {
                Some("trickle") => {
                    let c = &v["candidate"];
                    let line = c["candidate"].as_str().unwrap_or_default();
                    if let Some(addr) = sdp::parse_candidate(line) {
                        if let Ok(mut g) = e.lock() {
                            g.push(addr);
                        }
                    }
                }
                Some("webrtcup") => {
                    let _ = up_tx.send(true);
                }
                Some("hangup") if !*stopping.borrow() => {
                    eprintln!("warning: {who}: server hung up ({})", v["reason"]);
                }
                _ => {}
            }
        }
    });
    HandleEvents { extra, up }
}

fn jsep(kind: &str, sdp: String) -> Value {
    json!({"type": kind, "sdp": sdp, "trickle": false})
}

fn remote_of(
    who: &str,
    jsep: Option<&Value>,
    kind: &'static str,
) -> Result<RemoteDescription, RunError> {
    let sdp_text = jsep
        .filter(|j| j["type"] == kind)
        .and_then(|j| j["sdp"].as_str())
        .ok_or_else(|| RunError::NoJsep {
            who: who.to_owned(),
            kind,
        })?;
    sdp::parse(sdp_text).map_err(|source| RunError::Sdp {
        who: who.to_owned(),
        source,
    })
}

async fn attach(
    run: &Run,
    plugin: &str,
) -> Result<(u64, mpsc::UnboundedReceiver<Value>), RunError> {
    run.client.attach(plugin).await.map_err(|e| {
        if e.is_plugin_missing() {
            RunError::NotAvailable(format!("plugin {plugin} ({e})"))
        } else {
            e.into()
        }
    })
}

async fn video_room(
    run: &Arc<Run>,
    publishers: usize,
    subscribers: usize,
    mesh: bool,
) -> Result<(Vec<Running>, Cleanup), RunError> {
    const PLUGIN: &str = "janus.plugin.videoroom";
    let (ctl, _ctl_events) = attach(run, PLUGIN).await?;
    let room = room_id();
    run.client
        .message(
            "create room",
            ctl,
            json!({
                "request": "create", "room": room, "description": "ianus-load",
                "publishers": publishers + 1, "bitrate": 0, "fir_freq": 0,
                "audiocodec": "opus", "videocodec": "vp8", "notify_joining": false,
            }),
            None,
        )
        .await?;
    let client = run.client.clone();
    let cleanup: Cleanup = Box::pin(async move {
        let _ = client
            .message(
                "destroy room",
                ctl,
                json!({"request": "destroy", "room": room}),
                None,
            )
            .await;
    });
    let mut running = Vec::new();
    let mut feeds = Vec::with_capacity(publishers);
    let sem = Arc::new(Semaphore::new(run.opts.setup_concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in 0..publishers {
        let (run, sem) = (run.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            start_publisher(&run, room, i)
                .await
                .map(|(feed, p)| (i, feed, p))
        });
    }
    let mut pubs = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.map_err(|e| RunError::Unexpected {
            who: "publisher task".into(),
            reply: e.to_string(),
        })?;
        pubs.push(r?);
    }
    pubs.sort_by_key(|(i, _, _)| *i);
    for (_, feed, p) in pubs {
        feeds.push(feed);
        running.push(p);
    }
    let mut wanted: Vec<Vec<u64>> = Vec::new();
    if mesh {
        for i in 0..publishers {
            wanted.push(
                feeds
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, f)| *f)
                    .collect(),
            );
        }
    } else {
        for f in &feeds {
            for _ in 0..subscribers {
                wanted.push(vec![*f]);
            }
        }
    }
    let mut set = JoinSet::new();
    for (k, w) in wanted.into_iter().enumerate() {
        if w.is_empty() {
            continue;
        }
        let (run, sem) = (run.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            start_subscriber(&run, room, k, w).await
        });
    }
    while let Some(r) = set.join_next().await {
        let r = r.map_err(|e| RunError::Unexpected {
            who: "subscriber task".into(),
            reply: e.to_string(),
        })?;
        running.push(r?);
        if run.opts.progress && running.len() % 20 == 0 {
            eprintln!(
                "[{:6.1}s] setup: {} peers connected",
                run.started.elapsed().as_secs_f64(),
                running.len()
            );
        }
    }
    Ok((running, cleanup))
}

async fn start_publisher(run: &Arc<Run>, room: u64, i: usize) -> Result<(u64, Running), RunError> {
    let who = format!("publisher {i}");
    let setup = PeerSetup::bind(run.opts.bind, &run.common)
        .await
        .map_err(peer_err(&who))?;
    let (h, events) = attach(run, "janus.plugin.videoroom").await?;
    let events = watch_events(run, who.clone(), events);
    let joined = run
        .client
        .message(
            &format!("{who}: join"),
            h,
            json!({"request": "join", "ptype": "publisher", "room": room, "display": who}),
            None,
        )
        .await?;
    let feed = joined.data["id"]
        .as_u64()
        .ok_or_else(|| RunError::Unexpected {
            who: who.clone(),
            reply: joined.data.to_string(),
        })?;
    let ssrc: u32 = rand::random::<u32>() | 1;
    let offer = sdp::video_offer(&setup.local, ssrc, media::VIDEO_PT);
    let reply = run
        .client
        .message(
            &format!("{who}: publish"),
            h,
            json!({"request": "publish", "audio": false, "video": true, "data": false}),
            Some(jsep("offer", offer)),
        )
        .await?;
    let remote = remote_of(&who, reply.jsep.as_ref(), "answer")?;
    let mut peer = peer::connect(
        setup,
        &remote,
        events.extra.clone(),
        Role::Publisher,
        run.common.clone(),
    )
    .await
    .map_err(peer_err(&who))?;
    // Janus accepts subscribers to a feed only once its PeerConnection is up on its side.
    let mut up = events.up.clone();
    if tokio::time::timeout(Duration::from_secs(10), up.wait_for(|u| *u))
        .await
        .is_err()
    {
        eprintln!("warning: {who}: no webrtcup event within 10 s");
    }
    if let Some(srtp) = peer.srtp_out.take() {
        tokio::spawn(send_video(run.clone(), &peer, srtp, i, ssrc));
    }
    Ok((
        feed,
        Running {
            peer,
            rx_streams: 0,
        },
    ))
}

async fn start_subscriber(
    run: &Arc<Run>,
    room: u64,
    k: usize,
    feeds: Vec<u64>,
) -> Result<Running, RunError> {
    let who = format!("subscriber {k}");
    let setup = PeerSetup::bind(run.opts.bind, &run.common)
        .await
        .map_err(peer_err(&who))?;
    let (h, events) = attach(run, "janus.plugin.videoroom").await?;
    let events = watch_events(run, who.clone(), events);
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    let joined = run
        .client
        .message(
            &format!("{who}: join"),
            h,
            json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams}),
            None,
        )
        .await?;
    let remote = remote_of(&who, joined.jsep.as_ref(), "offer")?;
    let answer = sdp::subscriber_answer(&setup.local, &remote);
    run.client
        .message(
            &format!("{who}: start"),
            h,
            json!({"request": "start"}),
            Some(jsep("answer", answer)),
        )
        .await?;
    let peer = peer::connect(
        setup,
        &remote,
        events.extra.clone(),
        Role::Subscriber,
        run.common.clone(),
    )
    .await
    .map_err(peer_err(&who))?;
    Ok(Running {
        peer,
        rx_streams: feeds.len(),
    })
}

async fn audio_bridge(
    run: &Arc<Run>,
    participants: usize,
    talkers: usize,
) -> Result<(Vec<Running>, Cleanup), RunError> {
    const PLUGIN: &str = "janus.plugin.audiobridge";
    let (ctl, _ctl_events) = attach(run, PLUGIN).await?;
    let room = room_id();
    run.client
        .message(
            "create room",
            ctl,
            json!({"request": "create", "room": room, "description": "ianus-load",
                   "sampling_rate": 48000, "audiolevel_event": false}),
            None,
        )
        .await?;
    let client = run.client.clone();
    let cleanup: Cleanup = Box::pin(async move {
        let _ = client
            .message(
                "destroy room",
                ctl,
                json!({"request": "destroy", "room": room}),
                None,
            )
            .await;
    });
    let encode = |sound| {
        media::opus_frames(5, 32_000, sound)
            .map(Arc::new)
            .map_err(|e| RunError::Unexpected {
                who: "libopus".into(),
                reply: e.to_string(),
            })
    };
    let (tone, quiet) = (encode(media::Sound::Tone)?, encode(media::Sound::Quiet)?);
    let sem = Arc::new(Semaphore::new(run.opts.setup_concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in 0..participants {
        let frames = if i < talkers { &tone } else { &quiet }.clone();
        let (run, sem) = (run.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            start_participant(&run, room, i, frames).await
        });
    }
    let mut running = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.map_err(|e| RunError::Unexpected {
            who: "participant task".into(),
            reply: e.to_string(),
        })?;
        running.push(r?);
    }
    Ok((running, cleanup))
}

async fn start_participant(
    run: &Arc<Run>,
    room: u64,
    i: usize,
    frames: Arc<Vec<media::AudioFrame>>,
) -> Result<Running, RunError> {
    let who = format!("participant {i}");
    let setup = PeerSetup::bind(run.opts.bind, &run.common)
        .await
        .map_err(peer_err(&who))?;
    let (h, events) = attach(run, "janus.plugin.audiobridge").await?;
    let events = watch_events(run, who.clone(), events);
    run.client
        .message(
            &format!("{who}: join"),
            h,
            json!({"request": "join", "room": room, "display": who}),
            None,
        )
        .await?;
    let ssrc: u32 = rand::random::<u32>() | 1;
    let offer = sdp::audio_offer(&setup.local, ssrc, media::OPUS_PT);
    let reply = run
        .client
        .message(
            &format!("{who}: configure"),
            h,
            json!({"request": "configure", "muted": false}),
            Some(jsep("offer", offer)),
        )
        .await?;
    let remote = remote_of(&who, reply.jsep.as_ref(), "answer")?;
    let mut peer = peer::connect(
        setup,
        &remote,
        events.extra.clone(),
        Role::Audio,
        run.common.clone(),
    )
    .await
    .map_err(peer_err(&who))?;
    let level_ext = remote
        .media
        .iter()
        .find(|m| m.kind == "audio")
        .and_then(|m| m.audio_level_ext);
    if let Some(srtp) = peer.srtp_out.take() {
        let sender = AudioSender {
            index: i,
            ssrc,
            level_ext,
            frames,
        };
        tokio::spawn(send_audio(run.clone(), &peer, srtp, sender));
    }
    Ok(Running {
        peer,
        rx_streams: 1,
    })
}

/// The video sender: 30 frames/s from the templates; a keyframe every `keyframe_secs` and at
/// most once a second on request. Only the RTP header and the trailer change per packet.
fn send_video(
    run: Arc<Run>,
    peer: &Connected,
    mut srtp: media_core::srtp::SrtpContext,
    stream: usize,
    ssrc: u32,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (socket, remote, live) = (peer.socket.clone(), peer.remote, peer.live.clone());
    let counters = run.sent[stream].clone();
    let mut stop = run.stop_send.subscribe();
    async move {
        let src = VideoSource::new(run.opts.bitrate, run.opts.keyframe_secs);
        let mut plain = Vec::with_capacity(1500);
        let mut enc = Vec::with_capacity(1600);
        let mut rtp_seq: u16 = rand::random();
        let mut rtp_ts: u32 = rand::random();
        let mut picture_id: u16 = rand::random::<u16>() & 0x7fff;
        let mut seq: u32 = 0;
        let mut frame: u64 = 0;
        let mut last_requested_key = Instant::now() - Duration::from_secs(10);
        let mut tick =
            tokio::time::interval(Duration::from_micros(1_000_000 / u64::from(media::FPS)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let mut key = frame.is_multiple_of(u64::from(src.keyframe_every));
            if live.keyframe_request.swap(false, Ordering::Relaxed)
                && last_requested_key.elapsed() >= Duration::from_secs(1)
            {
                key = true;
                last_requested_key = Instant::now();
            }
            let t = if key { &src.key } else { &src.delta };
            let n = t.bodies.len();
            for (k, body) in t.bodies.iter().enumerate() {
                let trailer = Trailer {
                    stream: stream as u32,
                    seq,
                    send_us: media::now_us(run.common.epoch),
                };
                media::write_video_packet(
                    &mut plain,
                    ssrc,
                    rtp_seq,
                    rtp_ts,
                    k + 1 == n,
                    picture_id,
                    k == 0,
                    body,
                    trailer,
                );
                if let Ok(p) = srtp.protect_rtp_into(&plain, &mut enc) {
                    let _ = socket.send_to(p, remote).await;
                }
                counters.packets.fetch_add(1, Ordering::Relaxed);
                counters
                    .last_seq_plus1
                    .store(u64::from(seq) + 1, Ordering::Relaxed);
                seq = seq.wrapping_add(1);
                rtp_seq = rtp_seq.wrapping_add(1);
            }
            rtp_ts = rtp_ts.wrapping_add(media::VIDEO_CLOCK / media::FPS);
            picture_id = (picture_id + 1) & 0x7fff;
            frame += 1;
        }
    }
}

/// What one participant sends.
struct AudioSender {
    index: usize,
    ssrc: u32,
    /// The ssrc-audio-level id the server accepted (None: no extension).
    level_ext: Option<u8>,
    frames: Arc<Vec<media::AudioFrame>>,
}

/// The Opus sender: one pre-encoded 20 ms frame every 20 ms, cycling through the frames.
fn send_audio(
    run: Arc<Run>,
    peer: &Connected,
    mut srtp: media_core::srtp::SrtpContext,
    sender: AudioSender,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let AudioSender {
        index,
        ssrc,
        level_ext,
        frames,
    } = sender;
    let (socket, remote) = (peer.socket.clone(), peer.remote);
    let counters = run.sent[index].clone();
    let mut stop = run.stop_send.subscribe();
    async move {
        let mut plain = Vec::with_capacity(1500);
        let mut enc = Vec::with_capacity(1600);
        let mut seq: u16 = rand::random();
        let mut ts: u32 = rand::random();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for f in frames.iter().cycle() {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            media::write_audio_packet(&mut plain, ssrc, seq, ts, f, level_ext);
            if let Ok(p) = srtp.protect_rtp_into(&plain, &mut enc) {
                let _ = socket.send_to(p, remote).await;
            }
            counters.packets.fetch_add(1, Ordering::Relaxed);
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(960);
        }
    }
}

fn total_valid(peers: &[Running]) -> u64 {
    peers
        .iter()
        .map(|p| p.peer.live.valid.load(Ordering::Relaxed))
        .sum()
}

fn total_sent(run: &Run) -> u64 {
    run.sent
        .iter()
        .map(|c| c.packets.load(Ordering::Relaxed))
        .sum()
}

/// Warm-up, the measured window, then stop and collect.
async fn measure(run: &Arc<Run>, scenario: &Scenario, peers: Vec<Running>) -> Report {
    let opts = &run.opts;
    let setup_s = run.started.elapsed().as_secs_f64();
    let receivers: Vec<&Running> = peers.iter().filter(|p| p.rx_streams > 0).collect();
    let sub_streams: usize = receivers.iter().map(|p| p.rx_streams).sum();
    // Wait (bounded) until every receiving peer has media, then warm up.
    let deadline = Instant::now() + opts.media_timeout;
    while Instant::now() < deadline
        && receivers
            .iter()
            .any(|p| p.peer.live.valid.load(Ordering::Relaxed) == 0)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if opts.progress {
        eprintln!(
            "[{:6.1}s] {} peers up; warm-up {:.0} s",
            run.started.elapsed().as_secs_f64(),
            peers.len(),
            opts.warmup.as_secs_f64()
        );
    }
    tokio::time::sleep(opts.warmup).await;

    let pid = opts.server_pid;
    let load0 = procstat::loadavg();
    let s0 = pid.and_then(|p| procstat::sample(Some(p)));
    let t0 = procstat::sample(None).unwrap_or_default();
    let (r0, sent0, w0) = (total_valid(&peers), total_sent(run), Instant::now());
    run.common.measuring.store(true, Ordering::Relaxed);
    let mut last = (r0, w0, s0, t0);
    let end = w0 + opts.duration;
    while Instant::now() < end {
        let step = (end - Instant::now()).min(Duration::from_secs(1));
        tokio::time::sleep(step).await;
        if opts.progress {
            let now = Instant::now();
            let r = total_valid(&peers);
            let dt = now.duration_since(last.1).as_secs_f64().max(1e-3);
            let sv = pid.and_then(|p| procstat::sample(Some(p)));
            let me = procstat::sample(None).unwrap_or_default();
            let server = match (sv, last.2) {
                (Some(a), Some(b)) => format!("{:5.1} %", (a.cpu_s() - b.cpu_s()) / dt * 100.0),
                _ => "n/a".to_owned(),
            };
            eprintln!(
                "[{:6.1}s] measuring: {:7.0} pkt/s received, server CPU {server}, tool CPU {:5.1} %",
                run.started.elapsed().as_secs_f64(),
                (r - last.0) as f64 / dt,
                (me.cpu_s() - last.3.cpu_s()) / dt * 100.0
            );
            last = (r, now, sv, me);
        }
    }
    let (r1, sent1) = (total_valid(&peers), total_sent(run));
    let window_s = w0.elapsed().as_secs_f64();
    let s1 = pid.and_then(|p| procstat::sample(Some(p)));
    let t1 = procstat::sample(None).unwrap_or_default();
    let loadavg = [load0, procstat::loadavg()];
    run.common.measuring.store(false, Ordering::Relaxed);

    // Stop the senders, let the last packets arrive, then stop the receivers.
    let _ = run.stop_send.send(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let last_sent: Vec<u64> = run
        .sent
        .iter()
        .map(|c| c.last_seq_plus1.load(Ordering::Relaxed))
        .collect();
    let mut rx_reports: Vec<(usize, RxReport)> = Vec::new();
    for p in peers {
        rx_reports.push((p.rx_streams, p.peer.stop().await));
    }
    let received = r1 - r0;
    let mut loss = LossFigures::default();
    let mut integ = IntegrityFigures::default();
    let mut latency = Histogram::new();
    let mut without_media = 0usize;
    for (n, r) in &rx_reports {
        if *n == 0 {
            continue;
        }
        without_media += n.saturating_sub(r.streams.len());
        for s in &r.streams {
            let last = match scenario {
                Scenario::VideoRoom { .. } => last_sent
                    .get(s.stream as usize)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(1),
                // The mix has no sender-side sequence: count gaps up to the last received.
                Scenario::AudioBridge { .. } => s.seq.highest(),
            };
            let expected = s.seq.first().map_or(0, |f| (last + 1).saturating_sub(f));
            loss.expected += expected;
            loss.lost += s.seq.lost_until(last);
            loss.duplicates += s.seq.duplicates;
            loss.too_old += s.seq.too_old;
            loss.reordered += s.seq.reordered;
            loss.seq_mismatch += s.seq_mismatch;
        }
        integ.auth_failures += r.auth_failures;
        integ.replayed += r.replayed;
        integ.malformed += r.malformed;
        integ.no_trailer += r.no_trailer;
        integ.corrupt += r.corrupt;
        latency.merge(&r.latency);
    }
    integ.failures = integ.auth_failures + integ.malformed + integ.no_trailer + integ.corrupt;
    loss.loss_pct = if loss.expected > 0 {
        loss.lost as f64 * 100.0 / loss.expected as f64
    } else {
        0.0
    };
    let server = match (pid, s0, s1) {
        (Some(pid), Some(a), Some(b)) => {
            Some(server_figures(pid, a, b, window_s, received, sub_streams))
        }
        _ => None,
    };
    let tool_cpu = t1.cpu_s() - t0.cpu_s();
    let (kind, publishers, subscribers_per_publisher, mesh, participants) = match *scenario {
        Scenario::VideoRoom {
            publishers,
            subscribers,
            mesh,
        } => (
            "videoroom",
            publishers,
            if mesh { 0 } else { subscribers },
            mesh,
            0,
        ),
        Scenario::AudioBridge { participants, .. } => ("audiobridge", 0, 0, false, participants),
    };
    let talkers = match *scenario {
        Scenario::AudioBridge {
            participants,
            talkers,
        } => talkers.min(participants),
        Scenario::VideoRoom { .. } => 0,
    };
    Report {
        label: opts.label.clone(),
        server_url: opts.url.clone(),
        scenario: ScenarioInfo {
            kind,
            publishers,
            subscribers_per_publisher,
            mesh,
            participants,
            talkers,
            bitrate_bps: if kind == "videoroom" {
                opts.bitrate
            } else {
                32_000
            },
        },
        peers: rx_reports.len(),
        sub_streams,
        setup_s,
        window_s,
        sent_packets: sent1 - sent0,
        received_packets: received,
        forwarded_pps: received as f64 / window_s,
        server,
        tool: ToolFigures {
            cpu_s: tool_cpu,
            cpu_pct: tool_cpu / window_s * 100.0,
            rss_bytes: t1.rss_bytes,
        },
        loss,
        integrity: integ,
        latency_us: (latency.count() > 0).then(|| LatencyFigures {
            p50: latency.quantile(0.5).unwrap_or(0),
            p99: latency.quantile(0.99).unwrap_or(0),
            samples: latency.count(),
        }),
        streams_without_media: without_media,
        loadavg_1m: loadavg,
    }
}

fn server_figures(
    pid: u32,
    a: ProcSample,
    b: ProcSample,
    window_s: f64,
    received: u64,
    sub_streams: usize,
) -> ServerFigures {
    let cpu = (b.cpu_s() - a.cpu_s()).max(0.0);
    ServerFigures {
        pid,
        cpu_s: cpu,
        user_s: b.user_s - a.user_s,
        sys_s: b.sys_s - a.sys_s,
        cpu_pct: cpu / window_s * 100.0,
        cpu_us_per_packet: (received > 0).then(|| cpu * 1e6 / received as f64),
        millicores_per_sub_stream: if sub_streams > 0 {
            cpu / window_s * 1000.0 / sub_streams as f64
        } else {
            0.0
        },
        packets_per_cpu_second: (cpu > 0.0).then(|| received as f64 / cpu),
        rss_bytes: b.rss_bytes,
    }
}
