//! Expressions: name resolution by scope, and typing.
//!
//! Scope rules:
//! - opportunity fields are in scope unqualified or as `opportunity.x`; `partner.x`
//!   and `account.x` reach the declared fields of those records;
//! - `item.x` (the current line item) only inside commission rate-table keys and
//!   rebate conditions;
//! - inside `leads`, only `lead.x`, `partner.x`, `now` and `today`;
//! - hygiene flag names only inside `hygiene`, and only flags defined earlier;
//! - `approved` only in `discount ... when`;
//! - quantifier variables (`li` in `any(li in line_items: ...)`) shadow everything.
//!
//! A bare identifier that is none of these resolves by the type the context expects:
//! a stage name where a stage is expected (`stage >= Negotiation`), an enum value
//! where the other operand is that enum (`partner.tier in [Gold, Platinum]`).
//!
//! Optional values unify with their inner type (an absent value makes a comparison
//! false at run time), and `bool?` is accepted wherever a condition is expected.

use super::literals::peel;
use super::names::{
    builtin, builtin_dotted, builtin_fields, builtin_type, did_you_mean, list_names, record_kind,
    suggest, FUNCS, LEADS_SINGLE, OPPORTUNITY_SINGLE, ROOTS,
};
use super::types::{
    arith, compatible, is_bool, is_numeric, is_optional, is_ordered, maybe_optional, strip, unify,
};
use super::Checker;
use crate::ast::{self, BinOp, ExprKind, Ident, Quantifier, Span, UnOp};
use crate::diagnostics::Code;
use crate::ir::{self, Builtin, Const, Func, RecordKind, Type};

/// Which records an expression is evaluated over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// An opportunity (with its partner, account and history).
    Opportunity,
    /// A lead and a candidate partner (`leads` section).
    Leads,
}

/// A quantifier-bound variable.
struct Var {
    name: String,
    id: u32,
    ty: Type,
}

/// The hygiene flags, in declaration order, with an index by name (so resolving a
/// flag name is a hash lookup, not a scan of every flag).
#[derive(Debug, Default)]
pub(crate) struct FlagTable {
    names: Vec<String>,
    index: std::collections::HashMap<String, u32>,
}

impl FlagTable {
    /// Adds a flag; returns `false` (and adds nothing) when the name is taken.
    pub(crate) fn insert(&mut self, name: &str) -> bool {
        if self.index.contains_key(name) {
            return false;
        }
        let Ok(pos) = u32::try_from(self.names.len()) else {
            return false;
        };
        self.index.insert(name.to_string(), pos);
        self.names.push(name.to_string());
        true
    }

    /// The position of a flag by name.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).map(|&p| p as usize)
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// No flags (every scope outside `hygiene`).
static NO_FLAGS: std::sync::LazyLock<FlagTable> = std::sync::LazyLock::new(FlagTable::default);

/// What names an expression may use.
pub(crate) struct Scope<'s> {
    pub(crate) ctx: Ctx,
    /// `item.x` is the current line item.
    pub(crate) item: bool,
    /// `approved` means the registration is approved.
    pub(crate) approved: bool,
    /// Every flag of the hygiene section, in order (empty elsewhere).
    pub(crate) flags: &'s FlagTable,
    /// How many of `flags` are defined before this expression.
    pub(crate) visible_flags: usize,
    vars: Vec<Var>,
}

impl<'s> Scope<'s> {
    /// Plain opportunity scope.
    pub(crate) fn opportunity() -> Self {
        Self {
            ctx: Ctx::Opportunity,
            item: false,
            approved: false,
            flags: &NO_FLAGS,
            visible_flags: 0,
            vars: Vec::new(),
        }
    }

    /// Lead-routing scope.
    pub(crate) fn leads() -> Self {
        Self {
            ctx: Ctx::Leads,
            ..Self::opportunity()
        }
    }

    /// Opportunity scope with `item.x`.
    pub(crate) fn with_item() -> Self {
        Self {
            item: true,
            ..Self::opportunity()
        }
    }

    /// Opportunity scope with `approved`.
    pub(crate) fn with_approved() -> Self {
        Self {
            approved: true,
            ..Self::opportunity()
        }
    }

    /// Hygiene scope: the first `visible` of `flags` are usable.
    pub(crate) fn hygiene(flags: &'s FlagTable, visible: usize) -> Self {
        Self {
            flags,
            visible_flags: visible,
            ..Self::opportunity()
        }
    }

    fn var(&self, name: &str) -> Option<&Var> {
        self.vars.iter().rev().find(|v| v.name == name)
    }
}

