//! Listeners and lifecycle: open the store, bind both listeners, serve until the shutdown
//! future resolves, then drain in-flight requests and flush the store.

use crate::app::{AppState, api_router, nodo_router};
use crate::config::Config;
use crate::nodo::{Clock, Nodo};
use crate::store::Store;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Addresses actually bound (useful when a port was 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The nodo listener.
    pub nodo: SocketAddr,
    /// The api listener.
    pub api: SocketAddr,
}

/// Runs the gateway until `shutdown` resolves. `on_bound` is called once both listeners are up.
pub async fn run(
    config: Config,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound, &Store) + Send,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let ready = Arc::new(AtomicBool::new(false));
    let store = Store::open(&config.store.data_dir, config.store.cache_mb)
        .with_context(|| format!("opening the store in {}", config.store.data_dir.display()))?;
    if config.demo.seed {
        let seeded = crate::demo::seed(&config, &store, clock())?;
        if seeded > 0 {
            tracing::info!(positions = seeded, "demo positions seeded");
        }
    }
    let state = AppState::new(
        Nodo::new(config.clone(), store.clone(), clock.clone()),
        ready.clone(),
    );
    let sender = crate::outbox::sender::HttpSender::new(&config)
        .context("building the gestionale clients")?;
    let worker = crate::outbox::Worker::new(store.clone(), config.clone(), sender, clock);
    let nodo_listener = TcpListener::bind(config.nodo.listen)
        .await
        .with_context(|| format!("binding the nodo listener on {}", config.nodo.listen))?;
    let api_listener = TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("binding the api listener on {}", config.api.listen))?;
    let bound = Bound {
        nodo: nodo_listener.local_addr()?,
        api: api_listener.local_addr()?,
    };
    tracing::info!(nodo = %bound.nodo, api = %bound.api, "listening");

    let (stop_tx, stop_rx) = watch::channel(false);
    let timeouts = Timeouts {
        header: Duration::from_millis(config.nodo.header_timeout_ms),
        drain: Duration::from_millis(config.outbox.shutdown_grace_ms),
    };
    let nodo_server = serve(
        nodo_listener,
        nodo_router(state.clone()),
        stop_rx.clone(),
        timeouts,
    );
    let api_server = serve(
        api_listener,
        api_router(state.clone()),
        stop_rx.clone(),
        timeouts,
    );
    let worker_task = tokio::spawn(worker.run(stop_rx.clone()));
    let nodo_task = tokio::spawn(nodo_server);
    let api_task = tokio::spawn(api_server);
    ready.store(true, Ordering::Release);
    on_bound(bound, &store);

    shutdown.await;
    tracing::info!("shutting down: draining requests");
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    let (a, b, c) = tokio::join!(nodo_task, api_task, worker_task);
    a?;
    b?;
    c?;
    store.flush_blocking().context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
}

/// Connection timeouts.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    /// A request's headers must arrive within this (slow-loris guard).
    header: Duration,
    /// On shutdown, in-flight requests get this long to finish.
    drain: Duration,
}

/// Resolves when shutdown is asked for.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _closed_or_stopped = rx.wait_for(|stop| *stop).await.is_ok();
}

/// Serves `router` on `listener` (HTTP/1.1, keep-alive) until `stop`, then lets in-flight
/// requests finish for up to `drain`. Unlike `axum::serve`, every connection gets a header
/// read timeout, so a client that trickles its headers is cut off instead of holding a task
/// and a socket forever.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    stop: watch::Receiver<bool>,
    timeouts: Timeouts,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .keep_alive(true);
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = router
                    .clone()
                    .map_request(|req: hyper::Request<hyper::body::Incoming>| req.map(axum::body::Body::new));
                let conn = http.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut stopping => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(timeouts.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the shutdown grace period");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
