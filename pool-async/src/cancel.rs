//! Cancelling a statement left running on a returned connection.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_postgres::config::Host;
use tokio_postgres::{CancelToken, Config, NoTls};

/// Cancels what runs on one connection.
pub(crate) struct Canceller {
    pub(crate) token: CancelToken,
    pub(crate) target: CancelTarget,
}

impl Canceller {
    /// Asks the server to cancel the statement running on the connection,
    /// if any, and waits until it has acted. A failure is only logged: a
    /// rollback that follows then waits for the statement instead, within
    /// the pool's reset timeout.
    pub(crate) async fn cancel(&self) {
        if let Err(error) = self.target.cancel(&self.token).await {
            tracing::debug!(%error, "could not cancel a statement on a pooled connection");
        }
    }

    /// Like [`cancel`](Canceller::cancel), waiting at most `limit`. Returns
    /// `false` when the server did not answer in time: the request may
    /// still reach it later (a stalled network) and cancel whatever the
    /// connection runs then.
    pub(crate) async fn cancel_within(&self, limit: Duration) -> bool {
        match tokio::time::timeout(limit, self.cancel()).await {
            Ok(()) => true,
            Err(_) => {
                tracing::debug!(
                    ?limit,
                    "a cancel request got no answer in time; the connection will be closed"
                );
                false
            }
        }
    }
}

impl std::fmt::Debug for Canceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canceller")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Where to send cancel requests for a pool's connections.
#[derive(Clone, Debug)]
pub(crate) enum CancelTarget {
    Tcp(String, u16),
    Unix(PathBuf),
    /// Several hosts: which one a connection went to is not known, so no
    /// cancel is sent (the rollback waits for the statement instead).
    Unknown,
}

impl CancelTarget {
    pub(crate) fn of(config: &Config) -> Self {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        match config.get_hosts() {
            [Host::Tcp(host)] => CancelTarget::Tcp(host.clone(), port),
            [Host::Unix(dir)] => CancelTarget::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            _ => CancelTarget::Unknown,
        }
    }

    /// Sends a cancel request and waits until the server has acted on it.
    ///
    /// tokio-postgres's own `cancel_query` returns once the request is
    /// written; the server may act on it later, when the connection already
    /// runs the next user's statement. Like libpq, this waits for the server
    /// to close the cancel connection, which it does after signalling the
    /// backend. Returns `Ok(false)` when no cancel could be sent.
    pub(crate) async fn cancel(&self, token: &CancelToken) -> io::Result<bool> {
        match self {
            CancelTarget::Tcp(host, port) => {
                let mut stream = TcpStream::connect((host.as_str(), *port)).await?;
                send_and_wait(token, &mut stream).await?;
            }
            #[cfg(unix)]
            CancelTarget::Unix(path) => {
                let mut stream = tokio::net::UnixStream::connect(path).await?;
                send_and_wait(token, &mut stream).await?;
            }
            #[cfg(not(unix))]
            CancelTarget::Unix(_) => return Ok(false),
            CancelTarget::Unknown => return Ok(false),
        }
        Ok(true)
    }
}

async fn send_and_wait<S>(token: &CancelToken, stream: &mut S) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    token
        .cancel_query_raw(&mut *stream, NoTls)
        .await
        .map_err(io::Error::other)?;
    let mut buf = [0u8; 64];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}
