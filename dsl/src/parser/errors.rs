//! Pest errors -> [`Diagnostic`]s in user words.
//!
//! The message names the offending token (`` unexpected `=` ``, `unexpected end of
//! file`), the label lists what would have been accepted there, in user words
//! ([`describe`]; pest rule names never leak), and `help` suggests a fix for the common
//! mistakes: `=` for `==`, a missing `}`, a duration without its unit, a chained
//! comparison, a keyword typo, an unterminated text.

use pest::error::{Error, ErrorVariant, InputLocation};

use super::scan;
use super::Rule;
use crate::ast::Span;
use crate::diagnostics::{Code, Diagnostic};

/// Converts a pest error on `text` to a diagnostic; also returns the error offset.
pub(super) fn to_diagnostic(text: &str, err: &Error<Rule>) -> (Diagnostic, usize) {
    let raw = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let pos = skip_trivia(text, clamp(text, raw));
    let (positives, negatives) = match &err.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => (positives.as_slice(), negatives.as_slice()),
        ErrorVariant::CustomError { .. } => {
            let diag = Diagnostic::new(Code::Syntax, pos..pos, "the policy is nested too deeply")
                .label("the parser ran out of room here")
                .help("split the expression into smaller rules, or flags that later rules can use");
            return (diag, pos);
        }
    };
    let token = token_at(text, pos);
    let mut expected: Vec<String> = positives
        .iter()
        .flat_map(|r| match r {
            // The whole file failed at its start: any item, or nothing, fits there.
            Rule::file => ITEM_RULES.to_vec(),
            other => vec![*other],
        })
        .filter_map(describe)
        .collect();
    expected.sort();
    expected.dedup();

    let (span, message) = match &token {
        Some(tok) => (
            tok.span.clone(),
            format!("unexpected `{}`", shorten(tok.text)),
        ),
        None => (pos..pos, "unexpected end of file".to_string()),
    };
    let reserved = negatives.contains(&Rule::reserved)
        || (expected.iter().any(|e| e == "a name")
            && token.as_ref().is_some_and(|t| RESERVED.contains(&t.text)));
    let label = if reserved {
        format!(
            "`{}` is a reserved word",
            token.as_ref().map(|t| t.text).unwrap_or("")
        )
    } else {
        match expected.as_slice() {
            [] => "not expected here".to_string(),
            [one] => format!("expected {one}"),
            many => format!(
                "expected one of: {}",
                plausible(many, token.as_ref().map(|t| t.text))
            ),
        }
    };
    let mut diag = Diagnostic::new(Code::Syntax, span, message).label(label);
    if reserved {
        diag = diag.help("choose another name; this word has a meaning of its own in a policy");
    } else if let Some(help) = help(text, pos, token.as_ref(), &expected) {
        diag = diag.help(help.text);
        if let Some((span, label)) = help.related {
            diag = diag.related(span, label);
        }
    }
    (diag, pos)
}

/// At most this many alternatives are listed in "expected one of"; the rest are `...`.
const MAX_EXPECTED: usize = 5;

/// The most plausible of the expected alternatives, at most [`MAX_EXPECTED`], then
/// `...`: keywords close to the word written (a typo), then what continues or closes
/// the current construct (an operator, a value, `}`), then the other keywords. Inside
/// a section pest expects every keyword that may start a rule there; listing all of
/// them buries the likely fix.
fn plausible(expected: &[String], token: Option<&str>) -> String {
    if expected.len() <= MAX_EXPECTED {
        return expected.join(", ");
    }
    let word = token.filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
    let keyword = |e: &str| {
        e.strip_prefix('`')
            .and_then(|e| e.strip_suffix('`'))
            .filter(|k| k.chars().all(|c| c.is_ascii_alphabetic() || c == ' '))
            .map(str::to_string)
    };
    let mut ranked: Vec<(usize, usize, &String)> = expected
        .iter()
        .map(|e| {
            let rank = match (keyword(e), word) {
                (Some(k), Some(w)) => {
                    let d = strsim::damerau_levenshtein(w, k.split(' ').next().unwrap_or(&k));
                    if d <= 2 {
                        (0, d)
                    } else {
                        (2, 0)
                    }
                }
                (Some(_), None) => (2, 0),
                (None, _) => (1, 0),
            };
            (rank.0, rank.1, e)
        })
        .collect();
    // Stable: equal ranks keep the alphabetical order of `expected`.
    ranked.sort_by_key(|(tier, distance, _)| (*tier, *distance));
    let mut shown: Vec<&str> = ranked
        .iter()
        .take(MAX_EXPECTED)
        .map(|(_, _, e)| e.as_str())
        .collect();
    shown.push("...");
    shown.join(", ")
}

