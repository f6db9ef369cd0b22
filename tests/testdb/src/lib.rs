//! Private PostgreSQL servers for tidepool's tests.
//!
//! The harness starts throw-away PostgreSQL clusters so the integration
//! tests never depend on, or disturb, a server they did not start:
//!
//! * [`test_database`] gives a test the database to use: the server named by
//!   the `DATABASE_URL` environment variable if set, otherwise a private
//!   server shared by all tests of the process, stopped when the last test
//!   using it finishes.
//! * [`private_server`] / [`PgServer::start`] / [`PgServer::builder`] start a
//!   server owned by one test, with optional extra settings, `pg_hba.conf`
//!   rules and data-directory files (certificates for SSL tests). Such a
//!   server supports fault injection on the same port: [`PgServer::stop`],
//!   [`PgServer::start_again`] and [`PgServer::restart`].
//! * [`PgServer::start_standby`] starts a streaming hot standby of a
//!   server (`pg_basebackup -R`); [`PgServer::wait_for_standby`],
//!   [`PgServer::promote`] and [`PgServer::rebuild_as_standby_of`] drive a
//!   failover (see the `failover_*` tests).
//! * [`PgServer::psql`], [`TestDatabase::psql`] and [`psql_url`] run SQL
//!   through the `psql` client for setup and assertions.
//! * [`with_application_name`] tags a connection string with an
//!   `application_name`, so that a pool's sessions can be counted in
//!   `pg_stat_activity` (the tests and the examples use it).
//! * [`PgBouncer`] starts a PgBouncer (transaction pooling, fewer server
//!   connections than the pools under test) in front of a private server,
//!   with a password-checked login role and the admin console
//!   ([`PgBouncer::show`]); it restarts on the same port.
//! * [`Relay`] forwards TCP connections to a server and injects network
//!   faults between a client and it: a silent network
//!   ([`freeze`](Relay::freeze)), connections closed at once
//!   ([`cut`](Relay::cut)), new connections refused
//!   ([`refuse`](Relay::refuse)).
//!
//! Servers listen on `127.0.0.1` on a free port (never 5432) and on a Unix
//! socket in their own directory under the system temporary directory; the
//! superuser `postgres` needs no password, other roles authenticate with
//! `scram-sha-256` over TCP. Dropping a [`PgServer`], also during a panic,
//! stops it and deletes its directory.
//!
//! The PostgreSQL binaries are looked up in `PATH`, then in
//! `/usr/lib/postgresql/*/bin` (see [`PgBinaries::locate`]). When the tests
//! run as root the server runs as the OS user `postgres`, via `runuser`.
//! `initdb` runs once per machine and major version into a cached template
//! in the temporary directory; each server starts from a copy of it.
//!
//! ```no_run
//! let db = tidepool_testdb::test_database()?;
//! assert_eq!(db.psql("select 1")?, "1");
//! println!("connect to {}", db.url());
//! # Ok::<(), tidepool_testdb::HarnessError>(())
//! ```

mod binaries;
mod config;
mod conninfo;
mod error;
mod pgbouncer;
mod process;
mod psql;
mod relay;
mod replication;
mod scratch;
mod server;
mod shared;
mod template;

pub use binaries::PgBinaries;
pub use conninfo::with_application_name;
pub use error::HarnessError;
pub use pgbouncer::{PgBouncer, PgBouncerBuilder};
pub use psql::psql_url;
pub use relay::Relay;
pub use server::{PgServer, PgServerBuilder};
pub use shared::{DATABASE_URL_ENV, TestDatabase, private_server, shared_server, test_database};
