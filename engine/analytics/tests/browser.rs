//! The HTML report in a real browser: headless Chromium renders a realistic sample
//! report to a screenshot (which must not be blank) and dumps its DOM (which must hold
//! every figure with its chart), and logs nothing to the console.
//!
//! Skipped, through `dealflow_tests::skip`, where no Chromium is installed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dealflow_analytics::report::*;

const TEST: &str = "browser::report_renders";
/// The longest one Chromium run may take before it is killed.
const DEADLINE: Duration = Duration::from_secs(60);
/// The figures the report must hold, each with a chart.
const FIGURES: [&str; 9] = [
    "funnel",
    "winrate-tier",
    "winrate-product",
    "winrate-region",
    "winrate-partner",
    "winrate-quarter",
    "aging",
    "calibration",
    "forecast",
];

/// Rates in the model are rounded to 4 decimals.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn seg(key: &str, won: u64, lost: u64, open: u64, won_amount: &str, avg: Option<&str>) -> Segment {
    let closed = won + lost;
    Segment {
        key: key.to_owned(),
        won,
        lost,
        open,
        win_rate: (closed > 0).then(|| round4(won as f64 / closed as f64)),
        won_amount: won_amount.to_owned(),
        avg_won: avg.map(str::to_owned),
    }
}

fn stage(stage: &str, label: &str, kind: &str, count: u64, amount: &str) -> StageCount {
    StageCount {
        stage: stage.into(),
        label: label.into(),
        kind: kind.into(),
        count,
        amount: amount.into(),
    }
}

fn rate(numerator: u64, denominator: u64) -> Rate {
    Rate {
        numerator,
        denominator,
        rate: (denominator > 0).then(|| round4(numerator as f64 / denominator as f64)),
    }
}

fn calib(
    stage: &str,
    declared: f64,
    reached: u64,
    won: u64,
    low: f64,
    high: f64,
    outside: bool,
) -> Calibration {
    Calibration {
        stage: stage.into(),
        declared,
        reached,
        won,
        observed: (reached > 0).then(|| round4(won as f64 / reached as f64)),
        low: (reached > 0).then_some(low),
        high: (reached > 0).then_some(high),
        outside,
    }
}

