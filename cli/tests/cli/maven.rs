//! The public Maven Analytics "CRM Sales Opportunities" dataset end to end
//! (`../shared/data/maven-crm`, see its README): `dealflow import` through
//! `mappings/maven-crm.yaml` into a fresh store, then `dealflow report --format json`
//! as of the dataset's last day, checked against figures this file computes on its
//! own from the CSV files (the `csv` crate, no dealflow code) and against the
//! dataset's well-known figures written out by hand. A change in the dataset, the
//! mapping, the importer or the report's computation is caught either way.
//!
//! Also: importing the same files again changes nothing, and the resulting store's
//! decision log verifies and replays.

#![allow(
    clippy::panic,
    reason = "the comparison helpers fail the test with the figure that differs"
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{run_in, scratch_dir, Run};

// ------------------------------------------------------------ hand-checked figures
//
// The dataset's figures, counted once by hand (and with a spreadsheet); the test also
// computes each from the CSV files and requires both to agree with the report.

const ROWS: u64 = 8800;
const WON: u64 = 4238;
const LOST: u64 = 2473;
const ENGAGING: u64 = 1589;
const PROSPECTING: u64 = 500;
/// Sum of `close_value` over Won deals, in USD.
const WON_REVENUE: i64 = 10_005_534;
/// 4238 / (4238 + 2473).
const WIN_RATE: f64 = 0.6315;
/// 10005534 / 4238, to the cent.
const AVG_WON: &str = "2360.91";
/// Mean of close_date - engage_date over Won deals, in days.
const WON_CYCLE_DAYS: f64 = 51.782;
/// Engaging deals engaged more than 120 days (2 x Engaging's expected 60d) before
/// the report's instant 2018-01-01T00:00:00Z.
const STALE_ENGAGING: u64 = 1378;
/// Prospecting and Engaging deals with an empty `account`.
const OPEN_WITHOUT_ACCOUNT: u64 = 1425;
/// Won revenue of `GTXPro` (products.csv: `GTX Pro`), the largest product.
const GTX_PRO_REVENUE: i64 = 3_510_578;
/// Regional office: won, lost, won revenue.
const OFFICES: [(&str, u64, u64, i64); 3] = [
    ("Central", 1629, 975, 3_346_293),
    ("East", 1171, 687, 3_090_594),
    ("West", 1438, 811, 3_568_647),
];

/// The report's `--as-of` and the instant it stands for (the end of that day, UTC).
const AS_OF: &str = "2017-12-31";
fn report_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2018, 1, 1).expect("a date")
}

// Declared in policies/maven-crm.policy.
const PROSPECTING_PROBABILITY: &str = "0.10";
const ENGAGING_PROBABILITY: &str = "0.50";
const PROSPECTING_EXPECTED_DAYS: i64 = 30;
const ENGAGING_EXPECTED_DAYS: i64 = 60;

// ------------------------------------------------------------ the dataset

fn dataset(test: &str) -> Option<PathBuf> {
    let dir = dealflow_tests::shared_path("data/maven-crm");
    if dir.is_none() {
        dealflow_tests::skip(
            test,
            "../shared/data/maven-crm is not beside the repository",
        );
    }
    dir
}

