//! A span per statement, following OpenTelemetry's conventions for
//! database client spans, and the optional `db.client.operation.duration`
//! histogram.
//!
//! Each statement (a query, `execute`, a script, a COPY, a cursor's fetch,
//! a pipeline) runs in a span of target [`TARGET`] at level DEBUG, named
//! `statement`, whose fields carry the conventions' attributes:
//! `db.system.name` (`postgresql`), `db.namespace` (the database),
//! `db.operation.name` and `db.collection.name` where the statement's first
//! words tell them, `db.query.text` (the SQL as sent; parameters are never
//! recorded), `server.address` and `server.port` of the host the
//! connection reached, `db.response.status_code` (the SQLSTATE) and
//! `error.type` on error, and `tidepool.statement.cache` (`cached`,
//! `prepared` or `unnamed`). `otel.name` (`SELECT users`) and `otel.kind`
//! (`client`) name the span for `tracing-opentelemetry`. Nothing is
//! computed when no subscriber wants the span.

use std::future::Future;
use std::time::Instant;

use tokio_postgres::Config;
use tokio_postgres::config::Host;
use tracing::{Instrument, Span, field};

use crate::error::Error;
use crate::session::cache::Plan;

/// The `tracing` target of statement spans.
pub(crate) const TARGET: &str = "tidepool::statement";

/// The histogram of statement durations, when turned on.
pub(crate) const OPERATION_DURATION: &str = "db.client.operation.duration";

/// Where a connection's statements go, for their spans and metrics.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    /// The host name, address or Unix socket directory reached.
    pub(crate) address: String,
    pub(crate) port: Option<u16>,
    /// The database: `dbname`, or else the user's name, as the server
    /// takes it.
    pub(crate) namespace: String,
}

impl Peer {
    /// The peer of a connection made with `config` (one host: the one the
    /// connection reached).
    pub(crate) fn of(config: &Config) -> Self {
        let port = config.get_ports().first().copied();
        let address = match (config.get_hosts().first(), config.get_hostaddrs().first()) {
            (Some(Host::Tcp(host)), _) => host.clone(),
            (Some(Host::Unix(dir)), _) => dir.display().to_string(),
            (None, Some(address)) => address.to_string(),
            (None, None) => String::new(),
        };
        let namespace = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or_default()
            .to_owned();
        Self {
            address,
            port,
            namespace,
        }
    }
}

/// The operation and collection a statement's first words name, as the
/// conventions ask: `SELECT ... FROM users` is (`SELECT`, `users`),
/// `INSERT INTO users` and `UPDATE users` and `DELETE FROM users` likewise;
/// anything else has its first word as the operation and no collection.
pub(crate) fn summary(sql: &str) -> (Option<String>, Option<String>) {
    let mut words = words(sql);
    let Some(first) = words.next() else {
        return (None, None);
    };
    let operation = first.to_ascii_uppercase();
    let collection = match operation.as_str() {
        "SELECT" | "DELETE" => after_keyword(words, "from"),
        "INSERT" => after_keyword(words, "into"),
        "UPDATE" => words.find(|word| !word.eq_ignore_ascii_case("only")),
        "COPY" => words.next(),
        _ => None,
    };
    let collection = collection.and_then(|name| {
        // `todos(title)` names `todos`; `(select ...)` names nothing.
        let name = name.split('(').next().unwrap_or_default();
        let name = name.trim_end_matches([',', ';', ')']);
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '"' | '$'));
        plain.then(|| name.to_owned())
    });
    (Some(operation), collection)
}

