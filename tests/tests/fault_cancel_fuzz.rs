//! Cancellation fuzz: 10,000 checkouts by 32 tasks over 8 connections, each
//! doing a random piece of work (a query, a transaction that inserts, a raw
//! `BEGIN` through `batch_execute`, a short `pg_sleep`) and dropped at a
//! random point, by a short timeout or after a random number of polls.
//!
//! Afterwards every connection is checked at once: idle, outside any
//! transaction, seeing no row of a transaction that did not commit; the
//! server holds exactly the pool's sessions, all idle; and the pool's books
//! balance to the connection.
//!
//! The plan of each task comes from a seeded generator; the seed is
//! printed, and `TIDEPOOL_FUZZ_SEED=<seed>` replays the same plans (the
//! interleaving of the tasks still varies from run to run).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Monitor, Table, database, drop_after, eventually, ok, tagged_url};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{Error, Pool, PooledConnection};

const CHECKOUTS: u64 = 10_000;
const TASKS: u64 = 32;
const MAX_SIZE: usize = 8;
const MIN_SIZE: usize = 4;

/// xorshift64*: small, fast, and good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that close seeds give unrelated
        // streams and the state is never zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    match std::env::var("TIDEPOOL_FUZZ_SEED") {
        Ok(seed) => seed.parse().expect("TIDEPOOL_FUZZ_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// How a piece of work may be cut short.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Runs to its end.
    Never,
    /// Dropped when a timeout of this many milliseconds (0 to 3) expires.
    Timeout(u64),
    /// Dropped after being pending this many times.
    AfterPolls(u64),
}

impl Cut {
    fn random(rng: &mut Rng) -> Self {
        match rng.below(10) {
            0..=3 => Cut::Never,
            4..=6 => Cut::Timeout(rng.below(4)),
            _ => Cut::AfterPolls(rng.below(6)),
        }
    }

    /// Runs `work` and cuts it short as planned; `None` if it was dropped.
    async fn apply<T>(self, work: impl Future<Output = T>) -> Option<T> {
        match self {
            Cut::Never => Some(work.await),
            Cut::Timeout(ms) => tokio::time::timeout(Duration::from_millis(ms), work)
                .await
                .ok(),
            Cut::AfterPolls(pendings) => drop_after(work, pendings).await,
        }
    }
}

/// The work done with one checkout.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// `select $1::int`.
    Query,
    /// A transaction that inserts a row and commits, or (one time in four)
    /// walks away without committing.
    Transaction { commit: bool },
    /// `BEGIN; INSERT ...` through `batch_execute`, never committed.
    RawBegin,
    /// `select pg_sleep(0.00N)`.
    Sleep(u64),
}

impl Work {
    fn random(rng: &mut Rng) -> Self {
        match rng.below(4) {
            0 => Work::Query,
            1 => Work::Transaction {
                commit: rng.below(4) != 0,
            },
            2 => Work::RawBegin,
            _ => Work::Sleep(1 + rng.below(4)),
        }
    }
}

/// What became of the rows the work inserted, by value.
#[derive(Default)]
struct Ledger {
    /// Rows whose COMMIT returned Ok: they must be visible.
    committed: HashSet<String>,
    /// Rows whose COMMIT was sent and cut short: either way is fine.
    unsure: HashSet<String>,
}

