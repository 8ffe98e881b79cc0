//! dealflow's system of record. Commands go in, decisions come out. Each command is
//! one write transaction: it loads what the decision needs, decides with the policy
//! version in force at its instant, writes events and projections, and appends the
//! decision to a hash-chained log. Only then is it acknowledged.
//!
//! The surface is [`Store`]. It is backend-neutral: domain types and JSON in and out,
//! and no SQL type crosses it. [`sqlite::SqliteStore`] is the one backend so far.
//! The engine (`dealflow-engine`) stays pure; the store calls it.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use dealflow_store::{Store, sqlite::SqliteStore};
//!
//! let store = SqliteStore::open_in_memory().unwrap();
//! let now = Utc.with_ymd_and_hms(2026, 9, 1, 14, 0, 0).unwrap();
//! let policy = r#"policy "Mini" version "1" { currency USD }
//! record opportunity { amount: money }
//! stage Open { probability 10% forecast pipeline }
//! won stage Won { probability 100% forecast closed }
//! lost stage Lost { probability 0% forecast omitted }
//! flow { Open -> Won  any -> Lost }"#;
//! let publish = serde_json::json!({
//!     "key": "p1", "type": "publish_policy", "by": {"user": "ann", "role": "admin"},
//!     "source": policy, "effective_from": "2026-01-01T00:00:00Z"
//! });
//! let out = store.submit(&publish.to_string(), now).unwrap();
//! assert_eq!(out.decisions[0].outcome, "published");
//! ```

pub mod command;
pub mod replay;
pub mod sqlite;
mod view;

use chrono::{DateTime, Utc};
pub use command::{Actor, Body, Command, Role, Verdict};
pub use dealflow_engine::Audience;
use serde::Serialize;
pub use view::{
    AccountRow, CommissionLine, Grant, LeadView, ListQuery, LoggedCommand, OpportunityRow,
    OpportunitySummary, OpportunityView, PartnerRow, PolicyVersion, QueueEntry, RegisterDecision,
    RegistrationView, TokenInfo, Verify,
};

/// A visitor of a streaming read: called once per row; an error stops the pass and
/// is returned.
pub type Visitor<'f, T> = &'f mut dyn FnMut(&T) -> Result<(), StoreError>;

/// What can go wrong in the store itself (never a refused command: a refusal is a
/// logged decision).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("could not migrate the database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error(
        "the database has schema version {found}, newer than this dealflow ({supported}); upgrade dealflow"
    )]
    SchemaTooNew { found: usize, supported: usize },
    #[error("the database is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

/// One logged decision, as acknowledged to the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Logged {
    pub seq: u64,
    pub outcome: String,
    /// The decision document (canonical JSON, as hashed into the log).
    pub json: String,
    /// What was decided (the decision's `kind`: register, advance, timer, refusal...).
    #[serde(skip)]
    pub kind: String,
    /// The partner the decision is about, if any (who may see `partner_json`).
    #[serde(skip)]
    pub partner: Option<String>,
    /// The partner's view of the decision (redacted), when it has a partner.
    #[serde(skip)]
    pub partner_json: Option<String>,
}

impl Logged {
    /// The document as `audience` may see it: the vendor's, or the partner's own
    /// redacted view (`None` when the decision is not about that partner).
    pub fn for_audience(&self, audience: &Audience) -> Option<&str> {
        match audience {
            Audience::Vendor => Some(&self.json),
            Audience::Partner(p) if self.partner.as_deref() == Some(p.as_str()) => {
                self.partner_json.as_deref()
            }
            Audience::Partner(_) => None,
        }
    }
}

/// The answer to one submitted command: its decisions (a tick may fire several
/// timers, each its own decision), and whether this was a repeat of an earlier
/// command with the same idempotency key and payload (nothing was written then).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Submitted {
    pub decisions: Vec<Logged>,
    pub repeated: bool,
    /// The command was refused (bad input, unknown record, wrong role, reused key).
    pub refused: bool,
    /// Refused because its idempotency key was used before with another payload.
    #[serde(skip)]
    pub reused_key: bool,
}

/// The system of record. Every read takes the audience it answers for: a partner
/// sees only its own opportunities, registrations, leads offered to it and the
/// decisions about them (redacted as in `docs/decisions.md`).
pub trait Store: Send + Sync {
    /// Applies one command (one JSON object as text) in its own durable transaction.
    /// `now` is the instant for a command that carries no `at`.
    fn submit(&self, command: &str, now: DateTime<Utc>) -> Result<Submitted, StoreError>;

    /// Applies several commands in one durable commit, each atomic on its own (a
    /// refused command changes nothing but its own log entry). Nothing is
    /// acknowledged before the commit.
    fn submit_batch(
        &self,
        commands: &[(&str, DateTime<Utc>)],
    ) -> Result<Vec<Submitted>, StoreError>;

