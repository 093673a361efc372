//! Micro-benchmarks of the hot paths: `cargo bench --bench hot_paths`.
//! PostgreSQL cases run when `DATABASE_ADMIN_URL` is set (see `scripts/services`).

// A benchmark whose setup fails should stop loudly, where it failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use switchboard::auth::{hash_password, Authenticator, Claims, SessionCache, TokenKeys};
use switchboard::bus::{Activity, Event, EventBus, LocalBus};
use switchboard::domain::{
    now_millis, Channel, ContactId, ConversationId, Email, LicenseKey, MessageKind, Product, Role, Sender, Tier, UserId,
};
use switchboard::store::{ConversationAppend, NewLicense, NewMessage, NewUser, Store};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
    })
}

async fn sqlite_store() -> Store {
    let path = std::env::temp_dir().join(format!("sb_bench_{}.db", uuid::Uuid::new_v4().simple()));
    let store = Store::connect(&format!("sqlite://{}", path.display()), 4).await.expect("sqlite");
    store.migrate().await.expect("migrations");
    store
}

async fn postgres_store() -> Option<Store> {
    let admin = std::env::var("DATABASE_ADMIN_URL").ok()?;
    let name = format!("sb_bench_{}", uuid::Uuid::new_v4().simple());
    use sqlx::{Connection, Executor};
    let mut admin_conn = sqlx::PgConnection::connect(&admin).await.expect("postgres");
    admin_conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let store = Store::connect(&format!("{base}/{name}"), 8).await.expect("postgres");
    store.migrate().await.expect("migrations");
    Some(store)
}

/// A license with one owner, and a widget conversation.
async fn tenant(store: &Store) -> (LicenseKey, UserId, ConversationId) {
    let license = store
        .create_license(&NewLicense {
            email: "bench@example.com".into(),
            products: vec![Product::Chatbot],
            tier: Tier::Enterprise,
        })
        .await
        .expect("license");
    let user = store
        .create_user(&NewUser {
            email: Email::parse(&format!("{}@example.com", uuid::Uuid::new_v4().simple())).expect("email"),
            password_hash: hash_password("benchmark-pass".into()).await.expect("hash"),
            license_key: license.license_key.clone(),
            role: Role::Owner,
            name: None,
        })
        .await
        .expect("user");
    let conversation = store
        .create_conversation(
            &license.license_key,
            Channel::Widget,
            &ContactId::from("visitor".to_owned()),
            None,
            &serde_json::json!({}),
        )
        .await
        .expect("conversation");
    (license.license_key, user.id, conversation.id)
}

mod auth {
    use super::*;

    /// Signature and expiry check alone.
    #[divan::bench]
    fn jwt_verify(bencher: divan::Bencher) {
        let keys = TokenKeys::new(b"bench-secret");
        let claims = Claims {
            sub: UserId::generate(),
            email: "a@b.co".into(),
            license_key: LicenseKey::parse("INTL-AAAA-BBBB-CCCC").unwrap(),
            role: Role::Owner,
            products: vec![Product::Chatbot],
            iat: 0,
            exp: now_millis() / 1000 + 3600,
            jti: "j".into(),
            mfa: false,
        };
        let token = keys.sign(&claims).expect("signed");
        bencher.bench(|| keys.verify(divan::black_box(&token)).expect("valid"));
    }

    /// What every authenticated request pays: verify plus the cached session lookup (the `me` path).
    #[divan::bench]
    fn jwt_validate_with_session_lookup(bencher: divan::Bencher) {
        let rt = runtime();
        let (auth, token) = rt.block_on(async {
            let store = sqlite_store().await;
            let (license, user_id, _) = tenant(&store).await;
            let keys = TokenKeys::new(b"bench-secret");
            let auth = Authenticator::new(keys, SessionCache::local(), store, 3600);
            let now = now_millis() / 1000;
            let claims = Claims {
                sub: user_id,
                email: "bench@example.com".into(),
                license_key: license.clone(),
                role: Role::Owner,
                products: vec![Product::Chatbot],
                iat: now,
                exp: now + 3600,
                jti: uuid::Uuid::new_v4().to_string(),
                mfa: false,
            };
            let token = auth.issue(&claims).await.expect("issued");
            (auth, token)
        });
        bencher.bench(|| rt.block_on(auth.validate(divan::black_box(&token))).expect("valid"));
    }
}

mod persist {
    use super::*;

    fn message(i: u64) -> NewMessage {
        NewMessage {
            sender: Sender::Visitor,
            kind: MessageKind::Text,
            text: "Hello, I have a question about my order".into(),
            client_msg_id: Some(format!("c{i}-{}", uuid::Uuid::new_v4().simple())),
            author_id: None,
            delivery: None,
        }
    }

