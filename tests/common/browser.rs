//! A headless browser for the console's tests: Debian's Chromium driven over WebDriver by
//! Debian's chromedriver, through fantoccini, with axe-core accessibility checks, screenshots
//! and in-page downloads.
//!
//! Each [`Browser`] owns its own chromedriver (on a free loopback port) and its own Chromium
//! profile in a temporary directory, so browsers in parallel tests or in sequence never share
//! state. Dropping it, on success or while a test panics, ends the WebDriver session and kills
//! chromedriver and every Chromium process it started: nothing is left running.
//!
//! The machine has no internet: the Chromium flags below keep it from trying to reach any.
//! `make test` installs what this needs (the Makefile's `browser-tools`: Debian's `chromium`
//! and `chromium-driver`; `$(AXE)`: axe-core from the npm registry, under `.cache/axe`).
//!
//! The helpers panic with a message naming the selector or URL instead of returning errors:
//! they are for tests, where a failure is the answer. `client` stays public for anything else.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};

/// How long [`Browser::start`] waits for chromedriver to report ready.
const DRIVER_READY: Duration = Duration::from_secs(20);
/// How long [`Browser::wait_for`] (and the helpers built on it) waits for an element.
const ELEMENT_WAIT: Duration = Duration::from_secs(10);
/// How long a WebDriver command sent by `Drop` may take (ending the session closes Chromium).
const DROP_REQUEST: Duration = Duration::from_secs(10);

/// The accessibility rules checked by [`Browser::axe`]: WCAG 2.0 and 2.1, levels A and AA.
const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Chromium's flags. `--headless`: no display. `--no-sandbox`: runs as root in containers.
/// `--disable-gpu`, `--disable-dev-shm-usage`: no GPU, small /dev/shm. The rest keep it off the
/// network (there is none): no QUIC, first-run pages, background fetches, component updates or
/// sync. Even so, Chromium 156 still asks for accounts.google.com, clients2.google.com (network
/// time) and update.googleapis.com: `--host-resolver-rules` fails every name but loopback's
/// at once, so it sends not even a DNS query. Pages under test are on 127.0.0.1 or localhost.
const CHROMIUM_ARGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
];

