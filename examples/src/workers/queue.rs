//! The queue of jobs: a table, filled at the start, whose rows the workers
//! claim with `FOR UPDATE SKIP LOCKED`.

use std::error::Error;
use std::time::{Duration, Instant};

use tidepool_async::PoolConfig;
use tidepool_testdb::with_application_name;

use super::report::Report;
use super::watcher::Watcher;

/// How a run of the workers is set up.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Workers (threads or tasks). Defaults to 16.
    pub workers: usize,
    /// The pool's `max_size`: at most this many workers hold a connection.
    /// Defaults to 4.
    pub max_size: usize,
    /// Jobs in the queue. Defaults to 200.
    pub jobs: usize,
    /// How long job 1, the slow one, takes. Defaults to 1.5 s.
    pub slow_job: Duration,
    /// Print a line per job. Defaults to `true`.
    pub verbose: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            workers: 16,
            max_size: 4,
            jobs: 200,
            slow_job: Duration::from_millis(1500),
            verbose: true,
        }
    }
}

impl WorkerSettings {
    /// The workers' pool, named `name`: at most `max_size` connections,
    /// none kept open when idle, and time enough to wait for the slow job.
    pub(crate) fn pool_config(&self, name: &str) -> PoolConfig {
        let mut config = PoolConfig::default();
        config.name = name.to_owned();
        config.min_size = 0;
        config.max_size = self.max_size;
        config.timeout = Duration::from_secs(30) + self.slow_job;
        config
    }

    /// Says who shares what.
    pub(crate) fn announce(&self, workers: &str, pool: &str) {
        println!(
            "{} {workers} share {pool} of at most {} connections; {} jobs queued.",
            self.workers, self.max_size, self.jobs
        );
    }
}

/// A job a worker claimed: its id and how long it takes.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    /// The job's id; job 1 is the slow one.
    pub id: i32,
    /// How long the job takes on the server, in milliseconds.
    pub ms: i32,
}

/// The queue: a table of its own, and a small blocking pool for setting it
/// up, watching the server and reporting (the workers have their own pool).
#[derive(Debug)]
pub struct Queue {
    admin: tidepool_sync::Pool,
    table: String,
    url: String,
    /// The `application_name` of the workers' sessions.
    application_name: String,
}

