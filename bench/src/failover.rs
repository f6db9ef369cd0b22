//! Failover: a primary and its streaming standby, one multi-host string
//! with `target_session_attrs=read-write`, every pool writing every few
//! milliseconds; the primary stops and the standby is promoted. Each row
//! is the time from the promote command to that pool's first acknowledged
//! write, and how many writes failed from the primary's stop until then.
//! Pools that cannot take the string are named in the run's notes.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tidepool_testdb::PgServer;
use tokio_postgres::NoTls;

use crate::drive::BoxError;
use crate::report::Row;

/// The pause between two writes of a pool.
const POLL: Duration = Duration::from_millis(5);
/// The limit of one write (checkout included).
const ATTEMPT: Duration = Duration::from_secs(1);
/// How long a pool may take before its row says it did not recover.
const GIVE_UP: Duration = Duration::from_secs(30);
/// Connections per pool.
const CONNECTIONS: usize = 4;
const INSERT: &str = "INSERT INTO failover_probe (system) VALUES ($1)";

/// A pool given the multi-host string.
enum System {
    Tidepool(tidepool_async::Pool),
    Deadpool(deadpool_postgres::Pool),
    Bb8(bb8::Pool<bb8_postgres::PostgresConnectionManager<NoTls>>),
    Sqlx(sqlx::PgPool),
}

impl System {
    async fn write(&self, name: &str) -> Result<(), BoxError> {
        match self {
            System::Tidepool(pool) => {
                pool.get().await?.execute(INSERT, &[&name]).await?;
            }
            System::Deadpool(pool) => {
                pool.get().await?.execute(INSERT, &[&name]).await?;
            }
            System::Bb8(pool) => {
                pool.get().await?.execute(INSERT, &[&name]).await?;
            }
            System::Sqlx(pool) => {
                sqlx::query(INSERT).bind(name).execute(pool).await?;
            }
        }
        Ok(())
    }
}

/// What one pool saw.
#[derive(Default)]
struct Seen {
    writes: AtomicU64,
    failed_since_stop: AtomicU64,
}

/// The moments of the failover, shared with the probes.
#[derive(Default)]
struct Moments {
    stopped: OnceLock<Instant>,
    promoting: OnceLock<Instant>,
}

