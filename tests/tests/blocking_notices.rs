//! Server notices on the blocking pool's connections reach its notice
//! handler and `tracing` (target `tidepool::notice`). Alone in its test
//! binary: it captures every thread's traces.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::observe::Traces;
use common::{database, eventually_blocking, ok, tagged_url};
use tidepool_sync::Pool;
use tracing::Level;

#[test]
fn notices_reach_the_blocking_pools_handler_and_tracing() {
    let traces = Traces::capture_globally();
    let db = database();
    let (_, url) = tagged_url(&db, "sync_notices");
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let pool = ok(Pool::builder(&url)
        .name("sync_noticed")
        .min_size(0)
        .max_size(1)
        .worker_threads(1)
        .timeout(Duration::from_secs(10))
        .notice_handler({
            let seen = Arc::clone(&seen);
            move |notice| {
                seen.lock()
                    .unwrap()
                    .push((notice.severity().to_owned(), notice.message().to_owned()));
            }
        })
        .build());
    let conn = ok(pool.get());
    ok(conn.batch_execute(
        "DO $$ BEGIN RAISE NOTICE 'sync notice'; RAISE WARNING 'sync warning'; END $$",
    ));
    let id = conn.id();
    drop(conn);

    eventually_blocking("the handler saw two notices", || {
        seen.lock().unwrap().len() >= 2
    });
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("NOTICE".into(), "sync notice".into()),
            ("WARNING".into(), "sync warning".into()),
        ]
    );
    for (level, message, severity) in [
        (Level::INFO, "sync notice", "NOTICE"),
        (Level::WARN, "sync warning", "WARNING"),
    ] {
        let events = traces.events_with(level, message);
        assert_eq!(events.len(), 1, "{message}:\n{}", traces.dump());
        assert_eq!(events[0].field("pool"), "sync_noticed");
        assert_eq!(events[0].field("connection"), id.to_string());
        assert_eq!(events[0].field("severity"), severity);
    }
}
