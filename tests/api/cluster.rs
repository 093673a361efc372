//! Several real server processes on one PostgreSQL and one Redis, and a TCP proxy that can cut a
//! node off from a service to play an outage.

use crate::helpers::*;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

pub const CLUSTER_SECRET: &str = "cluster-jwt-secret-of-32-bytes-or-more";

/// One `switchboard` process.
pub struct Node {
    pub app: TestApp,
    child: Child,
    /// Every line the node logged so far.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// What the nodes of one test share: a fresh database and a Redis key prefix.
pub struct Cluster {
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
}

impl Node {
    /// The node's process id.
    pub fn pid(&self) -> i32 {
        self.child.id().and_then(|id| i32::try_from(id).ok()).expect("the node is running")
    }

    /// Kills the node's process (SIGKILL: no shutdown of its own) and waits for it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("the node is killed");
    }

    /// Waits for the node's process to exit.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().await.expect("the node's status")
    }
}

impl Cluster {
    /// A fresh database and prefix, or `None` (skip) without PostgreSQL and Redis outside CI.
    pub async fn new() -> Option<Self> {
        let database_url = fresh_database(Backend::Postgres).await?;
        let redis_url = std::env::var("TEST_REDIS_URL").ok()?;
        Some(Self { database_url, redis_url, prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()) })
    }

    /// Starts a node; `env` overrides (e.g. a proxied `REDIS_URL`).
    pub async fn node(&self, name: &str, env: &[(&str, &str)]) -> Node {
        self.try_node(name, env).await.unwrap_or_else(|log| panic!("node {name} exited before listening:\n{log}"))
    }

    /// Starts a node, or answers its log when it exited before listening (e.g. its fixed port was taken).
    pub async fn try_node(&self, name: &str, env: &[(&str, &str)]) -> Result<Node, String> {
        // SWITCHBOARD_BIN: another build of the server (the load runs use the release one).
        let binary = std::env::var("SWITCHBOARD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_switchboard").to_owned());
        let mut command = Command::new(binary);
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("SOCKETIO_PORT", "0")
            .env("DATABASE_URL", &self.database_url)
            .env("DATABASE_MAX_CONNECTIONS", "5")
            .env("REDIS_URL", &self.redis_url)
            .env("REDIS_KEY_PREFIX", &self.prefix)
            .env("JWT_SECRET", CLUSTER_SECRET)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("NODE_ID", name)
            .env("ACTOR_THREADS", "1")
            .env("VISITOR_RATE_PER_SECOND", "100")
            .env("VISITOR_BURST", "200")
            // The crash and load tests reply through the API as fast as a node takes it.
            .env("API_RATE_PER_SECOND", "100000")
            .env("RUST_LOG", "warn,switchboard::app=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("node starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut early = Vec::new();
        let (port, socketio_port) = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
                .await
                .expect("node starts within 30 s")
                .expect("stderr readable");
            let Some(line) = line else { return Err(early.join("\n")) };
            if line.contains("listening") {
                // Text lines say `port=N`; JSON lines (LOG_FORMAT=json) carry `fields.port`.
                let json: Option<serde_json::Value> = serde_json::from_str(&line).ok();
                let field = |key: &str| -> u16 {
                    let from_json =
                        json.as_ref().and_then(|j| j["fields"][key].as_u64()).and_then(|p| u16::try_from(p).ok());
                    from_json
                        .or_else(|| {
                            line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}="))?.parse().ok())
                        })
                        .unwrap_or_else(|| panic!("no {key} in '{line}'"))
                };
                break (field("port"), field("socketio_port"));
            }
            early.push(line);
        };
        // Keep draining the node's log so it never blocks on a full pipe; echo it for failing tests.
        let label = name.to_owned();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{label}] {line}");
                kept.lock().expect("log lock").push(line);
            }
        });
        let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
        let app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            socketio_url: format!("http://127.0.0.1:{socketio_port}"),
            client,
        };
        Ok(Node { app, child, log })
    }
}

/// A TCP proxy in front of a service; `cut()` drops every connection and refuses new ones until `restore()`.
/// While cut it keeps its port bound without listening: connecting is refused, as with a stopped server,
/// and no other test's listener can take the port meanwhile (one did, and the store's client then got an
/// HTTP answer to its PostgreSQL handshake instead of a refusal).
pub struct Proxy {
    pub port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(target: String) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("address").port();
        let (up, _) = watch::channel(true);
        let proxy = Arc::new(Self { port, up });
        let mut state = proxy.up.subscribe();
        let connections = proxy.up.clone();
        tokio::spawn(async move {
            let mut listener = listener;
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => Some(accepted),
                    changed = state.wait_for(|up| !*up) => match changed {
                        Ok(_) => None,
                        Err(_) => return,
                    },
                };
                let Some(accepted) = accepted else {
                    // Cut. Closing the listener and binding its port again at once leaves no time to take it.
                    drop(listener);
                    let held = hold(port).expect("the proxy binds its port again");
                    if state.wait_for(|up| *up).await.is_err() {
                        return;
                    }
                    listener = held.listen(1024).expect("the proxy listens again");
                    continue;
                };
                let Ok((mut inbound, _)) = accepted else { continue };
                let mut down = connections.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        proxy
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// A socket bound to `port` on 127.0.0.1 that does not listen: connections to it are refused.
fn hold(port: u16) -> std::io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    Ok(socket)
}
