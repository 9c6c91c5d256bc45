//! A total deadline for receiving a request body, counted from when the request's head
//! arrived (the header read timeout covers the head; this covers the rest, so a client that
//! trickles its body one byte a second cannot hold a connection and a task for long).
//!
//! The server wraps every request body in a [`DeadlineBody`] before the router sees it
//! (`Connection::serve` in src/server.rs), so it holds for every route and whoever reads the
//! body. Nothing is read ahead: the wrapper only watches the reads the handler makes. When the
//! deadline passes the body yields an error (the handler fails as on a broken upload) and flips
//! the request's [`BodyDeadline`], which [`super::guard`] turns into `408 Request Timeout` with
//! `Connection: close`.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The error a [`DeadlineBody`] yields once its deadline has passed.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body was not received within the deadline")
    }
}

impl std::error::Error for BodyTimedOut {}

/// In a request's extensions: whether its body's deadline passed (set by the body).
#[derive(Debug, Clone)]
pub struct BodyDeadline(Arc<AtomicBool>);

impl BodyDeadline {
    /// True once the body was cut off.
    pub fn expired(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A request body that fails once `deadline` has passed.
#[derive(Debug)]
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// Made the first time the inner body has nothing to give (most bodies arrive with their
    /// head and never need a timer).
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

/// Wraps `body`: it must be received whole within `timeout` from now.
pub fn wrap<B>(body: B, timeout: Duration) -> (DeadlineBody<B>, BodyDeadline) {
    let expired = Arc::new(AtomicBool::new(false));
    (
        DeadlineBody {
            inner: body,
            deadline: Instant::now() + timeout,
            sleep: None,
            expired: expired.clone(),
        },
        BodyDeadline(expired),
    )
}

impl<B> DeadlineBody<B> {
    fn expire(&mut self) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.expired.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Acquire) {
            return this.expire();
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => {
                // Data that keeps coming does not extend the deadline: it is a total.
                if Instant::now() >= this.deadline {
                    this.expire()
                } else {
                    Poll::Ready(Some(Ok(frame)))
                }
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => this.expire(),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a client whose body timed out gets; the connection is closed after it.
pub fn timeout_response() -> Response {
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(serde_json::json!({
            "categoria": "RICHIESTA",
            "codice": "408",
            "descrizione": "Corpo della richiesta non ricevuto in tempo",
            "dettaglio": "body_timeout",
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A client that sends one byte and then nothing.
    struct Stalled {
        sent: bool,
    }

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.sent {
                Poll::Pending
            } else {
                self.sent = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"a")))))
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_in_time_passes() {
        let (body, flag) = wrap(
            http_body_util::Full::new(Bytes::from_static(b"hello")),
            Duration::from_secs(1),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert!(!flag.expired());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_at_the_deadline_and_flags_the_request() {
        let started = Instant::now();
        let (body, flag) = wrap(Stalled { sent: false }, Duration::from_millis(1500));
        let err = body.collect().await.unwrap_err();
        assert!(err.is::<BodyTimedOut>(), "{err}");
        assert!(flag.expired());
        assert_eq!(started.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn data_that_keeps_coming_does_not_extend_the_deadline() {
        let (body, flag) = wrap(
            http_body_util::Full::new(Bytes::from_static(b"late")),
            Duration::from_secs(1),
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(body.collect().await.is_err());
        assert!(flag.expired());
    }

    #[test]
    fn the_answer_is_408_and_closes_the_connection() {
        let r = timeout_response();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers()[header::CONNECTION], "close");
    }
}
