//! Formatter tests: a snapshot of a messy policy, and the formatter's properties
//! (idempotent, indentation-insensitive, meaning- and comment-preserving) over every
//! policy in the repository and over randomly assembled policies.

use std::path::{Path, PathBuf};

use dealflow_dsl::fmt::{format, format_source, sorted_comment_texts};
use dealflow_dsl::parser::parse;
use dealflow_dsl::{ast, SourceFile};
use proptest::prelude::*;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses text that must be free of syntax errors.
fn parse_ok(name: &str, text: &str) -> Result<ast::Policy, String> {
    let (policy, diags) = parse(&SourceFile::new(name, text));
    match policy {
        Some(policy) if diags.is_empty() => Ok(policy),
        _ => Err(format!(
            "{name} does not parse: {diags:#?}\n--- text ---\n{text}"
        )),
    }
}

fn fmt_text(name: &str, text: &str) -> Result<String, String> {
    let policy = parse_ok(name, text)?;
    Ok(format(&policy, text))
}

/// The same text re-indented: leading whitespace stripped, doubled, or tabs.
fn reindented(text: &str) -> Vec<(&'static str, String)> {
    let map = |f: &dyn Fn(&str, &str) -> String| -> String {
        text.split_inclusive('\n')
            .map(|line| {
                let body = line.trim_start_matches([' ', '\t']);
                let indent = &line[..line.len() - body.len()];
                f(indent, body)
            })
            .collect()
    };
    vec![
        ("stripped", map(&|_, body| body.to_string())),
        (
            "doubled",
            map(&|indent, body| format!("{indent}{indent}{body}")),
        ),
        (
            "tabs",
            map(&|indent, body| format!("{}{body}", "\t".repeat(indent.len()))),
        ),
        ("crlf", text.replace('\n', "\r\n")),
    ]
}

/// A debug dump of an AST with every span (`12..34`) replaced by `_`.
///
/// The AST's derived `PartialEq` compares the `span` fields of most nodes (only
/// `Spanned` and `Ident` ignore theirs), so ASTs of the same policy laid out
/// differently are compared through this dump instead.
fn dump(items: &[ast::Item]) -> Vec<String> {
    let text = format!("{items:#?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("..") {
        let (before, after) = rest.split_at(i);
        let digits_before =
            before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let after = &after[2..];
        let digits_after =
            after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits_before > 0 && digits_after > 0 {
            out.push_str(&before[..before.len() - digits_before]);
            out.push('_');
            rest = &after[digits_after..];
        } else {
            out.push_str(before);
            out.push_str("..");
            rest = after;
        }
    }
    out.push_str(rest);
    out.lines().map(str::to_string).collect()
}

