//! libpq's environment variables, read from the real process environment:
//! this test runs itself again as a child process with `PG*` variables
//! set, so no test changes the environment of a running test binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_contains, database, ok, psql, unique};
use tidepool_async::Pool;

/// Set in the child process; names what the child checks.
const CHILD: &str = "TIDEPOOL_TEST_ENV_CHILD";
const TEST: &str = "libpq_environment_variables_fill_an_empty_connection_string";

#[test]
fn libpq_environment_variables_fill_an_empty_connection_string() {
    if let Ok(expect) = std::env::var(CHILD) {
        return child(&expect);
    }
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server, whose roles log in with passwords");
        return;
    };
    let role = unique("envrole");
    let password = format!("env-{}", unique("pw"));
    psql(
        &db,
        &format!("create role {role} login password '{password}'"),
    );
    let app = unique("envapp");
    let run = |expect: &str, password: &str, sslmode: &str| {
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command.args([TEST, "--exact", "--nocapture", "--test-threads=1"]);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        let output = command
            .env(CHILD, expect)
            .env("PGHOST", server.host())
            .env("PGPORT", server.port().to_string())
            .env("PGUSER", &role)
            .env("PGPASSWORD", password)
            .env("PGDATABASE", "postgres")
            .env("PGAPPNAME", &app)
            .env("PGCONNECT_TIMEOUT", "5")
            .env("PGSSLMODE", sslmode)
            .output()
            .expect("run the test binary again");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the child ({expect}) failed:\n{stdout}\n{stderr}"
        );
        assert_contains(&stdout, &["1 passed"]);
        assert!(
            !stdout.contains(password) && !stderr.contains(password),
            "the child printed the password"
        );
    };
    run("connects", &password, "prefer");
    run("wrong-password", "Wr0ng-env-password", "disable");
    // The shared server has no TLS.
    run("no-tls", &password, "require");
}

/// The child's side: an empty connection string, everything from `PG*`.
fn child(expect: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let pool = ok(Pool::builder("").min_size(0).max_size(1).build());
        let result = pool.get_timeout(Duration::from_millis(1500)).await;
        match expect {
            "connects" => {
                let conn = ok(result);
                let row = ok(conn
                    .query_one(
                        "SELECT current_user::text, current_database()::text, \
                         current_setting('application_name'), \
                         (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
                        &[],
                    )
                    .await);
                let env = |name: &str| std::env::var(name).unwrap();
                assert_eq!(row.get::<_, String>(0), env("PGUSER"));
                assert_eq!(row.get::<_, String>(1), "postgres");
                assert_eq!(row.get::<_, String>(2), env("PGAPPNAME"));
                assert!(!row.get::<_, bool>(3), "prefer, and the server has no TLS");
            }
            "wrong-password" => {
                let error = result.expect_err("a wrong password");
                let shown = error.to_string();
                assert_contains(&shown, &["password authentication failed"]);
                assert!(!shown.contains("Wr0ng-env-password"), "{shown}");
                assert!(!format!("{error:?}").contains("Wr0ng-env-password"));
            }
            "no-tls" => {
                let error = result.expect_err("PGSSLMODE=require, and the server has no TLS");
                assert_contains(&error.to_string(), &["server does not support TLS"]);
            }
            other => panic!("unknown child check {other}"),
        }
    });
}
