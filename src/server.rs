//! Listeners and lifecycle: open the store, bind both listeners, serve until the shutdown
//! future resolves, then drain in-flight requests and flush the store.

use crate::app::{AppState, api_router, nodo_router};
use crate::config::Config;
use crate::domain::Clock;
use crate::edge::tls::{Reloadable, TlsSource};
use crate::edge::{ConnInfo, Policy};
use crate::nodo::Nodo;
use crate::store::Store;
use anyhow::Context;
use rustls::pki_types::CertificateDer;
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
    // First of all: SIGHUP's default action ends the process, and a log rotation or a
    // `systemctl reload` may send one at any moment, also while the store opens.
    let hangups = listen_for_sighup();
    let config = Arc::new(config);
    let ready = Arc::new(AtomicBool::new(false));
    let nodo_edge = Edge::new(
        "nodo",
        config.nodo.tls.as_ref(),
        config.nodo.client_auth.as_ref(),
        &config.nodo.access,
    )?;
    let api_edge = Edge::new(
        "api",
        config.api.tls.as_ref(),
        config.api.client_auth.as_ref(),
        &config.api.access,
    )?;
    let nodo_listener = bind(config.nodo.listen)
        .with_context(|| format!("binding the nodo listener on {}", config.nodo.listen))?;
    let api_listener = bind(config.api.listen)
        .with_context(|| format!("binding the api listener on {}", config.api.listen))?;
    let bound = Bound {
        nodo: nodo_listener.local_addr()?,
        api: api_listener.local_addr()?,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let nodo_timeouts = Timeouts {
        header: Duration::from_millis(config.nodo.header_timeout_ms),
        body: Duration::from_millis(config.nodo.body_timeout_ms),
        drain: Duration::from_millis(config.outbox.shutdown_grace_ms),
    };
    let api_timeouts = Timeouts {
        body: Duration::from_millis(config.api.body_timeout_ms),
        ..nodo_timeouts
    };
    reload_on_sighup(
        hangups,
        [&nodo_edge, &api_edge]
            .iter()
            .filter_map(|e| e.tls.clone())
            .collect(),
        stop_rx.clone(),
    );
    // The api listener answers at once (`/healthz` 200, `/readyz` and the rest 503) while the
    // store opens; the nodo listener starts once there is a store to answer from.
    let api_router_slot = Arc::new(std::sync::OnceLock::new());
    let api_task = tokio::spawn(serve(
        api_listener,
        late_router(api_router_slot.clone()),
        api_edge.clone(),
        stop_rx.clone(),
        api_timeouts,
    ));
    let (store, state) = match open(config.clone(), clock.clone(), ready.clone()).await {
        Ok(opened) => opened,
        Err(e) => {
            let _ = stop_tx.send(true);
            let _ = api_task.await;
            return Err(e);
        }
    };
    let sender = crate::outbox::sender::HttpSender::new(&config)
        .context("building the gestionale clients")?;
    let worker = crate::outbox::Worker::new(store.clone(), config.clone(), sender, clock.clone())
        .with_journal(state.journal.clone());
    let _ = api_router_slot.set(api_router(state.clone()));
    let nodo_server = serve(
        nodo_listener,
        nodo_router(state.clone()),
        nodo_edge.clone(),
        stop_rx.clone(),
        nodo_timeouts,
    );
    let worker_task = tokio::spawn(worker.run(stop_rx.clone()));
    // Settlement flows from FdR 3 on a schedule (one run at a time across nodes).
    let every = Duration::from_secs(config.fdr.every_secs);
    if !every.is_zero()
        && let Some(acquisition) =
            crate::fdr::acquire::Acquisition::new(store.clone(), config.clone(), clock.clone())?
    {
        tokio::spawn(acquisition.schedule(every, stop_rx.clone()));
    }
    let nodo_task = tokio::spawn(nodo_server);
    ready.store(true, Ordering::Release);
    tracing::info!(
        nodo = %format_args!("{}://{}", nodo_edge.scheme(), bound.nodo),
        api = %format_args!("{}://{}", api_edge.scheme(), bound.api),
        "listening"
    );
    on_bound(bound, &store);

    shutdown.await;
    tracing::info!("shutting down: draining requests");
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    let (a, b, c) = tokio::join!(nodo_task, api_task, worker_task);
    a?;
    b?;
    c?;
    // The journal's queue is written before the final flush.
    state.journal.close();
    store.flush_blocking().context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds with a listen queue of 4096 (tokio's default of 1024 overflowed under bursts of new
/// connections in the 10,000-connection test) and address reuse for quick restarts.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Opens the store (off the async threads: sled reads its log), seeds the demo, and builds the
/// routers' state.
async fn open(
    config: Arc<Config>,
    clock: Clock,
    ready: Arc<AtomicBool>,
) -> anyhow::Result<(Store, AppState)> {
    let started = std::time::Instant::now();
    let store = Store::connect(&config.store)
        .await
        .with_context(|| match config.store.engine {
            crate::config::settings::StoreEngine::Sled => {
                format!("opening the store in {}", config.store.data_dir.display())
            }
            crate::config::settings::StoreEngine::Postgres => {
                format!("connecting to the database {:?}", config.store.url)
            }
        })?;
    if config.demo.seed {
        // Conditional inserts: nodes starting together on one database seed each position once.
        let seeded = crate::demo::seed(&config, &store, clock()).await?;
        if seeded > 0 {
            tracing::info!(positions = seeded, "demo positions seeded");
        }
    }
    let state = AppState::new(Nodo::new(config, store.clone(), clock.clone()), ready);
    tracing::info!(ms = started.elapsed().as_millis() as u64, "store open");
    Ok((store, state))
}

/// A router that answers "starting" until `slot` holds the real one, then hands every request
/// to it.
fn late_router(slot: Arc<std::sync::OnceLock<axum::Router>>) -> axum::Router {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let slot = slot.clone();
        async move {
            match slot.get() {
                Some(router) => match router.clone().oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None if req.uri().path() == "/healthz" => "ok\n".into_response(),
                None => (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the store is opening\n",
                )
                    .into_response(),
            }
        }
    })
}

