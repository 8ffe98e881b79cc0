//! Parser integration tests: the AST of a policy using every construct, rendered
//! syntax errors for broken inputs, and a no-panic property over random mutations.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly on a broken fixture"
)]

use dealflow_dsl::ast::{Policy, Span};
use dealflow_dsl::parser::parse;
use dealflow_dsl::{Code, Diagnostic, SourceFile};
use proptest::prelude::*;

const ALL_CONSTRUCTS: &str = include_str!("fixtures/parser/all_constructs.policy");

fn parse_ok(name: &str, text: &str) -> (SourceFile, Policy) {
    let src = SourceFile::new(name, text);
    let (ast, diags) = parse(&src);
    assert!(
        diags.is_empty(),
        "{name}: unexpected diagnostics: {diags:#?}"
    );
    let ast = ast.unwrap_or_else(|| panic!("{name}: no AST"));
    (src, ast)
}

/// Every `a..b` range in the AST's debug output: the spans of all nodes.
fn all_spans(ast: &Policy) -> Vec<Span> {
    let dbg = format!("{ast:?}");
    let mut spans = Vec::new();
    for (i, _) in dbg.match_indices("..") {
        let before = &dbg[..i];
        let start_digits =
            before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let after = &dbg[i + 2..];
        let end_digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if start_digits > 0 && end_digits > 0 {
            let start: usize = before[before.len() - start_digits..].parse().unwrap();
            let end: usize = after[..end_digits].parse().unwrap();
            spans.push(start..end);
        }
    }
    spans
}

/// The debug output of a value with every `a..b` range removed.
fn without_spans(value: &impl std::fmt::Debug) -> String {
    let dbg = format!("{value:?}");
    let mut out = String::with_capacity(dbg.len());
    let mut rest = dbg.as_str();
    while let Some(i) = rest.find("..") {
        let (before, after) = rest.split_at(i);
        let after = &after[2..];
        let kept = before.trim_end_matches(|c: char| c.is_ascii_digit());
        let tail = after.trim_start_matches(|c: char| c.is_ascii_digit());
        if kept.len() < before.len() && tail.len() < after.len() {
            out.push_str(kept);
            rest = tail;
        } else {
            out.push_str(before);
            out.push_str("..");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn all_constructs_ast() {
    let (_, ast) = parse_ok("all_constructs.policy", ALL_CONSTRUCTS);
    insta::assert_yaml_snapshot!("all_constructs_ast", ast);
}

#[test]
fn all_constructs_spans_are_tight() {
    let (src, ast) = parse_ok("all_constructs.policy", ALL_CONSTRUCTS);
    let spans = all_spans(&ast);
    assert!(
        spans.len() > 300,
        "expected a span on every node, found {}",
        spans.len()
    );
    for span in spans {
        let text = src
            .text
            .get(span.clone())
            .unwrap_or_else(|| panic!("span {span:?} is not in the text"));
        assert!(!text.is_empty(), "empty span {span:?}");
        assert_eq!(
            text,
            text.trim(),
            "span {span:?} has surrounding whitespace: {text:?}"
        );
    }
    // top-level item spans cover exactly the items
    let starts: Vec<&str> = ast
        .items
        .iter()
        .map(|i| src.text[i.span()].split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        starts,
        [
            "policy",
            "record",
            "record",
            "stage",
            "stage",
            "won",
            "lost",
            "flow",
            "registration",
            "cosell",
            "commission",
            "hygiene",
            "leads"
        ]
    );
    assert!(ast.items.iter().all(|i| src.text[i.span()].ends_with('}')));
}

#[test]
fn all_constructs_comments() {
    let (src, ast) = parse_ok("all_constructs.policy", ALL_CONSTRUCTS);
    let comments: Vec<(String, String)> = ast
        .comments
        .iter()
        .map(|c| (c.text.clone(), src.text[c.span.clone()].to_string()))
        .collect();
    assert_eq!(
        comments,
        [
            (
                " Parser fixture: every construct of the surface syntax at least once.".to_string(),
                "// Parser fixture: every construct of the surface syntax at least once."
                    .to_string()
            ),
            (
                " It only has to PARSE; it is not meant to type-check.".to_string(),
                "// It only has to PARSE; it is not meant to type-check.".to_string()
            ),
            (" a single day".to_string(), "// a single day".to_string()),
        ]
    );
}

#[test]
fn layout_does_not_change_the_ast() {
    let (_, ast) = parse_ok("all_constructs.policy", ALL_CONSTRUCTS);
    // one token per line, with comments between tokens
    let spread: String = ALL_CONSTRUCTS
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" // layout\n");
    let (_, spread_ast) = parse_ok("spread.policy", &spread);
    // (`==` on the AST still compares the `span` fields of structs like `Section`)
    assert_eq!(without_spans(&ast.items), without_spans(&spread_ast.items));
    assert!(spread_ast.comments.len() > 100);
}

#[test]
fn shipped_policies_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "policy") {
            let text = std::fs::read_to_string(&path).unwrap();
            parse_ok(&path.display().to_string(), &text);
        }
    }
}

