//! A real browser for the UI tests: Debian's headless Chromium driven over WebDriver
//! (`chromedriver`, installed by `infra/local/browser install`) with `fantoccini`. Each
//! [`Browser`] has its own chromedriver on a free loopback port and a fresh profile (an empty
//! cache: the first page load is a first load), saves screenshots under
//! `target/browser-artifacts/<test>/`, and reads what the page itself measured (the Performance
//! API) for its weight and time to first render.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// Where the artifacts of browser tests go: `$CARGO_TARGET_DIR/browser-artifacts`, else the
/// workspace's `target/browser-artifacts`.
pub fn artifacts_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("browser-artifacts")
}

fn find(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join(name)).find(|p| p.is_file())
}

/// What the page measured of its own first load.
#[derive(Debug, Clone, Copy)]
pub struct FirstLoad {
    /// Bytes transferred for the document and everything it loaded (headers included), as the
    /// Performance API's `transferSize` adds them up.
    pub transferred_bytes: u64,
    /// The same for the page's own files only (document, script, stylesheet, icon).
    pub page_bytes: u64,
    /// Their decoded size.
    pub decoded_bytes: u64,
    /// How many requests the load made.
    pub requests: u64,
    /// Time to first contentful paint, ms from navigation start, when the browser reported one.
    pub first_contentful_paint_ms: Option<f64>,
    /// `DOMContentLoaded` finished, ms.
    pub dom_content_loaded_ms: f64,
}

/// A headless Chromium with its own chromedriver.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    dir: PathBuf,
    shots: usize,
}

