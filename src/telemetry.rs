//! Prometheus metrics: the `metrics` facade records, `metrics-exporter-prometheus` renders `/metrics`.
//!
//! Names are constants here so every call site and the README agree. Labels are small closed sets
//! (transport, channel, result, reason): a tenant id never becomes a label value, so the number of
//! series does not grow with the number of licenses.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Sockets open now, by `transport` (widget, dashboard_ws, socketio).
pub const SOCKETS_OPEN: &str = "switchboard_sockets_open";
/// Socket connections accepted, by `transport`.
pub const SOCKET_CONNECTS: &str = "switchboard_socket_connects_total";
/// Socket connections ended, by `transport` and `reason`.
pub const SOCKET_DISCONNECTS: &str = "switchboard_socket_disconnects_total";
/// Connections refused before they became sockets, by `reason` (listener_full, source_full, visitor_full).
pub const CONNECTIONS_REFUSED: &str = "switchboard_connections_refused_total";
/// Messages stored, by `channel` and `sender`.
pub const MESSAGES_STORED: &str = "switchboard_messages_stored_total";
/// Seconds one group commit took, from the transaction's start to its end.
pub const COMMIT_SECONDS: &str = "switchboard_commit_seconds";
/// Messages per group commit.
pub const COMMIT_BATCH: &str = "switchboard_commit_batch_size";
/// Messages waiting for a conversation's next commit when one starts.
pub const COMMIT_QUEUE: &str = "switchboard_commit_queue_depth";
/// Live events delivered to sockets, by `transport` (one per socket; one per room broadcast for
/// Socket.IO sockets on long-polling).
pub const DELIVERIES: &str = "switchboard_deliveries_total";
/// Seconds from an event's publication on this node to its hand-off to the sockets, by `transport`: one
/// observation per dashboard room (until the room's last socket was written) or polling Socket.IO room
/// broadcast; widgets record none.
pub const FANOUT_SECONDS: &str = "switchboard_fanout_seconds";
/// Events published on the bus.
pub const BUS_PUBLISHED: &str = "switchboard_bus_published_total";
/// Events relayed from other nodes.
pub const BUS_RELAYED: &str = "switchboard_bus_relayed_total";
/// Errors talking to Redis, by `operation`.
pub const REDIS_ERRORS: &str = "switchboard_redis_errors_total";
/// Store calls that failed, by `kind` (unavailable, duplicate, invalid, other).
pub const STORE_ERRORS: &str = "switchboard_store_errors_total";
/// Outbound provider requests, by `provider` and `result` (sent, retry, failed).
pub const OUTBOUND_ATTEMPTS: &str = "switchboard_outbound_attempts_total";
/// Counter: outgoing tenant webhook attempts, by `result` (succeeded, retry, failed).
pub const WEBHOOK_ATTEMPTS: &str = "switchboard_webhook_attempts_total";
/// Refusals by a rate limit, by `limit` (visitor, source, license, new_conversation, login).
pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";
/// Live actors, by `kind` (conversation, tenant).
pub const ACTORS_LIVE: &str = "switchboard_actors_live";
/// HTTP requests answered, by `status` class (2xx, 4xx, …).
pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
/// Seconds an HTTP request took, by `status` class.
pub const HTTP_SECONDS: &str = "switchboard_http_request_seconds";

/// Latency buckets: 0.1 ms to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Batch-size buckets: 1 to the group commit's cap.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histogram samples are folded into their buckets (the exporter's own default).
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide recorder's handle, installed on first use (once per process, as `metrics` allows
/// one global recorder; tests start several servers in one process and share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), BATCH_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_depth".into()), BATCH_BUCKETS));
        let recorder = match builder {
            Ok(builder) => builder.build_recorder(),
            Err(err) => {
                tracing::warn!(%err, "metric buckets refused; using summaries");
                PrometheusBuilder::new().build_recorder()
            }
        };
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows only this one's series");
        }
        // A histogram keeps every sample until upkeep folds them into its buckets, and only a scrape of
        // /metrics ran upkeep: a server nobody scraped grew by each commit's, request's and fan-out's sample.
        let upkept = handle.clone();
        let upkeep = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            upkept.run_upkeep();
        });
        if let Err(err) = upkeep {
            tracing::warn!(%err, "no metrics upkeep thread; histograms are folded only when /metrics is scraped");
        }
        handle
    })
}

/// A kind of socket: the `transport` label of the socket and delivery metrics.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    /// Socket.IO dashboards.
    SocketIo,
    /// Plain WebSocket dashboards.
    DashboardWs,
    /// Widget visitors.
    Widget,
}

impl Transport {
    /// The metrics' `transport` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::SocketIo => "socketio",
            Self::DashboardWs => "dashboard_ws",
            Self::Widget => "widget",
        }
    }
}

/// Counts `count` deliveries of one event on `transport` and, given when the event was published, records
/// once how long its fan-out took until the last of them. One observation per event, not per socket: at
/// 1,000 Socket.IO sockets a histogram sample per delivery cost ~2.5 % of the server's CPU. The two handles
/// are looked up once per transport: resolving a metric by name and labels hashes and compares its key.
pub fn delivered(transport: Transport, count: u64, published: Option<std::time::Instant>) {
    static HANDLES: [OnceLock<(metrics::Counter, Option<metrics::Histogram>)>; 3] = [const { OnceLock::new() }; 3];
    if count == 0 {
        return;
    }
    let (deliveries, fanout) = HANDLES[transport as usize].get_or_init(|| {
        // Installed first: a handle taken before the recorder would record nothing, for good.
        handle();
        let label = transport.label();
        // A widget's frames come from its conversation, not the bus: no publication time, no series.
        let timed = !matches!(transport, Transport::Widget);
        let fanout = timed.then(|| metrics::histogram!(FANOUT_SECONDS, "transport" => label));
        (metrics::counter!(DELIVERIES, "transport" => label), fanout)
    });
    deliveries.increment(count);
    if let (Some(fanout), Some(published)) = (fanout, published) {
        fanout.record(published.elapsed().as_secs_f64());
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let handle = handle();
    handle.run_upkeep();
    handle.render()
}

/// `2xx`, `4xx`, … for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Counts a socket for as long as it lives: connect on creation, disconnect with a reason on drop.
pub struct SocketGauge {
    transport: Transport,
    reason: &'static str,
}

impl SocketGauge {
    /// A socket of `transport` has opened.
    pub fn open(transport: Transport) -> Self {
        count_socket_opened(transport);
        Self { transport, reason: "client" }
    }

    /// Why the socket ends (recorded when it is dropped); `client` unless set.
    pub fn set_reason(&mut self, reason: &'static str) {
        self.reason = reason;
    }
}

impl Drop for SocketGauge {
    fn drop(&mut self) {
        count_socket_closed(self.transport, self.reason);
    }
}

/// Counts a socket of `transport` opening; for sockets whose end arrives as a callback rather than a
/// scope (Socket.IO), paired with [`count_socket_closed`]. Scoped sockets use [`SocketGauge`].
pub fn count_socket_opened(transport: Transport) {
    metrics::counter!(SOCKET_CONNECTS, "transport" => transport.label()).increment(1);
    metrics::gauge!(SOCKETS_OPEN, "transport" => transport.label()).increment(1.0);
}

/// Counts a socket of `transport` ending for `reason`.
pub fn count_socket_closed(transport: Transport, reason: &'static str) {
    metrics::gauge!(SOCKETS_OPEN, "transport" => transport.label()).decrement(1.0);
    metrics::counter!(SOCKET_DISCONNECTS, "transport" => transport.label(), "reason" => reason).increment(1);
}
