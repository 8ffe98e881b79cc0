//! Runtime values: what fields, facts and expressions evaluate to.
//!
//! Money, percent and plain decimals are all `rust_decimal::Decimal` (percent as a
//! fraction: `15%` is `0.15`); durations are whole seconds. Text is `Arc<str>` so
//! cloning a value never allocates. `Absent` is a missing value: comparisons with it
//! are false and arithmetic with it yields `Absent`.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use dealflow_dsl::ir::{self, BinOp, Const, EnumId, StageId, Type};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// A runtime value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A missing value.
    Absent,
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    /// Money in the policy currency.
    Money(Decimal),
    /// A fraction (`0.15` is 15%).
    Pct(Decimal),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// Seconds (calendar or business).
    Dur(i64),
    Text(Arc<str>),
    Enum(EnumId, u32),
    Stage(StageId),
    List(Arc<[Value]>),
    /// A line item of the record being evaluated (index into its line items).
    Item(u32),
}

/// The shape an arithmetic result takes, from the expression's static type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Dec,
    Money,
    Pct,
    Dur,
    Date,
    DateTime,
    Text,
    Other,
}

impl Kind {
    /// The kind of a static type (optionals unwrap).
    pub fn of(ty: &Type) -> Kind {
        match ty {
            Type::Integer => Kind::Int,
            Type::Decimal => Kind::Dec,
            Type::Money => Kind::Money,
            Type::Percent => Kind::Pct,
            Type::Duration | Type::BusinessDuration => Kind::Dur,
            Type::Date => Kind::Date,
            Type::DateTime => Kind::DateTime,
            Type::Text => Kind::Text,
            Type::Optional(t) => Kind::of(t),
            _ => Kind::Other,
        }
    }
}

/// Seconds in a day.
pub const DAY: i64 = 86_400;

impl Value {
    /// A text value.
    pub fn text(s: &str) -> Value {
        Value::Text(Arc::from(s))
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// Truthiness in a condition: only `Bool(true)` holds.
    pub fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// Presence: not absent, not blank text.
    pub fn present(&self) -> bool {
        match self {
            Value::Absent => false,
            Value::Text(t) => !t.bytes().all(|b| b.is_ascii_whitespace()),
            _ => true,
        }
    }

    /// The numeric value of a number-like value.
    pub fn num(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Dec(d) | Value::Money(d) | Value::Pct(d) => Some(*d),
            _ => None,
        }
    }

    /// The text of a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// Converts a checked constant.
    pub fn from_const(c: &Const) -> Value {
        match c {
            Const::Bool(b) => Value::Bool(*b),
            Const::Integer(i) => Value::Int(*i),
            Const::Decimal(d) => Value::Dec(*d),
            Const::Money(d) => Value::Money(*d),
            Const::Percent(d) => Value::Pct(*d),
            Const::Date(d) => Value::Date(*d),
            Const::DateTime(d) => Value::DateTime(*d),
            Const::Duration(s) | Const::BusinessDuration(s) => Value::Dur(*s),
            Const::Text(t) => Value::text(t),
            Const::Enum { id, index } => Value::Enum(*id, *index),
            Const::Stage(s) => Value::Stage(*s),
            Const::List(items) => Value::List(items.iter().map(Value::from_const).collect()),
            Const::None => Value::Absent,
        }
    }
}

/// Names needed to compare enums across declarations and to render values.
pub struct Names<'a> {
    pub policy: &'a ir::Policy,
}