fn clamp(text: &str, pos: usize) -> usize {
    let mut pos = pos.min(text.len());
    while pos > 0 && !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Skips whitespace and comments forward from `pos`.
fn skip_trivia(text: &str, mut pos: usize) -> usize {
    loop {
        let Some(rest) = text.get(pos..) else {
            return pos;
        };
        let trimmed = rest.trim_start();
        pos += rest.len() - trimmed.len();
        if trimmed.starts_with("//") {
            pos += trimmed.find('\n').unwrap_or(trimmed.len());
        } else {
            return pos;
        }
    }
}

/// A token of the source around an error.
struct Token<'a> {
    text: &'a str,
    span: Span,
}

/// The rules that start a top-level item, plus the end of the file.
const ITEM_RULES: &[Rule] = &[
    Rule::header,
    Rule::record,
    Rule::stage,
    Rule::flow,
    Rule::registration,
    Rule::cosell,
    Rule::commission,
    Rule::hygiene,
    Rule::leads,
    Rule::EOI,
];

/// Words that can never be a name (mirrors `reserved` in the grammar).
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "true", "false", "present", "missing", "when", "because",
];

const TWO_CHAR_OPS: &[&str] = &["==", "!=", "<=", ">=", "->", "=>", "&&", "||"];

/// The token starting at `pos`: a word, a quoted text (to its closing quote or the end
/// of the line), a two-character operator or a single character. `None` at the end.
fn token_at(text: &str, pos: usize) -> Option<Token<'_>> {
    let rest = text.get(pos..)?;
    let first = rest.chars().next()?;
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len())
    } else if first == '"' {
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let line = rest.get(..line_end).unwrap_or("");
        closing_quote(line)
            .map(|i| i + 1)
            .unwrap_or(line.trim_end().len())
    } else if TWO_CHAR_OPS.iter().any(|op| rest.starts_with(op)) {
        2
    } else {
        first.len_utf8()
    };
    Some(Token {
        text: rest.get(..len).unwrap_or(""),
        span: pos..pos + len,
    })
}

/// The offset of the quote closing the text that opens at the start of `line`.
fn closing_quote(line: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in line.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// At most 40 characters of a token, for a one-line message.
fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut out: String = s.chars().take(39).collect();
        out.push('…');
        out
    } else {
        s.to_string()
    }
}

