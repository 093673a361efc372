//! Each license's security policy, cached on every node for a few seconds: the policy is read on every
//! authenticated request and socket, so it must cost no store round trip, yet a change must reach every
//! node promptly. A short freshness window gives both without a bus message: the node that stored the
//! change forgets its copy at once, the others within [`FRESH_FOR`].

use crate::domain::{LicenseKey, SecurityPolicy};
use crate::store::{Store, StoreResult};
use dashmap::DashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a node trusts its copy of a policy.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// Entries kept before stale ones are swept on insert (one per license active on this node).
const SWEEP_ABOVE: usize = 10_000;

/// Policies by license, read through from the store.
#[derive(Clone)]
pub struct PolicyCache {
    store: Store,
    entries: Arc<DashMap<LicenseKey, (Instant, Arc<SecurityPolicy>)>>,
}

impl PolicyCache {
    /// An empty cache over `store`.
    pub fn new(store: Store) -> Self {
        Self { store, entries: Arc::default() }
    }

    /// The license's policy: the cached copy while fresh, else the store's. When the store cannot answer,
    /// a stale copy is better than refusing every request of the license, so it is served (and logged).
    pub async fn get(&self, license: &LicenseKey) -> StoreResult<Arc<SecurityPolicy>> {
        let cached = self.entries.get(license).map(|entry| entry.value().clone());
        if let Some((read_at, policy)) = &cached {
            if read_at.elapsed() < FRESH_FOR {
                return Ok(policy.clone());
            }
        }
        match self.store.security_policy(license).await {
            Ok(policy) => {
                let policy = Arc::new(policy);
                if self.entries.len() >= SWEEP_ABOVE {
                    self.entries.retain(|_, (read_at, _)| read_at.elapsed() < FRESH_FOR);
                }
                self.entries.insert(license.clone(), (Instant::now(), policy.clone()));
                Ok(policy)
            }
            Err(err) => match cached {
                Some((_, policy)) => {
                    tracing::warn!(%err, "serving a stale security policy: the store did not answer");
                    Ok(policy)
                }
                None => Err(err),
            },
        }
    }

    /// Drops this node's copy, so the next request reads the store (after this node changed it).
    pub fn forget(&self, license: &LicenseKey) {
        self.entries.remove(license);
    }
}
