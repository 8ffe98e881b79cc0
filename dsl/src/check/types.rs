//! Type expressions (`money`, `enum { A, B }`, `list<text>`, `date?`) and the type
//! rules shared by the expression checker: compatibility, ordering, arithmetic.

use std::collections::HashMap;

use super::names::{did_you_mean, record_kind};
use super::Checker;
use crate::ast::{self, BinOp, TypeKind};
use crate::diagnostics::Code;
use crate::ir::{RecordKind, Type};

/// Names of the scalar types, as written in a policy.
pub(crate) const SCALARS: [(&str, Type); 10] = [
    ("bool", Type::Bool),
    ("integer", Type::Integer),
    ("decimal", Type::Decimal),
    ("money", Type::Money),
    ("percent", Type::Percent),
    ("date", Type::Date),
    ("datetime", Type::DateTime),
    ("duration", Type::Duration),
    ("business_duration", Type::BusinessDuration),
    ("text", Type::Text),
];

/// The type without its outer `?` (absent values are handled at run time).
pub(crate) fn strip(t: &Type) -> &Type {
    match t {
        Type::Optional(inner) => strip(inner),
        other => other,
    }
}

pub(crate) fn is_optional(t: &Type) -> bool {
    matches!(t, Type::Optional(_))
}

/// Wraps `t` in `?` when `optional` (never twice).
pub(crate) fn maybe_optional(t: Type, optional: bool) -> Type {
    if optional && !is_optional(&t) {
        Type::Optional(Box::new(t))
    } else {
        t
    }
}

/// Plain numbers (promote to each other).
pub(crate) fn is_number(t: &Type) -> bool {
    matches!(t, Type::Integer | Type::Decimal)
}

/// Numbers, money and percentages (valid `priority` values).
pub(crate) fn is_numeric(t: &Type) -> bool {
    matches!(
        t,
        Type::Integer | Type::Decimal | Type::Money | Type::Percent
    )
}

pub(crate) fn is_bool(t: &Type) -> bool {
    matches!(strip(t), Type::Bool)
}

/// Whether values of the two types can be compared with `==` (optionals unify with
/// their inner type; integers and decimals promote).
pub(crate) fn compatible(a: &Type, b: &Type) -> bool {
    let (a, b) = (strip(a), strip(b));
    match (a, b) {
        (Type::List(x), Type::List(y)) => compatible(x, y),
        _ => a == b || (is_number(a) && is_number(b)),
    }
}

/// Whether `<`, `<=`, `>`, `>=`, `min` and `max` apply to the type.
pub(crate) fn is_ordered(t: &Type) -> bool {
    matches!(
        strip(t),
        Type::Integer
            | Type::Decimal
            | Type::Money
            | Type::Percent
            | Type::Date
            | Type::DateTime
            | Type::Duration
            | Type::BusinessDuration
            | Type::Enum(_)
            | Type::Stage
    )
}

/// The common type of two compatible types (decimal wins over integer).
pub(crate) fn unify(a: &Type, b: &Type) -> Type {
    let optional = is_optional(a) || is_optional(b);
    let (sa, sb) = (strip(a), strip(b));
    let t = if is_number(sa) && is_number(sb) && sa != sb {
        Type::Decimal
    } else {
        sa.clone()
    };
    maybe_optional(t, optional)
}

/// The result type of arithmetic on two (non-optional) operand types.
///
/// `integer / integer` is a decimal (no silent truncation).
pub(crate) fn arith(op: BinOp, a: &Type, b: &Type) -> Option<Type> {
    use BinOp::{Add, Div, Mul, Sub};
    use Type::*;
    let num = is_number;
    let t = match (op, a, b) {
        (Div, Integer, Integer) => Decimal,
        (Add | Sub | Mul, Integer, Integer) => Integer,
        (Add | Sub | Mul | Div, x, y) if num(x) && num(y) => Decimal,
        (Add | Sub, Money, Money) => Money,
        (Mul, Money, y) if num(y) || *y == Percent => Money,
        (Mul, x, Money) if num(x) || *x == Percent => Money,
        (Div, Money, Money) => Decimal,
        (Div, Money, y) if num(y) => Money,
        (Add | Sub | Mul, Percent, Percent) => Percent,
        (Mul | Div, Percent, y) if num(y) => Percent,
        (Mul, x, Percent) if num(x) => Percent,
        (Add | Sub, Duration, Duration) => Duration,
        (Add | Sub, BusinessDuration, BusinessDuration) => BusinessDuration,
        (Mul | Div, d @ (Duration | BusinessDuration), y) if num(y) || *y == Percent => d.clone(),
        (Mul, x, d @ (Duration | BusinessDuration)) if num(x) || *x == Percent => d.clone(),
        (Div, Duration, Duration) | (Div, BusinessDuration, BusinessDuration) => Decimal,
        (Add | Sub, Date, Duration) | (Add, Duration, Date) => Date,
        (Add | Sub, DateTime, Duration) | (Add, Duration, DateTime) => DateTime,
        (Sub, Date, Date) | (Sub, DateTime, DateTime) => Duration,
        _ => return None,
    };
    Some(t)
}