impl Browser {
    /// Starts a browser for test `name` (its artifacts go to `target/browser-artifacts/<name>/`),
    /// or `None` by `todo_contract_tests::stack::or_skip` when Chromium or chromedriver is
    /// missing (with `TODO_REQUIRE_STACK=1`, a missing browser fails the test).
    pub async fn start(name: &str) -> Option<Self> {
        let found = find("TODO_CHROMIUM", "chromium")
            .zip(find("TODO_CHROMEDRIVER", "chromedriver"))
            .ok_or_else(|| "chromium or chromedriver not found: run infra/local/browser install".to_owned());
        let (chromium, driver) = todo_contract_tests::stack::or_skip(name, found)?;
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("its address").port()
        };
        let dir = artifacts_root().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the artifacts directory");
        // A process group of its own, so that ending it ends the browsers it started too.
        let driver = Command::new(&driver)
            .process_group(0)
            .env("TZ", "UTC")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", dir.join("chromedriver.log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("todo-browser-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut browser = Self { client: None, driver, dir, shots: 0 };
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => {
                    browser.client = Some(client);
                    return Some(browser);
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last:?}");
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    /// Loads `url`.
    pub async fn goto(&self, url: &str) {
        self.client().goto(url).await.expect("the page loads");
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client().execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until the expression `condition` is true in the page, for at most `patience`;
    /// panics (after a screenshot) when it never is.
    pub async fn wait_until(&mut self, what: &str, condition: &str, patience: Duration) {
        if !self.becomes_true(condition, patience).await {
            let shot = self.screenshot(&format!("timeout-{}", what.replace(' ', "-"))).await;
            panic!("{what}: not within {patience:?} ({condition}); screenshot {}", shot.display());
        }
    }

    /// Whether the expression `condition` becomes true in the page within `patience`.
    pub async fn becomes_true(&self, condition: &str, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        let script = format!("return !!({condition});");
        loop {
            if self.client().execute(&script, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// Types `text` into the element `css` selects (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Saves a screenshot as `NN-<label>.png` and returns its path.
    pub async fn screenshot(&mut self, label: &str) -> PathBuf {
        self.shots += 1;
        let path = self.dir.join(format!("{:02}-{label}.png", self.shots));
        match self.client().screenshot().await {
            Ok(png) => std::fs::write(&path, png).expect("the screenshot is written"),
            Err(e) => eprintln!("no screenshot {label}: {e}"),
        }
        path
    }

    /// What the page measured of its load. Waits (at most `patience`) for the browser to report
    /// the first contentful paint: Chromium records it when the frame is presented, which can come
    /// after the page's own scripts have run, and a headless browser may not report it at all.
    pub async fn first_load(&self, patience: Duration) -> FirstLoad {
        self.becomes_true("performance.getEntriesByName('first-contentful-paint').length > 0", patience).await;
        let v = self
            .js(
                r"
                const nav = performance.getEntriesByType('navigation')[0];
                const res = performance.getEntriesByType('resource');
                const own = res.filter((r) => /\/ui\/(app\.js|app\.css|icon\.svg)$/.test(r.name));
                const sum = (list, key) => list.reduce((s, r) => s + (r[key] || 0), 0);
                const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                return {
                  transferred: nav.transferSize + sum(res, 'transferSize'),
                  page: nav.transferSize + sum(own, 'transferSize'),
                  decoded: nav.decodedBodySize + sum(own, 'decodedBodySize'),
                  requests: 1 + res.length,
                  fcp: fcp ? fcp.startTime : -1,
                  dcl: nav.domContentLoadedEventEnd,
                };",
                vec![],
            )
            .await;
        let n = |k: &str| v[k].as_f64().unwrap_or(-1.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bytes = |k: &str| n(k).max(0.0) as u64;
        FirstLoad {
            transferred_bytes: bytes("transferred"),
            page_bytes: bytes("page"),
            decoded_bytes: bytes("decoded"),
            requests: bytes("requests"),
            first_contentful_paint_ms: Some(n("fcp")).filter(|ms| *ms >= 0.0),
            dom_content_loaded_ms: n("dcl"),
        }
    }

    /// Opens the UI at `base`, signs in as `user` with the development sign-in and waits for
    /// the task list.
    pub async fn dev_sign_in(&mut self, base: &str, user: &str) {
        self.goto(base).await;
        self.wait_until("the sign-in form", "!document.getElementById('dev-form').hidden", Duration::from_secs(15))
            .await;
        self.type_into("#dev-user", user).await;
        self.click("#dev-submit").await;
        self.wait_until("the task list", "!document.getElementById('app').hidden", Duration::from_secs(15)).await;
        self.wait_until(
            "the live feed",
            "document.getElementById('live-status').textContent === 'live'",
            Duration::from_secs(30),
        )
        .await;
    }

    /// Creates a task through the form: `title`, then each `(css, value)` of `fields` set as the
    /// user would leave it (selects by value); waits until the list shows it and returns its id.
    pub async fn create_task(&mut self, title: &str, fields: &[(&str, &str)]) -> String {
        self.click("#new-task").await;
        self.wait_until("the task form", "document.getElementById('task-dialog').open", Duration::from_secs(5)).await;
        self.type_into("#t-title", title).await;
        for (css, value) in fields {
            self.js(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1];                  el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![json!(css), json!(value)],
            )
            .await;
        }
        self.click("#t-save").await;
        self.wait_until("the form closes", "!document.getElementById('task-dialog').open", Duration::from_secs(15))
            .await;
        let shown = format!(
            "[...document.querySelectorAll('#tasks li.task')].some((li) => li.querySelector('.title').textContent === {})",
            json!(title)
        );
        self.wait_until("the new task in the list", &shown, Duration::from_secs(15)).await;
        let id = self
            .js("return [...document.querySelectorAll('#tasks li.task')].find((li) => li.querySelector('.title').textContent === arguments[0]).dataset.id;", vec![json!(title)])
            .await;
        id.as_str().expect("a task id").to_owned()
    }

    /// The tasks the list shows: `(id, title, done, due)` each.
    pub async fn tasks_shown(&self) -> Vec<(String, String, bool, Option<String>)> {
        let v = self
            .js(
                "return [...document.querySelectorAll('#tasks li.task')].map((li) => [li.dataset.id,                  li.querySelector('.title').textContent, li.classList.contains('done'),                  (li.querySelector('time.due') || {}).dateTime || null]);",
                vec![],
            )
            .await;
        v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r[0].as_str().unwrap_or_default().to_owned(),
                            r[1].as_str().unwrap_or_default().to_owned(),
                            r[2].as_bool().unwrap_or_default(),
                            r[3].as_str().map(str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    /// Ends chromedriver's process group: chromedriver and any browser it left.
    fn drop(&mut self) {
        // `--`: procps' kill takes `-PID` for an option without it, and kills nothing.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
