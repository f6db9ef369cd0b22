//! libpq's `target_session_attrs` and `load_balance_hosts`: which server a
//! connection may settle on, and in which order the hosts are tried.

use std::fmt;

/// What kind of server a connection must reach (libpq's
/// `target_session_attrs`). Defaults to [`Any`](SessionAttrs::Any).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SessionAttrs {
    /// Any server.
    #[default]
    Any,
    /// A server whose sessions accept writes by default: not a standby,
    /// and `default_transaction_read_only` off.
    ReadWrite,
    /// The opposite of `read-write`: a standby, or a server whose sessions
    /// are read-only by default.
    ReadOnly,
    /// A server that is not in recovery.
    Primary,
    /// A server in recovery (a hot standby).
    Standby,
    /// A standby if any host is one, else any server.
    PreferStandby,
}

/// The accepted values, in libpq's order, for error messages.
const ACCEPTED_ATTRS: &str = "any, read-write, read-only, primary, standby, prefer-standby";

impl SessionAttrs {
    /// Reads a value as libpq spells it.
    ///
    /// # Errors
    ///
    /// A message naming the accepted values.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "any" => SessionAttrs::Any,
            "read-write" => SessionAttrs::ReadWrite,
            "read-only" => SessionAttrs::ReadOnly,
            "primary" => SessionAttrs::Primary,
            "standby" => SessionAttrs::Standby,
            "prefer-standby" => SessionAttrs::PreferStandby,
            other => {
                return Err(format!(
                    "unknown value '{other}'; expected one of {ACCEPTED_ATTRS}"
                ));
            }
        })
    }

    /// The value as libpq spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        }
    }

    /// The requirement of each pass over the hosts: `prefer-standby` looks
    /// for a standby on every host first, then takes any server.
    pub(crate) fn passes(self) -> &'static [SessionAttrs] {
        match self {
            SessionAttrs::PreferStandby => &[SessionAttrs::Standby, SessionAttrs::Any],
            SessionAttrs::Any => &[SessionAttrs::Any],
            SessionAttrs::ReadWrite => &[SessionAttrs::ReadWrite],
            SessionAttrs::ReadOnly => &[SessionAttrs::ReadOnly],
            SessionAttrs::Primary => &[SessionAttrs::Primary],
            SessionAttrs::Standby => &[SessionAttrs::Standby],
        }
    }

    /// Whether an open connection must be watched for a change of role: a
    /// connection of these pools is closed once its server no longer fits.
    /// (`prefer-standby` takes any server in the end, so any fits.)
    pub(crate) fn is_strict(self) -> bool {
        !matches!(self, SessionAttrs::Any | SessionAttrs::PreferStandby)
    }

    /// From tokio-postgres's configuration, for a configuration built in
    /// code.
    pub(crate) fn from_wire(attrs: tokio_postgres::config::TargetSessionAttrs) -> Self {
        use tokio_postgres::config::TargetSessionAttrs as Wire;
        match attrs {
            Wire::ReadWrite => SessionAttrs::ReadWrite,
            Wire::ReadOnly => SessionAttrs::ReadOnly,
            _ => SessionAttrs::Any,
        }
    }
}

impl fmt::Display for SessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// In which order the hosts are tried (libpq's `load_balance_hosts`).
/// Defaults to [`Disable`](LoadBalance::Disable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LoadBalance {
    /// In the order given.
    #[default]
    Disable,
    /// In a random order, drawn anew at every connect (and the addresses
    /// of each host name too).
    Random,
}

impl LoadBalance {
    /// Reads a value as libpq spells it.
    ///
    /// # Errors
    ///
    /// A message naming the accepted values.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        match value {
            "disable" => Ok(LoadBalance::Disable),
            "random" => Ok(LoadBalance::Random),
            other => Err(format!(
                "unknown value '{other}'; expected one of disable, random"
            )),
        }
    }

    /// From tokio-postgres's configuration, for a configuration built in
    /// code.
    pub(crate) fn from_wire(balance: tokio_postgres::config::LoadBalanceHosts) -> Self {
        match balance {
            tokio_postgres::config::LoadBalanceHosts::Random => LoadBalance::Random,
            _ => LoadBalance::Disable,
        }
    }
}

/// Where among several hosts a connection may settle, and the order they
/// are tried in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Routing {
    /// `target_session_attrs`.
    pub(crate) attrs: SessionAttrs,
    /// `load_balance_hosts`.
    pub(crate) load_balance: LoadBalance,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libpq_value_reads_back() {
        for value in ACCEPTED_ATTRS.split(", ") {
            assert_eq!(SessionAttrs::parse(value).unwrap().as_str(), value);
        }
        let error = SessionAttrs::parse("read_write").unwrap_err();
        assert!(
            error.contains("read_write") && error.contains(ACCEPTED_ATTRS),
            "{error}"
        );
        assert_eq!(LoadBalance::parse("random"), Ok(LoadBalance::Random));
        assert!(
            LoadBalance::parse("yes")
                .unwrap_err()
                .contains("disable, random")
        );
    }

    #[test]
    fn prefer_standby_looks_for_a_standby_first() {
        assert_eq!(
            SessionAttrs::PreferStandby.passes(),
            [SessionAttrs::Standby, SessionAttrs::Any]
        );
        assert!(!SessionAttrs::PreferStandby.is_strict());
        assert!(SessionAttrs::Standby.is_strict());
    }
}
