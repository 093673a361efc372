//! A real nginx (Debian's package) in front of cluster nodes, on one free port, configured from the
//! checked-in `deploy/nginx/switchboard.conf.template`; and the tests that everything a client uses
//! works through it: HTTP API, `/ws/widget`, `/ws/dashboard`, Socket.IO (polling and websocket).

use crate::cluster::{Cluster, Node};
use crate::helpers::*;
use crate::probe::{clients_available, Client, SioProbe};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The nginx binary: `NGINX`, else Debian's path, else whatever `PATH` has; `None` (skip) when absent
/// outside CI.
pub fn nginx_binary() -> Option<PathBuf> {
    let found = std::env::var_os("NGINX")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
        .or_else(|| {
            let out = std::process::Command::new("sh").args(["-c", "command -v nginx"]).output().ok()?;
            let path = String::from_utf8(out.stdout).ok()?.trim().to_owned();
            (!path.is_empty()).then(|| PathBuf::from(path))
        });
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but nginx is missing: run scripts/services");
        eprintln!("skipping: nginx is not installed (run scripts/services)");
    }
    found
}

/// The checked-in template with its placeholders filled, as `deploy/nginx/render` does.
pub fn render(listen: &str, http: &[String], socketio: &[String]) -> String {
    let template = std::fs::read_to_string(repo().join("deploy/nginx/switchboard.conf.template")).expect("template");
    let servers = |nodes: &[String]| {
        nodes.iter().map(|n| format!("    server {n} max_fails=1 fail_timeout=2s;")).collect::<Vec<_>>().join("\n")
    };
    let mut out = String::new();
    for line in template.lines() {
        match line {
            "@HTTP_SERVERS@" => out.push_str(&servers(http)),
            "@SOCKETIO_SERVERS@" => out.push_str(&servers(socketio)),
            _ => out.push_str(&line.replace("@LISTEN@", listen)),
        }
        out.push('\n');
    }
    out
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on 127.0.0.1 (bound and released; nodes and nginx bind it again with SO_REUSEADDR).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

/// nginx running as a child process with its own prefix directory; stopped and removed on drop.
pub struct Nginx {
    pub app: TestApp,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx in front of `nodes` (HTTP port, Socket.IO port); `None` without nginx.
    pub async fn start(nodes: &[(u16, u16)]) -> Option<Self> {
        let binary = nginx_binary()?;
        let dir = std::env::temp_dir().join(format!("sb-nginx-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("logs")).expect("nginx prefix");
        let port = free_port();
        let http: Vec<String> = nodes.iter().map(|(p, _)| format!("127.0.0.1:{p}")).collect();
        let socketio: Vec<String> = nodes.iter().map(|(_, s)| format!("127.0.0.1:{s}")).collect();
        let site = render(&format!("127.0.0.1:{port}"), &http, &socketio)
            .replace("/var/log/nginx/", &format!("{}/logs/", dir.display()));
        std::fs::write(dir.join("switchboard.conf"), site).expect("site written");
        // As root, nginx would hand its workers to `nobody`, who cannot write this directory.
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { "user root;" } else { "" };
        let main = format!(
            "{user}
worker_processes 1;
worker_rlimit_nofile 16384;
pid nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log logs/access.log;
    client_body_temp_path tmp_body;
    proxy_temp_path tmp_proxy;
    fastcgi_temp_path tmp_fastcgi;
    uwsgi_temp_path tmp_uwsgi;
    scgi_temp_path tmp_scgi;
    include switchboard.conf;
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), main).expect("nginx.conf written");
        let prefix = format!("{}/", dir.display());
        let conf = dir.join("nginx.conf");
        let check = std::process::Command::new(&binary)
            .args(["-t", "-q", "-e", "logs/error.log", "-p", &prefix, "-c"])
            .arg(&conf)
            .output()
            .expect("nginx -t runs");
        assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(&binary)
            .args(["-e", "logs/error.log", "-p", &prefix, "-c"])
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
        let app = TestApp { address: address.clone(), socketio_url: address, client };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(Self { app, child, dir });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "nginx did not listen on {port}: {}",
            std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
        );
    }

    /// nginx's error log, for failure messages.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }

    /// The site's access log (the template's format).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/switchboard.access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (a SIGKILL would leave them running, holding
    /// the port); SIGKILL only if it has not exited within 2 s.
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Node settings behind nginx: fixed ports (so a restarted node is the same upstream) and the
/// forwarded client address trusted.
pub fn node_env(http: u16, socketio: u16) -> Vec<(String, String)> {
    vec![
        ("PORT".into(), http.to_string()),
        ("SOCKETIO_PORT".into(), socketio.to_string()),
        ("TRUST_X_FORWARDED_FOR".into(), "true".into()),
        ("SHUTDOWN_GRACE_SECONDS".into(), "5".into()),
    ]
}

/// Starts `count` nodes (`n0`, `n1`, …) on fixed ports picked free, and answers them with their ports.
/// A port picked free can be taken by another test before the node binds it: that node starts again
/// on other ports.
pub async fn start_nodes(cluster: &Cluster, count: usize, extra: &[(&str, &str)]) -> (Vec<Node>, Vec<(u16, u16)>) {
    let (mut nodes, mut all_ports) = (Vec::new(), Vec::new());
    for i in 0..count {
        let name = format!("n{i}");
        for attempt in 1.. {
            let ports = (free_port(), free_port());
            match try_start_node(cluster, &name, ports, extra).await {
                Ok(node) => {
                    nodes.push(node);
                    all_ports.push(ports);
                    break;
                }
                Err(log) if log.contains("Address already in use") && attempt < 5 => continue,
                Err(log) => panic!("node {name} exited before listening:\n{log}"),
            }
        }
    }
    (nodes, all_ports)
}

/// Starts a node on fixed ports with `node_env` plus `extra`.
pub async fn start_node(cluster: &Cluster, name: &str, ports: (u16, u16), extra: &[(&str, &str)]) -> Node {
    let started = try_start_node(cluster, name, ports, extra).await;
    started.unwrap_or_else(|log| panic!("node {name} exited before listening:\n{log}"))
}

/// Starts a node on fixed ports with `node_env` plus `extra`, or answers its log if it exited first.
async fn try_start_node(
    cluster: &Cluster,
    name: &str,
    ports: (u16, u16),
    extra: &[(&str, &str)],
) -> Result<Node, String> {
    let env = node_env(ports.0, ports.1);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    cluster.try_node(name, &all).await
}

/// The checked-in configs (the example, and the compose file's) are the template rendered for their
/// nodes: editing the template without re-rendering fails here.
#[test]
fn the_checked_in_configs_are_the_rendered_template() {
    let nodes = |a: &str, b: &str, port: u16| vec![format!("{a}:{port}"), format!("{b}:{port}")];
    for (file, a, b) in [("switchboard.conf", "10.0.0.11", "10.0.0.12"), ("compose.conf", "node-1", "node-2")] {
        let expected = render("80", &nodes(a, b, 8080), &nodes(a, b, 8081));
        let checked_in = std::fs::read_to_string(repo().join("deploy/nginx").join(file)).expect("config");
        assert_eq!(checked_in, expected, "{file}: re-run deploy/nginx/render (see the template's header)");
    }
}

/// Three nodes behind one nginx port: HTTP API, widget chat, plain dashboard socket and Socket.IO
/// (official client, polling and websocket) all work through it, and the nodes see the client's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_public_port_serves_http_websockets_and_socketio() {
    let Some(cluster) = Cluster::new().await else { return };
    if nginx_binary().is_none() {
        return;
    }
    let (nodes, ports) = start_nodes(&cluster, 3, &[]).await;
    let Some(nginx) = Nginx::start(&ports).await else { return };
    let app = &nginx.app;

    // HTTP API.
    expect_status(app.client.get(app.url("/readyz")).send().await.expect("readyz"), StatusCode::OK).await;
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;

    // Plain dashboard socket and widget chat over /ws/*.
    let mut dashboard = app.dashboard_ws(&tenant.token).await;
    let mut visitor = app.widget(&key, None).await;
    visitor.recv_type("welcome").await;
    visitor.send_json(&json!({ "type": "message", "text": "hello through nginx", "client_msg_id": "n1" })).await;
    let ack = visitor.recv_type("ack").await;
    let conversation_id = ack["conversation_id"].as_str().expect("conversation id").to_owned();
    let event = loop {
        let frame = dashboard.recv_json().await;
        if frame["event"] == "message:new" {
            break frame;
        }
    };
    assert_eq!(event["data"]["message"]["text"], "hello through nginx");

    // Socket.IO through the same port, both transports, with the official client.
    if clients_available() {
        for transport in ["polling", "websocket"] {
            let mut sio = SioProbe::connect(Client::Node, &app.socketio_url, Some(&tenant.token), transport)
                .await
                .connected()
                .await;
            let reply = json!({ "conversation_id": conversation_id, "text": format!("via {transport}"),
                                "client_msg_id": format!("sio-{transport}") });
            let answer = sio.emit_with_ack("message:send", reply).await;
            assert_eq!(answer["ok"], true, "{answer}");
            let echoed = sio.event_where("message:new", |d| d["message"]["text"] == format!("via {transport}")).await;
            assert_eq!(echoed["message"]["sender"], "agent");
            let frame = visitor.recv_type("message").await;
            assert_eq!(frame["text"], format!("via {transport}"));
        }
    }

    // An agent reply over HTTP reaches the visitor; a resend with the same id is not stored twice.
    let path = format!("/api/conversations/{conversation_id}/messages");
    let body = json!({ "text": "from the API", "client_msg_id": "http-1" });
    expect_status(app.post_as(&path, &tenant.token, &body).await, StatusCode::CREATED).await;
    let again = expect_status(app.post_as(&path, &tenant.token, &body).await, StatusCode::OK).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(visitor.recv_type("message").await["text"], "from the API");

    // The admin API answers through the proxy too.
    let stats = app.client.get(app.url("/api/admin/stats")).bearer_auth(ADMIN_TOKEN).send().await.expect("stats");
    let stats: Value = expect_status(stats, StatusCode::OK).await;
    assert!(stats["sockets"].is_object(), "{stats}");
    assert!(!nginx.error_log().contains("[emerg]"), "{}", nginx.error_log());

    // The access log has every request, and no credentials from query strings.
    drop(visitor);
    drop(dashboard);
    // nginx logs a WebSocket once its connection has ended on both sides: soon, not at once.
    let paths = ["/ws/widget", "/ws/dashboard", "/api/auth/login"];
    let log = eventually(Duration::from_secs(5), async || {
        let log = nginx.access_log();
        match paths.iter().find(|path| !log.contains(**path)) {
            None => Ok(log),
            Some(path) => Err(format!("{path} not in the access log:\n{log}")),
        }
    })
    .await;
    assert!(!log.contains(&tenant.token) && !log.contains("token="), "credentials in the access log:\n{log}");
    drop(nodes);
}
