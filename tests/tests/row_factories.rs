//! Row factories: every value type through the dynamic ones (dict and JSON),
//! serde classes with their errors, scalars and closures; the pool's
//! default, a connection's switch and a query's override, with their
//! static types; and the blocking mirror.

mod common;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use common::{assert_contains, database, ok, tagged_url, unique};
use serde::Deserialize;
use tidepool_async::{
    ClassRow, Dict, DictRow, JsonRow, Pool, PooledConnection, Row, TupleRow, Value, class_row,
    scalar_row,
};
use uuid::Uuid;

/// One row with a column of each type the dynamic factories must cover.
const EVERY_TYPE: &str = "SELECT \
    NULL::int4 AS null_int, true AS bool, 7::int2 AS int2, -8::int4 AS int4, \
    9000000000::int8 AS int8, 26::oid AS oid, 1.5::float4 AS float4, -2.25::float8 AS float8, \
    '-12345678901234567890.000123'::numeric AS numeric, 'NaN'::numeric AS numeric_nan, \
    'text'::text AS text, 'var'::varchar(10) AS varchar, 'ab'::char(4) AS bpchar, \
    'nm'::name AS name, '\\x00ff10'::bytea AS bytea, \
    '2024-02-29 13:14:15.123456'::timestamp AS timestamp, \
    '2024-02-29 13:14:15.5+02'::timestamptz AS timestamptz, '2024-02-29'::date AS date, \
    '23:59:58.25'::time AS time, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uuid, \
    '{\"a\": [1, null, \"x\"]}'::json AS json, '{\"b\": {\"c\": true}}'::jsonb AS jsonb, \
    ARRAY[1, NULL, 3]::int4[] AS int_array, ARRAY['x', NULL]::text[] AS text_array, \
    ARRAY[[1, 2], [3, 4]]::int8[] AS matrix, '{}'::int4[] AS empty_array, \
    '1 day'::interval AS interval";

fn timestamp() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 2, 29)
        .and_then(|d| d.and_hms_micro_opt(13, 14, 15, 123_456))
        .expect("a valid timestamp")
}

fn timestamptz() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2024, 2, 29)
        .and_then(|d| d.and_hms_milli_opt(11, 14, 15, 500))
        .expect("a valid timestamp")
        .and_utc()
}

fn ints(values: &[Option<i64>]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Int))
            .collect(),
    )
}

#[tokio::test]
async fn dict_rows_decode_every_listed_type_in_column_order() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_dict");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let row: Dict = ok(conn.query_one_with(&DictRow, EVERY_TYPE, &[]).await);

    let expected: Vec<(&str, Value)> = vec![
        ("null_int", Value::Null),
        ("bool", Value::Bool(true)),
        ("int2", Value::Int(7)),
        ("int4", Value::Int(-8)),
        ("int8", Value::Int(9_000_000_000)),
        ("oid", Value::Int(26)),
        ("float4", Value::Float(1.5)),
        ("float8", Value::Float(-2.25)),
        (
            "numeric",
            Value::Numeric("-12345678901234567890.000123".into()),
        ),
        ("numeric_nan", Value::Numeric("NaN".into())),
        ("text", Value::Text("text".into())),
        ("varchar", Value::Text("var".into())),
        ("bpchar", Value::Text("ab  ".into())),
        ("name", Value::Text("nm".into())),
        ("bytea", Value::Bytes(vec![0x00, 0xff, 0x10])),
        ("timestamp", Value::Timestamp(timestamp())),
        ("timestamptz", Value::TimestampTz(timestamptz())),
        (
            "date",
            Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).expect("a date")),
        ),
        (
            "time",
            Value::Time(NaiveTime::from_hms_milli_opt(23, 59, 58, 250).expect("a time")),
        ),
        (
            "uuid",
            Value::Uuid(ok(Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))),
        ),
        (
            "json",
            Value::Json(serde_json::json!({"a": [1, null, "x"]})),
        ),
        ("jsonb", Value::Json(serde_json::json!({"b": {"c": true}}))),
        ("int_array", ints(&[Some(1), None, Some(3)])),
        (
            "text_array",
            Value::Array(vec![Value::Text("x".into()), Value::Null]),
        ),
        (
            "matrix",
            Value::Array(vec![ints(&[Some(1), Some(2)]), ints(&[Some(3), Some(4)])]),
        ),
        ("empty_array", Value::Array(vec![])),
    ];
    let names: Vec<&str> = row.keys().collect();
    let expected_names: Vec<&str> = expected
        .iter()
        .map(|(name, _)| *name)
        .chain(["interval"])
        .collect();
    assert_eq!(names, expected_names, "columns in query order");
    for (name, value) in &expected {
        assert_eq!(row.get(name), Some(value), "column {name}");
    }
    // Without a variant of its own, an interval keeps its binary form:
    // 1 day is 0 microseconds, 1 day, 0 months.
    match row.get("interval") {
        Some(Value::Other { type_name, bytes }) => {
            assert_eq!(type_name, "interval");
            assert_eq!(bytes, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        }
        other => panic!("interval came as {other:?}"),
    }
    assert_eq!(row.get_index(1), Some(&Value::Bool(true)));
    assert!(row.get("no_such_column").is_none());
}

