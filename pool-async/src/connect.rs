//! Opening one connection as libpq's `sslmode` asks.

use tokio_postgres::config::{Host, SslMode as WireMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{SslMode, Tls};

/// The task that drives an open connection.
pub(crate) type PgConnection =
    tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// Where to connect, as whom, and with what TLS.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) config: Config,
    pub(crate) tls: Tls,
}

/// An open connection.
pub(crate) struct Opened {
    pub(crate) client: Client,
    pub(crate) connection: PgConnection,
    /// The configuration of the attempt that succeeded: its `ssl_mode` is
    /// the one the connection's cancel token carries.
    pub(crate) config: Config,
}

impl Target {
    /// Connects to the first host that accepts.
    ///
    /// Over Unix sockets, where PostgreSQL offers no TLS, `sslmode` is
    /// ignored, as libpq does. Under `allow`, a plain connection the server
    /// refuses is tried again with TLS. With `hostaddr` and no `host`, the
    /// addresses name the server in the TLS handshake.
    ///
    /// # Errors
    ///
    /// The last attempt's error.
    pub(crate) async fn connect(self) -> Result<Opened, tokio_postgres::Error> {
        let Target { mut config, tls } = self;
        let hosts = config.get_hosts();
        let unix_only = !hosts.is_empty()
            && config.get_hostaddrs().is_empty()
            && hosts.iter().all(|host| !matches!(host, Host::Tcp(_)));
        let addresses_only = hosts.is_empty() && !config.get_hostaddrs().is_empty();
        if unix_only {
            config.ssl_mode(WireMode::Disable);
        }
        if addresses_only && !matches!(tls.mode, SslMode::Disable | SslMode::VerifyFull) {
            // tokio-postgres wants a host name for the TLS handshake even
            // where no name is checked: the addresses stand in for it.
            // (verify-full, as in libpq, fails without a host name.)
            let addresses = config.get_hostaddrs().to_vec();
            for address in addresses {
                config.host(address.to_string());
            }
        }
        match config.connect(tls.connector.clone()).await {
            Ok((client, connection)) => Ok(Opened {
                client,
                connection,
                config,
            }),
            Err(error)
                if tls.mode == SslMode::Allow && !unix_only && error.as_db_error().is_some() =>
            {
                config.ssl_mode(WireMode::Require);
                let (client, connection) = config.connect(tls.connector).await?;
                Ok(Opened {
                    client,
                    connection,
                    config,
                })
            }
            Err(error) => Err(error),
        }
    }
}