impl Names<'_> {
    /// The name of an enum variant.
    pub fn variant(&self, id: EnumId, idx: u32) -> Option<&str> {
        self.policy
            .enum_def(id)
            .and_then(|e| e.variants.get(idx as usize))
            .map(String::as_str)
    }

    /// The name of a stage.
    pub fn stage(&self, id: StageId) -> &str {
        self.policy
            .stage(id)
            .map(|s| s.name.as_str())
            .unwrap_or("?")
    }

    /// Equality with enum/text cross-comparison by variant name.
    #[inline]
    pub fn eq(&self, a: &Value, b: &Value) -> bool {
        // The common cases inline; the rest is out of line.
        match (a, b) {
            (Value::Enum(ia, xa), Value::Enum(ib, xb)) if ia == ib => xa == xb,
            (Value::Stage(x), Value::Stage(y)) => x == y,
            _ => self.eq_other(a, b),
        }
    }

    fn eq_other(&self, a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Enum(ia, xa), Value::Enum(ib, xb)) if ia == ib => xa == xb,
            (Value::Stage(x), Value::Stage(y)) => x == y,
            (Value::Enum(ia, xa), Value::Enum(ib, xb)) if ia != ib => {
                matches!((self.variant(*ia, *xa), self.variant(*ib, *xb)), (Some(p), Some(q)) if p == q)
            }
            (Value::Enum(i, x), Value::Text(t)) | (Value::Text(t), Value::Enum(i, x)) => {
                self.variant(*i, *x) == Some(&**t)
            }
            (Value::List(p), Value::List(q)) => {
                p.len() == q.len() && p.iter().zip(q.iter()).all(|(x, y)| self.eq(x, y))
            }
            _ => compare(a, b) == Some(Ordering::Equal),
        }
    }

    /// Renders a value for explanations.
    pub fn render(&self, v: &Value) -> String {
        match v {
            Value::Absent => "(missing)".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Dec(d) => d.normalize().to_string(),
            Value::Money(d) => format!("{} {}", money_str(*d), self.policy.currency),
            Value::Pct(d) => pct_str(*d),
            Value::Date(d) => d.to_string(),
            Value::DateTime(d) => rfc3339(*d),
            Value::Dur(s) => render_duration(*s),
            Value::Text(t) => t.to_string(),
            Value::Enum(id, idx) => self.variant(*id, *idx).unwrap_or("?").to_string(),
            Value::Stage(s) => self.stage(*s).to_string(),
            Value::List(items) => {
                let parts: Vec<String> = items.iter().map(|i| self.render(i)).collect();
                format!("[{}]", parts.join(", "))
            }
            Value::Item(i) => format!("line_items[{i}]"),
        }
    }
}

/// RFC 3339 with seconds and `Z`.
pub fn rfc3339(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Rounds money to cents, half away from zero.
pub fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A fraction as a percentage (`0.155` is `15.5%`), for any decimal: the point moves
/// two places in the text, so values near the decimal maximum cannot overflow.
pub fn pct_str(d: Decimal) -> String {
    let text = d.normalize().to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut frac = frac.to_string();
    while frac.len() < 2 {
        frac.push('0');
    }
    let (moved, rest) = frac.split_at(2);
    let whole = format!("{int}{moved}");
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let rest = rest.trim_end_matches('0');
    match (rest.is_empty(), whole == "0" && rest.is_empty()) {
        (_, true) => "0%".to_string(),
        (true, false) => format!("{sign}{whole}%"),
        (false, false) => format!("{sign}{whole}.{rest}%"),
    }
}

/// Money as a decimal string with exactly two places (also near the decimal maximum,
/// where a `Decimal` cannot hold two fractional digits: the digits are then padded).
pub fn money_str(d: Decimal) -> String {
    let mut r = cents(d);
    r.rescale(2);
    if r.scale() < 2 {
        let text = r.to_string();
        return match text.split_once('.') {
            None => format!("{text}.00"),
            Some((_, f)) if f.len() == 1 => format!("{text}0"),
            Some(_) => text,
        };
    }
    // Fast path (same text as `Decimal`'s `Display` at scale 2): integer digits.
    let m = r.mantissa();
    if r.scale() == 2 && m != 0 {
        if let Ok(a) = u64::try_from(m.unsigned_abs()) {
            // Digits least significant first, then reversed.
            let mut buf = [0u8; 24];
            let mut n = 0;
            let mut rest = a;
            while n < 4 || rest > 0 {
                if let Some(b) = buf.get_mut(n) {
                    *b = b'0' + (rest % 10) as u8;
                }
                rest /= 10;
                n += 1;
                if n == 2 {
                    if let Some(b) = buf.get_mut(n) {
                        *b = b'.';
                    }
                    n += 1;
                }
            }
            if m < 0 {
                if let Some(b) = buf.get_mut(n) {
                    *b = b'-';
                }
                n += 1;
            }
            let digits = buf.get(..n).unwrap_or(&[]);
            return digits.iter().rev().map(|b| char::from(*b)).collect();
        }
    }
    r.to_string()
}

/// `12d`, `3h`, `1d 4h 30min`, `0s`.
pub fn render_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let neg = secs < 0;
    let mut s = secs.unsigned_abs();
    let mut parts = Vec::new();
    for (unit, name) in [(86_400u64, "d"), (3_600, "h"), (60, "min"), (1, "s")] {
        if s >= unit {
            parts.push(format!("{}{}", s / unit, name));
            s %= unit;
        }
    }
    format!("{}{}", if neg { "-" } else { "" }, parts.join(" "))
}

