//! Our ISAPI client (digest auth over reqwest) and [`HikvisionAdapter`], the pull adapter of a
//! Hikvision access-control terminal.
//!
//! Every request is bounded by the configured timeout. A 401 is answered once with the digest
//! the challenge asks for; a second 401 is [`AdapterError::Auth`] at once (terminals may lock the
//! account after repeated failures, so we never retry in a loop).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use attendance_core::machine::Machine;
use attendance_core::store::MachineCursor;
use axum::http::{HeaderValue, Method, header};
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::codec::{
    AcsEventCond, AcsEventInfo, AcsEventPage, AcsEventSearch, MAJOR_EVENT, PERSON_MINORS,
    decode_acs_reply, info_to_scan, parse_time,
};
use super::digest::{Challenge, authorization, parse_challenge};
use super::push::{HikPushDevice, HikPushHub};
use crate::adapter::{
    AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream, http_error, parse_config,
};
use attendance_core::machine::MachineType;

fn default_username() -> String {
    "admin".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn default_page_size() -> u32 {
    30
}
fn default_timeout() -> u64 {
    10
}
fn default_lookback() -> u32 {
    31
}

/// The `config` JSON of a `hikvision` machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HikvisionConfig {
    /// The ISAPI user (default `admin`).
    #[serde(default = "default_username")]
    pub username: String,
    /// Its password.
    #[serde(default)]
    pub password: String,
    /// `http` (default) or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The port; the machine's port when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Rows asked for per page (default 30; the terminal may return fewer).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds to wait for any request (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Days searched back on the first fetch (default 31).
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// The minor codes that count as a punch (default 1, 38, 40, 43, 46, 75).
    #[serde(default)]
    pub minors: Option<Vec<u32>>,
    /// The addresses the terminal may push from (CIDR blocks or addresses); empty: any.
    #[serde(default)]
    pub allowed_sources: crate::sources::AllowedSources,
}

/// An ISAPI session with one terminal: base URL, credentials and the last digest challenge
/// (reused with an increasing `nc`, as browsers and requests do).
#[derive(Debug)]
pub struct HikvisionClient {
    base: String,
    http: reqwest::Client,
    username: String,
    password: String,
    timeout: Duration,
    challenge: Option<Challenge>,
    nc: u32,
}

