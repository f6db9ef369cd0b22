//! The example service given a multi-host `DATABASE_URL` over a primary
//! and its standby (the standby first) with
//! `target_session_attrs=read-write`: it writes to the primary, and after
//! the primary stops and the standby is promoted it writes there, without
//! a restart; `/stats` names the host of each connection. Needs private servers (skipped with `DATABASE_URL`).

#[path = "support/http.rs"]
mod http;
#[path = "support/running.rs"]
mod running;

use std::time::{Duration, Instant};

use serde_json::json;

use http::request;
use running::RunningService;
use tidepool_testdb::PgServer;

#[test]
fn the_service_follows_a_failover() {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test runs a primary and a standby of its own");
        return;
    }
    let primary = PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    let standby = primary.start_standby().unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        standby.port(),
        primary.port()
    );
    let service = RunningService::start(&url, "service-failover", 2);
    let at = service.address;
    let created = request(
        at,
        "POST",
        "/api/todos",
        Some(&json!({ "title": "before" })),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["title"], "before");
    // `/stats`, which the dashboard draws, names the host of each
    // connection: the primary.
    let servers = |port: u16| {
        let stats = request(at, "GET", "/stats", None).json();
        let connections = stats["connections"].as_array().cloned().unwrap_or_default();
        !connections.is_empty()
            && connections
                .iter()
                .all(|c| c["server"] == format!("127.0.0.1:{port}"))
    };
    assert!(servers(primary.port()));

    primary.stop().unwrap_or_else(|e| panic!("{e}"));
    standby.promote().unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let created = request(at, "POST", "/api/todos", Some(&json!({ "title": "after" })));
        if created.status == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no todo was created on the promoted standby within 15 s: {} {}",
            created.status,
            created.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The connections the dashboard lists are all on the promoted standby
    // once the pool has let go of the stopped primary's.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !servers(standby.port()) {
        assert!(
            Instant::now() < deadline,
            "/stats still lists connections off the promoted standby: {}",
            request(at, "GET", "/stats", None).body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let titles = standby
        .psql("select string_agg(title, ',' order by id) from todos")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(titles, "before,after");
}
