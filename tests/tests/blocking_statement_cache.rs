//! The statement cache of the blocking pool's connections, seen from the
//! server (`pg_prepared_statements`), as the async pool's
//! (`statement_cache.rs`): a repeated statement is kept prepared after the
//! threshold and then executed by name, the cache is bounded and closes
//! what it evicts, survives schema changes ("cached plan must not change
//! result type") and `DISCARD ALL`, and can be turned off.

mod common;

use std::time::Duration;

use common::{database, ok, tagged_url, unique};
use tidepool_sync::tokio_postgres::error::SqlState;
use tidepool_sync::{Pool, PooledConnection};

fn one_connection(url: &str, threshold: Option<u32>, max: usize) -> (Pool, PooledConnection) {
    let pool = ok(Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .worker_threads(1)
        .prepare_threshold(threshold)
        .prepared_max(max)
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get());
    (pool, conn)
}

/// The statements the connection's session keeps prepared at the protocol
/// level (not by SQL `PREPARE`), sorted.
fn server_prepared(conn: &PooledConnection) -> Vec<String> {
    ok(conn.query(
        "SELECT statement FROM pg_prepared_statements WHERE from_sql = false ORDER BY statement",
        &[],
    ))
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// How many times the session executed its kept prepared statement for
/// `sql`, or `None` if it keeps none.
fn named_executions(conn: &PooledConnection, sql: &str) -> Option<i64> {
    ok(conn.query_opt(
        "SELECT generic_plans + custom_plans FROM pg_prepared_statements \
         WHERE from_sql = false AND statement = $1",
        &[&sql],
    ))
    .map(|row| row.get(0))
}

#[test]
fn a_repeated_statement_is_kept_prepared_after_the_threshold_and_executed_by_name() {
    const SQL: &str = "SELECT $1::int + 1";

    let db = database();
    let (_, url) = tagged_url(&db, "sync_cache_threshold");
    let (_pool, conn) = one_connection(&url, Some(5), 100);
    for i in 0..5i32 {
        assert_eq!(ok(conn.query_one(SQL, &[&i])).get::<_, i32>(0), i + 1);
    }
    assert_eq!(conn.cached_statements(), 0, "kept before the threshold");
    assert_eq!(named_executions(&conn, SQL), None);

    // The sixth execution prepares and keeps it; it and the fourteen after
    // it run the kept statement.
    for i in 5..20i32 {
        assert_eq!(ok(conn.query_one(SQL, &[&i])).get::<_, i32>(0), i + 1);
    }
    assert_eq!(conn.cached_statements(), 1);
    assert_eq!(named_executions(&conn, SQL), Some(15));
    let stats = conn.statement_cache_stats();
    assert_eq!(stats.prepared, 1, "{stats:?}");
    assert!(
        stats.hits >= 14,
        "the kept statement ran by name: {stats:?}"
    );
    assert_eq!(stats.evicted, 0, "{stats:?}");
}

#[test]
fn the_cache_is_bounded_and_closes_what_it_evicts_on_the_server() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_cache_evict");
    let (_pool, conn) = one_connection(&url, Some(0), 3);
    for i in 0..10 {
        ok(conn.query_one(&format!("SELECT {i}::int AS n"), &[]));
    }
    assert_eq!(conn.cached_statements(), 3);
    assert_eq!(conn.statement_cache_stats().evicted, 7);
    // The query that lists them is kept too, evicting the least recently
    // used; the server closed every evicted statement before it ran.
    let kept = server_prepared(&conn);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.contains(&"SELECT 8::int AS n".to_owned()), "{kept:?}");
    assert!(kept.contains(&"SELECT 9::int AS n".to_owned()), "{kept:?}");
    assert_eq!(conn.cached_statements(), 3);
}

#[test]
fn a_schema_change_invalidates_cached_plans_and_the_statement_is_retried() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_cache_schema");
    let table = unique("sync_cache_schema");
    let (_pool, mut conn) = one_connection(&url, Some(0), 100);
    ok(conn.batch_execute(&format!(
        "CREATE TABLE {table} (a int); INSERT INTO {table} VALUES (1)"
    )));
    let select = format!("SELECT * FROM {table}");
    for _ in 0..3 {
        assert_eq!(ok(conn.query(&select, &[]))[0].len(), 1);
    }
    assert_eq!(named_executions(&conn, &select), Some(3));
    ok(conn.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN b int DEFAULT 2")));
    // "cached plan must not change result type": cleared and retried.
    let rows = ok(conn.query(&select, &[]));
    assert_eq!(rows[0].len(), 2);
    assert_eq!(rows[0].get::<_, i32>(1), 2);

    // Inside a transaction a retry is not safe: the error is the caller's.
    for _ in 0..2 {
        ok(conn.query(&select, &[]));
    }
    ok(conn.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN c int")));
    let tx = ok(conn.transaction());
    let error = tx
        .query(&select, &[])
        .expect_err("the stale plan ran inside a transaction");
    assert_eq!(
        error.code(),
        Some(&SqlState::FEATURE_NOT_SUPPORTED),
        "{error}"
    );
    drop(tx);
    // Outside it, the next execution works again.
    assert_eq!(ok(conn.query(&select, &[]))[0].len(), 3);
    ok(conn.batch_execute(&format!("DROP TABLE {table}")));
}

#[test]
fn discard_all_clears_the_cache_and_statements_keep_working() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_cache_discard");
    let (_pool, conn) = one_connection(&url, Some(0), 100);
    ok(conn.query_one("SELECT 1", &[]));
    assert_eq!(conn.cached_statements(), 1);
    ok(conn.batch_execute("DISCARD ALL"));
    assert_eq!(conn.cached_statements(), 0);
    // Had the cache kept its statements, this would fail with "prepared
    // statement does not exist".
    ok(conn.query_one("SELECT 1", &[]));

    // Through the pool's reset policy too.
    let (_, url) = tagged_url(&db, "sync_cache_discard_reset");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .worker_threads(1)
        .prepare_threshold(Some(0))
        .reset_sql("DISCARD ALL")
        .build());
    let conn = ok(pool.get());
    ok(conn.query_one("SELECT 2", &[]));
    drop(conn);
    let conn = ok(pool.get());
    assert_eq!(conn.cached_statements(), 0);
    ok(conn.query_one("SELECT 2", &[]));
}

#[test]
fn with_the_cache_off_statements_run_unnamed_with_inferred_parameter_types() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_cache_off");
    let (_pool, conn) = one_connection(&url, None, 100);
    let none: Option<i32> = None;
    let bytes: Vec<u8> = vec![1, 2, 3];
    for _ in 0..5 {
        let row = ok(conn.query_one(
            "SELECT $1::int + 1, $2::bigint * 2, $3 || '!', $4::float8 / 2, NOT $5, $6::int IS NULL, length($7)",
            &[&41i32, &21i64, &"hi", &3.0f64, &false, &none, &bytes],
        ));
        assert_eq!(row.get::<_, i32>(0), 42);
        assert_eq!(row.get::<_, i64>(1), 42);
        assert_eq!(row.get::<_, String>(2), "hi!");
        assert_eq!(row.get::<_, f64>(3), 1.5);
        assert!(row.get::<_, bool>(4));
        assert!(row.get::<_, bool>(5));
        assert_eq!(row.get::<_, i32>(6), 3);
    }
    assert_eq!(
        ok(conn.execute("SELECT generate_series(1, $1::int)", &[&3i32])),
        3
    );
    assert_eq!(conn.cached_statements(), 0);
    assert_eq!(server_prepared(&conn), Vec::<String>::new());
}
