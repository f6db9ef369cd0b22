//! `cargo run --release -p tidepool-bench -- [--smoke] [--duration SECS]
//! [--only WORKLOAD]...`: runs the benchmarks and prints one table.

use std::process::ExitCode;

use tidepool_bench::{Options, run};

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut progress = |row: &tidepool_bench::Row| {
        let outcome = match &row.outcome {
            Ok(measure) => format!("{:.0} ops/s", measure.throughput()),
            Err(error) => format!("failed: {error}"),
        };
        eprintln!("{} | {} | {outcome}", row.workload, row.system);
    };
    match run(&options, &mut progress) {
        Ok(report) => {
            println!("{report}");
            if report.rows.iter().any(|row| row.outcome.is_err()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
