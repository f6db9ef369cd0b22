//! The methods that run statements, the same on a [`Connection`] and in a
//! [`Transaction`]: written once here and expanded in both, each type
//! giving its own words for what an error and a dropped future mean.
//!
//! The expanding type provides `fn session(&self) -> Session<'_>` and
//! `fn row_factory(&self) -> &R`.
//!
//! [`Connection`]: crate::Connection
//! [`Transaction`]: crate::Transaction

/// `query`, `query_one` and `query_opt`, built by the row factory `R`:
/// expanded in an `impl` whose `R: RowFactory`.
macro_rules! factory_queries {
    (errors: $errors:literal, cancel: $cancel:literal $(,)?) => {
        /// Runs a statement and returns its rows, built by the
        /// connection's row factory.
        ///
        /// # Errors
        ///
        #[doc = $errors]
        /// Also the row factory's error ([`Error::is_row`](crate::Error::is_row)).
        ///
        /// # Cancel safety
        ///
        #[doc = $cancel]
        pub async fn query(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Vec<R::Output>, crate::Error> {
            self.session()
                .query_with(self.row_factory(), sql, params)
                .await
        }

        /// Runs a statement that returns exactly one row.
        ///
        /// # Errors
        ///
        /// As [`query`](Self::query), and an error when the statement
        /// returns no row or more than one.
        ///
        /// # Cancel safety
        ///
        /// As for [`query`](Self::query).
        pub async fn query_one(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<R::Output, crate::Error> {
            self.session()
                .query_one_with(self.row_factory(), sql, params)
                .await
        }

        /// Runs a statement that returns at most one row.
        ///
        /// # Errors
        ///
        /// As [`query`](Self::query), and an error when the statement
        /// returns more than one row.
        ///
        /// # Cancel safety
        ///
        /// As for [`query`](Self::query).
        pub async fn query_opt(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Option<R::Output>, crate::Error> {
            self.session()
                .query_opt_with(self.row_factory(), sql, params)
                .await
        }
    };
}

/// Every other statement method, for any row factory.
macro_rules! statement_methods {
    (errors: $errors:literal, cancel: $cancel:literal $(,)?) => {
        /// Runs a statement and returns its rows, each built by `factory`
        /// instead of the connection's row factory.
        ///
        /// ```no_run
        /// # async fn demo(conn: &tidepool_async::Connection) -> Result<(), tidepool_async::Error> {
        /// use tidepool_async::scalar_row;
        ///
        /// let ids: Vec<i64> = conn.query_with(&scalar_row(), "SELECT id FROM users", &[]).await?;
        /// # Ok(()) }
        /// ```
        ///
        /// # Errors
        ///
        #[doc = $errors]
        /// Also the factory's error ([`Error::is_row`](crate::Error::is_row)).
        ///
        /// # Cancel safety
        ///
        #[doc = $cancel]
        pub async fn query_with<F: RowFactory + ?Sized>(
            &self,
            factory: &F,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Vec<F::Output>, crate::Error> {
            self.session().query_with(factory, sql, params).await
        }

        /// Runs a statement that returns exactly one row, built by
        /// `factory`.
        ///
        /// # Errors
        ///
        /// As [`query_with`](Self::query_with), and an error when the
        /// statement returns no row or more than one.
        ///
        /// # Cancel safety
        ///
        /// As for [`query_with`](Self::query_with).
        pub async fn query_one_with<F: RowFactory + ?Sized>(
            &self,
            factory: &F,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<F::Output, crate::Error> {
            self.session().query_one_with(factory, sql, params).await
        }

        /// Runs a statement that returns at most one row, built by
        /// `factory`.
        ///
        /// # Errors
        ///
        /// As [`query_with`](Self::query_with), and an error when the
        /// statement returns more than one row.
        ///
        /// # Cancel safety
        ///
        /// As for [`query_with`](Self::query_with).
        pub async fn query_opt_with<F: RowFactory + ?Sized>(
            &self,
            factory: &F,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Option<F::Output>, crate::Error> {
            self.session().query_opt_with(factory, sql, params).await
        }

        /// Runs a statement and returns the number of rows it changed.
        ///
        /// # Errors
        ///
        #[doc = $errors]
        ///
        /// # Cancel safety
        ///
        #[doc = $cancel]
        pub async fn execute(
            &self,
            sql: &str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<u64, crate::Error> {
            self.session().execute(sql, params).await
        }

        /// Runs one or more statements separated by semicolons, without
        /// parameters, through the simple query protocol.
        ///
        /// # Errors
        ///
        #[doc = $errors]
        /// The statements after the one that failed do not run.
        ///
        /// # Cancel safety
        ///
        #[doc = $cancel]
        pub async fn batch_execute(&self, sql: &str) -> Result<(), crate::Error> {
            self.session().batch_execute(sql).await
        }

        /// Runs one or more statements through the simple query protocol
        /// and returns their rows as text.
        ///
        /// # Errors
        ///
        /// As for [`batch_execute`](Self::batch_execute).
        ///
        /// # Cancel safety
        ///
        #[doc = $cancel]
        pub async fn simple_query(
            &self,
            sql: &str,
        ) -> Result<Vec<SimpleQueryMessage>, crate::Error> {
            self.session().simple_query(sql).await
        }

        /// Starts a pipeline: statements sent together, without waiting
        /// for each reply, their results collected in order (as protocol
        /// rows, whatever the row factory).
        ///
        /// ```no_run
        /// # async fn demo(conn: &tidepool_async::Connection) -> Result<(), tidepool_async::Error> {
        /// let results = conn
        ///     .pipeline()
        ///     .execute("UPDATE counters SET n = n + 1 WHERE id = $1", &[&1i32])
        ///     .query("SELECT n FROM counters WHERE id = $1", &[&1i32])
        ///     .run()
        ///     .await;
        /// for (i, result) in results.iter().enumerate() {
        ///     if let Err(error) = result {
        ///         eprintln!("statement {i} failed: {error}");
        ///     }
        /// }
        /// # Ok(()) }
        /// ```
        pub fn pipeline(&self) -> crate::Pipeline<'_> {
            crate::Pipeline::new(self.session())
        }

        /// Starts `COPY ... FROM STDIN (FORMAT binary)`: rows are written
        /// one at a time with
        /// [`CopyInWriter::write_row`](crate::CopyInWriter::write_row),
        /// their values of the declared column `types`, and streamed to the
        /// server as they go.
        ///
        /// # Errors
        ///
        /// The server's error for the statement.
        ///
        /// # Cancel safety
        ///
        /// Dropping the future leaves the connection to be reset by the
        /// pool.
        pub async fn copy_in_rows(
            &self,
            sql: &str,
            types: &[Type],
        ) -> Result<crate::CopyInWriter<'_>, crate::Error> {
            self.session().copy_in_rows(sql, types).await
        }

        /// Starts `COPY ... FROM STDIN`, fed raw bytes in the statement's
        /// format (text, CSV or binary) with
        /// [`CopyIn::write`](crate::CopyIn::write).
        ///
        /// # Errors
        ///
        /// The server's error for the statement.
        ///
        /// # Cancel safety
        ///
        /// Dropping the future leaves the connection to be reset by the
        /// pool.
        pub async fn copy_in(&self, sql: &str) -> Result<crate::CopyIn<'_>, crate::Error> {
            self.session().copy_in(sql).await
        }

        /// Starts `COPY ... TO STDOUT`, read as raw chunks with
        /// [`CopyOut::next_chunk`](crate::CopyOut::next_chunk).
        ///
        /// # Errors
        ///
        /// The server's error for the statement.
        ///
        /// # Cancel safety
        ///
        /// Dropping the future leaves the connection to be reset by the
        /// pool.
        pub async fn copy_out(&self, sql: &str) -> Result<crate::CopyOut<'_>, crate::Error> {
            self.session().copy_out(sql).await
        }

        /// Starts `COPY ... TO STDOUT (FORMAT binary)`, read a row at a
        /// time with [`CopyOutRows::next_row`](crate::CopyOutRows::next_row),
        /// the columns of the declared `types`.
        ///
        /// # Errors
        ///
        /// The server's error for the statement.
        ///
        /// # Cancel safety
        ///
        /// Dropping the future leaves the connection to be reset by the
        /// pool.
        pub async fn copy_out_rows(
            &self,
            sql: &str,
            types: &[Type],
        ) -> Result<crate::CopyOutRows<'_>, crate::Error> {
            self.session().copy_out_rows(sql, types).await
        }
    };
}

pub(crate) use {factory_queries, statement_methods};