#[derive(Default)]
struct Totals {
    checkouts_dropped: AtomicU64,
    work_dropped: AtomicU64,
    work_done: AtomicU64,
    /// Returns that the pool had to reset (rollback, cancel).
    resets: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

async fn run(
    conn: &mut PooledConnection,
    work: Work,
    id: u64,
    table: &str,
    ledger: &Mutex<Ledger>,
) -> Result<(), Error> {
    match work {
        Work::Query => {
            let value = (id % 1000) as i32;
            let row = conn.query_one("select $1::int", &[&value]).await?;
            assert_eq!(row.get::<_, i32>(0), value, "another session's answer");
        }
        Work::Transaction { commit } => {
            let value = format!("t{id}");
            let tx = conn.transaction().await?;
            tx.execute(&format!("insert into {table} values ($1)"), &[&value])
                .await?;
            if commit {
                ledger.lock().unwrap().unsure.insert(value.clone());
                tx.commit().await?;
                let mut ledger = ledger.lock().unwrap();
                ledger.unsure.remove(&value);
                ledger.committed.insert(value);
            }
        }
        Work::RawBegin => {
            conn.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES ('r{id}')"))
                .await?;
            conn.query_one("select 1", &[]).await?;
        }
        Work::Sleep(ms) => {
            conn.query_one(&format!("select pg_sleep(0.00{ms})"), &[])
                .await?;
        }
    }
    Ok(())
}

/// Whether the pool will reset the connection when it comes back: its
/// Debug output says so.
fn needs_reset(conn: &PooledConnection) -> bool {
    format!("{conn:?}").contains("needs_reset: true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cancelled_checkouts_leave_every_connection_clean() {
    let db = database();
    let (app, url) = tagged_url(&db, "fuzz");
    let table = Table::create(&db, "fuzz");
    let pool = ok(Pool::builder(&url)
        .min_size(MIN_SIZE)
        .max_size(MAX_SIZE)
        .timeout(Duration::from_secs(30))
        .build());
    ok(pool.wait().await);
    let seed = seed();
    eprintln!("fuzz seed: {seed} (replay with TIDEPOOL_FUZZ_SEED={seed})");

    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(Totals::default());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (pool, next, totals, ledger) = (
                pool.clone(),
                Arc::clone(&next),
                Arc::clone(&totals),
                Arc::clone(&ledger),
            );
            let table = table.name.clone();
            let mut rng = Rng::new(seed ^ task.wrapping_mul(0x9e37_79b9));
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, Relaxed);
                    if id >= CHECKOUTS {
                        return;
                    }
                    // One checkout in ten is itself cut short.
                    let checkout = if rng.below(10) == 0 {
                        Cut::AfterPolls(rng.below(3)).apply(pool.get()).await
                    } else {
                        Some(pool.get().await)
                    };
                    let Some(conn) = checkout else {
                        totals.checkouts_dropped.fetch_add(1, Relaxed);
                        continue;
                    };
                    let mut conn = ok(conn);
                    let work = Work::random(&mut rng);
                    let cut = Cut::random(&mut rng);
                    let outcome = cut.apply(run(&mut conn, work, id, &table, &ledger)).await;
                    match outcome {
                        None => totals.work_dropped.fetch_add(1, Relaxed),
                        Some(Ok(())) => totals.work_done.fetch_add(1, Relaxed),
                        Some(Err(error)) => {
                            let kind = match error.code() {
                                Some(code) => format!("{work:?}: {}", code.code()),
                                None => format!("{work:?}: {error}"),
                            };
                            *totals.errors.lock().unwrap().entry(kind).or_default() += 1;
                            0
                        }
                    };
                    if needs_reset(&conn) {
                        totals.resets.fetch_add(1, Relaxed);
                    }
                    drop(conn);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a fuzz task panicked");
    }
    let ran_for = started.elapsed();

    // Quiet: nobody waits, every reset is done.
    eventually("the pool is quiet, every connection idle", async || {
        let stats = pool.stats();
        stats.requests_waiting == 0 && stats.pool_available == stats.pool_size
    })
    .await;
    let monitor = Monitor::connect(db.url()).await;
    let stats = pool.stats();
    let (sessions, idle) = session_states(&monitor, &app).await;
    let errors = totals.errors.lock().unwrap().clone();
    eprintln!(
        "{CHECKOUTS} checkouts in {ran_for:.1?}: {} dropped while checking out, {} pieces of \
         work dropped, {} done, {} returns reset, errors {errors:?}",
        totals.checkouts_dropped.load(Relaxed),
        totals.work_dropped.load(Relaxed),
        totals.work_done.load(Relaxed),
        totals.resets.load(Relaxed),
    );
    eprintln!("stats: {stats:?}; server sessions: {sessions}, idle: {idle}");
    assert!(errors.is_empty(), "work failed: {errors:?}");
    assert_eq!(stats.requests_num, CHECKOUTS, "{stats:?}");
    assert!(totals.work_dropped.load(Relaxed) > 1000);
    assert!(totals.resets.load(Relaxed) > 1000);
    assert_eq!(sessions, stats.pool_size, "server sessions vs pool_size");
    assert_eq!(idle, sessions, "sessions not idle");
    assert_books_balance(&pool);