/// A vendor report over a year of a mid-sized channel program.
fn sample() -> Report {
    Report {
        as_of: "2017-12-31T23:59:59Z".into(),
        audience: "vendor".into(),
        policy: PolicyRef {
            name: "Standard Channel Program".into(),
            version: "2026.1".into(),
            hash: "5f0c3a9e1b7d4c2a8e6f0b1d3c5a7e9f2b4d6f8a0c2e4a6b8d0f2a4c6e8b0d2f".into(),
        },
        currency: "USD".into(),
        totals: Totals {
            opportunities: 412,
            open: 148,
            won: 171,
            lost: 93,
            open_amount: "18450000.00".into(),
            won_amount: "21309500.00".into(),
            lost_amount: "9877000.00".into(),
            win_rate: Some(0.6477),
            avg_won: Some("124617.00".into()),
            won_cycle_days: Some(86.4),
        },
        by_stage: vec![
            stage("Identification", "Identification", "open", 41, "3120000.00"),
            stage("Qualification", "Qualification", "open", 37, "4410000.00"),
            stage(
                "SolutionDevelopment",
                "Solution Development",
                "open",
                29,
                "4975000.00",
            ),
            stage(
                "ProposalEvaluation",
                "Proposal/Evaluation",
                "open",
                24,
                "3560000.00",
            ),
            stage(
                "NegotiationClosing",
                "Negotiation/Closing",
                "open",
                17,
                "2385000.00",
            ),
            stage("ClosedWon", "Closed Won", "won", 171, "21309500.00"),
            stage("ClosedLost", "Closed Lost", "lost", 93, "9877000.00"),
        ],
        quality: Quality {
            qualification: rate(301, 356),
            velocity: vec![
                StageVelocity {
                    stage: "Identification".into(),
                    stays: 350,
                    mean_days: Some(12.3),
                    median_days: Some(10.0),
                    expected_days: Some(14.0),
                },
                StageVelocity {
                    stage: "Qualification".into(),
                    stays: 301,
                    mean_days: Some(24.8),
                    median_days: Some(19.0),
                    expected_days: Some(21.0),
                },
                StageVelocity {
                    stage: "SolutionDevelopment".into(),
                    stays: 0,
                    mean_days: None,
                    median_days: None,
                    expected_days: Some(30.0),
                },
            ],
            close_date_accuracy: rate(198, 264),
            coverage: Some(Coverage {
                period: "2017-Q4".into(),
                target: "7500000.00".into(),
                won_in_period: "4210000.00".into(),
                remaining: "3290000.00".into(),
                open_in_period: "9120000.00".into(),
                coverage: Some(2.772),
            }),
        },
        cosell: Cosell {
            with_cosell: seg("with", 88, 31, 52, "13020000.00", Some("147954.55")),
            without_cosell: seg("without", 83, 62, 96, "8289500.00", Some("99873.49")),
            days_to_first_contact: Stat {
                count: 171,
                mean: Some(3.4),
                median: Some(2.0),
            },
            utilization: rate(52, 77),
        },
        forecast: Forecast {
            weighted: "6905500.00".into(),
            hygiene_adjusted: "5874250.00".into(),
            accuracy: vec![
                ForecastPoint {
                    period: "2017-Q1".into(),
                    forecast: "4100000.00".into(),
                    actual: "4655000.00".into(),
                    accuracy: Some(0.8808),
                },
                ForecastPoint {
                    period: "2017-Q2".into(),
                    forecast: "5300000.00".into(),
                    actual: "5012500.00".into(),
                    accuracy: Some(0.9426),
                },
                ForecastPoint {
                    period: "2017-Q3".into(),
                    forecast: "6020000.00".into(),
                    actual: "7432000.00".into(),
                    accuracy: Some(0.81),
                },
                ForecastPoint {
                    period: "2017-Q4".into(),
                    forecast: "6400000.00".into(),
                    actual: "0".into(),
                    accuracy: None,
                },
            ],
            conversion: vec![
                StageConversion {
                    stage: "Identification".into(),
                    reached: 264,
                    won: 171,
                    rate: Some(0.6477),
                },
                StageConversion {
                    stage: "Qualification".into(),
                    reached: 240,
                    won: 171,
                    rate: Some(0.7125),
                },
                StageConversion {
                    stage: "SolutionDevelopment".into(),
                    reached: 214,
                    won: 169,
                    rate: Some(0.7897),
                },
                StageConversion {
                    stage: "ProposalEvaluation".into(),
                    reached: 196,
                    won: 168,
                    rate: Some(0.8571),
                },
                StageConversion {
                    stage: "NegotiationClosing".into(),
                    reached: 180,
                    won: 166,
                    rate: Some(0.9222),
                },
            ],
            aging: Aging {
                open_amount: "18450000.00".into(),
                aged_amount: "4120000.00".into(),
                aged_count: 31,
                share: Some(0.2233),
                expected_cycle_days: 125.0,
                bands: vec![
                    AgeBand {
                        band: "0-30d".into(),
                        count: 44,
                        amount: "5210000.00".into(),
                    },
                    AgeBand {
                        band: "31-60d".into(),
                        count: 35,
                        amount: "4470000.00".into(),
                    },
                    AgeBand {
                        band: "61-90d".into(),
                        count: 22,
                        amount: "2980000.00".into(),
                    },
                    AgeBand {
                        band: "91-180d".into(),
                        count: 26,
                        amount: "3100000.00".into(),
                    },
                    AgeBand {
                        band: "181-365d".into(),
                        count: 15,
                        amount: "2090000.00".into(),
                    },
                    AgeBand {
                        band: ">365d".into(),
                        count: 6,
                        amount: "600000.00".into(),
                    },
                ],
            },
            flags: vec![
                FlagCount {
                    flag: "stale".into(),
                    count: 23,
                    amount: "3010000.00".into(),
                },
                FlagCount {
                    flag: "inactive".into(),
                    count: 41,
                    amount: "5660000.00".into(),
                },
                FlagCount {
                    flag: "overdue".into(),
                    count: 12,
                    amount: "1430000.00".into(),
                },
            ],
            stale_count: 23,
            stale: vec![
                Deal {
                    id: "OPP-10231".into(),
                    partner: Some("Northwind Systems".into()),
                    stage: "SolutionDevelopment".into(),
                    days_in_stage: 97,
                    amount: "640000.00".into(),
                },
                Deal {
                    id: "OPP-10987".into(),
                    partner: None,
                    stage: "Qualification".into(),
                    days_in_stage: 58,
                    amount: "310000.00".into(),
                },
            ],
        },
        segments: Segments {
            tier: vec![
                seg("Platinum", 61, 19, 40, "9120000.00", Some("149508.20")),
                seg("Gold", 58, 31, 52, "7010000.00", Some("120862.07")),
                seg("Silver", 52, 43, 56, "5179500.00", Some("99605.77")),
            ],
            product: vec![
                seg("Firewall", 70, 30, 51, "8800000.00", Some("125714.29")),
                seg("SASE", 55, 35, 60, "7200000.00", Some("130909.09")),
                seg("Endpoint", 46, 28, 37, "5309500.00", Some("115423.91")),
            ],
            region: vec![
                seg("AMER", 90, 41, 70, "11700000.00", Some("130000.00")),
                seg("EMEA", 57, 36, 55, "6809500.00", Some("119464.91")),
                seg("APAC", 24, 16, 23, "2800000.00", Some("116666.67")),
            ],
            partner: vec![
                seg(
                    "Northwind Systems",
                    40,
                    9,
                    22,
                    "5600000.00",
                    Some("140000.00"),
                ),
                seg(
                    "Contoso Networks & Security",
                    35,
                    20,
                    30,
                    "4100000.00",
                    Some("117142.86"),
                ),
                seg(
                    "Fabrikam <Integration> \"Partners\"",
                    30,
                    25,
                    28,
                    "3200000.00",
                    Some("106666.67"),
                ),
                seg("Tailspin Cloud", 0, 0, 9, "0", None),
            ],
            quarter: vec![
                seg("2017-Q1", 38, 22, 0, "4655000.00", Some("122500.00")),
                seg("2017-Q2", 41, 24, 0, "5012500.00", Some("122256.10")),
                seg("2017-Q3", 57, 26, 0, "7432000.00", Some("130385.96")),
                seg("2017-Q4", 35, 21, 0, "4210000.00", Some("120285.71")),
            ],
        },
        registration: Registration {
            registrations: 356,
            hours_to_decision: Stat {
                count: 340,
                mean: Some(19.6),
                median: Some(12.0),
            },
            sla_breaches: 14,
            late: 9,
            registered: seg("registered", 160, 80, 140, "20100000.00", Some("125625.00")),
            unregistered: seg("unregistered", 11, 13, 8, "1209500.00", Some("109954.55")),
            lift: Some(0.4545),
        },
        calibration: vec![
            calib("Identification", 0.1, 264, 171, 0.5883, 0.7028, true),
            calib("Qualification", 0.2, 240, 171, 0.6522, 0.7662, true),
            calib("SolutionDevelopment", 0.4, 214, 169, 0.7304, 0.8388, true),
            calib("ProposalEvaluation", 0.6, 196, 168, 0.8016, 0.8999, true),
            calib("NegotiationClosing", 0.8, 180, 166, 0.8736, 0.9531, true),
            calib("ClosedWon", 1.0, 0, 0, 0.0, 0.0, false),
        ],
        data: DataQuality {
            open_without_account: 3,
            without_account: 7,
            without_amount: 2,
        },
    }
}