    fn bench_append(bencher: divan::Bencher, store: Store) {
        let rt = runtime();
        let (license, _, conversation) = rt.block_on(tenant(&store));
        let mut i = 0;
        bencher.bench_local(|| {
            i += 1;
            rt.block_on(store.append_messages(&license, &conversation, &[message(i)], false)).expect("stored")
        });
    }

    fn bench_batch(bencher: divan::Bencher, store: Store, size: usize) {
        let rt = runtime();
        let (license, _, conversation) = rt.block_on(tenant(&store));
        let mut i = 0;
        bencher.counter(divan::counter::ItemsCount::new(size)).bench_local(|| {
            let batch: Vec<NewMessage> = (0..size)
                .map(|_| {
                    i += 1;
                    message(i)
                })
                .collect();
            rt.block_on(store.append_messages(&license, &conversation, &batch, false)).expect("stored")
        });
    }

    /// One message, one transaction (what a lone message costs), SQLite.
    #[divan::bench(sample_count = 200)]
    fn single_sqlite(bencher: divan::Bencher) {
        bench_append(bencher, runtime().block_on(sqlite_store()));
    }

    /// 64 messages in one transaction, SQLite.
    #[divan::bench(sample_count = 50)]
    fn batch_64_sqlite(bencher: divan::Bencher) {
        bench_batch(bencher, runtime().block_on(sqlite_store()), 64);
    }

    /// 200 conversations with one message each in one shared transaction (the widget at load), SQLite.
    #[divan::bench(sample_count = 50)]
    fn shared_200_sqlite(bencher: divan::Bencher) {
        bench_shared(bencher, runtime().block_on(sqlite_store()), 200);
    }

    /// 200 conversations with one message each in one shared transaction, PostgreSQL.
    #[divan::bench(sample_count = 50)]
    fn shared_200_postgres(bencher: divan::Bencher) {
        let Some(store) = runtime().block_on(postgres_store()) else { return };
        bench_shared(bencher, store, 200);
    }

    fn bench_shared(bencher: divan::Bencher, store: Store, conversations: usize) {
        let rt = runtime();
        let (license, _, _) = rt.block_on(tenant(&store));
        let ids: Vec<ConversationId> = (0..conversations)
            .map(|n| {
                let contact = ContactId::from(format!("visitor-{n}"));
                let metadata = serde_json::json!({});
                let created = store.create_conversation(&license, Channel::Widget, &contact, None, &metadata);
                rt.block_on(created).expect("conversation").id
            })
            .collect();
        let mut i = 0;
        bencher.counter(divan::counter::ItemsCount::new(conversations)).bench_local(|| {
            let appends: Vec<ConversationAppend> = ids
                .iter()
                .map(|id| {
                    i += 1;
                    ConversationAppend {
                        license: license.clone(),
                        conversation_id: id.clone(),
                        messages: vec![message(i)],
                        reopen: true,
                    }
                })
                .collect();
            rt.block_on(store.append_shared(&appends)).expect("stored")
        });
    }

    /// One message, one transaction, PostgreSQL.
    #[divan::bench(sample_count = 200)]
    fn single_postgres(bencher: divan::Bencher) {
        let Some(store) = runtime().block_on(postgres_store()) else { return };
        bench_append(bencher, store);
    }

    /// 64 messages in one transaction, PostgreSQL.
    #[divan::bench(sample_count = 50)]
    fn batch_64_postgres(bencher: divan::Bencher) {
        let Some(store) = runtime().block_on(postgres_store()) else { return };
        bench_batch(bencher, store, 64);
    }
}

mod fan_out {
    use super::*;

    /// One event to N subscribers of a license topic, until each has received it.
    #[divan::bench(args = [1, 10, 100, 1000])]
    fn local_bus(bencher: divan::Bencher, subscribers: usize) {
        let bus = Arc::new(LocalBus::new(1_000));
        let license = LicenseKey::parse("INTL-AAAA-BBBB-CCCC").expect("key");
        let mut receivers: Vec<_> = (0..subscribers).map(|_| bus.subscribe(&license)).collect();
        let event = Event::Activity(Activity::VisitorPresence { online: vec!["v".into()], offline: Vec::new() });
        bencher.counter(divan::counter::ItemsCount::new(subscribers)).bench_local(|| {
            bus.publish(&license, event.clone());
            for rx in &mut receivers {
                let received = rx.try_recv().expect("delivered");
                divan::black_box(received.frame().len());
            }
        });
    }
}
