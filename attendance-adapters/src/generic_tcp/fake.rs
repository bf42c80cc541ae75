//! A fake generic TCP device (feature `fakes`): listens on 127.0.0.1 and writes one line per
//! scan to the clients that connect, encoded with the same [`LineFormat`] the adapter decodes.
//!
//! Lines pushed while no client is connected wait in a queue, as on devices that buffer until
//! the server comes back; each queued line goes to one client. Faults are injected per line:
//! [`LineFault::DropMidLine`] writes half a line and closes the connection,
//! [`LineFault::Garbage`] writes bytes that are not a line of the format (and carries on), and
//! [`LineFault::Stall`] writes half a line and then nothing more on that connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{GenericLine, LineError, LineFormat};

/// A failure the fake injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFault {
    /// Write the first half of the line, then close the connection.
    DropMidLine,
    /// Write two lines that are not scans (bytes that are not UTF-8, and a line with too few
    /// columns) instead of the line.
    Garbage,
    /// Write the first half of the line, then stay silent on that connection.
    Stall,
}

#[derive(Debug, Clone)]
enum Out {
    Line(String),
    Fault(LineFault, String),
}

#[derive(Debug)]
struct Shared {
    format: LineFormat,
    // Lines not yet written to any client.
    queue: Mutex<VecDeque<Out>>,
    // Wakes the connections when a line is queued.
    notify: Notify,
    accepted: AtomicUsize,
    written: AtomicUsize,
}

impl Shared {
    fn pop(&self) -> Option<Out> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn push_front(&self, out: Out) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_front(out);
        self.notify.notify_waiters();
    }

    fn push(&self, out: Out) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(out);
        self.notify.notify_waiters();
    }
}

/// A running fake generic TCP device.
#[derive(Debug)]
pub struct GenericFakeHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    // Sending `true` (or dropping it) ends the accept loop and every connection.
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GenericFakeHandle {
    /// Binds 127.0.0.1:`port` (0 for any) and serves lines in `format` in a background task.
    pub async fn spawn(format: LineFormat, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            format,
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            accepted: AtomicUsize::new(0),
            written: AtomicUsize::new(0),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, shared.clone(), stop_rx));
        Ok(Self {
            addr,
            shared,
            stop,
            task,
        })
    }

    /// Where the device listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a scan line; [`LineError::Format`] when the format cannot write its time.
    pub fn push(&self, line: &GenericLine) -> Result<(), LineError> {
        let text = self.shared.format.encode(line)?;
        self.shared.push(Out::Line(text));
        Ok(())
    }

    /// Queues `line` spoiled by `fault` (the line itself is then never delivered whole).
    pub fn inject(&self, fault: LineFault, line: &GenericLine) -> Result<(), LineError> {
        let text = self.shared.format.encode(line)?;
        self.shared.push(Out::Fault(fault, text));
        Ok(())
    }

    /// How many connections the device has accepted.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// How many whole scan lines it has written.
    pub fn lines_written(&self) -> usize {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Lines queued and not yet written.
    pub fn queued(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Stops the device, closing every connection, and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "generic fake device task failed");
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    connections.push(tokio::spawn(serve_connection(stream, shared.clone(), stop.clone())));
                }
                Err(e) => tracing::warn!(error = %e, "generic fake accept failed"),
            },
        }
    }
    for c in connections {
        let _ = c.await;
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let (mut read, mut write) = stream.into_split();
    let mut scratch = [0u8; 256];
    let mut stalled = false;
    loop {
        let notified = shared.notify.notified();
        tokio::pin!(notified);
        // Register before looking at the queue, so a push in between is not missed.
        notified.as_mut().enable();
        if !stalled && let Some(out) = shared.pop() {
            let result = match &out {
                Out::Line(text) => write.write_all(format!("{text}\n").as_bytes()).await,
                Out::Fault(LineFault::Garbage, _) => {
                    write.write_all(b"\xff\xfe\x00garbage\n1,2\n").await
                }
                Out::Fault(fault, text) => {
                    let half = &text.as_bytes()[..text.len() / 2];
                    let r = write.write_all(half).await;
                    if *fault == LineFault::DropMidLine {
                        let _ = write.shutdown().await;
                        return;
                    }
                    stalled = true;
                    r
                }
            };
            match result {
                Ok(()) => {
                    if matches!(out, Out::Line(_)) {
                        shared.written.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    // The client is gone: the line goes to the next one.
                    shared.push_front(out);
                    return;
                }
            }
            continue;
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = &mut notified, if !stalled => {}
            // The client never writes: a read returns only when it closes.
            r = read.read(&mut scratch) => if matches!(r, Ok(0) | Err(_)) { return },
        }
    }
}
