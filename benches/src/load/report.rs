//! The result of one run: a JSON document (serde) and the same figures as a table.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub server_url: String,
    pub scenario: ScenarioInfo,
    /// Peers the tool ran (publishers + subscriber PCs, or participants).
    pub peers: usize,
    /// Streams the server sends to subscribers (a mesh subscriber PC carries several).
    pub sub_streams: usize,
    pub setup_s: f64,
    pub window_s: f64,
    /// Media packets the tool sent during the window.
    pub sent_packets: u64,
    /// Packets received during the window that passed every check (first copies only).
    pub received_packets: u64,
    pub forwarded_pps: f64,
    pub server: Option<ServerFigures>,
    pub tool: ToolFigures,
    pub loss: LossFigures,
    pub integrity: IntegrityFigures,
    pub latency_us: Option<LatencyFigures>,
    /// Subscriber streams that received nothing at all.
    pub streams_without_media: usize,
    /// The machine's 1-minute load average at the window's start and end: other work on the
    /// machine competes with the server and the tool.
    pub loadavg_1m: [Option<f64>; 2],
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub kind: &'static str,
    pub publishers: usize,
    pub subscribers_per_publisher: usize,
    pub mesh: bool,
    pub participants: usize,
    /// AudioBridge: participants sending a tone (the others send a quiet microphone).
    pub talkers: usize,
    pub bitrate_bps: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    pub pid: u32,
    pub cpu_s: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// Percent of one core.
    pub cpu_pct: f64,
    pub cpu_us_per_packet: Option<f64>,
    /// CPU per subscriber stream, in thousandths of a core.
    pub millicores_per_sub_stream: f64,
    pub packets_per_cpu_second: Option<f64>,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolFigures {
    pub cpu_s: f64,
    pub cpu_pct: f64,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct LossFigures {
    /// Packets the subscribers should have received (first received .. last sent).
    pub expected: u64,
    pub lost: u64,
    pub loss_pct: f64,
    pub duplicates: u64,
    pub too_old: u64,
    pub reordered: u64,
    pub seq_mismatch: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct IntegrityFigures {
    pub auth_failures: u64,
    pub replayed: u64,
    pub malformed: u64,
    pub no_trailer: u64,
    pub corrupt: u64,
    /// auth_failures + malformed + no_trailer + corrupt.
    pub failures: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigures {
    pub p50: u64,
    pub p99: u64,
    pub samples: u64,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.prec$}"))
}

impl Report {
    /// The human-readable table (stdout).
    pub fn table(&self) -> String {
        let s = &self.scenario;
        let shape = match s.kind {
            "audiobridge" => format!(
                "AudioBridge, {} participants ({} talking)",
                s.participants, s.talkers
            ),
            _ if s.mesh => format!("VideoRoom mesh, {} publishers", s.publishers),
            _ => format!(
                "VideoRoom, {} publisher(s) x {} subscribers",
                s.publishers, s.subscribers_per_publisher
            ),
        };
        let mut rows: Vec<(&str, String)> = vec![
            ("run", format!("{} — {shape}", self.label)),
            ("server", self.server_url.clone()),
            (
                "peers / sub-streams",
                format!("{} / {}", self.peers, self.sub_streams),
            ),
            ("setup", format!("{:.2} s", self.setup_s)),
            ("window", format!("{:.1} s", self.window_s)),
            ("sent packets", self.sent_packets.to_string()),
            ("received valid packets", self.received_packets.to_string()),
            ("forwarded packets/s", format!("{:.0}", self.forwarded_pps)),
        ];
        match &self.server {
            Some(sv) => {
                rows.push((
                    "server CPU",
                    format!(
                        "{:.1} % of a core ({:.2} s user, {:.2} s sys)",
                        sv.cpu_pct, sv.user_s, sv.sys_s
                    ),
                ));
                rows.push(("server CPU µs/packet", opt(sv.cpu_us_per_packet, 2)));
                rows.push((
                    "server millicores/sub-stream",
                    format!("{:.2}", sv.millicores_per_sub_stream),
                ));
                rows.push(("packets per CPU-second", opt(sv.packets_per_cpu_second, 0)));
                rows.push((
                    "server RSS",
                    format!("{:.1} MiB", sv.rss_bytes as f64 / 1048576.0),
                ));
            }
            None => rows.push(("server CPU", "n/a (no --server-pid)".to_owned())),
        }
        rows.push((
            "tool CPU (apart)",
            format!(
                "{:.1} % of a core, RSS {:.1} MiB",
                self.tool.cpu_pct,
                self.tool.rss_bytes as f64 / 1048576.0
            ),
        ));
        rows.push((
            "loss",
            format!(
                "{} of {} ({:.3} %), duplicates {}, reordered {}, rtp-seq mismatches {}",
                self.loss.lost,
                self.loss.expected,
                self.loss.loss_pct,
                self.loss.duplicates,
                self.loss.reordered,
                self.loss.seq_mismatch
            ),
        ));
        let i = &self.integrity;
        rows.push((
            "integrity failures",
            format!(
                "{} (auth {}, malformed {}, foreign {}, corrupt {}; replayed {})",
                i.failures, i.auth_failures, i.malformed, i.no_trailer, i.corrupt, i.replayed
            ),
        ));
        rows.push((
            "latency send→receive",
            self.latency_us.as_ref().map_or_else(
                || "n/a (mixed audio carries no send stamp)".to_owned(),
                |l| format!("p50 {} µs, p99 {} µs ({} samples)", l.p50, l.p99, l.samples),
            ),
        ));
        rows.push((
            "streams without media",
            self.streams_without_media.to_string(),
        ));
        if let [Some(a), Some(b)] = self.loadavg_1m {
            rows.push(("machine load (1 min)", format!("{a:.2} → {b:.2}")));
        }
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k:<w$}  {v}\n"));
        }
        out
    }
}
