//! A `read-write` pool through a failover: the primary stops, its standby
//! is promoted, writes resume on the new primary without losing any that
//! were acknowledged, and once the old primary is back as a standby no
//! connection to it is handed out. Needs private servers (skipped with
//! `DATABASE_URL`).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{blocking, eventually, multi_host_dsn, ok};
use tidepool_async::Pool;
use tidepool_testdb::PgServer;

const WRITERS: usize = 32;

/// What the writers saw.
#[derive(Default)]
struct Tally {
    acknowledged: std::sync::Mutex<Vec<i64>>,
    failed: AtomicUsize,
    /// Acknowledged writes whose insert began after the promotion started.
    after_promotion: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_resume_on_the_promoted_standby_and_none_acknowledged_is_lost() {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test runs a primary and a standby of its own");
        return;
    }
    let primary = Arc::new(ok(PgServer::start()));
    let standby = Arc::new(ok(primary.start_standby()));
    ok(primary.psql("create table acks (id bigint primary key)"));
    ok(primary.wait_for_standby(&standby));
    let (old_port, new_port) = (primary.port(), standby.port());

    let dsn = multi_host_dsn(
        &[&primary, &standby],
        "target_session_attrs=read-write application_name=tp_failover_writes",
    );
    let pool = ok(Pool::builder(&dsn)
        .min_size(4)
        .max_size(8)
        .timeout(Duration::from_secs(2))
        .build());
    ok(pool.wait().await);

    let stop = Arc::new(AtomicBool::new(false));
    let promoting = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(1));
    let tally = Arc::new(Tally::default());
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let (pool, stop, promoting) = (pool.clone(), stop.clone(), promoting.clone());
        let (next_id, tally) = (next_id.clone(), tally.clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let id = next_id.fetch_add(1, Ordering::SeqCst);
                let after = promoting.load(Ordering::SeqCst);
                let written = match pool.get().await {
                    Ok(conn) => conn
                        .execute("insert into acks values ($1)", &[&id])
                        .await
                        .map(drop),
                    Err(error) => Err(error),
                };
                match written {
                    Ok(()) => {
                        tally.acknowledged.lock().unwrap().push(id);
                        if after {
                            tally.after_promotion.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(_) => {
                        tally.failed.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    eventually("200 writes were acknowledged on the primary", async || {
        tally.acknowledged.lock().unwrap().len() >= 200
    })
    .await;
    let stopper = Arc::clone(&primary);
    blocking(move || stopper.stop()).await;
    let failed_before_promotion = tally.failed.load(Ordering::SeqCst);
    promoting.store(true, Ordering::SeqCst);
    let promoted_at = Instant::now();
    let promoted = Arc::clone(&standby);
    blocking(move || promoted.promote()).await;
    while tally.after_promotion.load(Ordering::SeqCst) == 0 {
        assert!(
            promoted_at.elapsed() < Duration::from_secs(20),
            "no write was acknowledged within 20 s of the promotion"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first_write = promoted_at.elapsed();
    eventually(
        "200 writes were acknowledged on the new primary",
        async || tally.after_promotion.load(Ordering::SeqCst) >= 200,
    )
    .await;
    eprintln!(
        "failover: first acknowledged write {:.0} ms after the promote command; {} writes \
         failed while the primary was down ({} before the promotion)",
        first_write.as_secs_f64() * 1000.0,
        tally.failed.load(Ordering::SeqCst),
        failed_before_promotion
    );

    // The old primary comes back as a standby of the new one, first in the
    // host list: the pool must not hand out a connection to it.
    let (rebuilt, source) = (Arc::clone(&primary), Arc::clone(&standby));
    blocking(move || rebuilt.rebuild_as_standby_of(&source)).await;
    assert!(ok(primary.is_in_recovery()));
    pool.drain();
    for _ in 0..20 {
        let conn = ok(pool.get().await);
        assert!(
            conn.server().ends_with(&format!(":{new_port}")),
            "a connection went to {} (the old primary was on {old_port})",
            conn.server()
        );
        let row = ok(conn.query_one("select inet_server_port()", &[]).await);
        assert_eq!(row.get::<_, i32>(0), i32::from(new_port));
    }
    eventually("the writers wrote 100 more", async || {
        tally.after_promotion.load(Ordering::SeqCst) >= 300
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("a writer panicked");
    }

    // Every acknowledged write is on the new primary.
    let stored: HashSet<i64> = ok(standby.psql("select id from acks"))
        .lines()
        .map(|line| line.parse().expect("an id"))
        .collect();
    let acknowledged = tally.acknowledged.lock().unwrap().clone();
    let missing: Vec<i64> = acknowledged
        .iter()
        .copied()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes are missing on the new primary: {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(20)]
    );
    // And the old primary, now a standby, replays them.
    ok(standby.wait_for_standby(&primary));
    let replayed: usize = ok(primary.psql("select count(*) from acks"))
        .parse()
        .unwrap();
    assert_eq!(replayed, stored.len());
}
