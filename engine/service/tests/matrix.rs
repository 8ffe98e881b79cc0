//! The cross-partner access matrix, generated from `/openapi.json` (so a new route
//! cannot escape it): every operation x {owning partner, other partner, each vendor
//! role, no token, bad token, revoked token}. The expected status comes from the
//! operation's documented `security` scopes: 401 without a valid token, 403 for a
//! scope not listed, 404 for the other partner on the owner's record, never a 5xx,
//! and no response to the other partner mentions the owner's records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a broken environment"
)]

mod common;

use common::TestServer;
use serde_json::{json, Value};

/// A body each route accepts, so an allowed caller gets past the body check.
fn body_for(method: &str, path: &str, hash: &str) -> Option<Value> {
    let b = match (method, path) {
        ("PUT", "/v1/partners/{id}") => json!({"name": "Alpha Networks", "tier": "Gold",
            "territories": ["NA"], "specializations": ["Security"], "win_rate": "35%"}),
        ("PUT", "/v1/accounts/{id}") => {
            json!({"account": {"name": "A Inc.", "domain": "alpha-customer.com",
            "industry": "Commercial", "owner": "channel", "employees": 5000}})
        }
        ("POST", "/v1/opportunities") => json!({"id": "O-NEW", "account": "A-BETA"}),
        ("PATCH", "/v1/opportunities/{id}") => json!({"fields": {"need": "more firewalls"}}),
        ("POST", "/v1/opportunities/{id}/advance") => json!({"to": "Proposal"}),
        ("POST", "/v1/opportunities/{id}/close") => json!({"outcome": "lost"}),
        ("POST", "/v1/opportunities/{id}/activities") => json!({"kind": "call"}),
        ("POST", "/v1/opportunities/{id}/cosell") => json!({"pool": "presales", "person": "Sam"}),
        ("POST", "/v1/opportunities/{id}/review") => json!({"verdict": "approve"}),
        ("POST", "/v1/leads") => {
            json!({"id": "L-NEW", "region": "NA", "product_family": "Core", "score": 1.0})
        }
        ("POST", "/v1/leads/{id}/accept") | ("POST", "/v1/leads/{id}/decline") => json!({}),
        ("PUT", "/v1/policies") => {
            json!({"source": common::POLICY, "effective_from": "2026-09-01T00:00:00Z"})
        }
        ("POST", "/v1/policies/replay") => json!({"source": common::POLICY}),
        ("POST", "/v1/decide") => {
            json!({"policy": hash, "action": "evaluate", "now": "2026-09-01T14:00:00Z",
            "record": {"id": "O-X", "stage": "Qualification", "fields": {"amount": 1000}}})
        }
        ("POST", "/v1/admin/clock") => json!({"now": "2026-09-01T14:00:00Z"}),
        (_, _) if method == "POST" || method == "PUT" || method == "PATCH" => json!({}),
        _ => return None,
    };
    Some(b)
}

/// The owner's record for each path parameter.
fn fill(path: &str, seq: u64) -> String {
    let id = if path.starts_with("/v1/partners/") {
        "P-ALPHA"
    } else if path.starts_with("/v1/accounts/") {
        "A-ALPHA"
    } else if path.starts_with("/v1/leads/") {
        "L-ALPHA"
    } else {
        "O-ALPHA-1"
    };
    path.replace("{id}", id).replace("{seq}", &seq.to_string())
}

#[test]
fn every_route_answers_each_caller_as_documented_and_leaks_nothing() {
    let s = TestServer::start();
    // A lead offered to P-ALPHA (the only partner that fits: Gold, NA, Security).
    let r = s.post(
        &s.tokens.ops,
        "/v1/leads",
        &json!({"id": "L-ALPHA", "region": "NA", "product_family": "Security",
                "budget_confirmed": true, "score": 3.5}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A decision about P-ALPHA (its opportunity's creation).
    let list = s.get(&s.tokens.alpha, "/v1/decisions?limit=1000").json();
    let seq = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["opportunity"] == "O-ALPHA-1")
        .and_then(|d| d["seq"].as_u64())
        .expect("a decision about O-ALPHA-1");

    let hash = s.get(&s.tokens.viewer, "/v1/policies").json()["items"][0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = s.call("GET", "/openapi.json", None, &[], None).json();
    let t = &s.tokens;
    // The other partner goes first, while the owner's records are as seeded.
    let callers: Vec<(&str, Option<&str>)> = vec![
        ("other_partner", Some(t.beta.as_str())),
        ("owner", Some(t.alpha.as_str())),
        ("channel_ops", Some(t.ops.as_str())),
        ("admin", Some(t.admin.as_str())),
        ("viewer", Some(t.viewer.as_str())),
        ("no_token", None),
        ("bad_token", Some("dfk_not_a_token")),
        ("revoked", Some(t.revoked.as_str())),
    ];
    let mut cells = 0;
    let mut operations = 0;
    let mut failures = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            operations += 1;
            let scopes: Option<Vec<String>> = op.get("security").map(|sec| {
                sec.as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|req| req["bearer"].as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
            let has_id = path.contains('{');
            for (who, token) in &callers {
                cells += 1;
                let url = fill(path, seq);
                let body = body_for(&method, path, &hash).map(|b| b.to_string());
                let r = s.call(&method, &url, *token, &[], body.as_deref());
                let scope = match *who {
                    "owner" | "other_partner" => "partner",
                    w => w,
                };
                let expect = |ok: bool, what: &str| {
                    if !ok {
                        Some(format!(
                            "{method} {path} as {who}: {what}, got {} {}",
                            r.status, r.body
                        ))
                    } else {
                        None
                    }
                };
                let mut bad = vec![expect(r.status < 500, "no 5xx")];
                match &scopes {
                    None => bad.push(expect(r.status != 401 && r.status != 403, "open route")),
                    Some(sc) => match *who {
                        "no_token" | "bad_token" | "revoked" => {
                            bad.push(expect(r.status == 401, "401"));
                        }
                        _ if !sc.iter().any(|x| x == scope) => {
                            bad.push(expect(r.status == 403, "403 (scope not listed)"));
                        }
                        "other_partner" => {
                            if has_id {
                                bad.push(expect(r.status == 404, "404 on the owner's record"));
                            } else {
                                bad.push(expect(r.status != 401 && r.status != 403, "allowed"));
                            }
                            // What the caller named itself may be echoed back.
                            let asked = format!("{url} {}", body.as_deref().unwrap_or(""));
                            for secret in ["O-ALPHA-1", "P-ALPHA", "A-ALPHA", "L-ALPHA"]
                                .into_iter()
                                .filter(|x| !asked.contains(x))
                            {
                                bad.push(expect(
                                    !r.body.contains(secret),
                                    &format!("no mention of {secret}"),
                                ));
                            }
                        }
                        _ => {
                            bad.push(expect(
                                ![401, 403, 404].contains(&r.status),
                                "allowed, and the record found",
                            ));
                        }
                    },
                }
                failures.extend(bad.into_iter().flatten());
            }
        }
    }
    eprintln!(
        "access matrix: {operations} operations x {} callers = {cells} cells, {} failures",
        callers.len(),
        failures.len()
    );
    assert!(
        operations >= 30,
        "only {operations} operations in /openapi.json"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
