//! Latency bench of `dealflow lsp`, measured the way an editor sees it: over the
//! stdio pipes of a child process, from writing a message to reading the answer.
//!
//! - start: spawn `dealflow lsp` -> `initialize` answered (target <= 20 ms);
//! - didChange -> publishDiagnostics on `dsl/benches/fixtures/channel-extended.policy`
//!   (309 lines), alternating edits that keep it clean, add a check error and break
//!   the syntax (target p99 <= 5 ms);
//! - completion and hover at several positions (target p99 <= 2 ms).
//!
//! Run with `cargo bench -p dealflow-cli --bench lsp`; it prints p50, p99 and max
//! next to each target. `LSP_BENCH_ITERS` sets the sample count (default 2000).

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    reason = "a bench fails loudly on a broken environment"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use dealflow_dsl::ide::{self, Index};
use dealflow_dsl::{analyze, Code, SourceFile};
use serde_json::{json, Value};

/// A client that reads the server's answers on its own thread (no reader thread,
/// so a measurement has one hand-off between processes, not two).
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dealflow"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("dealflow lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Server {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        s.call("initialize", json!({ "capabilities": {} }));
        s.send(&json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
        s
    }

    fn send(&mut self, msg: &Value) {
        let body = serde_json::to_vec(msg).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(&body).unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "server closed stdout"
            );
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        self.stdout.read_exact(&mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let m = self.recv();
            if m["id"] == json!(id) {
                return m;
            }
        }
    }

    fn change(&mut self, uri: &str, version: i64, text: &str) -> Value {
        let method = if version == 0 {
            "textDocument/didOpen"
        } else {
            "textDocument/didChange"
        };
        let params = if version == 0 {
            json!({ "textDocument": { "uri": uri, "languageId": "dealflow", "version": 0, "text": text } })
        } else {
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] })
        };
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
        loop {
            let m = self.recv();
            if m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["version"] == json!(version)
            {
                return m["params"]["diagnostics"].clone();
            }
        }
    }

    fn shutdown(mut self) -> i32 {
        self.call("shutdown", Value::Null);
        self.send(&json!({ "jsonrpc": "2.0", "method": "exit" }));
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(rel),
    )
    .unwrap()
}

/// The LSP position (UTF-16; the fixture is ASCII) of `needle` plus `n` bytes.
fn position_of(text: &str, needle: &str, n: usize) -> Value {
    let at = text.find(needle).unwrap() + n;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    json!({ "line": line, "character": col })
}

