//! Burst limits per license (or member) on the authenticated HTTP API, provider webhook ingestion and
//! Socket.IO emits (see [`crate::limits`]); each allows bursts of twice its rate.

/// Burst limit settings.
#[derive(Debug, Clone, clap::Args)]
pub struct BurstConfig {
    /// Authenticated API calls one license may make per second on one node (bursts of twice that).
    #[arg(
        long = "api-rate-per-second",
        env = "API_RATE_PER_SECOND",
        global = true,
        hide_env_values = true,
        default_value_t = 50
    )]
    pub api_rate_per_second: u32,
    /// Inbound Messenger/WhatsApp messages one license may take per second on one node (bursts of twice that).
    #[arg(
        long = "webhook-ingest-rate-per-second",
        env = "WEBHOOK_INGEST_RATE_PER_SECOND",
        global = true,
        hide_env_values = true,
        default_value_t = 100
    )]
    pub webhook_ingest_rate_per_second: u32,
    /// Socket.IO emits one member may send per second on one node (bursts of twice that).
    #[arg(
        long = "socketio-emit-rate-per-second",
        env = "SOCKETIO_EMIT_RATE_PER_SECOND",
        global = true,
        hide_env_values = true,
        default_value_t = 20
    )]
    pub socketio_emit_rate_per_second: u32,
}
