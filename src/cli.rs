//! The command line: `switchboard` serves; `switchboard license …` manages licenses directly in the store,
//! so a single-machine operator needs no admin token to get started.

use crate::config::Config;
use crate::domain::LicenseKey;
use crate::http::ApiError;
use crate::http::LicenseOrder;
use crate::store::{LicenseStatus, Store};
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
    /// Suspend a license: logins refused, sessions revoked.
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

/// Runs a license command and prints its result as JSON.
pub async fn run_license_command(config: &Config, command: LicenseCommand) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 1).await.context("connecting to the store")?;
    store.migrate().await.context("running migrations")?;
    let output = match command {
        LicenseCommand::Create { email, products, tier } => {
            let order = LicenseOrder { email, products, tier: Some(tier) };
            let new = order.parse().map_err(user_error)?;
            let license = store.create_license(&new).await?;
            crate::http::license_json(&license)
        }
        LicenseCommand::List => {
            let licenses = store.licenses().await?;
            serde_json::Value::Array(licenses.iter().map(crate::http::license_json).collect())
        }
        LicenseCommand::Suspend { key } => set_status(&store, &key, LicenseStatus::Suspended).await?,
        LicenseCommand::Activate { key } => set_status(&store, &key, LicenseStatus::Active).await?,
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

async fn set_status(store: &Store, key: &str, status: LicenseStatus) -> anyhow::Result<serde_json::Value> {
    let key = LicenseKey::parse(key).map_err(|e| anyhow::anyhow!(e.0))?;
    let license = store.set_license_status(&key, status).await?.ok_or_else(|| anyhow::anyhow!("no license {key}"))?;
    if status == LicenseStatus::Suspended {
        store.revoke_license_sessions(&key).await?;
    }
    Ok(crate::http::license_json(&license))
}

fn user_error(err: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}
