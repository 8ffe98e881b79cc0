//! Literal validation (31 Feb, 140%, negative durations, foreign currencies) and
//! constant evaluation for the places that need a value known at check time
//! (defaults, probabilities, rates, windows, capacities, rate-table patterns).

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::names::list_names;
use super::types::{is_number, strip};
use super::Checker;
use crate::ast::{self, DurationUnit, ExprKind, Literal, Span, UnOp};
use crate::diagnostics::Code;
use crate::ir::{self, Const, Dur, EnumId, StageId, Type};

/// Orders two constants of the same ordered type.
pub(crate) fn const_cmp(a: &Const, b: &Const) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Const::Integer(x), Const::Integer(y)) => Some(x.cmp(y)),
        (Const::Decimal(x), Const::Decimal(y))
        | (Const::Money(x), Const::Money(y))
        | (Const::Percent(x), Const::Percent(y)) => Some(x.cmp(y)),
        (Const::Duration(x), Const::Duration(y)) => Some(x.cmp(y)),
        (Const::Date(x), Const::Date(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Removes `_` digit separators.
fn digits(s: &str) -> String {
    s.chars().filter(|c| *c != '_').collect()
}

/// Strips any number of parentheses.
pub(crate) fn peel(e: &ast::Expr) -> &ast::Expr {
    match &e.kind {
        ExprKind::Paren(inner) => peel(inner),
        _ => e,
    }
}

/// `HH:MM` (24-hour clock).
pub(crate) fn parse_time(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// `YYYY-MM-DD`, or the help text explaining why it is not a date.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    let mut parts = s.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    if let (Some(Some(y)), Some(Some(m)), Some(Some(_))) =
        (parts.next(), parts.next(), parts.next())
    {
        let year = i32::try_from(y).ok();
        if let Some(first) = year.and_then(|y| NaiveDate::from_ymd_opt(y, m, 1)) {
            let next = if m == 12 {
                year.and_then(|y| y.checked_add(1))
                    .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1))
            } else {
                year.and_then(|y| NaiveDate::from_ymd_opt(y, m + 1, 1))
            };
            if let Some(last) = next.and_then(|n| n.pred_opt()) {
                return Err(format!(
                    "{}-{:02} has {} days; write a date that exists, like `{}`",
                    first.year(),
                    m,
                    last.day(),
                    last.format("%Y-%m-%d")
                ));
            }
        }
        return Err("the month must be 01 to 12; write a date like `2026-12-25`".into());
    }
    Err("write a date as `YYYY-MM-DD`, like `2026-12-25`".into())
}

