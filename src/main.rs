//! Entry point: parse the command line, set up logging, serve or run an operator command.

use clap::Parser;
use switchboard::app::Application;
use switchboard::cli::{run_license_command, Cli, Command};
use switchboard::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: deliveries and commits allocate many small, short-lived blocks,
/// and glibc's `_int_malloc`, `_int_free` and `malloc_consolidate` took ~20 % of the socket threads'
/// samples at 10k widget messages a second. Measured side by side (`loadtest/pair --reps 3`, 1,000
/// Socket.IO dashboards, 20k deliveries a second): 0.931× the CPU per delivery (0.913–0.946); jemalloc
/// 0.988×. It keeps freed memory longer: see the README's memory figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    switchboard::app::raise_descriptor_limit();
    let cli = Cli::parse();
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match cli.config.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let config = cli.config.without_blanks();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(config).await?.run_until_stopped().await?,
        Command::License(command) => run_license_command(&config, command).await?,
    }
    Ok(())
}
