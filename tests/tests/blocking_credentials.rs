//! Credential rotation through the blocking pool, as through the async
//! pool (`lifecycle_source.rs`): a password function (`password_fn`) and a
//! connection-string function (`builder_from_fn`) are asked at every
//! connect, so that drained connections come back with the new
//! credentials.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    assert_contains, database, eventually_blocking, ok, psql, sessions_psql, unique,
    with_application_name,
};
use tidepool_sync::Pool;

fn pid(pool: &Pool) -> i32 {
    ok(ok(pool.get()).query_one("SELECT pg_backend_pid()", &[])).get(0)
}

#[test]
fn a_rotated_password_is_used_by_the_connections_opened_after_it() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server, whose roles log in with passwords");
        return;
    };
    let role = unique("sync_rotating");
    psql(&db, &format!("create role {role} login password 'first'"));
    let password = Arc::new(Mutex::new("first".to_owned()));
    let asked = Arc::new(AtomicUsize::new(0));
    let pool = ok(Pool::builder(&server.url_for(&role, None, "postgres"))
        .min_size(1)
        .max_size(2)
        .worker_threads(1)
        .timeout(Duration::from_secs(5))
        .password_fn({
            let (password, asked) = (Arc::clone(&password), Arc::clone(&asked));
            move || {
                asked.fetch_add(1, Ordering::SeqCst);
                password.lock().unwrap().clone()
            }
        })
        .build());
    ok(pool.wait());
    let first_pid = pid(&pool);
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // Rotate: the server and the function change; existing sessions stay
    // valid until drained.
    psql(&db, &format!("alter role {role} password 'second'"));
    *password.lock().unwrap() = "second".to_owned();
    pool.drain();
    let conn = ok(pool.get());
    let row = ok(conn.query_one("SELECT pg_backend_pid(), current_user::text", &[]));
    assert_ne!(
        row.get::<_, i32>(0),
        first_pid,
        "the drained connection was handed out"
    );
    assert_eq!(row.get::<_, String>(1), role);
    assert!(
        asked.load(Ordering::SeqCst) >= 2,
        "the new connect did not ask"
    );
    assert_eq!(pool.stats().connections_errors, 0);
    drop(conn);

    // A wrong password from the function fails connects, with the
    // server's reason and without the password.
    *password.lock().unwrap() = "wrong-secret".to_owned();
    pool.drain();
    let error = pool
        .get_timeout(Duration::from_millis(800))
        .expect_err("a connect with the wrong password succeeded");
    assert_contains(&error.to_string(), &["password authentication failed"]);
    assert!(!error.to_string().contains("wrong-secret"));
    assert!(!format!("{error:?}").contains("wrong-secret"));
    drop(pool);
    psql(&db, &format!("drop role if exists {role}"));
}

#[test]
fn the_connection_string_function_is_asked_at_every_connect() {
    let db = database();
    let calls = Arc::new(AtomicUsize::new(0));
    let base = db.url().to_owned();
    let app = unique("sync_dsnfn");
    let pool = ok(Pool::builder_from_fn({
        let (calls, app) = (Arc::clone(&calls), app.clone());
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            with_application_name(&base, &format!("{app}_{n}"))
        }
    })
    .min_size(2)
    .max_size(2)
    .worker_threads(1)
    .timeout(Duration::from_secs(10))
    .build());
    ok(pool.wait());
    // Each connection carries the string of its own call.
    for n in 0..2 {
        eventually_blocking(&format!("a session of {app}_{n}"), || {
            sessions_psql(&db, &format!("{app}_{n}")) == 1
        });
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A drain asks again for each replacement.
    pool.drain();
    ok(pool.wait());
    for n in 2..4 {
        eventually_blocking(&format!("a session of {app}_{n}"), || {
            sessions_psql(&db, &format!("{app}_{n}")) == 1
        });
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // A function that returns nonsense fails the connect, saying why.
    let bad = ok(
        Pool::builder_from_fn(|| "host=localhost port=notaport".to_owned())
            .min_size(1)
            .worker_threads(1)
            .build(),
    );
    let error = bad
        .get_timeout(Duration::from_millis(500))
        .expect_err("a connect from an invalid connection string succeeded");
    assert_contains(&error.to_string(), &["connection string", "invalid"]);
}
