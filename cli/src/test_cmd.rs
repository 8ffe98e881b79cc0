//! `dealflow test`: run a policy's decision test cases and report the results and rule
//! coverage as human text, JUnit XML or JSON.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dealflow_engine::cases::{check, Mismatch, TestCase, TestFile};
use dealflow_engine::decision::RuleOutcome;
use dealflow_engine::rules::RuleInfo;
use dealflow_engine::{Action, Audience, Context, Decision, Policy};
use serde::Serialize;

use crate::files::{display_path, report_error};
use crate::inputs::{
    describe_record_errors, load_context, load_policy, load_record, parse_now, InputError,
};
use crate::term::{block, clean};
use crate::{ExitStatus, TestArgs, TestFormat};

/// Rule ids seen across all decisions: exercised (pass or fail) and merely skipped.
#[derive(Default)]
struct Coverage {
    exercised: BTreeSet<String>,
    seen: BTreeSet<String>,
}

impl Coverage {
    fn add(&mut self, d: &Decision) {
        for r in &d.reasons {
            self.seen.insert(r.rule.clone());
            if matches!(r.outcome, RuleOutcome::Pass | RuleOutcome::Fail) {
                self.exercised.insert(r.rule.clone());
            }
        }
    }
}

/// How one case ended.
enum Outcome {
    Pass,
    /// The decision differs from the expectation.
    Fail {
        mismatches: Vec<Mismatch>,
        failing_rules: Vec<FailingRule>,
    },
    /// The case could not run (invalid record, bad action, ...): why.
    Error {
        problems: Vec<String>,
    },
}

/// A rule that failed in a failing case's decision.
#[derive(Serialize)]
struct FailingRule {
    rule: String,
    location: String,
    message: String,
}

/// One case's result.
struct CaseResult {
    name: String,
    outcome: Outcome,
    seconds: f64,
}

/// The results of one cases file.
struct FileResult {
    path: String,
    cases: Vec<CaseResult>,
}

impl FileResult {
    fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| pred(&c.outcome)).count()
    }
}

/// A whole run: every file's results and the rule coverage.
struct Report {
    policy: String,
    files: Vec<FileResult>,
    rules: Vec<RuleInfo>,
    coverage: Coverage,
}

impl Report {
    fn count(&self, pred: impl Fn(&Outcome) -> bool + Copy) -> usize {
        self.files.iter().map(|f| f.count(pred)).sum()
    }
    fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Pass))
    }
    /// Cases whose decision differs from the expectation.
    fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Fail { .. }))
    }
    /// Cases that could not run.
    fn errors(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Error { .. }))
    }
    fn seconds(&self) -> f64 {
        self.files
            .iter()
            .flat_map(|f| &f.cases)
            .map(|c| c.seconds)
            .sum()
    }
}

