//! The table of a run: one row per system and workload, with the ratio of
//! tidepool to each peer.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::drive::Measure;
use crate::latency::Latencies;

/// What a row is compared on, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compare {
    /// Iterations per second: higher is better.
    Throughput,
    /// The latency at this quantile: lower is better.
    Latency(f64),
    /// The row's figure ([`Row::figure`]): lower is better.
    Figure,
}

/// One system on one workload.
#[derive(Clone, Debug)]
pub struct Row {
    /// The workload, with its shape ("end-to-end 64 tasks / 16 conns").
    pub workload: String,
    /// The system: "tidepool" or a peer's name and how it is called.
    pub system: String,
    /// The measurement, or why the system failed.
    pub outcome: Result<Measure, String>,
    /// A figure of the workload's own, such as connections opened.
    pub figure: Option<(&'static str, f64)>,
    /// What the ratio column compares.
    pub compare: Compare,
    /// Whether a failure of this row is what the workload shows about the
    /// system rather than a broken run: a peer that gave up behind
    /// PgBouncer in transaction mode because its named statements were
    /// lost. The smoke test and the exit status accept such a failure;
    /// a tidepool row never has this set.
    pub failure_is_finding: bool,
    /// Whether the table shows the row's iterations per second: not for a
    /// row of one timed event or one burst, where they mean nothing.
    pub shows_throughput: bool,
}

impl Row {
    /// A row of `system` on `workload`, compared on throughput.
    pub(crate) fn new(
        workload: impl Into<String>,
        system: impl Into<String>,
        outcome: Result<Measure, String>,
    ) -> Self {
        Self {
            workload: workload.into(),
            system: system.into(),
            outcome,
            figure: None,
            compare: Compare::Throughput,
            failure_is_finding: false,
            shows_throughput: true,
        }
    }

    /// A row of one timed event (a recovery, a failover): its time is the
    /// row's figure, named `figure`, and what the row is compared on.
    pub(crate) fn timed_once(
        workload: impl Into<String>,
        system: impl Into<String>,
        outcome: Result<Duration, String>,
        figure: &'static str,
    ) -> Self {
        match outcome {
            Ok(took) => {
                let mut latencies = Latencies::default();
                latencies.record(took);
                let measure = Measure {
                    ops: 1,
                    elapsed: took,
                    latencies,
                    cpu: None,
                };
                Self::new(workload, system, Ok(measure))
                    .with_figure(figure, took.as_secs_f64() * 1000.0)
                    .compared_on(Compare::Figure)
                    .without_throughput()
            }
            Err(error) => Self::new(workload, system, Err(error)),
        }
    }

    /// Compares this row on `compare`.
    pub(crate) fn compared_on(mut self, compare: Compare) -> Self {
        self.compare = compare;
        self
    }

    /// Adds a figure of the workload's own.
    pub(crate) fn with_figure(mut self, name: &'static str, value: f64) -> Self {
        self.figure = Some((name, value));
        self
    }

    /// Leaves the row's iterations per second out of the table.
    pub(crate) fn without_throughput(mut self) -> Self {
        self.shows_throughput = false;
        self
    }

    /// Whether the run is broken by this row: it failed, and the failure
    /// is not a finding about a peer ([`Row::failure_is_finding`]).
    pub fn is_broken(&self) -> bool {
        self.outcome.is_err() && !self.failure_is_finding
    }

    /// Whether the row is one of tidepool's pools.
    pub fn is_tidepool(&self) -> bool {
        self.system.starts_with("tidepool")
    }

    /// The value the ratio column compares, if the row has it.
    fn score(&self) -> Option<f64> {
        let measure = self.outcome.as_ref().ok()?;
        match self.compare {
            Compare::Throughput => Some(measure.throughput()),
            Compare::Latency(q) => Some(measure.latencies.quantile(q).as_secs_f64()),
            Compare::Figure => self.figure.map(|(_, value)| value),
        }
    }

    fn compare_name(&self) -> String {
        match self.compare {
            Compare::Throughput => "ops/s".to_owned(),
            Compare::Latency(q) => quantile_name(q),
            Compare::Figure => self.figure.map_or("-", |(name, _)| name).to_owned(),
        }
    }
}

/// The rows of a run, and the machine they ran on.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The machine, the server and the load, one fact a line.
    pub machine: Vec<String>,
    /// Every row, in the order run.
    pub rows: Vec<Row>,
}

