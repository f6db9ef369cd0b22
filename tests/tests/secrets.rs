//! Passwords stay secret: a wrong password, given in a URL, in key=value
//! pairs, by `password_fn` or by a connection-string function, never shows
//! in an error's Display or Debug output, nor in the pool's tracing events;
//! the Debug output of settings, builders, pools and connections never
//! shows the right one; and no part of a password shows whatever characters
//! it holds (`/`, `@`, `?`, `#`, `:`, `&`, spaces, quotes).

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

/// Passwords holding each character that ends a part of a URL, and one of
/// key=value pairs with a space, a quote and a backslash. The password is
/// made of three-letter chunks that occur nowhere else, so that no part of
/// it may show.
const ODD_PASSWORDS: [&str; 8] = [
    "Qz7/Wk3",
    "Qz7@Wk3",
    "Qz7?Wk3",
    "Qz7#Wk3",
    "Qz7:Wk3/Jx5",
    "Qz7 Wk3",
    "Qz7%40Wk3",
    "Qz7&password=Wk3",
];
const CHUNKS: [&str; 3] = ["Qz7", "Wk3", "Jx5"];

#[track_caller]
fn assert_no_chunk(what: &str, text: &str) {
    for chunk in CHUNKS {
        assert!(
            !text.contains(chunk),
            "{what} shows a part of the password ({chunk}): {text}"
        );
    }
}

/// A port on 127.0.0.1 where nothing listens: connects fail at once.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Settings read from a file named `name` holding `text`.
fn settings_from(name: &str, text: &str) -> tidepool_async::Settings {
    let path = std::env::temp_dir().join(format!("{}_{name}", unique("settings")));
    std::fs::write(&path, text).expect("the settings file");
    let settings = tidepool_async::Settings::from_file(&path);
    let _ = std::fs::remove_file(&path);
    ok(settings)
}

#[test]
fn settings_debug_hides_a_password_with_a_slash() {
    let settings = settings_from(
        "slash.toml",
        r#"url = "postgresql://app:pa/ss@db.example:5432/app""#,
    );
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("pa/ss"),
        "the Debug shows the password: {debug}"
    );
    assert!(
        !debug.contains("ss@"),
        "the Debug shows the password: {debug}"
    );
    assert_contains(&debug, &["postgresql://app:***@db.example:5432/app"]);
    // The blocking flavour reads the same settings.
    let blocking: &tidepool_sync::Settings = &settings;
    assert_eq!(format!("{blocking:?}"), debug);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_passwords_never_show_in_debug_output_or_errors() {
    let logs = captured_logs();
    let port = closed_port();
    let mut dsns: Vec<String> = ODD_PASSWORDS
        .iter()
        .map(|password| format!("postgresql://app:{password}@127.0.0.1:{port}/app"))
        .collect();
    dsns.push(format!(
        r"host=127.0.0.1 port={port} user=app password='Qz7 Wk3\'Jx5\\' dbname=app"
    ));
    dsns.push(format!(
        "postgresql://app@127.0.0.1:{port}/app?password=Qz7@Wk3&sslmode=disable"
    ));
    for dsn in &dsns {
        let json = format!("{{\"url\": {}}}", serde_json::to_string(dsn).unwrap());
        let settings = settings_from("odd.json", &json);
        let debug = format!("{settings:?}");
        assert_no_chunk("the settings' Debug", &debug);
        assert_contains(&debug, &["127.0.0.1", &port.to_string(), "app"]);

        let builder = Pool::builder(dsn).min_size(0).max_size(1);
        assert_no_chunk("the builder's Debug", &format!("{builder:?}"));
        let pool = match builder.build() {
            Ok(pool) => pool,
            Err(error) => {
                // An '@' in the password: refused, without quoting it.
                assert!(error.is_config(), "{error}");
                assert_no_chunk("the build error", &error.to_string());
                assert_no_chunk("the build error's Debug", &format!("{error:?}"));
                continue;
            }
        };
        assert_no_chunk("the pool's Debug", &format!("{pool:?}"));
        let error = pool
            .get_timeout(Duration::from_millis(300))
            .await
            .expect_err("nothing listens there");
        assert_contains(&error.to_string(), &[&format!("127.0.0.1:{port}")]);
        assert_no_chunk("the connect error", &error.to_string());
        assert_no_chunk("the connect error's Debug", &format!("{error:?}"));
        assert_no_chunk("the pool's Debug", &format!("{pool:?}"));
        pool.close();

        // The blocking flavour refuses to block on a runtime's threads.
        let dsn = dsn.clone();
        let shown = std::thread::spawn(move || {
            let builder = tidepool_sync::Pool::builder(&dsn)
                .min_size(0)
                .max_size(1)
                .worker_threads(1);
            let mut shown = vec![format!("{builder:?}")];
            match builder.build() {
                Ok(pool) => {
                    shown.push(format!("{pool:?}"));
                    let error = pool
                        .get_timeout(Duration::from_millis(300))
                        .expect_err("nothing listens there");
                    shown.push(error.to_string());
                    shown.push(format!("{error:?}"));
                }
                Err(error) => {
                    shown.push(error.to_string());
                    shown.push(format!("{error:?}"));
                }
            }
            shown
        })
        .join()
        .expect("the blocking pool's thread");
        for text in shown {
            assert_no_chunk("the blocking pool's Debug or error", &text);
        }
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert_no_chunk("the pool's tracing events", &logs);
}
