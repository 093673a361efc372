//! `KEY=VALUE` parameters (the k6 scenarios' names), from the command line, then the environment.

use std::collections::HashMap;

/// What to run and how big.
#[derive(Clone, Debug)]
pub struct Params {
    /// `dashboard_socketio`, `dashboard_ws` or `widget_chat`.
    pub scenario: String,
    /// `switchboard`, `node-peer` or `floor`.
    pub target: String,
    /// Switchboard's HTTP base (widget and plain dashboard sockets, set-up).
    pub base_url: String,
    /// The Socket.IO listener's base.
    pub sio_url: String,
    /// Admin token for creating licenses (Switchboard).
    pub admin_token: String,
    /// HS256 secret for the Node peer's and the floor's tokens.
    pub jwt_secret: String,
    /// Where the JSON summary goes (also printed).
    pub summary: Option<String>,
    /// The server's pid, for its CPU and RSS from /proc.
    pub server_pid: Option<u32>,
    /// Receiving sockets (dashboards) or, for `widget_chat`, visitors.
    pub sockets: usize,
    /// Tenants (licenses) the sockets are spread over.
    pub tenants: usize,
    /// Injected messages per second, all tenants together (`widget_chat`: per visitor).
    pub rate: u64,
    /// Seconds of injection.
    pub duration: u64,
    /// Seconds for receivers to connect before injection starts.
    pub connect_seconds: u64,
    /// Seconds after the last injection before receivers give up.
    pub drain_seconds: u64,
    /// Padding added to every probe text.
    pub pad_bytes: usize,
    /// More padding for the Node peer, whose relayed event is smaller than Switchboard's `message:new`.
    pub peer_pad_bytes: usize,
    /// Source addresses 127.0.0.1 … 127.0.0.N the sockets are spread over.
    pub spread_ips: u8,
    /// Worker threads of the generator's runtime.
    pub threads: usize,
    /// How messages are injected: `socketio` (agent replies / peer relay) or `widget` (visitor messages).
    pub inject: String,
    /// Print the first counted frame (to compare frame shapes and sizes between targets).
    pub show_frame: bool,
    /// Where the latencies go, if anywhere. Dashboard scenarios: one text line per counted delivery,
    /// `sent_us latency_us tenant` (to line latency up over the run); `mix`: `<file>.dashboard` and
    /// `<file>.visitor`, little-endian u32 µs.
    pub latency_file: Option<String>,
    /// `mix` only: the socket mix one generator process holds against one node.
    pub mix: Option<Mix>,
    /// Every parameter as given or defaulted, for the summary.
    pub recorded: serde_json::Map<String, serde_json::Value>,
}

/// `SCENARIO=mix` (`loadtest/many_nodes`): several generator processes, one per node, share one set of
/// tenants (a file) and one absolute timeline (`START_AT_MS`).
#[derive(Clone, Debug)]
pub struct Mix {
    /// `setup` (make the tenants, write `TENANTS_FILE`) or `hold` (read it, hold the sockets).
    pub role: String,
    /// The tenants' credentials, JSON.
    pub tenants_file: String,
    /// Widget visitor sockets (`/ws/widget`), receiving widget commands.
    pub visitors: usize,
    /// Plain-WebSocket dashboards (`/ws/dashboard`), receiving `message:new`.
    pub ws_dashboards: usize,
    /// Socket.IO dashboards, receiving `message:new`.
    pub sio_dashboards: usize,
    /// Widget commands per second, all tenants together (HTTP, round-robin over the tenants).
    pub command_rate: u64,
    /// Injection starts at this Unix time, ms (the same for every process of a run).
    pub start_at_ms: u64,
    /// This process also injects: agent replies (RATE) and widget commands (COMMAND_RATE).
    pub drive: bool,
    /// This process's number; shifts which tenants its first sockets belong to.
    pub part: usize,
}

/// Switchboard's `message:new` Socket.IO frame minus the Node peer's relayed one for the same text,
/// measured (`SHOW_FRAME=1`, `frame_bytes` in every row): 331 + text − (63 + text) bytes at small
/// offsets, a few more as ids and offsets grow over a run.
pub const PEER_PAD_DEFAULT: usize = 271;

struct Source(HashMap<String, String>);

