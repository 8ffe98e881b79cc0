//! Pest pairs -> owned AST. Every node gets the byte span of its pair.
//!
//! The grammar guarantees the shape of every pair, but the conversion still never
//! panics: a missing child becomes an internal syntax diagnostic. Expression depth is
//! bounded by [`MAX_EXPR_DEPTH`] so later passes may recurse freely.

use std::collections::VecDeque;

use pest::iterators::{Pair, Pairs};

use super::{internal_error, Rule, MAX_EXPR_DEPTH};
use crate::ast::*;
use crate::diagnostics::{Code, Diagnostic};

type Res<T> = Result<T, Diagnostic>;

/// The span of a pair, without the trailing whitespace and comments pest includes when
/// a rule ends with an optional part that did not match (`field` in `a: int // c`).
/// The end is that of the last token inside: non-atomic rules are made only of rules.
fn span(p: &Pair<'_, Rule>) -> Span {
    let start = p.as_span().start();
    let mut last = p.clone();
    while !is_atomic(last.as_rule()) {
        // `next_back` is O(1); `last` would build every child on the way.
        match last.clone().into_inner().next_back() {
            Some(child) => last = child,
            None => break,
        }
    }
    start..last.as_span().end().max(start)
}

/// Rules with no implicit whitespace inside (their span is exact).
fn is_atomic(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::path | Rule::percent | Rule::money | Rule::duration | Rule::business_duration
    )
}

fn ident(p: &Pair<'_, Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span(p),
    }
}

/// A quoted text with its escapes resolved.
fn string(p: &Pair<'_, Rule>) -> Str {
    let raw = p.as_str();
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Spanned::new(out, span(p))
}

/// The text of a pair as a spanned string (dates, times of day).
fn raw(p: &Pair<'_, Rule>) -> Str {
    Spanned::new(p.as_str().to_string(), span(p))
}

/// The children of a rule pair, sorted by kind, in source order.
struct Parts<'i> {
    span: Span,
    exprs: VecDeque<Expr>,
    idents: VecDeque<Ident>,
    strings: VecDeque<Str>,
    because: Option<Str>,
    reject: Option<Str>,
    /// Every other child (keywords, sub-rules), punctuation excluded.
    rest: Vec<Pair<'i, Rule>>,
}

impl<'i> Parts<'i> {
    fn of(pair: Pair<'i, Rule>) -> Res<Self> {
        let mut parts = Parts {
            span: span(&pair),
            exprs: VecDeque::new(),
            idents: VecDeque::new(),
            strings: VecDeque::new(),
            because: None,
            reject: None,
            rest: Vec::new(),
        };
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::expr => parts.exprs.push_back(expr(child, 0)?),
                Rule::ident => parts.idents.push_back(ident(&child)),
                Rule::string => parts.strings.push_back(string(&child)),
                Rule::because => parts.because = first_string(child),
                Rule::reject => parts.reject = first_string(child),
                Rule::lbrace
                | Rule::rbrace
                | Rule::lparen
                | Rule::rparen
                | Rule::lbracket
                | Rule::rbracket
                | Rule::langle
                | Rule::rangle
                | Rule::comma
                | Rule::colon
                | Rule::arrow
                | Rule::minus
                | Rule::assign => {}
                _ => parts.rest.push(child),
            }
        }
        Ok(parts)
    }

    fn expr(&mut self) -> Res<Expr> {
        self.exprs
            .pop_front()
            .ok_or_else(|| internal_error(self.span.clone()))
    }

    fn ident(&mut self) -> Res<Ident> {
        self.idents
            .pop_front()
            .ok_or_else(|| internal_error(self.span.clone()))
    }

    fn string(&mut self) -> Res<Str> {
        self.strings
            .pop_front()
            .ok_or_else(|| internal_error(self.span.clone()))
    }

    fn has(&self, rule: Rule) -> bool {
        self.rest.iter().any(|p| p.as_rule() == rule)
    }
}

fn first_string(pair: Pair<'_, Rule>) -> Option<Str> {
    pair.into_inner()
        .find(|p| p.as_rule() == Rule::string)
        .map(|p| string(&p))
}

// ---------------------------------------------------------------- items

