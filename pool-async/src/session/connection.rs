//! The connection wrapper handed out by the pool.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{CancelToken, Client, SimpleQueryMessage};

use crate::error::Error;
use crate::rows::{RowFactory, TupleRow};
use crate::session::cache::{CacheSettings, StatementCache, StatementCacheStats};
use crate::session::cancel::Canceller;
use crate::session::execute::{Session, lock};
use crate::session::tracker::Tracker;
use crate::session::transaction::{Transaction, TransactionBuilder, TransactionFuture};

/// A PostgreSQL connection of the pool: a [`tokio_postgres::Client`] that
/// tracks its session state, so that the pool never hands the next user a
/// connection inside a transaction or with a statement still running.
///
/// Use the methods here and [`transaction`](Connection::transaction) for
/// the usual work; [`client`](Connection::client) lends the raw client for
/// anything else (the connection is then rolled back when returned).
///
/// `R` is the connection's [row factory](RowFactory): what
/// [`query`](Connection::query) returns for each row. It is the pool's
/// ([`PoolBuilder::row_factory`](crate::PoolBuilder::row_factory)), the
/// protocol row ([`TupleRow`]) unless the pool says otherwise.
pub struct Connection<R = TupleRow> {
    id: u64,
    client: Client,
    tracker: Tracker,
    cache: Mutex<StatementCache>,
    rows: R,
}

impl Connection {
    pub(crate) fn new(
        client: Client,
        canceller: Canceller,
        query_timeout: Option<Duration>,
        cache: CacheSettings,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            tracker: Tracker::new(canceller, query_timeout, !cache.pgbouncer),
            cache: Mutex::new(StatementCache::new(cache)),
            rows: TupleRow,
        }
    }
}

impl Connection {
    /// Tells the connection where it went (for its statements' spans) and
    /// whether its statements' durations are recorded as metrics.
    pub(crate) fn set_peer(&mut self, peer: crate::session::span::Peer, statement_metrics: bool) {
        self.tracker.peer = peer;
        self.tracker.statement_metrics = statement_metrics;
    }
}

