//! A machine's task: connect, test, fetch from the stored cursor, then follow live events or
//! poll; after a failure, back off (or wait out an open circuit) and reconnect.

use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::{MachineCursor, ScanBatch};
use chrono::{TimeDelta, Utc};
use futures::{FutureExt, StreamExt};
use tokio::sync::{broadcast, mpsc, watch};

use super::health::{SharedHealth, update};
use super::{
    BreakerState, CircuitBreaker, ConnectionState, CursorSource, MachineEvent, MachineEventKind,
    ManagerConfig, Output,
};
use crate::adapter::{AdapterError, BaseMachineAdapter};
use crate::engine::{IngestError, IngestSender};
use crate::simulator::SplitMix;

/// Waits until `stop` says so (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Runs `fut` unless the task is asked to stop first (`None`).
async fn until_stop<F: Future>(stop: &mut watch::Receiver<bool>, fut: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        () = stopped(stop) => None,
        out = fut => Some(out),
    }
}

/// A failed attempt, whatever failed (the device or the cursor store).
#[derive(Debug, Clone)]
struct Failure {
    kind: String,
    message: String,
    transient: bool,
}

impl From<AdapterError> for Failure {
    fn from(e: AdapterError) -> Self {
        Self {
            kind: e.kind().to_owned(),
            message: e.to_string(),
            transient: e.is_transient(),
        }
    }
}

enum SessionEnd {
    Stopped,
    OutputClosed,
    // A quiet live session ended on purpose: reconnect without counting a failure.
    Refresh,
    Failed(Failure),
}

impl From<Failure> for SessionEnd {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}

/// One machine's task (see the module documentation).
pub(super) struct Worker {
    pub(super) machine_id: MachineId,
    pub(super) tz: chrono_tz::Tz,
    pub(super) adapter: Box<dyn BaseMachineAdapter>,
    pub(super) config: ManagerConfig,
    pub(super) cursors: Arc<dyn CursorSource>,
    pub(super) output: Output,
    pub(super) events: broadcast::Sender<MachineEvent>,
    pub(super) health: SharedHealth,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) breaker: CircuitBreaker,
    pub(super) rng: SplitMix,
    // The cursor of the last batch handed to the output.
    pub(super) last_sent: Option<MachineCursor>,
    // A `Connected` event went out for this session, so a `Disconnected` must follow.
    pub(super) connected: bool,
    // Catch-ups in a row (`ManagerConfig::live_catch_up`): each session ends at its first quiet
    // moment to catch up through a fetch, five times later than the one before; any other end
    // starts the count again.
    pub(super) catch_ups: u32,
    // The session that just ended was ended by a catch-up.
    pub(super) caught_up: bool,
}

impl Worker {
    fn emit(&self, kind: MachineEventKind) {
        // No subscriber is fine.
        let _ = self.events.send(MachineEvent {
            machine_id: self.machine_id.clone(),
            at: Utc::now(),
            kind,
        });
    }

    fn set_state(&self, state: ConnectionState) {
        update(&self.health, |h| {
            h.state = state;
            if matches!(
                state,
                ConnectionState::Connecting | ConnectionState::Connected
            ) {
                h.next_attempt_at = None;
            }
        });
    }

    pub(super) async fn run(mut self) {
        loop {
            self.set_state(ConnectionState::Connecting);
            let end = self.session().await;
            // Polite, bounded: a stalled device must not hold the task.
            let _ = tokio::time::timeout(self.config.disconnect_timeout, self.adapter.disconnect())
                .await;
            // A catch-up reconnects at once: no Disconnected/Connected pair for it.
            let catching_up =
                std::mem::take(&mut self.caught_up) && matches!(end, SessionEnd::Refresh);
            if !catching_up {
                // Whatever else ended the session, the next one catches up soon again.
                self.catch_ups = 0;
            }
            if self.connected && !catching_up {
                self.connected = false;
                update(&self.health, |h| h.live = false);
                let reason = match &end {
                    SessionEnd::Failed(f) => Some(f.message.clone()),
                    _ => None,
                };
                self.emit(MachineEventKind::Disconnected { reason });
            }
            match end {
                SessionEnd::Stopped | SessionEnd::OutputClosed => break,
                SessionEnd::Refresh => {
                    tracing::debug!(machine = %self.machine_id, "refreshing a quiet live session");
                }
                SessionEnd::Failed(failure) => {
                    if !self.after_failure(failure).await {
                        break;
                    }
                }
            }
        }
        self.set_state(ConnectionState::Stopped);
        update(&self.health, |h| h.waiting_on_output = false);
        self.emit(MachineEventKind::Stopped);
        tracing::info!(machine = %self.machine_id, "machine task stopped");
    }