impl Source {
    fn str(&self, key: &str, default: &str) -> String {
        self.0.get(key).cloned().or_else(|| std::env::var(key).ok()).unwrap_or_else(|| default.to_owned())
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key).cloned().or_else(|| std::env::var(key).ok()) {
            None => Ok(default),
            Some(raw) if raw.is_empty() => Ok(default),
            Some(raw) => raw.parse().map_err(|_| format!("{key}='{raw}' is not a number")),
        }
    }
}

impl Params {
    /// Parses `KEY=VALUE` arguments; anything not given comes from the environment, then the defaults.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut given = HashMap::new();
        for arg in args {
            let (key, value) = arg.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got '{arg}'"))?;
            given.insert(key.to_owned(), value.to_owned());
        }
        let src = Source(given);
        let scenario = src.str("SCENARIO", "dashboard_socketio");
        let target = src.str("TARGET", "switchboard");
        if !matches!(scenario.as_str(), "dashboard_socketio" | "dashboard_ws" | "widget_chat" | "http_auth" | "mix") {
            return Err(format!(
                "SCENARIO={scenario}: dashboard_socketio, dashboard_ws, widget_chat, http_auth or mix"
            ));
        }
        if !matches!(target.as_str(), "switchboard" | "node-peer" | "floor") {
            return Err(format!("TARGET={target}: switchboard, node-peer or floor"));
        }
        let widget = scenario == "widget_chat";
        let http = scenario == "http_auth";
        let mix = if scenario == "mix" { Some(Mix::parse(&src)?) } else { None };
        let sockets: usize = match &mix {
            Some(m) => m.visitors + m.ws_dashboards + m.sio_dashboards,
            None => src.num(
                sockets_key(&scenario),
                if widget {
                    1
                } else if http {
                    16
                } else {
                    100
                },
            )?,
        };
        let tenants: usize = src.num("TENANTS", if widget { 1 } else { 10 })?;
        let default_inject = if scenario == "dashboard_ws" && target == "switchboard" { "widget" } else { "socketio" };
        let default_pad = if target == "node-peer" { PEER_PAD_DEFAULT } else { 0 };
        let params = Params {
            base_url: src.str("BASE_URL", "http://127.0.0.1:8080"),
            sio_url: src.str("SIO_URL", "http://127.0.0.1:8081"),
            admin_token: src.str("ADMIN_TOKEN", "loadtest-admin-token"),
            jwt_secret: src.str("JWT_SECRET", "dev-secret"),
            summary: Some(src.str("SUMMARY", "")).filter(|s| !s.is_empty()),
            server_pid: src.num::<u32>("SERVER_PID", 0).map(|p| Some(p).filter(|p| *p > 0))?,
            sockets,
            tenants: tenants.max(1),
            rate: src.num(
                "RATE",
                if widget {
                    5
                } else if http {
                    1000
                } else {
                    10
                },
            )?,
            duration: src.num("DURATION", 20)?,
            connect_seconds: src.num("CONNECT_SECONDS", 2 + sockets as u64 / 2000)?,
            drain_seconds: src.num("DRAIN_SECONDS", 5)?,
            pad_bytes: src.num("PAD_BYTES", 0)?,
            peer_pad_bytes: src.num("PEER_PAD_BYTES", default_pad)?,
            spread_ips: src.num("SPREAD_IPS", 4)?,
            threads: src.num("THREADS", 1)?,
            inject: src.str("INJECT", default_inject),
            show_frame: src.num("SHOW_FRAME", 0u8)? == 1,
            latency_file: Some(src.str("LATENCY_FILE", "")).filter(|s| !s.is_empty()),
            mix,
            recorded: serde_json::Map::new(),
            scenario,
            target,
        };
        params.check()?;
        Ok(params.record())
    }

    fn check(&self) -> Result<(), String> {
        for url in [&self.base_url, &self.sio_url] {
            let host = url.trim_start_matches("http://").split([':', '/']).next().unwrap_or("");
            if !(host.starts_with("127.") || host == "localhost") {
                return Err(format!("refusing non-loopback target {url}"));
            }
        }
        if !matches!(self.scenario.as_str(), "widget_chat" | "http_auth" | "mix") && self.sockets < self.tenants {
            return Err(format!("SOCKETS ({}) must be >= TENANTS ({})", self.sockets, self.tenants));
        }
        if !matches!(self.inject.as_str(), "socketio" | "widget") {
            return Err(format!("INJECT={}: socketio or widget", self.inject));
        }
        if self.inject == "widget" && self.target != "switchboard" {
            return Err("INJECT=widget needs TARGET=switchboard".into());
        }
        if matches!(self.scenario.as_str(), "widget_chat" | "http_auth") && self.target != "switchboard" {
            return Err(format!("{} needs TARGET=switchboard", self.scenario));
        }
        if self.spread_ips == 0 || self.threads == 0 {
            return Err("SPREAD_IPS and THREADS must be at least 1".into());
        }
        Ok(())
    }

    fn record(mut self) -> Self {
        let widget = self.scenario == "widget_chat";
        let mut m = serde_json::Map::new();
        m.insert(sockets_key(&self.scenario).into(), self.sockets.into());
        for (k, v) in [
            ("TENANTS", self.tenants as u64),
            ("RATE", self.rate),
            ("DURATION", self.duration),
            ("CONNECT_SECONDS", self.connect_seconds),
            ("DRAIN_SECONDS", self.drain_seconds),
            ("PAD_BYTES", self.pad_bytes as u64),
            ("PEER_PAD_BYTES", if self.target == "node-peer" { self.peer_pad_bytes as u64 } else { 0 }),
            ("SPREAD_IPS", u64::from(self.spread_ips)),
            ("THREADS", self.threads as u64),
        ] {
            m.insert(k.into(), v.into());
        }
        if !widget {
            m.insert("INJECT".into(), self.inject.clone().into());
        }
        if let Some(mix) = &self.mix {
            for (k, v) in [
                ("VISITORS", mix.visitors as u64),
                ("WS_DASHBOARDS", mix.ws_dashboards as u64),
                ("SIO_DASHBOARDS", mix.sio_dashboards as u64),
                ("COMMAND_RATE", mix.command_rate),
                ("START_AT_MS", mix.start_at_ms),
                ("PART", mix.part as u64),
            ] {
                m.insert(k.into(), v.into());
            }
            m.insert("ROLE".into(), mix.role.clone().into());
            m.insert("DRIVE".into(), mix.drive.into());
        }
        self.recorded = m;
        self
    }

    /// How many of `total` round-robin injections tenant `t` gets.
    pub fn share_of(&self, total: u64, t: usize) -> u64 {
        let n = self.tenants as u64;
        total / n + u64::from((t as u64) < total % n)
    }

    /// Receivers designed for tenant `t`: sockets `g` with `g % tenants == t`.
    pub fn receivers_of(&self, t: usize) -> usize {
        self.sockets / self.tenants + usize::from(t < self.sockets % self.tenants)
    }

    /// `ws://host:port` of an `http://` base.
    pub fn ws_base(url: &str) -> String {
        url.replacen("http", "ws", 1)
    }
}

