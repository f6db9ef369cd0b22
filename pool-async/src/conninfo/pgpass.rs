//! libpq's password file (`~/.pgpass`, `PGPASSFILE`, `passfile`): lines of
//! `hostname:port:database:username:password`, read at every connect that
//! has no password, so that editing the file rotates the credentials.
//!
//! The rules are libpq's (`passwordFromFile` in `fe-connect.c`): the first
//! line whose four fields match wins; a field of `*` alone matches
//! anything; `\` escapes the next character (`\:` and `\\`); a line that
//! starts with `#` is a comment; `localhost` matches a connection without
//! host and one over the default socket directory. A file that group or
//! others may read, write or run is ignored with a warning, as libpq does.

use std::fmt;
use std::path::PathBuf;

use tokio_postgres::Config;
use tokio_postgres::config::Host;

use crate::conninfo::defaults::DEFAULT_SOCKET_DIR;

/// The host, port, database and user a password is looked up for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassKey<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: &'a str,
    pub(crate) dbname: &'a str,
    pub(crate) user: &'a str,
}

/// The password file a connection string names (or libpq's default one).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PassFile {
    path: PathBuf,
}

impl PassFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The password for the one host of `config` (a single-host
    /// configuration, as a connect tries it), if the file has a line for
    /// it. A missing file is no password; an unreadable or insecure one is
    /// no password and a warning naming the file.
    pub(crate) fn password_for(&self, config: &Config) -> Option<String> {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(dir)) => dir.to_string_lossy().into_owned(),
            None => config
                .get_hostaddrs()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        let port = config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432)
            .to_string();
        let user = config.get_user().unwrap_or_default();
        let dbname = config.get_dbname().unwrap_or(user);
        let key = PassKey {
            host: &host,
            port: &port,
            dbname,
            user,
        };
        let contents = self.read()?;
        find_password(&contents, key)
    }

    /// The file's text, when it is a plain file only its owner may use.
    fn read(&self) -> Option<String> {
        let path = &self.path;
        let metadata = std::fs::metadata(path).ok()?;
        if !metadata.is_file() {
            tracing::warn!(
                file = %path.display(),
                "the password file {} is not a plain file; it is ignored",
                path.display()
            );
            return None;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    "the password file {} has group or world access (mode {:04o}); it is \
                     ignored, as libpq does; make it private with chmod 0600 {}",
                    path.display(),
                    mode & 0o7777,
                    path.display()
                );
                return None;
            }
        }
        match std::fs::read_to_string(path) {
            Ok(contents) => Some(contents),
            Err(error) => {
                tracing::warn!(
                    file = %path.display(),
                    "the password file {} could not be read ({error}); it is ignored",
                    path.display()
                );
                None
            }
        }
    }
}

impl fmt::Debug for PassFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.path, f)
    }
}

/// The password of the first line of `contents` that matches `key`.
pub(crate) fn find_password(contents: &str, key: PassKey<'_>) -> Option<String> {
    // libpq: `localhost` stands for no host and for the default socket
    // directory.
    let host = if key.host.is_empty() || key.host == DEFAULT_SOCKET_DIR {
        "localhost"
    } else {
        key.host
    };
    contents.lines().find_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let rest = [host, key.port, key.dbname, key.user]
            .iter()
            .try_fold(line, |rest, token| field_matches(rest, token))?;
        Some(unescape_password(rest))
    })
}