/// The first lines where two ASTs' dumps differ.
fn ast_diff(a: &[ast::Item], b: &[ast::Item]) -> String {
    let (a, b) = (dump(a), dump(b));
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(12);
    let show = |lines: &[String]| {
        lines
            .iter()
            .skip(from)
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!("--- before ---\n{}\n--- after ---\n{}", show(&a), show(&b))
}

/// Checks properties 1-3 and the layout rules on one policy text; returns the
/// formatted text.
fn check_properties(name: &str, text: &str) -> Result<String, String> {
    let original = parse_ok(name, text)?;
    let once = format(&original, text);

    // Meaning-preserving: same AST (spans ignored), same comments.
    let reparsed = parse_ok(&format!("{name} (formatted)"), &once)?;
    if dump(&reparsed.items) != dump(&original.items) {
        return Err(format!(
            "{name}: formatting changed the AST:\n{}\n--- formatted ---\n{once}",
            ast_diff(&original.items, &reparsed.items)
        ));
    }
    let (before, after) = (
        sorted_comment_texts(&original.comments),
        sorted_comment_texts(&reparsed.comments),
    );
    if before != after {
        return Err(format!(
            "{name}: comments changed: {before:?} -> {after:?}\n--- formatted ---\n{once}"
        ));
    }
    let in_order = |p: &ast::Policy| {
        p.comments
            .iter()
            .map(|c| c.text.trim_end().to_string())
            .collect::<Vec<_>>()
    };
    if in_order(&original) != in_order(&reparsed) {
        return Err(format!(
            "{name}: comments reordered\n--- formatted ---\n{once}"
        ));
    }

    // Idempotent.
    let twice = format(&reparsed, &once);
    if twice != once {
        return Err(format!(
            "{name}: not idempotent\n--- once ---\n{once}\n--- twice ---\n{twice}"
        ));
    }

    // Indentation-insensitive.
    for (how, variant) in reindented(text) {
        let formatted = fmt_text(&format!("{name} ({how})"), &variant)?;
        if formatted != once {
            return Err(format!("{name}: re-indented ({how}) formats differently\n--- original ---\n{once}\n--- {how} ---\n{formatted}"));
        }
    }

    // Layout rules. A blank file (nothing but white space) formats to an empty file, as
    // rustfmt does; anything else ends with exactly one newline.
    if text.trim().is_empty() {
        if !once.is_empty() {
            return Err(format!("{name}: a blank file must format to an empty file"));
        }
        return Ok(once);
    }
    if !once.ends_with('\n') || once.ends_with("\n\n") {
        return Err(format!("{name}: output must end with exactly one newline"));
    }
    if once.contains("\n\n\n") || once.starts_with('\n') {
        return Err(format!("{name}: more than one blank line in a row\n{once}"));
    }
    for line in once.lines() {
        if line.ends_with([' ', '\t']) || line.starts_with('\t') {
            return Err(format!("{name}: bad whitespace in line `{line}`"));
        }
        let indent = line.len() - line.trim_start().len();
        if indent % 2 != 0 {
            return Err(format!("{name}: odd indentation in line `{line}`"));
        }
    }
    Ok(once)
}

#[test]
fn messy_policy_snapshot() {
    let path = manifest_dir().join("tests/fixtures/fmt/messy.policy");
    let text = std::fs::read_to_string(&path).unwrap();
    let formatted = check_properties("messy.policy", &text).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!(formatted);
}

#[test]
fn format_source_formats_valid_text_and_refuses_syntax_errors() {
    let ok = SourceFile::new("ok.policy", "policy \"P\" version \"1\" {   currency USD }");
    assert_eq!(
        format_source(&ok).unwrap(),
        "policy \"P\" version \"1\" {\n  currency USD\n}\n"
    );

    let broken = SourceFile::new(
        "bad.policy",
        "policy \"P\" version \"1\" { currency USD // no brace\n",
    );
    let diags = format_source(&broken).unwrap_err();
    assert!(!diags.is_empty());
}

/// Every `.policy` file under `dir`, recursively.
fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            policy_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "policy") {
            out.push(path);
        }
    }
}

#[test]
fn properties_hold_for_every_policy_in_the_repository() {
    let mut files = Vec::new();
    policy_files(&manifest_dir().join("../policies"), &mut files);
    policy_files(&manifest_dir().join("tests/fixtures"), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("messy.policy")),
        "fixture corpus not found"
    );

    let mut checked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let name = file.display().to_string();
        // Files with syntax errors (parser error fixtures) cannot be formatted.
        if parse_ok(&name, &text).is_err() {
            continue;
        }
        checked += 1;
        if let Err(e) = check_properties(&name, &text) {
            failures.push(e);
        }
    }
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} of {checked} policies failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------- random policies

/// A piece of policy text: a one-line member, or a block of members.
#[derive(Clone, Debug)]
enum Piece {
    /// Chunks of one member; the layout may break lines (or put comments) between them.
    Line(&'static [&'static str]),
    Block(&'static str, Vec<Piece>),
}

use Piece::{Block, Line};

