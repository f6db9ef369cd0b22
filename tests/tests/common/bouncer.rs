//! A private server behind a private PgBouncer in transaction mode, and
//! checks that its server connections are left clean.

use std::collections::BTreeSet;

use tidepool_async::tokio_postgres::{self, NoTls};
use tidepool_testdb::{PgBouncer, PgServer};

use super::eventually;

/// A server of the test's own and a PgBouncer in front of it.
pub(crate) struct Bounced {
    pub(crate) bouncer: PgBouncer,
    pub(crate) server: PgServer,
}

/// Starts a server and a PgBouncer in transaction mode with `pool_size`
/// server connections.
pub(crate) fn bounced(pool_size: u32) -> Bounced {
    let server = PgServer::start().unwrap_or_else(|e| panic!("no server: {e}"));
    let bouncer = PgBouncer::builder()
        .default_pool_size(pool_size)
        .start(&server)
        .unwrap_or_else(|e| panic!("no PgBouncer: {e}"));
    Bounced { bouncer, server }
}

impl Bounced {
    /// The URL of the server's `postgres` database through PgBouncer.
    pub(crate) fn url(&self) -> String {
        self.bouncer.url()
    }

    /// Runs SQL on the server directly, as the superuser.
    pub(crate) fn server_psql(&self, sql: &str) -> String {
        self.server
            .psql(sql)
            .unwrap_or_else(|e| panic!("psql on the server failed: {e}"))
    }

    /// Waits until PgBouncer has no client waiting and no server
    /// connection linked to a client, and the server shows every session
    /// of the login role idle (not in a transaction, not running a
    /// statement); then pins every server connection at once, each in a
    /// transaction of its own, and checks that none holds a prepared
    /// statement, a cursor or a lock left by a previous client.
    pub(crate) async fn assert_clean(&self) {
        let user = self.bouncer.user().to_owned();
        eventually("PgBouncer's server connections are all idle", async || {
            let pools = self.bouncer.show("POOLS").unwrap();
            let pool = pools.iter().find(|row| row["user"] == user);
            pool.is_none_or(|row| row["sv_active"] == "0" && row["cl_waiting"] == "0")
        })
        .await;
        eventually("the server shows the role's sessions idle", async || {
            self.server_psql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}' \
                 AND state IS DISTINCT FROM 'idle'"
            )) == "0"
        })
        .await;

        let servers = self.bouncer.servers().unwrap().len();
        let mut clients = Vec::new();
        for _ in 0..servers {
            let (client, connection) = tokio_postgres::connect(&self.url(), NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect through PgBouncer: {e}"));
            tokio::spawn(connection);
            client.batch_execute("BEGIN").await.unwrap();
            clients.push(client);
        }
        let mut pids = BTreeSet::new();
        for client in &clients {
            let row = client
                .simple_query(
                    "SELECT pg_backend_pid(), \
                     (SELECT count(*) FROM pg_prepared_statements), \
                     (SELECT count(*) FROM pg_cursors), \
                     (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() \
                      AND locktype <> 'virtualxid' AND relation IS DISTINCT FROM \
                      'pg_locks'::regclass AND relation IS DISTINCT FROM \
                      'pg_prepared_statements'::regclass AND relation IS DISTINCT \
                      FROM 'pg_cursors'::regclass)",
                )
                .await
                .unwrap();
            let Some(row) = row.iter().find_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            }) else {
                panic!("no row: {row:?}");
            };
            let pid = row.get(0).unwrap().to_owned();
            assert_eq!(
                (row.get(1), row.get(2)),
                (Some("0"), Some("0")),
                "server connection {pid} kept prepared statements or cursors"
            );
            assert_eq!(row.get(3), Some("0"), "server connection {pid} kept locks");
            pids.insert(pid);
        }
        assert_eq!(
            pids.len(),
            servers,
            "each client pinned a server of its own"
        );
        for client in &clients {
            client.batch_execute("ROLLBACK").await.unwrap();
        }
    }
}
