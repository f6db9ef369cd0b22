//! A pool with `pgbouncer(true)` behind a real PgBouncer in transaction
//! mode, with several pooled connections per server connection: plain
//! statements, transactions, pipelines, COPY, cursors, row factories and
//! the blocking pool, without one lost prepared statement (SQLSTATE 26000
//! or 42P05), and every server connection left clean.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::bouncer::{Bounced, bounced};
use common::ok;
use futures_util::future::join_all;
use tidepool_async::{DictRow, Error, Pool, PooledConnection, Type, Value, class_row, scalar_row};

/// Server connections behind PgBouncer.
const SERVERS: u32 = 2;
/// Pooled connections: four per server connection.
const POOL: usize = 8;
/// Tasks sharing the pool.
const TASKS: usize = 16;

fn pool(bounced: &Bounced) -> Pool {
    ok(Pool::builder(&bounced.url())
        .pgbouncer(true)
        .min_size(POOL)
        .max_size(POOL)
        .build())
}

/// Fails on any error, and says so plainly when it is a lost prepared
/// statement.
fn no_error<T>(result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            let code = error.code().map(|c| c.code().to_owned());
            panic!("unexpected error (SQLSTATE {code:?}): {error}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_statements_with_many_parameter_kinds_hop_between_server_connections() {
    let bounced = bounced(SERVERS);
    let pool = pool(&bounced);
    ok(pool.wait().await);
    let conn = ok(pool.get().await);
    no_error(
        conn.batch_execute(
            "CREATE TABLE kinds (id int4, big int8, label text, ratio float8, flag bool, \
             data bytea, at timestamptz, key uuid, doc jsonb)",
        )
        .await,
    );
    drop(conn);

    let pids = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let tasks = (0..TASKS).map(|task| {
        let pool = pool.clone();
        let pids = Arc::clone(&pids);
        tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            for i in 0..40i32 {
                let conn = no_error(pool.get().await);
                let id = task as i32 * 1000 + i;
                let big = i64::from(id) << 33;
                let label = format!("row {id}");
                let ratio = f64::from(id) / 7.0;
                let data = id.to_be_bytes().to_vec();
                let at =
                    chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(id), 0).unwrap();
                let key = uuid::Uuid::from_u128(id as u128);
                let doc = serde_json::json!({ "id": id });
                let none: Option<i32> = None;
                assert_eq!(
                    no_error(
                        conn.execute(
                            "INSERT INTO kinds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            &[
                                &id,
                                &big,
                                &label,
                                &ratio,
                                &(id % 2 == 0),
                                &data,
                                &at,
                                &key,
                                &doc
                            ],
                        )
                        .await
                    ),
                    1
                );
                let row = no_error(
                    conn.query_one(
                        "SELECT big, label, ratio, data, at, key, doc, $2::int4 IS NULL, \
                         pg_backend_pid() FROM kinds WHERE id = $1",
                        &[&id, &none],
                    )
                    .await,
                );
                assert_eq!(row.get::<_, i64>(0), big);
                assert_eq!(row.get::<_, String>(1), label);
                assert_eq!(row.get::<_, f64>(2), ratio);
                assert_eq!(row.get::<_, Vec<u8>>(3), data);
                assert_eq!(row.get::<_, chrono::DateTime<chrono::Utc>>(4), at);
                assert_eq!(row.get::<_, uuid::Uuid>(5), key);
                assert_eq!(row.get::<_, serde_json::Value>(6), doc);
                assert!(row.get::<_, bool>(7));
                seen.insert((conn.id(), row.get::<_, i32>(8)));
            }
            pids.lock().unwrap().extend(seen);
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    let pids = pids.lock().unwrap().clone();
    let server_pids: BTreeSet<i32> = pids.iter().map(|(_, pid)| *pid).collect();
    assert!(
        server_pids.len() <= SERVERS as usize,
        "PgBouncer used more server connections than it has: {server_pids:?}"
    );
    // One pooled connection's statements ran on several server
    // connections: PgBouncer really moved it between them.
    let per_connection = pids.iter().fold(
        std::collections::BTreeMap::<u64, BTreeSet<i32>>::new(),
        |mut map, (conn, pid)| {
            map.entry(*conn).or_default().insert(*pid);
            map
        },
    );
    assert!(
        per_connection.values().any(|pids| pids.len() > 1),
        "no pooled connection changed server connection: {per_connection:?}"
    );
    let count: i64 = ok(ok(pool.get().await)
        .query_one("SELECT count(*) FROM kinds", &[])
        .await)
    .get(0);
    assert_eq!(count, TASKS as i64 * 40);
    bounced.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_savepoints_and_closures_keep_their_statements_together() {
    let bounced = bounced(SERVERS);
    let pool = pool(&bounced);
    no_error(
        ok(pool.get().await)
            .batch_execute("CREATE TABLE ledger (task int4, step int4, note text)")
            .await,
    );
    let tasks = (0..TASKS as i32).map(|task| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for step in 0..10i32 {
                let mut conn = no_error(pool.get().await);
                let mut tx = no_error(conn.transaction().await);
                let pid: i32 = no_error(tx.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
                no_error(
                    tx.execute(
                        "INSERT INTO ledger VALUES ($1, $2, 'kept')",
                        &[&task, &step],
                    )
                    .await,
                );
                {
                    // A savepoint rolled back: its row is gone, the rest stays.
                    let inner = no_error(tx.transaction().await);
                    no_error(
                        inner
                            .execute(
                                "INSERT INTO ledger VALUES ($1, $2, 'undone')",
                                &[&task, &step],
                            )
                            .await,
                    );
                    no_error(inner.rollback().await);
                }
                let same: i32 = no_error(tx.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
                assert_eq!(pid, same, "a transaction stays on one server connection");
                no_error(tx.commit().await);

                let outcome: Result<(), Error> = conn
                    .in_transaction(|tx| {
                        Box::pin(async move {
                            tx.execute(
                                "INSERT INTO ledger VALUES ($1, $2, 'closure')",
                                &[&task, &step],
                            )
                            .await?;
                            if step % 2 == 0 {
                                // An error rolls the closure's work back.
                                tx.execute("SELECT 1 / 0", &[]).await?;
                            }
                            Ok(())
                        })
                    })
                    .await;
                match outcome {
                    Ok(()) => assert!(step % 2 == 1),
                    Err(error) => {
                        assert!(step % 2 == 0, "{error}");
                        assert_eq!(error.code().map(|c| c.code()), Some("22012"), "{error}");
                    }
                }
            }
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    let conn = ok(pool.get().await);
    let counts = no_error(
        conn.query(
            "SELECT note, count(*) FROM ledger GROUP BY note ORDER BY note",
            &[],
        )
        .await,
    );
    let counts: Vec<(String, i64)> = counts.iter().map(|r| (r.get(0), r.get(1))).collect();
    let all = TASKS as i64 * 10;
    assert_eq!(
        counts,
        [("closure".to_owned(), all / 2), ("kept".to_owned(), all)]
    );
    drop(conn);
    bounced.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_run_through_pgbouncer() {
    let bounced = bounced(SERVERS);
    let pool = pool(&bounced);
    no_error(
        ok(pool.get().await)
            .batch_execute("CREATE TABLE piped (n int4)")
            .await,
    );
    let tasks = (0..TASKS as i32).map(|task| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for round in 0..10i32 {
                let mut conn = no_error(pool.get().await);
                let n = task * 100 + round + 1;
                let results = conn
                    .pipeline()
                    .execute("INSERT INTO piped VALUES ($1)", &[&n])
                    .query("SELECT $1::int4 + 1", &[&n])
                    .query("SELECT count(*) FROM piped WHERE n = $1", &[&n])
                    .run()
                    .await;
                let results: Vec<_> = results.into_iter().map(no_error).collect();
                assert_eq!(results[0].count(), Some(1));
                assert_eq!(results[1].rows().unwrap()[0].get::<_, i32>(0), n + 1);
                assert_eq!(results[2].rows().unwrap()[0].get::<_, i64>(0), 1);

                // And inside a transaction.
                let tx = no_error(conn.transaction().await);
                let results = tx
                    .pipeline()
                    .execute("INSERT INTO piped VALUES ($1)", &[&-n])
                    .query("SELECT count(*) FROM piped WHERE n = $1", &[&-n])
                    .run()
                    .await;
                let results: Vec<_> = results.into_iter().map(no_error).collect();
                assert_eq!(results[1].rows().unwrap()[0].get::<_, i64>(0), 1);
                no_error(tx.commit().await);
            }
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    let count: i64 = ok(ok(pool.get().await)
        .query_one("SELECT count(*) FROM piped", &[])
        .await)
    .get(0);
    assert_eq!(count, TASKS as i64 * 20);
    bounced.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_out_run_through_pgbouncer() {
    let bounced = bounced(SERVERS);
    let pool = pool(&bounced);
    no_error(
        ok(pool.get().await)
            .batch_execute("CREATE TABLE copied (task int4, n int8, label text)")
            .await,
    );
    let tasks = (0..TASKS as i32).map(|task| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for round in 0..5i64 {
                let mut conn = no_error(pool.get().await);
                // Binary rows, outside a transaction.
                let mut writer = no_error(
                    conn.copy_in_rows(
                        "COPY copied (task, n, label) FROM STDIN (FORMAT binary)",
                        &[Type::INT4, Type::INT8, Type::TEXT],
                    )
                    .await,
                );
                for n in 0..20i64 {
                    no_error(writer.write_row(&[&task, &(round * 100 + n), &"bin"]).await);
                }
                assert_eq!(no_error(writer.finish().await), 20);
                // Raw CSV, inside a transaction.
                let tx = no_error(conn.transaction().await);
                let mut sink = no_error(tx.copy_in("COPY copied FROM STDIN (FORMAT csv)").await);
                no_error(sink.write(format!("{task},{round},csv\n").as_bytes()).await);
                assert_eq!(no_error(sink.finish().await), 1);
                no_error(tx.commit().await);
                drop(conn);

                // Out again, as rows and as text.
                let conn = no_error(pool.get().await);
                let mut reader = no_error(
                    conn.copy_out_rows(
                        &format!(
                            "COPY (SELECT n FROM copied WHERE task = {task} AND label = 'bin' \
                             ORDER BY n) TO STDOUT (FORMAT binary)"
                        ),
                        &[Type::INT8],
                    )
                    .await,
                );
                let mut rows = 0;
                while let Some(row) = no_error(reader.next_row().await) {
                    let _: i64 = row.get(0);
                    rows += 1;
                }
                assert_eq!(rows, (round + 1) * 20);
                let mut out = no_error(
                    conn.copy_out(&format!(
                        "COPY (SELECT count(*) FROM copied WHERE task = {task} AND label = 'csv') \
                         TO STDOUT"
                    ))
                    .await,
                );
                let mut text = Vec::new();
                while let Some(chunk) = no_error(out.next_chunk().await) {
                    text.extend_from_slice(&chunk);
                }
                assert_eq!(String::from_utf8(text).unwrap(), format!("{}\n", round + 1));
            }
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    bounced.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_and_row_factories_run_through_pgbouncer() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Item {
        id: i32,
        name: String,
    }
    let bounced = bounced(SERVERS);
    let pool = pool(&bounced);
    no_error(
        ok(pool.get().await)
            .batch_execute(
                "CREATE TABLE items AS SELECT g AS id, 'item ' || g AS name \
                 FROM generate_series(1, 500) g",
            )
            .await,
    );
    let tasks = (0..TASKS as i32).map(|task| {
        let pool = pool.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                let mut conn = no_error(pool.get().await);
                let tx = no_error(conn.transaction().await);
                let floor = task;
                let mut cursor = no_error(
                    tx.cursor("SELECT id FROM items WHERE id > $1 ORDER BY id", &[&floor])
                        .await,
                );
                let mut total = 0usize;
                loop {
                    let chunk = no_error(cursor.fetch(64).await);
                    if chunk.is_empty() {
                        break;
                    }
                    assert_eq!(chunk[0].get::<_, i32>(0), floor + 1 + total as i32);
                    total += chunk.len();
                }
                assert!(cursor.is_exhausted());
                assert_eq!(total, 500 - task as usize);
                drop(cursor);
                no_error(tx.commit().await);

                let items: Vec<Item> = no_error(
                    conn.query_with(
                        &class_row::<Item>(),
                        "SELECT id, name FROM items WHERE id = $1",
                        &[&(task + 1)],
                    )
                    .await,
                );
                assert_eq!(
                    items,
                    [Item {
                        id: task + 1,
                        name: format!("item {}", task + 1)
                    }]
                );
                let count: i64 = no_error(
                    conn.query_one_with(&scalar_row(), "SELECT count(*) FROM items", &[])
                        .await,
                );
                assert_eq!(count, 500);
                let conn = PooledConnection::with_row_factory(conn, DictRow);
                let rows = no_error(
                    conn.query("SELECT name FROM items WHERE id = $1", &[&1i32])
                        .await,
                );
                assert_eq!(rows[0].get("name"), Some(&Value::Text("item 1".to_owned())));
            }
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    bounced.assert_clean().await;
}

#[test]
fn the_blocking_pool_runs_through_pgbouncer() {
    let bounced = bounced(SERVERS);
    let pool = ok(tidepool_sync::Pool::builder(&bounced.url())
        .pgbouncer(true)
        .max_size(POOL)
        .build());
    ok(ok(pool.get()).batch_execute("CREATE TABLE counted (n int4)"));
    let threads: Vec<_> = (0..TASKS as i32)
        .map(|thread| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for n in 0..20i32 {
                    let mut conn = pool.get().unwrap();
                    let value = thread * 100 + n;
                    let doubled: i32 = conn
                        .query_one("SELECT $1::int4 * 2", &[&value])
                        .unwrap()
                        .get(0);
                    assert_eq!(doubled, value * 2);
                    let tx = conn.transaction().unwrap();
                    tx.execute("INSERT INTO counted VALUES ($1)", &[&value])
                        .unwrap();
                    tx.commit().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let count: i64 = ok(ok(pool.get()).query_one("SELECT count(*) FROM counted", &[])).get(0);
    assert_eq!(count, TASKS as i64 * 20);
    drop(pool);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bounced.assert_clean());
}
