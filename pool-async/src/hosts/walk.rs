//! Walking the hosts of a connection string in libpq's order: each host,
//! and each address of a host name, tried in turn with its own
//! `connect_timeout`, until one connects to a server that fits
//! `target_session_attrs`.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Config;
use tokio_postgres::config::Host;

use crate::conninfo::PassFile;
use crate::hosts::attrs::{LoadBalance, SessionAttrs};
use crate::hosts::role::{Role, drive_while};
use crate::pool::connect::{Opened, PgConnection, Target, connect_host};
use crate::tls::{SslMode, Tls};

/// One host of the connection string, with its port and `hostaddr`.
#[derive(Clone, Debug)]
struct HostEntry {
    host: Option<Host>,
    hostaddr: Option<IpAddr>,
    port: u16,
}

/// One failed try: where, and why.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// The host (and address) tried, such as "db1:5432 (10.0.0.1)".
    pub(crate) server: String,
    pub(crate) failure: Failure,
}

/// Why a try failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connect, or the query asking the server's role, failed.
    Connect(tokio_postgres::Error),
    /// The host name did not resolve.
    Resolve(std::io::Error),
    /// No answer within `connect_timeout`.
    TimedOut(Duration),
    /// The server answered but does not fit; what it is.
    Role(&'static str),
    /// The server closed the connection while its role was asked.
    Closed,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.server)?;
        match &self.failure {
            Failure::Connect(error) => crate::error::write_postgres(f, error),
            Failure::Resolve(error) => write!(f, "could not resolve the host name: {error}"),
            Failure::TimedOut(limit) => write!(
                f,
                "no answer within connect_timeout ({} s)",
                limit.as_secs_f64()
            ),
            Failure::Role(what) => write!(f, "the server is {what}"),
            Failure::Closed => f.write_str("the server closed the connection"),
        }
    }
}

/// How long a connect keeps walking the hosts again while a server
/// answers but does not fit: a failover in progress (a standby about to be
/// promoted) is caught within [`ROLE_RETRY_PAUSE`], not at the pool's next
/// backoff step.
const ROLE_RETRY_WINDOW: Duration = Duration::from_secs(1);
/// The pause between two walks within [`ROLE_RETRY_WINDOW`].
const ROLE_RETRY_PAUSE: Duration = Duration::from_millis(50);

impl Target {
    /// Connects to the first host, in libpq's order, whose server fits the
    /// connection string's `target_session_attrs`; under `prefer-standby`,
    /// to a standby if any host has one, else to any server.
    ///
    /// When a server answered but did not fit, the hosts are walked again
    /// every 50 ms for up to 1 s before the connect fails (and the pool's
    /// backoff takes over).
    ///
    /// # Errors
    ///
    /// Every try's failure of the last walk, in order.
    pub(crate) async fn connect(self) -> Result<Opened, Vec<Attempt>> {
        let started = tokio::time::Instant::now();
        loop {
            match self.walk().await {
                Ok(opened) => return Ok(opened),
                Err(attempts) => {
                    let answered = attempts
                        .iter()
                        .any(|attempt| matches!(attempt.failure, Failure::Role(_)));
                    if !answered || started.elapsed() + ROLE_RETRY_PAUSE > ROLE_RETRY_WINDOW {
                        return Err(attempts);
                    }
                    tokio::time::sleep(ROLE_RETRY_PAUSE).await;
                }
            }
        }
    }

    /// One walk over the hosts.
    async fn walk(&self) -> Result<Opened, Vec<Attempt>> {
        let Target {
            config,
            tls,
            routing,
            passfile,
        } = self;
        let mut entries = entries(config);
        let random = routing.load_balance == LoadBalance::Random;
        if random {
            shuffle(&mut entries);
        }
        let limit = config.get_connect_timeout().copied();
        let mut attempts = Vec::new();
        for &need in routing.attrs.passes() {
            for entry in &entries {
                let tries = match addresses(entry, random).await {
                    Ok(tries) => tries,
                    Err(error) => {
                        attempts.push(Attempt {
                            server: describe(entry, None),
                            failure: Failure::Resolve(error),
                        });
                        continue;
                    }
                };
                for address in tries {
                    let server = describe(entry, address);
                    let single = single_host(config, entry, address, tls);
                    let outcome = match limit {
                        Some(limit) => tokio::time::timeout(
                            limit,
                            try_one(single, tls, passfile.as_ref(), need),
                        )
                        .await
                        .unwrap_or(Err(Failure::TimedOut(limit))),
                        None => try_one(single, tls, passfile.as_ref(), need).await,
                    };
                    match outcome {
                        Ok((client, connection, config, role)) => {
                            return Ok(Opened {
                                client,
                                connection,
                                config,
                                server,
                                role,
                            });
                        }
                        Err(failure) => attempts.push(Attempt { server, failure }),
                    }
                }
            }
        }
        Err(attempts)
    }
}

/// Connects to one address and checks its server's role, driving the
/// connection meanwhile; the caller drives it afterwards (see
/// [`drive_while`]).
async fn try_one(
    config: Config,
    tls: &Tls,
    passfile: Option<&PassFile>,
    need: SessionAttrs,
) -> Result<(tokio_postgres::Client, PgConnection, Config, Arc<Role>), Failure> {
    let (client, mut connection, config) = connect_host(config, tls, passfile)
        .await
        .map_err(Failure::Connect)?;
    let role = Arc::new(Role::default());
    let asked = drive_while(&mut connection, &role, role.ask(&client, need)).await;
    match asked {
        Some(Ok(true)) => Ok((client, connection, config, role)),
        // Dropping the client and the connection ends it.
        Some(Ok(false)) => Err(Failure::Role(role.describe())),
        Some(Err(error)) => Err(Failure::Connect(error)),
        None => Err(Failure::Closed),
    }
}

