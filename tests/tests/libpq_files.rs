//! libpq's files through the async pool, against the private server: the
//! password file (`passfile`, as `PGPASSFILE` or `~/.pgpass` would name
//! it), read at each connect and refused when others may read it, and the
//! connection service file (`service` with `servicefile`, as
//! `PGSERVICEFILE` or `~/.pg_service.conf` would name it).
//! `blocking_libpq_files.rs` runs the same through the blocking pool.
//!
//! The files live in temporary directories named by the connection
//! string; no test reads or changes the real home directory or the
//! process's environment.

mod common;

use std::time::Duration;

use common::libpq_files::{Files, chmod, password_role, pgpass, pgpass_dsn, service_file};
use common::observe::Traces;
use common::{assert_contains, database, ok, psql, unique};
use tracing::Level;

#[tokio::test(flavor = "current_thread")]
async fn the_async_pool_reads_the_password_file_at_each_connect() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server, whose roles log in with passwords");
        return;
    };
    let (traces, _guard) = Traces::capture();
    let first = "pgpass-first-3f9a";
    let role = password_role(&db, "pgpass", first);
    let files = Files::new("pgpass");
    let file = files.write("pgpass", &pgpass(server, &role, first), 0o600);
    let pool = ok(
        tidepool_async::Pool::builder(&pgpass_dsn(server, &role, &file))
            .min_size(0)
            .max_size(1)
            .timeout(Duration::from_secs(2))
            .build(),
    );
    let user: String = ok(ok(pool.get().await)
        .query_one("SELECT current_user::text", &[])
        .await)
    .get(0);
    assert_eq!(user, role);

    // Editing the file rotates the credentials of the next connects.
    let second = "pgpass-second-81c2";
    psql(&db, &format!("alter role {role} password '{second}'"));
    files.write("pgpass", &pgpass(server, &role, second), 0o600);
    pool.drain();
    let user: String = ok(ok(pool.get().await)
        .query_one("SELECT current_user::text", &[])
        .await)
    .get(0);
    assert_eq!(user, role);

    // A file others may read is ignored, as libpq does, with a warning
    // that names it and the fix; the connect fails for want of a password.
    chmod(&file, 0o644);
    pool.drain();
    let error = pool
        .get_timeout(Duration::from_secs(2))
        .await
        .expect_err("the password file is ignored");
    assert_contains(&error.to_string(), &["password missing"]);
    let warnings = traces.events_with(Level::WARN, "has group or world access");
    assert!(!warnings.is_empty(), "{}", traces.dump());
    assert_contains(
        warnings[0].message(),
        &[&file.display().to_string(), "chmod 0600", "ignored"],
    );
    let everything = format!("{}{error}{error:?}", traces.dump());
    for password in [first, second] {
        assert!(!everything.contains(password), "{everything}");
    }
}

#[tokio::test]
async fn a_service_names_the_server_for_the_async_pool() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server");
        return;
    };
    let files = Files::new("service");
    let app = unique("svc");
    let file = service_file(&files, server, "tidepool_db", &app);
    // The string's application_name wins over the service's.
    for (dsn, expected_app) in [
        (
            format!("service=tidepool_db servicefile={}", file.display()),
            app.as_str(),
        ),
        (
            format!(
                "postgresql:///?service=tidepool_db&servicefile={}&application_name=mine",
                file.display()
            ),
            "mine",
        ),
    ] {
        let pool = ok(tidepool_async::Pool::builder(&dsn)
            .min_size(0)
            .max_size(1)
            .timeout(Duration::from_secs(10))
            .build());
        let row = ok(ok(pool.get().await)
            .query_one(
                "SELECT current_user::text, current_setting('application_name')",
                &[],
            )
            .await);
        assert_eq!(row.get::<_, String>(0), "postgres", "{dsn}");
        assert_eq!(row.get::<_, String>(1), expected_app, "{dsn}");
    }

    let error = tidepool_async::Pool::builder(&format!(
        "service=tidepool_nope servicefile={}",
        file.display()
    ))
    .build()
    .expect_err("no such service");
    assert!(error.is_config(), "{error:?}");
    assert_contains(
        &error.to_string(),
        &[
            "the service 'tidepool_nope' is not defined in",
            &file.display().to_string(),
        ],
    );
}
