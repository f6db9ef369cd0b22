//! The OpenTelemetry example, run against the private server: the
//! request's trace as the SDK exported it has the request span as its root
//! with the checkout and the statements under it, carrying the semantic
//! conventions' attributes (the failed one its SQLSTATE), and the pool's
//! metrics arrive under OpenTelemetry's names and attributes.

use tidepool_examples::otel::{self, POOL_NAME, Report, SpanNode};

fn run() -> (Report, Option<u16>) {
    let db = tidepool_testdb::test_database().unwrap_or_else(|e| panic!("no test database: {e}"));
    let port = db.server().map(|server| server.port());
    let report = otel::run(db.url()).unwrap_or_else(|e| panic!("the example failed: {e}"));
    println!("{report}");
    (report, port)
}

fn statements(trace: &SpanNode) -> Vec<&SpanNode> {
    trace
        .children
        .iter()
        .filter(|span| span.attribute("target") == Some("tidepool::statement"))
        .collect()
}

#[test]
fn the_request_is_traced_and_the_pool_measured_through_opentelemetry() {
    let (report, port) = run();
    assert!(report.outcome.duplicate_refused, "{:?}", report.outcome);

    // The trace: the request at the root, the checkout first under it,
    // then the three statements, side by side.
    let trace = &report.trace;
    assert_eq!(trace.name, "request");
    assert_eq!(trace.kind, "Server");
    let names: Vec<&str> = trace.children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "checkout",
            "SELECT otel_todos",
            "INSERT otel_todos",
            "INSERT otel_todos"
        ],
        "{trace}"
    );
    let checkout = &trace.children[0];
    assert_eq!(checkout.attribute("pool"), Some(POOL_NAME));
    assert_eq!(checkout.attribute("outcome"), Some("ok"));
    assert_eq!(
        checkout.attribute("target"),
        Some("tidepool_core::checkout")
    );
    let statements = statements(trace);
    assert_eq!(statements.len(), 3, "{trace}");
    assert!(
        trace.children.iter().all(|span| span.children.is_empty()),
        "the checkout and the statements are leaves: {trace}"
    );

    for span in &statements {
        assert_eq!(span.kind, "Client");
        assert_eq!(span.attribute("db.system.name"), Some("postgresql"));
        assert_eq!(span.attribute("db.collection.name"), Some("otel_todos"));
        let server_port: u16 = span
            .attribute("server.port")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no server.port: {span}"));
        if let Some(port) = port {
            assert_eq!(server_port, port);
        }
        assert!(span.attribute("server.address").is_some(), "{span}");
    }
    let select = statements[0];
    assert_eq!(select.attribute("db.operation.name"), Some("SELECT"));
    assert_eq!(
        select.attribute("db.query.text"),
        Some("SELECT count(*) FROM otel_todos WHERE NOT done")
    );
    assert_eq!(select.status, "Unset");
    assert_eq!(select.attribute("error.type"), None);

    let insert = statements[1];
    assert_eq!(insert.attribute("db.operation.name"), Some("INSERT"));
    assert_eq!(
        insert.attribute("db.query.text"),
        Some("INSERT INTO otel_todos (id, title) VALUES ($1, $2)")
    );
    assert_eq!(insert.status, "Unset");

    let failed = statements[2];
    assert!(failed.status.starts_with("Error"), "{failed}");
    assert_eq!(failed.attribute("db.response.status_code"), Some("23505"));
    assert_eq!(failed.attribute("error.type"), Some("23505"));

    // The printed tree indents each span under its parent.
    let printed = trace.to_string();
    let heads: Vec<&str> = printed
        .lines()
        .filter(|line| !line.trim_start().starts_with('·'))
        .collect();
    assert!(heads[0].starts_with("request [Server] "), "{printed}");
    assert!(
        heads[1].starts_with("    checkout [Internal] "),
        "{printed}"
    );
    assert!(
        heads[2].starts_with("    SELECT otel_todos [Client] "),
        "{printed}"
    );
    assert!(heads[4].ends_with("(Error)"), "{printed}");

    // The metrics, as the SDK exported them.
    let count = report
        .metric("db.client.connection.count")
        .unwrap_or_else(|| panic!("no db.client.connection.count: {:?}", report.metrics));
    assert_eq!(count.kind, "UpDownCounter");
    assert_eq!(count.unit, "{connection}");
    let state = |state: &str| {
        count
            .points
            .iter()
            .find(|p| {
                p.attributes
                    .get("db.client.connection.state")
                    .map(String::as_str)
                    == Some(state)
                    && p.attributes
                        .get("db.client.connection.pool.name")
                        .map(String::as_str)
                        == Some(POOL_NAME)
            })
            .unwrap_or_else(|| panic!("no {state} point: {count}"))
            .value
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(state("used"), 0.0, "the request returned its connection");
    assert!(state("idle") >= 1.0, "{count}");

    let wait = report.metric("db.client.connection.wait_time").unwrap();
    assert_eq!((wait.kind, wait.unit.as_str()), ("Histogram", "s"));

    let duration = report
        .metric("db.client.operation.duration")
        .unwrap_or_else(|| panic!("no db.client.operation.duration: {:?}", report.metrics));
    assert_eq!((duration.kind, duration.unit.as_str()), ("Histogram", "s"));
    let operations: Vec<(Option<&str>, Option<&str>)> = duration
        .points
        .iter()
        .filter(|p| {
            p.attributes.get("db.collection.name").map(String::as_str) == Some("otel_todos")
        })
        .map(|p| {
            (
                p.attributes.get("db.operation.name").map(String::as_str),
                p.attributes.get("error.type").map(String::as_str),
            )
        })
        .collect();
    for expected in [
        (Some("SELECT"), None),
        (Some("INSERT"), None),
        (Some("INSERT"), Some("23505")),
    ] {
        assert!(operations.contains(&expected), "{expected:?} in {duration}");
    }
}