#[tokio::test]
async fn numeric_text_matches_the_servers_for_many_values() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_numeric");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let literals = [
        "0",
        "0.00",
        "1",
        "-1",
        "10000",
        "9999.9999",
        "0.0001",
        "0.00001",
        "-0.000000012",
        "123456789012345678901234567890.123456789",
        "1e100",
        "1.5e-20",
        "100000000.00000001",
        "Infinity",
        "-Infinity",
        "NaN",
    ];
    for literal in literals {
        let row: Dict = ok(conn
            .query_one_with(
                &DictRow,
                "SELECT $1::text::numeric AS value, $1::text::numeric::text AS text",
                &[&literal],
            )
            .await);
        let server = row.get("text").and_then(Value::as_str).map(str::to_owned);
        assert_eq!(
            row.get("value").and_then(Value::as_str).map(str::to_owned),
            server,
            "numeric {literal}"
        );
    }
}

#[tokio::test]
async fn an_enum_and_a_domain_read_as_their_base_values() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_enum");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let mood = unique("mood");
    let positive = unique("positive");
    ok(conn
        .batch_execute(&format!(
            "CREATE TYPE {mood} AS ENUM ('sad', 'happy'); \
             CREATE DOMAIN {positive} AS int4 CHECK (VALUE > 0)"
        ))
        .await);
    let row: Dict = ok(conn
        .query_one_with(
            &DictRow,
            &format!("SELECT 'happy'::{mood} AS mood, 5::{positive} AS positive"),
            &[],
        )
        .await);
    assert_eq!(row.get("mood"), Some(&Value::Text("happy".into())));
    assert_eq!(row.get("positive"), Some(&Value::Int(5)));

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mood {
        Sad,
        Happy,
    }
    let moods: Vec<Mood> = ok(conn
        .query_with(
            &scalar_row::<String>(),
            &format!("SELECT unnest(enum_range(NULL::{mood}))::text"),
            &[],
        )
        .await
        .map(|labels| {
            labels
                .into_iter()
                .map(|label| serde_json::from_value(serde_json::Value::String(label)))
                .collect::<Result<Vec<Mood>, _>>()
        }))
    .expect("labels parse");
    assert_eq!(moods, [Mood::Sad, Mood::Happy]);

    #[derive(Debug, Deserialize)]
    struct WithMood {
        mood: Mood,
    }
    let with: WithMood = ok(conn
        .query_one_with(
            &class_row::<WithMood>(),
            &format!("SELECT 'sad'::{mood} AS mood"),
            &[],
        )
        .await);
    assert_eq!(with.mood, Mood::Sad);
}

#[tokio::test]
async fn json_rows_are_objects_in_column_order() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_json");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let row = ok(conn.query_one_with(&JsonRow, EVERY_TYPE, &[]).await);
    let object = row.as_object().expect("an object");
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(keys.first(), Some(&"null_int"));
    assert_eq!(keys.last(), Some(&"interval"));
    assert_eq!(
        row,
        serde_json::json!({
            "null_int": null,
            "bool": true,
            "int2": 7,
            "int4": -8,
            "int8": 9_000_000_000_i64,
            "oid": 26,
            "float4": 1.5,
            "float8": -2.25,
            "numeric": "-12345678901234567890.000123",
            "numeric_nan": "NaN",
            "text": "text",
            "varchar": "var",
            "bpchar": "ab  ",
            "name": "nm",
            "bytea": "\\x00ff10",
            "timestamp": "2024-02-29T13:14:15.123456",
            "timestamptz": "2024-02-29T11:14:15.500+00:00",
            "date": "2024-02-29",
            "time": "23:59:58.250",
            "uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "json": {"a": [1, null, "x"]},
            "jsonb": {"b": {"c": true}},
            "int_array": [1, null, 3],
            "text_array": ["x", null],
            "matrix": [[1, 2], [3, 4]],
            "empty_array": [],
            "interval": "\\x00000000000000000000000100000000",
        })
    );
}

