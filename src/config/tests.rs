//! The settings as the command line parses them: defaults, refusals, and `.env.example` in sync.

use super::*;
use clap::{CommandFactory, Parser};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: Config,
}

fn parse(args: &[&str]) -> Config {
    Args::try_parse_from(std::iter::once("switchboard").chain(args.iter().copied())).expect("parses").config
}

#[test]
fn env_example_lists_every_setting_and_nothing_else() {
    let documented: std::collections::BTreeSet<String> = include_str!("../../.env.example")
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().split_once('='))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    let settings: std::collections::BTreeSet<String> =
        Args::command().get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect();
    assert_eq!(documented, settings);
}

#[test]
fn defaults_run_on_one_machine() {
    let config = parse(&[]);
    assert_eq!(config.port, 8080);
    assert_eq!(config.database_url, "sqlite://switchboard.db");
    assert!(!config.cookie_secure);
    assert!(config.validate().is_ok());
}

#[test]
fn bad_settings_are_refused_with_their_name() {
    let short = parse(&["--jwt-secret", "short"]).validate().expect_err("refused");
    assert_eq!(short.name, "JWT_SECRET");
    let url = parse(&["--public-url", "example.com"]).validate().expect_err("refused");
    assert_eq!(url.name, "PUBLIC_URL");
    let db = parse(&["--database-url", "mysql://x"]).validate().expect_err("refused");
    assert_eq!(db.name, "DATABASE_URL");
    assert!(Args::try_parse_from(["switchboard", "--port", "http"]).is_err());
    assert!(parse(&["--cookie-secure", "true"]).cookie_secure);
    assert!(!parse(&[]).webhooks.strict_urls(None));
    assert!(parse(&[]).webhooks.strict_urls(Some("https://chat.example")));
    assert!(!parse(&["--webhook-strict-urls", "false"]).webhooks.strict_urls(Some("https://chat.example")));
}

#[test]
fn blank_values_mean_unset() {
    let config = parse(&["--redis-url", "", "--jwt-secret", " "]).without_blanks();
    assert!(config.redis_url.is_none() && config.jwt_secret.is_none());
    assert!(parse(&["--redis-url", ""]).validate().is_ok());
}
