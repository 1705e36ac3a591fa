//! The mixing task: one tokio task per room owning a [`MixCore`] (`&mut`, no lock per
//! packet), fed by an unbounded control channel (signalling rate) and a bounded media channel
//! (packet rate; full = drop and count, never block the engine's receive task).
//!
//! Cadence: the task sleeps until the core's next frame instant, which is always
//! `start + k × 20 ms`: a late wake-up runs the frames it missed back to back (what
//! `MissedTickBehavior::Burst` does for an interval) instead of shifting the grid, so the
//! cadence never drifts; beyond [`super::MAX_CATCH_UP`] the core skips frames. The clock is
//! tokio's, so tests run it with paused time. Decoding and encoding are CPU work done in the
//! task; nothing in it waits on IO: sends are non-blocking (`Peer::send_rtp`, `try_send_to`)
//! and Ogg files are read on the blocking pool.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::ogg;
use super::room::{CoreStats, MixCore, MixError, MixOutput};
use super::wav::WavRecorder;
use super::{IncomingRtp, MixerConfig, MixerEvent, MixerInput, MixerObserver, ParticipantId};
use crate::engine::{MediaKind, MediaSink, Peer, RtpIn};

/// Media-channel depth: ~1 s of a 100-participant room at 50 packets/s each.
pub const MEDIA_QUEUE: usize = 8192;
/// Packets taken from the channel per wake-up.
const MEDIA_BATCH: usize = 128;

/// Counters of one room, readable from any thread (metrics, Admin API).
#[derive(Debug, Default)]
pub struct MixerStats {
    pub packets_in: AtomicU64,
    /// Malformed RTP, wrong payload type, unknown participant: dropped.
    pub packets_invalid: AtomicU64,
    pub packets_late: AtomicU64,
    pub duplicates: AtomicU64,
    pub jitter_overflows: AtomicU64,
    pub fec_frames: AtomicU64,
    pub plc_frames: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Packets not decoded because nobody would hear them.
    pub decodes_skipped: AtomicU64,
    pub encode_errors: AtomicU64,
    /// Mixing periods run, and skipped because the task fell behind.
    pub frames: AtomicU64,
    pub frames_skipped: AtomicU64,
    /// Opus encodes run (one per distinct mix per frame).
    pub encodes: AtomicU64,
    /// Encoders in use now, and created in total.
    pub encoders_live: AtomicU64,
    pub encoders_created: AtomicU64,
    /// Contributors (own mix-minus) in the last frame.
    pub contributors: AtomicU64,
    pub packets_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Packets dropped because the media channel was full.
    pub media_queue_drops: AtomicU64,
    /// Sends that failed (peer not connected yet, socket busy).
    pub send_errors: AtomicU64,
    /// Recorded frames dropped because the WAV writer fell behind.
    pub record_drops: AtomicU64,
}

impl MixerStats {
    fn publish(&self, c: &CoreStats, send_errors: u64) {
        let r = Ordering::Relaxed;
        self.packets_in.store(c.packets_in, r);
        self.packets_invalid.store(c.packets_invalid, r);
        self.packets_late.store(c.packets_late, r);
        self.duplicates.store(c.duplicates, r);
        self.jitter_overflows.store(c.jitter_overflows, r);
        self.fec_frames.store(c.fec_frames, r);
        self.plc_frames.store(c.plc_frames, r);
        self.decode_errors.store(c.decode_errors, r);
        self.decodes_skipped.store(c.decodes_skipped, r);
        self.encode_errors.store(c.encode_errors, r);
        self.frames.store(c.frames, r);
        self.frames_skipped.store(c.frames_skipped, r);
        self.encodes.store(c.encodes, r);
        self.encoders_live.store(c.encoders_live, r);
        self.encoders_created.store(c.encoders_created, r);
        self.contributors.store(c.contributors, r);
        self.packets_out.store(c.packets_out, r);
        self.bytes_out.store(c.bytes_out, r);
        self.send_errors.store(send_errors, r);
    }
}

