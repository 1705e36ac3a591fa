//! The one place metrics are named. `/metrics` (Prometheus text format) is served on the Admin
//! HTTP port; values are read at scrape time from the counters the engine and the gateway
//! keep anyway, so nothing on the packet path touches the registry.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use media_core::engine::Engine;
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use signaling::Gateway;

/// Scrape-time metrics: each scrape copies the live counters into the registry and encodes it.
pub struct Metrics {
    registry: Registry,
    gateway: Arc<Gateway>,
    engine: Engine,
    sessions: IntGauge,
    handles: IntGauge,
    peers: IntGaugeVec,
    counters: Vec<(IntCounter, EngineRead)>,
    audiobridge: AudioBridgeMetrics,
}

/// Reads one engine counter at scrape time.
type EngineRead = fn(&media_core::engine::EngineStats) -> u64;

/// Reads one AudioBridge counter from a scrape-time snapshot.
type AudioBridgeRead = fn(&crate::plugins::audiobridge::AudioBridgeMetrics) -> u64;

/// `janus.plugin.audiobridge`: rooms, participants and the mixers' counters.
struct AudioBridgeMetrics {
    rooms: IntGauge,
    participants: IntGauge,
    counters: Vec<(IntCounter, AudioBridgeRead)>,
}

impl AudioBridgeMetrics {
    fn new(registry: &Registry) -> AudioBridgeMetrics {
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let defs: [(&str, &str, AudioBridgeRead); 5] = [
            (
                "ianus_audiobridge_packets_in_total",
                "RTP packets received by the AudioBridge mixers",
                |m| m.packets_in,
            ),
            (
                "ianus_audiobridge_packets_out_total",
                "Mixed RTP packets sent by the AudioBridge mixers",
                |m| m.packets_out,
            ),
            (
                "ianus_audiobridge_packets_invalid_total",
                "Malformed or unexpected RTP dropped by the AudioBridge mixers",
                |m| m.packets_invalid,
            ),
            (
                "ianus_audiobridge_queue_drops_total",
                "Packets dropped because a mixer's media queue was full",
                |m| m.queue_drops,
            ),
            (
                "ianus_audiobridge_frames_skipped_total",
                "Mixing periods skipped because a mixer task fell behind",
                |m| m.frames_skipped,
            ),
        ];
        AudioBridgeMetrics {
            rooms: gauge("ianus_audiobridge_rooms", "AudioBridge rooms"),
            participants: gauge(
                "ianus_audiobridge_participants",
                "Participants in AudioBridge rooms",
            ),
            counters: defs
                .iter()
                .map(|(n, h, f)| (counter(registry, n, h), *f))
                .collect(),
        }
    }

    fn update(&self) {
        let m = crate::plugins::audiobridge::metrics();
        self.rooms.set(i64::try_from(m.rooms).unwrap_or(i64::MAX));
        self.participants
            .set(i64::try_from(m.participants).unwrap_or(i64::MAX));
        for (c, read) in &self.counters {
            let v = read(&m);
            let cur = c.get();
            if v > cur {
                c.inc_by(v - cur);
            }
        }
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::with_opts(Opts::new(name, help)).expect("metric names are valid constants");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

impl Metrics {
    pub fn new(gateway: Arc<Gateway>, engine: Engine) -> Metrics {
        let registry = Registry::new();
        let sessions = IntGauge::new("ianus_sessions", "Janus API sessions alive").expect("valid");
        registry
            .register(Box::new(sessions.clone()))
            .expect("registered once");
        let handles = IntGauge::new("ianus_handles", "Plugin handles alive").expect("valid");
        registry
            .register(Box::new(handles.clone()))
            .expect("registered once");
        let peers = IntGaugeVec::new(
            Opts::new("ianus_peers", "PeerConnections by transport state"),
            &["state"],
        )
        .expect("valid");
        registry
            .register(Box::new(peers.clone()))
            .expect("registered once");
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = registry.register(Box::new(pc));
        }
        let defs: [(&str, &str, EngineRead); 15] = [
            (
                "ianus_media_rtp_packets_in_total",
                "SRTP packets received and decrypted",
                |s| s.rtp_packets_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_rtp_bytes_in_total",
                "RTP bytes received (decrypted)",
                |s| s.rtp_bytes_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_audio_packets_in_total",
                "Audio RTP packets received",
                |s| s.audio_packets_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_video_packets_in_total",
                "Video RTP packets received",
                |s| s.video_packets_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_audio_bytes_in_total",
                "Audio RTP bytes received",
                |s| s.audio_bytes_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_video_bytes_in_total",
                "Video RTP bytes received",
                |s| s.video_bytes_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_rtcp_packets_in_total",
                "SRTCP packets received and decrypted",
                |s| s.rtcp_packets_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_packets_out_total",
                "Datagrams sent on the media socket",
                |s| s.packets_out.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_bytes_out_total",
                "Bytes sent on the media socket",
                |s| s.bytes_out.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_send_drops_total",
                "Datagrams dropped because the socket was busy",
                |s| s.send_drops.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_nacks_in_total",
                "NACK feedback packets received",
                |s| s.nacks_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_plis_in_total",
                "PLI/FIR feedback packets received",
                |s| s.plis_in.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_srtp_failures_total",
                "Packets that failed SRTP/SRTCP authentication",
                |s| s.srtp_failures.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_dtls_failures_total",
                "DTLS handshakes that failed or timed out",
                |s| s.dtls_failures.load(Ordering::Relaxed),
            ),
            (
                "ianus_media_malformed_dropped_total",
                "Malformed or unroutable packets dropped",
                |s| {
                    s.malformed_dropped.load(Ordering::Relaxed)
                        + s.unknown_source_dropped.load(Ordering::Relaxed)
                },
            ),
        ];
        let counters = defs
            .iter()
            .map(|(n, h, f)| (counter(&registry, n, h), *f))
            .collect();
        let audiobridge = AudioBridgeMetrics::new(&registry);
        Metrics {
            registry,
            gateway,
            engine,
            sessions,
            handles,
            peers,
            counters,
            audiobridge,
        }
    }

    /// Encodes the current values in the Prometheus text format.
    pub fn render(&self) -> String {
        let g = self.gateway.stats();
        self.sessions.set(g.sessions as i64);
        self.handles.set(g.handles as i64);
        let s = self.engine.stats();
        let total = s.peers.load(Ordering::Relaxed) as i64;
        let ice = s.peers_ice_connected.load(Ordering::Relaxed) as i64;
        let dtls = s.peers_dtls_connected.load(Ordering::Relaxed) as i64;
        self.peers.with_label_values(&["all"]).set(total);
        self.peers.with_label_values(&["ice_connected"]).set(ice);
        self.peers.with_label_values(&["dtls_connected"]).set(dtls);
        for (c, read) in &self.counters {
            let v = read(s);
            let cur = c.get();
            if v > cur {
                c.inc_by(v - cur);
            }
        }
        self.audiobridge.update();
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
