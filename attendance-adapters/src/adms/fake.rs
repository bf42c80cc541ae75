//! A fake ADMS device (feature `fakes`): the HTTP client side of `docs/protocols/zkteco-adms.md`,
//! written with the same [`super::codec`]. It performs the handshake, uploads its punches in batches
//! (5, 7, 10 or 12 columns; LF or CRLF; TAB or space separators; optional `.aspx` paths; odd
//! lines mixed in), keeps every punch the server did not acknowledge and uploads it again later
//! (offline catch-up), polls `getrequest`, applies the commands and reports them through
//! `devicecmd`. [`FakeAdmsDevice::run`] does all of it on the `Delay` / `ErrorDelay` the server
//! asked for, with a configurable length of one "device second" so tests run fast.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use thiserror::Error;
use tokio::io::AsyncWriteExt;

use super::codec::{
    AttLogRecord, CommandResult, DeviceCommand, HandshakeReply, LineEnding, TIME_FORMAT,
    encode_attlog_line, encode_devicecmd, parse_commands, parse_handshake, parse_ok,
};

/// A failure the fake device injects on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmsFault {
    /// Post every accepted batch a second time, as a device does when it lost the reply.
    ResendEveryBatch,
    /// Cut the first upload: send the headers and half the body, then close the connection.
    CutFirstUpload,
}

/// How the fake device behaves.
#[derive(Debug, Clone)]
pub struct FakeAdmsConfig {
    /// The serial number sent as `SN=`.
    pub serial: String,
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Columns per `ATTLOG` line: 5, 7, 10 or 12 (others are clamped into 5..=12).
    pub columns: usize,
    /// Line ending.
    pub line_ending: LineEnding,
    /// Separate columns with spaces instead of tabs (date and time then look like two tokens).
    pub space_separated: bool,
    /// Use the eSSL `.aspx` paths.
    pub aspx: bool,
    /// Unreadable lines mixed into every batch.
    pub odd_lines: usize,
    /// Punches per upload.
    pub batch_size: usize,
    /// The `pushver` of the handshake.
    pub push_version: String,
    /// The longest wait for any request.
    pub timeout: Duration,
    /// How long one second of `Delay` / `ErrorDelay` lasts in [`FakeAdmsDevice::run`].
    pub second: Duration,
    /// A failure to inject, if any.
    pub fault: Option<AdmsFault>,
}

impl FakeAdmsConfig {
    /// A 7-column LF device called `serial` pushing to `server`, 50 punches per batch, no faults.
    pub fn new(serial: &str, server: &str) -> Self {
        Self {
            serial: serial.to_owned(),
            server: server.trim_end_matches('/').to_owned(),
            columns: 7,
            line_ending: LineEnding::Lf,
            space_separated: false,
            aspx: false,
            odd_lines: 0,
            batch_size: 50,
            push_version: "2.4.1".into(),
            timeout: Duration::from_secs(5),
            second: Duration::from_secs(1),
            fault: None,
        }
    }

    /// `n` punches: PIN `1001 + k % 10`, one minute apart from 2026-01-05 08:00:00, state
    /// alternating in/out, verify cycling finger, face, card, password, with the extra columns
    /// this profile writes.
    pub fn punches(&self, n: usize) -> Vec<AttLogRecord> {
        let start = NaiveDate::from_ymd_opt(2026, 1, 5)
            .and_then(|d| d.and_hms_opt(8, 0, 0))
            .unwrap_or_default();
        (0..n)
            .map(|k| self.punch(k, start + TimeDelta::minutes(k as i64)))
            .collect()
    }

