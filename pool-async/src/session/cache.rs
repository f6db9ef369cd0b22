//! The per-connection statement cache: repeated statements run as named
//! prepared statements, one round trip each.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use foldhash::fast::RandomState;
use tokio_postgres::Statement;

/// How a connection prepares statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    /// Executions of a statement before it is kept prepared, as psycopg's
    /// `prepare_threshold`: with 5, the sixth execution prepares it; with 0
    /// the first does. `None` turns the cache off.
    pub(crate) threshold: Option<u32>,
    /// The most statements kept prepared.
    pub(crate) max: usize,
    /// Behind a transaction pooler (PgBouncer in transaction mode): no
    /// named statement outside a transaction, so the cache is off whatever
    /// `threshold` says.
    pub(crate) pgbouncer: bool,
}

/// What to do for a statement's next execution.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Run the prepared statement: one round trip.
    Cached(Statement),
    /// Prepare it now and keep it.
    Prepare,
    /// Below the threshold: run it unnamed, in one round trip (or, when
    /// its parameter types cannot be taken from the values, prepare it for
    /// this execution only).
    Once,
    /// The cache is off: run it unnamed, in one round trip.
    Unnamed,
}

struct Entry {
    /// Executions so far.
    uses: u32,
    /// The prepared statement, once the threshold is reached. Dropping it
    /// closes it on the server.
    statement: Option<Statement>,
    /// The parameter types the statement was prepared with (OIDs, 0 for a
    /// string); `None` when the server chose them all. An execution with
    /// other types does not use it.
    types: Option<Box<[u32]>>,
    /// When it was last used, for least-recently-used eviction.
    last_used: u64,
}

/// A map from SQL text to prepared statements, with use counts for the
/// statements not prepared yet.
pub(crate) struct StatementCache {
    settings: CacheSettings,
    /// Keyed by the statement's text, hashed with a fast seeded hash: the
    /// standard one costs about a nanosecond per byte, at every execution
    /// of every statement.
    entries: HashMap<Arc<str>, Entry, RandomState>,
    prepared: usize,
    clock: u64,
    /// The uses of counted (not prepared) statements, oldest first, each
    /// with the clock it set: the least recently used one is found without
    /// a scan, which one-off statements would otherwise cost at every
    /// execution once the counted statements reach their bound. A record
    /// is stale once its statement was used again, prepared or forgotten;
    /// stale records are dropped when they reach the front, and all of
    /// them once they outnumber the counted statements (so each costs
    /// O(1) amortised).
    counted_order: VecDeque<(u64, Arc<str>)>,
    stats: StatementCacheStats,
}

/// What a connection's statement cache has done, for tests and dashboards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatementCacheStats {
    /// Statements kept prepared now.
    pub prepared: usize,
    /// Executions that ran a kept statement (one round trip).
    pub hits: u64,
    /// Prepares sent to the server (one round trip each), kept or not.
    pub prepares: u64,
    /// Kept statements closed to make room.
    pub evicted: u64,
}

/// How many statements are counted (not prepared) at most, per prepared
/// one allowed: one-off statements must not grow the map without bound.
const COUNTED_PER_PREPARED: usize = 4;

