//! What the two workers programs share: their command line, the database,
//! Ctrl-C and the report.

use std::error::Error;

use tidepool_async::redact_dsn;

use super::queue::WorkerSettings;
use super::report::Report;
use crate::StopFlag;

/// [`run_threads`](super::run_threads) or [`run_tasks`](super::run_tasks).
pub type RunWorkers = fn(&str, &str, &WorkerSettings, &StopFlag) -> Result<Report, Box<dyn Error>>;

impl WorkerSettings {
    /// Reads `--workers N`, `--max-size N`, `--jobs N`, `--slow-ms N` and
    /// `--quiet` (no line per job) over the defaults.
    ///
    /// # Errors
    ///
    /// An unknown argument or a value that is not a number.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut settings = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--quiet" {
                settings.verbose = false;
                continue;
            }
            let value: u64 = args
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{arg} needs a number"))?;
            match arg.as_str() {
                "--workers" => settings.workers = value as usize,
                "--max-size" => settings.max_size = value as usize,
                "--jobs" => settings.jobs = value as usize,
                "--slow-ms" => settings.slow_job = std::time::Duration::from_millis(value),
                _ => {
                    return Err(format!(
                        "unknown argument {arg:?}; the arguments are \
                         --workers N, --max-size N, --jobs N, --slow-ms N, --quiet"
                    ));
                }
            }
        }
        if settings.workers == 0 || settings.jobs == 0 {
            return Err("--workers and --jobs must be at least 1".into());
        }
        Ok(settings)
    }
}

/// The body of a workers program named `name`: reads the command line,
/// gets the database (`DATABASE_URL` or a private server), runs the
/// workers until the queue is empty or Ctrl-C, and prints the report.
///
/// # Errors
///
/// Bad arguments, no database, or a worker's error.
pub fn run_program(name: &str, run: RunWorkers) -> Result<(), Box<dyn Error>> {
    let settings = WorkerSettings::from_args(std::env::args().skip(1))?;
    let stop = StopFlag::on_ctrl_c()?;
    let db = crate::database_url()?;
    println!("Database: {}", redact_dsn(db.url()));
    let table = format!("{}_jobs", name.replace('-', "_"));
    let report = run(db.url(), &table, &settings, &stop)?;
    println!("\n{report}");
    if stop.is_set() {
        println!("Stopped early by Ctrl-C: jobs not done stay in the queue.");
    }
    if db.server().is_some() {
        drop(db);
        println!("Private PostgreSQL server stopped and removed.");
    }
    Ok(())
}
