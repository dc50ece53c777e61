//! A small Chrome DevTools Protocol driver for the console's browser tests: the system's
//! headless Chromium (Debian `chromium`), one page, real mouse and keyboard input, dialogs
//! answered, screenshots. No browser download, no WebDriver server.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one step may wait (a page to load, a condition to hold).
pub const STEP: Duration = Duration::from_secs(30);

/// `chromium` on PATH; `None` (with a notice) when absent, unless `UNIDM_REQUIRE_CHROMIUM=1`.
pub fn chromium() -> Option<String> {
    let found = Command::new("sh").args(["-c", "command -v chromium"]).output().ok()?;
    if found.status.success() {
        return Some(String::from_utf8_lossy(&found.stdout).trim().to_owned());
    }
    let required = std::env::var("UNIDM_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    assert!(!required, "chromium is required (UNIDM_REQUIRE_CHROMIUM=1) but not installed");
    eprintln!("notice: chromium not installed; the console test is skipped");
    None
}

/// A JSON command connection (DevTools and BiDi frame their messages alike): commands with
/// ids, then answers and events.
struct Wire {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next: u64,
    peer: &'static str,
}

impl Wire {
    async fn connect(url: &str, peer: &'static str) -> Wire {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("{peer}: {e}"));
        Wire { ws, next: 0, peer }
    }

    /// Sends a command and returns its id.
    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next += 1;
        let text = json!({"id": self.next, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(text)).await.unwrap_or_else(|e| panic!("send to {}: {e}", self.peer));
        self.next
    }

    /// The next message, an answer or an event, before `deadline`.
    async fn receive(&mut self, method: &str, deadline: Instant) -> Value {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from {} within {STEP:?}", self.peer))
                .unwrap_or_else(|| panic!("{} closed the connection", self.peer))
                .expect("a websocket message");
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
        }
    }
}

/// What both browsers give the tests.
#[allow(async_fn_in_trait)]
pub trait Page {
    /// The value of a JavaScript expression (promises awaited).
    async fn eval(&mut self, js: &str) -> Value;

    /// Polls `js` until it is truthy and returns its value; fails with `what` and the page's
    /// text after [`STEP`].
    async fn wait_for(&mut self, what: &str, js: &str) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let v = self.eval(js).await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.getElementById('view')?.innerText ?? document.body.innerText").await;
                panic!("waited {STEP:?} for {what} ({js}); the page shows:\n{}", text.as_str().unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The centre of the first element matching `selector`, scrolled into view (once there is
    /// one).
    async fn centre(&mut self, selector: &str) -> (i64, i64) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)]; }})()",
            json!(selector)
        );
        let at = self.wait_for(&format!("{selector} to click"), &js).await;
        (at[0].as_i64().unwrap(), at[1].as_i64().unwrap())
    }

    /// The visible text of the first element matching `selector` ("" when there is none).
    async fn text(&mut self, selector: &str) -> String {
        let js = format!("document.querySelector({})?.innerText ?? ''", json!(selector));
        self.eval(&js).await.as_str().unwrap_or_default().to_owned()
    }
}

/// One headless Chromium with one page, driven over the DevTools protocol.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    wire: Wire,
    /// The messages of the dialogs (`confirm`, `alert`) the page opened, each accepted.
    pub dialogs: Vec<String>,
    /// Uncaught exceptions and `console.error` lines of the page.
    pub errors: Vec<String>,
}

