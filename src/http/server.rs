//! The HTTP listener: the actix-web app on actix-http's HTTP/1 service and actix-server's workers, the
//! parts `actix_web::HttpServer` assembles, plus the one it does not let us set: the service that takes
//! over a connection asking to upgrade ([`super::handover`]), so an open WebSocket keeps no HTTP
//! buffers.

use super::connection::OpenConnections;
use super::{check_body, configure, handover, trace_request};
use crate::state::AppState;
use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol};
use actix_server::Server;
use actix_service::{fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::{middleware, web, App};
use std::io;
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

/// What bounds the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once, over all workers.
    pub max_connections: usize,
    /// Time a client has to send a request's head (it bounds a WebSocket handshake too).
    pub header_timeout: Duration,
    /// Seconds in-flight requests get to finish once the server stops.
    pub shutdown_grace_seconds: u64,
}

/// The app each worker serves: the shared state, the body guard, request tracing and every route.
fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .wrap(middleware::from_fn(check_body))
        // Outermost: the body guard's refusals are logged and carry a request id too.
        .wrap(middleware::from_fn(trace_request))
        .configure(configure)
}

/// Serves the app on `listener` with one worker per core; the returned server runs once awaited. OS
/// signals are left to the caller (sockets must be told to reconnect before the listener stops).
///
/// `open` counts the connections, HTTP and WebSocket, to `limits.max_connections` at once.
pub fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    limits: Limits,
    open: OpenConnections,
) -> std::io::Result<Server> {
    let workers = workers();
    let addr = listener.local_addr()?;
    let builder = Server::build();
    let stopping = builder.graceful_shutdown_signal();
    let builder = builder
        .workers(workers)
        // Per worker, and only while a connection is in actix-http's hands: `open` is the cap over all.
        .max_concurrent_connections(limits.max_connections.div_ceil(workers).max(1))
        .shutdown_timeout(limits.shutdown_grace_seconds)
        .disable_signals();
    let builder = builder.listen("http", listener, move || {
        // The app's host and address only stand in for a request with no Host header (HTTP/1.0).
        let config = AppConfig::default();
        let handed_over = app(state.clone()).into_factory();
        let handed_over_config = config.clone();
        let stopping = stopping.clone();
        let open = open.clone();
        let admit = fn_service(move |io: TcpStream| {
            // Socket frames are small and latency-bound: sent at once, not held back by Nagle's algorithm
            // until the client acknowledges the previous one (issue 14: the floor sets it too).
            let _ = io.set_nodelay(true);
            let peer = io.peer_addr().ok();
            let admitted = open.admit(io);
            async move {
                // Over the cap, the connection is closed at once (actix-server's own cap, above, makes HTTP
                // connections wait in the backlog instead, but it does not count sockets that left it).
                let connection =
                    admitted.ok_or_else(|| DispatchError::Io(io::Error::other("connection cap reached")))?;
                Ok((connection, Protocol::Http1, peer))
            }
        });
        let http = HttpService::build()
            // Idle keep-alive connections close as soon as the server starts stopping.
            .graceful_shutdown_signal(move || {
                let stopping = stopping.clone();
                async move { stopping.notified().await }
            })
            .client_request_timeout(limits.header_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .upgrade(fn_factory(move || {
                let app = handed_over.new_service(handed_over_config.clone());
                async move {
                    let app = Rc::new(app.await?);
                    Ok::<_, ()>(fn_service(move |(req, framed)| handover::serve(app.clone(), req, framed)))
                }
            }))
            .finish(map_config(app(state.clone()).into_factory(), move |_| config.clone()));
        admit.and_then(http)
    })?;
    Ok(builder.run())
}

/// One worker per core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
