//! One realistic editing session, then the protocol details one by one.

use serde_json::{json, Value};

use crate::{apply_edits, offset, position, position_of, read, Server};

const URI: &str = "file:///work/channel-standard.policy";

fn at(uri: &str, pos: Value) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": pos })
}

#[test]
fn a_whole_editing_session() {
    let (mut s, init) = Server::start_with(false);
    let caps = &init["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    for cap in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "completionProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
        "renameProvider",
        "codeActionProvider",
    ] {
        assert!(!caps[cap].is_null(), "{cap} missing from {caps}");
    }
    assert_eq!(init["serverInfo"]["name"], "dealflow");

    // A clean reference policy: an empty diagnostics list.
    let text = read("policies/channel-standard.policy");
    assert_eq!(s.open(URI, 1, &text), Vec::<Value>::new());

    // Introduce a typo: the diagnostic is at the typo, with code, docs link and help.
    let bad = text.replacen(
        "eligible when partner.tier >= Silver",
        "eligible when partner.teir >= Silver",
        1,
    );
    let diags = s.change(URI, 2, &bad);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    let start = bad.find("partner.teir").unwrap();
    assert_eq!(d["range"]["start"], position(&bad, start));
    assert_eq!(
        d["range"]["end"],
        position(&bad, start + "partner.teir".len())
    );
    assert_eq!(d["code"], "E101");
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "dealflow");
    assert!(d["codeDescription"]["href"]
        .as_str()
        .unwrap()
        .ends_with("docs/lints.md#e101-unknown-field"));
    assert_eq!(
        d["message"],
        "unknown field `partner.teir`\nhelp: did you mean `partner.tier`?"
    );

    // The quick fix replaces the typo; applying it makes the policy clean again.
    let actions = s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": URI }, "range": d["range"], "context": { "diagnostics": [d] } }),
    );
    let action = &actions[0];
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(action["title"], "Replace with `partner.tier`");
    let fixed = apply_edits(&bad, action["edit"]["changes"][URI].as_array().unwrap());
    assert_eq!(fixed, text);
    assert_eq!(s.change(URI, 3, &fixed), Vec::<Value>::new());

    // Hover on a stage reference: its probability, forecast, duration, requirements.
    let hover = s.request(
        "textDocument/hover",
        at(URI, position_of(&text, "open from Qualification", 12)),
    );
    let md = hover["contents"]["value"].as_str().unwrap();
    for part in [
        "stage `Qualification`",
        "probability: 20%",
        "forecast category: pipeline",
        "expected duration: 21d",
        "requires `budget_process, decision_maker, need, timeline`",
    ] {
        assert!(md.contains(part), "`{part}` not in hover:\n{md}");
    }
    let q = text.find("open from Qualification").unwrap() + "open from ".len();
    assert_eq!(hover["range"]["start"], position(&text, q));

    // Hover on a field, a pool, a built-in and a lint code in a comment.
    let hover = s.request(
        "textDocument/hover",
        at(URI, position_of(&text, "partner.win_rate desc", 9)),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("win_rate: percent"),
        "{hover}"
    );
    let hover = s.request(
        "textDocument/hover",
        at(URI, position_of(&text, "assign pricing_desk", 9)),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("capacity 20 per month"),
        "{hover}"
    );
    let hover = s.request(
        "textDocument/hover",
        at(URI, position_of(&text, "days_since_last_activity >", 3)),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("days_since_last_activity: duration?"),
        "{hover}"
    );
    let hover = s.request(
        "textDocument/hover",
        at(URI, position_of(&text, "(lint W307)", 7)),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("W307 short-protection"),
        "{hover}"
    );

    // Definition of a stage used in `open from`: its declaration.
    let def = s.request(
        "textDocument/definition",
        at(URI, position_of(&text, "open from Qualification", 12)),
    );
    let decl = text.find("stage Qualification").unwrap() + "stage ".len();
    assert_eq!(def["uri"], URI);
    assert_eq!(def["range"]["start"], position(&text, decl));
    assert_eq!(
        def["range"]["end"],
        position(&text, decl + "Qualification".len())
    );

    // References of a pool: declaration, assign, never.
    let refs = s.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": URI }, "position": position_of(&text, "pool executive_sponsor", 6), "context": { "includeDeclaration": true } }),
    );
    assert_eq!(refs.as_array().unwrap().len(), 3, "{refs}");

    // Completion after `account.` on a half-typed line lists the account fields.
    let typing = text.replacen(
        "  protect 120d\n",
        "  protect 120d\n  eligible when account.\n",
        1,
    );
    let diags = s.change(URI, 4, &typing);
    assert!(diags.iter().any(|d| d["code"] == "E001"), "{diags:?}");
    let cursor = typing.find("when account.\n").unwrap() + "when account.".len();
    let items = s.request(
        "textDocument/completion",
        at(URI, position(&typing, cursor)),
    );
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in ["domain", "owner", "industry", "employees", "direct_owned"] {
        assert!(labels.contains(&want), "{want} not in {labels:?}");
    }
    assert!(!labels.contains(&"tier"), "{labels:?}");

    // Formatting a badly laid-out document gives the canonical layout.
    let messy = text.replacen("  currency USD\n", "      currency    USD\n", 1);
    s.change(URI, 5, &messy);
    let edits = s.request("textDocument/formatting", json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } }));
    let formatted = apply_edits(&messy, edits.as_array().unwrap());
    assert_eq!(formatted, text);
    s.change(URI, 6, &text);
    let edits = s.request("textDocument/formatting", json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } }));
    assert_eq!(edits, json!([]), "a formatted document needs no edits");

    // Rename a stage: every reference changes and the result lints clean.
    let pos = position_of(&text, "stage SolutionDevelopment", 6);
    let prep = s.request("textDocument/prepareRename", at(URI, pos.clone()));
    assert_eq!(prep["start"], pos);
    let edit = s.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": URI }, "position": pos, "newName": "Solutioning" }),
    );
    let edits = edit["changes"][URI].as_array().unwrap();
    let renamed = apply_edits(&text, edits);
    assert_eq!(edits.len(), text.matches("SolutionDevelopment").count());
    assert!(!renamed.contains("SolutionDevelopment"));
    assert_eq!(s.change(URI, 7, &renamed), Vec::<Value>::new());

    // A rename that would clash is refused with a reason.
    let resp = s.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": URI }, "position": position_of(&renamed, "stage Solutioning", 6), "newName": "Qualification" }),
    );
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("would break the policy"),
        "{resp}"
    );

    // The outline.
    let symbols = s.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": URI } }),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Standard Channel Program",
            "opportunity",
            "partner",
            "account",
            "line_item",
            "lead",
            "Identification",
            "Qualification",
            "Solutioning",
            "ProposalEvaluation",
            "NegotiationClosing",
            "ClosedWon",
            "ClosedLost",
            "flow",
            "registration",
            "cosell",
            "commission",
            "hygiene",
            "leads"
        ]
    );

    // Closing clears the diagnostics.
    s.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": URI } }),
    );
    assert_eq!(s.diagnostics(URI, None), Vec::<Value>::new());

    assert_eq!(s.shutdown(), 0);
}