impl StatementCache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            entries: HashMap::default(),
            prepared: 0,
            clock: 0,
            counted_order: VecDeque::new(),
            stats: StatementCacheStats::default(),
        }
    }

    /// Counts an execution of `sql`, with parameters of the types `types`
    /// (OIDs, or `None` when they cannot be taken from the values), and
    /// says how to run it.
    pub(crate) fn plan(&mut self, sql: &str, types: Option<&[u32]>) -> Plan {
        let Some(threshold) = self.settings.threshold.filter(|_| !self.settings.pgbouncer) else {
            return Plan::Unnamed;
        };
        if self.settings.max == 0 {
            return Plan::Once;
        }
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.get_mut(sql) {
            entry.last_used = clock;
            if let Some(statement) = &entry.statement {
                if entry.types.as_deref() != types {
                    // The same text with other types: run it as a statement
                    // of its own, not with the kept one's types.
                    return Plan::Once;
                }
                self.stats.hits += 1;
                return Plan::Cached(statement.clone());
            }
            entry.uses += 1;
            let plan = if entry.uses > threshold {
                Plan::Prepare
            } else {
                Plan::Once
            };
            if let Some((key, _)) = self.entries.get_key_value(sql) {
                let key = Arc::clone(key);
                self.note_counted_use(clock, key);
            }
            return plan;
        }
        if threshold == 0 {
            return Plan::Prepare;
        }
        self.make_room_for_counting();
        let key: Arc<str> = Arc::from(sql);
        self.entries.insert(
            Arc::clone(&key),
            Entry {
                uses: 1,
                statement: None,
                types: None,
                last_used: clock,
            },
        );
        self.note_counted_use(clock, key);
        Plan::Once
    }

    /// Keeps `statement`, prepared for `sql` with parameters of the types
    /// `types`, evicting the least recently used prepared statement if the
    /// cache is full.
    pub(crate) fn insert(&mut self, sql: &str, statement: Statement, types: Option<&[u32]>) {
        if self.prepared >= self.settings.max {
            self.evict_prepared();
        }
        self.clock += 1;
        let entry = self.entries.entry(Arc::from(sql)).or_insert(Entry {
            uses: 0,
            statement: None,
            types: None,
            last_used: 0,
        });
        entry.last_used = self.clock;
        entry.types = types.map(Box::from);
        if entry.statement.replace(statement).is_none() {
            self.prepared += 1;
        }
    }

    /// Counts a prepare sent to the server.
    pub(crate) fn count_prepare(&mut self) {
        self.stats.prepares += 1;
    }

    /// How the connection prepares statements.
    pub(crate) fn settings(&self) -> CacheSettings {
        self.settings
    }

    /// What the cache has done.
    pub(crate) fn stats(&self) -> StatementCacheStats {
        StatementCacheStats {
            prepared: self.prepared,
            ..self.stats
        }
    }

    /// Forgets every statement (after `DISCARD ALL`, `DEALLOCATE ALL`, or a
    /// schema change that invalidated cached plans).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.counted_order.clear();
        self.prepared = 0;
    }

    /// How many statements are kept prepared.
    pub(crate) fn len(&self) -> usize {
        self.prepared
    }

    fn make_room_for_counting(&mut self) {
        let counted = self.entries.len() - self.prepared;
        let limit = self.settings.max.max(1) * COUNTED_PER_PREPARED;
        if counted >= limit {
            self.evict_counted();
        }
    }

    /// Whether `record` is the latest use of a statement still counted.
    fn is_live(&self, (clock, sql): &(u64, Arc<str>)) -> bool {
        self.entries
            .get(sql)
            .is_some_and(|entry| entry.statement.is_none() && entry.last_used == *clock)
    }

    /// Records a use, at `clock`, of the counted statement `sql`.
    fn note_counted_use(&mut self, clock: u64, sql: Arc<str>) {
        self.counted_order.push_back((clock, sql));
        let counted = self.entries.len() - self.prepared;
        if self.counted_order.len() > 2 * counted + 64 {
            let mut order = std::mem::take(&mut self.counted_order);
            order.retain(|record| self.is_live(record));
            self.counted_order = order;
        }
    }

    /// Forgets the least recently used counted statement.
    fn evict_counted(&mut self) {
        while let Some(record) = self.counted_order.pop_front() {
            if self.is_live(&record) {
                self.entries.remove(&record.1);
                return;
            }
        }
    }

    /// Closes the least recently used prepared statement. (A scan: it
    /// comes only before a prepare, a round trip to the server, and a use
    /// of a prepared statement records nothing but its clock.)
    fn evict_prepared(&mut self) {
        let oldest = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.statement.is_some())
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(sql, _)| Arc::clone(sql));
        if let Some(sql) = oldest
            && let Some(entry) = self.entries.remove(&sql)
            && entry.statement.is_some()
        {
            self.prepared -= 1;
            self.stats.evicted += 1;
        }
    }
}

