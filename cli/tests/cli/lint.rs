//! `dealflow lint`: human, JSON and SARIF output, exit codes, directory recursion.

use insta::assert_snapshot;
use serde_json::Value;

use super::{run, tests_dir};

#[test]
fn clean_file() {
    let r = run(&["lint", "fixtures/lint/clean.policy"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert_snapshot!(r.snapshot());
}

#[test]
fn errors_human() {
    let r = run(&["lint", "fixtures/lint/nested/errors.policy"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert_snapshot!(r.snapshot());
}

#[test]
fn errors_json() {
    let r = run(&[
        "lint",
        "--format",
        "json",
        "fixtures/lint/nested/errors.policy",
    ]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    let v: Value = serde_json::from_str(&r.stdout).expect("json output");
    assert_eq!(v["files"], 1);
    assert!(v["errors"].as_u64().unwrap_or(0) >= 3, "{}", r.stdout);
    let first = &v["diagnostics"][0];
    for key in [
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "severity",
        "code",
        "message",
        "help",
    ] {
        assert!(first.get(key).is_some(), "missing `{key}` in {first}");
    }
    assert_eq!(first["file"], "fixtures/lint/nested/errors.policy");
    assert_snapshot!(r.snapshot());
}

#[test]
fn errors_sarif() {
    let r = run(&[
        "lint",
        "--format",
        "sarif",
        "fixtures/lint/nested/errors.policy",
    ]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert_snapshot!(r.snapshot());
}

#[test]
fn warnings_pass_without_deny_and_fail_with_it() {
    let r = run(&["lint", "fixtures/lint/warnings.policy"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(r.stdout.contains("0 errors"), "{}", r.stdout);
    assert!(
        !r.stdout.contains(", 0 warnings"),
        "expected warnings:\n{}",
        r.stdout
    );
    let denied = run(&["lint", "--deny-warnings", "fixtures/lint/warnings.policy"]);
    assert_eq!(denied.code, 1, "{}", denied.snapshot());
    assert_snapshot!(denied.snapshot());
}

#[test]
fn directory_recursion_is_sorted_and_skips_other_files() {
    let r = run(&["lint", "--format", "json", "fixtures/lint"]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    let v: Value = serde_json::from_str(&r.stdout).expect("json output");
    assert_eq!(
        v["files"], 3,
        "clean, warnings and nested/errors; notes.txt skipped"
    );
    let files: Vec<&str> = v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["file"].as_str())
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(
        files, sorted,
        "diagnostics are grouped by file in sorted order"
    );
    assert!(files.contains(&"fixtures/lint/nested/errors.policy"));
    assert!(files.contains(&"fixtures/lint/warnings.policy"));
    assert_snapshot!(run(&["lint", "fixtures/lint"]).snapshot());
}

#[test]
fn missing_path_is_exit_2() {
    let r = run(&["lint", "fixtures/lint/does-not-exist.policy"]);
    assert_eq!(r.code, 2);
    assert_snapshot!(r.snapshot());
}

#[test]
fn unreadable_file_is_exit_2() {
    let dir = super::scratch_dir("lint-unreadable");
    std::fs::write(dir.join("bad.policy"), [0xff_u8, 0xfe, 0x00]).expect("write");
    let r = super::run_in(&dir, &["lint", "bad.policy"], None);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(
        r.stderr.contains("`bad.policy`") && r.stderr.contains("UTF-8"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_paths_is_a_usage_error() {
    assert_eq!(run(&["lint"]).code, 2);
}

/// The OASIS SARIF 2.1.0 schema, kept in the repository (provenance: `tests/data/README.md`).
const SARIF_SCHEMA: &str = include_str!("../data/sarif-schema-2.1.0.json");

/// The SARIF output must validate against the official SARIF 2.1.0 schema and carry
/// what GitHub code scanning needs.
#[test]
fn sarif_validates_against_the_schema() {
    let schema: Value = serde_json::from_str(SARIF_SCHEMA).expect("schema json");
    let validator = jsonschema::draft4::new(&schema).expect("compile SARIF schema");

    let r = run(&["lint", "--format", "sarif", "fixtures/lint"]);
    let sarif: Value = serde_json::from_str(&r.stdout).expect("sarif json");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF schema violations:\n{}",
        errors.join("\n")
    );

    let run0 = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run0["tool"]["driver"]["name"], "dealflow");
    let rules = run0["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), dealflow_dsl::Code::ALL.len());
    assert_eq!(rules[0]["id"], "E001");
    assert!(rules[0]["helpUri"]
        .as_str()
        .unwrap_or("")
        .contains("docs/lints.md#e001-syntax-error"));
    let results = run0["results"].as_array().expect("results");
    assert!(
        !results.is_empty(),
        "the fixture directory has errors and warnings"
    );
    for result in results {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            rules[index]["id"], result["ruleId"],
            "ruleIndex points at the rule"
        );
        let loc = &result["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("fixtures/lint/") && !uri.contains('\\'),
            "{uri}"
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap_or(0) >= 1);
        assert!(matches!(
            result["level"].as_str(),
            Some("error" | "warning")
        ));
    }
}

/// A second, schema-free check: the output reads into the typed SARIF 2.1.0 model of
/// the `serde-sarif` crate, and its typed fields say what code scanning needs.
#[test]
fn sarif_reads_into_the_typed_sarif_model() {
    let r = run(&["lint", "--format", "sarif", "fixtures/lint"]);
    assert_eq!(r.code, 1, "the fixtures have errors: {}", r.stderr);
    let sarif: serde_sarif::sarif::Sarif =
        serde_json::from_str(&r.stdout).expect("the output is a SARIF log");
    assert_eq!(
        serde_json::to_value(&sarif.version).expect("version"),
        "2.1.0"
    );
    assert_eq!(sarif.runs.len(), 1);
    let run0 = &sarif.runs[0];
    assert_eq!(run0.tool.driver.name, "dealflow");
    let rules = run0.tool.driver.rules.as_ref().expect("rules");
    let ids: Vec<&str> = rules.iter().map(|rule| rule.id.as_str()).collect();
    let codes: Vec<&str> = dealflow_dsl::Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(ids, codes, "one rule per diagnostic code, in code order");
    let results = run0.results.as_ref().expect("results");
    assert!(!results.is_empty());
    for result in results {
        let index = usize::try_from(result.rule_index.expect("ruleIndex")).expect("index");
        assert_eq!(Some(&rules[index].id), result.rule_id.as_ref());
        let locations = result.locations.as_ref().expect("locations");
        let physical = locations[0]
            .physical_location
            .as_ref()
            .expect("physicalLocation");
        let region = physical.region.as_ref().expect("region");
        assert!(region.start_line.is_some_and(|line| line >= 1));
        assert!(region.start_column.is_some_and(|col| col >= 1));
        let uri = physical
            .artifact_location
            .as_ref()
            .and_then(|a| a.uri.as_deref())
            .expect("uri");
        assert!(uri.starts_with("fixtures/lint/"), "{uri}");
    }
}

/// The schema kept in the repository is the one in the shared data directory.
#[test]
fn kept_sarif_schema_matches_the_shared_copy() {
    let Some(shared) = dealflow_tests::shared_path("data/schemas/sarif-schema-2.1.0.json") else {
        dealflow_tests::skip(
            "kept_sarif_schema_matches_the_shared_copy",
            "../shared/data/schemas/sarif-schema-2.1.0.json is absent (a bare clone)",
        );
        return;
    };
    let shared = std::fs::read_to_string(shared).expect("read the shared schema");
    assert!(
        shared == SARIF_SCHEMA,
        "cli/tests/data/sarif-schema-2.1.0.json differs from ../shared"
    );
}

#[test]
fn errors_github() {
    let r = run(&[
        "lint",
        "--format",
        "github",
        "fixtures/lint/nested/errors.policy",
    ]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert_snapshot!(r.snapshot());
}

/// A workflow command parsed back as the Actions runner reads it.
struct Annotation {
    command: String,
    properties: Vec<(String, String)>,
    message: String,
}

fn unescape(s: &str) -> String {
    s.replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn parse_annotation(line: &str) -> Option<Annotation> {
    let rest = line.strip_prefix("::")?;
    let (head, message) = rest.split_once("::")?;
    let (command, props) = head.split_once(' ')?;
    let properties = props
        .split(',')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), unescape(v))
        })
        .collect();
    Some(Annotation {
        command: command.to_string(),
        properties,
        message: unescape(message),
    })
}

/// One annotation per diagnostic, at the JSON report's positions, with `%`, line
/// breaks, `:` and `,` escaped so a file name or message cannot break the command.
#[test]
fn github_annotations_match_the_json_report_and_escape_special_characters() {
    let dir = super::scratch_dir("lint-github");
    let name = "odd, name: 100%.policy";
    let text = std::fs::read_to_string(tests_dir().join("fixtures/lint/warnings.policy"))
        .expect("read fixture")
        + "\nstage Extra { probability 140% forecast pipeline }\n";
    std::fs::write(dir.join(name), text).expect("write");
    let gh = super::run_in(&dir, &["lint", "--format", "github", name], None);
    let js = super::run_in(&dir, &["lint", "--format", "json", name], None);
    assert_eq!(gh.code, js.code);
    let report: Value = serde_json::from_str(&js.stdout).expect("json");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    let lines: Vec<&str> = gh.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(lines.len(), diagnostics.len(), "{}", gh.stdout);
    assert!(!lines.is_empty());
    for (line, d) in lines.iter().zip(diagnostics) {
        assert!(!line.contains('\r'));
        let a = parse_annotation(line).unwrap_or_else(|| panic!("not a command: {line}"));
        assert_eq!(Some(a.command.as_str()), d["severity"].as_str(), "{line}");
        let keys: Vec<&str> = a.properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["file", "line", "col", "endLine", "endColumn", "title"],
            "{line}"
        );
        let prop = |k: &str| {
            a.properties
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(prop("file"), name);
        assert_eq!(prop("line"), d["line"].to_string());
        assert_eq!(prop("col"), d["column"].to_string());
        assert_eq!(prop("endLine"), d["end_line"].to_string());
        assert_eq!(prop("endColumn"), d["end_column"].to_string());
        assert_eq!(Some(prop("title").as_str()), d["code"].as_str());
        let message = d["message"].as_str().unwrap_or_default();
        assert!(
            a.message.starts_with(message),
            "{:?} vs {message:?}",
            a.message
        );
        if let Some(help) = d["help"].as_str() {
            assert!(
                a.message.ends_with(&format!("\nhelp: {help}")),
                "{:?}",
                a.message
            );
        }
    }
    assert!(
        gh.stdout.contains("file=odd%2C name%3A 100%25.policy,"),
        "{}",
        gh.stdout
    );
    assert!(
        lines.iter().any(|l| l.contains("140%25")),
        "the invalid percent's message is escaped:\n{}",
        gh.stdout
    );
}

/// Over the whole error corpus (every diagnostic code, multi-line messages and helps):
/// one single-line annotation per JSON diagnostic, at the same place, with the code.
#[test]
fn github_annotations_cover_the_error_corpus() {
    let dir = "../../tests/corpus/err";
    let gh = run(&["lint", "--format", "github", dir]);
    let js = run(&["lint", "--format", "json", dir]);
    assert_eq!(gh.code, 1, "{}", gh.snapshot());
    let report: Value = serde_json::from_str(&js.stdout).expect("json");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    let lines: Vec<&str> = gh.stdout.lines().collect();
    // Every line but the summary is a command; none was split by a raw newline.
    let (summary, commands) = lines.split_last().expect("output");
    assert!(
        summary.ends_with(" warnings") || summary.ends_with(" warning"),
        "{summary}"
    );
    assert_eq!(commands.len(), diagnostics.len());
    let mut codes = std::collections::BTreeSet::new();
    for (line, d) in commands.iter().zip(diagnostics) {
        let a = parse_annotation(line).unwrap_or_else(|| panic!("not a command: {line}"));
        let prop = |k: &str| {
            a.properties
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(prop("file").as_deref(), d["file"].as_str(), "{line}");
        assert_eq!(prop("line"), Some(d["line"].to_string()), "{line}");
        assert_eq!(prop("col"), Some(d["column"].to_string()), "{line}");
        assert_eq!(prop("title").as_deref(), d["code"].as_str(), "{line}");
        codes.insert(d["code"].as_str().unwrap_or_default().to_string());
    }
    // Data lints (`lint --db`) need a store beside the policy; crm.rs covers them.
    let policy_codes = dealflow_dsl::Code::ALL
        .iter()
        .filter(|c| !c.needs_data())
        .count();
    assert_eq!(codes.len(), policy_codes, "{codes:?}");
}
