//! The engine's bounded queue: [`IngestSender`] into it, and [`ingest_channel`] for a host that
//! consumes the submissions itself.

use std::time::Duration;

use attendance_core::store::ScanBatch;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// What committing one submitted batch stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// Scans stored as new.
    pub inserted: usize,
    /// Scans that were stored already (or repeated in the batch).
    pub duplicates: usize,
    /// Scans set aside as outside the storable window (not stored; see
    /// [`SetAside`](super::SetAside)).
    pub set_aside: usize,
}

/// Why a batch was not (or not surely) stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The queue stayed full: answer "retry later" (a device re-sends, nothing is lost).
    #[error("the ingest queue stayed full for {0:?}; retry later")]
    Busy(Duration),
    /// The engine has stopped.
    #[error("the ingest engine is stopped")]
    Stopped,
    /// The store refused the batch as invalid; sending it again cannot help.
    #[error("the store refused the batch: {0}")]
    Refused(String),
    /// The engine shut down while the store was still failing: the batch was not stored.
    #[error("not stored: the engine shut down while the store was failing")]
    Abandoned,
    /// No commit within the wait: the store is slow or failing. The batch may still be stored
    /// later; sending it again is safe (stores deduplicate).
    #[error("not confirmed as stored within {0:?}; retry later")]
    TimedOut(Duration),
}

impl IngestError {
    /// Whether sending the same batch later may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Refused(_))
    }
}

/// One submission in the queue: the batch and, when the submitter waits, where to answer.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) batch: ScanBatch,
    /// Where the batch came from (the metrics' `source` label).
    pub(super) source: &'static str,
    pub(super) reply: Option<oneshot::Sender<Result<Committed, IngestError>>>,
}

/// The way into the engine's queue: cheap to clone, one per producer.
#[derive(Debug, Clone)]
pub struct IngestSender {
    pub(super) queue: mpsc::Sender<Job>,
    pub(super) source: &'static str,
}

/// The `source` of a sender that was not given one ([`IngestSender::with_source`]).
pub const UNNAMED_SOURCE: &str = "other";

impl IngestSender {
    /// The same queue, its batches counted under `source` in the metrics
    /// (`attendance_scans_ingested_total{source=…}`): the machine type for device batches
    /// (`zkteco`, `zkteco_adms`, …). Keep the set of sources small and fixed (it is a label).
    pub fn with_source(&self, source: &'static str) -> Self {
        Self {
            queue: self.queue.clone(),
            source,
        }
    }

    /// The source this sender's batches are counted under.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Hands `batch` to the engine and waits until the transaction that stores it (and its
    /// cursor) has committed. Waits at most `enqueue_timeout` for room in the queue
    /// ([`IngestError::Busy`]) and then at most `commit_timeout` for the commit
    /// ([`IngestError::TimedOut`]: the batch may still be stored; re-sending is safe).
    pub async fn submit(
        &self,
        batch: ScanBatch,
        enqueue_timeout: Duration,
        commit_timeout: Duration,
    ) -> Result<Committed, IngestError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            batch,
            source: self.source,
            reply: Some(reply),
        };
        match self.queue.send_timeout(job, enqueue_timeout).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                return Err(IngestError::Busy(enqueue_timeout));
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Err(IngestError::Stopped),
        }
        match timeout(commit_timeout, answer).await {
            Ok(Ok(result)) => result,
            // The engine dropped the answer: it stopped without storing the batch.
            Ok(Err(_)) => Err(IngestError::Abandoned),
            Err(_) => Err(IngestError::TimedOut(commit_timeout)),
        }
    }

    /// Hands `batch` over without waiting for its commit, waiting for room in the queue. For
    /// pull machines, whose cursor is stored in the batch's own transaction: until it commits
    /// the stored cursor does not move, so nothing is skipped if the batch is lost.
    pub async fn send(&self, batch: ScanBatch) -> Result<(), IngestError> {
        self.queue
            .send(Job {
                batch,
                source: self.source,
                reply: None,
            })
            .await
            .map_err(|_| IngestError::Stopped)
    }

    /// [`IngestSender::send`] without waiting: [`IngestError::Busy`] when the queue is full.
    pub fn try_send(&self, batch: ScanBatch) -> Result<(), IngestError> {
        self.queue
            .try_send(Job {
                batch,
                source: self.source,
                reply: None,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Busy(Duration::ZERO),
                mpsc::error::TrySendError::Closed(_) => IngestError::Stopped,
            })
    }

    /// Whether the engine has stopped taking batches.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// A queue of submissions that a host consumes itself instead of the engine (a host with its
/// own storage, tests): the receiving end of [`ingest_channel`].
#[derive(Debug)]
pub struct IngestReceiver {
    queue: mpsc::Receiver<Job>,
}

/// A batch submitted through an [`ingest_channel`], with its submitter's answer. Answer it
/// once the batch is stored ([`Submission::stored`]) or not ([`Submission::failed`]); a
/// submission dropped unanswered reads as [`IngestError::Abandoned`] to its submitter.
#[derive(Debug)]
pub struct Submission {
    /// The batch.
    pub batch: ScanBatch,
    reply: Option<oneshot::Sender<Result<Committed, IngestError>>>,
}

impl Submission {
    /// Tells the submitter the batch is stored.
    pub fn stored(self, committed: Committed) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Ok(committed));
        }
    }

    /// Tells the submitter the batch was not stored.
    pub fn failed(self, error: IngestError) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Err(error));
        }
    }
}

/// A bounded queue of submissions for a host that stores batches itself: give the
/// [`IngestSender`] to the push routers or the manager, and answer each [`Submission`] after
/// storing it.
pub fn ingest_channel(capacity: usize) -> (IngestSender, IngestReceiver) {
    let (queue, receiver) = mpsc::channel(capacity.max(1));
    (
        IngestSender {
            queue,
            source: UNNAMED_SOURCE,
        },
        IngestReceiver { queue: receiver },
    )
}

impl IngestReceiver {
    /// The next submission; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Submission> {
        self.queue.recv().await.map(|job| Submission {
            batch: job.batch,
            reply: job.reply,
        })
    }

    /// A plain channel of the submitted batches, each answered as stored as soon as it is in
    /// that channel (bounded by `capacity`, so a full channel still pushes back). For tests and
    /// hosts whose own consumer is responsible for what it takes.
    pub fn acknowledging(mut self, capacity: usize) -> mpsc::Receiver<ScanBatch> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(async move {
            while let Some(submission) = self.recv().await {
                let scans = submission.batch.scans.len();
                if tx.send(submission.batch.clone()).await.is_err() {
                    submission.failed(IngestError::Stopped);
                    return;
                }
                submission.stored(Committed {
                    inserted: scans,
                    ..Committed::default()
                });
            }
        });
        rx
    }
}