fn csv_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("read the dataset directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[derive(serde::Deserialize)]
struct PipelineRow {
    opportunity_id: String,
    sales_agent: String,
    product: String,
    account: String,
    deal_stage: String,
    engage_date: String,
    close_date: String,
    close_value: String,
}

#[derive(serde::Deserialize)]
struct ProductRow {
    product: String,
    sales_price: String,
}

#[derive(serde::Deserialize)]
struct TeamRow {
    sales_agent: String,
    regional_office: String,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    csv::Reader::from_path(path)
        .expect("open a dataset CSV")
        .deserialize()
        .map(|r| r.expect("a well-formed dataset row"))
        .collect()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("an ISO date in the dataset")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("a decimal")
}

/// Win rate, revenue won and counts of one segment.
#[derive(Default, Debug)]
struct Seg {
    won: u64,
    lost: u64,
    open: u64,
    won_amount: Decimal,
}

impl Seg {
    fn add(&mut self, stage: &str, amount: Decimal) {
        match stage {
            "Won" => {
                self.won += 1;
                self.won_amount += amount;
            }
            "Lost" => self.lost += 1,
            _ => self.open += 1,
        }
    }
}

/// One stale deal as the report lists it.
#[derive(Debug, PartialEq)]
struct Stale {
    id: String,
    partner: String,
    days: i64,
    amount: Decimal,
}

/// What the report should say, computed from the CSV files alone.
#[derive(Default)]
struct Figures {
    by_stage: BTreeMap<String, (u64, Decimal)>,
    won_cycle_days: Vec<i64>,
    /// Engaging stays of closed deals: close_date - engage_date.
    engaging_stays: Vec<i64>,
    product: BTreeMap<String, Seg>,
    office: BTreeMap<String, Seg>,
    quarter: BTreeMap<String, Seg>,
    all: Seg,
    stale: Vec<Stale>,
    stale_amount: Decimal,
    open_without_account: u64,
    without_account: u64,
    weighted: Decimal,
    hygiene_adjusted: Decimal,
    aged_count: u64,
    aged_amount: Decimal,
    /// `0-30d`, `31-60d`, `61-90d`, `91-180d`, `181-365d`, `>365d`.
    bands: [(u64, Decimal); 6],
    /// Quarter, weighted forecast at its start, revenue won in it.
    accuracy: Vec<(String, Decimal, Decimal)>,
}

fn quarter_of(d: NaiveDate) -> (i32, u32) {
    (d.year(), (d.month() - 1) / 3 + 1)
}

fn compute(dir: &Path) -> Figures {
    let rows: Vec<PipelineRow> = read(&dir.join("sales_pipeline.csv"));
    let prices: HashMap<String, Decimal> = read::<ProductRow>(&dir.join("products.csv"))
        .into_iter()
        .map(|p| (p.product, dec(&p.sales_price)))
        .collect();
    let office: HashMap<String, String> = read::<TeamRow>(&dir.join("sales_teams.csv"))
        .into_iter()
        .map(|t| (t.sales_agent, t.regional_office))
        .collect();
    let end = report_day();
    let (p_prosp, p_eng) = (dec(PROSPECTING_PROBABILITY), dec(ENGAGING_PROBABILITY));
    let expected_cycle = PROSPECTING_EXPECTED_DAYS + ENGAGING_EXPECTED_DAYS;
    let mut f = Figures::default();
    // (engage, close, stage, close_value) of closed deals, for forecast accuracy.
    let mut closed: Vec<(NaiveDate, NaiveDate, bool, Decimal)> = Vec::new();
    for r in &rows {
        // The dataset's one product-name mismatch.
        let product = if r.product == "GTXPro" {
            "GTX Pro"
        } else {
            r.product.as_str()
        };
        let list = *prices.get(product).unwrap_or_else(|| {
            panic!(
                "{}: product `{product}` is not in products.csv",
                r.opportunity_id
            )
        });
        let stage = r.deal_stage.as_str();
        let is_open = matches!(stage, "Prospecting" | "Engaging");
        assert!(is_open || matches!(stage, "Won" | "Lost"), "stage {stage}");
        // Open deals have no close value: the mapping takes the list price.
        let amount = if r.close_value.is_empty() {
            list
        } else {
            dec(&r.close_value)
        };
        let e = f.by_stage.entry(stage.to_string()).or_default();
        e.0 += 1;
        e.1 += amount;
        let off = office
            .get(&r.sales_agent)
            .unwrap_or_else(|| panic!("agent {} has no office", r.sales_agent));
        f.product
            .entry(product.to_string())
            .or_default()
            .add(stage, amount);
        f.office.entry(off.clone()).or_default().add(stage, amount);
        f.all.add(stage, amount);
        if r.account.is_empty() {
            f.without_account += 1;
            f.open_without_account += u64::from(is_open);
        }
        if is_open {
            // Prospecting deals have no engage date: created on the dataset's last day.
            let created = if r.engage_date.is_empty() {
                day(AS_OF)
            } else {
                day(&r.engage_date)
            };
            let age = (end - created).num_days();
            let band = match age {
                0..=30 => 0,
                31..=60 => 1,
                61..=90 => 2,
                91..=180 => 3,
                181..=365 => 4,
                _ => 5,
            };
            f.bands[band].0 += 1;
            f.bands[band].1 += amount;
            if age > expected_cycle {
                f.aged_count += 1;
                f.aged_amount += amount;
            }
            let prob = if stage == "Engaging" { p_eng } else { p_prosp };
            f.weighted += amount * prob;
            let stale = stage == "Engaging" && age > 2 * ENGAGING_EXPECTED_DAYS;
            if stale {
                f.stale_amount += amount;
                f.stale.push(Stale {
                    id: r.opportunity_id.clone(),
                    partner: off.clone(),
                    days: age,
                    amount,
                });
            } else {
                // The policy excludes stale deals from the forecast.
                f.hygiene_adjusted += amount * prob;
            }
        } else {
            let (engage, close) = (day(&r.engage_date), day(&r.close_date));
            let (y, q) = quarter_of(close);
            f.quarter
                .entry(format!("{y}-Q{q}"))
                .or_default()
                .add(stage, amount);
            f.engaging_stays.push((close - engage).num_days());
            if stage == "Won" {
                f.won_cycle_days.push((close - engage).num_days());
            }
            closed.push((engage, close, stage == "Won", amount));
        }
    }
    f.stale
        .sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.id.cmp(&b.id)));
    // Forecast accuracy, per full quarter from the one after the first deal's: the
    // deals open at its start (all of them in Engaging: the data knows nothing
    // earlier) that close in it, weighted; against what was won in it.
    let first = closed.iter().map(|c| c.0).min().expect("closed deals");
    let (mut y, mut q) = quarter_of(first);
    loop {
        (y, q) = if q == 4 { (y + 1, 1) } else { (y, q + 1) };
        let qs = NaiveDate::from_ymd_opt(y, (q - 1) * 3 + 1, 1).expect("a date");
        let qe = if q == 4 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, q * 3 + 1, 1)
        }
        .expect("a date");
        if qe > end {
            break;
        }
        let (mut forecast, mut actual) = (Decimal::ZERO, Decimal::ZERO);
        for &(engage, close, won, amount) in &closed {
            let in_q = close >= qs && close < qe;
            if won && in_q {
                actual += amount;
            }
            if in_q && engage <= qs && close > qs {
                forecast += amount * p_eng;
            }
        }
        f.accuracy.push((format!("{y}-Q{q}"), forecast, actual));
    }
    f
}

