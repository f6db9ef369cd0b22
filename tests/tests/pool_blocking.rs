//! The blocking pool (`tidepool-sync`): shared by 32 threads without ever
//! exceeding `max_size`, and transactions that commit or roll back on a
//! panic. (Calls from threads of async runtimes: `blocking_anywhere.rs`.)

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{Table, database, ok, sessions_psql, tagged_url};
use tidepool_sync::Pool;

#[test]
fn thirty_two_threads_share_a_pool_of_eight() {
    const MAX_SIZE: usize = 8;
    const THREADS: usize = 32;
    const CHECKOUTS: usize = 20;

    let db = database();
    let (app, url) = tagged_url(&db, "sync32");
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(MAX_SIZE)
        .timeout(Duration::from_secs(30))
        .build());
    ok(pool.wait());

    // Samples the server-side count while the threads run.
    let running = Arc::new(AtomicBool::new(true));
    let monitor = {
        let (db, app, running) = (db.clone(), app.clone(), Arc::clone(&running));
        thread::spawn(move || {
            let mut max = 0;
            while running.load(Ordering::SeqCst) {
                max = max.max(sessions_psql(&db, &app));
            }
            max
        })
    };

    let max_pool_size = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            let max_pool_size = Arc::clone(&max_pool_size);
            thread::spawn(move || -> Result<usize, tidepool_sync::Error> {
                let mut done = 0;
                for i in 0..CHECKOUTS {
                    let conn = pool.get()?;
                    max_pool_size.fetch_max(pool.stats().pool_size, Ordering::SeqCst);
                    let n = (t * CHECKOUTS + i) as i32;
                    let row = conn.query_one("select $1::int4 * 2", &[&n])?;
                    assert_eq!(row.get::<_, i32>(0), n * 2);
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let done: usize = workers
        .into_iter()
        .map(|worker| ok(worker.join().expect("a worker thread panicked")))
        .sum();
    running.store(false, Ordering::SeqCst);
    let max_server = monitor.join().expect("the monitor panicked");

    assert_eq!(done, THREADS * CHECKOUTS);
    let max_pool_size = max_pool_size.load(Ordering::SeqCst);
    assert!(
        max_pool_size <= MAX_SIZE,
        "stats().pool_size reached {max_pool_size}"
    );
    assert!(
        max_server <= MAX_SIZE,
        "the server saw {max_server} sessions of a pool with max_size {MAX_SIZE}"
    );
    let stats = pool.stats();
    assert!(stats.pool_size <= MAX_SIZE, "{stats:?}");
    assert_eq!(
        stats.requests_num,
        (THREADS * CHECKOUTS) as u64,
        "{stats:?}"
    );
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
}

#[test]
fn a_blocking_transaction_commits_or_rolls_back() {
    let db = database();
    let (_, url) = tagged_url(&db, "synctx");
    let table = Table::create(&db, "synctx");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(2).build());
    let mut conn = ok(pool.get());

    let tx = ok(conn.transaction());
    ok(tx.execute(&table.insert_sql(), &[&"committed"]));
    ok(tx.commit());
    let tx = ok(conn.transaction());
    ok(tx.execute(&table.insert_sql(), &[&"rolled back"]));
    ok(tx.rollback());
    let mut tx = ok(conn
        .build_transaction()
        .isolation_level(tidepool_sync::IsolationLevel::Serializable)
        .start());
    let isolation: String = ok(tx.query_one("SHOW transaction_isolation", &[])).get(0);
    assert_eq!(isolation, "serializable");
    {
        let savepoint = ok(tx.transaction());
        ok(savepoint.execute(&table.insert_sql(), &[&"savepoint dropped"]));
    }
    ok(tx.execute(&table.insert_sql(), &[&"outer"]));
    ok(tx.commit());

    assert_eq!(table.committed(), ["committed", "outer"]);
}

#[test]
fn a_panic_inside_a_blocking_transaction_leaves_a_clean_connection() {
    let db = database();
    let (_, url) = tagged_url(&db, "syncpanic");
    let table = Table::create(&db, "syncpanic");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build());
    let pid: i32 = ok(ok(pool.get()).query_one("select pg_backend_pid()", &[])).get(0);

    // A transaction guard unwound by the panic, then raw SQL.
    let leave_guarded = || {
        let mut conn = pool.get().unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute(&table.insert_sql(), &[&"leaked"]).unwrap();
        panic!("a panic on purpose, inside a blocking transaction");
    };
    let leave_raw = || {
        let conn = pool.get().unwrap();
        conn.batch_execute("BEGIN").unwrap();
        conn.execute(&table.insert_sql(), &[&"leaked"]).unwrap();
        panic!("a panic on purpose, inside a raw blocking transaction");
    };
    let leave: [&dyn Fn(); 2] = [&leave_guarded, &leave_raw];
    for (round, leave) in leave.into_iter().enumerate() {
        assert!(catch_unwind(AssertUnwindSafe(leave)).is_err());

        let conn = ok(pool.get());
        let row = ok(conn.query_one(
            &format!(
                "select pg_backend_pid(), txid_current_if_assigned() is null, \
                 (select count(*) from {})",
                table.name
            ),
            &[],
        ));
        assert_eq!(row.get::<_, i32>(0), pid, "the session is reused");
        assert!(
            row.get::<_, bool>(1),
            "the next user is inside the panicked user's transaction"
        );
        assert_eq!(row.get::<_, i64>(2), round as i64, "only committed rows");
        ok(conn.execute(&table.insert_sql(), &[&format!("fresh {round}")]));
        drop(conn);
        let expected: Vec<String> = (0..=round).map(|r| format!("fresh {r}")).collect();
        assert_eq!(table.committed(), expected);
    }
    assert_eq!(pool.stats().returns_bad, 0);
}
