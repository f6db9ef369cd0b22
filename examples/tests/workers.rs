//! The bounded-workers examples, run briefly against the private server:
//! every job is done exactly once, the pool's `max_size` bounds the
//! sessions and the jobs in progress on the server, and the slow job does
//! not hold the others up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tidepool_examples::StopFlag;
use tidepool_examples::workers::{Report, RunWorkers, WorkerSettings, run_tasks, run_threads};

fn settings() -> WorkerSettings {
    WorkerSettings {
        workers: 12,
        max_size: 3,
        jobs: 40,
        slow_job: Duration::from_millis(1500),
        verbose: false,
    }
}

/// A table name no other test of this process uses.
fn table(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tp_{tag}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn run(tag: &str, workers: RunWorkers, settings: &WorkerSettings, stop: &StopFlag) -> Report {
    let db = tidepool_testdb::test_database().unwrap_or_else(|e| panic!("no test database: {e}"));
    let report = workers(db.url(), &table(tag), settings, stop)
        .unwrap_or_else(|e| panic!("the workers failed: {e}"));
    println!("{report}");
    report
}

fn assert_bounded_and_complete(report: &Report, settings: &WorkerSettings) {
    assert_eq!(report.done_once, settings.jobs, "every job done once");
    assert_eq!(report.done_twice_or_more, 0, "no job done twice");
    assert_eq!(report.not_done, 0, "no job left");
    assert!(report.samples > 0, "pg_stat_activity was never read");
    assert!(
        (1..=settings.max_size).contains(&report.peak_sessions),
        "{} sessions at once with max_size {}",
        report.peak_sessions,
        settings.max_size
    );
    // With four workers for each connection, the pool is used to its bound,
    // and not beyond.
    assert_eq!(
        report.max_jobs_at_once, settings.max_size,
        "jobs in progress at once on the server"
    );
    assert!(report.bounded());
    // The slow job holds one connection; the others share the rest.
    let others = settings.jobs - 1;
    assert!(
        report.done_during_slow_job * 2 >= others,
        "only {} of {others} other jobs were done while the slow job ran",
        report.done_during_slow_job
    );
}

fn bounded_run(tag: &str, workers: RunWorkers) {
    let settings = settings();
    let report = run(tag, workers, &settings, &StopFlag::new());
    assert_bounded_and_complete(&report, &settings);
    assert!(report.workers_that_worked > settings.max_size);
}

#[test]
fn threads_sharing_a_blocking_pool_are_bounded_by_max_size() {
    bounded_run("threads", run_threads);
}

#[test]
fn tasks_sharing_an_async_pool_are_bounded_by_max_size() {
    bounded_run("tasks", run_tasks);
}

#[test]
fn workers_told_to_stop_leave_the_queue_alone() {
    let stop = StopFlag::new();
    stop.set();
    for workers in [run_threads as RunWorkers, run_tasks] {
        let report = run("stopped", workers, &settings(), &stop);
        assert_eq!(report.done_once, 0);
        assert_eq!(report.not_done, settings().jobs);
    }
}
