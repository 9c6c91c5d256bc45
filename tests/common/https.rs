//! Clients of the TLS tests (tests/tls.rs, tests/nginx.rs): an HTTPS client trusting one CA
//! with an optional client certificate, SOAP over it, what nginx forwards as the client
//! certificate, and the gateway's counters from `GET /metrics`.

use super::pki;
use reqwest::{Certificate, Client, Identity};

/// A client that trusts `trust` only and presents `identity` when given.
pub fn client(trust: &pki::Ca, identity: Option<&pki::Leaf>) -> Client {
    let mut b = Client::builder()
        .tls_certs_only([Certificate::from_pem(trust.issuer.pem().as_bytes()).unwrap()]);
    if let Some(id) = identity {
        b = b.identity(Identity::from_pem(&id.identity_pem()).unwrap());
    }
    b.build().unwrap()
}

/// A client that trusts `trust` only, from the local address `local`.
pub fn client_from(trust: &pki::Ca, local: &str) -> Client {
    Client::builder()
        .tls_certs_only([Certificate::from_pem(trust.issuer.pem().as_bytes()).unwrap()])
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// POSTs a SOAP body with extra `headers`; the status and body, or the transport error's text.
pub async fn soap(
    client: &Client,
    url: &str,
    action: &str,
    body: &str,
    headers: &[(&str, String)],
) -> Result<(u16, String), String> {
    let mut req = client
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", action)
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// What nginx's `$ssl_client_escaped_cert` looks like: the PEM, URL-encoded.
pub fn escaped(pem: &str) -> String {
    pem.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The sum of a counter's series (`prefix` up to the brace) whose labels contain `label`, from
/// `GET {api}/metrics`.
pub async fn counter(api: &str, prefix: &str, label: &str) -> u64 {
    let (_, text) = super::get(&format!("{api}/metrics")).await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(prefix) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The number of SOAP requests the handler answered.
pub async fn soap_requests(api: &str) -> u64 {
    counter(api, "varco_soap_requests_total{", "").await
}
