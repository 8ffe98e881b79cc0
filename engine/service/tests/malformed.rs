//! Hostile requests: at least 10,000 malformed requests (raw bytes, broken request
//! lines and headers, bad UTF-8, bad paths and methods, broken, huge and deeply
//! nested JSON, wrong content types, bad query strings), seeded. None may get a 5xx
//! or crash the server, and the store must be exactly as before.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a broken environment"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: u64 = 20261202;
/// Requests over raw TCP (anything at all on the wire).
const RAW: usize = 2_500;
/// Well-framed HTTP requests with broken parts (through the client).
const FRAMED: usize = 8_000;

/// Sends `bytes` on a fresh connection; the status of the answer, if any came.
fn raw(addr: &str, bytes: &[u8]) -> Option<u16> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    c.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let _ = c.write_all(bytes);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A request through the client; on a transport error (the pooled connection was
/// closed by the server after an answer whose body it did not read) once more.
fn again(
    s: &TestServer,
    m: &str,
    p: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> common::Answer {
    match s.try_call(m, p, Some(token), headers, body) {
        Ok(r) => r,
        Err(_) => s.call(m, p, Some(token), headers, body),
    }
}

const ROUTES: &[(&str, &str)] = &[
    ("PUT", "/v1/partners/P-ALPHA"),
    ("PUT", "/v1/accounts/A-ALPHA"),
    ("POST", "/v1/opportunities"),
    ("PATCH", "/v1/opportunities/O-ALPHA-1"),
    ("POST", "/v1/opportunities/O-ALPHA-1/advance"),
    ("POST", "/v1/opportunities/O-ALPHA-1/close"),
    ("POST", "/v1/opportunities/O-ALPHA-1/activities"),
    ("POST", "/v1/opportunities/O-ALPHA-1/cosell"),
    ("POST", "/v1/opportunities/O-ALPHA-1/review"),
    ("POST", "/v1/leads"),
    ("POST", "/v1/leads/L-1/accept"),
    ("POST", "/v1/leads/L-1/decline"),
    ("PUT", "/v1/policies"),
    ("POST", "/v1/policies/replay"),
    ("POST", "/v1/decide"),
    ("POST", "/v1/admin/clock"),
];

/// A body that is not JSON the route can use: broken syntax, bad UTF-8, nesting
/// past the parser's limit, a wrong top-level type, a huge value.
fn bad_body(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.gen_range(0..9) {
        0 => (0..rng.gen_range(1..300)).map(|_| rng.gen()).collect(),
        1 => b"{\"to\": \"\xef\xbf\xbd\", \"kind\"".to_vec(),
        2 => {
            let d = rng.gen_range(130..5000);
            let mut s = "[".repeat(d);
            s.push_str(&"]".repeat(d));
            format!("{{\"fields\": {s}}}").into_bytes()
        }
        3 => {
            let d = rng.gen_range(130..3000);
            let mut s = "{\"a\":".repeat(d);
            s.push('1');
            s.push_str(&"}".repeat(d));
            s.into_bytes()
        }
        4 => ["[]", "1", "\"x\"", "null", "true", "[{}]", "-0"][rng.gen_range(0..7)]
            .as_bytes()
            .to_vec(),
        5 => {
            let s = "{\"to\": \"Proposal\", \"kind\": \"call\", \"verdict\": \"approve\", \"outcome\": \"won\"}";
            let cut = rng.gen_range(0..s.len());
            s.as_bytes()[..cut].to_vec()
        }
        6 => format!("{{\"to\": \"{}\"", "x".repeat(rng.gen_range(1..2_000_000))).into_bytes(),
        7 => b"{\"to\": 1e999999, \"kind\": \"\\ud800\"".to_vec(),
        _ => {
            let mut v = b"{\"to\": \"Prop".to_vec();
            let at = rng.gen_range(0..v.len());
            v[at] = rng.gen();
            v.push(b'}');
            v
        }
    }
}

fn bad_path(rng: &mut ChaCha8Rng) -> String {
    match rng.gen_range(0..8) {
        0 => format!("/v1/opportunities/{}", "%FF%FE".repeat(rng.gen_range(1..5))),
        1 => format!("/v1/{}", "a/".repeat(rng.gen_range(1..500))),
        2 => format!(
            "/v1/decisions/{}",
            ["-1", "99999999999999999999999", "1.5", "%00", "0x10"][rng.gen_range(0..5)]
        ),
        3 => format!(
            "/v1/opportunities?limit={}",
            ["-1", "abc", "99999999999999999999", "1e3", ""][rng.gen_range(0..5)]
        ),
        4 => format!(
            "/v1/opportunities?after=%FF&stage={}",
            "x".repeat(rng.gen_range(0..5000))
        ),
        5 => "/v1/opportunities?unknown=1&limit=2".to_string(),
        6 => format!(
            "/v1/registrations?status=%E2%82&limit={}",
            rng.gen_range(0..2000)
        ),
        // Any bytes, percent-encoded where a URI needs it.
        _ => format!(
            "/{}",
            (0..rng.gen_range(1..60))
                .map(|_| rng.gen::<u8>())
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' =>
                        (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        ),
    }
}

#[test]
fn ten_thousand_malformed_requests_get_no_5xx_and_leave_the_store_unchanged() {
    let s = TestServer::start();
    let addr = s.base.trim_start_matches("http://").to_string();
    let before = s.dump();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut sent = 0usize;
    let mut answered = 0usize;
    let mut closed = 0usize;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let tokens = [
        s.tokens.admin.clone(),
        s.tokens.alpha.clone(),
        s.tokens.ops.clone(),
    ];

    // 1. Anything at all on the wire.
    for i in 0..RAW {
        let bytes: Vec<u8> = match i % 8 {
            7 => {
                // A JSON body that is not UTF-8.
                let body: &[u8] = b"{\"to\": \"\xff\xfe\xc3\"}";
                let mut v = format!("POST /v1/opportunities/O-ALPHA-1/advance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", tokens[1], body.len()).into_bytes();
                v.extend(body);
                v
            }
            6 => {
                let mut v = format!("POST /v1/opportunities/O-ALPHA-1/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nIdempotency-Key: ", tokens[1]).into_bytes();
                v.extend([0x7f, 0xff, 0xd0, 0xba]);
                v.extend(b"\r\nContent-Length: 0\r\n\r\n");
                v
            }
            0 => (0..rng.gen_range(1..2000)).map(|_| rng.gen()).collect(),
            1 => format!("{} / HTTP/1.1\r\n\r\n", (0..rng.gen_range(1..20)).map(|_| rng.gen_range(b'A'..=b'Z') as char).collect::<String>()).into_bytes(),
            2 => {
                let mut v = b"GET /v1/opportunities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ".to_vec();
                v.extend((0..rng.gen_range(1..100)).map(|_| rng.gen::<u8>()));
                v.extend(b"\r\n\r\n");
                v
            }
            3 => format!("POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\n\r\n{{\"policy\"", rng.gen_range(50..100000), tokens[0]).into_bytes(),
            4 => format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}: v\r\n\r\n", "X".repeat(rng.gen_range(1..100_000))).into_bytes(),
            _ => format!("POST /v1/opportunities HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n", tokens[1]).into_bytes(),
        };
        sent += 1;
        if let Some(st) = raw(&addr, &bytes) {
            answered += 1;
            *statuses.entry(st).or_default() += 1;
            assert!(st < 500, "raw request {i} got {st}");
        }
    }

    // 2. Well-framed requests with something broken.
    for i in 0..FRAMED {
        let token = &tokens[rng.gen_range(0..tokens.len())];
        let mut read_only = false;
        let mut last = String::new();
        let r = match i % 5 {
            0 | 1 => {
                let (m, p) = ROUTES[rng.gen_range(0..ROUTES.len())];
                let body = bad_body(&mut rng);
                let body = String::from_utf8_lossy(&body).into_owned();
                last = body.chars().take(200).collect();
                let big = body.len() > 1024 * 1024;
                match s.try_call(m, p, Some(token), &[], Some(&body)) {
                    Ok(r) => r,
                    // Over the body limit the server may answer 413 and close before
                    // the client has written it all; it must still be serving.
                    Err(_) if big => {
                        sent += 1;
                        closed += 1;
                        assert_eq!(s.call("GET", "/healthz", None, &[], None).status, 200);
                        continue;
                    }
                    // A pooled connection the server closed after an earlier answer.
                    Err(_) => again(&s, m, p, token, &[], Some(&body)),
                }
            }
            2 => {
                let (m, p) = ROUTES[rng.gen_range(0..ROUTES.len())];
                let ct = [
                    "text/plain",
                    "application/xml",
                    "multipart/form-data",
                    "application/json-patch",
                    "",
                ][rng.gen_range(0..5)];
                again(
                    &s,
                    m,
                    p,
                    token,
                    &[("content-type", ct)],
                    Some("{\"to\": \"Proposal\"}"),
                )
            }
            3 => {
                let p = bad_path(&mut rng);
                let m = [
                    "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE",
                ][rng.gen_range(0..8)];
                read_only = m == "GET" || m == "HEAD";
                again(&s, m, &p, token, &[], None)
            }
            _ => {
                let (m, p) = ROUTES[rng.gen_range(0..ROUTES.len())];
                let long = "k".repeat(300);
                let key = ["a b", long.as_str(), "k\tk", "<k>\tx"][rng.gen_range(0..4)];
                again(&s, m, p, token, &[("idempotency-key", key)], Some("{}"))
            }
        };
        sent += 1;
        answered += 1;
        *statuses.entry(r.status).or_default() += 1;
        assert!(r.status < 500, "request {i} got {} {}", r.status, r.body);
        // A read with odd parameters may well be answered; a write never.
        assert!(
            read_only || r.status >= 400,
            "request {i} was accepted: {} {} (body sent: {last:?})",
            r.status,
            r.body
        );
    }
    eprintln!(
        "malformed requests: {sent} sent, {answered} answered, {closed} closed while uploading an oversized body; statuses {statuses:?}"
    );
    assert!(sent >= 10_000);
    // Still serving, and nothing was written.
    assert_eq!(s.call("GET", "/healthz", None, &[], None).status, 200);
    let after = s.dump();
    let first = before.iter().zip(&after).position(|(a, b)| a != b);
    assert!(
        before == after,
        "the store changed: {} rows before, {} after; first difference at row {first:?}: {:?}",
        before.len(),
        after.len(),
        after
            .get(first.unwrap_or(before.len()))
            .map(|r| r.chars().take(400).collect::<String>())
    );
}
