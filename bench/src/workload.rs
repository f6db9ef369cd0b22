//! The workloads of a run.

/// One part of the benchmark, run on every system that it compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Checkout, `SELECT $1::int`, return: 64 and 256 tasks over 16
    /// connections, async pools.
    EndToEnd,
    /// The same loop on 64 threads over 16 connections, blocking pools: on
    /// threads of their own and on spawn_blocking threads.
    Blocking,
    /// Checkout and return with a no-op manager: the pools' own cost.
    Engine,
    /// 1000 tasks over 50 objects: how long the unluckiest wait.
    Fairness,
    /// 50 requests at once on a pool of 5 idle of 50, with slow connects.
    Spike,
    /// A server restart: time to the first successful checkout.
    Recovery,
    /// A primary stops and its standby is promoted: time to the first
    /// acknowledged write, given one multi-host string.
    Failover,
    /// Every statement text unique: 64 tasks over 16 connections.
    UniqueSql,
    /// `BEGIN; SELECT $1; COMMIT` through each pool's transaction API.
    Transaction,
    /// 32 statements in flight on one connection: the client's CPU time
    /// per statement.
    ClientCpu,
    /// Behind PgBouncer in transaction mode: 16 connections over 8 server
    /// connections, 64 tasks, errors counted.
    PgBouncer,
}

impl Workload {
    /// Every workload, in the order of a full run.
    pub const ALL: [Workload; 11] = [
        Workload::EndToEnd,
        Workload::Blocking,
        Workload::Engine,
        Workload::Fairness,
        Workload::Spike,
        Workload::Recovery,
        Workload::Failover,
        Workload::UniqueSql,
        Workload::Transaction,
        Workload::ClientCpu,
        Workload::PgBouncer,
    ];

    /// The workload's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::EndToEnd => "end-to-end",
            Workload::Blocking => "blocking",
            Workload::Engine => "engine",
            Workload::Fairness => "fairness",
            Workload::Spike => "spike",
            Workload::Recovery => "recovery",
            Workload::Failover => "failover",
            Workload::UniqueSql => "unique-sql",
            Workload::Transaction => "transaction",
            Workload::ClientCpu => "client-cpu",
            Workload::PgBouncer => "pgbouncer",
        }
    }

    /// The workload named `name` on the command line.
    pub fn from_name(name: &str) -> Option<Workload> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Whether the workload needs a database.
    pub fn needs_database(self) -> bool {
        matches!(
            self,
            Workload::EndToEnd
                | Workload::Blocking
                | Workload::Recovery
                | Workload::UniqueSql
                | Workload::Transaction
                | Workload::ClientCpu
                | Workload::PgBouncer
        )
    }
}
