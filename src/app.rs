//! Wiring: connect the store and Redis, build the shared state, bind the HTTP server.

use crate::actors::{Deliverer, Registry, RetryPolicy};
use crate::auth::{Authenticator, SessionCache, TokenKeys};
use crate::bus::{LocalBus, SharedBus};
use crate::channels::outbound::Outbound;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::store::Store;
use crate::ws::socketio;
use crate::ws::widget::VisitorLimiter;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use governor::Quota;
use rand::RngCore;
use std::net::TcpListener;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    socketio_port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// Connects everything `config` names, runs migrations and binds the listener (port 0 picks one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url, config.database_max_connections)
            .await
            .with_context(|| format!("connecting to the store at {}", redact(&config.database_url)))?;
        store.migrate().await.context("running migrations")?;
        let cache = session_cache(&config).await?;
        let keys = TokenKeys::new(&jwt_secret(&config));
        let bus: SharedBus = Arc::new(LocalBus::new());
        let idle_after = Duration::from_secs(config.actor_idle_seconds);
        let deliverer = Deliverer {
            outbound: Arc::new(outbound(&config)?),
            store: store.clone(),
            bus,
            policy: RetryPolicy {
                max_attempts: config.outbound_max_attempts.max(1),
                base_delay: Duration::from_millis(config.outbound_base_delay_ms),
            },
        };
        let registry = Registry::start(deliverer, config.actor_threads, idle_after)?;
        let auth = Authenticator::new(keys, cache, store.clone(), config.jwt_ttl_seconds);
        let socketio_listener = TcpListener::bind((config.host.as_str(), config.socketio_port))
            .with_context(|| format!("binding Socket.IO on {}:{}", config.host, config.socketio_port))?;
        let socketio_port = socketio_listener.local_addr()?.port();
        socketio::serve(socketio_listener, auth.clone(), registry.clone(), config.actor_threads)?;
        let state = web::Data::new(AppState {
            auth,
            store,
            admin_token: config.admin_token.clone(),
            cookie_secure: config.cookie_secure,
            registry,
            visitor_limiter: visitor_limiter(&config)?,
            public_url: config.public_url.clone(),
            messenger: config.messenger(),
            twilio: config.twilio(),
        });
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(middleware::Logger::new("%r %s %Dms").log_target("switchboard::http"))
                .configure(http::configure)
        })
        .listen(listener)?
        .run();
        tracing::info!(port, socketio_port, "listening");
        Ok(Self {
            port,
            socketio_port,
            server,
        })
    }

    /// The bound HTTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound Socket.IO port.
    pub fn socketio_port(&self) -> u16 {
        self.socketio_port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
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
    let status_callback = config
        .public_url
        .as_ref()
        .map(|url| format!("{}/api/webhooks/twilio/status", url.trim_end_matches('/')));
    let timeout = Duration::from_millis(config.outbound_timeout_ms);
    Outbound::new(messenger, twilio, status_callback, timeout).context("building the provider HTTP client")
}

/// One limiter for all visitors, keyed by license and visitor; forgotten keys are swept each minute.
fn visitor_limiter(config: &Config) -> anyhow::Result<Arc<VisitorLimiter>> {
    let rate = NonZeroU32::new(config.visitor_rate_per_second).context("VISITOR_RATE_PER_SECOND must be > 0")?;
    let burst = NonZeroU32::new(config.visitor_burst).context("VISITOR_BURST must be > 0")?;
    let limiter = Arc::new(VisitorLimiter::keyed(Quota::per_second(rate).allow_burst(burst)));
    let weak = Arc::downgrade(&limiter);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(limiter) = weak.upgrade() else { break };
            limiter.retain_recent();
        }
    });
    Ok(limiter)
}

async fn session_cache(config: &Config) -> anyhow::Result<SessionCache> {
    match &config.redis_url {
        None => Ok(SessionCache::local()),
        Some(url) => {
            let client = redis::Client::open(url.as_str()).context("parsing REDIS_URL")?;
            let conn = redis::aio::ConnectionManager::new(client)
                .await
                .with_context(|| format!("connecting to Redis at {}", redact(url)))?;
            Ok(SessionCache::redis(conn, config.redis_key_prefix.clone()))
        }
    }
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

/// Hides the password in a connection URL before it reaches a log line.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