    /// Runs one adapter call bounded by the operation timeout and the stop signal.
    async fn call<T>(
        stop: &mut watch::Receiver<bool>,
        limit: Duration,
        during: &'static str,
        target: &MachineId,
        fut: impl Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, SessionEnd> {
        match until_stop(stop, tokio::time::timeout(limit, fut)).await {
            None => Err(SessionEnd::Stopped),
            Some(Err(_)) => Err(Failure::from(AdapterError::Timeout {
                target: target.to_string(),
                during,
                timeout: limit,
            })
            .into()),
            Some(Ok(Err(e))) => Err(Failure::from(e).into()),
            Some(Ok(Ok(v))) => Ok(v),
        }
    }

    async fn session(&mut self) -> SessionEnd {
        match self.open_and_read().await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn open_and_read(&mut self) -> Result<std::convert::Infallible, SessionEnd> {
        let limit = self.config.operation_timeout;
        let id = self.machine_id.clone();
        Self::call(
            &mut self.stop,
            limit,
            "connect",
            &id,
            self.adapter.connect(),
        )
        .await?;
        let report = Self::call(
            &mut self.stop,
            limit,
            "connection test",
            &id,
            self.adapter.test_connection(Utc::now()),
        )
        .await?;
        let live = self.config.live && self.adapter.supports_live();
        update(&self.health, |h| {
            h.connections += 1;
            h.last_seen = Some(Utc::now());
            h.clock_drift_seconds = report.clock_drift_seconds;
            h.serial = report.serial.clone();
            h.firmware = report.firmware.clone();
        });
        self.set_state(ConnectionState::Connected);
        if !self.connected {
            self.connected = true;
            self.emit(MachineEventKind::Connected { live });
            tracing::info!(machine = %id, live, drift = ?report.clock_drift_seconds, "machine connected");
        }

        let mut cursor = self.resume_cursor().await?;
        let fetch = Self::call(
            &mut self.stop,
            limit,
            "fetch",
            &id,
            self.adapter.fetch_scans(cursor.as_ref()),
        )
        .await?;
        self.succeeded();
        if fetch.cursor.is_some() {
            cursor.clone_from(&fetch.cursor);
        }

        if live {
            // The live stream opens right after the log was read, before the log's scans are
            // handed over and committed: a punch made between the two is in neither (the
            // catch-up below reads it), so that gap is kept as short as the device allows.
            // Live events that come meanwhile wait in the stream.
            let mut stream = Self::call(
                &mut self.stop,
                limit,
                "live",
                &id,
                self.adapter.live_scans(),
            )
            .await?;
            self.forward(fetch.scans, fetch.cursor, fetch.skipped)
                .await?;
            update(&self.health, |h| h.live = true);
            // This session catches up at its first quiet moment (later after each catch-up).
            let catch_up = self.catch_up_delay();
            loop {
                let idle = match (catch_up, self.config.live_idle_refresh) {
                    (Some(c), Some(i)) => Some(c.min(i)),
                    (c, i) => c.or(i),
                };
                let next = async {
                    match idle {
                        Some(idle) => tokio::time::timeout(idle, stream.next()).await.ok(),
                        None => Some(stream.next().await),
                    }
                };
                let Some(first) = until_stop(&mut self.stop, next)
                    .await
                    .ok_or(SessionEnd::Stopped)?
                else {
                    if catch_up.is_some() {
                        // The reconnect's fetch reads what fell between this session's fetch
                        // and its live stream; the session it opens catches up five times later.
                        self.catch_ups += 1;
                        self.caught_up = true;
                        tracing::debug!(machine = %id, catch_ups = self.catch_ups, "live session caught up through a fetch");
                    }
                    return Err(SessionEnd::Refresh);
                };
                let mut failure = None;
                let mut scans: Vec<ScanData> = Vec::new();
                match first {
                    Some(Ok(scan)) => scans.push(scan),
                    Some(Err(e)) => failure = Some(Failure::from(e)),
                    None => failure = Some(Self::stream_ended(&id)),
                }
                // Take whatever else is ready, to send it as one batch.
                while failure.is_none() && scans.len() < self.config.max_live_batch.max(1) {
                    match stream.next().now_or_never() {
                        Some(Some(Ok(scan))) => scans.push(scan),
                        Some(Some(Err(e))) => failure = Some(Failure::from(e)),
                        Some(None) => failure = Some(Self::stream_ended(&id)),
                        None => break,
                    }
                }
                self.forward(scans, None, 0).await?;
                if let Some(f) = failure {
                    return Err(f.into());
                }
            }
        }
        self.forward(fetch.scans, fetch.cursor, fetch.skipped)
            .await?;
        loop {
            until_stop(
                &mut self.stop,
                tokio::time::sleep(self.config.poll_interval),
            )
            .await
            .ok_or(SessionEnd::Stopped)?;
            let fetch = Self::call(
                &mut self.stop,
                limit,
                "fetch",
                &id,
                self.adapter.fetch_scans(cursor.as_ref()),
            )
            .await?;
            if fetch.cursor.is_some() {
                cursor.clone_from(&fetch.cursor);
            }
            self.forward(fetch.scans, fetch.cursor, fetch.skipped)
                .await?;
        }
    }

    /// How long the next live session may be quiet before it catches up:
    /// `live_catch_up × 5^catch_ups`; `None` when there is no catch-up or the idle refresh
    /// comes first (it catches up too).
    fn catch_up_delay(&self) -> Option<Duration> {
        let first = self.config.live_catch_up?;
        let delay = first.checked_mul(5u32.checked_pow(self.catch_ups)?)?;
        match self.config.live_idle_refresh {
            Some(idle) if delay >= idle => None,
            _ => Some(delay),
        }
    }

    fn stream_ended(id: &MachineId) -> Failure {
        Failure::from(AdapterError::Unreachable {
            target: id.to_string(),
            message: "the live stream ended".into(),
        })
    }

    fn succeeded(&mut self) {
        self.breaker.on_success();
        update(&self.health, |h| {
            h.consecutive_failures = 0;
            h.last_seen = Some(Utc::now());
        });
    }

    /// The cursor to resume from: the stored one, unless batches this task sent are still
    /// queued (the store is behind them), then the last one handed over.
    async fn resume_cursor(&mut self) -> Result<Option<MachineCursor>, SessionEnd> {
        if let Output::Channel(output) = &self.output
            && self.last_sent.is_some()
            && output.capacity() < output.max_capacity()
        {
            return Ok(self.last_sent.clone());
        }
        let cursors = self.cursors.clone();
        match until_stop(&mut self.stop, cursors.cursor(&self.machine_id)).await {
            None => Err(SessionEnd::Stopped),
            Some(Ok(c)) => Ok(c),
            Some(Err(e)) => Err(SessionEnd::Failed(Failure {
                kind: "store".into(),
                message: format!("cannot read the stored cursor: {e}"),
                transient: true,
            })),
        }
    }

    async fn send_to_channel(
        &mut self,
        output: mpsc::Sender<ScanBatch>,
        batch: ScanBatch,
    ) -> Result<(), SessionEnd> {
        match output.try_send(batch) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SessionEnd::OutputClosed),
            Err(mpsc::error::TrySendError::Full(batch)) => {
                update(&self.health, |h| {
                    h.waiting_on_output = true;
                    h.output_waits += 1;
                });
                tracing::debug!(machine = %self.machine_id, "output full: waiting for the consumer");
                let sent = until_stop(&mut self.stop, output.send(batch)).await;
                update(&self.health, |h| h.waiting_on_output = false);
                match sent {
                    None => Err(SessionEnd::Stopped),
                    Some(Err(_)) => Err(SessionEnd::OutputClosed),
                    Some(Ok(())) => Ok(()),
                }
            }
        }
    }

