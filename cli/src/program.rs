//! The program over time from the command line: `init`, `submit`, `tick`, `show`,
//! `queue`, `expiring`, `log verify`, `replay`, `commission`, `policy publish`.
//! Every verb opens the store file, asks the store, and prints; the store does the
//! work (and the audience filtering) once, for every caller.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc;

use chrono::{DateTime, NaiveDate, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::{Audience, Policy};
use dealflow_store::replay;
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Store, Submitted};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::inputs::parse_now;
use crate::term::clean as safe;
use crate::{
    CommissionArgs, ExitStatus, ExpiringArgs, InitArgs, LogArgs, LogCommand, OutputFormat,
    PolicyArgs, PolicyCommand, QueueArgs, ReplayArgs, ShowArgs, SubmitArgs, TickArgs,
};

fn fail(msg: impl std::fmt::Display) -> ExitStatus {
    eprintln!("error: {msg}");
    ExitStatus::Error
}

fn now_of(arg: Option<&str>) -> Result<DateTime<Utc>, String> {
    match arg {
        Some(t) => parse_now(t),
        // The binary is the one place that reads the wall clock.
        None => Ok(Utc::now()),
    }
}

fn audience(arg: &str) -> Result<Audience, String> {
    arg.parse::<Audience>().map_err(|e| e.to_string())
}

fn open(db: &Path) -> Result<SqliteStore, String> {
    SqliteStore::open_existing(db).map_err(|e| format!("{}: {e}", db.display()))
}

/// The audience, the instant and the store a read verb needs, or its exit status.
fn reader(
    as_: &str,
    now: Option<&str>,
    db: &Path,
) -> Result<(Audience, DateTime<Utc>, SqliteStore), ExitStatus> {
    let aud = audience(as_).map_err(fail)?;
    let now = now_of(now).map_err(fail)?;
    let store = open(db).map_err(fail)?;
    Ok((aud, now, store))
}

fn read_policy(file: &Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| format!("cannot read `{}`: {e}", file.display()))
}

fn publish_command(key: &str, file: &Path, source: &str, effective: DateTime<Utc>) -> Value {
    json!({
        "key": key,
        "type": "publish_policy",
        "by": {"user": "cli", "role": "admin"},
        "name": file.display().to_string(),
        "source": source,
        "effective_from": dealflow_store::sqlite::ts(effective),
    })
}

fn report_publish(s: &Submitted) -> ExitStatus {
    let Some(d) = s.decisions.first() else {
        return fail("the store gave no decision");
    };
    let v: Value = serde_json::from_str(&d.json).unwrap_or(Value::Null);
    if s.refused {
        eprintln!(
            "error: {}",
            safe(
                v.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("refused")
            )
        );
        return ExitStatus::Failure;
    }
    let ver = &v["version"];
    println!(
        "published {} version {} ({}) effective from {} (decision {})",
        safe(ver["name"].as_str().unwrap_or("?")),
        safe(ver["version"].as_str().unwrap_or("?")),
        ver["hash"].as_str().unwrap_or("?").get(..12).unwrap_or(""),
        v["effective_from"].as_str().unwrap_or("?"),
        d.seq
    );
    ExitStatus::Success
}

