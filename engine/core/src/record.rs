//! Opportunity records and decision contexts: validation against the policy schema.
//!
//! Parsing never stops at the first problem: every error is collected with the path
//! of the offending value (`fields.close_date`, `line_items[1].price`,
//! `history[3].at`) and a reason, and unknown names come with a "did you mean".

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::doc::Node;
use crate::value::{Value, DAY};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use dealflow_dsl::ir::{self, EnumId, RecordKind, StageId, Type};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

/// A partner, lead or other party: `id`, optional `name`, then declared fields by slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Party {
    pub id: Arc<str>,
    pub name: Option<String>,
    pub fields: Vec<Value>,
}

/// The customer account of an opportunity.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    pub id: Arc<str>,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub fields: Vec<Value>,
    /// Domain, else name, else id: how accounts are compared (normalized).
    pub key: Value,
    /// Normalized key and id (for `account.direct_owned`).
    pub normalized: (String, String),
}

/// Status of a deal registration (the built-in `registration.status` enum order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegStatus {
    None,
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl RegStatus {
    pub const NAMES: [&'static str; 5] = ["none", "pending", "approved", "rejected", "expired"];
    const ALL: [RegStatus; 5] = [
        RegStatus::None,
        RegStatus::Pending,
        RegStatus::Approved,
        RegStatus::Rejected,
        RegStatus::Expired,
    ];

    /// Index in the built-in enum.
    pub fn index(self) -> u32 {
        self as u32
    }
}

/// The registration attached to a record.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationInfo {
    pub id: Option<String>,
    pub partner_id: Option<Arc<str>>,
    pub status: RegStatus,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub protected_until: Option<DateTime<Utc>>,
    pub extensions: u32,
}

/// A history event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Created,
    StageChange {
        from: Option<StageId>,
        to: StageId,
    },
    CloseDateChange,
    Activity,
    /// `pool` indexes the policy's co-sell pools (validated when read).
    Cosell {
        pool: Option<u32>,
    },
    Closed {
        won: bool,
    },
}

const EVENT_TYPES: [&str; 6] = [
    "created",
    "stage_change",
    "close_date_change",
    "activity",
    "cosell",
    "closed",
];

/// A validated opportunity record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: String,
    pub stage: StageId,
    /// Opportunity field values by slot (defaults applied, missing = `Absent`).
    pub fields: Vec<Value>,
    pub partner: Option<Party>,
    pub account: Option<Account>,
    pub line_items: Vec<Vec<Value>>,
    pub registration: Option<RegistrationInfo>,
    /// Sorted by time (stable).
    pub history: Vec<Event>,
}

impl Record {
    /// The deal's partner id, if any.
    pub fn partner_id(&self) -> Option<&str> {
        self.partner.as_ref().map(|p| &*p.id)
    }

    /// [`Record::registering_partner`] as a shared string.
    pub fn registering_partner_arc(&self) -> Option<Arc<str>> {
        self.registration
            .as_ref()
            .and_then(|r| r.partner_id.clone())
            .or_else(|| self.partner.as_ref().map(|p| p.id.clone()))
    }

    /// The registering partner: the registration's partner, else the deal's partner.
    pub fn registering_partner(&self) -> Option<&str> {
        self.registration
            .as_ref()
            .and_then(|r| r.partner_id.as_deref())
            .or_else(|| self.partner_id())
    }
}

/// Everything a decision may consult besides the record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    pub registrations: Vec<Record>,
    /// Normalized account ids/domains owned by direct sales.
    pub direct_accounts: Vec<String>,
    pub partners: Vec<Party>,
    pub lead: Option<Party>,
    /// Units used per pool (indexed like the policy's pools).
    pub cosell_usage: Vec<u32>,
}

/// What is wrong with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordErrorKind {
    UnknownField,
    MissingField,
    WrongType,
    BadDate,
    UnknownVariant,
    WrongCurrency,
    UnknownStage,
    UnknownPool,
    InvalidValue,
    /// A number outside the range its type allows (negative money, 150%, too many digits).
    OutOfRange,
    /// A map key given twice.
    DuplicateKey,
    Syntax,
}

/// One problem in a record or context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// Where: `fields.close_date`, `line_items[1].price`, `history[3].at`.
    pub path: String,
    pub kind: RecordErrorKind,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "`{}`: {}", self.path, self.message)?;
        }
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// Every problem found in a record or context (never empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error, miette::Diagnostic)]
#[error("invalid record: {}", summary(.0))]
#[diagnostic(code(dealflow::record))]
pub struct RecordErrors(pub Vec<RecordError>);