/// Converts a successful parse of `Rule::file`.
pub(super) fn policy(mut pairs: Pairs<'_, Rule>, comments: Vec<Comment>) -> Res<Policy> {
    let file = pairs.next().ok_or_else(|| internal_error(0..0))?;
    let mut items = Vec::new();
    for pair in file.into_inner() {
        let item = match pair.as_rule() {
            Rule::header => Item::Header(header(pair)?),
            Rule::record => Item::Record(record(pair)?),
            Rule::stage => Item::Stage(stage(pair)?),
            Rule::flow => Item::Flow(flow(pair)?),
            Rule::registration => Item::Registration(section(pair, reg_rule)?),
            Rule::cosell => Item::Cosell(section(pair, cosell_rule)?),
            Rule::commission => Item::Commission(section(pair, commission_rule)?),
            Rule::hygiene => Item::Hygiene(section(pair, hygiene_rule)?),
            Rule::leads => Item::Leads(section(pair, lead_rule)?),
            _ => continue,
        };
        items.push(item);
    }
    Ok(Policy { items, comments })
}

fn header(pair: Pair<'_, Rule>) -> Res<Header> {
    let mut p = Parts::of(pair)?;
    let name = p.string()?;
    let version = p.string()?;
    let mut settings = Vec::new();
    for child in std::mem::take(&mut p.rest) {
        match child.as_rule() {
            Rule::currency_setting => {
                let mut c = Parts::of(child)?;
                settings.push(HeaderSetting::Currency(c.ident()?));
            }
            Rule::calendar => settings.push(HeaderSetting::Calendar(calendar(child)?)),
            _ => {}
        }
    }
    Ok(Header {
        name,
        version,
        settings,
        span: p.span,
    })
}

fn calendar(pair: Pair<'_, Rule>) -> Res<Calendar> {
    let mut p = Parts::of(pair)?;
    let name = p.ident()?;
    let mut entries = Vec::new();
    for child in std::mem::take(&mut p.rest) {
        match child.as_rule() {
            Rule::timezone => entries.push(CalendarEntry::Timezone(Parts::of(child)?.string()?)),
            Rule::hours => {
                let mut h = Parts::of(child)?;
                let times: Vec<Str> = h
                    .rest
                    .iter()
                    .filter(|t| t.as_rule() == Rule::time_of_day)
                    .map(raw)
                    .collect();
                let [start, end] =
                    <[Str; 2]>::try_from(times).map_err(|_| internal_error(h.span.clone()))?;
                let first_day = h.ident()?;
                let last_day = h.idents.pop_front();
                entries.push(CalendarEntry::Hours {
                    first_day,
                    last_day,
                    start,
                    end,
                    span: h.span,
                });
            }
            Rule::holidays => {
                let h = Parts::of(child)?;
                entries.push(CalendarEntry::Holidays(
                    h.rest
                        .iter()
                        .filter(|d| d.as_rule() == Rule::date)
                        .map(raw)
                        .collect(),
                ));
            }
            _ => {}
        }
    }
    Ok(Calendar {
        name,
        entries,
        span: p.span,
    })
}

fn record(pair: Pair<'_, Rule>) -> Res<Record> {
    let mut p = Parts::of(pair)?;
    let name = p.ident()?;
    let mut members = Vec::new();
    for child in std::mem::take(&mut p.rest) {
        match child.as_rule() {
            Rule::field => members.push(RecordMember::Field(field(child)?)),
            Rule::evidence => {
                let sp = span(&child);
                let fields = child
                    .into_inner()
                    .filter(|f| f.as_rule() == Rule::field)
                    .map(field)
                    .collect::<Res<Vec<_>>>()?;
                members.push(RecordMember::Evidence { fields, span: sp });
            }
            _ => {}
        }
    }
    Ok(Record {
        name,
        members,
        span: p.span,
    })
}

fn field(pair: Pair<'_, Rule>) -> Res<Field> {
    let mut p = Parts::of(pair)?;
    let name = p.ident()?;
    let range = match p.rest.iter().position(|t| t.as_rule() == Rule::field_range) {
        Some(i) => Some(Box::new(field_range(p.rest.swap_remove(i))?)),
        None => None,
    };
    let ty = p
        .rest
        .drain(..)
        .find(|t| t.as_rule() == Rule::type_expr)
        .ok_or_else(|| internal_error(p.span.clone()))
        .and_then(type_expr)?;
    let default = p.exprs.pop_front();
    Ok(Field {
        name,
        ty,
        range,
        default,
        span: p.span,
    })
}

