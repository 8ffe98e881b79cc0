//! Rule sections: `registration`, `cosell`, `commission`, `hygiene` and `leads`.
//! Each may appear at most once; each builds its part of the IR.

use std::collections::HashMap;

use super::exprs::{FlagTable, Scope};
use super::literals::peel;
use super::names::{did_you_mean, list_names, OPPORTUNITY_SINGLE};
use super::types::{is_bool, is_numeric, is_ordered, strip};
use super::Checker;
use crate::ast::{
    self, CommissionRule, CosellRule, ExprKind, HygieneRule, Item, LeadRule, Pattern, RegRule, Span,
};
use crate::diagnostics::Code;
use crate::ir::{self, Cond, Dur, PoolId, RecordKind, Type};

const PERIODS: [(&str, ir::Period); 4] = [
    ("day", ir::Period::Day),
    ("week", ir::Period::Week),
    ("month", ir::Period::Month),
    ("quarter", ir::Period::Quarter),
];

const TRIGGERS: [(&str, ir::ExtendTrigger); 2] = [
    ("advance", ir::ExtendTrigger::Advance),
    ("activity", ir::ExtendTrigger::Activity),
];

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn text(s: &Option<ast::Str>) -> Option<String> {
    s.as_ref().map(|s| s.node.clone())
}