    // Every connection at once: idle, outside a transaction, and seeing
    // only committed rows.
    let held = hold_all(&pool).await;
    let ledger = Arc::try_unwrap(ledger)
        .ok()
        .expect("the tasks are done")
        .into_inner()
        .unwrap();
    for conn in &held {
        let error = conn
            .batch_execute("SAVEPOINT probe")
            .await
            .expect_err("a connection was handed out inside a transaction");
        assert_eq!(
            error.code(),
            Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION),
            "{error}"
        );
        let rows = ok(conn
            .query(&format!("select v from {}", table.name), &[])
            .await);
        let visible: HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
        assert_rows(&visible, &ledger);
    }
    let (sessions, idle) = session_states(&monitor, &app).await;
    assert_eq!((sessions, idle), (MAX_SIZE, MAX_SIZE));
    assert_eq!(pool.stats().pool_size, MAX_SIZE);
    // The committed rows as another session sees them.
    let visible: HashSet<String> = table.committed().into_iter().collect();
    assert_rows(&visible, &ledger);
    eprintln!(
        "rows: {} committed, {} of {} unsure commits visible",
        ledger.committed.len(),
        visible.len() - ledger.committed.len(),
        ledger.unsure.len()
    );
    drop(held);

    eventually("the pool is quiet again", async || {
        let stats = pool.stats();
        stats.pool_available == stats.pool_size
            && session_states(&monitor, &app).await == (stats.pool_size, stats.pool_size)
    })
    .await;
    assert_books_balance(&pool);
    eprintln!("final: {:?}", pool.stats());
}

/// Sessions of `app` on the server, and how many of them are idle.
async fn session_states(monitor: &Monitor, app: &str) -> (usize, usize) {
    let row = ok(monitor
        .client()
        .query_one(
            "select count(*), count(*) filter (where state = 'idle') \
             from pg_stat_activity where application_name = $1",
            &[&app],
        )
        .await);
    let count = |i| usize::try_from(row.get::<_, i64>(i)).unwrap();
    (count(0), count(1))
}

/// Every connection the pool opened is open now or was counted as closed.
#[track_caller]
fn assert_books_balance(pool: &Pool) {
    let s = pool.stats();
    assert_eq!(
        s.connections_num - s.connections_errors - s.connections_lost - s.returns_bad,
        s.pool_size as u64,
        "{s:?}"
    );
}

/// Committed rows are visible; rows of transactions that never committed
/// (walked away from, dropped before COMMIT, raw BEGIN) are not.
#[track_caller]
fn assert_rows(visible: &HashSet<String>, ledger: &Ledger) {
    let missing: Vec<_> = ledger.committed.difference(visible).collect();
    assert!(missing.is_empty(), "committed rows missing: {missing:?}");
    let stray: Vec<_> = visible
        .iter()
        .filter(|v| !ledger.committed.contains(*v) && !ledger.unsure.contains(*v))
        .collect();
    assert!(
        stray.is_empty(),
        "rows of uncommitted work visible: {stray:?}"
    );
}

/// Checks out `MAX_SIZE` connections at once.
async fn hold_all(pool: &Pool) -> Vec<PooledConnection> {
    let mut held = Vec::new();
    for _ in 0..MAX_SIZE {
        held.push(ok(pool.get_timeout(Duration::from_secs(10)).await));
    }
    held
}
