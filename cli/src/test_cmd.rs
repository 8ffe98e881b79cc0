//! `dealflow test`: run a policy's decision test cases and report rule coverage.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dealflow_engine::cases::{check, TestCase, TestFile};
use dealflow_engine::decision::RuleOutcome;
use dealflow_engine::{Action, Audience, Context, Decision, Policy};

use crate::files::{display_path, report_error};
use crate::inputs::{
    describe_record_errors, load_context, load_policy, load_record, parse_now, InputError,
};
use crate::{ExitStatus, TestArgs};

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
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut coverage = Coverage::default();
    for (path, file) in &files {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for case in &file.cases {
            match run_case(&policy, &base, case) {
                Ok(decision) => {
                    coverage.add(&decision);
                    let mismatches = check(&decision, &case.expect);
                    if mismatches.is_empty() {
                        passed += 1;
                        println!("PASS {}", case.name);
                    } else {
                        failed += 1;
                        println!("FAIL {}", case.name);
                        for m in &mismatches {
                            println!(
                                "    {}:\n      expected {}\n      actual   {}",
                                m.what, m.expected, m.actual
                            );
                        }
                        let reasons: Vec<_> = decision.failed().collect();
                        if !reasons.is_empty() {
                            println!("    failing rules:");
                            for r in reasons {
                                println!("      {} at {}: {}", r.rule, r.location, r.message);
                            }
                        }
                    }
                }
                Err(problems) => {
                    failed += 1;
                    println!("FAIL {}", case.name);
                    for p in problems {
                        println!("    {p}");
                    }
                }
            }
        }
    }
    print_coverage(&policy, &coverage);
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

/// Prints which of the policy's rules (its whole catalogue, `Policy::rule_ids`) no
/// case exercised: never evaluated, or only skipped.
fn print_coverage(policy: &Policy, coverage: &Coverage) {
    let rules = policy.rule_ids();
    let (hit, missed): (Vec<_>, Vec<_>) = rules
        .iter()
        .partition(|r| coverage.exercised.contains(&r.id));
    println!();
    println!(
        "rule coverage: {} of {} rules exercised (passed or failed)",
        hit.len(),
        rules.len()
    );
    if missed.is_empty() {
        println!("  every rule was exercised");
    } else {
        println!("  not exercised:");
        let width = missed.iter().map(|r| r.id.len()).max().unwrap_or(0);
        for r in missed {
            let note = if coverage.seen.contains(&r.id) {
                "  (only skipped)"
            } else {
                ""
            };
            println!("    {:<width$}  {}{note}", r.id, r.location);
        }
    }
    println!();
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
    let action: Option<Action> = case
        .action
        .parse()
        .map_err(|e| problems.push(format!("{e}")))
        .ok();
    let now = parse_now(&case.now).map_err(|e| problems.push(e)).ok();
    let audience: Option<Audience> = match &case.audience {
        Some(a) => a.parse().map_err(|e| problems.push(format!("{e}"))).ok(),
        None => Some(Audience::Vendor),
    };
    let record = input(
        case.record.as_ref(),
        case.record_file.as_deref(),
        base,
        "record",
        &mut problems,
        |v| policy.parse_record_value(v),
        |p| load_record(policy, p),
    );
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
