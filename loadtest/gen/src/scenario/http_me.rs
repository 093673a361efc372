//! `http_auth`: `GET /api/auth/me` at RATE requests per second for DURATION s, round robin over the
//! tenants' owners and CONNECTIONS keep-alive clients — the lean counterpart of loadtest/http_auth.js
//! (k6 on two cores adds milliseconds of its own to a sub-millisecond answer). Latency is request sent →
//! whole response read; every answer must be a 200 that names the user.

use super::Timeline;
use crate::config::Params;
use crate::probe;
use crate::setup::Tenant;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::sleep_until;

/// What the requests saw.
#[derive(Debug, Default)]
pub struct MeStats {
    /// Requests sent.
    pub sent: u64,
    /// 200 answers that carry a user.
    pub ok: u64,
    /// Anything else: another status, a transport error, a timeout.
    pub errors: u64,
    /// Request → response, µs, of the good answers.
    pub latency_us: Vec<u32>,
    /// First and last answer ([`probe::now_us`]).
    pub first_us: u64,
    /// See `first_us`.
    pub last_us: u64,
}

/// Sends the schedule and gathers every answer (each request gives up after 5 s).
pub async fn run(p: Arc<Params>, tenants: &[Tenant], tl: Timeline) -> MeStats {
    let clients: Vec<reqwest::Client> = (0..p.sockets.max(1))
        .filter_map(|_| reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok())
        .collect();
    let url = format!("{}/api/auth/me", p.base_url);
    let period = Duration::from_secs_f64(1.0 / p.rate.max(1) as f64);
    let total = p.rate * p.duration;
    let mut pending = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut st = MeStats { first_us: u64::MAX, ..MeStats::default() };
    for i in 0..total {
        sleep_until(tl.start + period.mul_f64(i as f64)).await;
        let Some(client) = clients.get(i as usize % clients.len().max(1)).cloned() else { break };
        let token = tenants[i as usize % tenants.len()].token.clone();
        let url = url.clone();
        st.sent += 1;
        pending.push(tokio::spawn(async move {
            let t0 = probe::now_us();
            let answer = client.get(&url).bearer_auth(token).send().await.map_err(|e| e.to_string())?;
            let status = answer.status();
            let body = answer.text().await.map_err(|e| e.to_string())?;
            let t1 = probe::now_us();
            (status.as_u16() == 200 && body.contains("\"user\""))
                .then_some((t1, (t1 - t0) as u32))
                .ok_or_else(|| format!("HTTP {status}: {}", body.chars().take(120).collect::<String>()))
        }));
    }
    for answer in pending {
        match answer.await {
            Ok(Ok((at, us))) => {
                st.ok += 1;
                st.latency_us.push(us);
                st.first_us = st.first_us.min(at);
                st.last_us = st.last_us.max(at);
            }
            Ok(Err(e)) => {
                st.errors += 1;
                if st.errors <= 5 {
                    eprintln!("loadgen: me: {e}");
                }
            }
            Err(_) => st.errors += 1,
        }
    }
    st.first_us = if st.first_us == u64::MAX { 0 } else { st.first_us };
    st
}
