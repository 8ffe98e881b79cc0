//! Wire types: request bodies (unknown fields refused, so a typo is named) and
//! the response shapes `/openapi.json` describes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// A free-form JSON object schema for a type (its fields are in docs/).
macro_rules! object_schema {
    ($t:ident) => {
        impl PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new().schema_type(Type::Object).into()
            }
        }
        impl ToSchema for $t {}
    };
}

/// A JSON document of the store or engine (a decision, an opportunity, a lead...),
/// as `docs/decisions.md` and `docs/commands.md` describe it.
pub struct Document;

impl PartialSchema for Document {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A dealflow document (see docs/decisions.md and docs/commands.md)",
            ))
            .into()
    }
}
impl ToSchema for Document {}

/// The answer to a command: its decisions in the caller's audience.
#[derive(Serialize, ToSchema)]
pub struct CommandResponse {
    #[schema(value_type = Vec<Document>)]
    pub decisions: Vec<Value>,
    /// True when this answers an earlier command with the same idempotency key and
    /// payload (nothing was applied again).
    pub repeated: bool,
}

/// A page of a list, and the cursor for the next (absent on the last page).
#[derive(Serialize, ToSchema)]
pub struct Page {
    #[schema(value_type = Vec<Document>)]
    pub items: Vec<Value>,
    pub next: Option<String>,
}

/// Paging and filters of the list routes (each list reads the filters it knows).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Items after this cursor (the `next` of the previous page).
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    /// Opportunities: the stage.
    pub stage: Option<String>,
    /// The partner (ignored for a partner token: it sees only its own).
    pub partner: Option<String>,
    /// Opportunities: `open` or `closed`; registrations: `pending`, `approved`...;
    /// leads: `offered`, `accepted`...; decisions: the outcome.
    pub status: Option<String>,
    /// Opportunities: a hygiene flag of the policy in force (`stale`, ...).
    pub flag: Option<String>,
    /// Decisions: the kind (`register`, `advance`, `timer`, `refusal`...).
    pub kind: Option<String>,
    /// Registrations and decisions: the opportunity.
    pub opportunity: Option<String>,
}

/// A partner's document (`id` comes from the path).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct PartnerBody(pub Map<String, Value>);
object_schema!(PartnerBody);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    /// The account's document (`id` comes from the path). Required: the account is
    /// replaced by it, so an empty body must not wipe an account.
    #[schema(value_type = Object)]
    pub account: Map<String, Value>,
    /// The vendor sells to this account directly (no partner registration on it).
    #[serde(default)]
    pub direct: bool,
}

/// A new opportunity: `id`, `account`, optional `partner`, `stage`, `fields` and
/// `line_items` (docs/commands.md, `create_opportunity`).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct NewOpportunityBody(pub Map<String, Value>);
object_schema!(NewOpportunityBody);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[schema(value_type = Object)]
    #[serde(default)]
    pub fields: Map<String, Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(default)]
    pub line_items: Option<Vec<Value>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceBody {
    /// The stage to move to.
    pub to: String,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CloseOutcome {
    Won,
    Lost,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    pub outcome: CloseOutcome,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    pub kind: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosellBody {
    pub pool: String,
    pub person: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum VerdictBody {
    Approve,
    Reject,
    Return,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub verdict: VerdictBody,
    #[serde(default)]
    pub note: Option<String>,
}

/// A lead's document (docs/commands.md, `submit_lead`).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct LeadBody(pub Map<String, Value>);
object_schema!(LeadBody);

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The account to create the opportunity on, when the lead names none.
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// The policy text.
    pub source: String,
    /// RFC 3339; when the version takes effect.
    #[schema(format = DateTime)]
    pub effective_from: String,
    /// A file name for diagnostics (`channel.policy`).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// The candidate policy's text.
    pub source: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    /// The hash of a published policy version (`GET /v1/policies`).
    pub policy: String,
    /// The opportunity record (docs/records.md); not read for `route_lead`.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub record: Option<Value>,
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub context: Option<Value>,
    /// `advance Proposal`, `register`, `evaluate`, `close_won`, `close_lost`, `route_lead`.
    pub action: String,
    /// RFC 3339; the decision's instant.
    #[schema(format = DateTime)]
    pub now: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockBody {
    /// RFC 3339; the test clock's new instant.
    #[schema(format = DateTime)]
    pub now: String,
}

/// Lint diagnostics of a refused policy.
#[derive(Serialize, ToSchema)]
pub struct PolicyRefused {
    pub error: String,
    pub message: String,
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}