impl Checker<'_> {
    /// Validates and converts a literal, negated when `negate` (for `-x`). `span`
    /// covers the whole literal (with its sign).
    pub(crate) fn literal(
        &mut self,
        lit: &Literal,
        span: &Span,
        negate: bool,
    ) -> Option<(Const, Type)> {
        let text = self.text(span).to_string();
        let shown = if text.is_empty() {
            "literal".to_string()
        } else {
            format!("`{text}`")
        };
        match lit {
            Literal::Bool(b) => {
                if negate {
                    return self.cannot_negate(span, "bool");
                }
                Some((Const::Bool(*b), Type::Bool))
            }
            Literal::Integer(s) => {
                let sign = if negate { "-" } else { "" };
                match format!("{sign}{}", digits(s)).parse::<i64>() {
                    Ok(v) => Some((Const::Integer(v), Type::Integer)),
                    Err(_) => {
                        let d = Self::diag(Code::InvalidLiteral, span, format!("integer {shown} is out of range"))
                            .label("too large")
                            .help("write a number between -9_223_372_036_854_775_808 and 9_223_372_036_854_775_807");
                        self.emit(d);
                        None
                    }
                }
            }
            Literal::Decimal(s) => match Decimal::from_str(&digits(s)) {
                Ok(v) => Some((Const::Decimal(if negate { -v } else { v }), Type::Decimal)),
                Err(_) => self.bad_number(span, &shown),
            },
            Literal::Percent(s) => {
                if negate {
                    let d =
                        Self::diag(Code::InvalidLiteral, span, "percentages cannot be negative")
                            .label("negative percentage")
                            .help("write a percentage from 0% to 100%");
                    self.emit(d);
                    return None;
                }
                let Ok(v) = Decimal::from_str(&digits(s)) else {
                    return self.bad_number(span, &shown);
                };
                if v > Decimal::ONE_HUNDRED {
                    let d = Self::diag(
                        Code::InvalidLiteral,
                        span,
                        format!("{shown} is more than 100%"),
                    )
                    .label("out of range")
                    .help("write a percentage from 0% to 100%");
                    self.emit(d);
                    return None;
                }
                Some((Const::Percent(v / Decimal::ONE_HUNDRED), Type::Percent))
            }
            Literal::Money { amount, currency } => {
                let Ok(v) = Decimal::from_str(&digits(amount)) else {
                    return self.bad_number(span, &shown);
                };
                if !self.currency.is_empty() && *currency != self.currency {
                    let cur = self.currency.clone();
                    let d = Self::diag(
                        Code::MixedCurrency,
                        span,
                        format!("{shown} is not in the policy currency `{cur}`"),
                    )
                    .label(format!("`{currency}` amount"))
                    .help(format!(
                        "convert the amount to {cur} and write it like `{} {cur}`",
                        amount
                    ));
                    self.emit(d);
                    return None;
                }
                Some((Const::Money(if negate { -v } else { v }), Type::Money))
            }
            Literal::Duration {
                amount,
                unit,
                business,
            } => {
                if negate {
                    let d = Self::diag(Code::InvalidLiteral, span, "durations cannot be negative")
                        .label("negative duration")
                        .help("write a positive duration like `90d`; to go back in time, subtract it, like `now - 90d`");
                    self.emit(d);
                    return None;
                }
                let Ok(v) = Decimal::from_str(&digits(amount)) else {
                    return self.bad_number(span, &shown);
                };
                let unit_secs: i64 = match (unit, business) {
                    (DurationUnit::Minutes, _) => 60,
                    (DurationUnit::Hours, _) => 3600,
                    (DurationUnit::Days, false) => 86_400,
                    (DurationUnit::Weeks, false) => 7 * 86_400,
                    (DurationUnit::Days, true) => self.business_day,
                    (DurationUnit::Weeks, true) => {
                        self.business_day.saturating_mul(self.working_days)
                    }
                };
                let secs = v
                    .checked_mul(Decimal::from(unit_secs))
                    .and_then(|s| s.trunc().to_i64());
                let Some(secs) = secs else {
                    let d = Self::diag(
                        Code::InvalidLiteral,
                        span,
                        format!("duration {shown} is too long"),
                    )
                    .label("out of range")
                    .help("write a shorter duration");
                    self.emit(d);
                    return None;
                };
                if *business {
                    Some((Const::BusinessDuration(secs), Type::BusinessDuration))
                } else {
                    Some((Const::Duration(secs), Type::Duration))
                }
            }
            Literal::Date(s) => {
                if negate {
                    return self.cannot_negate(span, "date");
                }
                match parse_date(s) {
                    Ok(d) => Some((Const::Date(d), Type::Date)),
                    Err(help) => {
                        let d = Self::diag(
                            Code::InvalidLiteral,
                            span,
                            format!("`{s}` is not a valid date"),
                        )
                        .label("no such date")
                        .help(help);
                        self.emit(d);
                        None
                    }
                }
            }
            Literal::DateTime(s) => {
                if negate {
                    return self.cannot_negate(span, "datetime");
                }
                match DateTime::parse_from_rfc3339(s) {
                    Ok(dt) => Some((Const::DateTime(dt.with_timezone(&Utc)), Type::DateTime)),
                    Err(_) => {
                        let d = Self::diag(
                            Code::InvalidLiteral,
                            span,
                            format!("`{s}` is not a valid datetime"),
                        )
                        .label("not an RFC 3339 datetime")
                        .help("write a datetime with its offset, like `2026-12-25T09:00:00Z`");
                        self.emit(d);
                        None
                    }
                }
            }
            Literal::Text(s) => {
                if negate {
                    return self.cannot_negate(span, "text");
                }
                Some((Const::Text(s.clone()), Type::Text))
            }
        }
    }

    fn bad_number<T>(&mut self, span: &Span, shown: &str) -> Option<T> {
        let d = Self::diag(
            Code::InvalidLiteral,
            span,
            format!("{shown} is not a valid number"),
        )
        .label("invalid number")
        .help("write digits with an optional `_` separator and at most 28 significant digits");
        self.emit(d);
        None
    }

    fn cannot_negate<T>(&mut self, span: &Span, ty: &str) -> Option<T> {
        let d = Self::diag(Code::TypeMismatch, span, format!("cannot negate a `{ty}`"))
            .label("`-` needs a number")
            .help("remove the `-`");
        self.emit(d);
        None
    }

    /// A literal or negated literal, with no expected type.
    fn const_literal(&mut self, e: &ast::Expr) -> Option<Option<(Const, Type)>> {
        let e = peel(e);
        match &e.kind {
            ExprKind::Lit(lit) => Some(self.literal(lit, &e.span, false)),
            ExprKind::Unary(UnOp::Neg, inner) => match &peel(inner).kind {
                ExprKind::Lit(lit) => Some(self.literal(lit, &e.span, true)),
                _ => None,
            },
            _ => None,
        }
    }

    fn not_constant<T>(&mut self, e: &ast::Expr, want: &Type, what: &str) -> Option<T> {
        let help = match (&peel(e).kind, strip(want)) {
            (ExprKind::Path(segs), Type::Text) if segs.len() == 1 => {
                format!(
                    "write text in quotes, like `\"{}\"`",
                    self.text(&peel(e).span)
                )
            }
            _ => format!("write a value like `{}`", self.example(want)),
        };
        let d = Self::diag(
            Code::TypeMismatch,
            &e.span,
            format!("{what} must be a constant {}", self.shown_type(want)),
        )
        .label("not a constant")
        .help(help);
        self.emit(d);
        None
    }

    /// `` `money` `` style rendering of a type.
    pub(crate) fn shown_type(&self, t: &Type) -> String {
        format!("`{}`", self.type_name(t))
    }

    /// A field's declared range `in low .. high`: only for ordered types, bounds are
    /// literals of the field's type (negative allowed), and `low <= high`.
    pub(crate) fn field_range(
        &mut self,
        r: &ast::FieldRange,
        ty: &Type,
        field: &str,
    ) -> Option<ir::FieldRange> {
        let want = strip(ty).clone();
        let ordered = matches!(
            want,
            Type::Integer
                | Type::Decimal
                | Type::Money
                | Type::Percent
                | Type::Duration
                | Type::Date
        );
        if !ordered {
            let d = Self::diag(
                Code::TypeMismatch,
                &r.span,
                format!(
                    "field `{field}` of type {} cannot declare a range",
                    self.shown_type(ty)
                ),
            )
            .label("range on an unordered type")
            .help("ranges are for `integer`, `decimal`, `money`, `percent`, `duration` and `date` fields");
            self.emit(d);
            return None;
        }
        if r.low.is_none() && r.high.is_none() {
            let d = Self::diag(
                Code::MalformedDeclaration,
                &r.span,
                format!("the range of field `{field}` has no bounds"),
            )
            .label("no bound")
            .help("write at least one bound, like `in 0 ..`, or remove the range");
            self.emit(d);
            return None;
        }
        let low = match &r.low {
            Some(e) => Some(self.range_bound(e, &want)?),
            None => None,
        };
        let high = match &r.high {
            Some(e) => Some(self.range_bound(e, &want)?),
            None => None,
        };
        if let (Some(l), Some(h)) = (&low, &high) {
            if const_cmp(&l.value, &h.value) == Some(std::cmp::Ordering::Greater) {
                let d = Self::diag(
                    Code::MalformedDeclaration,
                    &r.span,
                    format!(
                        "the range of field `{field}` is empty: `{}` is above `{}`",
                        l.text, h.text
                    ),
                )
                .label("low bound above high bound")
                .help(format!(
                    "write the lower bound first: `in {} .. {}`",
                    h.text, l.text
                ));
                self.emit(d);
                return None;
            }
        }
        Some(ir::FieldRange {
            low,
            high,
            at: self.source.location(r.span.start),
            span: r.span.clone(),
        })
    }

    /// One bound: a literal of type `want`, or a negated one (`-50%`, `-10_000 USD`).
    fn range_bound(&mut self, e: &ast::Expr, want: &Type) -> Option<ir::RangeBound> {
        let text = self.text(&e.span).to_string();
        let (lit, lit_span, negate) = match &e.kind {
            ExprKind::Lit(lit) => (lit, &e.span, false),
            ExprKind::Unary(UnOp::Neg, inner) => match &inner.kind {
                ExprKind::Lit(lit) => (lit, &inner.span, true),
                _ => return self.not_constant(e, want, "a range bound"),
            },
            _ => return self.not_constant(e, want, "a range bound"),
        };
        let (c, found) = self.literal(lit, lit_span, false)?;
        let c = self.coerce(c, &found, want, e, "a range bound")?;
        let value = if negate {
            match c {
                Const::Integer(i) => Const::Integer(i.checked_neg()?),
                Const::Decimal(d) => Const::Decimal(-d),
                Const::Money(d) => Const::Money(-d),
                Const::Percent(d) => Const::Percent(-d),
                Const::Duration(s) => Const::Duration(s.checked_neg()?),
                _ => {
                    let name = self.type_name(want);
                    return self.cannot_negate(&e.span, &name);
                }
            }
        } else {
            c
        };
        Some(ir::RangeBound { value, text })
    }

    /// Evaluates a constant of type `want` (enum values resolve against `want`'s enum,
    /// stage names when `want` is a stage, lists element-wise). `what` names the
    /// position for messages ("the probability").
    pub(crate) fn constant(&mut self, e: &ast::Expr, want: &Type, what: &str) -> Option<Const> {
        let want = strip(want).clone();
        let e = peel(e);
        if let Some(lit) = self.const_literal(e) {
            let (c, t) = lit?;
            return self.coerce(c, &t, &want, e, what);
        }
        match (&e.kind, &want) {
            (ExprKind::Path(segs), Type::Enum(id)) if segs.len() == 1 => {
                let id_ = segs.first()?;
                let index = self.enum_variant(id_, *id)?;
                Some(Const::Enum { id: *id, index })
            }
            (ExprKind::Path(segs), Type::Stage) if segs.len() == 1 => {
                let s = self.stage_ref(segs.first()?)?;
                Some(Const::Stage(s))
            }
            (ExprKind::List(items), Type::List(elem)) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.constant(item, elem, what) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then_some(Const::List(out))
            }
            _ => self.not_constant(e, &want, what),
        }
    }

    /// Accepts a constant of type `found` where `want` is expected (integers widen to
    /// decimals).
    fn coerce(
        &mut self,
        c: Const,
        found: &Type,
        want: &Type,
        e: &ast::Expr,
        what: &str,
    ) -> Option<Const> {
        if found == want {
            return Some(c);
        }
        if let (Const::Integer(i), Type::Decimal) = (&c, want) {
            return Some(Const::Decimal(Decimal::from(*i)));
        }
        let help = self
            .mismatch_help(want, found)
            .unwrap_or_else(|| format!("write a value like `{}`", self.example(want)));
        let d = Self::diag(
            Code::TypeMismatch,
            &e.span,
            format!(
                "{what} must be {}, found {}",
                self.shown_type(want),
                self.shown_type(found)
            ),
        )
        .label(format!("this is {}", self.shown_type(found)))
        .help(help);
        self.emit(d);
        None
    }

    /// A percentage constant (0% to 100%), as a fraction.
    pub(crate) fn const_percent(&mut self, e: &ast::Expr, what: &str) -> Option<Decimal> {
        match self.constant(e, &Type::Percent, what)? {
            Const::Percent(p) => Some(p),
            _ => None,
        }
    }

    /// A constant duration. Business durations are accepted only when `business_ok`.
    pub(crate) fn const_duration(
        &mut self,
        e: &ast::Expr,
        what: &str,
        business_ok: bool,
    ) -> Option<Dur> {
        let Some(lit) = self.const_literal(e) else {
            return self.not_constant(e, &Type::Duration, what);
        };
        match lit? {
            (Const::Duration(seconds), _) => Some(Dur {
                seconds,
                business: false,
            }),
            (Const::BusinessDuration(seconds), _) if business_ok => Some(Dur {
                seconds,
                business: true,
            }),
            (Const::BusinessDuration(_), _) => {
                let d = Self::diag(
                    Code::TypeMismatch,
                    &peel(e).span,
                    format!("{what} must be a calendar duration"),
                )
                .label("business time")
                .help("write it in calendar time, like `90d`");
                self.emit(d);
                None
            }
            (_, found) => {
                let help = if is_number(&found) {
                    "write a duration like `90d` or `24h`".to_string()
                } else {
                    format!(
                        "write a duration like `90d`{}",
                        if business_ok {
                            " or `24 business hours`"
                        } else {
                            ""
                        }
                    )
                };
                let d = Self::diag(
                    Code::TypeMismatch,
                    &peel(e).span,
                    format!(
                        "{what} must be a duration, found {}",
                        self.shown_type(&found)
                    ),
                )
                .label(format!("this is {}", self.shown_type(&found)))
                .help(help);
                self.emit(d);
                None
            }
        }
    }

    /// A whole-number constant of at least `min` that fits a `u32`.
    pub(crate) fn const_count(&mut self, e: &ast::Expr, what: &str, min: i64) -> Option<u32> {
        let Const::Integer(v) = self.constant(e, &Type::Integer, what)? else {
            return None;
        };
        if v < min || u32::try_from(v).is_err() {
            let d = Self::diag(
                Code::InvalidLiteral,
                &peel(e).span,
                if v < min {
                    format!("{what} must be at least {min}")
                } else {
                    format!("{what} is too large")
                },
            )
            .label(format!("`{v}` is out of range"))
            .help(format!("write a whole number from {min} to {}", u32::MAX));
            self.emit(d);
            return None;
        }
        u32::try_from(v).ok()
    }

    /// Resolves a variant of enum `id`; E104 with a suggestion otherwise.
    pub(crate) fn enum_variant(&mut self, ident: &ast::Ident, id: EnumId) -> Option<u32> {
        let def = self.enum_def(id)?;
        if let Some(i) = def.variants.iter().position(|v| *v == ident.name) {
            return Some(i as u32);
        }
        let enum_name = def.name.clone();
        let variants: Vec<&str> = def.variants.iter().map(String::as_str).collect();
        let help = self
            .did_you_mean_in(&ident.name, &variants)
            .unwrap_or_else(|| {
                format!(
                    "the values are {}",
                    list_names(def.variants.iter().map(String::as_str), 12)
                )
            });
        let d = Self::diag(
            Code::UnknownEnumValue,
            &ident.span,
            format!("`{}` is not a value of `{enum_name}`", ident.name),
        )
        .label(format!("not a `{enum_name}` value"))
        .help(help);
        self.emit(d);
        None
    }

    /// Resolves a stage name; E102 with a suggestion otherwise.
    pub(crate) fn stage_ref(&mut self, ident: &ast::Ident) -> Option<StageId> {
        if let Some(id) = self.stage_ids.get(&ident.name) {
            return Some(*id);
        }
        let stages: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
        let help = self
            .did_you_mean_in(&ident.name, &stages)
            .unwrap_or_else(|| {
                if self.stages.is_empty() {
                    format!(
                        "declare it with `stage {} {{ probability 10% }}`",
                        ident.name
                    )
                } else {
                    format!(
                        "the stages are {}",
                        list_names(self.stages.iter().map(|s| s.name.as_str()), 10)
                    )
                }
            });
        let d = Self::diag(
            Code::UnknownStage,
            &ident.span,
            format!("unknown stage `{}`", ident.name),
        )
        .label("no stage has this name")
        .help(help);
        self.emit(d);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert!(parse_date("2026-12-25").is_ok());
        let err = parse_date("2026-02-31").unwrap_err();
        assert!(err.contains("2026-02 has 28 days"), "{err}");
        assert!(parse_date("2026-13-01").unwrap_err().contains("month"));
        assert!(parse_date("soon").is_err());
        assert_eq!(parse_time("09:30"), NaiveTime::from_hms_opt(9, 30, 0));
        assert_eq!(parse_time("25:00"), None);
        assert_eq!(parse_time("9:00"), None);
    }
}
