//! Prometheus metrics (`prometheus-client`: a registry per service, no globals, so
//! tests can run several services in one process). Routes are labelled with the
//! matched route template, never the raw path.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub kind: String,
    pub outcome: String,
}

fn latency() -> Histogram {
    // 0.1 ms .. about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub sla_breaches: Counter,
    pub shadow_differences: Counter,
    pub commits: Counter,
    pub queue_depth: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("dealflow")),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency),
            decisions: Family::default(),
            sla_breaches: Counter::default(),
            shadow_differences: Counter::default(),
            commits: Counter::default(),
            queue_depth: Gauge::default(),
        };
        if let Ok(mut r) = m.registry.lock() {
            r.register(
                "http_requests",
                "HTTP requests by matched route, method and status",
                m.requests.clone(),
            );
            r.register(
                "http_request_duration_seconds",
                "HTTP request latency by matched route",
                m.latency.clone(),
            );
            r.register(
                "decisions",
                "Logged decisions by kind (the action) and outcome",
                m.decisions.clone(),
            );
            r.register(
                "sla_breaches",
                "Registrations whose review SLA was breached",
                m.sla_breaches.clone(),
            );
            r.register(
                "shadow_differences",
                "Commands the shadow policy decided otherwise",
                m.shadow_differences.clone(),
            );
            r.register(
                "commits",
                "Durable commits of the group-commit writer",
                m.commits.clone(),
            );
            r.register(
                "review_queue_depth",
                "Registrations pending review (at the last scrape)",
                m.queue_depth.clone(),
            );
        }
        m
    }

    /// Counts one logged decision.
    pub fn decision(&self, kind: &str, outcome: &str) {
        if outcome == "breached" {
            self.sla_breaches.inc();
        }
        self.decisions
            .get_or_create(&DecisionLabels {
                kind: kind.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            if encode(&mut out, &r).is_err() {
                out.clear();
            }
        }
        out
    }
}
