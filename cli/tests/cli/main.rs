//! End-to-end tests of the `dealflow` binary: each runs the built binary and
//! snapshots its exit code, stdout and stderr together.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail loudly on a broken environment"
)]

mod completions;
mod crash;
mod crm;
mod demo;
mod editors;
mod eval;
mod explain;
mod fmt;
mod graph;
mod inputs;
mod lint;
mod maven;
mod pipes;
mod program;
mod serve;
mod test_cmd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code, stdout and stderr in one snapshot-friendly text.
    pub fn snapshot(&self) -> String {
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `cli/tests`: the working directory of every run, so paths in output are relative.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Runs `dealflow ARGS` in `cwd` with optional standard input.
pub fn run_in(cwd: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dealflow"));
    cmd.args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn dealflow");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for dealflow");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every verb of the binary.
pub const VERBS: [&str; 22] = [
    "lint",
    "fmt",
    "graph",
    "eval",
    "test",
    "demo",
    "explain",
    "completions",
    "lsp",
    "init",
    "submit",
    "tick",
    "show",
    "queue",
    "expiring",
    "log",
    "replay",
    "commission",
    "policy",
    "import",
    "export",
    "report",
];

/// Runs `dealflow ARGS` in `cli/tests`.
pub fn run(args: &[&str]) -> Run {
    run_in(&tests_dir(), args, None)
}

/// Whether `tool` can be run (`tool --version` exits). When it cannot, the calling
/// test should return early: this prints why it is skipped, or fails the test when
/// `DEALFLOW_REQUIRE_ALL_TESTS=1`.
pub fn tool_available(tool: &str, why: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        dealflow_tests::skip(tool, &format!("`{tool}` is not installed; {why}"));
    }
    found
}

/// A fresh scratch directory under the target dir, named after the test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("dealflow-cli-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

mod help {
    use super::run;

    #[test]
    fn every_verb_documents_its_exit_codes() {
        for verb in std::iter::once("--help").chain(super::VERBS) {
            let verb: &[&str] = if verb == "--help" {
                &["--help"]
            } else {
                &[verb, "--help"]
            };
            let r = run(verb);
            assert_eq!(r.code, 0, "{verb:?}: {}", r.stderr);
            assert!(
                r.stdout.contains("Exit codes:"),
                "{verb:?} help lacks exit codes:\n{}",
                r.stdout
            );
            assert!(
                r.stdout.contains("  2  "),
                "{verb:?} help lacks exit code 2:\n{}",
                r.stdout
            );
        }
    }

    #[test]
    fn unknown_verb_is_a_usage_error() {
        let r = run(&["frobnicate"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("frobnicate"));
    }
}
