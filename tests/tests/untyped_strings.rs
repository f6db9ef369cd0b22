//! Parameters typed as psycopg and libpq type them: a string is sent with
//! no type, so that the server takes the type from the statement (a `uuid`,
//! `inet`, enum, `date` or `numeric` column compared with a `&str`), and
//! other values by their Rust type. The same statement behaves the same
//! before the statement cache prepares it and after, directly and through
//! PgBouncer; and an execution below the threshold is not prepared.

mod common;

use std::time::Duration;

use common::bouncer::bounced;
use common::{database, ok, tagged_url};
use tidepool_async::{Pool, PooledConnection};

/// Executions of each statement: the cache prepares it at the sixth.
const RUNS: usize = 10;
const THRESHOLD: u32 = 5;

const SCHEMA: &str = "
    DROP TABLE IF EXISTS typed; DROP TYPE IF EXISTS mood;
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TABLE typed (id int4, big int8, label text, ratio float8, flag bool,
        key uuid, addr inet, feeling mood, day date, amount numeric(10, 2));
    INSERT INTO typed VALUES (1, 10000000000, 'one', 0.5, true,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1', 'happy',
        '2024-02-29', 12.50);
";

/// Runs a case's statement with its parameter and returns the count.
type RunCase = for<'c> fn(&'c PooledConnection, &'static str) -> CaseFuture<'c>;
type CaseFuture<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<i64, tidepool_async::Error>> + Send + 'c>,
>;

/// One statement and the parameter it is run with.
struct Case {
    name: &'static str,
    sql: &'static str,
    run: RunCase,
}

macro_rules! case {
    ($name:expr, $sql:expr, $value:expr) => {
        Case {
            name: $name,
            sql: $sql,
            run: |conn, sql| {
                Box::pin(async move {
                    let value = $value;
                    Ok(conn.query_one(sql, &[&value]).await?.get::<_, i64>(0))
                })
            },
        }
    };
}

