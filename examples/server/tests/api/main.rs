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
mod contract;
mod corrections;
mod cors;
mod daily;
mod demo;
mod employee_import;
mod employees;
mod faults;
mod file_tools;
mod helpers;
mod holidays;
mod kill;
mod leave;
mod leave_chains;
mod limits;
mod machines;
mod ops;
mod overrides;
mod oversight;
mod postgres;
mod push_sources;
mod realtime;
mod reports;
mod scans;
mod settings;
mod shifts;
mod summary_cache;
mod tools;
mod web;
mod writes;
mod ws_scale;
mod year_end;
