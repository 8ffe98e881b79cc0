//! The service's behaviour over a real server and store: commands and their
//! decisions in the caller's audience, idempotency, hot reload of policies, the
//! stateless decide, shadow mode, the test clock, errors as JSON, metrics and a
//! clean shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a broken environment"
)]

mod common;

use std::sync::Arc;

use common::{opportunity, TestServer, POLICY};
use dealflow_service::Limits;
use serde_json::{json, Value};

#[test]
fn a_partner_registers_and_gets_its_own_redacted_decision_back() {
    let s = TestServer::start();
    let r = s.call(
        "POST",
        "/v1/opportunities/O-ALPHA-1/register",
        Some(&s.tokens.alpha),
        &[("idempotency-key", "reg-1")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let d = &v["decisions"][0];
    assert_eq!(d["kind"], "register");
    assert_eq!(d["decision"]["audience"], "partner:P-ALPHA");
    assert_eq!(d["command"]["by"]["partner"], "P-ALPHA");
    assert_eq!(v["repeated"], false);
    // The vendor sees the same decision in its own audience.
    let seq = d["seq"].as_u64().unwrap();
    let vd = s
        .get(&s.tokens.viewer, &format!("/v1/decisions/{seq}"))
        .json();
    assert_eq!(vd["decision"]["audience"], "vendor");
    // And the opportunity shows the registration.
    let o = s.get(&s.tokens.alpha, "/v1/opportunities/O-ALPHA-1").json();
    assert_eq!(o["registrations"][0]["partner"], "P-ALPHA");
}

#[test]
fn idempotency_keys_repeat_answers_refuse_other_payloads_and_never_apply_twice() {
    let s = TestServer::start();
    let body = json!({"kind": "call", "note": "first call"});
    let hdr = [("idempotency-key", "act-1")];
    let path = "/v1/opportunities/O-ALPHA-1/activities";
    let first = s.call(
        "POST",
        path,
        Some(&s.tokens.alpha),
        &hdr,
        Some(&body.to_string()),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let again = s.call(
        "POST",
        path,
        Some(&s.tokens.alpha),
        &hdr,
        Some(&body.to_string()),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let (a, b) = (first.json(), again.json());
    assert_eq!(a["decisions"], b["decisions"]);
    assert_eq!(b["repeated"], true);
    let other = json!({"kind": "email"});
    let r = s.call(
        "POST",
        path,
        Some(&s.tokens.alpha),
        &hdr,
        Some(&other.to_string()),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"], "idempotency_key_reused");
    // Keys are per caller: the other partner's `act-1` is its own key (and the
    // opportunity is not its own).
    let r = s.call(
        "POST",
        path,
        Some(&s.tokens.beta),
        &hdr,
        Some(&body.to_string()),
    );
    assert_eq!(r.status, 404, "{}", r.body);

    // The same key sent many times at once: each answer is the command's decision,
    // a repeat of it, or 409 while it is in flight; it is applied once.
    let s = Arc::new(s);
    let body = json!({"kind": "meeting"}).to_string();
    let statuses: Vec<(u16, bool)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..16)
            .map(|_| {
                let s = s.clone();
                let body = body.clone();
                sc.spawn(move || {
                    let r = s.call(
                        "POST",
                        path,
                        Some(&s.tokens.alpha),
                        &[("idempotency-key", "burst")],
                        Some(&body),
                    );
                    let repeated = r.status == 200 && r.json()["repeated"] == true;
                    (r.status, repeated)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|(st, _)| *st == 200 || *st == 409),
        "{statuses:?}"
    );
    let fresh = statuses
        .iter()
        .filter(|(st, rep)| *st == 200 && !rep)
        .count();
    assert_eq!(fresh, 1, "applied exactly once: {statuses:?}");
    let o = s.get(&s.tokens.ops, "/v1/opportunities/O-ALPHA-1").json();
    let meetings = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["activity"] == "meeting" || e.to_string().contains("\"meeting\""))
        .count();
    assert_eq!(meetings, 1, "{}", o["events"]);
}

fn policy_hash(s: &TestServer) -> Vec<String> {
    s.get(&s.tokens.viewer, "/v1/policies").json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["hash"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_broken_policy_is_refused_with_diagnostics_and_a_valid_one_takes_effect_at_its_instant() {
    let s = TestServer::start();
    let before = policy_hash(&s);
    let broken = POLICY.replace(
        "stage Qualification {",
        "stage Qualification {\n  probability 200%",
    );
    let r = s.put(
        &s.tokens.admin,
        "/v1/policies",
        &json!({"source": broken, "effective_from": "2026-09-01T00:00:00Z"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"], "policy_has_errors");
    let d = &v["diagnostics"][0];
    assert!(d["code"].as_str().unwrap().starts_with('E'), "{d}");
    assert!(d["line"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(policy_hash(&s), before, "the version in force stays");

    // A stricter version from October: Registered and Silver partners may no longer
    // register. Before its instant decisions use the old version.
    let stricter = POLICY.replace(
        "eligible when partner.tier >= Silver",
        "eligible when partner.tier >= Platinum",
    );
    let r = s.put(
        &s.tokens.admin,
        "/v1/policies",
        &json!({"source": stricter, "effective_from": "2026-10-01T00:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let hashes = policy_hash(&s);
    assert_eq!(hashes.len(), 2);
    let r = s.call(
        "POST",
        "/v1/opportunities/O-BETA-1/register",
        Some(&s.tokens.beta),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.json()["decisions"][0];
    assert_eq!(d["policy"], hashes[0].as_str());
    assert_ne!(d["outcome"], "denied", "{d}");
    // Time passes to October: the new version decides.
    let r = s.post(
        &s.tokens.admin,
        "/v1/admin/clock",
        &json!({"now": "2026-10-02T14:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.call(
        "POST",
        "/v1/opportunities/O-ALPHA-1/register",
        Some(&s.tokens.alpha),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.json()["decisions"][0];
    assert_eq!(d["policy"], hashes[1].as_str(), "{d}");
    assert_eq!(d["outcome"], "denied", "{d}");
}

#[test]
fn decide_is_stateless_and_equals_the_engine_called_directly() {
    let s = TestServer::start();
    let hash = policy_hash(&s)[0].clone();
    let record = json!({"id": "O-X", "stage": "Qualification",
                        "partner": {"id": "P-X", "tier": "Gold", "territories": ["NA"],
                                    "specializations": ["Security"], "win_rate": "35%"},
                        "fields": {"amount": 50000, "budget_process": true}});
    let before = s.dump();
    let r = s.post(
        &s.tokens.ops,
        "/v1/decide",
        &json!({"policy": hash, "record": record,
        "action": "advance SolutionDevelopment", "now": "2026-09-01T14:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let policy = dealflow_engine::Policy::compile(&dealflow_dsl::SourceFile::new(
        "channel-standard.policy",
        POLICY,
    ))
    .unwrap();
    let rec = policy.parse_record_json(&record.to_string()).unwrap();
    let want = policy.decide(
        &rec,
        &"advance SolutionDevelopment".parse().unwrap(),
        &dealflow_engine::Context::default(),
        common::start_instant(),
        &dealflow_engine::Audience::Vendor,
    );
    let got = r.json();
    let want: Value = serde_json::from_str(&want.to_json_pretty()).unwrap();
    assert_eq!(got["outcome"], want["outcome"]);
    assert_eq!(got["reasons"], want["reasons"]);
    assert_eq!(s.dump(), before, "nothing stored");
    // Bad input says where.
    let r = s.post(
        &s.tokens.ops,
        "/v1/decide",
        &json!({"policy": hash, "record": {"id": "O-X", "stage": "Nowhere"},
        "action": "evaluate", "now": "2026-09-01T14:00:00Z"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["field"].as_str().unwrap().starts_with("record"),
        "{}",
        r.body
    );
    let r = s.post(
        &s.tokens.ops,
        "/v1/decide",
        &json!({"policy": "feed", "record": record,
        "action": "evaluate", "now": "2026-09-01T14:00:00Z"}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s.post(
        &s.tokens.ops,
        "/v1/decide",
        &json!({"policy": hash, "record": record,
        "action": "advance Nowhere", "now": "2026-09-01T14:00:00Z"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "action");
}

#[test]
fn shadow_mode_counts_and_keeps_differences_without_applying_them() {
    let candidate = POLICY.replace(
        "eligible when partner.tier >= Silver",
        "eligible when partner.tier >= Platinum",
    );
    let s = TestServer::start_with(Some(&candidate), Limits::default());
    let r = s.call(
        "POST",
        "/v1/opportunities/O-ALPHA-1/register",
        Some(&s.tokens.alpha),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let applied = r.json()["decisions"][0]["outcome"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(applied, "denied");
    let v = s.get(&s.tokens.viewer, "/v1/shadow").json();
    assert_eq!(v["enabled"], true);
    assert!(v["compared"].as_u64().unwrap() >= 1, "{v}");
    let diffs = v["differences"].as_array().unwrap();
    let d = diffs
        .iter()
        .find(|d| d["command_type"] == "register")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(d["opportunity"], "O-ALPHA-1");
    assert_eq!(d["applied"][0], applied.as_str());
    assert_eq!(d["candidate"][0], "denied");
    // Never applied: the store holds the applied decision only.
    let o = s.get(&s.tokens.ops, "/v1/opportunities/O-ALPHA-1").json();
    assert_eq!(o["registrations"].as_array().unwrap().len(), 1);
    let m = s.call("GET", "/metrics", None, &[], None).body;
    assert!(m.contains("dealflow_shadow_differences_total 1"), "{m}");
}

#[test]
fn errors_are_json_with_the_right_status_and_say_where() {
    let s = TestServer::start_with(
        None,
        Limits {
            body_bytes: 64 * 1024,
            ..Limits::default()
        },
    );
    let t = s.tokens.alpha.clone();
    let check = |r: common::Answer, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        let v = r.json();
        assert_eq!(v["error"], code, "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
        v
    };
    check(
        s.call("GET", "/v1/nowhere", Some(&t), &[], None),
        404,
        "not_found",
    );
    check(
        s.call("DELETE", "/v1/opportunities", Some(&t), &[], None),
        405,
        "method_not_allowed",
    );
    check(
        s.call("GET", "/v1/opportunities", None, &[], None),
        401,
        "unauthorized",
    );
    check(
        s.call(
            "GET",
            "/v1/opportunities",
            Some("x"),
            &[("authorization", "Basic abc")],
            None,
        ),
        401,
        "unauthorized",
    );
    let v = check(
        s.call(
            "POST",
            "/v1/opportunities/O-ALPHA-1/advance",
            Some(&t),
            &[("content-type", "text/plain")],
            Some("{}"),
        ),
        415,
        "unsupported_media_type",
    );
    assert_eq!(v["field"], "content-type");
    let v = check(
        s.call(
            "POST",
            "/v1/opportunities/O-ALPHA-1/advance",
            Some(&t),
            &[],
            Some("{\"to\":"),
        ),
        400,
        "bad_request",
    );
    assert!(v["message"].as_str().unwrap().contains("line 1"), "{v}");
    let v = check(
        s.call(
            "POST",
            "/v1/opportunities/O-ALPHA-1/advance",
            Some(&t),
            &[],
            Some("{\"too\": \"x\"}"),
        ),
        400,
        "bad_request",
    );
    assert!(v["message"].as_str().unwrap().contains("too"), "{v}");
    let big = format!("{{\"to\": \"{}\"}}", "x".repeat(100_000));
    check(
        s.call(
            "POST",
            "/v1/opportunities/O-ALPHA-1/advance",
            Some(&t),
            &[],
            Some(&big),
        ),
        413,
        "payload_too_large",
    );
    let v = check(
        s.call("GET", "/v1/opportunities?limit=lots", Some(&t), &[], None),
        400,
        "bad_request",
    );
    assert_eq!(v["field"], "query");
    check(
        s.call("GET", "/v1/decisions/minus-one", Some(&t), &[], None),
        400,
        "bad_request",
    );
    check(
        s.call(
            "GET",
            "/v1/opportunities?status=sideways",
            Some(&t),
            &[],
            None,
        ),
        400,
        "bad_request",
    );
    let v = check(
        s.call(
            "POST",
            "/v1/opportunities/O-ALPHA-1/register",
            Some(&t),
            &[("idempotency-key", "bad key")],
            None,
        ),
        400,
        "bad_request",
    );
    assert_eq!(v["field"], "idempotency-key");
    // A refused command is a 422 that says why; a denied decision is a 200.
    let r = s.post(
        &t,
        "/v1/opportunities/O-ALPHA-1/advance",
        &json!({"to": "Nowhere"}),
    );
    check(r, 422, "refused");
    let r = s.post(
        &t,
        "/v1/opportunities/O-ALPHA-1/advance",
        &json!({"to": "ProposalEvaluation"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["decisions"][0]["outcome"], "denied");
    // The test clock only moves on a service started with one; a partner may not.
    check(
        s.post(
            &t,
            "/v1/admin/clock",
            &json!({"now": "2026-09-02T00:00:00Z"}),
        ),
        403,
        "forbidden",
    );
}

#[test]
fn lists_page_and_filter_in_the_callers_audience() {
    let s = TestServer::start();
    for i in 0..5 {
        let r = s.post(
            &s.tokens.alpha,
            "/v1/opportunities",
            &opportunity(&format!("O-ALPHA-P{i}"), "A-ALPHA"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let v = s
            .get(
                &s.tokens.alpha,
                &format!("/v1/opportunities?limit=2&after={after}"),
            )
            .json();
        for o in v["items"].as_array().unwrap() {
            assert_eq!(o["partner"], "P-ALPHA");
            seen.push(o["id"].as_str().unwrap().to_string());
        }
        match v["next"].as_str() {
            Some(n) => after = n.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    let v = s
        .get(&s.tokens.viewer, "/v1/opportunities?partner=P-BETA")
        .json();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    // A partner's `partner` filter cannot widen its view.
    let v = s
        .get(&s.tokens.alpha, "/v1/opportunities?partner=P-BETA")
        .json();
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["partner"] == "P-ALPHA"),
        "{v}"
    );
    let v = s
        .get(&s.tokens.viewer, "/v1/decisions?kind=opportunity&limit=3")
        .json();
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert!(v["next"].is_string());
    let v = s
        .get(
            &s.tokens.viewer,
            "/v1/opportunities?stage=Qualification&status=open",
        )
        .json();
    assert_eq!(v["items"].as_array().unwrap().len(), 7);
    let v = s
        .get(&s.tokens.viewer, "/v1/opportunities?status=closed")
        .json();
    assert!(v["items"].as_array().unwrap().is_empty());
}

#[test]
fn metrics_health_and_readiness() {
    let s = TestServer::start();
    assert_eq!(
        s.call("GET", "/healthz", None, &[], None).json()["status"],
        "ok"
    );
    assert_eq!(
        s.call("GET", "/readyz", None, &[], None).json()["status"],
        "ready"
    );
    for _ in 0..2 {
        let r = s.call(
            "POST",
            "/v1/opportunities/O-ALPHA-1/register",
            Some(&s.tokens.alpha),
            &[("idempotency-key", "m1")],
            None,
        );
        assert_eq!(r.status, 200);
    }
    let m = s.call("GET", "/metrics", None, &[], None).body;
    // The repeat was answered from the log, not decided (or counted) again.
    assert!(
        m.contains("dealflow_decisions_total{kind=\"register\",outcome=\"approved\"} 1\n"),
        "{m}"
    );
    for want in [
        "dealflow_http_requests_total{route=\"/v1/opportunities/{id}/register\",method=\"POST\",status=\"200\"} 2",
        "dealflow_http_request_duration_seconds_bucket",
        "dealflow_decisions_total{kind=\"register\"",
        "dealflow_review_queue_depth",
        "dealflow_sla_breaches_total",
        "dealflow_commits_total",
    ] {
        assert!(m.contains(want), "missing {want} in\n{m}");
    }
}

#[test]
fn shutdown_finishes_what_is_in_flight_and_every_acknowledged_command_is_stored() {
    let mut s = TestServer::start();
    let acked: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let s = &s;
                sc.spawn(move || {
                    let mut ok = Vec::new();
                    for i in 0..25 {
                        let key = format!("w{w}-{i}");
                        let r = s.call(
                            "POST",
                            "/v1/opportunities/O-ALPHA-1/activities",
                            Some(&s.tokens.alpha),
                            &[("idempotency-key", &key)],
                            Some("{\"kind\": \"call\"}"),
                        );
                        if r.status == 200 {
                            ok.push(format!("partner:P-ALPHA:{key}"));
                        }
                    }
                    ok
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(acked.len(), 100);
    s.stop();
    let store = dealflow_store::sqlite::SqliteStore::open_existing(&s.db).unwrap();
    use dealflow_store::Store;
    let keys: std::collections::HashSet<String> = store
        .commands()
        .unwrap()
        .into_iter()
        .filter_map(|c| serde_json::from_str::<Value>(&c.raw).ok())
        .filter_map(|v| v["key"].as_str().map(str::to_string))
        .collect();
    for k in &acked {
        assert!(keys.contains(k), "acknowledged {k} is not in the store");
    }
    assert_eq!(store.verify().unwrap().first_broken, None);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_request_that_is_too_slow_gets_a_json_408() {
    use std::io::{Read, Write};
    let s = TestServer::start_with(
        None,
        Limits {
            request_timeout: std::time::Duration::from_secs(1),
            ..Limits::default()
        },
    );
    let mut c = std::net::TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    // The headers promise a body that never comes.
    write!(
        c,
        "POST /v1/opportunities/O-ALPHA-1/advance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        s.tokens.alpha
    )
    .unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["error"], "timeout", "{v}");
}

#[test]
fn a_revoked_token_is_refused_within_the_cache_time() {
    use dealflow_store::Store;
    let s = TestServer::start();
    let store = dealflow_store::sqlite::SqliteStore::open_existing(&s.db).unwrap();
    let (id, secret) = store
        .create_token(
            &dealflow_store::Grant::Partner("P-ALPHA".into()),
            None,
            common::start_instant(),
        )
        .unwrap();
    assert_eq!(s.get(&secret, "/v1/opportunities").status, 200);
    // Revoked by another process (here: another connection), as `dealflow token revoke` does.
    assert!(store.revoke_token(&id, common::start_instant()).unwrap());
    std::thread::sleep(dealflow_service::state::TOKEN_TTL + std::time::Duration::from_millis(200));
    let r = s.get(&secret, "/v1/opportunities");
    assert_eq!(r.status, 401, "{}", r.body);
}
