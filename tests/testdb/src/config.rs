//! Rendering `postgresql.conf` additions and `pg_hba.conf`.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::HarnessError;

/// The authentication rules that follow the caller's own `pg_hba.conf`
/// lines: the superuser `postgres` needs no password, every other role must
/// present its password over TCP.
pub(crate) const DEFAULT_HBA_LINES: &[&str] = &[
    "local all all trust",
    "local replication postgres trust",
    "host replication postgres 127.0.0.1/32 trust",
    "host all postgres 127.0.0.1/32 trust",
    "host all postgres ::1/128 trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
];

/// The settings every private server gets, before the caller's own.
pub(crate) fn base_settings(port: u16, socket_dir: &Path) -> Vec<(String, String)> {
    [
        ("port", port.to_string()),
        ("listen_addresses", "127.0.0.1".to_owned()),
        (
            "unix_socket_directories",
            socket_dir.to_string_lossy().into_owned(),
        ),
        ("fsync", "off".to_owned()),
        ("synchronous_commit", "off".to_owned()),
        ("full_page_writes", "off".to_owned()),
        ("max_connections", "300".to_owned()),
        ("shared_buffers", "32MB".to_owned()),
        // pg_ctl -l sends stderr to the log file in the server's directory.
        ("logging_collector", "off".to_owned()),
        ("log_destination", "stderr".to_owned()),
        ("lc_messages", "C".to_owned()),
        // Ready to be the primary of a streaming standby (the replication
        // helpers); these are PostgreSQL's defaults, written out so that a
        // template's configuration cannot change them.
        ("wal_level", "replica".to_owned()),
        ("max_wal_senders", "10".to_owned()),
        ("hot_standby", "on".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// Checks that `name` can be written as a `postgresql.conf` parameter name.
pub(crate) fn validate_setting_name(name: &str) -> Result<(), HarnessError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(HarnessError::invalid(format!(
            "{name:?} is not a valid PostgreSQL setting name"
        )))
    }
}

/// Checks that an extra `pg_hba.conf` line is a single line.
pub(crate) fn validate_hba_line(line: &str) -> Result<(), HarnessError> {
    if line.contains(['\n', '\r']) {
        Err(HarnessError::invalid(format!(
            "pg_hba.conf line {line:?} must not contain a line break"
        )))
    } else {
        Ok(())
    }
}

/// `name = 'value'` lines; every value is quoted, which PostgreSQL accepts
/// for numbers and booleans too.
pub(crate) fn render_settings(settings: &[(String, String)]) -> String {
    let mut out = String::from("\n# Added by the tidepool test harness; later lines win.\n");
    for (name, value) in settings {
        let _ = writeln!(out, "{name} = {}", quote_value(value));
    }
    out
}

/// The complete `pg_hba.conf`: the caller's lines, then the defaults.
pub(crate) fn render_hba(extra_lines: &[String]) -> String {
    let mut out = String::from("# Written by the tidepool test harness.\n");
    for line in extra_lines
        .iter()
        .map(String::as_str)
        .chain(DEFAULT_HBA_LINES.iter().copied())
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn quote_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_escaped() {
        let rendered = render_settings(&[
            ("work_mem".to_owned(), "8MB".to_owned()),
            ("application_name".to_owned(), r"it's a\b".to_owned()),
        ]);
        assert!(rendered.contains("work_mem = '8MB'\n"), "{rendered}");
        assert!(
            rendered.contains(r"application_name = 'it''s a\\b'"),
            "{rendered}"
        );
    }

    #[test]
    fn user_hba_lines_come_first() {
        let hba = render_hba(&["host all r 127.0.0.1/32 trust".to_owned()]);
        let user = hba.find("host all r 127.0.0.1/32 trust").unwrap();
        let default = hba.find("host all all 127.0.0.1/32 scram-sha-256").unwrap();
        assert!(user < default, "{hba}");
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(validate_setting_name("work_mem").is_ok());
        assert!(validate_setting_name("my.custom_option").is_ok());
        assert!(validate_setting_name("a = 1\nfsync").is_err());
        assert!(validate_setting_name("").is_err());
        assert!(validate_hba_line("local all all trust\nlocal all all trust").is_err());
    }
}
