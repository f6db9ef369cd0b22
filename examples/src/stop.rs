//! Stopping cleanly on Ctrl-C, for the async and the blocking examples.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the program was asked to stop (Ctrl-C, or by a test): workers
/// look at it between jobs and finish the one they hold.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag nobody has set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag set by Ctrl-C (SIGINT). The signal is awaited on a thread of
    /// its own, so this works in blocking programs as well as in async ones.
    ///
    /// # Errors
    ///
    /// When the thread or its signal handler cannot be set up.
    pub fn on_ctrl_c() -> std::io::Result<Self> {
        let flag = Self::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        let setter = flag.clone();
        // Registered before this returns, so no early Ctrl-C is missed.
        let signal = runtime.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        })?;
        std::thread::Builder::new()
            .name("ctrl-c".into())
            .spawn(move || {
                let mut signal = signal;
                runtime.block_on(signal.recv());
                println!("\nCtrl-C: finishing the jobs in hand, then stopping...");
                setter.set();
            })?;
        Ok(flag)
    }

    /// Asks everyone holding the flag to stop.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the program was asked to stop.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
