//! The abstract syntax tree: what the parser produces and the formatter prints.
//!
//! Every node carries a byte [`Span`] into the policy source. Equality ignores spans
//! (`educe` derives `PartialEq` with every span ignored; [`Spanned`] and [`Ident`]
//! implement it by hand), so two ASTs of the same policy laid out differently compare
//! equal. Literals keep their source text; the checker validates them (31 Feb, 140%, negative durations) so the parser stays lenient.

use educe::Educe;
use serde::Serialize;

/// A byte range into the policy source.
pub type Span = std::ops::Range<usize>;

/// A value with the source span it came from. Equality ignores the span.
#[derive(Clone, Debug, Serialize)]
pub struct Spanned<T> {
    pub node: T,
    #[serde(skip)]
    pub span: Span,
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Self { node, span }
    }
}

/// An identifier. Equality ignores the span.
#[derive(Clone, Debug, Serialize)]
pub struct Ident {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
}

impl PartialEq for Ident {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// A string literal's content (escapes resolved), with its span.
pub type Str = Spanned<String>;

/// A whole policy file.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Policy {
    /// Top-level items in source order.
    pub items: Vec<Item>,
    /// Every `//` comment in the file, in source order (for the formatter).
    #[serde(skip)]
    pub comments: Vec<Comment>,
}

/// A `// line comment`; `text` excludes the `//` and the trailing newline.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Comment {
    pub text: String,
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum Item {
    Header(Header),
    Record(Record),
    Stage(Stage),
    Flow(Flow),
    Registration(Section<RegRule>),
    Cosell(Section<CosellRule>),
    Commission(Section<CommissionRule>),
    Hygiene(Section<HygieneRule>),
    Leads(Section<LeadRule>),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Header(h) => h.span.clone(),
            Item::Record(r) => r.span.clone(),
            Item::Stage(s) => s.span.clone(),
            Item::Flow(f) => f.span.clone(),
            Item::Registration(s) => s.span.clone(),
            Item::Cosell(s) => s.span.clone(),
            Item::Commission(s) => s.span.clone(),
            Item::Hygiene(s) => s.span.clone(),
            Item::Leads(s) => s.span.clone(),
        }
    }
}