fn summary(errs: &[RecordError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RecordErrors {
    pub fn iter(&self) -> impl Iterator<Item = &RecordError> {
        self.0.iter()
    }
}

/// Normalizes text for duplicate/conflict comparisons (see
/// [`crate::identity::normalize_key`]).
pub fn normalize_key(s: &str) -> String {
    crate::identity::normalize_key(s)
}

/// "Did you mean" among candidates (Jaro-Winkler >= 0.8).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Validating parser state.
pub(crate) struct Parser<'a> {
    pub policy: &'a ir::Policy,
    pub errors: Vec<RecordError>,
    /// Set while reading a field that declares a range: the declared range replaces
    /// the type's default sign rule.
    ranged: bool,
}

/// Orders a parsed value against a range bound of the same type.
fn bound_cmp(v: &Value, c: &ir::Const) -> Option<std::cmp::Ordering> {
    use ir::Const;
    match (v, c) {
        (Value::Int(x), Const::Integer(y)) => Some(x.cmp(y)),
        (Value::Dec(x), Const::Decimal(y))
        | (Value::Money(x), Const::Money(y))
        | (Value::Pct(x), Const::Percent(y)) => Some(x.cmp(y)),
        (Value::Dur(x), Const::Duration(y)) => Some(x.cmp(y)),
        (Value::Date(x), Const::Date(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The entries of a map node.
type Entries = [(Arc<str>, Node)];

fn get<'m>(m: &'m Entries, key: &str) -> Option<&'m Node> {
    m.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
}

/// Appends `[i]` to a path.
fn index(path: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(path, "[{i}]");
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(v: &Node) -> &'static str {
    match v {
        Node::Null => "null",
        Node::Bool(_) => "a boolean",
        Node::Num(_) => "a number",
        Node::Str(_) => "text",
        Node::List(_) => "a list",
        Node::Map(_) => "a map",
        Node::Bad(_) => "a value that cannot be read",
    }
}

/// Why text is not a usable number.
enum NumError {
    /// Not a number at all.
    Syntax,
    /// A number, but outside what a decimal holds (28 significant digits, +-7.9e28).
    Range,
}

/// `-12.5e3`: optional sign, digits, optional fraction, optional exponent.
fn number_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int = digits(&mut i);
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(&mut i);
    }
    if int + frac == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Drops `_` digit separators and `,` thousands separators (`120,000.50`); a comma
/// that does not separate groups of three digits (`1,5`) makes the text invalid.
fn strip_separators(raw: &str) -> Option<Cow<'_, str>> {
    let t = raw.trim();
    if !t.contains([',', '_']) {
        return Some(Cow::Borrowed(t));
    }
    if !t.contains(',') {
        return Some(Cow::Owned(t.replace('_', "")));
    }
    let int_end = t.find(['.', 'e', 'E']).unwrap_or(t.len());
    let (int, rest) = t.split_at(int_end);
    if rest.contains(',') {
        return None;
    }
    let unsigned = int.trim_start_matches(['-', '+']);
    let mut groups = unsigned.split(',');
    let first = groups.next().unwrap_or("");
    if first.is_empty() || first.len() > 3 || groups.any(|g| g.len() != 3) {
        return None;
    }
    Some(Cow::Owned(
        format!("{}{}", int.replace(',', ""), rest).replace('_', ""),
    ))
}

/// Parses a decimal exactly (no rounding of excess digits).
fn parse_decimal(raw: &str) -> Result<Decimal, NumError> {
    let cleaned = strip_separators(raw).ok_or(NumError::Syntax)?;
    if !number_syntax(&cleaned) {
        return Err(NumError::Syntax);
    }
    let plain = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if plain.contains(['e', 'E']) {
        Decimal::from_scientific(plain).map_err(|_| NumError::Range)
    } else {
        Decimal::from_str_exact(plain).map_err(|_| NumError::Range)
    }
}

/// Leap seconds (the UTC dates whose last minute had 61 seconds), 1972-2016.
const LEAP_SECOND_DATES: [(i32, u32, u32); 27] = [
    (1972, 6, 30),
    (1972, 12, 31),
    (1973, 12, 31),
    (1974, 12, 31),
    (1975, 12, 31),
    (1976, 12, 31),
    (1977, 12, 31),
    (1978, 12, 31),
    (1979, 12, 31),
    (1981, 6, 30),
    (1982, 6, 30),
    (1983, 6, 30),
    (1985, 6, 30),
    (1987, 12, 31),
    (1989, 12, 31),
    (1990, 12, 31),
    (1992, 6, 30),
    (1993, 6, 30),
    (1994, 6, 30),
    (1995, 12, 31),
    (1997, 6, 30),
    (1998, 12, 31),
    (2005, 12, 31),
    (2008, 12, 31),
    (2012, 6, 30),
    (2015, 6, 30),
    (2016, 12, 31),
];

/// `YYYY-MM-DD` with four-digit year 0001-9999 and two-digit month and day.
fn strict_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape || s.starts_with("0000") {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// Zero or more (money, whole numbers, durations, counts).
    NonNegative,
    /// Any sign (plain decimals).
    Any,
}

const RECORD_KEYS: [&str; 8] = [
    "id",
    "stage",
    "fields",
    "partner",
    "account",
    "line_items",
    "registration",
    "history",
];
const REGISTRATION_KEYS: [&str; 7] = [
    "id",
    "partner_id",
    "status",
    "submitted_at",
    "approved_at",
    "protected_until",
    "extensions",
];
const CONTEXT_KEYS: [&str; 5] = [
    "registrations",
    "direct_accounts",
    "partners",
    "lead",
    "cosell_usage",
];

impl<'a> Parser<'a> {
    pub fn new(policy: &'a ir::Policy) -> Self {
        Self {
            policy,
            errors: Vec::new(),
            ranged: false,
        }
    }

    /// The value of a required key, or a `missing_field` error at `path.key`.
    fn required<'m>(&mut self, m: &'m Entries, path: &str, key: &str) -> Option<&'m Node> {
        let v = get(m, key);
        if v.is_none() {
            self.err(
                &join(path, key),
                RecordErrorKind::MissingField,
                format!("missing `{key}`"),
                None,
            );
        }
        v
    }

    fn err(&mut self, path: &str, kind: RecordErrorKind, message: String, help: Option<String>) {
        self.errors.push(RecordError {
            path: path.to_string(),
            kind,
            message,
            help,
        });
    }

    fn unknown_key(&mut self, path: &str, key: &str, allowed: &[&str], what: &str) {
        let help = suggest(key, allowed.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some(format!("expected one of: {}", allowed.join(", "))));
        self.err(
            &join(path, key),
            RecordErrorKind::UnknownField,
            format!("unknown {what} `{key}`"),
            help,
        );
    }

    fn wrong_type(&mut self, path: &str, expected: &str, v: &Node) {
        if let Node::Bad(why) = v {
            if path.is_empty() {
                // The whole document is the unreadable value (a tagged root): it is
                // not the map a record or context must be, and no path narrows it.
                self.err(
                    path,
                    RecordErrorKind::WrongType,
                    format!("expected {expected} as the document: {why}"),
                    None,
                );
            } else {
                self.err(path, RecordErrorKind::InvalidValue, why.to_string(), None);
            }
            return;
        }
        self.err(
            path,
            RecordErrorKind::WrongType,
            format!("expected {expected}, found {}", kind_of(v)),
            None,
        );
    }

    /// A map's entries; a key given twice is an error at its path (never last-wins).
    fn object<'j>(&mut self, v: &'j Node, path: &str) -> Option<&'j Entries> {
        match v {
            Node::Map(m) => {
                self.duplicates(m, path);
                Some(m)
            }
            other => {
                self.wrong_type(path, "a map", other);
                None
            }
        }
    }

    fn duplicates(&mut self, m: &Entries, path: &str) {
        let mut dups: Vec<&str> = Vec::new();
        if m.len() <= 16 {
            for (i, (k, _)) in m.iter().enumerate() {
                if m.iter().take(i).any(|(p, _)| p == k) {
                    dups.push(k);
                }
            }
        } else {
            let mut seen = std::collections::HashSet::with_capacity(m.len());
            for (k, _) in m {
                if !seen.insert(&**k) {
                    dups.push(k);
                }
            }
        }
        for k in dups {
            self.err(
                &join(path, k),
                RecordErrorKind::DuplicateKey,
                format!("`{k}` is given more than once"),
                Some("keep one of the values".into()),
            );
        }
    }

    fn text(&mut self, v: &Node, path: &str) -> Option<String> {
        match v {
            Node::Str(s) | Node::Num(s) => Some(s.to_string()),
            other => {
                self.wrong_type(path, "text", other);
                None
            }
        }
    }

    fn datetime(&mut self, v: &Node, path: &str) -> Option<DateTime<Utc>> {
        let s = match v {
            Node::Str(s) => s.trim(),
            other => {
                self.wrong_type(path, "a date-time", other);
                return None;
            }
        };
        let help = "write an RFC 3339 date-time like `2026-09-01T10:00:00Z`";
        let parsed = DateTime::parse_from_rfc3339(s)
            .ok()
            .filter(|_| s.get(..4).is_some_and(|y| y != "0000"))
            .map(|d| d.with_timezone(&Utc))
            .filter(|d| (1..=9999).contains(&d.year()));
        let Some(d) = parsed else {
            self.err(
                path,
                RecordErrorKind::BadDate,
                format!("`{s}` is not a valid date-time"),
                Some(help.into()),
            );
            return None;
        };
        if d.nanosecond() >= 1_000_000_000 {
            let real = d.hour() == 23
                && d.minute() == 59
                && LEAP_SECOND_DATES.contains(&(d.year(), d.month(), d.day()));
            if !real {
                self.err(
                    path,
                    RecordErrorKind::BadDate,
                    format!("`{s}` is not a valid date-time: there was no leap second then"),
                    Some(
                        "seconds run from 00 to 59; `:60` exists only at a real leap second".into(),
                    ),
                );
                return None;
            }
        }
        Some(d)
    }

    fn stage(&mut self, v: &Node, path: &str) -> Option<StageId> {
        let name = self.text(v, path)?;
        match self.policy.stage_by_name(&name) {
            Some(s) => Some(s),
            None => {
                let names: Vec<&str> = self.policy.stages.iter().map(|s| s.name.as_str()).collect();
                let help = suggest(&name, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("declared stages: {}", names.join(", "))));
                self.err(
                    path,
                    RecordErrorKind::UnknownStage,
                    format!("unknown stage `{name}`"),
                    help,
                );
                None
            }
        }
    }

    /// A decimal from number text, refused with the text as written when it is not a
    /// number, is out of range, or is negative where `sign` forbids it.
    fn decimal(&mut self, raw: &str, path: &str, what: &str, sign: Sign) -> Option<Decimal> {
        match parse_decimal(raw) {
            Ok(d)
                if sign == Sign::NonNegative
                    && !self.ranged
                    && d.is_sign_negative()
                    && !d.is_zero() =>
            {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!(
                        "`{raw}` is negative; {} {what} cannot be below zero",
                        if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                            "an"
                        } else {
                            "a"
                        }
                    ),
                    None,
                );
                None
            }
            Ok(d) => Some(d),
            Err(NumError::Syntax) => {
                self.err(
                    path,
                    RecordErrorKind::InvalidValue,
                    format!("`{raw}` is not a valid {what}"),
                    None,
                );
                None
            }
            Err(NumError::Range) => {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!("`{raw}` is out of range for a {what}"),
                    Some(
                        "numbers may have at most 28 significant digits and 28 decimal places"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    /// A whole number `>= 0` (or any sign), from a number or number text.
    fn whole(&mut self, v: &Node, path: &str, what: &str, sign: Sign) -> Option<i64> {
        let raw = match v {
            Node::Num(s) | Node::Str(s) => s.trim(),
            other => {
                self.wrong_type(path, "a whole number", other);
                return None;
            }
        };
        if matches!(v, Node::Str(_)) && parse_decimal(raw).is_err() {
            self.wrong_type(path, "a whole number", v);
            return None;
        }
        let d = self.decimal(raw, path, what, sign)?;
        if !d.fract().is_zero() {
            self.err(
                path,
                RecordErrorKind::InvalidValue,
                format!("`{raw}` is not a whole number"),
                None,
            );
            return None;
        }
        match d.to_i64() {
            Some(n) => Some(n),
            None => {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!("`{raw}` is too large for a whole number"),
                    None,
                );
                None
            }
        }
    }

    /// A count `0..=u32::MAX` (registration extensions, co-sell usage).
    fn count(&mut self, v: &Node, path: &str) -> Option<u32> {
        let n = self.whole(v, path, "count", Sign::NonNegative)?;
        match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!("`{n}` is too large for a count"),
                    Some(format!("at most {}", u32::MAX)),
                );
                None
            }
        }
    }

    fn money(&mut self, v: &Node, path: &str) -> Option<Decimal> {
        let s = match v {
            Node::Num(n) => return self.decimal(n, path, "amount", Sign::NonNegative),
            Node::Str(s) => s.trim(),
            other => {
                self.wrong_type(path, "an amount", other);
                return None;
            }
        };
        let currency = &self.policy.currency;
        let parts: Vec<&str> = s.split_whitespace().collect();
        let is_code = |t: &str| t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic());
        let (amount, cur) = match parts.as_slice() {
            [a] => (*a, None),
            [a, c] if parse_decimal(a).is_ok() => (*a, Some(*c)),
            [c, a] if is_code(c) && parse_decimal(a).is_ok() => {
                self.err(
                    path,
                    RecordErrorKind::InvalidValue,
                    format!("`{s}` puts the currency before the amount"),
                    Some(format!("write the amount first: `{a} {c}`")),
                );
                return None;
            }
            _ => {
                self.err(
                    path,
                    RecordErrorKind::InvalidValue,
                    format!("`{s}` is not a valid amount"),
                    Some(format!(
                        "write an amount like `120000` or `120000.00 {currency}`"
                    )),
                );
                return None;
            }
        };
        if let Some(cur) = cur {
            if !cur.eq_ignore_ascii_case(currency) {
                self.err(
                    path,
                    RecordErrorKind::WrongCurrency,
                    format!("amount `{s}` is in `{cur}`, the policy currency is `{currency}`"),
                    Some(format!("convert the amount to {currency}")),
                );
                return None;
            }
        }
        self.decimal(amount, path, "amount", Sign::NonNegative)
    }

    /// `20%` (a percentage) or a bare fraction below 1 (`0.2`); 0% to 100%.
    fn percent(&mut self, v: &Node, path: &str) -> Option<Decimal> {
        let (raw, written_pct) = match v {
            Node::Num(n) => (&**n, false),
            Node::Str(s) => match s.trim().strip_suffix('%') {
                Some(p) => (p.trim(), true),
                None => (s.trim(), false),
            },
            other => {
                self.wrong_type(path, "a percentage like `15%`", other);
                return None;
            }
        };
        let shown = if written_pct {
            format!("{raw}%")
        } else {
            raw.to_string()
        };
        let d = match parse_decimal(raw) {
            Ok(d) => d,
            Err(_) => {
                self.err(
                    path,
                    RecordErrorKind::InvalidValue,
                    format!("`{shown}` is not a valid percentage"),
                    Some("write a percentage like `15%`".into()),
                );
                return None;
            }
        };
        if d.is_sign_negative() && !d.is_zero() && !self.ranged {
            self.err(
                path,
                RecordErrorKind::OutOfRange,
                format!("`{shown}` is negative; a percentage is between 0% and 100%"),
                None,
            );
            return None;
        }
        if written_pct {
            if d > Decimal::ONE_HUNDRED {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!("`{shown}` is above 100%"),
                    None,
                );
                return None;
            }
            return Some(d / Decimal::ONE_HUNDRED);
        }
        if d >= Decimal::ONE {
            let help = if d == Decimal::ONE {
                "`1` could mean 100% or 1%: write `100%` or `1%`".to_string()
            } else if d <= Decimal::ONE_HUNDRED {
                format!("write `{raw}%` for {raw} percent; a bare number is a fraction below 1 (`0.2` is 20%)")
            } else {
                "a bare number is a fraction below 1 (`0.2` is 20%); write percentages with `%`"
                    .to_string()
            };
            self.err(
                path,
                RecordErrorKind::OutOfRange,
                format!("`{raw}` is ambiguous or out of range as a percentage"),
                Some(help),
            );
            return None;
        }
        Some(d)
    }

    /// Parses one value of a declared type.
    pub fn value(&mut self, ty: &Type, v: &Node, path: &str) -> Value {
        if v.is_null() {
            return Value::Absent;
        }
        self.value_inner(ty, v, path).unwrap_or(Value::Absent)
    }

    fn value_inner(&mut self, ty: &Type, v: &Node, path: &str) -> Option<Value> {
        match ty {
            Type::Optional(t) => Some(self.value(t, v, path)),
            Type::Bool => match v {
                Node::Bool(b) => Some(Value::Bool(*b)),
                other => {
                    self.wrong_type(path, "`true` or `false`", other);
                    None
                }
            },
            Type::Integer => self
                .whole(v, path, "whole number", Sign::NonNegative)
                .map(Value::Int),
            Type::Decimal => match v {
                Node::Num(s) | Node::Str(s) => {
                    self.decimal(s, path, "number", Sign::Any).map(Value::Dec)
                }
                other => {
                    self.wrong_type(path, "a number", other);
                    None
                }
            },
            Type::Money => self.money(v, path).map(Value::Money),
            Type::Percent => self.percent(v, path).map(Value::Pct),
            Type::Date => match v {
                Node::Str(s) => match strict_date(s.trim()) {
                    Some(d) => Some(Value::Date(d)),
                    None => {
                        self.err(
                            path,
                            RecordErrorKind::BadDate,
                            format!("`{s}` is not a valid date"),
                            Some(
                                "write a date like `2026-12-15`: a four-digit year 0001-9999, a two-digit month and day"
                                    .into(),
                            ),
                        );
                        None
                    }
                },
                other => {
                    self.wrong_type(path, "a date", other);
                    None
                }
            },
            Type::DateTime => self.datetime(v, path).map(Value::DateTime),
            Type::Duration | Type::BusinessDuration => match v {
                Node::Num(_) => {
                    let days = self.whole(v, path, "number of days", Sign::NonNegative)?;
                    match days.checked_mul(DAY) {
                        Some(s) => Some(Value::Dur(s)),
                        None => {
                            self.err(
                                path,
                                RecordErrorKind::OutOfRange,
                                format!("`{days}` days is too long a duration"),
                                None,
                            );
                            None
                        }
                    }
                }
                Node::Str(s) => match parse_duration(s) {
                    Some(d) => Some(Value::Dur(d)),
                    None => {
                        self.err(
                            path,
                            RecordErrorKind::InvalidValue,
                            format!("`{s}` is not a valid duration"),
                            Some("write a duration like `90d`, `2w`, `24h` or `30min`".into()),
                        );
                        None
                    }
                },
                other => {
                    self.wrong_type(path, "a duration", other);
                    None
                }
            },
            Type::Text => match v {
                Node::Str(s) | Node::Num(s) => Some(Value::Text(s.clone())),
                Node::Bool(b) => Some(Value::text(if *b { "true" } else { "false" })),
                other => {
                    self.wrong_type(path, "text", other);
                    None
                }
            },
            Type::Enum(id) => {
                let name = self.text(v, path)?;
                self.variant(*id, &name, path)
            }
            Type::Stage => self.stage(v, path).map(Value::Stage),
            Type::List(t) => match v {
                Node::List(items) => {
                    let vals: Vec<Value> = items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| self.value(t, x, &format!("{path}[{i}]")))
                        .collect();
                    Some(Value::List(vals.into()))
                }
                other => {
                    self.wrong_type(path, "a list", other);
                    None
                }
            },
            Type::Record(_) => {
                self.wrong_type(path, "a record reference", v);
                None
            }
        }
    }

    /// A value of a field that declares a range: read without the type's sign rule,
    /// then refused when outside the declared bounds.
    fn ranged_value(
        &mut self,
        def: &ir::FieldDef,
        range: &ir::FieldRange,
        v: &Node,
        path: &str,
    ) -> Value {
        self.ranged = true;
        let parsed = self.value(&def.ty, v, path);
        self.ranged = false;
        let shown = match v {
            Node::Num(s) | Node::Str(s) => s.trim().to_string(),
            _ => return parsed,
        };
        let (low, high) = (range.low.as_ref(), range.high.as_ref());
        if let Some(b) = low {
            if bound_cmp(&parsed, &b.value) == Some(std::cmp::Ordering::Less) {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!(
                        "`{shown}` is below the declared minimum `{}` ({})",
                        b.text, range.at
                    ),
                    None,
                );
                return Value::Absent;
            }
        }
        if let Some(b) = high {
            if bound_cmp(&parsed, &b.value) == Some(std::cmp::Ordering::Greater) {
                self.err(
                    path,
                    RecordErrorKind::OutOfRange,
                    format!(
                        "`{shown}` is above the declared maximum `{}` ({})",
                        b.text, range.at
                    ),
                    None,
                );
                return Value::Absent;
            }
        }
        parsed
    }

    fn variant(&mut self, id: EnumId, name: &str, path: &str) -> Option<Value> {
        let def = self.policy.enum_def(id)?;
        if let Some(i) = def.variants.iter().position(|x| x == name) {
            return Some(Value::Enum(id, i as u32));
        }
        let allowed = def.variants.join(", ");
        let help = match suggest(name, def.variants.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? allowed: {allowed}"),
            None => format!("allowed: {allowed}"),
        };
        self.err(
            path,
            RecordErrorKind::UnknownVariant,
            format!("`{name}` is not a valid `{}`", def.name),
            Some(help),
        );
        None
    }

    /// Declared fields of a record kind from a map, skipping `skip` keys.
    fn fields(&mut self, kind: RecordKind, m: &Entries, path: &str, skip: &[&str]) -> Vec<Value> {
        let policy = self.policy;
        let schema = policy.record(kind);
        let defs: &[ir::FieldDef] = schema.map(|s| s.fields.as_slice()).unwrap_or(&[]);
        let mut out = vec![Value::Absent; defs.len()];
        // One path buffer for every field (`path.key`), not one string per field.
        let mut field_path = String::with_capacity(path.len() + 24);
        field_path.push_str(path);
        if !path.is_empty() {
            field_path.push('.');
        }
        let prefix = field_path.len();
        for (k, v) in m {
            match defs.iter().position(|f| *f.name == **k) {
                Some(slot) => {
                    if let Some(def) = defs.get(slot) {
                        field_path.truncate(prefix);
                        field_path.push_str(k);
                        let parsed = match &def.range {
                            None => self.value(&def.ty, v, &field_path),
                            Some(range) => self.ranged_value(def, range, v, &field_path),
                        };
                        if let Some(cell) = out.get_mut(slot) {
                            *cell = parsed;
                        }
                    }
                }
                None if skip.contains(&&**k) => {}
                None => {
                    let mut allowed: Vec<&str> = defs.iter().map(|f| f.name.as_str()).collect();
                    allowed.extend(skip.iter().copied());
                    self.unknown_key(path, k, &allowed, &format!("{} field", kind.name()));
                }
            }
        }
        for (cell, def) in out.iter_mut().zip(defs) {
            if cell.is_absent() {
                if let Some(d) = &def.default {
                    *cell = Value::from_const(d);
                }
            }
        }
        out
    }

    fn party(&mut self, kind: RecordKind, v: &Node, path: &str) -> Option<Party> {
        let m = self.object(v, path)?;
        let id = self
            .required(m, path, "id")
            .and_then(|x| self.text(x, &join(path, "id")));
        let name = match get(m, "name") {
            Some(x) if !x.is_null() => self.text(x, &join(path, "name")),
            _ => None,
        };
        let mut fields = self.fields(kind, m, path, &["id", "name"]);
        self.fill_special(
            kind,
            &mut fields,
            &[("id", id.as_deref()), ("name", name.as_deref())],
        );
        Some(Party {
            id: Arc::from(id?.as_str()),
            name,
            fields,
        })
    }

    /// Fills declared `id`/`name`/`domain` fields (if the schema declares them as text).
    fn fill_special(&self, kind: RecordKind, fields: &mut [Value], vals: &[(&str, Option<&str>)]) {
        if let Some(schema) = self.policy.record(kind) {
            for (name, val) in vals {
                if let (Some((slot, def)), Some(val)) = (schema.field(name), val) {
                    if matches!(def.ty, Type::Text)
                        || matches!(&def.ty, Type::Optional(t) if **t == Type::Text)
                    {
                        if let Some(cell) = fields.get_mut(slot as usize) {
                            *cell = Value::text(val);
                        }
                    }
                }
            }
        }
    }

    fn account(&mut self, v: &Node, path: &str) -> Option<Account> {
        let m = self.object(v, path)?;
        let id = self
            .required(m, path, "id")
            .and_then(|x| self.text(x, &join(path, "id")));
        let name = match get(m, "name") {
            Some(x) if !x.is_null() => self.text(x, &join(path, "name")),
            _ => None,
        };
        let domain = match get(m, "domain") {
            Some(x) if !x.is_null() => self.text(x, &join(path, "domain")),
            _ => None,
        };
        let mut fields = self.fields(RecordKind::Account, m, path, &["id", "name", "domain"]);
        self.fill_special(
            RecordKind::Account,
            &mut fields,
            &[
                ("id", id.as_deref()),
                ("name", name.as_deref()),
                ("domain", domain.as_deref()),
            ],
        );
        let id = id?;
        let key_src = domain.as_deref().or(name.as_deref()).unwrap_or(&id);
        let key = Value::text(key_src);
        let normalized = (normalize_key(key_src), normalize_key(&id));
        Some(Account {
            id: Arc::from(id.as_str()),
            name,
            domain,
            fields,
            key,
            normalized,
        })
    }

    fn registration(&mut self, v: &Node, path: &str) -> Option<RegistrationInfo> {
        let m = self.object(v, path)?;
        let mut r = RegistrationInfo {
            id: None,
            partner_id: None,
            status: RegStatus::None,
            submitted_at: None,
            approved_at: None,
            protected_until: None,
            extensions: 0,
        };
        for (k, x) in m {
            let p = join(path, k);
            if x.is_null() {
                continue;
            }
            match &**k {
                "id" => r.id = self.text(x, &p),
                "partner_id" => r.partner_id = self.text(x, &p).map(|s| Arc::from(s.as_str())),
                "status" => {
                    if let Some(s) = self.text(x, &p) {
                        match RegStatus::NAMES.iter().position(|n| *n == s) {
                            Some(i) => {
                                r.status = RegStatus::ALL.get(i).copied().unwrap_or(RegStatus::None)
                            }
                            None => {
                                let help = match suggest(&s, RegStatus::NAMES) {
                                    Some(h) => format!(
                                        "did you mean `{h}`? allowed: {}",
                                        RegStatus::NAMES.join(", ")
                                    ),
                                    None => format!("allowed: {}", RegStatus::NAMES.join(", ")),
                                };
                                self.err(
                                    &p,
                                    RecordErrorKind::UnknownVariant,
                                    format!("`{s}` is not a valid registration status"),
                                    Some(help),
                                );
                            }
                        }
                    }
                }
                "submitted_at" => r.submitted_at = self.datetime(x, &p),
                "approved_at" => r.approved_at = self.datetime(x, &p),
                "protected_until" => r.protected_until = self.datetime(x, &p),
                "extensions" => {
                    if let Some(n) = self.count(x, &p) {
                        r.extensions = n;
                    }
                }
                other => self.unknown_key(path, other, &REGISTRATION_KEYS, "registration field"),
            }
        }
        Some(r)
    }

    fn event(&mut self, v: &Node, path: &str) -> Option<Event> {
        let m = self.object(v, path)?;
        let mut key_path = join(path, "at");
        let at = self
            .required(m, path, "at")
            .and_then(|x| self.datetime(x, &key_path));
        key_path.truncate(key_path.len() - "at".len());
        key_path.push_str("type");
        let ty = match self.required(m, path, "type")? {
            Node::Str(s) | Node::Num(s) => s.clone(),
            other => {
                self.wrong_type(&key_path, "text", other);
                return None;
            }
        };
        let (kind, allowed): (Option<EventKind>, &[&str]) = match &*ty {
            "created" => (Some(EventKind::Created), &[]),
            "stage_change" => {
                let from = get(m, "from").and_then(|x| {
                    if x.is_null() {
                        None
                    } else {
                        self.stage(x, &join(path, "from"))
                    }
                });
                let to = self
                    .required(m, path, "to")
                    .and_then(|x| self.stage(x, &join(path, "to")));
                (
                    to.map(|to| EventKind::StageChange { from, to }),
                    &["from", "to"],
                )
            }
            "close_date_change" => {
                for k in ["from", "to"] {
                    if let Some(x) = get(m, k) {
                        self.value(&Type::Date, x, &join(path, k));
                    }
                }
                (Some(EventKind::CloseDateChange), &["from", "to"])
            }
            "activity" => (Some(EventKind::Activity), &["kind"]),
            "cosell" => {
                let name = get(m, "pool")
                    .filter(|x| !x.is_null())
                    .and_then(|x| self.text(x, &join(path, "pool")));
                let policy = self.policy;
                let pools = policy
                    .cosell
                    .as_ref()
                    .map_or(&[][..], |c| c.pools.as_slice());
                let mut pool = None;
                // Without a `cosell` section, pools are not checked (nothing uses them).
                if let (Some(p), Some(_)) = (&name, &policy.cosell) {
                    match pools.iter().position(|x| &x.name == p) {
                        Some(i) => pool = u32::try_from(i).ok(),
                        None => {
                            let help = suggest(p, pools.iter().map(|x| x.name.as_str()))
                                .map(|s| format!("did you mean `{s}`?"));
                            self.err(
                                &join(path, "pool"),
                                RecordErrorKind::UnknownPool,
                                format!("unknown co-sell pool `{p}`"),
                                help,
                            );
                        }
                    }
                }
                (Some(EventKind::Cosell { pool }), &["pool", "kind"])
            }
            "closed" => {
                let won = match get(m, "outcome").filter(|x| !x.is_null()) {
                    None => Some(true),
                    Some(x) => match x.as_str() {
                        Some("won") => Some(true),
                        Some("lost") => Some(false),
                        Some(o) => {
                            self.err(
                                &join(path, "outcome"),
                                RecordErrorKind::UnknownVariant,
                                format!("`{o}` is not a valid close outcome"),
                                Some("allowed: won, lost".into()),
                            );
                            None
                        }
                        None => {
                            self.wrong_type(&join(path, "outcome"), "`won` or `lost`", x);
                            None
                        }
                    },
                };
                (won.map(|won| EventKind::Closed { won }), &["outcome"])
            }
            other => {
                let help = match suggest(other, EVENT_TYPES) {
                    Some(s) => format!("did you mean `{s}`? allowed: {}", EVENT_TYPES.join(", ")),
                    None => format!("allowed: {}", EVENT_TYPES.join(", ")),
                };
                self.err(
                    &join(path, "type"),
                    RecordErrorKind::UnknownVariant,
                    format!("unknown event type `{other}`"),
                    Some(help),
                );
                (None, &[])
            }
        };
        for (k, _) in m {
            if !matches!(&**k, "at" | "type" | "note" | "by") && !allowed.contains(&&**k) {
                let mut all: Vec<&str> = vec!["at", "type", "note", "by"];
                all.extend(allowed.iter().copied());
                self.unknown_key(path, k, &all, "event field");
            }
        }
        Some(Event {
            at: at?,
            kind: kind?,
        })
    }

    /// Parses one opportunity record.
    pub fn record(&mut self, v: &Node, path: &str) -> Option<Record> {
        let m = self.object(v, path)?;
        for (k, _) in m {
            if !RECORD_KEYS.contains(&&**k) {
                self.unknown_key(path, k, &RECORD_KEYS, "record key");
            }
        }
        let id = self
            .required(m, path, "id")
            .and_then(|x| self.text(x, &join(path, "id")));
        let stage = self
            .required(m, path, "stage")
            .and_then(|x| self.stage(x, &join(path, "stage")));
        let fields_path = join(path, "fields");
        let fields_map: &Entries = match get(m, "fields").filter(|x| !x.is_null()) {
            Some(x) => self.object(x, &fields_path).unwrap_or(&[]),
            None => &[],
        };
        let fields = self.fields(RecordKind::Opportunity, fields_map, &fields_path, &[]);
        let partner = get(m, "partner")
            .filter(|x| !x.is_null())
            .and_then(|x| self.party(RecordKind::Partner, x, &join(path, "partner")));
        let account = get(m, "account")
            .filter(|x| !x.is_null())
            .and_then(|x| self.account(x, &join(path, "account")));
        let mut line_items = Vec::new();
        if let Some(x) = get(m, "line_items").filter(|x| !x.is_null()) {
            match x {
                Node::List(items) => {
                    line_items.reserve_exact(items.len());
                    let mut p = join(path, "line_items");
                    let prefix = p.len();
                    for (i, it) in items.iter().enumerate() {
                        p.truncate(prefix);
                        index(&mut p, i);
                        if let Some(im) = self.object(it, &p) {
                            line_items.push(self.fields(RecordKind::LineItem, im, &p, &[]));
                        }
                    }
                }
                other => self.wrong_type(&join(path, "line_items"), "a list", other),
            }
        }
        let registration = get(m, "registration")
            .filter(|x| !x.is_null())
            .and_then(|x| self.registration(x, &join(path, "registration")));
        let mut history = Vec::new();
        if let Some(x) = get(m, "history").filter(|x| !x.is_null()) {
            match x {
                Node::List(items) => {
                    history.reserve_exact(items.len());
                    let mut p = join(path, "history");
                    let prefix = p.len();
                    for (i, it) in items.iter().enumerate() {
                        p.truncate(prefix);
                        index(&mut p, i);
                        if let Some(e) = self.event(it, &p) {
                            history.push(e);
                        }
                    }
                }
                other => self.wrong_type(&join(path, "history"), "a list", other),
            }
        }
        history.sort_by_key(|e| e.at);
        Some(Record {
            id: id?,
            stage: stage?,
            fields,
            partner,
            account,
            line_items,
            registration,
            history,
        })
    }

    /// Parses a decision context.
    pub fn context(&mut self, v: &Node) -> Context {
        let mut ctx = Context::default();
        let pools = self
            .policy
            .cosell
            .as_ref()
            .map(|c| c.pools.len())
            .unwrap_or(0);
        ctx.cosell_usage = vec![0; pools];
        let Some(m) = self.object(v, "") else {
            return ctx;
        };
        for (k, x) in m {
            if x.is_null() {
                continue;
            }
            let k: &str = k;
            match k {
                "registrations" => match x {
                    Node::List(items) => {
                        for (i, it) in items.iter().enumerate() {
                            if let Some(r) = self.record(it, &format!("registrations[{i}]")) {
                                ctx.registrations.push(r);
                            }
                        }
                    }
                    other => self.wrong_type(k, "a list", other),
                },
                "direct_accounts" => match x {
                    Node::List(items) => {
                        for (i, it) in items.iter().enumerate() {
                            if let Some(s) = self.text(it, &format!("direct_accounts[{i}]")) {
                                ctx.direct_accounts.push(normalize_key(&s));
                            }
                        }
                    }
                    other => self.wrong_type(k, "a list", other),
                },
                "partners" => match x {
                    Node::List(items) => {
                        for (i, it) in items.iter().enumerate() {
                            if let Some(p) =
                                self.party(RecordKind::Partner, it, &format!("partners[{i}]"))
                            {
                                ctx.partners.push(p);
                            }
                        }
                    }
                    other => self.wrong_type(k, "a list", other),
                },
                "lead" => ctx.lead = self.party(RecordKind::Lead, x, "lead"),
                "cosell_usage" => {
                    if let Some(um) = self.object(x, "cosell_usage") {
                        let policy = self.policy;
                        let names: Vec<&str> = policy
                            .cosell
                            .iter()
                            .flat_map(|c| c.pools.iter())
                            .map(|p| p.name.as_str())
                            .collect();
                        for (pool, n) in um {
                            let p = format!("cosell_usage.{pool}");
                            match names.iter().position(|x| *x == &**pool) {
                                Some(i) => {
                                    if let Some(n) = self.count(n, &p) {
                                        if let Some(c) = ctx.cosell_usage.get_mut(i) {
                                            *c = n;
                                        }
                                    }
                                }
                                None => {
                                    let help = suggest(pool, names.iter().copied())
                                        .map(|s| format!("did you mean `{s}`?"));
                                    self.err(
                                        &p,
                                        RecordErrorKind::UnknownPool,
                                        format!("unknown co-sell pool `{pool}`"),
                                        help,
                                    );
                                }
                            }
                        }
                    }
                }
                other => self.unknown_key("", other, &CONTEXT_KEYS, "context key"),
            }
        }
        ctx
    }

    /// Finishes: `Err` when any problem was recorded.
    pub fn finish<T>(self, v: Option<T>) -> Result<T, RecordErrors> {
        match v {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ if self.errors.is_empty() => Err(RecordErrors(vec![RecordError {
                path: String::new(),
                kind: RecordErrorKind::InvalidValue,
                message: "the record could not be read".into(),
                help: None,
            }])),
            _ => Err(RecordErrors(self.errors)),
        }
    }
}