    /// An opportunity with its registrations, history and decisions, when the
    /// audience may see it.
    fn opportunity(
        &self,
        audience: &Audience,
        id: &str,
    ) -> Result<Option<OpportunityView>, StoreError>;

    /// The review queue: pending registrations, oldest first.
    fn queue(&self, audience: &Audience, now: DateTime<Utc>)
        -> Result<Vec<QueueEntry>, StoreError>;

    /// Live registrations whose protection ends within `within` of `now`.
    fn expiring(
        &self,
        audience: &Audience,
        now: DateTime<Utc>,
        within: chrono::Duration,
    ) -> Result<Vec<RegistrationView>, StoreError>;

    /// Decision documents the audience may see, in log order, from `after` on.
    fn decisions(
        &self,
        audience: &Audience,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Logged>, StoreError>;

    /// Booked commission and rebate lines with `from <= at < to`.
    fn commission(
        &self,
        audience: &Audience,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CommissionLine>, StoreError>;

    /// Recomputes the decision log's hash chain.
    fn verify(&self) -> Result<Verify, StoreError>;

    /// The command log, in order (what replay feeds to a fresh store).
    fn commands(&self) -> Result<Vec<LoggedCommand>, StoreError>;

    /// Opportunities the audience may see, in id order after `q.after`, filtered by
    /// `stage`, `partner`, `status` (`open` or `closed`) and `flag` (a hygiene flag
    /// of the policy in force at `now`).
    fn opportunities(
        &self,
        audience: &Audience,
        q: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<OpportunitySummary>, StoreError>;

    /// Registrations the audience may see, in id order after `q.after`, filtered by
    /// `status` and `partner`.
    fn registrations(
        &self,
        audience: &Audience,
        q: &ListQuery,
    ) -> Result<Vec<RegistrationView>, StoreError>;

    /// Leads: all for the vendor, those offered to or accepted by a partner for it.
    fn leads(&self, audience: &Audience, q: &ListQuery) -> Result<Vec<LeadView>, StoreError>;

    /// One lead, when the audience may see it.
    fn lead(&self, audience: &Audience, id: &str) -> Result<Option<LeadView>, StoreError>;

    /// One logged decision in the audience's view, when it may see it.
    fn decision(&self, audience: &Audience, seq: u64) -> Result<Option<Logged>, StoreError>;

    /// Decisions in log order after `q.after` (a sequence number), filtered by `kind`
    /// (the action), `status` (the outcome), `partner` and `opportunity`.
    fn decisions_where(
        &self,
        audience: &Audience,
        q: &ListQuery,
    ) -> Result<Vec<Logged>, StoreError>;

    /// Every published policy version, oldest first.
    fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError>;

    /// The compiled policy version with this hash, if one was published.
    fn policy_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<std::sync::Arc<dealflow_engine::Policy>>, StoreError>;

    /// Issues an API token; returns its id and the secret (shown once; only its
    /// SHA-256 is stored).
    fn create_token(
        &self,
        grant: &Grant,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(String, String), StoreError>;

    /// What a secret grants, unless unknown or revoked.
    fn authenticate(&self, secret: &str) -> Result<Option<(String, Grant)>, StoreError>;

    /// Revokes a token by id; false when there is no such live token.
    fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Every token (never the secrets).
    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// Every opportunity the audience may see, in id order, lent to `f` one at a
    /// time (analytics and export read the whole store in one pass this way).
    fn scan_opportunities(
        &self,
        audience: &Audience,
        f: &mut dyn for<'r> FnMut(&crate::OpportunityRow<'r>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Every registration the audience may see, oldest submission first.
    fn scan_registrations(
        &self,
        audience: &Audience,
        f: Visitor<'_, RegistrationView>,
    ) -> Result<(), StoreError>;

    /// Every `register` decision the audience may see, in log order.
    fn scan_register_decisions(
        &self,
        audience: &Audience,
        f: &mut dyn for<'r> FnMut(&crate::RegisterDecision<'r>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Partners' documents (a partner sees its own), in id order.
    fn partners(&self, audience: &Audience) -> Result<Vec<PartnerRow>, StoreError>;

    /// Accounts' documents (a partner sees those of its own deals), in id order.
    fn accounts(&self, audience: &Audience) -> Result<Vec<AccountRow>, StoreError>;

    /// [`Store::submit_batch`], with each command also decided by `candidate` just
    /// before it is applied (against the same state, the batch's earlier commands
    /// included) and that decision rolled back (shadow mode). The candidate's answer
    /// is `None` when no version is in force (nothing for it to stand in for).
    fn submit_batch_shadowed(
        &self,
        commands: &[(&str, DateTime<Utc>)],
        candidate: &std::sync::Arc<dealflow_engine::Policy>,
    ) -> Result<Vec<(Submitted, Option<Submitted>)>, StoreError>;
}
