//! The server's integration tests: one binary, a real server on port 0 per test, a real HTTP
//! client (and a real WebSocket client where events are concerned).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    missing_docs,
    dead_code
)]

mod accounts;
mod audit;
mod auth;
mod cli;
mod cluster;
mod config;
mod corrections;
mod cors;
mod daily;
mod demo;
mod employee_import;
mod employees;
mod file_tools;
mod helpers;
mod holidays;
mod kill;
mod leave;
mod leave_chains;
mod machines;
mod ops;
mod overrides;
mod oversight;
mod postgres;
mod realtime;
mod reports;
mod scans;
mod settings;
mod shifts;
mod summary_cache;
mod tools;
mod web;
mod writes;
mod year_end;
