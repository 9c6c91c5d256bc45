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
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let nodo_server = axum::serve(nodo_listener, nodo_router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future();
    let api_server = axum::serve(api_listener, api_router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future();
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
    a??;
    b??;
    c?;
    store.flush_blocking().context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
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