fn mk(kind: ir::ExprKind, ty: Type, span: &Span) -> ir::Expr {
    ir::Expr {
        kind,
        ty,
        span: span.clone(),
    }
}

/// A literal, a negated literal, or a list of those (blamed first in mismatches).
fn is_literalish(e: &ast::Expr) -> bool {
    match &peel(e).kind {
        ExprKind::Lit(_) => true,
        ExprKind::Unary(UnOp::Neg, inner) => matches!(peel(inner).kind, ExprKind::Lit(_)),
        ExprKind::List(items) => !items.is_empty() && items.iter().all(is_literalish),
        _ => false,
    }
}

fn quant_name(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Any => "any",
        Quantifier::All => "all",
        Quantifier::Count => "count",
        Quantifier::Sum => "sum",
    }
}

fn func_usage(f: Func) -> &'static str {
    match f {
        Func::DaysBetween => "days_between(close_date, today)",
        Func::Days => "days(days_in_stage)",
        Func::Len => "len(line_items)",
        Func::Date => "date(now)",
        Func::Min => "min(a, b)",
        Func::Max => "max(a, b)",
        Func::Lower => "lower(text)",
    }
}

impl Checker<'_> {
    /// Checks a condition: a `bool` (or `bool?`) expression. `what` names the position
    /// (`when`, `requires`, ...).
    pub(crate) fn cond(
        &mut self,
        e: &ast::Expr,
        sc: &mut Scope<'_>,
        what: &str,
    ) -> Option<ir::Expr> {
        let x = self.expr(e, sc, Some(&Type::Bool))?;
        if is_bool(&x.ty) {
            return Some(x);
        }
        let found = self.shown_type(&x.ty);
        let d = Self::diag(
            Code::TypeMismatch,
            &e.span,
            format!("`{what}` needs a condition, found {found}"),
        )
        .label(format!("this is {found}, not `bool`"))
        .help(self.mismatch_help(&Type::Bool, &x.ty).unwrap_or_default());
        self.emit(d);
        None
    }

    /// Types an expression. `hint` is the type the context expects; it only decides
    /// what a bare stage or enum value name means.
    pub(crate) fn expr(
        &mut self,
        e: &ast::Expr,
        sc: &mut Scope<'_>,
        hint: Option<&Type>,
    ) -> Option<ir::Expr> {
        match &e.kind {
            ExprKind::Lit(lit) => {
                let (c, t) = self.literal(lit, &e.span, false)?;
                Some(mk(ir::ExprKind::Const(c), t, &e.span))
            }
            ExprKind::Path(segs) => self.path(segs, &e.span, sc, hint),
            ExprKind::List(items) => self.list(items, &e.span, sc, hint),
            ExprKind::Unary(UnOp::Not, inner) => {
                let x = self.expr(inner, sc, Some(&Type::Bool))?;
                if !is_bool(&x.ty) {
                    let found = self.shown_type(&x.ty);
                    let d = Self::diag(
                        Code::TypeMismatch,
                        &inner.span,
                        format!("`not` needs a condition, found {found}"),
                    )
                    .label(format!("this is {found}"))
                    .help(self.mismatch_help(&Type::Bool, &x.ty).unwrap_or_default());
                    self.emit(d);
                    return None;
                }
                Some(mk(
                    ir::ExprKind::Unary(UnOp::Not, Box::new(x)),
                    Type::Bool,
                    &e.span,
                ))
            }
            ExprKind::Unary(UnOp::Neg, inner) => {
                if let ExprKind::Lit(lit) = &peel(inner).kind {
                    let (c, t) = self.literal(lit, &e.span, true)?;
                    return Some(mk(ir::ExprKind::Const(c), t, &e.span));
                }
                let x = self.expr(inner, sc, None)?;
                match strip(&x.ty) {
                    Type::Integer | Type::Decimal | Type::Money | Type::Percent => {
                        let ty = x.ty.clone();
                        Some(mk(ir::ExprKind::Unary(UnOp::Neg, Box::new(x)), ty, &e.span))
                    }
                    other => {
                        let found = self.shown_type(other);
                        let help = if matches!(other, Type::Duration | Type::BusinessDuration) {
                            "durations cannot be negative; subtract instead, like `now - 90d`"
                        } else {
                            "only numbers, money and percentages can be negated"
                        };
                        let d = Self::diag(
                            Code::TypeMismatch,
                            &e.span,
                            format!("cannot negate {found}"),
                        )
                        .label(format!("this is {found}"))
                        .help(help);
                        self.emit(d);
                        None
                    }
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, &e.span, sc),
            ExprKind::Presence { present, expr } => {
                let x = self.expr(expr, sc, None)?;
                let is_path = matches!(peel(expr).kind, ExprKind::Path(_));
                if !is_path && !is_optional(&x.ty) {
                    let kw = if *present { "present" } else { "missing" };
                    let d = Self::diag(
                        Code::TypeMismatch,
                        &expr.span,
                        format!("`{kw}` needs a field"),
                    )
                    .label("not a field")
                    .help(format!("test a field, like `{kw} decision_maker`"));
                    self.emit(d);
                    return None;
                }
                Some(mk(
                    ir::ExprKind::Presence {
                        present: *present,
                        expr: Box::new(x),
                    },
                    Type::Bool,
                    &e.span,
                ))
            }
            ExprKind::Quant { q, var, list, body } => self.quant(*q, var, list, body, &e.span, sc),
            ExprKind::Call { func, args } => self.call(func, args, &e.span, sc),
            ExprKind::Paren(inner) => {
                let mut x = self.expr(inner, sc, hint)?;
                x.span = e.span.clone();
                Some(x)
            }
        }
    }

    // ------------------------------------------------------------ names

    /// The one-segment built-in `name` if the scope allows it.
    fn single_builtin(&self, name: &str, sc: &Scope<'_>) -> Option<Builtin> {
        match sc.ctx {
            Ctx::Opportunity if OPPORTUNITY_SINGLE.contains(&name) => builtin(name),
            Ctx::Opportunity if name == "approved" && sc.approved => Some(Builtin::Approved),
            Ctx::Leads if LEADS_SINGLE.contains(&name) => builtin(name),
            _ => None,
        }
    }

    /// Whether a bare name means something on its own (without a type hint).
    fn resolves(&self, name: &str, sc: &Scope<'_>) -> bool {
        sc.var(name).is_some()
            || sc.flags.position(name).is_some()
            || (sc.ctx == Ctx::Opportunity && self.field(RecordKind::Opportunity, name).is_some())
            || self.single_builtin(name, sc).is_some()
            || (sc.ctx == Ctx::Opportunity && self.is_poisoned(RecordKind::Opportunity, name))
    }

    /// Whether an operand needs the other operand's type to be understood (a bare
    /// stage/enum value name or a list containing one).
    fn is_contextual(&self, e: &ast::Expr, sc: &Scope<'_>) -> bool {
        match &peel(e).kind {
            ExprKind::Path(segs) => match segs.as_slice() {
                [one] => !self.resolves(&one.name, sc),
                _ => false,
            },
            ExprKind::List(items) => items.iter().any(|i| self.is_contextual(i, sc)),
            _ => false,
        }
    }

    fn path(
        &mut self,
        segs: &[Ident],
        span: &Span,
        sc: &mut Scope<'_>,
        hint: Option<&Type>,
    ) -> Option<ir::Expr> {
        match segs {
            [one] => self.name(one, span, sc, hint),
            [root, field] => self.dotted(root, field, span, sc),
            _ => {
                let full: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
                let d = Self::diag(
                    Code::UnknownField,
                    span,
                    format!("unknown field `{}`", full.join(".")),
                )
                .label("no such field")
                .help("fields are one level deep, like `partner.tier`");
                self.emit(d);
                None
            }
        }
    }

    fn name(
        &mut self,
        id: &Ident,
        span: &Span,
        sc: &mut Scope<'_>,
        hint: Option<&Type>,
    ) -> Option<ir::Expr> {
        let name = id.name.as_str();
        if let Some(v) = sc.var(name) {
            return Some(mk(ir::ExprKind::Var(v.id), v.ty.clone(), span));
        }
        if let Some(pos) = sc.flags.position(name) {
            if pos < sc.visible_flags {
                return Some(mk(ir::ExprKind::Flag(pos as u32), Type::Bool, span));
            }
            let d = Self::diag(Code::UnknownName, span, format!("flag `{name}` is used before it is defined"))
                .label("defined later")
                .help(format!(
                    "a flag can only use flags defined above it; move `flag {name}` before this rule or do not refer to it here"
                ));
            self.emit(d);
            return None;
        }
        if sc.ctx == Ctx::Opportunity {
            if let Some((slot, def)) = self.field(RecordKind::Opportunity, name) {
                let ty = def.ty.clone();
                return Some(mk(
                    ir::ExprKind::Field {
                        record: RecordKind::Opportunity,
                        slot,
                    },
                    ty,
                    span,
                ));
            }
        }
        if let Some(b) = self.single_builtin(name, sc) {
            return Some(mk(ir::ExprKind::Builtin(b), builtin_type(b), span));
        }
        if sc.ctx == Ctx::Opportunity && self.is_poisoned(RecordKind::Opportunity, name) {
            return None;
        }
        match hint.map(strip) {
            Some(Type::Stage) => {
                let s = self.stage_ref(id)?;
                Some(mk(ir::ExprKind::Const(Const::Stage(s)), Type::Stage, span))
            }
            Some(Type::Enum(eid)) => {
                let eid = *eid;
                let index = self.enum_variant(id, eid)?;
                Some(mk(
                    ir::ExprKind::Const(Const::Enum { id: eid, index }),
                    Type::Enum(eid),
                    span,
                ))
            }
            other => {
                let text_expected = matches!(other, Some(Type::Text));
                self.unknown_name(id, span, sc, text_expected);
                None
            }
        }
    }

    fn unknown_name(&mut self, id: &Ident, span: &Span, sc: &Scope<'_>, text_expected: bool) {
        let name = id.name.as_str();
        if name == "approved" {
            let d = Self::diag(
                Code::UnknownField,
                span,
                "`approved` is only available in `discount ... when`",
            )
            .label("not available here")
            .help("use `registration.approved`");
            self.emit(d);
            return;
        }
        if sc.ctx == Ctx::Leads
            && (self.field(RecordKind::Opportunity, name).is_some()
                || OPPORTUNITY_SINGLE.contains(&name))
        {
            let d = Self::diag(
                Code::UnknownField,
                span,
                format!("`{name}` is not available in `leads`"),
            )
            .label("opportunity fields are not in scope here")
            .help("lead rules see only `lead.x`, `partner.x`, `now` and `today`");
            self.emit(d);
            return;
        }
        let mut candidates: Vec<&str> = sc.vars.iter().map(|v| v.name.as_str()).collect();
        candidates.extend(sc.flags.names().take(sc.visible_flags));
        if sc.ctx == Ctx::Opportunity {
            if let Some(r) = self.record(RecordKind::Opportunity) {
                candidates.extend(r.fields.iter().map(|f| f.name.as_str()));
            }
            candidates.extend(OPPORTUNITY_SINGLE);
        } else {
            candidates.extend(LEADS_SINGLE);
        }
        let help = if let Some(h) = self.did_you_mean_in(name, &candidates) {
            h
        } else if text_expected {
            format!("write text in quotes, like `\"{name}\"`")
        } else if self.stage_ids.contains_key(name) {
            format!(
                "`{name}` is a stage; compare the current stage with it, like `stage == {name}`"
            )
        } else if let Some(def) = self
            .enums
            .iter()
            .find(|d| d.variants.iter().any(|v| v == name))
        {
            format!("`{name}` is a value of `{}`; compare a field of that type with it, like `{} == {name}`", def.name, def.name)
        } else if let Some(kind) = record_kind(name).filter(|_| name != "line_item") {
            let example = self
                .record(kind)
                .and_then(|r| r.fields.first())
                .map(|f| f.name.clone())
                .unwrap_or_else(|| "x".into());
            let root = if kind == RecordKind::LineItem {
                "item"
            } else {
                name
            };
            format!("`{name}` is a record; use one of its fields, like `{root}.{example}`")
        } else if sc.ctx == Ctx::Leads {
            "lead rules see only `lead.x`, `partner.x`, `now` and `today`".into()
        } else {
            format!("declare it in `record opportunity {{ {name}: ... }}`")
        };
        let label = if sc.ctx == Ctx::Opportunity {
            "not a field of `opportunity`"
        } else {
            "not a known name"
        };
        let d = Self::diag(Code::UnknownField, span, format!("unknown field `{name}`"))
            .label(label)
            .help(help);
        self.emit(d);
    }

    fn dotted(
        &mut self,
        root: &Ident,
        field: &Ident,
        span: &Span,
        sc: &mut Scope<'_>,
    ) -> Option<ir::Expr> {
        let full = format!("{}.{}", root.name, field.name);
        if let Some(v) = sc.var(&root.name) {
            let (vid, vty) = (v.id, v.ty.clone());
            if let Type::Record(kind) = strip(&vty) {
                let kind = *kind;
                if let Some((slot, def)) = self.field(kind, &field.name) {
                    let ty = def.ty.clone();
                    return Some(mk(ir::ExprKind::VarField { var: vid, slot }, ty, span));
                }
                return self.missing_field(kind, &root.name, field, span, &full);
            }
            let shown = self.shown_type(&vty);
            let d = Self::diag(Code::UnknownField, span, format!("unknown field `{full}`"))
                .label(format!("`{}` is {shown}", root.name))
                .help(format!("`{}` is {shown}; it has no fields", root.name));
            self.emit(d);
            return None;
        }
        let leads = sc.ctx == Ctx::Leads;
        match root.name.as_str() {
            "opportunity" | "account" | "stage" | "registration" | "cosell" if leads => {
                let d = Self::diag(
                    Code::UnknownField,
                    span,
                    format!("`{full}` is not available in `leads`"),
                )
                .label("not in scope here")
                .help("lead rules see only `lead.x`, `partner.x`, `now` and `today`");
                self.emit(d);
                None
            }
            "opportunity" => {
                self.record_field(RecordKind::Opportunity, "opportunity", field, span, &full)
            }
            "partner" => self.record_field(RecordKind::Partner, "partner", field, span, &full),
            "account" if field.name == "direct_owned" => {
                let b = Builtin::AccountDirectOwned;
                Some(mk(ir::ExprKind::Builtin(b), builtin_type(b), span))
            }
            "account" => self.record_field(RecordKind::Account, "account", field, span, &full),
            "item" if sc.item => {
                self.record_field(RecordKind::LineItem, "item", field, span, &full)
            }
            "item" => {
                let d = Self::diag(Code::UnknownField, span, format!("`{full}` is only available in commission rate-table keys and rebate conditions"))
                    .label("no current line item here")
                    .help(format!("look at the line items with a quantifier, like `any(li in line_items: li.{} ...)`", field.name));
                self.emit(d);
                None
            }
            "lead" if leads => self.record_field(RecordKind::Lead, "lead", field, span, &full),
            "lead" => {
                let d = Self::diag(
                    Code::UnknownField,
                    span,
                    format!("`{full}` is only available in `leads`"),
                )
                .label("no lead here")
                .help(
                    "use `lead.x` in `route`, `prefer` and `convert` rules of the `leads` section",
                );
                self.emit(d);
                None
            }
            r @ ("stage" | "registration" | "cosell") => {
                if let Some(b) = builtin_dotted(r, &field.name) {
                    return Some(mk(ir::ExprKind::Builtin(b), builtin_type(b), span));
                }
                let fields = builtin_fields(r);
                let help = match suggest(&field.name, fields.iter().copied()) {
                    Some(s) => format!("did you mean `{r}.{s}`?"),
                    None => format!("`{r}` has {}", list_names(fields.iter().copied(), 12)),
                };
                let d = Self::diag(
                    Code::UnknownName,
                    span,
                    format!("unknown built-in `{full}`"),
                )
                .label("not a built-in")
                .help(help);
                self.emit(d);
                None
            }
            _ => {
                if !leads {
                    if let Some((_, def)) = self.field(RecordKind::Opportunity, &root.name) {
                        let shown = self.shown_type(&def.ty);
                        let d =
                            Self::diag(Code::UnknownField, span, format!("unknown field `{full}`"))
                                .label(format!("`{}` is {shown}", root.name))
                                .help(format!("`{}` is {shown}; it has no fields", root.name));
                        self.emit(d);
                        return None;
                    }
                }
                let mut roots: Vec<&str> = ROOTS.to_vec();
                roots.extend(sc.vars.iter().map(|v| v.name.as_str()));
                let help = did_you_mean(&root.name, roots).unwrap_or_else(|| {
                    "a dotted name starts with `opportunity`, `partner`, `account`, `item`, `lead`, `stage`, `registration` or `cosell`".into()
                });
                let d = Self::diag(
                    Code::UnknownName,
                    &root.span,
                    format!("unknown name `{}`", root.name),
                )
                .label("not a record or built-in")
                .help(help);
                self.emit(d);
                None
            }
        }
    }

    fn record_field(
        &mut self,
        kind: RecordKind,
        root: &str,
        field: &Ident,
        span: &Span,
        full: &str,
    ) -> Option<ir::Expr> {
        if let Some((slot, def)) = self.field(kind, &field.name) {
            let ty = def.ty.clone();
            return Some(mk(ir::ExprKind::Field { record: kind, slot }, ty, span));
        }
        self.missing_field(kind, root, field, span, full)
    }

    fn missing_field(
        &mut self,
        kind: RecordKind,
        root: &str,
        field: &Ident,
        span: &Span,
        full: &str,
    ) -> Option<ir::Expr> {
        if self.is_poisoned(kind, &field.name) {
            return None;
        }
        let rec = kind.name();
        let d = if !self.record_declared(kind) {
            Self::diag(Code::UnknownField, span, format!("unknown field `{full}`"))
                .label(format!("the policy declares no `record {rec}`"))
                .help(format!(
                    "declare it in `record {rec} {{ {}: ... }}`",
                    field.name
                ))
        } else {
            let names = self
                .record(kind)
                .map(|r| r.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>());
            let names = names.unwrap_or_default();
            let help = match suggest(&field.name, names.iter().copied()) {
                Some(s) => format!("did you mean `{root}.{s}`?"),
                None => format!("declare `{}` in `record {rec}`", field.name),
            };
            Self::diag(Code::UnknownField, span, format!("unknown field `{full}`"))
                .label(format!("not a field of `{rec}`"))
                .help(help)
        };
        self.emit(d);
        None
    }

    // ------------------------------------------------------------ compound

    fn list(
        &mut self,
        items: &[ast::Expr],
        span: &Span,
        sc: &mut Scope<'_>,
        hint: Option<&Type>,
    ) -> Option<ir::Expr> {
        let elem_hint = match hint.map(strip) {
            Some(Type::List(t)) => Some((**t).clone()),
            _ => None,
        };
        let mut out = Vec::with_capacity(items.len());
        let mut elem_ty: Option<Type> = None;
        let mut ok = true;
        for item in items {
            let h = elem_hint.clone().or_else(|| elem_ty.clone());
            let Some(x) = self.expr(item, sc, h.as_ref()) else {
                ok = false;
                continue;
            };
            match &elem_ty {
                None => elem_ty = Some(x.ty.clone()),
                Some(t) if compatible(t, &x.ty) => elem_ty = Some(unify(t, &x.ty)),
                Some(t) => {
                    let (want, found) = (self.shown_type(t), self.shown_type(&x.ty));
                    let d = Self::diag(
                        Code::TypeMismatch,
                        &item.span,
                        format!("list values must have one type: found {want} and {found}"),
                    )
                    .label(format!("this is {found}"))
                    .help(format!("make every value {want}"));
                    self.emit(d);
                    ok = false;
                    continue;
                }
            }
            out.push(x);
        }
        if !ok {
            return None;
        }
        let Some(elem) = elem_ty.or(elem_hint) else {
            let d = Self::diag(
                Code::TypeMismatch,
                span,
                "cannot tell the type of an empty list",
            )
            .label("empty list")
            .help("write at least one value, like `[Gold, Platinum]`");
            self.emit(d);
            return None;
        };
        Some(mk(
            ir::ExprKind::List(out),
            Type::List(Box::new(elem)),
            span,
        ))
    }

    /// Checks two operands; a contextual one (bare stage/enum name) takes its hint
    /// from the other. With `is_in`, the right operand is the list.
    fn pair(
        &mut self,
        l: &ast::Expr,
        r: &ast::Expr,
        sc: &mut Scope<'_>,
        is_in: bool,
    ) -> (Option<ir::Expr>, Option<ir::Expr>) {
        if self.is_contextual(l, sc) && !self.is_contextual(r, sc) {
            let b = self.expr(r, sc, None);
            let a = match &b {
                Some(b) => {
                    let h = if is_in {
                        match strip(&b.ty) {
                            Type::List(t) => (**t).clone(),
                            other => other.clone(),
                        }
                    } else {
                        b.ty.clone()
                    };
                    self.expr(l, sc, Some(&h))
                }
                None => None,
            };
            (a, b)
        } else {
            let a = self.expr(l, sc, None);
            let b = match &a {
                Some(a) => {
                    let h = if is_in {
                        Type::List(Box::new(strip(&a.ty).clone()))
                    } else {
                        a.ty.clone()
                    };
                    self.expr(r, sc, Some(&h))
                }
                None if self.is_contextual(r, sc) => None,
                None => self.expr(r, sc, None),
            };
            (a, b)
        }
    }

    /// Reports operands of incompatible types, blaming a literal side when there is one.
    fn mismatch(
        &mut self,
        message: String,
        a: &ir::Expr,
        b: &ir::Expr,
        l: &ast::Expr,
        r: &ast::Expr,
        span: &Span,
    ) {
        let blame = if is_literalish(r) {
            Some((&r.span, &a.ty, &b.ty, &l.span))
        } else if is_literalish(l) {
            Some((&l.span, &b.ty, &a.ty, &r.span))
        } else {
            None
        };
        let d = match blame {
            Some((at, expected, found, other)) => {
                let mut d = Self::diag(Code::TypeMismatch, at, message)
                    .label(format!("this is {}", self.shown_type(found)))
                    .related(
                        other.clone(),
                        format!("this is {}", self.shown_type(expected)),
                    );
                if let Some(h) = self.mismatch_help(expected, found) {
                    d = d.help(h);
                }
                d
            }
            None => {
                let mut d = Self::diag(Code::TypeMismatch, span, message).label(format!(
                    "{} and {}",
                    self.shown_type(&a.ty),
                    self.shown_type(&b.ty)
                ));
                if let Some(h) = self.mismatch_help(&a.ty, &b.ty) {
                    d = d.help(h);
                }
                d
            }
        };
        self.emit(d);
    }

    fn binary(
        &mut self,
        op: BinOp,
        l: &ast::Expr,
        r: &ast::Expr,
        span: &Span,
        sc: &mut Scope<'_>,
    ) -> Option<ir::Expr> {
        let bin = |a: ir::Expr, b: ir::Expr, ty: Type| {
            mk(ir::ExprKind::Binary(op, Box::new(a), Box::new(b)), ty, span)
        };
        match op {
            BinOp::And | BinOp::Or => {
                let a = self.cond(l, sc, op.as_str());
                let b = self.cond(r, sc, op.as_str());
                Some(bin(a?, b?, Type::Bool))
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (a, b) = self.pair(l, r, sc, false);
                let (a, b) = (a?, b?);
                if !compatible(&a.ty, &b.ty) {
                    let msg = format!(
                        "cannot compare {} with {}",
                        self.shown_type(&a.ty),
                        self.shown_type(&b.ty)
                    );
                    self.mismatch(msg, &a, &b, l, r, span);
                    return None;
                }
                let ordering = !matches!(op, BinOp::Eq | BinOp::Ne);
                if ordering && !is_ordered(&a.ty) {
                    let shown = self.shown_type(&a.ty);
                    let d = Self::diag(Code::TypeMismatch, span, format!("`{}` cannot order {shown} values", op.as_str()))
                        .label(format!("{shown} has no order"))
                        .help("only numbers, money, percentages, dates, durations, enums and stages are ordered; use `==` or `!=`");
                    self.emit(d);
                    return None;
                }
                Some(bin(a, b, Type::Bool))
            }
            BinOp::In | BinOp::NotIn => {
                let (a, b) = self.pair(l, r, sc, true);
                let (a, b) = (a?, b?);
                let Type::List(elem) = strip(&b.ty) else {
                    let shown = self.shown_type(&b.ty);
                    let d = Self::diag(
                        Code::TypeMismatch,
                        &r.span,
                        format!("`{}` needs a list, found {shown}", op.as_str()),
                    )
                    .label(format!("this is {shown}"))
                    .help("write a list like `[Gold, Platinum]` or use a list field");
                    self.emit(d);
                    return None;
                };
                if !compatible(&a.ty, elem) {
                    let msg = format!(
                        "cannot look for {} in {}",
                        self.shown_type(&a.ty),
                        self.shown_type(&b.ty)
                    );
                    let elem = (**elem).clone();
                    let b_elem = ir::Expr {
                        kind: ir::ExprKind::Const(Const::None),
                        ty: elem,
                        span: b.span.clone(),
                    };
                    self.mismatch(msg, &a, &b_elem, l, r, span);
                    return None;
                }
                Some(bin(a, b, Type::Bool))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                let a = self.expr(l, sc, None);
                let b = self.expr(r, sc, None);
                let (a, b) = (a?, b?);
                let optional = is_optional(&a.ty) || is_optional(&b.ty);
                match arith(op, strip(&a.ty), strip(&b.ty)) {
                    Some(t) => Some(bin(a, b, maybe_optional(t, optional))),
                    None => {
                        let msg = format!(
                            "cannot use `{}` with {} and {}",
                            op.as_str(),
                            self.shown_type(&a.ty),
                            self.shown_type(&b.ty)
                        );
                        self.mismatch(msg, &a, &b, l, r, span);
                        None
                    }
                }
            }
        }
    }

    fn quant(
        &mut self,
        q: Quantifier,
        var: &Ident,
        list: &ast::Expr,
        body: &ast::Expr,
        span: &Span,
        sc: &mut Scope<'_>,
    ) -> Option<ir::Expr> {
        let qn = quant_name(q);
        let list = self.expr(list, sc, None)?;
        let elem = match strip(&list.ty) {
            Type::List(t) => (**t).clone(),
            other => {
                let shown = self.shown_type(other);
                let d = Self::diag(
                    Code::TypeMismatch,
                    &list.span,
                    format!("`{qn}` needs a list, found {shown}"),
                )
                .label(format!("this is {shown}"))
                .help(format!(
                    "go over a list, like `{qn}(li in line_items: ...)`"
                ));
                self.emit(d);
                return None;
            }
        };
        let id = self.next_var;
        self.next_var += 1;
        sc.vars.push(Var {
            name: var.name.clone(),
            id,
            ty: elem,
        });
        let body = match q {
            Quantifier::Any | Quantifier::All | Quantifier::Count => self.cond(body, sc, qn),
            Quantifier::Sum => {
                match self.expr(body, sc, None) {
                    Some(b)
                        if is_numeric(strip(&b.ty))
                            || matches!(strip(&b.ty), Type::Duration | Type::BusinessDuration) =>
                    {
                        Some(b)
                    }
                    Some(b) => {
                        let shown = self.shown_type(&b.ty);
                        let d = Self::diag(Code::TypeMismatch, &b.span, format!("`sum` needs numbers, money, percentages or durations, found {shown}"))
                        .label(format!("this is {shown}"))
                        .help(format!("sum a numeric field, like `sum({}: {}.price)`", var.name, var.name));
                        self.emit(d);
                        None
                    }
                    None => None,
                }
            }
        };
        sc.vars.pop();
        let body = body?;
        let ty = match q {
            Quantifier::Any | Quantifier::All => Type::Bool,
            Quantifier::Count => Type::Integer,
            Quantifier::Sum => strip(&body.ty).clone(),
        };
        Some(mk(
            ir::ExprKind::Quant {
                q,
                var: id,
                list: Box::new(list),
                body: Box::new(body),
            },
            ty,
            span,
        ))
    }

    fn call(
        &mut self,
        func: &Ident,
        args: &[ast::Expr],
        span: &Span,
        sc: &mut Scope<'_>,
    ) -> Option<ir::Expr> {
        let Some(f) = FUNCS.iter().find(|(n, _)| *n == func.name).map(|(_, f)| *f) else {
            let help =
                did_you_mean(&func.name, FUNCS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                    format!(
                        "the functions are {}",
                        list_names(FUNCS.iter().map(|(n, _)| *n), 10)
                    )
                });
            let d = Self::diag(
                Code::UnknownName,
                &func.span,
                format!("unknown function `{}`", func.name),
            )
            .label("not a built-in function")
            .help(help);
            self.emit(d);
            for a in args {
                let _ = self.expr(a, sc, None);
            }
            return None;
        };
        let arity = if matches!(f, Func::DaysBetween | Func::Min | Func::Max) {
            2
        } else {
            1
        };
        if args.len() != arity {
            let plural = if arity == 1 { "argument" } else { "arguments" };
            let d = Self::diag(
                Code::TypeMismatch,
                span,
                format!(
                    "`{}` takes {arity} {plural}, found {}",
                    func.name,
                    args.len()
                ),
            )
            .label("wrong number of arguments")
            .help(format!("call it like `{}`", func_usage(f)));
            self.emit(d);
            return None;
        }
        let checked: Vec<Option<ir::Expr>> = match args {
            [a, b] => {
                let (x, y) = self.pair(a, b, sc, false);
                vec![x, y]
            }
            _ => args.iter().map(|a| self.expr(a, sc, None)).collect(),
        };
        let checked: Vec<ir::Expr> = checked.into_iter().collect::<Option<_>>()?;
        let optional = checked.iter().any(|a| is_optional(&a.ty));
        let types: Vec<&Type> = checked.iter().map(|a| strip(&a.ty)).collect();
        let result = match (f, types.as_slice()) {
            (Func::DaysBetween, [Type::Date, Type::Date] | [Type::DateTime, Type::DateTime]) => {
                Some(Type::Integer)
            }
            (Func::Days, [Type::Duration]) => Some(Type::Integer),
            (Func::Len, [Type::List(_)]) => Some(Type::Integer),
            (Func::Date, [Type::DateTime]) => Some(Type::Date),
            (Func::Lower, [Type::Text]) => Some(Type::Text),
            (Func::Min | Func::Max, [a, b]) if compatible(a, b) && is_ordered(a) => {
                Some(unify(a, b))
            }
            _ => None,
        };
        let Some(result) = result else {
            let shown: Vec<String> = checked.iter().map(|a| self.shown_type(&a.ty)).collect();
            let d = Self::diag(
                Code::TypeMismatch,
                span,
                format!("`{}` cannot take {}", func.name, shown.join(" and ")),
            )
            .label("wrong argument types")
            .help(format!("call it like `{}`", func_usage(f)));
            self.emit(d);
            return None;
        };
        let ty = if f == Func::Len {
            result
        } else {
            maybe_optional(result, optional)
        };
        Some(mk(ir::ExprKind::Call(f, checked), ty, span))
    }
}
