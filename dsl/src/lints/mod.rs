//! Domain lints: checks on a policy that type-checks but probably does not say what its
//! author meant (evidence nobody reads, a shadowed rate row, an SLA with no calendar).
//!
//! One module per rule, named after the pattern it flags and documented with
//! `## What it does`, `## Why is this bad?` and `## Example`. Every rule implements
//! [`LintRule`]; [`run`] runs the static list [`RULES`] in order. Lints only run on a
//! policy that checked without errors, so the ids and slots in the IR are valid; even so,
//! rules look everything up with `get` and never panic. Every rule is near-linear in
//! the size of the policy: the rate-table rules compare only the rows a
//! `rates::RowIndex` offers (pairwise only in pathological tables), AST nodes are
//! found by binary search, and coverage enumeration is capped. `benches/scale.rs` and
//! `benches/scale.sh` measure every shape of policy at two sizes.
//!
//! The reference for every code, with examples, is `docs/lints.md`.

mod escalation_after_sla;
mod missing_default_row;
pub(crate) mod rates;
mod shadowed_rate_row;
mod short_protection;
mod sla_without_calendar;
mod split_not_hundred;
mod undeclared_evidence;
mod unreachable_assign;
mod unused_evidence;
mod unused_pool;
pub(crate) mod walk;

use rust_decimal::Decimal;

use crate::ast::{self, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir;
use crate::source::SourceFile;

pub use escalation_after_sla::EscalationAfterSla;
pub use missing_default_row::MissingDefaultRow;
pub use shadowed_rate_row::ShadowedRateRow;
pub use short_protection::ShortProtection;
pub use sla_without_calendar::SlaWithoutCalendar;
pub use split_not_hundred::SplitNotHundred;
pub use undeclared_evidence::UndeclaredEvidence;
pub use unreachable_assign::UnreachableAssign;
pub mod calibration;
pub use unused_evidence::UnusedEvidence;
pub use unused_pool::UnusedPool;

/// What a lint rule sees: the source, its AST and its checked IR.
pub struct LintContext<'a> {
    pub source: &'a SourceFile,
    pub ast: &'a ast::Policy,
    pub ir: &'a ir::Policy,
}

/// One lint rule: a stable code and a check over a [`LintContext`].
pub trait LintRule: Sync {
    /// The code every diagnostic of this rule carries.
    fn code(&self) -> Code;
    /// Appends this rule's findings to `out`. Must not panic.
    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Diagnostic>);
}

/// Every registered lint rule, in code order.
pub static RULES: &[&dyn LintRule] = &[
    &UndeclaredEvidence,
    &UnusedEvidence,
    &ShadowedRateRow,
    &MissingDefaultRow,
    &SplitNotHundred,
    &EscalationAfterSla,
    &ShortProtection,
    &UnusedPool,
    &UnreachableAssign,
    &SlaWithoutCalendar,
];

/// Runs every lint rule.
pub fn run(cx: &LintContext<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for rule in RULES {
        rule.check(cx, &mut out);
    }
    for d in &mut out {
        d.span = cx.tight(&d.span);
        for r in &mut d.related {
            r.span = cx.tight(&r.span);
        }
    }
    out
}

