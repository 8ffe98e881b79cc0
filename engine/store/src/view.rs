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