/// The hosts of `config`, each with its port and `hostaddr`.
fn entries(config: &Config) -> Vec<HostEntry> {
    let hosts = config.get_hosts();
    let hostaddrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let count = hosts.len().max(hostaddrs.len());
    (0..count)
        .map(|i| HostEntry {
            host: hosts.get(i).cloned(),
            hostaddr: hostaddrs.get(i).copied(),
            port: ports
                .get(i)
                .or(if ports.len() == 1 {
                    ports.first()
                } else {
                    None
                })
                .copied()
                .unwrap_or(5432),
        })
        .collect()
}

/// The addresses to try for one host: `None` where tokio-postgres needs
/// none (a Unix socket, an IP address written as the host); every address
/// of a host name, in random order under `load_balance_hosts=random`.
async fn addresses(entry: &HostEntry, random: bool) -> std::io::Result<Vec<Option<IpAddr>>> {
    match (&entry.host, entry.hostaddr) {
        (_, Some(address)) => Ok(vec![Some(address)]),
        (Some(Host::Tcp(name)), None) => {
            if let Ok(address) = name.parse::<IpAddr>() {
                return Ok(vec![Some(address)]);
            }
            let mut found: Vec<Option<IpAddr>> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .map(|address| Some(address.ip()))
                .collect();
            found.dedup();
            if found.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name has no address",
                ));
            }
            if random {
                shuffle(&mut found);
            }
            Ok(found)
        }
        _ => Ok(vec![None]),
    }
}

/// "host:port", "name:port (address)" or the Unix socket's path.
fn describe(entry: &HostEntry, address: Option<IpAddr>) -> String {
    let port = entry.port;
    match (&entry.host, address) {
        (Some(Host::Unix(dir)), _) => format!("{}/.s.PGSQL.{port}", dir.display()),
        (Some(Host::Tcp(name)), Some(address)) if name.parse() != Ok(address) => {
            format!("{name}:{port} ({address})")
        }
        (Some(Host::Tcp(name)), _) => format!("{name}:{port}"),
        (None, Some(address)) => std::net::SocketAddr::new(address, port).to_string(),
        (None, None) => format!("the default host:{port}"),
    }
}

/// `config` with one host, port and address: everything else (user,
/// password, TLS mode, timeouts, keepalives) as `config` has it, and
/// `target_session_attrs=any` (the walk checks the role itself).
fn single_host(config: &Config, entry: &HostEntry, address: Option<IpAddr>, tls: &Tls) -> Config {
    let mut single = Config::new();
    if let Some(user) = config.get_user() {
        single.user(user);
    }
    if let Some(password) = config.get_password() {
        single.password(password);
    }
    if let Some(dbname) = config.get_dbname() {
        single.dbname(dbname);
    }
    if let Some(options) = config.get_options() {
        single.options(options);
    }
    if let Some(name) = config.get_application_name() {
        single.application_name(name);
    }
    if let Some(timeout) = config.get_connect_timeout() {
        single.connect_timeout(*timeout);
    }
    if let Some(timeout) = config.get_tcp_user_timeout() {
        single.tcp_user_timeout(*timeout);
    }
    single
        .ssl_mode(config.get_ssl_mode())
        .ssl_negotiation(config.get_ssl_negotiation())
        .channel_binding(config.get_channel_binding())
        .keepalives(config.get_keepalives())
        .keepalives_idle(config.get_keepalives_idle());
    if let Some(interval) = config.get_keepalives_interval() {
        single.keepalives_interval(interval);
    }
    if let Some(retries) = config.get_keepalives_retries() {
        single.keepalives_retries(retries);
    }
    match &entry.host {
        Some(Host::Tcp(name)) => {
            single.host(name);
        }
        #[cfg(unix)]
        Some(Host::Unix(dir)) => {
            single.host_path(dir);
        }
        #[cfg(not(unix))]
        Some(Host::Unix(_)) => {}
        None => {
            // tokio-postgres wants a host name for the TLS handshake even
            // where no name is checked: the address stands in for it.
            // (verify-full, as in libpq, fails without a host name.)
            if let Some(address) = address
                && !matches!(tls.mode, SslMode::Disable | SslMode::VerifyFull)
            {
                single.host(address.to_string());
            }
        }
    }
    if let Some(address) = address {
        single.hostaddr(address);
    }
    single.port(entry.port);
    single
}

/// Shuffles `items` (Fisher-Yates), random enough to spread connects.
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(i);
        let j = (hasher.finish() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_gets_its_port_or_the_only_one() {
        let config: Config = "host=a,b port=1,2 user=u".parse().unwrap();
        let ports: Vec<u16> = entries(&config).iter().map(|e| e.port).collect();
        assert_eq!(ports, [1, 2]);
        let config: Config = "host=a,b port=7 user=u".parse().unwrap();
        let ports: Vec<u16> = entries(&config).iter().map(|e| e.port).collect();
        assert_eq!(ports, [7, 7]);
        let config: Config = "host=a,b user=u".parse().unwrap();
        let described: Vec<String> = entries(&config).iter().map(|e| describe(e, None)).collect();
        assert_eq!(described, ["a:5432", "b:5432"]);
    }

    #[test]
    fn shuffling_keeps_every_item_and_varies_the_order() {
        let mut seen_first = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut items = [1, 2, 3, 4];
            shuffle(&mut items);
            let mut sorted = items;
            sorted.sort_unstable();
            assert_eq!(sorted, [1, 2, 3, 4]);
            seen_first.insert(items[0]);
        }
        assert_eq!(seen_first.len(), 4);
    }
}