fn offset_of(text: &str, needle: &str, n: usize) -> usize {
    text.find(needle).unwrap() + n
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>, target: Duration, target_at: &str) {
    samples.sort();
    let (p50, p99, max) = (
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        *samples.last().unwrap(),
    );
    let measured = if target_at == "p99" { p99 } else { max };
    let verdict = if measured <= target {
        "ok"
    } else {
        "OVER TARGET"
    };
    println!(
        "{name:<34} n={:<5} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms  target {target_at} <= {:.0} ms: {verdict}",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        target.as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` passes nothing
    // and should not spend time here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("lsp bench: run with `cargo bench -p dealflow-cli --bench lsp`");
        return;
    }
    let iters: usize = std::env::var("LSP_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);

    // LSP_BENCH_IN_PROCESS=1 skips the child process (e.g. under callgrind).
    let pipes = std::env::var_os("LSP_BENCH_IN_PROCESS").is_none();
    if pipes {
        // Start-up: spawn -> initialize answered.
        let mut starts = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let s = Server::start();
            starts.push(t.elapsed());
            assert_eq!(s.shutdown(), 0);
        }
        report(
            "start -> initialized",
            starts,
            Duration::from_millis(20),
            "p99",
        );
    }

    let text = read("dsl/benches/fixtures/channel-extended.policy");
    assert!(text.lines().count() >= 300);
    let clean_edit = text.replacen("probability 10%", "probability 11%", 1);
    let check_error = text.replacen("partner.tier >= Silver", "partner.teir >= Silver", 1);
    let syntax_error = text.replacen(
        "registration {",
        "registration {\n  eligible when partner.",
        1,
    );
    assert_ne!(clean_edit, text);
    assert_ne!(check_error, text);
    assert_ne!(syntax_error, text);

    let uri = "file:///bench/channel-extended.policy";
    let variants = [&clean_edit, &check_error, &text, &syntax_error];
    if pipes {
        let mut s = Server::start();
        assert_eq!(
            s.change(uri, 0, &text),
            json!([]),
            "the fixture lints clean"
        );
        let mut changes = Vec::new();
        for i in 0..iters {
            let version = i as i64 + 1;
            let t = Instant::now();
            s.change(uri, version, variants[i % variants.len()]);
            changes.push(t.elapsed());
        }
        report(
            "didChange -> publishDiagnostics",
            changes,
            Duration::from_millis(5),
            "p99",
        );
        s.change(uri, iters as i64 + 1, &text);

        let positions = [
            position_of(&text, "partner.tier >= Silver", "partner.".len()),
            position_of(&text, "when amount", "when ".len()),
            position_of(&text, "stage == ", "stage == ".len()),
            position_of(&text, "assign ", "assign ".len()),
        ];
        let mut completions = Vec::new();
        for i in 0..iters {
            let params = json!({ "textDocument": { "uri": uri }, "position": positions[i % positions.len()] });
            let t = Instant::now();
            let r = s.call("textDocument/completion", params);
            completions.push(t.elapsed());
            assert!(r["result"].as_array().is_some_and(|a| !a.is_empty()), "{r}");
        }
        report("completion", completions, Duration::from_millis(2), "p99");

        let hovers_at = [
            position_of(&text, "open from Qualification", "open from ".len() + 2),
            position_of(&text, "partner.tier", "partner.".len() + 1),
            position_of(&text, "days_in_stage", 2),
            position_of(&text, "assign ", "assign ".len() + 2),
        ];
        let mut hovers = Vec::new();
        for i in 0..iters {
            let params = json!({ "textDocument": { "uri": uri }, "position": hovers_at[i % hovers_at.len()] });
            let t = Instant::now();
            let r = s.call("textDocument/hover", params);
            hovers.push(t.elapsed());
            assert!(r["result"] != Value::Null, "{r}");
        }
        report("hover", hovers, Duration::from_millis(2), "p99");
        assert_eq!(s.shutdown(), 0);
    }

    // The same work in process, without pipes or a second process to schedule: what
    // the server computes per message (analysis + symbol index; completion; hover).
    println!("in process (the server's own work, no pipes):");
    let mut work = Vec::new();
    let sources: Vec<SourceFile> = variants
        .iter()
        .map(|t| SourceFile::new(uri, t.as_str()))
        .collect();
    for i in 0..iters {
        let src = &sources[i % sources.len()];
        let t = Instant::now();
        let a = analyze(src);
        let ix = a.ast.as_ref().map(Index::build);
        std::hint::black_box((a, ix));
        work.push(t.elapsed());
    }
    report(
        "  analyse + index a change (wall)",
        work,
        Duration::from_millis(5),
        "p99",
    );
    let a = analyze(&SourceFile::new(uri, text.as_str()));
    let ast = a.ast.unwrap();
    let ix = Index::build(&ast);
    let offsets = [
        offset_of(&text, "partner.tier >= Silver", "partner.".len()),
        offset_of(&text, "when amount", "when ".len()),
        offset_of(&text, "stage == ", "stage == ".len()),
        offset_of(&text, "assign ", "assign ".len()),
    ];
    let mut work = Vec::new();
    for i in 0..iters {
        let t = Instant::now();
        std::hint::black_box(ide::complete(&text, offsets[i % offsets.len()], Some(&ix)));
        work.push(t.elapsed());
    }
    report("  completion", work, Duration::from_millis(2), "p99");
    let docs = |c: Code| c.as_str().to_string();
    let offsets = [
        offset_of(&text, "open from Qualification", "open from ".len() + 2),
        offset_of(&text, "partner.tier", "partner.".len() + 1),
        offset_of(&text, "days_in_stage", 2),
        offset_of(&text, "assign ", "assign ".len() + 2),
    ];
    let mut work = Vec::new();
    for i in 0..iters {
        let t = Instant::now();
        std::hint::black_box(ide::hover(
            &text,
            Some(&ast),
            Some(&ix),
            offsets[i % offsets.len()],
            &docs,
        ));
        work.push(t.elapsed());
    }
    report("  hover", work, Duration::from_millis(2), "p99");
}