impl<R> Connection<R> {
    pub(crate) fn session(&self) -> Session<'_> {
        Session {
            client: &self.client,
            tracker: &self.tracker,
            cache: &self.cache,
            begin: None,
        }
    }

    /// The connection with another row factory, and the one it had.
    pub(crate) fn switch_rows<F>(self, rows: F) -> (Connection<F>, R) {
        let Connection {
            id,
            client,
            tracker,
            cache,
            rows: previous,
        } = self;
        let conn = Connection {
            id,
            client,
            tracker,
            cache,
            rows,
        };
        (conn, previous)
    }

    /// The connection with another row factory: its queries return
    /// `F::Output`. For a connection of the pool, see
    /// [`PooledConnection::with_row_factory`](crate::PooledConnection::with_row_factory).
    pub fn with_row_factory<F: RowFactory>(self, rows: F) -> Connection<F> {
        self.switch_rows(rows).0
    }

    /// A number that tells this connection apart from every other
    /// connection opened by this process, for logs and diagnostics. It
    /// stays the same for the connection's whole life, across checkouts.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The row factory of [`query`](Connection::query) and its kin.
    pub fn row_factory(&self) -> &R {
        &self.rows
    }

    /// Replaces the row factory with another of the same type (such as
    /// another closure of a boxed type); to change the type of the rows,
    /// use [`with_row_factory`](Connection::with_row_factory).
    pub fn set_row_factory(&mut self, rows: R) {
        self.rows = rows;
    }

    /// How many statements this connection keeps prepared on the server
    /// (the statement cache; see [`PoolBuilder::prepare_threshold`](crate::PoolBuilder::prepare_threshold)).
    pub fn cached_statements(&self) -> usize {
        lock(&self.cache).len()
    }

    /// What this connection's statement cache has done: kept statements,
    /// hits, prepares and evictions.
    pub fn statement_cache_stats(&self) -> StatementCacheStats {
        lock(&self.cache).stats()
    }

    /// Forgets the statements this connection keeps prepared, closing them
    /// on the server.
    pub fn clear_statement_cache(&self) {
        lock(&self.cache).clear();
    }

    /// The longest a statement on this connection may run before it is
    /// cancelled and the call returns an error
    /// ([`Error::is_query_timeout`]). Starts as the pool's
    /// [`query_timeout`](crate::PoolBuilder::query_timeout).
    pub fn query_timeout(&self) -> Option<Duration> {
        self.tracker.query_timeout
    }

    /// Changes the query timeout of this connection, until the pool resets
    /// it when the connection is returned.
    pub fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.tracker.query_timeout = timeout;
    }

    crate::session::methods::statement_methods! {
        errors: "The server's error, or a connection error.",
        cancel: "Dropping the future does not corrupt the connection: the statement may still run on the server, and the pool resets the connection before anyone else uses it.",
    }

    /// Begins a transaction. It commits only through
    /// [`Transaction::commit`]; dropped any other way it rolls back.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves the connection to be
    /// reset by the pool.
    pub async fn transaction(&mut self) -> Result<Transaction<'_, R>, Error>
    where
        R: Sync,
    {
        self.build_transaction().start().await
    }

    /// Runs `work` in a transaction: commits when it returns `Ok`, rolls
    /// back when it returns `Err` (or panics, or the future is dropped).
    ///
    /// ```no_run
    /// # async fn demo(conn: &mut tidepool_async::Connection) -> Result<(), tidepool_async::Error> {
    /// let moved = conn
    ///     .in_transaction(|tx| Box::pin(async move {
    ///         tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", &[]).await?;
    ///         tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2", &[]).await
    ///     }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s error (after the rollback), or the server's error for
    /// `COMMIT`, converted into `E`. `BEGIN` is sent with the first
    /// statement of `work`, which fails with its error if it fails.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future rolls the transaction back, unless the `COMMIT`
    /// was already sent (then it may or may not have run).
    pub async fn in_transaction<T, E, F>(&mut self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t Transaction<'t, R>) -> TransactionFuture<'t, T, E>,
        E: From<Error>,
        R: Sync,
    {
        let tx = self.transaction().await?;
        match work(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                // Dropping the transaction queues its ROLLBACK before any
                // later statement; the caller's error matters more than the
                // rollback's outcome.
                drop(tx);
                Err(error)
            }
        }
    }

    /// Starts building a transaction with an isolation level, read-only or
    /// deferrable mode.
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_, R> {
        TransactionBuilder::new(&self.client, &self.tracker, &self.cache, &self.rows)
    }

    /// Lends the raw tokio-postgres client, for what this wrapper does not
    /// offer.
    ///
    /// The wrapper cannot see what is done through the raw client, so the
    /// connection is rolled back when it goes back to the pool.
    pub fn client(&self) -> &Client {
        self.tracker.mark_dirty();
        &self.client
    }

    /// The raw client for the pool's own queries, which leave no session
    /// state behind.
    pub(crate) fn client_unmarked(&self) -> &Client {
        &self.client
    }

    /// A token to cancel the statement running on this connection from
    /// elsewhere.
    ///
    /// The token asks for the TLS of the connection's `sslmode`: for a
    /// connection that may use TLS (`prefer` and stricter), give its
    /// `cancel_query` a TLS connector, such as
    /// `tokio_postgres_rustls::MakeRustlsConnect`; `NoTls` fails under
    /// `require`. The pool itself cancels statements left running on
    /// returned connections, and those past the query timeout.
    pub fn cancel_token(&self) -> CancelToken {
        self.client.cancel_token()
    }

    /// The server this connection reached, among the connection string's
    /// hosts: `"host:port"`, `"name:port (address)"` for a host name, or
    /// the path of a Unix socket. Statements are cancelled there.
    pub fn server(&self) -> &str {
        &self.tracker.canceller.server
    }

    /// Whether the connection to the server is closed.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Whether the connection must not serve anyone else: closed, ended by
    /// the server, or exposed to a cancel request that got no answer and
    /// may still cancel a later statement.
    pub(crate) fn is_unusable(&self) -> bool {
        self.client.is_closed() || self.tracker.is_unusable()
    }

    pub(crate) fn needs_reset(&self) -> bool {
        self.tracker.needs_reset()
    }

    /// Whether a statement failed as a write in a read-only transaction
    /// (SQLSTATE 25006) since the pool last asked.
    pub(crate) fn write_refused(&self) -> bool {
        self.tracker.write_refused()
    }

    /// As [`write_refused`](Self::write_refused), and forgets it.
    pub(crate) fn take_write_refused(&self) -> bool {
        self.tracker.take_write_refused()
    }

    pub(crate) fn has_statement_in_flight(&self) -> bool {
        self.tracker.has_in_flight()
    }

    /// Asks the server to cancel the statement running on this connection,
    /// if any, and waits until it has acted.
    pub(crate) async fn cancel_running(&self) {
        self.tracker.canceller.cancel().await;
    }

    /// Rolls back whatever the session may hold open, if the tracker says
    /// it may, and forgets the tracked state.
    pub(crate) async fn settle(&mut self) -> Result<(), Error> {
        if self.tracker.needs_reset() {
            let sql = if self.tracker.has_held_cursors() {
                "ROLLBACK; CLOSE ALL"
            } else {
                "ROLLBACK"
            };
            self.client.batch_execute(sql).await.map_err(Error::db)?;
            self.tracker.clear();
        }
        Ok(())
    }

    /// Runs the pool's reset SQL (such as `DISCARD ALL`) on a returned
    /// connection.
    pub(crate) async fn run_reset_sql(&self, sql: &str) -> Result<(), Error> {
        self.client.batch_execute(sql).await.map_err(Error::db)?;
        if crate::session::sql::script_drops_statements(sql) {
            lock(&self.cache).clear();
        }
        Ok(())
    }

    /// The default health check: an empty query, one round trip.
    pub(crate) async fn ping(&self) -> Result<(), Error> {
        self.client
            .simple_query("")
            .await
            .map(drop)
            .map_err(Error::db)
    }
}

impl<R: RowFactory> Connection<R> {
    crate::session::methods::factory_queries! {
        errors: "The server's error, or a connection error.",
        cancel: "Dropping the future does not corrupt the connection: the statement may still run on the server, and the pool resets the connection before anyone else uses it.",
    }
}

impl<R> fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("row_factory", &std::any::type_name::<R>())
            .field("server", &self.server())
            .field("closed", &self.client.is_closed())
            .field("needs_reset", &self.tracker.needs_reset())
            .field("cached_statements", &self.cached_statements())
            .finish_non_exhaustive()
    }
}
