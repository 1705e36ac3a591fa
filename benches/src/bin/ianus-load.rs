//! `ianus-load`: drives any Janus-protocol server (Ianus, Janus) through its WebSocket API with
//! simulated WebRTC peers, and measures the server: CPU per forwarded packet and per
//! subscriber stream, forwarded packets/s, loss, duplicates, latency, RSS. See "Load tool" in
//! README.md, `benches/compare.sh` and `benches/results/README.md`.
//!
//! Exit status: 0 done, 1 error (unreachable server, refused request, ICE/DTLS failure),
//! 2 the run completed but no valid media arrived, 3 the scenario is not available on this
//! server (plugin missing).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ianus_benches::load::scenario::{self, RunError, RunOptions, Scenario};

#[derive(Parser, Debug)]
#[command(
    name = "ianus-load",
    version,
    about = "Load generator for Janus-protocol servers (VideoRoom, AudioBridge): real ICE, DTLS, SRTP"
)]
struct Cli {
    /// The server's WebSocket API.
    #[arg(long, default_value = "ws://127.0.0.1:8188", global = true)]
    url: String,
    /// PID of the server process, for its CPU time and RSS (from /proc).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Local address the simulated peers bind and announce.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    bind: IpAddr,
    /// Length of the measured window, seconds.
    #[arg(long, default_value_t = 10.0, global = true)]
    duration: f64,
    /// Seconds of media before the window starts (after every stream has its first packet).
    #[arg(long, default_value_t = 2.0, global = true)]
    warmup: f64,
    /// Seconds to wait for every subscriber stream's first packet.
    #[arg(long, default_value_t = 20.0, global = true)]
    media_timeout: f64,
    /// Seconds to wait for the WebSocket connection and for each API reply.
    #[arg(long, default_value_t = 15.0, global = true)]
    request_timeout: f64,
    /// Peers set up at the same time.
    #[arg(long, default_value_t = 8, global = true)]
    setup_concurrency: usize,
    /// Tokio worker threads of the tool (its CPU competes with the server's).
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    /// Upper bound on the whole run, seconds.
    #[arg(long, default_value_t = 300.0, global = true)]
    max_runtime: f64,
    /// Write the report as JSON here.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// A name for this run in the report.
    #[arg(long, default_value = "run", global = true)]
    label: String,
    /// No progress lines on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// VideoRoom: P publishers, S subscribers per publisher (or a mesh).
    Videoroom {
        #[arg(long, short = 'p', default_value_t = 1)]
        publishers: usize,
        #[arg(long, short = 's', default_value_t = 10)]
        subscribers: usize,
        /// Every publisher subscribes to every other publisher (one PC each).
        #[arg(long)]
        mesh: bool,
        /// Video bitrate per publisher, bit/s.
        #[arg(long, default_value_t = 1_000_000)]
        bitrate: u64,
        /// Seconds between periodic keyframes.
        #[arg(long, default_value_t = 2)]
        keyframe_secs: u32,
    },
    /// AudioBridge: N participants sending Opus and receiving the mix.
    Audiobridge {
        #[arg(long, short = 'n', default_value_t = 10)]
        participants: usize,
        /// Participants that talk (a tone); the others send a quiet microphone (−60 dBov).
        /// Every packet carries its audio level when the server accepts the extension.
        /// Default: all of them.
        #[arg(long)]
        talkers: Option<usize>,
    },
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.clamp(0.0, 86_400.0))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let (scenario, bitrate, keyframe_secs) = match cli.command {
        Command::Videoroom {
            publishers,
            subscribers,
            mesh,
            bitrate,
            keyframe_secs,
        } => (
            Scenario::VideoRoom {
                publishers: publishers.max(1),
                subscribers,
                mesh,
            },
            bitrate.max(8_000),
            keyframe_secs.max(1),
        ),
        Command::Audiobridge {
            participants,
            talkers,
        } => (
            Scenario::AudioBridge {
                participants: participants.max(1),
                talkers: talkers.unwrap_or(participants).min(participants.max(1)),
            },
            32_000,
            1,
        ),
    };
    let opts = RunOptions {
        url: cli.url,
        server_pid: cli.server_pid,
        bind: cli.bind,
        bitrate,
        keyframe_secs,
        warmup: secs(cli.warmup),
        duration: secs(cli.duration.max(0.5)),
        setup_concurrency: cli.setup_concurrency.max(1),
        media_timeout: secs(cli.media_timeout),
        request_timeout: secs(cli.request_timeout.max(0.1)),
        label: cli.label,
        progress: !cli.quiet,
    };
    let max = secs(cli.max_runtime);
    let result =
        runtime.block_on(async { tokio::time::timeout(max, scenario::run(scenario, opts)).await });
    // Leftover tasks (DTLS read loops, event forwarders) must not delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    let report = match result {
        Err(_) => {
            eprintln!("error: the run did not finish within --max-runtime {max:?}");
            return ExitCode::from(1);
        }
        Ok(Err(RunError::NotAvailable(what))) => {
            eprintln!("not available: {what}");
            return ExitCode::from(3);
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        Ok(Ok(r)) => r,
    };
    print!("{}", report.table());
    if let Some(path) = cli.json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: JSON: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("error: writing {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if report.received_packets == 0 {
        eprintln!("error: no valid media was received during the window");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