/// The word after the first `keyword` outside parentheses (so that
/// `extract(year from ts)` is not taken for a `FROM`).
fn after_keyword<'a>(words: impl Iterator<Item = &'a str>, keyword: &str) -> Option<&'a str> {
    let mut depth = 0usize;
    let mut words = words;
    while let Some(word) = words.next() {
        if depth == 0 && word.eq_ignore_ascii_case(keyword) {
            return words.next();
        }
        for c in word.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

/// The words of `sql`, split on white space, comments left out.
fn words(sql: &str) -> impl Iterator<Item = &str> {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .flat_map(str::split_whitespace)
}

/// A statement span for `sql` on `peer`, disabled (and free) when no
/// subscriber wants it.
pub(crate) fn statement(peer: &Peer, sql: &str) -> Span {
    let span = tracing::debug_span!(
        target: TARGET,
        "statement",
        otel.name = field::Empty,
        otel.kind = "client",
        otel.status_code = field::Empty,
        db.system.name = "postgresql",
        db.namespace = field::Empty,
        db.operation.name = field::Empty,
        db.collection.name = field::Empty,
        db.query.text = field::Empty,
        db.response.status_code = field::Empty,
        db.operation.batch.size = field::Empty,
        "error.type" = field::Empty,
        server.address = field::Empty,
        server.port = field::Empty,
        tidepool.statement.cache = field::Empty,
    );
    if !span.is_disabled() {
        let (operation, collection) = summary(sql);
        let name = match (&operation, &collection) {
            (Some(operation), Some(collection)) => format!("{operation} {collection}"),
            (Some(operation), None) => operation.clone(),
            _ => "postgresql".to_owned(),
        };
        span.record("otel.name", name.as_str());
        span.record("db.namespace", peer.namespace.as_str());
        if let Some(operation) = &operation {
            span.record("db.operation.name", operation.as_str());
        }
        if let Some(collection) = &collection {
            span.record("db.collection.name", collection.as_str());
        }
        span.record("db.query.text", sql);
        span.record("server.address", peer.address.as_str());
        if let Some(port) = peer.port {
            span.record("server.port", port);
        }
    }
    span
}

/// Gives the recorder the unit and meaning of the statement histogram.
pub(crate) fn describe_metrics() {
    ::metrics::describe_histogram!(
        OPERATION_DURATION,
        ::metrics::Unit::Seconds,
        "Duration of database client operations."
    );
}

/// Records on the current span, the statement's, how the statement cache
/// ran the statement.
pub(crate) fn record_plan(plan: &Plan) {
    // Nothing to look up when no subscriber takes anything at DEBUG (the
    // statement span's level): the global hint says so at the cost of a
    // load. Below that, the span itself says.
    if !tracing::level_enabled!(tracing::Level::DEBUG) {
        return;
    }
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let outcome = match plan {
        Plan::Cached(_) => "cached",
        Plan::Prepare => "prepared",
        // Below the threshold a statement runs unnamed (a value of a type
        // of the user's own still prepares it for that one execution).
        Plan::Once | Plan::Unnamed => "unnamed",
    };
    span.record("tidepool.statement.cache", outcome);
}

/// Records how a statement ended on its span and, when `metrics` is on,
/// in the `db.client.operation.duration` histogram.
pub(crate) fn finish<T>(
    span: &Span,
    peer: &Peer,
    sql: &str,
    metrics: bool,
    started: Option<Instant>,
    result: &Result<T, Error>,
) {
    let code = match result {
        Ok(_) => None,
        Err(error) => Some(
            error
                .code()
                .map(|code| code.code().to_owned())
                .unwrap_or_else(|| error_type(error).to_owned()),
        ),
    };
    if !span.is_disabled()
        && let (Err(error), Some(code)) = (result, &code)
    {
        span.record("otel.status_code", "ERROR");
        if error.code().is_some() {
            span.record("db.response.status_code", code.as_str());
        }
        span.record("error.type", code.as_str());
    }
    if let (true, Some(started)) = (metrics, started) {
        let (operation, collection) = summary(sql);
        let mut labels = vec![
            ("db.system.name", "postgresql".to_owned()),
            ("db.namespace", peer.namespace.clone()),
            ("server.address", peer.address.clone()),
        ];
        if let Some(port) = peer.port {
            labels.push(("server.port", port.to_string()));
        }
        if let Some(operation) = operation {
            labels.push(("db.operation.name", operation));
        }
        if let Some(collection) = collection {
            labels.push(("db.collection.name", collection));
        }
        if let Some(code) = code {
            labels.push(("error.type", code));
        }
        ::metrics::histogram!(OPERATION_DURATION, &labels).record(started.elapsed().as_secs_f64());
    }
}

/// The kind of a failure that carries no SQLSTATE, for `error.type`.
fn error_type(error: &Error) -> &'static str {
    if error.is_query_timeout() {
        "query_timeout"
    } else if error.is_row() {
        "row"
    } else if error
        .as_postgres()
        .is_some_and(tokio_postgres::Error::is_closed)
    {
        "closed"
    } else {
        "_OTHER"
    }
}

/// Runs the work that `work` makes, the statement `sql` on `peer`, in its
/// span, and records how it ended.
pub(crate) async fn traced<T, F>(
    peer: &Peer,
    sql: &str,
    metrics: bool,
    work: impl FnOnce() -> F,
) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    let span = statement(peer, sql);
    let started = metrics.then(Instant::now);
    let result = if span.is_disabled() {
        work().await
    } else {
        work().instrument(span.clone()).await
    };
    finish(&span, peer, sql, metrics, started, &result);
    result
}

#[cfg(test)]
mod tests {
    use super::summary;

    fn of(sql: &str) -> (Option<&str>, Option<&str>) {
        let (operation, collection) = summary(sql);
        (
            operation.map(|o| &*o.leak()),
            collection.map(|c| &*c.leak()),
        )
    }

    #[test]
    fn the_first_words_name_the_operation_and_the_table() {
        assert_eq!(
            of("SELECT id, title FROM todos WHERE id = $1"),
            (Some("SELECT"), Some("todos"))
        );
        assert_eq!(
            of("select count(*) from public.orders o"),
            (Some("SELECT"), Some("public.orders"))
        );
        assert_eq!(
            of("INSERT INTO todos (title) VALUES ($1)"),
            (Some("INSERT"), Some("todos"))
        );
        assert_eq!(
            of("insert into todos(title) values ($1)"),
            (Some("INSERT"), Some("todos"))
        );
        assert_eq!(
            of("update ONLY accounts set balance = 0"),
            (Some("UPDATE"), Some("accounts"))
        );
        assert_eq!(
            of("DELETE FROM sessions WHERE expires < now()"),
            (Some("DELETE"), Some("sessions"))
        );
        assert_eq!(
            of("COPY items (v) FROM STDIN"),
            (Some("COPY"), Some("items"))
        );
        assert_eq!(of("SELECT 1"), (Some("SELECT"), None));
        assert_eq!(
            of("SELECT extract(year from created_at) FROM todos"),
            (Some("SELECT"), Some("todos"))
        );
        assert_eq!(
            of("select * from (select 1) as sub"),
            (Some("SELECT"), None),
            "a subquery is no collection"
        );
        assert_eq!(
            of("-- a comment\n  WITH x AS (SELECT 1) SELECT * FROM x"),
            (Some("WITH"), None)
        );
        assert_eq!(of("BEGIN"), (Some("BEGIN"), None));
        assert_eq!(of("   "), (None, None));
    }
}