/// Strings compared with columns of other types: the server decides.
fn untyped_cases() -> Vec<Case> {
    vec![
        case!(
            "uuid = &str",
            "SELECT count(*) FROM typed WHERE key = $1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        ),
        case!(
            "uuid = String",
            "SELECT count(*) FROM typed WHERE key = $1 AND true",
            String::from("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        ),
        case!(
            "inet = &str",
            "SELECT count(*) FROM typed WHERE addr = $1",
            "192.168.0.1"
        ),
        case!(
            "inet = String",
            "SELECT count(*) FROM typed WHERE addr = $1 AND true",
            String::from("192.168.0.1")
        ),
        case!(
            "enum = &str",
            "SELECT count(*) FROM typed WHERE feeling = $1",
            "happy"
        ),
        case!(
            "enum = String",
            "SELECT count(*) FROM typed WHERE feeling = $1 AND true",
            String::from("happy")
        ),
        case!(
            "date = &str",
            "SELECT count(*) FROM typed WHERE day = $1",
            "2024-02-29"
        ),
        case!(
            "date = String",
            "SELECT count(*) FROM typed WHERE day = $1 AND true",
            String::from("2024-02-29")
        ),
        case!(
            "numeric = &str",
            "SELECT count(*) FROM typed WHERE amount = $1",
            "12.50"
        ),
        case!(
            "numeric = String",
            "SELECT count(*) FROM typed WHERE amount = $1 AND true",
            String::from("12.5")
        ),
    ]
}

/// What worked before: values typed by their Rust type, strings against
/// text, and casts.
fn typed_cases() -> Vec<Case> {
    vec![
        case!(
            "int4 = i32",
            "SELECT count(*) FROM typed WHERE id = $1",
            1i32
        ),
        case!(
            "int8 = i64",
            "SELECT count(*) FROM typed WHERE big = $1",
            10_000_000_000i64
        ),
        case!(
            "text = &str",
            "SELECT count(*) FROM typed WHERE label = $1",
            "one"
        ),
        case!(
            "float8 = f64",
            "SELECT count(*) FROM typed WHERE ratio = $1",
            0.5f64
        ),
        case!(
            "bool = bool",
            "SELECT count(*) FROM typed WHERE flag = $1",
            true
        ),
        case!(
            "uuid = Uuid",
            "SELECT count(*) FROM typed WHERE key = $1",
            uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap()
        ),
        case!(
            "$1::uuid with &str",
            "SELECT count(*) FROM typed WHERE key = $1::uuid",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        ),
        case!("length($1::text)", "SELECT length($1::text)::int8", "abc"),
        case!("SELECT $1 with &str", "SELECT length($1)::int8", "abcd"),
        case!("$1::int8 + 1 with i64", "SELECT $1::int8 + 1", 41i64),
    ]
}

/// The expected answer of each case.
fn expected(name: &str) -> i64 {
    match name {
        "length($1::text)" => 3,
        "SELECT $1 with &str" => 4,
        "$1::int8 + 1 with i64" => 42,
        _ => 1,
    }
}

/// Runs every case `RUNS` times on one connection; returns the names of
/// the cases that failed at least once, with the first error.
async fn failures(conn: &PooledConnection, cases: &[Case]) -> Vec<String> {
    let mut failed = Vec::new();
    for case in cases {
        for run in 0..RUNS {
            match (case.run)(conn, case.sql).await {
                Ok(n) if n == expected(case.name) => {}
                Ok(n) => {
                    failed.push(format!("{} (run {}): got {n}", case.name, run + 1));
                    break;
                }
                Err(error) => {
                    failed.push(format!("{} (run {}): {error}", case.name, run + 1));
                    break;
                }
            }
        }
    }
    failed
}

fn report(setting: &str, cases: &[Case], failed: &[String]) {
    println!(
        "{setting}: {} of {} cases pass",
        cases.len() - failed.len(),
        cases.len()
    );
    for failure in failed {
        println!("  failed: {failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_are_typed_by_the_server_before_and_after_the_threshold() {
    let db = database();
    let (_, url) = tagged_url(&db, "untyped");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .prepare_threshold(Some(THRESHOLD))
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get().await);
    let schema = SCHEMA
        .replace("typed", "typed_direct")
        .replace("mood", "mood_direct");
    ok(conn.batch_execute(&schema).await);
    let rename = |cases: Vec<Case>| -> Vec<Case> {
        cases
            .into_iter()
            .map(|case| Case {
                sql: Box::leak(case.sql.replace("typed", "typed_direct").into_boxed_str()),
                ..case
            })
            .collect()
    };
    let untyped = rename(untyped_cases());
    let typed = rename(typed_cases());
    let untyped_failed = failures(&conn, &untyped).await;
    let typed_failed = failures(&conn, &typed).await;
    report("direct, untyped strings", &untyped, &untyped_failed);
    report("direct, typed values", &typed, &typed_failed);
    // Every statement text reached the threshold and is kept prepared, once
    // (`key = $1` runs with a string and with a `Uuid`: the types of its
    // first execution past the threshold are kept; with the other types it
    // runs unnamed, as it did before).
    let texts: std::collections::BTreeSet<&str> =
        untyped.iter().chain(&typed).map(|case| case.sql).collect();
    let stats = conn.statement_cache_stats();
    assert_eq!(stats.prepared, texts.len(), "{stats:?}");
    assert!(untyped_failed.is_empty(), "{untyped_failed:#?}");
    assert!(typed_failed.is_empty(), "{typed_failed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_are_typed_by_the_server_through_pgbouncer() {
    let bounced = bounced(2);
    let pool = ok(Pool::builder(&bounced.url())
        .pgbouncer(true)
        .min_size(2)
        .max_size(2)
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get().await);
    ok(conn.batch_execute(SCHEMA).await);
    let untyped = untyped_cases();
    let typed = typed_cases();
    let untyped_failed = failures(&conn, &untyped).await;
    let typed_failed = failures(&conn, &typed).await;
    report("pgbouncer, untyped strings", &untyped, &untyped_failed);
    report("pgbouncer, typed values", &typed, &typed_failed);
    assert!(untyped_failed.is_empty(), "{untyped_failed:#?}");
    assert!(typed_failed.is_empty(), "{typed_failed:#?}");
    drop(conn);
    drop(pool);
    bounced.assert_clean().await;
}

/// Whether the statement running it is a named prepared statement of the
/// session: it looks itself up in `pg_prepared_statements`.
const SEES_ITSELF: &str = "SELECT count(*) FROM pg_prepared_statements \
     WHERE statement LIKE '%sees-itself%' AND $1::int4 = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_below_the_threshold_run_unnamed_in_one_round_trip() {
    let db = database();
    let (_, url) = tagged_url(&db, "unnamed_first");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .prepare_threshold(Some(THRESHOLD))
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get().await);
    for run in 1..=THRESHOLD as usize + 3 {
        let named: i64 = ok(conn.query_one(SEES_ITSELF, &[&1i32]).await).get(0);
        let stats = conn.statement_cache_stats();
        if run <= THRESHOLD as usize {
            // Parse, Bind, Describe, Execute and Sync of the unnamed
            // statement, sent together: nothing was prepared by name, and
            // the cache sent no prepare (a round trip of its own).
            assert_eq!(named, 0, "execution {run} ran a named statement");
            assert_eq!(stats.prepares, 0, "execution {run}: {stats:?}");
        } else {
            // From the sixth on, the statement is kept prepared.
            assert_eq!(named, 1, "execution {run} did not run the kept statement");
            assert_eq!(stats.prepares, 1, "execution {run}: {stats:?}");
        }
    }
}
