//! AST -> layout tree: every item, rule, field and property becomes a [`Doc`].
//!
//! The layout tree knows nothing about comments; it carries the source positions
//! the renderer needs to place them.

use crate::ast::{
    Calendar, CalendarEntry, CommissionRule, CosellRule, Field, Flow, FlowRule, Header,
    HeaderSetting, HygieneRule, Item, LeadRule, MatchMode, RateRow, RateTable, Record,
    RecordMember, RegRule, Requirement, Section, Span, Stage, StageKind, StageProp, StageRef, Str,
};

use super::expr::{expr, expr_list, pattern, quoted, type_expr};
use super::MAX_WIDTH;

/// Indentation of the members of a top-level block.
const MEMBER_INDENT: usize = 2;
/// Extra indentation of a wrapped line's continuation lines.
const CONTINUATION_INDENT: usize = 4;
/// Indentation of the entries of the header's `calendar` block.
const CALENDAR_INDENT: usize = 4;

/// One node of the layout tree.
#[derive(Debug)]
pub(super) enum Doc {
    /// One logical line. `lines[1..]` are continuation lines, already carrying
    /// their extra indentation.
    Leaf { span: Span, lines: Vec<String> },
    /// `header {`, children one per line, `}`.
    Block(Block),
}

/// A braced block and where its parts are in the source.
#[derive(Debug)]
pub(super) struct Block {
    pub span: Span,
    /// Byte offset of the opening `{` (or of the block start when not found).
    pub open: usize,
    /// The header line without ` {`.
    pub header: String,
    pub children: Vec<Doc>,
}

impl Doc {
    /// Where the node starts in the source.
    pub fn start(&self) -> usize {
        match self {
            Doc::Leaf { span, .. } => span.start,
            Doc::Block(b) => b.span.start,
        }
    }
}

fn leaf(span: Span, line: String) -> Doc {
    Doc::Leaf {
        span,
        lines: vec![line],
    }
}

/// Builds a braced block; `header_end` is where the header's last token ends (the
/// search for `{` starts there).
fn block(source: &str, span: Span, header_end: usize, header: String, children: Vec<Doc>) -> Doc {
    let limit = children.first().map_or(span.end, Doc::start);
    let open = find_open_brace(source, header_end, limit).unwrap_or(span.start);
    Doc::Block(Block {
        span,
        open,
        header,
        children,
    })
}

