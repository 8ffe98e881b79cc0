//! Actions a decision answers and the audience it is rendered for.

use std::fmt;
use std::str::FromStr;

/// What the caller asks the engine to decide.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Move the opportunity to a stage (by name).
    Advance {
        to: String,
    },
    /// Register the deal for the partner.
    Register,
    /// Hygiene flags, forecast, co-sell and a commission preview.
    Evaluate,
    CloseWon,
    CloseLost,
    /// Route the context's lead to the context's partners.
    RouteLead,
}

/// The action forms, for help texts.
const FORMS: &str =
    "use `advance <Stage>`, `register`, `evaluate`, `close_won`, `close_lost` or `route_lead`";

/// The action verbs, as [`Action::verb`] gives them.
pub const VERBS: [&str; 6] = [
    "advance",
    "register",
    "evaluate",
    "close_won",
    "close_lost",
    "route_lead",
];

/// An action string that is not one of the known forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(dealflow::action))]
pub struct ParseActionError {
    /// The action text as given.
    pub input: String,
    message: String,
    #[help]
    help: String,
}

impl ParseActionError {
    fn new(input: &str, message: String, help: String) -> ParseActionError {
        ParseActionError {
            input: input.to_string(),
            message,
            help,
        }
    }

    /// What to do instead (a did-you-mean when one fits, then the forms).
    pub fn help(&self) -> &str {
        &self.help
    }
}

/// The candidate closest to `name` (Jaro-Winkler >= 0.8, case-insensitive).
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl FromStr for Action {
    type Err = ParseActionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split_whitespace();
        let verb = parts.next().unwrap_or("");
        let arg = parts.next();
        let extra = parts.next();
        let fail = |message: String, help: String| Err(ParseActionError::new(s, message, help));
        match (verb, arg, extra) {
            ("", _, _) => fail("no action given".into(), FORMS.into()),
            ("advance", Some(to), None) => Ok(Action::Advance { to: to.to_string() }),
            ("advance", None, _) => fail(
                "`advance` needs the stage to move to".into(),
                "write `advance <Stage>`, e.g. `advance Qualification`".into(),
            ),
            ("advance", Some(_), Some(_)) => fail(
                format!("`advance` takes one stage, got `{}`", s.trim()),
                "write `advance <Stage>`; stage names have no spaces".into(),
            ),
            ("register", None, _) => Ok(Action::Register),
            ("evaluate", None, _) => Ok(Action::Evaluate),
            ("close_won", None, _) => Ok(Action::CloseWon),
            ("close_lost", None, _) => Ok(Action::CloseLost),
            ("route_lead", None, _) => Ok(Action::RouteLead),
            (v, Some(a), _) if VERBS.contains(&v) => fail(
                format!("`{v}` takes no argument, got `{a}`"),
                format!("write `{v}` alone"),
            ),
            (v, _, _) => {
                let help = match closest(v, VERBS) {
                    Some(c) => format!("did you mean `{c}`? {FORMS}"),
                    None => FORMS.to_string(),
                };
                fail(format!("unknown action `{v}`"), help)
            }
        }
    }
}

/// An action the policy cannot decide as asked: a stage it does not declare.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("unknown stage `{stage}` in `advance {stage}`")]
#[diagnostic(code(dealflow::action::stage))]
pub struct UnknownStageError {
    pub stage: String,
    /// The declared stage closest to the name, if one is close.
    pub suggestion: Option<String>,
    /// Every declared stage, in declaration order.
    pub stages: Vec<String>,
    #[help]
    help: String,
}

impl UnknownStageError {
    pub(crate) fn new(stage: &str, stages: Vec<String>) -> UnknownStageError {
        let suggestion = closest(stage, stages.iter().map(String::as_str)).map(str::to_string);
        let declared = format!("the policy declares {}", stages.join(", "));
        let help = match &suggestion {
            Some(s) => format!("did you mean `{s}`? {declared}"),
            None => declared,
        };
        UnknownStageError {
            stage: stage.to_string(),
            suggestion,
            stages,
            help,
        }
    }

