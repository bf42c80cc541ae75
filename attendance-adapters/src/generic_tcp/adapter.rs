//! The adapter: connects as a client, and a background task reads lines into a bounded queue (a
//! slow reader slows the device through TCP flow control, memory does not grow).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::MachineCursor;
use bytes::BytesMut;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{GenericTcpConfig, LineError, LineFormat};
use crate::adapter::{
    AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream, parse_config,
};

type ReaderItem = Result<ScanData, AdapterError>;

/// An open connection: the reader task and the queue it fills.
#[derive(Debug)]
struct Session {
    rx: mpsc::Receiver<ReaderItem>,
    reader: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // The reader must not outlive the session (no leaked tasks, the socket closes).
        self.reader.abort();
    }
}

struct Reader {
    stream: TcpStream,
    format: Arc<LineFormat>,
    machine: MachineId,
    tz: Tz,
    target: String,
    max_line_len: usize,
    partial_timeout: Duration,
    idle_timeout: Option<Duration>,
    skipped: Arc<AtomicU64>,
    tx: mpsc::Sender<ReaderItem>,
}

impl Reader {
    fn skip(&self, line: &[u8], error: &LineError) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            machine = %self.machine,
            line = %String::from_utf8_lossy(line),
            %error,
            "skipping a bad line from a generic TCP device"
        );
    }

    /// Reads until the connection fails, then sends that failure; returns early when nobody
    /// listens any more.
    async fn run(mut self) {
        let error = self.read_lines().await;
        let _ = self.tx.send(Err(error)).await;
    }

    async fn read_lines(&mut self) -> AdapterError {
        let mut buf = BytesMut::with_capacity(4096);
        // Set while a too-long line is being thrown away up to its end.
        let mut discarding = false;
        loop {
            // Hand over every complete line in the buffer.
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line = buf.split_to(end + 1);
                if std::mem::take(&mut discarding) {
                    continue;
                }
                if line.len() > self.max_line_len {
                    self.skip(
                        &line[..64.min(line.len())],
                        &LineError::TooLong {
                            max: self.max_line_len,
                        },
                    );
                    continue;
                }
                match self.format.decode(&line, &self.machine, self.tz) {
                    Ok(scan) => {
                        // Waits when the queue is full: TCP flow control slows the device.
                        if self.tx.send(Ok(scan)).await.is_err() {
                            return AdapterError::NotConnected {
                                target: self.target.clone(),
                            };
                        }
                    }
                    Err(LineError::Empty) => {}
                    Err(e) => self.skip(&line, &e),
                }
            }
            if !discarding && buf.len() > self.max_line_len {
                self.skip(
                    &buf[..64.min(buf.len())],
                    &LineError::TooLong {
                        max: self.max_line_len,
                    },
                );
                buf.clear();
                discarding = true;
            }
            if discarding {
                buf.clear();
            }
            let (limit, during) = if buf.is_empty() {
                (self.idle_timeout, "waiting for scans")
            } else {
                (Some(self.partial_timeout), "reading a line")
            };
            let read = self.stream.read_buf(&mut buf);
            let read = match limit {
                Some(limit) => match tokio::time::timeout(limit, read).await {
                    Ok(r) => r,
                    Err(_) => {
                        return AdapterError::Timeout {
                            target: self.target.clone(),
                            during,
                            timeout: limit,
                        };
                    }
                },
                None => read.await,
            };
            match read {
                Ok(0) => {
                    if !buf.is_empty() && !discarding {
                        let rest = buf.split();
                        self.skip(&rest, &LineError::Truncated);
                    }
                    return AdapterError::Unreachable {
                        target: self.target.clone(),
                        message: "the device closed the connection".into(),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    return AdapterError::Unreachable {
                        target: self.target.clone(),
                        message: e.to_string(),
                    };
                }
            }
        }
    }
}

/// A generic TCP device: connects as a client and reads one scan per line.
#[derive(Debug)]
pub struct GenericTcpAdapter {
    machine: Machine,
    config: GenericTcpConfig,
    format: Arc<LineFormat>,
    target: String,
    session: Option<Session>,
    // Bad lines counted by the reader; `reported` is how many a fetch has already returned.
    skipped: Arc<AtomicU64>,
    reported: u64,
    // A failure the reader sent after scans that a fetch returned first.
    pending_error: Option<AdapterError>,
    last_scan: Option<DateTime<Utc>>,
}

