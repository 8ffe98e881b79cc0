//! Declarations: the `policy` header (currency, business calendar), records and
//! their fields, stages, and the flow.

use std::collections::HashMap;
use std::str::FromStr;

use chrono_tz::Tz;

use super::exprs::Scope;
use super::literals::{parse_date, parse_time, peel};
use super::names::{did_you_mean, list_names, record_kind, reserved_opportunity_name};
use super::types::is_bool;
use super::Checker;
use crate::ast::{
    self, BinOp, CalendarEntry, ExprKind, HeaderSetting, Item, RecordMember, Span, StageKind,
    StageRef,
};
use crate::diagnostics::Code;
use crate::ir::{self, Const, FieldRef, Forecast, RecordKind, StageId, Type};

/// What the header contributes to the IR.
#[derive(Default)]
pub(crate) struct HeaderInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) calendar: Option<ir::Calendar>,
}

/// A transition's endpoints (`None` is `any`).
type EdgeKey = (Option<StageId>, StageId);

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const FORECASTS: [(&str, Forecast); 5] = [
    ("omitted", Forecast::Omitted),
    ("pipeline", Forecast::Pipeline),
    ("best_case", Forecast::BestCase),
    ("commit", Forecast::Commit),
    ("closed", Forecast::Closed),
];

