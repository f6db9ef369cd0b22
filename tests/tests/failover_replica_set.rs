//! A `ReplicaSet` over a primary and its standby: writes on the primary,
//! reads on the standby, reads sent to the primary while the standby lags
//! more than `max_lag`, and statistics per role; the blocking one through
//! a failover. Needs private servers
//! (skipped with `DATABASE_URL`).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, eventually_blocking, multi_host_dsn, ok};
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

    // Each pool lists its connections, with the server each reached and
    // whether it is checked out.
    let on = |port: u16| move |server: &str| server.ends_with(&format!(":{port}"));
    let held = ok(set.write().await);
    let listed = set.writer().connections();
    assert!(
        listed.iter().all(|c| on(primary.port())(&c.server)),
        "{listed:?}"
    );
    assert!(
        listed.iter().any(|c| c.id == held.id() && c.in_use),
        "{listed:?}"
    );
    drop(held);
    eventually("the write pool lists its connection as idle", async || {
        set.writer().connections().iter().all(|c| !c.in_use)
    })
    .await;
    let listed = set.reader().connections();
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|c| on(standby.port())(&c.server)),
        "{listed:?}"
    );
    set.close();
    eventually("closed pools list no connection", async || {
        set.writer().connections().is_empty() && set.reader().connections().is_empty()
    })
    .await;
}

#[test]
fn the_blocking_replica_set_writes_through_a_failover_and_reads_where_it_can() {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test runs a primary and a standby of its own");
        return;
    }
    let primary = ok(PgServer::start());
    let standby = ok(primary.start_standby());
    ok(primary.psql("create table acks (id bigint primary key)"));
    ok(primary.wait_for_standby(&standby));
    let on = |server: &PgServer| format!(":{}", server.port());
    let dsn = multi_host_dsn(&[&primary, &standby], "");
    let set = ok(tidepool_sync::ReplicaSet::builder(&dsn)
        .write(|pool| pool.min_size(2).max_size(4).timeout(Duration::from_secs(2)))
        .read(|pool| pool.min_size(0).max_size(2))
        .build());
    assert!(ok(set.write()).server().ends_with(&on(&primary)));
    assert!(ok(set.read()).server().ends_with(&on(&standby)));

    // Eight threads write while the primary stops and its standby is
    // promoted.
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(1));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (set, stop) = (set.clone(), Arc::clone(&stop));
            let (next_id, acknowledged) = (Arc::clone(&next_id), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    let written = set
                        .write()
                        .and_then(|conn| conn.execute("insert into acks values ($1)", &[&id]));
                    match written {
                        Ok(_) => acknowledged.lock().unwrap().push(id),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        })
        .collect();
    let count = || acknowledged.lock().unwrap().len();
    eventually_blocking("100 writes were acknowledged", || count() >= 100);
    ok(primary.stop());
    let before_promotion = count();
    ok(standby.promote());
    eventually_blocking("100 more writes were acknowledged", || {
        count() >= before_promotion + 100
    });
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().expect("a writer panicked");
    }

    // The writes go to the promoted standby, every acknowledged one is
    // there, and reads fall back to it, the only server left.
    assert!(ok(set.write()).server().ends_with(&on(&standby)));
    let stored: HashSet<i64> = ok(standby.psql("select id from acks"))
        .lines()
        .map(|line| line.parse().expect("an id"))
        .collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let missing = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .count();
    assert_eq!(missing, 0, "of {} acknowledged writes", acknowledged.len());
    eventually_blocking("a read reached the promoted standby", || {
        set.read()
            .is_ok_and(|conn| conn.server().ends_with(&on(&standby)))
    });
    let stats = set.stats();
    assert!(stats.write.requests_num >= 200, "{stats:?}");
    assert!(stats.read.requests_num >= 2, "{stats:?}");
    set.close();
    assert!(set.writer().is_closed() && set.reader().is_closed());
}