/// Every construct of the language, each block with candidate members.
fn universe() -> Vec<Piece> {
    vec![
        Block(
            "policy \"Random\" version \"1\"",
            vec![
                Line(&["currency USD"]),
                Block(
                    "calendar business",
                    vec![
                        Line(&["timezone \"Europe/Paris\""]),
                        Line(&["hours mon-fri", "09:00-17:00"]),
                        Line(&["holidays 2026-12-25,", "2027-01-01,", "2027-05-01"]),
                    ],
                ),
            ],
        ),
        Block(
            "record opportunity",
            vec![
                Line(&["amount: money"]),
                Line(&["strategic: bool = false"]),
                Line(&["competitors: list<text>"]),
                Line(&["influencer: text?"]),
                Line(&["product_family: enum {", "Core, Security,", "Analytics }"]),
                Block(
                    "evidence",
                    vec![
                        Line(&["budget_process: bool"]),
                        Line(&["decision_maker: text"]),
                    ],
                ),
            ],
        ),
        Block(
            "stage Qualification \"Qualification\"",
            vec![
                Line(&["probability 15%"]),
                Line(&["forecast pipeline"]),
                Line(&["expected 21d"]),
                Line(&[
                    "requires budget_process,",
                    "decision_maker,",
                    "timeline <= close_date + 365d",
                    "because \"Qualify first\"",
                ]),
                Line(&[
                    "requires",
                    "(amount + 1 USD) * 2 > 10_000 USD",
                    "and not strategic",
                ]),
            ],
        ),
        Block(
            "won stage Won",
            vec![Line(&["probability 100%"]), Line(&["requires po_number"])],
        ),
        Block(
            "lost stage Lost \"Closed Lost\"",
            vec![Line(&["probability 0%"]), Line(&["forecast omitted"])],
        ),
        Block(
            "flow",
            vec![
                Line(&["Qualification ->", "Won"]),
                Line(&[
                    "Qualification -> Won",
                    "when amount < 10_000 USD",
                    "because \"small\"",
                ]),
                Line(&["any -> Lost"]),
            ],
        ),
        Block(
            "registration",
            vec![
                Line(&["open from Qualification"]),
                Line(&["eligible when partner.tier >= Silver", "because \"tier\""]),
                Line(&[
                    "duplicate when same account.domain,",
                    "product_family within 90d",
                ]),
                Line(&["conflict when account.owner == direct", "reject \"direct\""]),
                Line(&[
                    "conflict when other partner holds protected registration on account,",
                    "product_family",
                ]),
                Line(&[
                    "auto approve when partner.tier in [Gold, Platinum]",
                    "and amount <= 250_000 USD",
                ]),
                Line(&["review by channel_ops within 24 business hours"]),
                Line(&["escalate to channel_director after 1 business hour"]),
                Line(&["protect 90d"]),
                Line(&["extend 30d on advance,", "at most 2"]),
                Line(&["late when stage >= Won"]),
                Line(&["discount 10%", "when approved"]),
            ],
        ),
        Block(
            "cosell",
            vec![
                Line(&["pool presales \"Presales\" capacity 10 per week"]),
                Line(&[
                    "assign presales when stage == Qualification",
                    "priority amount * probability",
                ]),
                Line(&[
                    "never when not registration.approved",
                    "because \"register first\"",
                ]),
                Line(&["never presales when amount < 100 USD"]),
            ],
        ),
        Block(
            "commission",
            vec![
                Line(&[
                    "attribute when registration.approved_before_close",
                    "because \"first\"",
                ]),
                Block(
                    "rate by (partner.tier, item.product_family) first match",
                    vec![
                        Line(&["(Platinum, _) 12%"]),
                        Line(&["(Gold, [Security, Core])", "10%"]),
                        Line(&["(_, _) 5%"]),
                    ],
                ),
                Line(&[
                    "rebate bonus 2% when cosell.supported",
                    "and registration.age_at_close >= 30d",
                ]),
                Line(&[
                    "split when present influencer {",
                    "registering 70%,",
                    "influencer 30% }",
                ]),
            ],
        ),
        Block(
            "hygiene",
            vec![
                Line(&[
                    "flag stale when days_in_stage > 2 * stage.expected",
                    "because \"stale\"",
                ]),
                Line(&[
                    "exclude from forecast when stale",
                    "and days_in_stage > 90d",
                ]),
                Line(&["downweight 50% when stale"]),
            ],
        ),
        Block(
            "leads",
            vec![
                Line(&["route when lead.region in partner.territories"]),
                Line(&["prefer partner.tier desc,", "partner.win_rate"]),
                Line(&["accept within 48 business hours,", "reroute at most 3"]),
                Line(&["convert to Qualification", "when lead.budget_confirmed"]),
            ],
        ),
    ]
}

/// Writes pieces as text, taking every layout decision from `choices`.
struct Writer<'a> {
    choices: &'a [u8],
    next: usize,
    comments: usize,
    out: String,
}