impl Queue {
    /// Creates the table `table` afresh and fills it with `settings.jobs`
    /// jobs: job 1 takes `settings.slow_job`, the others 5 to 20 ms.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached.
    pub fn create(
        url: &str,
        table: &str,
        settings: &WorkerSettings,
    ) -> Result<Self, Box<dyn Error>> {
        let admin = tidepool_sync::Pool::builder(url)
            .name(format!("{table}-admin"))
            .min_size(0)
            .max_size(2)
            .build()?;
        let slow_ms = i32::try_from(settings.slow_job.as_millis())?;
        let jobs = i32::try_from(settings.jobs)?;
        admin.get()?.batch_execute(&format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (
                 id int PRIMARY KEY,
                 ms int NOT NULL,
                 done_count int NOT NULL DEFAULT 0,
                 done_by text,
                 started_at timestamptz,
                 finished_at timestamptz
             );
             INSERT INTO {table} (id, ms)
                 SELECT i, CASE WHEN i = 1 THEN {slow_ms} ELSE 5 + (i * 7) % 16 END
                 FROM generate_series(1, {jobs}) AS i;"
        ))?;
        let application_name = format!("{table}-workers");
        Ok(Self {
            url: with_application_name(url, &application_name),
            admin,
            table: table.to_owned(),
            application_name,
        })
    }

    /// The connection string for the workers' pool: it names their sessions
    /// on the server, so that they can be counted.
    pub fn workers_url(&self) -> &str {
        &self.url
    }

    /// Takes the next job no one holds, in a transaction that keeps its row
    /// locked until [`finish_sql`](Queue::finish_sql) and the commit.
    /// Returns `id, ms`.
    pub fn claim_sql(&self) -> String {
        format!(
            "SELECT id, ms FROM {} WHERE done_count = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            self.table
        )
    }

    /// The job's work: the server sleeps `$1` milliseconds.
    pub const WORK_SQL: &str = "SELECT pg_sleep($1::int / 1000.0)";

    /// Marks job `$1` done by worker `$2`, with when its transaction began
    /// and when it ended.
    pub fn finish_sql(&self) -> String {
        format!(
            "UPDATE {} SET done_count = done_count + 1, done_by = $2,
                 started_at = now(), finished_at = clock_timestamp()
             WHERE id = $1",
            self.table
        )
    }

    /// Starts counting the workers' sessions on the server.
    ///
    /// # Errors
    ///
    /// When the watcher's thread cannot be started.
    pub(crate) fn watch(&self) -> std::io::Result<Watcher> {
        Watcher::start(self.admin.clone(), self.application_name.clone())
    }

    /// What the run that began at `started` did, read from the table and
    /// the watcher; or the workers' error, `outcome`.
    pub(crate) fn report(
        &self,
        settings: &WorkerSettings,
        watcher: Watcher,
        started: Instant,
        outcome: Result<(), Box<dyn Error + Send + Sync>>,
    ) -> Result<Report, Box<dyn Error>> {
        let elapsed = started.elapsed();
        let sessions = watcher.finish();
        outcome.map_err(|e| e as Box<dyn Error>)?;
        let t = &self.table;
        let conn = self.admin.get()?;
        let row = conn.query_one(
            &format!(
                "SELECT
                     count(*) FILTER (WHERE done_count = 1),
                     count(*) FILTER (WHERE done_count > 1),
                     count(*) FILTER (WHERE done_count = 0),
                     count(DISTINCT done_by),
                     (SELECT coalesce(max(overlap), 0) FROM (
                         SELECT (SELECT count(*) FROM {t} b
                                 WHERE b.started_at <= a.started_at
                                   AND b.finished_at > a.started_at) AS overlap
                         FROM {t} a WHERE a.started_at IS NOT NULL) AS o),
                     (SELECT count(*) FROM {t} b, {t} slow
                      WHERE slow.id = 1 AND b.id <> 1
                        AND b.finished_at <= slow.finished_at)
                 FROM {t}"
            ),
            &[],
        )?;
        let count = |i: usize| usize::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        Ok(Report {
            jobs: settings.jobs,
            workers: settings.workers,
            max_size: settings.max_size,
            done_once: count(0),
            done_twice_or_more: count(1),
            not_done: count(2),
            workers_that_worked: count(3),
            max_jobs_at_once: count(4),
            done_during_slow_job: count(5),
            peak_sessions: sessions.peak,
            peak_busy_sessions: sessions.peak_busy,
            samples: sessions.samples,
            elapsed,
        })
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if let Ok(conn) = self.admin.get() {
            let _ = conn.batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table));
        }
    }
}

impl Job {
    /// Reads a row of [`Queue::claim_sql`].
    pub(crate) fn from_row(row: &tidepool_async::Row) -> Self {
        Self {
            id: row.get(0),
            ms: row.get(1),
        }
    }

    /// Says what `worker` does with the job: always for the slow one, and
    /// for every job when `verbose`.
    pub(crate) fn print_started(&self, worker: &str, waited: Duration, verbose: bool) {
        if self.id == 1 {
            println!(
                "{worker}: job 1 is the slow one ({} ms); the other workers go on with the rest",
                self.ms
            );
        } else if verbose {
            println!(
                "{worker}: job {:>4} ({:>2} ms), after waiting {:>4} ms for a connection",
                self.id,
                self.ms,
                waited.as_millis()
            );
        }
    }

    /// Says that the slow job is done.
    pub(crate) fn print_done(&self, worker: &str) {
        if self.id == 1 {
            println!("{worker}: the slow job 1 is done");
        }
    }
}
