//! A pool that cannot connect from the start: an unreachable server and a
//! wrong password. Errors name the host and port and the reason, connects
//! are retried with backoff (0.25 s, 0.5 s, 1 s, ... at most 10 s) however many
//! requests wait, so a few seconds see only a handful of attempts, never a
//! storm. An unreachable server is worth waiting for: checkouts and
//! `wait()` time out, naming `min_size` and the cause. A wrong password is
//! not: checkouts and `wait()` fail with it as soon as an attempt fails,
//! while the pool keeps retrying with the same backoff.

mod common;

use std::time::{Duration, Instant};

use common::{assert_contains, database, ok, unique};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{Error, Pool};

/// How long connect attempts are counted.
const WINDOW: Duration = Duration::from_secs(6);
/// At most this many attempts in [`WINDOW`]: the first round (min_size
/// connects at once), then one probe each after about 0.25 s, 0.75 s,
/// 1.75 s and 3.75 s; the next is due after about 7.75 s.
const MOST_ATTEMPTS: u64 = 6;
/// Requests that keep asking for a connection meanwhile.
const DEMAND: usize = 8;

/// Lets `DEMAND` tasks ask for connections in a loop for [`WINDOW`] while
/// watching the pool's connect attempts; returns when each attempt was
/// counted and the first checkout error.
async fn watch_attempts(pool: &Pool) -> (Vec<Duration>, Error) {
    let started = Instant::now();
    let askers: Vec<_> = (0..DEMAND)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut first_error = None;
                while started.elapsed() < WINDOW {
                    match pool.get_timeout(Duration::from_millis(500)).await {
                        Ok(_) => panic!("a checkout succeeded"),
                        Err(error) => {
                            first_error.get_or_insert(error);
                        }
                    }
                }
                first_error.expect("no checkout ended")
            })
        })
        .collect();
    let mut attempts = Vec::new();
    while started.elapsed() < WINDOW {
        let counted = pool.stats().connections_num as usize;
        while attempts.len() < counted {
            attempts.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut errors = Vec::new();
    for asker in askers {
        errors.push(asker.await.expect("a checkout task panicked"));
    }
    (attempts, errors.swap_remove(0))
}

/// Asserts a handful of attempts, all failed, and reports them.
fn assert_backoff(pool: &Pool, attempts: &[Duration], what: &str) {
    let stats = pool.stats();
    eprintln!(
        "{what}: {} connect attempts in {WINDOW:?}, counted at {attempts:.2?}; {stats:?}",
        attempts.len()
    );
    assert!(
        (3..=MOST_ATTEMPTS).contains(&stats.connections_num),
        "{} connect attempts in {WINDOW:?}: expected a handful with backoff: {stats:?}",
        stats.connections_num
    );
    assert_eq!(stats.connections_errors, stats.connections_num, "{stats:?}");
    assert_eq!(stats.pool_size, 0, "{stats:?}");
    // After the first retry, each comes at least about half a second after
    // the one before (0.5 s +-10%, then 1 s, 2 s...).
    let retries: Vec<_> = attempts.iter().skip(2).collect();
    for pair in retries.windows(2) {
        assert!(
            *pair[1] - *pair[0] >= Duration::from_millis(400),
            "retries too close together: {attempts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_gets_a_handful_of_attempts_and_clear_errors() {
    let (_refusing, port) = common::refusing_port();
    let pool = ok(
        Pool::builder(&format!("postgresql://postgres@127.0.0.1:{port}/postgres"))
            .name("unreachable")
            .min_size(2)
            .max_size(4)
            .timeout(Duration::from_secs(1))
            .build(),
    );
    let (attempts, error) = watch_attempts(&pool).await;
    eprintln!("checkout: {error}");
    assert!(error.is_timeout(), "{error:?}");
    let target = format!("127.0.0.1:{port}");
    assert_contains(
        &error.to_string(),
        &[
            "pool \"unreachable\"",
            &format!("could not connect to {target}"),
            "Connection refused",
        ],
    );
    assert_backoff(&pool, &attempts, "unreachable server");

    let error = pool.wait().await.expect_err("nothing listens");
    eprintln!("wait: {error}");
    assert!(error.is_timeout(), "{error:?}");
    assert_contains(
        &error.to_string(),
        &[
            "only 0 of min_size 2 connections were open after 1",
            &format!("could not connect to {target}"),
            "Connection refused",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_a_handful_of_attempts_and_clear_errors() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: DATABASE_URL is set and this test reads the private server's log");
        return;
    };
    let role = unique("wrong_password");
    common::psql(&db, &format!("create role {role} login password 'right'"));
    let pool = ok(
        Pool::builder(&server.url_for(&role, Some("wrong"), "postgres"))
            .name("wrong_password")
            .min_size(2)
            .max_size(4)
            .timeout(Duration::from_secs(1))
            .build(),
    );
    let (attempts, error) = watch_attempts(&pool).await;
    eprintln!("checkout: {error}");
    assert!(error.is_connect(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(error.code(), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
    let target = format!("127.0.0.1:{}", server.port());
    assert_contains(
        &error.to_string(),
        &[
            &format!("could not connect to {target}"),
            &format!("password authentication failed for user \"{role}\""),
        ],
    );
    assert_backoff(&pool, &attempts, "wrong password");
    // The server saw exactly the attempts the pool counted.
    let rejected = server
        .log_tail(usize::MAX)
        .matches(&format!(
            "password authentication failed for user \"{role}\""
        ))
        .count();
    assert_eq!(rejected as u64, pool.stats().connections_num);

    let started = Instant::now();
    let error = pool.wait().await.expect_err("the password is wrong");
    eprintln!("wait: {error}");
    assert!(error.is_connect(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "wait() must fail at once after a refused password, took {:?}",
        started.elapsed()
    );
    assert_eq!(error.code(), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
    assert_contains(
        &error.to_string(),
        &[
            "no connection could be opened",
            &format!("could not connect to {target}"),
            "password authentication failed",
        ],
    );
    pool.close();
    common::psql(&db, &format!("drop role {role}"));
}