#[derive(Debug, Deserialize, PartialEq)]
struct Everything {
    null_int: Option<i32>,
    bool: bool,
    int2: i16,
    int4: i32,
    int8: i64,
    float8: f64,
    numeric: String,
    text: String,
    bytea: Vec<u8>,
    timestamp: NaiveDateTime,
    timestamptz: DateTime<Utc>,
    date: NaiveDate,
    time: NaiveTime,
    uuid: Uuid,
    json: serde_json::Value,
    jsonb: Nested,
    int_array: Vec<Option<i32>>,
    matrix: Vec<Vec<i64>>,
    #[serde(default)]
    not_in_the_row: u8,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Nested {
    b: Inner,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Inner {
    c: bool,
}

#[tokio::test]
async fn class_rows_fill_fields_by_name_from_every_type() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_class");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let row: Everything = ok(conn
        .query_one_with(&class_row::<Everything>(), EVERY_TYPE, &[])
        .await);
    assert_eq!(
        row,
        Everything {
            null_int: None,
            bool: true,
            int2: 7,
            int4: -8,
            int8: 9_000_000_000,
            float8: -2.25,
            numeric: "-12345678901234567890.000123".into(),
            text: "text".into(),
            bytea: vec![0x00, 0xff, 0x10],
            timestamp: timestamp(),
            timestamptz: timestamptz(),
            date: NaiveDate::from_ymd_opt(2024, 2, 29).expect("a date"),
            time: NaiveTime::from_hms_milli_opt(23, 59, 58, 250).expect("a time"),
            uuid: ok(Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            json: serde_json::json!({"a": [1, null, "x"]}),
            jsonb: Nested {
                b: Inner { c: true }
            },
            int_array: vec![Some(1), None, Some(3)],
            matrix: vec![vec![1, 2], vec![3, 4]],
            not_in_the_row: 0,
        }
    );

    // numeric into numbers, and a tuple by position.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Amounts {
        exact: f64,
        whole: i64,
    }
    let amounts: Amounts = ok(conn
        .query_one_with(
            &class_row::<Amounts>(),
            "SELECT 12.50::numeric AS exact, 42.000::numeric AS whole",
            &[],
        )
        .await);
    assert_eq!(
        amounts,
        Amounts {
            exact: 12.5,
            whole: 42
        }
    );
    let pair: (i32, String) = ok(conn
        .query_one_with(&class_row::<(i32, String)>(), "SELECT 1, 'one'", &[])
        .await);
    assert_eq!(pair, (1, "one".to_owned()));
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct User {
    id: i32,
    name: String,
    email: String,
}

#[tokio::test]
async fn class_row_errors_name_the_column_and_what_was_expected() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_class_errors");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let users = class_row::<User>();

    // A field without a column.
    let error = conn
        .query_one_with(&users, "SELECT 1 AS id, 'ann' AS name", &[])
        .await
        .expect_err("email is missing");
    assert!(error.is_row(), "{error:?}");
    assert_contains(
        &error.to_string(),
        &[
            "User",
            "no column `email`",
            "`id`, `name`",
            "AS email",
            "Option",
        ],
    );

    // A value of the wrong type.
    let error = conn
        .query_one_with(
            &users,
            "SELECT 'one' AS id, 'ann' AS name, 'a@b' AS email",
            &[],
        )
        .await
        .expect_err("id is text");
    assert!(error.is_row(), "{error:?}");
    assert_contains(
        &error.to_string(),
        &["column `id`", "type text", "invalid type", "\"one\"", "i32"],
    );

    // A value out of the field's range.
    let error = conn
        .query_one_with(
            &users,
            "SELECT 5000000000::int8 AS id, 'ann' AS name, 'a@b' AS email",
            &[],
        )
        .await
        .expect_err("id is too large");
    assert_contains(
        &error.to_string(),
        &["column `id`", "int8", "5000000000", "i32"],
    );

