//! `dealflow import`, `export` and `report`: CRM data in and out of a store through a
//! mapping file, and the channel team's metrics (docs/import.md, docs/metrics.md).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use dealflow_analytics::import::{self, Prepared};
use dealflow_analytics::mapping::Mapping;
use dealflow_analytics::report::{self, Options};
use dealflow_dsl::SourceFile;
use dealflow_engine::{Audience, Policy};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::Store;
use serde_json::Value;

use crate::inputs::parse_now;
use crate::ExitStatus;

fn fail(msg: impl std::fmt::Display) -> ExitStatus {
    eprintln!("error: {msg}");
    ExitStatus::Error
}

pub const IMPORT_AFTER_HELP: &str = "\
The mapping (docs/import.md) names each CSV file it reads; give those files on the
command line (extra files are ignored with a note). Every row is read and checked
before anything is written: by default one bad row stops the import with its file,
line, column and value, and nothing is written. With --skip-invalid the good rows are
imported and the bad ones written to a rejects CSV with the reason per row.

When --db does not exist yet, it is created with the mapping's `policy:` (or --policy).
Importing the same files again changes nothing; a changed row updates its record and
adds each change as an event.

Exit codes:
  0  imported, no row rejected
  1  rows were bad (nothing written), or rejected with --skip-invalid
  2  could not run: bad mapping, unreadable file, no policy";

/// Arguments of `dealflow import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The store (created when it does not exist).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The mapping file (YAML).
    #[arg(long, value_name = "MAPPING.yaml")]
    pub mapping: PathBuf,
    /// The policy of a new store (default: the mapping's `policy:`).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Import the good rows and write the bad ones to --rejects.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Where --skip-invalid writes rejected rows (default: DB.rejects.csv).
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// The import's instant, RFC 3339 (default: the system clock).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Opportunities per import command (one logged decision each).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub chunk: usize,
    /// The CSV files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

fn compile(path: &Path) -> Result<(String, Policy), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let file = SourceFile::new(path.display().to_string(), text.clone());
    let policy = Policy::compile(&file).map_err(|e| {
        format!(
            "{} has errors; run `dealflow lint {}`: {e}",
            path.display(),
            path.display()
        )
    })?;
    Ok((text, policy))
}

fn bar(len: u64, what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    Some(pb)
}