    /// Submits `batch` to the engine and waits for its commit. A batch not confirmed ends the
    /// session as a transient failure: the reconnect resumes from the stored cursor.
    async fn submit_to_engine(
        &mut self,
        engine: IngestSender,
        batch: ScanBatch,
    ) -> Result<(), SessionEnd> {
        let mut source = "other";
        update(&self.health, |h| {
            h.waiting_on_output = true;
            source = h.machine_type.as_str();
        });
        let engine = engine.with_source(source);
        // Room in the queue is waited for as long as it takes (back-pressure); the stop signal
        // ends the wait.
        let submitted = until_stop(
            &mut self.stop,
            engine.submit(
                batch,
                Duration::from_secs(24 * 3600),
                self.config.commit_timeout,
            ),
        )
        .await;
        update(&self.health, |h| h.waiting_on_output = false);
        match submitted {
            None => Err(SessionEnd::Stopped),
            Some(Ok(_)) => Ok(()),
            Some(Err(IngestError::Stopped)) => Err(SessionEnd::OutputClosed),
            Some(Err(e)) => Err(SessionEnd::Failed(Failure {
                kind: "store".into(),
                message: format!("the batch was not stored: {e}"),
                transient: true,
            })),
        }
    }

    /// Hands scans and their cursor to the output, waiting for room (back-pressure).
    async fn forward(
        &mut self,
        scans: Vec<ScanData>,
        cursor: Option<MachineCursor>,
        skipped: usize,
    ) -> Result<(), SessionEnd> {
        if skipped > 0 {
            update(&self.health, |h| h.skipped_total += skipped as u64);
        }
        if scans.is_empty() && (cursor.is_none() || cursor == self.last_sent) {
            return Ok(());
        }
        let count = scans.len() as u64;
        let batch = ScanBatch {
            machine_id: self.machine_id.clone(),
            scans,
            cursor: cursor.clone(),
        };
        match self.output.clone() {
            Output::Channel(output) => self.send_to_channel(output, batch).await?,
            Output::Engine(engine) => self.submit_to_engine(engine, batch).await?,
        }
        if cursor.is_some() {
            self.last_sent = cursor;
        }
        let now = Utc::now();
        let today = now.with_timezone(&self.tz).date_naive();
        let mut cell = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if cell.today != Some(today) {
            cell.today = Some(today);
            cell.health.scans_today = 0;
        }
        let h = &mut cell.health;
        h.batches_sent += 1;
        h.scans_total += count;
        h.scans_today += count;
        h.last_seen = Some(now);
        h.updated_at = now;
        Ok(())
    }

