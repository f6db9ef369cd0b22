//! Systems take turns: within a round one after another, the order turned
//! around every other round, and the rounds of a system added up.
//!
//! On a shared machine the load drifts during a run. A system measured
//! always first (or always last) would carry that drift alone; with the
//! order reversed every other round, two rounds put every system at the
//! same mean position.

use std::future::Future;
use std::pin::Pin;

use crate::drive::Measure;
use crate::report::Row;

/// A system's measurement, not yet begun.
pub(crate) type Pending<'a> = Pin<Box<dyn Future<Output = Result<Measure, String>> + 'a>>;

/// Runs `systems` one after another, last first when `reversed`, and gives
/// their rows in the order listed.
pub(crate) async fn in_turn(
    workload: &str,
    systems: Vec<(&str, Pending<'_>)>,
    reversed: bool,
) -> Vec<Row> {
    let mut systems: Vec<_> = systems.into_iter().enumerate().collect();
    if reversed {
        systems.reverse();
    }
    let mut rows = Vec::with_capacity(systems.len());
    for (place, (system, pending)) in systems {
        rows.push((place, Row::new(workload, system, pending.await)));
    }
    rows.sort_by_key(|(place, _)| *place);
    rows.into_iter().map(|(_, row)| row).collect()
}

/// Adds up the rounds of one workload, each with the same rows in the same
/// order: a system's iterations, time and latencies are summed; a failure
/// in any round fails its row.
pub(crate) fn add_up(rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let mut rounds = rounds.into_iter();
    let Some(mut total) = rounds.next() else {
        return Vec::new();
    };
    for round in rounds {
        for (sum, row) in total.iter_mut().zip(round) {
            debug_assert_eq!((&sum.workload, &sum.system), (&row.workload, &row.system));
            sum.outcome = match (
                std::mem::replace(&mut sum.outcome, Ok(Measure::empty())),
                row.outcome,
            ) {
                (Ok(mut measure), Ok(more)) => {
                    measure.merge(&more);
                    Ok(measure)
                }
                (Err(error), _) | (_, Err(error)) => Err(error),
            };
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn measured(ops: u64, latency_us: u64) -> Pending<'static> {
        Box::pin(async move {
            let mut measure = Measure::empty();
            measure.ops = ops;
            measure.elapsed = Duration::from_secs(1);
            measure.latencies.record(Duration::from_micros(latency_us));
            Ok(measure)
        })
    }

    #[test]
    fn reversed_rounds_run_last_first_and_keep_the_listed_order() {
        let order = std::cell::RefCell::new(Vec::new());
        let system = |name: &'static str| -> Pending<'_> {
            let order = &order;
            Box::pin(async move {
                order.borrow_mut().push(name);
                Ok(Measure::empty())
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let rows = rt.block_on(in_turn(
            "w",
            vec![("a", system("a")), ("b", system("b")), ("c", system("c"))],
            true,
        ));
        assert_eq!(*order.borrow(), ["c", "b", "a"]);
        let names: Vec<_> = rows.iter().map(|row| row.system.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn rounds_add_up_per_system_and_a_failure_stays() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let round = |ops_a, fail_b: bool| {
            let b: Pending<'static> = if fail_b {
                Box::pin(async { Err("down".to_owned()) })
            } else {
                measured(5, 900)
            };
            rt.block_on(in_turn(
                "w",
                vec![("a", measured(ops_a, 100)), ("b", b)],
                false,
            ))
        };
        let total = add_up(vec![round(10, false), round(30, true)]);
        let a = total[0].outcome.as_ref().unwrap();
        assert_eq!(a.ops, 40);
        assert_eq!(a.elapsed, Duration::from_secs(2));
        assert_eq!(a.throughput(), 20.0);
        assert_eq!(a.latencies.count(), 2);
        assert_eq!(total[1].outcome.as_ref().unwrap_err(), "down");
    }
}
