//! Tests of the editor queries over the reference policies and the fixture corpus.

use std::path::Path;

use super::*;
use crate::ir::{Builtin, RecordKind};
use crate::{analyze, Code, SourceFile};

fn reference_policies() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for dir in ["policies", "dsl/benches/fixtures", "tests/corpus/ok"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "policy"))
            .collect();
        paths.sort();
        for p in paths {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    out
}

fn err_fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/err");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn index_of(text: &str) -> (SourceFile, crate::ast::Policy, Index) {
    let src = SourceFile::new("t.policy", text);
    let (ast, diags) = crate::parser::parse(&src);
    let ast = ast.unwrap_or_else(|| panic!("does not parse: {diags:?}"));
    let index = Index::build(&ast);
    (src, ast, index)
}

/// Every occurrence covers exactly the name of its symbol (dotted built-ins cover
/// the whole path), in every reference policy.
#[test]
fn occurrences_cover_their_names() {
    for (name, text) in reference_policies() {
        let (_, _, ix) = index_of(&text);
        assert!(!ix.occurrences.is_empty(), "{name}");
        for o in &ix.occurrences {
            let written = &text[o.span.clone()];
            let expected = ix.name(o.symbol).unwrap();
            let ok = written == expected
                || (o.symbol == Symbol::Builtin(Builtin::Probability)
                    && written == "stage.probability");
            assert!(
                ok,
                "{name}: `{written}` at {:?} recorded as `{expected}`",
                o.span
            );
        }
    }
}

fn refs(ix: &Index, sym: Symbol) -> usize {
    ix.references(sym).count()
}

#[test]
fn channel_standard_references() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/channel-standard.policy"),
    )
    .unwrap();
    let (_, _, ix) = index_of(&text);
    // Declaration, two flow edges, `open from`, `convert to`.
    let q = Symbol::Stage(ix.stage("Qualification").unwrap());
    assert_eq!(refs(&ix, q), 5);
    assert_eq!(ix.definitions(q).len(), 1);
    // Declaration, `assign`, `never`.
    assert_eq!(
        refs(&ix, Symbol::Pool(ix.pool("executive_sponsor").unwrap())),
        3
    );
    // Declaration and two uses in `exclude` / `downweight`.
    assert_eq!(refs(&ix, Symbol::Flag(ix.flag("inactive").unwrap())), 3);
    // `partner.tier`: declaration, two `eligible`/`auto approve` uses, rate key,
    // route, prefer.
    let tier = Symbol::Field(ix.field(RecordKind::Partner, "tier").unwrap());
    assert_eq!(refs(&ix, tier), 6);
    // `Gold`: declared once (partner.tier), in `auto approve` and two rate rows.
    let gold: Vec<_> = ix
        .occurrences
        .iter()
        .filter(|o| &text[o.span.clone()] == "Gold")
        .map(|o| o.symbol)
        .collect();
    assert_eq!(gold.len(), 4);
    assert!(gold.iter().all(|s| *s == gold[0]));
    // `Security` in a rate row is the line item's product family, the same enum as
    // the opportunity's (same variants in the same order).
    let security = ix
        .occurrences
        .iter()
        .filter(|o| &text[o.span.clone()] == "Security")
        .map(|o| o.symbol)
        .collect::<Vec<_>>();
    assert!(security.len() >= 4, "{security:?}");
    assert!(security.iter().all(|s| *s == security[0]));
    // `li.quantity` is the line item's field.
    let quantity = Symbol::Field(ix.field(RecordKind::LineItem, "quantity").unwrap());
    assert!(refs(&ix, quantity) >= 4);
}

/// Renaming any symbol of any reference policy gives a policy with the same
/// diagnostics: the index found every reference (a missed one would leave an
/// unknown name behind and the rename would be refused).
#[test]
fn every_rename_lints_clean() {
    for (name, text) in reference_policies() {
        let (src, _, ix) = index_of(&text);
        let before = analyze(&src).diagnostics;
        let mut seen = std::collections::HashSet::new();
        for o in &ix.occurrences {
            if matches!(o.symbol, Symbol::Builtin(_)) || !seen.insert(o.symbol) {
                continue;
            }
            let new_name = format!("{}_renamed", ix.name(o.symbol).unwrap());
            let edits = rename(&src, &ix, o.span.start, &new_name).unwrap_or_else(|e| {
                panic!("{name}: renaming `{}`: {e}", ix.name(o.symbol).unwrap())
            });
            assert_eq!(edits.len(), ix.references(o.symbol).count());
            let after = analyze(&SourceFile::new("t.policy", apply(&text, &edits)));
            let codes = |d: &[crate::Diagnostic]| d.iter().map(|d| d.code).collect::<Vec<_>>();
            assert_eq!(
                codes(&before),
                codes(&after.diagnostics),
                "{name}: {new_name}"
            );
        }
    }
}

