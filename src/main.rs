//! Entry point: parse the command line, set up logging, serve or run an operator command.

use clap::Parser;
use switchboard::app::Application;
use switchboard::cli::{run_license_command, Cli, Command};
use switchboard::config::LogFormat;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    return_large_blocks_to_the_os();
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

/// Each password hash allocates 19 MiB (argon2id's recommended cost). glibc raises its mmap threshold
/// after freeing such a block, so later hashes come from the heap and stay resident: a few logins would
/// pin ~150 MiB. A fixed threshold keeps large blocks on mmap, returned to the OS when freed.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
