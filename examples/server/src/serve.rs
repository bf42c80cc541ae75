//! The HTTP listeners' accept loop, with the limits a server facing untrusted clients needs
//! ([`HttpLimits`]):
//!
//! - **Request head:** a new connection must deliver its first request head within
//!   [`HttpLimits::header_timeout`] of being accepted; a client that sends nothing, or trickles
//!   its head byte by byte, is disconnected then.
//! - **Idle keep-alive:** after a response, the next request head must be complete within
//!   [`HttpLimits::idle_timeout`] (hyper's HTTP/1 header read timeout), else the connection is
//!   closed.
//! - **Body:** a request body must be read whole within [`HttpLimits::body_timeout`] of the
//!   request's head; a slower one is cut: the answer is 408 in the error envelope and the
//!   connection is closed. Handlers that read no body are not concerned.
//! - **Connections:** at most [`HttpLimits::max_connections`] sockets are open at once,
//!   WebSockets included (the count holds a socket until it is closed). Further clients wait in
//!   the listener's accept backlog (the kernel's queue) until one closes; none is refused by the
//!   server.
//! - **WebSockets** are not cut by these timeouts: once upgraded, a connection belongs to
//!   [`crate::ws`], which pings it and closes it when it is silent (see
//!   [`crate::ws::SILENCE_LIMIT`]).
//!
//! Each request carries its client address as axum's [`ConnectInfo`] (the login limits and the
//! security log read it). On `stop` the loop stops accepting, every connection finishes its
//! request in flight and closes (hyper's graceful shutdown), and [`serve`] returns once all are
//! closed.
//!
//! HTTP/2 with prior knowledge (h2c) is served too, like `axum::serve` did; its connections
//! have the head deadline (for the preface and first request) and the connection cap, not the
//! idle timeout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::error::ApiError;

/// The default of [`HttpLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of [`HttpLimits::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// The default of [`HttpLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default of [`HttpLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The limits every HTTP listener applies (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a new connection has to deliver its first request head.
    pub header_timeout: Duration,
    /// How long a request body may take to arrive, from the request's head.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for (and receive) its next request head.
    pub idle_timeout: Duration,
    /// The most connections open at once, per listener.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` with `limits` until `stop` resolves, then closes every
/// connection gracefully and returns once they are closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // `true` once the server stops; every connection task holds a receiver, so `closed()`
    // tells when the last one ended.
    let (stopping, stopped) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(stop);
    loop {
        // Wait for a free slot first: meanwhile new clients queue in the accept backlog.
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = TokioIo::new(Counted {
            stream,
            _permit: permit,
        });
        tokio::spawn(connection(
            builder.clone(),
            io,
            peer,
            router.clone(),
            limits,
            stopped.clone(),
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    drop(stopped);
    stopping.closed().await;
}

/// Serves one connection: its requests, the first-head deadline and the stop signal.
async fn connection(
    builder: auto::Builder<TokioExecutor>,
    io: TokioIo<Counted>,
    peer: SocketAddr,
    router: axum::Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let first_request = Arc::new(AtomicBool::new(false));
    let seen = first_request.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        handle(router.clone(), request, peer, limits.body_timeout)
    });
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let head_deadline = tokio::time::sleep(limits.header_timeout);
    tokio::pin!(head_deadline);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(client = %peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut head_deadline, if !first_request.load(Ordering::Relaxed) => {
                // The condition was checked when this wait began: a request may have come since.
                if !first_request.load(Ordering::Relaxed) {
                    tracing::debug!(client = %peer, "no request head in time; closing the connection");
                    return;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                } else {
                    return;
                }
            }
        }
    }
}

/// One request: with its client address, its body under the deadline, through the router.
async fn handle(
    router: axum::Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
) -> Result<Response<Body>, Infallible> {
    let expired = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = deadline_body(Body::new(body), body_timeout, expired.clone());
    let response = match router.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if expired.load(Ordering::Relaxed) {
        tracing::info!(target: "security", client = %peer, "request body too slow; closing the connection");
        let mut response = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                body_timeout.as_secs_f64()
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    Ok(response)
}

/// The body timed out.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

/// `body`, failing (and setting `expired`) when it is not over by `timeout` from now.
fn deadline_body(body: Body, timeout: Duration, expired: Arc<AtomicBool>) -> Body {
    let deadline = tokio::time::Instant::now() + timeout;
    let frames = body.into_data_stream();
    let stream = futures::stream::unfold(Some(frames), move |state| {
        let expired = expired.clone();
        async move {
            let mut frames = state?;
            match tokio::time::timeout_at(deadline, frames.next()).await {
                Ok(Some(frame)) => Some((frame, Some(frames))),
                Ok(None) => None,
                Err(_) => {
                    expired.store(true, Ordering::Relaxed);
                    Some((Err(axum::Error::new(BodyTimedOut)), None))
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// A socket that holds one of its listener's connection slots until it is dropped (for a
/// WebSocket, when the WebSocket closes).
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
