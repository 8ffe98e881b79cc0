//! The report as one self-contained HTML5 file: an inline style sheet, inline SVG
//! charts, no script, no font, no external asset and no URL at all (a
//! `Content-Security-Policy` meta tag forbids loading anything). The sections are
//! the text report's ([`super::text::SECTIONS`]); each chart sits in a
//! `<figure class="figure figure-<name>">` with a caption and, after it, its data
//! as a table. Every value from the model is escaped.

use std::fmt::Write as _;

use super::model::*;
use super::svg::{self, escape, percent, Axis};
use super::text::{days, interval, lift, opt, share, stale_heading, times, SECTIONS};

const STYLE: &str = "\
:root{color-scheme:light;--ink:#1f2933;--muted:#616e7c;--rule:#d9e2ec;--bg:#ffffff;--band:#f5f7fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",sans-serif}
header{padding:24px 32px;border-bottom:1px solid var(--rule);background:var(--band)}
header h1{margin:0 0 4px;font-size:24px}
header .policy{margin:0 0 12px;font-size:17px}
header .policy .version{color:var(--muted)}
main{max-width:1100px;padding:8px 32px 48px}
section{margin:28px 0;border-top:1px solid var(--rule)}
h2{font-size:20px;margin:16px 0 10px}
h3{font-size:16px;margin:18px 0 8px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid var(--rule);text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--ink)}
td.num,th.num{text-align:right;white-space:nowrap}
td.empty{color:var(--muted);font-style:italic}
table.kv th{font-weight:normal;color:var(--muted)}
figure{margin:16px 0 20px;padding:12px;border:1px solid var(--rule);border-radius:6px}
figcaption{font-weight:600;margin-bottom:8px}
svg.chart{display:block;width:100%;max-width:820px;height:auto}
details{margin-top:8px}
summary{cursor:pointer;color:var(--muted)}
.flag-outside{color:#c2362b;font-weight:600}
footer{padding:16px 32px;color:var(--muted);border-top:1px solid var(--rule);font-size:13px}
@media print{details{display:block}details>summary{display:none}figure{break-inside:avoid}}
";

/// One table cell: its text and whether it is a number (right-aligned).
struct Cell {
    text: String,
    num: bool,
}

fn t(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        num: false,
    }
}

fn n(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        num: true,
    }
}