/// `in low .. high`: a bound before `..` is the low one.
fn field_range(pair: Pair<'_, Rule>) -> Res<FieldRange> {
    let sp = span(&pair);
    let (mut low, mut high, mut after_dots) = (None, None, false);
    for child in pair.into_inner() {
        match child.as_rule() {
            Rule::dotdot => after_dots = true,
            Rule::range_bound => {
                let bound = range_bound(child)?;
                if after_dots {
                    high = Some(bound);
                } else {
                    low = Some(bound);
                }
            }
            _ => {}
        }
    }
    Ok(FieldRange {
        low,
        high,
        span: sp,
    })
}

/// `-50%` or `10_000 USD` as an expression.
fn range_bound(pair: Pair<'_, Rule>) -> Res<Expr> {
    let sp = span(&pair);
    let mut negated = false;
    let mut lit = None;
    for child in pair.into_inner() {
        if child.as_rule() == Rule::minus {
            negated = true;
        } else {
            let lsp = span(&child);
            lit = Some(Expr {
                kind: ExprKind::Lit(literal(child)?),
                span: lsp,
            });
        }
    }
    let lit = lit.ok_or_else(|| internal_error(sp.clone()))?;
    Ok(if negated {
        Expr {
            kind: ExprKind::Unary(UnOp::Neg, Box::new(lit)),
            span: sp,
        }
    } else {
        lit
    })
}

fn type_expr(pair: Pair<'_, Rule>) -> Res<TypeExpr> {
    let whole = span(&pair);
    let mut inner = pair.into_inner();
    let atom = inner.next().ok_or_else(|| internal_error(whole.clone()))?;
    let atom_span = span(&atom);
    let kind = match atom.as_rule() {
        Rule::named_type => {
            let name = atom
                .into_inner()
                .next()
                .ok_or_else(|| internal_error(atom_span.clone()))?;
            TypeKind::Named(ident(&name))
        }
        Rule::enum_type => TypeKind::Enum(
            atom.into_inner()
                .filter(|v| v.as_rule() == Rule::ident)
                .map(|v| ident(&v))
                .collect(),
        ),
        Rule::list_type => {
            let elem = atom
                .into_inner()
                .find(|t| t.as_rule() == Rule::type_expr)
                .ok_or_else(|| internal_error(atom_span.clone()))?;
            TypeKind::List(Box::new(type_expr(elem)?))
        }
        _ => return Err(internal_error(atom_span)),
    };
    let mut ty = TypeExpr {
        kind,
        span: atom_span,
    };
    for q in inner.filter(|q| q.as_rule() == Rule::question) {
        let sp = ty.span.start..span(&q).end;
        ty = TypeExpr {
            kind: TypeKind::Optional(Box::new(ty)),
            span: sp,
        };
    }
    Ok(ty)
}

fn stage(pair: Pair<'_, Rule>) -> Res<Stage> {
    let mut p = Parts::of(pair)?;
    let kind = if p.has(Rule::kw_won) {
        StageKind::Won
    } else if p.has(Rule::kw_lost) {
        StageKind::Lost
    } else {
        StageKind::Open
    };
    let name = p.ident()?;
    let label = p.strings.pop_front();
    let mut props = Vec::new();
    for child in std::mem::take(&mut p.rest) {
        let rule = child.as_rule();
        if !matches!(
            rule,
            Rule::probability | Rule::forecast | Rule::expected | Rule::requires
        ) {
            continue;
        }
        let mut c = Parts::of(child)?;
        props.push(match rule {
            Rule::probability => StageProp::Probability(c.expr()?),
            Rule::forecast => StageProp::Forecast(c.ident()?),
            Rule::expected => StageProp::Expected(c.expr()?),
            _ => StageProp::Requires(Requirement {
                items: c.exprs.into(),
                because: c.because,
                span: c.span,
            }),
        });
    }
    Ok(Stage {
        kind,
        name,
        label,
        props,
        span: p.span,
    })
}

