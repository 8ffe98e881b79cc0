//! The text, SVG and HTML renderings of a report: every section is there, every
//! value is escaped, empty data draws, and no number comes out as `NaN` or `inf`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use dealflow_analytics::report::svg::{self, Axis};
use dealflow_analytics::report::text::SECTIONS;
use dealflow_analytics::report::*;

const HOSTILE: &str = "<script>&\"'";
const HOSTILE_ESCAPED: &str = "&lt;script&gt;&amp;&quot;&#39;";

fn seg(key: &str, won: u64, lost: u64, won_amount: &str) -> Segment {
    let closed = won + lost;
    Segment {
        key: key.to_owned(),
        won,
        lost,
        open: 3,
        win_rate: (closed > 0).then(|| won as f64 / closed as f64),
        won_amount: won_amount.to_owned(),
        avg_won: (won > 0).then(|| "1000.00".to_owned()),
    }
}

/// A small report with a hostile name in every place a name can go.
fn sample() -> Report {
    let mut r = Report {
        as_of: "2017-12-31T23:59:59Z".into(),
        audience: format!("partner:{HOSTILE}"),
        policy: PolicyRef {
            name: format!("Policy {HOSTILE}"),
            version: "1".into(),
            hash: "abc123".into(),
        },
        currency: "USD".into(),
        ..Report::default()
    };
    r.totals = Totals {
        opportunities: 10,
        open: 4,
        won: 4,
        lost: 2,
        open_amount: "4000.00".into(),
        won_amount: "4000.00".into(),
        lost_amount: "2000.00".into(),
        win_rate: Some(0.6667),
        avg_won: Some("1000.00".into()),
        won_cycle_days: Some(40.25),
    };
    r.by_stage = vec![
        StageCount {
            stage: "a".into(),
            label: format!("Stage {HOSTILE}"),
            kind: "open".into(),
            count: 4,
            amount: "4000.00".into(),
        },
        StageCount {
            stage: "won".into(),
            label: "Won".into(),
            kind: "won".into(),
            count: 4,
            amount: "4000.00".into(),
        },
    ];
    r.forecast.conversion = vec![
        StageConversion {
            stage: "a".into(),
            reached: 6,
            won: 4,
            rate: Some(0.6667),
        },
        StageConversion {
            stage: HOSTILE.into(),
            reached: 0,
            won: 0,
            rate: None,
        },
    ];
    r.forecast.accuracy = vec![
        ForecastPoint {
            period: HOSTILE.into(),
            forecast: "1500.50".into(),
            actual: "0".into(),
            accuracy: None,
        },
        ForecastPoint {
            period: "2017-Q2".into(),
            forecast: "not a number".into(),
            actual: "2500".into(),
            accuracy: Some(0.0),
        },
    ];
    r.forecast.aging = Aging {
        open_amount: "4000.00".into(),
        aged_amount: "0".into(),
        aged_count: 0,
        share: Some(0.0),
        expected_cycle_days: 0.0,
        bands: vec![
            AgeBand {
                band: "0-30d".into(),
                count: 0,
                amount: "0".into(),
            },
            AgeBand {
                band: HOSTILE.into(),
                count: 0,
                amount: "0".into(),
            },
        ],
    };
    r.forecast.stale = vec![Deal {
        id: "D1".into(),
        partner: Some(HOSTILE.into()),
        stage: "a".into(),
        days_in_stage: 99,
        amount: "1000".into(),
    }];
    r.segments = Segments {
        tier: vec![seg("Gold", 3, 1, "3000.00")],
        product: vec![seg("Firewall", 0, 0, "0")],
        region: vec![],
        partner: vec![seg(HOSTILE, 1, 1, "1000.00"), seg("Acme", 0, 2, "0")],
        quarter: vec![seg("2017-Q4", 4, 2, "4000.00")],
    };
    r.calibration = vec![
        Calibration {
            stage: HOSTILE.into(),
            declared: 0.2,
            reached: 6,
            won: 4,
            observed: Some(0.6667),
            low: Some(0.3),
            high: Some(0.9),
            outside: true,
        },
        Calibration {
            stage: "never".into(),
            declared: f64::NAN,
            reached: 0,
            won: 0,
            observed: None,
            low: None,
            high: None,
            outside: false,
        },
    ];
    r
}

fn assert_finite(what: &str, s: &str) {
    for bad in ["NaN", "inf", "Infinity"] {
        assert!(!s.contains(bad), "{what} contains {bad}:\n{s}");
    }
}

