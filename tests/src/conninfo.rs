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

/// Replaces the password of a `scheme://user:password@host/...` URL with
/// `***` so it can appear in error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
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
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgresql://r:secret@127.0.0.1:5/db"),
            "postgresql://r:***@127.0.0.1:5/db"
        );
        assert_eq!(
            redact_url("postgresql://postgres@127.0.0.1:5/db"),
            "postgresql://postgres@127.0.0.1:5/db"
        );
    }
}