    // NULL in a field that is not an Option.
    let error = conn
        .query_one_with(
            &users,
            "SELECT 1 AS id, NULL::text AS name, 'a@b' AS email",
            &[],
        )
        .await
        .expect_err("name is NULL");
    assert_contains(
        &error.to_string(),
        &["column `name`", "is NULL", "make the field an Option"],
    );

    // A column without a field, when the type refuses unknown fields.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        id: i32,
    }
    let error = conn
        .query_one_with(&class_row::<Strict>(), "SELECT 1 AS id, 2 AS extra", &[])
        .await
        .expect_err("extra has no field");
    assert_contains(
        &error.to_string(),
        &["Strict", "column `extra` matches no field", "`id`"],
    );

    // The connection is fine after these errors, and goes back clean.
    let n: i32 = ok(conn
        .query_one_with(&scalar_row::<i32>(), "SELECT 3", &[])
        .await);
    assert_eq!(n, 3);
    drop(conn);
    assert_eq!(pool.stats().returns_bad, 0);
}

#[tokio::test]
async fn scalar_rows_and_closures() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_scalar");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);

    let ids: Vec<i64> = ok(conn
        .query_with(&scalar_row(), "SELECT generate_series(1, 4)::int8", &[])
        .await);
    assert_eq!(ids, [1, 2, 3, 4]);
    let maybe: Vec<Option<String>> = ok(conn
        .query_with(
            &scalar_row(),
            "SELECT v FROM (VALUES ('a'), (NULL)) AS t(v)",
            &[],
        )
        .await);
    assert_eq!(maybe, [Some("a".to_owned()), None]);

    let error = conn
        .query_with(&scalar_row::<i32>(), "SELECT 'x'::text AS label", &[])
        .await
        .expect_err("text is not i32");
    assert!(error.is_row());
    assert_contains(
        &error.to_string(),
        &["column `label`", "type text", "i32", "cannot convert"],
    );
    let error = conn
        .query_with(&scalar_row::<i32>(), "SELECT NULL::int4 AS n", &[])
        .await
        .expect_err("NULL is not i32");
    assert_contains(&error.to_string(), &["column `n`"]);

    let labels = |row: Row| -> Result<String, tidepool_async::RowError> {
        let id: i32 = row.try_get("id")?;
        let name: &str = row.try_get("name")?;
        Ok(format!("{id}:{name}"))
    };
    let got = ok(conn
        .query_with(
            &labels,
            "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)",
            &[],
        )
        .await);
    assert_eq!(got, ["1:a", "2:b"]);
    let error = conn
        .query_with(&labels, "SELECT 1 AS id", &[])
        .await
        .expect_err("no name column");
    assert!(error.is_row());
    assert_contains(&error.to_string(), &["name"]);
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct Item {
    id: i32,
    label: String,
}

