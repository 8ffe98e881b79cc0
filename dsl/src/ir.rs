//! The checked IR: names resolved to ids and slots, every expression typed, literals
//! converted to values. Produced by [`crate::check`]; consumed by the engine, which
//! never sees the AST.
//!
//! Architecture invariant: an `ir::Policy` only exists for a policy with no
//! error-severity diagnostics, so every id and slot in it is valid.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

pub use crate::ast::{BinOp, MatchMode, Quantifier, Span, StageKind, UnOp};

/// Index into [`Policy::stages`] (declaration order; stages compare in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StageId(pub u32);

/// Index into [`Policy::enums`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EnumId(pub u32);

impl EnumId {
    /// Built-in `registration.status`: none, pending, approved, rejected, expired.
    pub const REGISTRATION_STATUS: EnumId = EnumId(0);
    /// Built-in forecast category: omitted, pipeline, best_case, commit, closed.
    pub const FORECAST: EnumId = EnumId(1);
    /// Number of built-in enums (user enums start here).
    pub const BUILTIN_COUNT: u32 = 2;
}

/// Index into [`Cosell::pools`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PoolId(pub u32);

/// The records a policy's schema can declare. Opportunity fields are in scope
/// unqualified; the others are reached as `partner.x`, `account.x`, `item.x`
/// (the current line item in commission rate tables) and `lead.x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Opportunity,
    Partner,
    Account,
    LineItem,
    Lead,
}

impl RecordKind {
    pub const ALL: [RecordKind; 5] = [
        RecordKind::Opportunity,
        RecordKind::Partner,
        RecordKind::Account,
        RecordKind::LineItem,
        RecordKind::Lead,
    ];

    /// The name used in `record NAME { ... }`.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Opportunity => "opportunity",
            RecordKind::Partner => "partner",
            RecordKind::Account => "account",
            RecordKind::LineItem => "line_item",
            RecordKind::Lead => "lead",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A static type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Type {
    Bool,
    Integer,
    Decimal,
    /// Money in the policy's currency (other currencies are rejected by the checker).
    Money,
    Percent,
    Date,
    DateTime,
    /// Calendar duration (`90d`, `24h`).
    Duration,
    /// Duration on the business calendar (`16 business hours`).
    BusinessDuration,
    Text,
    Enum(EnumId),
    Stage,
    Record(RecordKind),
    List(Box<Type>),
    Optional(Box<Type>),
}

/// A constant value (literals, defaults, rate-table patterns). `Eq` and `Hash` let
/// the lints index rate rows by pattern value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Const {
    Bool(bool),
    Integer(i64),
    Decimal(Decimal),
    /// Amount in the policy currency.
    Money(Decimal),
    /// As a fraction: `15%` is `0.15`.
    Percent(Decimal),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// Seconds.
    Duration(i64),
    /// Seconds of business time.
    BusinessDuration(i64),
    Text(String),
    Enum {
        id: EnumId,
        index: u32,
    },
    Stage(StageId),
    List(Vec<Const>),
    /// The absent value of an optional.
    None,
}

/// A typed expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    Const(Const),
    /// A declared field of a singleton record (for `LineItem`: the current line item).
    Field {
        record: RecordKind,
        slot: u32,
    },
    /// A quantifier-bound variable (its value is a list element).
    Var(u32),
    /// A field of a quantifier-bound line item: `li.price`.
    VarField {
        var: u32,
        slot: u32,
    },
    /// A fact derived from history or context.
    Builtin(Builtin),
    /// A hygiene flag's value (inside hygiene expressions): index into `Hygiene::flags`.
    Flag(u32),
    List(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Presence {
        present: bool,
        expr: Box<Expr>,
    },
    /// `any/all/count/sum(var in list: body)`; `var` ids are unique within a policy.
    Quant {
        q: Quantifier,
        var: u32,
        list: Box<Expr>,
        body: Box<Expr>,
    },
    Call(Func, Vec<Expr>),
}