/// The first `{` in `source[from..limit]` outside `//` comments.
fn find_open_brace(source: &str, from: usize, limit: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut i = from;
    while i < limit {
        match bytes.get(i)? {
            b'{' => return Some(i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < limit && bytes.get(i).is_some_and(|b| *b != b'\n') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The span covering a list of spanned strings.
fn span_of_strs(strs: &[Str]) -> Span {
    match (strs.first(), strs.last()) {
        (Some(first), Some(last)) => first.span.start..last.span.end,
        _ => 0..0,
    }
}

/// A `because "..."` clause.
fn because(msg: &Option<Str>) -> Option<String> {
    msg.as_ref().map(|m| format!("because {}", quoted(&m.node)))
}

/// A `reject "..."` clause.
fn reject(msg: &Option<Str>) -> Option<String> {
    msg.as_ref().map(|m| format!("reject {}", quoted(&m.node)))
}

/// A rule line whose final clause (`because`, `reject`, `priority`) moves to a
/// continuation line when the whole line is wider than [`MAX_WIDTH`] at `indent`.
fn clause_leaf(span: &Span, head: String, clause: Option<String>, indent: usize) -> Doc {
    let Some(clause) = clause else {
        return leaf(span.clone(), head);
    };
    let one_line = format!("{head} {clause}");
    if indent + one_line.chars().count() <= MAX_WIDTH {
        return leaf(span.clone(), one_line);
    }
    let continuation = " ".repeat(CONTINUATION_INDENT);
    Doc::Leaf {
        span: span.clone(),
        lines: vec![head, format!("{continuation}{clause}")],
    }
}

/// `keyword a, b, c` filled greedily up to [`MAX_WIDTH`] at `indent`, breaking
/// after commas; continuation lines are indented [`CONTINUATION_INDENT`] more.
fn filled_list(keyword: &str, items: &[String], indent: usize) -> Vec<String> {
    let continuation = " ".repeat(CONTINUATION_INDENT);
    let mut lines = Vec::new();
    let mut current = keyword.to_string();
    let mut current_indent = indent;
    let mut current_has_item = false;
    for (i, item) in items.iter().enumerate() {
        let trailing_comma = usize::from(i + 1 < items.len());
        let width_with_item =
            current_indent + current.chars().count() + 2 + item.chars().count() + trailing_comma;
        if current_has_item && width_with_item > MAX_WIDTH {
            current.push(',');
            lines.push(std::mem::take(&mut current));
            current = format!("{continuation}{item}");
            current_indent = indent + CONTINUATION_INDENT;
        } else {
            current.push_str(if current_has_item { ", " } else { " " });
            current.push_str(item);
        }
        current_has_item = true;
    }
    lines.push(current);
    lines
}

/// A top-level item.
pub(super) fn item(item: &Item, source: &str) -> Doc {
    match item {
        Item::Header(h) => header(h, source),
        Item::Record(r) => record(r, source),
        Item::Stage(s) => stage(s, source),
        Item::Flow(f) => flow(f, source),
        Item::Registration(s) => section(s, "registration", source, reg_rule),
        Item::Cosell(s) => section(s, "cosell", source, cosell_rule),
        Item::Commission(s) => section(s, "commission", source, commission_rule),
        Item::Hygiene(s) => section(s, "hygiene", source, hygiene_rule),
        Item::Leads(s) => section(s, "leads", source, lead_rule),
    }
}

fn header(h: &Header, source: &str) -> Doc {
    let children = h
        .settings
        .iter()
        .map(|setting| match setting {
            HeaderSetting::Currency(code) => {
                leaf(code.span.clone(), format!("currency {}", code.name))
            }
            HeaderSetting::Calendar(cal) => calendar(cal, source),
        })
        .collect();
    let title = format!(
        "policy {} version {}",
        quoted(&h.name.node),
        quoted(&h.version.node)
    );
    block(source, h.span.clone(), h.version.span.end, title, children)
}

fn calendar(cal: &Calendar, source: &str) -> Doc {
    let children = cal
        .entries
        .iter()
        .map(|entry| match entry {
            CalendarEntry::Timezone(tz) => {
                leaf(tz.span.clone(), format!("timezone {}", quoted(&tz.node)))
            }
            CalendarEntry::Hours {
                first_day,
                last_day,
                start,
                end,
                span,
            } => {
                let days = match last_day {
                    Some(last) => format!("{}-{}", first_day.name, last.name),
                    None => first_day.name.clone(),
                };
                leaf(
                    span.clone(),
                    format!("hours {days} {}-{}", start.node, end.node),
                )
            }
            CalendarEntry::Holidays(entry_dates) => {
                let dates = entry_dates;
                let dates: Vec<String> = dates.iter().map(|d| d.node.clone()).collect();
                Doc::Leaf {
                    span: span_of_strs(entry_dates),
                    lines: filled_list("holidays", &dates, CALENDAR_INDENT),
                }
            }
        })
        .collect();
    block(
        source,
        cal.span.clone(),
        cal.name.span.end,
        format!("calendar {}", cal.name.name),
        children,
    )
}

fn record(r: &Record, source: &str) -> Doc {
    let children = r
        .members
        .iter()
        .map(|member| match member {
            RecordMember::Field(f) => field(f),
            RecordMember::Evidence { fields, span } => {
                let children = fields.iter().map(field).collect();
                block(
                    source,
                    span.clone(),
                    span.start,
                    "evidence".to_string(),
                    children,
                )
            }
        })
        .collect();
    block(
        source,
        r.span.clone(),
        r.name.span.end,
        format!("record {}", r.name.name),
        children,
    )
}

fn field(f: &Field) -> Doc {
    let mut line = format!("{}: {}", f.name.name, type_expr(&f.ty));
    if let Some(r) = &f.range {
        // Canonical: `in low .. high`, `in low ..`, `in .. high`.
        line.push_str(" in");
        if let Some(low) = &r.low {
            line.push(' ');
            line.push_str(&expr(low));
        }
        line.push_str(" ..");
        if let Some(high) = &r.high {
            line.push(' ');
            line.push_str(&expr(high));
        }
    }
    if let Some(default) = &f.default {
        line.push_str(" = ");
        line.push_str(&expr(default));
    }
    leaf(f.span.clone(), line)
}

fn stage(s: &Stage, source: &str) -> Doc {
    let mut title = match s.kind {
        StageKind::Open => String::new(),
        StageKind::Won => "won ".to_string(),
        StageKind::Lost => "lost ".to_string(),
    };
    title.push_str("stage ");
    title.push_str(&s.name.name);
    let mut header_end = s.name.span.end;
    if let Some(label) = &s.label {
        title.push(' ');
        title.push_str(&quoted(&label.node));
        header_end = label.span.end;
    }
    let children = s
        .props
        .iter()
        .map(|prop| match prop {
            StageProp::Probability(e) => leaf(e.span.clone(), format!("probability {}", expr(e))),
            StageProp::Forecast(f) => leaf(f.span.clone(), format!("forecast {}", f.name)),
            StageProp::Expected(e) => leaf(e.span.clone(), format!("expected {}", expr(e))),
            StageProp::Requires(req) => requires(req, MEMBER_INDENT),
        })
        .collect();
    block(source, s.span.clone(), header_end, title, children)
}

/// `requires a, b because "..."`, wrapped after commas when longer than
/// [`MAX_WIDTH`] at `indent`, with `because` on its own continuation line.
fn requires(req: &Requirement, indent: usize) -> Doc {
    let items: Vec<String> = req.items.iter().map(expr).collect();
    let because_text = because(&req.because);
    let mut one_line = format!("requires {}", items.join(", "));
    if let Some(b) = &because_text {
        one_line.push(' ');
        one_line.push_str(b);
    }
    if indent + one_line.chars().count() <= MAX_WIDTH {
        return leaf(req.span.clone(), one_line);
    }
    let mut lines = filled_list("requires", &items, indent);
    if let Some(b) = because_text {
        lines.push(format!("{}{b}", " ".repeat(CONTINUATION_INDENT)));
    }
    Doc::Leaf {
        span: req.span.clone(),
        lines,
    }
}

fn flow(f: &Flow, source: &str) -> Doc {
    let children = f.rules.iter().map(flow_rule).collect();
    let header_end = f.span.start;
    block(
        source,
        f.span.clone(),
        header_end,
        "flow".to_string(),
        children,
    )
}

fn flow_rule(rule: &FlowRule) -> Doc {
    let chain: Vec<&str> = rule
        .chain
        .iter()
        .map(|stage| match stage {
            StageRef::Any(_) => "any",
            StageRef::Named(name) => name.name.as_str(),
        })
        .collect();
    let mut line = chain.join(" -> ");
    if let Some(guard) = &rule.guard {
        line.push_str(" when ");
        line.push_str(&expr(guard));
    }
    clause_leaf(&rule.span, line, because(&rule.because), MEMBER_INDENT)
}

fn section<R>(s: &Section<R>, keyword: &str, source: &str, rule: fn(&R, &str) -> Doc) -> Doc {
    let children = s.rules.iter().map(|r| rule(r, source)).collect();
    block(
        source,
        s.span.clone(),
        s.span.start,
        keyword.to_string(),
        children,
    )
}

fn reg_rule(rule: &RegRule, _source: &str) -> Doc {
    let (span, head, clause) = match rule {
        RegRule::OpenFrom { stage, span } => (span, format!("open from {}", stage.name), None),
        RegRule::Eligible {
            when,
            because: msg,
            span,
        } => (span, format!("eligible when {}", expr(when)), because(msg)),
        RegRule::Duplicate { keys, within, span } => (
            span,
            format!(
                "duplicate when same {} within {}",
                expr_list(keys),
                expr(within)
            ),
            None,
        ),
        RegRule::Conflict {
            when,
            reject: msg,
            span,
        } => (span, format!("conflict when {}", expr(when)), reject(msg)),
        RegRule::ConflictProtected {
            keys,
            reject: msg,
            span,
        } => (
            span,
            format!(
                "conflict when other partner holds protected registration on {}",
                expr_list(keys)
            ),
            reject(msg),
        ),
        RegRule::AutoApprove { when, span } => {
            (span, format!("auto approve when {}", expr(when)), None)
        }
        RegRule::Review {
            queue,
            within,
            span,
        } => (
            span,
            format!("review by {} within {}", queue.name, expr(within)),
            None,
        ),
        RegRule::Escalate { to, after, span } => (
            span,
            format!("escalate to {} after {}", to.name, expr(after)),
            None,
        ),
        RegRule::Protect { duration, span } => (span, format!("protect {}", expr(duration)), None),
        RegRule::Extend {
            by,
            on,
            at_most,
            span,
        } => {
            let mut line = format!("extend {} on {}", expr(by), on.name);
            if let Some(n) = at_most {
                line.push_str(", at most ");
                line.push_str(&expr(n));
            }
            (span, line, None)
        }
        RegRule::Late { when, span } => (span, format!("late when {}", expr(when)), None),
        RegRule::Discount { rate, when, span } => {
            let mut line = format!("discount {}", expr(rate));
            push_when(&mut line, when.as_ref());
            (span, line, None)
        }
    };
    clause_leaf(span, head, clause, MEMBER_INDENT)
}

fn push_when(line: &mut String, when: Option<&crate::ast::Expr>) {
    if let Some(when) = when {
        line.push_str(" when ");
        line.push_str(&expr(when));
    }
}

fn cosell_rule(rule: &CosellRule, _source: &str) -> Doc {
    let (span, head, clause) = match rule {
        CosellRule::Pool {
            name,
            label,
            capacity,
            per,
            span,
        } => {
            let mut line = format!("pool {}", name.name);
            if let Some(label) = label {
                line.push(' ');
                line.push_str(&quoted(&label.node));
            }
            line.push_str(" capacity ");
            line.push_str(&expr(capacity));
            line.push_str(" per ");
            line.push_str(&per.name);
            (span, line, None)
        }
        CosellRule::Assign {
            pool,
            when,
            priority,
            span,
        } => (
            span,
            format!("assign {} when {}", pool.name, expr(when)),
            priority.as_ref().map(|p| format!("priority {}", expr(p))),
        ),
        CosellRule::Never {
            pool,
            when,
            because: msg,
            span,
        } => {
            let mut line = "never".to_string();
            if let Some(pool) = pool {
                line.push(' ');
                line.push_str(&pool.name);
            }
            push_when(&mut line, Some(when));
            (span, line, because(msg))
        }
    };
    clause_leaf(span, head, clause, MEMBER_INDENT)
}

fn commission_rule(rule: &CommissionRule, source: &str) -> Doc {
    let (span, head, clause) = match rule {
        CommissionRule::Attribute {
            when,
            because: msg,
            span,
        } => (span, format!("attribute when {}", expr(when)), because(msg)),
        CommissionRule::Rate(table) => return rate_table(table, source),
        CommissionRule::Rebate {
            name,
            rate,
            when,
            span,
        } => (
            span,
            format!("rebate {} {} when {}", name.name, expr(rate), expr(when)),
            None,
        ),
        CommissionRule::Split { when, shares, span } => {
            let mut line = "split".to_string();
            push_when(&mut line, when.as_ref());
            let shares: Vec<String> = shares
                .iter()
                .map(|s| format!("{} {}", s.role.name, expr(&s.share)))
                .collect();
            if shares.is_empty() {
                line.push_str(" {}");
            } else {
                line.push_str(" { ");
                line.push_str(&shares.join(", "));
                line.push_str(" }");
            }
            (span, line, None)
        }
    };
    clause_leaf(span, head, clause, MEMBER_INDENT)
}

fn rate_table(table: &RateTable, source: &str) -> Doc {
    let mode = match table.mode {
        MatchMode::First => "first",
        MatchMode::Unique => "unique",
    };
    let title = format!("rate by ({}) {mode} match", expr_list(&table.keys));
    let header_end = table.keys.last().map_or(table.span.start, |k| k.span.end);
    let children = table.rows.iter().map(rate_row).collect();
    block(source, table.span.clone(), header_end, title, children)
}

fn rate_row(row: &RateRow) -> Doc {
    let patterns: Vec<String> = row.patterns.iter().map(pattern).collect();
    leaf(
        row.span.clone(),
        format!("({}) {}", patterns.join(", "), expr(&row.rate)),
    )
}

fn hygiene_rule(rule: &HygieneRule, _source: &str) -> Doc {
    let (span, head, clause) = match rule {
        HygieneRule::Flag {
            name,
            when,
            because: msg,
            span,
        } => (
            span,
            format!("flag {} when {}", name.name, expr(when)),
            because(msg),
        ),
        HygieneRule::Exclude { when, span } => (
            span,
            format!("exclude from forecast when {}", expr(when)),
            None,
        ),
        HygieneRule::Downweight { factor, when, span } => (
            span,
            format!("downweight {} when {}", expr(factor), expr(when)),
            None,
        ),
    };
    clause_leaf(span, head, clause, MEMBER_INDENT)
}

fn lead_rule(rule: &LeadRule, _source: &str) -> Doc {
    let (span, head, clause) = match rule {
        LeadRule::Route {
            when,
            because: msg,
            span,
        } => (span, format!("route when {}", expr(when)), because(msg)),
        LeadRule::Prefer { keys, span } => {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| {
                    if k.descending {
                        format!("{} desc", expr(&k.expr))
                    } else {
                        expr(&k.expr)
                    }
                })
                .collect();
            (span, format!("prefer {}", keys.join(", ")), None)
        }
        LeadRule::Accept {
            within,
            reroute_at_most,
            span,
        } => {
            let mut line = format!("accept within {}", expr(within));
            if let Some(n) = reroute_at_most {
                line.push_str(", reroute at most ");
                line.push_str(&expr(n));
            }
            (span, line, None)
        }
        LeadRule::Convert { to, when, span } => {
            let mut line = format!("convert to {}", to.name);
            push_when(&mut line, when.as_ref());
            (span, line, None)
        }
    };
    clause_leaf(span, head, clause, MEMBER_INDENT)
}
