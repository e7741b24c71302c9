//! One client connection: hyper's HTTP/1.1 connection over the watched socket, the
//! service that hands each request to the router (with its `ConnectInfo`), and the
//! timers that close a connection that is idle, stalled in a head, or shed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

use super::registry::{Registry, Slot};
use super::watched_io::WatchedIo;

/// How long an idle connection may take to close once the server stops.
const DRAIN_IDLE_LIMIT: Duration = Duration::from_secs(1);

/// The timers every connection runs; `None` turns one off.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub header_read: Option<Duration>,
    pub keepalive_idle: Option<Duration>,
}

/// Everything a connection task needs besides its socket.
#[derive(Clone)]
pub struct ConnectionContext {
    pub router: Router,
    pub registry: Arc<Registry>,
    pub timers: Timers,
    pub stopping: watch::Receiver<bool>,
}

/// Serves one connection until the client leaves, a timer or the registry closes
/// it, or the server stops (then in-flight requests finish first).
pub async fn serve(stream: TcpStream, remote: SocketAddr, slot: Arc<Slot>, context: ConnectionContext) {
    let ConnectionContext { router, registry, timers, mut stopping } = context;
    let _registered = Registered { registry: registry.clone(), slot: slot.clone() };
    let io = TokioIo::new(WatchedIo::new(stream, slot.clone()));
    let service = RouterService { router, remote, registry, slot: slot.clone() };
    // hyper's own header-read timer also runs while a kept-alive connection waits for
    // its next request, which would make the idle timer meaningless; the slot's
    // deadline times heads from their first byte instead.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = if draining {
            // hyper closes an idle connection at once on a graceful shutdown, but
            // waits for a stalled head to complete: give that one a moment only.
            slot.is_idle().then(|| tokio::time::Instant::now() + DRAIN_IDLE_LIMIT)
        } else {
            slot.deadline(timers.header_read, timers.keepalive_idle).map(tokio::time::Instant::from_std)
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %remote, "connection ended with an error");
                }
                return;
            }
            () = slot.changed() => {}
            () = sleep_until(deadline) => {
                if draining {
                    if slot.is_idle() {
                        return;
                    }
                    continue;
                }
                // The state may have changed since the deadline was computed. A due
                // connection has no request in flight, so nothing is lost by dropping
                // it at once; its descriptor is free for the next client right away
                // (a graceful close would wait for a stalled head to complete).
                let due = slot
                    .deadline(timers.header_read, timers.keepalive_idle)
                    .is_some_and(|at| at <= std::time::Instant::now());
                if due {
                    tracing::debug!(%remote, shed = slot.is_shed(), "closing an idle or stalled connection");
                    return;
                }
            }
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                // Idle connections close now; a request in flight finishes first
                // (the server's grace period bounds it), then hyper closes.
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Forgets the connection in the registry however its task ends.
struct Registered {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.close(&self.slot);
    }
}

/// Hands requests to the router; a request counts as in flight from its head until
/// its response body is sent or dropped.
#[derive(Clone)]
struct RouterService {
    router: Router,
    remote: SocketAddr,
    registry: Arc<Registry>,
    slot: Arc<Slot>,
}

impl hyper::service::Service<Request<Incoming>> for RouterService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::begin(self.registry.clone(), self.slot.clone());
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request).await?;
            Ok(response.map(|body| Body::new(TrackedBody { body, _in_flight: in_flight })))
        })
    }
}

/// Marks the request in flight until dropped.
struct InFlight {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
}

impl InFlight {
    fn begin(registry: Arc<Registry>, slot: Arc<Slot>) -> Self {
        registry.begin_request(&slot);
        InFlight { registry, slot }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.registry.end_request(&self.slot);
    }
}

/// A response body that keeps its request in flight until hyper is done with it.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
