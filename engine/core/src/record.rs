//! Opportunity records and decision contexts: validation against the policy schema.
//!
//! Parsing never stops at the first problem: every error is collected with the path
//! of the offending value (`fields.close_date`, `line_items[1].price`,
//! `history[3].at`) and a reason, and unknown names come with a "did you mean".

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use dealflow_dsl::ir::{self, EnumId, RecordKind, StageId, Type};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::value::{Value, DAY};

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
    StageChange { from: Option<StageId>, to: StageId },
    CloseDateChange,
    Activity,
    Cosell { pool: Option<String> },
    Closed { won: bool },
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
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "a list",
        Json::Object(_) => "a map",
    }
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
        }
    }

    /// The value of a required key, or a `missing_field` error at `path.key`.
    fn required<'m>(
        &mut self,
        m: &'m serde_json::Map<String, Json>,
        path: &str,
        key: &str,
    ) -> Option<&'m Json> {
        let v = m.get(key);
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

    fn wrong_type(&mut self, path: &str, expected: &str, v: &Json) {
        self.err(
            path,
            RecordErrorKind::WrongType,
            format!("expected {expected}, found {}", kind_of(v)),
            None,
        );
    }

    fn object<'j>(&mut self, v: &'j Json, path: &str) -> Option<&'j Map<String, Json>> {
        match v {
            Json::Object(m) => Some(m),
            other => {
                self.wrong_type(path, "a map", other);
                None
            }
        }
    }

    fn text(&mut self, v: &Json, path: &str) -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            other => {
                self.wrong_type(path, "text", other);
                None
            }
        }
    }

    fn datetime(&mut self, v: &Json, path: &str) -> Option<DateTime<Utc>> {
        match v {
            Json::String(s) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(d) => Some(d.with_timezone(&Utc)),
                Err(_) => {
                    self.err(
                        path,
                        RecordErrorKind::BadDate,
                        format!("`{s}` is not a valid date-time"),
                        Some("write an RFC 3339 date-time like `2026-09-01T10:00:00Z`".into()),
                    );
                    None
                }
            },
            other => {
                self.wrong_type(path, "a date-time", other);
                None
            }
        }
    }

    fn stage(&mut self, v: &Json, path: &str) -> Option<StageId> {
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

    fn decimal(&mut self, raw: &str, path: &str, what: &str) -> Option<Decimal> {
        let cleaned: String = raw
            .trim()
            .chars()
            .filter(|c| *c != '_' && *c != ',')
            .collect();
        match Decimal::from_str(&cleaned).or_else(|_| Decimal::from_scientific(&cleaned)) {
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    path,
                    RecordErrorKind::InvalidValue,
                    format!("`{raw}` is not a valid {what}"),
                    None,
                );
                None
            }
        }
    }

    /// Parses one value of a declared type.
    pub fn value(&mut self, ty: &Type, v: &Json, path: &str) -> Value {
        if v.is_null() {
            return Value::Absent;
        }
        self.value_inner(ty, v, path).unwrap_or(Value::Absent)
    }

    fn value_inner(&mut self, ty: &Type, v: &Json, path: &str) -> Option<Value> {
        match ty {
            Type::Optional(t) => Some(self.value(t, v, path)),
            Type::Bool => match v {
                Json::Bool(b) => Some(Value::Bool(*b)),
                other => {
                    self.wrong_type(path, "`true` or `false`", other);
                    None
                }
            },
            Type::Integer => match v {
                Json::Number(n) if n.as_i64().is_some() => n.as_i64().map(Value::Int),
                Json::String(s) if s.trim().replace('_', "").parse::<i64>().is_ok() => s
                    .trim()
                    .replace('_', "")
                    .parse::<i64>()
                    .ok()
                    .map(Value::Int),
                other => {
                    self.wrong_type(path, "a whole number", other);
                    None
                }
            },
            Type::Decimal => match v {
                Json::Number(n) => self.decimal(&n.to_string(), path, "number").map(Value::Dec),
                Json::String(s) => self.decimal(s, path, "number").map(Value::Dec),
                other => {
                    self.wrong_type(path, "a number", other);
                    None
                }
            },
            Type::Money => match v {
                Json::Number(n) => self
                    .decimal(&n.to_string(), path, "amount")
                    .map(Value::Money),
                Json::String(s) => {
                    let mut parts = s.split_whitespace();
                    let amount = parts.next().unwrap_or("");
                    if let Some(cur) = parts.next() {
                        if !cur.eq_ignore_ascii_case(&self.policy.currency) {
                            self.err(
                                path,
                                RecordErrorKind::WrongCurrency,
                                format!(
                                    "amount `{s}` is in `{cur}`, the policy currency is `{}`",
                                    self.policy.currency
                                ),
                                Some(format!("convert the amount to {}", self.policy.currency)),
                            );
                            return None;
                        }
                    }
                    self.decimal(amount, path, "amount").map(Value::Money)
                }
                other => {
                    self.wrong_type(path, "an amount", other);
                    None
                }
            },
            Type::Percent => match v {
                Json::Number(n) => self
                    .decimal(&n.to_string(), path, "percentage")
                    .map(Value::Pct),
                Json::String(s) => match s.trim().strip_suffix('%') {
                    Some(p) => self
                        .decimal(p, path, "percentage")
                        .map(|d| Value::Pct(d / Decimal::ONE_HUNDRED)),
                    None => self.decimal(s, path, "percentage").map(Value::Pct),
                },
                other => {
                    self.wrong_type(path, "a percentage like `15%`", other);
                    None
                }
            },
            Type::Date => match v {
                Json::String(s) => match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                    Ok(d) => Some(Value::Date(d)),
                    Err(_) => {
                        self.err(
                            path,
                            RecordErrorKind::BadDate,
                            format!("`{s}` is not a valid date"),
                            Some("write a date like `2026-12-15`".into()),
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
                Json::Number(n) => n.as_i64().map(|d| Value::Dur(d * DAY)),
                Json::String(s) => match parse_duration(s) {
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
                Json::String(s) => Some(Value::text(s)),
                Json::Number(n) => Some(Value::text(&n.to_string())),
                Json::Bool(b) => Some(Value::text(&b.to_string())),
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
                Json::Array(items) => {
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
    fn fields(
        &mut self,
        kind: RecordKind,
        m: &Map<String, Json>,
        path: &str,
        skip: &[&str],
    ) -> Vec<Value> {
        let policy = self.policy;
        let schema = policy.record(kind);
        let defs: &[ir::FieldDef] = schema.map(|s| s.fields.as_slice()).unwrap_or(&[]);
        let mut out = vec![Value::Absent; defs.len()];
        for (k, v) in m {
            match defs.iter().position(|f| &f.name == k) {
                Some(slot) => {
                    if let (Some(def), Some(cell)) = (defs.get(slot), out.get_mut(slot)) {
                        *cell = Value::Absent;
                        let parsed = self.value(&def.ty, v, &join(path, k));
                        if let Some(cell) = out.get_mut(slot) {
                            *cell = parsed;
                        }
                    }
                }
                None if skip.contains(&k.as_str()) => {}
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

    fn party(&mut self, kind: RecordKind, v: &Json, path: &str) -> Option<Party> {
        let m = self.object(v, path)?;
        let id = self
            .required(m, path, "id")
            .and_then(|x| self.text(x, &join(path, "id")));
        let name = match m.get("name") {
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

    fn account(&mut self, v: &Json, path: &str) -> Option<Account> {
        let m = self.object(v, path)?;
        let id = self
            .required(m, path, "id")
            .and_then(|x| self.text(x, &join(path, "id")));
        let name = match m.get("name") {
            Some(x) if !x.is_null() => self.text(x, &join(path, "name")),
            _ => None,
        };
        let domain = match m.get("domain") {
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

    fn registration(&mut self, v: &Json, path: &str) -> Option<RegistrationInfo> {
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
            match k.as_str() {
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
                "extensions" => match x.as_u64() {
                    Some(n) => r.extensions = u32::try_from(n).unwrap_or(u32::MAX),
                    None => self.wrong_type(&p, "a whole number", x),
                },
                other => self.unknown_key(path, other, &REGISTRATION_KEYS, "registration field"),
            }
        }
        Some(r)
    }

    fn event(&mut self, v: &Json, path: &str) -> Option<Event> {
        let m = self.object(v, path)?;
        let at = self
            .required(m, path, "at")
            .and_then(|x| self.datetime(x, &join(path, "at")));
        let ty = self
            .required(m, path, "type")
            .and_then(|x| self.text(x, &join(path, "type")));
        let ty = ty?;
        let (kind, allowed): (Option<EventKind>, &[&str]) = match ty.as_str() {
            "created" => (Some(EventKind::Created), &[]),
            "stage_change" => {
                let from = m.get("from").and_then(|x| {
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
                    if let Some(x) = m.get(k) {
                        self.value(&Type::Date, x, &join(path, k));
                    }
                }
                (Some(EventKind::CloseDateChange), &["from", "to"])
            }
            "activity" => (Some(EventKind::Activity), &["kind"]),
            "cosell" => {
                let pool = m
                    .get("pool")
                    .and_then(|x| self.text(x, &join(path, "pool")));
                if let (Some(p), Some(cs)) = (&pool, &self.policy.cosell) {
                    if !cs.pools.iter().any(|x| &x.name == p) {
                        let help = suggest(p, cs.pools.iter().map(|x| x.name.as_str()))
                            .map(|s| format!("did you mean `{s}`?"));
                        self.err(
                            &join(path, "pool"),
                            RecordErrorKind::UnknownPool,
                            format!("unknown co-sell pool `{p}`"),
                            help,
                        );
                    }
                }
                (Some(EventKind::Cosell { pool }), &["pool", "kind"])
            }
            "closed" => {
                let won = match m.get("outcome").and_then(Json::as_str) {
                    Some("won") | None => Some(true),
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
        for k in m.keys() {
            if !matches!(k.as_str(), "at" | "type" | "note" | "by")
                && !allowed.contains(&k.as_str())
            {
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
    pub fn record(&mut self, v: &Json, path: &str) -> Option<Record> {
        let m = self.object(v, path)?;
        for k in m.keys() {
            if !RECORD_KEYS.contains(&k.as_str()) {
                self.unknown_key(path, k, &RECORD_KEYS, "record key");
            }
        }
        let id = self
            .required(m, path, "id")
            .and_then(|x| self.text(x, &join(path, "id")));
        let stage = self
            .required(m, path, "stage")
            .and_then(|x| self.stage(x, &join(path, "stage")));
        let empty = Map::new();
        let fields_map = match m.get("fields") {
            Some(x) => self.object(x, &join(path, "fields")).unwrap_or(&empty),
            None => &empty,
        };
        let fields = self.fields(
            RecordKind::Opportunity,
            fields_map,
            &join(path, "fields"),
            &[],
        );
        let partner = m
            .get("partner")
            .filter(|x| !x.is_null())
            .and_then(|x| self.party(RecordKind::Partner, x, &join(path, "partner")));
        let account = m
            .get("account")
            .filter(|x| !x.is_null())
            .and_then(|x| self.account(x, &join(path, "account")));
        let mut line_items = Vec::new();
        if let Some(x) = m.get("line_items").filter(|x| !x.is_null()) {
            match x {
                Json::Array(items) => {
                    for (i, it) in items.iter().enumerate() {
                        let p = format!("{}[{i}]", join(path, "line_items"));
                        if let Some(im) = self.object(it, &p) {
                            line_items.push(self.fields(RecordKind::LineItem, im, &p, &[]));
                        }
                    }
                }
                other => self.wrong_type(&join(path, "line_items"), "a list", other),
            }
        }
        let registration = m
            .get("registration")
            .filter(|x| !x.is_null())
            .and_then(|x| self.registration(x, &join(path, "registration")));
        let mut history = Vec::new();
        if let Some(x) = m.get("history").filter(|x| !x.is_null()) {
            match x {
                Json::Array(items) => {
                    for (i, it) in items.iter().enumerate() {
                        if let Some(e) = self.event(it, &format!("{}[{i}]", join(path, "history")))
                        {
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
    pub fn context(&mut self, v: &Json) -> Context {
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
            match k.as_str() {
                "registrations" => match x {
                    Json::Array(items) => {
                        for (i, it) in items.iter().enumerate() {
                            if let Some(r) = self.record(it, &format!("registrations[{i}]")) {
                                ctx.registrations.push(r);
                            }
                        }
                    }
                    other => self.wrong_type(k, "a list", other),
                },
                "direct_accounts" => match x {
                    Json::Array(items) => {
                        for (i, it) in items.iter().enumerate() {
                            if let Some(s) = self.text(it, &format!("direct_accounts[{i}]")) {
                                ctx.direct_accounts.push(normalize_key(&s));
                            }
                        }
                    }
                    other => self.wrong_type(k, "a list", other),
                },
                "partners" => match x {
                    Json::Array(items) => {
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
                            match names.iter().position(|x| x == pool) {
                                Some(i) => match n.as_u64() {
                                    Some(n) => {
                                        if let Some(c) = ctx.cosell_usage.get_mut(i) {
                                            *c = u32::try_from(n).unwrap_or(u32::MAX);
                                        }
                                    }
                                    None => self.wrong_type(&p, "a whole number", n),
                                },
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

/// Converts YAML text to a JSON value (syntax errors become a [`RecordErrors`]).
pub fn yaml_to_json(text: &str) -> Result<Json, RecordErrors> {
    serde_yaml::from_str::<Json>(text).map_err(|e| syntax_error(e.to_string()))
}

/// Parses JSON text (syntax errors become a [`RecordErrors`]).
pub fn json_text(text: &str) -> Result<Json, RecordErrors> {
    serde_json::from_str::<Json>(text).map_err(|e| syntax_error(e.to_string()))
}

fn syntax_error(msg: String) -> RecordErrors {
    RecordErrors(vec![RecordError {
        path: String::new(),
        kind: RecordErrorKind::Syntax,
        message: msg.to_lowercase(),
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