/// `dealflow init --db PATH --policy FILE [--effective RFC3339]`.
pub fn init(a: &InitArgs) -> ExitStatus {
    let Some(policy_file) = &a.policy else {
        if a.db.exists() {
            return fail(format!("{} already exists", a.db.display()));
        }
        return match SqliteStore::open(&a.db) {
            Ok(_) => {
                println!(
                    "created {} (empty: no policy published yet)",
                    a.db.display()
                );
                ExitStatus::Success
            }
            Err(e) => fail(format!("{}: {e}", a.db.display())),
        };
    };
    let source = match read_policy(policy_file) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let effective = match a.effective.as_deref().map(parse_now).transpose() {
        Ok(t) => t.unwrap_or_else(|| {
            dealflow_store::command::parse_instant("0001-01-01T00:00:00Z").unwrap_or_default()
        }),
        Err(e) => return fail(e),
    };
    let exists = a.db.exists()
        && std::fs::metadata(&a.db)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
    let store = match SqliteStore::open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", a.db.display())),
    };
    match store.latest_policy_hash() {
        Ok(Some(_)) if exists => {
            return fail(format!(
                "{} is already a dealflow store with a policy; publish a new version with `dealflow policy publish`",
                a.db.display()
            ))
        }
        Err(e) => return fail(e),
        _ => {}
    }
    let cmd = publish_command("init", policy_file, &source, effective);
    // The first version is published at the instant it takes effect, so that
    // commands dated from then on are decided by it.
    match store.submit(&cmd.to_string(), effective) {
        Ok(s) => {
            let status = report_publish(&s);
            if status == ExitStatus::Success {
                println!("created {}", a.db.display());
            } else {
                drop(store);
                // A store that could not be initialised is not left behind.
                if !exists {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", a.db.display()));
                    }
                }
            }
            status
        }
        Err(e) => fail(e),
    }
}

/// `dealflow policy publish --db PATH FILE --effective RFC3339`.
pub fn policy(a: &PolicyArgs) -> ExitStatus {
    match &a.command {
        PolicyCommand::Publish {
            db,
            file,
            effective,
            key,
            now,
        } => {
            let now = match now_of(now.as_deref()) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            let source = match read_policy(file) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let effective = match parse_now(effective) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            let store = match open(db) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let key = key.clone().unwrap_or_else(|| {
                format!(
                    "publish:{}@{}",
                    dealflow_engine::source_hash(&source),
                    dealflow_store::sqlite::ts(effective)
                )
            });
            let cmd = publish_command(&key, file, &source, effective);
            match store.submit(&cmd.to_string(), now) {
                Ok(s) => report_publish(&s),
                Err(e) => fail(e),
            }
        }
    }
}

fn answer_line(line: usize, s: &Submitted) -> String {
    let first: Value = s
        .decisions
        .first()
        .and_then(|d| serde_json::from_str(&d.json).ok())
        .unwrap_or(Value::Null);
    let outcome = s.decisions.first().map_or("idle", |d| d.outcome.as_str());
    let key = first
        .get("command")
        .and_then(|c| c.get("key"))
        .cloned()
        .unwrap_or(Value::Null);
    let error = if s.refused {
        first.get("message").cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let decisions: Vec<&str> = s.decisions.iter().map(|d| d.json.as_str()).collect();
    format!(
        "{{\"line\":{line},\"key\":{key},\"outcome\":{},\"repeated\":{},\"refused\":{},\"error\":{error},\"decisions\":[{}]}}",
        Value::String(outcome.to_string()),
        s.repeated,
        s.refused,
        decisions.join(",")
    )
}

/// `dealflow submit --db PATH [--now RFC3339] FILE|-`: JSON Lines in, one answer
/// line out per command, each printed only after the commit that holds it. Lines
/// that arrive together are committed together (group commit, each command atomic
/// in its own savepoint), up to `--batch` per commit.
pub fn submit(a: &SubmitArgs) -> ExitStatus {
    let now_arg = a.now.clone();
    let store = match open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let (tx, rx) = mpsc::sync_channel::<Result<(usize, String), String>>(a.batch.max(1) * 2);
    let input = a.input.clone();
    let reader = std::thread::spawn(move || {
        let r: Box<dyn BufRead> = if input.as_os_str() == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            match std::fs::File::open(&input) {
                Ok(f) => Box::new(std::io::BufReader::new(f)),
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot read `{}`: {e}", input.display())));
                    return;
                }
            }
        };
        // A line longer than this is refused without being held in memory.
        const MAX_LINE: u64 = 16 * 1024 * 1024;
        let mut r = r;
        let mut n = 0usize;
        loop {
            let mut buf = Vec::new();
            match std::io::Read::take(&mut r, MAX_LINE + 1).read_until(b'\n', &mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    n += 1;
                    if buf.len() as u64 > MAX_LINE {
                        let _ = tx.send(Err(format!("line {n} is longer than 16 MiB")));
                        return;
                    }
                    let line = match String::from_utf8(buf) {
                        Ok(s) => s,
                        Err(_) => "\u{fffd} (the line is not UTF-8)".to_string(),
                    };
                    if line.trim().is_empty() {
                        continue;
                    }
                    if tx.send(Ok((n, line))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("reading line {}: {e}", n + 1)));
                    return;
                }
            }
        }
    });
    let mut status = ExitStatus::Success;
    let stdout = std::io::stdout();
    'outer: while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < a.batch.max(1) {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let mut lines = Vec::with_capacity(batch.len());
        let mut read_error = None;
        for x in batch {
            match x {
                Ok(l) => lines.push(l),
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        let now = match now_of(now_arg.as_deref()) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let refs: Vec<(&str, DateTime<Utc>)> =
            lines.iter().map(|(_, l)| (l.as_str(), now)).collect();
        match store.submit_batch(&refs) {
            Ok(answers) => {
                let mut out = stdout.lock();
                for ((n, _), s) in lines.iter().zip(&answers) {
                    if s.refused {
                        status = status.worst(ExitStatus::Failure);
                    }
                    if writeln!(out, "{}", answer_line(*n, s)).is_err() {
                        break 'outer;
                    }
                }
                if out.flush().is_err() {
                    break;
                }
            }
            Err(e) => {
                let first = lines.first().map_or(0, |l| l.0);
                eprintln!("error: the batch starting at line {first} was not committed: {e}");
                return ExitStatus::Error;
            }
        }
        if let Some(e) = read_error {
            eprintln!("error: {e}");
            return ExitStatus::Error;
        }
    }
    let _ = reader.join();
    status
}

