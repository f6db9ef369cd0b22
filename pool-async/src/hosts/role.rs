//! What a connection's server is (a primary or a standby, read-write or
//! read-only), as it reports it and as it answers, kept up to date while
//! the connection lives.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use std::task::{Context, Poll};
use tidepool_core::Sweeper;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::hosts::attrs::SessionAttrs;
use crate::pool::connect::PgConnection;

const STANDBY_KNOWN: u8 = 1;
const STANDBY: u8 = 2;
const READ_ONLY_KNOWN: u8 = 4;
const READ_ONLY: u8 = 8;

/// The role of one connection's server: whether it is in hot standby and
/// whether its sessions are read-only by default, each known or not.
///
/// PostgreSQL 14 and later report both (`in_hot_standby`,
/// `default_transaction_read_only`) at connect and again whenever they
/// change (a promotion, a reload): the connection's task updates this as
/// the reports arrive. Older servers report neither, and the pool asks
/// them (`pg_is_in_recovery()`, `transaction_read_only`).
#[derive(Debug, Default)]
pub(crate) struct Role {
    bits: AtomicU8,
}

impl Role {
    /// Takes in the server's reported settings, where it reports them;
    /// returns whether what is known changed.
    pub(crate) fn observe(&self, connection: &PgConnection) -> bool {
        let on = |name| connection.parameter(name).map(|value| value == "on");
        let standby = on("in_hot_standby");
        let default_read_only = on("default_transaction_read_only");
        let mut bits = self.bits.load(Ordering::Relaxed);
        let before = bits;
        if let Some(standby) = standby {
            bits = set(bits, STANDBY_KNOWN, STANDBY, standby);
        }
        if let (Some(standby), Some(default_read_only)) = (standby, default_read_only) {
            // libpq's rule: read-only when either is on.
            bits = set(
                bits,
                READ_ONLY_KNOWN,
                READ_ONLY,
                standby || default_read_only,
            );
        }
        if bits != before {
            self.bits.store(bits, Ordering::Relaxed);
        }
        bits != before
    }

    /// Records what the server answered.
    fn record(&self, standby: Option<bool>, read_only: Option<bool>) {
        let mut bits = self.bits.load(Ordering::Relaxed);
        if let Some(standby) = standby {
            bits = set(bits, STANDBY_KNOWN, STANDBY, standby);
        }
        if let Some(read_only) = read_only {
            bits = set(bits, READ_ONLY_KNOWN, READ_ONLY, read_only);
        }
        self.bits.store(bits, Ordering::Relaxed);
    }

    /// Whether the server is in hot standby, if known.
    fn standby(&self) -> Option<bool> {
        let bits = self.bits.load(Ordering::Relaxed);
        (bits & STANDBY_KNOWN != 0).then_some(bits & STANDBY != 0)
    }

    /// Whether the server's sessions are read-only by default, if known.
    fn read_only(&self) -> Option<bool> {
        let bits = self.bits.load(Ordering::Relaxed);
        (bits & READ_ONLY_KNOWN != 0).then_some(bits & READ_ONLY != 0)
    }

    /// Whether the server fits `attrs`; `None` while what decides it is
    /// unknown.
    pub(crate) fn fits(&self, attrs: SessionAttrs) -> Option<bool> {
        match attrs {
            SessionAttrs::Any | SessionAttrs::PreferStandby => Some(true),
            SessionAttrs::ReadWrite => self.read_only().map(|read_only| !read_only),
            SessionAttrs::ReadOnly => self.read_only(),
            SessionAttrs::Primary => self.standby().map(|standby| !standby),
            SessionAttrs::Standby => self.standby(),
        }
    }

    /// Whether a pool asking for `attrs` must give up a connection to
    /// this server: it is known not to fit (a promoted standby in a
    /// `standby` pool, a primary gone read-only in a `read-write` one).
    pub(crate) fn no_longer_fits(&self, attrs: SessionAttrs) -> bool {
        attrs.is_strict() && self.fits(attrs) == Some(false)
    }

    /// Asks the server what decides `attrs`, unless it is known, and
    /// returns whether the server fits.
    ///
    /// # Errors
    ///
    /// The query's error.
    pub(crate) async fn ask(
        &self,
        client: &Client,
        attrs: SessionAttrs,
    ) -> Result<bool, tokio_postgres::Error> {
        if let Some(fits) = self.fits(attrs) {
            return Ok(fits);
        }
        self.refresh(client).await?;
        Ok(self.fits(attrs).unwrap_or(true))
    }

