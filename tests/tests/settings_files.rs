//! Settings from TOML, YAML and JSON files and the environment, layered,
//! and pools built from them in both flavours.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Monitor, assert_contains, database, ok, unique};
use tidepool_async::{HealthCheck, Pool, Settings};

/// A file of the test's own, removed at the end.
struct TempFile(PathBuf);

impl TempFile {
    fn new(extension: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{}.{extension}", unique("settings")));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The test database's URL with the pool's own application name.
fn url_with_app(app: &str) -> String {
    common::with_application_name(database().url(), app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_is_built_from_a_toml_file() {
    let db = database();
    let app = unique("toml");
    let file = TempFile::new(
        "toml",
        &format!(
            r#"
# The pool
name = "from-toml"
min_size = 2
max_size = 3
timeout = "5s"
max_lifetime = "1h 30m"
max_idle = "none"
health_check = "always"
reconnect_timeout = 120

# The connection
url = "{}"
"#,
            url_with_app(&app)
        ),
    );
    let settings = ok(Settings::from_file(&file.0));
    assert_eq!(settings.pool.name, "from-toml");
    assert_eq!(settings.pool.timeout, Duration::from_secs(5));
    assert_eq!(settings.pool.max_lifetime, Some(Duration::from_secs(5400)));
    assert_eq!(settings.pool.max_idle, None);
    assert_eq!(settings.pool.health_check, HealthCheck::Always);
    assert_eq!(settings.pool.reconnect_timeout, Duration::from_secs(120));

    let pool = ok(Pool::from_settings(&settings));
    ok(pool.wait().await);
    let monitor = Monitor::connect(db.url()).await;
    monitor.wait_sessions(&app, 2).await;
    assert_eq!(pool.name(), "from-toml");
    assert_eq!(pool.stats().pool_max, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_and_json_files_read_the_same() {
    let yaml = TempFile::new(
        "yaml",
        "max_size: 7\ntimeout: 2m\nhost: localhost\nport: 5433\n",
    );
    let json = TempFile::new(
        "json",
        r#"{"max_size": 7, "timeout": "2m", "host": "localhost", "port": 5433}"#,
    );
    for file in [&yaml, &json] {
        let settings = ok(Settings::from_file(&file.0));
        assert_eq!(settings.pool.max_size, 7);
        assert_eq!(settings.pool.timeout, Duration::from_secs(120));
        assert_eq!(
            ok(settings.connection.connection_string()),
            "host='localhost' port='5433'"
        );
    }
}

#[test]
fn unknown_keys_and_bad_values_name_the_key_and_the_file() {
    let typo = TempFile::new("toml", "max_sise = 3\n");
    let error = Settings::from_file(&typo.0).unwrap_err();
    assert!(error.is_config());
    assert_contains(&error.to_string(), &["`max_sise`", "max_size"]);

    let bad = TempFile::new("toml", "timeout = \"thirty\"\n");
    let error = Settings::from_file(&bad.0).unwrap_err().to_string();
    assert_contains(&error, &["timeout", "\"30s\""]);

    let wrong_kind = TempFile::new("toml", "max_size = \"ten\"\n");
    let error = Settings::from_file(&wrong_kind.0).unwrap_err().to_string();
    assert_contains(&error, &["max_size", "integer"]);

    let impossible = TempFile::new(
        "toml",
        "min_size = 5\nmax_size = 2\nhost = 'localhost'\nuser = 'app'\n",
    );
    let settings = ok(Settings::from_file(&impossible.0));
    let error = tidepool_sync::Pool::from_settings(&settings)
        .unwrap_err()
        .to_string();
    assert_contains(&error, &["min_size", "max_size"]);

    let missing = Settings::from_file("/nonexistent/pool.toml").unwrap_err();
    assert!(missing.is_config());
    assert_contains(&missing.to_string(), &["/nonexistent/pool.toml"]);
}

/// The environment variable that makes [`layered_child`] run: the parent
/// test starts this test binary again with it (and the pool's variables)
/// set, since setting variables in a running test process is not safe.
const CHILD: &str = "TIDEPOOL_SETTINGS_CHILD";

#[test]
fn the_environment_overrides_the_file_and_the_blocking_pool_uses_it() {
    let db = database();
    let app = unique("layered");
    let file = TempFile::new(
        "toml",
        &format!(
            "max_size = 9\ntimeout = '30s'\nurl = '{}'\n",
            url_with_app(&app)
        ),
    );
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "layered_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &file.0)
        .env("TPTEST_MAX_SIZE", "4")
        .env("TPTEST_TIMEOUT", "3s")
        .env("TPTEST_METRIC_NAMES", "both")
        .env("TIDEPOOL_EXPECTED_APP", &app)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the child test failed:\n{text}");
    assert!(
        text.contains("layered child ran"),
        "the child test did not run:\n{text}"
    );
    common::eventually_blocking("the child's session closed", || {
        common::sessions_psql(&db, &app) == 0
    });
}

/// Run by [`the_environment_overrides_the_file_and_the_blocking_pool_uses_it`]
/// in a child process; does nothing otherwise.
#[test]
fn layered_child() {
    let Some(file) = std::env::var_os(CHILD) else {
        return;
    };
    let app = std::env::var("TIDEPOOL_EXPECTED_APP").unwrap();
    let settings = ok(Settings::load(Some(file.as_ref()), Some("TPTEST")));
    assert_eq!(settings.pool.max_size, 4, "the environment did not win");
    assert_eq!(settings.pool.timeout, Duration::from_secs(3));
    assert_eq!(
        settings.pool.metric_names,
        tidepool_async::metrics::MetricNames::Both
    );
    let pool = ok(tidepool_sync::Pool::from_settings(&settings));
    ok(pool.wait());
    let conn = ok(pool.get());
    let name: String = ok(conn.query_one("SHOW application_name", &[])).get(0);
    assert_eq!(name, app);
    println!("layered child ran");
}

/// The annotated example in the README parses, and its values are the
/// defaults it claims.
#[test]
fn the_readme_example_is_valid_and_shows_the_defaults() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("```toml\n")
        .expect("the README has a TOML example")
        + 8;
    let end = start + readme[start..].find("```").unwrap();
    let file = TempFile::new("toml", &readme[start..end]);
    let settings = ok(Settings::from_file(&file.0));
    assert_eq!(settings.pool, tidepool_async::PoolConfig::default());
    assert_eq!(settings.session, tidepool_async::SessionSettings::default());
    assert_eq!(settings.session, tidepool_async::SessionSettings::default());
    assert!(settings.connection.url.is_some());
}
