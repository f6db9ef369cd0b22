//! The blocking statement methods, the same on a [`Connection`] and in a
//! [`Transaction`]: written once here and expanded in both, each a
//! one-line delegation to the async type's method of the same name.
//!
//! The expanding type has the fields `inner` (the async connection or
//! transaction) and `blocker`; `$owner` names it in errors ("Connection",
//! "Transaction").
//!
//! [`Connection`]: crate::Connection
//! [`Transaction`]: crate::Transaction

/// `query`, `query_one` and `query_opt`, built by the row factory `R`:
/// expanded in an `impl` whose `R: RowFactory`.
macro_rules! blocking_factory_queries {
    ($owner:literal) => {
        /// Runs a statement and returns its rows, built by the
        /// connection's row factory.
        ///
        /// # Errors
        ///
        /// The server's error, a connection error, the row factory's error
        /// ([`Error::is_row`](crate::Error::is_row)), or an error when
        /// called inside a pool callback.
        pub fn query(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Vec<R::Output>, Error> {
            self.blocker
                .block_on(concat!($owner, "::query"), self.inner.query(sql, params))
        }

        /// Runs a statement that returns exactly one row.
        ///
        /// # Errors
        ///
        /// As [`query`](Self::query), and an error when the statement
        /// returns no row or more than one.
        pub fn query_one(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<R::Output, Error> {
            self.blocker.block_on(
                concat!($owner, "::query_one"),
                self.inner.query_one(sql, params),
            )
        }

        /// Runs a statement that returns at most one row.
        ///
        /// # Errors
        ///
        /// As [`query`](Self::query), and an error when the statement
        /// returns more than one row.
        pub fn query_opt(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Option<R::Output>, Error> {
            self.blocker.block_on(
                concat!($owner, "::query_opt"),
                self.inner.query_opt(sql, params),
            )
        }
    };
}

/// Every other blocking statement method, for any row factory.
macro_rules! blocking_statement_methods {
    ($owner:literal) => {
        /// Runs a statement and returns its rows, each built by `factory`
        /// instead of the connection's row factory.
        ///
        /// # Errors
        ///
        /// The server's error, a connection error, the factory's error
        /// ([`Error::is_row`](crate::Error::is_row)), or an error when
        /// called inside a pool callback.
        pub fn query_with<F: RowFactory + ?Sized>(
            &self,
            factory: &F,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Vec<F::Output>, Error> {
            self.blocker.block_on(
                concat!($owner, "::query_with"),
                self.inner.query_with(factory, sql, params),
            )
        }

        /// Runs a statement that returns exactly one row, built by
        /// `factory`.
        ///
        /// # Errors
        ///
        /// As [`query_with`](Self::query_with), and an error when the
        /// statement returns no row or more than one.
        pub fn query_one_with<F: RowFactory + ?Sized>(
            &self,
            factory: &F,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<F::Output, Error> {
            self.blocker.block_on(
                concat!($owner, "::query_one_with"),
                self.inner.query_one_with(factory, sql, params),
            )
        }

        /// Runs a statement that returns at most one row, built by
        /// `factory`.
        ///
        /// # Errors
        ///
        /// As [`query_with`](Self::query_with), and an error when the
        /// statement returns more than one row.
        pub fn query_opt_with<F: RowFactory + ?Sized>(
            &self,
            factory: &F,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Option<F::Output>, Error> {
            self.blocker.block_on(
                concat!($owner, "::query_opt_with"),
                self.inner.query_opt_with(factory, sql, params),
            )
        }

        /// Runs a statement and returns the number of rows it changed.
        ///
        /// # Errors
        ///
        /// The server's error, a connection error, or an error when called
        /// inside a pool callback.
        pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
            self.blocker.block_on(
                concat!($owner, "::execute"),
                self.inner.execute(sql, params),
            )
        }

        /// Runs statements separated by semicolons, without parameters.
        ///
        /// # Errors
        ///
        /// The first statement's error (the statements after it do not
        /// run), or an error when called inside a pool callback.
        pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
            self.blocker.block_on(
                concat!($owner, "::batch_execute"),
                self.inner.batch_execute(sql),
            )
        }

        /// Runs statements through the simple query protocol and returns
        /// their rows as text.
        ///
        /// # Errors
        ///
        /// As for [`batch_execute`](Self::batch_execute).
        pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
            self.blocker.block_on(
                concat!($owner, "::simple_query"),
                self.inner.simple_query(sql),
            )
        }

        /// Starts a pipeline, as [`tidepool_async::Connection::pipeline`].
        pub fn pipeline(&self) -> crate::Pipeline<'_> {
            crate::Pipeline {
                inner: self.inner.pipeline(),
                blocker: &self.blocker,
            }
        }

        /// Starts a binary `COPY ... FROM STDIN`, as
        /// [`tidepool_async::Connection::copy_in_rows`].
        ///
        /// # Errors
        ///
        /// The server's error, or an error when called inside a pool
        /// callback.
        pub fn copy_in_rows(
            &self,
            sql: &str,
            types: &[Type],
        ) -> Result<crate::CopyInWriter<'_>, Error> {
            let inner = self.blocker.block_on(
                concat!($owner, "::copy_in_rows"),
                self.inner.copy_in_rows(sql, types),
            )?;
            Ok(crate::CopyInWriter {
                inner,
                blocker: &self.blocker,
            })
        }

        /// Starts a `COPY ... FROM STDIN` fed raw bytes, as
        /// [`tidepool_async::Connection::copy_in`].
        ///
        /// # Errors
        ///
        /// The server's error, or an error when called inside a pool
        /// callback.
        pub fn copy_in(&self, sql: &str) -> Result<crate::CopyIn<'_>, Error> {
            let inner = self
                .blocker
                .block_on(concat!($owner, "::copy_in"), self.inner.copy_in(sql))?;
            Ok(crate::CopyIn {
                inner,
                blocker: &self.blocker,
            })
        }

        /// Starts a `COPY ... TO STDOUT` read as raw chunks, as
        /// [`tidepool_async::Connection::copy_out`].
        ///
        /// # Errors
        ///
        /// The server's error, or an error when called inside a pool
        /// callback.
        pub fn copy_out(&self, sql: &str) -> Result<crate::CopyOut<'_>, Error> {
            let inner = self
                .blocker
                .block_on(concat!($owner, "::copy_out"), self.inner.copy_out(sql))?;
            Ok(crate::CopyOut {
                inner,
                blocker: &self.blocker,
            })
        }

        /// Starts a binary `COPY ... TO STDOUT` read a row at a time, as
        /// [`tidepool_async::Connection::copy_out_rows`].
        ///
        /// # Errors
        ///
        /// The server's error, or an error when called inside a pool
        /// callback.
        pub fn copy_out_rows(
            &self,
            sql: &str,
            types: &[Type],
        ) -> Result<crate::CopyOutRows<'_>, Error> {
            let inner = self.blocker.block_on(
                concat!($owner, "::copy_out_rows"),
                self.inner.copy_out_rows(sql, types),
            )?;
            Ok(crate::CopyOutRows {
                inner,
                blocker: &self.blocker,
            })
        }
    };
}

pub(crate) use {blocking_factory_queries, blocking_statement_methods};
