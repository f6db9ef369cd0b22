//! Server notices on the async pool's connections reach the pool's notice
//! handler and a `tracing` event of target `tidepool::notice`, with the
//! severity mapped to a level.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::observe::Traces;
use common::{database, eventually, ok, tagged_url};
use tidepool_async::Pool;
use tracing::Level;

/// What the handler saw: severity, SQLSTATE, message.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

const RAISE: &str = "DO $$ BEGIN \
     RAISE NOTICE 'tidepool notice %', 1; \
     RAISE WARNING 'tidepool warning' USING ERRCODE = '01007'; \
     RAISE DEBUG 'tidepool debug'; \
     END $$";

#[tokio::test(flavor = "current_thread")]
async fn notices_reach_the_handler_and_tracing_with_their_severity() {
    let (traces, _guard) = Traces::capture();
    let db = database();
    let (_, url) = tagged_url(&db, "notices");
    let seen: Seen = Arc::default();
    let pool = ok(Pool::builder(&url)
        .name("noticed")
        .min_size(0)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .notice_handler({
            let seen = Arc::clone(&seen);
            move |notice| {
                seen.lock().unwrap().push((
                    notice.severity().to_owned(),
                    notice.code().code().to_owned(),
                    notice.message().to_owned(),
                ));
            }
        })
        .build());
    let conn = ok(pool.get().await);
    // The DEBUG one only reaches the client if the session asks for it.
    ok(conn.batch_execute("SET client_min_messages = debug1").await);
    ok(conn.batch_execute(RAISE).await);
    let id = conn.id();
    drop(conn);

    eventually("the handler saw three notices", async || {
        seen.lock().unwrap().len() >= 3
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("NOTICE".into(), "00000".into(), "tidepool notice 1".into()),
            ("WARNING".into(), "01007".into(), "tidepool warning".into()),
            ("DEBUG".into(), "00000".into(), "tidepool debug".into()),
        ]
    );

    for (level, severity, message, code) in [
        (Level::INFO, "NOTICE", "tidepool notice 1", "00000"),
        (Level::WARN, "WARNING", "tidepool warning", "01007"),
        (Level::DEBUG, "DEBUG", "tidepool debug", "00000"),
    ] {
        let events = traces.events_with(level, message);
        assert_eq!(events.len(), 1, "{message} at {level}:\n{}", traces.dump());
        let event = &events[0];
        assert_eq!(event.field("pool"), "noticed");
        assert_eq!(event.field("connection"), id.to_string());
        assert_eq!(event.field("severity"), severity);
        assert_eq!(event.field("code"), code);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_notice_handler_is_contained_and_the_notice_still_traced() {
    let (traces, _guard) = Traces::capture();
    let db = database();
    let (_, url) = tagged_url(&db, "notices_panic");
    let pool = ok(Pool::builder(&url)
        .min_size(0)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .notice_handler(|_| panic!("a handler that panics"))
        .build());
    let conn = ok(pool.get().await);
    ok(conn.batch_execute(RAISE).await);
    // The connection survived the handler's panic.
    let row = ok(conn.query_one("select 1::int", &[]).await);
    assert_eq!(row.get::<_, i32>(0), 1);
    eventually("the notice was traced", async || {
        !traces
            .events_with(Level::INFO, "tidepool notice 1")
            .is_empty()
    })
    .await;
    assert!(
        !traces
            .events_with(Level::ERROR, "notice handler panicked")
            .is_empty()
    );
}
