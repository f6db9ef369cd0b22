//! Opening one connection to one host as libpq's `sslmode` asks.

use std::sync::Arc;

use tokio_postgres::config::{Host, SslMode as WireMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::PassFile;
use crate::hosts::{Role, Routing};
use crate::tls::{NotingConnector, SslMode, Tls};

/// The task that drives an open connection.
pub(crate) type PgConnection =
    tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// Where to connect, as whom, and with what TLS.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) config: Config,
    pub(crate) tls: Tls,
    /// `target_session_attrs` and `load_balance_hosts`.
    pub(crate) routing: Routing,
    /// The password file, read at each connect to a host when the
    /// configuration has no password.
    pub(crate) passfile: Option<PassFile>,
}

/// An open connection.
pub(crate) struct Opened {
    pub(crate) client: Client,
    /// The connection's task, which the caller drives (see
    /// [`notice::spawn_driver`](crate::session::notice::spawn_driver)).
    pub(crate) connection: PgConnection,
    /// The configuration of the attempt that succeeded: one host, and the
    /// `ssl_mode` the connection's cancel token carries.
    pub(crate) config: Config,
    /// The host (and address) reached, such as "127.0.0.1:5432".
    pub(crate) server: String,
    /// What the server is, kept up to date by the connection's task.
    pub(crate) role: Arc<Role>,
}

/// Connects to the one host (and address) of `config`, with the password
/// `passfile` has for it when `config` has none.
///
/// Over Unix sockets, where PostgreSQL offers no TLS, `sslmode` is
/// ignored, as libpq does. Under `allow`, a plain connection the server
/// refuses is tried again with TLS; under `prefer`, a connection over TLS
/// whose handshake fails or that the server refuses is tried again
/// without TLS.
///
/// # Errors
///
/// The last attempt's error.
pub(crate) async fn connect_host(
    mut config: Config,
    tls: &Tls,
    passfile: Option<&PassFile>,
) -> Result<(Client, PgConnection, Config), tokio_postgres::Error> {
    if config.get_password().is_none_or(<[u8]>::is_empty)
        && let Some(password) = passfile.and_then(|file| file.password_for(&config))
    {
        config.password(password);
    }
    let unix = matches!(config.get_hosts(), [Host::Unix(_)]);
    if unix {
        config.ssl_mode(WireMode::Disable);
    }
    let (connector, tls_started) = NotingConnector::new(tls.connector.clone());
    let error = match config.connect(connector).await {
        Ok((client, connection)) => return Ok((client, connection, config)),
        Err(error) => error,
    };
    let retry = match tls.mode {
        SslMode::Allow => !unix && error.as_db_error().is_some(),
        SslMode::Prefer => !unix && tls_started.get(),
        _ => false,
    };
    if !retry {
        return Err(error);
    }
    let mode = match tls.mode {
        SslMode::Allow => WireMode::Require,
        _ => WireMode::Disable,
    };
    tracing::debug!(
        %error,
        "sslmode={}: the first attempt failed; trying again {} TLS",
        tls.mode,
        if mode == WireMode::Disable { "without" } else { "with" }
    );
    config.ssl_mode(mode);
    let (client, connection) = config.connect(tls.connector.clone()).await?;
    Ok((client, connection, config))
}
