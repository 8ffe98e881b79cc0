//! Property: any prefix of any reference policy (half-typed text) gets diagnostics,
//! the same ones the library computes, and the server keeps answering.

use std::cell::{Cell, RefCell};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use dealflow_dsl::{analyze, SourceFile};

use crate::{position, read, Server};

const POLICIES: [&str; 5] = [
    "policies/channel-standard.policy",
    "policies/healthcare-it.policy",
    "policies/mssp-security.policy",
    "policies/salesforce-default.policy",
    "dsl/benches/fixtures/channel-extended.policy",
];

#[test]
fn any_prefix_gets_diagnostics_and_never_crashes_the_server() {
    let texts: Vec<String> = POLICIES.iter().map(|p| read(p)).collect();
    let server = RefCell::new(Server::start());
    let uri = "file:///prefix.policy";
    server.borrow_mut().open(uri, 0, "");
    let version = Cell::new(0i64);
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(0..texts.len(), 0.0f64..=1.0), |(which, fraction)| {
        let text = &texts[which];
        let mut cut = ((text.len() as f64) * fraction) as usize;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let prefix = &text[..cut];
        version.set(version.get() + 1);
        let mut server = server.borrow_mut();
        let published = server.change(uri, version.get(), prefix);
        let expected = analyze(&SourceFile::new(uri, prefix)).diagnostics;
        let codes: Vec<String> = published
            .iter()
            .map(|d| d["code"].as_str().unwrap_or("").to_string())
            .collect();
        let want: Vec<String> = expected
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect();
        prop_assert_eq!(&codes, &want, "cut {} of {}", cut, POLICIES[which]);
        // The server still answers queries at the cut.
        let pos = position(prefix, cut);
        let params = json!({ "textDocument": { "uri": uri }, "position": pos });
        let completion = server.call("textDocument/completion", params.clone());
        prop_assert!(completion.get("error").is_none(), "{}", completion);
        let hover = server.call("textDocument/hover", params);
        prop_assert!(hover.get("error").is_none(), "{}", hover);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(server.into_inner().shutdown(), 0);
}
