//! Completion in context. Works on the raw text around the cursor (so half-typed
//! lines complete) and the names of the last policy that parsed.

use crate::ir::{Builtin, RecordKind};

use super::index::Index;

/// What a completion item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Field,
    Stage,
    Pool,
    Variant,
    Flag,
    Builtin,
    Function,
    Namespace,
}

/// One completion candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
}

const TOP_LEVEL: &[&str] = &[
    "policy",
    "record",
    "stage",
    "won stage",
    "lost stage",
    "flow",
    "registration",
    "cosell",
    "commission",
    "hygiene",
    "leads",
];

fn section_keywords(section: &str) -> &'static [&'static str] {
    match section {
        "policy" => &["currency", "calendar", "timezone", "hours", "holidays"],
        "record" => &["evidence"],
        "stage" | "won" | "lost" => &["probability", "forecast", "expected", "requires", "because"],
        "flow" => &["any", "when", "because"],
        "registration" => &[
            "open from",
            "eligible when",
            "duplicate when same",
            "conflict when",
            "conflict when other partner holds protected registration on",
            "auto approve when",
            "review by",
            "escalate to",
            "protect",
            "extend",
            "late when",
            "discount",
        ],
        "cosell" => &["pool", "assign", "never", "priority"],
        "commission" => &["attribute when", "rate by", "rebate", "split when"],
        "hygiene" => &["flag", "exclude from forecast when", "downweight"],
        "leads" => &["route when", "prefer", "accept within", "convert to"],
        _ => &[],
    }
}

