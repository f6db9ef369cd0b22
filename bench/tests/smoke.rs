//! The benchmark's smoke mode, run by `cargo test`: every workload and
//! every system, briefly, so that the benchmark cannot rot. Speed is only
//! reported, never asserted.

use tidepool_bench::{Options, Report, Workload, run};

/// The systems each workload compares, tidepool first.
fn expected_rows() -> usize {
    let restarts = std::env::var(tidepool_testdb::DATABASE_URL_ENV).map_or(true, |u| u.is_empty());
    Workload::ALL
        .iter()
        .map(|workload| match workload {
            // tidepool, deadpool-postgres twice, bb8, sqlx, tokio-postgres;
            // at 64 and 256 tasks.
            Workload::EndToEnd => 2 * 6,
            // tidepool-sync and r2d2, on threads and spawn_blocking threads.
            Workload::Blocking => 2 * 2,
            // Three engines at 1, 64, 256, 1,024 and 4,096 tasks.
            Workload::Engine => 3 * 5,
            Workload::Fairness | Workload::Spike => 3,
            Workload::Recovery if restarts => 4,
            Workload::Recovery => 0,
            // tidepool, deadpool-postgres and bb8-postgres (sqlx takes no
            // multi-host string).
            Workload::Failover => 3,
            // tidepool, deadpool-postgres, bb8, sqlx.
            Workload::UniqueSql | Workload::Transaction => 4,
            // tidepool, deadpool-postgres, tokio-postgres.
            Workload::ClientCpu => 3,
            // tidepool twice, deadpool-postgres twice, bb8, sqlx twice.
            Workload::PgBouncer if restarts => 7,
            Workload::PgBouncer => 0,
        })
        .sum()
}

#[test]
fn every_system_produces_a_row_on_every_workload() {
    let mut seen = 0;
    let report: Report = run(&Options::smoke(), &mut |_| seen += 1).expect("the run starts");
    println!("{report}");
    assert_eq!(report.rows.len(), expected_rows(), "{report}");
    assert_eq!(seen, report.rows.len());
    for row in &report.rows {
        if row.outcome.is_err() && row.failure_is_finding {
            // A peer given up on behind PgBouncer: what the workload shows.
            assert!(!row.is_tidepool());
            continue;
        }
        let measure = row
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("{} on {} failed: {e}", row.system, row.workload));
        assert!(
            measure.ops > 0,
            "{} on {}: no iteration",
            row.system,
            row.workload
        );
        assert!(
            measure.latencies.count() > 0,
            "{} on {}",
            row.system,
            row.workload
        );
        if row.is_tidepool() {
            continue;
        }
        assert!(
            report.ratio(row).is_some(),
            "{} on {} has no ratio to tidepool",
            row.system,
            row.workload
        );
    }
    assert!(report.machine.iter().any(|line| line.contains("cores")));
}

#[test]
fn rounds_are_added_up_into_one_row_per_system() {
    let options = Options {
        workloads: vec![Workload::Engine],
        rounds: 2,
        ..Options::smoke()
    };
    let report = run(&options, &mut |_| {}).expect("the run starts");
    // The three engines at 1, 64, 256, 1,024 and 4,096 tasks, once each.
    assert_eq!(report.rows.len(), 3 * 5, "{report}");
    for row in &report.rows {
        let measure = row.outcome.as_ref().expect("the engine runs");
        assert!(
            measure.elapsed >= 2 * options.duration,
            "{} on {}: {:?} measured, less than two rounds of {:?}",
            row.system,
            row.workload,
            measure.elapsed,
            options.duration
        );
    }
    assert!(report.machine.iter().any(|line| line.contains("rounds: 2")));
}
