//! The decision: what the engine answers for one action, with every rule it
//! evaluated (rule id, source location, values seen, outcome, message), what is
//! missing, what would make a denial pass, and the effects. Serialization is
//! deterministic: fields in declaration order, maps sorted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use std::sync::Arc;

use dealflow_dsl::ir;

use crate::value::{Names, Value};

use serde::{Serialize, Serializer};

fn as_str<S: Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// The answer to an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action is allowed (advance, close, auto-approved registration).
    Approved,
    /// The action is refused; at least one reason has outcome `fail`.
    Denied,
    /// A registration waits in a manual review queue.
    Review,
    /// `evaluate` ran (flags, forecast, co-sell, commission preview).
    Evaluated,
    /// `route_lead` found at least one eligible partner.
    Routed,
    /// The action could not be decided (e.g. the policy has no such section).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Denied => "denied",
            Outcome::Review => "review",
            Outcome::Evaluated => "evaluated",
            Outcome::Routed => "routed",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one rule came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// Satisfied, or (for selectors) applied.
    Pass,
    /// Not satisfied, or a problem detected (duplicate, conflict, flag, never).
    Fail,
    /// Not applicable or not selected.
    Skip,
}

/// One evaluated rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// Stable rule id, e.g. `stage.Qualification.requires[0]`.
    pub rule: String,
    /// `file:line:col` in the policy source (shared: computed once per policy).
    #[serde(serialize_with = "as_str")]
    pub location: Arc<str>,
    pub outcome: RuleOutcome,
    /// Fields and built-ins the rule read (rendered when shown or serialized).
    pub values: Values,
    pub message: String,
}

/// A value a rule read: kept typed, rendered on demand.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Value(Value),
    Text(String),
}

/// The fields and built-ins a rule read, by name (sorted, first read wins). Values
/// are kept typed and rendered only when displayed or serialized, as a JSON object
/// of strings.
#[derive(Clone, Default)]
pub struct Values {
    entries: Vec<(Arc<str>, Seen)>,
    /// Names for rendering (enum variants, stages, currency).
    policy: Option<Arc<ir::Policy>>,
}

/// One rendered value of [`Values`].
pub struct Shown<'a> {
    seen: &'a Seen,
    policy: Option<&'a ir::Policy>,
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.seen, self.policy) {
            (Seen::Text(t), _) => f.write_str(t),
            (Seen::Value(v), Some(p)) => f.write_str(&Names { policy: p }.render(v)),
            (Seen::Value(v), None) => write!(f, "{v:?}"),
        }
    }
}

impl Values {
    pub(crate) fn new(policy: Arc<ir::Policy>) -> Values {
        Values {
            entries: Vec::new(),
            policy: Some(policy),
        }
    }

    fn pos(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    /// Records a value read under `name` unless one is already recorded.
    pub(crate) fn read(&mut self, name: &Arc<str>, v: &Value) {
        if let Err(i) = self.pos(name) {
            self.entries
                .insert(i, (name.clone(), Seen::Value(v.clone())));
        }
    }

    /// Sets a rendered value (replacing any recorded one).
    pub fn insert(&mut self, name: &str, shown: String) {
        match self.pos(name) {
            Ok(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.1 = Seen::Text(shown);
                }
            }
            Err(i) => self.entries.insert(i, (Arc::from(name), Seen::Text(shown))),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `(name, value)` pairs sorted by name; values display rendered.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Shown<'_>)> {
        let policy = self.policy.as_deref();
        self.entries
            .iter()
            .map(move |(k, seen)| (&**k, Shown { seen, policy }))
    }

    /// The rendered value read under `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The values rendered, as a sorted map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Applies a text fix to every name and rendered value (redaction).
    fn scrub(&mut self, fix: &impl Fn(&mut String)) {
        let map = self.to_map();
        self.entries.clear();
        for (mut k, mut v) in map {
            fix(&mut k);
            fix(&mut v);
            self.insert(&k, v);
        }
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((a, x), (b, y))| a == b && x.to_string() == y.to_string())
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, v.to_string())))
            .finish()
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, &v.to_string())?;
        }
        m.end()
    }
}

