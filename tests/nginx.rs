//! The reference reverse-proxy configuration, `deploy/nginx/varco.conf`, run for real: nginx
//! on loopback terminates TLS and verifies the client certificate, Varco behind it trusts
//! nginx's headers and checks the certificate against its pins. A notice is paid through it
//! with pagoPA's certificate; without one, with one of another CA, or with one of the right
//! CA that is not pinned, nothing reaches the SOAP handler. Forwarding headers a client writes
//! itself (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`, a pasted `X-SSL-Client-Cert` on the
//! api side) do not get through nginx to Varco, and the demo passwords cannot be used behind
//! it.
//!
//! `make test` installs nginx (Debian's nginx-light) when missing. Run by hand without nginx,
//! the tests fail and say so (`make tools` installs it).

mod common;

use common::https::{client, client_from, escaped, soap_requests};
use common::{Gateway, fixture, free_port, https, pki, refused_start};
use reqwest::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of the application `demo` and the operator `admin` behind nginx (the demo
/// password is refused there).
const PASSWORD: &str = "not the demo password";

/// nginx (outside `PATH` in Debian's /usr/sbin); the test fails, naming it, when missing.
fn nginx() -> PathBuf {
    common::require_tool_at(
        "nginx",
        "nginx-light",
        &["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"],
    )
}

/// nginx, a directory holding the files deploy/nginx/varco.conf reads, and the CAs of the
/// server and of pagoPA's client certificates.
fn prepared() -> (PathBuf, tempfile::TempDir, pki::Ca, pki::Ca) {
    let nginx = nginx();
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, pagopa_ca) = nginx_files(dir.path());
    (nginx, dir, server_ca, pagopa_ca)
}

/// nginx in the foreground on a prefix of its own; killed on drop.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nginx did not listen on {port}");
}

/// The reference file with this test's ports and certificate paths.
fn site_config(dir: &Path, nodo_port: u16, api_port: u16, varco: &Gateway) -> String {
    let reference = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/varco.conf"),
    )
    .unwrap();
    let port_of = |url: &str| {
        url.rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let substitutions = [
        (
            "listen 443 ssl;",
            format!("listen 127.0.0.1:{nodo_port} ssl;"),
        ),
        (
            "listen 8443 ssl;",
            format!("listen 127.0.0.1:{api_port} ssl;"),
        ),
        (
            "server 127.0.0.1:8080;",
            format!("server 127.0.0.1:{};", port_of(&varco.nodo)),
        ),
        (
            "server 127.0.0.1:8081;",
            format!("server 127.0.0.1:{};", port_of(&varco.api)),
        ),
        ("/etc/varco/tls/", format!("{}/", dir.display())),
    ];
    let mut text = reference;
    for (from, to) in substitutions {
        assert!(
            text.contains(from),
            "deploy/nginx/varco.conf holds {from:?}"
        );
        text = text.replace(from, &to);
    }
    text
}

