//! Helpers shared by the decision and property tests: loading the reference
//! policies and their test cases from `policies/`, and running one case.

#![allow(
    dead_code,
    reason = "each test crate uses a different subset of the helpers"
)]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    reason = "test harness: a broken reference file should fail the test loudly, with context"
)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::cases::{TestCase, TestFile};
use dealflow_engine::{Action, Audience, Context, Decision, Policy};

/// The repository's `policies/` directory.
pub fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("policies")
}

/// Reference policy stems (`channel-standard`, ...) that have a `.tests.yaml`, sorted.
pub fn reference_policies() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(policies_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().to_string();
            let stem = name.strip_suffix(".policy")?.to_string();
            policies_dir()
                .join(format!("{stem}.tests.yaml"))
                .exists()
                .then_some(stem)
        })
        .collect();
    out.sort();
    out
}

/// The source of `policies/<stem>.policy`, named by its file name so that reason
/// locations read `channel-standard.policy:96:12`.
pub fn source(stem: &str) -> SourceFile {
    let path = policies_dir().join(format!("{stem}.policy"));
    let text = std::fs::read_to_string(&path).unwrap();
    SourceFile::new(format!("{stem}.policy"), text)
}

/// Compiles `policies/<stem>.policy` through the real toolchain.
pub fn policy(stem: &str) -> Policy {
    let src = source(stem);
    match Policy::compile(&src) {
        Ok(p) => p,
        Err(e) => panic!("{stem}.policy does not compile: {:?}", e.diagnostics),
    }
}

/// The cases of `policies/<stem>.tests.yaml`.
pub fn cases(stem: &str) -> TestFile {
    let path = policies_dir().join(format!("{stem}.tests.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn value_of(inline: Option<&serde_json::Value>, file: Option<&str>) -> Option<serde_json::Value> {
    match (inline, file) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(policies_dir().join(f)).unwrap();
            Some(serde_yaml::from_str(&text).unwrap())
        }
        (None, None) => None,
    }
}

/// Parses an RFC 3339 instant.
pub fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.trim())
        .unwrap()
        .with_timezone(&Utc)
}

/// Builds a case's inputs and decides it, as `dealflow test` does.
pub fn decide_case(policy: &Policy, case: &TestCase) -> Decision {
    let record_value = value_of(case.record.as_ref(), case.record_file.as_deref())
        .unwrap_or_else(|| panic!("case `{}` has no record", case.name));
    let record = match policy.parse_record_value(&record_value) {
        Ok(r) => r,
        Err(e) => panic!("case `{}`: invalid record: {e:?}", case.name),
    };
    let context = match value_of(case.context.as_ref(), case.context_file.as_deref()) {
        Some(v) => match policy.parse_context_value(&v) {
            Ok(c) => c,
            Err(e) => panic!("case `{}`: invalid context: {e:?}", case.name),
        },
        None => Context::default(),
    };
    let action: Action = case.action.parse().unwrap();
    let audience: Audience = match &case.audience {
        Some(a) => a.parse().unwrap(),
        None => Audience::Vendor,
    };
    policy.decide(&record, &action, &context, instant(&case.now), &audience)
}

/// A snapshot-name slug: lowercase ASCII letters and digits, `_` between words.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}