enum Control {
    Input(MixerInput),
    /// An Ogg Opus file read on the blocking pool.
    FileLoaded {
        file_id: String,
        packets: Vec<Bytes>,
        loop_: bool,
        group: usize,
    },
    FileFailed {
        file_id: String,
        reason: String,
    },
    Close,
}

/// The plugin's handle on a room's mixing task. Cheap to clone; the task ends on
/// [`close`](Self::close) or when every handle is gone.
#[derive(Clone)]
pub struct MixerHandle {
    ctrl: mpsc::UnboundedSender<Control>,
    media: mpsc::Sender<IncomingRtp>,
    stats: Arc<MixerStats>,
}

impl std::fmt::Debug for MixerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixerHandle").finish_non_exhaustive()
    }
}

impl MixerHandle {
    /// Starts the room's mixing task (inside a tokio runtime). Fails on an unsupported
    /// sampling rate.
    pub fn spawn(
        config: MixerConfig,
        observer: Arc<dyn MixerObserver>,
    ) -> Result<MixerHandle, MixError> {
        let core = MixCore::new(config, tokio::time::Instant::now().into_std())?;
        let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
        let (media, media_rx) = mpsc::channel(MEDIA_QUEUE);
        let stats = Arc::new(MixerStats::default());
        tokio::spawn(run(
            core,
            ctrl.clone(),
            ctrl_rx,
            media_rx,
            observer,
            stats.clone(),
        ));
        Ok(MixerHandle { ctrl, media, stats })
    }

    /// Control input: never dropped (unbounded channel, bounded by signalling rate).
    pub fn control(&self, input: MixerInput) {
        // A send error means the task ended (room closed): nothing left to configure.
        let _ = self.ctrl.send(Control::Input(input));
    }

    /// The sink to install on a WebRTC participant's peer (`peer.set_sink(..)`): its audio
    /// goes into the bounded media channel, dropped and counted when full.
    pub fn participant_sink(&self, id: ParticipantId) -> Arc<dyn MediaSink> {
        Arc::new(ParticipantSink {
            id,
            handle: self.clone(),
        })
    }

