//! The widget-command driver (`mix`): `show_notification` to every widget of a license
//! (`POST /api/widget/commands`, no `to`), COMMAND_RATE a second round-robin over the tenants, each
//! text a probe, so every visitor socket of the license on every node gets it.

use super::{Pacer, Timeline};
use crate::config::Params;
use crate::probe;
use crate::setup::Tenant;
use serde_json::{json, Value};
use std::time::Duration;

/// What the command driver did.
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Commands sent.
    pub sent: u64,
    /// Failed requests and non-2xx answers.
    pub errors: u64,
    /// Σ of the answers' `delivered`: widget sockets that took a command, as the nodes counted them.
    pub server_delivered: u64,
    /// Request → answer, µs.
    pub answer_us: Vec<u32>,
}

/// Sends `rate × duration` commands from `tl.start`, each request on its own task (a node waits for
/// the other nodes' receipts before it answers), then collects the answers.
pub async fn run(p: &Params, rate: u64, tenants: &[Tenant], tl: Timeline) -> CommandStats {
    let http = reqwest::Client::new();
    let url = format!("{}/api/widget/commands", p.base_url);
    let total = rate * p.duration;
    let mut per_tenant = vec![0u64; tenants.len()];
    let mut tasks = Vec::with_capacity(total as usize);
    let mut st = CommandStats::default();
    let mut n = 0u64;
    let mut pacer = Pacer::start(tl, rate, total).await;
    while let Some(due) = pacer.due(n).await {
        while n < due {
            let i = (n % tenants.len() as u64) as usize;
            let body = json!({ "command": "show_notification", "data": { "text": probe::text(i, per_tenant[i], "") } });
            per_tenant[i] += 1;
            n += 1;
            let req = http.post(&url).bearer_auth(&tenants[i].token).json(&body);
            tasks.push(tokio::spawn(async move {
                let t0 = probe::now_us();
                let res = req.timeout(Duration::from_secs(10)).send().await.map_err(|e| e.to_string())?;
                let status = res.status();
                let text = res.text().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("HTTP {status} {}", text.chars().take(200).collect::<String>()));
                }
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                Ok((probe::now_us().saturating_sub(t0) as u32, v["delivered"].as_u64().unwrap_or(0)))
            }));
        }
    }
    if n < total {
        eprintln!("loadgen: the command driver fell behind: {n} of {total} sent by the end");
        st.errors += total - n;
    }
    st.sent = n;
    for t in tasks {
        match t.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok((us, delivered)) => {
                st.answer_us.push(us);
                st.server_delivered += delivered;
            }
            Err(e) => {
                if st.errors < 3 {
                    eprintln!("loadgen: widget command: {e}");
                }
                st.errors += 1;
            }
        }
    }
    st
}
