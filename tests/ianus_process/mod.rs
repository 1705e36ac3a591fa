//! The real `ianus` binary for the integration tests in this folder: started with a generated
//! configuration on free loopback ports (plus what the test adds), ready once every listener
//! accepts connections (bounded, checked rather than slept on), killed and its folder removed
//! on drop. Each test file includes it with `mod ianus_process;`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the binary may take to open its listeners.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `ianus --config <tmp>/ianus.toml`.
pub struct IanusProcess {
    child: Child,
    /// Its temporary folder: the configuration, `ianus.log`, whatever the test put there.
    pub dir: PathBuf,
    pub http: SocketAddr,
    pub ws: SocketAddr,
    pub admin_http: SocketAddr,
    pub admin_ws: SocketAddr,
}

impl Drop for IanusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl IanusProcess {
    /// Starts the binary. `name` tags the temporary folder; `extra` returns TOML appended to
    /// the generated `[http]`, `[websockets]`, `[admin]` and `[media]` tables (other tables,
    /// such as `[general]` or `[plugins.audiobridge]`), given the folder for file paths.
    pub async fn start(name: &str, extra: impl FnOnce(&Path) -> String) -> IanusProcess {
        let dir = std::env::temp_dir().join(format!(
            "ianus-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (http, ws, admin_http, admin_ws) = (free_port(), free_port(), free_port(), free_port());
        let config = dir.join("ianus.toml");
        let extra = extra(&dir);
        std::fs::write(
            &config,
            format!(
                r#"[http]
ip = "127.0.0.1"
port = {http}
[websockets]
ip = "127.0.0.1"
port = {ws}
[admin]
http_ip = "127.0.0.1"
http_port = {admin_http}
ws_ip = "127.0.0.1"
ws_port = {admin_ws}
[media]
ip = "127.0.0.1"
port = 0
{extra}"#
            ),
        )
        .expect("write config");
        let log = std::fs::File::create(dir.join("ianus.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ianus"))
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("ianus starts");
        let lo = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut ianus = IanusProcess {
            child,
            dir,
            http: lo(http),
            ws: lo(ws),
            admin_http: lo(admin_http),
            admin_ws: lo(admin_ws),
        };
        let listeners = [ianus.http, ianus.ws, ianus.admin_http, ianus.admin_ws];
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            for addr in listeners {
                while tokio::net::TcpStream::connect(addr).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
        .await;
        if ready.is_err() || matches!(ianus.child.try_wait(), Ok(Some(_))) {
            panic!("ianus did not start:\n{}", ianus.log());
        }
        ianus
    }

    /// What it wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ianus.log")).unwrap_or_default()
    }
}