/// Runs `dealflow test`.
pub fn run(args: &TestArgs) -> ExitStatus {
    let Some(policy) = load_policy(&args.policy) else {
        return ExitStatus::Error;
    };
    let mut files = Vec::new();
    for path in &args.cases {
        match load_cases(path) {
            Ok(f) => files.push((path.clone(), f)),
            Err(message) => {
                report_error(message);
                return ExitStatus::Error;
            }
        }
    }
    let mut coverage = Coverage::default();
    let mut results = Vec::with_capacity(files.len());
    for (path, file) in &files {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let cases = file
            .cases
            .iter()
            .map(|case| {
                let started = Instant::now();
                let outcome = match run_case(&policy, &base, case) {
                    Ok(decision) => {
                        coverage.add(&decision);
                        let mismatches = check(&decision, &case.expect);
                        if mismatches.is_empty() {
                            Outcome::Pass
                        } else {
                            let failing_rules = decision
                                .failed()
                                .map(|r| FailingRule {
                                    rule: r.rule.clone(),
                                    location: r.location.to_string(),
                                    message: r.message.clone(),
                                })
                                .collect();
                            Outcome::Fail {
                                mismatches,
                                failing_rules,
                            }
                        }
                    }
                    Err(problems) => Outcome::Error { problems },
                };
                CaseResult {
                    name: case.name.clone(),
                    outcome,
                    seconds: started.elapsed().as_secs_f64(),
                }
            })
            .collect();
        results.push(FileResult {
            path: display_path(path),
            cases,
        });
    }
    let report = Report {
        policy: display_path(&args.policy),
        files: results,
        rules: policy.rule_ids(),
        coverage,
    };
    let output = match args.format {
        TestFormat::Human => human(&report),
        TestFormat::Junit => junit(&report),
        TestFormat::Json => json(&report),
    };
    print!("{output}");
    if report.failed() + report.errors() > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

/// The diff of a failing case, as printed under its `FAIL` line (4-space indent).
fn failure_text(mismatches: &[Mismatch], failing_rules: &[FailingRule]) -> String {
    let mut out = String::new();
    for m in mismatches {
        out.push_str(&format!(
            "    {}:\n      expected {}\n      actual   {}\n",
            m.what, m.expected, m.actual
        ));
    }
    if !failing_rules.is_empty() {
        out.push_str("    failing rules:\n");
        for r in failing_rules {
            out.push_str(&format!(
                "      {} at {}: {}\n",
                r.rule, r.location, r.message
            ));
        }
    }
    out
}

fn error_text(problems: &[String]) -> String {
    problems.iter().map(|p| format!("    {p}\n")).collect()
}

fn human(report: &Report) -> String {
    let mut out = String::new();
    for case in report.files.iter().flat_map(|f| &f.cases) {
        match &case.outcome {
            Outcome::Pass => out.push_str(&format!("PASS {}\n", clean(&case.name))),
            Outcome::Fail {
                mismatches,
                failing_rules,
            } => {
                out.push_str(&format!("FAIL {}\n", clean(&case.name)));
                out.push_str(&block(&failure_text(mismatches, failing_rules)));
            }
            Outcome::Error { problems } => {
                out.push_str(&format!("FAIL {}\n", clean(&case.name)));
                out.push_str(&block(&error_text(problems)));
            }
        }
    }
    out.push_str(&coverage_text(&report.rules, &report.coverage));
    out.push_str(&format!(
        "{} passed, {} failed\n",
        report.passed(),
        report.failed() + report.errors()
    ));
    out
}

/// Which of the policy's rules (its whole catalogue, `Policy::rule_ids`) no case
/// exercised: never evaluated, or only skipped.
fn coverage_text(rules: &[RuleInfo], coverage: &Coverage) -> String {
    let (hit, missed): (Vec<_>, Vec<_>) = rules
        .iter()
        .partition(|r| coverage.exercised.contains(&r.id));
    let mut out = format!(
        "\nrule coverage: {} of {} rules exercised (passed or failed)\n",
        hit.len(),
        rules.len()
    );
    if missed.is_empty() {
        out.push_str("  every rule was exercised\n");
    } else {
        out.push_str("  not exercised:\n");
        let width = missed.iter().map(|r| r.id.len()).max().unwrap_or(0);
        for r in missed {
            let note = if coverage.seen.contains(&r.id) {
                "  (only skipped)"
            } else {
                ""
            };
            out.push_str(&format!(
                "    {:<width$}  {}{note}\n",
                clean(&r.id),
                clean(&r.location)
            ));
        }
    }
    out.push('\n');
    out
}

/// Seconds as JUnit writes them: `0.001234`.
fn junit_time(seconds: f64) -> String {
    format!("{seconds:.6}")
}

/// JUnit XML (the schema of the Jenkins xUnit plugin, `junit-10.xsd`): one
/// `<testsuite>` per cases file, one `<testcase>` per case.
fn junit(report: &Report) -> String {
    let exercised = report
        .rules
        .iter()
        .filter(|r| report.coverage.exercised.contains(&r.id))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">\n",
        xml::attr(&format!("dealflow test {}", report.policy)),
        report.passed() + report.failed() + report.errors(),
        report.failed(),
        report.errors(),
        junit_time(report.seconds()),
    ));
    for file in &report.files {
        let seconds: f64 = file.cases.iter().map(|c| c.seconds).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\" file=\"{}\">\n",
            xml::attr(&file.path),
            file.cases.len(),
            file.count(|o| matches!(o, Outcome::Fail { .. })),
            file.count(|o| matches!(o, Outcome::Error { .. })),
            junit_time(seconds),
            xml::attr(&file.path),
        ));
        out.push_str("    <properties>\n");
        for (name, value) in [
            ("policy", report.policy.clone()),
            ("rules", report.rules.len().to_string()),
            ("rules_exercised", exercised.to_string()),
        ] {
            out.push_str(&format!(
                "      <property name=\"{name}\" value=\"{}\"/>\n",
                xml::attr(&value)
            ));
        }
        out.push_str("    </properties>\n");
        for case in &file.cases {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
                xml::attr(&case.name),
                xml::attr(&file.path),
                junit_time(case.seconds),
            );
            match &case.outcome {
                Outcome::Pass => out.push_str(&format!("{open}/>\n")),
                Outcome::Fail {
                    mismatches,
                    failing_rules,
                } => {
                    let what: Vec<&str> = mismatches.iter().map(|m| m.what.as_str()).collect();
                    out.push_str(&format!(
                        "{open}>\n      <failure type=\"mismatch\" message=\"{}\">{}</failure>\n    </testcase>\n",
                        xml::attr(&format!("the decision differs in {}", what.join(", "))),
                        xml::text(&failure_text(mismatches, failing_rules)),
                    ));
                }
                Outcome::Error { problems } => {
                    out.push_str(&format!(
                        "{open}>\n      <error type=\"invalid-case\" message=\"{}\">{}</error>\n    </testcase>\n",
                        xml::attr(problems.first().map_or("the case could not run", String::as_str)),
                        xml::text(&error_text(problems)),
                    ));
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// One case in the JSON report.
#[derive(Serialize)]
struct JsonCase<'a> {
    file: &'a str,
    name: &'a str,
    /// `pass`, `fail` (the decision differs) or `error` (the case could not run).
    status: &'static str,
    mismatches: Vec<JsonMismatch<'a>>,
    failing_rules: &'a [FailingRule],
    problems: &'a [String],
}

#[derive(Serialize)]
struct JsonMismatch<'a> {
    what: &'a str,
    expected: &'a str,
    actual: &'a str,
}

