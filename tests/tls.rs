//! The nodo listener's edge over real sockets: HTTPS, mutual TLS with a CA or pins, the
//! certificate reloaded on SIGHUP, IP allowlists, and trusted-proxy headers. Every refusal is
//! asserted twice: the client is turned away, and the SOAP handler never ran (its request
//! counter did not move).

mod common;

use common::https::{self, client, escaped};
use common::{Gateway, pki, refused_start};
use reqwest::Client;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// A seeded demo notice.
const NAV: &str = "301000000000000144";

fn verify_body() -> String {
    common::qr_request("paVerifyPaymentNoticeReq", NAV, "")
}

fn https(gw: &Gateway) -> String {
    gw.nodo.replacen("http://", "https://", 1)
}

/// POSTs the verify request; the status and body, or the transport error's text.
async fn verify(
    client: &Client,
    url: &str,
    headers: &[(&str, String)],
) -> Result<(u16, String), String> {
    https::soap(
        client,
        url,
        "paVerifyPaymentNotice",
        &verify_body(),
        headers,
    )
    .await
}

fn answered_ok(r: &Result<(u16, String), String>) -> bool {
    matches!(r, Ok((200, body)) if body.contains("<outcome>OK</outcome>"))
}

async fn soap_requests(gw: &Gateway) -> u64 {
    https::soap_requests(&gw.api).await
}

async fn refused_count(gw: &Gateway, reason: &str) -> u64 {
    https::counter(&gw.api, "varco_edge_refused_total{", reason).await
}