/// Every `<svg>` element in `s` with its required accessibility attributes.
fn assert_charts_accessible(s: &str) {
    let mut count = 0;
    for (at, _) in s.match_indices("<svg") {
        count += 1;
        let tag = &s[at..at + s[at..].find('>').unwrap()];
        assert!(tag.contains("role=\"img\""), "{tag}");
        assert!(tag.contains("class=\"chart chart-"), "{tag}");
        let id = tag
            .split("aria-labelledby=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("aria-labelledby");
        assert!(
            s[at..].contains(&format!("<title id=\"{id}\">")),
            "no title {id}"
        );
    }
    assert!(count > 0, "no <svg> found");
}

#[test]
fn text_has_every_section() {
    let text = text::render(&sample());
    for title in SECTIONS {
        assert!(
            text.contains(&format!("\n{title}\n")),
            "no section {title}:\n{text}"
        );
    }
    assert!(text.contains("66.7%"), "{text}");
    assert!(text.contains("40.2") || text.contains("40.3"), "{text}");
    assert_finite("text", &text);
}

#[test]
fn text_of_an_empty_report() {
    let text = text::render(&Report::default());
    for title in SECTIONS {
        assert!(text.contains(title));
    }
    assert!(text.contains("(none)"));
    assert_finite("text", &text);
}

#[test]
fn text_columns_align() {
    let text = text::render(&sample());
    // The by-stage table: every line of a table is as wide as its rule at most, and
    // the numeric column ends at the same place in each row.
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "By stage")
        .skip(2)
        .take(4)
        .collect();
    assert!(
        lines[0].contains("Stage") && lines[0].ends_with("Amount"),
        "{lines:#?}"
    );
    let width = lines[1].chars().count();
    for l in &lines[2..] {
        assert_eq!(l.chars().count(), width, "{lines:#?}");
    }
}

#[test]
fn text_is_deterministic() {
    assert_eq!(text::render(&sample()), text::render(&sample()));
}

#[test]
fn text_cleans_control_characters() {
    let mut r = sample();
    r.policy.name = "evil\u{1b}[2Jname".into();
    let text = text::render(&r);
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("evil?[2Jname"));
}

#[test]
fn svg_escapes_and_stays_finite() {
    let r = sample();
    let rows: Vec<(String, Option<f64>, String)> = r
        .segments
        .partner
        .iter()
        .map(|s| (s.key.clone(), s.win_rate, HOSTILE.to_owned()))
        .collect();
    let charts = [
        svg::funnel(&r.by_stage, &r.forecast.conversion),
        svg::bars("winrate-partner", HOSTILE, &rows, Axis::Percent),
        svg::bars(
            "amounts",
            "Amounts",
            &[
                ("a".into(), Some(1250.0), "1250".into()),
                ("b".into(), Some(f64::NAN), "nan".into()),
                ("c".into(), Some(f64::INFINITY), "inf".into()),
                ("d".into(), Some(-4.0), "neg".into()),
                ("e".into(), None, "-".into()),
            ],
            Axis::Number,
        ),
        svg::aging(&r.forecast.aging),
        svg::calibration(&r.calibration),
        svg::forecast(&r.forecast.accuracy),
    ];
    for chart in &charts {
        // "inf" and "nan" appear above as annotations; check geometry attributes.
        let geometry: String = chart
            .split('"')
            .skip(1)
            .step_by(2)
            .collect::<Vec<_>>()
            .join(" ");
        assert_finite("svg attributes", &geometry);
        assert!(!chart.contains("NaN"), "{chart}");
        assert!(!chart.contains(HOSTILE), "unescaped text in {chart}");
        assert!(!chart.contains("<script"), "unescaped text in {chart}");
        assert!(!chart.contains("http"), "{chart}");
        assert_charts_accessible(chart);
    }
    assert!(charts[1].contains(HOSTILE_ESCAPED));
    // The printed money is the model's string, not a re-formatted float.
    assert!(charts[5].contains("1500.50"));
}

#[test]
fn svg_of_empty_data() {
    let charts = [
        ("funnel", svg::funnel(&[], &[])),
        ("empty", svg::bars("empty", "Empty", &[], Axis::Percent)),
        ("empty", svg::bars("empty", "Empty", &[], Axis::Number)),
        ("aging", svg::aging(&Aging::default())),
        ("calibration", svg::calibration(&[])),
        ("forecast", svg::forecast(&[])),
    ];
    for (name, chart) in &charts {
        assert!(chart.contains("no data"), "{chart}");
        assert!(
            chart.contains(&format!("class=\"chart chart-{name}\"")),
            "{chart}"
        );
        assert_finite(name, chart);
        assert_charts_accessible(chart);
        assert!(chart.ends_with("</svg>"));
    }
}

