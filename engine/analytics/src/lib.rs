//! dealflow's CRM side. A YAML mapping ([`mapping::Mapping`], `docs/import.md`) says
//! how a CRM's CSV exports become partners, accounts and opportunities with their
//! history; [`import`] reads them into `import` commands (so the store's log,
//! idempotency and replay cover them), [`export`] writes a store back in the
//! mapping's shape, and [`report`] computes the channel team's metrics from the
//! store's recorded history (`docs/metrics.md`).

pub mod convert;
pub mod export;
pub mod import;
pub mod mapping;
pub mod report;

use chrono::{DateTime, Utc};

/// An instant as the store writes it (RFC 3339, UTC, `Z`).
pub fn ts(t: DateTime<Utc>) -> String {
    dealflow_store::sqlite::ts(t)
}
