//! Cancelling a statement left running on a returned connection.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{CancelToken, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Cancels what runs on one connection.
pub(crate) struct Canceller {
    pub(crate) token: CancelToken,
    pub(crate) target: CancelTarget,
    /// The connector of the pool's connects: a token of a TLS connection
    /// asks for TLS on the cancel connection too.
    pub(crate) tls: MakeRustlsConnect,
    /// The host (and address) the connection reached, for users and
    /// messages: "127.0.0.1:5432".
    pub(crate) server: String,
}

impl Canceller {
    /// Asks the server to cancel the statement running on the connection,
    /// if any, and waits until it has acted. A failure is only logged: a
    /// rollback that follows then waits for the statement instead, within
    /// the pool's reset timeout.
    pub(crate) async fn cancel(&self) {
        if let Err(error) = self.target.cancel(&self.token, &self.tls).await {
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
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Where to send cancel requests for a pool's connections.
#[derive(Clone, Debug)]
pub(crate) enum CancelTarget {
    /// A TCP server: the address to connect to (`hostaddr`, or else the
    /// host), the port, and the host name for TLS.
    Tcp {
        address: String,
        port: u16,
        host_name: String,
    },
    Unix(PathBuf),
    /// A configuration naming no single host (the pool connects each
    /// connection to one host, so this is not met): no cancel is sent, and
    /// the rollback waits for the statement instead.
    Unknown,
}

impl CancelTarget {
    pub(crate) fn of(config: &Config) -> Self {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        match (config.get_hosts(), config.get_hostaddrs()) {
            ([Host::Tcp(host)], []) => CancelTarget::Tcp {
                address: host.clone(),
                port,
                host_name: host.clone(),
            },
            ([Host::Tcp(host)], [address]) => CancelTarget::Tcp {
                address: address.to_string(),
                port,
                host_name: host.clone(),
            },
            ([], [address]) => CancelTarget::Tcp {
                address: address.to_string(),
                port,
                host_name: address.to_string(),
            },
            ([Host::Unix(dir)], []) => CancelTarget::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            _ => CancelTarget::Unknown,
        }
    }

    /// Sends a cancel request and waits until the server has acted on it.
    ///
    /// tokio-postgres's own `cancel_query` returns once the request is
    /// written; the server may act on it later, when the connection already
    /// runs the next user's statement. Like libpq, this waits for the server
    /// to close the cancel connection, which it does after signalling the
    /// backend. The request goes over TLS when the token's connection used
    /// it. Returns `Ok(false)` when no cancel could be sent.
    pub(crate) async fn cancel(
        &self,
        token: &CancelToken,
        tls: &MakeRustlsConnect,
    ) -> io::Result<bool> {
        match self {
            CancelTarget::Tcp {
                address,
                port,
                host_name,
            } => {
                let stream = TcpStream::connect((address.as_str(), *port)).await?;
                let connect = match MakeTlsConnect::<EofOnShutdown<TcpStream>>::make_tls_connect(
                    &mut tls.clone(),
                    host_name,
                ) {
                    Ok(connect) => connect,
                    Err(never) => match never {},
                };
                token
                    .cancel_query_raw(EofOnShutdown::new(stream), connect)
                    .await
                    .map_err(io::Error::other)?;
            }
            #[cfg(unix)]
            CancelTarget::Unix(path) => {
                // PostgreSQL offers no TLS on Unix sockets, and the pool
                // connects there without it.
                let stream = tokio::net::UnixStream::connect(path).await?;
                token
                    .cancel_query_raw(EofOnShutdown::new(stream), tokio_postgres::NoTls)
                    .await
                    .map_err(io::Error::other)?;
            }
            #[cfg(not(unix))]
            CancelTarget::Unix(_) => return Ok(false),
            CancelTarget::Unknown => return Ok(false),
        }
        Ok(true)
    }
}

/// A stream whose shutdown waits for the peer to close instead: it reads
/// (and drops) whatever comes until the end of the stream, as libpq does.
/// The writing side is left open: PgBouncer 1.18 and 1.19 take a
/// half-closed cancel connection for a client gone away, free it while
/// the cancel is still being forwarded, and exit (their issue 801). Under
/// TLS, the TLS layer sends its close_notify and then shuts this stream
/// down, so the wait works the same.
struct EofOnShutdown<S> {
    inner: S,
}

impl<S> EofOnShutdown<S> {
    fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EofOnShutdown<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for EofOnShutdown<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 64];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
    }
}