impl Writer<'_> {
    fn choose(&mut self, n: u8) -> u8 {
        let c = self
            .choices
            .get(self.next % self.choices.len().max(1))
            .copied()
            .unwrap_or(0);
        self.next += 1;
        c % n
    }

    fn comment(&mut self) -> String {
        self.comments += 1;
        let odd = ["", " {", " }", " \"quoted", " // nested", "\tx "];
        let i = self.choose(odd.len() as u8) as usize;
        format!("// c{}{}", self.comments, odd[i])
    }

    /// Whitespace before a member: a space, a newline, or blank lines, indented
    /// anyhow; sometimes with an own-line comment.
    fn gap(&mut self, must_break: bool) {
        let kind = self.choose(6);
        let ws = match kind {
            0 | 1 if !must_break => " ",
            0..=2 => "\n",
            3 => "\n\n",
            4 => "\n\n\n",
            _ => "\n  \t \n",
        };
        self.out.push_str(ws);
        if self.choose(5) == 0 {
            let indent = ["", "  ", "\t", "        "][self.choose(4) as usize];
            let c = self.comment();
            if !ws.contains('\n') {
                self.out.push('\n');
            }
            self.out.push_str(indent);
            self.out.push_str(&c);
            self.out.push('\n');
        }
        let indent = ["", "  ", "\t", "    ", " "][self.choose(5) as usize];
        self.out.push_str(indent);
    }

    /// Maybe a trailing comment; returns whether the next token must go on a new line.
    fn maybe_trailing(&mut self) -> bool {
        if self.choose(6) == 0 {
            let c = self.comment();
            self.out.push(' ');
            self.out.push_str(&c);
            true
        } else {
            false
        }
    }

    fn piece(
        &mut self,
        piece: &Piece,
        selection: &mut impl Iterator<Item = bool>,
        mut must_break: bool,
    ) -> bool {
        self.gap(must_break);
        match piece {
            Line(chunks) => {
                for (i, chunk) in chunks.iter().enumerate() {
                    if i > 0 {
                        match self.choose(4) {
                            0 => self.out.push('\n'),
                            1 => {
                                let c = self.comment();
                                self.out.push(' ');
                                self.out.push_str(&c);
                                self.out.push('\n');
                            }
                            _ => self.out.push(' '),
                        }
                    }
                    self.out.push_str(chunk);
                }
                self.maybe_trailing()
            }
            Block(header, members) => {
                self.out.push_str(header);
                if self.choose(8) == 0 {
                    let c = self.comment();
                    self.out.push(' ');
                    self.out.push_str(&c);
                    self.out.push('\n');
                } else {
                    self.out.push(' ');
                }
                self.out.push('{');
                must_break = self.maybe_trailing();
                for member in members {
                    if selection.next().unwrap_or(true) {
                        must_break = self.piece(member, selection, must_break);
                    }
                }
                if self.choose(5) == 0 {
                    self.out.push('\n');
                    let c = self.comment();
                    self.out.push_str(&c);
                    must_break = true;
                }
                self.gap(must_break);
                self.out.push('}');
                self.maybe_trailing()
            }
        }
    }
}

fn random_policy(selection: &[bool], choices: &[u8]) -> String {
    let mut w = Writer {
        choices,
        next: 0,
        comments: 0,
        out: String::new(),
    };
    let mut selection = selection.iter().copied();
    let mut must_break = false;
    if choices.first().is_some_and(|c| c % 3 == 0) {
        let c = w.comment();
        w.out.push_str(&c);
        must_break = true;
    }
    for item in universe() {
        if selection.next().unwrap_or(true) {
            must_break = w.piece(&item, &mut selection, must_break);
        }
    }
    if choices.last().is_some_and(|c| c % 2 == 0) {
        w.out.push('\n');
        let c = w.comment();
        w.out.push_str(&c);
    }
    w.out.push('\n');
    w.out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn properties_hold_for_random_policies(
        selection in proptest::collection::vec(any::<bool>(), 70),
        choices in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let text = random_policy(&selection, &choices);
        if let Err(e) = check_properties("random.policy", &text) {
            prop_assert!(false, "{}\n--- input ---\n{}", e, text);
        }
    }
}

/// Issue 6: field ranges print canonically (`in low .. high`, open bounds without a
/// bound), the same AST comes back, and formatting is idempotent.
#[test]
fn field_ranges_format_canonically() {
    let text = "record opportunity {\n  d: money in -10_000 USD..10_000 USD\n  s: integer? in 0..= 1\n  c: money in   ..5_000 USD\n  m: percent in -50%..100%\n}\n";
    let once = fmt_text("r.policy", text).unwrap();
    assert_eq!(
        once,
        "record opportunity {\n  d: money in -10_000 USD .. 10_000 USD\n  s: integer? in 0 .. = 1\n  c: money in .. 5_000 USD\n  m: percent in -50% .. 100%\n}\n"
    );
    assert_eq!(fmt_text("r.policy", &once).unwrap(), once);
    assert_eq!(parse_ok("a", text).unwrap(), parse_ok("b", &once).unwrap());
}
