//! Diagnostics: one struct for every error and lint, with a stable [`Code`].
//!
//! A [`Diagnostic`] is plain data (code, severity, message, primary span and label,
//! help, related spans). [`Diagnostic::with_source`] pairs it with its
//! [`SourceFile`] so that miette can render it; the library never enables miette's
//! `fancy` feature, the CLI does.

use std::fmt;

use serde::Serialize;

use crate::ast::Span;
use crate::source::SourceFile;

/// Whether a diagnostic blocks the policy from being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

macro_rules! codes {
    ($( $variant:ident = ($code:literal, $name:literal, $sev:ident, $summary:literal) ),* $(,)?) => {
        /// Every diagnostic code dealflow emits. Codes are stable: never renumber.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $variant ),* }

        impl Code {
            /// All codes, in order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant ),* ];

            /// The stable code, e.g. `E101`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code ),* }
            }

            /// The rule's kebab-case name, e.g. `unknown-field`.
            pub fn name(self) -> &'static str {
                match self { $( Code::$variant => $name ),* }
            }

            /// The default severity of the rule.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev ),* }
            }

            /// One-line description of what the rule catches.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary ),* }
            }
        }
    };
}

codes! {
    // Syntax
    Syntax = ("E001", "syntax-error", Error, "the policy text does not follow the grammar"),
    // Names
    UnknownField = ("E101", "unknown-field", Error, "a field that no record declares"),
    UnknownStage = ("E102", "unknown-stage", Error, "a stage that is not declared"),
    UnknownPool = ("E103", "unknown-pool", Error, "a co-sell pool that is not declared"),
    UnknownEnumValue = ("E104", "unknown-enum-value", Error, "a value that is not one of the enum's variants"),
    UnknownName = ("E105", "unknown-name", Error, "an unknown type, record, function, keyword value or built-in"),
    // Types
    TypeMismatch = ("E110", "type-mismatch", Error, "an expression of the wrong type"),
    MixedCurrency = ("E111", "mixed-currency", Error, "money in a currency other than the policy's"),
    // Declarations
    DuplicateDeclaration = ("E120", "duplicate-declaration", Error, "a name or section declared twice"),
    InvalidLiteral = ("E130", "invalid-literal", Error, "a literal that is not a valid value (31 Feb, 140%, negative duration)"),
    MalformedDeclaration = ("E140", "malformed-declaration", Error, "a declaration missing a required part or with a part in the wrong place"),
    // Graph
    UnreachableStage = ("E201", "unreachable-stage", Error, "a stage no transition can reach from the first stage"),
    DeadEndStage = ("E202", "dead-end-stage", Error, "a non-terminal stage with no way out"),
    NoTerminalStage = ("E203", "no-terminal-stage", Error, "a policy with no won or lost stage"),
    FallingProbability = ("W204", "falling-probability", Warning, "a forward transition into a stage with a lower win probability"),
    // Domain lints
    UndeclaredEvidence = ("W301", "undeclared-evidence", Warning, "a stage requires a field that is not declared as evidence"),
    UnusedEvidence = ("W302", "unused-evidence", Warning, "an evidence field that no rule uses"),
    ShadowedRateRow = ("W303", "shadowed-rate-row", Warning, "a rate-table row that an earlier row always matches first"),
    MissingDefaultRow = ("W304", "missing-default-row", Warning, "a rate table with no all-wildcard default row"),
    SplitNotHundred = ("E305", "split-not-hundred", Error, "commission split shares that do not sum to 100%"),
    EscalationAfterSla = ("W306", "escalation-after-sla", Warning, "an escalation step that fires at or after the review SLA"),
    ShortProtection = ("W307", "short-protection", Warning, "a protection window shorter than the expected sales cycle"),
    UnusedPool = ("W308", "unused-pool", Warning, "a co-sell pool that no assign rule uses"),
    UnreachableAssign = ("W309", "unreachable-assign", Warning, "an assign rule that needs a stage the flow cannot reach"),
    SlaWithoutCalendar = ("E310", "sla-without-calendar", Error, "a business-time SLA in a policy with no business calendar"),
    // Data lints (`dealflow lint --db`)
    MiscalibratedProbability = ("W401", "miscalibrated-probability", Warning, "a stage probability outside the conversion its history shows"),
}

impl Code {
    /// Whether the rule judges the policy against recorded data (`dealflow lint --db`)
    /// rather than the policy text alone: a policy file by itself never reports it.
    pub fn needs_data(self) -> bool {
        matches!(self, Code::MiscalibratedProbability)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A secondary labelled span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Related {
    pub span: Span,
    pub label: String,
}

/// One problem found in a policy.
///
/// Messages are lowercase, without a final period, with user input in backticks; the
/// fix goes in `help`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<Related>,
}

/// A diagnostic placed in its file by line and column (1-based), as the JSON
/// outputs give it: `dealflow lint --format json` and the decision service's refused
/// policies.
#[derive(Debug, Serialize)]
pub struct LocatedDiagnostic<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub code: Code,
    pub message: &'a str,
    pub help: Option<&'a str>,
}

impl Diagnostic {
    /// This diagnostic with its file name and line/column range.
    pub fn located<'a>(&'a self, source: &'a SourceFile) -> LocatedDiagnostic<'a> {
        let (start, end) = source.span_lines(&self.span);
        LocatedDiagnostic {
            file: &source.name,
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            severity: self.severity,
            code: self.code,
            message: &self.message,
            help: self.help.as_deref(),
        }
    }

    /// A diagnostic with the code's default severity.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    /// Sets the primary label (defaults to "here").
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the help text: the likely fix.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary labelled span.
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push(Related {
            span,
            label: label.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Pairs the diagnostic with its source so miette can render it.
    pub fn with_source(&self, source: &SourceFile) -> SourceDiagnostic {
        SourceDiagnostic {
            diagnostic: self.clone(),
            source: source.clone(),
        }
    }
}

/// A diagnostic bound to its source file: implements [`miette::Diagnostic`].
#[derive(Clone, Debug)]
pub struct SourceDiagnostic {
    pub diagnostic: Diagnostic,
    pub source: SourceFile,
}

impl fmt::Display for SourceDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for SourceDiagnostic {}

fn source_span(span: &Span) -> miette::SourceSpan {
    miette::SourceSpan::new(span.start.into(), span.end.saturating_sub(span.start))
}

impl miette::Diagnostic for SourceDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let d = &self.diagnostic;
        Some(Box::new(format!("{}({})", d.code.as_str(), d.code.name())))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let d = &self.diagnostic;
        let label = if d.label.is_empty() {
            "here".to_string()
        } else {
            d.label.clone()
        };
        let primary = miette::LabeledSpan::new_primary_with_span(Some(label), source_span(&d.span));
        let rest = d.related.iter().map(|r| {
            miette::LabeledSpan::new_with_span(Some(r.label.clone()), source_span(&r.span))
        });
        Some(Box::new(std::iter::once(primary).chain(rest)))
    }
}

/// Sorts diagnostics by position, then code, so output is stable.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.span.start, a.span.end, a.code, &a.message).cmp(&(
            b.span.start,
            b.span.end,
            b.code,
            &b.message,
        ))
    });
}
