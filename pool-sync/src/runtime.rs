//! The runtime that carries the blocking pool's connections.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tidepool_async::Error;
use tokio::runtime::{Handle, Runtime};

/// Owns the runtime that drives the pool's connections in the background,
/// and runs the async calls of the blocking API to completion.
#[derive(Clone)]
pub(crate) struct Blocker {
    runtime: Arc<OwnedRuntime>,
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
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Arc::new(OwnedRuntime(Some(runtime))),
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

    /// Runs `future` to completion on the calling thread; `method` names the
    /// call in the error returned when this thread belongs to an async
    /// runtime, where blocking would stall it.
    pub(crate) fn block_on<T>(
        &self,
        method: &'static str,
        future: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        if Handle::try_current().is_ok() {
            return Err(Error::blocking_in_async(method));
        }
        self.handle().block_on(future)
    }
}

impl fmt::Debug for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocker").finish_non_exhaustive()
    }
}
