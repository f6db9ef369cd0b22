//! The per-connection statement cache against the server: a repeated
//! statement costs one round trip once prepared, the cache is bounded and
//! closes what it evicts, survives schema changes and `DISCARD ALL`, and
//! can be turned off (statements then run unnamed, in one round trip).

mod common;

use std::time::Duration;

use common::{database, eventually, ok, tagged_url, unique};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{Pool, PooledConnection};

async fn one_connection(url: &str, threshold: Option<u32>, max: usize) -> (Pool, PooledConnection) {
    let pool = ok(Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .prepare_threshold(threshold)
        .prepared_max(max)
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get().await);
    (pool, conn)
}

/// Named prepared statements of the connection's session, asked through a
/// second statement that the cache also sees.
async fn server_prepared(conn: &PooledConnection) -> i64 {
    ok(conn
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE from_sql = false",
            &[],
        )
        .await)
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_statement_is_prepared_after_the_threshold_and_then_costs_one_round_trip() {
    let db = database();
    let (_, url) = tagged_url(&db, "cache_threshold");
    let (_pool, conn) = one_connection(&url, Some(5), 100).await;
    for i in 0..20i32 {
        let row = ok(conn.query_one("SELECT $1::int + 1", &[&i]).await);
        assert_eq!(row.get::<_, i32>(0), i + 1);
    }
    let stats = conn.statement_cache_stats();
    // Five executions run unnamed (one round trip each, no prepare), the
    // sixth prepares and keeps the statement, the fourteen after it only
    // execute.
    assert_eq!(stats.prepares, 1, "{stats:?}");
    assert_eq!(stats.hits, 14, "{stats:?}");
    assert_eq!(stats.prepared, 1, "{stats:?}");
    // Round trips: 20 executions + 1 prepare = 21, where preparing every
    // time (tokio-postgres's query(&str)) costs 40.
    assert!(server_prepared(&conn).await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded_and_closes_what_it_evicts_on_the_server() {
    let db = database();
    let (_, url) = tagged_url(&db, "cache_evict");
    let (_pool, conn) = one_connection(&url, Some(0), 3).await;
    for i in 0..10 {
        ok(conn.query_one(&format!("SELECT {i}::int AS n"), &[]).await);
    }
    let stats = conn.statement_cache_stats();
    assert_eq!(stats.prepared, 3, "{stats:?}");
    assert_eq!(stats.evicted, 7, "{stats:?}");
    // The count query itself is kept too (and evicts one more); dropped
    // statements are closed by messages the server handles in order.
    eventually("the server closed the evicted statements", async || {
        server_prepared(&conn).await <= 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_change_invalidates_cached_plans_and_the_statement_is_retried() {
    let db = database();
    let (_, url) = tagged_url(&db, "cache_schema");
    let table = unique("cache_schema");
    let (_pool, mut conn) = one_connection(&url, Some(0), 100).await;
    ok(conn
        .batch_execute(&format!(
            "CREATE TABLE {table} (a int); INSERT INTO {table} VALUES (1)"
        ))
        .await);
    let select = format!("SELECT * FROM {table}");
    for _ in 0..3 {
        assert_eq!(ok(conn.query(&select, &[]).await)[0].len(), 1);
    }
    ok(conn
        .batch_execute(&format!("ALTER TABLE {table} ADD COLUMN b int DEFAULT 2"))
        .await);
    // "cached plan must not change result type": cleared and retried.
    let rows = ok(conn.query(&select, &[]).await);
    assert_eq!(rows[0].len(), 2);
    assert_eq!(rows[0].get::<_, i32>(1), 2);

    // Inside a transaction a retry is not safe: the error is the caller's.
    for _ in 0..2 {
        ok(conn.query(&select, &[]).await);
    }
    ok(conn
        .batch_execute(&format!("ALTER TABLE {table} ADD COLUMN c int"))
        .await);
    let tx = ok(conn.transaction().await);
    let error = tx
        .query(&select, &[])
        .await
        .expect_err("the stale plan ran inside a transaction");
    assert_eq!(
        error.code(),
        Some(&SqlState::FEATURE_NOT_SUPPORTED),
        "{error}"
    );
    drop(tx);
    // Outside it, the next execution works again.
    assert_eq!(ok(conn.query(&select, &[]).await)[0].len(), 3);
    ok(conn.batch_execute(&format!("DROP TABLE {table}")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_all_clears_the_cache_and_statements_keep_working() {
    let db = database();
    let (_, url) = tagged_url(&db, "cache_discard");
    let (_pool, conn) = one_connection(&url, Some(0), 100).await;
    ok(conn.query_one("SELECT 1", &[]).await);
    assert_eq!(conn.cached_statements(), 1);
    ok(conn.batch_execute("DISCARD ALL").await);
    assert_eq!(conn.cached_statements(), 0);
    // Had the cache kept its statements, this would fail with "prepared
    // statement does not exist".
    ok(conn.query_one("SELECT 1", &[]).await);

    // Through the pool's reset policy too.
    let (_, url) = tagged_url(&db, "cache_discard_reset");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .prepare_threshold(Some(0))
        .reset_sql("DISCARD ALL")
        .build());
    let conn = ok(pool.get().await);
    ok(conn.query_one("SELECT 2", &[]).await);
    drop(conn);
    let conn = ok(pool.get().await);
    assert_eq!(conn.cached_statements(), 0);
    ok(conn.query_one("SELECT 2", &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_off_statements_run_unnamed_with_inferred_parameter_types() {
    let db = database();
    let (_, url) = tagged_url(&db, "cache_off");
    let (_pool, conn) = one_connection(&url, None, 100).await;
    let none: Option<i32> = None;
    let bytes: Vec<u8> = vec![1, 2, 3];
    for _ in 0..5 {
        let row = ok(conn
            .query_one(
                "SELECT $1::int + 1, $2::bigint * 2, $3 || '!', $4::float8 / 2, NOT $5, $6::int IS NULL, length($7)",
                &[&41i32, &21i64, &"hi", &3.0f64, &false, &none, &bytes],
            )
            .await);
        assert_eq!(row.get::<_, i32>(0), 42);
        assert_eq!(row.get::<_, i64>(1), 42);
        assert_eq!(row.get::<_, String>(2), "hi!");
        assert_eq!(row.get::<_, f64>(3), 1.5);
        assert!(row.get::<_, bool>(4));
        assert!(row.get::<_, bool>(5));
        assert_eq!(row.get::<_, i32>(6), 3);
    }
    assert_eq!(
        ok(conn
            .execute("SELECT generate_series(1, $1::int)", &[&3i32])
            .await),
        3
    );
    let stats = conn.statement_cache_stats();
    assert_eq!(
        (stats.prepared, stats.prepares, stats.hits),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(server_prepared(&conn).await, 0);
}