/// A table with a header row; one row saying "none" when there are no rows.
fn table(out: &mut String, class: &str, headers: &[Cell], rows: &[Vec<Cell>]) {
    let _ = write!(out, "<table class=\"{}\"><thead><tr>", escape(class));
    for h in headers {
        if h.num {
            let _ = write!(
                out,
                "<th scope=\"col\" class=\"num\">{}</th>",
                escape(&h.text)
            );
        } else {
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape(&h.text));
        }
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td class=\"empty\" colspan=\"{}\">none</td></tr>",
            headers.len().max(1)
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            if c.num {
                let _ = write!(out, "<td class=\"num\">{}</td>", escape(&c.text));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(&c.text));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

/// Label/value rows.
fn pairs(out: &mut String, items: &[(&str, String)]) {
    out.push_str("<table class=\"kv\"><tbody>");
    for (k, v) in items {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    out.push_str("</tbody></table>\n");
}

/// A chart in its figure, with its data table after it.
fn figure(out: &mut String, name: &str, caption: &str, chart: &str, data: &str) {
    let name = escape(name);
    let _ = write!(
        out,
        "<figure class=\"figure figure-{name}\" id=\"figure-{name}\">\
         <figcaption>{}</figcaption>\n{chart}\n\
         <details><summary>Data</summary>\n{data}</details></figure>\n",
        escape(caption)
    );
}

fn section_open(out: &mut String, title: &str) {
    let id: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "<section id=\"{}\"><h2>{}</h2>",
        escape(&id),
        escape(title)
    );
}

fn h3(out: &mut String, title: &str) {
    let _ = writeln!(out, "<h3>{}</h3>", escape(title));
}

fn segment_headers(key: &str) -> Vec<Cell> {
    vec![
        t(key),
        n("Won"),
        n("Lost"),
        n("Open"),
        n("Win rate"),
        n("Won amount"),
        n("Avg won"),
    ]
}

fn segment_row(key: &str, s: &Segment) -> Vec<Cell> {
    vec![
        t(key),
        n(s.won.to_string()),
        n(s.lost.to_string()),
        n(s.open.to_string()),
        n(percent(s.win_rate)),
        n(s.won_amount.clone()),
        n(opt(s.avg_won.as_deref())),
    ]
}

fn segment_table(out: &mut String, key: &str, rows: &[(&str, &Segment)]) {
    let rows: Vec<Vec<Cell>> = rows.iter().map(|(k, s)| segment_row(k, s)).collect();
    table(out, "segments", &segment_headers(key), &rows);
}

/// A win-rate section: the bar chart of win rate per segment and its table.
fn winrate(out: &mut String, title: &str, name: &str, key: &str, list: &[Segment]) {
    section_open(out, title);
    let rows: Vec<(String, Option<f64>, String)> = list
        .iter()
        .map(|s| {
            let closed = s.won + s.lost;
            let note = if closed == 0 {
                "no closed deals".to_owned()
            } else {
                format!("{} of {closed} closed", percent(s.win_rate))
            };
            (s.key.clone(), s.win_rate, note)
        })
        .collect();
    let chart = svg::bars(name, title, &rows, Axis::Percent);
    let mut data = String::new();
    let rows: Vec<(&str, &Segment)> = list.iter().map(|s| (s.key.as_str(), s)).collect();
    segment_table(&mut data, key, &rows);
    figure(out, name, title, &chart, &data);
    out.push_str("</section>\n");
}

/// The report as one self-contained HTML5 document.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let name = escape(&r.policy.name);
    let version = escape(&r.policy.version);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Pipeline report: {name} {version}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>Pipeline report</h1>\
         <p class=\"policy\"><span class=\"name\">{name}</span> <span class=\"version\">version {version}</span></p>\
         <dl class=\"meta\"><dt>As of</dt><dd class=\"as-of\">{}</dd>\
         <dt>Audience</dt><dd class=\"audience\">{}</dd>\
         <dt>Currency</dt><dd class=\"currency\">{}</dd></dl></header>\n<main>\n",
        escape(&r.as_of),
        escape(&r.audience),
        escape(&r.currency),
    );

    // Totals.
    let tt = &r.totals;
    section_open(&mut out, SECTIONS[0]);
    table(
        &mut out,
        "totals",
        &[t(""), n("Deals"), n("Amount")],
        &[
            vec![t("Opportunities"), n(tt.opportunities.to_string()), n("")],
            vec![t("Open"), n(tt.open.to_string()), n(tt.open_amount.clone())],
            vec![t("Won"), n(tt.won.to_string()), n(tt.won_amount.clone())],
            vec![t("Lost"), n(tt.lost.to_string()), n(tt.lost_amount.clone())],
        ],
    );
    pairs(
        &mut out,
        &[
            ("Win rate", percent(tt.win_rate)),
            ("Average won deal", opt(tt.avg_won.as_deref())),
            ("Won cycle (days)", days(tt.won_cycle_days)),
        ],
    );
    out.push_str("</section>\n");

    // By stage.
    section_open(&mut out, SECTIONS[1]);
    let rows: Vec<Vec<Cell>> = r
        .by_stage
        .iter()
        .map(|s| {
            vec![
                t(s.label.clone()),
                t(s.stage.clone()),
                t(s.kind.clone()),
                n(s.count.to_string()),
                n(s.amount.clone()),
            ]
        })
        .collect();
    table(
        &mut out,
        "stages",
        &[t("Stage"), t("Id"), t("Kind"), n("Deals"), n("Amount")],
        &rows,
    );
    out.push_str("</section>\n");

    // Pipeline quality.
    let q = &r.quality;
    section_open(&mut out, SECTIONS[2]);
    pairs(
        &mut out,
        &[
            ("Qualification", share(&q.qualification)),
            ("Close-date accuracy", share(&q.close_date_accuracy)),
        ],
    );
    if let Some(c) = &q.coverage {
        h3(&mut out, &format!("Coverage {}", c.period));
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
    h3(&mut out, "Velocity (days in stage)");
    let rows: Vec<Vec<Cell>> = q
        .velocity
        .iter()
        .map(|v| {
            vec![
                t(v.stage.clone()),
                n(v.stays.to_string()),
                n(days(v.mean_days)),
                n(days(v.median_days)),
                n(days(v.expected_days)),
            ]
        })
        .collect();
    table(
        &mut out,
        "velocity",
        &[
            t("Stage"),
            n("Stays"),
            n("Mean"),
            n("Median"),
            n("Expected"),
        ],
        &rows,
    );
    out.push_str("</section>\n");

    // Co-sell impact.
    let c = &r.cosell;
    section_open(&mut out, SECTIONS[3]);
    segment_table(
        &mut out,
        "Deals",
        &[
            ("With co-sell", &c.with_cosell),
            ("Without co-sell", &c.without_cosell),
        ],
    );
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
    out.push_str("</section>\n");

    // Forecast.
    let f = &r.forecast;
    section_open(&mut out, SECTIONS[4]);
    pairs(
        &mut out,
        &[
            ("Weighted", f.weighted.clone()),
            ("Hygiene-adjusted", f.hygiene_adjusted.clone()),
        ],
    );
    let mut data = String::new();
    let rows: Vec<Vec<Cell>> = f
        .accuracy
        .iter()
        .map(|p| {
            vec![
                t(p.period.clone()),
                n(p.forecast.clone()),
                n(p.actual.clone()),
                n(percent(p.accuracy)),
            ]
        })
        .collect();
    table(
        &mut data,
        "forecast",
        &[t("Period"), n("Forecast"), n("Actual"), n("Accuracy")],
        &rows,
    );
    figure(
        &mut out,
        "forecast",
        "Forecast accuracy by quarter",
        &svg::forecast(&f.accuracy),
        &data,
    );

    let mut data = String::new();
    let rows: Vec<Vec<Cell>> = f
        .conversion
        .iter()
        .map(|s| {
            let now = r
                .by_stage
                .iter()
                .find(|b| b.stage == s.stage)
                .map_or_else(|| "-".to_owned(), |b| b.count.to_string());
            vec![
                t(s.stage.clone()),
                n(s.reached.to_string()),
                n(s.won.to_string()),
                n(percent(s.rate)),
                n(now),
            ]
        })
        .collect();
    table(
        &mut data,
        "conversion",
        &[t("Stage"), n("Reached"), n("Won"), n("Rate"), n("Now")],
        &rows,
    );
    figure(
        &mut out,
        "funnel",
        "Conversion to won by stage",
        &svg::funnel(&r.by_stage, &f.conversion),
        &data,
    );

    let a = &f.aging;
    h3(&mut out, "Aging");
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
    let mut data = String::new();
    let rows: Vec<Vec<Cell>> = a
        .bands
        .iter()
        .map(|b| {
            vec![
                t(b.band.clone()),
                n(b.count.to_string()),
                n(b.amount.clone()),
            ]
        })
        .collect();
    table(
        &mut data,
        "aging",
        &[t("Age"), n("Deals"), n("Amount")],
        &rows,
    );
    figure(
        &mut out,
        "aging",
        "Open pipeline by age band",
        &svg::aging(a),
        &data,
    );

    h3(&mut out, "Hygiene flags");
    let rows: Vec<Vec<Cell>> = f
        .flags
        .iter()
        .map(|x| {
            vec![
                t(x.flag.clone()),
                n(x.count.to_string()),
                n(x.amount.clone()),
            ]
        })
        .collect();
    table(
        &mut out,
        "flags",
        &[t("Flag"), n("Deals"), n("Amount")],
        &rows,
    );
    h3(&mut out, &stale_heading(f));
    let rows: Vec<Vec<Cell>> = f
        .stale
        .iter()
        .map(|d| {
            vec![
                t(d.id.clone()),
                t(opt(d.partner.as_deref())),
                t(d.stage.clone()),
                n(d.days_in_stage.to_string()),
                n(d.amount.clone()),
            ]
        })
        .collect();
    table(
        &mut out,
        "stale",
        &[
            t("Deal"),
            t("Partner"),
            t("Stage"),
            n("Days in stage"),
            n("Amount"),
        ],
        &rows,
    );
    out.push_str("</section>\n");

    // Win rate by segment.
    let s = &r.segments;
    winrate(&mut out, SECTIONS[5], "winrate-tier", "Tier", &s.tier);
    winrate(
        &mut out,
        SECTIONS[6],
        "winrate-product",
        "Product",
        &s.product,
    );
    winrate(&mut out, SECTIONS[7], "winrate-region", "Region", &s.region);
    winrate(
        &mut out,
        SECTIONS[8],
        "winrate-partner",
        "Partner",
        &s.partner,
    );
    winrate(
        &mut out,
        SECTIONS[9],
        "winrate-quarter",
        "Quarter",
        &s.quarter,
    );

    // Registration.
    let g = &r.registration;
    section_open(&mut out, SECTIONS[10]);
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
    segment_table(
        &mut out,
        "Deals",
        &[
            ("Registered", &g.registered),
            ("Unregistered", &g.unregistered),
        ],
    );
    out.push_str("</section>\n");

    // Calibration.
    section_open(&mut out, SECTIONS[11]);
    let mut data = String::new();
    let rows: Vec<Vec<Cell>> = r
        .calibration
        .iter()
        .map(|c| {
            vec![
                t(c.stage.clone()),
                n(percent(Some(c.declared))),
                n(c.reached.to_string()),
                n(c.won.to_string()),
                n(percent(c.observed)),
                n(interval(c.low, c.high)),
                t(if c.outside { "yes" } else { "" }),
            ]
        })
        .collect();
    table(
        &mut data,
        "calibration",
        &[
            t("Stage"),
            n("Declared"),
            n("Reached"),
            n("Won"),
            n("Observed"),
            n("95% interval"),
            t("Outside"),
        ],
        &rows,
    );
    figure(
        &mut out,
        "calibration",
        "Declared stage probability against observed win rate",
        &svg::calibration(&r.calibration),
        &data,
    );
    out.push_str("</section>\n");

    // Data quality.
    let d = &r.data;
    section_open(&mut out, SECTIONS[12]);
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
    out.push_str("</section>\n");

    let _ = write!(
        out,
        "</main>\n<footer>Policy {name} {version}, hash <code>{}</code>.</footer>\n</body>\n</html>\n",
        escape(&r.policy.hash)
    );
    out
}
