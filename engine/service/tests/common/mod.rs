//! A real service on loopback over a real store file, seeded through the HTTP API:
//! two partners (P-ALPHA, P-BETA), two accounts, one opportunity each, and tokens
//! for each kind of caller (one revoked). Requests go through `ureq`.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dealflow_service::{AppState, FixedClock, Limits};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Grant, Role, Store};
use serde_json::{json, Value};

pub const POLICY: &str = include_str!("../../../../policies/channel-standard.policy");

pub fn start_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 14, 0, 0).unwrap()
}

pub struct Tokens {
    pub admin: String,
    pub ops: String,
    pub viewer: String,
    pub alpha: String,
    pub beta: String,
    pub revoked: String,
}

pub struct TestServer {
    pub base: String,
    pub db: PathBuf,
    pub tokens: Tokens,
    pub agent: ureq::Agent,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn partner(id: &str, tier: &str) -> Value {
    json!({"name": format!("{id} Networks"), "tier": tier, "territories": ["NA"],
           "specializations": ["Security"], "win_rate": "35%"})
}

pub fn opportunity(id: &str, account: &str) -> Value {
    json!({"id": id, "account": account, "stage": "Qualification",
           "fields": {"amount": 120000, "close_date": "2026-12-15", "product_family": "Security",
                      "region": "NA", "budget_process": true, "decision_maker": "CFO Jane Roe",
                      "need": "firewall refresh", "timeline": "2026-12-01"},
           "line_items": [{"product": "Firewall X", "product_family": "Security",
                           "quantity": 2, "price": 60000}]})
}

impl TestServer {
    /// A seeded server on a fixed clock.
    pub fn start() -> TestServer {
        Self::start_with(None, Limits::default())
    }

    pub fn start_with(shadow: Option<&str>, limits: Limits) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("program.db");
        let store = SqliteStore::open(&db).unwrap();
        let now = start_instant();
        let t = |g: Grant| store.create_token(&g, None, now).unwrap().1;
        let tokens = Tokens {
            admin: t(Grant::Vendor(Role::Admin)),
            ops: t(Grant::Vendor(Role::ChannelOps)),
            viewer: t(Grant::Vendor(Role::Viewer)),
            alpha: t(Grant::Partner("P-ALPHA".into())),
            beta: t(Grant::Partner("P-BETA".into())),
            revoked: {
                let (id, secret) = store
                    .create_token(&Grant::Partner("P-ALPHA".into()), Some("old"), now)
                    .unwrap();
                assert!(store.revoke_token(&id, now).unwrap());
                secret
            },
        };
        let shadow = shadow.map(|text| {
            dealflow_engine::Policy::compile(&dealflow_dsl::SourceFile::new("shadow.policy", text))
                .unwrap()
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", std_listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let store: Arc<dyn Store> = Arc::new(store);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let state = AppState::new(store, Arc::new(FixedClock::new(now)), shadow);
                dealflow_service::serve(
                    listener,
                    state,
                    limits,
                    async move {
                        let _ = stopped.await;
                    },
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            });
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let s = TestServer {
            base,
            db,
            tokens,
            agent,
            _dir: dir,
            stop: Some(stop),
            thread: Some(thread),
        };
        s.seed();
        s
    }

    fn seed(&self) {
        let a = self.tokens.admin.clone();
        let r = self.put(
            &a,
            "/v1/policies",
            &json!({"source": POLICY, "name": "channel-standard.policy",
                    "effective_from": "2026-01-01T00:00:00Z"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for (id, tier) in [("P-ALPHA", "Gold"), ("P-BETA", "Silver")] {
            let r = self.put(&a, &format!("/v1/partners/{id}"), &partner(id, tier));
            assert_eq!(r.status, 200, "{}", r.body);
        }
        for (id, domain) in [
            ("A-ALPHA", "alpha-customer.com"),
            ("A-BETA", "beta-customer.com"),
        ] {
            let r = self.put(
                &a,
                &format!("/v1/accounts/{id}"),
                &json!({"account": {"name": format!("{id} Inc."), "domain": domain,
                        "industry": "Commercial", "owner": "channel", "employees": 5000}}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = self.post(
            &self.tokens.alpha,
            "/v1/opportunities",
            &opportunity("O-ALPHA-1", "A-ALPHA"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = self.post(
            &self.tokens.beta,
            "/v1/opportunities",
            &opportunity("O-BETA-1", "A-BETA"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Any request: method, path, token, headers, body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        self.try_call(method, path, token, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`TestServer::call`], with transport errors returned (a server may close the
    /// connection on a body larger than its limit before reading it all).
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Answer, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let res = match body {
            Some(text) => {
                let has_type = headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
                if !has_type {
                    b = b.header("content-type", "application/json");
                }
                self.agent.run(b.body(text.to_string()).unwrap())
            }
            None => self.agent.run(b.body(()).unwrap()),
        };
        let mut res = res?;
        let status = res.status().as_u16();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        Ok(Answer { status, body })
    }

    pub fn get(&self, token: &str, path: &str) -> Answer {
        self.call("GET", path, Some(token), &[], None)
    }

    pub fn post(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(token), &[], Some(&body.to_string()))
    }

    pub fn put(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.call("PUT", path, Some(token), &[], Some(&body.to_string()))
    }

    /// Every table's rows, read through a second connection.
    pub fn dump(&self) -> Vec<String> {
        SqliteStore::open_existing(&self.db)
            .unwrap()
            .dump()
            .unwrap()
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
