//! A `ReplicaSet` over a primary and its standby: writes on the primary,
//! reads on the standby, reads sent to the primary while the standby lags
//! more than `max_lag`, and statistics per role. Needs private servers
//! (skipped with `DATABASE_URL`).

mod common;

use std::time::Duration;

use common::{eventually, multi_host_dsn, ok};
use tidepool_async::ReplicaSet;
use tidepool_testdb::PgServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_to_the_primary_and_reads_to_the_standby_unless_it_lags() {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test runs a primary and a standby of its own");
        return;
    }
    let primary = ok(PgServer::start());
    let standby = ok(primary.start_standby());
    ok(primary.psql("create table notes (n int)"));
    // The standby first: the write pool must skip it.
    let dsn = multi_host_dsn(&[&standby, &primary], "");
    let set = ok(ReplicaSet::builder(&dsn)
        .write(|pool| pool.min_size(0).max_size(2))
        .read(|pool| pool.min_size(0).max_size(2))
        .max_lag(Some(Duration::from_millis(200)))
        .build());

    let writer = ok(set.write().await);
    assert!(writer.server().ends_with(&format!(":{}", primary.port())));
    ok(writer.execute("insert into notes values (1)", &[]).await);
    drop(writer);
    ok(primary.wait_for_standby(&standby));
    let reader = ok(set.read().await);
    assert!(reader.server().ends_with(&format!(":{}", standby.port())));
    let row = ok(reader.query_one("select count(*) from notes", &[]).await);
    assert_eq!(row.get::<_, i64>(0), 1);
    drop(reader);

    // The standby stops replaying: once it is more than max_lag behind,
    // reads go to the primary, and see the latest write.
    ok(standby.psql("select pg_wal_replay_pause()"));
    ok(primary.psql("insert into notes values (2)"));
    eventually("a read went to the primary", async || {
        let conn = ok(set.read().await);
        conn.server().ends_with(&format!(":{}", primary.port()))
    })
    .await;
    let conn = ok(set.read().await);
    let row = ok(conn.query_one("select count(*) from notes", &[]).await);
    assert_eq!(row.get::<_, i64>(0), 2);
    drop(conn);

    // Replay resumes: reads are back on the standby.
    ok(standby.psql("select pg_wal_replay_resume()"));
    ok(primary.wait_for_standby(&standby));
    let conn = ok(set.read().await);
    assert!(conn.server().ends_with(&format!(":{}", standby.port())));
    drop(conn);

    let stats = set.stats();
    assert!(stats.write.requests_num >= 1, "{stats:?}");
    assert!(stats.read.requests_num >= 3, "{stats:?}");
    assert!(stats.lagging_reads >= 1, "{stats:?}");
}