    /// Punch number `k` at `time` (see [`FakeAdmsConfig::punches`]).
    pub fn punch(&self, k: usize, time: NaiveDateTime) -> AttLogRecord {
        const VERIFY: [u16; 4] = [1, 15, 4, 0];
        let extra = match self.columns.clamp(5, 12) {
            5 => vec!["0".into()],
            6 => vec![String::new(), "0".into()],
            7 => vec![String::new(), "0".into(), "0".into()],
            n => {
                let mut cols: Vec<String> = vec!["0".into(); n - 4];
                if n >= 9 {
                    cols[4] = "36.5".into();
                }
                if n >= 11 {
                    cols[6] = "+21600".into();
                }
                cols
            }
        };
        AttLogRecord {
            pin: format!("{}", 1001 + k % 10),
            time,
            status: Some((k % 2) as u8),
            verify: Some(VERIFY[k % VERIFY.len()]),
            extra,
        }
    }
}

/// What went wrong for the fake device.
#[derive(Debug, Error)]
pub enum FakeAdmsError {
    /// The request failed (refused, timed out, cut).
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The raw socket used by a fault failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered with a status other than 200.
    #[error("server answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// The server's 200 reply is not what the protocol says.
    #[error("unexpected reply: {0}")]
    BadReply(String),
}

/// What one [`FakeAdmsDevice::upload`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Batches the server acknowledged.
    pub batches: usize,
    /// Punches delivered (and removed from the device's queue).
    pub delivered: usize,
    /// The status of the refusal that stopped the upload, if one did.
    pub refused: Option<u16>,
}

/// A fake ADMS device.
#[derive(Debug)]
pub struct FakeAdmsDevice {
    config: FakeAdmsConfig,
    client: reqwest::Client,
    pending: VecDeque<AttLogRecord>,
    stamp: u64,
    options: Option<HandshakeReply>,
    cut_done: bool,
    executed: Vec<CommandResult>,
}

