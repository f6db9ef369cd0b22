//! A small Chrome DevTools Protocol client over a blocking websocket.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long one command may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);
/// How long a condition on the page may take to hold.
const CONDITION_DEADLINE: Duration = Duration::from_secs(45);
/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(100);

/// A DevTools connection to the browser; commands for a page carry the
/// page's session id (`Target.attachToTarget` with `flatten`).
#[derive(Debug)]
pub(crate) struct Cdp {
    socket: WebSocket<TcpStream>,
    next_id: u64,
}

impl Cdp {
    /// Connects to the browser's websocket.
    pub(crate) fn connect(url: &str) -> Self {
        let address = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("not a ws:// URL: {url}"));
        let stream = TcpStream::connect(address).expect("the DevTools port");
        // Reads give up now and then, so that a deadline can be checked.
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("a read timeout");
        let (socket, _) = tungstenite::client(url, stream).expect("the DevTools handshake");
        Self { socket, next_id: 1 }
    }

    /// Opens a new page and returns its session id.
    pub(crate) fn open_page(&mut self) -> String {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned()
    }

    /// Sends `method` and returns its result; panics on an error or after
    /// [`COMMAND_DEADLINE`]. Events and other replies are skipped.
    pub(crate) fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let deadline = Instant::now() + COMMAND_DEADLINE;
        loop {
            assert!(
                Instant::now() < deadline,
                "{method}: no reply in {COMMAND_DEADLINE:?}"
            );
            let message = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => panic!("{method}: {e}"),
            };
            let reply: Value = serde_json::from_str(&message).expect("DevTools sends JSON");
            if reply["id"] != json!(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                panic!("{method}: {error}");
            }
            return reply["result"].clone();
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns
    /// its value; panics on an exception.
    pub(crate) fn evaluate(&mut self, session: &str, expression: &str) -> Value {
        let result = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page; panics, naming
    /// `what` and showing `context` (an expression), after
    /// [`CONDITION_DEADLINE`].
    pub(crate) fn wait_until(
        &mut self,
        session: &str,
        what: &str,
        expression: &str,
        context: &str,
    ) {
        let deadline = Instant::now() + CONDITION_DEADLINE;
        loop {
            if self.evaluate(session, &format!("Boolean({expression})")) == json!(true) {
                return;
            }
            if Instant::now() >= deadline {
                let seen = self.evaluate(session, context);
                panic!(
                    "timed out after {CONDITION_DEADLINE:?} waiting until {what}; the page has {seen}"
                );
            }
            std::thread::sleep(POLL);
        }
    }
}