#[derive(Serialize)]
struct JsonRule<'a> {
    id: &'a str,
    section: &'a str,
    location: &'a str,
    /// Cases reached the rule but it was skipped every time.
    only_skipped: bool,
}

#[derive(Serialize)]
struct JsonCoverage<'a> {
    rules: usize,
    exercised: Vec<&'a str>,
    not_exercised: Vec<JsonRule<'a>>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    policy: &'a str,
    cases: Vec<JsonCase<'a>>,
    passed: usize,
    failed: usize,
    errors: usize,
    coverage: JsonCoverage<'a>,
}

fn json(report: &Report) -> String {
    let cases = report
        .files
        .iter()
        .flat_map(|f| f.cases.iter().map(move |c| (f.path.as_str(), c)))
        .map(|(file, c)| {
            let (status, mismatches, failing_rules, problems): (
                _,
                &[Mismatch],
                &[FailingRule],
                &[String],
            ) = match &c.outcome {
                Outcome::Pass => ("pass", &[], &[], &[]),
                Outcome::Fail {
                    mismatches,
                    failing_rules,
                } => ("fail", mismatches, failing_rules, &[]),
                Outcome::Error { problems } => ("error", &[], &[], problems),
            };
            JsonCase {
                file,
                name: &c.name,
                status,
                mismatches: mismatches
                    .iter()
                    .map(|m| JsonMismatch {
                        what: &m.what,
                        expected: &m.expected,
                        actual: &m.actual,
                    })
                    .collect(),
                failing_rules,
                problems,
            }
        })
        .collect();
    let (hit, missed): (Vec<_>, Vec<_>) = report
        .rules
        .iter()
        .partition(|r| report.coverage.exercised.contains(&r.id));
    let value = JsonReport {
        policy: &report.policy,
        cases,
        passed: report.passed(),
        failed: report.failed(),
        errors: report.errors(),
        coverage: JsonCoverage {
            rules: report.rules.len(),
            exercised: hit.iter().map(|r| r.id.as_str()).collect(),
            not_exercised: missed
                .iter()
                .map(|r| JsonRule {
                    id: &r.id,
                    section: r.section,
                    location: &r.location,
                    only_skipped: report.coverage.seen.contains(&r.id),
                })
                .collect(),
        },
    };
    match serde_json::to_string_pretty(&value) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(err) => {
            report_error(format_args!("cannot serialize the report: {err}"));
            String::new()
        }
    }
}

/// XML escaping for the JUnit report.
mod xml {
    /// A character XML 1.0 allows (`Char` production); others become U+FFFD.
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }

    /// Escapes element text: `&`, `<`, `>` (so `]]>` never appears).
    pub fn text(s: &str) -> String {
        escape(s, false)
    }

    /// Escapes a double-quoted attribute value; tabs and line breaks become character
    /// references so attribute-value normalization keeps them.
    pub fn attr(s: &str) -> String {
        escape(s, true)
    }

    fn escape(s: &str, in_attribute: bool) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#13;"),
                '"' if in_attribute => out.push_str("&quot;"),
                '\'' if in_attribute => out.push_str("&apos;"),
                '\t' if in_attribute => out.push_str("&#9;"),
                '\n' if in_attribute => out.push_str("&#10;"),
                c if allowed(c) => out.push(c),
                _ => out.push('\u{FFFD}'),
            }
        }
        out
    }
}

fn load_cases(path: &Path) -> Result<TestFile, String> {
    let text = crate::inputs::read_input(path)?;
    serde_yaml::from_str(text.strip_prefix('\u{feff}').unwrap_or(&text)).map_err(|e| {
        format!(
            "cannot read the test cases in `{}`: {e}",
            display_path(path)
        )
    })
}