    /// Records a failure and waits before the next attempt; `false` when asked to stop.
    async fn after_failure(&mut self, failure: Failure) -> bool {
        let state = self.breaker.on_failure();
        let failures = self.breaker.failures();
        tracing::warn!(
            machine = %self.machine_id,
            kind = %failure.kind,
            error = %failure.message,
            failures,
            "machine attempt failed"
        );
        update(&self.health, |h| {
            h.last_error = Some(failure.message.clone());
            h.last_error_kind = Some(failure.kind.clone());
            h.consecutive_failures = failures;
        });
        self.emit(MachineEventKind::Error {
            kind: failure.kind.clone(),
            message: failure.message.clone(),
            transient: failure.transient,
        });
        let (wait, next_state) = if state == BreakerState::Open {
            (self.config.breaker.cool_down, ConnectionState::CircuitOpen)
        } else if failure.transient {
            let unit = self.rng.unit();
            (
                self.config.backoff.delay(failures, unit),
                ConnectionState::BackingOff,
            )
        } else {
            // A person must fix it (a comm key, a config): do not hammer the device.
            (self.config.backoff.max, ConnectionState::BackingOff)
        };
        let until = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
        update(&self.health, |h| {
            h.state = next_state;
            h.next_attempt_at = Some(until);
        });
        if next_state == ConnectionState::CircuitOpen {
            self.emit(MachineEventKind::CircuitOpen { failures, until });
        }
        let waited = until_stop(&mut self.stop, tokio::time::sleep(wait))
            .await
            .is_some();
        if waited {
            self.breaker.half_open();
        }
        waited
    }
}
