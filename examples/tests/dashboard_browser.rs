//! The live dashboard in headless Chromium: the page fills its charts, the
//! burst button saturates the pool, and the charts show it (in use reaching
//! `max_size`, requests waiting, wait times up) and the recovery; the
//! servers table names the host the connections are on. Saves a
//! screenshot of the page.
//!
//! Needs Chromium (`apt-get install -y chromium`); with
//! `TIDEPOOL_SKIP_BROWSER_TESTS=1` a machine without it skips the test.

mod browser;
#[path = "support/running.rs"]
mod running;

use std::path::PathBuf;

use base64::Engine;
use serde_json::{Value, json};

use browser::{Cdp, Chromium};
use running::RunningService;

const MAX_SIZE: usize = 4;
const BURST_REQUESTS: usize = 200;
const BURST_SLEEP_MS: u64 = 30;

/// What the page's charts hold, from `window.dashboard`.
const SUMMARY: &str = "JSON.stringify((() => {
    const d = window.dashboard, p = d.points;
    const max = (key) => Math.max(0, ...p.map((point) => point[key]));
    return {
        points: p.length, draws: d.draws, updates: d.updates, error: d.error,
        max_in_use: max('in_use'), max_waiting: max('waiting'), max_p99_ms: max('p99_ms'),
        max_max_wait_ms: max('max_wait_ms'), timeouts: p.reduce((s, x) => s + x.timeouts, 0),
        last: p[p.length - 1], burst: d.burst,
        waiting_chart: document.getElementById('chart-waiting').toDataURL(),
        connections_chart: document.getElementById('chart-connections').toDataURL(),
        size_tile: document.getElementById('tile-size').textContent,
        config_rows: document.querySelectorAll('#config tr').length,
        servers: [...document.querySelectorAll('#connections tr')].map((row) => row.dataset.server),
    };
})())";

fn summary(cdp: &mut Cdp, session: &str) -> Value {
    let text = cdp.evaluate(session, SUMMARY);
    serde_json::from_str(text.as_str().expect("a JSON string")).expect("JSON")
}

fn screenshot(cdp: &mut Cdp, session: &str) -> PathBuf {
    let shot = cdp.call(
        Some(session),
        "Page.captureScreenshot",
        json!({ "format": "png", "captureBeyondViewport": true }),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("the screenshot's data"))
        .expect("base64");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a {}-byte screenshot is blank",
        png.len()
    );
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-burst.png");
    std::fs::write(&path, png).expect("the screenshot written");
    path
}

#[test]
fn the_dashboard_shows_a_burst_saturating_the_pool_and_its_recovery() {
    let Some(binary) = Chromium::locate_or_skip() else {
        return;
    };
    let db = tidepool_testdb::test_database().unwrap_or_else(|e| panic!("no test database: {e}"));
    let service = RunningService::start(db.url(), "dashboard-test", MAX_SIZE);
    let chromium = Chromium::launch(&binary);
    let mut cdp = Cdp::connect(&chromium.websocket_url);
    let page = cdp.open_page();
    cdp.call(
        Some(&page),
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false }),
    );
    cdp.call(
        Some(&page),
        "Page.navigate",
        json!({ "url": format!("http://{}/", service.address) }),
    );

    cdp.wait_until(
        &page,
        "the charts have data",
        "window.dashboard && dashboard.draws >= 2 && dashboard.points.length >= 2",
        "JSON.stringify(window.dashboard || null)",
    );
    let before = summary(&mut cdp, &page);
    assert_eq!(before["error"], Value::Null);
    assert_eq!(
        before["size_tile"]
            .as_str()
            .map(|t| t.ends_with(&format!("/ {MAX_SIZE}"))),
        Some(true)
    );
    assert!(
        before["config_rows"].as_u64() > Some(5),
        "the configuration is shown"
    );
    assert_eq!(before["max_waiting"], 0, "nothing waits before the burst");
    // The servers table names the host the pool's connections are on.
    let servers: Vec<String> = service
        .pool
        .connections()
        .into_iter()
        .map(|c| c.server)
        .collect();
    assert!(!servers.is_empty());
    assert_eq!(before["servers"], json!([servers[0]]), "{before}");

    // The button, as a person would press it.
    cdp.evaluate(
        &page,
        &format!(
            "document.getElementById('burst-requests').value = '{BURST_REQUESTS}';
             document.getElementById('burst-sleep').value = '{BURST_SLEEP_MS}';
             document.getElementById('burst-button').click(); true"
        ),
    );
    cdp.wait_until(
        &page,
        "the burst is over and the charts show the pool saturated",
        &format!(
            "dashboard.burst && dashboard.burst.number === 1 && !dashboard.burst.running
             && dashboard.points.some((p) => p.in_use >= {MAX_SIZE})
             && dashboard.points.some((p) => p.waiting > 0)"
        ),
        SUMMARY,
    );
    cdp.wait_until(
        &page,
        "the pool has recovered: a second with nothing waiting or held",
        "dashboard.points.length && dashboard.points.at(-1).waiting === 0
         && dashboard.points.at(-1).in_use === 0 && dashboard.points.at(-1).checkouts === 0",
        SUMMARY,
    );
    let after = summary(&mut cdp, &page);
    println!(
        "burst: {}; peaks: in use {}, waiting {}, p99 {} ms, longest wait {} ms, timeouts {}",
        after["burst"],
        after["max_in_use"],
        after["max_waiting"],
        after["max_p99_ms"],
        after["max_max_wait_ms"],
        after["timeouts"]
    );

    assert_eq!(after["error"], Value::Null);
    assert_eq!(
        after["max_in_use"], MAX_SIZE,
        "in use reaches max_size, never more"
    );
    assert!(after["max_waiting"].as_u64() > Some(0), "requests waited");
    assert!(
        after["max_p99_ms"].as_f64()
            > before["max_p99_ms"]
                .as_f64()
                .map(|p| p.max(BURST_SLEEP_MS as f64)),
        "checkouts waited longer than one request holds a connection"
    );
    let burst = &after["burst"];
    let answered = ["ok", "timeouts", "rejected"]
        .iter()
        .map(|k| burst[k].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert_eq!(
        answered, BURST_REQUESTS as u64,
        "every request answered: {burst}"
    );
    assert!(burst["ok"].as_u64() > Some(0));
    assert_eq!(burst["failed"], 0);
    assert_ne!(
        before["waiting_chart"], after["waiting_chart"],
        "the waiting chart changed"
    );
    assert_ne!(
        before["connections_chart"], after["connections_chart"],
        "the connections chart changed"
    );
    // The pool's own view agrees with the charts.
    let stats = service.pool.stats();
    assert!(stats.requests_queued > 0, "{stats:?}");
    assert_eq!(stats.requests_waiting, 0);

    let path = screenshot(&mut cdp, &page);
    println!("screenshot: {}", path.display());
}