/// A headless Chromium with its own chromedriver and profile; everything ends when it drops.
pub struct Browser {
    /// The WebDriver session, for anything the helpers below do not cover.
    pub client: Client,
    /// chromedriver, started in its own process group (Chromium runs inside it).
    driver: Child,
    /// chromedriver's loopback port.
    port: u16,
    /// The WebDriver session id, ended by `Drop` with a plain HTTP request (no runtime needed).
    session: String,
    /// The temporary directory holding the Chromium profile and chromedriver's log; removed
    /// last, after the processes that write there are gone.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session on a headless Chromium
    /// with a fresh profile. Panics, saying how to install them, when Chromium or chromedriver
    /// is missing, and with chromedriver's log when it does not become ready within 20 s.
    ///
    /// Paths: `VARCO_CHROMEDRIVER` (default `/usr/bin/chromedriver`) and `VARCO_CHROMIUM`
    /// (default `/usr/bin/chromium`).
    pub async fn start() -> Browser {
        let chromedriver = tool("VARCO_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = tool("VARCO_CHROMIUM", "/usr/bin/chromium");
        let dir = tempfile::Builder::new()
            .prefix("varco-browser-")
            .tempdir()
            .expect("creating the browser's temporary directory");
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chromedriver.log");

        // A port that was free a moment ago: bind, read it, release it for chromedriver. Another
        // process may take it in between: chromedriver then exits, and a new port is tried.
        let mut attempts = 0;
        let (mut driver, port) = loop {
            attempts += 1;
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("finding a free loopback port for chromedriver")
                .port();
            let log = std::fs::File::create(&log_path).expect("creating chromedriver's log file");
            let mut driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("sharing chromedriver's log file"))
                .stderr(log)
                // Its own process group, so Drop can end chromedriver and Chromium together.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
            let deadline = Instant::now() + DRIVER_READY;
            let exited = loop {
                if let Ok((200, body)) = http(port, "GET", "/status", Duration::from_secs(2)) {
                    let ready = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["value"]["ready"].as_bool());
                    if ready == Some(true) {
                        break None;
                    }
                }
                let exited = driver.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() >= deadline {
                    end_processes(&mut driver, &profile);
                    break Some(exited);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            match exited {
                None => break (driver, port),
                Some(Some(_)) if attempts < 3 => continue,
                Some(exited) => {
                    let why = match exited {
                        Some(status) => format!("exited ({status})"),
                        None => format!("did not answer ready within {DRIVER_READY:?}"),
                    };
                    panic!(
                        "chromedriver ({}) on 127.0.0.1:{port} {why}; its log:\n{}",
                        chromedriver.display(),
                        log_tail(&log_path)
                    );
                }
            }
        };

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("the capabilities are a JSON object")
        };
        // Plain HTTP to loopback: no TLS connector, whatever fantoccini's TLS features are.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connected = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let session = match connected {
            Ok(client) => client
                .session_id()
                .await
                .ok()
                .flatten()
                .map(|id| (client, id)),
            Err(e) => {
                end_processes(&mut driver, &profile);
                panic!(
                    "opening a WebDriver session on {} via chromedriver: {e}; its log:\n{}",
                    chromium.display(),
                    log_tail(&log_path)
                );
            }
        };
        let Some((client, session)) = session else {
            end_processes(&mut driver, &profile);
            panic!("the new WebDriver session has no id");
        };
        Browser {
            client,
            driver,
            port,
            session,
            dir,
        }
    }

    /// chromedriver's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Chromium profile (`--user-data-dir`), inside the temporary directory this owns.
    pub fn profile_dir(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("reading the current URL")
            .to_string()
    }

    /// Waits (up to 10 s) until an element matches the CSS `selector` and returns it.
    pub async fn wait_for(&self, selector: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(ELEMENT_WAIT)
            .for_element(Locator::Css(selector))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!(
                    "no element matches `{selector}` after {ELEMENT_WAIT:?} on {}: {e}",
                    url.unwrap_or_default()
                )
            }
        }
    }

    /// How many elements match the CSS `selector` now (no waiting).
    pub async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("finding `{selector}`: {e}"))
            .len()
    }

    /// Replaces the value of the field matching `selector` with `text` (typed as keys).
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.wait_for(selector).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing `{selector}`: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into `{selector}`: {e}"));
    }

    /// Clicks the element matching `selector` (a link or a submit button: to see the page
    /// that follows, [`wait_for`](Self::wait_for) something on it).
    pub async fn click(&self, selector: &str) {
        self.wait_for(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
    }

    /// The rendered text of the element matching `selector`.
    pub async fn text(&self, selector: &str) -> String {
        self.wait_for(selector)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the text of `{selector}`: {e}"))
    }

    /// Runs axe-core on the current page with the WCAG 2.0/2.1 A and AA rules and returns the
    /// violations, each as `{label, url, id, impact, help, helpUrl, nodes: [{target, html}]}`
    /// (`target`: the node's CSS selector; `label` names the page in [`describe`]'s text).
    ///
    /// axe-core is read at run time from `VARCO_AXE`, else from
    /// `.cache/axe/node_modules/axe-core/axe.min.js` in the crate (installed by `make test`).
    /// It is injected with WebDriver's execute, which the page's Content-Security-Policy does
    /// not govern (a `<script>` element would be refused under `script-src 'self'`).
    pub async fn axe(&self, label: &str) -> Vec<Value> {
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", vec![])
            .await
            .unwrap_or_else(|e| panic!("axe ({label}): probing the page: {e}"));
        if loaded != Value::Bool(true) {
            let source = axe_source();
            // The library assigns `window.axe`; the wrapper just reports that it did.
            let script = format!("{source}\n;return typeof window.axe === 'object';");
            let injected = self
                .client
                .execute(&script, vec![])
                .await
                .unwrap_or_else(|e| panic!("axe ({label}): injecting axe-core: {e}"));
            assert_eq!(
                injected,
                Value::Bool(true),
                "axe ({label}): axe-core did not load"
            );
        }
        const RUN: &str = r#"
            const [tags] = arguments;
            return axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
              .then(r => r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({
                  target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t).join(' | '),
                  html: n.html,
                })),
              })));
        "#;
        let result = self
            .client
            .execute(RUN, vec![json!(AXE_TAGS)])
            .await
            .unwrap_or_else(|e| panic!("axe ({label}): axe.run: {e}"));
        let url = self.current_url().await;
        let Value::Array(mut violations) = result else {
            panic!("axe ({label}): axe.run returned {result}, not a list of violations");
        };
        for violation in &mut violations {
            violation["label"] = json!(label);
            violation["url"] = json!(url);
        }
        violations
    }

    /// Saves a PNG of the viewport to `path` (creating its directory).
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("taking a screenshot for {}: {e}", path.display()));
        write_file(path, &png);
    }

    /// Saves a PNG of the whole page to `path`: the window grows to the document's height for
    /// the shot (at most 16,384 px), then goes back to its size.
    pub async fn full_page_screenshot(&self, path: &Path) {
        let (width, height) = self
            .client
            .get_window_size()
            .await
            .expect("reading the window size");
        let measured = self
            .client
            .execute(
                "const d = document.documentElement;
                 return [Math.max(d.scrollHeight, document.body ? document.body.scrollHeight : 0),
                         window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .expect("measuring the page height");
        let page = measured[0].as_u64().unwrap_or(height);
        let chrome = measured[1].as_u64().unwrap_or(0);
        let tall = (page + chrome).clamp(height, 16_384);
        let (width, height) = (width as u32, height as u32);
        self.client
            .set_window_size(width, tall as u32)
            .await
            .expect("growing the window to the page height");
        let shot = self.client.screenshot().await;
        self.client
            .set_window_size(width, height)
            .await
            .expect("restoring the window size");
        let png =
            shot.unwrap_or_else(|e| panic!("taking a screenshot for {}: {e}", path.display()));
        write_file(path, &png);
    }

    /// Fetches `url` from inside the current page (JavaScript `fetch`, `credentials:
    /// 'same-origin'`, so with the browser's cookies) and returns the status, the
    /// Content-Type (empty when absent) and the body: how a test checks a download (a PDF, a
    /// CSV) as the signed-in user gets it. `url` is resolved against the page, and the page's
    /// CSP (`connect-src`, else `default-src`) applies: same-origin URLs are what it is for.
    pub async fn fetch_bytes(&self, url: &str) -> (u16, String, Vec<u8>) {
        const FETCH: &str = r#"
            const [url] = arguments;
            return fetch(url, {credentials: 'same-origin'}).then(r => r.blob().then(blob =>
              new Promise((resolve, reject) => {
                const reader = new FileReader();
                reader.onerror = () => reject(reader.error);
                reader.onload = () => {
                  const data = reader.result, comma = data.indexOf(',');
                  resolve({status: r.status, type: r.headers.get('content-type') || '',
                           body: comma < 0 ? '' : data.slice(comma + 1)});
                };
                reader.readAsDataURL(blob);
              })));
        "#;
        let got = self
            .client
            .execute(FETCH, vec![json!(url)])
            .await
            .unwrap_or_else(|e| panic!("fetching {url} from the page: {e}"));
        let status = got["status"]
            .as_u64()
            .unwrap_or_else(|| panic!("fetching {url}: {got}"));
        let content_type = got["type"].as_str().unwrap_or_default().to_string();
        let body = base64::engine::general_purpose::STANDARD
            .decode(got["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("fetching {url}: the body is not base64: {e}"));
        (status as u16, content_type, body)
    }
}

impl Drop for Browser {
    /// Ends the session (Chromium closes), then kills chromedriver's process group and any
    /// Chromium process still alive under it or on this profile, and waits for them. Works
    /// while unwinding from a panic and without an async runtime: plain blocking calls only.
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            DROP_REQUEST,
        );
        let profile = self.profile_dir();
        end_processes(&mut self.driver, &profile);
    }
}

/// Kills chromedriver's process group and every process still alive under it or on `profile`,
/// reaps chromedriver and waits (up to 5 s) for the others to die.
fn end_processes(driver: &mut Child, profile: &Path) {
    let mut leftover = descendants(driver.id());
    leftover.extend(processes_using(profile));
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
    leftover.retain(|&pid| pid != driver.id());
    if !leftover.is_empty() {
        let mut kill = Command::new("kill");
        kill.arg("-KILL").stderr(Stdio::null());
        kill.args(leftover.iter().map(u32::to_string));
        let _ = kill.status();
    }
    // Orphans are reaped by init: wait (bounded) until they are gone or zombies.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && leftover.iter().any(|&pid| alive(pid)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A readable list of axe violations, for assertion messages: one line per violation (page,
/// rule, impact, help, link) and one per node (selector and HTML).
pub fn describe(violations: &[Value]) -> String {
    let mut text = String::new();
    for v in violations {
        let s = |key: &str| v[key].as_str().unwrap_or("?").to_string();
        text += &format!(
            "[{}] {} ({}): {} — {} ({})\n",
            s("label"),
            s("id"),
            s("impact"),
            s("help"),
            s("helpUrl"),
            s("url")
        );
        for node in v["nodes"].as_array().into_iter().flatten() {
            text += &format!(
                "    {}  {}\n",
                node["target"].as_str().unwrap_or("?"),
                node["html"].as_str().unwrap_or("")
            );
        }
    }
    text
}

/// The processes whose command line names `profile` (Chromium's, by `--user-data-dir`).
pub fn processes_using(profile: &Path) -> Vec<u32> {
    let needle = profile.to_string_lossy().into_owned();
    proc_pids()
        .filter(|&pid| alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle.as_str()))
                .unwrap_or(false)
        })
        .collect()
}