fn print_json(v: &impl serde::Serialize) -> ExitStatus {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            ExitStatus::Success
        }
        Err(e) => fail(e),
    }
}

/// `dealflow tick --db PATH [--now RFC3339]`.
pub fn tick(a: &TickArgs) -> ExitStatus {
    let store = match open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let now = match now_of(a.now.as_deref()) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let cmd = json!({"type": "tick", "by": "system", "at": dealflow_store::sqlite::ts(now)});
    let s = match store.submit(&cmd.to_string(), now) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if s.refused {
        let v: Value = s
            .decisions
            .first()
            .and_then(|d| serde_json::from_str(&d.json).ok())
            .unwrap_or_default();
        eprintln!(
            "error: {}",
            safe(v["message"].as_str().unwrap_or("refused"))
        );
        return ExitStatus::Failure;
    }
    if a.format == OutputFormat::Json {
        let v: Vec<Value> = s
            .decisions
            .iter()
            .filter_map(|d| serde_json::from_str(&d.json).ok())
            .collect();
        return print_json(&v);
    }
    if s.repeated {
        println!("this instant was already ticked; nothing new fired");
    }
    for d in &s.decisions {
        let v: Value = serde_json::from_str(&d.json).unwrap_or_default();
        let ev = v["events"].get(0).cloned().unwrap_or_default();
        let what = match ev["type"].as_str().unwrap_or("") {
            "review_escalated" => format!("escalated to {}", ev["to"].as_str().unwrap_or("?")),
            "review_sla_breached" => format!(
                "review SLA breached by {} business hours",
                ev["by_business_hours"].as_str().unwrap_or("?")
            ),
            "registration_expired" => "protection expired".to_string(),
            "lead_offered" => format!("re-offered to {}", ev["partner"].as_str().unwrap_or("?")),
            "lead_timed_out" => format!(
                "lead timed out for {}",
                ev["partner"].as_str().unwrap_or("?")
            ),
            other => other.to_string(),
        };
        let subject = v["opportunity"]
            .as_str()
            .or(v["lead"].as_str())
            .unwrap_or("");
        println!(
            "#{} {} {}: {}",
            d.seq,
            v["timer"]["due"].as_str().unwrap_or(""),
            safe(subject),
            safe(&what)
        );
    }
    println!(
        "{} timer decision(s) at {}",
        s.decisions.len(),
        dealflow_store::sqlite::ts(now)
    );
    ExitStatus::Success
}

