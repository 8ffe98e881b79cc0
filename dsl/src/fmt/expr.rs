//! Expressions, literals and types in canonical spacing.
//!
//! `Paren` nodes are printed as written. Parentheses are added only where a
//! hand-built tree puts an expression where the grammar cannot read it back
//! without them (a looser operator under a tighter one, a comparison under a
//! comparison); the parser never produces such a tree.

use std::fmt::Write as _;

use crate::ast::{
    BinOp, DurationUnit, Expr, ExprKind, Ident, Literal, Pattern, Quantifier, TypeExpr, TypeKind,
    UnOp,
};

/// An expression as canonical text.
pub(super) fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

/// Comma-separated expressions: `a, b, c`.
pub(super) fn expr_list(items: &[Expr]) -> String {
    items.iter().map(expr).collect::<Vec<_>>().join(", ")
}

/// A rate-table pattern: `_` or a value.
pub(super) fn pattern(p: &Pattern) -> String {
    match p {
        Pattern::Wildcard(_) => "_".to_string(),
        Pattern::Value(e) => expr(e),
    }
}

/// A type: `money`, `enum { A, B }`, `list<T>`, `T?`.
pub(super) fn type_expr(t: &TypeExpr) -> String {
    match &t.kind {
        TypeKind::Named(name) => name.name.clone(),
        TypeKind::Enum(variants) if variants.is_empty() => "enum {}".to_string(),
        TypeKind::Enum(variants) => format!("enum {{ {} }}", idents(variants)),
        TypeKind::List(inner) => format!("list<{}>", type_expr(inner)),
        TypeKind::Optional(inner) => format!("{}?", type_expr(inner)),
    }
}

/// Comma-separated identifiers.
pub(super) fn idents(ids: &[Ident]) -> String {
    ids.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A string literal, quoted and re-escaped.
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Lit(lit) => write_literal(out, lit),
        ExprKind::Path(segments) => {
            for (i, seg) in segments.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(&seg.name);
            }
        }
        ExprKind::List(items) => {
            out.push('[');
            write_comma_separated(out, items);
            out.push(']');
        }
        ExprKind::Unary(op, operand) => {
            let (text, min_level) = match op {
                UnOp::Not => ("not ", NOT_LEVEL),
                UnOp::Neg => ("-", NEG_LEVEL),
            };
            out.push_str(text);
            if *op == UnOp::Neg && matches!(operand.kind, ExprKind::Unary(UnOp::Neg, _)) {
                // `- -x`, not `--x`
                out.push(' ');
            }
            write_at_level(out, operand, min_level);
        }
        ExprKind::Binary(op, lhs, rhs) => {
            let prec = op.precedence();
            let (lhs_level, rhs_level) = if is_comparison(*op) {
                (prec + 1, prec + 1)
            } else {
                (prec, prec + 1)
            };
            write_at_level(out, lhs, lhs_level);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            write_at_level(out, rhs, rhs_level);
        }
        ExprKind::Presence { present, expr } => {
            out.push_str(if *present { "present " } else { "missing " });
            write_at_level(out, expr, PRIMARY_LEVEL);
        }
        ExprKind::Quant { q, var, list, body } => {
            out.push_str(match q {
                Quantifier::Any => "any",
                Quantifier::All => "all",
                Quantifier::Count => "count",
                Quantifier::Sum => "sum",
            });
            out.push('(');
            out.push_str(&var.name);
            out.push_str(" in ");
            write_expr(out, list);
            out.push_str(": ");
            write_expr(out, body);
            out.push(')');
        }
        ExprKind::Call { func, args } => {
            out.push_str(&func.name);
            out.push('(');
            write_comma_separated(out, args);
            out.push(')');
        }
        ExprKind::Paren(inner) => {
            out.push('(');
            write_expr(out, inner);
            out.push(')');
        }
    }
}

fn write_comma_separated(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_expr(out, item);
    }
}

/// Grammar level of `not` (between `and` and the comparisons).
const NOT_LEVEL: u8 = 3;
/// Grammar level of prefix `-` (tighter than `*`).
const NEG_LEVEL: u8 = 7;
/// Grammar level of `present x` / `missing x`.
const PRESENCE_LEVEL: u8 = 8;
/// Grammar level of literals, paths, lists, calls, quantifiers and parentheses.
const PRIMARY_LEVEL: u8 = 9;

/// How tightly an expression binds, on the grammar's scale (binary operators use
/// [`BinOp::precedence`]).
fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) => op.precedence(),
        ExprKind::Unary(UnOp::Not, _) => NOT_LEVEL,
        ExprKind::Unary(UnOp::Neg, _) => NEG_LEVEL,
        ExprKind::Presence { .. } => PRESENCE_LEVEL,
        _ => PRIMARY_LEVEL,
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq
            | BinOp::Ne
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::In
            | BinOp::NotIn
    )
}

/// Writes `e` where the grammar expects at least `min_level`, adding parentheses
/// when a hand-built tree puts a looser expression there.
fn write_at_level(out: &mut String, e: &Expr, min_level: u8) {
    if level(e) < min_level {
        out.push('(');
        write_expr(out, e);
        out.push(')');
    } else {
        write_expr(out, e);
    }
}

fn write_literal(out: &mut String, lit: &Literal) {
    match lit {
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::Integer(text)
        | Literal::Decimal(text)
        | Literal::Date(text)
        | Literal::DateTime(text) => {
            out.push_str(text);
        }
        Literal::Percent(number) => {
            out.push_str(number);
            out.push('%');
        }
        Literal::Money { amount, currency } => {
            let _ = write!(out, "{amount} {currency}");
        }
        Literal::Duration {
            amount,
            unit,
            business,
        } => write_duration(out, amount, *unit, *business),
        Literal::Text(text) => out.push_str(&quoted(text)),
    }
}

fn write_duration(out: &mut String, amount: &str, unit: DurationUnit, business: bool) {
    if business {
        let word = match unit {
            DurationUnit::Minutes => "minute",
            DurationUnit::Hours => "hour",
            DurationUnit::Days => "day",
            DurationUnit::Weeks => "week",
        };
        let plural = if amount == "1" { "" } else { "s" };
        let _ = write!(out, "{amount} business {word}{plural}");
    } else {
        let suffix = match unit {
            DurationUnit::Minutes => "min",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
            DurationUnit::Weeks => "w",
        };
        out.push_str(amount);
        out.push_str(suffix);
    }
}