impl Browser {
    /// Starts Chromium (`width` x `height` window) on `about:blank` and attaches to its page.
    pub async fn launch(chromium: &str, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it took into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + STEP;
        let port = loop {
            if let Some(port) =
                std::fs::read_to_string(&port_file).ok().and_then(|s| s.lines().next()?.parse::<u16>().ok())
            {
                break port;
            }
            assert!(Instant::now() < deadline, "chromium wrote no DevToolsActivePort");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let targets: Value =
            reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.unwrap().json().await.unwrap();
        let page = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let wire = Wire::connect(&page, "chromium").await;
        let mut browser = Browser { child, _profile: profile, wire, dialogs: Vec::new(), errors: Vec::new() };
        browser.call("Page.enable", json!({})).await;
        browser.call("Runtime.enable", json!({})).await;
        // The window's size is a floor in headless mode (about 500 px wide); the viewport is
        // set exactly, as on the device it stands for.
        let metrics = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600});
        browser.call("Emulation.setDeviceMetricsOverride", metrics).await;
        browser
    }

    /// Sends one command and returns its result; events met meanwhile are handled (dialogs
    /// accepted, errors kept).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// [`Browser::call`] that gives back the browser's error instead of failing the test.
    pub async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.wire.send(method, params).await;
        let deadline = Instant::now() + STEP;
        loop {
            let v = self.wire.receive(method, deadline).await;
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
            match v["method"].as_str() {
                Some("Page.javascriptDialogOpening") => {
                    self.dialogs.push(v["params"]["message"].as_str().unwrap_or_default().to_owned());
                    self.wire.send("Page.handleJavaScriptDialog", json!({"accept": true})).await;
                }
                Some("Runtime.exceptionThrown") => {
                    let d = &v["params"]["exceptionDetails"];
                    self.errors.push(format!("{} {}", d["text"], d["exception"]["description"]));
                }
                Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                    self.errors.push(v["params"]["args"].to_string());
                }
                _ => {}
            }
        }
    }

    /// Loads `url` and waits for its document.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for("the page to load", "document.readyState === 'complete'").await;
    }

    /// A left click with the mouse at the centre of the first element matching `selector`.
    pub async fn click(&mut self, selector: &str) {
        let (x, y) = self.centre(selector).await;
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            let params = json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1});
            self.call("Input.dispatchMouseEvent", params).await;
        }
    }

    /// Focuses the field matching `selector`, clears it and types `text` into it.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        let js = format!("(() => {{ const e = document.querySelector({}); if (!e) return false; e.focus(); e.select?.(); return true; }})()", json!(selector));
        self.wait_for(&format!("{selector} to type into"), &js).await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Chooses `value` in the select matching `selector` the way a user's pick does: the value
    /// changes and the `input` and `change` events fire.
    pub async fn choose(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.value = {}; \
             e.dispatchEvent(new Event('input', {{ bubbles: true }})); e.dispatchEvent(new Event('change', {{ bubbles: true }})); return e.value; }})()",
            json!(selector),
            json!(value)
        );
        let chosen = self.wait_for(&format!("{selector} to choose from"), &js).await;
        assert_eq!(chosen, json!(value), "{selector} has no option {value}");
    }

    /// Presses and releases a key (`Tab`, `Enter`, ...), as a keyboard does.
    pub async fn press(&mut self, key: &str) {
        let (code, text) = match key {
            "Enter" => (13, "\r"),
            "Tab" => (9, ""),
            " " => (32, " "),
            other => panic!("no key code for {other}"),
        };
        let down = json!({"type": if text.is_empty() { "rawKeyDown" } else { "keyDown" }, "key": key, "code": key,
            "windowsVirtualKeyCode": code, "text": text});
        self.call("Input.dispatchKeyEvent", down).await;
        let up = json!({"type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": code});
        self.call("Input.dispatchKeyEvent", up).await;
    }

    /// Puts `file` into the file input matching `selector` (its `change` event fires).
    /// A live re-render of the page between finding the input and setting its files makes the
    /// browser forget the node: then it is found again.
    pub async fn set_file(&mut self, selector: &str, file: &Path) {
        let files = json!([file.display().to_string()]);
        let mut last = Value::Null;
        for _ in 0..10 {
            let document = self.call("DOM.getDocument", json!({})).await;
            let root = document["root"]["nodeId"].clone();
            let node = self.call("DOM.querySelector", json!({"nodeId": root, "selector": selector})).await;
            match self.try_call("DOM.setFileInputFiles", json!({"nodeId": node["nodeId"], "files": files})).await {
                Ok(_) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("DOM.setFileInputFiles on {selector}: {last}");
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Page for Browser {
    async fn eval(&mut self, js: &str) -> Value {
        let params = json!({"expression": js, "awaitPromise": true, "returnByValue": true});
        let r = self.call("Runtime.evaluate", params).await;
        assert!(r.get("exceptionDetails").is_none(), "{js}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `firefox-esr` (or `firefox`) on PATH; `None` (with a notice) when absent, unless
/// `UNIDM_REQUIRE_FIREFOX=1`.
pub fn firefox() -> Option<String> {
    for name in ["firefox-esr", "firefox"] {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        if found.status.success() {
            return Some(String::from_utf8_lossy(&found.stdout).trim().to_owned());
        }
    }
    let required = std::env::var("UNIDM_REQUIRE_FIREFOX").is_ok_and(|v| v == "1");
    assert!(!required, "firefox is required (UNIDM_REQUIRE_FIREFOX=1) but not installed");
    eprintln!("notice: firefox not installed; the console's Firefox test is skipped");
    None
}

/// One headless Firefox with one tab, driven over WebDriver BiDi (Firefox's own protocol).
pub struct Firefox {
    child: Child,
    _profile: tempfile::TempDir,
    wire: Wire,
    context: String,
    /// The messages of the prompts (`confirm`) the page opened, each accepted.
    pub dialogs: Vec<String>,
}

impl Firefox {
    /// Starts Firefox on `about:blank` and opens a BiDi session on its tab.
    pub async fn launch(firefox: &str) -> Firefox {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(firefox)
            .args(["--headless", "--no-remote", "--remote-debugging-port=0", "--profile"])
            .arg(profile.path())
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start firefox");
        // Firefox writes the port it took into the profile.
        let port_file = profile.path().join("WebDriverBiDiServer.json");
        let deadline = Instant::now() + STEP;
        let port = loop {
            let port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                .and_then(|v| v["ws_port"].as_u64());
            if let Some(port) = port {
                break port;
            }
            assert!(Instant::now() < deadline, "firefox wrote no WebDriverBiDiServer.json");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let wire = Wire::connect(&format!("ws://127.0.0.1:{port}/session"), "firefox").await;
        let mut browser = Firefox { child, _profile: profile, wire, context: String::new(), dialogs: Vec::new() };
        // Prompts are left open for us to answer (WebDriver's default would dismiss them).
        let capabilities = json!({"alwaysMatch": {"unhandledPromptBehavior": "ignore"}});
        browser.call("session.new", json!({"capabilities": capabilities})).await;
        browser.call("session.subscribe", json!({"events": ["browsingContext.userPromptOpened"]})).await;
        let tree = browser.call("browsingContext.getTree", json!({})).await;
        browser.context = tree["contexts"][0]["context"].as_str().expect("a tab").to_owned();
        browser
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.wire.send(method, params).await;
        let deadline = Instant::now() + STEP;
        loop {
            let v = self.wire.receive(method, deadline).await;
            if v["id"] == id {
                assert!(v["type"] != "error", "{method}: {v}");
                return v["result"].clone();
            }
            if v["method"] == "browsingContext.userPromptOpened" {
                self.dialogs.push(v["params"]["message"].as_str().unwrap_or_default().to_owned());
                let params = json!({"context": v["params"]["context"], "accept": true});
                self.wire.send("browsingContext.handleUserPrompt", params).await;
            }
        }
    }

    /// Loads `url` and waits for its document.
    pub async fn goto(&mut self, url: &str) {
        let params = json!({"context": self.context, "url": url, "wait": "complete"});
        self.call("browsingContext.navigate", params).await;
    }

    /// A click at the centre of the first element matching `selector` (BiDi's pointer actions).
    pub async fn click(&mut self, selector: &str) {
        let (x, y) = self.centre(selector).await;
        let actions = json!([{"type": "pointer", "id": "mouse", "actions": [
            {"type": "pointerMove", "x": x, "y": y},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0}]}]);
        self.call("input.performActions", json!({"context": self.context, "actions": actions})).await;
    }
}

impl Page for Firefox {
    /// Through JSON: BiDi's own encoding of values is richer than these tests need.
    async fn eval(&mut self, js: &str) -> Value {
        let expression = format!("(async () => JSON.stringify(await ({js})))()");
        let params = json!({"expression": expression, "target": {"context": self.context}, "awaitPromise": true});
        let r = self.call("script.evaluate", params).await;
        assert_eq!(r["type"], "success", "{js}: {r}");
        r["result"]["value"].as_str().map_or(Value::Null, |s| serde_json::from_str(s).unwrap_or(Value::Null))
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
