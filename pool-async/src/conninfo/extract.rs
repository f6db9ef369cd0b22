//! Taking the TLS keys out of a libpq connection string, in either form,
//! so that tokio-postgres (which knows neither `verify-ca`/`verify-full`
//! nor the certificate files) parses the rest exactly as it would have.
//!
//! Both forms are read with tokio-postgres's own rules, so the rest keeps
//! its meaning: in a URL (`postgresql://...?sslmode=require&...`) the query
//! starts at the first `?` after the credentials, and its keys and values
//! are percent-decoded; in key=value pairs (`host=a sslmode=require`) a
//! value is either quoted with `'` or runs to the next whitespace, and `\`
//! escapes the next character in both.

/// The keys taken out of the string: libpq's TLS keys, the host routing
/// keys that the pool applies itself (tokio-postgres knows only some of
/// their values), and libpq's files (service, password).
const TAKEN_KEYS: [&str; 10] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "target_session_attrs",
    "load_balance_hosts",
    "service",
    "servicefile",
    "passfile",
];

/// libpq's keys that tidepool does not read, each with what to do instead.
const UNSUPPORTED_KEYS: [(&str, &str); 21] = [
    (
        "gssencmode",
        "GSSAPI encryption is not available; use sslmode",
    ),
    (
        "krbsrvname",
        "Kerberos (GSSAPI) authentication is not available",
    ),
    ("gsslib", "GSSAPI authentication is not available"),
    ("gssdelegation", "GSSAPI authentication is not available"),
    (
        "requiressl",
        "it is obsolete in libpq too; use sslmode=require",
    ),
    ("sslcrl", "certificate revocation lists are not checked"),
    ("sslcrldir", "certificate revocation lists are not checked"),
    ("sslcompression", "TLS compression is not available"),
    (
        "sslcertmode",
        "a client certificate is sent whenever sslcert and sslkey are given",
    ),
    (
        "sslsni",
        "the host name is always sent (SNI) when it is a name",
    ),
    (
        "ssl_min_protocol_version",
        "rustls negotiates TLS 1.2 or 1.3",
    ),
    (
        "ssl_max_protocol_version",
        "rustls negotiates TLS 1.2 or 1.3",
    ),
    (
        "requirepeer",
        "the server's OS user is not checked over Unix sockets",
    ),
    (
        "require_auth",
        "the authentication methods cannot be restricted; use channel_binding=require to insist on SCRAM with channel binding",
    ),
    ("client_encoding", "connections always use UTF8"),
    ("replication", "replication connections are not pooled"),
    ("fallback_application_name", "use application_name"),
    ("keepalives_count", "write it as keepalives_retries"),
    ("min_protocol_version", "the protocol version is 3.0"),
    ("max_protocol_version", "the protocol version is 3.0"),
    ("sslkeylogfile", "TLS keys are not logged"),
];

