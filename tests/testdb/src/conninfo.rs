//! Building connection URLs and `key=value` connection strings.

/// Percent-encodes everything except RFC 3986 unreserved characters, so the
/// result is safe in the user, password and path parts of a URL.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Quotes a value for a libpq `key=value` connection string when needed.
pub(crate) fn quote_keyword_value(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    if !needs_quotes {
        return value.to_owned();
    }
    let mut out = String::from("'");
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `dsn` with `application_name` set to `name`, so that the sessions of
/// one pool can be told apart (and counted) in `pg_stat_activity`.
///
/// Takes a URL, with or without a query part (`name` is percent-encoded
/// there), or `key=value` pairs (`name` is quoted when it needs to be). A
/// later `application_name` wins over an earlier one, so one already in
/// `dsn` is overridden.
///
/// # Examples
///
/// ```
/// use tidepool_testdb::with_application_name;
///
/// assert_eq!(
///     with_application_name("postgresql://app@db/app", "worker 1"),
///     "postgresql://app@db/app?application_name=worker%201"
/// );
/// assert_eq!(
///     with_application_name("postgresql://app@db/app?sslmode=disable", "w1"),
///     "postgresql://app@db/app?sslmode=disable&application_name=w1"
/// );
/// assert_eq!(
///     with_application_name("host=db user=app", "worker 1"),
///     "host=db user=app application_name='worker 1'"
/// );
/// ```
pub fn with_application_name(dsn: &str, name: &str) -> String {
    match dsn.split_once("://") {
        Some((_, body)) => {
            // The query starts at the first `?` after the user and password.
            let after_credentials = body.find('@').map_or(body, |at| &body[at + 1..]);
            let separator = if after_credentials.contains('?') {
                '&'
            } else {
                '?'
            };
            format!("{dsn}{separator}application_name={}", percent_encode(name))
        }
        None => format!("{dsn} application_name={}", quote_keyword_value(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(percent_encode("plain_user-1.x~"), "plain_user-1.x~");
        assert_eq!(percent_encode("p@ss:w/rd %"), "p%40ss%3Aw%2Frd%20%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn quotes_keyword_values() {
        assert_eq!(quote_keyword_value("/tmp/x"), "/tmp/x");
        assert_eq!(quote_keyword_value("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(quote_keyword_value("it's"), r"'it\'s'");
    }

    #[test]
    fn sets_the_application_name() {
        assert_eq!(
            with_application_name("postgresql://u:a?b@h/db", "x"),
            "postgresql://u:a?b@h/db?application_name=x"
        );
        assert_eq!(
            with_application_name("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/db?sslmode=disable&application_name=x"
        );
        assert_eq!(
            with_application_name("host=h", "it's"),
            r"host=h application_name='it\'s'"
        );
    }
}
