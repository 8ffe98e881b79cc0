//! A reader that closes the pipe (`dealflow ... | head -1`) ends the process quietly,
//! as for any Unix filter: no panic message, no backtrace.

use std::process::{Command, Stdio};

use super::tests_dir;

fn closed_early(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dealflow"))
        .args(args)
        .current_dir(tests_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dealflow");
    // Close the read end before the process has started writing: every write it
    // makes meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for dealflow");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    for args in [
        &["explain", "W303"][..],
        &["lint", "--format", "github", "../../tests/corpus/err"][..],
        &["completions", "bash"][..],
        &["demo"][..],
    ] {
        let stderr = closed_early(args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
