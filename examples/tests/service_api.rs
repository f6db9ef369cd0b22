//! The example service's API, `/stats`, `/metrics`, `/health` and
//! `/burst`, over HTTP, against the private server.

#[path = "support/http.rs"]
mod http;
#[path = "support/running.rs"]
mod running;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use http::request;
use running::RunningService;

const MAX_SIZE: usize = 3;

/// The service, with a pool named `name`: each test's own, as the pools'
/// gauges of one name add up.
fn service(name: &str) -> (tidepool_testdb::TestDatabase, RunningService) {
    let db = tidepool_testdb::test_database().unwrap_or_else(|e| panic!("no test database: {e}"));
    let service = RunningService::start(db.url(), name, MAX_SIZE);
    (db, service)
}

#[test]
fn todos_are_created_listed_a_page_at_a_time_changed_and_deleted() {
    let (_db, service) = service("api-todos");
    let at = service.address;
    let mut ids = Vec::new();
    for title in ["first", "second", "third"] {
        let created = request(at, "POST", "/api/todos", Some(&json!({ "title": title })));
        assert_eq!(created.status, 201, "{}", created.body);
        let todo = created.json();
        assert_eq!(todo["title"], title);
        assert_eq!(todo["done"], false);
        ids.push(todo["id"].as_i64().expect("an id"));
    }
    let blank = request(at, "POST", "/api/todos", Some(&json!({ "title": "  " })));
    assert_eq!(blank.status, 400, "{}", blank.body);

    // Pages of two, from just before our todos (other tests' todos may
    // follow ours, never precede them).
    let after = ids[0] - 1;
    let page = request(
        at,
        "GET",
        &format!("/api/todos?limit=2&after={after}"),
        None,
    )
    .json();
    let titles: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["title"].as_str().expect("a title"))
        .collect();
    assert_eq!(titles, ["first", "second"]);
    assert_eq!(page["next"], ids[1]);
    let next = request(
        at,
        "GET",
        &format!("/api/todos?limit=2&after={}", ids[1]),
        None,
    )
    .json();
    assert_eq!(next["items"][0]["id"], ids[2]);
    assert_eq!(request(at, "GET", "/api/todos?limit=0", None).status, 400);

    let changed = request(
        at,
        "PATCH",
        &format!("/api/todos/{}", ids[1]),
        Some(&json!({ "done": true })),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let read = request(at, "GET", &format!("/api/todos/{}", ids[1]), None).json();
    assert_eq!(
        (read["title"].clone(), read["done"].clone()),
        (json!("second"), json!(true))
    );

    let path = format!("/api/todos/{}", ids[0]);
    assert_eq!(request(at, "DELETE", &path, None).status, 204);
    assert_eq!(request(at, "DELETE", &path, None).status, 404);
    assert_eq!(request(at, "GET", &path, None).status, 404);
    let missing = request(at, "PATCH", &path, Some(&json!({ "title": "gone" })));
    assert_eq!(missing.status, 404);
}

#[test]
fn stats_metrics_and_health_describe_the_pool() {
    let (_db, service) = service("api-stats");
    let at = service.address;
    assert_eq!(request(at, "GET", "/health", None).json()["status"], "ok");

    let stats = request(at, "GET", "/stats", None).json();
    assert_eq!(stats["config"]["name"], "api-stats");
    assert_eq!(stats["config"]["max_size"], MAX_SIZE);
    assert_eq!(stats["config"]["timeout"], "2s");
    assert_eq!(stats["pool"]["pool_max"], MAX_SIZE);
    assert!(stats["pool"]["requests_num"].as_u64() >= Some(1), "{stats}");

    let metrics = request(at, "GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    for line in [
        "tidepool_connections_max{pool=\"api-stats\"} 3",
        "# TYPE tidepool_connections_acquire_seconds histogram",
        "tidepool_connections_acquire_seconds_bucket{pool=\"api-stats\",le=\"0.001\"}",
    ] {
        assert!(
            metrics.body.contains(line),
            "{line:?} missing from\n{}",
            metrics.body
        );
    }
}

#[test]
fn a_burst_saturates_the_pool_and_only_one_runs_at_once() {
    let (_db, service) = service("api-burst");
    let at = service.address;
    assert_eq!(request(at, "POST", "/burst?requests=0", None).status, 400);
    let started = request(at, "POST", "/burst?requests=60&sleep_ms=50", None);
    assert_eq!(started.status, 202, "{}", started.body);
    // 60 requests of 50 ms over 3 connections take a second.
    assert_eq!(request(at, "POST", "/burst", None).status, 409);

    let deadline = Instant::now() + Duration::from_secs(30);
    let burst = loop {
        let burst: Value = request(at, "GET", "/stats", None).json()["burst"].clone();
        if burst["running"] == false {
            break burst;
        }
        assert!(Instant::now() < deadline, "the burst did not end: {burst}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let answered: u64 = ["ok", "timeouts", "rejected"]
        .iter()
        .map(|k| burst[k].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(answered, 60, "{burst}");
    assert_eq!(burst["failed"], 0);
    let stats = service.pool.stats();
    assert!(stats.requests_queued >= 50, "requests waited: {stats:?}");
}