impl Checker<'_> {
    /// The first section picked by `pick`; later ones are E120.
    fn single_section<'p, R>(
        &mut self,
        policy: &'p ast::Policy,
        keyword: &str,
        pick: impl Fn(&'p Item) -> Option<&'p ast::Section<R>>,
    ) -> Option<&'p ast::Section<R>> {
        let mut first: Option<&'p ast::Section<R>> = None;
        for item in &policy.items {
            let Some(sec) = pick(item) else { continue };
            match first {
                Some(f) => {
                    let at = self.keyword_span(&sec.span, keyword);
                    let d = Self::diag(
                        Code::DuplicateDeclaration,
                        &at,
                        format!("the `{keyword}` section is declared twice"),
                    )
                    .label("second section")
                    .related(self.keyword_span(&f.span, keyword), "first declared here")
                    .help(format!("merge the rules into one `{keyword}` block"));
                    self.emit(d);
                }
                None => first = Some(sec),
            }
        }
        first
    }

    fn cond_rule(
        &mut self,
        when: &ast::Expr,
        because: &Option<ast::Str>,
        span: &Span,
        sc: &mut Scope<'_>,
    ) -> Option<Cond> {
        let expr = self.cond(when, sc, "when")?;
        Some(Cond {
            expr,
            because: text(because),
            span: span.clone(),
        })
    }

    /// A registration key: a bare `account` means the account's identity (its
    /// domain, else its name, else its id, normalized), whatever `record account`
    /// declares; the engine compares it as such (typed as the account record).
    fn reg_key(&mut self, e: &ast::Expr) -> Option<ir::Expr> {
        if let ExprKind::Path(segs) = &peel(e).kind {
            if let [one] = segs.as_slice() {
                if one.name == "account" && self.field(RecordKind::Opportunity, "account").is_none()
                {
                    // A declared `domain` or `name` field keeps the key's reads
                    // visible to field-usage checks.
                    let kind = match self
                        .field(RecordKind::Account, "domain")
                        .or_else(|| self.field(RecordKind::Account, "name"))
                    {
                        Some((slot, _)) => ir::ExprKind::Field {
                            record: RecordKind::Account,
                            slot,
                        },
                        None => ir::ExprKind::Const(ir::Const::None),
                    };
                    return Some(ir::Expr {
                        kind,
                        ty: Type::Record(RecordKind::Account),
                        span: e.span.clone(),
                    });
                }
            }
        }
        self.expr(e, &mut Scope::opportunity(), None)
    }

    // ------------------------------------------------------------ registration

    pub(crate) fn registration(&mut self, policy: &ast::Policy) -> Option<ir::Registration> {
        let sec = self.single_section(policy, "registration", |i| match i {
            Item::Registration(s) => Some(s),
            _ => None,
        })?;
        let mut reg = ir::Registration {
            open_from: None,
            eligible: Vec::new(),
            duplicate: None,
            conflicts: Vec::new(),
            auto_approve: Vec::new(),
            review: None,
            escalations: Vec::new(),
            protect: None,
            extend: None,
            late: Vec::new(),
            discounts: Vec::new(),
            span: sec.span.clone(),
        };
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for rule in &sec.rules {
            match rule {
                RegRule::OpenFrom { stage, span } => {
                    if self.once_in(&mut seen, "open from", span) {
                        reg.open_from = self.stage_ref(stage).map(|id| (id, span.clone()));
                    }
                }
                RegRule::Eligible {
                    when,
                    because,
                    span,
                } => {
                    if let Some(c) = self.cond_rule(when, because, span, &mut Scope::opportunity())
                    {
                        reg.eligible.push(c);
                    }
                }
                RegRule::Duplicate { keys, within, span } => {
                    if !self.once_in(&mut seen, "duplicate", span) {
                        continue;
                    }
                    let keys: Vec<Option<ir::Expr>> =
                        keys.iter().map(|k| self.reg_key(k)).collect();
                    let within = self.const_duration(within, "the duplicate window", false);
                    if let (Some(keys), Some(within)) =
                        (keys.into_iter().collect::<Option<Vec<_>>>(), within)
                    {
                        reg.duplicate = Some(ir::Duplicate {
                            keys,
                            within,
                            span: span.clone(),
                        });
                    }
                }
                RegRule::Conflict { when, reject, span } => {
                    if let Some(expr) = self.cond(when, &mut Scope::opportunity(), "when") {
                        reg.conflicts.push(ir::Conflict {
                            kind: ir::ConflictKind::When(expr),
                            reject: text(reject),
                            span: span.clone(),
                        });
                    }
                }
                RegRule::ConflictProtected { keys, reject, span } => {
                    let keys: Vec<Option<ir::Expr>> =
                        keys.iter().map(|k| self.reg_key(k)).collect();
                    if let Some(keys) = keys.into_iter().collect::<Option<Vec<_>>>() {
                        reg.conflicts.push(ir::Conflict {
                            kind: ir::ConflictKind::OtherProtected { keys },
                            reject: text(reject),
                            span: span.clone(),
                        });
                    }
                }
                RegRule::AutoApprove { when, span } => {
                    if let Some(c) = self.cond_rule(when, &None, span, &mut Scope::opportunity()) {
                        reg.auto_approve.push(c);
                    }
                }
                RegRule::Review {
                    queue,
                    within,
                    span,
                } => {
                    if !self.once_in(&mut seen, "review", span) {
                        continue;
                    }
                    if let Some(within) = self.const_duration(within, "the review time", true) {
                        reg.review = Some(ir::Review {
                            queue: queue.name.clone(),
                            within,
                            span: span.clone(),
                        });
                    }
                }
                RegRule::Escalate { to, after, span } => {
                    if let Some(after) = self.const_duration(after, "the escalation time", true) {
                        reg.escalations.push(ir::Escalation {
                            to: to.name.clone(),
                            after,
                            span: span.clone(),
                        });
                    }
                }
                RegRule::Protect { duration, span } => {
                    if !self.once_in(&mut seen, "protect", span) {
                        continue;
                    }
                    if let Some(d) = self.const_duration(duration, "the protection window", false) {
                        reg.protect = Some((d, span.clone()));
                    }
                }
                RegRule::Extend {
                    by,
                    on,
                    at_most,
                    span,
                } => {
                    if !self.once_in(&mut seen, "extend", span) {
                        continue;
                    }
                    let by = self.const_duration(by, "the extension", false);
                    let trigger = match TRIGGERS.iter().find(|(n, _)| *n == on.name) {
                        Some((_, t)) => Some(*t),
                        None => {
                            let help = did_you_mean(&on.name, TRIGGERS.map(|(n, _)| n))
                                .unwrap_or_else(|| {
                                    "extend `on advance` (the deal moved a stage) or `on activity`"
                                        .into()
                                });
                            let d = Self::diag(
                                Code::UnknownName,
                                &on.span,
                                format!("unknown extension trigger `{}`", on.name),
                            )
                            .label("not `advance` or `activity`")
                            .help(help);
                            self.emit(d);
                            None
                        }
                    };
                    let at_most = match at_most {
                        Some(e) => self.const_count(e, "the extension limit", 0).map(Some),
                        None => Some(None),
                    };
                    if let (Some(by), Some(on), Some(at_most)) = (by, trigger, at_most) {
                        reg.extend = Some(ir::Extend {
                            by,
                            on,
                            at_most,
                            span: span.clone(),
                        });
                    }
                }
                RegRule::Late { when, span } => {
                    if let Some(c) = self.cond_rule(when, &None, span, &mut Scope::opportunity()) {
                        reg.late.push(c);
                    }
                }
                RegRule::Discount { rate, when, span } => {
                    let rate = self.const_percent(rate, "the discount");
                    let when = match when {
                        Some(w) => self.cond(w, &mut Scope::with_approved(), "when").map(Some),
                        None => Some(None),
                    };
                    if let (Some(rate), Some(when)) = (rate, when) {
                        reg.discounts.push(ir::Discount {
                            rate,
                            when,
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        Some(reg)
    }

    /// Like `once`, keyed by a rule name within a section.
    fn once_in(
        &mut self,
        seen: &mut HashMap<&'static str, Span>,
        what: &'static str,
        span: &Span,
    ) -> bool {
        if let Some(prev) = seen.get(what) {
            let at = self.keyword_span(span, what.split(' ').next().unwrap_or(what));
            let d = Self::diag(
                Code::DuplicateDeclaration,
                &at,
                format!("`{what}` is declared twice"),
            )
            .label("declared again here")
            .related(prev.clone(), "first declared here")
            .help(format!("keep one `{what}` rule"));
            self.emit(d);
            return false;
        }
        seen.insert(what, span.clone());
        true
    }

    // ------------------------------------------------------------ co-sell

    pub(crate) fn cosell(&mut self, policy: &ast::Policy) -> Option<ir::Cosell> {
        let sec = self.single_section(policy, "cosell", |i| match i {
            Item::Cosell(s) => Some(s),
            _ => None,
        })?;
        // Pools first, so rules may name a pool declared below them.
        for rule in &sec.rules {
            let CosellRule::Pool {
                name,
                label,
                capacity,
                per,
                span,
            } = rule
            else {
                continue;
            };
            if let Some(id) = self.pool_ids.get(&name.name) {
                let first = self
                    .pools
                    .get(id.0 as usize)
                    .map(|p| p.span.clone())
                    .unwrap_or(0..0);
                let d = Self::diag(
                    Code::DuplicateDeclaration,
                    &name.span,
                    format!("pool `{}` is declared twice", name.name),
                )
                .label("declared again here")
                .related(first, "first declared here")
                .help("rename one of the pools or remove it");
                self.emit(d);
                continue;
            }
            let capacity = self.const_count(capacity, "the capacity", 1).unwrap_or(0);
            let period = match PERIODS.iter().find(|(n, _)| *n == per.name) {
                Some((_, p)) => *p,
                None => {
                    let names = PERIODS.map(|(n, _)| n);
                    let help = did_you_mean(&per.name, names)
                        .unwrap_or_else(|| format!("the periods are {}", list_names(names, 4)));
                    let d = Self::diag(
                        Code::UnknownName,
                        &per.span,
                        format!("unknown period `{}`", per.name),
                    )
                    .label("not a period")
                    .help(help);
                    self.emit(d);
                    ir::Period::Week
                }
            };
            let id = PoolId(self.pools.len() as u32);
            self.pool_ids.insert(name.name.clone(), id);
            self.pools.push(ir::Pool {
                name: name.name.clone(),
                label: text(label),
                capacity,
                per: period,
                span: span.clone(),
            });
        }
        let mut assigns = Vec::new();
        let mut nevers = Vec::new();
        for rule in &sec.rules {
            match rule {
                CosellRule::Pool { .. } => {}
                CosellRule::Assign {
                    pool,
                    when,
                    priority,
                    span,
                } => {
                    let pool = self.pool_ref(pool);
                    let when = self.cond(when, &mut Scope::opportunity(), "when");
                    let priority = match priority {
                        Some(p) => self.priority(p).map(Some),
                        None => Some(None),
                    };
                    if let (Some(pool), Some(when), Some(priority)) = (pool, when, priority) {
                        assigns.push(ir::Assign {
                            pool,
                            when,
                            priority,
                            span: span.clone(),
                        });
                    }
                }
                CosellRule::Never {
                    pool,
                    when,
                    because,
                    span,
                } => {
                    let pool = match pool {
                        Some(p) => self.pool_ref(p).map(Some),
                        None => Some(None),
                    };
                    let when = self.cond(when, &mut Scope::opportunity(), "when");
                    if let (Some(pool), Some(when)) = (pool, when) {
                        nevers.push(ir::Never {
                            pool,
                            when,
                            because: text(because),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        Some(ir::Cosell {
            pools: std::mem::take(&mut self.pools),
            assigns,
            nevers,
            span: sec.span.clone(),
        })
    }

    fn pool_ref(&mut self, id: &ast::Ident) -> Option<PoolId> {
        if let Some(p) = self.pool_ids.get(&id.name) {
            return Some(*p);
        }
        let pools: Vec<&str> = self.pools.iter().map(|p| p.name.as_str()).collect();
        let help = self.did_you_mean_in(&id.name, &pools).unwrap_or_else(|| {
            format!(
                "declare it in `cosell`, like `pool {} capacity 5 per week`",
                id.name
            )
        });
        let d = Self::diag(
            Code::UnknownPool,
            &id.span,
            format!("unknown pool `{}`", id.name),
        )
        .label("no pool has this name")
        .help(help);
        self.emit(d);
        None
    }

    fn priority(&mut self, e: &ast::Expr) -> Option<ir::Expr> {
        let x = self.expr(e, &mut Scope::opportunity(), None)?;
        if is_numeric(strip(&x.ty)) {
            return Some(x);
        }
        let shown = self.shown_type(&x.ty);
        let d = Self::diag(
            Code::TypeMismatch,
            &e.span,
            format!("`priority` needs a number, money or percentage, found {shown}"),
        )
        .label(format!("this is {shown}"))
        .help("use a numeric expression, like `amount * probability`");
        self.emit(d);
        None
    }

    // ------------------------------------------------------------ commission

    pub(crate) fn commission(&mut self, policy: &ast::Policy) -> Option<ir::Commission> {
        let sec = self.single_section(policy, "commission", |i| match i {
            Item::Commission(s) => Some(s),
            _ => None,
        })?;
        let mut out = ir::Commission {
            attribute: Vec::new(),
            rate: None,
            rebates: Vec::new(),
            splits: Vec::new(),
            span: sec.span.clone(),
        };
        let mut rate_span: Option<Span> = None;
        let mut rebate_names: HashMap<String, Span> = HashMap::new();
        for rule in &sec.rules {
            match rule {
                CommissionRule::Attribute {
                    when,
                    because,
                    span,
                } => {
                    if let Some(c) = self.cond_rule(when, because, span, &mut Scope::opportunity())
                    {
                        out.attribute.push(c);
                    }
                }
                CommissionRule::Rate(table) => {
                    if let Some(prev) = &rate_span {
                        let at = self.keyword_span(&table.span, "rate");
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &at,
                            "the commission has two rate tables",
                        )
                        .label("second rate table")
                        .related(prev.clone(), "first declared here")
                        .help("merge the rows into one `rate by (...)` table");
                        self.emit(d);
                        continue;
                    }
                    rate_span = Some(self.keyword_span(&table.span, "rate"));
                    out.rate = self.rate_table(table);
                }
                CommissionRule::Rebate {
                    name,
                    rate,
                    when,
                    span,
                } => {
                    if let Some(prev) = rebate_names.get(&name.name) {
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &name.span,
                            format!("rebate `{}` is declared twice", name.name),
                        )
                        .label("declared again here")
                        .related(prev.clone(), "first declared here")
                        .help("give each rebate its own name");
                        self.emit(d);
                        continue;
                    }
                    rebate_names.insert(name.name.clone(), name.span.clone());
                    let rate = self.const_percent(rate, "the rebate");
                    let when = self.cond(when, &mut Scope::with_item(), "when");
                    if let (Some(rate), Some(when)) = (rate, when) {
                        out.rebates.push(ir::Rebate {
                            name: name.name.clone(),
                            rate,
                            when,
                            span: span.clone(),
                        });
                    }
                }
                CommissionRule::Split { when, shares, span } => {
                    let when = match when {
                        Some(w) => self.cond(w, &mut Scope::opportunity(), "when").map(Some),
                        None => Some(None),
                    };
                    let mut roles: HashMap<&str, Span> = HashMap::new();
                    let mut out_shares = Vec::new();
                    let mut ok = true;
                    for share in shares {
                        if let Some(prev) = roles.get(share.role.name.as_str()) {
                            let d = Self::diag(
                                Code::DuplicateDeclaration,
                                &share.role.span,
                                format!("`{}` has two shares in this split", share.role.name),
                            )
                            .label("second share")
                            .related(prev.clone(), "first share here")
                            .help("give each role one share");
                            self.emit(d);
                            ok = false;
                            continue;
                        }
                        roles.insert(&share.role.name, share.role.span.clone());
                        let role = self.split_role(&share.role);
                        let pct = self.const_percent(&share.share, "a split share");
                        match (role, pct) {
                            (Some(role), Some(share_v)) => out_shares.push(ir::Share {
                                role,
                                share: share_v,
                                span: share.span.clone(),
                            }),
                            _ => ok = false,
                        }
                    }
                    if let (Some(when), true) = (when, ok) {
                        out.splits.push(ir::Split {
                            when,
                            shares: out_shares,
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        Some(out)
    }

    fn split_role(&mut self, role: &ast::Ident) -> Option<ir::SplitRole> {
        if role.name == "registering" {
            return Some(ir::SplitRole::Registering);
        }
        if let Some((slot, def)) = self.field(RecordKind::Opportunity, &role.name) {
            if matches!(strip(&def.ty), Type::Text) {
                return Some(ir::SplitRole::Field {
                    name: role.name.clone(),
                    slot,
                });
            }
            let shown = self.shown_type(&def.ty);
            let d = Self::diag(
                Code::TypeMismatch,
                &role.span,
                format!(
                    "split role `{}` must be a text field, found {shown}",
                    role.name
                ),
            )
            .label(format!("this is {shown}"))
            .help(
                "a split role is `registering` or an opportunity `text` field holding a partner id",
            );
            self.emit(d);
            return None;
        }
        if self.is_poisoned(RecordKind::Opportunity, &role.name) {
            return None;
        }
        let mut candidates: Vec<&str> = vec!["registering"];
        if let Some(r) = self.record(RecordKind::Opportunity) {
            candidates.extend(
                r.fields
                    .iter()
                    .filter(|f| matches!(strip(&f.ty), Type::Text))
                    .map(|f| f.name.as_str()),
            );
        }
        let help = did_you_mean(&role.name, candidates).unwrap_or_else(|| {
            format!("use `registering` or declare `{}: text?` in `record opportunity` to hold a partner id", role.name)
        });
        let d = Self::diag(
            Code::UnknownField,
            &role.span,
            format!("unknown split role `{}`", role.name),
        )
        .label("not `registering` or an opportunity field")
        .help(help);
        self.emit(d);
        None
    }

    fn rate_table(&mut self, t: &ast::RateTable) -> Option<ir::RateTable> {
        let keys: Vec<Option<ir::Expr>> = t
            .keys
            .iter()
            .map(|k| self.expr(k, &mut Scope::with_item(), None))
            .collect();
        let mut rows = Vec::with_capacity(t.rows.len());
        let mut ok = true;
        for row in &t.rows {
            if row.patterns.len() != keys.len() {
                let d = Self::diag(
                    Code::MalformedDeclaration,
                    &row.span,
                    format!(
                        "this row has {} but the table has {}",
                        plural(row.patterns.len(), "pattern"),
                        plural(keys.len(), "key")
                    ),
                )
                .label("wrong number of patterns")
                .help("write one pattern per key, using `_` for any value");
                self.emit(d);
                ok = false;
                continue;
            }
            let mut patterns = Vec::with_capacity(keys.len());
            for (pattern, key) in row.patterns.iter().zip(&keys) {
                match (pattern, key) {
                    (Pattern::Wildcard(_), _) => patterns.push(None),
                    (Pattern::Value(_), None) => ok = false,
                    (Pattern::Value(e), Some(key)) => {
                        let kt = strip(&key.ty).clone();
                        let values = match &peel(e).kind {
                            ExprKind::List(items) => {
                                let vals: Vec<Option<ir::Const>> = items
                                    .iter()
                                    .map(|i| self.constant(i, &kt, "a rate-table pattern"))
                                    .collect();
                                vals.into_iter().collect::<Option<Vec<_>>>()
                            }
                            _ => self
                                .constant(e, &kt, "a rate-table pattern")
                                .map(|c| vec![c]),
                        };
                        match values {
                            Some(v) => patterns.push(Some(v)),
                            None => ok = false,
                        }
                    }
                }
            }
            let rate = self.const_percent(&row.rate, "a commission rate");
            if let Some(rate) = rate {
                rows.push(ir::RateRow {
                    patterns,
                    rate,
                    span: row.span.clone(),
                });
            } else {
                ok = false;
            }
        }
        let keys = keys.into_iter().collect::<Option<Vec<_>>>()?;
        ok.then(|| ir::RateTable {
            keys,
            mode: t.mode,
            rows,
            span: t.span.clone(),
        })
    }

    // ------------------------------------------------------------ hygiene

    pub(crate) fn hygiene(&mut self, policy: &ast::Policy) -> Option<ir::Hygiene> {
        let sec = self.single_section(policy, "hygiene", |i| match i {
            Item::Hygiene(s) => Some(s),
            _ => None,
        })?;
        // Flag names in order; `first[i]` says whether rule i defines a new flag.
        let mut names = FlagTable::default();
        let mut spans: Vec<Span> = Vec::new();
        let mut first: Vec<bool> = Vec::with_capacity(sec.rules.len());
        for rule in &sec.rules {
            let HygieneRule::Flag { name, .. } = rule else {
                first.push(false);
                continue;
            };
            if let Some(pos) = names.position(&name.name) {
                let prev = spans.get(pos).cloned().unwrap_or(0..0);
                let d = Self::diag(
                    Code::DuplicateDeclaration,
                    &name.span,
                    format!("flag `{}` is declared twice", name.name),
                )
                .label("declared again here")
                .related(prev, "first declared here")
                .help("give each flag its own name");
                self.emit(d);
                first.push(false);
                continue;
            }
            let clashes = self.field(RecordKind::Opportunity, &name.name).is_some()
                || OPPORTUNITY_SINGLE.contains(&name.name.as_str());
            if clashes {
                let d = Self::diag(
                    Code::DuplicateDeclaration,
                    &name.span,
                    format!(
                        "flag `{}` has the same name as a field or built-in",
                        name.name
                    ),
                )
                .label("name already taken")
                .help(format!("rename the flag, like `{}_flag`", name.name));
                self.emit(d);
            }
            names.insert(&name.name);
            spans.push(name.span.clone());
            first.push(true);
        }
        let mut out = ir::Hygiene {
            flags: Vec::new(),
            excludes: Vec::new(),
            downweights: Vec::new(),
            span: sec.span.clone(),
        };
        let mut defined = 0usize;
        for (rule, is_first) in sec.rules.iter().zip(first) {
            match rule {
                HygieneRule::Flag {
                    name,
                    when,
                    because,
                    span,
                } => {
                    if !is_first {
                        continue;
                    }
                    let mut sc = Scope::hygiene(&names, defined);
                    defined += 1;
                    if let Some(when) = self.cond(when, &mut sc, "when") {
                        out.flags.push(ir::FlagDef {
                            name: name.name.clone(),
                            when,
                            because: text(because),
                            span: span.clone(),
                        });
                    }
                }
                HygieneRule::Exclude { when, span } => {
                    let mut sc = Scope::hygiene(&names, names.len());
                    if let Some(c) = self.cond_rule(when, &None, span, &mut sc) {
                        out.excludes.push(c);
                    }
                }
                HygieneRule::Downweight { factor, when, span } => {
                    let factor = self.const_percent(factor, "the downweight factor");
                    let mut sc = Scope::hygiene(&names, names.len());
                    let when = self.cond(when, &mut sc, "when");
                    if let (Some(factor), Some(when)) = (factor, when) {
                        out.downweights.push(ir::Downweight {
                            factor,
                            when,
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        Some(out)
    }

    // ------------------------------------------------------------ leads

    pub(crate) fn leads(&mut self, policy: &ast::Policy) -> Option<ir::Leads> {
        let sec = self.single_section(policy, "leads", |i| match i {
            Item::Leads(s) => Some(s),
            _ => None,
        })?;
        let mut out = ir::Leads {
            routes: Vec::new(),
            prefer: Vec::new(),
            prefer_span: None,
            accept: None,
            convert: None,
            span: sec.span.clone(),
        };
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for rule in &sec.rules {
            match rule {
                LeadRule::Route {
                    when,
                    because,
                    span,
                } => {
                    if let Some(c) = self.cond_rule(when, because, span, &mut Scope::leads()) {
                        out.routes.push(c);
                    }
                }
                LeadRule::Prefer { keys, span } => {
                    if !self.once_in(&mut seen, "prefer", span) {
                        continue;
                    }
                    out.prefer_span = Some(span.clone());
                    for key in keys {
                        let Some(x) = self.expr(&key.expr, &mut Scope::leads(), None) else {
                            continue;
                        };
                        if is_ordered(&x.ty) || is_bool(&x.ty) {
                            out.prefer.push((x, key.descending));
                        } else {
                            let shown = self.shown_type(&x.ty);
                            let d = Self::diag(Code::TypeMismatch, &key.expr.span, format!("cannot rank partners by {shown}"))
                                .label(format!("this is {shown}"))
                                .help("rank by a number, money, percentage, date, duration, enum or bool, like `partner.tier desc`");
                            self.emit(d);
                        }
                    }
                }
                LeadRule::Accept {
                    within,
                    reroute_at_most,
                    span,
                } => {
                    if !self.once_in(&mut seen, "accept", span) {
                        continue;
                    }
                    let within: Option<Dur> =
                        self.const_duration(within, "the acceptance time", true);
                    let reroute = match reroute_at_most {
                        Some(e) => self.const_count(e, "the reroute limit", 0).map(Some),
                        None => Some(None),
                    };
                    if let (Some(within), Some(reroute_at_most)) = (within, reroute) {
                        out.accept = Some(ir::Accept {
                            within,
                            reroute_at_most,
                            span: span.clone(),
                        });
                    }
                }
                LeadRule::Convert { to, when, span } => {
                    if !self.once_in(&mut seen, "convert", span) {
                        continue;
                    }
                    let to = self.stage_ref(to);
                    let when = match when {
                        Some(w) => self.cond(w, &mut Scope::leads(), "when").map(Some),
                        None => Some(None),
                    };
                    if let (Some(to), Some(when)) = (to, when) {
                        out.convert = Some(ir::Convert {
                            to,
                            when,
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        Some(out)
    }
}