impl<'a> LintContext<'a> {
    /// The source text under a span (empty when the span is out of range).
    pub fn text(&self, span: &Span) -> &'a str {
        let text: &'a str = &self.source.text;
        text.get(span.clone()).unwrap_or("")
    }

    /// The span without leading and trailing whitespace and trailing `//` comments
    /// (node spans may include the trivia that follows them).
    pub fn tight(&self, span: &Span) -> Span {
        let text: &str = &self.source.text;
        let (mut start, mut end) = (span.start, span.end);
        loop {
            let Some(s) = text.get(start..end) else {
                return span.clone();
            };
            start += s.len() - s.trim_start().len();
            end -= s.len() - s.trim_end().len();
            // Comments are sorted and disjoint, so the only one that can start inside
            // the span and reach its end is the last one starting before the end
            // (a binary search: diagnostics times comments would be quadratic).
            let comments = &self.ast.comments;
            let before_end = comments.partition_point(|c| c.span.start < end);
            let comment = before_end
                .checked_sub(1)
                .and_then(|i| comments.get(i))
                .filter(|c| c.span.start >= start && c.span.end >= end);
            match comment {
                Some(c) if c.span.start > start => end = c.span.start,
                _ => break,
            }
        }
        if start < end {
            start..end
        } else {
            span.clone()
        }
    }

    /// The source text under a span (without trailing trivia) with runs of whitespace
    /// collapsed to one space, for quoting a node in a one-line message.
    pub fn snippet(&self, span: &Span) -> String {
        self.text(&self.tight(span))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every rule of every `registration { }` section.
    pub fn reg_rules(&self) -> impl Iterator<Item = &'a ast::RegRule> {
        self.ast.items.iter().flat_map(|item| match item {
            ast::Item::Registration(s) => s.rules.as_slice(),
            _ => &[],
        })
    }

    /// The `registration { }` rules picked by `pick` (which returns the rule's span and
    /// what the caller needs of it), sorted by span, for [`find_nesting`] lookups.
    pub fn reg_rules_by_span<T>(
        &self,
        pick: impl Fn(&'a ast::RegRule) -> Option<(&'a Span, T)>,
    ) -> Vec<(&'a Span, T)> {
        let mut out: Vec<(&'a Span, T)> = self.reg_rules().filter_map(pick).collect();
        out.sort_by_key(|(s, _)| (s.start, s.end));
        out
    }

    /// Every rule of every `cosell { }` section.
    pub fn cosell_rules(&self) -> impl Iterator<Item = &'a ast::CosellRule> {
        self.ast.items.iter().flat_map(|item| match item {
            ast::Item::Cosell(s) => s.rules.as_slice(),
            _ => &[],
        })
    }

    /// Every rule of every `leads { }` section.
    pub fn lead_rules(&self) -> impl Iterator<Item = &'a ast::LeadRule> {
        self.ast.items.iter().flat_map(|item| match item {
            ast::Item::Leads(s) => s.rules.as_slice(),
            _ => &[],
        })
    }

    /// The field a [`ir::FieldRef`] names.
    pub fn field(&self, r: ir::FieldRef) -> Option<&'a ir::FieldDef> {
        self.ir.record(r.record)?.fields.get(r.slot as usize)
    }

    /// Renders a constant the way a policy would write it.
    pub fn render_const(&self, c: &ir::Const) -> String {
        use ir::Const;
        match c {
            Const::Bool(b) => b.to_string(),
            Const::Integer(i) => i.to_string(),
            Const::Decimal(d) => d.normalize().to_string(),
            Const::Money(d) => format!("{} {}", d.normalize(), self.ir.currency),
            Const::Percent(d) => percent(*d),
            Const::Date(d) => d.to_string(),
            Const::DateTime(d) => d.to_rfc3339(),
            Const::Duration(s) => fmt_dur(ir::Dur {
                seconds: *s,
                business: false,
            }),
            Const::BusinessDuration(s) => fmt_dur(ir::Dur {
                seconds: *s,
                business: true,
            }),
            Const::Text(t) => format!("{t:?}"),
            Const::Enum { id, index } => self
                .ir
                .enum_def(*id)
                .and_then(|e| e.variants.get(*index as usize))
                .cloned()
                .unwrap_or_else(|| format!("#{index}")),
            Const::Stage(id) => self
                .ir
                .stage(*id)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("#{}", id.0)),
            Const::List(items) => {
                let items: Vec<String> = items.iter().map(|c| self.render_const(c)).collect();
                format!("[{}]", items.join(", "))
            }
            Const::None => "none".to_string(),
        }
    }
}