/// The grammar rule as users know it, or `None` for rules never worth listing.
pub(super) fn describe(rule: Rule) -> Option<String> {
    let word = |w: &str| Some(format!("`{w}`"));
    let text = |w: &str| Some(w.to_string());
    match rule {
        Rule::EOI => text("end of file"),
        Rule::header => word("policy"),
        Rule::record => word("record"),
        Rule::stage => word("stage"),
        Rule::flow => word("flow"),
        Rule::registration => word("registration"),
        Rule::cosell => word("cosell"),
        Rule::commission => word("commission"),
        Rule::hygiene => word("hygiene"),
        Rule::leads => word("leads"),
        Rule::currency_setting => word("currency"),
        Rule::calendar => word("calendar"),
        Rule::timezone => word("timezone"),
        Rule::hours => word("hours"),
        Rule::holidays => word("holidays"),
        Rule::evidence => word("evidence"),
        Rule::field => text("a field (`name: type`)"),
        Rule::type_expr | Rule::enum_type | Rule::list_type | Rule::named_type => text("a type"),
        Rule::probability => word("probability"),
        Rule::forecast => word("forecast"),
        Rule::expected => word("expected"),
        Rule::requires => word("requires"),
        Rule::because => word("because"),
        Rule::reject => word("reject"),
        Rule::flow_rule | Rule::stage_ref => text("a stage name"),
        Rule::open_from => word("open from"),
        Rule::eligible => word("eligible"),
        Rule::duplicate => word("duplicate"),
        Rule::conflict_protected | Rule::conflict => word("conflict"),
        Rule::auto_approve => word("auto approve"),
        Rule::review => word("review"),
        Rule::escalate => word("escalate"),
        Rule::protect => word("protect"),
        Rule::extend => word("extend"),
        Rule::late => word("late"),
        Rule::discount => word("discount"),
        Rule::pool => word("pool"),
        Rule::assign_rule => word("assign"),
        Rule::never => word("never"),
        Rule::attribute => word("attribute"),
        Rule::rate => word("rate"),
        Rule::rate_row => text("a rate row like `(Gold, _) 10%`"),
        Rule::pattern => text("a pattern (a value or `_`)"),
        Rule::rebate => word("rebate"),
        Rule::split => word("split"),
        Rule::split_share => text("a share like `registering 70%`"),
        Rule::flag => word("flag"),
        Rule::exclude => word("exclude"),
        Rule::downweight => word("downweight"),
        Rule::route => word("route"),
        Rule::prefer => word("prefer"),
        Rule::accept => word("accept"),
        Rule::convert => word("convert"),
        Rule::prefer_key
        | Rule::expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::sum_expr
        | Rule::prod_expr
        | Rule::neg_expr
        | Rule::presence_expr
        | Rule::paren
        | Rule::list
        | Rule::quant
        | Rule::quant_kw
        | Rule::call
        | Rule::func_name
        | Rule::path
        | Rule::op_neg => text("an expression"),
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_in
        | Rule::op_not_in
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div => text("an operator"),
        Rule::op_not => word("not"),
        Rule::number | Rule::amount => text("a number"),
        Rule::percent => text("a percentage like `15%`"),
        Rule::money => text("an amount of money like `10_000 USD`"),
        Rule::currency => text("a currency code like `USD`"),
        Rule::duration | Rule::business_duration => text("a duration like `90d`"),
        Rule::duration_unit | Rule::business_unit => text("a duration unit"),
        Rule::date => text("a date like `2026-12-25`"),
        Rule::datetime => text("a date and time like `2026-12-25T09:00:00Z`"),
        Rule::time_of_day => text("a time of day like `09:00`"),
        Rule::string => text("a quoted text"),
        Rule::ident => text("a name"),
        Rule::wildcard => word("_"),
        Rule::lbrace => word("{"),
        Rule::rbrace => word("}"),
        Rule::lparen => word("("),
        Rule::rparen => word(")"),
        Rule::lbracket => word("["),
        Rule::rbracket => word("]"),
        Rule::langle => word("<"),
        Rule::rangle => word(">"),
        Rule::comma => word(","),
        Rule::colon => word(":"),
        Rule::question => word("?"),
        Rule::arrow => word("->"),
        Rule::minus => word("-"),
        Rule::assign => word("="),
        Rule::file | Rule::reserved => None,
        other => {
            // Every keyword rule is named `kw_<word>`.
            let name = format!("{other:?}");
            name.strip_prefix("kw_").map(|w| format!("`{w}`"))
        }
    }
}

/// A fix suggestion, with an optional related span.
struct Help {
    text: String,
    related: Option<(Span, String)>,
}

impl Help {
    fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            related: None,
        }
    }
}

const COMPARISONS: &[&str] = &["<", "<=", ">", ">=", "==", "!="];

