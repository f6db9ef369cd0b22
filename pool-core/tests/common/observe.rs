//! What a pool reports, captured for one test: its metrics through a
//! `metrics-util` debugging recorder, its traces through a `tracing`
//! subscriber that hands them to the capture of the test's thread.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, Once, OnceLock};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

/// The metrics of the pools built through [`Metrics::build`], and of no
/// other: the recorder is local to the building, not global, so tests
/// running in parallel do not see each other's numbers.
pub(crate) struct Metrics {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
    /// Totals so far, by series. The debugging recorder hands out counters
    /// and gauges as changes since its last snapshot (it zeroes them), so
    /// they are added up here; the pool moves its gauges by increments
    /// only, which makes the sum the gauge's value.
    totals: Mutex<Totals>,
}

#[derive(Default)]
struct Totals {
    values: HashMap<String, f64>,
    samples: HashMap<String, Vec<f64>>,
}

/// A series' name and labels, as `name{label=value,...}` in label order.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<_> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self {
            recorder,
            snapshotter,
            totals: Mutex::new(Totals::default()),
        }
    }

    /// Runs `build` with this recorder installed: the pool it builds
    /// registers its metrics here.
    pub(crate) fn build<T>(&self, build: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, build)
    }

    fn refresh(&self) -> std::sync::MutexGuard<'_, Totals> {
        let mut totals = self.totals.lock().expect("not poisoned");
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            let series = series(key.name(), &labels);
            match value {
                DebugValue::Counter(n) => {
                    *totals.values.entry(series).or_default() += n as f64;
                }
                DebugValue::Gauge(g) => *totals.values.entry(series).or_default() += g.0,
                DebugValue::Histogram(samples) => totals
                    .samples
                    .entry(series)
                    .or_default()
                    .extend(samples.into_iter().map(|s| s.0)),
            }
        }
        totals
    }

    /// The value of a counter or gauge now; `None` if it was never
    /// registered.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.refresh().values.get(&series(name, labels)).copied()
    }

    /// The value of a counter or gauge of pool `pool`; panics if it was
    /// never registered.
    #[track_caller]
    pub(crate) fn of(&self, pool: &str, name: &str) -> f64 {
        self.value(name, &[("pool", pool)])
            .unwrap_or_else(|| panic!("{name} of pool {pool} was never registered"))
    }

    /// Every sample a histogram of pool `pool` has recorded so far.
    pub(crate) fn samples(&self, pool: &str, name: &str) -> Vec<f64> {
        self.refresh()
            .samples
            .get(&series(name, &[("pool", pool)]))
            .cloned()
            .unwrap_or_default()
    }

    /// Every series registered so far, as `name{labels}`.
    pub(crate) fn series(&self) -> Vec<String> {
        let totals = self.refresh();
        let mut all: Vec<String> = totals
            .values
            .keys()
            .chain(totals.samples.keys())
            .cloned()
            .collect();
        all.sort();
        all
    }
}

/// An event or a span as the subscriber saw it.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    /// The span's name, or `"event"`.
    pub(crate) name: String,
    /// The name of the span it was made in, if any.
    pub(crate) parent: Option<String>,
    pub(crate) level: Level,
    /// Every field, `message` included, written with `Display`/`Debug`.
    pub(crate) fields: BTreeMap<String, String>,
}

impl Captured {
    /// A field's value, or `""` when it is missing.
    pub(crate) fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    pub(crate) fn message(&self) -> &str {
        self.field("message")
    }
}

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.level, self.name, self.fields)
    }
}

/// The events and the closed spans of one thread, from when
/// [`Traces::capture`] was called until the returned guard is dropped.
#[derive(Clone, Default)]
pub(crate) struct Traces {
    inner: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    events: Vec<Captured>,
    open_spans: HashMap<u64, Captured>,
    spans: Vec<Captured>,
}

impl Traces {
    /// Starts capturing what the current thread traces (with tokio's
    /// current-thread runtime, every task of the test), and the whole life
    /// of the spans it opens. Capture stops when the guard is dropped.
    pub(crate) fn capture() -> (Self, Capture) {
        route();
        let traces = Self::default();
        CAPTURING.with(|c| *c.borrow_mut() = Some(traces.clone()));
        (traces, Capture)
    }

