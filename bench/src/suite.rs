//! A whole run: every chosen workload, every system, back to back.

use crate::database::Database;
use crate::drive::Plan;
use crate::options::Options;
use crate::report::{Report, Row};
use crate::turns::add_up;
use crate::workload::Workload;
use crate::{
    blocking, bouncer, client_cpu, end_to_end, engine, failover, fairness, machine, recovery,
    spike, statements,
};

/// Runs the workloads of `options` and returns the table; `on_row` sees
/// each row as soon as it is measured.
///
/// # Errors
///
/// When the async runtime or the database cannot be had. A system that
/// fails gets a row that says so instead.
pub fn run(options: &Options, on_row: &mut dyn FnMut(&Row)) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no async runtime: {e}"))?;
    let database = if options.workloads.iter().any(|w| w.needs_database()) {
        Some(Database::open()?)
    } else {
        None
    };
    let mut report = Report {
        machine: vec![machine::cpu()],
        rows: Vec::new(),
    };
    if let Some(database) = &database {
        report
            .machine
            .push(runtime.block_on(machine::server(&database.url())));
    }
    if options.rounds > 1 {
        report.machine.push(format!(
            "rounds: {} of each throughput workload, every other one in reverse order, added up",
            options.rounds
        ));
    }
    report.machine.push(format!("before: {}", machine::load()));
    let plan = Plan {
        tasks: 1,
        warmup: options.warmup,
        duration: options.duration,
        reversed: false,
    };
    let mut add = |report: &mut Report, rows: Vec<Row>| {
        for row in rows {
            on_row(&row);
            report.rows.push(row);
        }
    };
    for &workload in &options.workloads {
        let url = database.as_ref().map(Database::url);
        let url = url.as_deref().unwrap_or_default();
        // A throughput workload in rounds, every other one reversed.
        let rounds = |run: &dyn Fn(Plan) -> Vec<Row>| {
            add_up(
                (0..options.rounds)
                    .map(|round| {
                        run(Plan {
                            reversed: round % 2 == 1,
                            ..plan
                        })
                    })
                    .collect(),
            )
        };
        let rows = match workload {
            Workload::EndToEnd => {
                let mut rows = rounds(&|plan| runtime.block_on(end_to_end::run(url, 64, plan)));
                rows.extend(rounds(&|plan| {
                    runtime.block_on(end_to_end::run(url, 256, plan))
                }));
                rows
            }
            Workload::Blocking => rounds(&|plan| blocking::run(url, plan)),
            Workload::Engine => rounds(&|plan| runtime.block_on(engine::run(plan))),
            Workload::Fairness => rounds(&|plan| runtime.block_on(fairness::run(plan))),
            Workload::Spike => runtime.block_on(spike::run(options.connect_delay)),
            Workload::Recovery => match database.as_ref().and_then(Database::own_server) {
                Some(server) => runtime.block_on(recovery::run(server)),
                None => {
                    report.machine.push(
                        "recovery: left out, DATABASE_URL names a server this run may not restart"
                            .to_owned(),
                    );
                    Vec::new()
                }
            },
            Workload::Failover => {
                let mut notes = Vec::new();
                let rows = runtime.block_on(failover::run(&mut notes));
                report.machine.extend(notes);
                rows
            }
            Workload::UniqueSql => rounds(&|plan| runtime.block_on(statements::unique(url, plan))),
            Workload::Transaction => {
                rounds(&|plan| runtime.block_on(statements::transaction(url, plan)))
            }
            Workload::ClientCpu => client_cpu::per_statement(rounds(&|plan| {
                runtime.block_on(client_cpu::run(url, plan))
            })),
            Workload::PgBouncer => match database.as_ref().and_then(Database::own_server) {
                Some(server) => bouncer::with_errors(rounds(&|plan| {
                    runtime.block_on(bouncer::run(&server, plan))
                })),
                None => {
                    report.machine.push(
                        "pgbouncer: left out, it puts a PgBouncer in front of a server of its own"
                            .to_owned(),
                    );
                    Vec::new()
                }
            },
        };
        add(&mut report, rows);
    }
    report.machine.push(format!("after: {}", machine::load()));
    Ok(report)
}
