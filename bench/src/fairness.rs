//! Fairness: 1000 tasks over 50 fake connections (no database), each
//! yielding once while it holds one. The latency is the checkout's alone,
//! and the rows compare its far tail, p99.99.

use std::time::Duration;

use crate::drive::Plan;
use crate::engine::{Hold, Shape, compare};
use crate::report::{Compare, Row};

const TASKS: usize = 1000;
const OBJECTS: usize = 50;

pub(crate) async fn run(plan: Plan) -> Vec<Row> {
    let shape = Shape {
        min: OBJECTS,
        max: OBJECTS,
        delay: Duration::ZERO,
    };
    let workload = format!("fairness {TASKS} tasks / {OBJECTS} objects, acquire time");
    compare(
        &workload,
        shape,
        Hold::Yield,
        true,
        Plan {
            tasks: TASKS,
            ..plan
        },
    )
    .await
    .into_iter()
    .map(|row| row.compared_on(Compare::Latency(0.9999)))
    .collect()
}
