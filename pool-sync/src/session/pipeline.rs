//! Blocking pipelines.

use std::fmt;

use tidepool_async::{Error, Piped, ToSql};

use crate::pool::runtime::Blocker;

/// A blocking pipeline, as [`tidepool_async::Pipeline`]: statements sent
/// together, their results collected in order.
#[must_use = "a pipeline does nothing until it is run"]
pub struct Pipeline<'a> {
    pub(crate) inner: tidepool_async::Pipeline<'a>,
    pub(crate) blocker: &'a Blocker,
}

impl<'a> Pipeline<'a> {
    /// Adds a statement whose rows are wanted.
    pub fn query(mut self, sql: &'a str, params: &'a [&'a (dyn ToSql + Sync)]) -> Self {
        self.inner = self.inner.query(sql, params);
        self
    }

    /// Adds a statement whose count of changed rows is wanted.
    pub fn execute(mut self, sql: &'a str, params: &'a [&'a (dyn ToSql + Sync)]) -> Self {
        self.inner = self.inner.execute(sql, params);
        self
    }

    /// Sends every statement and collects the results in order.
    ///
    /// # Errors
    ///
    /// An error when called inside a pool callback; each statement's own
    /// error is in its result.
    pub fn run(self) -> Result<Vec<Result<Piped, Error>>, Error> {
        self.blocker
            .block_on("Pipeline::run", async { Ok(self.inner.run().await) })
    }
}

impl fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
