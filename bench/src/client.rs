//! A minimal HTTP/1.1 SOAP client: one `hyper::client::conn::http1`
//! connection per worker, reused (keep-alive) for every request.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Content type of every request (SOAP 1.1).
pub const TEXT_XML: &str = "text/xml; charset=utf-8";

/// A parsed `http://host:port/path` target.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`, used both to connect and as the `Host` header.
    authority: String,
    /// Origin-form request target (path and query).
    path: Uri,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!("unsupported scheme {other:?} in {url:?} (only http://)"),
            None => bail!("URL {url:?} has no scheme (expected http://host:port/path)"),
        }
        let Some(authority) = uri.authority() else {
            bail!("URL {url:?} has no host");
        };
        let authority = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.host()),
        };
        let path = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse()
            .context("invalid path")?;
        Ok(Self { authority, path })
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// One open keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// The connection kept in `kept`, or a new one to `target` (counted in `reconnects`).
    pub async fn kept_or_open(
        kept: &mut Option<Conn>,
        target: &Target,
        reconnects: &mut u64,
    ) -> Result<Self> {
        if let Some(c) = kept.take() {
            return Ok(c);
        }
        let c = Self::open(target).await?;
        *reconnects += 1;
        Ok(c)
    }

    /// Opens a TCP connection (Nagle off) and performs the HTTP/1.1 handshake;
    /// the connection task runs on the runtime until either side closes it.
    pub async fn open(target: &Target) -> Result<Self> {
        let stream = TcpStream::connect(target.authority())
            .await
            .with_context(|| format!("connecting to {}", target.authority()))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            // The error, if any, surfaces on the next send_request.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Waits until the connection can take a new request. An error means the
    /// server closed it (e.g. `Connection: close`): the caller re-opens.
    pub async fn ready(&mut self) -> Result<()> {
        self.sender.ready().await.context("connection closed")
    }

    /// Sends one SOAP POST and reads the whole response body.
    pub async fn exchange(
        &mut self,
        target: &Target,
        soap_action: &HeaderValue,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        self.post(
            target,
            HeaderValue::from_static(TEXT_XML),
            &[("SOAPAction", soap_action.clone())],
            body,
        )
        .await
    }

    /// Sends one POST with `content_type` and `headers` and reads the whole response body.
    pub async fn post(
        &mut self,
        target: &Target,
        content_type: HeaderValue,
        headers: &[(&'static str, HeaderValue)],
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        self.request(Method::POST, target, Some(content_type), headers, body)
            .await
    }

    /// Sends one GET (no body) with `headers` and reads the whole response body.
    pub async fn get(
        &mut self,
        target: &Target,
        headers: &[(&'static str, HeaderValue)],
    ) -> Result<(StatusCode, Bytes)> {
        self.request(Method::GET, target, None, headers, Bytes::new())
            .await
    }

    /// Sends one request to `target`'s path and reads the whole response body.
    async fn request(
        &mut self,
        method: Method,
        target: &Target,
        content_type: Option<HeaderValue>,
        headers: &[(&'static str, HeaderValue)],
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(target.path.clone())
            .header(HOST, target.authority());
        if let Some(content_type) = content_type {
            req = req.header(CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req.body(Full::new(body)).context("building request")?;
        let response = self
            .sender
            .send_request(req)
            .await
            .context("sending request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading response body")?
            .to_bytes();
        Ok((status, body))
    }
}

/// An `Authorization: Basic` value for `user:password`.
pub fn basic_auth(user: &str, password: &str) -> Result<HeaderValue> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    HeaderValue::from_str(&out).context("credentials")
}

/// Parses a SOAPAction value into a header value.
pub fn soap_action_header(op: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(op).with_context(|| format!("invalid SOAPAction {op:?}"))
}

/// Opens a connection, sends one request and returns status and body.
pub async fn send_once(target: &Target, soap_action: &str, body: Bytes) -> Result<(u16, Bytes)> {
    let action = soap_action_header(soap_action)?;
    let mut conn = Conn::open(target).await?;
    conn.ready().await?;
    let (status, body) = conn.exchange(target, &action, body).await?;
    Ok((status.as_u16(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("http://127.0.0.1:8080/pagopa?x=1").unwrap();
        assert_eq!(t.authority(), "127.0.0.1:8080");
        assert_eq!(t.path, "/pagopa?x=1");
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(t.authority(), "localhost:80");
        assert_eq!(t.path, "/");
        assert!(Target::parse("https://127.0.0.1/").is_err());
        assert!(Target::parse("127.0.0.1:80").is_err());
    }

    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(basic_auth("demo", "demo").unwrap(), "Basic ZGVtbzpkZW1v");
        assert_eq!(basic_auth("a", "").unwrap(), "Basic YTo=");
        assert_eq!(basic_auth("ab", "").unwrap(), "Basic YWI6");
    }
}
