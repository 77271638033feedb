//! The HTTP listener: axum's router served by hyper with the limits `axum::serve` leaves out.
//!
//! `axum::serve` sets no timer, so hyper's header timeout never fires, and it accepts every
//! connection: a client that sends half a request line and waits holds a connection (and a
//! task) forever, without any token, and a few thousand of them exhaust the process's files.
//! Here every connection holds one of [`HttpLimits::max_connections`] places (a connection past
//! them waits in the kernel's backlog until one is free), must send a whole request head within
//! [`HttpLimits::header_timeout`] (also while idle between keep-alive requests), and a request
//! body that sends nothing for [`HttpLimits::body_idle_timeout`] ends with 408.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// What the HTTP listener allows each client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once; past them, new connections wait to be accepted.
    pub max_connections: usize,
    /// Time a connection has to send a request's head (request line and headers), and to send
    /// the next one while it is kept alive.
    pub header_timeout: Duration,
    /// Time a request body may go without sending a byte.
    pub body_idle_timeout: Duration,
}

/// Whether `error` (a request body's) is the body timeout of [`HttpLimits::body_idle_timeout`].
pub fn is_body_timeout(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Serves `app` on `listener` within `limits` until `stop` turns true; then stops accepting,
/// lets each connection finish its request in hand, and returns once they have all closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_idle_timeout));
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => match place {
                Ok(place) => place,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("accepting an HTTP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = per_connection(app.clone(), client);
        let stop = stop.clone();
        connections.spawn(async move {
            connection(stream, service, limits.header_timeout, stop).await;
            drop(place);
        });
        // Reap finished connections so the set does not grow with every client.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// The router as one connection's service: its requests carry the client's address.
fn per_connection(
    app: Router,
    client: SocketAddr,
) -> TowerToHyperService<
    impl tower::Service<
        Request<Incoming>,
        Response = axum::response::Response,
        Error = Infallible,
        Future = impl Send,
    > + Clone,
> {
    TowerToHyperService::new(app.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(client));
        request
    }))
}

/// Serves one connection until it closes, its head times out or `stop` asks for a graceful end.
async fn connection<S>(
    stream: tokio::net::TcpStream,
    service: TowerToHyperService<S>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    S: tower::Service<Request<Incoming>, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("HTTP connection: {e}");
                }
                return;
            }
            _ = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
