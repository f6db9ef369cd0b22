//! libpq's files for the tests of both flavours: a directory of test
//! files, a role with a password, a password file and a service file for
//! the private server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tidepool_testdb::{PgServer, TestDatabase};

use super::{psql, unique};

/// A directory of test files, removed when dropped.
pub(crate) struct Files(PathBuf);

impl Files {
    pub(crate) fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `name` with permission bits `mode`.
    pub(crate) fn write(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        chmod(&path, mode);
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A role that logs in with `password` over TCP.
pub(crate) fn password_role(db: &TestDatabase, tag: &str, password: &str) -> String {
    let role = unique(tag);
    psql(
        db,
        &format!("create role {role} login password '{password}'"),
    );
    role
}

/// A password file for `role` on `server`: a comment, a line for another
/// database, then a line for any database (the one that must match).
pub(crate) fn pgpass(server: &PgServer, role: &str, password: &str) -> String {
    let port = server.port();
    format!(
        "# tidepool test\n\
         127.0.0.1:{port}:otherdb:{role}:not-this-one\n\
         \n\
         127.0.0.1:{port}:*:{role}:{password}\n"
    )
}

pub(crate) fn pgpass_dsn(server: &PgServer, role: &str, file: &Path) -> String {
    format!(
        "host=127.0.0.1 port={} user={role} dbname=postgres passfile={}",
        server.port(),
        file.display()
    )
}

/// A service file with an unrelated section, then `name` for the private
/// server: its host, port, user and database, and an application name.
pub(crate) fn service_file(files: &Files, server: &PgServer, name: &str, app: &str) -> PathBuf {
    files.write(
        "pg_service.conf",
        &format!(
            "# services\n\
             [elsewhere]\n\
             host=192.0.2.1\n\
             \n\
             [{name}]\n\
             host=127.0.0.1\n\
             port={}\n\
             user=postgres\n\
             dbname=postgres\n\
             application_name={app}\n",
            server.port()
        ),
        0o644,
    )
}
