//! The live numbers' cost as history grows: `cargo bench --bench metrics_at_scale`.
//! Seeds one license with 100,000 conversations and 1,000,000 messages over 60 days (1/60th of them
//! today), then times `metrics:updated`'s query (`Store::metrics`) and the per-member numbers
//! (`Store::member_metrics`). SQLite always; PostgreSQL too when `DATABASE_ADMIN_URL` is set.

// A benchmark whose setup fails should stop loudly, where it failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::{Connection, Executor};
use std::time::Instant;
use switchboard::domain::{now_millis, Product, Tier};
use switchboard::store::{NewLicense, Store};

const CONVERSATIONS: i64 = 100_000;
const PER_CONVERSATION: i64 = 10;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; a test runner listing every target (nextest --all-targets) does not,
    // and gets no tests rather than a million rows.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let path = std::env::temp_dir().join(format!("sb_scale_{}.db", uuid::Uuid::new_v4().simple()));
    let sqlite = format!("sqlite://{}?mode=rwc", path.display());
    measure("sqlite", &sqlite, false).await;
    if let Ok(admin) = std::env::var("DATABASE_ADMIN_URL") {
        let name = format!("sb_scale_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("postgres");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        measure("postgres", &format!("{base}/{name}"), true).await;
        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).await.expect("drop database");
    }
    let _ = std::fs::remove_file(&path);
}

async fn measure(engine: &str, url: &str, postgres: bool) {
    let store = Store::connect(url, 4).await.expect("store");
    store.migrate().await.expect("migrations");
    let license = store
        .create_license(&NewLicense {
            email: "scale@example.com".into(),
            products: vec![Product::Chatbot],
            tier: Tier::Enterprise,
        })
        .await
        .expect("license")
        .license_key;
    let now = now_millis();
    let today = now - now.rem_euclid(DAY_MS);
    let seeded = Instant::now();
    seed(url, postgres, license.as_str(), now).await;
    println!(
        "{engine}: seeded {} messages in {:.1} s",
        CONVERSATIONS * PER_CONVERSATION,
        seeded.elapsed().as_secs_f64()
    );
    for (name, runs) in [("metrics (metrics:updated)", 0), ("member_metrics (/api/team/metrics)", 1)] {
        let mut times = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            if runs == 0 {
                let metrics = store.metrics(&license, today).await.expect("metrics");
                assert!(metrics.median_first_response_ms.is_some());
            } else {
                store.member_metrics(&license, today, None).await.expect("member metrics");
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!("{engine}: {name}: p50 {:.1} ms, max {:.1} ms over 20 runs", times[10], times[19]);
    }
}

/// Bulk rows in plain SQL (the API would take minutes): conversation `i` started `i % 60` days ago,
/// its ten messages alternate visitor and agent 30 s apart.
async fn seed(url: &str, postgres: bool, license: &str, now: i64) {
    let (conversations, messages) = if postgres {
        (
            format!(
                "INSERT INTO conversations (id, license_key, channel, contact_id, status, metadata, last_seq, created_at, updated_at)
                 SELECT lpad(to_hex(i), 32, '0'), '{license}', 'widget', 'v_' || i, 'closed', '{{}}', {PER_CONVERSATION},
                        {now} - (i % 60) * {DAY_MS} - 600000, {now} - (i % 60) * {DAY_MS}
                 FROM generate_series(0::bigint, {CONVERSATIONS} - 1) AS i"
            ),
            format!(
                "INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, created_at)
                 SELECT lpad(to_hex(i), 32, '0'), lpad(to_hex(i / {PER_CONVERSATION}), 32, '0'), '{license}',
                        i % {PER_CONVERSATION} + 1, CASE WHEN i % 2 = 0 THEN 'visitor' ELSE 'agent' END, 'text',
                        'message number ' || i, {now} - ((i / {PER_CONVERSATION}) % 60) * {DAY_MS} - 600000 + (i % {PER_CONVERSATION}) * 30000
                 FROM generate_series(0::bigint, {CONVERSATIONS} * {PER_CONVERSATION} - 1) AS i"
            ),
        )
    } else {
        (
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {CONVERSATIONS} - 1)
                 INSERT INTO conversations (id, license_key, channel, contact_id, status, metadata, last_seq, created_at, updated_at)
                 SELECT printf('%032x', i), '{license}', 'widget', 'v_' || i, 'closed', '{{}}', {PER_CONVERSATION},
                        {now} - (i % 60) * {DAY_MS} - 600000, {now} - (i % 60) * {DAY_MS} FROM n"
            ),
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {CONVERSATIONS} * {PER_CONVERSATION} - 1)
                 INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, created_at)
                 SELECT printf('%032x', i), printf('%032x', i / {PER_CONVERSATION}), '{license}', i % {PER_CONVERSATION} + 1,
                        CASE WHEN i % 2 = 0 THEN 'visitor' ELSE 'agent' END, 'text', 'message number ' || i,
                        {now} - ((i / {PER_CONVERSATION}) % 60) * {DAY_MS} - 600000 + (i % {PER_CONVERSATION}) * 30000 FROM n"
            ),
        )
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("seed connection");
    conn.execute(sqlx::AssertSqlSafe(conversations)).await.expect("seed conversations");
    conn.execute(sqlx::AssertSqlSafe(messages)).await.expect("seed messages");
    // Planner statistics, as a live database has them (autovacuum would gather them in a while).
    conn.execute("ANALYZE").await.expect("analyze");
}