/// The policy a decision was made with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyRef {
    pub name: String,
    pub version: String,
    /// Hex sha256 of the normalized source.
    pub hash: String,
}

/// An evaluation error (division by zero, ambiguous unique match...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalError {
    pub rule: String,
    pub location: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageChange {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Escalation {
    pub to: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReviewEffect {
    pub queue: String,
    /// SLA deadline on the business calendar.
    pub deadline: String,
    pub escalations: Vec<Escalation>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiscountEffect {
    pub rate: String,
    pub amount: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegistrationEffect {
    /// `approved` or `pending`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewEffect>,
    pub late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount: Option<DiscountEffect>,
    /// Extensions granted so far, this one included (set when an `advance` extends
    /// the protection; `protected_until` is then the new end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForecastEffect {
    pub category: String,
    pub probability: String,
    pub excluded: bool,
    /// Product of the applicable downweight factors.
    pub downweight: String,
    pub weighted_amount: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CosellEffect {
    pub pool: String,
    /// `assign`, `waitlist` or `ineligible`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    pub capacity_remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommissionLine {
    /// 1-based line number (0 when the opportunity amount is used).
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    pub commission: String,
    pub rebates: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShareEffect {
    pub role: String,
    pub partner: String,
    pub share: String,
    pub amount: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommissionEffect {
    /// Whether the registering partner is credited.
    pub attributed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub lines: Vec<CommissionLine>,
    /// Commission before attribution.
    pub computed: String,
    pub total: String,
    pub rebate_total: String,
    /// Who receives every rebate (the registering partner, outside the split); absent
    /// when the commission is not attributed (no rebate is paid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebate_partner: Option<String>,
    pub shares: Vec<ShareEffect>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankedPartner {
    pub rank: usize,
    pub partner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ranking key values, rendered.
    pub keys: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExcludedPartner {
    pub partner: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingEffect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    /// How many partners are eligible and excluded (the vendor's view only: a
    /// partner's view has neither, it sees its own entry only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eligible_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_count: Option<usize>,
    pub ranked: Vec<RankedPartner>,
    pub excluded: Vec<ExcludedPartner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reroute_at_most: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convert_to: Option<String>,
}

/// What the decision changes or schedules.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Effects {
    /// Currency of every amount.
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_change: Option<StageChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegistrationEffect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastEffect>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cosell: Vec<CosellEffect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commission: Option<CommissionEffect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingEffect>,
    /// Named amounts as decimal strings (`amount`, `weighted_amount`, `commission`,
    /// `rebate`, `discount`, `commission.<partner>`...).
    pub amounts: BTreeMap<String, String>,
}

/// A decision. See `docs/decisions.md` for the format.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// The action as text: `advance Proposal`, `register`...
    pub action: String,
    /// `vendor` or `partner:<id>`.
    pub audience: String,
    pub policy: PolicyRef,
    /// The injected clock, RFC 3339.
    pub evaluated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<String>,
    pub reasons: Vec<Reason>,
    /// Missing evidence field names.
    pub missing: Vec<String>,
    /// Changes the requester can make that would turn the denial into an approval:
    /// providing evidence, filling in missing opportunity fields or line items
    /// (empty when no such change exists; `cannot_pass` then says why).
    pub to_pass: Vec<String>,
    /// Why no change the requester can make passes a denial: the failing rules that
    /// depend on what the requester does not control (the partner's tier, the
    /// account, the stage, the deal's recorded values, another registration...).
    /// Empty unless the outcome is `denied` and `to_pass` is empty.
    pub cannot_pass: Vec<String>,
    pub flags: Vec<String>,
    pub effects: Effects,
    pub errors: Vec<EvalError>,
}

impl Decision {
    /// Pretty JSON; byte-identical for identical inputs.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reasons with outcome `fail`.
    pub fn failed(&self) -> impl Iterator<Item = &Reason> {
        self.reasons
            .iter()
            .filter(|r| r.outcome == RuleOutcome::Fail)
    }

    /// Replaces whole-token occurrences of the given strings (other partners' ids,
    /// names, registration and opportunity ids) in every text of the decision by
    /// `[redacted]`. An occurrence counts only when the characters on both sides are
    /// not identifier characters (alphanumeric, `-`, `_`, `.`), so `P-1` is not
    /// found in `OPP-1001`; an occurrence inside one of the viewer's own identities
    /// (`own`) is left alone.
    pub(crate) fn scrub(&mut self, foreign: &BTreeSet<String>, own: &BTreeSet<String>) {
        let mut tokens: Vec<&str> = foreign
            .iter()
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        tokens.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        if tokens.is_empty() {
            return;
        }
        let own: Vec<&str> = own
            .iter()
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        let fix = |s: &mut String| {
            if let Some(fixed) = scrub_tokens(s, &tokens, &own) {
                *s = fixed;
            }
        };
        let fix_map = |m: &mut BTreeMap<String, String>| {
            let old = std::mem::take(m);
            for (mut k, mut v) in old {
                fix(&mut k);
                fix(&mut v);
                m.insert(k, v);
            }
        };
        fix(&mut self.action);
        if let Some(o) = &mut self.opportunity {
            fix(o);
        }
        for r in &mut self.reasons {
            fix(&mut r.message);
            r.values.scrub(&fix);
        }
        for s in self
            .to_pass
            .iter_mut()
            .chain(self.missing.iter_mut())
            .chain(self.cannot_pass.iter_mut())
        {
            fix(s);
        }
        for e in &mut self.errors {
            fix(&mut e.message);
        }
        let fx = &mut self.effects;
        fix_map(&mut fx.amounts);
        for c in &mut fx.cosell {
            if let Some(r) = &mut c.reason {
                fix(r);
            }
        }
        if let Some(c) = &mut fx.commission {
            for s in [&mut c.partner, &mut c.reason, &mut c.rebate_partner]
                .into_iter()
                .flatten()
            {
                fix(s);
            }
            for l in &mut c.lines {
                if let Some(p) = &mut l.product {
                    fix(p);
                }
            }
            for s in &mut c.shares {
                fix(&mut s.partner);
            }
        }
        if let Some(r) = &mut fx.routing {
            for p in &mut r.ranked {
                fix(&mut p.partner);
                if let Some(n) = &mut p.name {
                    fix(n);
                }
            }
            for p in &mut r.excluded {
                fix(&mut p.partner);
                fix(&mut p.reason);
            }
        }
    }
}

/// Characters that continue an identifier: an occurrence of a token next to one of
/// them is part of a longer word, not the token.
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Byte ranges of the whole-token occurrences of `token` in `s`.
fn token_ranges(s: &str, token: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if token.is_empty() {
        return out;
    }
    let mut from = 0;
    while let Some(i) = s.get(from..).and_then(|rest| rest.find(token)) {
        let start = from + i;
        let end = start + token.len();
        let before = s.get(..start).and_then(|p| p.chars().next_back());
        let after = s.get(end..).and_then(|r| r.chars().next());
        if !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char) {
            out.push((start, end));
        }
        // Continue after the first character of this occurrence.
        from = start
            + s.get(start..)
                .and_then(|r| r.chars().next())
                .map_or(1, char::len_utf8);
    }
    out
}

/// `s` with every whole-token occurrence of a foreign token (longest first) replaced
/// by `[redacted]`, except inside an occurrence of an own token; `None` when nothing
/// changes.
pub(crate) fn scrub_tokens(s: &str, foreign: &[&str], own: &[&str]) -> Option<String> {
    let protected: Vec<(usize, usize)> = own.iter().flat_map(|t| token_ranges(s, t)).collect();
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for t in foreign {
        for (a, b) in token_ranges(s, t) {
            let inside_own = protected.iter().any(|&(p, q)| p <= a && b <= q);
            let overlaps = hits.iter().any(|&(p, q)| a < q && p < b);
            if !inside_own && !overlaps {
                hits.push((a, b));
            }
        }
    }
    if hits.is_empty() {
        return None;
    }
    hits.sort_unstable();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (a, b) in hits {
        out.push_str(s.get(at..a).unwrap_or(""));
        out.push_str("[redacted]");
        at = b;
    }
    out.push_str(s.get(at..).unwrap_or(""));
    Some(out)
}