#[tokio::test]
async fn the_pools_default_a_connections_switch_and_a_querys_override() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_levels");
    let table = unique("rows_items");
    let pool: Pool<ClassRow<Item>> = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .row_factory(class_row::<Item>())
        .build());
    {
        let conn = ok(pool.get().await);
        ok(conn
            .batch_execute(&format!(
                "CREATE TABLE {table} (id int4 PRIMARY KEY, label text NOT NULL); \
                 INSERT INTO {table} VALUES (1, 'one'), (2, 'two'), (3, 'three')"
            ))
            .await);
    }
    let select = format!("SELECT id, label FROM {table} ORDER BY id");

    // The pool's default: every checkout's query returns Items.
    let conn = ok(pool.get().await);
    let items: Vec<Item> = ok(conn.query(&select, &[]).await);
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0],
        Item {
            id: 1,
            label: "one".into()
        }
    );
    let one: Item = ok(conn.query_one(&format!("{select} LIMIT 1"), &[]).await);
    assert_eq!(one.id, 1);
    let none: Option<Item> = ok(conn
        .query_opt(&format!("SELECT id, label FROM {table} WHERE id = 99"), &[])
        .await);
    assert!(none.is_none());

    // A query's override.
    let ids: Vec<i32> = ok(conn
        .query_with(
            &scalar_row(),
            &format!("SELECT id FROM {table} ORDER BY id"),
            &[],
        )
        .await);
    assert_eq!(ids, [1, 2, 3]);

    // The connection's switch, kept until it goes back to the pool; its
    // identity is the same connection.
    let id = conn.id();
    let conn: PooledConnection<DictRow> = PooledConnection::with_row_factory(conn, DictRow);
    assert_eq!(conn.id(), id);
    let dicts: Vec<Dict> = ok(conn.query(&select, &[]).await);
    assert_eq!(dicts[2].get("label"), Some(&Value::Text("three".into())));
    // Transactions and cursors follow the connection's factory.
    let mut conn = conn;
    {
        let tx = ok(conn.transaction().await);
        let row: Dict = ok(tx.query_one(&format!("{select} LIMIT 1"), &[]).await);
        assert_eq!(row.get("id"), Some(&Value::Int(1)));
        let mut cursor = ok(tx.cursor(&select, &[]).await);
        let chunk: Vec<Dict> = ok(cursor.fetch(2).await);
        assert_eq!(chunk.len(), 2);
        drop(cursor);
        ok(tx.commit().await);
    }
    let labels: Vec<String> = ok(conn
        .in_transaction(|tx| {
            let select = select.clone();
            Box::pin(async move {
                let rows = tx.query(&select, &[]).await?;
                Ok::<_, tidepool_async::Error>(
                    rows.into_iter()
                        .filter_map(|row| {
                            row.get("label").and_then(Value::as_str).map(str::to_owned)
                        })
                        .collect(),
                )
            })
        })
        .await);
    assert_eq!(labels, ["one", "two", "three"]);
    drop(conn);

    // The next checkout has the pool's default again, on the same
    // connection.
    let conn = ok(pool.get().await);
    assert_eq!(conn.id(), id);
    let again: Vec<Item> = ok(conn.query(&select, &[]).await);
    assert_eq!(again, items);
    drop(conn);

    // Another handle to the same pool, with tuples.
    let tuples = pool.with_row_factory(TupleRow);
    let conn = ok(tuples.get().await);
    assert_eq!(conn.id(), id);
    let rows: Vec<Row> = ok(conn.query(&select, &[]).await);
    assert_eq!(rows[1].get::<_, String>("label"), "two");
    drop(conn);
    assert_eq!(pool.stats().connections_num, 1);
    assert_eq!(pool.stats().returns_bad, 0);
}

#[test]
fn the_blocking_pool_has_the_same_factories() {
    let db = database();
    let (_, url) = tagged_url(&db, "rows_blocking");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .row_factory(tidepool_sync::DictRow)
        .build());
    let mut conn = ok(pool.get());
    let row: tidepool_sync::Dict = ok(conn.query_one("SELECT 1 AS one, 'x' AS x", &[]));
    assert_eq!(row.get("one"), Some(&Value::Int(1)));
    assert_eq!(row.get("x"), Some(&Value::Text("x".into())));

    let items: Vec<Item> = ok(conn.query_with(
        &class_row::<Item>(),
        "SELECT 1 AS id, 'a' AS label UNION ALL SELECT 2, 'b'",
        &[],
    ));
    assert_eq!(items[1].label, "b");

    {
        let tx = ok(conn.transaction());
        let rows: Vec<tidepool_sync::Dict> = ok(tx.query("SELECT generate_series(1, 3) AS n", &[]));
        assert_eq!(rows.len(), 3);
        let mut cursor = ok(tx.cursor("SELECT generate_series(1, 5) AS n", &[]));
        let chunk: Vec<tidepool_sync::Dict> = ok(cursor.fetch(4));
        assert_eq!(chunk[3].get("n"), Some(&Value::Int(4)));
        drop(cursor);
        ok(tx.commit());
    }

    let conn =
        tidepool_sync::PooledConnection::with_row_factory(conn, tidepool_sync::scalar_row::<i64>());
    let total: i64 =
        ok(conn.query_one("SELECT sum(n)::int8 FROM generate_series(1, 10) AS n", &[]));
    assert_eq!(total, 55);
    let error = conn
        .query_one("SELECT 'x'::text AS t", &[])
        .expect_err("text is not i64");
    assert!(error.is_row());
    drop(conn);

    let json = pool.with_row_factory(tidepool_sync::JsonRow);
    let conn = ok(json.get());
    let value = ok(conn.query_one("SELECT 1 AS a, ARRAY['b'] AS b", &[]));
    assert_eq!(value, serde_json::json!({"a": 1, "b": ["b"]}));
}