const EXPR_KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "present", "missing", "true", "false",
];
const FORECASTS: &[&str] = &["omitted", "pipeline", "best_case", "commit", "closed"];

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level item the offset is inside (`None` at top level), found by a scan
/// that skips strings and comments and tracks braces.
fn enclosing_item(text: &str, offset: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut depth = 0usize;
    let mut item: Option<&str> = None;
    let mut i = 0;
    while i < end {
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < end && bytes.get(i) != Some(&b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < end {
                    match bytes.get(i) {
                        Some(b'\\') => i += 2,
                        Some(b'"') | Some(b'\n') | None => break,
                        _ => i += 1,
                    }
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    item = None;
                }
            }
            _ if depth == 0
                && (b as char).is_ascii_alphabetic()
                && (i == 0
                    || !is_ident_char(bytes.get(i - 1).copied().unwrap_or(b' ') as char)) =>
            {
                let start = i;
                while i < end && bytes.get(i).is_some_and(|c| is_ident_char(*c as char)) {
                    i += 1;
                }
                let word = text.get(start..i).unwrap_or("");
                let is_item = TOP_LEVEL.contains(&word) || word == "won" || word == "lost";
                // `won stage` / `lost stage` keep `won` / `lost` as the item.
                let stage_of_won = word == "stage" && matches!(item, Some("won" | "lost"));
                if is_item && !stage_of_won {
                    item = Some(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if depth == 0 {
        None
    } else {
        item.or(Some(""))
    }
}

/// The candidates at `offset` in `text`; `index` holds the names of the last policy
/// that parsed (declarations may lag a line that is being typed).
pub fn complete(text: &str, offset: usize, index: Option<&Index>) -> Vec<Completion> {
    let empty = Index::default();
    let ix = index.unwrap_or(&empty);
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident_char(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let head = before.get(..word_start).unwrap_or("");
    let line = head.rsplit('\n').next().unwrap_or("");
    let mut out = Vec::new();

    // `root.` : members.
    if let Some(root_part) = line.strip_suffix('.') {
        let root: String = root_part
            .chars()
            .rev()
            .take_while(|c| is_ident_char(*c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        members(&root, before, ix, &mut out);
        return out;
    }

    let Some(section) = enclosing_item(text, word_start) else {
        push_all(&mut out, TOP_LEVEL, CompletionKind::Keyword, None);
        return out;
    };
    let trimmed = line.trim_end();
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    let last = words.last().copied().unwrap_or("");

    if trimmed.trim_start().is_empty() && section != "flow" {
        push_all(
            &mut out,
            section_keywords(section),
            CompletionKind::Keyword,
            None,
        );
        return out;
    }
    match (section, last) {
        (_, "forecast") => {
            push_all(
                &mut out,
                FORECASTS,
                CompletionKind::Keyword,
                Some("forecast category"),
            );
            return out;
        }
        ("cosell", "assign" | "never") => {
            pools(ix, &mut out);
            return out;
        }
        (_, "from") if words.len() >= 2 && words.get(words.len() - 2) == Some(&"open") => {
            stages(ix, &mut out);
            return out;
        }
        ("leads", "to") => {
            stages(ix, &mut out);
            return out;
        }
        _ => {}
    }
    if section == "flow" && !line.contains(" when ") {
        stages(ix, &mut out);
        if !line.contains("->") {
            out.push(keyword("any"));
        }
        return out;
    }
    if let Some(lhs) = comparison_lhs(trimmed) {
        if lhs == "stage" {
            stages(ix, &mut out);
            return out;
        }
        if let Some(vs) = enum_of_path(&lhs, ix) {
            for v in vs {
                out.push(Completion {
                    label: v.clone(),
                    kind: CompletionKind::Variant,
                    detail: Some(format!("variant of `{lhs}`")),
                });
            }
            return out;
        }
    }
    expression(section, ix, &mut out);
    out
}

fn keyword(k: &str) -> Completion {
    Completion {
        label: k.to_string(),
        kind: CompletionKind::Keyword,
        detail: None,
    }
}

fn push_all(
    out: &mut Vec<Completion>,
    labels: &[&str],
    kind: CompletionKind,
    detail: Option<&str>,
) {
    out.extend(labels.iter().map(|l| Completion {
        label: (*l).to_string(),
        kind,
        detail: detail.map(str::to_string),
    }));
}

fn stages(ix: &Index, out: &mut Vec<Completion>) {
    out.extend(ix.stages.iter().map(|s| Completion {
        label: s.name.clone(),
        kind: CompletionKind::Stage,
        detail: s.label.clone().or_else(|| Some("stage".into())),
    }));
}

fn pools(ix: &Index, out: &mut Vec<Completion>) {
    out.extend(ix.pools.iter().map(|p| Completion {
        label: p.name.clone(),
        kind: CompletionKind::Pool,
        detail: p.label.clone().or_else(|| Some("pool".into())),
    }));
}

fn fields(ix: &Index, record: RecordKind, out: &mut Vec<Completion>) {
    out.extend(ix.fields_of(record).map(|f| Completion {
        label: f.name.clone(),
        kind: CompletionKind::Field,
        detail: Some(f.ty.clone()),
    }));
}

fn members(root: &str, before: &str, ix: &Index, out: &mut Vec<Completion>) {
    let record = match root {
        "opportunity" => Some(RecordKind::Opportunity),
        "partner" => Some(RecordKind::Partner),
        "account" => Some(RecordKind::Account),
        "lead" => Some(RecordKind::Lead),
        "item" => Some(RecordKind::LineItem),
        _ if !root.is_empty() && before.contains(&format!("{root} in line_items")) => {
            Some(RecordKind::LineItem)
        }
        _ => None,
    };
    if let Some(k) = record {
        fields(ix, k, out);
    }
    for f in crate::check::builtin_fields(root) {
        let b = Builtin::ALL
            .iter()
            .copied()
            .find(|b| b.name().split_once('.') == Some((root, f)))
            .unwrap_or(Builtin::Probability);
        out.push(Completion {
            label: f.to_string(),
            kind: CompletionKind::Builtin,
            detail: Some(super::hover::type_name(&crate::check::builtin_type(b))),
        });
    }
}

/// The left-hand path of a comparison the line ends in: `partner.tier >=`,
/// `stage in [A, `, `region ==`.
fn comparison_lhs(line: &str) -> Option<String> {
    let mut s = line.trim_end();
    // Inside an unclosed `[` of this line: step before it.
    if let Some(open) = s.rfind('[') {
        if !s.get(open..).is_some_and(|t| t.contains(']')) {
            s = s.get(..open)?.trim_end();
        }
    }
    let ops = ["==", "!=", ">=", "<=", "not in", "in", "<", ">"];
    let op = ops.iter().find(|op| {
        s.ends_with(*op)
            && (op.chars().all(|c| !c.is_ascii_alphabetic())
                || s.get(..s.len() - op.len())
                    .is_some_and(|p| p.ends_with(' ')))
    })?;
    let lhs = s.get(..s.len() - op.len())?.trim_end();
    let lhs = lhs.strip_suffix("not").map_or(lhs, str::trim_end);
    let path: String = lhs
        .chars()
        .rev()
        .take_while(|c| is_ident_char(*c) || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!path.is_empty()).then_some(path)
}

fn enum_of_path<'i>(path: &str, ix: &'i Index) -> Option<&'i Vec<String>> {
    let (record, name) = match path.split_once('.') {
        None => (RecordKind::Opportunity, path),
        Some(("partner", f)) => (RecordKind::Partner, f),
        Some(("account", f)) => (RecordKind::Account, f),
        Some(("lead", f)) => (RecordKind::Lead, f),
        Some(("item", f)) => (RecordKind::LineItem, f),
        Some(("opportunity", f)) => (RecordKind::Opportunity, f),
        Some((_, f)) => (RecordKind::LineItem, f),
    };
    let field = ix.field(record, name)?;
    let id = ix.fields.get(field as usize)?.enum_id?;
    ix.enums.get(id as usize).map(|e| &e.variants)
}

fn expression(section: &str, ix: &Index, out: &mut Vec<Completion>) {
    fields(ix, RecordKind::Opportunity, out);
    if section == "hygiene" {
        out.extend(ix.flags.iter().map(|f| Completion {
            label: f.name.clone(),
            kind: CompletionKind::Flag,
            detail: Some("flag".into()),
        }));
    }
    for name in crate::check::OPPORTUNITY_SINGLE {
        if let Some(b) = Builtin::ALL.iter().copied().find(|b| b.name() == name) {
            out.push(Completion {
                label: name.to_string(),
                kind: CompletionKind::Builtin,
                detail: Some(super::hover::type_name(&crate::check::builtin_type(b))),
            });
        }
    }
    for root in crate::check::ROOTS {
        out.push(Completion {
            label: root.to_string(),
            kind: CompletionKind::Namespace,
            detail: None,
        });
    }
    for (name, _) in crate::check::FUNCS {
        out.push(Completion {
            label: name.to_string(),
            kind: CompletionKind::Function,
            detail: Some("function".into()),
        });
    }
    for q in ["any", "all", "count", "sum"] {
        out.push(Completion {
            label: q.to_string(),
            kind: CompletionKind::Function,
            detail: Some("quantifier: q(x in list: condition)".into()),
        });
    }
    push_all(out, EXPR_KEYWORDS, CompletionKind::Keyword, None);
}
