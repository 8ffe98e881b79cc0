//! Commands: what someone asks the program to do, as one JSON object per command
//! (`docs/commands.md`). A command is read in two steps: the envelope (`key`, `at`,
//! `by`, `type`), then the body of its type with unknown fields refused, so every
//! mistake is named with the field it is in.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A vendor user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reviews registrations (the review queue), submits leads.
    ChannelOps,
    /// Publishes policies, manages partners and accounts; everything channel ops does
    /// except reviewing.
    Admin,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ChannelOps => "channel_ops",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// Who issued a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A partner, by id.
    Partner(String),
    /// A vendor user with a role.
    User { user: String, role: Role },
    /// The program itself (ticks).
    System,
}

impl Actor {
    pub fn to_json(&self) -> Value {
        match self {
            Actor::Partner(p) => serde_json::json!({ "partner": p }),
            Actor::User { user, role } => {
                serde_json::json!({ "user": user, "role": role.as_str() })
            }
            Actor::System => Value::String("system".into()),
        }
    }

    fn from_json(v: &Value) -> Result<Actor, String> {
        match v {
            Value::String(s) if s == "system" => Ok(Actor::System),
            Value::Object(m) => {
                let text = |k: &str| -> Result<Option<String>, String> {
                    match m.get(k) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
                        Some(_) => Err(format!("`by.{k}` must be a non-empty text")),
                    }
                };
                for k in m.keys() {
                    if !["partner", "user", "role"].contains(&k.as_str()) {
                        return Err(format!(
                            "unknown field `by.{k}`; `by` is {{\"partner\": ID}} or {{\"user\": NAME, \"role\": ROLE}}"
                        ));
                    }
                }
                match (text("partner")?, text("user")?, text("role")?) {
                    (Some(p), None, None) => Ok(Actor::Partner(p)),
                    (None, Some(user), Some(role)) => {
                        let role = match role.as_str() {
                            "channel_ops" => Role::ChannelOps,
                            "admin" => Role::Admin,
                            "viewer" => Role::Viewer,
                            other => {
                                return Err(format!(
                                "unknown role `{other}`; roles are channel_ops, admin and viewer"
                            ))
                            }
                        };
                        Ok(Actor::User { user, role })
                    }
                    (None, Some(_), None) => Err("`by.role` is missing for a vendor user".into()),
                    _ => Err(
                        "`by` is {\"partner\": ID} or {\"user\": NAME, \"role\": ROLE}, not both"
                            .into(),
                    ),
                }
            }
            _ => Err(
                "`by` must be {\"partner\": ID}, {\"user\": NAME, \"role\": ROLE} or \"system\""
                    .into(),
            ),
        }
    }

    /// The partner id when a partner issued the command.
    pub fn partner(&self) -> Option<&str> {
        match self {
            Actor::Partner(p) => Some(p),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::User { role, .. } => Some(*role),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Partner(p) => write!(f, "partner {p}"),
            Actor::User { user, role } => write!(f, "{} {user}", role.as_str()),
            Actor::System => f.write_str("the system"),
        }
    }
}

/// A new opportunity.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewOpportunity {
    pub id: String,
    /// The partner on the deal; defaults to the issuing partner.
    #[serde(default)]
    pub partner: Option<String>,
    pub account: String,
    /// The stage it starts in; the policy's first stage by default.
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub line_items: Vec<Value>,
}

/// A batch of CRM data (`dealflow import`): facts that already happened, recorded
/// as they were, not decided. Partners and accounts are upserted; each opportunity
/// is created, or updated where it differs from the stored one, with its history
/// at the instants the CRM recorded.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// Where the rows came from (the mapping's name), for the log.
    pub source: String,
    #[serde(default)]
    pub partners: Vec<Map<String, Value>>,
    #[serde(default)]
    pub accounts: Vec<Map<String, Value>>,
    /// Ids of the accounts above that direct sales owns.
    #[serde(default)]
    pub direct_accounts: Vec<String>,
    #[serde(default)]
    pub opportunities: Vec<ImportedOpportunity>,
}

/// One opportunity as a CRM holds it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImportedOpportunity {
    pub id: String,
    #[serde(default)]
    pub partner: Option<String>,
    /// `None`: no account assigned yet.
    #[serde(default)]
    pub account: Option<String>,
    /// Any stage of the policy, closed ones included.
    pub stage: String,
    /// When the CRM created the deal (RFC 3339).
    pub created_at: String,
    #[serde(default)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub line_items: Vec<Value>,
    /// Record history (docs/records.md event types), at the CRM's instants.
    #[serde(default)]
    pub history: Vec<Value>,
    /// Field history: other fields' changes at the CRM's instants (events only).
    #[serde(default)]
    pub changes: Vec<FieldChange>,
}