fn help(text: &str, pos: usize, token: Option<&Token<'_>>, expected: &[String]) -> Option<Help> {
    let expects = |s: &str| expected.iter().any(|e| e == s);
    let wants_expr = expects("an expression");
    let prev = previous_word(text, pos);

    // A block that is never closed: at the end of the file, or where the next item starts.
    let at_next_item =
        token.is_some_and(|t| scan::is_item_keyword(t.text) && starts_line(text, pos));
    if expects("`}`") && (token.is_none() || at_next_item) {
        if let Some(open) = scan::unclosed_brace_before(text, pos) {
            let mut help = Help::new("add a `}` to close this block");
            help.related = Some((scan::one_byte(open), "this `{` is never closed".to_string()));
            return Some(help);
        }
    }
    let token = token?;
    let tok = token.text;

    if let Some(help) = stage_label_in_flow(text, pos, token) {
        return Some(help);
    }
    if tok == "$" {
        return Some(Help::new(dollar_amount(text, pos)));
    }
    if expects("a quoted text") && (tok.starts_with(|c: char| c.is_ascii_alphanumeric())) {
        if let Some(kw) = prev.filter(|p| *p == "because" || *p == "reject") {
            let line_end = text
                .get(pos..)
                .and_then(|r| r.find('\n'))
                .map_or(text.len(), |i| pos + i);
            let rest = text.get(pos..line_end).unwrap_or("");
            let rest = rest.split("//").next().unwrap_or(rest).trim_end();
            let quoted = rest.replace('\\', "\\\\").replace('"', "\\\"");
            return Some(Help::new(format!(
                "put the text in quotes: `{kw} \"{}\"`",
                shorten(&quoted)
            )));
        }
    }
    if tok == "=" {
        return Some(Help::new("use `==` to compare two values"));
    }
    if tok == "=>" {
        return Some(Help::new(
            "write a transition with `->`, e.g. `Qualification -> Proposal`",
        ));
    }
    if tok == "&&" || tok == "||" {
        let word = if tok == "&&" { "and" } else { "or" };
        return Some(Help::new(format!("write `{word}` instead of `{tok}`")));
    }
    if COMPARISONS.contains(&tok) && !wants_expr {
        return Some(Help::new(
            "comparisons do not chain; join them with `and`, e.g. `a < b and b < c`",
        ));
    }
    if tok == "}" && scan::is_unmatched_close(text, pos) {
        return Some(Help::new("this `}` closes no block; remove it"));
    }
    if tok.starts_with('"') {
        if closing_quote(tok).is_none() {
            return Some(Help::new("close the text with `\"` on the same line"));
        }
        if has_bad_escape(tok) {
            return Some(Help::new(
                "the only escapes allowed in a text are `\\\"`, `\\\\`, `\\n` and `\\t`",
            ));
        }
    }
    if let Some(number) = prev.filter(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit())) {
        if let Some(help) = after_number(number, tok) {
            return Some(Help::new(help));
        }
    }
    if tok == "," && prev.is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())) {
        let next = text.get(pos + 1..).unwrap_or("");
        if next.len() >= 3 && next.chars().take(3).all(|c| c.is_ascii_digit()) {
            return Some(Help::new("write thousands with `_`, e.g. `10_000`"));
        }
    }
    if tok.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        if let Some(keyword) = closest_keyword(tok, expected) {
            return Some(Help::new(format!("did you mean `{keyword}`?")));
        }
    }
    None
}

/// Help for a stage label written in `flow` where a stage name belongs:
/// `Lead Accepted -> ...` or `"Lead Accepted" -> ...`. Names the declared stage whose
/// label it is, or else suggests the words run together.
fn stage_label_in_flow(text: &str, pos: usize, token: &Token<'_>) -> Option<Help> {
    if scan::item_keyword_at(text, pos) != Some("flow") {
        return None;
    }
    let line_start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text.get(pos..)?.find('\n').map_or(text.len(), |i| pos + i);
    let label = if token.text.starts_with('"') {
        token.text.trim_matches('"').to_string()
    } else {
        // The words from the previous `->` (or the start of the line) up to the next.
        let before = text.get(line_start..pos)?;
        let from = before.rfind("->").map_or(0, |i| i + 2);
        let start = line_start + from;
        let after = text.get(pos..line_end)?;
        let stop = after.find("->").unwrap_or(after.len());
        let stop = stop.min(after.find("//").unwrap_or(after.len()));
        let words: Vec<&str> = text
            .get(start..pos + stop)?
            .split_whitespace()
            .take_while(|w| *w != "when" && *w != "because")
            .collect();
        let is_name = |w: &&str| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if words.len() < 2 || !words.iter().all(is_name) {
            return None;
        }
        words.join(" ")
    };
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let labels = scan::stage_labels(text);
    if let Some(found) = labels.iter().find(|l| normal(l.label) == normal(&label)) {
        let mut help = Help::new(format!(
            "`{label}` is the label of stage `{}`; `flow` uses stage names, like `{}`",
            found.name, found.name
        ));
        help.related = Some((
            found.name_span.clone(),
            "the stage is declared here".to_string(),
        ));
        return Some(help);
    }
    let joined: String = label
        .split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    if joined.is_empty()
        || !joined
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    Some(Help::new(format!(
        "`flow` uses stage names, which are one word, like `{joined}`; a label in quotes goes in the stage declaration"
    )))
}

/// Help for `$50,000`: money is the amount, then the policy's currency code.
fn dollar_amount(text: &str, pos: usize) -> String {
    let rest = text.get(pos + 1..).unwrap_or("");
    let len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let amount = rest
        .get(..len)
        .unwrap_or("")
        .trim_end_matches([',', '.'])
        .replace(',', "_");
    let amount = if amount.starts_with(|c: char| c.is_ascii_digit()) {
        amount
    } else {
        "50_000".to_string()
    };
    let currency = policy_currency(text).unwrap_or("USD");
    format!("write money as the amount and then the currency code, like `{amount} {currency}`")
}

