//! The command line: `switchboard` serves; `switchboard license …` manages licenses directly in the store,
//! so a single-machine operator needs no admin token to get started.

use crate::audit::{Actor, Origin};
use crate::backends::Backends;
use crate::config::{redact, Config};
use crate::licenses::{license_json, LicenseOrder, Licenses, Operator};
use crate::store::Store;
use anyhow::Context;
use clap::{Parser, Subcommand};

/// Command-line arguments.
#[derive(Parser)]
#[command(name = "switchboard", version, about = "Real-time customer-messaging server")]
pub struct Cli {
    /// Every setting, as a flag or an environment variable.
    #[command(flatten)]
    pub config: Config,
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage licenses in the configured store (DATABASE_URL).
    #[command(subcommand)]
    License(LicenseCommand),
}

/// License management.
#[derive(Subcommand)]
pub enum LicenseCommand {
    /// Issue a license and print its key.
    Create {
        /// Purchaser's e-mail.
        #[arg(long)]
        email: String,
        /// Products, comma-separated: chatbot, sales-agent, data-enrichment, setup-agent.
        #[arg(long, value_delimiter = ',', required = true)]
        products: Vec<String>,
        /// free, basic, pro or enterprise.
        #[arg(long, default_value = "basic")]
        tier: String,
    },
    /// List every license.
    List,
    /// Suspend a license: logins refused, sessions revoked, open dashboard sockets closed (on running servers
    /// too when REDIS_URL names their Redis).
    Suspend {
        /// The license key.
        key: String,
    },
    /// Reinstate a suspended license.
    Activate {
        /// The license key.
        key: String,
    },
}

/// Runs a license command and prints its result as JSON. It uses the server's store and, with
/// `REDIS_URL`, its Redis: a suspension then reaches every running node (sessions refused, sockets closed).
pub async fn run_license_command(config: &Config, command: LicenseCommand) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 1)
        .await
        .with_context(|| format!("connecting to the store at {}", redact(&config.database_url)))?;
    store.migrate().await.context("running migrations")?;
    let backends = Backends::connect(config).await?;
    let licenses = Licenses::new(store, backends.sessions, backends.bus.clone());
    let cli = Operator { actor: Actor::admin("cli"), origin: Origin::default() };
    let output = match command {
        LicenseCommand::Create { email, products, tier } => {
            license_json(&licenses.issue(&LicenseOrder { email, products, tier: Some(tier) }, &cli).await?)
        }
        LicenseCommand::List => serde_json::Value::Array(licenses.list().await?.iter().map(license_json).collect()),
        LicenseCommand::Suspend { key } => {
            if config.redis_url.is_none() {
                tracing::warn!(
                    "REDIS_URL is not set: a running single-machine server keeps its cached sessions of this \
                     license until they expire; suspend through the admin API to reach it at once"
                );
            }
            license_json(&licenses.suspend(&key, &cli).await?)
        }
        LicenseCommand::Activate { key } => license_json(&licenses.activate(&key, &cli).await?),
    };
    // The suspension's `session:revoked` must reach Redis before the process exits.
    backends.bus.flush().await;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
