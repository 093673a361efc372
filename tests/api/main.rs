//! Black-box tests: each starts a real server on a free port against its own database
//! (SQLite file, or a fresh PostgreSQL database with its own Redis key prefix) and speaks HTTP to it.

// A failed unwrap is a failed test with its location: exactly what a test wants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod admin;
mod api_keys;
mod audit;
mod auth;
mod availability;
mod backend_sockets;
mod browser;
mod bursts;
mod business_hours;
mod channel_csat;
mod channels;
mod cli;
mod cluster;
mod cluster_recovery;
mod csat;
mod dashboard_live;
mod data_protection;
mod deploy;
mod errors;
mod hardening;
mod health;
mod inbox;
mod leads;
mod nginx;
mod operations;
mod probe;
mod product_keys;
mod raw_ws;
mod read_receipts;
mod receiver;
mod recovery;
mod rolling_restart;
mod scale_out;
mod security;
mod shared_commits;
mod slow_consumers;
mod socketio_wire;
mod team;
mod two_factor;
mod usage;
mod webhook_bench;
mod webhook_crash;
mod webhooks;
mod widget_chat;
mod widget_commands;