/// Connection timeouts of a listener.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    /// A request's headers must arrive within this (slow-loris guard).
    header: Duration,
    /// A request's body must arrive within this, counted from its head.
    body: Duration,
    /// On shutdown, in-flight requests get this long to finish.
    drain: Duration,
}

/// Resolves when shutdown is asked for.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _closed_or_stopped = rx.wait_for(|stop| *stop).await.is_ok();
}

/// One listener's edge: access policy and, when configured, TLS.
#[derive(Clone)]
struct Edge {
    policy: Arc<Policy>,
    tls: Option<Arc<Reloadable>>,
}

impl Edge {
    fn new(
        listener: &'static str,
        tls: Option<&crate::config::TlsConfig>,
        client_auth: Option<&crate::config::ClientAuthConfig>,
        access: &crate::config::AccessConfig,
    ) -> anyhow::Result<Self> {
        let policy = Arc::new(Policy::new(listener, access, client_auth)?);
        let tls = match tls {
            None => None,
            Some(tls) => {
                // With a trusted proxy in front, the certificate may come in its header.
                let optional = !access.trusted_proxies.is_empty();
                let source = TlsSource::new(listener, tls, client_auth, optional);
                Some(Arc::new(Reloadable::new(source)?))
            }
        };
        if client_auth.is_some() && tls.is_none() && access.client_cert_header.is_none() {
            anyhow::bail!(
                "{listener}.client_auth: needs {listener}.tls (certificates from the handshake) or {listener}.access.client_cert_header (from a trusted proxy)"
            );
        }
        Ok(Self { policy, tls })
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// SIGHUPs, handled from now on (installing the handler replaces the default action, which
/// ends the process, for the rest of its life).
#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn listen_for_sighup() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hup) => Some(hup),
        Err(e) => {
            tracing::warn!(error = %e, "cannot handle SIGHUP: one would end the process");
            None
        }
    }
}

#[cfg(not(unix))]
fn listen_for_sighup() -> Hangups {}

