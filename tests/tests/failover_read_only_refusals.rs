//! A write refused as read-only (SQLSTATE 25006) in a `read-write` pool:
//! the pool asks the server's role again when the connection comes back.
//! Behind PgBouncer, a connection's statements can move to another server
//! without the client being told (PgBouncer 1.18 passes on no report of
//! `in_hot_standby`): a refused write is then how the pool learns that it
//! reached a standby. A transaction the user made read-only keeps its
//! connection. Needs private servers (skipped with `DATABASE_URL`).

mod common;

use std::time::Duration;

use common::{eventually, ok};
use tidepool_async::{HealthCheck, Pool};
use tidepool_testdb::{PgBouncer, PgServer};

const READ_ONLY_SQL_TRANSACTION: &str = "25006";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_by_a_standby_behind_pgbouncer_closes_the_connection() {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test runs servers and a PgBouncer of its own");
        return;
    }
    let primary = ok(PgServer::start());
    let mut bouncer = ok(PgBouncer::builder().default_pool_size(2).start(&primary));
    ok(primary.psql(&format!(
        "create table notes (n int); grant insert on notes to \"{}\"",
        bouncer.user()
    )));
    let standby = ok(primary.start_standby());
    ok(primary.wait_for_standby(&standby));
    let dsn = format!("{}?target_session_attrs=read-write", bouncer.url());
    // No health check: only the refused write can tell the pool.
    let pool = ok(Pool::builder(&dsn)
        .pgbouncer(true)
        .min_size(0)
        .max_size(1)
        .health_check(HealthCheck::Never)
        .timeout(Duration::from_millis(800))
        .build());

    // A transaction the user made read-only: its refused write keeps the
    // connection, since the server is still read-write.
    {
        let mut conn = ok(pool.get().await);
        let tx = ok(conn.transaction().await);
        ok(tx.batch_execute("SET TRANSACTION READ ONLY").await);
        let error = tx
            .execute("insert into notes values (0)", &[])
            .await
            .expect_err("a read-only transaction wrote");
        assert_eq!(
            error.code().map(|code| code.code()),
            Some(READ_ONLY_SQL_TRANSACTION),
            "{error}"
        );
    }
    let conn = ok(pool.get().await);
    ok(conn.execute("insert into notes values (1)", &[]).await);
    drop(conn);
    let stats = pool.stats();
    assert_eq!(stats.connections_num, 1, "{stats:?}");
    assert_eq!(stats.returns_reset, 1, "{stats:?}");
    assert_eq!(stats.connections_closed_reset_failed, 0, "{stats:?}");

    // PgBouncer is pointed at the standby: the pool's connection stays
    // open, and its statements now reach a read-only server.
    ok(bouncer.retarget(&standby));
    let conn = ok(pool.get().await);
    eventually("a write was refused as read-only", async || {
        match conn.execute("insert into notes values (2)", &[]).await {
            Ok(_) => false,
            Err(error) => {
                assert_eq!(
                    error.code().map(|code| code.code()),
                    Some(READ_ONLY_SQL_TRANSACTION),
                    "{error}"
                );
                true
            }
        }
    })
    .await;
    drop(conn);

    // The connection is closed on its return, and no read-write server is
    // left to connect to.
    eventually("the connection was closed on its return", async || {
        pool.stats().connections_closed_reset_failed == 1
    })
    .await;
    let error = pool
        .get()
        .await
        .expect_err("a read-write pool handed out a connection to a standby");
    assert!(error.is_timeout(), "{error}");

    // Pointed back at the primary, the pool writes again.
    ok(bouncer.retarget(&primary));
    eventually("the pool wrote again", async || match pool.get().await {
        Ok(conn) => conn
            .execute("insert into notes values (3)", &[])
            .await
            .is_ok(),
        Err(_) => false,
    })
    .await;
}
