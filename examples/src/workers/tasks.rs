//! Workers as async tasks sharing one async pool.

use std::error::Error;
use std::time::Instant;

use tidepool_async::Pool;

use super::queue::{Job, Queue, WorkerSettings};
use super::report::Report;
use crate::StopFlag;

/// Runs `settings.workers` tasks over the queue in `table` (created afresh)
/// with an async pool of `settings.max_size` connections to `url`, until
/// the queue is empty or `stop` is set. The tasks run on a runtime of their
/// own, started here.
///
/// # Errors
///
/// When the database cannot be reached, or a worker fails.
pub fn run_tasks(
    url: &str,
    table: &str,
    settings: &WorkerSettings,
    stop: &StopFlag,
) -> Result<Report, Box<dyn Error>> {
    let queue = Queue::create(url, table, settings)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let watcher = queue.watch()?;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let pool = Pool::builder(queue.workers_url())
            .config(settings.pool_config("workers-tasks"))
            .build()?;
        settings.announce("tasks", "an async pool");
        let mut workers = tokio::task::JoinSet::new();
        for n in 1..=settings.workers {
            let (pool, claim, finish) = (pool.clone(), queue.claim_sql(), queue.finish_sql());
            let (settings, stop) = (settings.clone(), stop.clone());
            workers.spawn(async move {
                let name = format!("task {n:>2}");
                work(&name, &pool, &claim, &finish, &settings, &stop).await
            });
        }
        let mut outcome = Ok(());
        while let Some(worker) = workers.join_next().await {
            if let Err(e) = worker.map_err(Box::from).and_then(|done| done) {
                outcome = Err(e);
            }
        }
        pool.close();
        outcome
    });
    drop(runtime);
    queue.report(settings, watcher, started, outcome)
}

/// One worker: takes jobs until none is left, or it is told to stop;
/// returns how many it did.
async fn work(
    name: &str,
    pool: &Pool,
    claim: &str,
    finish: &str,
    settings: &WorkerSettings,
    stop: &StopFlag,
) -> Result<usize, Box<dyn Error + Send + Sync>> {
    let mut done = 0;
    while !stop.is_set() {
        let asked = Instant::now();
        let mut conn = pool.get().await?;
        let waited = asked.elapsed();
        let tx = conn.transaction().await?;
        let Some(row) = tx.query_opt(claim, &[]).await? else {
            break; // the queue is empty
        };
        let job = Job::from_row(&row);
        job.print_started(name, waited, settings.verbose);
        tx.execute(Queue::WORK_SQL, &[&job.ms]).await?;
        tx.execute(finish, &[&job.id, &name]).await?;
        tx.commit().await?;
        job.print_done(name);
        done += 1;
    }
    Ok(done)
}