// ------------------------------------------------------------ comparing

fn mean(v: &[i64]) -> f64 {
    v.iter().sum::<i64>() as f64 / v.len() as f64
}

fn median(v: &[i64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

fn wilson(k: u64, n: u64) -> (f64, f64) {
    let z = 1.959_964_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let den = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / den;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / den;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A money field: a decimal string with exactly two decimals, equal to `want` to the cent.
#[track_caller]
fn money(v: &Value, want: Decimal, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {v} is not a money string"));
    let (_, cents) = s
        .split_once('.')
        .unwrap_or_else(|| panic!("{what}: `{s}` has no decimals"));
    assert_eq!(cents.len(), 2, "{what}: `{s}` does not have 2 decimals");
    let got: Decimal = s.parse().unwrap_or_else(|e| panic!("{what}: `{s}`: {e}"));
    assert!(
        (got - want).abs() <= Decimal::new(5, 3),
        "{what}: report says {s}, the CSV files say {want}"
    );
}

/// A rate or number of days, rounded to 4 decimals in the report.
#[track_caller]
fn close(v: &Value, want: f64, what: &str) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {v} is not a number"));
    assert!(
        (got - want).abs() <= 1e-4,
        "{what}: report says {got}, the CSV files say {want}"
    );
}

#[track_caller]
fn count(v: &Value, want: u64, what: &str) {
    assert_eq!(
        v.as_u64(),
        Some(want),
        "{what}: report says {v}, the CSV files say {want}"
    );
}

fn rate(n: u64, d: u64) -> f64 {
    n as f64 / d as f64
}

#[track_caller]
fn segment(v: &Value, s: &Seg, what: &str) {
    count(&v["won"], s.won, &format!("{what}.won"));
    count(&v["lost"], s.lost, &format!("{what}.lost"));
    count(&v["open"], s.open, &format!("{what}.open"));
    if s.won + s.lost > 0 {
        close(
            &v["win_rate"],
            rate(s.won, s.won + s.lost),
            &format!("{what}.win_rate"),
        );
    } else {
        assert!(v["win_rate"].is_null(), "{what}.win_rate: {v}");
    }
    money(
        &v["won_amount"],
        s.won_amount,
        &format!("{what}.won_amount"),
    );
    if s.won > 0 {
        money(
            &v["avg_won"],
            s.won_amount / Decimal::from(s.won),
            &format!("{what}.avg_won"),
        );
    } else {
        assert!(v["avg_won"].is_null(), "{what}.avg_won: {v}");
    }
}

/// A segment list: exactly these keys, each with these figures.
#[track_caller]
fn segments(v: &Value, want: &BTreeMap<String, Seg>, what: &str) {
    let list = v.as_array().unwrap_or_else(|| panic!("{what}: {v}"));
    let keys: Vec<&str> = list.iter().filter_map(|s| s["key"].as_str()).collect();
    let want_keys: Vec<&str> = want.keys().map(String::as_str).collect();
    assert_eq!(keys, want_keys, "{what}: segment keys");
    for s in list {
        let key = s["key"].as_str().unwrap_or_default();
        segment(s, &want[key], &format!("{what}[{key}]"));
    }
}

fn by_key<'a>(list: &'a Value, field: &str, key: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|x| x[field] == key))
        .unwrap_or_else(|| panic!("no {field} `{key}` in {list}"))
}

