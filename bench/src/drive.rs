//! Running one system on a workload: many tasks (or threads) loop on the
//! same step for a warm-up, then for the measured time.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::latency::Latencies;
use crate::process_cpu;

/// The error of a step: whatever the system under test returned.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One iteration of an async workload: for instance checkout, query, return.
pub(crate) trait Step: Send + Sync + 'static {
    /// Runs iteration `n` on task `task`. Returns the latency to record when
    /// it is not that of the whole iteration (the acquire time, say).
    fn run(
        &self,
        task: usize,
        n: i32,
    ) -> impl Future<Output = Result<Option<Duration>, BoxError>> + Send;
}

/// One iteration of a blocking workload.
pub(crate) trait BlockingStep: Sync {
    /// Runs iteration `n`.
    fn run(&self, n: i32) -> Result<(), BoxError>;
}

/// How long to run, and on how many tasks or threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) tasks: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// The systems run last first in this round (see [`crate::turns`]).
    pub(crate) reversed: bool,
}

/// What a measured run gave.
#[derive(Clone, Debug)]
pub struct Measure {
    /// Iterations completed in the measured time.
    pub ops: u64,
    /// The measured time.
    pub elapsed: Duration,
    /// The latency of each measured iteration.
    pub latencies: Latencies,
    /// The CPU time the whole process used (user and system, every
    /// thread) in the measured time, when it was measured: by `tasks`
    /// on Linux, not by the blocking drivers.
    pub cpu: Option<Duration>,
}

impl Measure {
    /// Iterations per second.
    pub fn throughput(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ops as f64 / self.elapsed.as_secs_f64()
        }
    }

    fn add(&mut self, tally: &Tally) {
        self.ops += tally.ops;
        self.latencies.merge(&tally.latencies);
        self.elapsed = self.elapsed.max(tally.end - tally.measure_from);
    }
}

/// One task's books. A single clock read per iteration: the end of one
/// iteration is the start of the next.
struct Tally {
    measure_from: Instant,
    end: Instant,
    last: Instant,
    ops: u64,
    latencies: Latencies,
}

impl Tally {
    /// A task's books, recording into `latencies` (made [`ready`]
    /// before the clock started: making them is the benchmark's cost, not
    /// the pool's, and must not eat into the measured time).
    ///
    /// [`ready`]: Latencies::ready
    fn new(started: Instant, plan: &Plan, latencies: Latencies) -> Self {
        let measure_from = started + plan.warmup;
        Self {
            measure_from,
            end: measure_from + plan.duration,
            last: Instant::now(),
            ops: 0,
            latencies,
        }
    }

    fn running(&self) -> bool {
        self.last < self.end
    }

    /// Books an iteration that just ended; `own` is the latency it reported.
    ///
    /// Every iteration that ends after the warm-up has its latency recorded,
    /// also one that began during the warm-up or ended after the measured
    /// time (when the other tasks stopped): a request starved by an unfair
    /// pool shows in the tail instead of vanishing. The throughput counts
    /// the iterations that ended within the measured time.
    fn done(&mut self, own: Option<Duration>) {
        let now = Instant::now();
        if now >= self.measure_from {
            self.latencies.record(own.unwrap_or(now - self.last));
            if now <= self.end {
                self.ops += 1;
            }
        }
        self.last = now;
    }
}

/// Histograms for `plan.tasks` tasks, made before the clock starts.
fn histograms(plan: &Plan) -> Vec<Latencies> {
    (0..plan.tasks).map(|_| Latencies::ready()).collect()
}

/// The process's CPU time from `from` for `duration`, read when each end
/// comes (the thread sleeps in between); `None` where it cannot be read.
fn cpu_during(from: Instant, duration: Duration) -> Option<Duration> {
    std::thread::sleep(from.saturating_duration_since(Instant::now()));
    let start = process_cpu::used().ok()?;
    std::thread::sleep((from + duration).saturating_duration_since(Instant::now()));
    let end = process_cpu::used().ok()?;
    Some(end.saturating_sub(start))
}