/// libpq's `pwdfMatchesString`: whether the field at the start of `line`
/// matches `token`; the text after the field's `:` if so.
fn field_matches<'a>(line: &'a str, token: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut chars = line.char_indices();
    let mut wanted = token.chars();
    while let Some((at, c)) = chars.next() {
        let (c, escaped) = if c == '\\' {
            match chars.next() {
                Some((_, next)) => (next, true),
                None => return None,
            }
        } else {
            (c, false)
        };
        if c == ':' && !escaped {
            return wanted.next().is_none().then(|| &line[at + 1..]);
        }
        if wanted.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password field: up to the first unescaped `:`, escapes removed.
fn unescape_password(field: &str) -> String {
    let mut password = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => match chars.next() {
                Some(next) => password.push(next),
                None => password.push('\\'),
            },
            c => password.push(c),
        }
    }
    password
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(host: &'a str, port: &'a str, dbname: &'a str, user: &'a str) -> PassKey<'a> {
        PassKey {
            host,
            port,
            dbname,
            user,
        }
    }

    #[test]
    fn the_first_matching_line_wins() {
        let file = "db1:5432:app:alice:first\n\
                    db1:5432:app:alice:second\n\
                    *:*:*:alice:fallback\n";
        assert_eq!(
            find_password(file, key("db1", "5432", "app", "alice")).as_deref(),
            Some("first")
        );
        assert_eq!(
            find_password(file, key("db2", "5432", "app", "alice")).as_deref(),
            Some("fallback")
        );
        assert_eq!(find_password(file, key("db1", "5432", "app", "bob")), None);
    }

    #[test]
    fn a_star_alone_matches_any_value_but_not_a_prefix() {
        let file = "*:*:*:*:any\n";
        assert_eq!(
            find_password(file, key("h", "1", "d", "u")).as_deref(),
            Some("any")
        );
        // `db*` is not a pattern: it matches only the name "db*".
        let file = "db*:5432:*:u:star\n";
        assert_eq!(find_password(file, key("db1", "5432", "x", "u")), None);
        assert_eq!(
            find_password(file, key("db*", "5432", "x", "u")).as_deref(),
            Some("star")
        );
        // An escaped star is a literal star.
        let file = "\\*:5432:*:u:literal\n";
        assert_eq!(find_password(file, key("h", "5432", "x", "u")), None);
        assert_eq!(
            find_password(file, key("*", "5432", "x", "u")).as_deref(),
            Some("literal")
        );
    }

    #[test]
    fn escapes_let_fields_and_passwords_hold_colons_and_backslashes() {
        let file = "h:5432:my\\:db:u\\\\x:pa\\:ss\\\\word\n";
        assert_eq!(
            find_password(file, key("h", "5432", "my:db", "u\\x")).as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(find_password(file, key("h", "5432", "my", "u\\x")), None);
        // The password ends at its first unescaped colon.
        let file = "h:1:d:u:secret:extra\n";
        assert_eq!(
            find_password(file, key("h", "1", "d", "u")).as_deref(),
            Some("secret")
        );
    }

    #[test]
    fn comments_blank_lines_and_short_lines_are_skipped() {
        let file = "# h:1:d:u:commented\n\
                    \n\
                    h:1:d\n\
                    h:1:d:u:pw\r\n";
        assert_eq!(
            find_password(file, key("h", "1", "d", "u")).as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn localhost_matches_no_host_and_the_default_socket_directory() {
        let file = "localhost:5432:*:u:local\n/tmp/sock:5432:*:u:socket\n";
        for host in ["", DEFAULT_SOCKET_DIR, "localhost"] {
            assert_eq!(
                find_password(file, key(host, "5432", "d", "u")).as_deref(),
                Some("local"),
                "{host:?}"
            );
        }
        assert_eq!(
            find_password(file, key("/tmp/sock", "5432", "d", "u")).as_deref(),
            Some("socket")
        );
        assert_eq!(
            find_password(file, key("127.0.0.1", "5432", "d", "u")),
            None
        );
    }

    #[test]
    fn the_lookup_uses_the_connection_s_host_port_database_and_user() {
        let dir = std::env::temp_dir().join(format!("tidepool-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pgpass");
        std::fs::write(&path, "127.0.0.1:6000:shop:app:right\n*:*:*:*:wrong\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let file = PassFile::new(path.clone());
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .port(6000)
            .user("app")
            .dbname("shop");
        assert_eq!(file.password_for(&config).as_deref(), Some("right"));
        config.dbname("other");
        assert_eq!(file.password_for(&config).as_deref(), Some("wrong"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert_eq!(file.password_for(&config), None);
        }
        let missing = PassFile::new(dir.join("missing"));
        assert_eq!(missing.password_for(&config), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