/// Ordering of two values of comparable kinds; `None` when either is absent or the
/// kinds do not compare.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Absent, _) | (_, Value::Absent) => None,
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Money(x), Value::Money(y))
        | (Value::Dec(x), Value::Dec(y))
        | (Value::Pct(x), Value::Pct(y)) => Some(x.cmp(y)),
        (Value::Dur(x), Value::Dur(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::DateTime(y)) => Some(x.and_time(NaiveTime::MIN).and_utc().cmp(y)),
        (Value::DateTime(x), Value::Date(y)) => Some(x.cmp(&y.and_time(NaiveTime::MIN).and_utc())),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Enum(i, x), Value::Enum(j, y)) if i == j => Some(x.cmp(y)),
        (Value::Stage(x), Value::Stage(y)) => Some(x.cmp(y)),
        (Value::Item(x), Value::Item(y)) => Some(x.cmp(y)),
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => None,
        },
    }
}

/// Why arithmetic produced no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithError {
    DivideByZero,
    Overflow,
}

fn wrap(d: Decimal, kind: Kind) -> Result<Value, ArithError> {
    Ok(match kind {
        Kind::Int => Value::Int(d.trunc().to_i64().ok_or(ArithError::Overflow)?),
        Kind::Money => Value::Money(d),
        Kind::Pct => Value::Pct(d),
        Kind::Dur => Value::Dur(d.round().to_i64().ok_or(ArithError::Overflow)?),
        _ => Value::Dec(d),
    })
}

fn delta(secs: i64) -> Result<TimeDelta, ArithError> {
    TimeDelta::try_seconds(secs).ok_or(ArithError::Overflow)
}

/// Whole days of a duration, in seconds (rounded down).
fn whole_days(secs: i64) -> Result<TimeDelta, ArithError> {
    delta(
        secs.div_euclid(DAY)
            .checked_mul(DAY)
            .ok_or(ArithError::Overflow)?,
    )
}

fn dec_op(op: BinOp, x: Decimal, y: Decimal) -> Result<Decimal, ArithError> {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div => {
            if y.is_zero() {
                return Err(ArithError::DivideByZero);
            }
            x.checked_div(y)
        }
        _ => None,
    };
    r.ok_or(ArithError::Overflow)
}

