//! What reads return: plain data, serializable, no SQL types.

use serde::Serialize;
use serde_json::Value;

/// A registration as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistrationView {
    pub id: String,
    pub opportunity: String,
    pub partner: String,
    /// pending, approved, rejected, returned, withdrawn or expired.
    pub status: String,
    pub submitted_at: String,
    pub approved_at: Option<String>,
    pub decided_at: Option<String>,
    pub protected_until: Option<String>,
    pub extensions: u32,
    pub review_deadline: Option<String>,
    pub escalated_to: Option<String>,
    pub breached: bool,
    pub late: bool,
}

/// One opportunity: its current state, registrations (newest first), history
/// events and the decisions about it, as the audience may see them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpportunityView {
    pub id: String,
    pub stage: String,
    pub closed: bool,
    pub partner: Option<String>,
    pub account: Value,
    pub fields: Value,
    pub line_items: Value,
    /// The record history the engine reads (docs/records.md): created, stage and
    /// close-date changes, activities, co-sell contacts, the close.
    pub history: Value,
    pub registrations: Vec<RegistrationView>,
    /// Events (stage changes, field changes with old and new value, activities...).
    pub events: Vec<Value>,
    pub cosell: Vec<Value>,
    /// Decision documents in log order.
    pub decisions: Vec<Value>,
}

/// A pending review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    pub registration: String,
    pub opportunity: String,
    pub partner: String,
    pub submitted_at: String,
    pub deadline: Option<String>,
    /// Business hours waited so far (two decimals), on the policy's calendar.
    pub waited_business_hours: String,
    pub escalated_to: Option<String>,
    pub breached: bool,
}

/// A booked commission or rebate line, traceable to its decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommissionLine {
    pub decision_seq: u64,
    pub at: String,
    pub opportunity: String,
    pub partner: String,
    pub kind: String,
    pub role: Option<String>,
    pub amount: String,
    pub currency: String,
}

/// The result of checking the decision log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verify {
    pub decisions: u64,
    /// The first sequence number whose hash does not follow from its predecessor.
    pub first_broken: Option<u64>,
    pub reason: Option<String>,
}

/// A logged command: what replay re-submits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedCommand {
    pub seq: u64,
    pub at: String,
    pub raw: String,
}

/// What a list read asks for: a cursor, a page size and the filters each list
/// understands (others are ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Return items after this cursor (an id, or a decision sequence number).
    pub after: Option<String>,
    pub limit: usize,
    pub stage: Option<String>,
    pub partner: Option<String>,
    pub status: Option<String>,
    pub flag: Option<String>,
    pub kind: Option<String>,
    pub opportunity: Option<String>,
}

/// One row of the opportunity list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpportunitySummary {
    pub id: String,
    pub stage: String,
    pub closed: bool,
    pub partner: Option<String>,
    /// `None` for an imported deal that no account was assigned to.
    pub account: Option<String>,
    pub updated_at: String,
}

/// A lead as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeadView {
    pub id: String,
    /// offered, accepted, unrouted or exhausted.
    pub status: String,
    pub offered_to: Option<String>,
    pub accept_by: Option<String>,
    pub opportunity: Option<String>,
    pub submitted_at: String,
    /// The lead record; only the vendor sees the routing history (`offered`).
    pub lead: Value,
    pub offered: Option<Value>,
}

/// A published policy version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    pub version: u64,
    pub hash: String,
    pub name: String,
    pub effective_from: String,
    pub command_seq: u64,
}

/// Whom a token speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    Partner(String),
    Vendor(crate::Role),
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub grant: Grant,
    pub name: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// One stored opportunity, lent for a streaming pass ([`crate::Store::scan_opportunities`]).
/// `doc` is `{"fields": {...}, "line_items": [...]}` and `history` the record history
/// (docs/records.md), both JSON text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpportunityRow<'a> {
    pub id: &'a str,
    pub partner: Option<&'a str>,
    pub account: Option<&'a str>,
    pub stage: &'a str,
    pub closed: bool,
    pub doc: &'a str,
    pub history: &'a str,
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

/// A register decision: its log position, opportunity, outcome and document (the
/// audience's view), lent for a streaming pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterDecision<'a> {
    pub seq: u64,
    pub opportunity: Option<&'a str>,
    pub outcome: &'a str,
    pub body: &'a str,
}

/// A partner's stored document (JSON text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartnerRow {
    pub id: String,
    pub doc: String,
}

/// An account's stored document (JSON text) and whether direct sales owns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    pub id: String,
    pub doc: String,
    pub direct: bool,
}
