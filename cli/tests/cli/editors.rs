//! The VS Code extension's grammar tests (`editors/vscode/test.sh`: scope assertions
//! with vscode-tmgrammar-test and a tokenization of every reference policy), run from
//! `cargo test` so CI runs them. They need node and npm: without them the test is
//! skipped with a reason, or fails when `DEALFLOW_REQUIRE_ALL_TESTS=1`.

use std::path::Path;
use std::process::Command;

use super::tool_available;

#[test]
fn vscode_grammar_tests_pass() {
    let why = "the VS Code grammar tests (editors/vscode/test.sh) need node and npm";
    if !tool_available("node", why) || !tool_available("npm", why) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../editors/vscode/test.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("run editors/vscode/test.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "editors/vscode/test.sh failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // The script really ran both suites (and did not skip).
    assert!(!stdout.contains("SKIPPED"), "{stdout}");
    assert!(stdout.contains("reference policies tokenized"), "{stdout}");
}
