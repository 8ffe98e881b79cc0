//! A store written back in a mapping's shape: every file the mapping reads, with
//! the columns it reads, so that importing the export gives the same records
//! (import -> export -> import is the identity on partners, accounts and
//! opportunities with their history).
//!
//! Each column is written from the first spec that fills it: plain columns first,
//! then columns reached only through a lookup. Value maps are reversed (a value
//! the map passes through unchanged is written as itself), and lookup tables are
//! rebuilt from the pairs the records show (an agent and its office).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use dealflow_engine::Audience;
use dealflow_store::Store;
use serde_json::{Map, Value};

use crate::convert::DateFormat;
use crate::mapping::{FullSpec, Mapping, Spec};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] dealflow_store::StoreError),
    #[error("{0}")]
    Mapping(String),
    #[error("{file}: {message}")]
    Write { file: String, message: String },
}

/// What was written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// File name and data rows written.
    pub files: Vec<(String, u64)>,
}

/// One output file being assembled: its columns and rows.
#[derive(Default)]
struct Out {
    columns: Vec<String>,
    rows: Vec<HashMap<String, String>>,
}

impl Out {
    fn column(&mut self, c: &str) {
        if !self.columns.iter().any(|x| x == c) {
            self.columns.push(c.to_string());
        }
    }
}

/// Cell values of one row: column -> text, first writer wins.
#[derive(Default)]
struct Row {
    cells: HashMap<String, String>,
    /// Lookup specs, written after every plain spec: (column, lookup, value).
    deferred: Vec<(String, String, String)>,
}

struct Writer<'m> {
    m: &'m Mapping,
    tz: Tz,
    format: DateFormat,
    /// Lookup name -> key -> value, rebuilt from the records.
    pairs: BTreeMap<String, BTreeMap<String, String>>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => Some(a.iter().filter_map(text).collect::<Vec<_>>().join(";")),
        Value::Object(_) => Some(v.to_string()),
    }
}

