//! One trace as the OpenTelemetry SDK exported it, as a tree of spans.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::trace::SpanData;

/// A span of an exported trace, with its children in the order they
/// started.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanNode {
    /// The span's OpenTelemetry name (`tracing-opentelemetry` takes it from
    /// `otel.name` when the span has one: `SELECT todos`).
    pub name: String,
    /// The span kind, as OpenTelemetry writes it: `Client`, `Internal`...
    pub kind: String,
    /// How long the span lasted.
    pub duration: Duration,
    /// The span's status: `Unset`, `Ok`, or `Error`.
    pub status: String,
    /// The span's attributes, by key.
    pub attributes: BTreeMap<String, String>,
    /// The spans whose parent this span is, in the order they started.
    pub children: Vec<SpanNode>,
}

impl SpanNode {
    /// The attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// The trace rooted at the first span named `root` in `spans` (spans
    /// of other traces are left out), or `None` when there is none.
    pub fn tree(spans: &[SpanData], root: &str) -> Option<Self> {
        let root = spans
            .iter()
            .filter(|span| span.name == root)
            .min_by_key(|span| span.start_time)?;
        Some(Self::build(spans, root))
    }

    fn build(spans: &[SpanData], span: &SpanData) -> Self {
        let id = span.span_context.span_id();
        let trace = span.span_context.trace_id();
        let mut children: Vec<&SpanData> = spans
            .iter()
            .filter(|child| {
                child.parent_span_id == id
                    && child.parent_span_id != SpanId::INVALID
                    && child.span_context.trace_id() == trace
            })
            .collect();
        children.sort_by_key(|child| child.start_time);
        let status = match &span.status {
            Status::Unset => "Unset".to_owned(),
            Status::Ok => "Ok".to_owned(),
            Status::Error { description } if description.is_empty() => "Error".to_owned(),
            Status::Error { description } => format!("Error: {description}"),
        };
        Self {
            name: span.name.to_string(),
            kind: format!("{:?}", span.span_kind),
            duration: span
                .end_time
                .duration_since(span.start_time)
                .unwrap_or_default(),
            status,
            attributes: span
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
                .collect(),
            children: children
                .into_iter()
                .map(|child| Self::build(spans, child))
                .collect(),
        }
    }

    /// Writes the span at `depth`, then its children one level deeper.
    fn write(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let indent = "    ".repeat(depth);
        write!(
            f,
            "{indent}{} [{}] {:.2?}",
            self.name, self.kind, self.duration
        )?;
        if self.status != "Unset" {
            write!(f, " ({})", self.status)?;
        }
        writeln!(f)?;
        for (key, value) in &self.attributes {
            if key == "db.query.text" {
                writeln!(f, "{indent}  · {key} = {value:?}")?;
            } else {
                writeln!(f, "{indent}  · {key} = {value}")?;
            }
        }
        for child in &self.children {
            child.write(f, depth + 1)?;
        }
        Ok(())
    }

    /// Every span of the tree, this one first, depth first.
    pub fn iter(&self) -> impl Iterator<Item = &SpanNode> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(node)
        })
    }
}

impl fmt::Display for SpanNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}