impl std::fmt::Debug for StatementCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementCache")
            .field("settings", &self.settings)
            .field("prepared", &self.prepared)
            .field("counted", &(self.entries.len() - self.prepared))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(cache: &mut StatementCache, sql: &str, n: usize) -> Vec<&'static str> {
        (0..n)
            .map(|_| match cache.plan(sql, Some(&[23])) {
                Plan::Cached(_) => "cached",
                Plan::Prepare => "prepare",
                Plan::Once => "once",
                Plan::Unnamed => "unnamed",
            })
            .collect()
    }

    #[test]
    fn the_threshold_counts_executions_before_preparing() {
        let mut cache = StatementCache::new(CacheSettings {
            threshold: Some(2),
            max: 10,
            pgbouncer: false,
        });
        // Nothing is inserted, so the plan stays "prepare" once reached.
        assert_eq!(
            plans(&mut cache, "a", 4),
            ["once", "once", "prepare", "prepare"]
        );
        let mut at_once = StatementCache::new(CacheSettings {
            threshold: Some(0),
            max: 10,
            pgbouncer: false,
        });
        assert_eq!(plans(&mut at_once, "a", 1), ["prepare"]);
        let mut off = StatementCache::new(CacheSettings {
            threshold: None,
            max: 10,
            pgbouncer: false,
        });
        assert_eq!(plans(&mut off, "a", 2), ["unnamed", "unnamed"]);
        let mut pgbouncer = StatementCache::new(CacheSettings {
            threshold: Some(0),
            max: 10,
            pgbouncer: true,
        });
        assert_eq!(plans(&mut pgbouncer, "a", 2), ["unnamed", "unnamed"]);
    }

    #[test]
    fn counting_one_off_statements_stays_bounded() {
        let mut cache = StatementCache::new(CacheSettings {
            threshold: Some(5),
            max: 2,
            pgbouncer: false,
        });
        for i in 0..1000 {
            let _ = cache.plan(&format!("select {i}"), None);
        }
        assert!(cache.entries.len() <= 2 * COUNTED_PER_PREPARED);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_counted_statement_used_least_recently_is_forgotten_first() {
        let mut cache = StatementCache::new(CacheSettings {
            threshold: Some(5),
            max: 1,
            pgbouncer: false,
        });
        for sql in ["a", "b", "c", "d"] {
            let _ = cache.plan(sql, None);
        }
        // "a" is used again: "b" is now the least recently used.
        let _ = cache.plan("a", None);
        let _ = cache.plan("e", None);
        assert!(cache.entries.contains_key("a"));
        assert!(!cache.entries.contains_key("b"));
        let _ = cache.plan("f", None);
        assert!(!cache.entries.contains_key("c"));
        assert!(cache.entries.contains_key("a"));
        // A forgotten statement counts from one again.
        assert!(matches!(cache.plan("b", None), Plan::Once));
        assert_eq!(cache.entries["b"].uses, 1);
    }

    #[test]
    fn repeated_uses_of_counted_statements_keep_few_records() {
        let mut cache = StatementCache::new(CacheSettings {
            threshold: Some(u32::MAX),
            max: 10,
            pgbouncer: false,
        });
        for i in 0..10_000 {
            let _ = cache.plan(["a", "b", "c"][i % 3], None);
        }
        assert_eq!(cache.entries.len(), 3);
        assert!(cache.counted_order.len() <= 2 * 3 + 64 + 1);
        // Every counted statement keeps its latest record.
        for sql in ["a", "b", "c"] {
            assert!(
                cache
                    .counted_order
                    .iter()
                    .any(|r| &*r.1 == sql && cache.is_live(r))
            );
        }
    }
}
