//! Policy test cases (`policies/<name>.tests.yaml`, see formats.md) and the check of
//! a decision against a case's expectations.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decision::{Decision, RuleOutcome};
use crate::doc::Node;

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
    /// The YAML forms `{advance: Proposal}` and `{advance: {to: Proposal}}` are read
    /// as `advance Proposal`.
    #[serde(deserialize_with = "action_form")]
    pub action: String,
    /// RFC 3339.
    pub now: String,
    /// `vendor` (default) or `partner:<id>`.
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Inline; read strictly (a duplicate key or a YAML tag is an error).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict_value"
    )]
    pub record: Option<serde_json::Value>,
    /// Relative to the cases file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_file: Option<String>,
    /// Inline; read strictly (a duplicate key or a YAML tag is an error).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict_value"
    )]
    pub context: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_file: Option<String>,
    pub expect: Expect,
}

/// Reads an inline record or context through [`Node`], so that a duplicate key or an
/// unreadable value (YAML tag, `.nan`) fails the file instead of silently last-wins.
fn strict_value<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    use serde::de::Error;
    let node = Option::<Node>::deserialize(d)?;
    node.map(|n| n.to_json("").map_err(D::Error::custom))
        .transpose()
}

/// Reads an action written as text (`advance Proposal`) or as a one-key map
/// (`{advance: Proposal}`, `{advance: {to: Proposal}}`, `{register: null}`).
fn action_form<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Target {
        Stage(String),
        To { to: String },
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Text(String),
        Map(BTreeMap<String, Option<Target>>),
    }

    let form = Form::deserialize(d).map_err(|_| {
        D::Error::custom(
            "`action` must be text like `advance Proposal` or a map like `{advance: Proposal}`",
        )
    })?;
    match form {
        Form::Text(s) => Ok(s),
        Form::Map(m) => {
            let mut entries = m.into_iter();
            match (entries.next(), entries.next()) {
                (Some((verb, None)), None) => Ok(verb),
                (Some((verb, Some(Target::Stage(to) | Target::To { to }))), None) => {
                    Ok(format!("{verb} {to}"))
                }
                _ => Err(D::Error::custom(
                    "an `action` map has exactly one key, like `{advance: Proposal}`",
                )),
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn action_of(yaml: &str) -> Result<String, String> {
        let text = format!("cases:\n  - name: x\n    now: 2026-01-01T00:00:00Z\n    expect: {{}}\n    action: {yaml}\n");
        serde_yaml::from_str::<TestFile>(&text)
            .map(|f| {
                f.cases
                    .into_iter()
                    .next()
                    .map(|c| c.action)
                    .unwrap_or_default()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn actions_read_in_every_documented_form() {
        assert_eq!(
            action_of("advance Proposal").as_deref(),
            Ok("advance Proposal")
        );
        assert_eq!(
            action_of("{advance: Proposal}").as_deref(),
            Ok("advance Proposal")
        );
        assert_eq!(
            action_of("{advance: {to: Proposal}}").as_deref(),
            Ok("advance Proposal")
        );
        assert_eq!(action_of("register").as_deref(), Ok("register"));
        assert_eq!(action_of("{register: null}").as_deref(), Ok("register"));
        for form in [
            "advance Proposal".to_string(),
            "{advance: Proposal}".into(),
            "{advance: {to: Proposal}}".into(),
        ] {
            let a: crate::Action = action_of(&form).unwrap().parse().unwrap();
            assert_eq!(
                a,
                crate::Action::Advance {
                    to: "Proposal".into()
                }
            );
        }
    }

    #[test]
    fn malformed_action_maps_are_refused_with_the_accepted_forms() {
        let e = action_of("{advance: Proposal, register: null}").unwrap_err();
        assert!(e.contains("exactly one key"), "{e}");
        let e = action_of("[advance]").unwrap_err();
        assert!(e.contains("`{advance: Proposal}`"), "{e}");
        let e = action_of("{advance: {stage: Proposal}}").unwrap_err();
        assert!(e.contains("`action` must be"), "{e}");
    }
}

#[cfg(test)]
mod inline_tests {
    use super::*;

    fn read(record: &str) -> Result<TestFile, String> {
        let text = format!("cases:\n  - name: x\n    action: evaluate\n    now: 2026-01-01T00:00:00Z\n    expect: {{}}\n    record: {record}\n");
        serde_yaml::from_str::<TestFile>(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn inline_records_refuse_duplicate_keys_and_tags() {
        let e = read("{ id: X, fields: { amount: 5, amount: 6 } }").unwrap_err();
        assert!(
            e.contains("`fields.amount`: `amount` is given more than once"),
            "{e}"
        );
        let e = read("{ id: X, fields: { amount: !usd 5 } }").unwrap_err();
        assert!(e.contains("`fields.amount`: YAML tags like `!usd`"), "{e}");
        let e = read("{ id: X, fields: { amount: .nan } }").unwrap_err();
        assert!(e.contains("`.nan` is not a number"), "{e}");
    }

    #[test]
    fn inline_numbers_keep_their_text_beyond_64_bits() {
        let f = read("{ id: 7, fields: { amount: 123456789012345678901234, rate: 0.1 } }").unwrap();
        let r = f.cases[0].record.clone().unwrap();
        assert_eq!(r["id"], serde_json::json!(7));
        assert_eq!(
            r["fields"]["amount"],
            serde_json::json!("123456789012345678901234")
        );
        assert_eq!(r["fields"]["rate"], serde_json::json!("0.1"));
    }
}