/// The tool at env `var` (or `default`); panics saying how to install it when it is missing.
fn tool(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if !path.is_file() {
        panic!(
            "{} not found (set {var} to use another): `make test` installs it (`make \
             browser-tools`: Debian's packages chromium and chromium-driver)",
            path.display()
        );
    }
    path
}

/// axe-core's source: `VARCO_AXE`, else `.cache/axe/...` in the crate.
fn axe_source() -> String {
    let path = std::env::var_os("VARCO_AXE").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".cache/axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading axe-core at {} ({e}): `make test` installs it from the npm registry \
             (`make .cache/axe/node_modules/axe-core/axe.min.js`), or set VARCO_AXE",
            path.display()
        )
    })
}

/// The last lines of chromedriver's log, for a panic message.
fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Writes `bytes` to `path`, creating its directory.
fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A blocking HTTP/1.1 request to chromedriver on loopback: the status code and the body.
fn http(port: u16, method: &str, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    stream.flush()?;
    // chromedriver may keep the connection open after answering: read up to Content-Length.
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse::<usize>().ok());
            if let Some(length) = length
                && response.len() >= end + 4 + length
            {
                response.truncate(end + 4 + length);
                break;
            }
        }
        match stream.read(&mut chunk)? {
            0 => break,
            n => response.extend_from_slice(&chunk[..n]),
        }
    }
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_string()))
}

/// Every process id in /proc.
fn proc_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
}

/// Whether `pid` runs (a zombie, dead and waiting for its parent to reap it, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        state.is_some_and(|s| s != "Z")
    })
}

/// The processes descended from `root` (children, their children, ...), by /proc's ppid.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = proc_pids()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(pid, _)| pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}
