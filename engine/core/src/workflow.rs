//! The workflow graph: stages as nodes, allowed transitions as edges carrying their
//! compiled guards and source spans. Validated when built: one entry (the first
//! declared stage) and every edge between known stages. Cycles are allowed (deals
//! move back); evaluation only looks at the edges between two given stages.

use dealflow_dsl::ir::{self, Span, StageId, StageKind};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use crate::compile::{ExprId, Program};

/// A stage in the graph.
#[derive(Clone, Debug)]
pub struct StageNode {
    pub id: StageId,
    pub name: String,
    pub kind: StageKind,
    pub span: Span,
}

/// An allowed transition.
#[derive(Clone, Debug)]
pub struct TransitionEdge {
    /// Index into the IR's transitions.
    pub transition: usize,
    /// Expanded from `any -> X`.
    pub from_any: bool,
    pub guard: Option<ExprId>,
    pub because: Option<String>,
    pub span: Span,
}

/// Why a workflow could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("the policy declares no stages")]
    NoStages,
    #[error("transition {0} refers to an unknown stage")]
    UnknownStage(usize),
}

/// The compiled stage graph.
#[derive(Clone, Debug)]
pub struct Workflow {
    graph: StableDiGraph<StageNode, TransitionEdge>,
    /// Node index per stage id.
    nodes: Vec<NodeIndex>,
    /// Per `(from, to)` pair (`from * stages + to`): the range of its edges in `ordered`.
    pairs: Vec<(u32, u32)>,
    /// The edges of every pair, in [`Workflow::edges`] order, pair after pair.
    ordered: Vec<TransitionEdge>,
}

impl Workflow {
    /// Builds and validates the graph. `any -> X` becomes an edge from every open
    /// stage other than `X`.
    pub fn build(p: &ir::Policy, prog: &Program) -> Result<Workflow, WorkflowError> {
        let mut graph = StableDiGraph::new();
        let nodes: Vec<NodeIndex> = p
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                graph.add_node(StageNode {
                    id: StageId(i as u32),
                    name: s.name.clone(),
                    kind: s.kind,
                    span: s.span.clone(),
                })
            })
            .collect();
        let mut wf = Workflow {
            graph,
            nodes,
            pairs: Vec::new(),
            ordered: Vec::new(),
        };
        for (i, t) in p.transitions.iter().enumerate() {
            let to = wf.node(t.to).ok_or(WorkflowError::UnknownStage(i))?;
            let guard = prog.guards.get(i).copied().flatten();
            let edge = |from_any| TransitionEdge {
                transition: i,
                from_any,
                guard,
                because: t.because.clone(),
                span: t.span.clone(),
            };
            match t.from {
                Some(f) => {
                    let from = wf.node(f).ok_or(WorkflowError::UnknownStage(i))?;
                    wf.graph.add_edge(from, to, edge(false));
                }
                None => {
                    for (si, s) in p.stages.iter().enumerate() {
                        if si as u32 != t.to.0 && s.kind == StageKind::Open {
                            if let Some(from) = wf.nodes.get(si).copied() {
                                wf.graph.add_edge(from, to, edge(true));
                            }
                        }
                    }
                }
            }
        }
        wf.validate()?;
        wf.index();
        Ok(wf)
    }

    /// A graph with no stages (fails [`Workflow::validate`]).
    pub fn empty() -> Workflow {
        Workflow {
            graph: StableDiGraph::new(),
            nodes: Vec::new(),
            pairs: Vec::new(),
            ordered: Vec::new(),
        }
    }

    /// Precomputes the edges of every stage pair (a decision looks them up directly).
    fn index(&mut self) {
        let n = self.nodes.len();
        let mut pairs = Vec::with_capacity(n * n);
        let mut ordered = Vec::new();
        for from in 0..n {
            for to in 0..n {
                let start = ordered.len() as u32;
                let (f, t) = (StageId(from as u32), StageId(to as u32));
                ordered.extend(self.graph_edges(f, t).cloned());
                pairs.push((start, ordered.len() as u32));
            }
        }
        self.pairs = pairs;
        self.ordered = ordered;
    }

    /// Checks the graph's invariants.
    pub fn validate(&self) -> Result<(), WorkflowError> {
        if self.nodes.is_empty() {
            return Err(WorkflowError::NoStages);
        }
        Ok(())
    }

    fn node(&self, s: StageId) -> Option<NodeIndex> {
        self.nodes.get(s.0 as usize).copied()
    }

    /// The entry stage (first declared).
    pub fn entry(&self) -> StageId {
        StageId(0)
    }

    /// The underlying graph.
    pub fn graph(&self) -> &StableDiGraph<StageNode, TransitionEdge> {
        &self.graph
    }

    /// Edges from `from` to `to`: explicit ones first, then those from `any ->`.
    pub fn edges(&self, from: StageId, to: StageId) -> impl Iterator<Item = &TransitionEdge> + '_ {
        let n = self.nodes.len();
        let (f, t) = (from.0 as usize, to.0 as usize);
        let range = if f < n && t < n {
            self.pairs.get(f * n + t).copied().unwrap_or((0, 0))
        } else {
            (0, 0)
        };
        self.ordered
            .get(range.0 as usize..range.1 as usize)
            .unwrap_or(&[])
            .iter()
    }

    /// [`Workflow::edges`] read from the graph.
    fn graph_edges(
        &self,
        from: StageId,
        to: StageId,
    ) -> impl Iterator<Item = &TransitionEdge> + '_ {
        let pair = self.node(from).zip(self.node(to));
        let explicit = pair
            .into_iter()
            .flat_map(move |(a, b)| self.graph.edges_connecting(a, b))
            .map(|e| e.weight())
            .filter(|e| !e.from_any);
        let any = pair
            .into_iter()
            .flat_map(move |(a, b)| self.graph.edges_connecting(a, b))
            .map(|e| e.weight())
            .filter(|e| e.from_any);
        explicit.chain(any)
    }

    /// Stages reachable in one step from `from`, in stage order.
    pub fn successors(&self, from: StageId) -> Vec<StageId> {
        let Some(a) = self.node(from) else {
            return Vec::new();
        };
        let mut out: Vec<StageId> = self
            .graph
            .neighbors(a)
            .filter_map(|n| self.graph.node_weight(n))
            .map(|n| n.id)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}