impl HikvisionClient {
    /// A client for the terminal at `base` (`http://host:port`); fails with
    /// [`AdapterError::Config`] when the HTTP client cannot be built.
    pub fn new(
        base: &str,
        username: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Self, AdapterError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| AdapterError::Config {
                machine_type: MachineType::Hikvision,
                message: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            username: username.to_owned(),
            password: password.to_owned(),
            timeout,
            challenge: None,
            nc: 0,
        })
    }

    /// The terminal's base URL.
    pub fn target(&self) -> &str {
        &self.base
    }

    fn map_error(&self, e: &reqwest::Error, during: &'static str) -> AdapterError {
        http_error(e, &self.base, during, self.timeout)
    }

    fn cnonce(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{:016x}", (nanos as u64) ^ (u64::from(self.nc) << 40))
    }

    /// Sends one request with digest auth; returns the body of a 2xx reply.
    pub async fn request(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        during: &'static str,
    ) -> Result<Bytes, AdapterError> {
        let url = format!("{}{path_and_query}", self.base);
        for attempt in 0..2 {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .timeout(self.timeout);
            if let Some(challenge) = &self.challenge {
                self.nc = self.nc.wrapping_add(1);
                let answer = authorization(
                    challenge,
                    &self.username,
                    &self.password,
                    method.as_str(),
                    path_and_query,
                    self.nc,
                    &self.cnonce(),
                );
                if let Ok(v) = HeaderValue::from_str(&answer) {
                    req = req.header(header::AUTHORIZATION, v);
                }
            }
            if let Some(body) = &body {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = req.send().await.map_err(|e| self.map_error(&e, during))?;
            let status = response.status();
            if status.as_u16() == 401 {
                let challenge = response
                    .headers()
                    .get_all(header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(parse_challenge);
                match challenge {
                    Some(c) if attempt == 0 => {
                        self.challenge = Some(c);
                        self.nc = 0;
                        continue;
                    }
                    Some(_) => {
                        self.challenge = None;
                        return Err(AdapterError::Auth {
                            target: self.base.clone(),
                            message: "the terminal refused the digest credentials".into(),
                        });
                    }
                    None => {
                        return Err(AdapterError::Auth {
                            target: self.base.clone(),
                            message: "401 without a digest challenge".into(),
                        });
                    }
                }
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.map_error(&e, during))?;
            if !status.is_success() {
                return Err(AdapterError::Refused {
                    target: self.base.clone(),
                    message: format!(
                        "{during}: HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ),
                });
            }
            return Ok(bytes);
        }
        Err(AdapterError::Auth {
            target: self.base.clone(),
            message: "the terminal kept asking for credentials".into(),
        })
    }

    /// `GET /ISAPI/System/status`: reachable and authenticated.
    pub async fn status(&mut self) -> Result<(), AdapterError> {
        self.request(Method::GET, "/ISAPI/System/status", None, "status")
            .await
            .map(|_| ())
    }

    /// One page of `POST /ISAPI/AccessControl/AcsEvent?format=json`.
    pub async fn search_page(&mut self, cond: &AcsEventCond) -> Result<AcsEventPage, AdapterError> {
        let body = serde_json::to_vec(&AcsEventSearch { cond: cond.clone() }).map_err(|e| {
            AdapterError::Protocol {
                target: self.base.clone(),
                message: e.to_string(),
            }
        })?;
        let reply = self
            .request(
                Method::POST,
                "/ISAPI/AccessControl/AcsEvent?format=json",
                Some(body),
                "event search",
            )
            .await?;
        decode_acs_reply(&reply).map_err(|e| AdapterError::Protocol {
            target: self.base.clone(),
            message: format!("event search: {e}"),
        })
    }

    /// Every row of a search: pages from position 0, each next position advanced by the rows the
    /// terminal really returned, while it answers `MORE`. A `MORE` page without rows is a
    /// protocol error (it would loop forever).
    pub async fn search_all(
        &mut self,
        mut cond: AcsEventCond,
    ) -> Result<Vec<AcsEventInfo>, AdapterError> {
        cond.position = 0;
        let mut rows = Vec::new();
        loop {
            let page = self.search_page(&cond).await?;
            let more = page.has_more();
            let list = page.info_list.unwrap_or_default();
            let got = u32::try_from(list.len()).unwrap_or(u32::MAX);
            if got != page.num_of_matches {
                tracing::warn!(
                    target = %self.base,
                    num_of_matches = page.num_of_matches,
                    rows = got,
                    "numOfMatches disagrees with InfoList; paging by the rows received"
                );
            }
            rows.extend(list);
            if !more {
                return Ok(rows);
            }
            if got == 0 {
                return Err(AdapterError::Protocol {
                    target: self.base.clone(),
                    message: "MORE with an empty page".into(),
                });
            }
            cond.position = cond.position.saturating_add(got);
        }
    }
}

/// Formats an instant as the terminal expects it: ISO 8601 in `tz` with its offset.
pub fn isapi_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The adapter of a Hikvision terminal. The cursor is the terminal's `serialNo`: a fetch
/// returns the person events with a greater one, and the greatest number seen (of any event) as
/// the next cursor. Events without `serialNo` are always returned (the store deduplicates).
///
/// Live scans come from the terminal's HTTP-listening pushes: give the adapter the host's
/// [`HikPushHub`] with [`HikvisionAdapter::with_push`] and `live_scans` streams copies of what
/// the [`super::push_router`] stored for this machine (allowing the machine on the hub). With
/// the engine the router already stores every push, so the runtime does not give the adapter
/// the hub: it pulls by `serialNo` only, and each scan enters the engine once.
#[derive(Debug)]
pub struct HikvisionAdapter {
    machine: Machine,
    config: HikvisionConfig,
    client: Option<HikvisionClient>,
    push: Option<HikPushHub>,
    // The newest event time seen, to narrow the next search window.
    last_time: Option<DateTime<Utc>>,
}

impl HikvisionAdapter {
    /// The adapter of `machine`; fails with [`AdapterError::Config`] on a bad config JSON or
    /// scheme.
    pub fn new(machine: Machine) -> Result<Self, AdapterError> {
        let config: HikvisionConfig = parse_config(&machine)?;
        if !matches!(config.scheme.as_str(), "http" | "https") {
            return Err(AdapterError::Config {
                machine_type: machine.machine_type,
                message: format!("scheme must be http or https, not {:?}", config.scheme),
            });
        }
        if config.page_size == 0 {
            return Err(AdapterError::Config {
                machine_type: machine.machine_type,
                message: "page_size must be at least 1".into(),
            });
        }
        Ok(Self {
            machine,
            config,
            client: None,
            push: None,
            last_time: None,
        })
    }

    /// Streams live scans from `hub`, the push receiver the host mounted.
    #[must_use]
    pub fn with_push(mut self, hub: HikPushHub) -> Self {
        self.push = Some(hub);
        self
    }

    fn base_url(&self) -> String {
        let port = self.config.port.unwrap_or(self.machine.port);
        format!(
            "{}://{}:{port}",
            self.config.scheme, self.machine.ip_address
        )
    }

    fn client(&mut self) -> Result<&mut HikvisionClient, AdapterError> {
        let target = self.base_url();
        self.client
            .as_mut()
            .ok_or(AdapterError::NotConnected { target })
    }

    fn minors(&self) -> Vec<u32> {
        self.config
            .minors
            .clone()
            .unwrap_or_else(|| PERSON_MINORS.to_vec())
    }
}

#[async_trait]
impl BaseMachineAdapter for HikvisionAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        if self.client.is_some() {
            return Ok(());
        }
        let mut client = HikvisionClient::new(
            &self.base_url(),
            &self.config.username,
            &self.config.password,
            Duration::from_secs(self.config.timeout_secs.max(1)),
        )?;
        client.status().await?;
        self.client = Some(client);
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), AdapterError> {
        self.client = None;
        Ok(())
    }

    async fn test_connection(
        &mut self,
        _now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        let started = Instant::now();
        self.connect().await?;
        self.client()?.status().await?;
        Ok(ConnectionReport::answered_since(started))
    }

    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        let since_serial = match since {
            Some(c) => match c.0.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    tracing::warn!(cursor = %c.0, "Hikvision cursor is not a serialNo; reading all");
                    None
                }
            },
            None => None,
        };
        let tz = self.machine.time_zone;
        let now = Utc::now();
        let start = match self.last_time {
            Some(t) => t - TimeDelta::hours(1),
            None => now - TimeDelta::days(i64::from(self.config.lookback_days)),
        };
        let cond = AcsEventCond {
            search_id: format!(
                "attendance-{}",
                now.timestamp_nanos_opt().unwrap_or_default()
            ),
            position: 0,
            max_results: self.config.page_size,
            major: MAJOR_EVENT,
            minor: 0,
            start_time: Some(isapi_time(start, tz)),
            end_time: Some(isapi_time(now + TimeDelta::days(1), tz)),
            employee: None,
        };
        let minors = self.minors();
        let machine_id = self.machine.machine_id.clone();
        let rows = self.client()?.search_all(cond).await?;
        let mut fetch = Fetch::default();
        let mut max_serial = since_serial;
        for row in &rows {
            if let Some(t) = parse_time(&row.time, tz) {
                self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
            }
            if let (Some(serial), Some(since)) = (row.serial_no, since_serial)
                && serial <= since
            {
                continue;
            }
            if let Some(serial) = row.serial_no {
                max_serial = Some(max_serial.map_or(serial, |m| m.max(serial)));
            }
            match info_to_scan(row, &minors, &machine_id, tz) {
                Ok(scan) => fetch.scans.push(scan),
                Err(skip) if skip.is_malformed() => {
                    tracing::warn!(serial = ?row.serial_no, reason = %skip, "Hikvision event skipped");
                    fetch.skipped += 1;
                }
                Err(_) => {}
            }
        }
        fetch.cursor = max_serial.map(|s| MachineCursor(s.to_string()));
        Ok(fetch)
    }

    fn supports_live(&self) -> bool {
        self.push.is_some()
    }

    async fn live_scans(&mut self) -> Result<ScanStream, AdapterError> {
        let Some(hub) = &self.push else {
            return Err(AdapterError::Unsupported {
                machine_type: self.machine.machine_type,
                what: "stream live scans without a push receiver",
            });
        };
        hub.allow(HikPushDevice {
            machine_id: self.machine.machine_id.clone(),
            time_zone: self.machine.time_zone,
            allowed_sources: self.config.allowed_sources.clone(),
        });
        let rx = hub
            .subscribe(self.machine.machine_id.as_str())
            .ok_or_else(|| AdapterError::NotConnected {
                target: self.base_url(),
            })?;
        let machine = self.machine.machine_id.to_string();
        let stream = futures::stream::unfold((rx, machine), |(mut rx, machine)| async move {
            loop {
                match rx.recv().await {
                    Ok(scan) => return Some((Ok(scan), (rx, machine))),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // The scans are in the ingest channel already; only this view missed them.
                        tracing::warn!(machine, missed = n, "Hikvision live stream lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(Box::pin(stream))
    }
}