#[test]
fn utf8_and_utf16_columns() {
    let text =
        "policy \"P\" version \"1\" { currency USD }\n\nstage A \"😀 é\" { probability 140% }\n";
    let byte = text.find("140%").unwrap();
    let line_start = text.rfind("\nstage").unwrap() + 1;
    for (utf8, column) in [
        (
            false,
            text[line_start..byte]
                .chars()
                .map(char::len_utf16)
                .sum::<usize>(),
        ),
        (true, byte - line_start),
    ] {
        let (mut s, init) = Server::start_with(utf8);
        assert_eq!(
            init["capabilities"]["positionEncoding"],
            if utf8 { "utf-8" } else { "utf-16" }
        );
        let diags = s.open("file:///u.policy", 1, text);
        let d = diags
            .iter()
            .find(|d| d["code"] == "E130")
            .unwrap_or_else(|| panic!("{diags:?}"));
        assert_eq!(
            d["range"]["start"],
            json!({ "line": 2, "character": column }),
            "utf8={utf8}"
        );
        assert_eq!(s.shutdown(), 0);
    }
}

#[test]
fn quick_fixes_for_a_default_row_and_a_missing_brace() {
    let mut s = Server::start();
    let uri = "file:///w304.policy";
    let text = read("tests/corpus/err/W304-missing-default-row.policy");
    let diags = s.open(uri, 1, &text);
    let d = diags
        .iter()
        .find(|d| d["code"] == "W304")
        .expect("W304 reported")
        .clone();
    let actions = s.request("textDocument/codeAction", json!({ "textDocument": { "uri": uri }, "range": d["range"], "context": { "diagnostics": [d] } }));
    let action = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["title"]
                .as_str()
                .unwrap()
                .starts_with("Add the default row")
        })
        .expect("default-row fix");
    let fixed = apply_edits(&text, action["edit"]["changes"][uri].as_array().unwrap());
    assert!(!s.change(uri, 2, &fixed).iter().any(|d| d["code"] == "W304"));

    let text = "policy \"P\" version \"1\" {\n  currency USD\n\nrecord opportunity {\n  amount: money\n}\n";
    let diags = s.change(uri, 3, text);
    let d = diags
        .iter()
        .find(|d| d["code"] == "E001")
        .expect("E001")
        .clone();
    assert!(
        d["relatedInformation"][0]["message"]
            .as_str()
            .unwrap()
            .contains("never closed"),
        "{d}"
    );
    let actions = s.request("textDocument/codeAction", json!({ "textDocument": { "uri": uri }, "range": d["range"], "context": { "diagnostics": [d] } }));
    let fixed = apply_edits(text, actions[0]["edit"]["changes"][uri].as_array().unwrap());
    assert!(
        !s.change(uri, 4, &fixed).iter().any(|d| d["code"] == "E001"),
        "{fixed}"
    );
    assert_eq!(s.shutdown(), 0);
}

