//! libpq's environment variables: the values a connection string leaves
//! out (`PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//! `PGDATABASE`, `PGAPPNAME`, `PGOPTIONS`, `PGCONNECT_TIMEOUT`,
//! `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`,
//! `PGTARGETSESSIONATTRS`, `PGLOADBALANCEHOSTS`). The files' variables
//! (`PGPASSFILE`, `PGSERVICE`, `PGSERVICEFILE`, `PGSYSCONFDIR`) and the
//! defaults' (`HOME`, `USER`, `LOGNAME`) are read where the files and
//! defaults are.
//!
//! The variables are read through a lookup function, so that tests give
//! their own environment instead of changing the process's.

use std::time::Duration;

use tokio_postgres::Config;

use crate::conninfo::parse::{RoutingKeys, TlsKeys};
use crate::error::Error;
use crate::hosts::{LoadBalance, SessionAttrs};
use crate::tls::SslMode;

/// Looks up an environment variable.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Fills what `config` and `tls` lack from the variables `env` gives. An
/// empty variable counts as unset.
pub(crate) fn fill_from_env(
    config: &mut Config,
    tls: &mut TlsKeys,
    routing: &mut RoutingKeys,
    env: Lookup<'_>,
) -> Result<(), Error> {
    let get = |name: &str| env(name).filter(|value| !value.is_empty());
    if config.get_hosts().is_empty()
        && config.get_hostaddrs().is_empty()
        && let Some(hosts) = get("PGHOST")
    {
        for host in hosts.split(',') {
            config.host(host);
        }
    }
    if config.get_hostaddrs().is_empty()
        && let Some(addresses) = get("PGHOSTADDR")
    {
        for address in addresses.split(',') {
            config.hostaddr(address.trim().parse().map_err(|_| {
                invalid(
                    "PGHOSTADDR",
                    format!(
                        "expected an IP address or a comma-separated list of them; \
                         got '{addresses}'"
                    ),
                )
            })?);
        }
    }
    if config.get_ports().is_empty()
        && let Some(ports) = get("PGPORT")
    {
        for port in ports.split(',') {
            config.port(parse_port(port, &ports)?);
        }
    }
    if config.get_user().is_none()
        && let Some(user) = get("PGUSER")
    {
        config.user(user);
    }
    if config.get_password().is_none()
        && let Some(password) = get("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_dbname().is_none()
        && let Some(dbname) = get("PGDATABASE")
    {
        config.dbname(dbname);
    }
    if config.get_application_name().is_none()
        && let Some(name) = get("PGAPPNAME")
    {
        config.application_name(name);
    }
    if config.get_options().is_none()
        && let Some(options) = get("PGOPTIONS")
    {
        config.options(options);
    }
    if config.get_connect_timeout().is_none()
        && let Some(timeout) = get("PGCONNECT_TIMEOUT")
    {
        // As libpq and tokio-postgres: 0 or less is no limit.
        let seconds: i64 = timeout.trim().parse().map_err(|_| {
            invalid(
                "PGCONNECT_TIMEOUT",
                format!("expected a whole number of seconds; got '{timeout}'"),
            )
        })?;
        if let Ok(seconds @ 1..) = u64::try_from(seconds) {
            config.connect_timeout(Duration::from_secs(seconds));
        }
    }
    if tls.mode.is_none()
        && let Some(mode) = get("PGSSLMODE")
    {
        tls.mode = Some(SslMode::parse(&mode).map_err(|why| invalid("PGSSLMODE", why))?);
    }
    if tls.root_cert.is_none() {
        tls.root_cert = get("PGSSLROOTCERT").map(|value| TlsKeys::root_cert(&value));
    }
    if tls.client_cert.is_none() {
        tls.client_cert = get("PGSSLCERT").map(Into::into);
    }
    if tls.client_key.is_none() {
        tls.client_key = get("PGSSLKEY").map(Into::into);
    }
    if routing.attrs.is_none()
        && let Some(attrs) = get("PGTARGETSESSIONATTRS")
    {
        routing.attrs =
            Some(SessionAttrs::parse(&attrs).map_err(|why| invalid("PGTARGETSESSIONATTRS", why))?);
    }
    if routing.load_balance.is_none()
        && let Some(balance) = get("PGLOADBALANCEHOSTS")
    {
        routing.load_balance =
            Some(LoadBalance::parse(&balance).map_err(|why| invalid("PGLOADBALANCEHOSTS", why))?);
    }
    Ok(())
}

/// One port of `PGPORT` (`all`); empty is the default, 5432.
fn parse_port(port: &str, all: &str) -> Result<u16, Error> {
    if port.is_empty() {
        return Ok(5432);
    }
    port.trim().parse().map_err(|_| {
        invalid(
            "PGPORT",
            format!(
                "expected a port number (1-65535) or a comma-separated list of them; got '{all}'"
            ),
        )
    })
}

fn invalid(name: &str, why: String) -> Error {
    Error::config(format!("invalid environment variable {name}: {why}"))
}
