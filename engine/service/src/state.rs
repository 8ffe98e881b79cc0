//! What every handler shares: the store, the clock, the group-commit writer, the
//! shadow policy and the metrics.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dealflow_engine::Policy;
use dealflow_store::{Grant, Store};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::Metrics;
use crate::writer::Writer;

/// Where the service's "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Moves a test clock; `false` for the real clock, which cannot be moved.
    fn set(&self, _to: DateTime<Utc>) -> bool {
        false
    }
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move (`--clock fixed:RFC3339`, tests).
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(at))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(p) => *p.into_inner(),
        }
    }

    fn set(&self, to: DateTime<Utc>) -> bool {
        match self.0.lock() {
            Ok(mut t) => *t = to,
            Err(p) => *p.into_inner() = to,
        }
        true
    }
}

/// One command where the shadow policy decided otherwise.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShadowDifference {
    /// The command's idempotency key.
    pub key: String,
    pub command_type: String,
    pub opportunity: Option<String>,
    /// Outcomes as applied, and as the candidate would have decided.
    pub applied: Vec<String>,
    pub candidate: Vec<String>,
    pub at: String,
}

/// The candidate policy of `--shadow` and what it has seen.
pub struct Shadow {
    pub policy: Arc<Policy>,
    pub compared: std::sync::atomic::AtomicU64,
    pub differences: Mutex<VecDeque<ShadowDifference>>,
    pub different: std::sync::atomic::AtomicU64,
}

/// How many shadow differences are kept for `GET /v1/shadow` (the newest).
pub const SHADOW_KEPT: usize = 1000;

impl Shadow {
    pub fn new(policy: Policy) -> Shadow {
        Shadow {
            policy: Arc::new(policy),
            compared: 0.into(),
            differences: Mutex::new(VecDeque::new()),
            different: 0.into(),
        }
    }
}

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub writer: Writer,
    pub shadow: Option<Arc<Shadow>>,
    pub metrics: Arc<Metrics>,
    /// Idempotency keys of commands being applied now (a second request with the
    /// same key answers 409 until the first is done).
    pub in_flight: Mutex<HashSet<String>>,
    /// Set when shutdown begins: `/readyz` answers 503.
    pub draining: std::sync::atomic::AtomicBool,
    /// Tokens recently found valid: secret -> (token id, grant, when checked).
    pub tokens: Mutex<HashMap<String, (String, Grant, Instant)>>,
    /// Compiled policy versions by hash (a version never changes once published).
    pub policies: Mutex<HashMap<String, Arc<Policy>>>,
}

/// How long a token found valid is trusted without asking the store again: a
/// revocation takes effect within this time.
pub const TOKEN_TTL: Duration = Duration::from_secs(2);
/// The most tokens remembered (the cache is emptied when it is full).
pub const TOKEN_CACHE_MAX: usize = 10_000;

/// Cheap to clone: every handler gets one.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// A state over `store`, starting the group-commit writer thread.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, shadow: Option<Policy>) -> AppState {
        let metrics = Arc::new(Metrics::new());
        let shadow = shadow.map(|p| Arc::new(Shadow::new(p)));
        let writer = Writer::start(
            store.clone(),
            clock.clone(),
            shadow.clone(),
            metrics.clone(),
        );
        AppState(Arc::new(Inner {
            store,
            clock,
            writer,
            shadow,
            metrics,
            in_flight: Mutex::new(HashSet::new()),
            draining: false.into(),
            tokens: Mutex::new(HashMap::new()),
            policies: Mutex::new(HashMap::new()),
        }))
    }
}