#[test]
fn rename_refuses_clashes_keywords_and_builtins() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/channel-standard.policy"),
    )
    .unwrap();
    let (src, _, ix) = index_of(&text);
    let at = |needle: &str| text.find(needle).unwrap();
    let q = at("stage Qualification") + 6;
    assert!(matches!(
        rename(&src, &ix, q, "Identification"),
        Err(RenameError::WouldBreak { .. })
    ));
    assert!(matches!(
        rename(&src, &ix, q, "when"),
        Err(RenameError::WouldBreak { .. })
    ));
    assert!(matches!(
        rename(&src, &ix, q, "1abc"),
        Err(RenameError::NotAName(_))
    ));
    assert!(matches!(
        rename(&src, &ix, q, "a b"),
        Err(RenameError::NotAName(_))
    ));
    let days = at("days_in_stage >") + 1;
    assert_eq!(rename(&src, &ix, days, "x"), Err(RenameError::Builtin));
    assert_eq!(rename(&src, &ix, 0, "x"), Err(RenameError::NothingHere));
}

/// Every fix offered for a corpus fixture removes its diagnostic.
#[test]
fn fixes_remove_their_diagnostic() {
    let mut fixed = Vec::new();
    for (name, text) in err_fixtures() {
        let src = SourceFile::new("t.policy", text.as_str());
        let analysis = analyze(&src);
        for d in &analysis.diagnostics {
            let Some(f) = fix(&text, analysis.ast.as_ref(), d) else {
                continue;
            };
            let new_text = apply(&text, &f.edits);
            let after = analyze(&SourceFile::new("t.policy", new_text.as_str()));
            let line = |t: &str, off: usize| t[..off.min(t.len())].matches('\n').count();
            let still = after.diagnostics.iter().any(|a| {
                a.code == d.code && line(&new_text, a.span.start) == line(&text, d.span.start)
            });
            assert!(
                !still,
                "{name}: `{}` did not fix {:?}\n{new_text}",
                f.title, d
            );
            fixed.push(d.code);
        }
    }
    for code in [
        Code::UnknownField,
        Code::UnknownStage,
        Code::UnknownPool,
        Code::MissingDefaultRow,
    ] {
        assert!(
            fixed.contains(&code),
            "no fix exercised for {code}: {fixed:?}"
        );
    }
}

#[test]
fn missing_brace_fix_parses() {
    for text in [
        "policy \"P\" version \"1\" {\n  currency USD\n",
        "policy \"P\" version \"1\" {\n  currency USD\n\nrecord opportunity {\n  amount: money\n}\n",
    ] {
        let src = SourceFile::new("t.policy", text);
        let analysis = analyze(&src);
        let d = analysis.diagnostics.iter().find(|d| d.code == Code::Syntax).unwrap();
        let f = fix(text, None, d).unwrap_or_else(|| panic!("no fix for {d:?}"));
        let fixed = apply(text, &f.edits);
        let (ast, diags) = crate::parser::parse(&SourceFile::new("t.policy", fixed.as_str()));
        assert!(ast.is_some(), "{fixed}\n{diags:?}");
    }
}

fn labels(text_with_cursor: &str, index_text: &str) -> Vec<String> {
    let offset = text_with_cursor.find('|').unwrap();
    let text = text_with_cursor.replacen('|', "", 1);
    let (_, _, ix) = index_of(index_text);
    complete(&text, offset, Some(&ix))
        .into_iter()
        .map(|c| c.label)
        .collect()
}