/// A field's change recorded by the CRM.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub at: String,
    pub field: String,
    #[serde(default)]
    pub old: Value,
    #[serde(default)]
    pub new: Value,
}

/// The body of a command, by `type`.
#[derive(Clone, Debug)]
pub enum Body {
    Import(Import),
    UpsertPartner {
        partner: Map<String, Value>,
    },
    UpsertAccount {
        account: Map<String, Value>,
        direct: bool,
    },
    CreateOpportunity(NewOpportunity),
    UpdateOpportunity {
        opportunity: String,
        fields: Map<String, Value>,
        line_items: Option<Vec<Value>>,
    },
    LogActivity {
        opportunity: String,
        kind: String,
        note: Option<String>,
    },
    LogCosell {
        opportunity: String,
        pool: String,
        person: String,
        note: Option<String>,
    },
    Register {
        opportunity: String,
    },
    Advance {
        opportunity: String,
        to: String,
    },
    CloseWon {
        opportunity: String,
    },
    CloseLost {
        opportunity: String,
    },
    Review {
        opportunity: String,
        verdict: Verdict,
        note: Option<String>,
    },
    Withdraw {
        opportunity: String,
    },
    SubmitLead {
        lead: Map<String, Value>,
    },
    AcceptLead {
        lead: String,
        account: Option<String>,
    },
    DeclineLead {
        lead: String,
        reason: Option<String>,
    },
    PublishPolicy {
        name: String,
        source: String,
        effective_from: DateTime<Utc>,
    },
    Tick,
}

/// A review's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
    Return,
}

/// Every command type, as written in `type`.
pub const TYPES: [&str; 18] = [
    "upsert_partner",
    "upsert_account",
    "create_opportunity",
    "update_opportunity",
    "log_activity",
    "log_cosell",
    "register",
    "advance",
    "close_won",
    "close_lost",
    "review",
    "withdraw",
    "submit_lead",
    "accept_lead",
    "decline_lead",
    "publish_policy",
    "tick",
    "import",
];

impl Body {
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::UpsertPartner { .. } => "upsert_partner",
            Body::UpsertAccount { .. } => "upsert_account",
            Body::CreateOpportunity(_) => "create_opportunity",
            Body::UpdateOpportunity { .. } => "update_opportunity",
            Body::LogActivity { .. } => "log_activity",
            Body::LogCosell { .. } => "log_cosell",
            Body::Register { .. } => "register",
            Body::Advance { .. } => "advance",
            Body::CloseWon { .. } => "close_won",
            Body::CloseLost { .. } => "close_lost",
            Body::Review { .. } => "review",
            Body::Withdraw { .. } => "withdraw",
            Body::SubmitLead { .. } => "submit_lead",
            Body::AcceptLead { .. } => "accept_lead",
            Body::DeclineLead { .. } => "decline_lead",
            Body::PublishPolicy { .. } => "publish_policy",
            Body::Tick => "tick",
            Body::Import(_) => "import",
        }
    }

    /// The opportunity the command is about, if any.
    pub fn opportunity(&self) -> Option<&str> {
        match self {
            Body::CreateOpportunity(o) => Some(&o.id),
            Body::UpdateOpportunity { opportunity, .. }
            | Body::LogActivity { opportunity, .. }
            | Body::LogCosell { opportunity, .. }
            | Body::Register { opportunity }
            | Body::Advance { opportunity, .. }
            | Body::CloseWon { opportunity }
            | Body::CloseLost { opportunity }
            | Body::Review { opportunity, .. }
            | Body::Withdraw { opportunity } => Some(opportunity),
            _ => None,
        }
    }
}

/// A parsed command.
#[derive(Clone, Debug)]
pub struct Command {
    pub key: String,
    /// The command's own instant, when it carries one.
    pub at: Option<DateTime<Utc>>,
    pub by: Actor,
    pub body: Body,
}

/// What can be said about a command line before it is fully read (for refusals).
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    pub key: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub by: Option<Value>,
    pub kind: Option<String>,
}

/// A command that could not be read: why, and what of it could be read.
#[derive(Clone, Debug)]
pub struct ReadError {
    pub message: String,
    pub envelope: Envelope,
}

