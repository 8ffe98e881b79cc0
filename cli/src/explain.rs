//! `dealflow explain CODE`: print the documentation of one diagnostic code, the
//! section of `docs/lints.md` for it (embedded at build time), as `ruff rule` does.

use dealflow_dsl::Code;

use crate::files::report_error;
use crate::{ExitStatus, ExplainArgs};

/// The diagnostics reference, embedded so the binary explains codes without the repo.
const LINTS_DOC: &str = include_str!("../../docs/lints.md");

/// Runs `dealflow explain`.
pub fn run(args: &ExplainArgs) -> ExitStatus {
    match lookup(&args.code) {
        Ok(code) => match section(LINTS_DOC, code) {
            Some(text) => {
                println!("{text}");
                ExitStatus::Success
            }
            None => {
                // Unreachable while the doc test below holds; still an error, not a panic.
                report_error(format_args!(
                    "docs/lints.md has no section for `{}`",
                    code.as_str()
                ));
                ExitStatus::Error
            }
        },
        Err(message) => {
            report_error(message);
            ExitStatus::Error
        }
    }
}

/// Resolves a code (`E101`, `e101`) or a name (`unknown-field`) to its [`Code`];
/// `Err` says it is unknown and suggests the closest codes.
pub fn lookup(query: &str) -> Result<Code, String> {
    let q = query.trim();
    if let Some(code) = Code::ALL
        .iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(q) || c.name().eq_ignore_ascii_case(q))
    {
        return Ok(*code);
    }
    let mut message = format!("unknown diagnostic code `{q}`");
    match suggestion(q) {
        Some(code) => message.push_str(&format!(
            "\n  help: did you mean `{}` ({})?",
            code.as_str(),
            code.name()
        )),
        None => message.push_str(&format!(
            "\n  help: the codes are {}",
            Code::ALL
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    Err(message)
}

/// The known code or name closest to `query`, when it is close enough to be a typo.
fn suggestion(query: &str) -> Option<Code> {
    let q = query.to_ascii_lowercase();
    let mut best: Option<(f64, Code)> = None;
    for code in Code::ALL {
        for candidate in [code.as_str().to_ascii_lowercase(), code.name().to_string()] {
            let score = strsim::jaro_winkler(&q, &candidate);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, *code));
            }
        }
    }
    best.filter(|(score, _)| *score >= 0.8).map(|(_, c)| c)
}

/// The section of `doc` for `code`: from its `## CODE name` heading up to the next
/// `## ` heading or `---` rule, trailing blank lines removed.
pub fn section(doc: &str, code: Code) -> Option<String> {
    let heading = format!("## {} {}", code.as_str(), code.name());
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != heading);
    let first = lines.next()?;
    let mut out = vec![first.strip_prefix("## ").unwrap_or(first)];
    let mut in_fence = false;
    for line in lines {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && (line.starts_with("## ") || line.trim_end() == "---") {
            break;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    Some(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_section_that_stops_at_the_next_code() {
        for code in Code::ALL {
            let text = section(LINTS_DOC, *code)
                .unwrap_or_else(|| panic!("no section for {}", code.as_str()));
            assert!(
                text.starts_with(&format!("{} {}\n", code.as_str(), code.name())),
                "{text}"
            );
            assert!(text.contains("**Severity:**"), "{text}");
            // No other code's heading leaks into this section.
            for other in Code::ALL.iter().filter(|o| *o != code) {
                let heading = format!("{} {}", other.as_str(), other.name());
                assert!(
                    !text.lines().any(|l| l.ends_with(&heading)),
                    "{} section runs into {heading}",
                    code.as_str()
                );
            }
        }
    }

    #[test]
    fn lookup_accepts_codes_in_any_case_and_names() {
        assert_eq!(lookup("E101"), Ok(Code::UnknownField));
        assert_eq!(lookup("e101"), Ok(Code::UnknownField));
        assert_eq!(lookup(" unknown-field "), Ok(Code::UnknownField));
    }

    #[test]
    fn unknown_codes_get_a_suggestion_or_the_list() {
        let typo = lookup("unknown-feild").unwrap_err();
        assert!(
            typo.contains("did you mean `E101` (unknown-field)"),
            "{typo}"
        );
        let far = lookup("zzzzzzzz").unwrap_err();
        assert!(far.contains("the codes are E001, E101"), "{far}");
    }

    #[test]
    fn a_fenced_block_with_rules_does_not_end_a_section() {
        let doc = "## E101 unknown-field\n\ntext\n```text\n## not a heading\n---\n```\nafter\n\n## E102 unknown-stage\n";
        let text = section(doc, Code::UnknownField).unwrap_or_default();
        assert!(text.ends_with("```\nafter"), "{text}");
    }
}
