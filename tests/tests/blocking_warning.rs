//! A call of the blocking pool from a task of a current-thread runtime
//! works, and warns once per pool that it blocks the runtime's thread
//! (tokio cannot tell such a task from a `spawn_blocking` closure). Alone
//! in its test binary: it captures every thread's traces.

mod common;

use std::time::Duration;

use common::observe::Traces;
use common::{database, ok, tagged_url};
use tidepool_sync::Pool;

#[tokio::test(flavor = "current_thread")]
async fn a_call_from_a_task_of_a_current_thread_runtime_warns_once_per_pool() {
    let traces = Traces::capture_globally();
    let db = database();
    let (_, url) = tagged_url(&db, "sync_warn");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build());
    let answers = tokio::spawn({
        let pool = pool.clone();
        async move {
            (0..3)
                .map(|i| {
                    let conn = ok(pool.get());
                    ok(conn.query_one("select $1::int + 1", &[&i])).get::<_, i32>(0)
                })
                .collect::<Vec<_>>()
        }
    })
    .await
    .expect("the task");
    assert_eq!(answers, [1, 2, 3]);
    let warnings = traces.events_with(tracing::Level::WARN, "current-thread tokio runtime");
    assert_eq!(
        warnings.len(),
        1,
        "one warning per pool, however many calls: {warnings:?}"
    );
    common::assert_contains(warnings[0].message(), &["Pool::get", "spawn_blocking"]);
    // A plain thread does not warn.
    std::thread::spawn(move || drop(ok(pool.get())))
        .join()
        .expect("the thread");
    assert_eq!(
        traces
            .events_with(tracing::Level::WARN, "current-thread tokio runtime")
            .len(),
        1
    );
}