pub fn import(a: &ImportArgs) -> ExitStatus {
    let mapping = match Mapping::load(&a.mapping) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let now = match a.now.as_deref().map(parse_now).transpose() {
        Ok(t) => t.unwrap_or_else(Utc::now),
        Err(e) => return fail(e),
    };
    let exists = a.db.exists();
    // A new store's policy is compiled first: nothing is created before the rows
    // are known to be good.
    let (new_policy, policy): (Option<(PathBuf, String)>, std::sync::Arc<Policy>) = if exists {
        let store = match SqliteStore::open_existing(&a.db) {
            Ok(s) => s,
            Err(e) => return fail(format!("{}: {e}", a.db.display())),
        };
        match report::policy_at(&store, now) {
            Ok(p) => (None, p),
            Err(e) => return fail(format!("{}: {e}", a.db.display())),
        }
    } else {
        let Some(path) = a.policy.clone().or_else(|| mapping.policy_path(&a.mapping)) else {
            return fail(format!(
                "{} does not exist and the mapping names no `policy:`; give --policy FILE",
                a.db.display()
            ));
        };
        match compile(&path) {
            Ok((text, p)) => (Some((path, text)), std::sync::Arc::new(p)),
            Err(e) => return fail(e),
        }
    };
    let (mut partners, mut accounts) = (HashSet::new(), HashSet::new());
    if exists {
        if let Ok(store) = SqliteStore::open_existing(&a.db) {
            for p in store.partners(&Audience::Vendor).unwrap_or_default() {
                partners.insert(p.id);
            }
            for x in store.accounts(&Audience::Vendor).unwrap_or_default() {
                accounts.insert(x.id);
            }
        }
    }
    let started = std::time::Instant::now();
    let pb = bar(0, "reading");
    let mut tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc_length(n);
            pb.inc(n);
        }
    };
    let prepared =
        match import::prepare(&mapping, &policy, &a.files, &partners, &accounts, &mut tick) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    for f in &prepared.ignored {
        eprintln!("note: `{f}` is not read by the mapping; ignored");
    }
    let mut status = ExitStatus::Success;
    if !prepared.errors.is_empty() {
        if !a.skip_invalid {
            for e in prepared.errors.iter().take(20) {
                eprintln!("error: {e}");
            }
            if prepared.errors.len() > 20 {
                eprintln!("... and {} more", prepared.errors.len() - 20);
            }
            eprintln!(
                "{} of {} rows are bad; nothing was written (fix them, or import the good rows with --skip-invalid)",
                prepared.errors.len(),
                prepared.rows
            );
            return ExitStatus::Failure;
        }
        let path = a
            .rejects
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.rejects.csv", a.db.display())));
        if let Err(e) = import::write_rejects(&path, &prepared.errors) {
            return fail(e);
        }
        eprintln!(
            "{} rows rejected, written with their reasons to {}",
            prepared.errors.len(),
            path.display()
        );
        status = ExitStatus::Failure;
    }
    let store = match SqliteStore::open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", a.db.display())),
    };
    if let Some((path, text)) = &new_policy {
        let effective =
            dealflow_store::command::parse_instant("0001-01-01T00:00:00Z").unwrap_or_default();
        let cmd = serde_json::json!({
            "key": "init", "type": "publish_policy", "by": {"user": "cli", "role": "admin"},
            "name": path.display().to_string(), "source": text,
            "effective_from": "0001-01-01T00:00:00Z",
        });
        match store.submit(&cmd.to_string(), effective) {
            Ok(s) if !s.refused => {}
            Ok(s) => {
                let msg = s
                    .decisions
                    .first()
                    .map(|d| d.json.clone())
                    .unwrap_or_default();
                return fail(format!("the policy was refused: {msg}"));
            }
            Err(e) => return fail(e),
        }
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "import".into());
    let user = if user.trim().is_empty() {
        "import".to_string()
    } else {
        user
    };
    match write(&store, &prepared, a.chunk, &user, now) {
        Ok(summary) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {} rows from {} files in {secs:.2}s: {summary}",
                prepared.rows,
                mapping.files().len()
            );
            status
        }
        Err(e) => fail(e),
    }
}

/// Submits the import commands (a few per commit, each made as it is sent) and
/// sums what they changed.
fn write(
    store: &SqliteStore,
    prepared: &Prepared,
    chunk: usize,
    user: &str,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let pb = bar(prepared.batch.opportunities.len() as u64, "writing");
    let mut totals = [0u64; 7];
    let mut cmds = import::commands(&prepared.batch, chunk, user).peekable();
    while cmds.peek().is_some() {
        let group: Vec<(usize, String)> = cmds.by_ref().take(8).collect();
        let batch: Vec<(&str, DateTime<Utc>)> = group.iter().map(|c| (c.1.as_str(), now)).collect();
        let answers = store.submit_batch(&batch).map_err(|e| e.to_string())?;
        for ((n, _), s) in group.iter().zip(&answers) {
            let n = *n as u64;
            if s.refused {
                let msg = s
                    .decisions
                    .first()
                    .and_then(|d| serde_json::from_str::<Value>(&d.json).ok())
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                return Err(format!("the store refused an import command: {msg}"));
            }
            if let Some(pb) = &pb {
                pb.inc(n);
            }
            match s.decisions.first().filter(|_| !s.repeated) {
                Some(d) => {
                    let v: Value = serde_json::from_str(&d.json).unwrap_or(Value::Null);
                    let i = &v["imported"];
                    let g = |a: &str, b: &str| i[a][b].as_u64().unwrap_or(0);
                    totals[0] += g("partners", "created");
                    totals[1] += g("partners", "updated");
                    totals[2] += g("accounts", "created");
                    totals[3] += g("accounts", "updated");
                    totals[4] += g("opportunities", "created");
                    totals[5] += g("opportunities", "updated");
                    totals[6] += g("opportunities", "unchanged");
                }
                // A repeat, or nothing differed from the store: nothing was written.
                None => totals[6] += n,
            }
        }
    }
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    Ok(format!(
        "partners {} new, {} updated; accounts {} new, {} updated; opportunities {} new, {} updated, {} unchanged",
        totals[0], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6]
    ))
}

