//! COPY in and out: a million rows in binary, raw CSV both ways, an aborted
//! copy, and the blocking mirror.

mod common;

use std::time::Instant;

use common::{database, ok, tagged_url, unique};
use tidepool_async::{Pool, Type};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_copy_in_and_out_in_binary() {
    let db = database();
    let (_, url) = tagged_url(&db, "copy_million");
    let table = unique("copy_million");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    ok(conn
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int8 NOT NULL, label text NOT NULL)"
        ))
        .await);

    const ROWS: i64 = 1_000_000;
    let started = Instant::now();
    let mut writer = ok(conn
        .copy_in_rows(
            &format!("COPY {table} (id, label) FROM STDIN (FORMAT binary)"),
            &[Type::INT8, Type::TEXT],
        )
        .await);
    let mut label = String::new();
    for id in 0..ROWS {
        label.clear();
        label.push_str(if id % 2 == 0 { "even" } else { "odd" });
        ok(writer.write_row(&[&id, &label]).await);
    }
    assert_eq!(ok(writer.finish().await), ROWS as u64);
    let copied_in = started.elapsed();

    let row = ok(conn
        .query_one(
            &format!(
                "SELECT count(*), sum(id)::int8, count(*) FILTER (WHERE label = 'odd') FROM {table}"
            ),
            &[],
        )
        .await);
    assert_eq!(row.get::<_, i64>(0), ROWS);
    assert_eq!(row.get::<_, i64>(1), ROWS * (ROWS - 1) / 2);
    assert_eq!(row.get::<_, i64>(2), ROWS / 2);

    // Out again, a row at a time: nothing is held but the current row.
    let started = Instant::now();
    let mut reader = ok(conn
        .copy_out_rows(
            &format!("COPY {table} (id, label) TO STDOUT (FORMAT binary)"),
            &[Type::INT8, Type::TEXT],
        )
        .await);
    let (mut count, mut sum) = (0i64, 0i64);
    while let Some(row) = ok(reader.next_row().await) {
        count += 1;
        sum += row.get::<i64>(0);
        let label: &str = row.get(1);
        assert!(label == "even" || label == "odd");
    }
    drop(reader);
    println!(
        "binary COPY of {ROWS} rows: in {copied_in:?}, out {:?}",
        started.elapsed()
    );
    assert_eq!((count, sum), (ROWS, ROWS * (ROWS - 1) / 2));
    ok(conn.batch_execute(&format!("DROP TABLE {table}")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_csv_copies_and_an_aborted_copy_leaves_nothing() {
    let db = database();
    let (_, url) = tagged_url(&db, "copy_csv");
    let table = unique("copy_csv");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    ok(conn
        .batch_execute(&format!("CREATE TABLE {table} (id int, name text)"))
        .await);

    let mut copy = ok(conn
        .copy_in(&format!("COPY {table} FROM STDIN (FORMAT csv)"))
        .await);
    ok(copy.write(b"1,one\n2,\"t,wo\"\n").await);
    ok(copy.write(b"3,three\n").await);
    assert_eq!(ok(copy.finish().await), 3);

    let mut out = ok(conn
        .copy_out(&format!(
            "COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT (FORMAT csv)"
        ))
        .await);
    let mut text = Vec::new();
    while let Some(chunk) = ok(out.next_chunk().await) {
        text.extend_from_slice(&chunk);
    }
    drop(out);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "1,one\n2,\"t,wo\"\n3,three\n"
    );

    // A copy dropped before finish is aborted: nothing of it stays, and the
    // connection comes back clean.
    let mut copy = ok(conn
        .copy_in(&format!("COPY {table} FROM STDIN (FORMAT csv)"))
        .await);
    ok(copy.write(b"4,four\n").await);
    drop(copy);
    drop(conn);
    let conn = ok(pool.get().await);
    let count: i64 = ok(conn
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await)
    .get(0);
    assert_eq!(count, 3);
    ok(conn.batch_execute(&format!("DROP TABLE {table}")).await);
}

#[test]
fn blocking_copies() {
    let db = database();
    let (_, url) = tagged_url(&db, "copy_sync");
    let table = unique("copy_sync");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .build());
    let conn = ok(pool.get());
    ok(conn.batch_execute(&format!("CREATE TABLE {table} (id int4)")));
    let mut writer = ok(conn.copy_in_rows(
        &format!("COPY {table} FROM STDIN (FORMAT binary)"),
        &[Type::INT4],
    ));
    for id in 0..1000i32 {
        ok(writer.write_row(&[&id]));
    }
    assert_eq!(ok(writer.finish()), 1000);
    let rows = ok(conn.copy_out_rows(
        &format!("COPY {table} TO STDOUT (FORMAT binary)"),
        &[Type::INT4],
    ));
    let sum: i64 = rows.map(|row| i64::from(ok(row).get::<i32>(0))).sum();
    assert_eq!(sum, 999 * 1000 / 2);
    ok(conn.batch_execute(&format!("DROP TABLE {table}")));
}
