//! The session settings (`query_timeout`, `prepare_threshold`,
//! `prepared_max`, `reset_sql`, `pgbouncer`, `statement_metrics`) are read
//! from settings files and the environment like the pool's own, and reach
//! the pool: each is checked on its connections.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{database, ok, unique};
use tidepool_async::config::{Config, Environment};
use tidepool_async::{Pool, SessionSettings, Settings};

/// Checks, on a pool built from `settings`, that the connection's query
/// timeout, statement cache and reset SQL are the settings'.
async fn assert_reaches_the_pool(settings: &Settings) {
    let pool = ok(Pool::from_settings(settings));
    let conn = ok(pool.get().await);
    assert_eq!(conn.query_timeout(), Some(Duration::from_secs(2)));
    // prepare_threshold 1: the second execution keeps the statement.
    ok(conn.query_one("SELECT 1", &[]).await);
    assert_eq!(conn.cached_statements(), 0);
    ok(conn.query_one("SELECT 1", &[]).await);
    assert_eq!(conn.cached_statements(), 1);
    // prepared_max 3: no more are kept.
    for n in 2..8 {
        let sql = format!("SELECT {n}");
        ok(conn.query_one(&sql, &[]).await);
        ok(conn.query_one(&sql, &[]).await);
    }
    assert_eq!(conn.cached_statements(), 3);
    ok(conn
        .batch_execute("SET application_name = 'before_reset'")
        .await);
    drop(conn);
    // reset_sql ran on the return.
    let conn = ok(pool.get().await);
    let name: String = ok(conn.query_one("SHOW application_name", &[]).await).get(0);
    assert_eq!(name, "after_reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_come_from_a_settings_file() {
    let db = database();
    let path = std::env::temp_dir().join(format!("{}.toml", unique("session")));
    std::fs::write(
        &path,
        format!(
            r#"
min_size = 1
max_size = 1
query_timeout = "2s"
prepare_threshold = 1
prepared_max = 3
reset_sql = "SET application_name = 'after_reset'"
url = "{}"
"#,
            db.url()
        ),
    )
    .unwrap();
    let settings = ok(Settings::from_file(&path));
    let _ = std::fs::remove_file(&path);
    assert_eq!(settings.session.query_timeout, Some(Duration::from_secs(2)));
    assert_eq!(settings.session.prepare_threshold, Some(1));
    assert_eq!(settings.session.prepared_max, 3);
    assert!(!settings.session.pgbouncer);
    assert_reaches_the_pool(&settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_come_from_the_environment() {
    let db = database();
    let vars: HashMap<String, String> = [
        ("TPSESSION_MIN_SIZE", "1"),
        ("TPSESSION_MAX_SIZE", "1"),
        ("TPSESSION_QUERY_TIMEOUT", "2s"),
        ("TPSESSION_PREPARE_THRESHOLD", "1"),
        ("TPSESSION_PREPARED_MAX", "3"),
        (
            "TPSESSION_RESET_SQL",
            "SET application_name = 'after_reset'",
        ),
        ("TPSESSION_URL", db.url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = ok(Config::builder()
        .add_source(
            Environment::with_prefix("TPSESSION")
                .prefix_separator("_")
                .try_parsing(true)
                .source(Some(vars)),
        )
        .build());
    let settings = ok(Settings::from_config(config));
    assert_reaches_the_pool(&settings).await;
}

#[test]
fn the_cache_can_be_turned_off_and_bad_values_name_the_key() {
    let off: SessionSettings = ok(serde_json::from_str(r#"{"prepare_threshold": "none"}"#));
    assert_eq!(off.prepare_threshold, None);
    let error = serde_json::from_str::<SessionSettings>(r#"{"prepare_threshold": "often"}"#)
        .expect_err("not a number");
    common::assert_contains(&error.to_string(), &["often", "none"]);
    let error = serde_json::from_str::<SessionSettings>(r#"{"query_timeout": "soon"}"#)
        .expect_err("not a duration");
    common::assert_contains(&error.to_string(), &["soon"]);
    // Written as read: a file written from the defaults reads back the same.
    let text = ok(serde_json::to_string(&SessionSettings::default()));
    assert_eq!(
        ok(serde_json::from_str::<SessionSettings>(&text)),
        SessionSettings::default()
    );
}