fn start_nginx(nginx: &Path, dir: &Path, site: &str) -> Nginx {
    let temp = dir.join("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    std::fs::write(dir.join("varco.conf"), site).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n access_log {d}/access.log;\n client_body_temp_path {d}/tmp/body;\n proxy_temp_path {d}/tmp/proxy;\n\
          fastcgi_temp_path {d}/tmp/fastcgi;\n uwsgi_temp_path {d}/tmp/uwsgi;\n scgi_temp_path {d}/tmp/scgi;\n\
          include {d}/varco.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let check = Command::new(nginx)
        .args(["-t", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t accepts the reference configuration: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Nginx(child)
}

/// The files deploy/nginx/varco.conf reads, in `dir`; returns the CA of the server
/// certificates and pagoPA's client CA.
fn nginx_files(dir: &Path) -> (pki::Ca, pki::Ca) {
    let server_ca = pki::ca(dir, "server-ca");
    let nodo_cert = pki::server(dir, "nodo", &server_ca);
    let api_cert = pki::server(dir, "api", &server_ca);
    assert!(nodo_cert.cert_path.ends_with("nodo.pem") && api_cert.key_path.ends_with("api.key"));
    let pagopa_ca = pki::ca(dir, "pagopa-ca");
    std::fs::copy(&pagopa_ca.pem_path, dir.join("pagopa-client-ca.pem")).unwrap();
    (server_ca, pagopa_ca)
}

/// nginx on the reference file in front of `varco`; returns it with its nodo and api ports.
fn nginx_in_front(nginx: &Path, dir: &Path, varco: &Gateway) -> (Nginx, u16, u16) {
    let (nodo_port, api_port) = (free_port(), free_port());
    let site = site_config(dir, nodo_port, api_port, varco);
    let running = start_nginx(nginx, dir, &site);
    wait_for_port(nodo_port);
    wait_for_port(api_port);
    (running, nodo_port, api_port)
}

/// The status and the start of the body of a GET with Basic credentials and extra headers.
async fn get_with(
    client: &Client,
    url: &str,
    user: (&str, &str),
    headers: &[(&str, String)],
) -> (u16, String) {
    let mut req = client.get(url).basic_auth(user.0, Some(user.1));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    (status, body.chars().take(400).collect())
}

async fn soap(
    client: &Client,
    url: &str,
    action: &str,
    body: &str,
) -> Result<(u16, String), String> {
    https::soap(client, url, action, body, &[]).await
}

fn outcome(r: &Result<(u16, String), String>) -> Option<String> {
    let (_, body) = r.as_ref().ok()?;
    common::element(body, "outcome").map(str::to_owned)
}

/// The reference setup's Varco sections: nginx (127.0.0.1) trusted on both listeners, pagoPA's
/// certificate pinned on the nodo side, and the api open to clients on 127.0.0.1 only.
fn reference_sections(forwarder: &pki::Leaf) -> String {
    format!(
        "[nodo.access]\ntrusted_proxies = [\"127.0.0.1\"]\nclient_cert_header = \"X-SSL-Client-Cert\"\n\
         [nodo.client_auth]\npins = [{:?}]\n\
         [api.access]\nallow = [\"127.0.0.1\"]\ntrusted_proxies = [\"127.0.0.1\"]\n",
        forwarder.fingerprint
    )
}

#[test]
fn a_notice_is_paid_through_nginx_only_with_the_pinned_client_certificate() {
    let (nginx, dir, server_ca, pagopa_ca) = prepared();
    let d = dir.path();
    let forwarder = pki::client(d, "forwarder", Some(&pagopa_ca));
    let unpinned = pki::client(d, "unpinned", Some(&pagopa_ca));
    let rogue = pki::client(d, "rogue", None);

    let config = pki::config_with_password(d, &reference_sections(&forwarder), PASSWORD);
    let varco = Gateway::start_with(&d.join("data"), &["--config", config.to_str().unwrap()]);
    let (_nginx, nodo_port, api_port) = nginx_in_front(&nginx, d, &varco);
    let nodo = format!("https://127.0.0.1:{nodo_port}/paForNode");
    let api = format!("https://127.0.0.1:{api_port}");

    let rt = common::runtime();
    rt.block_on(async {
        // Refusals first: none of them may reach the handler.
        let before = soap_requests(&varco.api).await;
        let verify = fixture("demo/verify.xml");
        let verify_as = async |identity: Option<&pki::Leaf>| {
            let client = client(&server_ca, identity);
            soap(&client, &nodo, "paVerifyPaymentNotice", &verify).await
        };
        let none = verify_as(None).await;
        assert!(
            matches!(&none, Ok((400, _)) | Err(_)),
            "no client certificate: nginx refuses ({none:?})"
        );
        let wrong = verify_as(Some(&rogue)).await;
        assert!(
            matches!(&wrong, Ok((400, _)) | Err(_)),
            "a certificate of another CA: nginx refuses ({wrong:?})"
        );
        let unpinned = verify_as(Some(&unpinned)).await;
        assert!(
            matches!(&unpinned, Ok((403, body)) if body.contains("client_certificate_not_allowed")),
            "right CA, not pinned: Varco refuses ({unpinned:?})"
        );
        assert_eq!(
            soap_requests(&varco.api).await,
            before,
            "no refused request reached the handler"
        );

        // pagoPA's certificate: verify, activate, receipt.
        let nodo_client = client(&server_ca, Some(&forwarder));
        for (action, body) in [
            ("paVerifyPaymentNotice", verify.clone()),
            ("paGetPaymentV2", fixture("demo/get-payment-v2.xml")),
            ("paSendRTV2", fixture("demo/send-rt-v2.xml")),
        ] {
            let r = soap(&nodo_client, &nodo, action, &body).await;
            assert_eq!(outcome(&r).as_deref(), Some("OK"), "{action}: {r:?}");
        }
        let r = soap(&nodo_client, &nodo, "paVerifyPaymentNotice", &verify).await;
        assert_eq!(outcome(&r).as_deref(), Some("KO"));
        assert!(
            r.unwrap().1.contains("PAA_PAGAMENTO_DUPLICATO"),
            "the notice is paid"
        );
        // The REST payment-options verify goes through the same block; nothing else does.
        let options = format!(
            "https://127.0.0.1:{nodo_port}/payment-options/organizations/77777777777/notices/301000000000001053"
        );
        let ids = "idPA=77777777777&idBrokerPA=77777777777&idStation=77777777777_01";
        let r = nodo_client
            .get(format!("{options}?{ids}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let answer: serde_json::Value = r.json().await.unwrap();
        assert_eq!(answer["paymentOptions"][0]["status"], "PO_PAID", "{answer}");
        let r = nodo_client.post(format!("{options}?{ids}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = nodo_client
            .get(format!("{options}/x?{ids}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "only the exact paths are proxied");
        let r = client(&server_ca, Some(&rogue))
            .get(format!("{options}?{ids}"))
            .send()
            .await;
        assert!(
            matches!(&r, Ok(resp) if resp.status() == 400) || r.is_err(),
            "no payment options without pagoPA's certificate"
        );

        // The WSDL is not exposed through the nodo server block; the api side answers over
        // TLS and reads the paid position back.
        let api_client = client(&server_ca, None);
        let position =
            format!("{api}/api/pendenze/v2/pendenze/byAvviso/77777777777/301000000000001053");
        let resp = api_client
            .get(&position)
            .basic_auth("demo", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers().contains_key("x-request-id"),
            "nginx's request id comes back"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["stato"], "ESEGUITA", "{body}");

        // The demo credentials do not work behind nginx (and a configuration keeping them
        // does not start: the_demo_passwords_are_refused_behind_a_proxy).
        let (s, _) = get_with(&api_client, &position, ("demo", "demo"), &[]).await;
        assert_eq!(s, 401, "demo:demo behind nginx");
        let (s, _) = get_with(
            &api_client,
            &format!("{api}/api/backoffice/v1/outbox"),
            ("admin", "demo"),
            &[],
        )
        .await;
        assert_eq!(s, 401, "admin:demo behind nginx");
        let (s, _) = get_with(
            &api_client,
            &format!("{api}/api/backoffice/v1/outbox"),
            ("admin", PASSWORD),
            &[],
        )
        .await;
        assert_eq!(s, 200, "admin with the configured password");

        // A client on 127.0.0.2 (not on the api allowlist) naming an allowed address in every
        // forwarding header it can think of: nginx overwrites X-Forwarded-For with its real
        // address and drops the rest, so Varco refuses it.
        let outsider = client_from(&server_ca, "127.0.0.2");
        let spoofed = [
            ("forwarded", "for=127.0.0.1".to_string()),
            ("x-forwarded-for", "127.0.0.1".to_string()),
            ("x-real-ip", "127.0.0.1".to_string()),
        ];
        let (s, body) = get_with(&outsider, &position, ("demo", PASSWORD), &spoofed).await;
        assert_eq!(s, 403, "a spoofed client address through nginx: {body}");
        assert!(body.contains("address_not_allowed"), "{body}");
        let (s, _) = get_with(&api_client, &position, ("demo", PASSWORD), &spoofed).await;
        assert_eq!(s, 200, "the same request from an allowed client passes");
    });
}

#[test]
fn a_pasted_certificate_and_spoofed_addresses_do_not_get_through_nginx_to_the_api() {
    let (nginx, dir, server_ca, pagopa_ca) = prepared();
    let d = dir.path();
    // A certificate the api pins. Certificates are public: anyone may paste this one.
    let pinned = pki::client(d, "gestionale", Some(&pagopa_ca));
    let config = pki::config_with_password(
        d,
        &format!(
            "[api.access]\nallow = [\"127.0.0.1\"]\ntrusted_proxies = [\"127.0.0.1\"]\n\
             client_cert_header = \"X-SSL-Client-Cert\"\n[api.client_auth]\npins = [{:?}]\n",
            pinned.fingerprint
        ),
        PASSWORD,
    );
    // Every api request needs the certificate header, /readyz too: wait with it.
    let varco = Gateway::spawn_with(&d.join("data"), &["--config", config.to_str().unwrap()]);
    let pasted = ("x-ssl-client-cert", escaped(&pinned.cert_pem));
    let rt = common::runtime();
    rt.block_on(async {
        let direct = Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = direct
                .get(format!("{}/readyz", varco.api))
                .header(pasted.0, &pasted.1)
                .send()
                .await;
            if matches!(&r, Ok(resp) if resp.status() == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Varco did not become ready: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (_nginx, _nodo_port, api_port) = nginx_in_front(&nginx, d, &varco);
    let listing = "/api/pendenze/v2/pendenze";
    let via_nginx = format!("https://127.0.0.1:{api_port}{listing}");
    rt.block_on(async {
        // The header itself works when the trusted proxy really sends it (Varco's side of the
        // check is configured right)...
        let (s, body) = get_with(
            &Client::new(),
            &format!("{}{listing}", varco.api),
            ("demo", PASSWORD),
            std::slice::from_ref(&pasted),
        )
        .await;
        assert_eq!(s, 200, "from the trusted proxy itself: {body}");
        // ...but the api block verifies no client certificate and drops the client's header.
        let (s, body) = get_with(
            &client(&server_ca, None),
            &via_nginx,
            ("demo", PASSWORD),
            std::slice::from_ref(&pasted),
        )
        .await;
        assert_eq!(s, 403, "a pasted certificate through nginx: {body}");
        assert!(body.contains("no_client_certificate"), "{body}");
        // A client outside the allowlist naming an allowed address, with the pasted
        // certificate: refused on its real address.
        let spoofed = [
            ("forwarded", "for=127.0.0.1".to_string()),
            ("x-forwarded-for", "127.0.0.1".to_string()),
            ("x-real-ip", "127.0.0.1".to_string()),
            pasted.clone(),
        ];
        let (s, body) = get_with(
            &client_from(&server_ca, "127.0.0.2"),
            &via_nginx,
            ("demo", PASSWORD),
            &spoofed,
        )
        .await;
        assert_eq!(s, 403, "spoofed addresses through nginx: {body}");
        assert!(body.contains("address_not_allowed"), "{body}");
    });
}

/// The reference file decides every forwarding header itself in both server blocks: it
/// overwrites what it sets and blanks what it does not (a static check beside the live ones).
#[test]
fn the_reference_file_overwrites_or_drops_every_forwarding_header() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/varco.conf"),
    )
    .unwrap();
    let code: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!code.contains("$proxy_add_x_forwarded_for"));
    let locations: Vec<&str> = code.split("proxy_pass ").skip(1).collect();
    assert_eq!(locations.len(), 2, "one proxied location per server block");
    for (i, block) in locations.iter().enumerate() {
        let block = &block[..block.find('}').unwrap()];
        let set = |name: &str| {
            block
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|w| w.len() >= 3 && w[0] == "proxy_set_header" && w[1] == name)
                .map(|w| w[2..].join(" "))
        };
        for blank in [
            "Forwarded",
            "X-Real-IP",
            "X-Forwarded-Host",
            "X-Forwarded-Port",
        ] {
            assert_eq!(set(blank).as_deref(), Some("\"\";"), "block {i}: {blank}");
        }
        assert_eq!(
            set("X-Forwarded-For").as_deref(),
            Some("$remote_addr;"),
            "block {i}"
        );
        assert_eq!(
            set("X-Request-Id").as_deref(),
            Some("$request_id;"),
            "block {i}"
        );
        assert!(
            set("X-SSL-Client-Cert").is_some(),
            "block {i}: X-SSL-Client-Cert"
        );
    }
}

/// Behind a proxy on the same host every client arrives from loopback: the demo passwords
/// (`demo:demo`, `admin:demo`) would be open to the world, so such a configuration does not
/// start.
#[test]
fn the_demo_passwords_are_refused_behind_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pagopa_ca = pki::ca(d, "pagopa-ca");
    let forwarder = pki::client(d, "forwarder", Some(&pagopa_ca));
    let config = pki::config_with(d, &reference_sections(&forwarder));
    let err = refused_start(d, &config);
    assert!(err.contains("operatori[0].password_hash"), "{err}");
    assert!(err.contains("trusted_proxies"), "{err}");
    // Trusting a proxy on the api listener alone is enough to refuse them.
    let config = pki::config_with(d, "[api.access]\ntrusted_proxies = [\"127.0.0.1\"]\n");
    let err = refused_start(d, &config);
    assert!(err.contains("operatori[0].password_hash"), "{err}");
    // The operator with a real password, the application still on the demo one.
    let text = std::fs::read_to_string(&config).unwrap();
    let admin = format!(
        "username = \"admin\"\npassword_hash = \"{}\"",
        pki::DEMO_HASH
    );
    assert!(text.contains(&admin));
    let real = varco::password::hash_password(PASSWORD).unwrap();
    std::fs::write(
        &config,
        text.replace(&admin, &admin.replace(pki::DEMO_HASH, &real)),
    )
    .unwrap();
    let err = refused_start(d, &config);
    assert!(err.contains("applicazioni[0].password_hash"), "{err}");
}
