//! Showing a libpq connection string without its passwords.
//!
//! The one place where a connection string is made fit to print: Debug
//! output, error messages of the test harness, the examples' banners.
//! Everything that is hidden is found as byte ranges of the string, which
//! are then replaced by [`MASK`]; everything else is kept as written, so
//! hosts, ports, users, databases and other parameters stay readable.

use std::ops::Range;

use super::extract::percent_decode_bytes;

/// What a hidden part of a connection string is replaced by.
const MASK: &str = "***";

/// libpq's connection keywords, and the one tokio-postgres adds
/// (`keepalives_retries`): a value that hides a password ends where one of
/// these starts the next parameter.
const KEYWORDS: [&str; 44] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "keepalives_retries",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "min_protocol_version",
    "max_protocol_version",
];

/// A libpq connection string with every password replaced by `***`, for
/// Debug output, logs and error messages.
///
/// Takes both forms libpq reads, and keeps everything but the secrets as
/// written, so the result still says where and as whom a connection goes:
///
/// * In a URL (`postgresql://user:password@host:port/dbname?key=value`),
///   the password of the user information and the values of the
///   `password` and `sslpassword` query parameters are hidden, whatever
///   characters they hold, raw or `%`-escaped. The user information ends
///   at the last `@` of the URL, not at the first `/`, `?` or `#`, since a
///   password may hold all of these; only an `@` inside the value of a
///   `password` query parameter does not count (the query starts at the
///   first `?` after the first `@`). A query parameter's value ends at the
///   next `&` that starts another libpq keyword, so a raw `&` inside a
///   password stays hidden too.
/// * In `key=value` pairs (`host=db password='a b\'c'`), the values of
///   `password` and `sslpassword` are hidden, quoted or not, with their
///   backslash escapes. An unquoted value is hidden up to the next libpq
///   keyword, as the rest of a password with an unescaped space would be.
///
/// When a string cannot be read safely, more is hidden rather than less:
/// an `@` in a URL's path or query hides everything from the user's `:` up
/// to it; a URL without `@` whose hosts do not read as `host:port` hides
/// everything from the first `:`; in `key=value` pairs, a word without
/// `=`, text glued to a closing quote or a quote that is never closed
/// hides what follows up to the next keyword (or to the end). Keywords are
/// matched without regard to case. This function never fails and never
/// panics.
///
/// # Examples
///
/// ```
/// use tidepool_async::redact_dsn;
///
/// assert_eq!(
///     redact_dsn("postgresql://app:pa/ss@db.example:5432/app?sslmode=require"),
///     "postgresql://app:***@db.example:5432/app?sslmode=require"
/// );
/// assert_eq!(
///     redact_dsn(r"host=db user=app password='a b\'c' dbname=app"),
///     "host=db user=app password=*** dbname=app"
/// );
/// assert_eq!(
///     redact_dsn("postgresql://app@db/app?password=s3cret&sslmode=require"),
///     "postgresql://app@db/app?password=***&sslmode=require"
/// );
/// ```
pub fn redact_dsn(dsn: &str) -> String {
    let hidden = match url_body_start(dsn) {
        Some(start) => url_secrets(dsn, start),
        None => pair_secrets(dsn),
    };
    mask(dsn, hidden)
}

/// Replaces the ranges (in any order; ranges that overlap or touch become
/// one) by [`MASK`].
fn mask(text: &str, mut hidden: Vec<Range<usize>>) -> String {
    hidden.retain(|range| range.start < range.end);
    hidden.sort_by_key(|range| range.start);
    let mut out = String::with_capacity(text.len());
    // Where the text not yet copied starts, and whether it starts right
    // after a mask.
    let mut shown_from = 0;
    let mut after_mask = false;
    for range in hidden {
        if range.start > shown_from || !after_mask {
            out.push_str(&text[shown_from..range.start.max(shown_from)]);
            out.push_str(MASK);
            after_mask = true;
        }
        shown_from = shown_from.max(range.end);
    }
    out.push_str(&text[shown_from..]);
    out
}