impl Report {
    /// tidepool's score divided by `row`'s, from the tidepool row of the
    /// same workload.
    pub fn ratio(&self, row: &Row) -> Option<f64> {
        let tidepool = self
            .rows
            .iter()
            .find(|r| r.workload == row.workload && r.is_tidepool())?;
        let (ours, theirs) = (tidepool.score()?, row.score()?);
        (theirs > 0.0).then(|| ours / theirs)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.machine {
            writeln!(f, "{line}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| workload | system | ops/s | p50 | p99 | p99.9 | other | tidepool ÷ peer |"
        )?;
        writeln!(f, "|---|---|--:|--:|--:|--:|---|---|")?;
        for row in &self.rows {
            let mut line = format!("| {} | {} ", row.workload, row.system);
            match &row.outcome {
                Ok(m) => {
                    let l = &m.latencies;
                    let throughput = if row.shows_throughput {
                        format!("{:.0}", m.throughput())
                    } else {
                        "-".to_owned()
                    };
                    let _ = write!(
                        line,
                        "| {throughput} | {} | {} | {} ",
                        Latency(l.quantile(0.5)),
                        Latency(l.quantile(0.99)),
                        Latency(l.quantile(0.999)),
                    );
                    let mut other = Vec::new();
                    if let Compare::Latency(q) = row.compare {
                        other.push(format!("{} {}", quantile_name(q), Latency(l.quantile(q))));
                    }
                    if let Some((name, value)) = row.figure {
                        other.push(format!("{name} {}", Figure(value)));
                    }
                    let _ = write!(line, "| {} ", other.join(", "));
                }
                Err(error) => {
                    let _ = write!(line, "| - | - | - | - | failed: {error} ");
                }
            }
            let ratio = match self.ratio(row) {
                _ if row.is_tidepool() => "-".to_owned(),
                Some(ratio) => format!("{ratio:.2} ({})", row.compare_name()),
                None => "-".to_owned(),
            };
            writeln!(f, "{line}| {ratio} |")?;
        }
        Ok(())
    }
}

fn quantile_name(q: f64) -> String {
    format!("p{}", q * 100.0)
}

/// A figure with the digits that tell: a whole number as it is, others
/// with two decimals below 10, one below 100 and none from 100 up.
struct Figure(f64);

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value.fract() == 0.0 || value.abs() >= 100.0 {
            write!(f, "{value:.0}")
        } else if value.abs() >= 10.0 {
            write!(f, "{value:.1}")
        } else {
            write!(f, "{value:.2}")
        }
    }
}

/// A latency in the unit that suits it.
struct Latency(Duration);

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos() as f64;
        if nanos < 1e3 {
            write!(f, "{nanos:.0} ns")
        } else if nanos < 1e6 {
            write!(f, "{:.1} µs", nanos / 1e3)
        } else if nanos < 1e9 {
            write!(f, "{:.2} ms", nanos / 1e6)
        } else {
            write!(f, "{:.2} s", nanos / 1e9)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Latencies;

    fn measure(ops: u64, latency_us: u64) -> Measure {
        let mut latencies = Latencies::default();
        latencies.record(Duration::from_micros(latency_us));
        Measure {
            ops,
            elapsed: Duration::from_secs(1),
            latencies,
            cpu: None,
        }
    }

    #[test]
    fn ratios_are_tidepool_over_the_peer_of_the_same_workload() {
        let report = Report {
            machine: vec!["2 cores".into()],
            rows: vec![
                Row::new("w", "tidepool", Ok(measure(300, 10))),
                Row::new("w", "peer", Ok(measure(100, 10))),
                Row::new("v", "peer", Ok(measure(100, 10))),
                Row::new("x", "tidepool", Ok(measure(1, 20))).compared_on(Compare::Latency(0.9999)),
                Row::new("x", "peer", Ok(measure(1, 40))).compared_on(Compare::Latency(0.9999)),
                Row::new("y", "peer", Err("refused".into())),
            ],
        };
        assert_eq!(report.ratio(&report.rows[1]), Some(3.0));
        assert_eq!(report.ratio(&report.rows[2]), None);
        let latency_ratio = report.ratio(&report.rows[4]).unwrap();
        assert!((latency_ratio - 0.5).abs() < 0.01, "{latency_ratio}");
        let table = report.to_string();
        assert!(table.contains("| w | peer | 100 | "), "{table}");
        assert!(table.contains("3.00 (ops/s)"), "{table}");
        assert!(table.contains("0.50 (p99.99)"), "{table}");
        assert!(table.contains("failed: refused"), "{table}");
    }

    #[test]
    fn figures_keep_the_digits_that_tell() {
        let shown = |value| Figure(value).to_string();
        assert_eq!(shown(3.0), "3");
        assert_eq!(shown(6.4321), "6.43");
        assert_eq!(shown(12.34), "12.3");
        assert_eq!(shown(1234.6), "1235");
    }

    #[test]
    fn a_row_may_leave_its_throughput_out() {
        let report = Report {
            machine: Vec::new(),
            rows: vec![
                Row::new("w", "tidepool", Ok(measure(300, 10)))
                    .with_figure("µs CPU/statement", 6.5)
                    .compared_on(Compare::Figure),
                Row::new("w", "peer", Ok(measure(100, 10)))
                    .with_figure("µs CPU/statement", 13.0)
                    .compared_on(Compare::Figure),
                Row::new("x", "tidepool", Ok(measure(50, 10)))
                    .with_figure("connects", 5.0)
                    .compared_on(Compare::Figure)
                    .without_throughput(),
            ],
        };
        let table = report.to_string();
        assert!(table.contains("| w | tidepool | 300 | "), "{table}");
        assert!(table.contains("µs CPU/statement 6.50"), "{table}");
        assert!(table.contains("0.50 (µs CPU/statement)"), "{table}");
        assert!(table.contains("| x | tidepool | - | "), "{table}");
    }
}