#[test]
fn completion_in_context() {
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/channel-standard.policy"),
    )
    .unwrap();
    let in_section = |section: &str, line: &str| {
        let marker = format!("\n{section} {{\n");
        let at = base.find(&marker).unwrap() + marker.len();
        format!("{}{line}\n{}", &base[..at], &base[at..])
    };
    let has = |got: &[String], want: &[&str]| {
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing `{w}` in {got:?}");
        }
    };
    let got = labels(
        &in_section("registration", "  eligible when partner.|"),
        &base,
    );
    has(&got, &["tier", "territories", "win_rate"]);
    assert!(!got.iter().any(|g| g == "domain"));
    let got = labels(
        &in_section("registration", "  eligible when account.|"),
        &base,
    );
    has(&got, &["domain", "owner", "direct_owned"]);
    let got = labels(
        &in_section("registration", "  eligible when partner.tier >= |"),
        &base,
    );
    assert_eq!(got, ["Registered", "Silver", "Gold", "Platinum"]);
    let got = labels(
        &in_section("registration", "  eligible when partner.tier in [Gold, |"),
        &base,
    );
    assert_eq!(got, ["Registered", "Silver", "Gold", "Platinum"]);
    let got = labels(
        &in_section("registration", "  late when stage == Neg|"),
        &base,
    );
    has(
        &got,
        &["Identification", "NegotiationClosing", "ClosedLost"],
    );
    let got = labels(&in_section("flow", "  Qualification -> |"), &base);
    has(&got, &["ProposalEvaluation", "ClosedWon"]);
    let got = labels(&in_section("cosell", "  assign |"), &base);
    has(&got, &["presales_engineer", "pricing_desk"]);
    let got = labels(&in_section("registration", "  |"), &base);
    has(&got, &["open from", "eligible when", "protect"]);
    let got = labels(
        &in_section("hygiene", "  exclude from forecast when st|"),
        &base,
    );
    has(
        &got,
        &[
            "stale",
            "amount",
            "days_in_stage",
            "partner",
            "days_between",
        ],
    );
    let got = labels(&format!("{base}\n|"), &base);
    has(&got, &["record", "stage", "won stage", "leads"]);
    let got = labels(
        &in_section(
            "cosell",
            "  assign pricing_desk when count(li in line_items: li.|",
        ),
        &base,
    );
    has(&got, &["quantity", "price"]);
}

/// Completion and hover answer at every offset of half-typed text without panicking.
#[test]
fn queries_are_total_on_prefixes() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/mssp-security.policy"),
    )
    .unwrap();
    let (_, _, ix) = index_of(&text);
    let docs = |c: Code| c.as_str().to_string();
    for cut in (0..text.len())
        .step_by(7)
        .filter(|c| text.is_char_boundary(*c))
    {
        let prefix = &text[..cut];
        let _ = complete(prefix, cut, Some(&ix));
        let _ = hover(prefix, None, Some(&ix), cut, &docs);
        let _ = complete(prefix, cut / 2, None);
    }
}

#[test]
fn outline_lists_every_item() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/channel-standard.policy"),
    )
    .unwrap();
    let (_, ast, _) = index_of(&text);
    let items = outline(&ast);
    assert_eq!(items.len(), ast.items.len());
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names[0], "Standard Channel Program");
    assert!(names.contains(&"Qualification") && names.contains(&"hygiene"));
    let opp = items.iter().find(|i| i.name == "opportunity").unwrap();
    assert!(opp
        .children
        .iter()
        .any(|c| c.name == "po_number" && c.detail.as_deref() == Some("text (evidence)")));
    for i in &items {
        assert!(
            i.span.start <= i.name_span.start && i.name_span.end <= i.span.end,
            "{i:?}"
        );
    }
}

/// A one-name typo of each kind gets a "did you mean" fix that restores the text.
#[test]
fn did_you_mean_fixes_restore_the_name() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/channel-standard.policy"),
    )
    .unwrap();
    let typos = [
        (
            "partner.tier >= Silver",
            "partner.teir >= Silver",
            Code::UnknownField,
        ),
        (
            "open from Qualification",
            "open from Qualifcation",
            Code::UnknownStage,
        ),
        (
            "assign pricing_desk",
            "assign pricing_dsk",
            Code::UnknownPool,
        ),
        (
            "partner.tier >= Silver",
            "partner.tier >= Silvr",
            Code::UnknownEnumValue,
        ),
        (
            "days_between(today, close_date)",
            "days_betwen(today, close_date)",
            Code::UnknownName,
        ),
        (
            "eligible when account.industry",
            "eligble when account.industry",
            Code::Syntax,
        ),
    ];
    for (good, bad, code) in typos {
        let broken = text.replacen(good, bad, 1);
        let analysis = analyze(&SourceFile::new("t.policy", broken.as_str()));
        let d = analysis
            .diagnostics
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("`{bad}`: no {code} in {:?}", analysis.diagnostics));
        let f = fix(&broken, analysis.ast.as_ref(), d)
            .unwrap_or_else(|| panic!("`{bad}`: no fix for {d:?}"));
        assert_eq!(apply(&broken, &f.edits), text, "`{bad}`: {}", f.title);
    }
}

/// In a `unique match` table an all-`_` row would overlap every row: no fix offered.
#[test]
fn no_default_row_fix_for_unique_tables() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/corpus/err/W304-missing-default-row.policy"),
    )
    .unwrap();
    for (mode, fixable) in [("first match", true), ("unique match", false)] {
        let text = text.replacen("first match", mode, 1);
        let analysis = analyze(&SourceFile::new("t.policy", text.as_str()));
        let d = analysis
            .diagnostics
            .iter()
            .find(|d| d.code == Code::MissingDefaultRow)
            .unwrap();
        assert_eq!(
            fix(&text, analysis.ast.as_ref(), d).is_some(),
            fixable,
            "{mode}"
        );
    }
}
