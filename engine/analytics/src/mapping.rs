//! The mapping file (`docs/import.md`): which CSV files hold which records, and how
//! their columns and values become the policy's record fields.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dealflow_dsl::ir::{self, RecordKind, Type};
use serde::Deserialize;

/// A whole mapping, as written in YAML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// A name for the log (`import` decisions name their source by it).
    #[serde(default)]
    pub name: Option<String>,
    /// The policy the mapping is written for, relative to the mapping file.
    #[serde(default)]
    pub policy: Option<String>,
    /// ISO 4217 code of every amount column (default: the policy's currency). A
    /// mapping in another currency than the policy's is refused: no silent FX.
    #[serde(default)]
    pub currency: Option<String>,
    /// IANA zone for dates and for date-times written without an offset (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The default date format of date and date-time columns (default `iso`).
    #[serde(default)]
    pub date_format: Option<String>,
    /// Named value maps, referenced by a spec's `values: NAME`.
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Named key -> value tables read from CSV files (a price book, an agent's office).
    #[serde(default)]
    pub lookups: BTreeMap<String, Lookup>,
    #[serde(default)]
    pub partners: Option<PartyFile>,
    #[serde(default)]
    pub accounts: Option<PartyFile>,
    /// Products (a price book): read as the lookup `products.<column>` keyed by `id`.
    #[serde(default)]
    pub products: Option<ProductFile>,
    pub opportunities: OppFile,
    #[serde(default)]
    pub stage_history: Option<HistoryFile>,
    #[serde(default)]
    pub line_items: Option<LineFile>,
}

/// A key -> value table from a CSV file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub file: String,
    pub key: String,
    pub value: String,
    /// A value map applied to the key column first (e.g. product name variants).
    #[serde(default)]
    pub key_values: Option<Values>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyFile {
    pub file: String,
    pub id: Spec,
    /// Record fields (`name`, `domain` and the policy's declared fields).
    #[serde(default)]
    pub fields: BTreeMap<String, Spec>,
    /// Accounts only: a boolean column, true when direct sales owns the account.
    #[serde(default)]
    pub direct: Option<Spec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductFile {
    pub file: String,
    /// The product's key column (after `key_values`, if any).
    pub id: String,
    #[serde(default)]
    pub key_values: Option<Values>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OppFile {
    pub file: String,
    pub id: Spec,
    pub stage: Spec,
    #[serde(default)]
    pub partner: Option<Spec>,
    /// Empty: the deal has no account yet.
    #[serde(default)]
    pub account: Option<Spec>,
    /// When the CRM created the deal (a date or date-time column).
    pub created: Spec,
    /// When a closed deal closed (default: when it entered its closed stage).
    #[serde(default)]
    pub closed: Option<Spec>,
    /// Source stage value -> column holding the instant the deal entered it
    /// (HubSpot's `hs_date_entered_<stage>`). Stages after the deal's own are ignored.
    #[serde(default)]
    pub stage_dates: BTreeMap<String, String>,
    /// Opportunity record fields.
    #[serde(default)]
    pub fields: BTreeMap<String, Spec>,
    /// One line item per row, when the CRM keeps the product on the deal.
    #[serde(default)]
    pub line_item: Option<BTreeMap<String, Spec>>,
}

/// Stage and field history: one row per snapshot of a deal (Salesforce's
/// OpportunityHistory). Consecutive snapshots that differ become events.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryFile {
    pub file: String,
    pub opportunity: Spec,
    pub at: Spec,
    #[serde(default)]
    pub stage: Option<Spec>,
    #[serde(default)]
    pub close_date: Option<Spec>,
    /// Other opportunity fields tracked by the history (field-change events).
    #[serde(default)]
    pub fields: BTreeMap<String, Spec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFile {
    pub file: String,
    pub opportunity: Spec,
    pub fields: BTreeMap<String, Spec>,
}

/// A value map: inline, or the name of one of the mapping's `values`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Values {
    Named(String),
    Inline(BTreeMap<String, String>),
}

/// Where a field's value comes from: a column name, or the full form.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Spec {
    Column(String),
    Full(Box<FullSpec>),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullSpec {
    #[serde(default)]
    pub column: Option<String>,
    /// A constant instead of a column.
    #[serde(default)]
    pub value: Option<String>,
    /// Source value -> value (applied before the lookup).
    #[serde(default)]
    pub values: Option<Values>,
    /// With `values`: a value the map does not name is an error (default: kept as is).
    #[serde(default)]
    pub strict: bool,
    /// The key is looked up in this table (`NAME` of `lookups`, or `products.COLUMN`).
    #[serde(default)]
    pub lookup: Option<String>,
    /// Used when the cell is empty.
    #[serde(default)]
    pub default: Option<String>,
    /// Tried when the cell is empty, before `default`.
    #[serde(default)]
    pub fallback: Option<Spec>,
    /// Date format of this column (see `date_format`).
    #[serde(default)]
    pub format: Option<String>,
    /// Thousands separator to drop from numbers (`","`).
    #[serde(default)]
    pub thousands: Option<String>,
    /// Currency of this amount column.
    #[serde(default)]
    pub currency: Option<String>,
    /// For list fields: the separator between items (default `;`).
    #[serde(default)]
    pub split: Option<String>,
}

impl Spec {
    pub fn full(&self) -> FullSpec {
        match self {
            Spec::Column(c) => FullSpec {
                column: Some(c.clone()),
                ..FullSpec::default()
            },
            Spec::Full(f) => (**f).clone(),
        }
    }

    /// The column this spec reads first, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            Spec::Column(c) => Some(c),
            Spec::Full(f) => f.column.as_deref(),
        }
    }
}

