//! Headless Chromium over WebDriver (chromedriver, Debian's `chromium-driver`), driven with
//! fantoccini from blocking tests: one browser (its own profile, cookies and chromedriver) per
//! person. Also axe-core (npm, `tests/console`) run in the page, and screenshots.

use crate::harness::{free_port, repo_root, wait_until};
use fantoccini::{elements::Element, key::Key, Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn or_panic<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

impl Browser {
    pub fn start() -> Self {
        let port = free_port();
        let driver = or_panic(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn(),
            "chromedriver (Debian package chromium-driver; deploy/test.sh installs it)",
        );
        let rt = or_panic(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            "runtime",
        );
        let profile = or_panic(tempfile::tempdir(), "profile dir");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display())],
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        wait_until(
            "chromedriver starts a browser",
            Duration::from_secs(30),
            || {
                let c = rt.block_on(
                    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                        .capabilities(caps.clone())
                        .connect(&url),
                );
                client = c.ok();
                client.is_some()
            },
        );
        Self {
            rt,
            client,
            driver,
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap_or_else(|| panic!("no browser"))
    }

    pub fn goto(&self, url: &str) {
        or_panic(self.rt.block_on(self.c().goto(url)), url);
    }

    pub fn url(&self) -> String {
        or_panic(self.rt.block_on(self.c().current_url()), "url").to_string()
    }

    pub fn find(&self, css: &str) -> Element {
        let c = self.c();
        let found = self.rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                c.wait().for_element(Locator::Css(css)),
            )
            .await
        });
        match found {
            Ok(Ok(e)) => e,
            other => {
                let body = self.run(
                    "return document.body ? document.body.innerText : '';",
                    vec![],
                );
                panic!(
                    "{css} not on {} ({other:?}); the page says: {body}",
                    self.url()
                )
            }
        }
    }

    pub fn has(&self, css: &str) -> bool {
        self.rt.block_on(self.c().find(Locator::Css(css))).is_ok()
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        or_panic(self.rt.block_on(e.click()), css);
    }

    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        or_panic(self.rt.block_on(e.clear()), css);
        or_panic(self.rt.block_on(e.send_keys(text)), css);
    }

    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        or_panic(self.rt.block_on(e.text()), css)
    }

    /// Waits until the element's text contains `want`.
    pub fn wait_text(&self, css: &str, want: &str, timeout: Duration) {
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            seen = self
                .rt
                .block_on(async {
                    let e = self.c().find(Locator::Css(css)).await.ok()?;
                    e.text().await.ok()
                })
                .unwrap_or_default();
            if seen.contains(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{css} never showed {want:?} on {} (last: {seen:?})",
            self.url()
        );
    }

    pub fn run(&self, script: &str, args: Vec<Value>) -> Value {
        or_panic(self.rt.block_on(self.c().execute(script, args)), script)
    }

    /// An attribute of an element.
    pub fn rt_attr(&self, e: &Element, name: &str) -> Option<String> {
        self.rt.block_on(e.attr(name)).ok().flatten()
    }

    /// Types text into whatever has the focus.
    pub fn press_text(&self, text: &str) {
        let c = self.c();
        or_panic(
            self.rt
                .block_on(async { c.active_element().await?.send_keys(text).await }),
            "typing",
        );
    }

    /// The element that has the keyboard focus: its id, class and tag.
    pub fn focused(&self) -> Value {
        self.run(
            "const e = document.activeElement; return {id: e.id, cls: e.className, tag: e.tagName, text: e.textContent};",
            vec![],
        )
    }

    /// Presses a key on whatever has the focus.
    pub fn press(&self, key: Key) {
        let c = self.c();
        or_panic(
            self.rt.block_on(async {
                let e = c.active_element().await?;
                e.send_keys(&char::from(key).to_string()).await
            }),
            "key",
        );
    }

    /// Tabs forward until `matches` says the focused element is the one (at most 60 presses).
    pub fn tab_to(&self, what: &str, matches: impl Fn(&Value) -> bool) {
        for _ in 0..60 {
            if matches(&self.focused()) {
                return;
            }
            self.press(Key::Tab);
        }
        panic!("Tab never reached {what} on {}", self.url());
    }

    /// axe-core's serious and critical violations on the page.
    pub fn axe(&self) -> Vec<String> {
        let src = std::fs::read_to_string(
            repo_root().join("tests/console/node_modules/axe-core/axe.min.js"),
        )
        .unwrap_or_else(|e| panic!("axe-core (npm ci in tests/console): {e}"));
        self.run(&format!("{src}\nreturn typeof axe;"), vec![]);
        let c = self.c();
        let v = or_panic(
            self.rt.block_on(c.execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations
                   .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                   .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join(', '))));",
                vec![],
            )),
            "axe.run",
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves a screenshot: always beside the test's target, and into docs/images when
    /// AIRLOCK_UPDATE_GENERATED=1 (the README shows those).
    pub fn screenshot(&self, name: &str) {
        let png = or_panic(self.rt.block_on(self.c().screenshot()), "screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = std::env::temp_dir().join("airlock-console-screenshots");
        or_panic(std::fs::create_dir_all(&dir), "screenshot dir");
        or_panic(
            std::fs::write(dir.join(format!("{name}.png")), &png),
            "screenshot",
        );
        if std::env::var("AIRLOCK_UPDATE_GENERATED").as_deref() == Ok("1") {
            let docs = repo_root().join("docs/images");
            or_panic(std::fs::create_dir_all(&docs), "docs/images");
            or_panic(
                std::fs::write(docs.join(format!("console-{name}.png")), &png),
                "screenshot",
            );
        }
    }

    /// Checks the page with axe-core and saves its screenshot.
    pub fn check_page(&self, name: &str) {
        let serious = self.axe();
        assert!(
            serious.is_empty(),
            "axe on {name} ({}): {serious:#?}",
            self.url()
        );
        self.screenshot(name);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
