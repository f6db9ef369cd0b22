//! The command line: which workloads, for how long.

use std::time::Duration;

use crate::workload::Workload;

/// How a run is made.
#[derive(Clone, Debug)]
pub struct Options {
    /// The workloads to run, in this order.
    pub workloads: Vec<Workload>,
    /// How long each system is measured on a throughput workload.
    pub duration: Duration,
    /// How long each system runs before it is measured (pools filled,
    /// statements prepared, caches warm).
    pub warmup: Duration,
    /// The connect delay of the spike workload's test managers.
    pub connect_delay: Duration,
    /// How many times each throughput workload (end-to-end, blocking,
    /// engine, fairness) is run, every other time with its systems in
    /// reverse order; a system's rounds are added up into its row.
    pub rounds: usize,
    /// Whether the program records every span of the pool while it runs
    /// (`--record-spans`), to measure what tracing costs. The library reads
    /// nothing of it: the program installs the subscriber.
    pub record_spans: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workloads: Workload::ALL.to_vec(),
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            connect_delay: Duration::from_millis(150),
            rounds: 1,
            record_spans: false,
        }
    }
}

/// The usage text of the command.
pub const USAGE: &str = "\
usage: tidepool-bench [--smoke] [--duration SECS] [--warmup SECS] [--rounds N]
                      [--record-spans] [--only WORKLOAD]...

Runs every system on the same workload back to back and prints one table.
Starts a private PostgreSQL server unless DATABASE_URL is set (then the
recovery and pgbouncer workloads, which need a server of their own, are left
out).

  --smoke           about a second per workload: checks that everything runs
  --duration SECS   how long each system is measured (default 5)
  --warmup SECS     how long each system runs before it is measured (default 1)
  --rounds N        run each throughput workload N times, every other round
                    with its systems in reverse order, and add the rounds up
                    (default 1; 2 or more evens out a load that drifts)
  --record-spans    record every span of the pool (targets tidepool,
                    tidepool_core, tidepool_async at DEBUG) in memory while
                    running, to measure what tracing costs
  --only WORKLOAD   run only this workload (repeatable): end-to-end, blocking,
                    engine, fairness, spike, recovery, failover, unique-sql,
                    transaction, client-cpu, pgbouncer
";

impl Options {
    /// The smoke mode: every workload and system, briefly.
    pub fn smoke() -> Self {
        Self {
            duration: Duration::from_millis(150),
            warmup: Duration::from_millis(50),
            ..Self::default()
        }
    }

    /// Reads the command line (without the program's name).
    ///
    /// # Errors
    ///
    /// A message naming the argument that is wrong, with the usage.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self::default();
        let mut only = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--smoke" => {
                    let workloads = std::mem::take(&mut options.workloads);
                    options = Self {
                        workloads,
                        rounds: options.rounds,
                        record_spans: options.record_spans,
                        ..Self::smoke()
                    };
                }
                "--duration" => options.duration = seconds("--duration", &value("--duration")?)?,
                "--warmup" => options.warmup = seconds("--warmup", &value("--warmup")?)?,
                "--rounds" => options.rounds = rounds(&value("--rounds")?)?,
                "--record-spans" => options.record_spans = true,
                "--only" => {
                    let name = value("--only")?;
                    only.push(
                        Workload::from_name(&name).ok_or_else(|| {
                            format!("--only: no workload named {name:?}\n\n{USAGE}")
                        })?,
                    );
                }
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        if !only.is_empty() {
            options.workloads = only;
        }
        Ok(options)
    }
}

fn rounds(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("--rounds: expected a whole number above 0, got {text:?}"))
}

fn seconds(name: &str, text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{name}: expected seconds, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn the_command_line_is_read() {
        let options = parse(&["--smoke", "--only", "engine", "--only", "spike"]).unwrap();
        assert_eq!(options.workloads, [Workload::Engine, Workload::Spike]);
        assert_eq!(options.duration, Options::smoke().duration);
        let options = parse(&["--duration", "2.5", "--warmup", "0"]).unwrap();
        assert_eq!(options.duration, Duration::from_millis(2500));
        assert_eq!(options.warmup, Duration::ZERO);
        assert_eq!(options.workloads, Workload::ALL);
        assert_eq!(options.rounds, 1);
        let options = parse(&["--rounds", "3", "--smoke"]).unwrap();
        assert_eq!(options.rounds, 3);
        assert!(!options.record_spans);
        let options = parse(&["--record-spans", "--smoke"]).unwrap();
        assert!(options.record_spans);
    }

    #[test]
    fn wrong_arguments_are_named() {
        assert!(parse(&["--only", "nope"]).unwrap_err().contains("\"nope\""));
        assert!(
            parse(&["--duration", "-1"])
                .unwrap_err()
                .contains("--duration")
        );
        assert!(
            parse(&["--duration"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(parse(&["--fast"]).unwrap_err().contains("--fast"));
        for zero_or_not_a_number in ["0", "two", "-1"] {
            assert!(
                parse(&["--rounds", zero_or_not_a_number])
                    .unwrap_err()
                    .contains("--rounds")
            );
        }
    }
}
