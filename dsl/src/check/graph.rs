//! Stage-graph checks over the flow: terminal stages exist (E203), every stage is
//! reachable from the first declared stage (E201), every open stage has a way out
//! (E202), won/lost stages have no outgoing transitions (E140), and win probability
//! does not fall along a forward transition (W204; only between stages whose
//! probabilities are both valid, since a missing or invalid one is already an error).
//!
//! `any -> X` stands for an edge into `X` from every open stage.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Bfs;
use petgraph::Direction;
use rust_decimal::Decimal;

use super::Checker;
use crate::diagnostics::Code;
use crate::ir::Transition;

fn pct(p: Decimal) -> String {
    format!("{}%", (p * Decimal::ONE_HUNDRED).normalize())
}

/// Runs the graph checks. `flow_resolved` is false when a flow rule named an unknown
/// stage; reachability and dead ends are then skipped (they would be false alarms).
pub(crate) fn check(cx: &mut Checker<'_>, transitions: &[Transition], flow_resolved: bool) {
    let n = cx.stages.len();
    if !cx.stages.iter().any(|s| s.is_terminal()) {
        let span = cx.stage_name_spans.first().cloned().unwrap_or(0..0);
        let label = if n == 0 {
            "the policy declares no stages"
        } else {
            "the pipeline starts here"
        };
        let d = Checker::diag(Code::NoTerminalStage, &span, "the policy has no won or lost stage")
            .label(label)
            .help("declare where deals end, like `won stage ClosedWon { probability 100% }` and `lost stage ClosedLost { probability 0% }`");
        cx.emit(d);
    }
    for t in transitions {
        let Some(from) = t.from.and_then(|f| cx.stages.get(f.0 as usize)) else {
            continue;
        };
        if from.is_terminal() {
            let kind = if from.kind == crate::ast::StageKind::Won {
                "won"
            } else {
                "lost"
            };
            let d = Checker::diag(
                Code::MalformedDeclaration,
                &t.span,
                format!("`{}` is a {kind} stage and cannot have outgoing transitions", from.name),
            )
            .label("transition out of a terminal stage")
            .help(format!(
                "{kind} stages end the flow; remove this transition or declare `{}` with plain `stage`",
                from.name
            ));
            cx.emit(d);
        }
    }
    if n == 0 {
        return;
    }

    let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(n, transitions.len());
    let nodes: Vec<NodeIndex> = (0..n).map(|i| g.add_node(i)).collect();
    let node = |i: u32| nodes.get(i as usize).copied();
    for t in transitions {
        let Some(to) = node(t.to.0) else { continue };
        match t.from {
            Some(f) => {
                if let Some(from) = node(f.0) {
                    g.add_edge(from, to, ());
                }
            }
            None => {
                for (i, s) in cx.stages.iter().enumerate() {
                    if !s.is_terminal() && i != t.to.0 as usize {
                        if let Some(from) = nodes.get(i) {
                            g.add_edge(*from, to, ());
                        }
                    }
                }
            }
        }
    }

    if flow_resolved {
        let mut reached = vec![false; n];
        if let Some(start) = nodes.first() {
            let mut bfs = Bfs::new(&g, *start);
            while let Some(nx) = bfs.next(&g) {
                if let Some(r) = reached.get_mut(nx.index()) {
                    *r = true;
                }
            }
        }
        let first_name = cx
            .stages
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        for (i, ok) in reached.iter().enumerate() {
            if *ok {
                continue;
            }
            let Some(stage) = cx.stages.get(i) else {
                continue;
            };
            let name = stage.name.clone();
            let prev = i
                .checked_sub(1)
                .and_then(|p| cx.stages.get(p))
                .map(|s| s.name.clone());
            let span = cx.stage_name_spans.get(i).cloned().unwrap_or(0..0);
            let d = Checker::diag(
                Code::UnreachableStage,
                &span,
                format!("stage `{name}` cannot be reached from `{first_name}`"),
            )
            .label("no transition leads here")
            .help(format!(
                "add a transition into it in `flow`, like `{} -> {name}`",
                prev.unwrap_or(first_name.clone())
            ));
            cx.emit(d);
        }
        for (i, stage) in cx.stages.iter().enumerate() {
            if stage.is_terminal() {
                continue;
            }
            let Some(nx) = nodes.get(i) else { continue };
            let has_out = g
                .neighbors_directed(*nx, Direction::Outgoing)
                .any(|m| m != *nx);
            if has_out {
                continue;
            }
            let next = cx
                .stages
                .get(i + 1)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "ClosedLost".into());
            let span = cx.stage_name_spans.get(i).cloned().unwrap_or(0..0);
            let d = Checker::diag(Code::DeadEndStage, &span, format!("stage `{}` has no way out", stage.name))
                .label("no transition leaves this stage")
                .help(format!(
                    "add a transition like `{} -> {next}` in `flow`, or mark it `won stage` or `lost stage`",
                    stage.name
                ));
            cx.diags.push(d);
        }
    }

    for t in transitions {
        let Some(from_id) = t.from else { continue };
        let (Some(a), Some(b)) = (
            cx.stages.get(from_id.0 as usize),
            cx.stages.get(t.to.0 as usize),
        ) else {
            continue;
        };
        if b.is_terminal() || a.is_terminal() || b.probability >= a.probability {
            continue;
        }
        // A missing or invalid probability (already an error) has no value to compare.
        let declared = |id: u32| cx.probability_ok.get(id as usize).copied().unwrap_or(false);
        if !declared(from_id.0) || !declared(t.to.0) {
            continue;
        }
        let d = Checker::diag(
            Code::FallingProbability,
            &t.span,
            format!("win probability falls from {} to {} along `{} -> {}`", pct(a.probability), pct(b.probability), a.name, b.name),
        )
        .label(format!("`{}` has a lower probability than `{}`", b.name, a.name))
        .help(format!("raise the probability of `{}` or lower `{}`'s so that probabilities rise along the flow", b.name, a.name));
        cx.diags.push(d);
    }
}