/// `90d`, `2w`, `24h`, `30min`, `45s` -> seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let idx = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(idx);
    let n: i64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "d" | "days" | "day" => DAY,
        "w" | "weeks" | "week" => 7 * DAY,
        "h" | "hours" | "hour" => 3600,
        "min" | "m" | "minutes" => 60,
        "s" | "seconds" => 1,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Reads YAML text into a document tree (syntax errors become a [`RecordErrors`]).
pub fn yaml_doc(text: &str) -> Result<Node, RecordErrors> {
    crate::doc::parse_yaml(text).map_err(|e| syntax_error(e.0))
}

/// Reads JSON text into a document tree (syntax errors become a [`RecordErrors`]).
pub fn json_doc(text: &str) -> Result<Node, RecordErrors> {
    crate::doc::parse_json(text).map_err(|e| syntax_error(e.0))
}

fn syntax_error(msg: String) -> RecordErrors {
    RecordErrors(vec![RecordError {
        path: String::new(),
        kind: RecordErrorKind::Syntax,
        message: msg,
        help: None,
    }])
}

/// Ordered map used for stable output.
pub type SortedMap = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_and_domains() {
        assert_eq!(
            normalize_key("https://www.Globex.com/"),
            normalize_key("globex.com")
        );
        assert_eq!(normalize_key("Globex, Inc."), normalize_key("globex"));
        assert_eq!(normalize_key("ACME GmbH"), "acme");
        assert_ne!(normalize_key("acme"), normalize_key("acme2"));
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90d"), Some(90 * DAY));
        assert_eq!(parse_duration("2w"), Some(14 * DAY));
        assert_eq!(parse_duration("30min"), Some(1800));
        assert_eq!(parse_duration("x"), None);
    }
}
