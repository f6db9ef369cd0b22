//! `redact_dsn`: fixed cases, every printable character in every place a
//! password can be written, and generated passwords.

use proptest::prelude::*;

use super::{MASK, redact_dsn};

/// A connection string built around one written password, so that what
/// lies outside the password is known.
struct Written {
    before: String,
    password: String,
    after: String,
}

impl Written {
    fn new(
        before: impl Into<String>,
        password: impl Into<String>,
        after: impl Into<String>,
    ) -> Self {
        Self {
            before: before.into(),
            password: password.into(),
            after: after.into(),
        }
    }

    fn dsn(&self) -> String {
        format!("{}{}{}", self.before, self.password, self.after)
    }
}

/// Checks that no part of `secret` (nor of the text it was written as)
/// three characters or longer shows in the redacted string, unless the
/// same text also occurs outside the password; and that every one of
/// `shown` still does.
#[track_caller]
fn check(written: &Written, secret: &str, shown: &[&str]) -> Result<(), TestCaseError> {
    let dsn = written.dsn();
    let out = redact_dsn(&dsn);
    // NUL is in no password, so no part of one spans a mask or the hole.
    let out_parts = out.replace(MASK, "\0");
    let outside = format!("{}\0{}", written.before, written.after);
    for text in [secret, written.password.as_str()] {
        let chars: Vec<char> = text.chars().collect();
        for start in 0..chars.len() {
            for end in start + 3..=chars.len() {
                let part: String = chars[start..end].iter().collect();
                prop_assert!(
                    !out_parts.contains(&part) || outside.contains(&part),
                    "{part:?} of the password {secret:?} shows in {out:?} (from {dsn:?})"
                );
            }
        }
    }
    for part in shown {
        prop_assert!(
            out.contains(part),
            "{part:?} is hidden in {out:?} (from {dsn:?})"
        );
    }
    Ok(())
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `'...'`, with `'` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Unquoted, with whitespace, `'` and `\` escaped by `\`.
fn escaped(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_whitespace() || c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A connection's parts that must stay readable.
#[derive(Clone, Debug)]
struct Parts {
    user: String,
    host: String,
    port: u16,
    dbname: String,
}

impl Parts {
    fn check(&self, written: &Written, secret: &str) -> Result<(), TestCaseError> {
        let port = self.port.to_string();
        check(
            written,
            secret,
            &[&self.user, &self.host, &port, &self.dbname],
        )
    }
}

/// Every way of writing `password` into a connection string to `parts`.
fn every_form(parts: &Parts, password: &str) -> Vec<Written> {
    let Parts {
        user,
        host,
        port,
        dbname,
    } = parts;
    let url = format!("postgresql://{user}:");
    let at_host = format!("@{host}:{port}/{dbname}");
    let mut forms = Vec::new();
    for written in [password.to_owned(), percent_encode(password)] {
        for query in [
            "",
            "?sslmode=require",
            "?sslmode=require&application_name=x",
        ] {
            forms.push(Written::new(
                url.as_str(),
                written.as_str(),
                format!("{at_host}{query}"),
            ));
        }
        for key in ["password", "sslpassword", "PassWord", "pass%77ord"] {
            let base = format!("postgres://{user}@{host}:{port}/{dbname}");
            forms.push(Written::new(
                format!("{base}?{key}="),
                written.as_str(),
                "&sslmode=require",
            ));
            forms.push(Written::new(
                format!("{base}?sslmode=require&{key}="),
                written.as_str(),
                "",
            ));
        }
    }
    for written in [quoted(password), escaped(password)] {
        for key in ["password=", "sslpassword=", "password = "] {
            forms.push(Written::new(
                format!("host={host} port={port} user={user} dbname={dbname} {key}"),
                written.as_str(),
                "",
            ));
            forms.push(Written::new(
                format!("{key} "),
                written.as_str(),
                format!("\thost={host} port={port} user={user} dbname={dbname}"),
            ));
            forms.push(Written::new(
                format!("host={host} port={port} {key}"),
                written.as_str(),
                format!(" user={user} dbname={dbname} sslmode=require"),
            ));
        }
    }
    forms
}

fn parts() -> Parts {
    Parts {
        user: "app_user".to_owned(),
        host: "db.example".to_owned(),
        port: 6543,
        dbname: "appdb".to_owned(),
    }
}

#[test]
fn a_slash_in_a_url_password_stays_hidden() {
    assert_eq!(
        redact_dsn("postgresql://app:pa/ss@db.example:5432/app"),
        "postgresql://app:***@db.example:5432/app"
    );
}

#[test]
fn urls_keep_all_but_their_passwords() {
    for (dsn, shown) in [
        (
            "postgresql://app:hunter2@db:5432/app?sslmode=require",
            "postgresql://app:***@db:5432/app?sslmode=require",
        ),
        (
            "postgres://app:p@ss:w/o?r#d@h1:1,[::1]:2/app",
            "postgres://app:***@h1:1,[::1]:2/app",
        ),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("postgresql://db:5432/app", "postgresql://db:5432/app"),
        ("postgresql://", "postgresql://"),
        (
            "postgresql://app:%40%2F%3F@db/app",
            "postgresql://app:***@db/app",
        ),
        (
            "postgresql://app@db/app?password=a&b@c&sslmode=require&sslpassword=k&x=1",
            "postgresql://app@db/app?password=***&sslmode=require&sslpassword=***",
        ),
        (
            "postgresql://app:one@db/app?password=two@three&application_name=me",
            "postgresql://app:***@db/app?password=***&application_name=me",
        ),
        // `&password=` inside the user information is not the query.
        (
            "postgresql://app:a&password=b@db/app",
            "postgresql://app:***@db/app",
        ),
        (
            "postgresql://app:a@b&password=c@db/app",
            "postgresql://app:***@db/app",
        ),
        ("postgresql://:secret@db/app", "postgresql://:***@db/app"),
        // Not a host and port: the rest of a URL may be missing.
        ("postgresql://app:pa/ss", "postgresql://app:***"),
        ("postgresql://app:s3cret", "postgresql://app:***"),
        // An `@` in the query might end the user information.
        (
            "postgresql://app@db:5/app?application_name=me@home",
            "postgresql://app@db:***@home",
        ),
        // A misspelt scheme is still a URL.
        (
            "postgressql://app:s3cret@db/app",
            "postgressql://app:***@db/app",
        ),
    ] {
        assert_eq!(redact_dsn(dsn), shown, "{dsn}");
    }
}

#[test]
fn key_value_pairs_keep_all_but_their_passwords() {
    for (dsn, shown) in [
        (
            r"host=db user=app password='a b\'c' dbname=app",
            "host=db user=app password=*** dbname=app",
        ),
        (
            "host=db password=s3cret user=app",
            "host=db password=*** user=app",
        ),
        (r"password=a\ b\'c\\ host=db", "password=*** host=db"),
        (
            "host = db  password =  s3cret  sslpassword='k'",
            "host = db  password =  ***  sslpassword=***",
        ),
        ("host=db user=app", "host=db user=app"),
        ("", ""),
        // An unquoted space in the password: its second half is hidden too.
        (
            "host=db password=s3cret qz9x port=5 user=app",
            "host=db password=*** port=5 user=app",
        ),
        (
            "host=db password=s3cret qz9x=y dbname=app",
            "host=db password=*** dbname=app",
        ),
        // An unescaped quote inside a quoted password.
        (
            "host=db password='it's here' dbname=app",
            "host=db password=*** dbname=app",
        ),
        // A quote never closed hides the rest.
        (
            "host=db options='-c x password=s3cret",
            "host=db options=***",
        ),
        // A word without `=`.
        ("host=db password s3cret user=app", "host=db *** user=app"),
        ("PASSWORD=s3cret host=db", "PASSWORD=*** host=db"),
    ] {
        assert_eq!(redact_dsn(dsn), shown, "{dsn}");
    }
}

#[test]
fn every_printable_character_stays_hidden_in_every_form() {
    let parts = parts();
    let specials = ['é', '€', '日', '\u{a0}', '😀'];
    for c in (' '..='~').chain(specials) {
        for password in [
            format!("ab{c}cd{c}ef"),
            format!("{c}{c}{c}xyz"),
            format!("xyz{c}{c}{c}"),
        ] {
            for written in every_form(&parts, &password) {
                if let Err(error) = parts.check(&written, &password) {
                    panic!("{error}");
                }
            }
        }
    }
}

/// A password character: mostly printable ASCII, sometimes not ASCII.
fn password_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => proptest::char::range(' ', '~'),
        1 => proptest::sample::select(vec!['é', 'ß', '€', '日', '\u{a0}', '\u{2003}', '😀']),
        1 => any::<char>().prop_filter("no NUL, no control", |c| !c.is_control()),
    ]
}

fn password() -> impl Strategy<Value = String> {
    proptest::collection::vec(password_char(), 3..24).prop_map(|chars| chars.into_iter().collect())
}

fn connection_parts() -> impl Strategy<Value = Parts> {
    (
        "[a-z][a-z0-9_]{0,8}",
        "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,5})?",
        1024u16..,
        "[a-z][a-z0-9_]{0,8}",
    )
        .prop_map(|(user, host, port, dbname)| Parts {
            user,
            host,
            port,
            dbname,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_passwords_never_show(parts in connection_parts(), password in password()) {
        for written in every_form(&parts, &password) {
            parts.check(&written, &password)?;
        }
    }
}
