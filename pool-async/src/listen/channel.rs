//! Channel names: checked, and quoted as SQL identifiers.

use crate::error::Error;

/// The longest channel name the server keeps whole (`NAMEDATALEN - 1`);
/// `LISTEN` would cut a longer one short and `pg_notify` refuses it.
const MAX_CHANNEL_BYTES: usize = 63;

/// Checks a channel name: not empty, no NUL, at most 63 bytes.
pub(crate) fn check_channel(channel: &str) -> Result<(), Error> {
    if channel.is_empty() {
        return Err(Error::config(
            "the channel name is empty; give LISTEN/NOTIFY a channel name",
        ));
    }
    if channel.contains('\0') {
        return Err(Error::config(
            "the channel name contains a NUL character, which PostgreSQL cannot store",
        ));
    }
    if channel.len() > MAX_CHANNEL_BYTES {
        return Err(Error::config(format!(
            "the channel name is {} bytes long; PostgreSQL keeps channel names of at most \
             {MAX_CHANNEL_BYTES} bytes: use a shorter one",
            channel.len()
        )));
    }
    Ok(())
}

/// The channel name as a quoted SQL identifier: in double quotes, inner
/// double quotes doubled, so that any name (mixed case, spaces, quotes)
/// means itself, as `pg_notify` takes it.
///
/// # Errors
///
/// A configuration error for a name [`check_channel`] refuses.
pub(crate) fn quote_channel(channel: &str) -> Result<String, Error> {
    check_channel(channel)?;
    Ok(quote_ident(channel))
}

/// `name` in double quotes, with its double quotes doubled.
fn quote_ident(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_as_identifiers() {
        assert_eq!(quote_ident("jobs"), r#""jobs""#);
        assert_eq!(quote_ident("Mixed Case"), r#""Mixed Case""#);
        assert_eq!(quote_ident(r#"say "hi""#), r#""say ""hi""""#);
        assert_eq!(quote_ident("it's"), r#""it's""#);
    }

    #[test]
    fn bad_names_are_refused_clearly() {
        assert!(quote_channel("").unwrap_err().to_string().contains("empty"));
        assert!(
            quote_channel("a\0b")
                .unwrap_err()
                .to_string()
                .contains("NUL")
        );
        let long = "x".repeat(64);
        assert!(
            quote_channel(&long)
                .unwrap_err()
                .to_string()
                .contains("63 bytes")
        );
        assert!(quote_channel(&"x".repeat(63)).is_ok());
    }
}
