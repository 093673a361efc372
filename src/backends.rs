//! The state nodes share — event bus, session cache, presence, rate limits — in-process on a single
//! machine, in Redis when `REDIS_URL` is set. Chosen once here, for the server and the CLI alike, and
//! held to one contract: the tests at the bottom run the same assertions against both implementations.

use crate::actors::Presence;
use crate::auth::SessionCache;
use crate::bus::{LocalBus, RedisBus, SharedBus};
use crate::config::{redact, Config};
use crate::limits::{Budgets, RateLimits, SharedCounters};
use crate::usage::DailyCounter;
use anyhow::Context;
use redis::io::tcp::TcpSettings;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// What nodes share: in-process on a single machine, Redis when `REDIS_URL` is set.
pub(crate) struct Backends {
    /// Event bus, scoped by license.
    pub(crate) bus: SharedBus,
    /// Session states in front of the sessions table.
    pub(crate) sessions: SessionCache,
    /// Visitors online.
    pub(crate) presence: Presence,
    /// Widget rate limits.
    pub(crate) limits: Arc<RateLimits>,
    /// Live daily API-call counts.
    pub(crate) usage: DailyCounter,
}

impl Backends {
    /// The in-process backends, or the Redis ones when `config` names a Redis.
    pub(crate) async fn connect(config: &Config) -> anyhow::Result<Self> {
        let rate = |name: &str, value: u32| NonZeroU32::new(value).with_context(|| format!("{name} must be > 0"));
        let budgets = Budgets {
            visitor_rate: rate("VISITOR_RATE_PER_SECOND", config.visitor_rate_per_second)?,
            visitor_burst: rate("VISITOR_BURST", config.visitor_burst)?,
            license_rate: rate("LICENSE_RATE_PER_SECOND", config.license_rate_per_second)?,
            source_rate: rate("SOURCE_RATE_PER_SECOND", config.source_rate_per_second)?,
            new_conversations_per_minute: rate(
                "NEW_CONVERSATIONS_PER_SOURCE_PER_MINUTE",
                config.new_conversations_per_source_per_minute,
            )?,
            logins_per_source_per_minute: rate(
                "LOGIN_ATTEMPTS_PER_SOURCE_PER_MINUTE",
                config.login_attempts_per_source_per_minute,
            )?,
            logins_per_email_per_minute: rate(
                "LOGIN_ATTEMPTS_PER_EMAIL_PER_MINUTE",
                config.login_attempts_per_email_per_minute,
            )?,
            sockets_per_visitor: config.max_sockets_per_visitor,
            connections_per_source: config.max_connections_per_source,
            api_rate: rate("API_RATE_PER_SECOND", config.burst.api_rate_per_second)?,
            webhook_ingest_rate: rate("WEBHOOK_INGEST_RATE_PER_SECOND", config.burst.webhook_ingest_rate_per_second)?,
            emit_rate: rate("SOCKETIO_EMIT_RATE_PER_SECOND", config.burst.socketio_emit_rate_per_second)?,
        };
        let Some(url) = &config.redis_url else {
            return Ok(Self {
                bus: Arc::new(LocalBus::new(config.recovery_window_events)),
                sessions: SessionCache::local(),
                presence: Presence::Local,
                limits: sweeping(RateLimits::new(budgets, None)),
                usage: DailyCounter::local(),
            });
        };
        let info = redis::IntoConnectionInfo::into_connection_info(url.as_str()).context("parsing REDIS_URL")?;
        // TCP_NODELAY (redis-rs leaves Nagle on): a command written while the last one's reply is out waits
        // for an ACK otherwise, which the server may hold back up to 40 ms (delayed ACK).
        let client = redis::Client::open(info.set_tcp_settings(TcpSettings::default().set_nodelay(true)))
            .context("parsing REDIS_URL")?;
        // Short timeouts: a Redis outage must degrade requests (store fallback, local limits), not stall them.
        let manager = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = redis::aio::ConnectionManager::new_with_config(client.clone(), manager)
            .await
            .with_context(|| format!("connecting to Redis at {}", redact(url)))?;
        let prefix = config.redis_key_prefix.clone();
        let node = config.node_name();
        tracing::info!(%node, "scale-out mode: bus, sessions, presence, rate limits and usage in Redis");
        let counters =
            SharedCounters::new(conn.clone(), prefix.clone(), config.visitor_burst, config.license_rate_per_second);
        Ok(Self {
            bus: RedisBus::start(client, conn.clone(), prefix.clone(), node, config.recovery_window_events).await,
            sessions: SessionCache::redis(conn.clone(), prefix.clone()),
            usage: DailyCounter::redis(conn.clone(), prefix.clone()),
            presence: Presence::Redis { conn, prefix },
            limits: sweeping(RateLimits::new(budgets, Some(counters))),
        })
    }
}

