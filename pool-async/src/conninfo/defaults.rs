//! libpq's defaults for what neither the connection string, a service nor
//! the environment gives: the host, the user, the database, the password
//! file and the certificate files under `~/.postgresql/`.

use std::path::{Path, PathBuf};

use tokio_postgres::Config;

use crate::conninfo::env::Lookup;
use crate::conninfo::parse::TlsKeys;
use crate::error::Error;
use crate::tls::RootCerts;

/// The directory of the server's Unix socket that libpq built for Debian
/// and Ubuntu (`DEFAULT_PGSOCKET_DIR`) connects to by default.
pub(crate) const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// The host of a connection string that names none: the default socket
/// directory where it exists, else `localhost`.
pub(crate) fn default_host(socket_dir_exists: bool) -> &'static str {
    if socket_dir_exists && cfg!(unix) {
        DEFAULT_SOCKET_DIR
    } else {
        "localhost"
    }
}

/// The home directory, from `HOME`.
pub(crate) fn home(env: Lookup<'_>) -> Option<PathBuf> {
    env("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// Fills the host, user and database that `config` still lacks, as libpq
/// does: the default socket directory (or `localhost`), the operating
/// system's user (from `USER`, then `LOGNAME`), and a database named as
/// the user. Hosts, ports and users given stay as they are.
pub(crate) fn fill_defaults(config: &mut Config, env: Lookup<'_>) {
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        match default_host(Path::new(DEFAULT_SOCKET_DIR).is_dir()) {
            #[cfg(unix)]
            dir if dir.starts_with('/') => {
                config.host_path(dir);
            }
            name => {
                config.host(name);
            }
        }
    }
    if config.get_user().is_none()
        && let Some(user) = ["USER", "LOGNAME"]
            .iter()
            .find_map(|name| env(name).filter(|user| !user.is_empty()))
    {
        config.user(user);
    }
    if config.get_dbname().is_none()
        && let Some(user) = config.get_user().map(str::to_owned)
    {
        config.dbname(user);
    }
}

/// The password file: `passfile`, `PGPASSFILE`, or `~/.pgpass`.
pub(crate) fn pass_file(given: Option<String>, env: Lookup<'_>) -> Option<PathBuf> {
    given
        .or_else(|| env("PGPASSFILE").filter(|path| !path.is_empty()))
        .map(PathBuf::from)
        .or_else(|| home(env).map(|home| home.join(".pgpass")))
}

/// Fills the certificate files that `tls` lacks from `~/.postgresql/`, as
/// libpq does: `root.crt` as `sslrootcert`, `postgresql.crt` and
/// `postgresql.key` as `sslcert` and `sslkey`, each when the file exists.
///
/// # Errors
///
/// When the client certificate is found (or given) but its key is not.
pub(crate) fn fill_tls_files(tls: &mut TlsKeys, env: Lookup<'_>) -> Result<(), Error> {
    let Some(home) = home(env) else {
        return Ok(());
    };
    let dir = home.join(".postgresql");
    let existing = |name: &str| Some(dir.join(name)).filter(|path| path.is_file());
    if tls.root_cert.is_none() {
        tls.root_cert = existing("root.crt").map(RootCerts::File);
    }
    match (&tls.client_cert, &tls.client_key) {
        (None, None) => {
            if let Some(cert) = existing("postgresql.crt") {
                let key = existing("postgresql.key").ok_or_else(|| {
                    Error::config(format!(
                        "the client certificate {} is there but not its key {}; add the \
                         key, or move the certificate away",
                        cert.display(),
                        dir.join("postgresql.key").display()
                    ))
                })?;
                tls.client_cert = Some(cert);
                tls.client_key = Some(key);
            }
        }
        (Some(_), None) => tls.client_key = existing("postgresql.key"),
        (None, Some(_)) => tls.client_cert = existing("postgresql.crt"),
        (Some(_), Some(_)) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_host_is_the_socket_directory_when_it_exists() {
        assert_eq!(default_host(false), "localhost");
        #[cfg(unix)]
        assert_eq!(default_host(true), DEFAULT_SOCKET_DIR);
    }

    #[test]
    fn the_user_comes_from_user_then_logname_and_names_the_database() {
        for (env, expected) in [
            (&[("USER", "alice"), ("LOGNAME", "bob")][..], Some("alice")),
            (&[("USER", ""), ("LOGNAME", "bob")][..], Some("bob")),
            (&[][..], None),
        ] {
            let lookup = |name: &str| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            let mut config = Config::new();
            fill_defaults(&mut config, &lookup);
            assert_eq!(config.get_user(), expected, "{env:?}");
            assert_eq!(config.get_dbname(), expected, "{env:?}");
            assert_eq!(config.get_hosts().len(), 1);
        }
    }

    #[test]
    fn the_password_file_is_passfile_then_pgpassfile_then_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let both = env(&[("PGPASSFILE", "/env/pgpass"), ("HOME", "/home/a")]);
        assert_eq!(
            pass_file(Some("/given".into()), &both),
            Some(PathBuf::from("/given"))
        );
        assert_eq!(pass_file(None, &both), Some(PathBuf::from("/env/pgpass")));
        let home = env(&[("HOME", "/home/a")]);
        assert_eq!(
            pass_file(None, &home),
            Some(PathBuf::from("/home/a/.pgpass"))
        );
        assert_eq!(pass_file(None, &env(&[])), None);
    }
}
