//! libpq's files through the blocking pool, as `libpq_files.rs` runs
//! them through the async pool: the password file and its refusal when
//! others may read it, and the connection service file.

mod common;

use std::time::Duration;

use common::libpq_files::{Files, chmod, password_role, pgpass, pgpass_dsn, service_file};
use common::{assert_contains, database, ok, unique};

#[test]
fn the_blocking_pool_reads_the_password_file_and_refuses_a_readable_one() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server, whose roles log in with passwords");
        return;
    };
    let password = "pgpass-sync-5e07";
    let role = password_role(&db, "pgpass_sync", password);
    let files = Files::new("pgpass_sync");
    let file = files.write("pgpass", &pgpass(server, &role, password), 0o600);
    let pool = ok(
        tidepool_sync::Pool::builder(&pgpass_dsn(server, &role, &file))
            .min_size(0)
            .max_size(1)
            .worker_threads(1)
            .timeout(Duration::from_secs(2))
            .build(),
    );
    let user: String = ok(ok(pool.get()).query_one("SELECT current_user::text", &[])).get(0);
    assert_eq!(user, role);

    chmod(&file, 0o644);
    pool.drain();
    let error = pool
        .get_timeout(Duration::from_secs(2))
        .expect_err("the password file is ignored");
    assert_contains(&error.to_string(), &["password missing"]);
    assert!(!format!("{error}{error:?}").contains(password));
}

#[test]
fn a_service_names_the_server_for_the_blocking_pool() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server");
        return;
    };
    let files = Files::new("service_sync");
    let app = unique("svc_sync");
    let file = service_file(&files, server, "tidepool_db", &app);
    let pool = ok(tidepool_sync::Pool::builder(&format!(
        "service=tidepool_db servicefile={}",
        file.display()
    ))
    .min_size(0)
    .max_size(1)
    .worker_threads(1)
    .timeout(Duration::from_secs(10))
    .build());
    let row = ok(ok(pool.get()).query_one(
        "SELECT current_user::text, current_setting('application_name')",
        &[],
    ));
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert_eq!(row.get::<_, String>(1), app);
}