/// The currency declared in the header (`currency USD`), if it can be found.
fn policy_currency(text: &str) -> Option<&str> {
    text.match_indices("currency").find_map(|(i, w)| {
        let code = text.get(i + w.len()..)?.trim_start_matches([' ', '\t']);
        let (code, after) = (code.get(..3)?, code.get(3..)?);
        let ends = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        (ends && code.chars().all(|c| c.is_ascii_uppercase())).then_some(code)
    })
}

/// Help for a word right after a number: a spelled-out duration unit or a lowercase
/// currency code.
fn after_number(number: &str, word: &str) -> Option<String> {
    let suffix = match word {
        "day" | "days" => "d",
        "week" | "weeks" => "w",
        "hour" | "hours" | "hr" | "hrs" => "h",
        "minute" | "minutes" | "mins" => "min",
        "month" | "months" | "year" | "years" => {
            return Some("durations count days or weeks, e.g. `90d` or `12w`".to_string());
        }
        _ => {
            if word.len() == 3
                && word.chars().all(|c| c.is_ascii_alphabetic())
                && word != word.to_ascii_uppercase()
            {
                return Some(format!(
                    "currency codes are three capital letters, e.g. `{number} {}`",
                    word.to_ascii_uppercase()
                ));
            }
            return None;
        }
    };
    let unit = word.trim_end_matches('s');
    let unit = match unit {
        "hr" => "hour",
        "min" => "minute",
        other => other,
    };
    Some(format!(
        "write the unit right after the number, e.g. `{number}{suffix}`, or use business time, e.g. `{number} business {unit}s`"
    ))
}

fn has_bad_escape(tok: &str) -> bool {
    let mut chars = tok.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('"' | '\\' | 'n' | 't')) {
            return true;
        }
    }
    false
}

/// The expected keyword closest to a misspelled word, if any is close enough.
fn closest_keyword<'e>(word: &str, expected: &'e [String]) -> Option<&'e str> {
    let max = if word.chars().count() <= 4 { 1 } else { 2 };
    expected
        .iter()
        .filter_map(|e| e.strip_prefix('`').and_then(|e| e.strip_suffix('`')))
        .filter(|k| k.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') && *k != word)
        .map(|k| {
            (
                strsim::damerau_levenshtein(word, k.split(' ').next().unwrap_or(k)),
                k,
            )
        })
        .filter(|(d, _)| *d <= max)
        .min()
        .map(|(_, k)| k)
}

/// The word (or number) just before `pos`, on the same line.
fn previous_word(text: &str, pos: usize) -> Option<&str> {
    let before = text.get(..pos)?;
    let trimmed = before.trim_end_matches([' ', '\t']);
    let start = trimmed
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|i| i + 1)
        .unwrap_or(0);
    trimmed.get(start..).filter(|w| !w.is_empty())
}

fn starts_line(text: &str, pos: usize) -> bool {
    pos == 0 || text.as_bytes().get(pos - 1) == Some(&b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = |s: &str, p: usize| token_at(s, p).map(|t| t.text.to_string());
        assert_eq!(t("a when x", 2), Some("when".into()));
        assert_eq!(t("a == b", 2), Some("==".into()));
        assert_eq!(t("a = b", 2), Some("=".into()));
        assert_eq!(t("x \"abc\\\" d\" y", 2), Some("\"abc\\\" d\"".into()));
        assert_eq!(t("x \"abc\ny", 2), Some("\"abc".into()));
        assert_eq!(t("é", 0), Some("é".into()));
        assert_eq!(t("abc", 3), None);
    }

    #[test]
    fn keyword_typos() {
        let expected = vec![
            "`when`".to_string(),
            "`because`".to_string(),
            "`auto approve`".to_string(),
        ];
        assert_eq!(closest_keyword("whne", &expected), Some("when"));
        assert_eq!(closest_keyword("becuase", &expected), Some("because"));
        assert_eq!(closest_keyword("aut", &expected), Some("auto approve"));
        assert_eq!(closest_keyword("amount", &expected), None);
    }

    #[test]
    fn durations_and_currencies_after_numbers() {
        assert!(after_number("90", "days")
            .is_some_and(|h| h.contains("`90d`") && h.contains("`90 business days`")));
        assert!(after_number("24", "hrs")
            .is_some_and(|h| h.contains("`24h`") && h.contains("business hours")));
        assert!(after_number("10", "usd").is_some_and(|h| h.contains("`10 USD`")));
        assert_eq!(after_number("10", "USD"), None);
    }
}
