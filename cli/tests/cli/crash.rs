//! Crash safety: the demo's command stream is fed to a child `dealflow submit`
//! which is killed with SIGKILL at random points (seeded). After each kill the store
//! passes `PRAGMA integrity_check` and `log verify`, and every command whose answer
//! line was printed is in the store; the stream is then resumed from the first
//! unacknowledged line, and the final store equals that of an uninterrupted run.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dealflow_store::sqlite::SqliteStore;
use dealflow_store::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::scratch_dir;

const BIN: &str = env!("CARGO_BIN_EXE_dealflow");

/// How many kills (the issue asks for at least 20 in CI).
const KILLS: usize = 24;
/// The prefix of the demo stream used (a prefix of a stream is a stream).
const LINES: usize = 2500;

fn demo_stream(dir: &Path) -> Vec<String> {
    let file = dir.join("stream.jsonl");
    let out = Command::new(BIN)
        .args(["demo", "--seed", "11", "--emit-commands"])
        .arg(&file)
        .stdout(Stdio::null())
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("read stream");
    text.lines().take(LINES).map(str::to_string).collect()
}

fn init(db: &Path) {
    let out = Command::new(BIN)
        .args(["init", "--db"])
        .arg(db)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `dealflow submit` over `lines`; when `kill_after` is given, kills it with
/// SIGKILL once that many answers were read (plus a random few milliseconds, to land
/// in the middle of a commit). Returns the keys of the acknowledged commands.
fn submit(db: &Path, lines: &[String], kill_after: Option<(usize, u64)>) -> Vec<String> {
    let mut child = Command::new(BIN)
        .args(["submit", "--batch", "64", "--db"])
        .arg(db)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn submit");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: Vec<String> = lines.to_vec();
    let writer = std::thread::spawn(move || {
        for l in input {
            if writeln!(stdin, "{l}").is_err() {
                return;
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut acked = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        let v: serde_json::Value = serde_json::from_str(&line).expect("answer is JSON");
        let key = v["key"].as_str().unwrap_or_default().to_string();
        assert!(!v["decisions"].as_array().is_some_and(|d| d.is_empty()) || v["outcome"] == "idle");
        acked.push(key);
        if let Some((n, extra_ms)) = kill_after {
            if acked.len() >= n {
                std::thread::sleep(Duration::from_millis(extra_ms));
                let _ = child.kill();
                break;
            }
        }
    }
    let _ = child.wait();
    // What was printed before the kill is still in the pipe: it was acknowledged too.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        let v: serde_json::Value = serde_json::from_str(&line).expect("answer is JSON");
        acked.push(v["key"].as_str().unwrap_or_default().to_string());
    }
    let _ = reader.join();
    let _ = writer.join();
    acked
}

fn keys_in_store(db: &Path) -> std::collections::BTreeSet<String> {
    let store = SqliteStore::open(db).expect("open after kill");
    store
        .commands()
        .expect("commands")
        .into_iter()
        .filter_map(|c| {
            serde_json::from_str::<serde_json::Value>(&c.raw)
                .ok()
                .and_then(|v| v["key"].as_str().map(str::to_string))
                .or_else(|| Some(format!("tick@{}", c.at)))
        })
        .collect()
}

#[test]
fn kill_dash_nine_at_random_points_loses_nothing_acknowledged() {
    let dir = scratch_dir("crash");
    let lines = demo_stream(&dir);
    assert!(
        lines.len() >= 500,
        "the demo stream has {} lines",
        lines.len()
    );

    // The uninterrupted run.
    let reference = dir.join("reference.db");
    let _ = std::fs::remove_file(&reference);
    init(&reference);
    submit(&reference, &lines, None);
    let want = SqliteStore::open(&reference)
        .expect("open")
        .dump()
        .expect("dump");
    // Replay of the demo stream reproduces every decision byte for byte.
    let replay = Command::new(BIN)
        .args(["replay", "--db"])
        .arg(&reference)
        .output()
        .expect("replay");
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{text}");
    assert!(text.contains("decisions identical byte for byte"), "{text}");

    let db = dir.join("crashed.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    init(&db);
    let mut rng = ChaCha8Rng::seed_from_u64(20261201);
    let mut next = 0usize;
    let mut kills = 0;
    let mut acknowledged = 0;
    while kills < KILLS && next < lines.len() {
        let left = lines.len() - next;
        let n = rng.gen_range(1..=left.min(80));
        let extra = rng.gen_range(0..15);
        let acked = submit(&db, &lines[next..], Some((n, extra)));
        kills += 1;
        acknowledged += acked.len();
        // Every acknowledged command is in the store, and the file is sound.
        let store = SqliteStore::open(&db).expect("reopen after kill -9");
        assert_eq!(store.integrity_check().expect("integrity"), "ok");
        let v = store.verify().expect("verify");
        assert_eq!(v.first_broken, None, "{v:?}");
        drop(store);
        let have = keys_in_store(&db);
        for k in acked.iter().filter(|k| !k.is_empty()) {
            // An idle tick writes nothing; anything else acknowledged is stored.
            let idle_tick = k.starts_with("tick@") && !have.contains(k);
            assert!(
                have.contains(k) || idle_tick,
                "acknowledged `{k}` lost after kill {kills}"
            );
        }
        // Resume from the first line not acknowledged.
        next += acked.len();
    }
    assert!(kills >= 20, "only {kills} kills happened");
    // Finish the stream and compare with the uninterrupted run.
    submit(&db, &lines[next.min(lines.len())..], None);
    let got = SqliteStore::open(&db).expect("open").dump().expect("dump");
    assert_eq!(got.len(), want.len(), "row counts differ");
    for (a, b) in got.iter().zip(&want) {
        assert_eq!(a, b);
    }
    eprintln!(
        "{kills} kills, {acknowledged} acknowledged answers before kills, {} lines",
        lines.len()
    );
}
