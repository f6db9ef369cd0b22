//! libpq's connection service file (`pg_service.conf`): named sections of
//! `key=value` lines, which `service=name` (or `PGSERVICE`) adds to a
//! connection string.
//!
//! The user's file (`servicefile`, `PGSERVICEFILE` or
//! `~/.pg_service.conf`) is searched first, then the system's
//! (`PGSYSCONFDIR/pg_service.conf`); the first file with the section is
//! used, as libpq does.

use std::path::{Path, PathBuf};

use crate::conninfo::defaults::home;
use crate::conninfo::env::Lookup;
use crate::conninfo::extract::is_supported_key;
use crate::error::Error;

/// The directory of the system's service file when `PGSYSCONFDIR` is
/// unset: the one of Debian's and Ubuntu's libpq.
pub(crate) const DEFAULT_SYSCONFDIR: &str = "/etc/postgresql-common";

/// The files searched for a service, in order.
pub(crate) fn service_files(servicefile: Option<&str>, env: Lookup<'_>) -> Vec<PathBuf> {
    let get = |name: &str| env(name).filter(|value| !value.is_empty());
    let user = servicefile
        .map(PathBuf::from)
        .or_else(|| get("PGSERVICEFILE").map(PathBuf::from))
        .or_else(|| home(env).map(|home| home.join(".pg_service.conf")));
    let system = get("PGSYSCONFDIR")
        .map_or_else(|| PathBuf::from(DEFAULT_SYSCONFDIR), PathBuf::from)
        .join("pg_service.conf");
    user.into_iter().chain([system]).collect()
}

/// The `key=value` entries of service `name`, from the first of `files`
/// that defines it.
///
/// # Errors
///
/// When no file defines the service (naming the files searched), a file
/// cannot be read, or the section has a line that is not `key=value` of a
/// key tidepool reads (naming the file, the line and the key).
pub(crate) fn service_entries(
    name: &str,
    files: &[PathBuf],
) -> Result<Vec<(String, String)>, Error> {
    for file in files {
        let contents = match std::fs::read_to_string(file) {
            Ok(contents) => contents,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(Error::config(format!(
                    "the service file {} could not be read: {error}",
                    file.display()
                )));
            }
        };
        if let Some(entries) = section(&contents, name, file)? {
            return Ok(entries);
        }
    }
    let searched: Vec<String> = files
        .iter()
        .map(|file| {
            let missing = if file.exists() { "" } else { " (missing)" };
            format!("{}{missing}", file.display())
        })
        .collect();
    Err(Error::config(format!(
        "the service '{name}' is not defined in {}; add a [{name}] section with its \
         key=value lines to one of them (PGSERVICEFILE or the connection string's \
         servicefile names the first)",
        searched.join(" or ")
    )))
}

/// The entries of section `name` of a service file's text, or `None` when
/// the file has no such section.
fn section(
    contents: &str,
    name: &str,
    file: &Path,
) -> Result<Option<Vec<(String, String)>>, Error> {
    let mut found: Option<Vec<(String, String)>> = None;
    for (number, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            if found.is_some() {
                // The end of the service's section.
                break;
            }
            if header.strip_suffix(']') == Some(name) {
                found = Some(Vec::new());
            }
            continue;
        }
        let Some(entries) = found.as_mut() else {
            continue;
        };
        let at = || format!("service file {}, line {}", file.display(), number + 1);
        let Some((key, value)) = line.split_once('=') else {
            return Err(Error::config(format!(
                "{}: expected key=value in the section [{name}]",
                at()
            )));
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "service" || key == "servicefile" {
            return Err(Error::config(format!(
                "{}: `{key}` may not be given inside a service (nested services are not \
                 supported, as in libpq)",
                at()
            )));
        }
        if !is_supported_key(key) {
            return Err(Error::config(format!(
                "{}: `{key}` is not a connection key tidepool reads",
                at()
            )));
        }
        entries.push((key.to_owned(), value.to_owned()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# services
[other]
host=elsewhere

[shop]
host = db.internal
port=6432
  user=app
dbname=shop
sslmode=verify-full
# a comment inside
[after]
host=nowhere
";

    fn entries(contents: &str, name: &str) -> Result<Option<Vec<(String, String)>>, Error> {
        section(contents, name, Path::new("/x/pg_service.conf"))
    }

    #[test]
    fn a_section_gives_its_keys_in_order() {
        let found = entries(FILE, "shop").unwrap().unwrap();
        let expected: Vec<(String, String)> = [
            ("host", "db.internal"),
            ("port", "6432"),
            ("user", "app"),
            ("dbname", "shop"),
            ("sslmode", "verify-full"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(found, expected);
        assert!(entries(FILE, "missing").unwrap().is_none());
    }

    #[test]
    fn bad_lines_name_the_file_the_line_and_the_key() {
        let error = entries("[s]\nhost=a\nnonsense\n", "s")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("service file /x/pg_service.conf, line 3: expected key=value"),
            "{error}"
        );
        let error = entries("[s]\nhots=a\n", "s").unwrap_err().to_string();
        assert!(
            error.contains("line 2: `hots` is not a connection key"),
            "{error}"
        );
        let error = entries("[s]\nservice=t\n", "s").unwrap_err().to_string();
        assert!(error.contains("nested services"), "{error}");
        // Lines of other sections are not checked, as in libpq.
        assert!(
            entries("[t]\nnonsense\n[s]\nhost=a\n", "s")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn the_user_file_comes_before_the_system_file() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let files = service_files(None, &env(&[("HOME", "/home/a")]));
        assert_eq!(
            files,
            [
                PathBuf::from("/home/a/.pg_service.conf"),
                PathBuf::from("/etc/postgresql-common/pg_service.conf")
            ]
        );
        let files = service_files(
            None,
            &env(&[
                ("HOME", "/home/a"),
                ("PGSERVICEFILE", "/u/services"),
                ("PGSYSCONFDIR", "/sys"),
            ]),
        );
        assert_eq!(
            files,
            [
                PathBuf::from("/u/services"),
                PathBuf::from("/sys/pg_service.conf")
            ]
        );
        let files = service_files(Some("/given"), &env(&[("PGSERVICEFILE", "/u/s")]));
        assert_eq!(files[0], PathBuf::from("/given"));
    }

    #[test]
    fn an_unknown_service_names_the_files_searched() {
        let dir = std::env::temp_dir().join(format!("tidepool-service-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let user = dir.join("user.conf");
        std::fs::write(&user, "[a]\nhost=h1\n").unwrap();
        let system = dir.join("system.conf");
        std::fs::write(&system, "[a]\nhost=h2\n[b]\nhost=h3\n").unwrap();
        let files = [user.clone(), system.clone(), dir.join("none.conf")];
        let host = |name| service_entries(name, &files).unwrap()[0].1.clone();
        assert_eq!(host("a"), "h1");
        assert_eq!(host("b"), "h3");
        let error = service_entries("c", &files).unwrap_err().to_string();
        assert!(
            error.contains("the service 'c' is not defined in"),
            "{error}"
        );
        assert!(error.contains(&user.display().to_string()), "{error}");
        assert!(error.contains("none.conf (missing)"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
