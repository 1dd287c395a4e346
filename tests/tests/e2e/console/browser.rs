//! A real browser for the console's tests: Debian's headless Chromium, started on a temporary
//! profile and driven over the Chrome DevTools Protocol (its websocket, one tab attached in flat
//! mode). `scripts/chromium.sh` installs it; `RACCORDO_CHROMIUM` names the binary, otherwise
//! `chromium` or `chromium-browser` is looked for on `PATH`. Without one the test fails, saying
//! how to get it: it never passes without a browser.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any one step in the browser may take.
const STEP: Duration = Duration::from_secs(30);

/// The Chromium binary to drive.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("RACCORDO_CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "RACCORDO_CHROMIUM={} is not a file: run scripts/chromium.sh, which installs Debian's \
             chromium and prints its path",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "no Chromium for the console's browser test: run scripts/chromium.sh (it installs \
             Debian's chromium and prints its path), or set RACCORDO_CHROMIUM to a Chromium binary"
        )
    })
}

/// Where a test keeps what it made for people to look at: `<target>/test-artefacts/<name>`.
pub fn artefact(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artefacts");
    std::fs::create_dir_all(&dir).expect("the artefacts folder can be created");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("the artefact can be written");
    path
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A running headless Chromium and the DevTools connection to it.
pub struct Browser {
    child: tokio::process::Child,
    socket: Socket,
    next: u64,
    _profile: tempfile::TempDir,
}

/// One tab of the browser.
pub struct Tab<'a> {
    browser: &'a mut Browser,
    session: String,
}

impl Browser {
    pub async fn launch(binary: &Path) -> Self {
        let profile = tempfile::tempdir().expect("a temporary profile");
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let mut said = Vec::new();
        let url = timeout(STEP, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return Some(url.trim().to_owned());
                }
                said.push(line);
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "{} did not open its DevTools port within {STEP:?}; it said:\n{}",
                binary.display(),
                said.join("\n")
            )
        });
        // Whatever else it says is read and dropped, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the browser's DevTools at {url}: {e}"));
        Self {
            child,
            socket,
            next: 0,
            _profile: profile,
        }
    }

    /// Calls a DevTools method (on a tab's session if given) and waits for its result, leaving
    /// the events that come meanwhile aside.
    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next += 1;
        let id = self.next;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap_or_else(|e| panic!("cannot send {method} to the browser: {e}"));
        let answer = timeout(STEP, async {
            while let Some(message) = self.socket.next().await {
                let message =
                    message.unwrap_or_else(|e| panic!("the browser's DevTools failed: {e}"));
                let Message::Text(text) = message else {
                    continue;
                };
                let value: Value =
                    serde_json::from_str(text.as_str()).expect("DevTools speaks JSON");
                if value["id"] == id {
                    return value;
                }
            }
            panic!("the browser closed its DevTools connection during {method}")
        })
        .await
        .unwrap_or_else(|_| panic!("the browser did not answer {method} within {STEP:?}"));
        match answer.get("error") {
            Some(error) => Err(format!("{method}: {error}")),
            None => Ok(answer["result"].clone()),
        }
    }

    /// A new tab, 1280 px wide.
    pub async fn open_tab(&mut self) -> Tab<'_> {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await
            .expect("a new tab");
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await
            .expect("the tab can be attached");
        let session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        let mut tab = Tab {
            browser: self,
            session,
        };
        tab.call("Page.enable", json!({})).await;
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        tab
    }

    /// Closes the browser and waits for it to exit.
    pub async fn close(mut self) {
        let _ = self.call(None, "Browser.close", json!({})).await;
        if timeout(STEP, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

impl Tab<'_> {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.browser
            .call(Some(&session), method, params)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    async fn try_eval(&mut self, expression: &str) -> Result<Value, String> {
        let session = self.session.clone();
        let result = self
            .browser
            .call(
                Some(&session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(exception.to_string());
        }
        Ok(result["result"]["value"].clone())
    }

    /// The value of a JavaScript expression in the page (the test's, not the console's: the
    /// console serves no script).
    pub async fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .await
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    /// Waits until `condition` holds in the page (across navigations).
    pub async fn wait_for(&mut self, condition: &str) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            if self.try_eval(condition).await == Ok(Value::Bool(true)) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let at = self
                    .try_eval(
                        "location.href + '\\n' + (document.body ? document.body.innerText : '')",
                    )
                    .await;
                panic!("{condition} did not hold within {STEP:?}; the page: {at:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the whole page.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 },
                }),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("the image's data"))
            .expect("the image is base64")
    }
}