fn flow(pair: Pair<'_, Rule>) -> Res<Flow> {
    let sp = span(&pair);
    let mut rules = Vec::new();
    for child in pair.into_inner().filter(|c| c.as_rule() == Rule::flow_rule) {
        let mut p = Parts::of(child)?;
        let mut chain = Vec::new();
        for r in std::mem::take(&mut p.rest)
            .into_iter()
            .filter(|r| r.as_rule() == Rule::stage_ref)
        {
            let rs = span(&r);
            let inner = r
                .into_inner()
                .next()
                .ok_or_else(|| internal_error(rs.clone()))?;
            chain.push(match inner.as_rule() {
                Rule::kw_any => StageRef::Any(rs),
                _ => StageRef::Named(ident(&inner)),
            });
        }
        rules.push(FlowRule {
            chain,
            guard: p.exprs.pop_front(),
            because: p.because,
            span: p.span,
        });
    }
    Ok(Flow { rules, span: sp })
}

fn section<R>(pair: Pair<'_, Rule>, rule: fn(Pair<'_, Rule>) -> Res<Option<R>>) -> Res<Section<R>> {
    let sp = span(&pair);
    let mut rules = Vec::new();
    for child in pair.into_inner() {
        if let Some(r) = rule(child)? {
            rules.push(r);
        }
    }
    Ok(Section { rules, span: sp })
}

fn reg_rule(pair: Pair<'_, Rule>) -> Res<Option<RegRule>> {
    let rule = pair.as_rule();
    let mut p = Parts::of(pair)?;
    let span = p.span.clone();
    Ok(Some(match rule {
        Rule::open_from => RegRule::OpenFrom {
            stage: p.ident()?,
            span,
        },
        Rule::eligible => RegRule::Eligible {
            when: p.expr()?,
            because: p.because,
            span,
        },
        Rule::duplicate => {
            let within = p
                .exprs
                .pop_back()
                .ok_or_else(|| internal_error(span.clone()))?;
            RegRule::Duplicate {
                keys: p.exprs.into(),
                within,
                span,
            }
        }
        Rule::conflict_protected => RegRule::ConflictProtected {
            keys: p.exprs.into(),
            reject: p.reject,
            span,
        },
        Rule::conflict => RegRule::Conflict {
            when: p.expr()?,
            reject: p.reject,
            span,
        },
        Rule::auto_approve => RegRule::AutoApprove {
            when: p.expr()?,
            span,
        },
        Rule::review => RegRule::Review {
            queue: p.ident()?,
            within: p.expr()?,
            span,
        },
        Rule::escalate => RegRule::Escalate {
            to: p.ident()?,
            after: p.expr()?,
            span,
        },
        Rule::protect => RegRule::Protect {
            duration: p.expr()?,
            span,
        },
        Rule::extend => RegRule::Extend {
            by: p.expr()?,
            on: p.ident()?,
            at_most: p.exprs.pop_front(),
            span,
        },
        Rule::late => RegRule::Late {
            when: p.expr()?,
            span,
        },
        Rule::discount => RegRule::Discount {
            rate: p.expr()?,
            when: p.exprs.pop_front(),
            span,
        },
        _ => return Ok(None),
    }))
}

fn cosell_rule(pair: Pair<'_, Rule>) -> Res<Option<CosellRule>> {
    let rule = pair.as_rule();
    let mut p = Parts::of(pair)?;
    let span = p.span.clone();
    Ok(Some(match rule {
        Rule::pool => CosellRule::Pool {
            name: p.ident()?,
            label: p.strings.pop_front(),
            capacity: p.expr()?,
            per: p.ident()?,
            span,
        },
        Rule::assign_rule => CosellRule::Assign {
            pool: p.ident()?,
            when: p.expr()?,
            priority: p.exprs.pop_front(),
            span,
        },
        Rule::never => CosellRule::Never {
            pool: p.idents.pop_front(),
            when: p.expr()?,
            because: p.because,
            span,
        },
        _ => return Ok(None),
    }))
}

