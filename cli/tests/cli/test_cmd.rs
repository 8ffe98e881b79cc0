//! `dealflow test`: PASS/FAIL lines, diffs, coverage and exit codes.

use insta::assert_snapshot;

use super::run;

const POLICY: &str = "../../policies/channel-standard.policy";

#[test]
fn failing_case_is_reported_with_a_diff_and_exit_1() {
    let r = run(&["test", POLICY, "fixtures/test/cases.yaml"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(
        r.stdout
            .contains("PASS gold partner registration is auto-approved"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("FAIL deliberately wrong expectation"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("PASS inline record without evidence is denied"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rule coverage:"), "{}", r.stdout);
    assert!(
        r.stdout.trim_end().ends_with("2 passed, 1 failed"),
        "{}",
        r.stdout
    );
    assert_snapshot!(r.snapshot());
}

#[test]
fn passing_cases_exit_0() {
    let r = run(&["test", POLICY, "fixtures/test/passing.yaml"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(
        r.stdout.trim_end().ends_with("1 passed, 0 failed"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_reference_policy_passes_its_own_cases() {
    let r = run(&["test", POLICY, "../../policies/channel-standard.tests.yaml"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(r.stdout.trim_end().ends_with(" 0 failed"), "{}", r.stdout);
    // Coverage names each unexercised rule of the whole policy with its location.
    let listed: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("rule coverage:"))
        .skip(2)
        .take_while(|l| l.starts_with("    "))
        .collect();
    assert!(!listed.is_empty(), "{}", r.stdout);
    for line in listed {
        let mut words = line.split_whitespace();
        let (rule, location) = (words.next(), words.next());
        assert!(rule.is_some_and(|w| w.contains('.')), "{line}");
        assert!(
            location.is_some_and(|l| l.starts_with(POLICY) && l.matches(':').count() == 2),
            "{line}"
        );
    }
}

#[test]
fn unreadable_cases_file_is_exit_2() {
    assert_eq!(run(&["test", POLICY, "fixtures/test/nope.yaml"]).code, 2);
    assert_eq!(
        run(&["test", POLICY, "fixtures/lint/clean.policy"]).code,
        2,
        "not a cases file"
    );
}

/// Replaces every `time="..."` value (measured, so it varies) with `[t]`.
fn redact_times(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find("time=\"") {
        out.push_str(&rest[..i + 6]);
        rest = &rest[i + 6..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push_str("[t]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn junit(cases: &[&str]) -> super::Run {
    let mut args = vec!["test", "--format", "junit", POLICY];
    args.extend_from_slice(cases);
    run(&args)
}

#[test]
fn junit_report_snapshot() {
    let r = junit(&["fixtures/test/cases.yaml", "fixtures/test/junit.yaml"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert_snapshot!(redact_times(&r.snapshot()));
}

/// The structure CI tools read, checked with an XML parser: counts agree with the
/// testcases, names survive escaping, failures carry the diff, errors the reason.
#[test]
fn junit_structure_counts_names_and_diffs() {
    let r = junit(&["fixtures/test/cases.yaml", "fixtures/test/junit.yaml"]);
    let doc = roxmltree::Document::parse(&r.stdout).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<_> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    assert_eq!(
        names,
        ["fixtures/test/cases.yaml", "fixtures/test/junit.yaml"]
    );
    let attr = |n: &roxmltree::Node, a: &str| -> usize {
        n.attribute(a)
            .and_then(|v| v.parse().ok())
            .expect("numeric attribute")
    };
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for suite in &suites {
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let with = |tag: &str| {
            cases
                .iter()
                .filter(|c| c.children().any(|k| k.has_tag_name(tag)))
                .count()
        };
        assert_eq!(attr(suite, "tests"), cases.len());
        assert_eq!(attr(suite, "failures"), with("failure"));
        assert_eq!(attr(suite, "errors"), with("error"));
        tests += cases.len();
        failures += with("failure");
        errors += with("error");
        for c in &cases {
            let t: f64 = c
                .attribute("time")
                .and_then(|t| t.parse().ok())
                .expect("time");
            assert!(t >= 0.0);
        }
    }
    assert_eq!((tests, failures, errors), (6, 2, 1));
    assert_eq!(attr(&root, "tests"), tests);
    assert_eq!(attr(&root, "failures"), failures);
    assert_eq!(attr(&root, "errors"), errors);

    let case = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name:?}"))
    };
    assert!(case("gold <partner> & \"quoted\" 'name'")
        .children()
        .all(|n| !n.is_element()));
    let failure = case("two\nlines ]]> end")
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    assert_eq!(
        failure.attribute("message"),
        Some("the decision differs in outcome")
    );
    let diff = failure.text().unwrap_or("");
    assert!(
        diff.contains("expected `approved`") && diff.contains("actual   `denied`"),
        "{diff}"
    );
    assert!(
        diff.contains("stage.ProposalEvaluation.requires[0] at "),
        "{diff}"
    );
    let error = case("unknown action cannot run")
        .children()
        .find(|n| n.has_tag_name("error"))
        .expect("error");
    assert!(error
        .attribute("message")
        .unwrap_or("")
        .contains("frobnicate"));
}

/// The report validates against a public JUnit schema (the Jenkins xUnit plugin's
/// `junit-10.xsd`, see `fixtures/junit/PROVENANCE.md`).
#[test]
fn junit_validates_against_the_junit_schema() {
    if !super::tool_available("xmllint", "JUnit schema validation needs libxml2-utils") {
        return;
    }
    let dir = super::scratch_dir("junit-xsd");
    for (i, cases) in [
        vec!["fixtures/test/cases.yaml", "fixtures/test/junit.yaml"],
        vec!["../../policies/channel-standard.tests.yaml"],
    ]
    .iter()
    .enumerate()
    {
        let r = junit(cases);
        let path = dir.join(format!("report-{i}.xml"));
        std::fs::write(&path, &r.stdout).expect("write report");
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(super::tests_dir().join("fixtures/junit/junit-10.xsd"))
            .arg(&path)
            .output()
            .expect("run xmllint");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            r.stdout
        );
    }
}

#[test]
fn json_report_has_cases_counts_and_the_same_coverage_as_human() {
    let files = ["fixtures/test/cases.yaml", "fixtures/test/junit.yaml"];
    let mut args = vec!["test", "--format", "json", POLICY];
    args.extend_from_slice(&files);
    let r = run(&args);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let cases = v["cases"].as_array().expect("cases");
    let statuses: Vec<&str> = cases.iter().filter_map(|c| c["status"].as_str()).collect();
    assert_eq!(statuses, ["pass", "fail", "pass", "pass", "fail", "error"]);
    assert_eq!(
        (
            v["passed"].as_u64(),
            v["failed"].as_u64(),
            v["errors"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(cases[1]["mismatches"][0]["what"], "outcome");
    assert_eq!(cases[1]["mismatches"][0]["expected"], "`approved`");
    assert!(cases[5]["problems"][0]
        .as_str()
        .unwrap_or("")
        .contains("frobnicate"));

    let cov = &v["coverage"];
    let exercised: Vec<&str> = cov["exercised"]
        .as_array()
        .expect("exercised")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    let missed: Vec<&str> = cov["not_exercised"]
        .as_array()
        .expect("not_exercised")
        .iter()
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(
        exercised.len() + missed.len() as usize,
        cov["rules"].as_u64().unwrap_or(0) as usize
    );
    assert!(exercised.iter().all(|e| !missed.contains(e)));
    // The human report of the same run lists the same numbers and the same rules.
    let mut human_args = vec!["test", POLICY];
    human_args.extend_from_slice(&files);
    let human = run(&human_args);
    assert!(
        human.stdout.contains(&format!(
            "rule coverage: {} of {} rules",
            exercised.len(),
            cov["rules"]
        )),
        "{}",
        human.stdout
    );
    for id in &missed {
        assert!(human.stdout.contains(&format!("    {id} ")), "{id}");
    }
    assert!(
        human.stdout.trim_end().ends_with("3 passed, 3 failed"),
        "{}",
        human.stdout
    );
}

#[test]
fn every_format_fails_the_same_way_on_a_broken_policy() {
    for format in ["human", "junit", "json"] {
        let r = run(&[
            "test",
            "--format",
            format,
            "fixtures/lint/nested/errors.policy",
            "fixtures/test/passing.yaml",
        ]);
        assert_eq!(r.code, 2, "{format}: {}", r.snapshot());
        assert!(r.stdout.is_empty(), "{format}: {}", r.stdout);
    }
}

#[test]
fn case_output_escapes_terminal_sequences_and_routes_leads_without_a_record() {
    let r = run(&[
        "test",
        "../../policies/channel-standard.policy",
        "fixtures/test/escapes.yaml",
    ]);
    let raw: Vec<char> = r
        .stdout
        .chars()
        .chain(r.stderr.chars())
        .filter(|c| c.is_control() && *c != '\n' || ('\u{202a}'..='\u{202e}').contains(c))
        .collect();
    assert!(raw.is_empty(), "{raw:?} in\n{}", r.snapshot());
    assert!(r.stdout.contains("\\u{1b}[2J"), "{}", r.stdout);
    assert!(
        r.stdout.contains("PASS lead routed without an opportunity"),
        "{}",
        r.stdout
    );
    // A case with an unknown stage cannot run: it fails with a did-you-mean.
    assert!(
        r.stdout.contains(
            "FAIL unknown stage\n    unknown stage `Qualifcation` in `advance Qualifcation` (help: did you mean `Qualification`?"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(r.code, 1, "{}", r.snapshot());
}