/// Starts the gateway on `config` (from a plain thread: the start-up wait runs its own
/// runtime).
fn start(dir: &Path, config: &Path) -> Gateway {
    let (data, config) = (dir.join("data"), config.to_owned());
    std::thread::spawn(move || Gateway::start_with(&data, &["--config", config.to_str().unwrap()]))
        .join()
        .unwrap()
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_a_ca_lets_in_only_its_clients() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ca = pki::ca(d, "server-ca");
    let server = pki::server(d, "server", &server_ca);
    let pagopa_ca = pki::ca(d, "pagopa-ca");
    let forwarder = pki::client(d, "forwarder", Some(&pagopa_ca));
    let rogue = pki::client(d, "rogue", None);
    let config = pki::config_with(
        d,
        &format!(
            "[nodo.tls]\ncert = {:?}\nkey = {:?}\n[nodo.client_auth]\nca = {:?}\n",
            toml_path(&server.cert_path),
            toml_path(&server.key_path),
            toml_path(&pagopa_ca.pem_path)
        ),
    );
    let gw = start(d, &config);
    let url = https(&gw);

    let ok = verify(&client(&server_ca, Some(&forwarder)), &url, &[]).await;
    assert!(
        answered_ok(&ok),
        "the forwarder's certificate is accepted: {ok:?}"
    );
    // With no public_url, the WSDL's soap:address is the listener's own, https included.
    let wsdl = client(&server_ca, Some(&forwarder))
        .get(format!("{url}?wsdl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wsdl.contains(&format!(r#"location="{url}""#)),
        "the WSDL names {url}: {wsdl}"
    );
    let served = soap_requests(&gw).await;

    let none = verify(&client(&server_ca, None), &url, &[]).await;
    assert!(
        none.is_err(),
        "no client certificate: the handshake fails ({none:?})"
    );
    let wrong = verify(&client(&server_ca, Some(&rogue)), &url, &[]).await;
    assert!(
        wrong.is_err(),
        "a certificate of another CA: the handshake fails ({wrong:?})"
    );
    // Plain HTTP on the TLS port is not served either.
    let plain = verify(&Client::new(), &gw.nodo, &[]).await;
    assert!(
        !answered_ok(&plain),
        "plain HTTP on the TLS port: {plain:?}"
    );
    assert_eq!(
        soap_requests(&gw).await,
        served,
        "the handler never ran for a refused client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_certificates_are_the_only_ones_let_in_and_reload_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca1 = pki::ca(d, "ca-one");
    let first = pki::server(d, "server-one", &ca1);
    let pagopa_ca = pki::ca(d, "pagopa-ca");
    let pinned = pki::client(d, "pinned", Some(&pagopa_ca));
    let sibling = pki::client(d, "sibling", Some(&pagopa_ca));
    let self_signed_pinned = pki::client(d, "self-signed", None);
    // The files the listener reads; replaced below for the reload.
    let cert = d.join("live.pem");
    let key = d.join("live.key");
    std::fs::copy(&first.cert_path, &cert).unwrap();
    std::fs::copy(&first.key_path, &key).unwrap();
    let config = pki::config_with(
        d,
        &format!(
            "[nodo.tls]\ncert = {:?}\nkey = {:?}\n[nodo.client_auth]\npins = [{:?}, \"sha256:{}\"]\n",
            toml_path(&cert),
            toml_path(&key),
            pinned.fingerprint,
            self_signed_pinned.fingerprint.to_uppercase()
        ),
    );
    let gw = start(d, &config);
    let url = https(&gw);

    let kept = client(&ca1, Some(&pinned));
    assert!(answered_ok(&verify(&kept, &url, &[]).await));
    assert!(
        answered_ok(&verify(&client(&ca1, Some(&self_signed_pinned)), &url, &[]).await),
        "pins alone admit a self-signed certificate"
    );
    let served = soap_requests(&gw).await;
    let sibling_result = verify(&client(&ca1, Some(&sibling)), &url, &[]).await;
    assert!(
        !answered_ok(&sibling_result),
        "same CA but not pinned: refused ({sibling_result:?})"
    );
    assert!(verify(&client(&ca1, None), &url, &[]).await.is_err());
    assert_eq!(soap_requests(&gw).await, served);
    assert!(refused_count(&gw, "client_certificate_not_allowed").await >= 1);

    // A new certificate from another CA, then SIGHUP: new handshakes get it, the connection
    // opened before keeps working.
    let ca2 = pki::ca(d, "ca-two");
    let second = pki::server(d, "server-two", &ca2);
    std::fs::copy(&second.cert_path, &cert).unwrap();
    std::fs::copy(&second.key_path, &key).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut reloaded = false;
    for _ in 0..100 {
        if answered_ok(&verify(&client(&ca2, Some(&pinned)), &url, &[]).await) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        reloaded,
        "after SIGHUP the listener presents the new certificate"
    );
    assert!(
        verify(&client(&ca1, Some(&pinned)), &url, &[])
            .await
            .is_err(),
        "a client trusting only the old CA no longer connects"
    );
    assert!(
        answered_ok(&verify(&kept, &url, &[]).await),
        "the connection made before the reload still serves requests"
    );

    // A broken file on reload leaves the certificate in use.
    std::fs::write(&cert, "not a certificate").unwrap();
    Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .unwrap();
    let mut failed = false;
    for _ in 0..100 {
        if https::counter(&gw.api, "varco_tls_reloads_total{", "result=\"failed\"").await >= 1 {
            failed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        failed,
        "the reload of the broken file was attempted and reported"
    );
    assert!(
        answered_ok(&verify(&client(&ca2, Some(&pinned)), &url, &[]).await),
        "a certificate file that does not load leaves the one in use"
    );
}

/// A refusal case: what it is, who sends it, with which headers, and the reason expected.
type Case = (
    &'static str,
    Client,
    Vec<(&'static str, String)>,
    &'static str,
);

fn from(local: &str) -> Client {
    Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_only_the_trusted_proxy_is_believed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pagopa_ca = pki::ca(d, "pagopa-ca");
    let forwarder = pki::client(d, "forwarder", Some(&pagopa_ca));
    let other = pki::client(d, "other", Some(&pagopa_ca));
    // 127.0.0.1 is the proxy; the Nodo's address is 203.0.113.0/24; 127.0.0.3 is a host on the
    // allowlist that is not a proxy; 127.0.0.2 is nobody.
    let config = pki::config_with_password(
        d,
        &format!(
            "[nodo.access]\nallow = [\"203.0.113.0/24\", \"127.0.0.3\"]\ntrusted_proxies = [\"127.0.0.1\"]\nclient_cert_header = \"X-SSL-Client-Cert\"\n[nodo.client_auth]\nca = {:?}\npins = [{:?}]\n",
            toml_path(&pagopa_ca.pem_path),
            forwarder.fingerprint
        ),
        "a real secret",
    );
    let gw = start(d, &config);
    let url = gw.nodo.clone();
    let proxy = from("127.0.0.1");
    let good_cert = ("x-ssl-client-cert", escaped(&forwarder.cert_pem));
    let nodo_ip = ("x-forwarded-for", "203.0.113.10".to_string());

    let ok = verify(
        &proxy,
        &url,
        &[
            nodo_ip.clone(),
            good_cert.clone(),
            ("x-request-id", "abc-123".into()),
        ],
    )
    .await;
    assert!(
        answered_ok(&ok),
        "the proxy passing the Nodo's address and certificate: {ok:?}"
    );
    let resp = proxy
        .get(format!("{}?wsdl", url))
        .header("x-forwarded-for", "203.0.113.10")
        .header("x-ssl-client-cert", escaped(&forwarder.cert_pem))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-request-id"],
        "abc-123",
        "a trusted proxy's request id is kept"
    );
    let served = soap_requests(&gw).await;

    let cases: Vec<Case> = vec![
        (
            "no certificate header",
            from("127.0.0.1"),
            vec![nodo_ip.clone()],
            "no_client_certificate",
        ),
        (
            "a certificate of the right CA that is not pinned",
            from("127.0.0.1"),
            vec![
                nodo_ip.clone(),
                ("x-ssl-client-cert", escaped(&other.cert_pem)),
            ],
            "client_certificate_not_allowed",
        ),
        (
            "a header that holds no certificate",
            from("127.0.0.1"),
            vec![nodo_ip.clone(), ("x-ssl-client-cert", "garbage".into())],
            "client_certificate_unreadable",
        ),
        (
            "a client address outside the allowlist",
            from("127.0.0.1"),
            vec![
                ("x-forwarded-for", "198.51.100.7".into()),
                good_cert.clone(),
            ],
            "address_not_allowed",
        ),
        (
            "a Forwarded header naming an allowed address: not the header the proxy sets",
            from("127.0.0.1"),
            vec![
                ("forwarded", "for=203.0.113.10".into()),
                ("x-real-ip", "203.0.113.10".into()),
                ("x-forwarded-for", "198.51.100.7".into()),
                good_cert.clone(),
            ],
            "address_not_allowed",
        ),
        (
            "forwarding headers from a host that is not a trusted proxy",
            from("127.0.0.3"),
            vec![nodo_ip.clone(), good_cert.clone()],
            "no_client_certificate",
        ),
        (
            "an unreadable X-Forwarded-For from the proxy",
            from("127.0.0.1"),
            vec![
                ("x-forwarded-for", "203.0.113.10, nonsense".into()),
                good_cert.clone(),
            ],
            "forwarded_header_unreadable",
        ),
    ];
    for (what, client, headers, reason) in cases {
        let before = refused_count(&gw, reason).await;
        let r = verify(&client, &url, &headers).await;
        let Ok((status, body)) = &r else {
            panic!("{what}: expected a 403, got {r:?}")
        };
        assert_eq!(*status, 403, "{what}: {body}");
        assert!(
            body.contains(reason),
            "{what}: the body names the reason: {body}"
        );
        assert_eq!(
            refused_count(&gw, reason).await,
            before + 1,
            "{what}: counted"
        );
    }
    // A peer neither allowed nor a proxy is dropped at accept.
    let dropped = verify(
        &from("127.0.0.2"),
        &url,
        &[nodo_ip.clone(), good_cert.clone()],
    )
    .await;
    assert!(
        dropped.is_err(),
        "127.0.0.2 is disconnected at once: {dropped:?}"
    );
    assert_eq!(
        soap_requests(&gw).await,
        served,
        "no refused request reached the handler"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_a_leaf_of_an_intermediate_ca_is_verified_with_the_intermediates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = pki::ca(d, "pagopa-root");
    let issuing = pki::intermediate(d, "pagopa-issuing", &root);
    let forwarder = pki::client(d, "forwarder", Some(&issuing));
    // A chain that does not lead to the root: its intermediate is listed in `intermediates`
    // all the same, which must not make it trusted.
    let rogue_root = pki::ca(d, "rogue-root");
    let rogue_issuing = pki::intermediate(d, "rogue-issuing", &rogue_root);
    let impostor = pki::client(d, "impostor", Some(&rogue_issuing));
    let intermediates = d.join("intermediates.pem");
    std::fs::write(
        &intermediates,
        format!("{}{}", issuing.issuer.pem(), rogue_issuing.issuer.pem()),
    )
    .unwrap();
    let proxy_section = "[nodo.access]\ntrusted_proxies = [\"127.0.0.1\"]\nclient_cert_header = \"X-SSL-Client-Cert\"\n[nodo.client_auth]\n";
    let with_dir = d.join("with");
    let without_dir = d.join("without");
    std::fs::create_dir_all(&with_dir).unwrap();
    std::fs::create_dir_all(&without_dir).unwrap();
    let with = start(
        &with_dir,
        &pki::config_with_password(
            &with_dir,
            &format!(
                "{proxy_section}ca = {:?}\nintermediates = {:?}\n",
                toml_path(&root.pem_path),
                toml_path(&intermediates)
            ),
            "a real secret",
        ),
    );
    let without = start(
        &without_dir,
        &pki::config_with_password(
            &without_dir,
            &format!("{proxy_section}ca = {:?}\n", toml_path(&root.pem_path)),
            "a real secret",
        ),
    );
    let proxy = from("127.0.0.1");
    // As nginx's $ssl_client_escaped_cert: the leaf alone.
    let leaf_only = ("x-ssl-client-cert", escaped(&forwarder.cert_pem));
    let with_chain = (
        "x-ssl-client-cert",
        escaped(&format!("{}{}", forwarder.cert_pem, issuing.issuer.pem())),
    );

    let r = verify(&proxy, &with.nodo, std::slice::from_ref(&leaf_only)).await;
    assert!(
        answered_ok(&r),
        "the leaf alone, with intermediates configured: {r:?}"
    );
    let r = verify(&proxy, &without.nodo, std::slice::from_ref(&leaf_only)).await;
    assert!(
        matches!(&r, Ok((403, body)) if body.contains("client_certificate_not_allowed")),
        "the leaf alone, without intermediates: no path to the root ({r:?})"
    );
    let r = verify(&proxy, &without.nodo, std::slice::from_ref(&with_chain)).await;
    assert!(
        answered_ok(&r),
        "the chain after the leaf in the header serves as intermediates: {r:?}"
    );

    // Intermediates are never trust anchors, from the file or from the header.
    let served = soap_requests(&with).await;
    let impostor_leaf = ("x-ssl-client-cert", escaped(&impostor.cert_pem));
    let impostor_chain = (
        "x-ssl-client-cert",
        escaped(&format!(
            "{}{}{}",
            impostor.cert_pem,
            rogue_issuing.issuer.pem(),
            rogue_root.issuer.pem()
        )),
    );
    for (what, header) in [
        ("a leaf whose intermediate is listed", impostor_leaf),
        ("a leaf with its own chain and root", impostor_chain),
    ] {
        let r = verify(&proxy, &with.nodo, &[header]).await;
        assert!(
            matches!(&r, Ok((403, body)) if body.contains("client_certificate_not_allowed")),
            "{what}: refused ({r:?})"
        );
    }
    assert_eq!(soap_requests(&with).await, served);
}

#[test]
fn a_configuration_that_cannot_work_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // client_auth without TLS or a proxy header: nothing could ever present a certificate.
    let config = pki::config_with(
        d,
        &format!(
            "[nodo.client_auth]\npins = [\"sha256:{}\"]\n",
            "ab".repeat(32)
        ),
    );
    let err = refused_start(d, &config);
    assert!(err.contains("nodo.client_auth"), "{err}");
    // A certificate file that does not exist is named by its key.
    let config = pki::config_with(
        d,
        "[nodo.tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    );
    let err = refused_start(d, &config);
    assert!(err.contains("nodo.tls.cert"), "{err}");
    // So is an intermediates file.
    let ca = pki::ca(d, "root");
    let config = pki::config_with_password(
        d,
        &format!(
            "[nodo.access]\ntrusted_proxies = [\"127.0.0.1\"]\nclient_cert_header = \"X-SSL-Client-Cert\"\n[nodo.client_auth]\nca = {:?}\nintermediates = \"/nonexistent/intermediates.pem\"\n",
            toml_path(&ca.pem_path)
        ),
        "a real secret",
    );
    let err = refused_start(d, &config);
    assert!(err.contains("nodo.client_auth.intermediates"), "{err}");
}

#[test]
fn the_api_listener_serves_https_and_keeps_its_own_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = pki::ca(d, "api-ca");
    let cert = pki::server(d, "api", &ca);
    let config = pki::config_with(
        d,
        &format!(
            "[api.tls]\ncert = {:?}\nkey = {:?}\n[api.access]\nallow = [\"127.0.0.1\"]\n",
            toml_path(&cert.cert_path),
            toml_path(&cert.key_path)
        ),
    );
    let (np, ap) = (common::free_port(), common::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_varco"))
        .args(["serve", "--config", config.to_str().unwrap(), "--data-dir"])
        .arg(d.join("data"))
        .args(["--nodo-listen", &format!("127.0.0.1:{np}")])
        .args(["--api-listen", &format!("127.0.0.1:{ap}")])
        .env("VARCO_LOG", "warn")
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let trusted = https::client_from(&ca, "127.0.0.1");
        let readyz = format!("https://127.0.0.1:{ap}/readyz");
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = trusted.get(&readyz).send().await
                && r.status() == 200
            {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(ready, "readyz over HTTPS");
        let r = trusted
            .get(format!("https://127.0.0.1:{ap}/api/pendenze/v2/pendenze"))
            .basic_auth("demo", Some("demo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Plain HTTP on the HTTPS port gets no answer.
        assert!(
            !matches!(
                common::get(&format!("http://127.0.0.1:{ap}/readyz")).await,
                Ok((200, _))
            ),
            "plain HTTP is not served on the TLS listener"
        );
        // A peer outside the api allowlist is dropped, even with the right CA.
        let outsider = https::client_from(&ca, "127.0.0.2");
        assert!(outsider.get(&readyz).send().await.is_err());
        // The nodo listener, with no TLS configured, still speaks plain HTTP.
        let (s, _) = common::get(&format!("http://127.0.0.1:{np}/paForNode?wsdl"))
            .await
            .unwrap();
        assert_eq!(s, 200);
    });
    let _ = child.kill();
    let _ = child.wait();
}
