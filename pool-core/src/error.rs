//! The pool's error type.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

/// The shared form of an error returned by a [`Manager`](crate::Manager).
pub type BoxedCause = Arc<dyn StdError + Send + Sync + 'static>;

/// An error from the pool: a checkout that timed out or was turned away, a
/// closed pool, or bad settings.
///
/// Ask what happened through the predicates ([`is_timeout`](Error::is_timeout),
/// [`is_too_many_requests`](Error::is_too_many_requests), ...). When the pool
/// could not open connections, [`cause`](Error::cause) (and
/// [`source`](StdError::source)) give the last connection error.
pub struct Error {
    kind: Kind,
    cause: Option<BoxedCause>,
}

#[derive(Debug)]
enum Kind {
    Config(String),
    Timeout(Box<Exhausted>),
    WaitTimeout(Box<Exhausted>),
    TooManyRequests {
        pool: String,
        waiting: usize,
        max_waiting: usize,
    },
    Closed {
        pool: String,
    },
    ConnectFailed {
        pool: String,
        waited: Duration,
    },
    CloseTimeout {
        pool: String,
        open: usize,
        waited: Duration,
    },
}

/// What the pool looked like when a wait ran out.
#[derive(Debug)]
pub(crate) struct Exhausted {
    pub(crate) pool: String,
    pub(crate) waited: Duration,
    pub(crate) in_use: usize,
    pub(crate) open: usize,
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    pub(crate) waiting: usize,
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Config(message.into()),
            cause: None,
        }
    }

    pub(crate) fn timeout(state: Exhausted, cause: Option<BoxedCause>) -> Self {
        Self {
            kind: Kind::Timeout(Box::new(state)),
            cause,
        }
    }

    pub(crate) fn wait_timeout(state: Exhausted, cause: Option<BoxedCause>) -> Self {
        Self {
            kind: Kind::WaitTimeout(Box::new(state)),
            cause,
        }
    }

    pub(crate) fn too_many_requests(pool: &str, waiting: usize, max_waiting: usize) -> Self {
        Self {
            kind: Kind::TooManyRequests {
                pool: pool.to_owned(),
                waiting,
                max_waiting,
            },
            cause: None,
        }
    }

    pub(crate) fn closed(pool: &str) -> Self {
        Self {
            kind: Kind::Closed {
                pool: pool.to_owned(),
            },
            cause: None,
        }
    }

    pub(crate) fn connect_failed(pool: &str, waited: Duration, cause: BoxedCause) -> Self {
        Self {
            kind: Kind::ConnectFailed {
                pool: pool.to_owned(),
                waited,
            },
            cause: Some(cause),
        }
    }

    pub(crate) fn close_timeout(pool: &str, open: usize, waited: Duration) -> Self {
        Self {
            kind: Kind::CloseTimeout {
                pool: pool.to_owned(),
                open,
                waited,
            },
            cause: None,
        }
    }

    /// True when a checkout, [`Pool::wait`](crate::Pool::wait) or
    /// [`Pool::close_timeout`](crate::Pool::close_timeout) ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            Kind::Timeout(_) | Kind::WaitTimeout(_) | Kind::CloseTimeout { .. }
        )
    }

    /// True when a checkout was turned away at once because `max_waiting`
    /// requests were already waiting.
    pub fn is_too_many_requests(&self) -> bool {
        matches!(self.kind, Kind::TooManyRequests { .. })
    }

    /// True when a checkout or [`Pool::wait`](crate::Pool::wait) failed at
    /// once because the pool had no connection and a connect failed with an
    /// error that retrying cannot fix (a wrong password, a missing
    /// database; see [`Manager::is_permanent`](crate::Manager::is_permanent)).
    /// [`cause`](Error::cause) gives that error. The pool keeps retrying in
    /// the background.
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::ConnectFailed { .. })
    }

    /// True when the pool was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed { .. })
    }

    /// True when the pool's settings were rejected.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }

    /// How long the request waited, for a timeout or a failed connect.
    pub fn waited(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Timeout(state) | Kind::WaitTimeout(state) => Some(state.waited),
            Kind::CloseTimeout { waited, .. } | Kind::ConnectFailed { waited, .. } => Some(*waited),
            _ => None,
        }
    }

    /// The last error met while opening connections, when it explains this
    /// error (a timeout while the database could not be reached, say).
    pub fn cause(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

/// Writes a duration the way people read it: "250 ms", "2.5 s".
pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d < Duration::from_secs(1) {
            write!(f, "{} ms", d.as_millis())
        } else {
            let secs = d.as_secs_f64();
            if (secs - secs.round()).abs() < 0.0005 {
                write!(f, "{} s", secs.round())
            } else {
                write!(f, "{secs:.3} s")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Config(message) => write!(f, "invalid pool configuration: {message}")?,
            Kind::Timeout(s) => {
                write!(
                    f,
                    "pool \"{}\": no connection became available within {}: \
                     {} of {} connections in use ({} open), {} other requests waiting",
                    s.pool,
                    Secs(s.waited),
                    s.in_use,
                    s.max_size,
                    s.open,
                    s.waiting
                )?;
                if self.cause.is_none() {
                    f.write_str(
                        "; raise max_size or the timeout, or hold connections for shorter times",
                    )?;
                }
            }
            Kind::WaitTimeout(s) => write!(
                f,
                "pool \"{}\": only {} of min_size {} connections were open after {}",
                s.pool,
                s.open,
                s.min_size,
                Secs(s.waited)
            )?,
            Kind::TooManyRequests {
                pool,
                waiting,
                max_waiting,
            } => write!(
                f,
                "pool \"{pool}\": too many requests: {waiting} already waiting for a connection \
                 (max_waiting is {max_waiting}); retry later, or raise max_waiting or max_size"
            )?,
            Kind::Closed { pool } => write!(f, "pool \"{pool}\" is closed")?,
            Kind::ConnectFailed { pool, waited } => write!(
                f,
                "pool \"{pool}\": no connection could be opened, and the error is not one \
                 that waiting fixes, so the request failed after {} instead of waiting out \
                 its timeout; the pool keeps retrying in the background",
                Secs(*waited)
            )?,
            Kind::CloseTimeout { pool, open, waited } => write!(
                f,
                "pool \"{pool}\" closed, but {open} {} still in use after {}; \
                 they close when they are returned",
                if *open == 1 {
                    "connection was"
                } else {
                    "connections were"
                },
                Secs(*waited)
            )?,
        }
        if let Some(cause) = &self.cause {
            write!(f, "; the last attempt to connect failed: {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("cause", &self.cause.as_ref().map(|c| c.to_string()))
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn StdError + 'static))
    }
}