    /// Asks the server for both (one round trip), whatever is known.
    ///
    /// # Errors
    ///
    /// The query's error.
    pub(crate) async fn refresh(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let messages = client
            .simple_query(
                "SELECT pg_catalog.pg_is_in_recovery(), \
                 pg_catalog.current_setting('transaction_read_only')",
            )
            .await?;
        for message in messages {
            if let SimpleQueryMessage::Row(row) = message {
                let standby = row.get(0).map(|value| value == "t");
                let read_only = row.get(1).map(|value| value == "on");
                self.record(standby, read_only);
            }
        }
        Ok(())
    }

    /// What the server is, for error messages: "a standby", "a read-only
    /// primary", "a primary".
    pub(crate) fn describe(&self) -> &'static str {
        match (self.standby(), self.read_only()) {
            (Some(true), _) => "a standby (in hot standby)",
            (Some(false), Some(true)) => "a primary whose sessions are read-only by default",
            (Some(false), _) => "a primary",
            (None, Some(true)) => "read-only",
            (None, Some(false)) => "read-write",
            (None, None) => "of an unknown role",
        }
    }
}

/// What a pooled connection's task watches for a pool that asks for a
/// role: when the server's reports show that it no longer fits, the pool
/// is asked to sweep its idle connections at once, since the connection
/// may already be back in the pool (the report comes with the answer to
/// the statement that brought it).
pub(crate) struct RoleWatch {
    pub(crate) role: Arc<Role>,
    pub(crate) attrs: SessionAttrs,
    pub(crate) sweeper: Option<Sweeper>,
}

impl RoleWatch {
    /// Takes in the server's reports (see [`Role::observe`]).
    pub(crate) fn observe(&self, connection: &PgConnection) {
        if self.role.observe(connection)
            && self.role.no_longer_fits(self.attrs)
            && let Some(sweeper) = &self.sweeper
        {
            sweeper.sweep_soon();
        }
    }
}

fn set(bits: u8, known: u8, flag: u8, on: bool) -> u8 {
    let bits = bits | known;
    if on { bits | flag } else { bits & !flag }
}

/// Drives `connection` (the server's messages are read and dropped) while
/// `work` runs on its client, keeping `role` up to date: the connection's
/// task before the pool takes the connection. `None` when the connection
/// ended first.
pub(crate) async fn drive_while<T>(
    connection: &mut PgConnection,
    role: &Role,
    work: impl Future<Output = T>,
) -> Option<T> {
    role.observe(connection);
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        loop {
            match connection.poll_message(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(None),
                Poll::Pending => {
                    role.observe(connection);
                    return Poll::Pending;
                }
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_reads_what_decides_it() {
        let role = Role::default();
        // Nothing known: nothing decided, nothing given up.
        assert_eq!(role.fits(SessionAttrs::ReadWrite), None);
        assert_eq!(role.fits(SessionAttrs::Any), Some(true));
        assert!(!role.no_longer_fits(SessionAttrs::Standby));

        role.record(Some(true), Some(true));
        assert_eq!(role.fits(SessionAttrs::Standby), Some(true));
        assert_eq!(role.fits(SessionAttrs::ReadOnly), Some(true));
        assert_eq!(role.fits(SessionAttrs::Primary), Some(false));
        assert_eq!(role.fits(SessionAttrs::ReadWrite), Some(false));
        assert_eq!(role.fits(SessionAttrs::PreferStandby), Some(true));

        // Promoted: a standby pool gives it up, prefer-standby keeps it.
        role.record(Some(false), Some(false));
        assert!(role.no_longer_fits(SessionAttrs::Standby));
        assert!(role.no_longer_fits(SessionAttrs::ReadOnly));
        assert!(!role.no_longer_fits(SessionAttrs::PreferStandby));
        assert!(!role.no_longer_fits(SessionAttrs::ReadWrite));
        assert_eq!(role.describe(), "a primary");

        // A primary whose sessions are read-only: a primary, not read-write.
        role.record(None, Some(true));
        assert_eq!(role.fits(SessionAttrs::Primary), Some(true));
        assert!(role.no_longer_fits(SessionAttrs::ReadWrite));
        assert_eq!(
            role.describe(),
            "a primary whose sessions are read-only by default"
        );
    }
}