    /// The did-you-mean and the declared stages.
    pub fn help(&self) -> &str {
        &self.help
    }
}

impl Action {
    /// The action's verb (`advance` for `advance Proposal`): one of [`VERBS`].
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Advance { .. } => "advance",
            Action::Register => "register",
            Action::Evaluate => "evaluate",
            Action::CloseWon => "close_won",
            Action::CloseLost => "close_lost",
            Action::RouteLead => "route_lead",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Advance { to } => write!(f, "advance {to}"),
            other => f.write_str(other.verb()),
        }
    }
}

/// Who the decision is rendered for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Audience {
    /// The vendor sees everything.
    #[default]
    Vendor,
    /// A partner sees no other partner's identity or deals.
    Partner(String),
}

/// An audience string that is not `vendor` or `partner:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("unknown audience `{0}`")]
#[diagnostic(
    code(dealflow::audience),
    help("use `vendor` or `partner:<id>`, e.g. `partner:P-1`")
)]
pub struct ParseAudienceError(pub String);

impl FromStr for Audience {
    type Err = ParseAudienceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "vendor" {
            return Ok(Audience::Vendor);
        }
        match s.strip_prefix("partner:") {
            Some(id) if !id.trim().is_empty() => Ok(Audience::Partner(id.trim().to_string())),
            _ => Err(ParseAudienceError(s.to_string())),
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Audience::Vendor => f.write_str("vendor"),
            Audience::Partner(id) => write!(f, "partner:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip() {
        for s in [
            "advance Proposal",
            "register",
            "evaluate",
            "close_won",
            "close_lost",
            "route_lead",
        ] {
            let a = s.parse::<Action>().unwrap();
            assert_eq!(a.to_string(), s);
            assert!(s.starts_with(a.verb()) && VERBS.contains(&a.verb()));
        }
        assert!("advance".parse::<Action>().is_err());
        assert!("fly away".parse::<Action>().is_err());
    }

    #[test]
    fn bad_actions_say_what_is_wrong_and_suggest() {
        let e = "regster".parse::<Action>().unwrap_err();
        assert_eq!(e.to_string(), "unknown action `regster`");
        assert!(
            e.help().starts_with("did you mean `register`?"),
            "{}",
            e.help()
        );
        let e = "route_leads".parse::<Action>().unwrap_err();
        assert!(
            e.help().starts_with("did you mean `route_lead`?"),
            "{}",
            e.help()
        );
        let e = "fly".parse::<Action>().unwrap_err();
        assert!(!e.help().contains("did you mean"), "{}", e.help());
        let e = "register now".parse::<Action>().unwrap_err();
        assert_eq!(e.to_string(), "`register` takes no argument, got `now`");
        let e = "advance".parse::<Action>().unwrap_err();
        assert!(e.to_string().contains("needs the stage"), "{e}");
        let e = "advance Closed Won".parse::<Action>().unwrap_err();
        assert!(e.to_string().contains("takes one stage"), "{e}");
        assert_eq!(
            "  ".parse::<Action>().unwrap_err().to_string(),
            "no action given"
        );
    }

    #[test]
    fn unknown_stages_suggest_the_closest_declared_one() {
        let stages = vec!["Open".to_string(), "Qualified".into(), "Won".into()];
        let e = UnknownStageError::new("Qualifed", stages.clone());
        assert_eq!(e.suggestion.as_deref(), Some("Qualified"));
        assert!(
            e.help().starts_with("did you mean `Qualified`?"),
            "{}",
            e.help()
        );
        let e = UnknownStageError::new("Nowhere", stages);
        assert_eq!(e.suggestion, None);
        assert_eq!(e.help(), "the policy declares Open, Qualified, Won");
    }

    #[test]
    fn audiences_parse() {
        assert_eq!("vendor".parse::<Audience>().unwrap(), Audience::Vendor);
        assert_eq!(
            "partner:P-1".parse::<Audience>().unwrap(),
            Audience::Partner("P-1".into())
        );
        assert!("partner:".parse::<Audience>().is_err());
    }
}