fn body<T: for<'de> Deserialize<'de>>(kind: &str, rest: Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(rest)).map_err(|e| format!("`{kind}` command: {e}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Opp {
    opportunity: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpsertPartner {
    partner: Map<String, Value>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpsertAccount {
    account: Map<String, Value>,
    #[serde(default)]
    direct: bool,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    opportunity: NewOpportunity,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    opportunity: String,
    #[serde(default)]
    fields: Map<String, Value>,
    #[serde(default)]
    line_items: Option<Vec<Value>>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activity {
    opportunity: String,
    kind: String,
    #[serde(default)]
    note: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cosell {
    opportunity: String,
    pool: String,
    person: String,
    #[serde(default)]
    note: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    opportunity: String,
    to: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    opportunity: String,
    verdict: Verdict,
    #[serde(default)]
    note: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lead {
    lead: Map<String, Value>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    lead: String,
    #[serde(default)]
    account: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decline {
    lead: String,
    #[serde(default)]
    reason: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    #[serde(default)]
    name: Option<String>,
    source: String,
    effective_from: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// The longest idempotency key, in bytes.
pub const MAX_KEY: usize = 256;

/// Parses an RFC 3339 instant in years 1..=9999.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant ({e})"))?
        .with_timezone(&Utc);
    if dealflow_engine::calendar::in_range(t) {
        Ok(t)
    } else {
        Err(format!("`{s}` is outside years 1..=9999"))
    }
}

impl Command {
    /// Reads one command from its JSON value.
    pub fn from_value(v: &Value) -> Result<Command, ReadError> {
        Command::from_owned(v.clone())
    }

    /// [`Command::from_value`], taking the value (no copy of a large body).
    pub fn from_owned(v: Value) -> Result<Command, ReadError> {
        let mut env = Envelope::default();
        let err = |message: String, env: &Envelope| ReadError {
            message,
            envelope: env.clone(),
        };
        let Value::Object(mut rest) = v else {
            return Err(err("a command is a JSON object".into(), &env));
        };
        match rest.remove("key") {
            Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KEY => env.key = Some(k),
            Some(Value::String(_)) => {
                return Err(err("`key` must be 1 to 256 characters".into(), &env))
            }
            Some(_) => return Err(err("`key` must be a text".into(), &env)),
            None => {}
        }
        match rest.remove("type") {
            Some(Value::String(t)) => env.kind = Some(t),
            Some(_) => return Err(err("`type` must be a text".into(), &env)),
            None => {}
        }
        match rest.remove("at") {
            Some(Value::String(s)) => {
                env.at = Some(parse_instant(&s).map_err(|e| err(format!("`at`: {e}"), &env))?)
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(err("`at` must be an RFC 3339 text".into(), &env)),
        }
        let by = rest.remove("by");
        env.by = by.clone();
        let Some(kind) = env.kind.clone() else {
            return Err(err(
                format!("`type` is missing; it is one of {}", TYPES.join(", ")),
                &env,
            ));
        };
        let by = match by {
            Some(b) => Actor::from_json(&b).map_err(|e| err(e, &env))?,
            None if kind == "tick" => Actor::System,
            None => return Err(err("`by` is missing: who issues the command".into(), &env)),
        };
        let key = match (&env.key, kind.as_str(), env.at) {
            (Some(k), _, _) => k.clone(),
            (None, "tick", Some(at)) => format!("tick@{}", crate::sqlite::ts(at)),
            (None, "tick", None) => String::new(),
            _ => {
                return Err(err(
                    "`key` is missing: every command carries an idempotency key".into(),
                    &env,
                ))
            }
        };
        let b = |e: String| err(e, &env);
        let body = match kind.as_str() {
            "upsert_partner" => {
                let x: UpsertPartner = body(&kind, rest).map_err(b)?;
                Body::UpsertPartner { partner: x.partner }
            }
            "upsert_account" => {
                let x: UpsertAccount = body(&kind, rest).map_err(b)?;
                Body::UpsertAccount {
                    account: x.account,
                    direct: x.direct,
                }
            }
            "create_opportunity" => {
                let x: Create = body(&kind, rest).map_err(b)?;
                Body::CreateOpportunity(x.opportunity)
            }
            "update_opportunity" => {
                let x: Update = body(&kind, rest).map_err(b)?;
                Body::UpdateOpportunity {
                    opportunity: x.opportunity,
                    fields: x.fields,
                    line_items: x.line_items,
                }
            }
            "log_activity" => {
                let x: Activity = body(&kind, rest).map_err(b)?;
                Body::LogActivity {
                    opportunity: x.opportunity,
                    kind: x.kind,
                    note: x.note,
                }
            }
            "log_cosell" => {
                let x: Cosell = body(&kind, rest).map_err(b)?;
                Body::LogCosell {
                    opportunity: x.opportunity,
                    pool: x.pool,
                    person: x.person,
                    note: x.note,
                }
            }
            "register" | "close_won" | "close_lost" | "withdraw" => {
                let x: Opp = body(&kind, rest).map_err(b)?;
                let opportunity = x.opportunity;
                match kind.as_str() {
                    "register" => Body::Register { opportunity },
                    "close_won" => Body::CloseWon { opportunity },
                    "close_lost" => Body::CloseLost { opportunity },
                    _ => Body::Withdraw { opportunity },
                }
            }
            "advance" => {
                let x: Advance = body(&kind, rest).map_err(b)?;
                Body::Advance {
                    opportunity: x.opportunity,
                    to: x.to,
                }
            }
            "review" => {
                let x: Review = body(&kind, rest).map_err(b)?;
                Body::Review {
                    opportunity: x.opportunity,
                    verdict: x.verdict,
                    note: x.note,
                }
            }
            "submit_lead" => {
                let x: Lead = body(&kind, rest).map_err(b)?;
                Body::SubmitLead { lead: x.lead }
            }
            "accept_lead" => {
                let x: Accept = body(&kind, rest).map_err(b)?;
                Body::AcceptLead {
                    lead: x.lead,
                    account: x.account,
                }
            }
            "decline_lead" => {
                let x: Decline = body(&kind, rest).map_err(b)?;
                Body::DeclineLead {
                    lead: x.lead,
                    reason: x.reason,
                }
            }
            "publish_policy" => {
                let x: Publish = body(&kind, rest).map_err(b)?;
                let effective_from = parse_instant(&x.effective_from)
                    .map_err(|e| err(format!("`effective_from`: {e}"), &env))?;
                Body::PublishPolicy {
                    name: x.name.unwrap_or_else(|| "policy.policy".into()),
                    source: x.source,
                    effective_from,
                }
            }
            "tick" => {
                let _: Empty = body(&kind, rest).map_err(b)?;
                Body::Tick
            }
            "import" => Body::Import(body(&kind, rest).map_err(b)?),
            other => {
                return Err(err(
                    format!(
                        "unknown command type `{other}`; it is one of {}",
                        TYPES.join(", ")
                    ),
                    &env,
                ))
            }
        };
        Ok(Command {
            key,
            at: env.at,
            by,
            body,
        })
    }
}

/// JSON with object keys sorted and no insignificant whitespace: the form that is
/// hashed (commands for idempotency, decisions for the log chain), independent of
/// how serde_json orders maps.
pub fn canonical(v: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    // Only serde_json's own output and ASCII punctuation were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes keys and scalars with serde_json's own escaping and number format (no
/// per-value allocation); objects with their keys sorted whatever the map's order.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            // A BTreeMap's keys come sorted already; this keeps the form canonical
            // should the map ever preserve insertion order instead.
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// Hex sha256 of the canonical JSON of a command as written.
pub fn payload_hash(v: &Value) -> String {
    hex::encode(Sha256::digest(canonical(v).as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"x"}}"#).unwrap();
        assert_eq!(
            canonical(&v),
            r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn unknown_fields_and_types_are_named() {
        let v: Value = serde_json::from_str(
            r#"{"key":"k","type":"register","by":{"partner":"P-1"},"opportunity":"O","extra":1}"#,
        )
        .unwrap();
        let e = Command::from_value(&v).unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
        let v: Value =
            serde_json::from_str(r#"{"key":"k","type":"regster","by":{"partner":"P-1"}}"#).unwrap();
        let e = Command::from_value(&v).unwrap_err();
        assert!(
            e.message.contains("unknown command type `regster`"),
            "{}",
            e.message
        );
        let v: Value =
            serde_json::from_str(r#"{"type":"register","by":{"partner":"P-1"},"opportunity":"O"}"#)
                .unwrap();
        assert!(Command::from_value(&v)
            .unwrap_err()
            .message
            .contains("`key` is missing"));
        let v: Value = serde_json::from_str(r#"{"key":"k","type":"review","by":{"user":"a","role":"boss"},"opportunity":"O","verdict":"approve"}"#)
            .unwrap();
        assert!(Command::from_value(&v)
            .unwrap_err()
            .message
            .contains("unknown role `boss`"));
    }
}