    /// One RTP packet of a plain-RTP participant (see [`super::udp`]). `false` once the room
    /// is closed; a full channel drops and counts but returns `true`.
    pub fn push_rtp(&self, id: ParticipantId, packet: Bytes) -> bool {
        match self.media.try_send(IncomingRtp { id, packet }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.media_queue_drops.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn stats(&self) -> &MixerStats {
        &self.stats
    }

    /// Whether the task has ended.
    pub fn is_closed(&self) -> bool {
        self.ctrl.is_closed()
    }

    /// Ends the task (room destroyed).
    pub fn close(&self) {
        let _ = self.ctrl.send(Control::Close);
    }
}

/// Runs on the engine's receive task: one `try_send`, nothing else.
struct ParticipantSink {
    id: ParticipantId,
    handle: MixerHandle,
}

impl MediaSink for ParticipantSink {
    fn on_rtp(&self, _peer: &Peer, rtp: RtpIn) {
        if rtp.kind == MediaKind::Audio {
            self.handle.push_rtp(self.id, rtp.packet);
        }
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

async fn run(
    mut core: MixCore,
    ctrl_tx: mpsc::UnboundedSender<Control>,
    mut ctrl_rx: mpsc::UnboundedReceiver<Control>,
    mut media_rx: mpsc::Receiver<IncomingRtp>,
    observer: Arc<dyn MixerObserver>,
    stats: Arc<MixerStats>,
) {
    let mut batch: Vec<IncomingRtp> = Vec::with_capacity(MEDIA_BATCH);
    let mut send_errors = 0u64;
    let mut media_open = true;
    // The tokio clock may have moved since the core was built (a paused test runtime).
    core.restart_clock(now());
    let mut recorder = None;
    let initial = core.config().record_file.clone();
    record(&mut core, &mut recorder, initial);
    // One timer, re-armed only when the core's next frame moves (once per frame).
    let mut armed = tokio::time::Instant::from_std(core.poll_timeout());
    let sleep = tokio::time::sleep_until(armed);
    tokio::pin!(sleep);
    let mut idle = core.is_idle();
    loop {
        // An empty room sleeps until an input arrives, then starts a fresh frame grid (no
        // burst of frames for the time it slept).
        let was_idle = std::mem::replace(&mut idle, core.is_idle());
        if was_idle && !idle {
            core.restart_clock(now());
        }
        let deadline = tokio::time::Instant::from_std(core.poll_timeout());
        if deadline != armed {
            armed = deadline;
            sleep.as_mut().reset(deadline);
        }
        tokio::select! {
            // Control first: a removed participant must not get one more frame.
            biased;
            c = ctrl_rx.recv() => match c {
                Some(Control::Input(input)) => match input {
                    MixerInput::PlayFile { file_id, path, loop_, group } => {
                        // File IO on the blocking pool; the packets come back as a control.
                        let tx = ctrl_tx.clone();
                        tokio::task::spawn_blocking(move || {
                            let msg = match ogg::read_opus_file(&path) {
                                Ok(packets) => Control::FileLoaded { file_id, packets, loop_, group },
                                Err(e) => Control::FileFailed { file_id, reason: e.to_string() },
                            };
                            let _ = tx.send(msg);
                        });
                    }
                    MixerInput::Record { path } => record(&mut core, &mut recorder, path),
                    input => {
                        let _ = core.handle_input(now(), input);
                    }
                },
                Some(Control::FileLoaded { file_id, packets, loop_, group }) => {
                    if let Err(e) = core.play_packets(file_id.clone(), packets, loop_, group) {
                        observer.on_event(MixerEvent::FileError { file_id, reason: e.to_string() });
                    }
                }
                Some(Control::FileFailed { file_id, reason }) => {
                    observer.on_event(MixerEvent::FileError { file_id, reason });
                }
                Some(Control::Close) | None => break,
            },
            n = media_rx.recv_many(&mut batch, MEDIA_BATCH), if media_open => {
                if n == 0 {
                    media_open = false;
                }
                let t = now();
                for rtp in batch.drain(..) {
                    core.handle_packet(t, rtp.id, rtp.packet);
                }
            }
            () = &mut sleep, if !idle => {
                let t = now();
                while core.handle_timeout(t) {
                    drain(&mut core, observer.as_ref(), &mut send_errors, &mut recorder);
                }
            }
        }
        drain(
            &mut core,
            observer.as_ref(),
            &mut send_errors,
            &mut recorder,
        );
        stats.publish(core.stats(), send_errors);
        if let Some(r) = &recorder {
            stats.record_drops.store(r.dropped, Ordering::Relaxed);
        }
    }
}

/// Starts (or stops, `None`) the WAV recording of the full mix. The writer thread creates
/// the file: nothing here touches the disk.
fn record(core: &mut MixCore, recorder: &mut Option<WavRecorder>, path: Option<PathBuf>) {
    *recorder = path.and_then(|path| {
        let (_, channels) = core.frame_format();
        match WavRecorder::start(path, core.config().sampling_rate, channels as u16) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "mix recording not started");
                None
            }
        }
    });
    core.set_recording(recorder.is_some());
}

/// Sends everything the core has queued. Each RTP output borrows the core's scratch buffer,
/// so it is sent before the next one is produced.
fn drain(
    core: &mut MixCore,
    observer: &dyn MixerObserver,
    send_errors: &mut u64,
    recorder: &mut Option<WavRecorder>,
) {
    while let Some(out) = core.poll_output() {
        match out {
            MixOutput::Rtp { out, packet, .. } => {
                if out.send_rtp(packet).is_err() {
                    *send_errors += 1;
                }
            }
            MixOutput::Event(e) => observer.on_event(e),
            MixOutput::Recording(pcm) => {
                if let Some(r) = recorder.as_mut() {
                    r.push(pcm);
                }
            }
        }
    }
}
