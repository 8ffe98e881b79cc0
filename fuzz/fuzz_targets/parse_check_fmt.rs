//! Fuzz target: parsing, checking, linting and formatting never panic, and formatting
//! a policy that parses yields text that parses to the same AST (and is a fixpoint).
#![no_main]

use dealflow_dsl::{analyze, fmt, parser, SourceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let src = SourceFile::new("fuzz.policy", text);
    let analysis = analyze(&src);
    if let Some(ast) = analysis.ast {
        if analysis.diagnostics.iter().any(|d| d.code == dealflow_dsl::Code::Syntax) {
            return;
        }
        let formatted = fmt::format(&ast, text);
        let src2 = SourceFile::new("fuzz.policy", formatted.as_str());
        let (ast2, diags2) = parser::parse(&src2);
        assert!(diags2.is_empty(), "formatted output does not parse: {diags2:?}\n{formatted}");
        assert_eq!(Some(&ast), ast2.as_ref(), "formatting changed the meaning");
        let again = fmt::format(&ast2.unwrap(), &formatted);
        assert_eq!(formatted, again, "formatting is not idempotent");
    }
});