fn is_secret_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

fn is_keyword(key: &str) -> bool {
    KEYWORDS
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(key))
}

/// Where the part after `scheme://` starts, if `dsn` is a URL (of any
/// scheme, so that a misspelt one is hidden as well), after leading
/// whitespace.
fn url_body_start(dsn: &str) -> Option<usize> {
    let trimmed = dsn.trim_start();
    let offset = dsn.len() - trimmed.len();
    let (scheme, _) = trimmed.split_once("://")?;
    let mut chars = scheme.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    well_formed.then_some(offset + scheme.len() + "://".len())
}

/// The secrets of a URL whose part after `scheme://` starts at `body`.
fn url_secrets(dsn: &str, body: usize) -> Vec<Range<usize>> {
    let mut hidden = query_passwords(dsn, body);
    let ats: Vec<usize> = dsn[body..]
        .match_indices('@')
        .map(|(i, _)| body + i)
        .collect();
    // The user information ends at the first `@` after which every `@`
    // lies in a password parameter's value; the last `@` always qualifies.
    let end_of_userinfo = ats.iter().copied().find(|&at| {
        ats.iter()
            .filter(|&&later| later > at)
            .all(|&later| hidden.iter().any(|r| r.start > at && r.contains(&later)))
    });
    match end_of_userinfo {
        Some(at) => {
            if let Some(colon) = dsn[body..at].find(':') {
                hidden.push(body + colon + 1..at);
            }
        }
        None => {
            // No user information: what comes before the path should be
            // hosts and ports; if it is not, the part after its first `:`
            // may be a password with the rest of the URL missing.
            let authority_end = dsn[body..]
                .find(['/', '?', '#'])
                .map_or(dsn.len(), |i| body + i);
            let authority = &dsn[body..authority_end];
            if !authority.split(',').all(is_host_and_port)
                && let Some(colon) = authority.find(':')
            {
                hidden.push(body + colon + 1..dsn.len());
            }
        }
    }
    hidden
}

/// Whether `entry` reads as `host`, `host:port` or `[address]:port`.
fn is_host_and_port(entry: &str) -> bool {
    let port = match entry.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((_, "")) => return true,
            Some((_, after)) => after.strip_prefix(':'),
            None => None,
        },
        None => match entry.split_once(':') {
            Some((_, port)) => Some(port),
            None => return true,
        },
    };
    port.is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()))
}

/// The values of the `password` and `sslpassword` query parameters: a
/// value ends at the next `&` that starts a libpq keyword's parameter, or
/// at the end. As for tokio-postgres, the query starts at the first `?`
/// after the first `@`.
fn query_passwords(dsn: &str, body: usize) -> Vec<Range<usize>> {
    let after_at = dsn[body..].find('@').map_or(body, |at| body + at + 1);
    let Some(question) = dsn[after_at..].find('?') else {
        return Vec::new();
    };
    let query = after_at + question;
    let mut hidden = Vec::new();
    for (i, _) in dsn[query..].match_indices(['?', '&']) {
        let Some((key, value_start)) = url_parameter(dsn, query + i + 1) else {
            continue;
        };
        if !is_secret_key(&key) {
            continue;
        }
        let value_end = dsn[value_start..]
            .match_indices('&')
            .map(|(j, _)| value_start + j)
            .find(|&amp| url_parameter(dsn, amp + 1).is_some_and(|(key, _)| is_keyword(&key)))
            .unwrap_or(dsn.len());
        hidden.push(value_start..value_end);
    }
    hidden
}

