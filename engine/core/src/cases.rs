//! Policy test cases (`policies/<name>.tests.yaml`, see formats.md) and the check of
//! a decision against a case's expectations.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decision::{Decision, RuleOutcome};

/// A test-cases file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub cases: Vec<TestCase>,
}

/// One case: an action on a record at an instant, and what must come out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// `register`, `advance Proposal`, ... (parse with [`crate::Action`]'s `FromStr`).
    pub action: String,
    /// RFC 3339.
    pub now: String,
    /// `vendor` (default) or `partner:<id>`.
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
    /// Relative to the cases file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_file: Option<String>,
    pub expect: Expect,
}

/// What a case expects; every field is optional, and only given fields are checked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Exact set of flags raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    /// Exact set of missing evidence field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    /// Named amounts, compared as decimals (`"3600"` equals `"3600.00"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amounts: Option<BTreeMap<String, String>>,
    /// Rule ids that must appear with outcome `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<String>>,
}

/// One difference between expectation and decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What was compared: `outcome`, `flags`, `amounts.commission`, `failed`...
    pub what: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.what, self.expected, self.actual
        )
    }
}

fn set(v: &[String]) -> String {
    let mut s: Vec<&str> = v.iter().map(String::as_str).collect();
    s.sort_unstable();
    s.dedup();
    format!("[{}]", s.join(", "))
}

/// Compares a decision with a case's expectations; empty when everything matches.
pub fn check(decision: &Decision, expect: &Expect) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(o) = &expect.outcome {
        if o != decision.outcome.as_str() {
            out.push(Mismatch {
                what: "outcome".into(),
                expected: format!("`{o}`"),
                actual: format!("`{}`", decision.outcome),
            });
        }
    }
    if let Some(f) = &expect.flags {
        if set(f) != set(&decision.flags) {
            out.push(Mismatch {
                what: "flags".into(),
                expected: set(f),
                actual: set(&decision.flags),
            });
        }
    }
    if let Some(m) = &expect.missing {
        if set(m) != set(&decision.missing) {
            out.push(Mismatch {
                what: "missing".into(),
                expected: set(m),
                actual: set(&decision.missing),
            });
        }
    }
    if let Some(amounts) = &expect.amounts {
        for (name, want) in amounts {
            let got = decision.effects.amounts.get(name);
            let equal = match (
                want.trim().parse::<Decimal>(),
                got.map(|g| g.parse::<Decimal>()),
            ) {
                (Ok(w), Some(Ok(g))) => w == g,
                _ => got.is_some_and(|g| g == want),
            };
            if !equal {
                out.push(Mismatch {
                    what: format!("amounts.{name}"),
                    expected: format!("`{want}`"),
                    actual: got.map_or_else(|| "no such amount".to_string(), |g| format!("`{g}`")),
                });
            }
        }
    }
    if let Some(rules) = &expect.failed {
        let failed: Vec<String> = decision
            .reasons
            .iter()
            .filter(|r| r.outcome == RuleOutcome::Fail)
            .map(|r| r.rule.clone())
            .collect();
        for r in rules {
            if !failed.contains(r) {
                out.push(Mismatch {
                    what: "failed".into(),
                    expected: format!("rule `{r}` to fail"),
                    actual: format!("failed rules {}", set(&failed)),
                });
            }
        }
    }
    out
}