#[test]
fn svg_of_all_zero_data() {
    let zero = ForecastPoint {
        period: "2017-Q1".into(),
        forecast: "0".into(),
        actual: "0.00".into(),
        accuracy: None,
    };
    let conv = StageConversion {
        stage: "a".into(),
        reached: 0,
        won: 0,
        rate: None,
    };
    for chart in [
        svg::forecast(&[zero]),
        svg::funnel(&[], &[conv]),
        svg::bars(
            "z",
            "Z",
            &[("a".into(), Some(0.0), "0".into())],
            Axis::Number,
        ),
    ] {
        assert_finite("svg", &chart);
        assert_charts_accessible(&chart);
    }
}

#[test]
fn standalone_svg_is_a_document() {
    let chart = svg::standalone(&svg::forecast(&sample().forecast.accuracy));
    assert!(chart.starts_with("<?xml version=\"1.0\""));
    assert!(
        chart.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart chart-forecast\"")
    );
}

#[test]
fn html_is_self_contained_and_escaped() {
    let html = html::render(&sample());
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a URL in the report"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("src="), "an external source in the report");
    assert!(
        !html.contains("<link"),
        "an external style sheet in the report"
    );
    assert!(!html.contains(HOSTILE));
    assert!(html.contains(&format!("Policy {HOSTILE_ESCAPED}")));
    assert!(html.contains("<style>"));
    assert_finite("html", &html);
    assert_charts_accessible(&html);
}

#[test]
fn html_has_every_section_and_figure() {
    let html = html::render(&sample());
    for title in SECTIONS {
        assert!(
            html.contains(&format!(">{title}</h2>")),
            "no section {title}"
        );
    }
    for name in [
        "funnel",
        "winrate-tier",
        "winrate-product",
        "winrate-region",
        "winrate-partner",
        "winrate-quarter",
        "aging",
        "calibration",
        "forecast",
    ] {
        let open = format!("<figure class=\"figure figure-{name}\"");
        let start = html
            .find(&open)
            .unwrap_or_else(|| panic!("no figure-{name}"));
        let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<figcaption>"), "figure-{name}");
        assert!(
            figure.contains(&format!("<svg class=\"chart chart-{name}\"")),
            "figure-{name}"
        );
        let svg_end = figure.find("</svg>").unwrap();
        assert!(
            figure[svg_end..].contains("<table"),
            "figure-{name}: no table after the chart"
        );
    }
    // Header: policy name and version, as_of, audience.
    let header = &html[html.find("<header>").unwrap()..html.find("</header>").unwrap()];
    assert!(header.contains("version 1"));
    assert!(header.contains("2017-12-31T23:59:59Z"));
    assert!(header.contains("partner:&lt;script&gt;"));
}

#[test]
fn html_ids_are_unique() {
    let html = html::render(&sample());
    let mut ids: Vec<&str> = html
        .split(" id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "duplicate ids");
}

#[test]
fn html_of_an_empty_report() {
    let html = html::render(&Report::default());
    assert!(html.contains("no data"));
    assert_finite("html", &html);
    assert_charts_accessible(&html);
}

#[test]
fn html_is_deterministic() {
    assert_eq!(html::render(&sample()), html::render(&sample()));
}

#[test]
fn svg_long_labels_are_cut_with_a_tooltip() {
    let long = "A partner with a very long name & more".to_owned();
    let chart = svg::bars(
        "winrate-partner",
        "Win rate by partner",
        &[(long, Some(0.5), "50.0% of 2 closed".into())],
        Axis::Percent,
    );
    assert!(chart.contains("<title>A partner with a very long name &amp; more</title>"));
    assert!(chart.contains("A partner with a very l\u{2026}"));
}

#[test]
fn svg_funnel_uses_stage_labels() {
    let r = sample();
    let chart = svg::funnel(&r.by_stage, &r.forecast.conversion);
    assert!(chart.contains("Stage &lt;script&gt;"), "{chart}");
    assert!(chart.contains("6 reached, 4 won, 66.7%; 4 now"), "{chart}");
}
