//! A manager with no database behind it, for the three engines: its
//! connections are numbers, and its connects take a set delay (none for
//! the engine workload, 150 ms for the spike).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Opens fake connections after `delay`, counting the connects begun.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fake {
    delay: Duration,
    connects: Arc<AtomicUsize>,
}

impl Fake {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            delay,
            connects: Arc::default(),
        }
    }

    /// Connects begun so far.
    pub(crate) fn connects(&self) -> usize {
        self.connects.load(Relaxed)
    }

    async fn open(&self) -> usize {
        let n = self.connects.fetch_add(1, Relaxed);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        n
    }
}

impl tidepool_core::Manager for Fake {
    type Connection = usize;
    type Error = Infallible;

    async fn connect(&self) -> Result<usize, Infallible> {
        Ok(self.open().await)
    }
}

impl deadpool::managed::Manager for Fake {
    type Type = usize;
    type Error = Infallible;

    async fn create(&self) -> Result<usize, Infallible> {
        Ok(self.open().await)
    }

    async fn recycle(
        &self,
        _conn: &mut usize,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

impl bb8::ManageConnection for Fake {
    type Connection = usize;
    type Error = Infallible;

    async fn connect(&self) -> Result<usize, Infallible> {
        Ok(self.open().await)
    }

    async fn is_valid(&self, _conn: &mut usize) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut usize) -> bool {
        false
    }
}
