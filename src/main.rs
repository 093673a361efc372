//! Entry point: parse the command line, set up logging, serve or run an operator command.

use clap::Parser;
use switchboard::app::Application;
use switchboard::cli::{run_license_command, Cli, Command};
use switchboard::config::Config;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(config).await?.run_until_stopped().await?,
        Command::License(command) => run_license_command(&config, command).await?,
    }
    Ok(())
}
