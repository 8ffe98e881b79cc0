//! `dealflow graph`: the stage flow of a checked policy as Graphviz dot or Mermaid.
//!
//! Nodes are stages in declaration order, labelled with their display name and win
//! probability; won and lost stages are terminal and coloured. Guards are printed
//! back to policy syntax from the AST. `any -> X` is drawn as a dashed edge from a
//! single `any open stage` node, which keeps the diagram readable.

use dealflow_dsl::ast::{self, Item};
use dealflow_dsl::ir::{self, StageKind};
use dealflow_dsl::{analyze, SourceFile};
use rust_decimal::Decimal;

use crate::diag;
use crate::files::{read_source, report_error};
use crate::{ExitStatus, GraphArgs, GraphFormat};

/// Node id of the `any` pseudo-stage (not a valid stage identifier).
const ANY_ID: &str = "__any__";

/// Runs `dealflow graph`.
pub fn run(args: &GraphArgs) -> ExitStatus {
    let source = match read_source(&args.policy) {
        Ok(s) => s,
        Err(message) => {
            report_error(message);
            return ExitStatus::Error;
        }
    };
    let analysis = analyze(&source);
    if analysis.has_errors() {
        let errors: Vec<_> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        diag::eprint_all(&errors, &source);
        eprintln!(
            "error: `{}` has errors; fix them to draw its flow",
            source.name
        );
        return ExitStatus::Failure;
    }
    let Some(policy) = &analysis.ir else {
        report_error(format_args!("`{}` could not be checked", source.name));
        return ExitStatus::Failure;
    };
    let flow = Flow::new(policy, analysis.ast.as_ref(), &source);
    let out = match args.format {
        GraphFormat::Dot => flow.dot(),
        GraphFormat::Mermaid => flow.mermaid(),
    };
    print!("{out}");
    ExitStatus::Success
}

/// A stage as drawn.
struct Node {
    id: String,
    label: String,
    probability: String,
    kind: StageKind,
}

/// An edge as drawn; `from: None` is the `any` node.
struct Edge {
    from: Option<String>,
    to: String,
    guard: Option<String>,
}

/// The drawable flow of a policy.
struct Flow {
    title: String,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// `0.15` -> `15%`.
pub fn percent(fraction: Decimal) -> String {
    format!("{}%", (fraction * Decimal::ONE_HUNDRED).normalize())
}

impl Flow {
    fn new(policy: &ir::Policy, ast: Option<&ast::Policy>, source: &SourceFile) -> Flow {
        let nodes = policy
            .stages
            .iter()
            .map(|s| Node {
                id: s.name.clone(),
                label: s.display_name().to_string(),
                probability: percent(s.probability),
                kind: s.kind,
            })
            .collect();
        let stage_name =
            |id: ir::StageId| policy.stage(id).map(|s| s.name.clone()).unwrap_or_default();
        let edges = policy
            .transitions
            .iter()
            .map(|t| Edge {
                from: t.from.map(stage_name),
                to: stage_name(t.to),
                guard: t.guard.as_ref().map(|g| guard_text(&g.span, ast, source)),
            })
            .collect();
        Flow {
            title: format!("{} {}", policy.name, policy.version),
            nodes,
            edges,
        }
    }

    fn has_any(&self) -> bool {
        self.edges.iter().any(|e| e.from.is_none())
    }

    fn dot(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("digraph {} {{\n", dot_quote(&self.title)));
        out.push_str(&format!(
            "  label={};\n  labelloc=t;\n  rankdir=LR;\n",
            dot_quote(&self.title)
        ));
        out.push_str("  fontname=\"Helvetica\";\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
        for n in &self.nodes {
            let label = dot_quote(&format!("{}\n{}", n.label, n.probability));
            let attrs = match n.kind {
                StageKind::Open => String::new(),
                StageKind::Won => {
                    ", shape=doublecircle, style=filled, fillcolor=\"#d4f7d4\", color=\"#2e7d32\""
                        .to_string()
                }
                StageKind::Lost => {
                    ", shape=doublecircle, style=filled, fillcolor=\"#f7d4d4\", color=\"#c62828\""
                        .to_string()
                }
            };
            out.push_str(&format!("  {} [label={label}{attrs}];\n", dot_quote(&n.id)));
        }
        if self.has_any() {
            out.push_str(&format!(
                "  {} [label=\"any open stage\", shape=plaintext];\n",
                dot_quote(ANY_ID)
            ));
        }
        for e in &self.edges {
            let from = e.from.as_deref().unwrap_or(ANY_ID);
            let mut attrs = Vec::new();
            if let Some(g) = &e.guard {
                attrs.push(format!("label={}", dot_quote(g)));
            }
            if e.from.is_none() {
                attrs.push("style=dashed".to_string());
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            out.push_str(&format!(
                "  {} -> {}{attrs};\n",
                dot_quote(from),
                dot_quote(&e.to)
            ));
        }
        out.push_str("}\n");
        out
    }

    fn mermaid(&self) -> String {
        let mut out = String::from("---\n");
        out.push_str(&format!("title: {}\n", mermaid_text(&self.title)));
        out.push_str("---\nflowchart LR\n");
        for n in &self.nodes {
            let text = format!(
                "\"{}<br/>{}\"",
                mermaid_text(&n.label),
                mermaid_text(&n.probability)
            );
            let shape = match n.kind {
                StageKind::Open => format!("[{text}]"),
                StageKind::Won => format!("(({text})):::won"),
                StageKind::Lost => format!("(({text})):::lost"),
            };
            out.push_str(&format!("  {}{shape}\n", n.id));
        }
        if self.has_any() {
            out.push_str(&format!("  {ANY_ID}{{{{\"any open stage\"}}}}\n"));
        }
        for e in &self.edges {
            let from = e.from.as_deref().unwrap_or(ANY_ID);
            let arrow = if e.from.is_none() { "-.->" } else { "-->" };
            match &e.guard {
                Some(g) => out.push_str(&format!(
                    "  {from} {arrow}|\"{}\"| {}\n",
                    mermaid_text(g),
                    e.to
                )),
                None => out.push_str(&format!("  {from} {arrow} {}\n", e.to)),
            }
        }
        out.push_str("  classDef won fill:#d4f7d4,stroke:#2e7d32\n");
        out.push_str("  classDef lost fill:#f7d4d4,stroke:#c62828\n");
        out
    }
}

/// The guard as policy text: from the AST expression with the same span, else the
/// source slice with whitespace collapsed.
fn guard_text(span: &ast::Span, ast: Option<&ast::Policy>, source: &SourceFile) -> String {
    let from_ast = ast.and_then(|policy| {
        policy.items.iter().find_map(|item| match item {
            Item::Flow(flow) => flow
                .rules
                .iter()
                .filter_map(|r| r.guard.as_ref())
                .find(|g| g.span == *span),
            _ => None,
        })
    });
    match from_ast {
        Some(guard) => dealflow_dsl::fmt::format_expr(guard),
        None => source
            .text
            .get(span.clone())
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A dot double-quoted string (`\n` in the input becomes a dot line break).
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text safe inside a quoted Mermaid label (entity codes for markup characters).
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_markup() {
        assert_eq!(dot_quote("a \"b\"\nc"), "\"a \\\"b\\\"\\nc\"");
        assert_eq!(
            mermaid_text("amount < 10 & \"x\""),
            "amount #lt; 10 #amp; #quot;x#quot;"
        );
        assert_eq!(percent(Decimal::new(15, 2)), "15%");
        assert_eq!(percent(Decimal::new(125, 3)), "12.5%");
        assert_eq!(percent(Decimal::ONE), "100%");
    }
}
