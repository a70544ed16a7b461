//! The HTTP server: accepts connections up to a cap and closes those that stall.
//!
//! `axum::serve` has no timeouts, so a client that opens a connection and sends nothing, half a
//! header or a body one byte at a time holds a socket and a task forever. This loop serves the
//! same router over hyper's HTTP/1 connection (axum's `http2` feature was never enabled here)
//! and bounds each phase of a connection:
//!
//! - headers: from acceptance, or from the first byte of a later request, until the request's
//!   headers are complete (`header_read_timeout`);
//! - body: from the request reaching the router until its whole body has arrived
//!   (`request_body_timeout`), answered `408` and closed when exceeded;
//! - idle: a kept-alive connection with no request in progress and no bytes arriving, or a
//!   response the client has stopped reading (`idle_timeout`).
//!
//! The time a handler itself takes is not bounded here (a verify may wait for a slot on purpose).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight to finish (idle connections are closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // Header and idle deadlines are enforced by `TimedIo`, which can tell the two apart; hyper's
    // own header timer also runs while a kept-alive connection is idle.
    builder.header_read_timeout(None);
    let mut shutdown = pin!(shutdown);
    loop {
        // Past the cap, connections wait in the listen backlog instead of being served.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    back_off_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Arc::new(ConnectionActivity::default());
        let io = TokioIo::new(TimedIo::new(stream, activity.clone(), limits));
        let service = hyper::service::service_fn({
            let app = app.clone();
            move |request| handle(app.clone(), request, remote, activity.clone(), limits)
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Timeouts and clients that hang up end up here; neither is the server's fault.
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Running out of file descriptors makes `accept` fail at once, again and again: wait a little
/// rather than spin. Errors about one connection (reset before accept) need no pause.
async fn back_off_after_accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "accept failed; pausing");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn handle(
    app: Router,
    request: Request<Incoming>,
    remote: SocketAddr,
    activity: Arc<ConnectionActivity>,
    limits: ConnectionLimits,
) -> Result<Response<Body>, std::convert::Infallible> {
    let in_flight = RequestInFlight::start(activity);
    let body_timed_out = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(remote));
    let body = DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limits.request_body_timeout)),
        timed_out: body_timed_out.clone(),
    };
    let response = app
        .oneshot(Request::from_parts(parts, Body::new(body)))
        .await?;
    if body_timed_out.load(Ordering::SeqCst) {
        // Whatever the handler made of the cut-off body, the cause is the client's slowness; the
        // rest of the body is unread, so the connection cannot carry another request.
        let mut timeout = Response::new(Body::from("the request body took too long to arrive\n"));
        *timeout.status_mut() = StatusCode::REQUEST_TIMEOUT;
        let headers = timeout.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return Ok(timeout);
    }
    // The request counts as in flight until its response body is written.
    Ok(response.map(|body| {
        Body::new(TrackedBody {
            inner: body,
            _in_flight: in_flight,
        })
    }))
}

/// Requests a connection has started and finished; `TimedIo` applies no deadline while any is
/// in progress.
#[derive(Debug, Default)]
struct ConnectionActivity {
    started: AtomicU64,
    finished: AtomicU64,
}

impl ConnectionActivity {
    fn busy(&self) -> bool {
        self.started.load(Ordering::SeqCst) != self.finished.load(Ordering::SeqCst)
    }
}

/// Marks one request in progress; dropping it (response written, or the request abandoned)
/// marks it finished.
struct RequestInFlight(Arc<ConnectionActivity>);

impl RequestInFlight {
    fn start(activity: Arc<ConnectionActivity>) -> RequestInFlight {
        activity.started.fetch_add(1, Ordering::SeqCst);
        RequestInFlight(activity)
    }
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request's headers.
    Headers,
    /// A request is being handled; its body, if read, has its own deadline.
    Busy,
    /// Between requests on a kept-alive connection, nothing received yet.
    Idle,
}

/// The socket, failing reads that wait past the deadline of the connection's phase.
struct TimedIo<S> {
    stream: S,
    activity: Arc<ConnectionActivity>,
    limits: ConnectionLimits,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Set while a write waits for the client to read; a client that stops reading a response
    /// would otherwise hold the connection as surely as one that stops sending.
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> TimedIo<S> {
    fn new(stream: S, activity: Arc<ConnectionActivity>, limits: ConnectionLimits) -> Self {
        TimedIo {
            stream,
            activity,
            limits,
            phase: Phase::Headers,
            deadline: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
            write_deadline: None,
        }
    }

    /// Passes a write's outcome through, failing it once writes have made no progress for the
    /// idle timeout.
    fn bound_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.write_deadline = None;
            return outcome;
        }
        let idle_timeout = self.limits.idle_timeout;
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle_timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn enter(&mut self, phase: Phase, timeout: Duration) {
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + timeout);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.busy() {
            this.phase = Phase::Busy;
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        if this.phase == Phase::Busy {
            // hyper reads again as soon as a response is written, so this is when idling began.
            this.enter(Phase::Idle, this.limits.idle_timeout);
        }
        let filled_before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > filled_before {
                    this.enter(Phase::Headers, this.limits.header_read_timeout);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    match this.phase {
                        Phase::Idle => "idle timeout",
                        _ => "header read timeout",
                    },
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.bound_write(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.bound_write(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body took too long to arrive")]
struct BodyTimeout;

/// A request body that fails once its whole-body deadline passes while it still waits for data
/// (a per-chunk timeout would let a client trickle one byte at a time forever).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out.store(true, Ordering::SeqCst);
                    Poll::Ready(Some(Err(BodyTimeout.into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request marked in flight until hyper has written it all.
struct TrackedBody {
    inner: Body,
    _in_flight: RequestInFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits(idle_timeout: Duration) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(60),
            request_body_timeout: Duration::from_secs(60),
            idle_timeout,
            max_connections: 1,
        }
    }

    /// A response larger than the socket buffers, to a client that reads none of it.
    #[tokio::test]
    async fn a_write_the_client_never_reads_fails_after_the_idle_timeout() {
        let (server_end, _client_end) = tokio::io::duplex(64);
        let activity = Arc::new(ConnectionActivity::default());
        let mut io = TimedIo::new(server_end, activity, limits(Duration::from_millis(200)));
        let write = io.write_all(&[b'x'; 4096]);
        let outcome = tokio::time::timeout(Duration::from_secs(10), write)
            .await
            .expect("the write gives up by itself");
        let error = outcome.expect_err("the client never read");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    /// A client that reads slowly but steadily is not cut off: the deadline is per stall.
    #[tokio::test]
    async fn a_slow_but_steady_reader_gets_the_whole_response() {
        let (server_end, mut client_end) = tokio::io::duplex(64);
        let activity = Arc::new(ConnectionActivity::default());
        let mut io = TimedIo::new(server_end, activity, limits(Duration::from_millis(300)));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut chunk = [0u8; 64];
            while total < 1024 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                total += client_end.read(&mut chunk).await.expect("read");
            }
            total
        });
        io.write_all(&[b'x'; 1024]).await.expect("written whole");
        assert_eq!(reader.await.expect("reader"), 1024);
    }
}
