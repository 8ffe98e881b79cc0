//! Every command example in docs/commands.md is a command the store reads, and every
//! command type has an example there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use dealflow_store::command::{Command, TYPES};

#[test]
fn every_documented_command_parses_and_every_type_is_documented() {
    let doc = include_str!("../../../docs/commands.md");
    let mut in_json = false;
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_json = line == "```json";
            continue;
        }
        if !in_json || !line.trim_start().starts_with("{\"") || line.contains("\"line\":") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v.get("type").is_none() {
            continue;
        }
        let c = Command::from_value(&v).unwrap_or_else(|e| panic!("{line}: {}", e.message));
        seen.insert(c.body.type_name());
        n += 1;
    }
    for t in TYPES {
        assert!(seen.contains(t), "docs/commands.md has no example of `{t}`");
    }
    assert!(n >= TYPES.len());
}