/// The percent-decoded key of a URL parameter starting at `start`, and
/// where its value starts; `None` when no `=` comes before the next `&`.
fn url_parameter(dsn: &str, start: usize) -> Option<(String, usize)> {
    let rest = dsn.get(start..)?;
    let equals = rest.find(['=', '&', '?'])?;
    if !rest[equals..].starts_with('=') {
        return None;
    }
    Some((percent_decode(&rest[..equals]), start + equals + 1))
}

/// Decodes `%XX` escapes; anything that is not one stays as written, and
/// bytes that are not UTF-8 become U+FFFD.
fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(text)).into_owned()
}

/// The secrets of `key=value` pairs, read as libpq and tokio-postgres read
/// them: whitespace between pairs and around `=`, a value quoted with `'`
/// or running to the next whitespace, `\` escaping the next character.
fn pair_secrets(dsn: &str) -> Vec<Range<usize>> {
    let mut reader = Reader { s: dsn, pos: 0 };
    let mut hidden = Vec::new();
    loop {
        reader.skip_whitespace();
        let start = reader.pos;
        if reader.peek().is_none() {
            return hidden;
        }
        reader.skip_while(|c| !c.is_whitespace() && c != '=');
        let key = &dsn[start..reader.pos];
        reader.skip_whitespace();
        if key.is_empty() || !reader.eat('=') {
            // A word without `=`: maybe the rest of a password.
            hidden.push(reader.hide_to_next_keyword(start, start));
            continue;
        }
        reader.skip_whitespace();
        let value_start = reader.pos;
        let closed = if reader.eat('\'') {
            reader.quoted_value()
        } else {
            reader.plain_value();
            false
        };
        let quoted = dsn[value_start..].starts_with('\'');
        if quoted && !closed {
            hidden.push(value_start..dsn.len());
            return hidden;
        }
        let glued = reader.peek().is_some_and(|c| !c.is_whitespace());
        if is_secret_key(key) {
            let range = if quoted && !glued {
                value_start..reader.pos
            } else {
                // An unquoted password, or one glued to text after its
                // closing quote, may go on past a space.
                reader.hide_to_next_keyword(value_start, reader.pos)
            };
            hidden.push(range);
        } else if glued {
            hidden.push(reader.hide_to_next_keyword(reader.pos, reader.pos));
        }
    }
}

/// A reader of `key=value` pairs that keeps byte positions.
struct Reader<'a> {
    s: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.bump();
        }
        found
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
    }

    fn skip_whitespace(&mut self) {
        self.skip_while(char::is_whitespace);
    }

    /// Reads to the closing quote; whether there was one.
    fn quoted_value(&mut self) -> bool {
        loop {
            match self.bump() {
                Some('\'') => return true,
                Some('\\') => {
                    self.bump();
                }
                Some(_) => {}
                None => return false,
            }
        }
    }

    /// Reads to the next whitespace that is not escaped.
    fn plain_value(&mut self) {
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            self.bump();
            if c == '\\' {
                self.bump();
            }
        }
    }

    /// Moves to the next word after `scan_from` (and after whitespace) that
    /// starts a keyword's `key=value` pair, or to the end; returns the
    /// range from `from` to there, without the whitespace before it (but
    /// never ending before `scan_from`).
    fn hide_to_next_keyword(&mut self, from: usize, scan_from: usize) -> Range<usize> {
        let next = self.s[scan_from..]
            .char_indices()
            .map(|(i, _)| scan_from + i)
            .find(|&at| {
                at > scan_from
                    && self.s[..at].ends_with(char::is_whitespace)
                    && starts_keyword_pair(&self.s[at..])
            })
            .unwrap_or(self.s.len());
        self.pos = next;
        from..self.s[..next].trim_end().len().max(scan_from)
    }
}

/// Whether `text` starts with a keyword, optional whitespace and `=`.
fn starts_keyword_pair(text: &str) -> bool {
    let key_end = text
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(text.len());
    is_keyword(&text[..key_end]) && text[key_end..].trim_start().starts_with('=')
}

#[cfg(test)]
mod tests;
