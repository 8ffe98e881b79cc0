//! A small printer for AST expressions, used to show guards and conditions as the
//! author would write them (`amount < 10_000 USD`).

use dealflow_dsl::ast::{DurationUnit, Expr, ExprKind, Literal, Quantifier, UnOp};

/// Prints an expression in policy syntax.
pub fn print(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr, 0);
    out
}

fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Binary(op, _, _) => op.precedence(),
        ExprKind::Unary(UnOp::Not, _) => 3,
        ExprKind::Presence { .. } => 3,
        _ => u8::MAX,
    }
}

fn write_expr(out: &mut String, expr: &Expr, min_prec: u8) {
    let needs_parens = precedence(expr) < min_prec;
    if needs_parens {
        out.push('(');
    }
    match &expr.kind {
        ExprKind::Lit(lit) => write_literal(out, lit),
        ExprKind::Path(segments) => {
            let names: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
            out.push_str(&names.join("."));
        }
        ExprKind::List(items) => {
            out.push('[');
            write_list(out, items);
            out.push(']');
        }
        ExprKind::Unary(UnOp::Not, inner) => {
            out.push_str("not ");
            write_expr(out, inner, 3);
        }
        ExprKind::Unary(UnOp::Neg, inner) => {
            out.push('-');
            write_expr(out, inner, u8::MAX);
        }
        ExprKind::Binary(op, lhs, rhs) => {
            let prec = op.precedence();
            write_expr(out, lhs, prec);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            // Left-associative: a right operand of equal precedence needs parentheses.
            write_expr(out, rhs, prec.saturating_add(1));
        }
        ExprKind::Presence { present, expr } => {
            out.push_str(if *present { "present " } else { "missing " });
            write_expr(out, expr, 4);
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
            write_expr(out, list, 0);
            out.push_str(": ");
            write_expr(out, body, 0);
            out.push(')');
        }
        ExprKind::Call { func, args } => {
            out.push_str(&func.name);
            out.push('(');
            write_list(out, args);
            out.push(')');
        }
        ExprKind::Paren(inner) => {
            out.push('(');
            write_expr(out, inner, 0);
            out.push(')');
        }
    }
    if needs_parens {
        out.push(')');
    }
}

fn write_list(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_expr(out, item, 0);
    }
}

fn write_literal(out: &mut String, lit: &Literal) {
    match lit {
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::Integer(s) | Literal::Decimal(s) | Literal::Date(s) | Literal::DateTime(s) => {
            out.push_str(s)
        }
        Literal::Percent(s) => {
            out.push_str(s);
            out.push('%');
        }
        Literal::Money { amount, currency } => {
            out.push_str(amount);
            out.push(' ');
            out.push_str(currency);
        }
        Literal::Duration {
            amount,
            unit,
            business,
        } => {
            out.push_str(amount);
            if *business {
                let word = match unit {
                    DurationUnit::Minutes => "minutes",
                    DurationUnit::Hours => "hours",
                    DurationUnit::Days => "days",
                    DurationUnit::Weeks => "weeks",
                };
                out.push_str(" business ");
                out.push_str(word);
            } else {
                out.push_str(match unit {
                    DurationUnit::Minutes => "min",
                    DurationUnit::Hours => "h",
                    DurationUnit::Days => "d",
                    DurationUnit::Weeks => "w",
                });
            }
        }
        Literal::Text(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dealflow_dsl::ast::{BinOp, Ident};

    fn e(kind: ExprKind) -> Expr {
        Expr { kind, span: 0..0 }
    }
    fn path(p: &str) -> Expr {
        e(ExprKind::Path(
            p.split('.')
                .map(|s| Ident {
                    name: s.to_string(),
                    span: 0..0,
                })
                .collect(),
        ))
    }
    fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        e(ExprKind::Binary(op, Box::new(a), Box::new(b)))
    }

    #[test]
    fn prints_guards_with_money_and_precedence() {
        let money = e(ExprKind::Lit(Literal::Money {
            amount: "10_000".into(),
            currency: "USD".into(),
        }));
        let guard = bin(
            BinOp::And,
            bin(BinOp::Lt, path("amount"), money),
            path("strategic"),
        );
        assert_eq!(print(&guard), "amount < 10_000 USD and strategic");
        let or = bin(BinOp::Or, path("a"), path("b"));
        assert_eq!(print(&bin(BinOp::And, or, path("c"))), "(a or b) and c");
        let sub = bin(BinOp::Sub, path("a"), bin(BinOp::Sub, path("b"), path("c")));
        assert_eq!(print(&sub), "a - (b - c)");
    }

    #[test]
    fn prints_literals_and_text_escapes() {
        let text = e(ExprKind::Lit(Literal::Text("say \"hi\"".into())));
        assert_eq!(print(&text), "\"say \\\"hi\\\"\"");
        let dur = e(ExprKind::Lit(Literal::Duration {
            amount: "16".into(),
            unit: DurationUnit::Hours,
            business: true,
        }));
        assert_eq!(print(&dur), "16 business hours");
        let list = e(ExprKind::List(vec![path("Gold"), path("Platinum")]));
        assert_eq!(
            print(&bin(BinOp::In, path("partner.tier"), list)),
            "partner.tier in [Gold, Platinum]"
        );
    }
}
