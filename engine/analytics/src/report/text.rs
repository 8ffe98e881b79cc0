//! The report as plain text for a terminal: one section per part of the model,
//! tables with aligned columns (numbers and money right-aligned), rates as
//! percentages with one decimal, `-` for what has no value. Money is printed as the
//! model's decimal strings. Control characters in names are replaced so a CRM
//! value cannot move the cursor or colour the terminal.

use std::fmt::Write as _;

use super::model::*;
use super::svg::percent;

/// The section titles, in order; the HTML report uses the same.
pub const SECTIONS: [&str; 13] = [
    "Totals",
    "By stage",
    "Pipeline quality",
    "Co-sell impact",
    "Forecast",
    "Win rate by tier",
    "Win rate by product",
    "Win rate by region",
    "Win rate by partner",
    "Win rate by quarter",
    "Registration",
    "Calibration",
    "Data quality",
];

/// A number of days or hours with one decimal, `-` for none.
pub fn days(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => {
            if (v * 10.0).round() == 0.0 {
                "0.0".to_owned()
            } else {
                format!("{v:.1}")
            }
        }
        _ => "-".to_owned(),
    }
}

/// A ratio as a multiple with two decimals (`1.25x`), `-` for none.
pub fn times(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => {
            if (v * 100.0).round() == 0.0 {
                "0.00x".to_owned()
            } else {
                format!("{v:.2}x")
            }
        }
        _ => "-".to_owned(),
    }
}

/// A relative change as a signed percentage (`+12.5%`), `-` for none.
pub fn lift(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => {
            if (v * 1000.0).round() == 0.0 {
                "0.0%".to_owned()
            } else {
                format!("{:+.1}%", v * 100.0)
            }
        }
        _ => "-".to_owned(),
    }
}

/// `numerator/denominator (rate)`.
pub fn share(r: &Rate) -> String {
    format!("{}/{} ({})", r.numerator, r.denominator, percent(r.rate))
}

/// A 95% interval (`58.8% to 70.3%`), `-` when it has no bound.
pub fn interval(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (None, None) => "-".to_owned(),
        _ => format!("{} to {}", percent(low), percent(high)),
    }
}

/// `Stale deals: 23 (largest 20 listed)`.
pub fn stale_heading(f: &Forecast) -> String {
    if f.stale.len() as u64 >= f.stale_count {
        format!("Stale deals: {}", f.stale_count)
    } else {
        format!(
            "Stale deals: {} (largest {} listed)",
            f.stale_count,
            f.stale.len()
        )
    }
}

/// An optional string, `-` for none.
pub fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "-".to_owned(), str::to_owned)
}

/// `s` with control characters (escape sequences, newlines, tabs) replaced by `?`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}
use Align::{Left, Right};

/// A table: headers, one alignment per column, rows of cells. Prints `(none)` for
/// no rows.
fn table(out: &mut String, headers: &[&str], align: &[Align], rows: &[Vec<String>]) {
    if rows.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        let mut s = String::from("  ");
        for (i, width) in widths.iter().enumerate() {
            let cell = cells.get(i).map_or("", String::as_str);
            let pad = width.saturating_sub(cell.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if align.get(i).copied().unwrap_or(Left) == Right {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let head: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    line(out, &head);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &rule);
    for row in &rows {
        line(out, row);
    }
}

/// Label/value lines with the values aligned.
fn pairs(out: &mut String, items: &[(&str, String)]) {
    let width = items
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in items {
        let pad = width - k.chars().count();
        let _ = writeln!(out, "  {k}{}  {}", " ".repeat(pad), clean(v));
    }
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}\n{}", "=".repeat(title.chars().count()));
}

fn subheading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n  {title}");
}

/// The headers of a segment table, after the key column's.
const SEGMENT_HEADERS: [&str; 6] = ["Won", "Lost", "Open", "Win rate", "Won amount", "Avg won"];

fn segment_row(key: &str, s: &Segment) -> Vec<String> {
    vec![
        key.to_owned(),
        s.won.to_string(),
        s.lost.to_string(),
        s.open.to_string(),
        percent(s.win_rate),
        s.won_amount.clone(),
        opt(s.avg_won.as_deref()),
    ]
}

fn segments(out: &mut String, key: &str, rows: &[(String, &Segment)]) {
    let mut headers = vec![key];
    headers.extend(SEGMENT_HEADERS);
    let align = [Left, Right, Right, Right, Right, Right, Right];
    let rows: Vec<Vec<String>> = rows.iter().map(|(k, s)| segment_row(k, s)).collect();
    table(out, &headers, &align, &rows);
}

fn segment_list(out: &mut String, key: &str, list: &[Segment]) {
    let rows: Vec<(String, &Segment)> = list.iter().map(|s| (s.key.clone(), s)).collect();
    segments(out, key, &rows);
}

