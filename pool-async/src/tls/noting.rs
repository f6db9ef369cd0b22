//! A connector that notes whether the server took up the TLS request, so
//! that `sslmode=prefer` can retry without TLS only when TLS was tried,
//! as libpq does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::Socket;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

type Inner = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;

/// The rustls connector of one connect, and whether its handshake began.
pub(crate) struct NotingConnector {
    inner: MakeRustlsConnect,
    started: Arc<AtomicBool>,
}

impl NotingConnector {
    /// Wraps `inner` for one connect; the note says afterwards whether the
    /// handshake began.
    pub(crate) fn new(inner: MakeRustlsConnect) -> (Self, TlsStarted) {
        let started = Arc::new(AtomicBool::new(false));
        let note = TlsStarted(Arc::clone(&started));
        (Self { inner, started }, note)
    }
}

/// Whether the server of one connect accepted the TLS request and a
/// handshake began.
pub(crate) struct TlsStarted(Arc<AtomicBool>);

impl TlsStarted {
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl MakeTlsConnect<Socket> for NotingConnector {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = NotingConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<NotingConnect, Self::Error> {
        Ok(NotingConnect {
            inner: MakeTlsConnect::<Socket>::make_tls_connect(&mut self.inner, domain)?,
            started: Arc::clone(&self.started),
        })
    }
}

/// The handshake of one connect, noting that it began.
pub(crate) struct NotingConnect {
    inner: Inner,
    started: Arc<AtomicBool>,
}

impl TlsConnect<Socket> for NotingConnect {
    type Stream = <Inner as TlsConnect<Socket>>::Stream;
    type Error = <Inner as TlsConnect<Socket>>::Error;
    type Future = <Inner as TlsConnect<Socket>>::Future;

    fn connect(self, stream: Socket) -> Self::Future {
        self.started.store(true, Ordering::Release);
        self.inner.connect(stream)
    }
}