impl FakeAdmsDevice {
    /// A device for `config` with no punches yet.
    pub fn new(config: FakeAdmsConfig) -> Result<Self, FakeAdmsError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent("iClock Proxy/1.09")
            .build()?;
        Ok(Self {
            config,
            client,
            pending: VecDeque::new(),
            stamp: 0,
            options: None,
            cut_done: false,
            executed: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FakeAdmsConfig {
        &self.config
    }

    /// Records punches to upload.
    pub fn punch(&mut self, records: impl IntoIterator<Item = AttLogRecord>) {
        self.pending.extend(records);
    }

    /// Punches not yet acknowledged by the server.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The options of the last successful handshake.
    pub fn options(&self) -> Option<&HandshakeReply> {
        self.options.as_ref()
    }

    /// The results of the commands applied so far.
    pub fn executed(&self) -> &[CommandResult] {
        &self.executed
    }

    fn url(&self, endpoint: &str) -> String {
        let suffix = if self.config.aspx { ".aspx" } else { "" };
        format!("{}/iclock/{endpoint}{suffix}", self.config.server)
    }

    fn url_q(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, FakeAdmsError> {
        reqwest::Url::parse_with_params(&self.url(endpoint), query)
            .map_err(|e| FakeAdmsError::BadReply(format!("bad server URL: {e}")))
    }

    async fn check(response: reqwest::Response) -> Result<String, FakeAdmsError> {
        let status = response.status().as_u16();
        let body = response.text().await?;
        if status != 200 {
            return Err(FakeAdmsError::Status { status, body });
        }
        Ok(body)
    }

    /// `GET cdata?options=all`: reads the server's options.
    pub async fn handshake(&mut self) -> Result<HandshakeReply, FakeAdmsError> {
        let response = self
            .client
            .get(self.url_q(
                "cdata",
                &[
                    ("SN", self.config.serial.as_str()),
                    ("options", "all"),
                    ("pushver", self.config.push_version.as_str()),
                    ("language", "69"),
                ],
            )?)
            .send()
            .await?;
        let body = Self::check(response).await?;
        let reply = parse_handshake(&body).ok_or_else(|| FakeAdmsError::BadReply(body.clone()))?;
        if reply.serial != self.config.serial {
            return Err(FakeAdmsError::BadReply(body));
        }
        self.options = Some(reply.clone());
        Ok(reply)
    }

    fn encode_batch(&self, records: &[AttLogRecord]) -> String {
        let ending = self.config.line_ending.as_str();
        let mut body = String::new();
        for (k, record) in records.iter().enumerate() {
            if k < self.config.odd_lines {
                // Odd lines the server must log and skip: a bad date and a missing PIN.
                if k % 2 == 0 {
                    body.push_str("77\t2026-13-45 99:00:00\t0\t1");
                } else {
                    body.push_str("\t2026-01-05 08:00:00\t0\t1");
                }
                body.push_str(ending);
            }
            let line = encode_attlog_line(record);
            if self.config.space_separated {
                let mut line = format!(
                    "{} {} {} {}",
                    record.pin,
                    record.time.format(TIME_FORMAT),
                    record.status.map(|s| s.to_string()).unwrap_or_default(),
                    record.verify.map(|v| v.to_string()).unwrap_or_default()
                );
                for c in record.extra.iter().filter(|c| !c.is_empty()) {
                    line.push(' ');
                    line.push_str(c);
                }
                body.push_str(&line);
            } else {
                body.push_str(&line);
            }
            body.push_str(ending);
        }
        body
    }

    async fn post_attlog(&self, stamp: u64, body: &str) -> Result<usize, FakeAdmsError> {
        let stamp = stamp.to_string();
        let response = self
            .client
            .post(self.url_q(
                "cdata",
                &[
                    ("SN", self.config.serial.as_str()),
                    ("table", "ATTLOG"),
                    ("Stamp", stamp.as_str()),
                ],
            )?)
            .header("Content-Type", "text/plain")
            .body(body.to_owned())
            .send()
            .await?;
        let reply = Self::check(response).await?;
        parse_ok(&reply).ok_or(FakeAdmsError::BadReply(reply))
    }

    async fn cut_upload(&self, stamp: u64, body: &str) -> Result<(), FakeAdmsError> {
        let url = reqwest::Url::parse(&self.config.server)
            .map_err(|e| FakeAdmsError::BadReply(e.to_string()))?;
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        let path = self.url("cdata");
        let path = path.strip_prefix(&self.config.server).unwrap_or(&path);
        let head = format!(
            "POST {path}?SN={}&table=ATTLOG&Stamp={stamp} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\n\r\n",
            self.config.serial,
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await?;
        stream.shutdown().await?;
        Ok(())
    }

    /// Uploads every pending punch in batches until done or refused; a refused or failed batch
    /// stays pending. Returns what was delivered; a transport failure is an error (the punches
    /// stay pending too).
    pub async fn upload(&mut self) -> Result<UploadReport, FakeAdmsError> {
        let mut report = UploadReport::default();
        while !self.pending.is_empty() {
            let n = self.config.batch_size.max(1).min(self.pending.len());
            let batch: Vec<AttLogRecord> = self.pending.iter().take(n).cloned().collect();
            let body = self.encode_batch(&batch);
            let stamp = self.stamp + n as u64;
            if self.config.fault == Some(AdmsFault::CutFirstUpload) && !self.cut_done {
                self.cut_done = true;
                self.cut_upload(stamp, &body).await?;
                continue;
            }
            match self.post_attlog(stamp, &body).await {
                Ok(_) => {}
                Err(FakeAdmsError::Status { status, body }) => {
                    tracing::debug!(status, body, "fake ADMS upload refused; punches kept");
                    report.refused = Some(status);
                    return Ok(report);
                }
                Err(e) => return Err(e),
            }
            if self.config.fault == Some(AdmsFault::ResendEveryBatch) {
                // The server must cope with the repeat; its reply does not change what we keep.
                let _ = self.post_attlog(stamp, &body).await;
            }
            self.pending.drain(..n);
            self.stamp = stamp;
            report.batches += 1;
            report.delivered += n;
        }
        Ok(report)
    }

    /// `GET getrequest` with `INFO`, then applies the commands and posts their results to
    /// `devicecmd`. Returns the commands received.
    pub async fn poll(&mut self) -> Result<Vec<DeviceCommand>, FakeAdmsError> {
        let info = format!(
            "Ver 2.4.1-fake,10,20,{},127.0.0.1,10,7,15,0,111",
            self.stamp
        );
        let response = self
            .client
            .get(self.url_q(
                "getrequest",
                &[("SN", self.config.serial.as_str()), ("INFO", info.as_str())],
            )?)
            .send()
            .await?;
        let commands = parse_commands(&Self::check(response).await?);
        if commands.is_empty() {
            return Ok(commands);
        }
        let results: Vec<CommandResult> = commands.iter().map(|c| self.apply(c)).collect();
        let response = self
            .client
            .post(self.url_q("devicecmd", &[("SN", self.config.serial.as_str())])?)
            .body(encode_devicecmd(&results))
            .send()
            .await?;
        Self::check(response).await?;
        self.executed.extend(results);
        Ok(commands)
    }

    fn apply(&self, command: &DeviceCommand) -> CommandResult {
        let verb = command
            .command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let (code, info) = match verb.as_str() {
            "INFO" => (
                0,
                vec![
                    ("~DeviceName".to_owned(), "FakeADMS".to_owned()),
                    ("FWVersion".to_owned(), "Ver 2.4.1-fake".to_owned()),
                    ("TransactionCount".to_owned(), self.stamp.to_string()),
                ],
            ),
            "CHECK" | "DATA" | "LOG" | "REBOOT" | "CLEAR" | "SET" => (0, Vec::new()),
            _ => (-1002, Vec::new()),
        };
        CommandResult {
            id: command.id.clone(),
            return_code: Some(code),
            cmd: verb,
            info,
        }
    }

    /// `GET ping`.
    pub async fn ping(&self) -> Result<(), FakeAdmsError> {
        let response = self
            .client
            .get(self.url_q("ping", &[("SN", self.config.serial.as_str())])?)
            .send()
            .await?;
        Self::check(response).await.map(|_| ())
    }

    /// Runs like a device until `shutdown` completes: handshake (again after every failure,
    /// waiting `ErrorDelay`), then upload and poll every `Delay`. Punches added through the
    /// returned sender are uploaded at once when the server set `Realtime=1`, else at the next
    /// cycle. Returns the device, with what it could not deliver still pending.
    pub async fn run(
        mut self,
        mut punches: tokio::sync::mpsc::Receiver<AttLogRecord>,
        shutdown: impl Future<Output = ()>,
    ) -> Self {
        tokio::pin!(shutdown);
        let mut handshaken = false;
        let mut open = true;
        loop {
            let mut wait = 1;
            if !handshaken {
                match self.handshake().await {
                    Ok(_) => handshaken = true,
                    Err(e) => tracing::debug!(error = %e, "fake ADMS handshake failed"),
                }
            }
            if handshaken {
                let delay = self.option("Delay", 10);
                let error_delay = self.option("ErrorDelay", 30);
                wait = delay;
                match self.upload().await {
                    Ok(report) if report.refused.is_some() => wait = error_delay,
                    Ok(_) => {
                        if let Err(e) = self.poll().await {
                            tracing::debug!(error = %e, "fake ADMS poll failed");
                            wait = error_delay;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "fake ADMS upload failed");
                        wait = error_delay;
                        handshaken = false;
                    }
                }
            }
            let realtime = self.option("Realtime", 0) == 1;
            let sleep = tokio::time::sleep(self.config.second * wait.max(1) as u32);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut shutdown => return self,
                    () = &mut sleep => break,
                    punch = punches.recv(), if open => match punch {
                        Some(p) => {
                            self.pending.push_back(p);
                            if realtime { break; }
                        }
                        // No more punches will come; keep cycling until shut down.
                        None => open = false,
                    },
                }
            }
        }
    }

    fn option(&self, key: &str, default: i64) -> u64 {
        self.options
            .as_ref()
            .and_then(|o| o.number(key))
            .unwrap_or(default)
            .clamp(0, 3600) as u64
    }
}