/// A mapping error: what is wrong, where in the mapping.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct MappingError {
    pub file: String,
    pub message: String,
}

impl Mapping {
    /// Reads a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let err = |message: String| MappingError {
            file: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Mapping::parse(&text).map_err(|e| err(e.message))
    }

    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        serde_yaml::from_str(text).map_err(|e| MappingError {
            file: String::new(),
            message: match e.location() {
                Some(l) => format!("line {}, column {}: {e}", l.line(), l.column()),
                None => e.to_string(),
            },
        })
    }

    /// The policy file the mapping names, resolved against the mapping's folder.
    pub fn policy_path(&self, mapping_file: &Path) -> Option<PathBuf> {
        self.policy.as_ref().map(|p| {
            mapping_file
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(p)
        })
    }

    /// The value map a spec names.
    pub fn values_of<'a>(&'a self, v: &'a Values) -> Result<&'a BTreeMap<String, String>, String> {
        match v {
            Values::Inline(m) => Ok(m),
            Values::Named(n) => self.values.get(n).ok_or_else(|| {
                format!(
                    "`values: {n}` names no value map; the mapping declares {}",
                    names(self.values.keys())
                )
            }),
        }
    }

    /// Checks the mapping against the policy: every field it fills is declared, every
    /// value map and lookup it names exists, every mapped stage is a stage.
    pub fn check(&self, policy: &ir::Policy) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        let currency = self.currency.as_deref().unwrap_or(&policy.currency);
        if currency != policy.currency {
            errs.push(format!(
                "amounts are in {currency} but policy `{}` is in {}; convert them before importing",
                policy.name, policy.currency
            ));
        }
        if let Some(tz) = &self.timezone {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                errs.push(format!("`timezone: {tz}` is not an IANA time zone"));
            }
        }
        let spec = |what: &str, s: &Spec, errs: &mut Vec<String>| {
            let f = s.full();
            if f.column.is_none()
                && f.value.is_none()
                && f.fallback.is_none()
                && f.default.is_none()
            {
                errs.push(format!("{what}: give a `column` or a `value`"));
            }
            if let Some(v) = &f.values {
                if let Err(e) = self.values_of(v) {
                    errs.push(format!("{what}: {e}"));
                }
            }
            if let Some(l) = &f.lookup {
                let known = self.lookups.contains_key(l)
                    || (l.starts_with("products.") && self.products.is_some());
                if !known {
                    errs.push(format!(
                        "{what}: `lookup: {l}` names no lookup; the mapping declares {}",
                        names(self.lookups.keys())
                    ));
                }
            }
            if let Some(c) = &f.currency {
                if c != &policy.currency {
                    errs.push(format!(
                        "{what}: amounts are in {c} but the policy is in {}",
                        policy.currency
                    ));
                }
            }
        };
        let fields = |kind: RecordKind,
                      extra: &[&str],
                      m: &BTreeMap<String, Spec>,
                      what: &str,
                      errs: &mut Vec<String>| {
            let schema = policy.record(kind);
            for name in m.keys() {
                let declared = schema.and_then(|s| s.field(name)).is_some();
                if !declared && !extra.contains(&name.as_str()) {
                    let mut known: Vec<&str> = extra.to_vec();
                    known.extend(
                        schema
                            .iter()
                            .flat_map(|s| s.fields.iter().map(|f| f.name.as_str())),
                    );
                    errs.push(format!(
                        "{what}.{name}: policy `{}` declares no such field; it has {}",
                        policy.name,
                        names(known.iter())
                    ));
                }
            }
        };
        if let Some(p) = &self.partners {
            spec("partners.id", &p.id, &mut errs);
            for (k, s) in &p.fields {
                spec(&format!("partners.fields.{k}"), s, &mut errs);
            }
            fields(
                RecordKind::Partner,
                &["name"],
                &p.fields,
                "partners.fields",
                &mut errs,
            );
        }
        if let Some(a) = &self.accounts {
            spec("accounts.id", &a.id, &mut errs);
            for (k, s) in &a.fields {
                spec(&format!("accounts.fields.{k}"), s, &mut errs);
            }
            fields(
                RecordKind::Account,
                &["name", "domain"],
                &a.fields,
                "accounts.fields",
                &mut errs,
            );
        }
        let o = &self.opportunities;
        spec("opportunities.id", &o.id, &mut errs);
        spec("opportunities.stage", &o.stage, &mut errs);
        spec("opportunities.created", &o.created, &mut errs);
        for (k, s) in &o.fields {
            spec(&format!("opportunities.fields.{k}"), s, &mut errs);
        }
        fields(
            RecordKind::Opportunity,
            &[],
            &o.fields,
            "opportunities.fields",
            &mut errs,
        );
        if let Some(li) = &o.line_item {
            fields(
                RecordKind::LineItem,
                &[],
                li,
                "opportunities.line_item",
                &mut errs,
            );
        }
        if let Some(l) = &self.line_items {
            fields(
                RecordKind::LineItem,
                &[],
                &l.fields,
                "line_items.fields",
                &mut errs,
            );
        }
        if let Some(h) = &self.stage_history {
            fields(
                RecordKind::Opportunity,
                &[],
                &h.fields,
                "stage_history.fields",
                &mut errs,
            );
        }
        // Stage values: every target is a policy stage.
        let stage_map = o.stage.full().values;
        if let Some(v) = &stage_map {
            if let Ok(m) = self.values_of(v) {
                for (src, dst) in m {
                    if policy.stage_by_name(dst).is_none() {
                        errs.push(format!(
                            "opportunities.stage: `{src}` maps to `{dst}`, which is not a stage of policy `{}`; its stages are {}",
                            policy.name,
                            names(policy.stages.iter().map(|s| &s.name))
                        ));
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// Every CSV file the mapping reads, by its `file` name.
    pub fn files(&self) -> Vec<&str> {
        let all = self
            .lookups
            .values()
            .map(|l| l.file.as_str())
            .chain(self.products.iter().map(|p| p.file.as_str()))
            .chain(self.partners.iter().map(|p| p.file.as_str()))
            .chain(self.accounts.iter().map(|p| p.file.as_str()))
            .chain(std::iter::once(self.opportunities.file.as_str()))
            .chain(self.stage_history.iter().map(|p| p.file.as_str()))
            .chain(self.line_items.iter().map(|p| p.file.as_str()));
        let mut v: Vec<&str> = Vec::new();
        for f in all {
            if !v.contains(&f) {
                v.push(f);
            }
        }
        v
    }
}

/// The type of a record field, for conversion (`name`/`domain` are text).
pub fn field_type(policy: &ir::Policy, kind: RecordKind, name: &str) -> Type {
    policy
        .record(kind)
        .and_then(|s| s.field(name))
        .map_or(Type::Text, |(_, f)| f.ty.clone())
}

fn names<T: AsRef<str>>(it: impl Iterator<Item = T>) -> String {
    let v: Vec<String> = it.map(|s| format!("`{}`", s.as_ref())).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
