//! Wiring: connect the store and Redis, build the shared state, start every runtime, bind every listener.
//!
//! One process runs three runtimes, all built in [`Application::build`]:
//! - **actix-web** (the `#[actix_web::main]` runtime and its HTTP workers): the HTTP listener on
//!   `HOST:PORT` (`http::serve`) — REST handlers and the two WebSocket endpoints, whose connections
//!   leave the HTTP parser once upgraded (`http::handover`) and whose loops run on those workers;
//!   the background tasks (Redis bus publisher and subscriber, remote-event relay, orphaned-delivery
//!   recovery, cache and limiter sweeps) start on it too.
//! - **the actor system** (`Registry::start`): its own thread with `ACTOR_THREADS` actix arbiters, where
//!   every `ConversationActor` and `TenantActor` lives, and every Socket.IO connection too (a message
//!   then often reaches its actor, and the actor the relay of that thread's sockets, without waking
//!   another thread). On SQLite the node's commit lane runs on the store's writer thread
//!   (`sqlite-writer`), with the connection its commits run on.
//! - **Socket.IO** (`ws::socketio::serve`): an accept thread of its own for the listener on
//!   `HOST:SOCKETIO_PORT` (socketioxide does not mount inside actix-web), which hands each connection to
//!   an actor arbiter.
//!
//! One [`Shutdown`] reaches all of them: [`Application::run_until_stopped`] triggers it at SIGTERM/SIGINT,
//! WebSockets close with 1012 and Socket.IO clients are disconnected, `/readyz` answers 503, then the
//! listeners drain.

use crate::actors::Registry;
use crate::audit::Audit;
use crate::auth::{Authenticator, TokenKeys, TwoFactor};
use crate::backends::Backends;
use crate::channels::outbound::Outbound;
use crate::channels::token_box::TokenBox;
use crate::config::{redact, Config};
use crate::delivery::{Deliverer, RetryPolicy};
use crate::http;
use crate::licenses::Licenses;
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::store::Store;
use crate::usage::UsageMeter;
use crate::webhooks::WebhookWorker;
use crate::ws::socketio;
use actix_web::web;
use anyhow::Context;
use rand::RngCore;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    socketio_port: u16,
    server: actix_web::dev::Server,
    /// The HTTP listener's connections, sockets included (they outlive actix-server's count of them).
    open: http::OpenConnections,
    shutdown: Shutdown,
    grace: Duration,
    deliverer: Arc<Deliverer>,
    registry: Registry,
    usage: Arc<UsageMeter>,
    webhooks: WebhookWorker,
}

