//! CSV exports to `import` commands. Every file is read and every row mapped and
//! checked (against the mapping and the policy's record schema) before anything is
//! written, so a bad row stops the import with its file, line, column and value;
//! with `skip_invalid` the bad rows are set aside with their reasons instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use dealflow_dsl::ir::{self, RecordKind, StageKind};
use dealflow_engine::Policy;
use dealflow_store::command::{FieldChange, Import, ImportedOpportunity};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::convert::{Conv, DateFormat};
use crate::mapping::{field_type, FullSpec, Mapping, Spec};
use crate::ts;

/// A row that could not be imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub file: String,
    /// 1-based line of the row in its file (the header is line 1).
    pub line: u64,
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: String,
    /// The row's cells as read.
    #[serde(skip)]
    pub row: Vec<String>,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        if let Some(v) = &self.value {
            write!(f, ", value `{v}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What stops an import before any row is mapped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Mapping(String),
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

/// Everything read from the files, ready to be written.
#[derive(Debug, Default)]
pub struct Prepared {
    pub batch: Import,
    /// Data rows read (every file, headers not counted).
    pub rows: u64,
    pub errors: Vec<RowError>,
    /// Files given that the mapping does not read.
    pub ignored: Vec<String>,
}

/// A CSV file in memory: its header and rows with their line numbers.
struct Table {
    name: String,
    headers: Vec<String>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    fn read(name: &str, path: &Path) -> Result<Table, ImportError> {
        let err = |message: String| ImportError::File {
            file: name.to_string(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(&bytes[..]);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| err(format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        // Line numbers counted from the bytes: a record starts after the newline
        // that ends the one before (the reader's own count lags on CRLF files).
        let mut rows = Vec::new();
        let (mut seen, mut line) = (0usize, 1u64);
        let mut line_at = |offset: usize| -> u64 {
            let end = offset.min(bytes.len());
            if end > seen {
                line += bytes[seen..end].iter().filter(|b| **b == b'\n').count() as u64;
                seen = end;
            }
            // A record starting on a line's `\n` (of a CRLF) starts on the next one.
            line + u64::from(bytes.get(end) == Some(&b'\n'))
        };
        for r in rdr.records() {
            let r = r.map_err(|e| {
                let at = e
                    .position()
                    .map(|p| format!("line {}: ", line_at(usize::try_from(p.byte()).unwrap_or(0))))
                    .unwrap_or_default();
                err(format!("{at}{e}"))
            })?;
            let at = r
                .position()
                .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(0));
            rows.push((line_at(at), r));
        }
        Ok(Table {
            name: name.to_string(),
            headers,
            rows,
        })
    }

    fn column(&self, c: &str, what: &str) -> Result<usize, ImportError> {
        self.headers.iter().position(|h| h == c).ok_or_else(|| {
            ImportError::Mapping(format!(
                "{what}: file `{}` has no column `{c}`; its columns are {}",
                self.name,
                self.headers
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

/// A spec bound to one table's columns.
struct Cell<'m> {
    col: Option<(usize, String)>,
    value: Option<String>,
    values: Option<BTreeMap<String, String>>,
    strict: bool,
    lookup: Option<(&'m HashMap<String, String>, String)>,
    default: Option<String>,
    fallback: Option<Box<Cell<'m>>>,
    format: DateFormat,
    thousands: Option<String>,
    split: String,
}

/// Why a cell could not be read.
struct CellError {
    column: Option<String>,
    value: Option<String>,
    reason: String,
}

impl Cell<'_> {
    /// The cell's text after defaults, value maps and lookups (`None`: empty).
    fn text(&self, r: &csv::StringRecord) -> Result<Option<String>, CellError> {
        let raw = match (&self.col, &self.value) {
            (Some((i, _)), _) => r.get(*i).unwrap_or("").trim().to_string(),
            (None, Some(v)) => v.clone(),
            (None, None) => String::new(),
        };
        if raw.is_empty() {
            if let Some(f) = &self.fallback {
                if let Some(t) = f.text(r)? {
                    return Ok(Some(t));
                }
            }
            return Ok(self.default.clone());
        }
        let mut v = raw;
        if let Some(m) = &self.values {
            match m.get(&v) {
                Some(x) => v = x.clone(),
                None if self.strict => {
                    return Err(self.err(
                        &v,
                        format!(
                            "not in the value map (it maps {})",
                            m.keys()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
                None => {}
            }
            if v.is_empty() {
                // A value the map empties (`Other: ""`) is no value.
                return Ok(self.default.clone());
            }
        }
        if let Some((table, name)) = &self.lookup {
            match table.get(&v) {
                Some(x) if x.is_empty() => return Ok(None),
                Some(x) => v = x.clone(),
                None => return Err(self.err(&v, format!("no `{v}` in lookup `{name}`"))),
            }
        }
        Ok(Some(v))
    }

    fn err(&self, value: &str, reason: String) -> CellError {
        CellError {
            column: self.col.as_ref().map(|c| c.1.clone()),
            value: Some(value.to_string()),
            reason,
        }
    }
}

/// Binds specs to tables.
struct Binder<'m> {
    m: &'m Mapping,
    lookups: &'m HashMap<String, HashMap<String, String>>,
    default_format: DateFormat,
}

impl<'m> Binder<'m> {
    fn bind(&self, s: &'m Spec, t: &Table, what: &str) -> Result<Cell<'m>, ImportError> {
        let f: FullSpec = s.full();
        self.bind_full(f, t, what)
    }

    fn bind_full(&self, f: FullSpec, t: &Table, what: &str) -> Result<Cell<'m>, ImportError> {
        let col = match &f.column {
            Some(c) => Some((t.column(c, what)?, c.clone())),
            None => None,
        };
        let values = match &f.values {
            Some(v) => Some(
                self.m
                    .values_of(v)
                    .map_err(|e| ImportError::Mapping(format!("{what}: {e}")))?
                    .clone(),
            ),
            None => None,
        };
        let lookup = match &f.lookup {
            Some(l) => Some((
                self.lookups.get(l).ok_or_else(|| {
                    ImportError::Mapping(format!("{what}: `lookup: {l}` names no lookup"))
                })?,
                l.clone(),
            )),
            None => None,
        };
        let format = match &f.format {
            Some(x) => {
                DateFormat::parse(x).map_err(|e| ImportError::Mapping(format!("{what}: {e}")))?
            }
            None => self.default_format.clone(),
        };
        let fallback = match &f.fallback {
            Some(fb) => Some(Box::new(self.bind_full(fb.full(), t, what)?)),
            None => None,
        };
        Ok(Cell {
            col,
            value: f.value,
            values,
            strict: f.strict,
            lookup,
            default: f.default,
            fallback,
            format,
            thousands: f.thousands,
            split: f.split.unwrap_or_else(|| ";".into()),
        })
    }
}

/// Record fields of one kind bound to a table.
struct Fields<'m> {
    cells: Vec<(String, ir::Type, Cell<'m>)>,
}

impl<'m> Fields<'m> {
    fn bind(
        b: &Binder<'m>,
        policy: &ir::Policy,
        kind: RecordKind,
        specs: &'m BTreeMap<String, Spec>,
        t: &Table,
        what: &str,
    ) -> Result<Fields<'m>, ImportError> {
        let mut cells = Vec::new();
        for (name, s) in specs {
            let ty = field_type(policy, kind, name);
            cells.push((name.clone(), ty, b.bind(s, t, &format!("{what}.{name}"))?));
        }
        Ok(Fields { cells })
    }

    fn read(
        &self,
        policy: &ir::Policy,
        tz: Tz,
        r: &csv::StringRecord,
    ) -> Result<Map<String, Value>, CellError> {
        let mut out = Map::new();
        for (name, ty, cell) in &self.cells {
            if let Some(t) = cell.text(r)? {
                let conv = Conv {
                    policy,
                    format: &cell.format,
                    tz,
                    thousands: cell.thousands.as_deref(),
                    split: &cell.split,
                };
                let v = conv.value(ty, &t).map_err(|reason| CellError {
                    column: cell.col.as_ref().map(|c| c.1.clone()),
                    value: Some(t.clone()),
                    reason: format!("field `{name}`: {reason}"),
                })?;
                out.insert(name.clone(), v);
            }
        }
        Ok(out)
    }
}

fn row_error(t: &Table, line: u64, r: &csv::StringRecord, e: CellError) -> RowError {
    RowError {
        file: t.name.clone(),
        line,
        column: e.column,
        value: e.value,
        reason: e.reason,
        row: r.iter().map(str::to_string).collect(),
    }
}

fn plain(t: &Table, line: u64, r: &csv::StringRecord, reason: String) -> RowError {
    row_error(
        t,
        line,
        r,
        CellError {
            column: None,
            value: None,
            reason,
        },
    )
}

/// The policy stage a source stage value names: after the value map, a stage name
/// or a stage label.
fn stage_of(policy: &ir::Policy, v: &str) -> Option<ir::StageId> {
    policy.stage_by_name(v).or_else(|| {
        policy
            .stages
            .iter()
            .position(|s| s.label.as_deref() == Some(v))
            .and_then(|i| u32::try_from(i).ok())
            .map(ir::StageId)
    })
}

/// One opportunity being assembled.
struct Draft {
    line: u64,
    row: usize,
    opp: ImportedOpportunity,
    stage: ir::StageId,
    created: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    /// (instant, stage) entries from stage dates and stage history.
    stages: Vec<(DateTime<Utc>, ir::StageId)>,
    /// Close-date moves: instant, from, to.
    close_dates: Vec<(DateTime<Utc>, Value, Value)>,
    /// Field history: instant, field, old, new.
    changes: Vec<(DateTime<Utc>, String, Value, Value)>,
    snapshots: bool,
}

/// Reads and maps every file. `files` are the paths given on the command line; each
/// file the mapping names is found among them by file name. `known_partners` and
/// `known_accounts` are the ids the store already holds.
pub fn prepare(
    mapping: &Mapping,
    policy: &Policy,
    files: &[PathBuf],
    known_partners: &HashSet<String>,
    known_accounts: &HashSet<String>,
    progress: &mut dyn FnMut(u64),
) -> Result<Prepared, ImportError> {
    let ir = policy.ir();
    mapping
        .check(ir)
        .map_err(|e| ImportError::Mapping(e.join("\n")))?;
    let tz: Tz = match &mapping.timezone {
        Some(z) => z
            .parse()
            .map_err(|_| ImportError::Mapping(format!("`timezone: {z}` is not an IANA zone")))?,
        None => Tz::UTC,
    };
    let default_format = match &mapping.date_format {
        Some(f) => DateFormat::parse(f).map_err(ImportError::Mapping)?,
        None => DateFormat::Iso,
    };
    // Find each named file among the arguments.
    let by_name: HashMap<String, &PathBuf> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| (n.to_string_lossy().to_string(), p)))
        .collect();
    let wanted = mapping.files();
    let mut tables: HashMap<String, Table> = HashMap::new();
    let mut out = Prepared::default();
    for w in &wanted {
        let Some(path) = by_name.get(*w) else {
            let given: Vec<String> = by_name.keys().map(|k| format!("`{k}`")).collect();
            return Err(ImportError::Mapping(format!(
                "the mapping reads `{w}`, which is not among the files given ({}); add it to the command line",
                if given.is_empty() { "none".into() } else { given.join(", ") }
            )));
        };
        let t = Table::read(w, path)?;
        out.rows += t.rows.len() as u64;
        progress(t.rows.len() as u64 / 4);
        tables.insert((*w).to_string(), t);
    }
    out.ignored = by_name
        .keys()
        .filter(|k| !wanted.contains(&k.as_str()))
        .cloned()
        .collect();
    out.ignored.sort();
    let table = |name: &str| -> Result<&Table, ImportError> {
        tables
            .get(name)
            .ok_or_else(|| ImportError::Mapping(format!("file `{name}` was not read")))
    };

    // Lookups (and the price book's columns as `products.<column>`).
    let mut lookups: HashMap<String, HashMap<String, String>> = HashMap::new();
    for (name, l) in &mapping.lookups {
        let t = table(&l.file)?;
        let what = format!("lookups.{name}");
        let k = t.column(&l.key, &what)?;
        let v = t.column(&l.value, &what)?;
        let km = match &l.key_values {
            Some(x) => Some(
                mapping
                    .values_of(x)
                    .map_err(|e| ImportError::Mapping(format!("{what}: {e}")))?,
            ),
            None => None,
        };
        let mut m = HashMap::new();
        for (_, r) in &t.rows {
            let key = r.get(k).unwrap_or("").trim();
            let key = km.and_then(|km| km.get(key)).map_or(key, String::as_str);
            m.insert(key.to_string(), r.get(v).unwrap_or("").trim().to_string());
        }
        lookups.insert(name.clone(), m);
    }
    if let Some(p) = &mapping.products {
        let t = table(&p.file)?;
        let k = t.column(&p.id, "products.id")?;
        let km = match &p.key_values {
            Some(x) => Some(
                mapping
                    .values_of(x)
                    .map_err(|e| ImportError::Mapping(format!("products: {e}")))?,
            ),
            None => None,
        };
        for (ci, h) in t.headers.iter().enumerate() {
            let mut m = HashMap::new();
            for (_, r) in &t.rows {
                let key = r.get(k).unwrap_or("").trim();
                let key = km.and_then(|km| km.get(key)).map_or(key, String::as_str);
                m.insert(key.to_string(), r.get(ci).unwrap_or("").trim().to_string());
            }
            lookups.insert(format!("products.{h}"), m);
        }
    }
    let b = Binder {
        m: mapping,
        lookups: &lookups,
        default_format,
    };

    // Partners and accounts: one record per id; rows repeating an id must agree.
    let mut partner_ids: HashSet<String> = known_partners.clone();
    if let Some(p) = &mapping.partners {
        let t = table(&p.file)?;
        let id = b.bind(&p.id, t, "partners.id")?;
        let fields = Fields::bind(&b, ir, RecordKind::Partner, &p.fields, t, "partners.fields")?;
        let (docs, errs) = parties(t, &id, &fields, None, ir, tz);
        out.errors.extend(errs);
        for (doc, _) in docs {
            if let Some(i) = doc.get("id").and_then(Value::as_str) {
                partner_ids.insert(i.to_string());
            }
            out.batch.partners.push(doc);
        }
    }
    let mut account_ids: HashSet<String> = known_accounts.clone();
    if let Some(a) = &mapping.accounts {
        let t = table(&a.file)?;
        let id = b.bind(&a.id, t, "accounts.id")?;
        let fields = Fields::bind(&b, ir, RecordKind::Account, &a.fields, t, "accounts.fields")?;
        let direct = match &a.direct {
            Some(d) => Some(b.bind(d, t, "accounts.direct")?),
            None => None,
        };
        let (docs, errs) = parties(t, &id, &fields, direct.as_ref(), ir, tz);
        out.errors.extend(errs);
        for (doc, direct) in docs {
            if let Some(i) = doc.get("id").and_then(Value::as_str) {
                account_ids.insert(i.to_string());
                if direct {
                    out.batch.direct_accounts.push(i.to_string());
                }
            }
            out.batch.accounts.push(doc);
        }
    }

    // Opportunities.
    let o = &mapping.opportunities;
    let t = table(&o.file)?;
    let c_id = b.bind(&o.id, t, "opportunities.id")?;
    let c_stage = b.bind(&o.stage, t, "opportunities.stage")?;
    let c_partner = match &o.partner {
        Some(s) => Some(b.bind(s, t, "opportunities.partner")?),
        None => None,
    };
    let c_account = match &o.account {
        Some(s) => Some(b.bind(s, t, "opportunities.account")?),
        None => None,
    };
    let c_created = b.bind(&o.created, t, "opportunities.created")?;
    let c_closed = match &o.closed {
        Some(s) => Some(b.bind(s, t, "opportunities.closed")?),
        None => None,
    };
    let stage_values = o
        .stage
        .full()
        .values
        .as_ref()
        .and_then(|v| mapping.values_of(v).ok().cloned())
        .unwrap_or_default();
    let mut c_dates = Vec::new();
    for (src, col) in &o.stage_dates {
        let dst = stage_values.get(src).map_or(src.as_str(), String::as_str);
        let st = stage_of(ir, dst).ok_or_else(|| {
            ImportError::Mapping(format!(
                "opportunities.stage_dates: `{src}` is not a stage of the policy (map it under opportunities.stage.values)"
            ))
        })?;
        let cell = b.bind_full(
            FullSpec {
                column: Some(col.clone()),
                ..FullSpec::default()
            },
            t,
            "opportunities.stage_dates",
        )?;
        c_dates.push((st, cell));
    }
    let c_fields = Fields::bind(
        &b,
        ir,
        RecordKind::Opportunity,
        &o.fields,
        t,
        "opportunities.fields",
    )?;
    let c_item = match &o.line_item {
        Some(li) => Some(Fields::bind(
            &b,
            ir,
            RecordKind::LineItem,
            li,
            t,
            "opportunities.line_item",
        )?),
        None => None,
    };

    let mut drafts: Vec<Draft> = Vec::with_capacity(t.rows.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(t.rows.len());
    // Rows of the opportunities file that were rejected, by id: their history and
    // line-item rows are rejected with them, saying so.
    let mut rejected: HashMap<String, u64> = HashMap::new();
    for (row_no, (line, r)) in t.rows.iter().enumerate() {
        let line = *line;
        match read_opp(
            ir,
            tz,
            r,
            &c_id,
            &c_stage,
            c_partner.as_ref(),
            c_account.as_ref(),
            &c_created,
            c_closed.as_ref(),
            &c_dates,
            &c_fields,
            c_item.as_ref(),
            &partner_ids,
            &account_ids,
        ) {
            Ok(mut d) => {
                d.line = line;
                d.row = row_no;
                if let Some(prev) = index.get(&d.opp.id) {
                    let first = drafts.get(*prev).map_or(0, |x| x.line);
                    out.errors.push(plain(
                        t,
                        line,
                        r,
                        format!(
                            "opportunity `{}` appears again (first on line {first})",
                            d.opp.id
                        ),
                    ));
                    continue;
                }
                index.insert(d.opp.id.clone(), drafts.len());
                drafts.push(d);
            }
            Err(e) => {
                if let Ok(Some(id)) = c_id.text(r) {
                    rejected.entry(id).or_insert(line);
                }
                out.errors.push(row_error(t, line, r, e));
            }
        }
        if row_no % 65536 == 65535 {
            progress(65536 / 4);
        }
    }

    // Stage and field history.
    if let Some(h) = &mapping.stage_history {
        let t = table(&h.file)?;
        let c_opp = b.bind(&h.opportunity, t, "stage_history.opportunity")?;
        let c_at = b.bind(&h.at, t, "stage_history.at")?;
        let c_st = match &h.stage {
            Some(s) => Some(b.bind(s, t, "stage_history.stage")?),
            None => None,
        };
        let c_cd = match &h.close_date {
            Some(s) => Some(b.bind(s, t, "stage_history.close_date")?),
            None => None,
        };
        let c_hf = Fields::bind(
            &b,
            ir,
            RecordKind::Opportunity,
            &h.fields,
            t,
            "stage_history.fields",
        )?;
        let cd_ty = field_type(ir, RecordKind::Opportunity, "close_date");
        // Rows per opportunity, in time order.
        let mut snaps: HashMap<usize, Vec<Snapshot>> = HashMap::new();
        for (line, r) in &t.rows {
            let res = (|| -> Result<_, CellError> {
                let di = owning_deal(&c_opp, r, &index, &rejected, &o.file)?;
                let at_text = c_at
                    .text(r)?
                    .ok_or_else(|| c_at.err("", "no instant".into()))?;
                let at = c_at
                    .format
                    .instant(&at_text, tz)
                    .map_err(|e| c_at.err(&at_text, e))?;
                let st = match &c_st {
                    Some(c) => match c.text(r)? {
                        Some(v) => Some(stage_of(ir, &v).ok_or_else(|| {
                            c.err(
                                &v,
                                format!(
                                    "`{v}` is not a stage of the policy; map it under `values`"
                                ),
                            )
                        })?),
                        None => None,
                    },
                    None => None,
                };
                let cd = match &c_cd {
                    Some(c) => match c.text(r)? {
                        Some(v) => {
                            let conv = Conv {
                                policy: ir,
                                format: &c.format,
                                tz,
                                thousands: None,
                                split: ";",
                            };
                            Some(conv.value(&cd_ty, &v).map_err(|e| c.err(&v, e))?)
                        }
                        None => None,
                    },
                    None => None,
                };
                let f = c_hf.read(ir, tz, r)?;
                Ok((di, at, st, cd, f))
            })();
            match res {
                Ok((di, at, st, cd, f)) => {
                    snaps.entry(di).or_default().push((at, *line, st, cd, f))
                }
                Err(e) => out.errors.push(row_error(t, *line, r, e)),
            }
        }
        for (di, mut rows) in snaps {
            rows.sort_by_key(|x| (x.0, x.1));
            let Some(d) = drafts.get_mut(di) else {
                continue;
            };
            d.snapshots = true;
            let mut prev_cd: Option<Value> = None;
            let mut prev_f: Map<String, Value> = Map::new();
            for (at, _, st, cd, f) in rows {
                if let Some(s) = st {
                    d.stages.push((at, s));
                }
                if let Some(cd) = cd {
                    if let Some(p) = prev_cd.as_ref().filter(|p| **p != cd) {
                        d.close_dates.push((at, p.clone(), cd.clone()));
                    }
                    prev_cd = Some(cd);
                }
                for (k, v) in f {
                    if let Some(old) = prev_f.get(&k) {
                        if *old != v {
                            d.changes.push((at, k.clone(), old.clone(), v.clone()));
                        }
                    }
                    prev_f.insert(k, v);
                }
            }
        }
    }

    // Line items.
    if let Some(l) = &mapping.line_items {
        let t = table(&l.file)?;
        let c_opp = b.bind(&l.opportunity, t, "line_items.opportunity")?;
        let c_f = Fields::bind(
            &b,
            ir,
            RecordKind::LineItem,
            &l.fields,
            t,
            "line_items.fields",
        )?;
        for (line, r) in &t.rows {
            let res = (|| -> Result<_, CellError> {
                let di = owning_deal(&c_opp, r, &index, &rejected, &o.file)?;
                Ok((di, c_f.read(ir, tz, r)?))
            })();
            match res {
                Ok((di, f)) => {
                    if let Some(d) = drafts.get_mut(di) {
                        d.opp.line_items.push(Value::Object(f));
                    }
                }
                Err(e) => out.errors.push(row_error(t, *line, r, e)),
            }
        }
    }

    // Histories, then each record checked by the engine as the store will check it
    // (the partner and account documents are checked on their own), on every core.
    let checked: Vec<Result<ImportedOpportunity, (u64, usize, String)>> = drafts
        .into_par_iter()
        .map(|d| {
            let (line, row) = (d.line, d.row);
            let opp = finish(ir, d).map_err(|reason| (line, row, reason))?;
            let mut rec = Map::new();
            rec.insert("id".into(), opp.id.clone().into());
            rec.insert("stage".into(), opp.stage.clone().into());
            rec.insert("fields".into(), Value::Object(opp.fields.clone()));
            rec.insert("line_items".into(), Value::Array(opp.line_items.clone()));
            rec.insert("history".into(), Value::Array(opp.history.clone()));
            match policy.parse_record_value(&Value::Object(rec)) {
                Ok(_) => Ok(opp),
                Err(e) => Err((
                    line,
                    row,
                    format!("the record does not fit the policy: {}", record_errors(&e)),
                )),
            }
        })
        .collect();
    let mut opps = Vec::with_capacity(checked.len());
    let mut bad_opps = Vec::new();
    for c in checked {
        match c {
            Ok(o) => opps.push(o),
            Err(e) => bad_opps.push(e),
        }
    }
    for (line, row, reason) in bad_opps {
        if let Some((_, r)) = t.rows.get(row) {
            out.errors.push(plain(t, line, r, reason));
        }
    }
    out.errors
        .sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    out.batch.source = mapping.name.clone().unwrap_or_else(|| "import".into());
    out.batch.opportunities = opps;
    Ok(out)
}

fn record_errors(e: &dealflow_engine::RecordErrors) -> String {
    e.iter()
        .map(|x| {
            if x.path.is_empty() {
                x.message.clone()
            } else {
                format!("{}: {}", x.path, x.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

type PartyDocs = Vec<(Map<String, Value>, bool)>;

/// The index of the deal a history or line-item row belongs to, or why it has none
/// (no id, no such deal, or its deal was rejected on line `l` of the deals file).
fn owning_deal(
    c_opp: &Cell<'_>,
    r: &csv::StringRecord,
    index: &HashMap<String, usize>,
    rejected: &HashMap<String, u64>,
    file: &str,
) -> Result<usize, CellError> {
    let id = c_opp
        .text(r)?
        .ok_or_else(|| c_opp.err("", "no opportunity id".into()))?;
    match index.get(&id) {
        Some(&di) => Ok(di),
        None => Err(c_opp.err(
            &id,
            match rejected.get(&id) {
                Some(l) => format!("its opportunity `{id}` was rejected ({file}:{l})"),
                None => format!("no opportunity `{id}` in `{file}`"),
            },
        )),
    }
}

/// A yes/no cell (after its value map): `true`/`yes`/`1`/`y`/`t` or
/// `false`/`no`/`0`/`n`/`f`, in any case.
pub(crate) fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" | "t" => Some(true),
        "false" | "no" | "0" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// A partner or account row: its id, document and direct-ownership flag.
type PartyRow = (String, Map<String, Value>, bool);

/// One stage-history row: instant, line, stage, close date, tracked fields.
type Snapshot = (
    DateTime<Utc>,
    u64,
    Option<ir::StageId>,
    Option<Value>,
    Map<String, Value>,
);

fn parties(
    t: &Table,
    id: &Cell<'_>,
    fields: &Fields<'_>,
    direct: Option<&Cell<'_>>,
    ir: &ir::Policy,
    tz: Tz,
) -> (PartyDocs, Vec<RowError>) {
    let mut docs: PartyDocs = Vec::new();
    let mut seen: HashMap<String, (usize, u64)> = HashMap::new();
    let mut errs = Vec::new();
    for (line, r) in &t.rows {
        let res = (|| -> Result<Option<PartyRow>, CellError> {
            let Some(i) = id.text(r)? else {
                return Ok(None);
            };
            let mut doc = Map::new();
            doc.insert("id".into(), Value::String(i.clone()));
            doc.extend(fields.read(ir, tz, r)?);
            let d = match direct {
                Some(c) => match c.text(r)? {
                    Some(v) => match yes_no(&v) {
                        Some(b) => b,
                        None => return Err(c.err(&v, "not a yes/no value".into())),
                    },
                    None => false,
                },
                None => false,
            };
            Ok(Some((i, doc, d)))
        })();
        match res {
            Ok(None) => {}
            Ok(Some((i, doc, d))) => {
                if let Some((k, first)) = seen.get(&i) {
                    if docs.get(*k).is_some_and(|x| x.0 != doc || x.1 != d) {
                        errs.push(plain(
                            t,
                            *line,
                            r,
                            format!("`{i}` appears again with other values than on line {first}"),
                        ));
                    }
                    continue;
                }
                seen.insert(i, (docs.len(), *line));
                docs.push((doc, d));
            }
            Err(e) => errs.push(row_error(t, *line, r, e)),
        }
    }
    (docs, errs)
}

#[allow(clippy::too_many_arguments, reason = "the bound cells of one row")]
fn read_opp(
    ir: &ir::Policy,
    tz: Tz,
    r: &csv::StringRecord,
    c_id: &Cell<'_>,
    c_stage: &Cell<'_>,
    c_partner: Option<&Cell<'_>>,
    c_account: Option<&Cell<'_>>,
    c_created: &Cell<'_>,
    c_closed: Option<&Cell<'_>>,
    c_dates: &[(ir::StageId, Cell<'_>)],
    c_fields: &Fields<'_>,
    c_item: Option<&Fields<'_>>,
    partners: &HashSet<String>,
    accounts: &HashSet<String>,
) -> Result<Draft, CellError> {
    let id = c_id
        .text(r)?
        .ok_or_else(|| c_id.err("", "no opportunity id".into()))?;
    if id.len() > 256 {
        return Err(c_id.err(&id, "an id is at most 256 characters".into()));
    }
    let sv = c_stage
        .text(r)?
        .ok_or_else(|| c_stage.err("", "no stage".into()))?;
    let stage = stage_of(ir, &sv).ok_or_else(|| {
        c_stage.err(
            &sv,
            format!(
                "not a stage of policy `{}` (its stages are {}); map it under `values`",
                ir.name,
                ir.stages
                    .iter()
                    .map(|s| match &s.label {
                        Some(l) => format!("`{}` (`{l}`)", s.name),
                        None => format!("`{}`", s.name),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let stage_def = ir
        .stage(stage)
        .ok_or_else(|| c_stage.err(&sv, "unknown stage".into()))?;
    let partner = match c_partner {
        Some(c) => c.text(r)?,
        None => None,
    };
    if let Some(p) = &partner {
        if !partners.contains(p) {
            return Err(c_partner.map_or_else(
                || CellError {
                    column: None,
                    value: Some(p.clone()),
                    reason: String::new(),
                },
                |c| {
                    c.err(
                        p,
                        format!("unknown partner `{p}` (not in the partners file nor the store)"),
                    )
                },
            ));
        }
    }
    let account = match c_account {
        Some(c) => c.text(r)?,
        None => None,
    };
    if let Some(a) = &account {
        if !accounts.contains(a) {
            return Err(c_account.map_or_else(
                || CellError {
                    column: None,
                    value: Some(a.clone()),
                    reason: String::new(),
                },
                |c| {
                    c.err(
                        a,
                        format!("unknown account `{a}` (not in the accounts file nor the store)"),
                    )
                },
            ));
        }
    }
    let instant = |c: &Cell<'_>| -> Result<Option<DateTime<Utc>>, CellError> {
        match c.text(r)? {
            Some(v) => Ok(Some(c.format.instant(&v, tz).map_err(|e| c.err(&v, e))?)),
            None => Ok(None),
        }
    };
    let created = instant(c_created)?.ok_or_else(|| {
        c_created.err("", "no creation date (give the column a `default`)".into())
    })?;
    let closed_kind = stage_def.kind != StageKind::Open;
    let closed_at = match (closed_kind, c_closed) {
        (true, Some(c)) => instant(c)?,
        _ => None,
    };
    let mut stages = Vec::new();
    for (st, c) in c_dates {
        // Only stages the deal has reached: open stages up to its own (in flow
        // order), and its own closed stage.
        let reached = *st == stage
            || (ir.stage(*st).is_some_and(|s| s.kind == StageKind::Open)
                && (closed_kind || st.0 < stage.0));
        if reached {
            if let Some(t) = instant(c)? {
                stages.push((t, *st));
            }
        }
    }
    let fields = c_fields.read(ir, tz, r)?;
    let mut line_items = Vec::new();
    if let Some(ci) = c_item {
        let item = ci.read(ir, tz, r)?;
        if !item.is_empty() {
            line_items.push(Value::Object(item));
        }
    }
    Ok(Draft {
        line: 0,
        row: 0,
        opp: ImportedOpportunity {
            id,
            partner,
            account,
            stage: stage_def.name.clone(),
            created_at: ts(created),
            fields,
            line_items,
            history: Vec::new(),
            changes: Vec::new(),
        },
        stage,
        created,
        closed_at,
        stages,
        close_dates: Vec::new(),
        changes: Vec::new(),
        snapshots: false,
    })
}

/// The record history from what the rows said: created, the stages entered,
/// close-date moves, and the close.
fn finish(ir: &ir::Policy, mut d: Draft) -> Result<ImportedOpportunity, String> {
    let name = |s: ir::StageId| ir.stage(s).map_or_else(String::new, |x| x.name.clone());
    let first = ir::StageId(0);
    let kind = ir.stage(d.stage).map(|s| s.kind);
    let closed = kind.is_some_and(|k| k != StageKind::Open);
    d.stages.sort_by_key(|x| x.0);
    let mut entered: Vec<(DateTime<Utc>, ir::StageId)> = Vec::new();
    for (t, s) in d.stages {
        if entered.last().is_none_or(|l| l.1 != s) {
            entered.push((t, s));
        }
    }
    let closed_at = if closed {
        let at = d
            .closed_at
            .or_else(|| entered.iter().rev().find(|x| x.1 == d.stage).map(|x| x.0))
            .or_else(|| entered.last().map(|x| x.0))
            .unwrap_or(d.created);
        if at < d.created {
            return Err(format!(
                "the deal closes ({}) before it was created ({})",
                ts(at),
                ts(d.created)
            ));
        }
        Some(at)
    } else {
        None
    };
    if entered.last().is_none_or(|l| l.1 != d.stage) {
        let at = closed_at
            .or_else(|| entered.last().map(|x| x.0))
            .unwrap_or(d.created);
        if entered.is_empty() && d.stage == first {
            // Created in the first stage: nothing to record.
        } else {
            entered.push((at, d.stage));
        }
    }
    let mut h: Vec<(DateTime<Utc>, u8, Value)> = Vec::new();
    h.push((
        d.created,
        0,
        json!({ "at": ts(d.created), "type": "created" }),
    ));
    let mut prev: Option<ir::StageId> = None;
    for (t, s) in &entered {
        if prev.is_none() && *s == first && *t <= d.created {
            prev = Some(*s);
            continue;
        }
        let mut e = Map::new();
        e.insert("at".into(), ts(*t).into());
        e.insert("type".into(), "stage_change".into());
        if let Some(p) = prev {
            e.insert("from".into(), name(p).into());
        }
        e.insert("to".into(), name(*s).into());
        h.push((*t, 1, Value::Object(e)));
        prev = Some(*s);
    }
    for (t, from, to) in d.close_dates {
        h.push((
            t,
            1,
            json!({ "at": ts(t), "type": "close_date_change", "from": from, "to": to }),
        ));
    }
    if let Some(at) = closed_at {
        let outcome = if kind == Some(StageKind::Won) {
            "won"
        } else {
            "lost"
        };
        h.push((
            at,
            2,
            json!({ "at": ts(at), "type": "closed", "outcome": outcome }),
        ));
    }
    h.sort_by_key(|x| (x.0, x.1));
    d.opp.history = h.into_iter().map(|x| x.2).collect();
    d.opp.changes = d
        .changes
        .into_iter()
        .map(|(t, field, old, new)| FieldChange {
            at: ts(t),
            field,
            old,
            new,
        })
        .collect();
    let _ = d.snapshots;
    Ok(d.opp)
}

/// One `import` command's body, borrowed from the batch.
#[derive(serde::Serialize)]
struct Part<'a> {
    source: &'a str,
    partners: &'a [Map<String, Value>],
    accounts: &'a [Map<String, Value>],
    direct_accounts: &'a [String],
    opportunities: &'a [ImportedOpportunity],
}

/// Splits a prepared batch into commands of at most `size` opportunities (partners
/// and accounts go with the first), each with its number of opportunities. A
/// command's idempotency key is the hash of its content and issuer: importing the
/// same rows again is a repeat that changes nothing. Submit them with the import's
/// instant as `now` (they carry no `at`, so their payload is their content alone).
/// Commands are made one at a time as the iterator is read.
pub fn commands<'a>(
    batch: &'a Import,
    size: usize,
    user: &'a str,
) -> impl Iterator<Item = (usize, String)> + 'a {
    let size = size.max(1);
    let n = batch.opportunities.len().div_ceil(size).max(1);
    let by = json!({ "user": user, "role": "admin" }).to_string();
    (0..n).map(move |k| {
        let start = k * size;
        let end = (start + size).min(batch.opportunities.len());
        let first = k == 0;
        let part = Part {
            source: &batch.source,
            partners: if first { &batch.partners } else { &[] },
            accounts: if first { &batch.accounts } else { &[] },
            direct_accounts: if first { &batch.direct_accounts } else { &[] },
            opportunities: batch.opportunities.get(start..end).unwrap_or(&[]),
        };
        let body = serde_json::to_string(&part).unwrap_or_else(|_| "{}".into());
        let mut h = Sha256::new();
        h.update(by.as_bytes());
        h.update(body.as_bytes());
        let key = format!(
            "import:{}:{}",
            batch.source,
            &hex::encode(h.finalize())[..32]
        );
        let key = serde_json::to_string(&key).unwrap_or_default();
        let rest = body.strip_prefix('{').unwrap_or("}");
        (
            end - start,
            format!("{{\"key\":{key},\"type\":\"import\",\"by\":{by},{rest}"),
        )
    })
}

/// The rejects file of `--skip-invalid`: each bad row's cells, then where and why.
pub fn write_rejects(path: &Path, errors: &[RowError]) -> Result<(), String> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let e = |x: csv::Error| format!("{}: {x}", path.display());
    w.write_record(["file", "line", "column", "value", "reason", "row"])
        .map_err(e)?;
    for r in errors {
        let mut row = csv::WriterBuilder::new().from_writer(Vec::new());
        row.write_record(&r.row).map_err(e)?;
        let raw = String::from_utf8(row.into_inner().unwrap_or_default()).unwrap_or_default();
        w.write_record([
            r.file.as_str(),
            &r.line.to_string(),
            r.column.as_deref().unwrap_or(""),
            r.value.as_deref().unwrap_or(""),
            &r.reason,
            raw.trim_end(),
        ])
        .map_err(e)?;
    }
    w.flush().map_err(|x| format!("{}: {x}", path.display()))
}