/// Writes until a write succeeds after the promotion began; returns when.
async fn probe(
    system: System,
    name: &'static str,
    seen: Arc<Seen>,
    at: Arc<Moments>,
) -> Option<Instant> {
    let give_up = Instant::now() + GIVE_UP;
    while Instant::now() < give_up {
        let began = Instant::now();
        let ok = matches!(
            tokio::time::timeout(ATTEMPT, system.write(name)).await,
            Ok(Ok(()))
        );
        if ok {
            seen.writes.fetch_add(1, Ordering::SeqCst);
            if at
                .promoting
                .get()
                .is_some_and(|promoting| began >= *promoting)
            {
                return Some(Instant::now());
            }
        } else if at.stopped.get().is_some() {
            seen.failed_since_stop.fetch_add(1, Ordering::SeqCst);
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, tidepool_testdb::HarnessError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The pools that take `key_value` (and `url`, the same hosts as a URL);
/// the others' errors go to `notes`.
async fn systems(
    key_value: &str,
    url: &str,
    notes: &mut Vec<String>,
) -> Vec<(&'static str, System)> {
    let mut systems = Vec::new();
    let tidepool = async {
        let pool = tidepool_async::Pool::builder(key_value)
            .min_size(CONNECTIONS)
            .max_size(CONNECTIONS)
            .timeout(ATTEMPT)
            .build()?;
        pool.wait().await?;
        Ok::<_, BoxError>(pool)
    };
    match tidepool.await {
        Ok(pool) => systems.push(("tidepool", System::Tidepool(pool))),
        Err(e) => notes.push(format!("failover: tidepool could not start: {e}")),
    }
    let deadpool = key_value
        .parse()
        .map_err(BoxError::from)
        .and_then(|config| {
            let manager = deadpool_postgres::Manager::new(config, NoTls);
            Ok(deadpool_postgres::Pool::builder(manager)
                .max_size(CONNECTIONS)
                .build()?)
        });
    match deadpool {
        Ok(pool) => systems.push(("deadpool-postgres", System::Deadpool(pool))),
        Err(e) => notes.push(format!("failover: deadpool-postgres left out: {e}")),
    }
    let bb8 = async {
        let manager = bb8_postgres::PostgresConnectionManager::new(key_value.parse()?, NoTls);
        Ok::<_, BoxError>(
            bb8::Pool::builder()
                .max_size(CONNECTIONS as u32)
                .connection_timeout(ATTEMPT)
                .build(manager)
                .await?,
        )
    };
    match bb8.await {
        Ok(pool) => systems.push(("bb8-postgres", System::Bb8(pool))),
        Err(e) => notes.push(format!("failover: bb8-postgres left out: {e}")),
    }
    let sqlx = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CONNECTIONS as u32)
        .acquire_timeout(ATTEMPT)
        .connect(url)
        .await;
    match sqlx {
        Ok(pool) => systems.push(("sqlx PgPool", System::Sqlx(pool))),
        Err(e) => notes.push(format!(
            "failover: sqlx PgPool left out, it does not take several hosts: {e}"
        )),
    }
    systems
}

/// Runs the failover; rows for the pools that took the string, and notes
/// for the others.
pub(crate) async fn run(notes: &mut Vec<String>) -> Vec<Row> {
    let workload = "failover: primary stopped, standby promoted";
    let servers = blocking(|| {
        let primary = PgServer::start()?;
        primary.psql("CREATE TABLE failover_probe (system text, at timestamptz DEFAULT now())")?;
        let standby = primary.start_standby()?;
        Ok((Arc::new(primary), Arc::new(standby)))
    })
    .await;
    let (primary, standby) = match servers {
        Ok(servers) => servers,
        Err(error) => return vec![Row::new(workload, "the servers", Err(error))],
    };
    let (p, s) = (primary.port(), standby.port());
    let key_value = format!(
        "host=127.0.0.1,127.0.0.1 port={p},{s} user=postgres dbname=postgres \
         target_session_attrs=read-write connect_timeout=2"
    );
    let url = format!(
        "postgresql://postgres@127.0.0.1:{p},127.0.0.1:{s}/postgres?target_session_attrs=read-write"
    );
    let moments = Arc::new(Moments::default());
    let mut probes = Vec::new();
    for (name, system) in systems(&key_value, &url, notes).await {
        let seen = Arc::new(Seen::default());
        let handle = tokio::spawn(probe(system, name, Arc::clone(&seen), Arc::clone(&moments)));
        probes.push((name, seen, handle));
    }
    // Every pool writes before the primary stops.
    let warm = Instant::now() + GIVE_UP;
    while probes
        .iter()
        .any(|(_, seen, _)| seen.writes.load(Ordering::SeqCst) == 0)
    {
        if Instant::now() > warm {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let stopping = Arc::clone(&primary);
    let _ = moments.stopped.set(Instant::now());
    if let Err(error) = blocking(move || stopping.stop()).await {
        return vec![Row::new(workload, "the primary", Err(error))];
    }
    let promoting = Instant::now();
    let _ = moments.promoting.set(promoting);
    let promoted = Arc::clone(&standby);
    if let Err(error) = blocking(move || promoted.promote()).await {
        return vec![Row::new(workload, "the standby", Err(error))];
    }
    let workload = format!(
        "failover: standby promoted in {} ms",
        promoting.elapsed().as_millis()
    );
    let mut rows = Vec::new();
    for (name, seen, handle) in probes {
        let failed = seen.failed_since_stop.load(Ordering::SeqCst);
        let outcome = match handle.await {
            Ok(Some(at)) => Ok(at - promoting),
            Ok(None) => Err(format!(
                "no acknowledged write within {} s of the promotion",
                GIVE_UP.as_secs()
            )),
            Err(error) => Err(error.to_string()),
        };
        let failed = seen.failed_since_stop.load(Ordering::SeqCst).max(failed);
        let system = format!("{name} ({failed} failed writes)");
        rows.push(Row::timed_once(
            &workload,
            system,
            outcome,
            "ms to first write",
        ));
    }
    drop((primary, standby));
    rows
}