// ---------------------------------------------------------------- errors

/// Renders diagnostics like a compiler: header, location, the source line with
/// carets, related spans, help. Plain text, stable for snapshots.
fn render(src: &SourceFile, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&format!("error[{}]: {}\n", d.code, d.message));
        out.push_str(&excerpt(src, &d.span, &d.label));
        for r in &d.related {
            out.push_str(&excerpt(src, &r.span, &r.label));
        }
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        // the narratable handler is what screen readers and `--error-format plain` get
        let mut narrated = String::new();
        miette::NarratableReportHandler::new()
            .render_report(&mut narrated, &d.with_source(src))
            .unwrap();
        assert!(narrated.contains(&d.message));
    }
    out
}

fn excerpt(src: &SourceFile, span: &Span, label: &str) -> String {
    let lc = src.line_col(span.start);
    let line = src.text.lines().nth(lc.line - 1).unwrap_or("");
    let width = src
        .text
        .get(span.clone())
        .map(|t| t.chars().count())
        .unwrap_or(0)
        .max(1);
    format!(
        "  --> {}:{}:{}\n   | {line}\n   | {}{} {label}\n",
        src.name,
        lc.line,
        lc.column,
        " ".repeat(lc.column - 1),
        "^".repeat(width)
    )
}

fn errors_of(name: &str, text: &str) -> String {
    let src = SourceFile::new(name, text);
    let (ast, diags) = parse(&src);
    assert!(
        ast.is_none(),
        "{name}: a policy with syntax errors must not yield an AST"
    );
    assert!(!diags.is_empty(), "{name}: expected a syntax error");
    for d in &diags {
        assert_eq!(d.code, Code::Syntax);
        assert!(d.span.end <= text.len() && d.span.start <= d.span.end);
        for leak in ["kw_", "_expr", "Rule", "EOI", "rbrace", "ident"] {
            assert!(
                !d.label.contains(leak),
                "{name}: grammar name in label: {}",
                d.label
            );
        }
    }
    render(&src, &diags)
}

const BROKEN: &[(&str, &str)] = &[
    (
        "assign_for_compare",
        "stage A {\n  probability 10%\n  requires tier = Gold\n}\n",
    ),
    (
        "missing_close_brace",
        "policy \"P\" version \"1\" {\n  currency USD\n\nstage A {\n  probability 10%\n}\n",
    ),
    (
        "missing_close_brace_at_eof",
        "stage A {\n  probability 10%\n  requires x\n",
    ),
    (
        "duration_without_unit",
        "registration {\n  duplicate when same account.domain within 90 days\n}\n",
    ),
    (
        "chained_comparison",
        "flow {\n  A -> B when 1 < amount < 3\n}\n",
    ),
    (
        "keyword_typo",
        "registration {\n  eligible whne partner.tier >= Silver\n}\n",
    ),
    (
        "reserved_word_as_name",
        "stage when {\n  probability 10%\n}\n",
    ),
    (
        "unterminated_text",
        "stage A \"Label {\n  probability 10%\n}\n",
    ),
    (
        "lowercase_currency",
        "cosell {\n  assign x when amount >= 50_000 usd\n}\n",
    ),
    ("stray_close_brace", "stage A {\n  probability 10%\n}\n}\n"),
    (
        "fat_arrow_and_recovery",
        "stge A {\n}\nflow {\n  A => B\n}\nstage B { probability 1% }\n",
    ),
    (
        "thousands_comma",
        "hygiene {\n  flag big when amount > 10,000 USD\n}\n",
    ),
    (
        "field_without_colon",
        "record opportunity {\n  amount money\n}\n",
    ),
    (
        "bad_rate_row",
        "commission {\n  rate by (partner.tier) first match {\n    (_ 5%\n  }\n}\n",
    ),
    ("empty_requires", "stage A {\n  requires because \"x\"\n}\n"),
    (
        "stage_label_in_flow",
        "stage LeadAccepted \"Lead Accepted\" { probability 10% }\nflow {\n  Lead Accepted -> Won\n}\n",
    ),
    (
        "undeclared_label_in_flow",
        "flow {\n  Start -> Closed won deal\n}\n",
    ),
    (
        "quoted_label_in_flow",
        "stage LeadAccepted \"Lead Accepted\" { probability 10% }\nflow {\n  \"Lead Accepted\" -> Won\n}\n",
    ),
    (
        "dollar_amount",
        "policy \"P\" version \"1\" { currency EUR }\nhygiene {\n  flag big when amount > $50,000\n}\n",
    ),
    (
        "unquoted_because",
        "hygiene {\n  flag big when amount > 1 USD because deals this big need review // why\n}\n",
    ),
    (
        "section_keyword_typo_list",
        "registration {\n  eligble when amount > 1 USD\n}\n",
    ),
];