/// A section block: `registration { ... }`, `cosell { ... }`, etc.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound(R: PartialEq)))]
pub struct Section<R> {
    pub rules: Vec<R>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

// ---------------------------------------------------------------- header

/// ```text
/// policy "Standard Channel Program" version "2026.1" {
///   currency USD
///   calendar business {
///     timezone "America/New_York"
///     hours mon-fri 09:00-17:00
///     holidays 2026-12-25, 2027-01-01
///   }
/// }
/// ```
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Header {
    pub name: Str,
    pub version: Str,
    pub settings: Vec<HeaderSetting>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum HeaderSetting {
    /// `currency USD` (ISO 4217 code).
    Currency(Ident),
    /// `calendar NAME { ... }`
    Calendar(Calendar),
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Calendar {
    pub name: Ident,
    pub entries: Vec<CalendarEntry>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum CalendarEntry {
    /// `timezone "America/New_York"` (IANA name).
    Timezone(Str),
    /// `hours mon-fri 09:00-17:00`; days are `mon`..`sun`, a single day or a range.
    Hours {
        first_day: Ident,
        last_day: Option<Ident>,
        /// `HH:MM` as written.
        start: Str,
        end: Str,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `holidays 2026-12-25, 2027-01-01` (dates as written).
    Holidays(Vec<Str>),
}

// ---------------------------------------------------------------- records

/// ```text
/// record opportunity {
///   amount: money
///   strategic: bool = false
///   competitors: list<text>
///   influencer: text?
///   product_family: enum { Core, Security, Analytics }
///   evidence {
///     budget_process: bool
///     decision_maker: text
///   }
/// }
/// ```
/// Record names the engine knows: `opportunity`, `partner`, `account`, `line_item`, `lead`.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Record {
    pub name: Ident,
    pub members: Vec<RecordMember>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum RecordMember {
    Field(Field),
    /// `evidence { field... }`: fields that count as qualification evidence.
    Evidence {
        fields: Vec<Field>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Field {
    pub name: Ident,
    pub ty: TypeExpr,
    /// `in low .. high`: the declared value range (either bound may be omitted).
    pub range: Option<Box<FieldRange>>,
    /// `= expr` default value.
    pub default: Option<Expr>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

/// `in -10_000 USD .. 10_000 USD`, `in 0 ..`, `in .. 5_000 USD`. Each bound is a
/// literal or a negated literal (`-50%`), as an expression.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct FieldRange {
    pub low: Option<Expr>,
    pub high: Option<Expr>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct TypeExpr {
    pub kind: TypeKind,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum TypeKind {
    /// `bool`, `integer`, `decimal`, `money`, `percent`, `date`, `datetime`,
    /// `duration`, `business_duration`, `text`, or a record name (`line_item`).
    Named(Ident),
    /// `enum { A, B, C }`, variants in order (the order is the enum's ordering).
    Enum(Vec<Ident>),
    /// `list<T>`
    List(Box<TypeExpr>),
    /// `T?`
    Optional(Box<TypeExpr>),
}

// ---------------------------------------------------------------- stages and flow

/// ```text
/// stage Qualification "Qualification" {
///   probability 15%
///   forecast pipeline
///   expected 21d
///   requires budget_process, decision_maker, need,
///            timeline <= close_date + 365d
///     because "Qualify budget, decision maker, need and timeline first"
/// }
/// won stage ClosedWon "Closed Won" { probability 100% forecast closed requires po_number }
/// lost stage ClosedLost "Closed Lost" { probability 0% forecast omitted requires loss_reason }
/// ```
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Stage {
    pub kind: StageKind,
    pub name: Ident,
    /// Display label, e.g. `"Proposal/Price Quote"`.
    pub label: Option<Str>,
    pub props: Vec<StageProp>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StageKind {
    Open,
    /// `won stage`: terminal, counts as a win.
    Won,
    /// `lost stage`: terminal, counts as a loss.
    Lost,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum StageProp {
    /// `probability 15%`
    Probability(Expr),
    /// `forecast pipeline` (omitted | pipeline | best_case | commit | closed)
    Forecast(Ident),
    /// `expected 21d`
    Expected(Expr),
    /// `requires a, b, expr because "..."`
    Requires(Requirement),
}

/// One `requires` clause. A bare evidence field name means "this evidence is present"
/// (for a `bool` field: present and true); any other item is a boolean expression.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Requirement {
    pub items: Vec<Expr>,
    pub because: Option<Str>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

/// ```text
/// flow {
///   Identification -> Qualification -> SolutionDevelopment -> Proposal
///   Qualification -> Proposal when amount < 10_000 USD because "small deals may skip"
///   any -> ClosedLost
/// }
/// ```
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Flow {
    pub rules: Vec<FlowRule>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

/// A chain `A -> B -> C` (each consecutive pair is an edge), optionally guarded.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct FlowRule {
    pub chain: Vec<StageRef>,
    pub guard: Option<Expr>,
    pub because: Option<Str>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum StageRef {
    /// `any` (only valid as the first element of a chain).
    Any(
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        Span,
    ),
    Named(Ident),
}

// ---------------------------------------------------------------- registration

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum RegRule {
    /// `open from Qualification`: the minimum stage at which a partner may register.
    OpenFrom {
        stage: Ident,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `eligible when partner.tier >= Silver because "..."`
    Eligible {
        when: Expr,
        because: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `duplicate when same account.domain, product_family within 90d`
    /// (text keys are compared normalized: case, punctuation, `www.`, legal suffixes).
    Duplicate {
        keys: Vec<Expr>,
        within: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `conflict when account.owner == direct reject "Account is covered by direct sales"`
    Conflict {
        when: Expr,
        reject: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `conflict when other partner holds protected registration on account, product_family`
    /// (`account` compares the normalized account domain/name).
    ConflictProtected {
        keys: Vec<Expr>,
        reject: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `auto approve when partner.tier in [Gold, Platinum] and amount <= 250_000 USD`
    AutoApprove {
        when: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `review by channel_ops within 24 business hours`
    Review {
        queue: Ident,
        within: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `escalate to channel_director after 16 business hours`
    Escalate {
        to: Ident,
        after: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `protect 90d`
    Protect {
        duration: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `extend 30d on advance, at most 2` (trigger: `advance` or `activity`).
    Extend {
        by: Expr,
        on: Ident,
        at_most: Option<Expr>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `late when stage >= Negotiation`
    Late {
        when: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `discount 10% when approved` / `discount 12% when partner.tier == Platinum`
    /// (`approved` alone means the registration is approved).
    Discount {
        rate: Expr,
        when: Option<Expr>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
}

// ---------------------------------------------------------------- co-sell

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum CosellRule {
    /// `pool presales_engineer "Presales engineer" capacity 10 per week`
    /// (period: day | week | month | quarter).
    Pool {
        name: Ident,
        label: Option<Str>,
        capacity: Expr,
        per: Ident,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `assign presales_engineer when stage == SolutionDevelopment and amount >= 50_000 USD
    ///    priority amount * probability`
    Assign {
        pool: Ident,
        when: Expr,
        priority: Option<Expr>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `never when not registration.approved because "..."` (all pools), or
    /// `never executive_sponsor when amount < 100_000 USD because "..."` (one pool).
    Never {
        pool: Option<Ident>,
        when: Expr,
        because: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
}

// ---------------------------------------------------------------- commission

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum CommissionRule {
    /// `attribute when registration.approved_before_close because "..."`:
    /// commission goes to the registering partner when the condition holds.
    Attribute {
        when: Expr,
        because: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// A rate table, evaluated per line item (`item` is the current line item).
    Rate(RateTable),
    /// `rebate cosell_bonus 2% when cosell.supported and registration.age_at_close >= 30d`
    Rebate {
        name: Ident,
        rate: Expr,
        when: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `split when present influencer { registering 70%, influencer 30% }`
    Split {
        when: Option<Expr>,
        shares: Vec<SplitShare>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
}

/// ```text
/// rate by (partner.tier, item.product_family) first match {
///   (Platinum, _) 12%
///   (Gold, Security) 10%
///   (_, _) 5%
/// }
/// ```
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct RateTable {
    pub keys: Vec<Expr>,
    pub mode: MatchMode,
    pub rows: Vec<RateRow>,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MatchMode {
    /// `first match`: the first row whose patterns all match wins.
    First,
    /// `unique match`: exactly one row must match; more than one is an evaluation error.
    Unique,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct RateRow {
    pub patterns: Vec<Pattern>,
    pub rate: Expr,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum Pattern {
    /// `_`
    Wildcard(
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        Span,
    ),
    /// An enum value, literal, or `[A, B]` list (matches any member).
    Value(Expr),
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct SplitShare {
    /// `registering`, or the name of an opportunity text field holding a partner id.
    pub role: Ident,
    pub share: Expr,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

// ---------------------------------------------------------------- hygiene

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum HygieneRule {
    /// `flag stale when days_in_stage > 2 * stage.expected because "..."`
    Flag {
        name: Ident,
        when: Expr,
        because: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `exclude from forecast when stale and days_in_stage > 90d`
    /// (flag names are bool values inside hygiene expressions).
    Exclude {
        when: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `downweight 50% when pushed`: multiply the weighted amount by the factor.
    Downweight {
        factor: Expr,
        when: Expr,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
}

// ---------------------------------------------------------------- leads

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum LeadRule {
    /// `route when lead.region in partner.territories because "..."`: a partner is
    /// eligible for a lead when every `route` rule holds.
    Route {
        when: Expr,
        because: Option<Str>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `prefer partner.tier desc, partner.win_rate desc`: ranking of eligible partners.
    Prefer {
        keys: Vec<PreferKey>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `accept within 48 business hours, reroute at most 3`
    Accept {
        within: Expr,
        reroute_at_most: Option<Expr>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
    /// `convert to Qualification when lead.budget_confirmed`
    Convert {
        to: Ident,
        when: Option<Expr>,
        #[serde(skip)]
        #[educe(PartialEq(ignore))]
        span: Span,
    },
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct PreferKey {
    pub expr: Expr,
    pub descending: bool,
}

// ---------------------------------------------------------------- expressions

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub struct Expr {
    pub kind: ExprKind,
    #[serde(skip)]
    #[educe(PartialEq(ignore))]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum ExprKind {
    Lit(Literal),
    /// `amount`, `partner.tier`, `registration.approved`, `Gold` (an enum value or
    /// stage name is a one-segment path the checker resolves by context).
    Path(Vec<Ident>),
    /// `[Gold, Platinum]`
    List(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `present x` / `missing x` (prefix operators).
    Presence {
        present: bool,
        expr: Box<Expr>,
    },
    /// `any(li in line_items: li.quantity > 10)`, `all(...)`, `count(...)`, `sum(...)`.
    Quant {
        q: Quantifier,
        var: Ident,
        list: Box<Expr>,
        body: Box<Expr>,
    },
    /// `days_between(a, b)`: a built-in function.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// `( expr )`, kept so the formatter reproduces the author's grouping.
    Paren(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    /// The operator as written in source.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::In | BinOp::NotIn => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div => 6,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Quantifier {
    Any,
    All,
    Count,
    Sum,
}

/// Literals keep their source text; the checker validates and converts them.
#[derive(Clone, Debug, Serialize, Educe)]
#[educe(PartialEq(bound()))]
pub enum Literal {
    Bool(bool),
    /// `42`, `10_000`
    Integer(String),
    /// `2.5`
    Decimal(String),
    /// `15%`, `12.5%`: the number before `%`.
    Percent(String),
    /// `250_000 USD`, `99.95 EUR`
    Money {
        amount: String,
        currency: String,
    },
    /// `90d`, `2w`, `24h`, `30min`, `16 business hours`, `2 business days`.
    Duration {
        amount: String,
        unit: DurationUnit,
        business: bool,
    },
    /// `2026-12-25`
    Date(String),
    /// `2026-12-25T09:00:00Z` (RFC 3339)
    DateTime(String),
    /// `"text"` (escapes resolved)
    Text(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DurationUnit {
    Minutes,
    Hours,
    Days,
    Weeks,
}