fn commission_rule(pair: Pair<'_, Rule>) -> Res<Option<CommissionRule>> {
    let rule = pair.as_rule();
    let mut p = Parts::of(pair)?;
    let span = p.span.clone();
    Ok(Some(match rule {
        Rule::attribute => CommissionRule::Attribute {
            when: p.expr()?,
            because: p.because,
            span,
        },
        Rule::rate => {
            let mode = if p.has(Rule::kw_unique) {
                MatchMode::Unique
            } else {
                MatchMode::First
            };
            let rows = std::mem::take(&mut p.rest)
                .into_iter()
                .filter(|r| r.as_rule() == Rule::rate_row)
                .map(rate_row)
                .collect::<Res<Vec<_>>>()?;
            CommissionRule::Rate(RateTable {
                keys: p.exprs.into(),
                mode,
                rows,
                span,
            })
        }
        Rule::rebate => CommissionRule::Rebate {
            name: p.ident()?,
            rate: p.expr()?,
            when: p.expr()?,
            span,
        },
        Rule::split => {
            let shares = std::mem::take(&mut p.rest)
                .into_iter()
                .filter(|r| r.as_rule() == Rule::split_share)
                .map(|s| {
                    let mut s = Parts::of(s)?;
                    Ok(SplitShare {
                        role: s.ident()?,
                        share: s.expr()?,
                        span: s.span,
                    })
                })
                .collect::<Res<Vec<_>>>()?;
            CommissionRule::Split {
                when: p.exprs.pop_front(),
                shares,
                span,
            }
        }
        _ => return Ok(None),
    }))
}

fn rate_row(pair: Pair<'_, Rule>) -> Res<RateRow> {
    let mut p = Parts::of(pair)?;
    let mut patterns = Vec::new();
    for pat in std::mem::take(&mut p.rest)
        .into_iter()
        .filter(|r| r.as_rule() == Rule::pattern)
    {
        let ps = span(&pat);
        let inner = pat
            .into_inner()
            .next()
            .ok_or_else(|| internal_error(ps.clone()))?;
        patterns.push(match inner.as_rule() {
            Rule::wildcard => Pattern::Wildcard(ps),
            _ => Pattern::Value(expr(inner, 0)?),
        });
    }
    Ok(RateRow {
        patterns,
        rate: p.expr()?,
        span: p.span,
    })
}

fn hygiene_rule(pair: Pair<'_, Rule>) -> Res<Option<HygieneRule>> {
    let rule = pair.as_rule();
    let mut p = Parts::of(pair)?;
    let span = p.span.clone();
    Ok(Some(match rule {
        Rule::flag => HygieneRule::Flag {
            name: p.ident()?,
            when: p.expr()?,
            because: p.because,
            span,
        },
        Rule::exclude => HygieneRule::Exclude {
            when: p.expr()?,
            span,
        },
        Rule::downweight => HygieneRule::Downweight {
            factor: p.expr()?,
            when: p.expr()?,
            span,
        },
        _ => return Ok(None),
    }))
}

fn lead_rule(pair: Pair<'_, Rule>) -> Res<Option<LeadRule>> {
    let rule = pair.as_rule();
    let mut p = Parts::of(pair)?;
    let span = p.span.clone();
    Ok(Some(match rule {
        Rule::route => LeadRule::Route {
            when: p.expr()?,
            because: p.because,
            span,
        },
        Rule::prefer => {
            let keys = std::mem::take(&mut p.rest)
                .into_iter()
                .filter(|k| k.as_rule() == Rule::prefer_key)
                .map(|k| {
                    let mut k = Parts::of(k)?;
                    Ok(PreferKey {
                        descending: k.has(Rule::kw_desc),
                        expr: k.expr()?,
                    })
                })
                .collect::<Res<Vec<_>>>()?;
            LeadRule::Prefer { keys, span }
        }
        Rule::accept => LeadRule::Accept {
            within: p.expr()?,
            reroute_at_most: p.exprs.pop_front(),
            span,
        },
        Rule::convert => LeadRule::Convert {
            to: p.ident()?,
            when: p.exprs.pop_front(),
            span,
        },
        _ => return Ok(None),
    }))
}

// ---------------------------------------------------------------- expressions

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::new(Code::Syntax, span, "this expression is too complex")
        .label(format!("more than {MAX_EXPR_DEPTH} nested operations"))
        .help("split it into smaller rules, or flags that later rules can use")
}

fn binop(rule: Rule) -> Option<BinOp> {
    Some(match rule {
        Rule::op_or => BinOp::Or,
        Rule::op_and => BinOp::And,
        Rule::op_eq => BinOp::Eq,
        Rule::op_ne => BinOp::Ne,
        Rule::op_lt => BinOp::Lt,
        Rule::op_le => BinOp::Le,
        Rule::op_gt => BinOp::Gt,
        Rule::op_ge => BinOp::Ge,
        Rule::op_in => BinOp::In,
        Rule::op_not_in => BinOp::NotIn,
        Rule::op_add => BinOp::Add,
        Rule::op_sub => BinOp::Sub,
        Rule::op_mul => BinOp::Mul,
        Rule::op_div => BinOp::Div,
        _ => return None,
    })
}

