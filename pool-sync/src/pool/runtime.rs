//! The runtime that carries the blocking pool's connections, and how a
//! blocking call waits for it.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll, Wake, Waker};

use tidepool_async::Error;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

thread_local! {
    /// Whether this thread belongs to the runtime of a blocking pool: a
    /// blocking call there would wait for the very threads it holds.
    static POOL_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Owns the runtime that drives the pool's connections in the background,
/// and runs the async calls of the blocking API to completion.
///
/// A call blocks the calling thread while the pool's own runtime does the
/// work, so it works from a plain thread, a `spawn_blocking` thread,
/// inside `block_in_place`, and on any thread of a multi-thread runtime
/// (a worker is handed over to `block_in_place` first, so that its other
/// tasks move to other workers). It is refused where it would stall or
/// wait for itself: in the future a current-thread runtime runs on its
/// only thread, and on a thread of the pool's own runtime.
#[derive(Clone)]
pub(crate) struct Blocker {
    runtime: Arc<OwnedRuntime>,
    /// Whether the warning about a current-thread runtime was given.
    warned: Arc<AtomicBool>,
}

/// Shuts the runtime down without blocking, so that dropping the last pool
/// handle is safe anywhere, even inside another runtime.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Blocker {
    pub(crate) fn new(worker_threads: usize) -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads)
            .thread_name("tidepool-sync")
            .on_thread_start(|| POOL_THREAD.set(true))
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Arc::new(OwnedRuntime(Some(runtime))),
            warned: Arc::default(),
        })
    }

    /// Starts the runtime of a blocking pool with `worker_threads`
    /// threads.
    ///
    /// # Errors
    ///
    /// A configuration error for 0 threads, or threads that could not be
    /// started.
    pub(crate) fn start(worker_threads: usize) -> Result<Self, Error> {
        if worker_threads == 0 {
            return Err(Error::invalid_config(
                "worker_threads is 0; the blocking pool needs at least one thread",
            ));
        }
        Self::new(worker_threads).map_err(|e| {
            Error::invalid_config(format!("could not start the blocking pool's threads: {e}"))
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        // Invariant: the runtime is only taken in `drop`.
        self.runtime
            .0
            .as_ref()
            .expect("the runtime lives as long as the pool")
            .handle()
    }

    /// Runs `future` to completion, blocking the calling thread while the
    /// pool's runtime does the work; `method` names the call in the error
    /// returned where the call is refused (see [`Blocker`]).
    pub(crate) fn block_on<T>(
        &self,
        method: &'static str,
        future: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        if POOL_THREAD.get() {
            return Err(Error::blocking_in_pool_runtime(method));
        }
        let Ok(current) = Handle::try_current() else {
            // A thread of no runtime: the usual case, and the fastest way.
            return self.handle().block_on(future);
        };
        match current.runtime_flavor() {
            // A worker hands its tasks to the other workers for the time
            // of the call; on any other thread of the runtime (such as a
            // `spawn_blocking` thread) this is a plain call.
            RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| self.wait_for(future)),
            // No task runs: this is the future that the runtime's
            // `block_on` drives on its only thread (an async main or test
            // body), which blocking would stall whole.
            _ if tokio::task::try_id().is_none() => Err(Error::blocking_in_async(method)),
            // A task: on the runtime's thread, or a `spawn_blocking` thread,
            // which tokio does not tell apart.
            _ => {
                self.warn_current_thread(method);
                self.wait_for(future)
            }
        }
    }

    /// Polls `future` on this thread, parking it between polls, inside the
    /// pool's runtime context (so that the timers and tasks the future
    /// makes belong to the pool's runtime, which drives them), whatever
    /// runtime the thread belongs to.
    fn wait_for<F: Future>(&self, future: F) -> F::Output {
        let _context = self.handle().enter();
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        // Unconstrained: the task this thread may be polling for its own
        // runtime has a budget that nothing here would ever refill.
        let mut future = std::pin::pin!(tokio::task::unconstrained(future));
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }

    /// Warns, once per pool, that a call from a task of a current-thread
    /// runtime may stall that runtime: tokio cannot tell a task on the
    /// runtime's own thread from a `spawn_blocking` closure, where blocking
    /// is right.
    fn warn_current_thread(&self, method: &'static str) {
        if self.warned.swap(true, Relaxed) {
            return;
        }
        tracing::warn!(
            method,
            "{method} was called from a task of a current-thread tokio runtime; it works, but \
             it blocks its thread until it returns: in spawn_blocking that is expected, while \
             in a task on the runtime's own thread its other tasks wait meanwhile (use the \
             async pool there, or spawn_blocking). Said once per pool"
        );
    }
}

/// Wakes a thread parked in [`Blocker::wait_for`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl fmt::Debug for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocker").finish_non_exhaustive()
    }
}
