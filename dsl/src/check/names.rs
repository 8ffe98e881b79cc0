//! Name tables (built-in facts, functions, reserved names) and "did you mean"
//! suggestions.

use crate::ir::{Builtin, EnumId, Func, RecordKind, Type};

/// The built-in written `name` (one segment, or `root.field`).
pub(crate) fn builtin(name: &str) -> Option<Builtin> {
    Builtin::ALL.iter().copied().find(|b| b.name() == name)
}

/// `stage.probability` is an alias of `probability`.
pub(crate) fn builtin_dotted(root: &str, field: &str) -> Option<Builtin> {
    if root == "stage" && field == "probability" {
        return Some(Builtin::Probability);
    }
    Builtin::ALL
        .iter()
        .copied()
        .find(|b| b.name().split_once('.') == Some((root, field)))
}

/// The fields of a built-in namespace (`registration` -> `status`, `approved`, ...).
pub(crate) fn builtin_fields(root: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Builtin::ALL
        .iter()
        .filter_map(|b| b.name().split_once('.'))
        .filter(|(r, _)| *r == root)
        .map(|(_, f)| f)
        .collect();
    if root == "stage" {
        out.push("probability");
    }
    out
}

/// The static type of a built-in fact.
pub(crate) fn builtin_type(b: Builtin) -> Type {
    let opt = |t: Type| Type::Optional(Box::new(t));
    match b {
        Builtin::Stage => Type::Stage,
        Builtin::Probability => Type::Percent,
        Builtin::StageExpected | Builtin::DaysInStage => Type::Duration,
        Builtin::StageEnteredAt
        | Builtin::RegistrationSubmittedAt
        | Builtin::RegistrationApprovedAt
        | Builtin::RegistrationProtectedUntil
        | Builtin::CosellFirstContactAt => opt(Type::DateTime),
        Builtin::CloseDateChanges => Type::Integer,
        Builtin::DaysSinceLastActivity
        | Builtin::RegistrationAge
        | Builtin::RegistrationAgeAtClose => opt(Type::Duration),
        Builtin::Now => Type::DateTime,
        Builtin::Today => Type::Date,
        Builtin::LineItems => Type::List(Box::new(Type::Record(RecordKind::LineItem))),
        Builtin::RegistrationStatus => Type::Enum(EnumId::REGISTRATION_STATUS),
        Builtin::RegistrationApproved
        | Builtin::RegistrationApprovedBeforeClose
        | Builtin::CosellSupported
        | Builtin::Approved
        | Builtin::AccountDirectOwned => Type::Bool,
        Builtin::RegistrationPartner => opt(Type::Text),
    }
}

/// One-segment built-ins usable over an opportunity (`approved` is added separately
/// inside `discount ... when`).
pub(crate) const OPPORTUNITY_SINGLE: [&str; 9] = [
    "stage",
    "probability",
    "stage_entered_at",
    "days_in_stage",
    "close_date_changes",
    "days_since_last_activity",
    "now",
    "today",
    "line_items",
];

/// One-segment built-ins usable in `leads`.
pub(crate) const LEADS_SINGLE: [&str; 2] = ["now", "today"];

/// Namespaces that may start a two-segment path.
pub(crate) const ROOTS: [&str; 8] = [
    "opportunity",
    "partner",
    "account",
    "item",
    "lead",
    "stage",
    "registration",
    "cosell",
];

/// Whether an opportunity field may not take this name: the one-segment built-ins,
/// `approved`, the path namespaces, and the keywords `any` and `registering`.
pub(crate) fn reserved_opportunity_name(name: &str) -> bool {
    OPPORTUNITY_SINGLE.contains(&name)
        || ROOTS.contains(&name)
        || ["approved", "any", "registering"].contains(&name)
}

/// Built-in functions by name.
pub(crate) const FUNCS: [(&str, Func); 7] = [
    ("days_between", Func::DaysBetween),
    ("days", Func::Days),
    ("len", Func::Len),
    ("date", Func::Date),
    ("min", Func::Min),
    ("max", Func::Max),
    ("lower", Func::Lower),
];

/// Record kinds by their `record NAME` name.
pub(crate) fn record_kind(name: &str) -> Option<RecordKind> {
    RecordKind::ALL.iter().copied().find(|k| k.name() == name)
}

/// The closest candidate to `name`: an exact case-insensitive match first, then the
/// smallest edit distance (at most 2, and less than the name's length), then a high
/// Jaro-Winkler similarity.
pub(crate) fn suggest<'c, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'c str>,
{
    let lower = name.to_lowercase();
    let len = name.chars().count();
    let mut best: Option<(usize, f64, &str)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        if cand.to_lowercase() == lower {
            return Some(cand.to_string());
        }
        let lev = strsim::levenshtein(name, cand);
        let jw = strsim::jaro_winkler(&lower, &cand.to_lowercase());
        let close = (lev <= 2 && lev < len) || jw >= 0.9;
        if !close {
            continue;
        }
        let better = match best {
            None => true,
            Some((bl, bj, _)) => lev < bl || (lev == bl && jw > bj),
        };
        if better {
            best = Some((lev, jw, cand));
        }
    }
    best.map(|(_, _, c)| c.to_string())
}

/// `did you mean `x`?` for the closest candidate, if any.
pub(crate) fn did_you_mean<'c, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'c str>,
{
    suggest(name, candidates).map(|s| format!("did you mean `{s}`?"))
}

/// `` `a`, `b`, `c` `` (at most `max` names, then `...`).
pub(crate) fn list_names<'c, I>(names: I, max: usize) -> String
where
    I: IntoIterator<Item = &'c str>,
{
    let mut out = Vec::new();
    let mut more = false;
    for (i, n) in names.into_iter().enumerate() {
        if i >= max {
            more = true;
            break;
        }
        out.push(format!("`{n}`"));
    }
    let mut s = out.join(", ");
    if more {
        s.push_str(", ...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            suggest("Negotation", ["Negotiation", "Proposal"]),
            Some("Negotiation".into())
        );
        assert_eq!(
            suggest("platinum", ["Gold", "Platinum"]),
            Some("Platinum".into())
        );
        assert_eq!(suggest("xyz", ["Negotiation", "Proposal"]), None);
        assert_eq!(suggest("ab", ["cd"]), None);
    }

    #[test]
    fn builtin_lookup_by_name() {
        assert_eq!(builtin("days_in_stage"), Some(Builtin::DaysInStage));
        assert_eq!(
            builtin_dotted("registration", "age_at_close"),
            Some(Builtin::RegistrationAgeAtClose)
        );
        assert_eq!(
            builtin_dotted("stage", "probability"),
            Some(Builtin::Probability)
        );
        assert_eq!(builtin_dotted("registration", "nope"), None);
        assert!(builtin_fields("cosell").contains(&"supported"));
    }
}
