//! A load burst: many concurrent HTTP requests to the service's own
//! `/api/sleep`, each holding a connection for a few milliseconds, more
//! than the pool has; to watch the pool saturate and recover.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// What a burst sends.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct BurstSettings {
    /// Requests sent at once. Defaults to 400; at most 2,000.
    pub requests: usize,
    /// How long each request holds its connection (`pg_sleep`), in
    /// milliseconds. Defaults to 40; at most 1,000.
    pub sleep_ms: u64,
}

impl Default for BurstSettings {
    fn default() -> Self {
        Self {
            requests: 400,
            sleep_ms: 40,
        }
    }
}

impl BurstSettings {
    const MAX_REQUESTS: usize = 2_000;
    const MAX_SLEEP_MS: u64 = 1_000;

    /// Refuses settings that would do more than show the pool saturating.
    pub(crate) fn validate(self) -> Result<Self, String> {
        if self.requests == 0 || self.requests > Self::MAX_REQUESTS {
            return Err(format!("requests: 1 to {} please", Self::MAX_REQUESTS));
        }
        if self.sleep_ms > Self::MAX_SLEEP_MS {
            return Err(format!("sleep_ms: at most {} please", Self::MAX_SLEEP_MS));
        }
        Ok(self)
    }
}

/// The latest burst: running or done, and how its requests fared.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct BurstReport {
    /// How many bursts were started since the service started.
    pub(crate) number: u64,
    pub(crate) running: bool,
    pub(crate) settings: Option<BurstSettings>,
    /// Answered `200`.
    pub(crate) ok: usize,
    /// Answered `503`: the checkout timed out.
    pub(crate) timeouts: usize,
    /// Answered `429`: turned away because `max_waiting` requests waited.
    pub(crate) rejected: usize,
    /// Any other answer, or no answer.
    pub(crate) failed: usize,
    /// From the first request sent to the last answer.
    pub(crate) elapsed_ms: u64,
}

/// The burst in progress or the last one.
#[derive(Debug, Default)]
pub(crate) struct Bursts {
    report: Mutex<BurstReport>,
}

impl Bursts {
    pub(crate) fn report(&self) -> BurstReport {
        self.lock().clone()
    }

    /// Marks a burst started and returns its report, unless one is running
    /// (`None` then).
    pub(crate) fn begin(&self, settings: BurstSettings) -> Option<BurstReport> {
        let mut report = self.lock();
        if report.running {
            return None;
        }
        *report = BurstReport {
            number: report.number + 1,
            running: true,
            settings: Some(settings),
            ..BurstReport::default()
        };
        Some(report.clone())
    }

    /// Sends the burst to the service at `addr` and records the answers.
    pub(crate) async fn run(&self, addr: SocketAddr, settings: BurstSettings) {
        let started = Instant::now();
        let mut requests = JoinSet::new();
        for _ in 0..settings.requests {
            requests.spawn(get_status(
                addr,
                format!("/api/sleep?ms={}", settings.sleep_ms),
            ));
        }
        while let Some(answer) = requests.join_next().await {
            let mut report = self.lock();
            match answer {
                Ok(Ok(200)) => report.ok += 1,
                Ok(Ok(503)) => report.timeouts += 1,
                Ok(Ok(429)) => report.rejected += 1,
                _ => report.failed += 1,
            }
        }
        let mut report = self.lock();
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.running = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BurstReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long one request of a burst may take before it counts as failed.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// Sends `GET path` over HTTP/1.1 and returns the status code.
async fn get_status(addr: SocketAddr, path: String) -> std::io::Result<u16> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        // "HTTP/1.1 200 OK": the status is the second word.
        String::from_utf8_lossy(&response)
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other("not an HTTP response"))
    };
    tokio::time::timeout(REQUEST_LIMIT, exchange)
        .await
        .map_err(|_| std::io::Error::other("no answer in time"))?
}
