//! The error of a row factory.

use std::error::Error as StdError;
use std::fmt;

/// Why a row factory could not build a row: a missing column, a value of
/// the wrong type, a NULL where none may be, or the error of a user's
/// factory.
///
/// Queries return it inside their [`Error`](crate::Error)
/// ([`Error::is_row`](crate::Error::is_row)); a factory of your own
/// builds it with [`RowError::new`], or from a tokio-postgres error (such
/// as the one of `Row::try_get`) with `?`.
pub struct RowError {
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl RowError {
    /// An error that says what was wrong with the row.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the error behind it.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What was wrong, without the error behind it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<tokio_postgres::Error> for RowError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::new(error.to_string())
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowError")
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for RowError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