/// Facts the engine derives from the record, its history and the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// `stage`: the current stage (Stage).
    Stage,
    /// `probability` / `stage.probability` (Percent).
    Probability,
    /// `stage.expected` (Duration; zero when the stage declares none).
    StageExpected,
    /// `stage_entered_at` (DateTime?).
    StageEnteredAt,
    /// `days_in_stage` (Duration).
    DaysInStage,
    /// `close_date_changes` (Integer).
    CloseDateChanges,
    /// `days_since_last_activity` (Duration?; absent when no activity was logged).
    DaysSinceLastActivity,
    /// `now` (DateTime): the evaluation time.
    Now,
    /// `today` (Date) in the policy's time zone.
    Today,
    /// `line_items` (list<line_item>).
    LineItems,
    /// `registration.status` (enum registration status).
    RegistrationStatus,
    /// `registration.approved` (Bool).
    RegistrationApproved,
    /// `registration.submitted_at` (DateTime?).
    RegistrationSubmittedAt,
    /// `registration.approved_at` (DateTime?).
    RegistrationApprovedAt,
    /// `registration.age` (Duration?): now - submitted_at.
    RegistrationAge,
    /// `registration.age_at_close` (Duration?): close time - submitted_at.
    RegistrationAgeAtClose,
    /// `registration.approved_before_close` (Bool).
    RegistrationApprovedBeforeClose,
    /// `registration.partner` (Text?): the registering partner's id.
    RegistrationPartner,
    /// `registration.protected_until` (DateTime?).
    RegistrationProtectedUntil,
    /// `cosell.supported` (Bool): any co-sell activity logged.
    CosellSupported,
    /// `cosell.first_contact_at` (DateTime?).
    CosellFirstContactAt,
    /// `approved` inside `discount ... when`: the registration is approved (Bool).
    Approved,
    /// `account.direct_owned` (Bool): the context lists the account as owned by direct sales.
    AccountDirectOwned,
}

impl Builtin {
    /// Every built-in fact.
    pub const ALL: [Builtin; 23] = [
        Builtin::Stage,
        Builtin::Probability,
        Builtin::StageExpected,
        Builtin::StageEnteredAt,
        Builtin::DaysInStage,
        Builtin::CloseDateChanges,
        Builtin::DaysSinceLastActivity,
        Builtin::Now,
        Builtin::Today,
        Builtin::LineItems,
        Builtin::RegistrationStatus,
        Builtin::RegistrationApproved,
        Builtin::RegistrationSubmittedAt,
        Builtin::RegistrationApprovedAt,
        Builtin::RegistrationAge,
        Builtin::RegistrationAgeAtClose,
        Builtin::RegistrationApprovedBeforeClose,
        Builtin::RegistrationPartner,
        Builtin::RegistrationProtectedUntil,
        Builtin::CosellSupported,
        Builtin::CosellFirstContactAt,
        Builtin::Approved,
        Builtin::AccountDirectOwned,
    ];

    /// The name as written in a policy.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Stage => "stage",
            Builtin::Probability => "probability",
            Builtin::StageExpected => "stage.expected",
            Builtin::StageEnteredAt => "stage_entered_at",
            Builtin::DaysInStage => "days_in_stage",
            Builtin::CloseDateChanges => "close_date_changes",
            Builtin::DaysSinceLastActivity => "days_since_last_activity",
            Builtin::Now => "now",
            Builtin::Today => "today",
            Builtin::LineItems => "line_items",
            Builtin::RegistrationStatus => "registration.status",
            Builtin::RegistrationApproved => "registration.approved",
            Builtin::RegistrationSubmittedAt => "registration.submitted_at",
            Builtin::RegistrationApprovedAt => "registration.approved_at",
            Builtin::RegistrationAge => "registration.age",
            Builtin::RegistrationAgeAtClose => "registration.age_at_close",
            Builtin::RegistrationApprovedBeforeClose => "registration.approved_before_close",
            Builtin::RegistrationPartner => "registration.partner",
            Builtin::RegistrationProtectedUntil => "registration.protected_until",
            Builtin::CosellSupported => "cosell.supported",
            Builtin::CosellFirstContactAt => "cosell.first_contact_at",
            Builtin::Approved => "approved",
            Builtin::AccountDirectOwned => "account.direct_owned",
        }
    }
}

/// Built-in functions. All are total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    /// `days_between(a, b)`: whole days from a to b (dates or datetimes) -> Integer.
    DaysBetween,
    /// `days(duration)` -> Integer (whole days).
    Days,
    /// `len(list)` -> Integer.
    Len,
    /// `date(datetime)` -> Date in the policy time zone.
    Date,
    /// `min(a, b)` / `max(a, b)` of two comparable values of one type.
    Min,
    Max,
    /// `lower(text)` -> Text.
    Lower,
}