#[test]
fn lifecycle_and_bad_requests() {
    // `exit` without `shutdown` exits with 1.
    let mut s = Server::start();
    s.notify("exit", Value::Null);
    assert_eq!(s.wait(), 1);

    let mut s = Server::start();
    // Unknown method, unknown document, malformed params: errors, not crashes.
    let r = s.call(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": URI } }),
    );
    assert_eq!(r["error"]["code"], -32601);
    let r = s.call(
        "textDocument/hover",
        at("file:///nope.policy", json!({ "line": 0, "character": 0 })),
    );
    assert!(
        r["error"]["message"].as_str().unwrap().contains("not open"),
        "{r}"
    );
    let r = s.call("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(r["error"]["code"], -32602);
    // Positions past the end of the document clamp.
    s.open(URI, 1, "policy \"P\" version \"1\" { currency USD }\n");
    let r = s.call(
        "textDocument/hover",
        at(URI, json!({ "line": 99, "character": 99 })),
    );
    assert_eq!(r["result"], Value::Null, "{r}");
    let r = s.call(
        "textDocument/completion",
        at(URI, json!({ "line": 99, "character": 99 })),
    );
    assert!(r["result"].is_array(), "{r}");
    // After `shutdown`, requests are refused.
    let r = s.call("shutdown", Value::Null);
    assert_eq!(r["result"], Value::Null);
    let r = s.call(
        "textDocument/hover",
        at(URI, json!({ "line": 0, "character": 0 })),
    );
    assert_eq!(r["error"]["code"], -32600);
    s.notify("exit", Value::Null);
    assert_eq!(s.wait(), 0);
}

#[test]
fn offsets_round_trip() {
    let text = "a😀b\ncd";
    for i in [0, 1, 5, 6, 7, 9] {
        assert_eq!(offset(text, &position(text, i)), i);
    }
}

/// Regression: a text that does not parse keeps the last index for completion, but
/// hover, definition and references must not answer from it (its spans belong to the
/// old text).
#[test]
fn stale_names_are_never_used_for_navigation() {
    let mut s = Server::start();
    let text = read("policies/channel-standard.policy");
    s.open(URI, 1, &text);
    // Insert a broken line at the top: every later span moves by its length.
    let broken = format!("stage {{\n{text}");
    let diags = s.change(URI, 2, &broken);
    assert!(diags.iter().any(|d| d["code"] == "E001"), "{diags:?}");
    let old = text.find("open from Qualification").unwrap() + "open from ".len();
    // The old offset of `Qualification`, which is now other text.
    let pos = position(&broken, old);
    let hover = s.request("textDocument/hover", at(URI, pos.clone()));
    assert_eq!(hover, Value::Null);
    let def = s.request("textDocument/definition", at(URI, pos.clone()));
    assert_eq!(def, Value::Null);
    let refs = s.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": URI }, "position": pos, "context": { "includeDeclaration": true } }),
    );
    assert_eq!(refs, Value::Null);
    // Completion still knows the stages of the last text that parsed.
    let typing = broken.replacen("  open from Qualification", "  open from ", 1);
    s.change(URI, 3, &typing);
    let cursor = typing.find("  open from \n").unwrap() + "  open from ".len();
    let items = s.request(
        "textDocument/completion",
        at(URI, position(&typing, cursor)),
    );
    assert!(
        items
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["label"] == "Qualification"),
        "{items}"
    );
    assert_eq!(s.shutdown(), 0);
}

/// A burst of changes sent without waiting: the server catches up, publishes the
/// last version's diagnostics and answers the request that follows.
#[test]
fn a_burst_of_changes_does_not_build_a_backlog() {
    let mut s = Server::start();
    let text = read("policies/channel-standard.policy");
    s.open(URI, 0, &text);
    let last = 200;
    for v in 1..=last {
        // Every other version has an error, the last one is clean.
        let t = if v % 2 == 1 {
            text.replacen("protect 120d", "protect 120x", 1)
        } else {
            text.clone()
        };
        s.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": v }, "contentChanges": [{ "text": t }] }),
        );
    }
    let hover = s.request(
        "textDocument/hover",
        at(URI, position_of(&text, "open from Qualification", 12)),
    );
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("stage `Qualification`"));
    assert_eq!(s.diagnostics(URI, Some(last)), Vec::<Value>::new());
    let published = s
        .pending
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .count();
    assert!(
        published < last as usize,
        "every one of {last} changes was analysed"
    );
    assert_eq!(s.shutdown(), 0);
}

/// Input that is not LSP ends the server with exit code 2 and a message on stderr,
/// never a hang.
#[test]
fn not_an_lsp_client_exits_2() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    for input in ["garbage\n", "Content-Length: 5\r\n\r\n{\"a\":", ""] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dealflow"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("exits");
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("dealflow lsp:"),
            "{input:?}"
        );
        assert!(out.stdout.is_empty(), "{input:?}");
    }
}
