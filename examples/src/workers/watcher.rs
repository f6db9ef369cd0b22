//! Counting the workers' sessions on the server (`pg_stat_activity`)
//! while they run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the server is asked.
const EVERY: Duration = Duration::from_millis(5);

/// What the watcher saw.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sessions {
    /// The most sessions of the workers at once.
    pub(crate) peak: usize,
    /// The most of them not idle (running a statement, or in a
    /// transaction) at once.
    pub(crate) peak_busy: usize,
    /// How many times the server was asked.
    pub(crate) samples: usize,
}

/// A thread that counts the sessions named `application_name` until
/// [`finish`](Watcher::finish).
#[derive(Debug)]
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Sessions>,
}

impl Watcher {
    pub(crate) fn start(
        pool: tidepool_sync::Pool,
        application_name: String,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("session-watcher".into())
            .spawn(move || {
                let mut seen = Sessions::default();
                while !stopped.load(Ordering::SeqCst) {
                    let counted = pool.get().and_then(|conn| {
                        conn.query_one(
                            "SELECT count(*), count(*) FILTER (WHERE state <> 'idle')
                             FROM pg_stat_activity WHERE application_name = $1",
                            &[&application_name],
                        )
                    });
                    if let Ok(row) = counted {
                        let (all, busy): (i64, i64) = (row.get(0), row.get(1));
                        seen.peak = seen.peak.max(all as usize);
                        seen.peak_busy = seen.peak_busy.max(busy as usize);
                        seen.samples += 1;
                    }
                    std::thread::sleep(EVERY);
                }
                seen
            })?;
        Ok(Self { stop, thread })
    }

    /// Stops watching and returns what was seen.
    pub(crate) fn finish(self) -> Sessions {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}
