//! Robustness of the whole toolchain under mutated policies: byte flips, truncation,
//! and token-level mutations (swapping two tokens, replacing a name with another name
//! from the same file, dropping a token). Token mutations mostly keep the syntax valid,
//! so they reach the checker, the lints, the formatter and the engine compiler, not
//! just the parser. Nothing may panic, every diagnostic span must lie in the text, and
//! whatever formats must re-parse to the same AST.

#![allow(clippy::unwrap_used, reason = "test harness")]

use dealflow_dsl::{analyze, fmt, parser, SourceFile};
use proptest::prelude::*;

const POLICIES: [&str; 4] = [
    include_str!("../policies/channel-standard.policy"),
    include_str!("../policies/salesforce-default.policy"),
    include_str!("../policies/mssp-security.policy"),
    include_str!("../policies/healthcare-it.policy"),
];

/// Splits text into tokens: runs of identifier characters, runs of whitespace, and
/// single other characters. Joining the tokens gives the text back.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        }
    };
    for c in text.chars() {
        match out.last_mut() {
            Some(last) if class(c) != 2 && last.chars().next().map(class) == Some(class(c)) => {
                last.push(c)
            }
            _ => out.push(c.to_string()),
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    SwapTokens(usize, usize),
    ReplaceName(usize, usize),
    DropToken(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapTokens(a, b)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::ReplaceName(a, b)),
        2 => any::<usize>().prop_map(Mutation::DropToken),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::FlipByte(i, b) => {
            let mut bytes = text.as_bytes().to_vec();
            let len = bytes.len().max(1);
            if let Some(x) = bytes.get_mut(i % len) {
                *x = *b;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Mutation::Truncate(i) => {
            let mut cut = i % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        Mutation::SwapTokens(a, b) => {
            let mut t = tokens(text);
            let n = t.len().max(1);
            t.swap(a % n, b % n);
            t.concat()
        }
        Mutation::ReplaceName(a, b) => {
            let mut t = tokens(text);
            let names: Vec<usize> = (0..t.len())
                .filter(|&i| {
                    t[i].chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                })
                .collect();
            if names.is_empty() {
                return text.to_string();
            }
            let from = names[a % names.len()];
            let to = names[b % names.len()];
            t[to] = t[from].clone();
            t.concat()
        }
        Mutation::DropToken(i) => {
            let mut t = tokens(text);
            if !t.is_empty() {
                let n = t.len();
                t.remove(i % n);
            }
            t.concat()
        }
    }
}

#[test]
fn tokens_round_trip() {
    for p in POLICIES {
        assert_eq!(tokens(p).concat(), p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn mutated_policies_never_panic_anywhere(
        which in 0usize..POLICIES.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut text = POLICIES[which].to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        let src = SourceFile::new("mutated.policy", text.as_str());
        let analysis = analyze(&src);
        for d in &analysis.diagnostics {
            prop_assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?}");
            prop_assert!(!d.message.is_empty());
        }
        // the IR exists exactly when there is no error
        prop_assert_eq!(analysis.ir.is_some(), !analysis.has_errors());
        if let Some(ast) = &analysis.ast {
            let formatted = fmt::format(ast, &text);
            let (again, diags) = parser::parse(&SourceFile::new("formatted.policy", formatted.as_str()));
            prop_assert!(diags.is_empty(), "formatted text does not parse: {diags:?}\n{formatted}");
            prop_assert_eq!(Some(ast), again.as_ref());
        }
        if analysis.ir.is_some() {
            prop_assert!(dealflow_engine::Policy::compile(&src).is_ok());
        }
    }
}