impl Checker<'_> {
    // ------------------------------------------------------------ header

    pub(crate) fn header(&mut self, policy: &ast::Policy) -> HeaderInfo {
        let headers: Vec<&ast::Header> = policy
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Header(h) => Some(h),
                _ => None,
            })
            .collect();
        let Some((first, rest)) = headers.split_first() else {
            let d = Self::diag(
                Code::MalformedDeclaration,
                &(0..0),
                "the policy has no `policy` header",
            )
            .label("expected `policy \"Name\" version \"1\" { ... }` here")
            .help("start the file with `policy \"My Program\" version \"1\" { currency USD }`");
            self.emit(d);
            return HeaderInfo::default();
        };
        for dup in rest {
            let at = self.keyword_span(&dup.span, "policy");
            let d = Self::diag(
                Code::DuplicateDeclaration,
                &at,
                "the `policy` header is declared twice",
            )
            .label("second header")
            .related(
                self.keyword_span(&first.span, "policy"),
                "first header here",
            )
            .help("keep one `policy` header per file");
            self.emit(d);
        }
        let h = *first;
        let mut currency: Option<&ast::Ident> = None;
        let mut calendar: Option<&ast::Calendar> = None;
        for s in &h.settings {
            match s {
                HeaderSetting::Currency(c) => {
                    if let Some(prev) = currency {
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &c.span,
                            "the currency is declared twice",
                        )
                        .label("second currency")
                        .related(prev.span.clone(), "first declared here")
                        .help("a policy has one currency; remove one of them");
                        self.emit(d);
                    } else {
                        currency = Some(c);
                    }
                }
                HeaderSetting::Calendar(c) => {
                    if let Some(prev) = calendar {
                        let at = self.keyword_span(&c.span, "calendar");
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &at,
                            "the calendar is declared twice",
                        )
                        .label("second calendar")
                        .related(
                            self.keyword_span(&prev.span, "calendar"),
                            "first declared here",
                        )
                        .help("a policy has one business calendar; merge them");
                        self.emit(d);
                    } else {
                        calendar = Some(c);
                    }
                }
            }
        }
        match currency {
            None => {
                let at = self.keyword_span(&h.span, "policy");
                let d = Self::diag(Code::MalformedDeclaration, &at, "the policy declares no currency")
                    .label("no `currency` in this header")
                    .help("add `currency USD` (or your program's ISO 4217 code) inside the `policy` block");
                self.emit(d);
            }
            Some(c) => {
                let code = c.name.as_str();
                if code.len() == 3 && code.chars().all(|ch| ch.is_ascii_uppercase()) {
                    self.currency = code.to_string();
                } else {
                    let upper = code.to_ascii_uppercase();
                    let help =
                        if upper.len() == 3 && upper.chars().all(|ch| ch.is_ascii_uppercase()) {
                            format!("write it in capitals: `{upper}`")
                        } else {
                            "write a three-letter ISO 4217 code in capitals, like `USD`".into()
                        };
                    let d = Self::diag(
                        Code::InvalidLiteral,
                        &c.span,
                        format!("`{code}` is not a currency code"),
                    )
                    .label("not an ISO 4217 code")
                    .help(help);
                    self.emit(d);
                }
            }
        }
        let calendar = calendar.and_then(|c| self.calendar(c));
        HeaderInfo {
            name: h.name.node.clone(),
            version: h.version.node.clone(),
            calendar,
        }
    }

    fn day(&mut self, id: &ast::Ident) -> Option<usize> {
        if let Some(i) = DAYS.iter().position(|d| *d == id.name) {
            return Some(i);
        }
        let help = did_you_mean(&id.name, DAYS).unwrap_or_else(|| {
            "days are `mon`, `tue`, `wed`, `thu`, `fri`, `sat` and `sun`".into()
        });
        let d = Self::diag(
            Code::UnknownName,
            &id.span,
            format!("unknown day `{}`", id.name),
        )
        .label("not a day")
        .help(help);
        self.emit(d);
        None
    }

    fn time(&mut self, s: &ast::Str) -> Option<chrono::NaiveTime> {
        if let Some(t) = parse_time(&s.node) {
            return Some(t);
        }
        let d = Self::diag(
            Code::InvalidLiteral,
            &s.span,
            format!("`{}` is not a valid time", s.node),
        )
        .label("not HH:MM")
        .help("write a 24-hour time as `HH:MM`, like `09:00` or `17:30`");
        self.emit(d);
        None
    }

    fn calendar(&mut self, cal: &ast::Calendar) -> Option<ir::Calendar> {
        let mut ok = true;
        let mut timezone: Option<(String, Span)> = None;
        let mut hours: Option<([bool; 7], chrono::NaiveTime, chrono::NaiveTime, Span)> = None;
        let mut holidays = Vec::new();
        for entry in &cal.entries {
            match entry {
                CalendarEntry::Timezone(s) => {
                    if let Some((_, prev)) = &timezone {
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &s.span,
                            "the time zone is declared twice",
                        )
                        .label("second time zone")
                        .related(prev.clone(), "first declared here")
                        .help("keep one `timezone`");
                        self.emit(d);
                        ok = false;
                        continue;
                    }
                    if Tz::from_str(&s.node).is_ok() {
                        timezone = Some((s.node.clone(), s.span.clone()));
                    } else {
                        let help = did_you_mean(
                            &s.node,
                            chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()),
                        )
                        .unwrap_or_else(|| {
                            "use an IANA time zone name, like `America/New_York` or `Europe/Berlin`"
                                .into()
                        });
                        let d = Self::diag(
                            Code::InvalidLiteral,
                            &s.span,
                            format!("unknown time zone `{}`", s.node),
                        )
                        .label("not an IANA time zone")
                        .help(help);
                        self.emit(d);
                        ok = false;
                    }
                }
                CalendarEntry::Hours {
                    first_day,
                    last_day,
                    start,
                    end,
                    span,
                } => {
                    if let Some((_, _, _, prev)) = &hours {
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            span,
                            "working hours are declared twice",
                        )
                        .label("second `hours`")
                        .related(prev.clone(), "first declared here")
                        .help("a calendar has one `hours` line, like `hours mon-fri 09:00-17:00`");
                        self.emit(d);
                        ok = false;
                        continue;
                    }
                    let first = self.day(first_day);
                    let last = match last_day {
                        Some(l) => self.day(l),
                        None => first,
                    };
                    let start_t = self.time(start);
                    let end_t = self.time(end);
                    let (Some(first), Some(last), Some(start_t), Some(end_t)) =
                        (first, last, start_t, end_t)
                    else {
                        ok = false;
                        continue;
                    };
                    if start_t >= end_t {
                        let d = Self::diag(
                            Code::InvalidLiteral,
                            &end.span,
                            "the working day must end after it starts",
                        )
                        .label(format!("`{}` is not after `{}`", end.node, start.node))
                        .help("write the hours as start-end on one day, like `09:00-17:00`");
                        self.emit(d);
                        ok = false;
                        continue;
                    }
                    let mut days = [false; 7];
                    // A range may wrap around the week (`fri-mon`).
                    let mut i = first;
                    for _ in 0..7 {
                        if let Some(slot) = days.get_mut(i) {
                            *slot = true;
                        }
                        if i == last {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                    hours = Some((days, start_t, end_t, span.clone()));
                }
                CalendarEntry::Holidays(list) => {
                    for s in list {
                        match parse_date(&s.node) {
                            Ok(d) => holidays.push(d),
                            Err(help) => {
                                let d = Self::diag(
                                    Code::InvalidLiteral,
                                    &s.span,
                                    format!("`{}` is not a valid date", s.node),
                                )
                                .label("no such date")
                                .help(help);
                                self.emit(d);
                                ok = false;
                            }
                        }
                    }
                }
            }
        }
        let (working_days, start, end) = match hours {
            Some((d, s, e, _)) => (d, s, e),
            None => (
                [true, true, true, true, true, false, false],
                chrono::NaiveTime::from_hms_opt(9, 0, 0)?,
                chrono::NaiveTime::from_hms_opt(17, 0, 0)?,
            ),
        };
        self.business_day = (end - start).num_seconds().max(1);
        self.working_days = working_days.iter().filter(|d| **d).count() as i64;
        holidays.sort();
        holidays.dedup();
        ok.then(|| ir::Calendar {
            name: cal.name.name.clone(),
            timezone: timezone.map(|(t, _)| t).unwrap_or_else(|| "UTC".into()),
            working_days,
            start,
            end,
            holidays,
            span: cal.span.clone(),
        })
    }

    // ------------------------------------------------------------ records

    pub(crate) fn records(&mut self, policy: &ast::Policy) {
        let mut seen: HashMap<RecordKind, Span> = HashMap::new();
        for item in &policy.items {
            let Item::Record(rec) = item else { continue };
            let Some(kind) = record_kind(&rec.name.name) else {
                let names = ir::RecordKind::ALL.map(|k| k.name());
                let help = did_you_mean(&rec.name.name, names)
                    .unwrap_or_else(|| format!("the records are {}", list_names(names, 5)));
                let d = Self::diag(
                    Code::UnknownName,
                    &rec.name.span,
                    format!("unknown record `{}`", rec.name.name),
                )
                .label("not a record the engine knows")
                .help(help);
                self.emit(d);
                continue;
            };
            if let Some(first) = seen.get(&kind) {
                let d = Self::diag(
                    Code::DuplicateDeclaration,
                    &rec.name.span,
                    format!("`record {}` is declared twice", kind.name()),
                )
                .label("declared again here")
                .related(first.clone(), "first declared here")
                .help("declare all of the record's fields in one block");
                self.emit(d);
                continue;
            }
            seen.insert(kind, rec.name.span.clone());
            if let Some(r) = self.records.get_mut(kind.index()) {
                r.span = Some(rec.span.clone());
            }
            for member in &rec.members {
                match member {
                    RecordMember::Field(f) => self.field_decl(kind, f, false),
                    RecordMember::Evidence { fields, .. } => {
                        for f in fields {
                            self.field_decl(kind, f, true);
                        }
                    }
                }
            }
        }
    }

    fn field_decl(&mut self, kind: RecordKind, f: &ast::Field, evidence: bool) {
        let name = f.name.name.as_str();
        if let Some((_, prev)) = self.field(kind, name) {
            let d = Self::diag(
                Code::DuplicateDeclaration,
                &f.name.span,
                format!(
                    "field `{name}` is declared twice in `record {}`",
                    kind.name()
                ),
            )
            .label("declared again here")
            .related(prev.span.clone(), "first declared here")
            .help("remove one of the declarations or rename it");
            self.emit(d);
            return;
        }
        let reserved = match kind {
            RecordKind::Opportunity => reserved_opportunity_name(name),
            RecordKind::Account => name == "direct_owned",
            _ => false,
        };
        if reserved {
            let help = if name == "line_items" {
                "`line_items` is built in: it lists the opportunity's line items; declare their fields in `record line_item`".to_string()
            } else {
                format!("rename the field, like `{name}_value`")
            };
            let d = Self::diag(
                Code::DuplicateDeclaration,
                &f.name.span,
                format!("field `{name}` conflicts with the built-in `{name}`"),
            )
            .label("built-in name")
            .help(help);
            self.emit(d);
            return;
        }
        let ty = self.resolve_type(&f.ty, kind, name);
        let default = match (&ty, &f.default) {
            (Some(t), Some(e)) => self.constant(e, t, "a default value"),
            _ => None,
        };
        let range = match (&ty, &f.range) {
            (Some(t), Some(r)) => self.field_range(r, t, name),
            _ => None,
        };
        let Some(ty) = ty else {
            self.poisoned.insert((kind, name.to_string()));
            return;
        };
        let Some(rec) = self.records.get_mut(kind.index()) else {
            return;
        };
        let slot = rec.fields.len() as u32;
        rec.fields.push(ir::FieldDef {
            name: name.to_string(),
            ty,
            evidence,
            default,
            range,
            span: f.span.clone(),
        });
        if let Some(slots) = self.field_slots.get_mut(kind.index()) {
            slots.insert(name.to_string(), slot);
        }
    }

    // ------------------------------------------------------------ stages

    /// Registers stage names (in declaration order) so expressions can refer to them.
    pub(crate) fn register_stages<'p>(
        &mut self,
        policy: &'p ast::Policy,
    ) -> Vec<(&'p ast::Stage, StageId)> {
        let mut out = Vec::new();
        for item in &policy.items {
            let Item::Stage(s) = item else { continue };
            if let Some(id) = self.stage_ids.get(&s.name.name) {
                let first = self
                    .stage_name_spans
                    .get(id.0 as usize)
                    .cloned()
                    .unwrap_or(0..0);
                let d = Self::diag(
                    Code::DuplicateDeclaration,
                    &s.name.span,
                    format!("stage `{}` is declared twice", s.name.name),
                )
                .label("declared again here")
                .related(first, "first declared here")
                .help("rename one of the stages or merge them");
                self.emit(d);
                continue;
            }
            let id = StageId(self.stages.len() as u32);
            let forecast = match s.kind {
                StageKind::Open => Forecast::Pipeline,
                StageKind::Won => Forecast::Closed,
                StageKind::Lost => Forecast::Omitted,
            };
            self.stages.push(ir::StageDef {
                name: s.name.name.clone(),
                label: s.label.as_ref().map(|l| l.node.clone()),
                kind: s.kind,
                probability: rust_decimal::Decimal::ZERO,
                forecast,
                expected: None,
                requires: Vec::new(),
                span: s.span.clone(),
            });
            self.stage_name_spans.push(s.name.span.clone());
            self.probability_ok.push(false);
            self.stage_ids.insert(s.name.name.clone(), id);
            out.push((s, id));
        }
        out
    }

    /// Checks a stage's properties. Without `forecast`, open stages forecast as
    /// `pipeline`, won stages as `closed` and lost stages as `omitted`.
    pub(crate) fn stage_body(&mut self, s: &ast::Stage, id: StageId) {
        let mut probability = None;
        let mut prob_span: Option<Span> = None;
        let mut forecast = None;
        let mut forecast_span: Option<Span> = None;
        let mut expected = None;
        let mut expected_span: Option<Span> = None;
        let mut requires = Vec::new();
        for prop in &s.props {
            match prop {
                ast::StageProp::Probability(e) => {
                    if self.once(&mut prob_span, &e.span, "probability") {
                        probability = self.const_percent(e, "the probability");
                    }
                }
                ast::StageProp::Forecast(f) => {
                    if !self.once(&mut forecast_span, &f.span, "forecast") {
                        continue;
                    }
                    match FORECASTS.iter().find(|(n, _)| *n == f.name) {
                        Some((_, fc)) => forecast = Some(*fc),
                        None => {
                            let names = FORECASTS.map(|(n, _)| n);
                            let help = did_you_mean(&f.name, names).unwrap_or_else(|| {
                                format!("the forecast categories are {}", list_names(names, 5))
                            });
                            let d = Self::diag(
                                Code::UnknownEnumValue,
                                &f.span,
                                format!("unknown forecast category `{}`", f.name),
                            )
                            .label("not a forecast category")
                            .help(help);
                            self.emit(d);
                        }
                    }
                }
                ast::StageProp::Expected(e) => {
                    if self.once(&mut expected_span, &e.span, "expected") {
                        expected = self
                            .const_duration(e, "the expected time in stage", false)
                            .map(|d| d.seconds);
                    }
                }
                ast::StageProp::Requires(req) => {
                    let items = req
                        .items
                        .iter()
                        .filter_map(|i| self.require_item(i))
                        .collect();
                    requires.push(ir::Requirement {
                        items,
                        because: req.because.as_ref().map(|b| b.node.clone()),
                        span: req.span.clone(),
                    });
                }
            }
        }
        if prob_span.is_none() {
            let d = Self::diag(
                Code::MalformedDeclaration,
                &s.name.span,
                format!("stage `{}` has no probability", s.name.name),
            )
            .label("missing `probability`")
            .help("add the win probability of the stage, like `probability 20%`");
            self.emit(d);
        }
        if let Some(ok) = self.probability_ok.get_mut(id.0 as usize) {
            *ok = probability.is_some();
        }
        if let Some(def) = self.stages.get_mut(id.0 as usize) {
            if let Some(p) = probability {
                def.probability = p;
            }
            if let Some(f) = forecast {
                def.forecast = f;
            }
            def.expected = expected;
            def.requires = requires;
        }
    }

    /// Tracks a property that may appear once; reports E120 on a repeat.
    fn once(&mut self, first: &mut Option<Span>, span: &Span, what: &str) -> bool {
        if let Some(prev) = first {
            let prev = prev.clone();
            let d = Self::diag(
                Code::DuplicateDeclaration,
                span,
                format!("`{what}` is declared twice"),
            )
            .label("declared again here")
            .related(prev, "first declared here")
            .help(format!("keep one `{what}`"));
            self.emit(d);
            return false;
        }
        *first = Some(span.clone());
        true
    }

    /// One `requires` item. A bare opportunity field name is an evidence requirement
    /// (recorded as [`FieldRef`]); its expression is the presence test `present f`,
    /// and for a `bool` field `present f and f == true` (evidence that is recorded as
    /// `false` does not count). Any other item must be a condition.
    fn require_item(&mut self, e: &ast::Expr) -> Option<ir::RequireItem> {
        if let ExprKind::Path(segs) = &peel(e).kind {
            if let [one] = segs.as_slice() {
                if let Some((slot, def)) = self.field(RecordKind::Opportunity, &one.name) {
                    let span = e.span.clone();
                    let field = ir::Expr {
                        kind: ir::ExprKind::Field {
                            record: RecordKind::Opportunity,
                            slot,
                        },
                        ty: def.ty.clone(),
                        span: span.clone(),
                    };
                    let presence = ir::Expr {
                        kind: ir::ExprKind::Presence {
                            present: true,
                            expr: Box::new(field.clone()),
                        },
                        ty: Type::Bool,
                        span: span.clone(),
                    };
                    let expr = if is_bool(&def.ty) {
                        let truth = ir::Expr {
                            kind: ir::ExprKind::Const(Const::Bool(true)),
                            ty: Type::Bool,
                            span: span.clone(),
                        };
                        let is_true = ir::Expr {
                            kind: ir::ExprKind::Binary(BinOp::Eq, Box::new(field), Box::new(truth)),
                            ty: Type::Bool,
                            span: span.clone(),
                        };
                        ir::Expr {
                            kind: ir::ExprKind::Binary(
                                BinOp::And,
                                Box::new(presence),
                                Box::new(is_true),
                            ),
                            ty: Type::Bool,
                            span: span.clone(),
                        }
                    } else {
                        presence
                    };
                    let evidence = Some(FieldRef {
                        record: RecordKind::Opportunity,
                        slot,
                    });
                    return Some(ir::RequireItem {
                        expr,
                        evidence,
                        span,
                    });
                }
            }
        }
        let mut sc = Scope::opportunity();
        let expr = self.cond(e, &mut sc, "requires")?;
        Some(ir::RequireItem {
            expr,
            evidence: None,
            span: e.span.clone(),
        })
    }

    // ------------------------------------------------------------ flow

    /// Builds the transitions. The flag is false when some stage reference did not
    /// resolve (the graph checks then skip reachability to avoid false alarms).
    /// Finds stage labels written in `flow` where a stage name belongs:
    /// `New -> Lead Accepted -> Won` parses as `New -> Lead` and `Accepted -> Won`,
    /// two unknown stages. Runs of names separated only by spaces, with at least one
    /// unknown, whose words are a declared stage's label (or run together are its
    /// name) get one E102 naming that stage. Returns the start offsets of the names
    /// reported this way, so they are not reported again one by one.
    fn stage_labels_in_flow(&mut self, policy: &ast::Policy) -> std::collections::HashSet<usize> {
        let mut names: Vec<&ast::Ident> = Vec::new();
        for item in &policy.items {
            let Item::Flow(flow) = item else { continue };
            for rule in &flow.rules {
                names.extend(rule.chain.iter().filter_map(|r| match r {
                    StageRef::Named(id) => Some(id),
                    StageRef::Any(_) => None,
                }));
            }
        }
        let mut runs: Vec<Vec<&ast::Ident>> = Vec::new();
        for id in names {
            let joins = runs.last().and_then(|run| run.last()).is_some_and(|prev| {
                let between = self.text(&(prev.span.end..id.span.start));
                prev.span.end <= id.span.start
                    && !between.is_empty()
                    && between.chars().all(|c| c == ' ' || c == '\t')
            });
            match runs.last_mut() {
                Some(run) if joins => run.push(id),
                _ => runs.push(vec![id]),
            }
        }
        let normal = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        let mut reported = std::collections::HashSet::new();
        for run in runs.iter().filter(|r| r.len() >= 2) {
            if run.iter().all(|id| self.stage_ids.contains_key(&id.name)) {
                continue;
            }
            let words: Vec<&str> = run.iter().map(|id| id.name.as_str()).collect();
            let label = words.join(" ");
            let joined = words.concat().to_lowercase();
            let found = self
                .stages
                .iter()
                .zip(&self.stage_name_spans)
                .find(|(s, _)| {
                    s.label
                        .as_deref()
                        .is_some_and(|l| normal(l) == normal(&label))
                        || s.name.to_lowercase() == joined
                });
            let (Some((stage, decl)), Some(first), Some(last)) = (found, run.first(), run.last())
            else {
                continue;
            };
            let span = first.span.start..last.span.end;
            let what = if stage
                .label
                .as_deref()
                .is_some_and(|l| normal(l) == normal(&label))
            {
                format!("`{label}` is the label of stage `{}`", stage.name)
            } else {
                format!("stage names are one word: `{}`", stage.name)
            };
            let d = Self::diag(
                Code::UnknownStage,
                &span,
                format!("unknown stage `{label}`"),
            )
            .label("a stage label, not a stage name")
            .related(decl.clone(), "the stage is declared here")
            .help(format!("{what}; write `{}` in `flow`", stage.name));
            self.emit(d);
            reported.extend(run.iter().map(|id| id.span.start));
        }
        reported
    }

    pub(crate) fn flow(&mut self, policy: &ast::Policy) -> (Vec<ir::Transition>, bool) {
        let mut out: Vec<ir::Transition> = Vec::new();
        let mut resolved = true;
        let mut seen: HashMap<EdgeKey, Vec<(Option<&ast::Expr>, Span)>> = HashMap::new();
        let labels = self.stage_labels_in_flow(policy);
        for item in &policy.items {
            let Item::Flow(flow) = item else { continue };
            for rule in &flow.rules {
                if rule.chain.len() < 2 {
                    let d = Self::diag(
                        Code::MalformedDeclaration,
                        &rule.span,
                        "a flow rule needs at least two stages",
                    )
                    .label("nothing to go to")
                    .help("write a transition like `Qualification -> Proposal`");
                    self.emit(d);
                    continue;
                }
                // Each element: Some(from-id) where `None` inside is `any`.
                let mut refs: Vec<Option<(Option<StageId>, Span)>> =
                    Vec::with_capacity(rule.chain.len());
                for (i, r) in rule.chain.iter().enumerate() {
                    match r {
                        StageRef::Any(span) if i == 0 => refs.push(Some((None, span.clone()))),
                        StageRef::Any(span) => {
                            let d = Self::diag(
                                Code::MalformedDeclaration,
                                span,
                                "`any` can only start a flow rule",
                            )
                            .label("`any` in the middle of a chain")
                            .help("write `any -> Stage` on its own line");
                            self.emit(d);
                            resolved = false;
                            refs.push(None);
                        }
                        // A word of a stage label: reported once, for the whole label.
                        StageRef::Named(id) if labels.contains(&id.span.start) => {
                            resolved = false;
                            refs.push(None);
                        }
                        StageRef::Named(id) => match self.stage_ref(id) {
                            Some(s) => refs.push(Some((Some(s), id.span.clone()))),
                            None => {
                                resolved = false;
                                refs.push(None);
                            }
                        },
                    }
                }
                let guard = rule.guard.as_ref().and_then(|g| {
                    let mut sc = Scope::opportunity();
                    self.cond(g, &mut sc, "when")
                });
                let because = rule.because.as_ref().map(|b| b.node.clone());
                for pair in refs.windows(2) {
                    let [Some((from, from_span)), Some((Some(to), to_span))] = pair else {
                        continue;
                    };
                    let span = from_span.start..to_span.end;
                    let key = (*from, *to);
                    let entry = seen.entry(key).or_default();
                    if let Some((_, first)) = entry.iter().find(|(g, _)| *g == rule.guard.as_ref())
                    {
                        let text = self.text(&span).to_string();
                        let d = Self::diag(
                            Code::DuplicateDeclaration,
                            &span,
                            format!("transition `{text}` is declared twice"),
                        )
                        .label("declared again here")
                        .related(first.clone(), "first declared here")
                        .help("remove the repeated transition");
                        self.emit(d);
                        continue;
                    }
                    entry.push((rule.guard.as_ref(), span.clone()));
                    out.push(ir::Transition {
                        from: *from,
                        to: *to,
                        guard: guard.clone(),
                        because: because.clone(),
                        span,
                    });
                }
            }
        }
        (out, resolved)
    }
}
