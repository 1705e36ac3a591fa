//! `ianus`: a WebRTC media server that speaks the Janus protocol.
//!
//! `ianus` runs with embedded defaults (Janus's sample configuration); `ianus --config FILE`
//! reads a TOML file (see `ianus.toml`).

mod app;
mod config;
mod metrics;
mod plugins;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: ianus [--config FILE]\n\n  --config FILE   TOML configuration (default: built-in, as Janus's sample config)\n  --help          this text\n  --version       print the version\n";

fn main() -> ExitCode {
    let mut config_path: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(p) => config_path = Some(PathBuf::from(p)),
                None => {
                    eprint!("--config needs a file\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("ianus {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprint!("unknown argument {other}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let config = match &config_path {
        Some(p) => match config::Config::from_file(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ianus: {e}");
                return ExitCode::from(2);
            }
        },
        None => config::Config::default(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{},dtls=error,webrtc_sctp=warn",
            config.log.level
        ))
    });
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ianus: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match app::run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ianus: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
