//! The web app end to end in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver by `fantoccini`, against the real server on
//! 127.0.0.1:0. Each test saves a PNG screenshot of what it checked under
//! `target/browser-screenshots/`.
//!
//! Without `/usr/bin/chromium` or `/usr/bin/chromedriver` (or the binaries named by `CHROMIUM`
//! and `CHROMEDRIVER`) the tests print that they were skipped and pass; with `CI` set they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    missing_docs,
    dead_code
)]

#[path = "../api/helpers.rs"]
mod helpers;

mod browser;
mod scenarios;