/// Converts any expression-layer pair. `depth` is the depth of the resulting node in
/// the expression tree; deeper than [`MAX_EXPR_DEPTH`] is an error.
///
/// Layers with a single child (most of them: `x` alone is eight nested layers) are
/// skipped in a loop, and each construct is converted in its own function, so one
/// level of brackets costs two small stack frames.
fn expr(pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
    let pair = skip_single_layers(pair);
    if depth > MAX_EXPR_DEPTH {
        return Err(too_deep(span(&pair)));
    }
    match pair.as_rule() {
        Rule::expr | Rule::and_expr | Rule::cmp_expr | Rule::sum_expr | Rule::prod_expr => {
            chain(pair, depth)
        }
        Rule::not_expr | Rule::neg_expr => prefixed(pair, depth),
        Rule::presence_expr => presence(pair, depth),
        _ => atom(pair, depth),
    }
}

fn skip_single_layers(mut pair: Pair<'_, Rule>) -> Pair<'_, Rule> {
    loop {
        let layer = matches!(
            pair.as_rule(),
            Rule::expr
                | Rule::and_expr
                | Rule::not_expr
                | Rule::cmp_expr
                | Rule::sum_expr
                | Rule::prod_expr
                | Rule::neg_expr
                | Rule::presence_expr
        );
        if !layer {
            return pair;
        }
        let mut children = pair.clone().into_inner();
        match (children.next(), children.next()) {
            (Some(only), None) => pair = only,
            _ => return pair,
        }
    }
}

/// `a op b op c`, left-associative.
fn chain(pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
    let sp = span(&pair);
    let children: Vec<_> = pair.into_inner().collect();
    let ops = children.len() / 2;
    if depth + ops > MAX_EXPR_DEPTH {
        return Err(too_deep(sp));
    }
    let mut iter = children.into_iter();
    let first = iter.next().ok_or_else(|| internal_error(sp.clone()))?;
    let mut acc = expr(first, depth + ops)?;
    while let (Some(op), Some(rhs)) = (iter.next(), iter.next()) {
        let op = binop(op.as_rule()).ok_or_else(|| internal_error(sp.clone()))?;
        let rhs = expr(rhs, depth + ops)?;
        let s = acc.span.start..rhs.span.end;
        acc = Expr {
            kind: ExprKind::Binary(op, Box::new(acc), Box::new(rhs)),
            span: s,
        };
    }
    Ok(acc)
}

/// `not not x`, `- -x`.
fn prefixed(pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
    let sp = span(&pair);
    let op = if pair.as_rule() == Rule::not_expr {
        UnOp::Not
    } else {
        UnOp::Neg
    };
    let mut children: Vec<_> = pair.into_inner().collect();
    let operand = children.pop().ok_or_else(|| internal_error(sp.clone()))?;
    if depth + children.len() > MAX_EXPR_DEPTH {
        return Err(too_deep(sp));
    }
    let mut acc = expr(operand, depth + children.len())?;
    for prefix in children.iter().rev() {
        let s = span(prefix).start..acc.span.end;
        acc = Expr {
            kind: ExprKind::Unary(op, Box::new(acc)),
            span: s,
        };
    }
    Ok(acc)
}

/// `present x`, `missing x`.
fn presence(pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
    let sp = span(&pair);
    let mut children: Vec<_> = pair.into_inner().collect();
    let operand = children.pop().ok_or_else(|| internal_error(sp.clone()))?;
    let present = children
        .first()
        .is_some_and(|p| p.as_rule() == Rule::kw_present);
    let kind = ExprKind::Presence {
        present,
        expr: Box::new(expr(operand, depth + 1)?),
    };
    Ok(Expr { kind, span: sp })
}

/// Brackets, calls, quantifiers, paths and literals.
fn atom(pair: Pair<'_, Rule>, depth: usize) -> Res<Expr> {
    let sp = span(&pair);
    let kind = match pair.as_rule() {
        Rule::paren => {
            let inner = pair.into_inner().find(|p| p.as_rule() == Rule::expr);
            ExprKind::Paren(Box::new(expr(
                inner.ok_or_else(|| internal_error(sp.clone()))?,
                depth + 1,
            )?))
        }
        Rule::list => ExprKind::List(sub_exprs(pair, depth)?),
        Rule::call => {
            let mut inner = pair.into_inner();
            let name = inner.next().ok_or_else(|| internal_error(sp.clone()))?;
            let args = inner
                .filter(|p| p.as_rule() == Rule::expr)
                .map(|p| expr(p, depth + 1))
                .collect::<Res<_>>()?;
            ExprKind::Call {
                func: ident(&name),
                args,
            }
        }
        Rule::quant => quant(pair, depth)?,
        Rule::path => ExprKind::Path(pair.into_inner().map(|p| ident(&p)).collect()),
        _ => ExprKind::Lit(literal(pair)?),
    };
    Ok(Expr { kind, span: sp })
}

/// `any(x in xs: body)` and friends.
fn quant(pair: Pair<'_, Rule>, depth: usize) -> Res<ExprKind> {
    let sp = span(&pair);
    let mut inner = pair.into_inner();
    let kw = inner.next().ok_or_else(|| internal_error(sp.clone()))?;
    let q = match kw.as_str() {
        "any" => Quantifier::Any,
        "all" => Quantifier::All,
        "count" => Quantifier::Count,
        _ => Quantifier::Sum,
    };
    let var = inner
        .find(|p| p.as_rule() == Rule::ident)
        .ok_or_else(|| internal_error(sp.clone()))?;
    let mut exprs = inner.filter(|p| p.as_rule() == Rule::expr);
    let list = exprs.next().ok_or_else(|| internal_error(sp.clone()))?;
    let body = exprs.next().ok_or_else(|| internal_error(sp.clone()))?;
    Ok(ExprKind::Quant {
        q,
        var: ident(&var),
        list: Box::new(expr(list, depth + 1)?),
        body: Box::new(expr(body, depth + 1)?),
    })
}

fn sub_exprs(pair: Pair<'_, Rule>, depth: usize) -> Res<Vec<Expr>> {
    pair.into_inner()
        .filter(|p| p.as_rule() == Rule::expr)
        .map(|p| expr(p, depth + 1))
        .collect()
}

fn literal(pair: Pair<'_, Rule>) -> Res<Literal> {
    let sp = span(&pair);
    let text = pair.as_str();
    let rule = pair.as_rule();
    let child_text = |r: Rule| -> Res<String> {
        pair.clone()
            .into_inner()
            .find(|p| p.as_rule() == r)
            .map(|p| p.as_str().to_string())
            .ok_or_else(|| internal_error(sp.clone()))
    };
    Ok(match rule {
        Rule::kw_true => Literal::Bool(true),
        Rule::kw_false => Literal::Bool(false),
        Rule::number if text.contains('.') => Literal::Decimal(text.to_string()),
        Rule::number => Literal::Integer(text.to_string()),
        Rule::percent => Literal::Percent(child_text(Rule::amount)?),
        Rule::money => Literal::Money {
            amount: child_text(Rule::amount)?,
            currency: child_text(Rule::currency)?,
        },
        Rule::duration => {
            let unit = match child_text(Rule::duration_unit)?.as_str() {
                "min" => DurationUnit::Minutes,
                "h" => DurationUnit::Hours,
                "w" => DurationUnit::Weeks,
                _ => DurationUnit::Days,
            };
            Literal::Duration {
                amount: child_text(Rule::amount)?,
                unit,
                business: false,
            }
        }
        Rule::business_duration => {
            let unit = match child_text(Rule::business_unit)?.trim_end_matches('s') {
                "minute" => DurationUnit::Minutes,
                "hour" => DurationUnit::Hours,
                "week" => DurationUnit::Weeks,
                _ => DurationUnit::Days,
            };
            Literal::Duration {
                amount: child_text(Rule::amount)?,
                unit,
                business: true,
            }
        }
        Rule::date => Literal::Date(text.to_string()),
        Rule::datetime => Literal::DateTime(text.to_string()),
        Rule::string => Literal::Text(string(&pair).node),
        _ => return Err(internal_error(sp)),
    })
}

/// Converts one expression pair (for the grammar unit tests).
#[cfg(test)]
pub(super) fn expr_for_tests(pair: Pair<'_, Rule>) -> Res<Expr> {
    expr(pair, 0)
}
