//! The pool's spans and metrics through OpenTelemetry: one request traced
//! and measured, then its trace tree and the pool's metrics as the
//! OpenTelemetry SDK exported them (in memory; no collector needed).
//!
//! ```text
//! cargo run -p tidepool-examples --bin otel
//! ```
//!
//! Uses `DATABASE_URL` when it is set; otherwise starts a private PostgreSQL
//! server for the length of the run.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let db = tidepool_examples::database_url()?;
    let report = tidepool_examples::otel::run(db.url())?;
    println!();
    print!("{report}");
    Ok(())
}
