//! Our BioStar 2 REST client (login, `bs-session-id`, one re-login on 401) and
//! [`BioStarAdapter`], the pull adapter of a BioStar server (or of one device behind it).
//!
//! Paging (`docs/protocols/suprema-biostar.md` §4): there is no offset, so each page asks for
//! events from the last instant read (inclusive, `BETWEEN`), ordered by `datetime`, and drops the
//! events at that instant it has already returned (by id). The cursor carries the instant and those ids, so a
//! restart neither skips nor repeats an event that shares a second with others.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::store::MachineCursor;
use axum::http::{HeaderValue, header};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::codec::{
    Condition, Cursor, DEFAULT_PUNCH_FAMILIES, EventRow, LoginRequest, LoginUser, Order, Query,
    SESSION_HEADER, SearchRequest, decode_search_response, family_codes, format_datetime, operator,
    row_to_scan,
};
use crate::adapter::{
    AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, http_error, parse_config,
};

fn default_login() -> String {
    "admin".into()
}
fn default_scheme() -> String {
    "https".into()
}
fn default_page_size() -> u32 {
    100
}
fn default_timeout() -> u64 {
    10
}
fn default_lookback() -> u32 {
    31
}

/// The `config` JSON of a `suprema` machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BioStarConfig {
    /// The BioStar login id (default `admin`).
    #[serde(default = "default_login")]
    pub login_id: String,
    /// Its password.
    #[serde(default)]
    pub password: String,
    /// `https` (default) or `http`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The port; the machine's port when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Accept a self-signed server certificate (BioStar installs one by default).
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// Only events of this BioStar device id (`device_id.id`); all devices when absent.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Rows per page (default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds to wait for any request (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Days searched back when there is no cursor (default 31).
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// Event families that count as punches (default 0x1000, 0x1300, 0x1600 as 4096, 4864,
    /// 5632; add 4608 / 5376 for duress, 6912 for mask or temperature bypass).
    #[serde(default)]
    pub punch_families: Option<Vec<u32>>,
}

/// A session with a BioStar server.
#[derive(Debug)]
pub struct BioStarClient {
    base: String,
    http: reqwest::Client,
    login_id: String,
    password: String,
    timeout: Duration,
    session: Option<String>,
    logins: u32,
}

impl BioStarClient {
    /// A client for the server at `base`; fails with [`AdapterError::Config`] when the HTTP
    /// client cannot be built.
    pub fn new(
        base: &str,
        login_id: &str,
        password: &str,
        timeout: Duration,
        accept_invalid_certs: bool,
    ) -> Result<Self, AdapterError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .danger_accept_invalid_certs(accept_invalid_certs)
            .build()
            .map_err(|e| AdapterError::Config {
                machine_type: MachineType::Suprema,
                message: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            login_id: login_id.to_owned(),
            password: password.to_owned(),
            timeout,
            session: None,
            logins: 0,
        })
    }

    /// How many logins this client has made.
    pub fn logins(&self) -> u32 {
        self.logins
    }

    fn map_error(&self, e: &reqwest::Error, during: &'static str) -> AdapterError {
        http_error(e, &self.base, during, self.timeout)
    }

    /// `POST /api/login`: keeps the `bs-session-id` the server returns.
    pub async fn login(&mut self) -> Result<(), AdapterError> {
        let body = LoginRequest {
            user: LoginUser {
                login_id: self.login_id.clone(),
                password: self.password.clone(),
            },
        };
        let response = self
            .http
            .post(format!("{}/api/login", self.base))
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.map_error(&e, "login"))?;
        let status = response.status();
        let session = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Read the body so the connection can be reused; its content does not matter.
        let _ = response.bytes().await;
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Err(AdapterError::Auth {
                target: self.base.clone(),
                message: format!("login refused with HTTP {status}"),
            });
        }
        if !status.is_success() {
            return Err(AdapterError::Refused {
                target: self.base.clone(),
                message: format!("login: HTTP {status}"),
            });
        }
        let session = session
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AdapterError::Protocol {
                target: self.base.clone(),
                message: format!("login answered {status} without a {SESSION_HEADER} header"),
            })?;
        self.logins += 1;
        self.session = Some(session);
        Ok(())
    }

    /// One `POST /api/events/search`; logs in first if needed and once more after a 401.
    pub async fn search(&mut self, query: &Query) -> Result<Vec<EventRow>, AdapterError> {
        if self.session.is_none() {
            self.login().await?;
        }
        let body = SearchRequest {
            query: query.clone(),
        };
        for attempt in 0..2 {
            let mut request = self
                .http
                .post(format!("{}/api/events/search", self.base))
                .timeout(self.timeout)
                .header(header::CONTENT_TYPE, "application/json")
                .json(&body);
            if let Some(session) = self
                .session
                .as_deref()
                .and_then(|s| HeaderValue::from_str(s).ok())
            {
                request = request.header(SESSION_HEADER, session);
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.map_error(&e, "event search"))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.map_error(&e, "event search"))?;
            if status.as_u16() == 401 {
                self.session = None;
                if attempt == 0 {
                    tracing::info!(target = %self.base, "BioStar session expired; logging in again");
                    self.login().await?;
                    continue;
                }
                return Err(AdapterError::Auth {
                    target: self.base.clone(),
                    message: "the server refused a fresh session".into(),
                });
            }
            if !status.is_success() {
                return Err(AdapterError::Refused {
                    target: self.base.clone(),
                    message: format!(
                        "event search: HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ),
                });
            }
            let reply = decode_search_response(&bytes).map_err(|e| AdapterError::Protocol {
                target: self.base.clone(),
                message: format!("event search: {e}"),
            })?;
            if let Some(r) = reply.response.as_ref().filter(|r| r.code.trim() != "0") {
                return Err(AdapterError::Refused {
                    target: self.base.clone(),
                    message: format!("event search: code {}: {}", r.code, r.message),
                });
            }
            return Ok(reply.collection.rows);
        }
        Err(AdapterError::Auth {
            target: self.base.clone(),
            message: "the server kept refusing the session".into(),
        })
    }
}