/// A checked policy.
#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub name: String,
    pub version: String,
    /// ISO 4217 code; every money value in the policy is in it.
    pub currency: String,
    pub calendar: Option<Calendar>,
    /// Built-in enums first (see [`EnumId`]), then enums declared in records.
    pub enums: Vec<EnumDef>,
    /// Indexed by [`RecordKind::index`]; undeclared records have no fields.
    pub records: Vec<RecordSchema>,
    pub stages: Vec<StageDef>,
    pub transitions: Vec<Transition>,
    pub registration: Option<Registration>,
    pub cosell: Option<Cosell>,
    pub commission: Option<Commission>,
    pub hygiene: Option<Hygiene>,
    pub leads: Option<Leads>,
}

impl Policy {
    pub fn record(&self, kind: RecordKind) -> Option<&RecordSchema> {
        self.records.get(kind.index())
    }

    pub fn stage(&self, id: StageId) -> Option<&StageDef> {
        self.stages.get(id.0 as usize)
    }

    pub fn stage_by_name(&self, name: &str) -> Option<StageId> {
        self.stages
            .iter()
            .position(|s| s.name == name)
            .map(|i| StageId(i as u32))
    }

    pub fn enum_def(&self, id: EnumId) -> Option<&EnumDef> {
        self.enums.get(id.0 as usize)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Calendar {
    pub name: String,
    /// IANA time zone name, validated by the checker.
    pub timezone: String,
    /// Working days, Monday first.
    pub working_days: [bool; 7],
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub holidays: Vec<NaiveDate>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnumDef {
    /// The field that declared it (`product_family`) or the built-in's name.
    pub name: String,
    pub variants: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}

impl EnumDef {
    /// The built-in enums, in [`EnumId`] order: registration status, then forecast.
    pub fn builtins() -> Vec<EnumDef> {
        let def = |name: &str, variants: [&str; 5]| EnumDef {
            name: name.into(),
            variants: variants.map(String::from).to_vec(),
            span: 0..0,
        };
        vec![
            def(
                "registration status",
                ["none", "pending", "approved", "rejected", "expired"],
            ),
            def(
                "forecast",
                ["omitted", "pipeline", "best_case", "commit", "closed"],
            ),
        ]
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RecordSchema {
    pub kind: RecordKind,
    pub fields: Vec<FieldDef>,
    /// `None` when the policy does not declare this record.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl RecordSchema {
    pub fn field(&self, name: &str) -> Option<(u32, &FieldDef)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .map(|(i, f)| (i as u32, f))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FieldDef {
    pub name: String,
    pub ty: Type,
    pub evidence: bool,
    pub default: Option<Const>,
    /// `in low .. high`: the declared value range; `None` keeps the type's default
    /// rule (money, whole numbers and durations 0 or more, percents 0% to 100%).
    pub range: Option<FieldRange>,
    #[serde(skip)]
    pub span: Span,
}

/// A field's declared range, checked: each bound is a constant of the field's type
/// and `low <= high`.
#[derive(Clone, Debug, Serialize)]
pub struct FieldRange {
    pub low: Option<RangeBound>,
    pub high: Option<RangeBound>,
    /// `policy.policy:12:3`: where the range is declared, for record messages.
    pub at: String,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct RangeBound {
    pub value: Const,
    /// The bound as written in the policy (`-10_000 USD`).
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Forecast {
    Omitted,
    Pipeline,
    BestCase,
    Commit,
    Closed,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageDef {
    pub name: String,
    pub label: Option<String>,
    pub kind: StageKind,
    /// Fraction: 15% is 0.15.
    pub probability: Decimal,
    pub forecast: Forecast,
    /// Expected time in the stage, seconds.
    pub expected: Option<i64>,
    pub requires: Vec<Requirement>,
    #[serde(skip)]
    pub span: Span,
}

impl StageDef {
    pub fn is_terminal(&self) -> bool {
        self.kind != StageKind::Open
    }

    pub fn display_name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// One `requires` clause.
#[derive(Clone, Debug, Serialize)]
pub struct Requirement {
    pub items: Vec<RequireItem>,
    pub because: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

/// One item of a `requires` clause: a Bool expression. When the item was a bare
/// evidence field, `evidence` names it (the expression is then its presence test).
#[derive(Clone, Debug, Serialize)]
pub struct RequireItem {
    pub expr: Expr,
    pub evidence: Option<FieldRef>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FieldRef {
    pub record: RecordKind,
    pub slot: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    /// `None` for `any -> X`.
    pub from: Option<StageId>,
    pub to: StageId,
    pub guard: Option<Expr>,
    pub because: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

/// A condition with an optional explanation.
#[derive(Clone, Debug, Serialize)]
pub struct Cond {
    pub expr: Expr,
    pub because: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

/// A constant duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Dur {
    pub seconds: i64,
    /// Counted on the business calendar.
    pub business: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Registration {
    pub open_from: Option<(StageId, Span)>,
    pub eligible: Vec<Cond>,
    pub duplicate: Option<Duplicate>,
    pub conflicts: Vec<Conflict>,
    /// Auto-approve when any of these holds.
    pub auto_approve: Vec<Cond>,
    pub review: Option<Review>,
    pub escalations: Vec<Escalation>,
    pub protect: Option<(Dur, Span)>,
    pub extend: Option<Extend>,
    /// Late when any of these holds.
    pub late: Vec<Cond>,
    pub discounts: Vec<Discount>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Duplicate {
    /// Key expressions over the opportunity (text keys compared normalized).
    pub keys: Vec<Expr>,
    pub within: Dur,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub enum ConflictKind {
    When(Expr),
    /// Another partner's protected registration matches on these keys.
    OtherProtected {
        keys: Vec<Expr>,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Conflict {
    pub kind: ConflictKind,
    pub reject: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Review {
    pub queue: String,
    pub within: Dur,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Escalation {
    pub to: String,
    pub after: Dur,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendTrigger {
    /// The opportunity advanced a stage.
    Advance,
    /// An activity was logged.
    Activity,
}

#[derive(Clone, Debug, Serialize)]
pub struct Extend {
    pub by: Dur,
    pub on: ExtendTrigger,
    pub at_most: Option<u32>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Discount {
    /// Fraction.
    pub rate: Decimal,
    pub when: Option<Expr>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
    Quarter,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cosell {
    pub pools: Vec<Pool>,
    pub assigns: Vec<Assign>,
    pub nevers: Vec<Never>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pool {
    pub name: String,
    pub label: Option<String>,
    pub capacity: u32,
    pub per: Period,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Assign {
    pub pool: PoolId,
    pub when: Expr,
    /// A numeric expression (Integer, Decimal, Money or Percent); higher is more urgent.
    pub priority: Option<Expr>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Never {
    /// `None`: applies to every pool.
    pub pool: Option<PoolId>,
    pub when: Expr,
    pub because: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Commission {
    pub attribute: Vec<Cond>,
    pub rate: Option<RateTable>,
    pub rebates: Vec<Rebate>,
    pub splits: Vec<Split>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct RateTable {
    /// Evaluated per line item (`item.x` is the current line item).
    pub keys: Vec<Expr>,
    pub mode: MatchMode,
    pub rows: Vec<RateRow>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct RateRow {
    /// One per key: `None` is `_`; otherwise the key matches any of the values.
    pub patterns: Vec<Option<Vec<Const>>>,
    /// Fraction.
    pub rate: Decimal,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rebate {
    pub name: String,
    /// Fraction of the line amount.
    pub rate: Decimal,
    pub when: Expr,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Split {
    pub when: Option<Expr>,
    pub shares: Vec<Share>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub enum SplitRole {
    /// The registering partner.
    Registering,
    /// An opportunity field (Text or Text?) holding a partner id.
    Field { name: String, slot: u32 },
}

#[derive(Clone, Debug, Serialize)]
pub struct Share {
    pub role: SplitRole,
    /// Fraction.
    pub share: Decimal,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Hygiene {
    pub flags: Vec<FlagDef>,
    pub excludes: Vec<Cond>,
    pub downweights: Vec<Downweight>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlagDef {
    pub name: String,
    /// May reference earlier flags only (no cycles by construction).
    pub when: Expr,
    pub because: Option<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Downweight {
    /// Fraction to multiply the weighted amount by.
    pub factor: Decimal,
    pub when: Expr,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Leads {
    /// Expressions over `lead.x` and `partner.x`; all must hold for a partner.
    pub routes: Vec<Cond>,
    /// Ranking keys over `partner.x` / `lead.x`; `true` = descending.
    pub prefer: Vec<(Expr, bool)>,
    /// The `prefer` rule (`None` when there is none).
    #[serde(skip)]
    pub prefer_span: Option<Span>,
    pub accept: Option<Accept>,
    pub convert: Option<Convert>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Accept {
    pub within: Dur,
    pub reroute_at_most: Option<u32>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Convert {
    pub to: StageId,
    pub when: Option<Expr>,
    #[serde(skip)]
    pub span: Span,
}
