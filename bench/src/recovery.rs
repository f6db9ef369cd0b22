//! Recovery: the server stops and starts again on the same port while
//! every pool is asked for a connection every few milliseconds; each row
//! is the time from the server's start command to that pool's first
//! successful checkout and query. The workload's name says when the server
//! accepted connections again (as the harness saw it, polling), which no
//! pool can beat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidepool_testdb::PgServer;

use crate::drive::{BoxError, Step};
use crate::end_to_end::{self, Bb8, Deadpool, Sqlx, Tidepool};
use crate::report::Row;

/// The pause between two attempts of a pool: the resolution of the figure.
const POLL: Duration = Duration::from_millis(5);
/// The limit of one attempt.
const ATTEMPT: Duration = Duration::from_secs(1);
/// How long a pool may take to recover before its row says it did not.
const GIVE_UP: Duration = Duration::from_secs(30);

/// Asks `step` for a connection until an attempt succeeds; returns when.
async fn first_success<S: Step>(step: S) -> Option<Instant> {
    let give_up = Instant::now() + GIVE_UP;
    let mut n = 0;
    while Instant::now() < give_up {
        if let Ok(Ok(_)) = tokio::time::timeout(ATTEMPT, step.run(0, n)).await {
            return Some(Instant::now());
        }
        n += 1;
        tokio::time::sleep(POLL).await;
    }
    None
}

type Probe = tokio::task::JoinHandle<Option<Instant>>;

fn probe<S: Step>(step: Result<S, BoxError>) -> Result<Probe, String> {
    let step = step.map_err(|e| e.to_string())?;
    Ok(tokio::spawn(first_success(step)))
}

async fn blocking(
    server: &Arc<PgServer>,
    what: fn(&PgServer) -> Result<(), tidepool_testdb::HarnessError>,
) -> Result<(), String> {
    let server = Arc::clone(server);
    tokio::task::spawn_blocking(move || what(&server))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

pub(crate) async fn run(server: Arc<PgServer>) -> Vec<Row> {
    let url = server.url();
    let mut workload = "recovery: server stopped and started again".to_owned();
    let tidepool = end_to_end::tidepool(&url).await.map(Tidepool);
    let deadpool = end_to_end::deadpool(&url).map(Deadpool);
    let bb8 = end_to_end::bb8(&url).await.map(Bb8);
    let sqlx = end_to_end::sqlx(&url).await.map(Sqlx);
    if let Err(error) = blocking(&server, PgServer::stop).await {
        return vec![Row::new(&workload, "the server", Err(error))];
    }
    // The pools are asked while the server is down, and after.
    let probes = [
        ("tidepool", probe(tidepool)),
        ("deadpool-postgres", probe(deadpool)),
        ("bb8-postgres", probe(bb8)),
        ("sqlx PgPool", probe(sqlx)),
    ];
    let start = Instant::now();
    if let Err(error) = blocking(&server, PgServer::start_again).await {
        return vec![Row::new(&workload, "the server", Err(error))];
    }
    workload = format!(
        "recovery: server restarted, up after {} ms",
        start.elapsed().as_millis()
    );
    let mut rows = Vec::new();
    for (system, probe) in probes {
        let outcome = match probe {
            Ok(handle) => match handle.await {
                Ok(Some(at)) => Ok(at - start),
                Ok(None) => Err(format!(
                    "no successful checkout within {} s",
                    GIVE_UP.as_secs()
                )),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error),
        };
        rows.push(Row::timed_once(
            &workload,
            system,
            outcome,
            "ms to first ok",
        ));
    }
    rows
}