/// The report as plain text.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Pipeline report: {} {}",
        clean(&r.policy.name),
        clean(&r.policy.version)
    );
    let hash: String = r.policy.hash.chars().take(12).collect();
    pairs(
        &mut out,
        &[
            ("As of", r.as_of.clone()),
            ("Audience", r.audience.clone()),
            ("Currency", r.currency.clone()),
            (
                "Policy hash",
                if hash.is_empty() {
                    "-".to_owned()
                } else {
                    hash
                },
            ),
        ],
    );

    let t = &r.totals;
    heading(&mut out, SECTIONS[0]);
    table(
        &mut out,
        &["", "Deals", "Amount"],
        &[Left, Right, Right],
        &[
            vec![
                "Opportunities".into(),
                t.opportunities.to_string(),
                String::new(),
            ],
            vec!["Open".into(), t.open.to_string(), t.open_amount.clone()],
            vec!["Won".into(), t.won.to_string(), t.won_amount.clone()],
            vec!["Lost".into(), t.lost.to_string(), t.lost_amount.clone()],
        ],
    );
    out.push('\n');
    pairs(
        &mut out,
        &[
            ("Win rate", percent(t.win_rate)),
            ("Average won deal", opt(t.avg_won.as_deref())),
            ("Won cycle (days)", days(t.won_cycle_days)),
        ],
    );

    heading(&mut out, SECTIONS[1]);
    let rows: Vec<Vec<String>> = r
        .by_stage
        .iter()
        .map(|s| {
            vec![
                s.label.clone(),
                s.stage.clone(),
                s.kind.clone(),
                s.count.to_string(),
                s.amount.clone(),
            ]
        })
        .collect();
    table(
        &mut out,
        &["Stage", "Id", "Kind", "Deals", "Amount"],
        &[Left, Left, Left, Right, Right],
        &rows,
    );

    let q = &r.quality;
    heading(&mut out, SECTIONS[2]);
    pairs(
        &mut out,
        &[
            ("Qualification", share(&q.qualification)),
            ("Close-date accuracy", share(&q.close_date_accuracy)),
        ],
    );
    if let Some(c) = &q.coverage {
        subheading(&mut out, &format!("Coverage {}", clean(&c.period)));
        pairs(
            &mut out,
            &[
                ("Target", c.target.clone()),
                ("Won in period", c.won_in_period.clone()),
                ("Remaining", c.remaining.clone()),
                ("Open in period", c.open_in_period.clone()),
                ("Coverage", times(c.coverage)),
            ],
        );
    }
    subheading(&mut out, "Velocity (days in stage)");
    let rows: Vec<Vec<String>> = q
        .velocity
        .iter()
        .map(|v| {
            vec![
                v.stage.clone(),
                v.stays.to_string(),
                days(v.mean_days),
                days(v.median_days),
                days(v.expected_days),
            ]
        })
        .collect();
    table(
        &mut out,
        &["Stage", "Stays", "Mean", "Median", "Expected"],
        &[Left, Right, Right, Right, Right],
        &rows,
    );

    let c = &r.cosell;
    heading(&mut out, SECTIONS[3]);
    segments(
        &mut out,
        "Deals",
        &[
            ("With co-sell".to_owned(), &c.with_cosell),
            ("Without co-sell".to_owned(), &c.without_cosell),
        ],
    );
    out.push('\n');
    pairs(
        &mut out,
        &[
            (
                "Days to first contact",
                format!(
                    "mean {}, median {} (n={})",
                    days(c.days_to_first_contact.mean),
                    days(c.days_to_first_contact.median),
                    c.days_to_first_contact.count
                ),
            ),
            ("Utilization", share(&c.utilization)),
        ],
    );

    let f = &r.forecast;
    heading(&mut out, SECTIONS[4]);
    pairs(
        &mut out,
        &[
            ("Weighted", f.weighted.clone()),
            ("Hygiene-adjusted", f.hygiene_adjusted.clone()),
        ],
    );
    subheading(&mut out, "Accuracy");
    let rows: Vec<Vec<String>> = f
        .accuracy
        .iter()
        .map(|p| {
            vec![
                p.period.clone(),
                p.forecast.clone(),
                p.actual.clone(),
                percent(p.accuracy),
            ]
        })
        .collect();
    table(
        &mut out,
        &["Period", "Forecast", "Actual", "Accuracy"],
        &[Left, Right, Right, Right],
        &rows,
    );
    subheading(&mut out, "Conversion to won");
    let rows: Vec<Vec<String>> = f
        .conversion
        .iter()
        .map(|s| {
            vec![
                s.stage.clone(),
                s.reached.to_string(),
                s.won.to_string(),
                percent(s.rate),
            ]
        })
        .collect();
    table(
        &mut out,
        &["Stage", "Reached", "Won", "Rate"],
        &[Left, Right, Right, Right],
        &rows,
    );
    let a = &f.aging;
    subheading(&mut out, "Aging");
    pairs(
        &mut out,
        &[
            ("Open amount", a.open_amount.clone()),
            (
                "Aged",
                format!(
                    "{} in {} deals ({})",
                    a.aged_amount,
                    a.aged_count,
                    percent(a.share)
                ),
            ),
            ("Expected cycle (days)", days(Some(a.expected_cycle_days))),
        ],
    );
    let rows: Vec<Vec<String>> = a
        .bands
        .iter()
        .map(|b| vec![b.band.clone(), b.count.to_string(), b.amount.clone()])
        .collect();
    table(
        &mut out,
        &["Age", "Deals", "Amount"],
        &[Left, Right, Right],
        &rows,
    );
    subheading(&mut out, "Hygiene flags");
    let rows: Vec<Vec<String>> = f
        .flags
        .iter()
        .map(|x| vec![x.flag.clone(), x.count.to_string(), x.amount.clone()])
        .collect();
    table(
        &mut out,
        &["Flag", "Deals", "Amount"],
        &[Left, Right, Right],
        &rows,
    );
    subheading(&mut out, &stale_heading(f));
    let rows: Vec<Vec<String>> = f
        .stale
        .iter()
        .map(|d| {
            vec![
                d.id.clone(),
                opt(d.partner.as_deref()),
                d.stage.clone(),
                d.days_in_stage.to_string(),
                d.amount.clone(),
            ]
        })
        .collect();
    table(
        &mut out,
        &["Deal", "Partner", "Stage", "Days in stage", "Amount"],
        &[Left, Left, Left, Right, Right],
        &rows,
    );

    let s = &r.segments;
    for (title, key, list) in [
        (SECTIONS[5], "Tier", &s.tier),
        (SECTIONS[6], "Product", &s.product),
        (SECTIONS[7], "Region", &s.region),
        (SECTIONS[8], "Partner", &s.partner),
        (SECTIONS[9], "Quarter", &s.quarter),
    ] {
        heading(&mut out, title);
        segment_list(&mut out, key, list);
    }

    let g = &r.registration;
    heading(&mut out, SECTIONS[10]);
    pairs(
        &mut out,
        &[
            ("Registrations", g.registrations.to_string()),
            (
                "Hours to decision",
                format!(
                    "mean {}, median {} (n={})",
                    days(g.hours_to_decision.mean),
                    days(g.hours_to_decision.median),
                    g.hours_to_decision.count
                ),
            ),
            ("SLA breaches", g.sla_breaches.to_string()),
            ("Late registrations", g.late.to_string()),
            ("Lift", lift(g.lift)),
        ],
    );
    out.push('\n');
    segments(
        &mut out,
        "Deals",
        &[
            ("Registered".to_owned(), &g.registered),
            ("Unregistered".to_owned(), &g.unregistered),
        ],
    );

    heading(&mut out, SECTIONS[11]);
    let rows: Vec<Vec<String>> = r
        .calibration
        .iter()
        .map(|c| {
            vec![
                c.stage.clone(),
                percent(Some(c.declared)),
                c.reached.to_string(),
                c.won.to_string(),
                percent(c.observed),
                interval(c.low, c.high),
                if c.outside { "yes" } else { "" }.to_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "Stage",
            "Declared",
            "Reached",
            "Won",
            "Observed",
            "95% interval",
            "Outside",
        ],
        &[Left, Right, Right, Right, Right, Right, Left],
        &rows,
    );

    let d = &r.data;
    heading(&mut out, SECTIONS[12]);
    pairs(
        &mut out,
        &[
            (
                "Open deals without account",
                d.open_without_account.to_string(),
            ),
            ("Deals without account", d.without_account.to_string()),
            ("Deals without amount", d.without_amount.to_string()),
        ],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut out = String::new();
        table(
            &mut out,
            &["Name", "N"],
            &[Left, Right],
            &[
                vec!["a".into(), "1".into()],
                vec!["long name".into(), "100".into()],
            ],
        );
        assert_eq!(
            out,
            "  Name         N\n  ---------  ---\n  a            1\n  long name  100\n"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(days(Some(3.26)), "3.3");
        assert_eq!(days(None), "-");
        assert_eq!(times(Some(1.254)), "1.25x");
        assert_eq!(lift(Some(0.125)), "+12.5%");
        assert_eq!(lift(Some(-0.5)), "-50.0%");
        assert_eq!(clean("a\u{1b}[31mb\n"), "a?[31mb?");
    }
}