/// The first entry (in source order) whose span nests with `span` (see
/// [`spans_nest`]), in entries sorted by span start: a binary search, so looking up
/// every IR rule's AST node is not quadratic. AST rules of one section do not overlap,
/// so only the entries next to `span.start` can nest with it.
pub(crate) fn find_nesting<'e, T>(sorted: &'e [(&Span, T)], span: &Span) -> Option<&'e T> {
    let at = sorted.partition_point(|(s, _)| s.start <= span.start);
    // The entry starting at or before `span` may contain it; the next one may lie
    // inside it.
    let from = at.saturating_sub(1);
    sorted
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .take(2)
        .find(|(s, _)| spans_nest(s, span))
        .map(|(_, t)| t)
}

/// True when `a` lies within `b` or `b` within `a`: the checker may keep either the
/// whole rule's span or the span of the value inside it.
pub(crate) fn spans_nest(a: &Span, b: &Span) -> bool {
    (a.start <= b.start && b.end <= a.end) || (b.start <= a.start && a.end <= b.end)
}

/// A fraction as a percentage: `0.15` -> `15%`.
pub(crate) fn percent(fraction: Decimal) -> String {
    format!("{}%", (fraction * Decimal::ONE_HUNDRED).normalize())
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A duration as a policy would write it: `90d`, `24h`, `30min`, `16 business hours`.
pub(crate) fn fmt_dur(d: ir::Dur) -> String {
    let s = d.seconds;
    if d.business {
        if s % HOUR == 0 {
            let h = s / HOUR;
            format!("{h} business {}", if h == 1 { "hour" } else { "hours" })
        } else {
            let m = s / MINUTE;
            format!("{m} business {}", if m == 1 { "minute" } else { "minutes" })
        }
    } else if s % DAY == 0 {
        format!("{}d", s / DAY)
    } else if s % HOUR == 0 {
        format!("{}h", s / HOUR)
    } else {
        format!("{}min", s / MINUTE)
    }
}

/// Seconds as days, to one decimal place when not whole: `94`, `2.5`.
pub(crate) fn days(seconds: i64) -> String {
    (Decimal::from(seconds) / Decimal::from(DAY))
        .round_dp(1)
        .normalize()
        .to_string()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Hand-built IR for the rule unit tests.

    use super::*;
    use crate::ir::*;

    /// An empty policy: built-in enums, five undeclared records, nothing else.
    pub fn policy() -> Policy {
        Policy {
            name: "T".into(),
            version: "1".into(),
            currency: "USD".into(),
            calendar: None,
            enums: EnumDef::builtins(),
            records: RecordKind::ALL
                .iter()
                .map(|&kind| RecordSchema {
                    kind,
                    fields: vec![],
                    span: None,
                })
                .collect(),
            stages: vec![],
            transitions: vec![],
            registration: None,
            cosell: None,
            commission: None,
            hygiene: None,
            leads: None,
        }
    }

    /// Adds a user enum and returns its id.
    pub fn add_enum(p: &mut Policy, name: &str, variants: &[&str]) -> EnumId {
        p.enums.push(EnumDef {
            name: name.into(),
            variants: variants.iter().map(|v| v.to_string()).collect(),
            span: 0..0,
        });
        EnumId(p.enums.len() as u32 - 1)
    }

    /// Adds an opportunity field and returns its slot.
    pub fn add_field(p: &mut Policy, name: &str, ty: Type, evidence: bool, span: Span) -> u32 {
        let rec = &mut p.records[RecordKind::Opportunity.index()];
        rec.fields.push(FieldDef {
            name: name.into(),
            ty,
            evidence,
            default: None,
            range: None,
            span,
        });
        rec.fields.len() as u32 - 1
    }

    pub fn stage(name: &str, kind: StageKind, expected_days: Option<i64>) -> StageDef {
        StageDef {
            name: name.into(),
            label: None,
            kind,
            probability: Decimal::ZERO,
            forecast: Forecast::Pipeline,
            expected: expected_days.map(|d| d * DAY),
            requires: vec![],
            span: 0..0,
        }
    }

    pub fn edge(from: Option<u32>, to: u32) -> Transition {
        Transition {
            from: from.map(StageId),
            to: StageId(to),
            guard: None,
            because: None,
            span: 0..0,
        }
    }

    pub fn expr(kind: ExprKind, ty: Type) -> Expr {
        Expr {
            kind,
            ty,
            span: 0..0,
        }
    }

    pub fn expr_at(kind: ExprKind, ty: Type, span: Span) -> Expr {
        Expr { kind, ty, span }
    }

    pub fn field_expr(slot: u32, ty: Type) -> Expr {
        expr(
            ExprKind::Field {
                record: RecordKind::Opportunity,
                slot,
            },
            ty,
        )
    }

    pub fn bool_const(b: bool) -> Expr {
        expr(ExprKind::Const(Const::Bool(b)), Type::Bool)
    }

    pub fn cond(e: Expr) -> Cond {
        Cond {
            expr: e,
            because: None,
            span: 0..0,
        }
    }

    pub fn registration() -> Registration {
        Registration {
            open_from: None,
            eligible: vec![],
            duplicate: None,
            conflicts: vec![],
            auto_approve: vec![],
            review: None,
            escalations: vec![],
            protect: None,
            extend: None,
            late: vec![],
            discounts: vec![],
            span: 0..0,
        }
    }

    pub fn commission() -> Commission {
        Commission {
            attribute: vec![],
            rate: None,
            rebates: vec![],
            splits: vec![],
            span: 0..0,
        }
    }

    /// Runs every lint over a hand-built IR (empty source and AST).
    pub fn lint(p: &Policy) -> Vec<Diagnostic> {
        let source = SourceFile::new("t.policy", "");
        let ast = ast::Policy {
            items: vec![],
            comments: vec![],
        };
        run(&LintContext {
            source: &source,
            ast: &ast,
            ir: p,
        })
    }

    /// The diagnostics of one code.
    pub fn lint_code(p: &Policy, code: Code) -> Vec<Diagnostic> {
        lint(p).into_iter().filter(|d| d.code == code).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    const LINTS_DOC: &str = include_str!("../../../docs/lints.md");

    #[test]
    fn every_code_is_documented() {
        for code in Code::ALL {
            let heading = format!("## {} {}", code.as_str(), code.name());
            assert!(
                LINTS_DOC.contains(&heading),
                "docs/lints.md has no `{heading}` section"
            );
        }
    }

    #[test]
    fn every_domain_lint_code_has_exactly_one_rule() {
        let lint_codes: Vec<Code> = Code::ALL
            .iter()
            .copied()
            .filter(|c| c.as_str()[1..].starts_with('3'))
            .collect();
        let mut registered: Vec<Code> = RULES.iter().map(|r| r.code()).collect();
        assert_eq!(
            registered, lint_codes,
            "RULES must list every 3xx code once, in order"
        );
        registered.dedup();
        assert_eq!(registered.len(), RULES.len());
    }

    #[test]
    fn empty_policy_is_clean() {
        assert_eq!(lint(&policy()), vec![]);
    }

    #[test]
    fn formats_durations_like_the_source() {
        assert_eq!(
            fmt_dur(ir::Dur {
                seconds: 90 * DAY,
                business: false
            }),
            "90d"
        );
        assert_eq!(
            fmt_dur(ir::Dur {
                seconds: 36 * HOUR,
                business: false
            }),
            "36h"
        );
        assert_eq!(
            fmt_dur(ir::Dur {
                seconds: 90 * MINUTE,
                business: false
            }),
            "90min"
        );
        assert_eq!(
            fmt_dur(ir::Dur {
                seconds: 16 * HOUR,
                business: true
            }),
            "16 business hours"
        );
        assert_eq!(
            fmt_dur(ir::Dur {
                seconds: HOUR,
                business: true
            }),
            "1 business hour"
        );
        assert_eq!(
            fmt_dur(ir::Dur {
                seconds: 30 * MINUTE,
                business: true
            }),
            "30 business minutes"
        );
        assert_eq!(days(94 * DAY), "94");
        assert_eq!(days(DAY * 5 / 2), "2.5");
        assert_eq!(percent(Decimal::new(125, 3)), "12.5%");
    }
}