impl Checker<'_> {
    /// A type as the policy author writes it: `money`, `list<text>`, `tier` (an enum
    /// is named after the field that declared it), `stage`.
    pub(crate) fn type_name(&self, t: &Type) -> String {
        match t {
            Type::Enum(id) => match self.enum_def(*id) {
                Some(def) => format!("enum {}", def.name),
                None => "enum".into(),
            },
            Type::Stage => "stage".into(),
            Type::Record(kind) => kind.name().into(),
            Type::List(inner) => format!("list<{}>", self.type_name(inner)),
            Type::Optional(inner) => format!("{}?", self.type_name(inner)),
            other => SCALARS
                .iter()
                .find(|(_, s)| s == other)
                .map(|(n, _)| (*n).to_string())
                .unwrap_or_default(),
        }
    }

    /// An example literal of a type, for help messages.
    pub(crate) fn example(&self, t: &Type) -> String {
        match strip(t) {
            Type::Bool => "true".into(),
            Type::Integer => "10".into(),
            Type::Decimal => "2.5".into(),
            Type::Money => format!("10_000 {}", self.currency_or_usd()),
            Type::Percent => "15%".into(),
            Type::Date => "2026-12-25".into(),
            Type::DateTime => "2026-12-25T09:00:00Z".into(),
            Type::Duration => "90d".into(),
            Type::BusinessDuration => "16 business hours".into(),
            Type::Text => "\"text\"".into(),
            Type::Enum(id) => self
                .enum_def(*id)
                .and_then(|d| d.variants.first().cloned())
                .unwrap_or_else(|| "A".into()),
            Type::Stage => self
                .stages
                .first()
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "Qualification".into()),
            Type::List(inner) => format!("[{}]", self.example(inner)),
            Type::Record(_) | Type::Optional(_) => "...".into(),
        }
    }

    pub(crate) fn currency_or_usd(&self) -> &str {
        if self.currency.is_empty() {
            "USD"
        } else {
            &self.currency
        }
    }

    /// The likely fix when a value of type `found` appears where `expected` was wanted.
    pub(crate) fn mismatch_help(&self, expected: &Type, found: &Type) -> Option<String> {
        let (e, f) = (strip(expected), strip(found));
        let cur = self.currency_or_usd();
        match (e, f) {
            (Type::Money, x) if is_number(x) => {
                Some(format!("write the amount with its currency, like `10_000 {cur}`"))
            }
            (Type::Duration, Type::BusinessDuration) | (Type::BusinessDuration, Type::Duration) => Some(
                "calendar durations (`90d`) and business durations (`16 business hours`) cannot be mixed".into(),
            ),
            (Type::Duration, x) if is_number(x) => Some("write a duration like `90d`".into()),
            (Type::BusinessDuration, x) if is_number(x) => {
                Some("write a business duration like `16 business hours`".into())
            }
            (Type::Percent, x) if is_number(x) => Some("write a percentage like `15%`".into()),
            (Type::Date, Type::DateTime) | (Type::DateTime, Type::Date) => {
                Some("use `date(...)` to turn a datetime into a date".into())
            }
            (Type::Stage, Type::Text) => {
                Some(format!("write the stage name without quotes, like `stage == {}`", self.example(e)))
            }
            (Type::Enum(_), Type::Text) => {
                Some(format!("write the value without quotes, like `{}`", self.example(e)))
            }
            (x, Type::Money) if is_number(x) => Some(format!(
                "a {} cannot be compared with money; compare with a plain number or declare the field as `money`",
                self.type_name(x)
            )),
            (Type::Bool, _) => Some(format!("write a condition, like `amount >= 10_000 {cur}`")),
            _ => None,
        }
    }

    /// Resolves the type of `record.field`. Enums become [`crate::ir::EnumDef`]s
    /// named after the field.
    pub(crate) fn resolve_type(
        &mut self,
        te: &ast::TypeExpr,
        record: RecordKind,
        field: &str,
    ) -> Option<Type> {
        self.resolve_type_in(te, record, field, false)
    }

    fn resolve_type_in(
        &mut self,
        te: &ast::TypeExpr,
        record: RecordKind,
        field: &str,
        in_list: bool,
    ) -> Option<Type> {
        match &te.kind {
            TypeKind::Named(id) => {
                if let Some((_, t)) = SCALARS.iter().find(|(n, _)| *n == id.name) {
                    return Some(t.clone());
                }
                if let Some(kind) = record_kind(&id.name) {
                    if kind == RecordKind::LineItem && in_list && record == RecordKind::Opportunity
                    {
                        return Some(Type::Record(kind));
                    }
                    let d = Self::diag(Code::UnknownName, &id.span, format!("record `{}` cannot be a field type here", id.name))
                        .label("not a field type")
                        .help("only `line_item` can be used as a type, as `list<line_item>` in `record opportunity`");
                    self.emit(d);
                    return None;
                }
                let names = SCALARS
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(["enum", "list", "line_item"]);
                let mut d = Self::diag(
                    Code::UnknownName,
                    &id.span,
                    format!("unknown type `{}`", id.name),
                )
                .label("not a type");
                d = match did_you_mean(&id.name, names) {
                    Some(h) => d.help(h),
                    None => d.help("types are bool, integer, decimal, money, percent, date, datetime, duration, business_duration, text, enum { ... }, list<T> and T?"),
                };
                self.emit(d);
                None
            }
            TypeKind::Enum(variants) => {
                if variants.is_empty() {
                    let d = Self::diag(
                        Code::MalformedDeclaration,
                        &te.span,
                        "an enum needs at least one value",
                    )
                    .label("empty enum")
                    .help("list the values, like `enum { Core, Security }`");
                    self.emit(d);
                    return None;
                }
                let mut seen: HashMap<&str, &ast::Ident> = HashMap::new();
                let mut ok = true;
                for v in variants {
                    if let Some(first) = seen.get(v.name.as_str()) {
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &v.span,
                            format!("enum value `{}` is declared twice", v.name),
                        )
                        .label("declared again here")
                        .related(first.span.clone(), "first declared here")
                        .help("remove the repeated value");
                        self.emit(d);
                        ok = false;
                    } else {
                        seen.insert(&v.name, v);
                    }
                }
                if !ok {
                    return None;
                }
                let names = variants.iter().map(|v| v.name.clone()).collect();
                Some(Type::Enum(self.add_enum(field, names, te.span.clone())))
            }
            TypeKind::List(inner) => {
                let t = self.resolve_type_in(inner, record, field, true)?;
                Some(Type::List(Box::new(t)))
            }
            TypeKind::Optional(inner) => {
                let t = self.resolve_type_in(inner, record, field, in_list)?;
                Some(maybe_optional(t, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_rules() {
        assert_eq!(
            arith(BinOp::Mul, &Type::Integer, &Type::Duration),
            Some(Type::Duration)
        );
        assert_eq!(
            arith(BinOp::Mul, &Type::Money, &Type::Percent),
            Some(Type::Money)
        );
        assert_eq!(
            arith(BinOp::Div, &Type::Money, &Type::Money),
            Some(Type::Decimal)
        );
        assert_eq!(
            arith(BinOp::Sub, &Type::Date, &Type::Date),
            Some(Type::Duration)
        );
        assert_eq!(
            arith(BinOp::Add, &Type::Date, &Type::Duration),
            Some(Type::Date)
        );
        assert_eq!(arith(BinOp::Add, &Type::Money, &Type::Integer), None);
        assert_eq!(
            arith(BinOp::Add, &Type::Duration, &Type::BusinessDuration),
            None
        );
        assert_eq!(
            arith(BinOp::Div, &Type::Integer, &Type::Integer),
            Some(Type::Decimal)
        );
    }

    #[test]
    fn compatibility_and_order() {
        let opt = Type::Optional(Box::new(Type::Date));
        assert!(compatible(&opt, &Type::Date));
        assert!(compatible(&Type::Integer, &Type::Decimal));
        assert!(!compatible(&Type::Money, &Type::Integer));
        assert!(is_ordered(&Type::Stage));
        assert!(!is_ordered(&Type::Text));
        assert_eq!(unify(&Type::Integer, &opt_dec()), opt_dec());
    }

    fn opt_dec() -> Type {
        Type::Optional(Box::new(Type::Decimal))
    }
}