/// The parameter that sizes a scenario: widget visitors, `me` clients, or receiving sockets.
fn sockets_key(scenario: &str) -> &'static str {
    match scenario {
        "widget_chat" => "VISITORS",
        "http_auth" => "CONNECTIONS",
        _ => "SOCKETS",
    }
}

impl Mix {
    fn parse(src: &Source) -> Result<Self, String> {
        let role = src.str("ROLE", "hold");
        if !matches!(role.as_str(), "setup" | "hold") {
            return Err(format!("ROLE={role}: setup or hold"));
        }
        let tenants_file = src.str("TENANTS_FILE", "");
        if tenants_file.is_empty() {
            return Err("SCENARIO=mix needs TENANTS_FILE".into());
        }
        let start_at_ms = src.num("START_AT_MS", 0u64)?;
        if role == "hold" && start_at_ms == 0 {
            return Err("ROLE=hold needs START_AT_MS (Unix ms, the same for every process)".into());
        }
        Ok(Mix {
            role,
            tenants_file,
            visitors: src.num("VISITORS", 0)?,
            ws_dashboards: src.num("WS_DASHBOARDS", 0)?,
            sio_dashboards: src.num("SIO_DASHBOARDS", 0)?,
            command_rate: src.num("COMMAND_RATE", 5)?,
            start_at_ms,
            drive: src.num("DRIVE", 0u8)? == 1,
            part: src.num("PART", 0)?,
        })
    }
}