impl Application {
    /// Connects everything `config` names, runs migrations and binds the listener (port 0 picks one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = config.without_blanks();
        config.validate()?;
        crate::telemetry::handle(); // the recorder exists before the first event is counted
        let store = Store::connect(&config.database_url, config.store_connections())
            .await
            .with_context(|| format!("connecting to the store at {}", redact(&config.database_url)))?
            .with_webhook_retry_window(Duration::from_secs(config.webhooks.webhook_retry_hours.saturating_mul(3600)));
        store.migrate().await.context("running migrations")?;
        // SQLite's search index takes new messages once a second rather than in each message's commit.
        store.index_search_every(Duration::from_secs(1));
        let shared = Backends::connect(&config).await?;
        let keys = TokenKeys::new(&jwt_secret(&config));
        let idle_after = Duration::from_secs(config.actor_idle_seconds);
        let tokens = match &config.secrets_key {
            Some(key) => Some(Arc::new(TokenBox::new(key)?)),
            None => None,
        };
        let deliverer = Deliverer {
            outbound: Arc::new(outbound(&config)?),
            store: store.clone(),
            bus: shared.bus.clone(),
            policy: RetryPolicy {
                max_attempts: config.outbound_max_attempts.max(1),
                base_delay: Duration::from_millis(config.outbound_base_delay_ms),
            },
            in_flight: Arc::default(),
            tokens: tokens.clone(),
        };
        let orphaned_after = Duration::from_secs(config.outbound_orphan_seconds.max(1));
        // Frequent scans (a cheap query on a partial index) so released deliveries resume within seconds.
        deliverer
            .resume_orphans((orphaned_after / 2).clamp(Duration::from_secs(1), Duration::from_secs(5)), orphaned_after);
        let deliverer = Arc::new(deliverer);
        let registry = Registry::start(
            store.clone(),
            shared.bus.clone(),
            deliverer.clone(),
            shared.presence,
            config.actor_threads,
            idle_after,
        )?;
        let licenses = Licenses::new(store.clone(), shared.sessions.clone(), shared.bus.clone());
        let usage = UsageMeter::new(store.clone(), shared.usage, config.usage.policy());
        usage.flush_every(Duration::from_secs(config.usage.usage_flush_seconds.max(1)));
        let auth = Authenticator::new(keys, shared.sessions, store.clone(), config.jwt_ttl_seconds);
        let socketio_listener = TcpListener::bind((config.host.as_str(), config.socketio_port))
            .with_context(|| format!("binding Socket.IO on {}:{}", config.host, config.socketio_port))?;
        let socketio_port = socketio_listener.local_addr()?.port();
        let shutdown = Shutdown::default();
        let webhooks = WebhookWorker::from_config(&config, &store, &shared.bus, tokens.clone())?;
        webhooks.start(shutdown.clone());
        let max_connections = connection_cap(config.max_connections);
        let caps = socketio::ListenerCaps {
            max_connections,
            header_timeout: Duration::from_secs(config.header_timeout_seconds.max(1)),
            limits: shared.limits.clone(),
            trust_x_forwarded_for: config.trust_x_forwarded_for,
        };
        let retention = crate::retention::start(&config.retention, &store, &registry, shutdown.clone());
        let registry_for_shutdown = registry.clone();
        let socketio = socketio::serve(
            socketio_listener,
            auth.clone(),
            registry.clone(),
            shared.bus.clone(),
            caps,
            shutdown.clone(),
        )?;
        let state = web::Data::new(AppState {
            auth,
            two_factor: TwoFactor::new(store.clone(), tokens.clone()),
            store: store.clone(),
            admin_token: config.admin_token.clone(),
            cookie_secure: config.cookie_secure,
            registry,
            bus: shared.bus.clone(),
            licenses,
            limits: shared.limits,
            public_url: config.public_url.clone(),
            messenger: config.messenger(),
            twilio: config.twilio(),
            shutdown: shutdown.clone(),
            socketio,
            trust_x_forwarded_for: config.trust_x_forwarded_for,
            widget_max_frame_bytes: config.widget_max_frame_bytes,
            webhook_max_body_bytes: config.webhook_max_body_bytes,
            tokens: tokens.clone(),
            metrics_token: config.metrics_token.clone(),
            audit: Audit::new(store.clone()),
            usage: usage.clone(),
            webhook_strict_urls: config.webhooks.strict_urls(config.public_url.as_deref()),
            webhook_secret_overlap: Duration::from_secs(
                config.webhooks.webhook_secret_overlap_hours.saturating_mul(3600),
            ),
            retention,
            widget_hub: crate::ws::widget::WidgetHub::start(shared.bus.clone()),
            seen_signatures: Arc::default(),
        });
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        let limits = http::Limits {
            max_connections,
            header_timeout: Duration::from_secs(config.header_timeout_seconds.max(1)),
            shutdown_grace_seconds: config.shutdown_grace_seconds,
        };
        let open = http::OpenConnections::new(max_connections);
        let server = http::serve(listener, state, limits, open.clone())?;
        tracing::info!(port, socketio_port, "listening");
        let grace = Duration::from_secs(config.shutdown_grace_seconds);
        let registry = registry_for_shutdown;
        Ok(Self { port, socketio_port, server, open, shutdown, grace, deliverer, registry, usage, webhooks })
    }

    /// The bound HTTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound Socket.IO port.
    pub fn socketio_port(&self) -> u16 {
        self.socketio_port
    }

    /// The server's shutdown signal (tests trigger it directly).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until SIGINT/SIGTERM (or [`Shutdown::trigger`]), then stops in order: `/readyz` turns
    /// 503 and every socket gets a close telling it to reconnect elsewhere (1012, Socket.IO
    /// disconnect); meanwhile provider deliveries get half the grace period to finish before the rest
    /// are released to other nodes, and every conversation stores what it had queued; then the
    /// listeners stop and in-flight requests drain within the grace period.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown.clone();
        let grace = self.grace;
        let (deliverer, registry, usage) = (self.deliverer.clone(), self.registry.clone(), self.usage.clone());
        let webhooks = self.webhooks.clone();
        let open = self.open.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop_signal() => shutdown.trigger(),
                _ = shutdown.triggered() => {}
            }
            tracing::info!("shutting down: closing sockets, then the listeners");
            // Socket loops close on the signal; give their close frames a moment to leave.
            tokio::join!(
                tokio::time::sleep(grace.min(SOCKET_CLOSE_WAIT)),
                deliverer.release(grace / 2),
                webhooks.release(grace / 2),
                registry.settle(grace / 2),
                // The day's counts this node saw reach the history before it goes.
                usage.flush(),
            );
            // actix-server waits for the HTTP connections it still serves; sockets left its count at their
            // upgrade, so their closes (and lingers) are waited for here (they run on its workers).
            if !open.drained(grace).await {
                tracing::warn!("connections still open at the end of the shutdown grace");
            }
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// How long the listeners wait for sockets to send their close frames before stopping.
const SOCKET_CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Resolves at SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::error!("cannot listen for SIGTERM/SIGINT; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `MAX_CONNECTIONS` for each of the two listeners, lowered when the process's descriptor limit
/// cannot hold both plus a reserve (store, Redis, files): a full listener must refuse connections,
/// never starve the other listener or the store of descriptors.
fn connection_cap(configured: usize) -> usize {
    const RESERVE: usize = 256;
    let Some(limit) = descriptor_limit() else { return configured };
    let fits = limit.saturating_sub(RESERVE) / 2;
    if configured > fits {
        tracing::warn!(configured, limit, fits, "MAX_CONNECTIONS lowered to fit the descriptor limit (ulimit -n)");
        return fits.max(1);
    }
    configured
}

/// Sockets are file descriptors, and the usual soft limit (1,024) is far below what one node serves:
/// raises it to the hard limit. Called first thing in `main`; `MAX_CONNECTIONS` per listener is then
/// fitted under whatever limit holds ([`connection_cap`]).
pub fn raise_descriptor_limit() {
    #[cfg(unix)]
    if let Some(mut limit) = open_file_limit().filter(|l| l.rlim_cur < l.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit only reads the struct we pass.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

/// The process's open-file limit (soft), if the platform tells.
fn descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        open_file_limit().map(|limit| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(unix)]
fn open_file_limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// The provider clients; a channel without credentials is disabled, loudly, and the rest runs.
fn outbound(config: &Config) -> anyhow::Result<Outbound> {
    let messenger = config.messenger();
    match &messenger {
        None => tracing::warn!("Messenger channel disabled: set MESSENGER_APP_SECRET and MESSENGER_VERIFY_TOKEN"),
        Some(m) if m.page_access_token.is_none() => {
            tracing::warn!("Messenger replies disabled: set MESSENGER_PAGE_ACCESS_TOKEN")
        }
        Some(_) => {}
    }
    let twilio = config.twilio();
    if twilio.is_none() {
        tracing::warn!("WhatsApp channel disabled: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN");
    }
    let status_callback =
        config.public_url.as_ref().map(|url| format!("{}/api/webhooks/twilio/status", url.trim_end_matches('/')));
    let timeout = Duration::from_millis(config.outbound_timeout_ms);
    Outbound::new(messenger, twilio, status_callback, timeout).context("building the provider HTTP client")
}

fn jwt_secret(config: &Config) -> Vec<u8> {
    match &config.jwt_secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret for this run only. Every token dies at restart \
                 and nodes cannot verify each other's tokens. Set JWT_SECRET in production."
            );
            let mut secret = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            secret
        }
    }
}