/// On every SIGHUP, re-reads what can be re-read: each listener's certificate and key
/// (established connections keep theirs; a file that does not load leaves the one in use).
/// With nothing to reload it says so; it never ends the process.
fn reload_on_sighup(hangups: Hangups, tls: Vec<Arc<Reloadable>>, stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Some(mut hup) = hangups else {
            return;
        };
        let stopping = stopped(stop);
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                got = hup.recv() => if got.is_none() { return },
                () = &mut stopping => return,
            }
            if tls.is_empty() {
                tracing::info!("SIGHUP: nothing to reload");
            }
            for t in &tls {
                let reloaded = t.reload();
                crate::metrics::tls_reload(t.listener(), reloaded.is_ok());
                match reloaded {
                    Ok(()) => tracing::info!(listener = t.listener(), "TLS certificate reloaded"),
                    Err(e) => tracing::error!(
                        listener = t.listener(),
                        error = format!("{e:#}"),
                        "TLS reload failed; the previous certificate stays in use"
                    ),
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop((hangups, tls, stop));
}

/// Serves `router` on `listener` (HTTP/1.1 or HTTPS, keep-alive) until `stop`, then lets
/// in-flight requests finish for up to `drain`. Unlike `axum::serve`, every connection gets a
/// header read timeout (and the TLS handshake the same budget), so a client that trickles is
/// cut off instead of holding a task and a socket forever; peers outside the allowlist are
/// dropped at accept, and every request passes the edge [`guard`](crate::edge::guard).
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    edge: Edge,
    stop: watch::Receiver<bool>,
    timeouts: Timeouts,
) {
    use hyper_util::rt::TokioTimer;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .keep_alive(true);
    let router = router.layer(axum::middleware::from_fn_with_state(
        edge.policy.clone(),
        crate::edge::guard,
    ));
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, say: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(refusal) = edge.policy.admit_peer(peer.ip()) {
                    crate::metrics::edge_refused(edge.policy.listener, refusal.as_str());
                    tracing::warn!(listener = edge.policy.listener, peer = %peer, reason = refusal.as_str(), "connection refused at the edge");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let conn = Connection { router: router.clone(), http: http.clone(), watcher: graceful.watcher(), peer, body_timeout: timeouts.body };
                match &edge.tls {
                    None => {
                        tokio::spawn(conn.serve(stream, None));
                    }
                    Some(tls) => {
                        let acceptor = tls.acceptor();
                        let policy = edge.policy.clone();
                        let budget = timeouts.header;
                        tokio::spawn(async move {
                            let stream = match tokio::time::timeout(budget, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::info!(listener = policy.listener, peer = %peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::info!(listener = policy.listener, peer = %peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| Arc::new(c.clone().into_owned()));
                            if let Err(refusal) = policy.admit_handshake(cert.as_deref()) {
                                crate::metrics::edge_refused(policy.listener, refusal.as_str());
                                tracing::warn!(listener = policy.listener, peer = %peer, reason = refusal.as_str(), "connection refused at the edge");
                                return;
                            }
                            conn.serve(stream, cert).await;
                        });
                    }
                }
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

/// An accepted connection, ready to serve HTTP/1.1 over any byte stream.
struct Connection {
    router: axum::Router,
    http: hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl Connection {
    async fn serve<I>(self, io: I, client_cert: Option<Arc<CertificateDer<'static>>>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        use hyper::body::Body as _;
        use hyper_util::rt::TokioIo;
        use tower::ServiceExt;
        let info = ConnInfo {
            peer: self.peer,
            client_cert,
        };
        let body_timeout = self.body_timeout;
        let service = self
            .router
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                // Every body gets its deadline here, before any route or middleware sees it
                // (the clock starts now: the head has just arrived).
                let (parts, body) = req.into_parts();
                let mut req = if body.is_end_stream() {
                    axum::extract::Request::from_parts(parts, axum::body::Body::new(body))
                } else {
                    let (body, deadline) = crate::edge::deadline::wrap(body, body_timeout);
                    let mut req =
                        axum::extract::Request::from_parts(parts, axum::body::Body::new(body));
                    req.extensions_mut().insert(deadline);
                    req
                };
                req.extensions_mut().insert(info.clone());
                req
            });
        let conn = self.http.serve_connection(
            TokioIo::new(io),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let _ = self.watcher.watch(conn).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn status(router: &axum::Router, path: &str) -> u16 {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        router.clone().oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn the_api_answers_not_ready_until_the_store_is_open() {
        let slot = Arc::new(std::sync::OnceLock::new());
        let router = late_router(slot.clone());
        assert_eq!(status(&router, "/healthz").await, 200);
        assert_eq!(status(&router, "/readyz").await, 503);
        assert_eq!(status(&router, "/api/pendenze/v2/pendenze").await, 503);
        let real = axum::Router::new()
            .route("/readyz", axum::routing::get(|| async { "ready" }))
            .route("/healthz", axum::routing::get(|| async { "ok" }));
        slot.set(real).unwrap();
        assert_eq!(status(&router, "/readyz").await, 200);
        assert_eq!(status(&router, "/api/pendenze/v2/pendenze").await, 404);
    }
}