pub const EXPORT_AFTER_HELP: &str = "\
Writes every file the mapping reads into --out (created if missing), with the columns
it reads, from the store: importing the export again gives the same partners,
accounts and opportunities with their history. Field history other than stages and
close dates (amount changes, say) stays in the store's events and is not exported.

Exit codes:
  0  every file written
  2  could not run: no store, bad mapping, unwritable folder";

/// Arguments of `dealflow export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    #[arg(long, value_name = "MAPPING.yaml")]
    pub mapping: PathBuf,
    /// The folder to write the CSV files into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn export(a: &ExportArgs) -> ExitStatus {
    let mapping = match Mapping::load(&a.mapping) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let store = match SqliteStore::open_existing(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", a.db.display())),
    };
    let policy = match report::policy_at(&store, Utc::now()) {
        Ok(p) => p,
        Err(e) => return fail(format!("{}: {e}", a.db.display())),
    };
    if let Err(e) = mapping.check(policy.ir()) {
        return fail(e.join("\n"));
    }
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        return fail(format!("cannot create {}: {e}", a.out.display()));
    }
    match dealflow_analytics::export::export(&store, &policy, &mapping, &a.out) {
        Ok(done) => {
            for (file, rows) in &done.files {
                println!("{}: {rows} rows", a.out.join(file).display());
            }
            ExitStatus::Success
        }
        Err(e) => fail(e),
    }
}

pub const REPORT_AFTER_HELP: &str = "\
Computes every metric of docs/metrics.md from the store's recorded history, as of the
end of --as-of (default: today). --target and --period (e.g. 2017-Q4) add pipeline
coverage. --as partner:ID reports on that partner's own deals only.

Formats: text (default), json (the model of docs/metrics.md), html (one self-contained
file with SVG charts, each with a table fallback).

Exit codes:
  0  the report was written
  2  could not run: no store, no policy in force, bad arguments";

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

/// Arguments of `dealflow report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The report's date, YYYY-MM-DD: everything recorded up to its end.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// The period's target, for pipeline coverage (a decimal amount).
    #[arg(long, value_name = "AMOUNT", requires = "period")]
    pub target: Option<String>,
    /// The target's quarter, YYYY-QN.
    #[arg(long, value_name = "QUARTER", requires = "target")]
    pub period: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// vendor (default) or partner:ID.
    #[arg(long = "as", default_value = "vendor", value_name = "AUDIENCE")]
    pub audience: String,
}

pub fn report(a: &ReportArgs) -> ExitStatus {
    let audience = match a.audience.parse::<Audience>() {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let date = match &a.as_of {
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => return fail(format!("--as-of `{d}` is not a date YYYY-MM-DD")),
        },
        None => Utc::now().date_naive(),
    };
    let target = match &a.target {
        Some(t) => match t.replace(['_', ','], "").parse::<rust_decimal::Decimal>() {
            Ok(d) if d >= rust_decimal::Decimal::ZERO => Some(d),
            _ => return fail(format!("--target `{t}` is not an amount of 0 or more")),
        },
        None => None,
    };
    let period = match &a.period {
        Some(p) => match report::Quarter::parse(p) {
            Some(q) => Some(q),
            None => return fail(format!("--period `{p}` is not a quarter such as 2017-Q4")),
        },
        None => None,
    };
    let store = match SqliteStore::open_existing(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", a.db.display())),
    };
    let opts = Options {
        as_of: date,
        target,
        period,
        audience,
    };
    let r = match report::compute(&store, &opts) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let text = match a.format {
        ReportFormat::Text => report::text::render(&r),
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(&r).unwrap_or_default();
            s.push('\n');
            s
        }
        ReportFormat::Html => report::html::render(&r),
    };
    match &a.out {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => ExitStatus::Success,
            Err(e) => fail(format!("cannot write {}: {e}", p.display())),
        },
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()) {
                Ok(()) => ExitStatus::Success,
                Err(e) => fail(e),
            }
        }
    }
}
