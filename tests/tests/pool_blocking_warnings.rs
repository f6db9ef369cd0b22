//! The blocking pool's warnings name the line of the caller's `get`, as the
//! async pool's do, though the work runs on the pool's own threads.
//!
//! This file holds one test: it installs a process-wide subscriber.

mod common;

use std::time::Duration;

use common::observe::Traces;
use common::{database, eventually_blocking, ok, tagged_url};
use tidepool_sync::Pool;
use tracing::Level;

#[test]
fn leak_and_slow_checkout_warnings_name_the_callers_line() {
    let traces = Traces::capture_globally();
    let db = database();
    let (_, url) = tagged_url(&db, "syncwarn");
    let pool = ok(Pool::builder(&url)
        .name("syncwarn")
        .min_size(1)
        .max_size(1)
        .leak_detection_threshold(Some(Duration::from_millis(200)))
        .slow_checkout_warning(Some(Duration::from_millis(100)))
        .build());
    ok(pool.wait());

    let held_line = line!() + 1;
    let held = ok(pool.get());
    eventually_blocking("the leak warning", || {
        !traces
            .events_with(Level::WARN, "leak_detection_threshold")
            .is_empty()
    });
    let leak = &traces.events_with(Level::WARN, "leak_detection_threshold")[0];
    let location = format!("{}:{held_line}:", file!());
    assert!(
        leak.field("checked_out_at").starts_with(&location),
        "{leak} does not name {location}"
    );

    let waiter_line = line!() + 3;
    let waiter = std::thread::spawn({
        let pool = pool.clone();
        move || pool.get_timeout(Duration::from_secs(10)).map(drop)
    });
    eventually_blocking("the request waits", || pool.stats().requests_waiting == 1);
    std::thread::sleep(Duration::from_millis(200));
    drop(held);
    ok(waiter.join().unwrap());
    let slow = traces.events_with(Level::WARN, "slow_checkout_warning");
    assert_eq!(slow.len(), 1, "{}", traces.dump());
    let location = format!("{}:{waiter_line}:", file!());
    assert!(
        slow[0].field("caller").starts_with(&location),
        "{} does not name {location}",
        slow[0]
    );
}