/// The first of `chromium`, `chromium-browser`, `google-chrome` found on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
}

/// What one Chromium run left: its exit status, standard output and error.
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs Chromium headless with `args` then `url`, killing it (and the processes it
/// started, through its process group) after [`DEADLINE`]. Output goes to files, not
/// pipes, so a large `--dump-dom` cannot block it on a full pipe.
fn chromium(bin: &Path, work: &Path, tag: &str, args: &[String], url: &str) -> Run {
    use std::os::unix::process::CommandExt as _;

    let out_path = work.join(format!("{tag}.stdout"));
    let err_path = work.join(format!("{tag}.stderr"));
    let profile = work.join(format!("{tag}.profile"));
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            // The whole group: Chromium's renderer and GPU processes too.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
            panic!(
                "chromium {args:?} did not finish within {}s; stderr:\n{stderr}",
                DEADLINE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        success: status.success(),
        code: status.code(),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// The lines of Chromium's log that report the page's console or an uncaught
/// exception. Chromium logs a console message as `INFO:CONSOLE(12)] "..."` in older
/// releases and `INFO:CONSOLE:12] "..."` in newer ones (156 does); both are matched,
/// and [`console_errors_are_seen`] checks on a noisy page that the installed one's are.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE(") || l.contains("CONSOLE:") || l.contains("Uncaught"))
        .collect()
}

/// The share of pixels that differ from the most common colour.
fn non_background_share(png_path: &Path) -> (f64, u32, u32) {
    let mut decoder = png::Decoder::new(File::open(png_path).unwrap());
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let samples = info.color_type.samples();
    let bytes = &buf[..info.buffer_size()];
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    for px in bytes.chunks_exact(samples) {
        *counts.entry(px).or_default() += 1;
    }
    let total: u64 = counts.values().sum();
    let background = counts.values().copied().max().unwrap_or(0);
    let share = if total == 0 {
        0.0
    } else {
        (total - background) as f64 / total as f64
    };
    (share, info.width, info.height)
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn report_renders() {
    let Some(bin) = find_chromium() else {
        dealflow_tests::skip(TEST, "chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let html_path = work.join("report.html");
    let html = html::render(&sample());
    std::fs::write(&html_path, &html).unwrap();
    let url = file_url(&html_path);

    // Screenshot: the page paints, and paints more than a background.
    let shot = work.join("report.png");
    let run = chromium(
        &bin,
        &work,
        "screenshot",
        &[format!("--screenshot={}", shot.display())],
        &url,
    );
    assert!(
        run.success,
        "chromium --screenshot exited {:?}; stderr:\n{}",
        run.code, run.stderr
    );
    assert!(
        shot.is_file(),
        "no screenshot written; stderr:\n{}",
        run.stderr
    );
    let (share, width, height) = non_background_share(&shot);
    assert!(
        width >= 1000 && height >= 1000,
        "screenshot is {width}x{height}"
    );
    assert!(
        share > 0.01,
        "screenshot is blank: {:.3}% of pixels differ from the background",
        share * 100.0
    );
    // The report has no script, so the page itself can log nothing to the console;
    // a console line would come from the browser refusing something (a blocked
    // load: the page's Content-Security-Policy forbids every fetch) or from a script
    // that should not be there (`Uncaught ...`). Either is a defect of the report.
    let console = console_lines(&run.stderr);
    assert!(
        console.is_empty(),
        "console output while rendering: {console:#?}"
    );

    // DOM: every figure, each with its chart and its title.
    let run = chromium(&bin, &work, "dom", &["--dump-dom".to_owned()], &url);
    assert!(
        run.success,
        "chromium --dump-dom exited {:?}; stderr:\n{}",
        run.code, run.stderr
    );
    let dom = &run.stdout;
    assert!(dom.contains("<title>"), "no <title> in the DOM:\n{dom}");
    for name in FIGURES {
        let open = format!("class=\"figure figure-{name}\"");
        let start = dom
            .find(&open)
            .unwrap_or_else(|| panic!("figure-{name} is missing from the DOM"));
        let end = dom[start..]
            .find("</figure>")
            .map(|e| start + e)
            .unwrap_or_else(|| panic!("figure-{name} is not closed in the DOM"));
        let figure = &dom[start..end];
        assert!(figure.contains("<svg"), "figure-{name} has no <svg>");
        assert!(
            figure.contains(&format!("class=\"chart chart-{name}\"")),
            "figure-{name} has no svg of class chart chart-{name}"
        );
        assert!(
            figure.contains("<title"),
            "figure-{name}'s chart has no <title>"
        );
        assert!(figure.contains("<table"), "figure-{name} has no data table");
    }
    // The escaped partner name comes back as text, not markup.
    assert!(
        dom.contains("Fabrikam &lt;Integration&gt;"),
        "partner name not escaped in the DOM"
    );
    assert!(
        !dom.contains("<integration>"),
        "partner name parsed as markup"
    );
    let console = console_lines(&run.stderr);
    assert!(
        console.is_empty(),
        "console output while loading: {console:#?}"
    );
}

/// The console check is not vacuous: a page that logs an error shows up in
/// Chromium's log as the test expects.
#[test]
fn console_errors_are_seen() {
    let Some(bin) = find_chromium() else {
        dealflow_tests::skip(
            "browser::console_errors_are_seen",
            "chromium is not installed (apt-get install chromium)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let page = work.join("noisy.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><title>noisy</title></head><body><p>noisy</p>\
         <script>console.error('dealflow-canary'); undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let run = chromium(
        &bin,
        &work,
        "noisy",
        &["--dump-dom".to_owned()],
        &file_url(&page),
    );
    assert!(
        run.success,
        "chromium exited {:?}; stderr:\n{}",
        run.code, run.stderr
    );
    let console = console_lines(&run.stderr);
    assert!(
        console.iter().any(|l| l.contains("dealflow-canary")),
        "the canary's console.error is not in chromium's log:\n{}",
        run.stderr
    );
    assert!(
        console.iter().any(|l| l.contains("Uncaught")),
        "the canary's uncaught error is not in chromium's log:\n{}",
        run.stderr
    );
}

/// `tests/fixtures/report-sample.json` is this sample as `dealflow report --format
/// json` would print it, for whoever needs a report's JSON shape; it must follow
/// the model. Regenerate it with `DEALFLOW_UPDATE_FIXTURES=1`.
#[test]
fn sample_fixture_follows_the_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-sample.json");
    let json = serde_json::to_string_pretty(&sample()).unwrap() + "\n";
    if std::env::var("DEALFLOW_UPDATE_FIXTURES").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &json).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let current: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        stored,
        current,
        "{} is out of date: rerun with DEALFLOW_UPDATE_FIXTURES=1",
        path.display()
    );
}
