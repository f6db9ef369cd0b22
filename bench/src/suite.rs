//! A whole run: every chosen workload, every system, back to back.

use crate::database::Database;
use crate::drive::Plan;
use crate::options::Options;
use crate::report::{Report, Row};
use crate::workload::Workload;
use crate::{blocking, end_to_end, engine, fairness, machine, recovery, spike};

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
    report.machine.push(format!("before: {}", machine::load()));
    let plan = Plan {
        tasks: 1,
        warmup: options.warmup,
        duration: options.duration,
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
        let rows = match workload {
            Workload::EndToEnd => {
                let mut rows = runtime.block_on(end_to_end::run(url, 64, plan));
                rows.extend(runtime.block_on(end_to_end::run(url, 256, plan)));
                rows
            }
            Workload::Blocking => blocking::run(url, plan),
            Workload::Engine => runtime.block_on(engine::run(plan)),
            Workload::Fairness => runtime.block_on(fairness::run(plan)),
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
        };
        add(&mut report, rows);
    }
    report.machine.push(format!("after: {}", machine::load()));
    Ok(report)
}