/// `a op b` for `+ - * /`; `Absent` in gives `Absent` out.
pub fn arith(op: BinOp, a: &Value, b: &Value, kind: Kind) -> Result<Value, ArithError> {
    use Value as V;
    let ov = ArithError::Overflow;
    match (a, b) {
        (V::Absent, _) | (_, V::Absent) => Ok(V::Absent),
        // Dates and instants stay in years 1..=9999, which the record parser reads back.
        (V::Date(d), V::Dur(s)) | (V::Dur(s), V::Date(d)) if op == BinOp::Add => d
            .checked_add_signed(whole_days(*s)?)
            .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
            .map(V::Date)
            .ok_or(ov),
        (V::Date(d), V::Dur(s)) if op == BinOp::Sub => d
            .checked_sub_signed(whole_days(*s)?)
            .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
            .map(V::Date)
            .ok_or(ov),
        (V::DateTime(d), V::Dur(s)) | (V::Dur(s), V::DateTime(d)) if op == BinOp::Add => d
            .checked_add_signed(delta(*s)?)
            .filter(|t| crate::calendar::in_range(*t))
            .map(V::DateTime)
            .ok_or(ov),
        (V::DateTime(d), V::Dur(s)) if op == BinOp::Sub => d
            .checked_sub_signed(delta(*s)?)
            .filter(|t| crate::calendar::in_range(*t))
            .map(V::DateTime)
            .ok_or(ov),
        (V::Date(x), V::Date(y)) if op == BinOp::Sub => Ok(V::Dur((*x - *y).num_seconds())),
        (V::DateTime(x), V::DateTime(y)) if op == BinOp::Sub => Ok(V::Dur((*x - *y).num_seconds())),
        (V::Dur(x), V::Dur(y)) => match op {
            BinOp::Add => x.checked_add(*y).map(V::Dur).ok_or(ov),
            BinOp::Sub => x.checked_sub(*y).map(V::Dur).ok_or(ov),
            BinOp::Div => wrap(dec_op(op, Decimal::from(*x), Decimal::from(*y))?, kind),
            _ => Err(ov),
        },
        // Whole multiples of a duration stay in integers (same result as below).
        (V::Dur(s), V::Int(n)) | (V::Int(n), V::Dur(s)) if op == BinOp::Mul => {
            s.checked_mul(*n).map(V::Dur).ok_or(ov)
        }
        (V::Dur(s), n) | (n, V::Dur(s)) if op == BinOp::Mul && n.num().is_some() => {
            let r = dec_op(op, Decimal::from(*s), n.num().unwrap_or_default())?;
            wrap(r, Kind::Dur)
        }
        (V::Dur(s), n) if op == BinOp::Div && n.num().is_some() => {
            let r = dec_op(op, Decimal::from(*s), n.num().unwrap_or_default())?;
            wrap(r, Kind::Dur)
        }
        (V::Text(x), V::Text(y)) if op == BinOp::Add => Ok(V::Text(Arc::from(format!("{x}{y}")))),
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => {
                let r = dec_op(op, x, y)?;
                let kind = if kind == Kind::Other { Kind::Dec } else { kind };
                if kind == Kind::Int && op == BinOp::Div {
                    return wrap(r, Kind::Dec);
                }
                wrap(r, kind)
            }
            _ => Ok(V::Absent),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_strings_round_half_away_from_zero() {
        assert_eq!(money_str(Decimal::new(12345, 3)), "12.35");
        assert_eq!(money_str(Decimal::new(-12345, 3)), "-12.35");
        assert_eq!(money_str(Decimal::from(3600)), "3600.00");
        assert_eq!(money_str(Decimal::new(-5, 2)), "-0.05");
        assert_eq!(money_str(Decimal::ZERO), "0.00");
        for m in [
            1i64,
            7,
            99,
            100,
            101,
            123_456_789,
            -1,
            -100,
            -987_654_321_012,
        ] {
            let d = Decimal::new(m, 2);
            assert_eq!(money_str(d), d.to_string(), "{m}");
        }
    }

    #[test]
    fn money_strings_keep_two_places_near_the_decimal_maximum() {
        for d in [
            Decimal::MAX,
            Decimal::MIN,
            Decimal::MAX - Decimal::ONE,
            Decimal::MAX / Decimal::TEN,
            Decimal::MAX / Decimal::ONE_HUNDRED,
            Decimal::from_i128_with_scale(79_228_162_514_264_337_593_543_950_335, 1),
            Decimal::from_i128_with_scale(-79_228_162_514_264_337_593_543_950_335, 1),
        ] {
            let s = money_str(d);
            let (int, frac) = s.split_once('.').unwrap();
            assert_eq!(frac.len(), 2, "{d} -> {s}");
            assert!(
                int.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()),
                "{s}"
            );
            // The text is the value rounded to cents.
            assert_eq!(s.parse::<Decimal>().unwrap(), cents(d), "{d} -> {s}");
        }
        assert_eq!(money_str(Decimal::MAX), "79228162514264337593543950335.00");
        assert_eq!(
            money_str(Decimal::from_i128_with_scale(
                79_228_162_514_264_337_593_543_950_335,
                1
            )),
            "7922816251426433759354395033.50"
        );
    }

    #[test]
    fn percentages_render_without_overflow() {
        assert_eq!(pct_str(Decimal::new(15, 2)), "15%");
        assert_eq!(pct_str(Decimal::new(155, 3)), "15.5%");
        assert_eq!(pct_str(Decimal::new(1, 4)), "0.01%");
        assert_eq!(pct_str(Decimal::ONE), "100%");
        assert_eq!(pct_str(Decimal::new(-25, 2)), "-25%");
        assert_eq!(pct_str(Decimal::ZERO), "0%");
        assert_eq!(pct_str(Decimal::new(12, 0)), "1200%");
        assert_eq!(pct_str(Decimal::MAX), "7922816251426433759354395033500%");
        assert_eq!(pct_str(Decimal::MIN), "-7922816251426433759354395033500%");
        for d in [
            Decimal::new(7, 1),
            Decimal::new(123_456, 4),
            Decimal::new(-5, 3),
        ] {
            let want = format!("{}%", (d * Decimal::ONE_HUNDRED).normalize());
            assert_eq!(pct_str(d), want);
        }
    }

    #[test]
    fn durations_render_compactly() {
        assert_eq!(render_duration(90 * DAY), "90d");
        assert_eq!(render_duration(DAY + 3600 * 4 + 1800), "1d 4h 30min");
        assert_eq!(render_duration(0), "0s");
    }

    #[test]
    fn arithmetic_with_absent_is_absent_and_division_by_zero_errors() {
        assert_eq!(
            arith(BinOp::Add, &Value::Absent, &Value::Int(1), Kind::Int),
            Ok(Value::Absent)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Int(1), &Value::Int(0), Kind::Dec),
            Err(ArithError::DivideByZero)
        );
        // Durations near the `i64` range overflow instead of panicking.
        let date = Value::Date(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        for s in [i64::MIN, i64::MIN + 1, i64::MAX] {
            for op in [BinOp::Add, BinOp::Sub] {
                assert_eq!(
                    arith(op, &date, &Value::Dur(s), Kind::Date),
                    Err(ArithError::Overflow)
                );
            }
        }
        assert_eq!(
            arith(BinOp::Mul, &Value::Int(2), &Value::Dur(DAY), Kind::Dur),
            Ok(Value::Dur(2 * DAY))
        );
        assert_eq!(
            arith(
                BinOp::Mul,
                &Value::Money(Decimal::from(100)),
                &Value::Pct(Decimal::new(15, 2)),
                Kind::Money
            ),
            Ok(Value::Money(Decimal::new(1500, 2)))
        );
    }

    #[test]
    fn absent_never_compares() {
        assert_eq!(compare(&Value::Absent, &Value::Absent), None);
        assert_eq!(
            compare(&Value::Int(2), &Value::Money(Decimal::from(2))),
            Some(Ordering::Equal)
        );
    }
}