/// `dealflow show --db PATH OPP-ID [--as AUDIENCE] [--format human|json]`.
pub fn show(a: &ShowArgs) -> ExitStatus {
    let aud = match audience(&a.as_) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let store = match open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let view = match store.opportunity(&aud, &a.opportunity) {
        Ok(Some(v)) => v,
        Ok(None) => {
            eprintln!("error: no opportunity `{}` for {aud}", safe(&a.opportunity));
            return ExitStatus::Failure;
        }
        Err(e) => return fail(e),
    };
    if a.format == OutputFormat::Json {
        return print_json(&view);
    }
    let mut out = String::new();
    let state = if view.closed { "closed" } else { "open" };
    out.push_str(&format!(
        "{}  stage {} ({state})\n",
        safe(&view.id),
        safe(&view.stage)
    ));
    if let Some(p) = &view.partner {
        out.push_str(&format!("partner   {}\n", safe(p)));
    }
    out.push_str(&format!(
        "account   {} {}\n",
        safe(view.account["id"].as_str().unwrap_or("?")),
        safe(view.account["domain"].as_str().unwrap_or(""))
    ));
    if let Value::Object(f) = &view.fields {
        for (k, v) in f {
            out.push_str(&format!("  {k}: {}\n", safe(&v.to_string())));
        }
    }
    for r in &view.registrations {
        out.push_str(&format!(
            "registration {} {} submitted {}{}{}\n",
            safe(&r.id),
            r.status,
            r.submitted_at,
            r.protected_until
                .as_ref()
                .map(|p| format!(", protected until {p}"))
                .unwrap_or_default(),
            r.review_deadline
                .as_ref()
                .map(|p| format!(", review by {p}"))
                .unwrap_or_default(),
        ));
    }
    out.push_str("history:\n");
    for e in &view.events {
        let ty = e["type"].as_str().unwrap_or("?");
        let mut rest = e.clone();
        if let Value::Object(m) = &mut rest {
            m.remove("type");
            m.remove("at");
        }
        out.push_str(&format!(
            "  {} {ty} {}\n",
            e["at"].as_str().unwrap_or(""),
            safe(&rest.to_string())
        ));
    }
    out.push_str("decisions:\n");
    for d in &view.decisions {
        let rule = d["decision"]["reasons"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["outcome"] == "fail"))
            .map(|r| {
                format!(
                    " ({}: {})",
                    r["rule"].as_str().unwrap_or(""),
                    r["message"].as_str().unwrap_or("")
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  #{} {} {} {}{}\n",
            d["seq"],
            d["at"].as_str().unwrap_or(""),
            d["command"]["type"]
                .as_str()
                .unwrap_or(d["kind"].as_str().unwrap_or("")),
            d["outcome"].as_str().unwrap_or(""),
            safe(&rule)
        ));
    }
    print!("{out}");
    ExitStatus::Success
}

/// `dealflow queue --db PATH [--now] [--as] [--format]`.
pub fn queue(a: &QueueArgs) -> ExitStatus {
    let (aud, now, store) = match reader(&a.as_, a.now.as_deref(), &a.db) {
        Ok(x) => x,
        Err(status) => return status,
    };
    let q = match store.queue(&aud, now) {
        Ok(q) => q,
        Err(e) => return fail(e),
    };
    if a.format == OutputFormat::Json {
        return print_json(&q);
    }
    for e in &q {
        println!(
            "{} {} {} submitted {} deadline {} waited {} business h{}{}",
            safe(&e.registration),
            safe(&e.opportunity),
            safe(&e.partner),
            e.submitted_at,
            e.deadline.as_deref().unwrap_or("-"),
            e.waited_business_hours,
            e.escalated_to
                .as_ref()
                .map(|t| format!(", escalated to {t}"))
                .unwrap_or_default(),
            if e.breached { ", SLA BREACHED" } else { "" }
        );
    }
    println!("{} pending review(s)", q.len());
    ExitStatus::Success
}

