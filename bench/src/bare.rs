//! The baseline: a bare hyper HTTP/1.1 server returning fixed bytes.
//!
//! It does the minimum any HTTP server must do for a SOAP call — parse the
//! request head, read the whole body, write a 200 with a `Content-Length` —
//! and nothing else (no routing, no XML, no storage), so `varco rps / bare
//! rps` measures what Varco's own work costs.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::client::TEXT_XML;

/// Serves `body` to every request on `listen` until SIGINT or SIGTERM.
pub async fn serve(listen: SocketAddr, body: Bytes) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!(
        "varco-bench bare: listening on http://{} ({} response bytes)",
        listener.local_addr()?,
        body.len()
    );
    let mut sigterm = signal(SignalKind::terminate())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // E.g. EMFILE: keep serving the connections we have.
                    eprintln!("accept failed: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| respond(req, body.clone()));
            // Keep-alive is on by default; errors are the client's business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    eprintln!("varco-bench bare: stopping");
    Ok(())
}

async fn respond(req: Request<Incoming>, body: Bytes) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read (and drop) the whole request body, like a real SOAP endpoint must.
    if req.into_body().collect().await.is_err() {
        let mut bad = Response::new(Full::new(Bytes::new()));
        *bad.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(bad);
    }
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_XML));
    Ok(response)
}
