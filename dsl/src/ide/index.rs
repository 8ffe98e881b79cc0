//! The symbol index of a parsed policy: every declaration (stages, pools, flags,
//! record fields, enum variants) and every place a name refers to one, with spans.
//!
//! Resolution follows the checker's rules closely enough for navigation: opportunity
//! fields are in scope unqualified, `partner.x` / `account.x` / `lead.x` / `item.x`
//! name fields of those records, a quantifier variable over `line_items` gives
//! `li.x` the line-item fields, flag names are values inside `hygiene`, and a bare
//! name compared with an enum field (or listed in a rate-table column over one)
//! is a variant of that enum. Enums declared with the same variants in the same
//! order are one enum, as in the checker. The index works on the AST alone, so it
//! is available for a policy with check errors too.

use crate::ast::{self, Expr, ExprKind, Ident, Span, TypeKind};
use crate::ir::{Builtin, RecordKind};

/// What a name refers to. Indices point into the [`Index`] tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    Stage(u32),
    Pool(u32),
    Flag(u32),
    Field(u32),
    Variant { enum_id: u32, index: u32 },
    Builtin(Builtin),
}

/// One use or declaration of a symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: Symbol,
    /// The declaring occurrence (an enum variant may have several).
    pub is_def: bool,
}

/// A declared stage.
#[derive(Clone, Debug)]
pub struct StageInfo {
    pub name: String,
    pub kind: ast::StageKind,
    pub label: Option<String>,
    pub name_span: Span,
    pub span: Span,
}

/// A declared co-sell pool.
#[derive(Clone, Debug)]
pub struct PoolInfo {
    pub name: String,
    pub label: Option<String>,
    pub name_span: Span,
    pub span: Span,
}

/// A declared hygiene flag.
#[derive(Clone, Debug)]
pub struct FlagInfo {
    pub name: String,
    pub name_span: Span,
    pub span: Span,
}

/// A declared record field.
#[derive(Clone, Debug)]
pub struct FieldInfo {
    pub record: RecordKind,
    pub name: String,
    /// The type as written (`enum { NA, EMEA }`, `list<text>`, `text?`).
    pub ty: String,
    pub evidence: bool,
    /// The default as written, if any.
    pub default: Option<String>,
    /// The enum of the field, its list elements or its optional value.
    pub enum_id: Option<u32>,
    pub name_span: Span,
    pub span: Span,
}

/// One enum: its variants in order (shared by every field declaring the same list).
#[derive(Clone, Debug)]
pub struct EnumInfo {
    pub variants: Vec<String>,
}

/// Declarations and name occurrences of one policy.
#[derive(Clone, Debug, Default)]
pub struct Index {
    pub stages: Vec<StageInfo>,
    pub pools: Vec<PoolInfo>,
    pub flags: Vec<FlagInfo>,
    pub fields: Vec<FieldInfo>,
    pub enums: Vec<EnumInfo>,
    /// Sorted by span start.
    pub occurrences: Vec<Occurrence>,
}

/// What a bare name is expected to be, from the other side of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Nothing,
    Stage,
    Enum(u32),
}

#[derive(Clone, Default)]
struct Scope {
    /// Quantifier variables; `true` when bound over `line_items`.
    vars: Vec<(String, bool)>,
    hygiene: bool,
}

