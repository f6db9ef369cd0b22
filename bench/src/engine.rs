//! The pools' own cost: checkout and return of fake connections, tidepool's
//! engine against deadpool's managed pool and bb8.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::drive::{BoxError, Measure, Plan, Step, tasks};
use crate::fake::Fake;
use crate::report::Row;
use crate::turns::{Pending, in_turn};

/// The objects of the engine workload.
pub(crate) const OBJECTS: usize = 16;

/// A pool of fake connections, whichever engine.
pub(crate) trait Checkout: Send + Sync + 'static {
    /// The checked-out connection; dropping it returns it.
    type Guard: Send;

    /// Checks out a connection.
    fn checkout(&self) -> impl Future<Output = Result<Self::Guard, BoxError>> + Send;

    /// The manager, for its count of connects.
    fn fake(&self) -> &Fake;
}

impl Checkout for tidepool_core::Pool<Fake> {
    type Guard = tidepool_core::Pooled<Fake>;

    async fn checkout(&self) -> Result<Self::Guard, BoxError> {
        Ok(self.get().await?)
    }

    fn fake(&self) -> &Fake {
        self.manager()
    }
}

impl Checkout for deadpool::managed::Pool<Fake> {
    type Guard = deadpool::managed::Object<Fake>;

    async fn checkout(&self) -> Result<Self::Guard, BoxError> {
        self.get().await.map_err(|e| format!("{e:?}").into())
    }

    fn fake(&self) -> &Fake {
        self.manager()
    }
}

/// bb8's pool, with the manager kept aside (bb8 does not lend it).
pub(crate) struct Bb8(bb8::Pool<Fake>, Fake);

impl Checkout for Bb8 {
    type Guard = bb8::PooledConnection<'static, Fake>;

    async fn checkout(&self) -> Result<Self::Guard, BoxError> {
        self.0
            .get_owned()
            .await
            .map_err(|e| format!("{e:?}").into())
    }

    fn fake(&self) -> &Fake {
        &self.1
    }
}

/// What a task does while it holds a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hold {
    /// Nothing: returns it at once.
    Nothing,
    /// Goes to the back of the scheduler's run queue once, as a task whose
    /// query's answer is already there would. (tokio's `yield_now` is not
    /// used: it waits for the runtime's next poll of its I/O driver, which
    /// measures the scheduler rather than the pool.)
    Yield,
}

/// Pending once, after waking itself: the task is scheduled again behind
/// the tasks already runnable.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Checkout, hold, return; the latency recorded is the whole cycle's, or
/// the checkout's alone when `acquire` is set.
pub(crate) struct Cycle<P> {
    pub(crate) pool: P,
    pub(crate) hold: Hold,
    pub(crate) acquire: bool,
}

impl<P: Checkout> Step for Cycle<P> {
    async fn run(&self, _task: usize, _n: i32) -> Result<Option<Duration>, BoxError> {
        let started = self.acquire.then(Instant::now);
        let guard = self.pool.checkout().await?;
        let acquired = started.map(|t| t.elapsed());
        if let Hold::Yield = self.hold {
            YieldOnce(false).await;
        }
        drop(guard);
        Ok(acquired)
    }
}

/// Sizes and connect delay of a pool of fake connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) delay: Duration,
}

/// tidepool's engine with `min` connections open.
pub(crate) async fn tidepool(shape: Shape) -> Result<tidepool_core::Pool<Fake>, BoxError> {
    let pool = tidepool_core::Pool::builder(Fake::new(shape.delay))
        .min_size(shape.min)
        .max_size(shape.max)
        .build()?;
    pool.wait().await?;
    Ok(pool)
}

/// deadpool's managed pool with `min` connections open (it has no
/// `min_size`: they are opened by checking out `min` at once).
pub(crate) async fn deadpool(shape: Shape) -> Result<deadpool::managed::Pool<Fake>, BoxError> {
    let pool = deadpool::managed::Pool::builder(Fake::new(shape.delay))
        .max_size(shape.max)
        .build()?;
    let handles: Vec<_> = (0..shape.min)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map_err(|e| format!("{e:?}")) })
        })
        .collect();
    let mut held = Vec::with_capacity(shape.min);
    for handle in handles {
        held.push(handle.await??);
    }
    drop(held);
    Ok(pool)
}

/// bb8 with `min_idle` connections open.
pub(crate) async fn bb8(shape: Shape) -> Result<Bb8, BoxError> {
    let fake = Fake::new(shape.delay);
    let pool = bb8::Pool::builder()
        .max_size(shape.max as u32)
        .min_idle(Some(shape.min as u32))
        .test_on_check_out(false)
        .build(fake.clone())
        .await
        .map_err(|e| format!("{e:?}"))?;
    // bb8 opens its min_idle connections in the background: wait for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (pool.state().idle_connections as usize) < shape.min {
        if Instant::now() > deadline {
            return Err("bb8 did not open its min_idle connections in 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(Bb8(pool, fake))
}

/// Measures a cycle on a pool once it is built.
pub(crate) async fn measure<P: Checkout>(
    pool: impl Future<Output = Result<P, BoxError>>,
    hold: Hold,
    acquire: bool,
    plan: Plan,
) -> Result<Measure, String> {
    let pool = pool.await.map_err(|e| e.to_string())?;
    let cycle = Arc::new(Cycle {
        pool,
        hold,
        acquire,
    });
    tasks(cycle, plan).await.map_err(|e| e.to_string())
}

/// The three engines on one workload; `acquire` records the checkout's
/// latency instead of the cycle's.
pub(crate) async fn compare(
    workload: &str,
    shape: Shape,
    hold: Hold,
    acquire: bool,
    plan: Plan,
) -> Vec<Row> {
    let systems: Vec<(&str, Pending<'_>)> = vec![
        (
            "tidepool-core",
            Box::pin(measure(tidepool(shape), hold, acquire, plan)),
        ),
        (
            "deadpool managed",
            Box::pin(measure(deadpool(shape), hold, acquire, plan)),
        ),
        ("bb8", Box::pin(measure(bb8(shape), hold, acquire, plan))),
    ];
    in_turn(workload, systems, plan.reversed).await
}

/// Uncontended (one task), then 64, 256, 1,024 and 4,096 tasks that yield
/// once while they hold a connection, over 16 objects: the cost of a
/// checkout should not grow with the queue.
pub(crate) async fn run(plan: Plan) -> Vec<Row> {
    let shape = Shape {
        min: OBJECTS,
        max: OBJECTS,
        delay: Duration::ZERO,
    };
    let mut rows = Vec::new();
    rows.extend(
        compare(
            &format!("engine 1 task / {OBJECTS} objects"),
            shape,
            Hold::Nothing,
            false,
            Plan { tasks: 1, ..plan },
        )
        .await,
    );
    for tasks in [64, 256, 1024, 4096] {
        rows.extend(
            compare(
                &format!("engine {tasks} tasks / {OBJECTS} objects, yield held"),
                shape,
                Hold::Yield,
                false,
                Plan { tasks, ..plan },
            )
            .await,
        );
    }
    rows
}