impl GenericTcpAdapter {
    /// An adapter for `machine` (type `generic_tcp`); [`AdapterError::Config`] when the config
    /// does not parse or describes an unusable line format. Does not connect.
    pub fn new(machine: Machine) -> Result<Self, AdapterError> {
        let config_error = |message: String| AdapterError::Config {
            machine_type: machine.machine_type,
            message,
        };
        if machine.machine_type != MachineType::GenericTcp {
            return Err(config_error(
                "the generic TCP adapter reads only generic_tcp machines".into(),
            ));
        }
        let config: GenericTcpConfig = parse_config(&machine)?;
        let format = config
            .line_format()
            .map_err(|e| config_error(e.to_string()))?;
        if config.max_line_len < 16 || config.queue == 0 || config.partial_line_timeout_ms == 0 {
            return Err(config_error(
                "max_line_len must be at least 16, queue and partial_line_timeout_ms at least 1"
                    .into(),
            ));
        }
        let port = config.port.unwrap_or(machine.port);
        let target = match machine.ip_address.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port).to_string(),
            Err(_) => format!("{}:{port}", machine.ip_address),
        };
        Ok(Self {
            machine,
            config,
            format: Arc::new(format),
            target,
            session: None,
            skipped: Arc::new(AtomicU64::new(0)),
            reported: 0,
            pending_error: None,
            last_scan: None,
        })
    }

    /// The line format.
    pub fn line_format(&self) -> &LineFormat {
        &self.format
    }

    /// Bad lines skipped since the adapter was created.
    pub fn skipped_lines(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    fn cursor(&self, since: Option<&MachineCursor>) -> Option<MachineCursor> {
        match self.last_scan {
            Some(t) => Some(MachineCursor(format!(
                "generic1:{}",
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            ))),
            None => since.cloned(),
        }
    }
}

#[async_trait]
impl BaseMachineAdapter for GenericTcpAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        if self.session.is_some() {
            return Ok(());
        }
        let timeout = Duration::from_millis(self.config.connect_timeout_ms);
        let stream = tokio::time::timeout(timeout, TcpStream::connect(self.target.as_str()))
            .await
            .map_err(|_| AdapterError::Timeout {
                target: self.target.clone(),
                during: "connect",
                timeout,
            })?
            .map_err(|e| AdapterError::Unreachable {
                target: self.target.clone(),
                message: e.to_string(),
            })?;
        let (tx, rx) = mpsc::channel(self.config.queue);
        let reader = Reader {
            stream,
            format: self.format.clone(),
            machine: self.machine.machine_id.clone(),
            tz: self.machine.time_zone,
            target: self.target.clone(),
            max_line_len: self.config.max_line_len,
            partial_timeout: Duration::from_millis(self.config.partial_line_timeout_ms),
            idle_timeout: self.config.idle_timeout_ms.map(Duration::from_millis),
            skipped: self.skipped.clone(),
            tx,
        };
        self.pending_error = None;
        self.session = Some(Session {
            rx,
            reader: tokio::spawn(reader.run()),
        });
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), AdapterError> {
        self.session = None;
        Ok(())
    }

    async fn test_connection(
        &mut self,
        _now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        let started = Instant::now();
        self.connect().await?;
        Ok(ConnectionReport::answered_since(started))
    }

    /// Returns the scans read since the last fetch (the device keeps no log to re-read; the
    /// cursor only records the last scan's time).
    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        if let Some(e) = self.pending_error.take() {
            self.session = None;
            return Err(e);
        }
        let Some(session) = self.session.as_mut() else {
            return Err(AdapterError::NotConnected {
                target: self.target.clone(),
            });
        };
        let mut scans = Vec::new();
        let mut failure = None;
        loop {
            match session.rx.try_recv() {
                Ok(Ok(scan)) => scans.push(scan),
                Ok(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    failure = Some(AdapterError::NotConnected {
                        target: self.target.clone(),
                    });
                    break;
                }
            }
        }
        if let Some(e) = failure {
            if scans.is_empty() {
                self.session = None;
                return Err(e);
            }
            self.pending_error = Some(e);
        }
        if let Some(last) = scans.iter().map(|s| s.timestamp).max() {
            self.last_scan = Some(self.last_scan.map_or(last, |t| t.max(last)));
        }
        let total = self.skipped.load(Ordering::Relaxed);
        let skipped = usize::try_from(total - self.reported).unwrap_or(usize::MAX);
        self.reported = total;
        Ok(Fetch {
            cursor: self.cursor(since),
            scans,
            skipped,
        })
    }

    fn supports_live(&self) -> bool {
        true
    }

    async fn live_scans(&mut self) -> Result<ScanStream, AdapterError> {
        if let Some(e) = self.pending_error.take() {
            self.session = None;
            return Err(e);
        }
        self.connect().await?;
        let session = self.session.take().ok_or(AdapterError::NotConnected {
            target: self.target.clone(),
        })?;
        // The stream owns the session: dropping it stops the reader. It ends after the first
        // error.
        let stream = futures::stream::unfold(Some(session), |state| async move {
            let mut session = state?;
            match session.rx.recv().await {
                Some(Ok(scan)) => Some((Ok(scan), Some(session))),
                Some(Err(e)) => Some((Err(e), None)),
                None => None,
            }
        });
        Ok(Box::pin(stream))
    }
}