/// The pull adapter of a BioStar 2 server; see the module documentation for paging and the
/// cursor.
#[derive(Debug)]
pub struct BioStarAdapter {
    machine: Machine,
    config: BioStarConfig,
    client: Option<BioStarClient>,
}

impl BioStarAdapter {
    /// The adapter of `machine`; fails with [`AdapterError::Config`] on a bad config JSON.
    pub fn new(machine: Machine) -> Result<Self, AdapterError> {
        let config: BioStarConfig = parse_config(&machine)?;
        let bad = |message: String| AdapterError::Config {
            machine_type: machine.machine_type,
            message,
        };
        if !matches!(config.scheme.as_str(), "http" | "https") {
            return Err(bad(format!(
                "scheme must be http or https, not {:?}",
                config.scheme
            )));
        }
        if config.page_size < 2 {
            return Err(bad("page_size must be at least 2".into()));
        }
        Ok(Self {
            machine,
            config,
            client: None,
        })
    }

    /// How many logins the current session has made (0 when disconnected).
    pub fn logins(&self) -> u32 {
        self.client.as_ref().map_or(0, BioStarClient::logins)
    }

    fn base_url(&self) -> String {
        let port = self.config.port.unwrap_or(self.machine.port);
        format!(
            "{}://{}:{port}",
            self.config.scheme, self.machine.ip_address
        )
    }

    fn families(&self) -> Vec<u32> {
        self.config
            .punch_families
            .clone()
            .unwrap_or_else(|| DEFAULT_PUNCH_FAMILIES.to_vec())
    }

    fn query(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Query {
        let mut conditions = vec![
            Condition {
                column: "datetime".into(),
                operator: operator::BETWEEN,
                values: vec![format_datetime(from), format_datetime(to)],
            },
            Condition {
                column: "event_type_id.code".into(),
                operator: operator::CONTAINS,
                values: family_codes(&self.families()),
            },
        ];
        if let Some(device) = &self.config.device_id {
            conditions.push(Condition {
                column: "device_id.id".into(),
                operator: operator::EQUAL,
                values: vec![device.clone()],
            });
        }
        Query {
            limit: self.config.page_size,
            conditions,
            orders: vec![Order {
                column: "datetime".into(),
                descending: false,
            }],
        }
    }
}

#[async_trait]
impl BaseMachineAdapter for BioStarAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        if self.client.is_some() {
            return Ok(());
        }
        let mut client = BioStarClient::new(
            &self.base_url(),
            &self.config.login_id,
            &self.config.password,
            Duration::from_secs(self.config.timeout_secs.max(1)),
            self.config.accept_invalid_certs,
        )?;
        client.login().await?;
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
        self.disconnect().await?;
        self.connect().await?;
        Ok(ConnectionReport::answered_since(started))
    }

    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        let target = self.base_url();
        let now = Utc::now();
        let mut cursor = match since {
            Some(c) => match Cursor::parse(&c.0) {
                Some(cursor) => cursor,
                None => {
                    tracing::warn!(cursor = %c.0, "BioStar cursor unreadable; reading the lookback window");
                    Cursor {
                        at: now - TimeDelta::days(i64::from(self.config.lookback_days)),
                        ids: Vec::new(),
                    }
                }
            },
            None => Cursor {
                at: now - TimeDelta::days(i64::from(self.config.lookback_days)),
                ids: Vec::new(),
            },
        };
        let end = now + TimeDelta::days(1);
        let families = self.families();
        let machine_id = self.machine.machine_id.clone();
        let page_size = self.config.page_size as usize;
        let mut fetch = Fetch::default();
        let mut advanced = false;
        loop {
            let query = self.query(cursor.at, end);
            let client = self
                .client
                .as_mut()
                .ok_or_else(|| AdapterError::NotConnected {
                    target: target.clone(),
                })?;
            let rows = client.search(&query).await?;
            let full_page = rows.len() >= page_size;
            let mut progressed = false;
            for row in &rows {
                let Some(at) = row.time() else {
                    tracing::warn!(id = %row.id, datetime = %row.datetime, "BioStar event with a bad datetime skipped");
                    fetch.skipped += 1;
                    continue;
                };
                if at < cursor.at || (at == cursor.at && cursor.ids.contains(&row.id)) {
                    continue;
                }
                progressed = true;
                if at > cursor.at {
                    cursor = Cursor {
                        at,
                        ids: Vec::new(),
                    };
                }
                cursor.ids.push(row.id.clone());
                advanced = true;
                match row_to_scan(row, &families, &machine_id) {
                    Ok(scan) => fetch.scans.push(scan),
                    Err(skip) if skip.is_malformed() => {
                        tracing::warn!(id = %row.id, reason = %skip, "BioStar event skipped");
                        fetch.skipped += 1;
                    }
                    Err(_) => {}
                }
            }
            if !full_page {
                break;
            }
            if !progressed {
                // More events share one instant than a page holds: the datetime cursor cannot
                // get past them. Stop rather than loop; the rest comes once newer events exist.
                tracing::warn!(at = %format_datetime(cursor.at), "a full BioStar page at one instant; paging stopped");
                break;
            }
        }
        fetch.cursor = if advanced {
            Some(MachineCursor(cursor.to_string()))
        } else {
            since.cloned()
        };
        Ok(fetch)
    }
}