/// The keys tokio-postgres 0.7 reads.
const POSTGRES_KEYS: [&str; 19] = [
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// A connection string split in two.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Extracted {
    /// The string without the taken keys, for tokio-postgres.
    pub(crate) rest: String,
    /// The taken keys and their decoded values, in the order written.
    pub(crate) taken: Vec<(&'static str, String)>,
    /// Every key the string gives a value, taken or not (for a URL, also
    /// `user`, `password`, `host`, `port` and `dbname` when written before
    /// the query).
    pub(crate) present: Vec<String>,
    /// Whether `rest` is a URL, and whether it has a query.
    url: Option<bool>,
}

impl Extracted {
    /// Adds `key=value` (a key of a service) unless the string gives `key`
    /// already: a taken key to `taken`, any other to `rest`.
    pub(crate) fn add_default(&mut self, key: &str, value: &str) {
        if self.present.iter().any(|k| k == key) {
            return;
        }
        self.present.push(key.to_owned());
        if let Some(key) = taken_key(key) {
            self.taken.push((key, value.to_owned()));
            return;
        }
        match &mut self.url {
            Some(has_query) => {
                self.rest.push(if *has_query { '&' } else { '?' });
                *has_query = true;
                self.rest.push_str(&percent_encode(key));
                self.rest.push('=');
                self.rest.push_str(&percent_encode(value));
            }
            None => {
                let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
                if !self.rest.is_empty() {
                    self.rest.push(' ');
                }
                self.rest.push_str(&format!("{key}='{escaped}'"));
            }
        }
    }
}

/// Whether tidepool reads `key`.
pub(crate) fn is_supported_key(key: &str) -> bool {
    taken_key(key).is_some() || POSTGRES_KEYS.contains(&key)
}

/// The error for a key tidepool does not read: libpq's keys that tidepool
/// does not support say so, with what to do instead.
fn unsupported(key: &str) -> String {
    match UNSUPPORTED_KEYS.iter().find(|(k, _)| *k == key) {
        Some((_, instead)) => {
            format!("`{key}` is a libpq key not supported by tidepool ({instead}); leave it out")
        }
        None => format!(
            "unknown key `{key}`; the keys tidepool reads are {}",
            POSTGRES_KEYS
                .iter()
                .chain(TAKEN_KEYS.iter().filter(|k| !POSTGRES_KEYS.contains(k)))
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Escapes everything but unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Splits the TLS keys from `dsn`. The error says what is wrong with the
/// string's syntax, and never quotes its text (which may hold a password).
pub(crate) fn extract(dsn: &str) -> Result<Extracted, String> {
    match url_body_start(dsn) {
        Some(start) => extract_from_url(dsn, start),
        None => extract_from_pairs(dsn),
    }
}

/// Where the part after `postgres://` or `postgresql://` starts, if `dsn`
/// is a URL.
fn url_body_start(dsn: &str) -> Option<usize> {
    ["postgres://", "postgresql://"]
        .iter()
        .find(|prefix| dsn.starts_with(*prefix))
        .map(|prefix| prefix.len())
}

fn taken_key(key: &str) -> Option<&'static str> {
    TAKEN_KEYS.iter().copied().find(|k| *k == key)
}

fn extract_from_url(dsn: &str, body_start: usize) -> Result<Extracted, String> {
    // tokio-postgres takes the credentials up to the first '@', then the
    // host and the path up to the first '?'.
    let at = dsn[body_start..].find('@').map(|at| body_start + at);
    let after_credentials = at.map_or(body_start, |at| at + 1);
    let question = dsn[after_credentials..].find('?');
    let before_query =
        &dsn[after_credentials..question.map_or(dsn.len(), |q| after_credentials + q)];
    if before_query.contains('@') {
        // tokio-postgres would take what lies between the two as a host
        // (or a database), and show it in errors: it may be the rest of a
        // password.
        return Err(
            "the URL has a second '@' before its query; write an '@' that is part \
                    of a user name, password or database name as %40"
                .to_owned(),
        );
    }
    let mut present = authority_keys(at.map(|at| &dsn[body_start..at]), before_query);
    let Some(question) = question else {
        return Ok(Extracted {
            rest: dsn.to_owned(),
            taken: Vec::new(),
            present,
            url: Some(false),
        });
    };
    let query_start = after_credentials + question;
    let mut rest = dsn[..query_start].to_owned();
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    let mut query = &dsn[query_start + 1..];
    while !query.is_empty() {
        let Some(equals) = query.find('=') else {
            return Err("a URL parameter has no '=' and value".to_owned());
        };
        let (raw_key, after_key) = (&query[..equals], &query[equals + 1..]);
        let (raw_value, next) = match after_key.find('&') {
            Some(amp) => (&after_key[..amp], &after_key[amp + 1..]),
            None => (after_key, ""),
        };
        let key = percent_decode(raw_key)?;
        if !is_supported_key(&key) {
            return Err(unsupported(&key));
        }
        match taken_key(&key) {
            Some(key) => tls.push((key, percent_decode(raw_value)?)),
            None => kept.push(&query[..equals + 1 + raw_value.len()]),
        }
        present.push(key);
        query = next;
    }
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok(Extracted {
        rest,
        taken: tls,
        present,
        url: Some(!kept.is_empty()),
    })
}

/// The keys a URL gives before its query: from its credentials (`user`,
/// `password`), its hosts (`host`, `port`) and its path (`dbname`).
fn authority_keys(credentials: Option<&str>, before_query: &str) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(credentials) = credentials {
        let (user, password) = match credentials.split_once(':') {
            Some((user, _)) => (user, true),
            None => (credentials, false),
        };
        if !user.is_empty() {
            keys.push("user".to_owned());
        }
        if password {
            keys.push("password".to_owned());
        }
    }
    let (hosts, path) = match before_query.find('/') {
        Some(slash) => (&before_query[..slash], Some(&before_query[slash + 1..])),
        None => (before_query, None),
    };
    if !hosts.is_empty() {
        keys.push("host".to_owned());
        let has_port = hosts.split(',').any(|chunk| match chunk.strip_prefix('[') {
            Some(bracketed) => bracketed
                .split_once(']')
                .is_some_and(|(_, after)| after.starts_with(':')),
            None => chunk.contains(':'),
        });
        if has_port {
            keys.push("port".to_owned());
        }
    }
    if path.is_some_and(|path| !path.is_empty()) {
        keys.push("dbname".to_owned());
    }
    keys
}

/// Decodes `%XX` escapes as tokio-postgres does: an escape that is not two
/// hex digits stays as written; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, String> {
    String::from_utf8(percent_decode_bytes(text))
        .map_err(|_| "a URL parameter is not UTF-8 once decoded".to_owned())
}

/// The bytes `%XX` escapes stand for; anything that is not one stays as
/// written.
pub(super) fn percent_decode_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn extract_from_pairs(dsn: &str) -> Result<Extracted, String> {
    let mut lexer = Lexer { s: dsn, pos: 0 };
    let mut rest = String::with_capacity(dsn.len());
    let mut copied_to = 0;
    let mut tls = Vec::new();
    let mut present = Vec::new();
    let mut previous = "";
    while let Some((start, key, value)) = lexer.parameter()? {
        if previous == "password" && taken_key(key).is_none() && !POSTGRES_KEYS.contains(&key) {
            // Most likely the rest of a password with a space: never name it.
            return Err(format!(
                "unknown key at byte {start}, after the password; quote a password \
                 that has spaces, as in password='two words'"
            ));
        }
        previous = key;
        if !is_supported_key(key) {
            return Err(unsupported(key));
        }
        present.push(key.to_owned());
        if let Some(key) = taken_key(key) {
            rest.push_str(&dsn[copied_to..start]);
            copied_to = lexer.pos;
            tls.push((key, value));
        }
    }
    rest.push_str(&dsn[copied_to..]);
    Ok(Extracted {
        rest,
        taken: tls,
        present,
        url: None,
    })
}

/// tokio-postgres's reader of key=value pairs, keeping positions.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The next `key = value`: where it starts, its key and its unescaped
    /// value; `None` at the end.
    fn parameter(&mut self) -> Result<Option<(usize, &'a str, String)>, String> {
        self.skip_whitespace();
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_whitespace() && c != '=') {
            self.bump();
        }
        let key = &self.s[start..self.pos];
        if key.is_empty() {
            return Ok(None);
        }
        self.skip_whitespace();
        match self.bump() {
            Some('=') => {}
            // The "key" may be the end of a password with a space: give
            // only its position.
            Some(_) | None => {
                return Err(format!("the key at byte {start} has no '=' and value"));
            }
        }
        self.skip_whitespace();
        let value = if self.peek() == Some('\'') {
            self.bump();
            self.quoted_value(key)?
        } else {
            self.plain_value(key)?
        };
        Ok(Some((start, key, value)))
    }

    fn quoted_value(&mut self, key: &str) -> Result<String, String> {
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('\'') => return Ok(value),
                Some('\\') => value.extend(self.bump()),
                Some(c) => value.push(c),
                None => {
                    return Err(format!(
                        "the quoted value of `{key}` has no closing quote (write ' and \\ \
                         inside quotes as \\' and \\\\)"
                    ));
                }
            }
        }
    }

    fn plain_value(&mut self, key: &str) -> Result<String, String> {
        let mut value = String::new();
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            self.bump();
            if c == '\\' {
                value.extend(self.bump());
            } else {
                value.push(c);
            }
        }
        if value.is_empty() {
            return Err(format!(
                "`{key}` has no value (write an empty value as {key}='')"
            ));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(dsn: &str) -> (String, Vec<(&'static str, String)>) {
        let extracted = extract(dsn).unwrap();
        (extracted.rest, extracted.taken)
    }

    fn pairs(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        list.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn a_url_loses_only_its_tls_parameters() {
        let (rest, tls) = split(
            "postgresql://u:p%40ss@h1:1,h2:2/db?sslmode=verify-full&application_name=a\
             &sslrootcert=%2Ftmp%2Fca%20x.pem&connect_timeout=5&sslcert=/c&sslkey=/k",
        );
        assert_eq!(
            rest,
            "postgresql://u:p%40ss@h1:1,h2:2/db?application_name=a&connect_timeout=5"
        );
        assert_eq!(
            tls,
            pairs(&[
                ("sslmode", "verify-full"),
                ("sslrootcert", "/tmp/ca x.pem"),
                ("sslcert", "/c"),
                ("sslkey", "/k"),
            ])
        );
    }

    #[test]
    fn a_url_with_only_tls_parameters_loses_its_query() {
        let (rest, tls) = split("postgres://h/db?sslmode=require");
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(tls, pairs(&[("sslmode", "require")]));
    }

    #[test]
    fn a_question_mark_in_the_password_is_not_the_query() {
        let (rest, tls) = split("postgresql://u:a?b@h/db?sslmode=disable");
        assert_eq!(rest, "postgresql://u:a?b@h/db");
        assert_eq!(tls, pairs(&[("sslmode", "disable")]));
    }

    #[test]
    fn a_second_at_sign_before_the_query_is_refused() {
        for dsn in [
            "postgresql://u:p@zq9@h/db",
            "postgresql://u:p@zq9@h/db?sslmode=disable",
            "postgresql://u:p@zq9/x@h/db",
        ] {
            let error = extract(dsn).unwrap_err();
            assert!(error.contains("second '@'"), "{error}");
            assert!(!error.contains("zq9"), "{error}");
        }
        let (rest, _) = split("postgresql://u:p%40ss@h/db?application_name=me@home");
        assert_eq!(rest, "postgresql://u:p%40ss@h/db?application_name=me@home");
    }

    #[test]
    fn a_url_without_query_is_unchanged() {
        let (rest, tls) = split("postgresql://u@h:5/db");
        assert_eq!(rest, "postgresql://u@h:5/db");
        assert!(tls.is_empty());
    }

    #[test]
    fn percent_escapes_decode_like_tokio_postgres() {
        assert_eq!(percent_decode("a%2Fb%zz%").unwrap(), "a/b%zz%");
        assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
        assert!(percent_decode("%FF").is_err());
    }

    #[test]
    fn key_value_pairs_lose_only_their_tls_keys() {
        let (rest, tls) = split(
            "host=a,b port=1,2 sslmode = verify-ca sslrootcert='/tmp/my ca.pem' \
             password='it\\'s' sslkey=/k\\ x user=u",
        );
        assert_eq!(rest, "host=a,b port=1,2   password='it\\'s'  user=u");
        assert_eq!(
            tls,
            pairs(&[
                ("sslmode", "verify-ca"),
                ("sslrootcert", "/tmp/my ca.pem"),
                ("sslkey", "/k x"),
            ])
        );
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"it's"[..]));
        assert_eq!(config.get_user(), Some("u"));
    }

    #[test]
    fn quoted_values_keep_backslashes_and_quotes() {
        let (_, tls) = split(r"sslrootcert='C:\\certs\\it\'s.pem'");
        assert_eq!(tls, pairs(&[("sslrootcert", r"C:\certs\it's.pem")]));
    }

    #[test]
    fn bad_syntax_is_named_without_quoting_values() {
        let error = extract("password='s3cret user=u").unwrap_err();
        assert!(error.contains("no closing quote"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        let error = extract("host=a sslmode").unwrap_err();
        assert!(error.contains("the key at byte 7 has no '='"), "{error}");
        let error = extract("password=s3 cret").unwrap_err();
        assert!(error.contains("the key at byte 12 has no '='"), "{error}");
        let error = extract("password=s3 cret=x").unwrap_err();
        assert!(error.contains("after the password"), "{error}");
        assert!(!error.contains("cret"), "{error}");
        let error = extract("host= ").unwrap_err();
        assert!(error.contains("`host` has no value"), "{error}");
        let error = extract("postgresql://h/db?sslmode").unwrap_err();
        assert!(error.contains("no '='"), "{error}");
    }
}
