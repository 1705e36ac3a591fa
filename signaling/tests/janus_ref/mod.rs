//! Debian's Janus 1.1.2 as a reference server for conformance tests: its own temp config
//! folder (a copy of `/etc/janus` with free loopback ports, the Admin API on, the transports
//! and plugins that need outside services off), killed on drop.
//!
//! Shared by `signaling/tests/janus_compat.rs` and the root `tests/janus_compat_echotest.rs`
//! (included there with `#[path]`), so both compare against the same setup.
#![allow(dead_code, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const JANUS: &str = "/usr/bin/janus";

/// The reference server in its own config folder; killed on drop.
pub struct Janus {
    child: Child,
    dir: PathBuf,
    pub http: SocketAddr,
    pub ws: SocketAddr,
    pub admin_http: SocketAddr,
    pub admin_ws: SocketAddr,
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write config");
}

pub async fn start_janus() -> Janus {
    let dir = std::env::temp_dir().join(format!(
        "ianus-janus-compat-{}-{:x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for entry in std::fs::read_dir("/etc/janus")
        .expect("/etc/janus")
        .flatten()
    {
        let _ = std::fs::copy(entry.path(), dir.join(entry.file_name()));
    }
    let (http, ws, admin_http, admin_ws) = (free_port(), free_port(), free_port(), free_port());
    let lib = "/usr/lib/x86_64-linux-gnu/janus";
    write(
        &dir,
        "janus.jcfg",
        &format!(
            r#"general: {{
    configs_folder = "{dir}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = 3
    admin_secret = "janusoverlord"
    session_timeout = 60
}}
certificates: {{
}}
media: {{
}}
nat: {{
    nice_debug = false
    ice_ignore_list = "vmnet"
}}
plugins: {{
    disable = "libjanus_lua.so,libjanus_duktape.so,libjanus_streaming.so,libjanus_sip.so,libjanus_nosip.so"
}}
transports: {{
    disable = "libjanus_mqtt.so,libjanus_rabbitmq.so,libjanus_nanomsg.so,libjanus_pfunix.so"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
}}
"#,
            dir = dir.display()
        ),
    );
    write(
        &dir,
        "janus.transport.http.jcfg",
        &format!(
            r#"general: {{
    json = "indented"
    base_path = "/janus"
    http = true
    port = {http}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_port = {admin_http}
    admin_ip = "127.0.0.1"
    admin_https = false
}}
cors: {{
}}
"#
        ),
    );
    write(
        &dir,
        "janus.transport.websockets.jcfg",
        &format!(
            r#"general: {{
    json = "indented"
    ws = true
    ws_port = {ws}
    ws_ip = "127.0.0.1"
    wss = false
}}
admin: {{
    admin_ws = true
    admin_ws_port = {admin_ws}
    admin_ws_ip = "127.0.0.1"
    admin_wss = false
}}
cors: {{
}}
"#
        ),
    );
    let child = Command::new(JANUS)
        .arg("-F")
        .arg(&dir)
        .arg("-C")
        .arg(dir.join("janus.jcfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("janus starts");
    let lo = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let janus = Janus {
        child,
        dir,
        http: lo(http),
        ws: lo(ws),
        admin_http: lo(admin_http),
        admin_ws: lo(admin_ws),
    };
    // Ready when every listener accepts connections (bounded; checked, not slept on).
    tokio::time::timeout(Duration::from_secs(30), async {
        for addr in [janus.http, janus.ws, janus.admin_http, janus.admin_ws] {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    })
    .await
    .expect("janus listens within 30 s");
    janus
}
