//! Opening and resetting PostgreSQL connections for the engine.

use std::fmt;

use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls};

use crate::connection::Connection;
use crate::error::Error;

/// Opens tokio-postgres connections for the engine and resets them.
pub(crate) struct PgManager {
    config: Config,
    /// Where connections go, for error messages ("127.0.0.1:5432"); never
    /// holds the password.
    target: String,
}

impl PgManager {
    pub(crate) fn new(config: Config) -> Self {
        let target = describe_target(&config);
        Self { config, target }
    }
}

/// "host:port" for each host of the configuration, joined by ", ".
fn describe_target(config: &Config) -> String {
    let ports = config.get_ports();
    let targets: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    if targets.is_empty() {
        "the default host".to_owned()
    } else {
        targets.join(", ")
    }
}

impl tidepool_core::Manager for PgManager {
    type Connection = Connection;
    type Error = Error;

    async fn connect(&self) -> Result<Connection, Error> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| Error::connect(self.target.clone(), e))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a pooled connection ended with an error");
            }
        });
        Ok(Connection::new(client))
    }

    fn is_broken(&self, conn: &Connection) -> bool {
        conn.is_closed()
    }

    fn needs_reset(&self, conn: &Connection) -> bool {
        conn.needs_reset()
    }

    async fn reset(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.reset().await
    }
}

impl fmt::Debug for PgManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgManager")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}