impl Writer<'_> {
    fn format_of(&self, f: &FullSpec) -> Result<DateFormat, ExportError> {
        match &f.format {
            Some(x) => DateFormat::parse(x).map_err(ExportError::Mapping),
            None => Ok(self.format.clone()),
        }
    }

    /// The source text that reads back as `v` through the spec's value map.
    fn unmap(&self, f: &FullSpec, v: String) -> String {
        let Some(values) = &f.values else { return v };
        let Ok(m) = self.m.values_of(values) else {
            return v;
        };
        match m.get(&v) {
            None if !f.strict => v,
            Some(x) if *x == v => v,
            _ => m
                .iter()
                .find(|(_, dst)| **dst == v)
                .map_or(v, |(src, _)| src.clone()),
        }
    }

    /// The text of a yes/no column that reads back as `flag`: the first source value
    /// (in the value map's order) whose target means it, else `yes` / `no`.
    fn flag_text(&self, f: &FullSpec, flag: bool) -> String {
        let mapped = f
            .values
            .as_ref()
            .and_then(|v| self.m.values_of(v).ok())
            .and_then(|m| {
                m.iter()
                    .find(|(_, dst)| crate::import::yes_no(dst) == Some(flag))
                    .map(|(src, _)| src.clone())
            });
        mapped.unwrap_or_else(|| if flag { "yes" } else { "no" }.to_owned())
    }

    /// Writes `value` through `spec` into `row` (dates in the spec's format).
    fn put(
        &self,
        row: &mut Row,
        spec: &Spec,
        value: &Value,
        kind: Kind,
    ) -> Result<(), ExportError> {
        let f = spec.full();
        let Some(col) = f.column.clone() else {
            // A constant: nothing to write.
            return Ok(());
        };
        let Some(mut t) = text(value) else {
            return Ok(());
        };
        let fmt = self.format_of(&f)?;
        t = match kind {
            Kind::Date => match NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
                Ok(d) => fmt.write_date(d, self.tz),
                Err(_) => t,
            },
            Kind::Instant => match DateTime::parse_from_rfc3339(&t) {
                Ok(i) => fmt.write_instant(i.with_timezone(&Utc), self.tz),
                Err(_) => t,
            },
            Kind::Plain => t,
        };
        if let Some(l) = &f.lookup {
            row.deferred.push((col, l.clone(), t));
            return Ok(());
        }
        let t = self.unmap(&f, t);
        row.cells.entry(col).or_insert(t);
        Ok(())
    }

    /// Settles the lookup specs: the key already in the column (or the value
    /// itself) is recorded as mapping to the value.
    fn settle(&mut self, row: &mut Row) {
        for (col, lookup, value) in std::mem::take(&mut row.deferred) {
            let key = row
                .cells
                .entry(col)
                .or_insert_with(|| value.clone())
                .clone();
            self.pairs
                .entry(lookup)
                .or_default()
                .entry(key)
                .or_insert(value);
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Date,
    Instant,
}

fn kind_of(
    policy: &dealflow_dsl::ir::Policy,
    kind: dealflow_dsl::ir::RecordKind,
    field: &str,
) -> Kind {
    use dealflow_dsl::ir::Type;
    let mut t = crate::mapping::field_type(policy, kind, field);
    while let Type::Optional(x) = t {
        t = *x;
    }
    match t {
        Type::Date => Kind::Date,
        Type::DateTime => Kind::Instant,
        _ => Kind::Plain,
    }
}

/// Writes every file of `mapping` into `dir` from the store.
pub fn export(
    store: &dyn Store,
    policy: &dealflow_engine::Policy,
    mapping: &Mapping,
    dir: &Path,
) -> Result<Exported, ExportError> {
    use dealflow_dsl::ir::RecordKind;
    let p = policy.ir();
    let tz: Tz = match &mapping.timezone {
        Some(z) => z
            .parse()
            .map_err(|_| ExportError::Mapping(format!("`timezone: {z}` is not an IANA zone")))?,
        None => Tz::UTC,
    };
    let format = match &mapping.date_format {
        Some(f) => DateFormat::parse(f).map_err(ExportError::Mapping)?,
        None => DateFormat::Iso,
    };
    let mut w = Writer {
        m: mapping,
        tz,
        format,
        pairs: BTreeMap::new(),
    };
    let mut files: BTreeMap<String, Out> = BTreeMap::new();
    let aud = Audience::Vendor;

    // Partners and accounts.
    let party = |w: &mut Writer<'_>,
                 files: &mut BTreeMap<String, Out>,
                 pf: &crate::mapping::PartyFile,
                 kind: RecordKind,
                 docs: Vec<(Map<String, Value>, bool)>|
     -> Result<(), ExportError> {
        let out = files.entry(pf.file.clone()).or_default();
        for s in std::iter::once(&pf.id)
            .chain(pf.fields.values())
            .chain(pf.direct.iter())
        {
            if let Some(c) = s.column() {
                out.column(c);
            }
        }
        for (doc, direct) in docs {
            let mut row = Row::default();
            w.put(
                &mut row,
                &pf.id,
                doc.get("id").unwrap_or(&Value::Null),
                Kind::Plain,
            )?;
            for (name, s) in &pf.fields {
                let k = kind_of(p, kind, name);
                w.put(&mut row, s, doc.get(name).unwrap_or(&Value::Null), k)?;
            }
            if let Some(d) = &pf.direct {
                if let Some(col) = d.column() {
                    row.cells
                        .entry(col.to_string())
                        .or_insert_with(|| w.flag_text(&d.full(), direct));
                }
            }
            w.settle(&mut row);
            out.rows.push(row.cells);
        }
        Ok(())
    };
    if let Some(pf) = &mapping.partners {
        let docs = store
            .partners(&aud)?
            .into_iter()
            .map(|r| (serde_json::from_str(&r.doc).unwrap_or_default(), false))
            .collect();
        party(&mut w, &mut files, pf, RecordKind::Partner, docs)?;
    }
    if let Some(af) = &mapping.accounts {
        let docs = store
            .accounts(&aud)?
            .into_iter()
            .map(|r| (serde_json::from_str(&r.doc).unwrap_or_default(), r.direct))
            .collect();
        party(&mut w, &mut files, af, RecordKind::Account, docs)?;
    }

    // Opportunities, their history and line items.
    let o = &mapping.opportunities;
    let stage_values = o.stage.full();
    let mut opp_rows: Vec<HashMap<String, String>> = Vec::new();
    let mut hist_rows: Vec<HashMap<String, String>> = Vec::new();
    let mut item_rows: Vec<HashMap<String, String>> = Vec::new();
    let mut err: Option<ExportError> = None;
    store.scan_opportunities(&aud, &mut |r| {
        let res = (|| -> Result<(), ExportError> {
            let doc: Value = serde_json::from_str(r.doc).unwrap_or(Value::Null);
            let hist: Vec<Value> = serde_json::from_str(r.history).unwrap_or_default();
            let fields = doc
                .get("fields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let items = doc
                .get("line_items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut row = Row::default();
            w.put(&mut row, &o.id, &Value::String(r.id.into()), Kind::Plain)?;
            w.put(
                &mut row,
                &o.stage,
                &Value::String(stage_label(p, r.stage, &stage_values, w.m)),
                Kind::Plain,
            )?;
            if let Some(s) = &o.partner {
                w.put(
                    &mut row,
                    s,
                    &r.partner.map_or(Value::Null, |x| Value::String(x.into())),
                    Kind::Plain,
                )?;
            }
            if let Some(s) = &o.account {
                w.put(
                    &mut row,
                    s,
                    &r.account.map_or(Value::Null, |x| Value::String(x.into())),
                    Kind::Plain,
                )?;
            }
            // Stage dates first: a date field read from the same column (HubSpot's
            // `proposal_sent: hs_date_entered_contractsent`) then keeps the instant.
            let changes = || {
                hist.iter()
                    .filter(|e| e.get("type").and_then(Value::as_str) == Some("stage_change"))
            };
            // The stage the deal was created in: the first change's `from`, or the
            // stage it is still in.
            let first_stage = changes()
                .next()
                .map_or(Some(r.stage), |e| e.get("from").and_then(Value::as_str));
            for (src, col) in &o.stage_dates {
                let dst = stage_values
                    .values
                    .as_ref()
                    .and_then(|v| w.m.values_of(v).ok())
                    .and_then(|m| m.get(src))
                    .map_or(src.as_str(), String::as_str);
                let name = p
                    .stages
                    .iter()
                    .find(|s| s.name == dst || s.label.as_deref() == Some(dst))
                    .map(|s| s.name.as_str());
                let entered = changes()
                    .rev()
                    .find(|e| e.get("to").and_then(Value::as_str) == name)
                    .and_then(|e| e.get("at"))
                    .cloned();
                let entered = match entered {
                    Some(at) => Some(at),
                    None if name.is_some() && name == first_stage => {
                        Some(Value::String(r.created_at.into()))
                    }
                    None => None,
                };
                if let Some(at) = entered {
                    w.put(&mut row, &Spec::Column(col.clone()), &at, Kind::Instant)?;
                }
            }
            for (name, s) in &o.fields {
                w.put(
                    &mut row,
                    s,
                    fields.get(name).unwrap_or(&Value::Null),
                    kind_of(p, RecordKind::Opportunity, name),
                )?;
            }
            if let (Some(li), Some(item)) = (&o.line_item, items.first()) {
                for (name, s) in li {
                    w.put(
                        &mut row,
                        s,
                        item.get(name).unwrap_or(&Value::Null),
                        kind_of(p, RecordKind::LineItem, name),
                    )?;
                }
            }
            if let Some(s) = &o.closed {
                if let Some(at) = hist
                    .iter()
                    .rev()
                    .find(|e| e.get("type").and_then(Value::as_str) == Some("closed"))
                    .and_then(|e| e.get("at"))
                {
                    w.put(&mut row, s, at, Kind::Instant)?;
                }
            }
            w.put(
                &mut row,
                &o.created,
                &Value::String(r.created_at.into()),
                Kind::Instant,
            )?;
            w.settle(&mut row);
            opp_rows.push(row.cells);

            if let Some(h) = &mapping.stage_history {
                for snap in snapshots(&hist, r.created_at, &fields) {
                    let mut row = Row::default();
                    w.put(
                        &mut row,
                        &h.opportunity,
                        &Value::String(r.id.into()),
                        Kind::Plain,
                    )?;
                    w.put(
                        &mut row,
                        &h.at,
                        &Value::String(snap.0.clone()),
                        Kind::Instant,
                    )?;
                    if let Some(s) = &h.stage {
                        let st = snap.1.clone().unwrap_or_else(|| r.stage.to_string());
                        w.put(
                            &mut row,
                            s,
                            &Value::String(stage_label(p, &st, &s.full(), w.m)),
                            Kind::Plain,
                        )?;
                    }
                    if let Some(s) = &h.close_date {
                        w.put(&mut row, s, &snap.2, Kind::Date)?;
                    }
                    for (name, s) in &h.fields {
                        w.put(
                            &mut row,
                            s,
                            fields.get(name).unwrap_or(&Value::Null),
                            kind_of(p, RecordKind::Opportunity, name),
                        )?;
                    }
                    w.settle(&mut row);
                    hist_rows.push(row.cells);
                }
            }
            if let Some(l) = &mapping.line_items {
                for item in &items {
                    let mut row = Row::default();
                    w.put(
                        &mut row,
                        &l.opportunity,
                        &Value::String(r.id.into()),
                        Kind::Plain,
                    )?;
                    for (name, s) in &l.fields {
                        w.put(
                            &mut row,
                            s,
                            item.get(name).unwrap_or(&Value::Null),
                            kind_of(p, RecordKind::LineItem, name),
                        )?;
                    }
                    w.settle(&mut row);
                    item_rows.push(row.cells);
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            err.get_or_insert(e);
        }
        Ok(())
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    let mut cols =
        |file: &str, specs: Vec<&Spec>, extra: Vec<&str>, rows: Vec<HashMap<String, String>>| {
            let out = files.entry(file.to_string()).or_default();
            for s in specs {
                if let Some(c) = s.column() {
                    out.column(c);
                }
                if let Spec::Full(f) = s {
                    if let Some(fb) = &f.fallback {
                        if let Some(c) = fb.column() {
                            out.column(c);
                        }
                    }
                }
            }
            for c in extra {
                out.column(c);
            }
            out.rows.extend(rows);
        };
    let mut specs: Vec<&Spec> = vec![&o.id, &o.stage];
    specs.extend(o.partner.iter());
    specs.extend(o.account.iter());
    specs.extend(o.fields.values());
    specs.extend(o.line_item.iter().flat_map(|m| m.values()));
    specs.extend(o.closed.iter());
    specs.push(&o.created);
    cols(
        &o.file,
        specs,
        o.stage_dates.values().map(String::as_str).collect(),
        opp_rows,
    );
    if let Some(h) = &mapping.stage_history {
        let mut specs: Vec<&Spec> = vec![&h.opportunity, &h.at];
        specs.extend(h.stage.iter());
        specs.extend(h.close_date.iter());
        specs.extend(h.fields.values());
        cols(&h.file, specs, Vec::new(), hist_rows);
    }
    if let Some(l) = &mapping.line_items {
        let mut specs: Vec<&Spec> = vec![&l.opportunity];
        specs.extend(l.fields.values());
        cols(&l.file, specs, Vec::new(), item_rows);
    }

    // Lookup tables, rebuilt from the pairs seen; merged into a file that also
    // holds partners or accounts (a team file: agents and their office).
    for (name, l) in &mapping.lookups {
        let out = files.entry(l.file.clone()).or_default();
        out.column(&l.key);
        out.column(&l.value);
        if let Some(pairs) = w.pairs.get(name) {
            let mut covered: Vec<String> = Vec::new();
            for (k, v) in pairs {
                covered.push(v.clone());
                let mut row = HashMap::new();
                row.insert(l.key.clone(), k.clone());
                row.insert(l.value.clone(), v.clone());
                out.rows.push(row);
            }
            // A row that only named the value (a partner) is kept only when no
            // pair row names it already.
            let value_col = l.value.clone();
            let key_col = l.key.clone();
            let mut seen = std::collections::HashSet::new();
            let rows = std::mem::take(&mut out.rows);
            for r in rows {
                let is_pair = r.contains_key(&key_col);
                let v = r.get(&value_col).cloned().unwrap_or_default();
                if is_pair || !covered.contains(&v) {
                    if !is_pair && !seen.insert(v) {
                        continue;
                    }
                    out.rows.push(r);
                }
            }
        }
    }
    if let Some(pf) = &mapping.products {
        let out = files.entry(pf.file.clone()).or_default();
        out.column(&pf.id);
        // Every price-book column a spec looks up, even when no record shows it
        // (a list price used only for deals without an amount).
        for c in product_columns(mapping) {
            out.column(&c);
        }
        let mut by_key: BTreeMap<String, HashMap<String, String>> = BTreeMap::new();
        for (name, pairs) in &w.pairs {
            if let Some(col) = name.strip_prefix("products.") {
                out.column(col);
                for (k, v) in pairs {
                    let row = by_key.entry(k.clone()).or_default();
                    row.insert(pf.id.clone(), k.clone());
                    row.insert(col.to_string(), v.clone());
                }
            }
        }
        out.rows.extend(by_key.into_values());
    }

    let mut done = Exported::default();
    for (file, out) in files {
        let path = dir.join(&file);
        let e = |x: csv::Error| ExportError::Write {
            file: path.display().to_string(),
            message: x.to_string(),
        };
        let mut wr = csv::Writer::from_path(&path).map_err(e)?;
        wr.write_record(&out.columns).map_err(e)?;
        for r in &out.rows {
            let cells: Vec<&str> = out
                .columns
                .iter()
                .map(|c| r.get(c).map_or("", String::as_str))
                .collect();
            wr.write_record(&cells).map_err(e)?;
        }
        wr.flush().map_err(|x| ExportError::Write {
            file: path.display().to_string(),
            message: x.to_string(),
        })?;
        done.files.push((file, out.rows.len() as u64));
    }
    Ok(done)
}

/// The `products.COLUMN` lookups the mapping's specs use.
fn product_columns(m: &Mapping) -> Vec<String> {
    fn walk(s: &Spec, out: &mut Vec<String>) {
        if let Spec::Full(f) = s {
            if let Some(c) = f
                .lookup
                .as_deref()
                .and_then(|l| l.strip_prefix("products."))
            {
                if !out.iter().any(|x| x == c) {
                    out.push(c.to_string());
                }
            }
            if let Some(fb) = &f.fallback {
                walk(fb, out);
            }
        }
    }
    let o = &m.opportunities;
    let mut out = Vec::new();
    let specs = o
        .fields
        .values()
        .chain(o.line_item.iter().flat_map(|x| x.values()))
        .chain(o.partner.iter())
        .chain(o.account.iter())
        .chain(m.line_items.iter().flat_map(|l| l.fields.values()))
        .chain(m.stage_history.iter().flat_map(|h| h.fields.values()));
    for s in specs {
        walk(s, &mut out);
    }
    out
}

/// The source value for a policy stage: what the stage spec's value map reads
/// back as it, else the stage's name.
fn stage_label(p: &dealflow_dsl::ir::Policy, stage: &str, f: &FullSpec, m: &Mapping) -> String {
    if let Some(values) = f.values.as_ref().and_then(|v| m.values_of(v).ok()) {
        if let Some((src, _)) = values.iter().find(|(k, v)| *v == stage && *k == stage) {
            return src.clone();
        }
        if let Some((src, _)) = values.iter().find(|(_, v)| *v == stage) {
            return src.clone();
        }
        // A label the map names.
        if let Some(label) = p
            .stages
            .iter()
            .find(|s| s.name == stage)
            .and_then(|s| s.label.as_deref())
        {
            if let Some((src, _)) = values.iter().find(|(_, v)| v.as_str() == label) {
                return src.clone();
            }
        }
    }
    stage.to_string()
}

/// History snapshots: (instant, stage after it, close date in force), one at the
/// creation when the first stage change names where the deal started, then one per
/// stage change and close-date move.
fn snapshots(
    hist: &[Value],
    created: &str,
    fields: &Map<String, Value>,
) -> Vec<(String, Option<String>, Value)> {
    let kind = |e: &Value| e.get("type").and_then(Value::as_str).map(str::to_string);
    let moves: Vec<&Value> = hist
        .iter()
        .filter(|e| kind(e).as_deref() == Some("close_date_change"))
        .collect();
    let mut cd = moves
        .first()
        .and_then(|m| m.get("from").cloned())
        .or_else(|| fields.get("close_date").cloned())
        .unwrap_or(Value::Null);
    let mut stage: Option<String> = None;
    let mut out = Vec::new();
    let first_change = hist
        .iter()
        .find(|e| kind(e).as_deref() == Some("stage_change"));
    if let Some(from) = first_change
        .and_then(|e| e.get("from"))
        .and_then(Value::as_str)
    {
        stage = Some(from.to_string());
        out.push((created.to_string(), stage.clone(), cd.clone()));
    }
    for e in hist {
        let at = e
            .get("at")
            .and_then(Value::as_str)
            .unwrap_or(created)
            .to_string();
        match kind(e).as_deref() {
            Some("stage_change") => {
                stage = e.get("to").and_then(Value::as_str).map(str::to_string);
                out.push((at, stage.clone(), cd.clone()));
            }
            Some("close_date_change") => {
                cd = e.get("to").cloned().unwrap_or(Value::Null);
                out.push((at, stage.clone(), cd.clone()));
            }
            _ => {}
        }
    }
    out
}