/// `dealflow expiring --db PATH --within DAYS [--now] [--as] [--format]`.
pub fn expiring(a: &ExpiringArgs) -> ExitStatus {
    let (aud, now, store) = match reader(&a.as_, a.now.as_deref(), &a.db) {
        Ok(x) => x,
        Err(status) => return status,
    };
    let within = chrono::Duration::days(i64::from(a.days));
    let rows = match store.expiring(&aud, now, within) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if a.format == OutputFormat::Json {
        return print_json(&rows);
    }
    for r in &rows {
        println!(
            "{} {} {} protected until {}",
            safe(&r.id),
            safe(&r.opportunity),
            safe(&r.partner),
            r.protected_until.as_deref().unwrap_or("?")
        );
    }
    println!(
        "{} registration(s) expiring within {} days",
        rows.len(),
        a.days
    );
    ExitStatus::Success
}

/// `dealflow log verify --db PATH`.
pub fn log(a: &LogArgs) -> ExitStatus {
    match &a.command {
        LogCommand::Verify { db } => {
            let store = match open(db) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match store.verify() {
                Ok(v) if v.first_broken.is_none() => {
                    println!(
                        "decision log intact: {} decisions, hash chain verified",
                        v.decisions
                    );
                    ExitStatus::Success
                }
                Ok(v) => {
                    println!(
                        "decision log BROKEN at sequence number {}: {} ({} decisions before it verified)",
                        v.first_broken.unwrap_or(0),
                        v.reason.unwrap_or_default(),
                        v.decisions
                    );
                    ExitStatus::Failure
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn compile_candidate(path: &Path) -> Result<Policy, String> {
    let text = read_policy(path)?;
    let file = SourceFile::new(path.display().to_string(), text);
    Policy::compile(&file).map_err(|e| {
        let first = e
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| {
                let lc = file.line_col(d.span.start);
                format!(
                    ": {}:{}:{}: {}",
                    path.display(),
                    lc.line,
                    lc.column,
                    d.message
                )
            })
            .unwrap_or_default();
        format!("the candidate policy has errors{first}; run `dealflow lint` on it")
    })
}

fn money(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

/// `dealflow replay --db DB [--policy CANDIDATE] [--format text|json]`.
pub fn replay(a: &ReplayArgs) -> ExitStatus {
    let store = match open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let Some(candidate) = &a.policy else {
        let r = match replay::verify_replay(&store) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        if a.format == OutputFormat::Json {
            let status = if r.first_difference.is_none() {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            };
            let _ = print_json(&r);
            return status;
        }
        return match &r.first_difference {
            None => {
                println!(
                    "replayed {} commands: {} of {} decisions identical byte for byte",
                    r.commands, r.identical, r.decisions
                );
                ExitStatus::Success
            }
            Some(d) => {
                println!(
                    "replayed {} commands: decision {} differs ({} of {} identical)\n  logged:   {}\n  replayed: {}",
                    r.commands,
                    d.seq,
                    r.identical,
                    r.decisions,
                    safe(d.logged.as_deref().unwrap_or("(none)")),
                    safe(d.replayed.as_deref().unwrap_or("(none)"))
                );
                ExitStatus::Failure
            }
        };
    };
    let policy = match compile_candidate(candidate) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let w = match replay::what_if(&store, policy) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    if a.format == OutputFormat::Json {
        return print_json(&w);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "replayed {} commands with {} in place of {}\n",
        w.commands,
        w.candidate.get(..12).unwrap_or(""),
        w.replaced.get(..12).unwrap_or("")
    ));
    out.push_str(&format!(
        "{} decision(s) change outcome\n",
        w.changed_decisions
    ));
    for (c, n, ex) in &w.changes {
        out.push_str(&format!(
            "  {n:>5}  {}: {} -> {}{}{}\n",
            safe(&c.action),
            c.before,
            c.after,
            c.rule
                .as_ref()
                .map(|r| format!(" ({})", safe(r)))
                .unwrap_or_default(),
            if ex.is_empty() {
                String::new()
            } else {
                format!(" e.g. {}", safe(&ex.join(", ")))
            }
        ));
    }
    let (b, f) = (&w.before, &w.after);
    let row = |name: &str, x: String, y: String| format!("  {name:<28} {x:>16} {y:>16}\n");
    out.push_str(&row("", "before".into(), "after".into()));
    out.push_str(&row(
        "review SLA breaches",
        b.sla_breaches.to_string(),
        f.sla_breaches.to_string(),
    ));
    out.push_str(&row(
        "review escalations",
        b.escalations.to_string(),
        f.escalations.to_string(),
    ));
    out.push_str(&row(
        "protection expiries",
        b.expiries.to_string(),
        f.expiries.to_string(),
    ));
    let pools: std::collections::BTreeSet<&String> = b
        .cosell_assignments
        .keys()
        .chain(f.cosell_assignments.keys())
        .collect();
    for p in pools {
        let g = |t: &replay::Totals| {
            t.cosell_assignments
                .get(p)
                .copied()
                .unwrap_or(0)
                .to_string()
        };
        out.push_str(&row(&format!("co-sell {p}"), g(b), g(f)));
    }
    let partners: std::collections::BTreeSet<&String> = b
        .commission
        .keys()
        .chain(f.commission.keys())
        .chain(b.rebates.keys())
        .chain(f.rebates.keys())
        .collect();
    for p in partners {
        let g = |t: &replay::Totals| {
            let c = t.commission.get(p).map_or(Decimal::ZERO, |s| money(s));
            let r = t.rebates.get(p).map_or(Decimal::ZERO, |s| money(s));
            format!("{} + {}", c.round_dp(2), r.round_dp(2))
        };
        out.push_str(&row(
            &format!("commission + rebate {}", safe(p)),
            g(b),
            g(f),
        ));
    }
    out.push_str(&row(
        "forecast weighted",
        b.forecast_weighted.clone(),
        f.forecast_weighted.clone(),
    ));
    out.push_str(&row(
        "forecast hygiene-adjusted",
        b.forecast_adjusted.clone(),
        f.forecast_adjusted.clone(),
    ));
    print!("{out}");
    ExitStatus::Success
}

fn day(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = parse_now(s) {
        return Ok(t);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD) or an RFC 3339 instant"))
}

/// `dealflow commission --db DB --from DATE --to DATE [--partner ID]`.
pub fn commission(a: &CommissionArgs) -> ExitStatus {
    let (from, to) = match (day(&a.from), day(&a.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let store = match open(&a.db) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let aud = match &a.partner {
        Some(p) => Audience::Partner(p.clone()),
        None => Audience::Vendor,
    };
    let lines = match store.commission(&aud, from, to) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    if a.format == OutputFormat::Json {
        return print_json(&lines);
    }
    let mut current: Option<&str> = None;
    let mut total = Decimal::ZERO;
    let flush = |p: Option<&str>, total: &mut Decimal, cur: &str| {
        if p.is_some() {
            println!("  total {} {cur}\n", total.round_dp(2));
        }
        *total = Decimal::ZERO;
    };
    let currency = lines
        .first()
        .map(|l| l.currency.clone())
        .unwrap_or_default();
    for l in &lines {
        if current != Some(l.partner.as_str()) {
            flush(current, &mut total, &currency);
            println!(
                "partner {}  payout statement {} .. {}",
                safe(&l.partner),
                a.from,
                a.to
            );
            current = Some(l.partner.as_str());
        }
        println!(
            "  {}  {:<18} {:<10} {:>14} {}  decision #{}",
            l.at.get(..10).unwrap_or(&l.at),
            safe(&l.opportunity),
            match &l.role {
                Some(r) => format!("{} ({r})", l.kind),
                None => l.kind.clone(),
            },
            l.amount,
            l.currency,
            l.decision_seq
        );
        total = total.checked_add(money(&l.amount)).unwrap_or(total);
    }
    flush(current, &mut total, &currency);
    if lines.is_empty() {
        println!("no commission booked between {} and {}", a.from, a.to);
    }
    ExitStatus::Success
}