// ------------------------------------------------------------ running dealflow

fn dealflow(dir: &Path, args: &[&str]) -> Run {
    run_in(dir, args, None)
}

fn mapping() -> String {
    dealflow_tests::repo_root()
        .join("mappings/maven-crm.yaml")
        .display()
        .to_string()
}

/// Imports the dataset into `dir/maven.db`; returns the run.
fn import(dir: &Path, data: &Path) -> Run {
    let m = mapping();
    let files = csv_files(data);
    let mut args = vec!["import", "--db", "maven.db", "--mapping", m.as_str()];
    args.extend(files.iter().map(String::as_str));
    dealflow(dir, &args)
}

fn fresh_store(name: &str, data: &Path) -> PathBuf {
    let dir = scratch_dir(name);
    let run = import(&dir, data);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert!(run.stdout.starts_with("imported "), "{}", run.snapshot());
    assert!(
        run.stdout
            .contains(&format!("opportunities {ROWS} new, 0 updated, 0 unchanged")),
        "{}",
        run.snapshot()
    );
    dir
}

// ------------------------------------------------------------ the tests

#[test]
fn report_agrees_with_figures_computed_from_the_csv_files() {
    let Some(data) = dataset("maven::report_agrees_with_figures_computed_from_the_csv_files")
    else {
        return;
    };
    let f = compute(&data);

    // The computed figures are the hand-checked ones.
    let stage_n = |s: &str| f.by_stage.get(s).map_or(0, |x| x.0);
    assert_eq!(
        [
            stage_n("Won"),
            stage_n("Lost"),
            stage_n("Engaging"),
            stage_n("Prospecting")
        ],
        [WON, LOST, ENGAGING, PROSPECTING]
    );
    assert_eq!(WON + LOST + ENGAGING + PROSPECTING, ROWS);
    assert_eq!(f.all.won_amount, Decimal::from(WON_REVENUE));
    assert!((rate(WON, WON + LOST) - WIN_RATE).abs() < 1e-4);
    assert_eq!(
        (Decimal::from(WON_REVENUE) / Decimal::from(WON)).round_dp(2),
        dec(AVG_WON)
    );
    assert!((mean(&f.won_cycle_days) - WON_CYCLE_DAYS).abs() < 1e-3);
    assert_eq!(f.stale.len() as u64, STALE_ENGAGING);
    assert_eq!(f.open_without_account, OPEN_WITHOUT_ACCOUNT);
    assert_eq!(
        f.product["GTX Pro"].won_amount,
        Decimal::from(GTX_PRO_REVENUE)
    );
    for (name, won, lost, revenue) in OFFICES {
        let s = &f.office[name];
        assert_eq!(
            (s.won, s.lost, s.won_amount),
            (won, lost, Decimal::from(revenue)),
            "{name}"
        );
    }

    let dir = fresh_store("maven-report", &data);
    let run = dealflow(
        &dir,
        &[
            "report", "--db", "maven.db", "--as-of", AS_OF, "--format", "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let r: Value = serde_json::from_str(&run.stdout).expect("the report is JSON");

    // How the report reads the store.
    let as_of = r["as_of"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    assert_eq!(
        as_of.map(|t| t.timestamp()),
        report_day()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp()),
        "as_of {}",
        r["as_of"]
    );
    assert_eq!(r["audience"], "vendor");
    assert_eq!(r["currency"], "USD");
    assert_eq!(r["policy"]["name"], "MavenTech Channel Pipeline");
    assert_eq!(r["policy"]["version"], "2017.1");

    // Totals.
    let t = &r["totals"];
    count(&t["opportunities"], ROWS, "totals.opportunities");
    count(&t["won"], WON, "totals.won");
    count(&t["lost"], LOST, "totals.lost");
    count(&t["open"], ENGAGING + PROSPECTING, "totals.open");
    count(&t["won"], f.all.won, "totals.won");
    count(&t["lost"], f.all.lost, "totals.lost");
    count(&t["open"], f.all.open, "totals.open");
    assert_eq!(t["won_amount"], format!("{WON_REVENUE}.00"));
    money(&t["won_amount"], f.all.won_amount, "totals.won_amount");
    money(
        &t["lost_amount"],
        f.by_stage["Lost"].1,
        "totals.lost_amount",
    );
    money(
        &t["open_amount"],
        f.by_stage["Engaging"].1 + f.by_stage["Prospecting"].1,
        "totals.open_amount",
    );
    close(&t["win_rate"], WIN_RATE, "totals.win_rate");
    close(
        &t["win_rate"],
        rate(f.all.won, f.all.won + f.all.lost),
        "totals.win_rate",
    );
    assert_eq!(t["avg_won"], AVG_WON);
    money(
        &t["avg_won"],
        f.all.won_amount / Decimal::from(f.all.won),
        "totals.avg_won",
    );
    close(
        &t["won_cycle_days"],
        WON_CYCLE_DAYS,
        "totals.won_cycle_days",
    );
    close(
        &t["won_cycle_days"],
        mean(&f.won_cycle_days),
        "totals.won_cycle_days",
    );

    // By stage, in flow order.
    let stages: Vec<&str> = r["by_stage"]
        .as_array()
        .expect("by_stage")
        .iter()
        .filter_map(|s| s["stage"].as_str())
        .collect();
    assert_eq!(stages, ["Prospecting", "Engaging", "Won", "Lost"]);
    for (stage, (n, amount)) in &f.by_stage {
        let s = by_key(&r["by_stage"], "stage", stage);
        count(&s["count"], *n, &format!("by_stage[{stage}].count"));
        money(&s["amount"], *amount, &format!("by_stage[{stage}].amount"));
    }

    // Pipeline quality: no registrations in the dataset; closed deals' Engaging stays.
    let q = &r["quality"];
    count(
        &q["qualification"]["denominator"],
        0,
        "quality.qualification",
    );
    assert!(q["qualification"]["rate"].is_null());
    let eng = by_key(&q["velocity"], "stage", "Engaging");
    count(
        &eng["stays"],
        f.engaging_stays.len() as u64,
        "velocity[Engaging].stays",
    );
    close(
        &eng["mean_days"],
        mean(&f.engaging_stays),
        "velocity[Engaging].mean_days",
    );
    close(
        &eng["median_days"],
        median(&f.engaging_stays),
        "velocity[Engaging].median_days",
    );
    close(
        &eng["expected_days"],
        ENGAGING_EXPECTED_DAYS as f64,
        "velocity[Engaging].expected_days",
    );
    let pro = by_key(&q["velocity"], "stage", "Prospecting");
    // No Prospecting deal has left the stage: the data records no prospecting date.
    count(&pro["stays"], 0, "velocity[Prospecting].stays");
    close(
        &pro["expected_days"],
        PROSPECTING_EXPECTED_DAYS as f64,
        "velocity[Prospecting].expected_days",
    );
    // Closed deals carry no earlier close date than the one they closed on.
    count(
        &q["close_date_accuracy"]["denominator"],
        WON + LOST,
        "close_date_accuracy",
    );
    count(
        &q["close_date_accuracy"]["numerator"],
        WON + LOST,
        "close_date_accuracy",
    );
    assert!(q["coverage"].is_null());

    // Co-sell: none recorded.
    let c = &r["cosell"];
    segment(&c["without_cosell"], &f.all, "cosell.without_cosell");
    count(&c["with_cosell"]["won"], 0, "cosell.with_cosell.won");
    count(
        &c["days_to_first_contact"]["count"],
        0,
        "cosell.days_to_first_contact",
    );

    // Forecast.
    let fc = &r["forecast"];
    money(&fc["weighted"], f.weighted, "forecast.weighted");
    money(
        &fc["hygiene_adjusted"],
        f.hygiene_adjusted,
        "forecast.hygiene_adjusted",
    );
    let acc = fc["accuracy"].as_array().expect("forecast.accuracy");
    let periods: Vec<&str> = acc.iter().filter_map(|p| p["period"].as_str()).collect();
    let want: Vec<&str> = f.accuracy.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(periods, want, "forecast.accuracy periods");
    for (point, (period, forecast, actual)) in acc.iter().zip(&f.accuracy) {
        money(
            &point["forecast"],
            *forecast,
            &format!("accuracy[{period}].forecast"),
        );
        money(
            &point["actual"],
            *actual,
            &format!("accuracy[{period}].actual"),
        );
        let (fv, av): (f64, f64) = (
            forecast.to_string().parse().expect("f64"),
            actual.to_string().parse().expect("f64"),
        );
        close(
            &point["accuracy"],
            1.0 - (fv - av).abs() / av,
            &format!("accuracy[{period}].accuracy"),
        );
    }
    // Every closed deal entered the pipeline engaged.
    let conv = by_key(&fc["conversion"], "stage", "Engaging");
    count(&conv["reached"], WON + LOST, "conversion[Engaging].reached");
    count(&conv["won"], WON, "conversion[Engaging].won");
    close(&conv["rate"], WIN_RATE, "conversion[Engaging].rate");
    count(
        &by_key(&fc["conversion"], "stage", "Prospecting")["reached"],
        0,
        "conversion[Prospecting].reached",
    );
    let aging = &fc["aging"];
    close(
        &aging["expected_cycle_days"],
        (PROSPECTING_EXPECTED_DAYS + ENGAGING_EXPECTED_DAYS) as f64,
        "aging.expected_cycle_days",
    );
    count(&aging["aged_count"], f.aged_count, "aging.aged_count");
    money(&aging["aged_amount"], f.aged_amount, "aging.aged_amount");
    let bands = aging["bands"].as_array().expect("aging.bands");
    let names: Vec<&str> = bands.iter().filter_map(|b| b["band"].as_str()).collect();
    assert_eq!(
        names,
        ["0-30d", "31-60d", "61-90d", "91-180d", "181-365d", ">365d"]
    );
    for (b, (n, amount)) in bands.iter().zip(&f.bands) {
        count(
            &b["count"],
            *n,
            &format!("aging.bands[{}].count", b["band"]),
        );
        money(
            &b["amount"],
            *amount,
            &format!("aging.bands[{}].amount", b["band"]),
        );
    }
    let stale_flag = by_key(&fc["flags"], "flag", "stale");
    count(&stale_flag["count"], STALE_ENGAGING, "flags[stale].count");
    money(&stale_flag["amount"], f.stale_amount, "flags[stale].amount");
    count(
        &by_key(&fc["flags"], "flag", "unvalued")["count"],
        0,
        "flags[unvalued].count",
    );
    count(&fc["stale_count"], STALE_ENGAGING, "forecast.stale_count");
    count(
        &fc["stale_count"],
        f.stale.len() as u64,
        "forecast.stale_count",
    );
    let listed: Vec<Stale> = fc["stale"]
        .as_array()
        .expect("forecast.stale")
        .iter()
        .map(|d| {
            assert_eq!(d["stage"], "Engaging", "{d}");
            Stale {
                id: d["id"].as_str().unwrap_or_default().to_string(),
                partner: d["partner"].as_str().unwrap_or_default().to_string(),
                days: d["days_in_stage"].as_i64().unwrap_or(-1),
                amount: d["amount"].as_str().map_or(Decimal::MIN, dec),
            }
        })
        .collect();
    assert_eq!(listed, f.stale[..20], "the 20 largest stale deals");

    // Segments: the offices are the partners (and the regions).
    let s = &r["segments"];
    segments(&s["product"], &f.product, "segments.product");
    segments(&s["partner"], &f.office, "segments.partner");
    segments(&s["region"], &f.office, "segments.region");
    segments(&s["quarter"], &f.quarter, "segments.quarter");
    let mut no_tier = BTreeMap::new();
    no_tier.insert("(none)".to_string(), f.all_copy());
    segments(&s["tier"], &no_tier, "segments.tier");
    for (name, won, lost, revenue) in OFFICES {
        let o = by_key(&s["partner"], "key", name);
        count(&o["won"], won, &format!("partner[{name}].won"));
        count(&o["lost"], lost, &format!("partner[{name}].lost"));
        close(
            &o["win_rate"],
            rate(won, won + lost),
            &format!("partner[{name}].win_rate"),
        );
        assert_eq!(o["won_amount"], format!("{revenue}.00"), "partner[{name}]");
    }
    assert_eq!(
        by_key(&s["product"], "key", "GTX Pro")["won_amount"],
        format!("{GTX_PRO_REVENUE}.00")
    );

    // Registration: none in the dataset.
    let g = &r["registration"];
    count(&g["registrations"], 0, "registration.registrations");
    count(&g["sla_breaches"], 0, "registration.sla_breaches");
    count(&g["late"], 0, "registration.late");
    segment(&g["unregistered"], &f.all, "registration.unregistered");
    assert!(g["lift"].is_null());

    // Calibration: Engaging's declared 50% against the observed win rate.
    let cal = by_key(&r["calibration"], "stage", "Engaging");
    close(&cal["declared"], 0.5, "calibration[Engaging].declared");
    count(&cal["reached"], WON + LOST, "calibration[Engaging].reached");
    close(&cal["observed"], WIN_RATE, "calibration[Engaging].observed");
    let (lo, hi) = wilson(WON, WON + LOST);
    close(&cal["low"], lo, "calibration[Engaging].low");
    close(&cal["high"], hi, "calibration[Engaging].high");
    assert_eq!(cal["outside"], true, "{cal}");
    let cal = by_key(&r["calibration"], "stage", "Prospecting");
    assert_eq!(cal["outside"], false, "{cal}");
    assert!(cal["observed"].is_null(), "{cal}");

    // Data quality.
    let d = &r["data"];
    count(
        &d["open_without_account"],
        OPEN_WITHOUT_ACCOUNT,
        "data.open_without_account",
    );
    count(
        &d["open_without_account"],
        f.open_without_account,
        "data.open_without_account",
    );
    count(
        &d["without_account"],
        f.without_account,
        "data.without_account",
    );
    count(&d["without_amount"], 0, "data.without_amount");
}

impl Figures {
    fn all_copy(&self) -> Seg {
        Seg {
            won: self.all.won,
            lost: self.all.lost,
            open: self.all.open,
            won_amount: self.all.won_amount,
        }
    }
}

#[test]
fn importing_again_changes_nothing_and_the_log_verifies_and_replays() {
    let Some(data) =
        dataset("maven::importing_again_changes_nothing_and_the_log_verifies_and_replays")
    else {
        return;
    };
    let dir = fresh_store("maven-reimport", &data);
    let again = import(&dir, &data);
    assert_eq!(again.code, 0, "{}", again.snapshot());
    for part in [
        "partners 0 new, 0 updated",
        "accounts 0 new, 0 updated",
        &format!("opportunities 0 new, 0 updated, {ROWS} unchanged"),
    ] {
        assert!(
            again.stdout.contains(part),
            "lacks `{part}`:\n{}",
            again.snapshot()
        );
    }
    let verify = dealflow(&dir, &["log", "verify", "--db", "maven.db"]);
    assert_eq!(verify.code, 0, "{}", verify.snapshot());
    assert!(
        verify.stdout.starts_with("decision log intact: "),
        "{}",
        verify.snapshot()
    );
    let replay = dealflow(&dir, &["replay", "--db", "maven.db"]);
    assert_eq!(replay.code, 0, "{}", replay.snapshot());
}

/// `lint --db`: W401 at Engaging's `probability 50%`, with the counts and the
/// Wilson interval computed here from the dataset's won and lost totals; Prospecting,
/// which no closed deal's history records, gets none. A warning: exit 0, or 1 with
/// `--deny-warnings`.
#[test]
fn lint_with_the_store_flags_the_miscalibrated_stage() {
    let Some(data) = dataset("maven::lint_with_the_store_flags_the_miscalibrated_stage") else {
        return;
    };
    let dir = fresh_store("maven-lint", &data);
    let policy = dealflow_tests::repo_root()
        .join("policies/maven-crm.policy")
        .display()
        .to_string();
    let text = std::fs::read_to_string(&policy).expect("policy");
    let engaging = text.find("stage Engaging").expect("Engaging");
    let at = engaging
        + text[engaging..]
            .find("probability 50%")
            .expect("probability");
    // 1-based line and column of the value after `probability `.
    let value = at + "probability ".len();
    let line = text[..value].matches('\n').count() as u64 + 1;
    let column = (value - text[..value].rfind('\n').map_or(0, |i| i + 1)) as u64 + 1;

    let run = dealflow(
        &dir,
        &["lint", "--format", "json", "--db", "maven.db", &policy],
    );
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    let w401: Vec<&Value> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == "W401")
        .collect();
    assert_eq!(w401.len(), 1, "{}", run.stdout);
    let d = w401[0];
    assert_eq!(d["line"].as_u64(), Some(line), "{d}");
    assert_eq!(d["column"].as_u64(), Some(column), "{d}");
    // "Engaging declares 50%; history says R% +/- H% over N deals"
    let message = d["message"].as_str().expect("message");
    let rest = message
        .strip_prefix("Engaging declares 50%; history says ")
        .unwrap_or_else(|| panic!("{message}"));
    let (rate, rest) = rest
        .split_once("% +/- ")
        .unwrap_or_else(|| panic!("{message}"));
    let (half_shown, rest) = rest
        .split_once("% over ")
        .unwrap_or_else(|| panic!("{message}"));
    assert_eq!(rest, format!("{} deals", WON + LOST), "{message}");
    let (lo, hi) = wilson(WON, WON + LOST);
    let rate: f64 = rate.parse().expect("rate");
    let half_shown: f64 = half_shown.parse().expect("half");
    assert!((rate - WIN_RATE * 100.0).abs() <= 0.051, "{message}");
    assert!(
        (half_shown - (hi - lo) / 2.0 * 100.0).abs() <= 0.051,
        "{message}"
    );

    let deny = dealflow(
        &dir,
        &["lint", "--deny-warnings", "--db", "maven.db", &policy],
    );
    assert_eq!(deny.code, 1, "{}", deny.snapshot());
    assert!(
        deny.stdout.contains("W401") || deny.stderr.contains("W401"),
        "{}",
        deny.snapshot()
    );
}
