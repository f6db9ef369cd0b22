//! Workers as OS threads sharing one blocking pool.

use std::error::Error;
use std::time::Instant;

use tidepool_sync::Pool;

use super::queue::{Job, Queue, WorkerSettings};
use super::report::Report;
use crate::StopFlag;

/// Runs `settings.workers` threads over the queue in `table` (created
/// afresh) with a blocking pool of `settings.max_size` connections to
/// `url`, until the queue is empty or `stop` is set.
///
/// # Errors
///
/// When the database cannot be reached, or a worker fails.
pub fn run_threads(
    url: &str,
    table: &str,
    settings: &WorkerSettings,
    stop: &StopFlag,
) -> Result<Report, Box<dyn Error>> {
    let queue = Queue::create(url, table, settings)?;
    let pool = Pool::builder(queue.workers_url())
        .config(settings.pool_config("workers-threads"))
        .build()?;
    settings.announce("threads", "a blocking pool");
    let watcher = queue.watch()?;
    let started = Instant::now();
    let outcome = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..=settings.workers)
            .map(|n| {
                let (pool, queue, stop) = (&pool, &queue, stop);
                scope.spawn(move || work(&format!("thread {n:>2}"), pool, queue, settings, stop))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err("a worker panicked".into()))
            })
            .try_for_each(|done| done.map(drop))
    });
    pool.close();
    queue.report(settings, watcher, started, outcome)
}

/// One worker: takes jobs until none is left, or it is told to stop;
/// returns how many it did.
fn work(
    name: &str,
    pool: &Pool,
    queue: &Queue,
    settings: &WorkerSettings,
    stop: &StopFlag,
) -> Result<usize, Box<dyn Error + Send + Sync>> {
    let (claim, finish) = (queue.claim_sql(), queue.finish_sql());
    let mut done = 0;
    while !stop.is_set() {
        let asked = Instant::now();
        let mut conn = pool.get()?;
        let waited = asked.elapsed();
        let tx = conn.transaction()?;
        let Some(row) = tx.query_opt(&claim, &[])? else {
            break; // the queue is empty
        };
        let job = Job::from_row(&row);
        job.print_started(name, waited, settings.verbose);
        tx.execute(Queue::WORK_SQL, &[&job.ms])?;
        tx.execute(&finish, &[&job.id, &name])?;
        tx.commit()?;
        job.print_done(name);
        done += 1;
    }
    Ok(done)
}
