//! Passwords stay secret: a wrong password, given in a URL, in key=value
//! pairs, by `password_fn` or by a connection-string function, never shows
//! in an error's Display or Debug output, nor in the pool's tracing events;
//! and the Debug output of builders, pools and connections never shows the
//! right one.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::tls::{PASSWORD, PASSWORD_ROLE, shared_ssl_server};
use common::{assert_contains, ok, unique};
use tidepool_async::Pool;

/// Everything the pool logs through `tracing` in this test binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other subscriber in this test binary");
        logs
    }))
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[track_caller]
fn assert_hidden(what: &str, text: &str, secret: &str) {
    assert!(!text.contains(secret), "{what} shows the password: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_never_shows_in_errors_or_logs() {
    let logs = captured_logs();
    let server = shared_ssl_server();
    let port = server.server.port();
    let wrong = |form: &str| format!("Wr0ng-{form}-{}", unique("pw"));
    let url_password = wrong("url");
    let pairs_password = wrong("pairs");
    let fn_password = wrong("fn");
    let dynamic_password = wrong("dynamic");
    let blocking_password = wrong("blocking");
    let url = |password: &str| {
        format!("postgresql://{PASSWORD_ROLE}:{password}@127.0.0.1:{port}/postgres?sslmode=require")
    };

    let dynamic_url = url(&dynamic_password);
    let pools = [
        (url_password.clone(), Pool::builder(&url(&url_password))),
        (
            pairs_password.clone(),
            Pool::builder(&server.dsn(
                PASSWORD_ROLE,
                &format!("password='{pairs_password}' sslmode=require"),
            )),
        ),
        (fn_password.clone(), {
            let password = fn_password.clone();
            Pool::builder(&server.dsn(PASSWORD_ROLE, "sslmode=prefer"))
                .password_fn(move || password.clone())
        }),
        (
            dynamic_password.clone(),
            Pool::builder_from_fn(move || dynamic_url.clone()),
        ),
    ];
    for (password, builder) in pools {
        assert_hidden("the builder's Debug", &format!("{builder:?}"), &password);
        let pool = ok(builder.min_size(0).max_size(1).build());
        assert_hidden("the pool's Debug", &format!("{pool:?}"), &password);
        let error = pool
            .get_timeout(Duration::from_millis(1500))
            .await
            .expect_err("a wrong password");
        let shown = error.to_string();
        assert_contains(&shown, &["password authentication failed"]);
        assert_hidden("the error", &shown, &password);
        assert_hidden("the error's Debug", &format!("{error:?}"), &password);
        assert_hidden("the pool's Debug", &format!("{pool:?}"), &password);
    }

    let blocking_url = url(&blocking_password);
    // The blocking pool refuses to block on a runtime's threads.
    let error = std::thread::spawn(move || {
        let builder = tidepool_sync::Pool::builder(&blocking_url)
            .min_size(0)
            .max_size(1)
            .worker_threads(1);
        let debug = format!("{builder:?}");
        let pool = builder.build()?;
        let error = pool
            .get_timeout(Duration::from_millis(1500))
            .expect_err("a wrong password");
        Ok::<_, tidepool_sync::Error>((debug, format!("{pool:?}"), error))
    })
    .join()
    .expect("the blocking pool's thread");
    let (builder_debug, pool_debug, error) = ok(error);
    assert_hidden(
        "the blocking builder's Debug",
        &builder_debug,
        &blocking_password,
    );
    assert_hidden("the blocking pool's Debug", &pool_debug, &blocking_password);
    assert_contains(&error.to_string(), &["password authentication failed"]);
    assert_hidden("the blocking error", &error.to_string(), &blocking_password);
    assert_hidden(
        "the blocking error's Debug",
        &format!("{error:?}"),
        &blocking_password,
    );

    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert_contains(&logs, &["password authentication failed"]);
    for password in [
        &url_password,
        &pairs_password,
        &fn_password,
        &dynamic_password,
        &blocking_password,
    ] {
        assert_hidden("the pool's tracing events", &logs, password);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_never_shows_the_right_password() {
    let logs = captured_logs();
    let server = shared_ssl_server();
    let port = server.server.port();
    let tls = format!(
        "sslmode=verify-full {} sslcert={} sslkey={}",
        server.root_key(),
        server.client_cert.display(),
        server.client_key.display()
    );
    for dsn in [
        format!(
            "postgresql://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=require"
        ),
        server.dsn(PASSWORD_ROLE, &format!("password={PASSWORD} {tls}")),
    ] {
        let builder = Pool::builder(&dsn).min_size(1).max_size(1);
        assert_hidden("the builder's Debug", &format!("{builder:?}"), PASSWORD);
        let pool = ok(builder.build());
        let conn = ok(pool.get_timeout(Duration::from_secs(10)).await);
        for (what, debug) in [
            ("the pool's Debug", format!("{pool:?}")),
            ("the guard's Debug", format!("{conn:?}")),
            ("the connection's Debug", format!("{:?}", &*conn)),
            ("the stats' Debug", format!("{:?}", pool.stats())),
        ] {
            assert!(!debug.is_empty());
            assert_hidden(what, &debug, PASSWORD);
        }
        drop(conn);
        pool.close();
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert_hidden("the pool's tracing events", &logs, PASSWORD);
}
