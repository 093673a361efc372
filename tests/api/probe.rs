//! Drives the official Socket.IO clients (npm `socket.io-client`, PyPI `python-socketio`) as child
//! processes through `tests/clients/sio_probe.*`: JSON lines out, commands in.

use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

#[derive(Clone, Copy, Debug)]
pub enum Client {
    Node,
    Python,
}

pub struct SioProbe {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_ack: u64,
    /// Everything the client printed, for failure messages and leak checks.
    pub seen: Vec<Value>,
    /// Lines read while waiting for an ack, not yet looked at by `event_where`.
    unread: std::collections::VecDeque<Value>,
}

fn clients_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Whether the clients are installed (`scripts/client-deps`); in CI their absence fails the test.
pub fn clients_available() -> bool {
    let node = clients_dir().join("node_modules/socket.io-client").exists();
    let python = std::process::Command::new("python3")
        .args(["-c", "import socketio, websocket"])
        .status()
        .is_ok_and(|s| s.success());
    if !(node && python) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the Socket.IO clients are missing: run scripts/client-deps"
        );
        eprintln!("skipping: Socket.IO clients not installed (run scripts/client-deps)");
    }
    node && python
}

impl SioProbe {
    pub async fn connect(client: Client, url: &str, token: Option<&str>, transport: &str) -> Self {
        Self::start(client, url, token, transport, "-")
    }

    /// A Node client that reconnects by itself with the last `{offset, epoch}` it received, as a dashboard does.
    pub async fn connect_recovering(url: &str, token: &str) -> Self {
        Self::start(Client::Node, url, Some(token), "websocket", "recover")
    }

    fn start(client: Client, url: &str, token: Option<&str>, transport: &str, mode: &str) -> Self {
        let dir = clients_dir();
        let mut command = match client {
            Client::Node => {
                let mut c = Command::new("node");
                c.arg(dir.join("sio_probe.mjs"));
                c
            }
            Client::Python => {
                let mut c = Command::new("python3");
                c.arg(dir.join("sio_probe.py"));
                c
            }
        };
        let mut child = command
            .args([url, token.unwrap_or("-"), transport, mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("client process starts");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, stdin, lines, next_ack: 0, seen: Vec::new(), unread: Default::default() }
    }

    /// The next line the client printed (10 s at most).
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the client said nothing for 10 s; it saw: {:?}", self.seen))
            .expect("client stdout readable")
            .expect("client still running");
        let value: Value = serde_json::from_str(&line).expect("client prints JSON lines");
        self.seen.push(value.clone());
        value
    }

    /// Waits for the connection; panics on `connect_error`.
    pub async fn connected(mut self) -> Self {
        let first = self.next().await;
        assert!(first.get("connected").is_some(), "expected a connection, got {first}");
        self
    }

    /// The `connect_error` message; panics if the client connected instead.
    pub async fn refused(&mut self) -> String {
        let first = self.next().await;
        first["connect_error"].as_str().unwrap_or_else(|| panic!("expected connect_error, got {first}")).to_owned()
    }

    /// The data of the first `name` event that satisfies `matches`, in order of arrival; other lines stay
    /// available to later calls.
    pub async fn event_where(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let is_match = |line: &Value| line["event"] == name && matches(&line["data"]);
        if let Some(index) = self.unread.iter().position(is_match) {
            return self.unread.remove(index).map(|line| line["data"].clone()).unwrap_or_default();
        }
        loop {
            let line = self.next().await;
            if is_match(&line) {
                return line["data"].clone();
            }
            assert!(line.get("disconnect").is_none(), "disconnected while waiting for {name}: {line}");
            self.unread.push_back(line);
        }
    }

    /// Waits for the client to say it was disconnected; other lines stay available to later calls.
    pub async fn disconnected(&mut self) -> Value {
        loop {
            let line = self.next().await;
            if line.get("disconnect").is_some() {
                return line;
            }
            self.unread.push_back(line);
        }
    }

    /// The process id of the client, e.g. to stop it (SIGSTOP) as a stalled browser.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn event(&mut self, name: &str) -> Value {
        self.event_where(name, |_| true).await
    }

    pub async fn emit_with_ack(&mut self, name: &str, data: Value) -> Value {
        self.next_ack += 1;
        let id = self.next_ack;
        self.send(json!({ "emit": name, "data": data, "ack": id })).await;
        loop {
            let line = self.next().await;
            if line["ack"] == id {
                return line["data"].clone();
            }
            self.unread.push_back(line);
        }
    }

    async fn send(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.expect("client stdin writable");
        self.stdin.flush().await.expect("flushed");
    }
}
