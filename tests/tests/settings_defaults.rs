//! The README's table of settings states each default as `Default` has
//! it: one source of truth (the code), and a test that holds the table to
//! it, so that the documentation cannot drift.

use std::collections::BTreeMap;

use serde_json::Value;
use tidepool_async::{PoolConfig, SessionSettings};

/// The rows of the README's "Settings" table: setting -> default, as
/// written.
fn readme_defaults() -> BTreeMap<String, String> {
    let readme = include_str!("../../README.md");
    let start = readme.find("\n## Settings\n").expect("a Settings section");
    let table = &readme[start..];
    let end = table[1..].find("\n#").map_or(table.len(), |i| i + 1);
    table[..end]
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.trim_matches('`');
            let name = name.split('`').next()?.to_owned();
            Some((name, (*cells.get(2)?).to_owned()))
        })
        .collect()
}

/// A default as the README writes it, in the settings files' form: `30 s`
/// is `30s`, `10 min` is `10m`, `none (off)` is `none`, `idle longer than
/// 1 s` (the health check) is `1s`, `"tidepool"` is `tidepool`.
fn normalized(text: &str) -> String {
    let text = text.split(" (").next().unwrap_or(text);
    let text = text.strip_prefix("idle longer than ").unwrap_or(text);
    text.replace(['`', '"'], "")
        .replace(" min", "m")
        .replace(' ', "")
        .to_lowercase()
}

/// A default as `PoolConfig`'s serialization writes it.
fn written(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_lowercase(),
        other => other.to_string(),
    }
}

#[test]
fn the_readme_table_states_every_pool_default_as_the_code_has_it() {
    let table = readme_defaults();
    let defaults = serde_json::to_value(PoolConfig::default()).expect("PoolConfig serializes");
    let defaults = defaults.as_object().expect("an object");
    assert!(defaults.len() >= 17, "{defaults:?}");
    for (field, value) in defaults {
        let Some(stated) = table.get(field) else {
            panic!("the README's settings table has no row for `{field}`: {table:?}");
        };
        assert_eq!(
            normalized(stated),
            written(value),
            "the README says `{field}` defaults to {stated:?}, the code to {value}"
        );
    }
}

#[test]
fn the_readme_table_states_every_session_default_as_the_code_has_it() {
    let table = readme_defaults();
    let defaults =
        serde_json::to_value(SessionSettings::default()).expect("SessionSettings serializes");
    let defaults = defaults.as_object().expect("an object");
    assert!(defaults.len() >= 6, "{defaults:?}");
    for (field, value) in defaults {
        let Some(stated) = table.get(field) else {
            panic!("the README's settings table has no row for `{field}`: {table:?}");
        };
        let value = if value.is_null() {
            "none".to_owned()
        } else {
            written(value)
        };
        assert_eq!(
            normalized(stated),
            value,
            "the README says `{field}` defaults to {stated:?}, the code to {value}"
        );
    }
}

#[test]
fn the_normalizing_reads_each_form_of_the_table() {
    assert_eq!(normalized("30 s"), "30s");
    assert_eq!(normalized("10 min"), "10m");
    assert_eq!(normalized("none (off)"), "none");
    assert_eq!(normalized("0 (no limit)"), "0");
    assert_eq!(normalized("idle longer than 1 s"), "1s");
    assert_eq!(normalized("`\"tidepool\"`"), "tidepool");
    assert_eq!(normalized("`false`"), "false");
}