#[test]
fn syntax_errors() {
    let mut all = String::new();
    for (name, text) in BROKEN {
        all.push_str(&format!(
            "=== {name}\n{}\n",
            errors_of(&format!("{name}.policy"), text)
        ));
    }
    insta::assert_snapshot!("syntax_errors", all);
}

#[test]
fn too_deep_nesting_is_reported() {
    let text = format!(
        "hygiene {{ flag f when {}a{} }}",
        "(".repeat(500),
        ")".repeat(500)
    );
    let out = errors_of("deep.policy", &text);
    assert!(out.contains("the policy is nested too deeply"), "{out}");
}

// ---------------------------------------------------------------- robustness

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens = prop::sample::select(vec![
        b"{".to_vec(),
        b"}".to_vec(),
        b"(".to_vec(),
        b")".to_vec(),
        b"\"".to_vec(),
        b"//".to_vec(),
        b"->".to_vec(),
        b"when".to_vec(),
        b" not ".to_vec(),
        b"list<".to_vec(),
        b"10_000 USD".to_vec(),
        b"\xc3\xa9".to_vec(),
        b"\xff".to_vec(),
        b"\n".to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![tokens, prop::collection::vec(any::<u8>(), 1..8)]
        )
            .prop_map(|(i, bytes)| Mutation::Insert(i, bytes)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Flip(i, b) => {
            if let Some(x) = bytes.get_mut(i % len) {
                *x = *b;
            }
        }
        Mutation::Insert(i, new) => {
            let at = i % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i % len;
            let end = (at + n).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_policies_never_panic(mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut bytes = ALL_CONSTRUCTS.as_bytes().to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let src = SourceFile::new("mutated.policy", text.as_str());
        let (ast, diags) = parse(&src);
        // an AST exactly when there is no syntax error
        prop_assert_eq!(ast.is_some(), diags.is_empty());
        for d in &diags {
            prop_assert!(d.span.start <= d.span.end && d.span.end <= text.len());
            prop_assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
            prop_assert!(!d.label.contains("kw_") && !d.label.contains("_expr"), "{}", d.label);
            for r in &d.related {
                prop_assert!(r.span.end <= text.len());
            }
        }
        if let Some(ast) = ast {
            for span in all_spans(&ast) {
                prop_assert!(text.get(span).is_some());
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n\u{e9}]{0,300}") {
        let (ast, diags) = parse(&SourceFile::new("random.policy", text.as_str()));
        prop_assert_eq!(ast.is_some(), diags.is_empty());
    }
}

/// AST equality ignores spans: the same policy laid out differently compares equal
/// with plain `==`, and a real change does not.
#[test]
fn ast_equality_ignores_spans_but_not_content() {
    let a = "policy \"P\" version \"1\" { currency USD }\nstage A { probability 10% forecast pipeline requires x because \"m\" }\nregistration { protect 90d late when stage >= A }\n";
    let b = "policy \"P\"   version \"1\" {\n  currency USD\n}\n\nstage A {\n  probability 10%\n  forecast pipeline\n  requires x\n    because \"m\"\n}\nregistration {\n  protect 90d\n  late when stage >= A\n}\n";
    let c = b.replace("90d", "91d");
    let parse = |t: &str| {
        dealflow_dsl::parser::parse(&dealflow_dsl::SourceFile::new("t.policy", t))
            .0
            .unwrap()
    };
    assert_eq!(parse(a), parse(b));
    assert_ne!(parse(a), parse(&c));
}

#[test]
fn ast_equality_ignores_spans_in_every_node_kind() {
    let parse = |t: &str| {
        dealflow_dsl::parser::parse(&dealflow_dsl::SourceFile::new("t.policy", t))
            .0
            .unwrap()
    };
    let a = parse("policy \"P\" version \"1\" { calendar b { hours mon-fri 09:00-17:00 } }\nrecord opportunity { evidence { x: text } }\nflow { any -> X }\ncommission { rate by (a) first match { (_) 5% } }");
    let b = parse("policy \"P\" version \"1\" {\n  calendar b {\n    hours  mon-fri  09:00-17:00\n  }\n}\nrecord opportunity {\n  evidence {\n    x: text\n  }\n}\nflow {\n  any  ->  X\n}\ncommission {\n  rate by (a) first match {\n    (_)  5%\n  }\n}");
    assert_eq!(a, b);
}
