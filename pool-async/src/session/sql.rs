//! A conservative reading of SQL text: may it change the transaction state?
//!
//! tokio-postgres does not expose the server's transaction status, so the
//! connection decides from the text it sends. A false alarm costs one
//! `ROLLBACK` when the connection is returned; a miss would hand the next
//! user a connection inside someone else's transaction. So the rules lean
//! to false alarms.

/// Words that begin, end or alter a transaction block.
const TRANSACTION_WORDS: [&str; 9] = [
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE",
];

fn is_transaction_word(word: &str) -> bool {
    TRANSACTION_WORDS
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(word))
}

/// For one statement sent through the extended protocol (which takes a
/// single statement): whether its first keyword is a transaction command.
pub(crate) fn statement_may_change_transaction(sql: &str) -> bool {
    first_word(sql).is_some_and(is_transaction_word)
}

/// For a script sent through the simple protocol (which may hold many
/// statements, and bodies of functions or `DO` blocks): whether any word of
/// it is a transaction command.
pub(crate) fn script_may_change_transaction(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(is_transaction_word)
}

/// For a script: whether it may drop the connection's prepared statements
/// (`DISCARD ALL`, `DISCARD PLANS`, `DEALLOCATE`), so that the statement
/// cache must be forgotten.
pub(crate) fn script_drops_statements(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word.eq_ignore_ascii_case("DISCARD") || word.eq_ignore_ascii_case("DEALLOCATE"))
}

/// Whether a script is only `DISCARD ALL` (what PgBouncer itself runs
/// between clients in session mode), in any case, with or without a
/// semicolon.
pub(crate) fn is_discard_all(sql: &str) -> bool {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_ascii_whitespace() || c == ';')
        .filter(|word| !word.is_empty())
        .collect();
    matches!(words.as_slice(), [discard, all]
        if discard.eq_ignore_ascii_case("DISCARD") && all.eq_ignore_ascii_case("ALL"))
}

/// The first word of a statement, after white space, comments, empty
/// statements and opening parentheses.
fn first_word(sql: &str) -> Option<&str> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // Empty statements (";") before the first word are accepted by
            // the server even through the extended protocol.
            b if b.is_ascii_whitespace() || b == b'(' || b == b';' => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                // A line comment ends at a newline or a carriage return.
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // Block comments nest in PostgreSQL.
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            _ => break,
        }
    }
    let rest = &sql[i..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_all_is_recognised_alone() {
        for sql in ["DISCARD ALL", "discard all;", "  Discard\n ALL ; "] {
            assert!(is_discard_all(sql), "{sql}");
        }
        for sql in ["DISCARD PLANS", "RESET ALL", "DISCARD ALL; SET x = 1", ""] {
            assert!(!is_discard_all(sql), "{sql}");
        }
    }

    #[test]
    fn transaction_commands_are_recognised_as_statements() {
        for sql in [
            "BEGIN",
            "begin isolation level serializable",
            "  start transaction",
            "-- comment\nCOMMIT",
            "/* a /* nested */ comment */ rollback",
            "END",
            "abort",
            "SAVEPOINT a",
            "release savepoint a",
            "PREPARE TRANSACTION 'x'",
            ";BEGIN",
            " ; ; begin",
            "/* c */;BEGIN",
            "-- a comment\rBEGIN",
        ] {
            assert!(statement_may_change_transaction(sql), "{sql:?}");
        }
    }

    #[test]
    fn ordinary_statements_are_not() {
        for sql in [
            "SELECT 1",
            "select 'begin'",
            "(select 1)",
            "INSERT INTO t VALUES (1)",
            "with begin_x as (select 1) select * from begin_x",
            "",
            "   ",
            "-- only a comment",
            "UPDATE t SET \"end\" = 1",
        ] {
            assert!(!statement_may_change_transaction(sql), "{sql:?}");
        }
    }

    #[test]
    fn scripts_are_read_whole() {
        assert!(script_may_change_transaction("select 1; begin; select 2"));
        assert!(script_may_change_transaction(
            "DO $$ BEGIN PERFORM 1; END $$"
        ));
        assert!(!script_may_change_transaction(
            "create table t (id int); insert into t values (1)"
        ));
        assert!(!script_may_change_transaction(
            "select beginning, ended from t"
        ));
    }
}