/// Sweeps the local limiters' forgotten keys each minute, so they cannot grow without bound.
fn sweeping(limits: RateLimits) -> Arc<RateLimits> {
    let limits = Arc::new(limits);
    let weak = Arc::downgrade(&limits);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(limits) = weak.upgrade() else { break };
            limits.sweep();
        }
    });
    limits
}

/// One contract, run against both implementations: what the server relies on from its shared state must
/// hold in-process and in Redis alike (Redis from `TEST_REDIS_URL`, as `scripts/test` sets it).
#[cfg(test)]
mod contract {
    use super::Backends;
    use crate::bus::{Activity, Event};
    use crate::config::Config;
    use crate::domain::{now_millis, LicenseKey, UserId};
    use crate::store::Session;

    /// The settings as the command line would parse them.
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        config: Config,
    }

    /// The in-process backends and, when Redis is configured, the Redis ones under a fresh key prefix.
    async fn both() -> anyhow::Result<Vec<(&'static str, Backends)>> {
        let mut config = <Args as clap::Parser>::try_parse_from(["switchboard"])?.config;
        (config.visitor_rate_per_second, config.visitor_burst) = (1, 3);
        config.redis_url = None;
        let mut backends = vec![("in-process", Backends::connect(&config).await?)];
        match std::env::var("TEST_REDIS_URL") {
            Ok(url) => {
                config.redis_url = Some(url);
                config.redis_key_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
                backends.push(("redis", Backends::connect(&config).await?));
            }
            Err(_) => assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TEST_REDIS_URL is unset: run the tests through scripts/test"
            ),
        }
        Ok(backends)
    }

    fn session(license: &LicenseKey, jti: &str) -> Session {
        Session {
            jti: jti.into(),
            user_id: UserId::generate(),
            license_key: license.clone(),
            expires_at: now_millis() + 60_000,
            revoked_at: None,
        }
    }

    #[tokio::test]
    async fn session_cache_remembers_revokes_and_drops_a_whole_license() -> anyhow::Result<()> {
        for (name, backends) in both().await? {
            let cache = backends.sessions;
            let (license, other) = (LicenseKey::generate(), LicenseKey::generate());
            assert_eq!(cache.lookup(&license, "j1").await, None, "{name}: unknown until remembered");
            cache.remember(&session(&license, "j1")).await;
            assert_eq!(cache.lookup(&license, "j1").await, Some(true), "{name}");
            cache.forget(&license, "j1", now_millis() + 60_000).await;
            assert_eq!(cache.lookup(&license, "j1").await, Some(false), "{name}: revoked until expiry");
            cache.remember(&session(&license, "j2")).await;
            cache.remember(&session(&other, "j3")).await;
            cache.forget_license(&license).await;
            assert_eq!(cache.lookup(&license, "j2").await, None, "{name}: the store decides after a suspension");
            assert_eq!(cache.lookup(&other, "j3").await, Some(true), "{name}: other licenses untouched");
        }
        Ok(())
    }

    #[tokio::test]
    async fn bus_delivers_to_its_license_only_and_flushes() -> anyhow::Result<()> {
        for (name, backends) in both().await? {
            let (license, other) = (LicenseKey::generate(), LicenseKey::generate());
            let mut mine = backends.bus.subscribe(&license);
            let mut theirs = backends.bus.subscribe(&other);
            let event = Event::Activity(Activity::VisitorPresence { online: vec!["v1".into()], offline: Vec::new() });
            backends.bus.publish(&license, event.clone());
            assert_eq!(mine.recv().await?.event, event, "{name}");
            assert!(theirs.try_recv().is_err(), "{name}: another license must not see it");
            tokio::time::timeout(std::time::Duration::from_secs(5), backends.bus.flush()).await?;
        }
        Ok(())
    }

    /// A burst of events (one round trip on Redis) reaches each license's subscribers in order, numbered
    /// one after another; Redis forgetting its scripts (as a restart does) loses none of the next burst.
    #[tokio::test]
    async fn a_burst_arrives_in_order_numbered_and_survives_forgotten_scripts() -> anyhow::Result<()> {
        let visitor =
            |name: String| Event::Activity(Activity::VisitorPresence { online: vec![name], offline: Vec::new() });
        for (name, backends) in both().await? {
            let licenses = [LicenseKey::generate(), LicenseKey::generate()];
            let mut subscribers: Vec<_> = licenses.iter().map(|l| backends.bus.subscribe(l)).collect();
            let mut last_offsets: Vec<Option<u64>> = vec![None; licenses.len()];
            for burst in 0..2 {
                if let (1, Ok(url)) = (burst, std::env::var("TEST_REDIS_URL")) {
                    let mut redis = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
                    redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut redis).await?;
                }
                for i in 0..200 {
                    for license in &licenses {
                        backends.bus.publish(license, visitor(format!("v{burst}-{i}")));
                    }
                }
                for (subscriber, last) in subscribers.iter_mut().zip(&mut last_offsets) {
                    for i in 0..200 {
                        let got = tokio::time::timeout(std::time::Duration::from_secs(5), subscriber.recv()).await??;
                        assert_eq!(got.event, visitor(format!("v{burst}-{i}")), "{name}: burst {burst}, in order");
                        // Without a position it was not kept in the history (Redis refused it).
                        let offset = got.position.as_ref().map(|p| p.offset);
                        assert!(offset.is_some(), "{name}: burst {burst}, event {i} is in the history");
                        if let (Some(before), Some(offset)) = (*last, offset) {
                            assert_eq!(offset, before + 1, "{name}: numbered one after another");
                        }
                        *last = offset;
                    }
                }
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn visitor_frames_stop_at_the_burst() -> anyhow::Result<()> {
        for (name, backends) in both().await? {
            let license = LicenseKey::generate();
            for frame in 1..=3 {
                assert!(backends.limits.allow_visitor_frame(&license, "v1").await, "{name}: frame {frame}");
            }
            assert!(!backends.limits.allow_visitor_frame(&license, "v1").await, "{name}: over the burst");
            assert!(backends.limits.allow_visitor_frame(&license, "v2").await, "{name}: another visitor");
        }
        Ok(())
    }

    #[tokio::test]
    async fn usage_counts_per_license_and_day_and_resumes_from_the_store() -> anyhow::Result<()> {
        let store = crate::store::Store::connect("sqlite::memory:", 1).await?;
        store.migrate().await?;
        for (name, backends) in both().await? {
            let (license, other) = (LicenseKey::generate(), LicenseKey::generate());
            let counter = backends.usage;
            for expected in 1..=3 {
                assert_eq!(counter.increment(&store, &license, "2030-01-01").await?, expected, "{name}");
            }
            assert_eq!(counter.current(&store, &license, "2030-01-01").await?, 3, "{name}: reading does not count");
            assert_eq!(counter.increment(&store, &license, "2030-01-02").await?, 1, "{name}: a new day starts at 0");
            assert_eq!(counter.current(&store, &other, "2030-01-01").await?, 0, "{name}: other licenses apart");
            // A counter that starts empty (restart, flushed Redis) resumes from the stored history.
            store.save_daily_usage(&other, "2030-01-01", 41).await?;
            assert_eq!(counter.increment(&store, &other, "2030-01-01").await?, 42, "{name}");
        }
        Ok(())
    }
}