    /// Starts capturing what every thread of the process traces, for
    /// tests of the blocking pool, whose work runs on threads of its own.
    /// Only one test per test binary may call it.
    pub(crate) fn capture_globally() -> Self {
        route();
        let traces = Self::default();
        assert!(
            EVERYWHERE.set(traces.clone()).is_ok(),
            "only one test per binary captures globally"
        );
        traces
    }

    /// The events so far.
    pub(crate) fn events(&self) -> Vec<Captured> {
        self.inner.lock().expect("not poisoned").events.clone()
    }

    /// The events at `level` whose message contains `text`.
    pub(crate) fn events_with(&self, level: Level, text: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.level == level && e.message().contains(text))
            .collect()
    }

    /// The spans that have closed so far, in order.
    pub(crate) fn closed_spans(&self) -> Vec<Captured> {
        self.inner.lock().expect("not poisoned").spans.clone()
    }

    /// The spans named `name` that have closed so far, in order.
    pub(crate) fn spans(&self, name: &str) -> Vec<Captured> {
        let seen = self.inner.lock().expect("not poisoned");
        seen.spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    /// Everything captured, open spans included, as one text.
    pub(crate) fn all_text(&self) -> String {
        let seen = self.inner.lock().expect("not poisoned");
        let mut text = String::new();
        for item in seen
            .events
            .iter()
            .chain(seen.spans.iter())
            .chain(seen.open_spans.values())
        {
            text.push_str(&item.to_string());
            text.push('\n');
        }
        text
    }

    /// Everything captured, one item per line, for assertion messages.
    pub(crate) fn dump(&self) -> String {
        self.all_text()
    }
}

struct Collector(Traces);

thread_local! {
    /// Where this thread's events and new spans go while a test captures.
    static CAPTURING: RefCell<Option<Traces>> = const { RefCell::new(None) };
}

/// Where events and new spans go on threads that capture nothing.
static EVERYWHERE: OnceLock<Traces> = OnceLock::new();

/// Stops the capture of this thread when dropped.
pub(crate) struct Capture;

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.borrow_mut().take());
    }
}

fn capturing() -> Option<Traces> {
    CAPTURING
        .with(|c| c.borrow().clone())
        .or_else(|| EVERYWHERE.get().cloned())
}

/// Installs the one subscriber of the process, which hands each event
/// and new span to the capture of the thread it happens on, and a span's
/// later fields and close to the capture it began in. A subscriber per test
/// (`set_default`) is not enough when tests run in parallel: a callsite
/// first reached while no test's subscriber is alive is cached as
/// uninteresting, and its events are lost to the next test.
fn route() {
    static ROUTER: Once = Once::new();
    ROUTER.call_once(|| {
        tracing::subscriber::set_global_default(Registry::default().with(Router))
            .expect("no other subscriber in this test binary");
    });
}

struct Router;

/// The capture a span began in.
fn owner<S: Subscriber + for<'a> LookupSpan<'a>>(id: &Id, ctx: &Context<'_, S>) -> Option<Traces> {
    ctx.span(id)?.extensions().get::<Traces>().cloned()
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Router {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(traces) = capturing() {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(traces.clone());
            }
            Collector(traces).on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(traces) = owner(id, &ctx) {
            Collector(traces).on_record(id, values, ctx);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if let Some(traces) = capturing() {
            Collector(traces).on_event(event, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(traces) = owner(&id, &ctx) {
            Collector(traces).on_close(id, ctx);
        }
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collector {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_owned());
        let span = Captured {
            name: attrs.metadata().name().to_owned(),
            parent,
            level: *attrs.metadata().level(),
            fields: fields.0,
        };
        let mut seen = self.0.inner.lock().expect("not poisoned");
        seen.open_spans.insert(id.into_u64(), span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut seen = self.0.inner.lock().expect("not poisoned");
        if let Some(span) = seen.open_spans.get_mut(&id.into_u64()) {
            span.fields.extend(fields.0);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let captured = Captured {
            name: "event".to_owned(),
            parent: None,
            level: *event.metadata().level(),
            fields: fields.0,
        };
        self.0
            .inner
            .lock()
            .expect("not poisoned")
            .events
            .push(captured);
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut seen = self.0.inner.lock().expect("not poisoned");
        if let Some(span) = seen.open_spans.remove(&id.into_u64()) {
            seen.spans.push(span);
        }
    }
}