/// Builds a case's inputs and decides; `Err` lists why the case could not run.
fn run_case(policy: &Policy, base: &Path, case: &TestCase) -> Result<Decision, Vec<String>> {
    let mut problems = Vec::new();
    let action: Option<Action> = match case.action.parse::<Action>() {
        Ok(a) => match policy.check_action(&a) {
            Ok(()) => Some(a),
            Err(e) => {
                problems.push(format!("{e} (help: {})", e.help()));
                None
            }
        },
        Err(e) => {
            problems.push(format!("{e} (help: {})", e.help()));
            None
        }
    };
    let now = parse_now(&case.now).map_err(|e| problems.push(e)).ok();
    let audience: Option<Audience> = match &case.audience {
        Some(a) => a.parse().map_err(|e| problems.push(format!("{e}"))).ok(),
        None => Some(Audience::Vendor),
    };
    // `route_lead` routes the context's lead: a case needs no opportunity for it.
    let route_only = matches!(action, Some(Action::RouteLead))
        && case.record.is_none()
        && case.record_file.is_none();
    let record = if route_only {
        None
    } else {
        input(
            case.record.as_ref(),
            case.record_file.as_deref(),
            base,
            "record",
            &mut problems,
            |v| policy.parse_record_value(v),
            |p| load_record(policy, p),
        )
    };
    let context = match (&case.context, &case.context_file) {
        (None, None) => Some(Context::default()),
        _ => input(
            case.context.as_ref(),
            case.context_file.as_deref(),
            base,
            "context",
            &mut problems,
            |v| policy.parse_context_value(v),
            |p| load_context(policy, p),
        ),
    };
    match (action, now, audience, record, context) {
        (Some(a), Some(n), Some(au), Some(r), Some(c)) if problems.is_empty() => {
            Ok(policy.decide(&r, &a, &c, n, &au))
        }
        (Some(_), Some(n), Some(au), None, Some(c)) if route_only && problems.is_empty() => {
            Ok(policy.route_lead(&c, n, &au))
        }
        _ => Err(problems),
    }
}

/// A record or context given inline or as a file relative to the cases file.
fn input<T>(
    inline: Option<&serde_json::Value>,
    file: Option<&str>,
    base: &Path,
    what: &str,
    problems: &mut Vec<String>,
    from_value: impl Fn(&serde_json::Value) -> Result<T, dealflow_engine::RecordErrors>,
    from_file: impl Fn(&Path) -> Result<T, InputError>,
) -> Option<T> {
    let result = match (inline, file) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "the case gives both `{what}` and `{what}_file`; keep one"
            ));
            return None;
        }
        (Some(v), None) => from_value(v).map_err(InputError::Invalid),
        (None, Some(f)) => {
            let path: PathBuf = base.join(f);
            from_file(&path)
        }
        (None, None) => {
            problems.push(format!("the case has no `{what}` or `{what}_file`"));
            return None;
        }
    };
    match result {
        Ok(v) => Some(v),
        Err(InputError::Message(m)) => {
            problems.push(m);
            None
        }
        Err(InputError::Invalid(errors)) => {
            problems.push(format!("the {what} is invalid:"));
            problems.extend(
                describe_record_errors(&errors)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn xml_escaping_keeps_markup_out_and_line_breaks_in() {
        assert_eq!(
            xml::text("a < b && c > d ]]>"),
            "a &lt; b &amp;&amp; c &gt; d ]]&gt;"
        );
        assert_eq!(
            xml::attr("say \"hi\" 'x'\n\tend"),
            "say &quot;hi&quot; &apos;x&apos;&#10;&#9;end"
        );
        assert_eq!(xml::text("bell\u{7}"), "bell\u{FFFD}");
    }

    proptest::proptest! {
        /// Any text, escaped, parses back (with an XML parser) to itself, with the
        /// characters XML cannot carry replaced.
        #[test]
        fn escaped_text_and_attributes_round_trip_through_an_xml_parser(s in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            let doc = format!("<r a=\"{}\">{}</r>", xml::attr(&s), xml::text(&s));
            let parsed = roxmltree::Document::parse(&doc);
            proptest::prop_assert!(parsed.is_ok(), "{doc}");
            let Ok(parsed) = parsed else { return Ok(()) };
            let expected: String = s
                .chars()
                .map(|c| if matches!(c, '\t' | '\n' | '\r') || c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}' { c } else { '\u{FFFD}' })
                .collect();
            let root = parsed.root_element();
            proptest::prop_assert_eq!(root.attribute("a"), Some(expected.as_str()));
            proptest::prop_assert_eq!(root.text().unwrap_or(""), expected.as_str());
        }
    }
}