/// Runs `step` on `plan.tasks` tokio tasks.
pub(crate) async fn tasks<S: Step>(step: Arc<S>, plan: Plan) -> Result<Measure, BoxError> {
    let histograms = histograms(&plan);
    let started = Instant::now();
    // Read on a thread of its own, not one of the runtime's workers, which
    // the tasks keep busy: the readings are taken when the measured time
    // starts and ends, not when a worker comes to them.
    let cpu = tokio::task::spawn_blocking(move || cpu_during(started + plan.warmup, plan.duration));
    let handles: Vec<_> = histograms
        .into_iter()
        .enumerate()
        .map(|(task, latencies)| {
            let step = Arc::clone(&step);
            tokio::spawn(async move {
                let mut tally = Tally::new(started, &plan, latencies);
                let mut n = 0i32;
                while tally.running() {
                    let own = step.run(task, n).await?;
                    tally.done(own);
                    n = n.wrapping_add(1);
                }
                Ok::<_, BoxError>(tally)
            })
        })
        .collect();
    let mut measure = Measure::empty();
    for handle in handles {
        measure.add(&handle.await??);
    }
    measure.cpu = cpu.await?;
    Ok(measure)
}

/// One thread's loop of a blocking workload.
fn blocking_loop<S: BlockingStep>(
    step: &S,
    started: Instant,
    plan: &Plan,
    latencies: Latencies,
) -> Result<Tally, BoxError> {
    let mut tally = Tally::new(started, plan, latencies);
    let mut n = 0i32;
    while tally.running() {
        step.run(n)?;
        tally.done(None);
        n = n.wrapping_add(1);
    }
    Ok(tally)
}

/// Runs `step` on `plan.tasks` `spawn_blocking` threads of a tokio runtime
/// with two workers: blocking code called from async code, the usual way.
pub(crate) fn spawn_blocking<S: BlockingStep + Send + 'static>(
    step: Arc<S>,
    plan: Plan,
) -> Result<Measure, BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(plan.tasks)
        .enable_all()
        .build()?;
    let histograms = histograms(&plan);
    let started = Instant::now();
    let handles: Vec<_> = histograms
        .into_iter()
        .map(|latencies| {
            let step = Arc::clone(&step);
            runtime.spawn_blocking(move || blocking_loop(&*step, started, &plan, latencies))
        })
        .collect();
    // The step's last handle is dropped here, outside the runtime: a
    // blocking pool may block when it closes (r2d2_postgres does).
    runtime.block_on(async move {
        let mut measure = Measure::empty();
        for handle in handles {
            measure.add(&handle.await??);
        }
        Ok(measure)
    })
}

/// Runs `step` on `plan.tasks` threads.
pub(crate) fn threads<S: BlockingStep>(step: &S, plan: Plan) -> Result<Measure, BoxError> {
    let histograms = histograms(&plan);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = histograms
            .into_iter()
            .map(|latencies| scope.spawn(|| blocking_loop(step, started, &plan, latencies)))
            .collect();
        let mut measure = Measure::empty();
        for handle in handles {
            let tally = handle
                .join()
                .map_err(|_| BoxError::from("a benchmark thread panicked"))??;
            measure.add(&tally);
        }
        Ok(measure)
    })
}

impl Measure {
    pub(crate) fn empty() -> Self {
        Self {
            ops: 0,
            elapsed: Duration::ZERO,
            latencies: Latencies::default(),
            cpu: None,
        }
    }

    /// Adds another round of the same system: iterations, time, latencies
    /// and CPU time (known only when known in both).
    pub(crate) fn merge(&mut self, other: &Measure) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
        self.latencies.merge(&other.latencies);
        self.cpu = self.cpu.zip(other.cpu).map(|(ours, theirs)| ours + theirs);
    }
}
