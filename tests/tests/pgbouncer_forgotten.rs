//! A pool without the `pgbouncer` setting behind PgBouncer in transaction
//! mode: its named statements meet another client's on the server
//! connections, and the error says what is wrong and which setting fixes
//! it. The same statements with the setting run.

mod common;

use common::bouncer::bounced;
use common::ok;
use tidepool_async::Pool;
use tidepool_async::tokio_postgres::{self, NoTls};

/// Names tokio-postgres gives the statements it prepares (`s0`, `s1`, ...,
/// counted per process): enough that this test process cannot get past
/// them.
const TAKEN_NAMES: usize = 5000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_statements_through_pgbouncer_fail_with_an_error_naming_the_setting() {
    let bounced = bounced(2);
    // Another client of the same PgBouncer (another instance of the
    // program, with the same statement names) left prepared statements on
    // both server connections; each of these two transactions pins one.
    let script: String = (0..TAKEN_NAMES)
        .map(|i| format!("PREPARE s{i} AS SELECT {i};"))
        .collect();
    let mut others = Vec::new();
    for _ in 0..2 {
        let (client, connection) = tokio_postgres::connect(&bounced.url(), NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute("BEGIN").await.unwrap();
        client.batch_execute(&script).await.unwrap();
        others.push(client);
    }
    for client in &others {
        client.batch_execute("COMMIT").await.unwrap();
    }
    assert_eq!(bounced.bouncer.servers().unwrap().len(), 2);

    // Without the setting, a repeated statement is prepared by name (at its
    // sixth execution by default; here at its first).
    let pool = ok(Pool::builder(&bounced.url())
        .prepare_threshold(Some(0))
        .min_size(0)
        .max_size(2)
        .build());
    let conn = ok(pool.get().await);
    let error = conn
        .query_one("SELECT $1::int4", &[&7i32])
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("42P05"), "{error}");
    assert!(error.is_lost_prepared_statement(), "{error:?}");
    let message = error.to_string();
    for expected in [
        "already exists",
        "PgBouncer in transaction mode",
        "pgbouncer(true)",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from: {message}"
        );
    }
    assert!(!message.contains(bounced.bouncer.password()), "{message}");
    drop(conn);

    // With the setting, the same statement runs on the same server
    // connections.
    let pool = ok(Pool::builder(&bounced.url())
        .pgbouncer(true)
        .min_size(0)
        .max_size(2)
        .build());
    let conn = ok(pool.get().await);
    for _ in 0..20 {
        let row = ok(conn.query_one("SELECT $1::int4", &[&7i32]).await);
        assert_eq!(row.get::<_, i32>(0), 7);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_errors_keep_their_plain_message() {
    let bounced = bounced(2);
    let pool = ok(Pool::builder(&bounced.url())
        .min_size(0)
        .max_size(1)
        .build());
    let conn = ok(pool.get().await);
    // A statement prepared with SQL and gone is the user's own error.
    let error = conn
        .batch_execute("EXECUTE no_such_statement")
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("26000"), "{error}");
    assert!(!error.is_lost_prepared_statement(), "{error:?}");
    let error = conn.query("SELECT 1 / 0", &[]).await.unwrap_err();
    assert!(!error.is_lost_prepared_statement());
    assert!(!error.to_string().contains("PgBouncer"), "{error}");
}