fn to_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl Index {
    /// Builds the index of a parsed policy.
    pub fn build(policy: &ast::Policy) -> Index {
        let mut ix = Index::default();
        ix.declare(policy);
        ix.resolve(policy);
        ix.occurrences.sort_by_key(|o| (o.span.start, o.span.end));
        ix
    }

    /// The occurrence under a cursor at `offset` (a cursor just after a name counts).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let i = self.occurrences.partition_point(|o| o.span.end < offset);
        self.occurrences[i..]
            .iter()
            .take_while(|o| o.span.start <= offset)
            .find(|o| o.span.start <= offset && offset <= o.span.end)
    }

    /// Every occurrence of a symbol (declarations included), in source order.
    pub fn references(&self, symbol: Symbol) -> impl Iterator<Item = &Occurrence> {
        self.occurrences.iter().filter(move |o| o.symbol == symbol)
    }

    /// The declaring spans of a symbol (none for a built-in).
    pub fn definitions(&self, symbol: Symbol) -> Vec<Span> {
        self.references(symbol)
            .filter(|o| o.is_def)
            .map(|o| o.span.clone())
            .collect()
    }

    /// The name of a symbol as written in a policy.
    pub fn name(&self, symbol: Symbol) -> Option<&str> {
        match symbol {
            Symbol::Stage(i) => self.stages.get(i as usize).map(|s| s.name.as_str()),
            Symbol::Pool(i) => self.pools.get(i as usize).map(|p| p.name.as_str()),
            Symbol::Flag(i) => self.flags.get(i as usize).map(|f| f.name.as_str()),
            Symbol::Field(i) => self.fields.get(i as usize).map(|f| f.name.as_str()),
            Symbol::Variant { enum_id, index } => self
                .enums
                .get(enum_id as usize)
                .and_then(|e| e.variants.get(index as usize))
                .map(String::as_str),
            Symbol::Builtin(b) => Some(b.name()),
        }
    }

    pub fn stage(&self, name: &str) -> Option<u32> {
        self.stages.iter().position(|s| s.name == name).map(to_u32)
    }

    pub fn pool(&self, name: &str) -> Option<u32> {
        self.pools.iter().position(|p| p.name == name).map(to_u32)
    }

    pub fn flag(&self, name: &str) -> Option<u32> {
        self.flags.iter().position(|f| f.name == name).map(to_u32)
    }

    pub fn field(&self, record: RecordKind, name: &str) -> Option<u32> {
        self.fields
            .iter()
            .position(|f| f.record == record && f.name == name)
            .map(to_u32)
    }

    /// The fields of one record, in declaration order.
    pub fn fields_of(&self, record: RecordKind) -> impl Iterator<Item = &FieldInfo> {
        self.fields.iter().filter(move |f| f.record == record)
    }

    fn variant(&self, enum_id: u32, name: &str) -> Option<Symbol> {
        let e = self.enums.get(enum_id as usize)?;
        let index = e.variants.iter().position(|v| v == name)?;
        Some(Symbol::Variant {
            enum_id,
            index: to_u32(index),
        })
    }

    /// The variant `name` when exactly one enum declares it.
    fn unique_variant(&self, name: &str) -> Option<Symbol> {
        let mut found = None;
        for (i, _) in self.enums.iter().enumerate() {
            if let Some(sym) = self.variant(to_u32(i), name) {
                if found.is_some() {
                    return None;
                }
                found = Some(sym);
            }
        }
        found
    }

    fn push(&mut self, span: &Span, symbol: Symbol, is_def: bool) {
        self.occurrences.push(Occurrence {
            span: span.clone(),
            symbol,
            is_def,
        });
    }

    // ------------------------------------------------------------ declarations

    fn declare(&mut self, policy: &ast::Policy) {
        for item in &policy.items {
            match item {
                ast::Item::Record(rec) => {
                    let Some(kind) = RecordKind::ALL
                        .iter()
                        .copied()
                        .find(|k| k.name() == rec.name.name)
                    else {
                        continue;
                    };
                    for member in &rec.members {
                        match member {
                            ast::RecordMember::Field(f) => self.declare_field(kind, f, false),
                            ast::RecordMember::Evidence { fields, .. } => {
                                for f in fields {
                                    self.declare_field(kind, f, true);
                                }
                            }
                        }
                    }
                }
                ast::Item::Stage(s) if self.stage(&s.name.name).is_none() => {
                    let i = to_u32(self.stages.len());
                    self.stages.push(StageInfo {
                        name: s.name.name.clone(),
                        kind: s.kind,
                        label: s.label.as_ref().map(|l| l.node.clone()),
                        name_span: s.name.span.clone(),
                        span: s.span.clone(),
                    });
                    self.push(&s.name.span, Symbol::Stage(i), true);
                }
                ast::Item::Cosell(sec) => {
                    for rule in &sec.rules {
                        if let ast::CosellRule::Pool {
                            name, label, span, ..
                        } = rule
                        {
                            if self.pool(&name.name).is_none() {
                                let i = to_u32(self.pools.len());
                                self.pools.push(PoolInfo {
                                    name: name.name.clone(),
                                    label: label.as_ref().map(|l| l.node.clone()),
                                    name_span: name.span.clone(),
                                    span: span.clone(),
                                });
                                self.push(&name.span, Symbol::Pool(i), true);
                            }
                        }
                    }
                }
                ast::Item::Hygiene(sec) => {
                    for rule in &sec.rules {
                        if let ast::HygieneRule::Flag { name, span, .. } = rule {
                            if self.flag(&name.name).is_none() {
                                let i = to_u32(self.flags.len());
                                self.flags.push(FlagInfo {
                                    name: name.name.clone(),
                                    name_span: name.span.clone(),
                                    span: span.clone(),
                                });
                                self.push(&name.span, Symbol::Flag(i), true);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn declare_field(&mut self, record: RecordKind, f: &ast::Field, evidence: bool) {
        let enum_id = self.declare_enum(&f.ty);
        if self.field(record, &f.name.name).is_some() {
            return;
        }
        let i = to_u32(self.fields.len());
        self.fields.push(FieldInfo {
            record,
            name: f.name.name.clone(),
            ty: type_text(&f.ty),
            evidence,
            default: f.default.as_ref().map(crate::fmt::format_expr),
            enum_id,
            name_span: f.name.span.clone(),
            span: f.span.clone(),
        });
        self.push(&f.name.span, Symbol::Field(i), true);
    }

    /// Registers the enum a type declares (directly, in a list or optional) and its
    /// variant declarations; returns its id.
    fn declare_enum(&mut self, ty: &ast::TypeExpr) -> Option<u32> {
        match &ty.kind {
            TypeKind::Named(_) => None,
            TypeKind::List(inner) | TypeKind::Optional(inner) => self.declare_enum(inner),
            TypeKind::Enum(variants) => {
                let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
                let id = match self.enums.iter().position(|e| e.variants == names) {
                    Some(i) => to_u32(i),
                    None => {
                        self.enums.push(EnumInfo { variants: names });
                        to_u32(self.enums.len() - 1)
                    }
                };
                for (index, v) in variants.iter().enumerate() {
                    self.push(
                        &v.span,
                        Symbol::Variant {
                            enum_id: id,
                            index: to_u32(index),
                        },
                        true,
                    );
                }
                Some(id)
            }
        }
    }

    // ------------------------------------------------------------ references

    fn stage_ref(&mut self, id: &Ident) {
        if let Some(i) = self.stage(&id.name) {
            self.push(&id.span, Symbol::Stage(i), false);
        }
    }

    fn pool_ref(&mut self, id: &Ident) {
        if let Some(i) = self.pool(&id.name) {
            self.push(&id.span, Symbol::Pool(i), false);
        }
    }

    fn resolve(&mut self, policy: &ast::Policy) {
        let top = Scope::default();
        for item in &policy.items {
            match item {
                ast::Item::Header(_) => {}
                ast::Item::Record(rec) => {
                    for member in &rec.members {
                        let fields = match member {
                            ast::RecordMember::Field(f) => std::slice::from_ref(f),
                            ast::RecordMember::Evidence { fields, .. } => fields.as_slice(),
                        };
                        for f in fields {
                            if let Some(d) = &f.default {
                                let expect = self.enum_expect_of_type(&f.ty);
                                self.expr(d, &top, expect);
                            }
                        }
                    }
                }
                ast::Item::Stage(s) => {
                    for prop in &s.props {
                        match prop {
                            ast::StageProp::Probability(e) | ast::StageProp::Expected(e) => {
                                self.expr(e, &top, Expect::Nothing)
                            }
                            ast::StageProp::Forecast(_) => {}
                            ast::StageProp::Requires(r) => {
                                for e in &r.items {
                                    self.expr(e, &top, Expect::Nothing);
                                }
                            }
                        }
                    }
                }
                ast::Item::Flow(flow) => {
                    for rule in &flow.rules {
                        for r in &rule.chain {
                            if let ast::StageRef::Named(id) = r {
                                self.stage_ref(id);
                            }
                        }
                        if let Some(g) = &rule.guard {
                            self.expr(g, &top, Expect::Nothing);
                        }
                    }
                }
                ast::Item::Registration(sec) => {
                    for rule in &sec.rules {
                        self.reg_rule(rule, &top);
                    }
                }
                ast::Item::Cosell(sec) => {
                    for rule in &sec.rules {
                        match rule {
                            ast::CosellRule::Pool { capacity, .. } => {
                                self.expr(capacity, &top, Expect::Nothing)
                            }
                            ast::CosellRule::Assign {
                                pool,
                                when,
                                priority,
                                ..
                            } => {
                                self.pool_ref(pool);
                                self.expr(when, &top, Expect::Nothing);
                                if let Some(p) = priority {
                                    self.expr(p, &top, Expect::Nothing);
                                }
                            }
                            ast::CosellRule::Never { pool, when, .. } => {
                                if let Some(p) = pool {
                                    self.pool_ref(p);
                                }
                                self.expr(when, &top, Expect::Nothing);
                            }
                        }
                    }
                }
                ast::Item::Commission(sec) => {
                    for rule in &sec.rules {
                        self.commission_rule(rule, &top);
                    }
                }
                ast::Item::Hygiene(sec) => {
                    let scope = Scope {
                        hygiene: true,
                        ..Scope::default()
                    };
                    for rule in &sec.rules {
                        match rule {
                            ast::HygieneRule::Flag { when, .. }
                            | ast::HygieneRule::Exclude { when, .. } => {
                                self.expr(when, &scope, Expect::Nothing)
                            }
                            ast::HygieneRule::Downweight { factor, when, .. } => {
                                self.expr(factor, &scope, Expect::Nothing);
                                self.expr(when, &scope, Expect::Nothing);
                            }
                        }
                    }
                }
                ast::Item::Leads(sec) => {
                    for rule in &sec.rules {
                        match rule {
                            ast::LeadRule::Route { when, .. } => {
                                self.expr(when, &top, Expect::Nothing)
                            }
                            ast::LeadRule::Prefer { keys, .. } => {
                                for k in keys {
                                    self.expr(&k.expr, &top, Expect::Nothing);
                                }
                            }
                            ast::LeadRule::Accept {
                                within,
                                reroute_at_most,
                                ..
                            } => {
                                self.expr(within, &top, Expect::Nothing);
                                if let Some(r) = reroute_at_most {
                                    self.expr(r, &top, Expect::Nothing);
                                }
                            }
                            ast::LeadRule::Convert { to, when, .. } => {
                                self.stage_ref(to);
                                if let Some(w) = when {
                                    self.expr(w, &top, Expect::Nothing);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn reg_rule(&mut self, rule: &ast::RegRule, top: &Scope) {
        use ast::RegRule as R;
        match rule {
            R::OpenFrom { stage, .. } => self.stage_ref(stage),
            R::Eligible { when, .. }
            | R::Conflict { when, .. }
            | R::AutoApprove { when, .. }
            | R::Late { when, .. } => self.expr(when, top, Expect::Nothing),
            R::Duplicate { keys, within, .. } => {
                for k in keys {
                    self.expr(k, top, Expect::Nothing);
                }
                self.expr(within, top, Expect::Nothing);
            }
            R::ConflictProtected { keys, .. } => {
                for k in keys {
                    self.expr(k, top, Expect::Nothing);
                }
            }
            R::Review { within: e, .. }
            | R::Escalate { after: e, .. }
            | R::Protect { duration: e, .. } => self.expr(e, top, Expect::Nothing),
            R::Extend { by, at_most, .. } => {
                self.expr(by, top, Expect::Nothing);
                if let Some(m) = at_most {
                    self.expr(m, top, Expect::Nothing);
                }
            }
            R::Discount { rate, when, .. } => {
                self.expr(rate, top, Expect::Nothing);
                if let Some(w) = when {
                    self.expr(w, top, Expect::Nothing);
                }
            }
        }
    }

    fn commission_rule(&mut self, rule: &ast::CommissionRule, top: &Scope) {
        use ast::CommissionRule as C;
        match rule {
            C::Attribute { when, .. } => self.expr(when, top, Expect::Nothing),
            C::Rate(table) => {
                let expects: Vec<Expect> =
                    table.keys.iter().map(|k| self.expect_of(k, top)).collect();
                for k in &table.keys {
                    self.expr(k, top, Expect::Nothing);
                }
                for row in &table.rows {
                    for (i, p) in row.patterns.iter().enumerate() {
                        if let ast::Pattern::Value(e) = p {
                            let expect = expects.get(i).copied().unwrap_or(Expect::Nothing);
                            self.expr(e, top, expect);
                        }
                    }
                    self.expr(&row.rate, top, Expect::Nothing);
                }
            }
            C::Rebate { rate, when, .. } => {
                self.expr(rate, top, Expect::Nothing);
                self.expr(when, top, Expect::Nothing);
            }
            C::Split { when, shares, .. } => {
                if let Some(w) = when {
                    self.expr(w, top, Expect::Nothing);
                }
                for s in shares {
                    if let Some(i) = self.field(RecordKind::Opportunity, &s.role.name) {
                        self.push(&s.role.span, Symbol::Field(i), false);
                    }
                    self.expr(&s.share, top, Expect::Nothing);
                }
            }
        }
    }

    fn enum_expect_of_type(&self, ty: &ast::TypeExpr) -> Expect {
        match &ty.kind {
            TypeKind::Named(_) => Expect::Nothing,
            TypeKind::List(inner) | TypeKind::Optional(inner) => self.enum_expect_of_type(inner),
            TypeKind::Enum(vs) => {
                let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
                self.enums
                    .iter()
                    .position(|e| {
                        e.variants
                            .iter()
                            .map(String::as_str)
                            .eq(names.iter().copied())
                    })
                    .map_or(Expect::Nothing, |i| Expect::Enum(to_u32(i)))
            }
        }
    }

    /// What the other side of a comparison with `e` is expected to name.
    fn expect_of(&self, e: &Expr, scope: &Scope) -> Expect {
        match &e.kind {
            ExprKind::Paren(inner) => self.expect_of(inner, scope),
            ExprKind::Path(segs) => match self.resolve_path(segs, scope) {
                Some((_, Symbol::Field(i))) => self
                    .fields
                    .get(i as usize)
                    .and_then(|f| f.enum_id)
                    .map_or(Expect::Nothing, Expect::Enum),
                Some((_, Symbol::Builtin(Builtin::Stage))) => Expect::Stage,
                _ => Expect::Nothing,
            },
            _ => Expect::Nothing,
        }
    }

    /// The symbol a path names and the span of the segment that names it.
    fn resolve_path(&self, segs: &[Ident], scope: &Scope) -> Option<(Span, Symbol)> {
        match segs {
            [one] => {
                let n = one.name.as_str();
                if scope.vars.iter().any(|(v, _)| v == n) {
                    return None;
                }
                let sym = self
                    .field(RecordKind::Opportunity, n)
                    .map(Symbol::Field)
                    .or_else(|| {
                        scope
                            .hygiene
                            .then(|| self.flag(n).map(Symbol::Flag))
                            .flatten()
                    })
                    .or_else(|| self.stage(n).map(Symbol::Stage))
                    .or_else(|| {
                        Builtin::ALL
                            .iter()
                            .copied()
                            .find(|b| b.name() == n)
                            .map(Symbol::Builtin)
                    })
                    .or_else(|| self.unique_variant(n))?;
                Some((one.span.clone(), sym))
            }
            [root, field] => {
                let r = root.name.as_str();
                let f = field.name.as_str();
                let span = field.span.clone();
                if let Some((_, over_items)) = scope.vars.iter().rev().find(|(v, _)| v == r) {
                    return over_items
                        .then(|| self.field(RecordKind::LineItem, f))
                        .flatten()
                        .map(|i| (span, Symbol::Field(i)));
                }
                let record = match r {
                    "opportunity" => Some(RecordKind::Opportunity),
                    "partner" => Some(RecordKind::Partner),
                    "account" => Some(RecordKind::Account),
                    "lead" => Some(RecordKind::Lead),
                    "item" | "line_item" => Some(RecordKind::LineItem),
                    _ => None,
                };
                if let Some(i) = record.and_then(|k| self.field(k, f)) {
                    return Some((span, Symbol::Field(i)));
                }
                if r == "stage" && f == "probability" {
                    return Some((
                        root.span.start..field.span.end,
                        Symbol::Builtin(Builtin::Probability),
                    ));
                }
                Builtin::ALL
                    .iter()
                    .copied()
                    .find(|b| b.name().split_once('.') == Some((r, f)))
                    .map(|b| (root.span.start..field.span.end, Symbol::Builtin(b)))
            }
            _ => None,
        }
    }

    fn expr(&mut self, e: &Expr, scope: &Scope, expect: Expect) {
        match &e.kind {
            ExprKind::Lit(_) => {}
            ExprKind::Path(segs) => {
                if let [one] = segs.as_slice() {
                    let typed = match expect {
                        Expect::Enum(id) => self.variant(id, &one.name),
                        Expect::Stage => self.stage(&one.name).map(Symbol::Stage),
                        Expect::Nothing => None,
                    };
                    if let Some(sym) = typed {
                        if !scope.vars.iter().any(|(v, _)| *v == one.name) {
                            self.push(&one.span, sym, false);
                            return;
                        }
                    }
                }
                if let Some((span, sym)) = self.resolve_path(segs, scope) {
                    self.push(&span, sym, false);
                }
            }
            ExprKind::List(items) => {
                for i in items {
                    self.expr(i, scope, expect);
                }
            }
            ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => self.expr(inner, scope, expect),
            ExprKind::Presence { expr, .. } => self.expr(expr, scope, Expect::Nothing),
            ExprKind::Binary(op, l, r) => {
                use ast::BinOp as B;
                if matches!(
                    op,
                    B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge | B::In | B::NotIn
                ) {
                    let le = self.expect_of(l, scope);
                    let re = self.expect_of(r, scope);
                    self.expr(l, scope, re);
                    self.expr(r, scope, le);
                } else {
                    self.expr(l, scope, Expect::Nothing);
                    self.expr(r, scope, Expect::Nothing);
                }
            }
            ExprKind::Quant {
                var, list, body, ..
            } => {
                self.expr(list, scope, Expect::Nothing);
                let over_items = matches!(&list.kind, ExprKind::Path(p) if p.len() == 1 && p.first().is_some_and(|s| s.name == "line_items"));
                let mut inner = scope.clone();
                inner.vars.push((var.name.clone(), over_items));
                self.expr(body, &inner, Expect::Nothing);
            }
            ExprKind::Call { args, .. } => {
                for a in args {
                    self.expr(a, scope, Expect::Nothing);
                }
            }
        }
    }
}

/// A type expression as a policy would write it.
pub fn type_text(ty: &ast::TypeExpr) -> String {
    match &ty.kind {
        TypeKind::Named(id) => id.name.clone(),
        TypeKind::Enum(vs) => {
            let names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
            format!("enum {{ {} }}", names.join(", "))
        }
        TypeKind::List(inner) => format!("list<{}>", type_text(inner)),
        TypeKind::Optional(inner) => format!("{}?", type_text(inner)),
    }
}
