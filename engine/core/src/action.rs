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

/// An action string that is not one of the known forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("unknown action `{0}`")]
#[diagnostic(
    code(dealflow::action),
    help(
        "use `advance <Stage>`, `register`, `evaluate`, `close_won`, `close_lost` or `route_lead`"
    )
)]
pub struct ParseActionError(pub String);

impl FromStr for Action {
    type Err = ParseActionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split_whitespace();
        let verb = parts.next().unwrap_or("");
        let arg = parts.next();
        if parts.next().is_some() {
            return Err(ParseActionError(s.to_string()));
        }
        match (verb, arg) {
            ("advance", Some(to)) => Ok(Action::Advance { to: to.to_string() }),
            ("register", None) => Ok(Action::Register),
            ("evaluate", None) => Ok(Action::Evaluate),
            ("close_won", None) => Ok(Action::CloseWon),
            ("close_lost", None) => Ok(Action::CloseLost),
            ("route_lead", None) => Ok(Action::RouteLead),
            _ => Err(ParseActionError(s.to_string())),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Advance { to } => write!(f, "advance {to}"),
            Action::Register => f.write_str("register"),
            Action::Evaluate => f.write_str("evaluate"),
            Action::CloseWon => f.write_str("close_won"),
            Action::CloseLost => f.write_str("close_lost"),
            Action::RouteLead => f.write_str("route_lead"),
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
            assert_eq!(s.parse::<Action>().unwrap().to_string(), s);
        }
        assert!("advance".parse::<Action>().is_err());
        assert!("fly away".parse::<Action>().is_err());
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
