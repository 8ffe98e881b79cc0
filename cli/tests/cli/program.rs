//! The store verbs end to end on a real store file: init, submit, tick, show (vendor
//! and partner), queue, commission, log verify (intact and tampered), replay (byte
//! identity and a candidate's what-if), policy publish.

use std::path::{Path, PathBuf};

use super::{run_in, scratch_dir, tests_dir, Run};

fn fixture(name: &str) -> PathBuf {
    tests_dir().join("fixtures/program").join(name)
}

fn policy() -> PathBuf {
    tests_dir().join("../../policies/channel-standard.policy")
}

fn dealflow(dir: &Path, args: &[&str]) -> Run {
    run_in(dir, args, None)
}

/// A store with the fixture stream applied; returns the directory and the submit run.
fn program(name: &str) -> (PathBuf, Run) {
    let dir = scratch_dir(name);
    let _ = std::fs::remove_file(dir.join("p.db"));
    let p = policy();
    let init = dealflow(
        &dir,
        &["init", "--db", "p.db", "--policy", p.to_str().unwrap_or("")],
    );
    assert_eq!(init.code, 0, "{}", init.snapshot());
    let stream = fixture("stream.jsonl");
    let sub = dealflow(
        &dir,
        &["submit", "--db", "p.db", stream.to_str().unwrap_or("")],
    );
    (dir, sub)
}

fn outcomes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let kinds: Vec<String> = v["decisions"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|x| {
                            format!(
                                "{}:{}",
                                x["kind"].as_str().unwrap_or(""),
                                x["outcome"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} {} {}",
                v["line"],
                v["key"].as_str().unwrap_or("-"),
                kinds.join(" ")
            )
        })
        .collect()
}

#[test]
fn submit_answers_every_line_after_commit_and_the_program_reads_back() {
    let (dir, sub) = program("program-submit");
    assert_eq!(sub.code, 0, "{}", sub.snapshot());
    insta::assert_snapshot!(outcomes(&sub.stdout).join("\n"));
    let show = dealflow(&dir, &["show", "--db", "p.db", "OPP-1"]);
    assert_eq!(show.code, 0, "{}", show.snapshot());
    insta::assert_snapshot!("show_vendor", show.stdout);
    // The other partner does not see OPP-1 at all, and its own view of OPP-2 never
    // names P-ACME.
    let other = dealflow(
        &dir,
        &["show", "--db", "p.db", "OPP-1", "--as", "partner:P-BETA"],
    );
    assert_eq!(other.code, 1, "{}", other.snapshot());
    let own = dealflow(
        &dir,
        &[
            "show",
            "--db",
            "p.db",
            "OPP-2",
            "--as",
            "partner:P-BETA",
            "--format",
            "json",
        ],
    );
    assert_eq!(own.code, 0, "{}", own.snapshot());
    assert!(
        !own.stdout.contains("P-ACME") && !own.stdout.contains("Acme"),
        "{}",
        own.stdout
    );
    assert!(
        own.stdout.contains("\"review_sla_breached\""),
        "the partner sees its SLA breach"
    );
    let com = dealflow(
        &dir,
        &[
            "commission",
            "--db",
            "p.db",
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
        ],
    );
    assert_eq!(com.code, 0, "{}", com.snapshot());
    insta::assert_snapshot!("commission", com.stdout);
    let q = dealflow(
        &dir,
        &["queue", "--db", "p.db", "--now", "2026-11-06T16:00:00Z"],
    );
    assert_eq!(q.code, 0, "{}", q.snapshot());
    assert!(q.stdout.ends_with("0 pending review(s)\n"), "{}", q.stdout);
}

#[test]
fn resubmitting_the_stream_repeats_every_decision_and_changes_nothing() {
    let (dir, first) = program("program-repeat");
    let stream = fixture("stream.jsonl");
    let again = dealflow(
        &dir,
        &["submit", "--db", "p.db", stream.to_str().unwrap_or("")],
    );
    assert_eq!(again.code, 0, "{}", again.snapshot());
    for (a, b) in first.stdout.lines().zip(again.stdout.lines()) {
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(a).unwrap_or_default(),
            serde_json::from_str(b).unwrap_or_default(),
        );
        if a["outcome"] == "idle" {
            continue;
        }
        assert_eq!(b["repeated"], true, "{b}");
        assert_eq!(a["decisions"], b["decisions"]);
    }
}

#[test]
fn log_verify_holds_and_names_the_first_tampered_decision() {
    let (dir, _) = program("program-verify");
    let ok = dealflow(&dir, &["log", "verify", "--db", "p.db"]);
    assert_eq!(ok.code, 0, "{}", ok.snapshot());
    assert!(
        ok.stdout.starts_with("decision log intact: "),
        "{}",
        ok.stdout
    );
    {
        let conn = rusqlite::Connection::open(dir.join("p.db")).unwrap_or_else(|e| panic!("{e}"));
        conn.execute(
            "UPDATE decisions SET body = replace(body, '12000.00', '120000.00') WHERE seq = 13",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let bad = dealflow(&dir, &["log", "verify", "--db", "p.db"]);
    assert_eq!(bad.code, 1, "{}", bad.snapshot());
    assert!(
        bad.stdout.contains("BROKEN at sequence number 13"),
        "{}",
        bad.stdout
    );
}

#[test]
fn replay_reproduces_every_decision_and_shows_what_a_candidate_changes() {
    let (dir, _) = program("program-replay");
    let same = dealflow(&dir, &["replay", "--db", "p.db"]);
    assert_eq!(same.code, 0, "{}", same.snapshot());
    assert!(
        same.stdout.contains("decisions identical byte for byte"),
        "{}",
        same.stdout
    );
    let cand = fixture("candidate.policy");
    let diff = dealflow(
        &dir,
        &[
            "replay",
            "--db",
            "p.db",
            "--policy",
            cand.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(diff.code, 0, "{}", diff.snapshot());
    // Silver partners are auto-approved by the candidate: OPP-2 no longer waits for
    // review, so its escalations and SLA breach disappear.
    insta::assert_snapshot!("replay_candidate", diff.stdout);
    assert!(
        diff.stdout.contains("register: review -> approved"),
        "{}",
        diff.stdout
    );
}

#[test]
fn publish_refuses_a_policy_with_errors_and_store_verbs_refuse_a_missing_store() {
    let (dir, _) = program("program-publish");
    let bad = dir.join("bad.policy");
    std::fs::write(
        &bad,
        "policy \"x\" version \"1\" { currency USD }\nstage A { probability 200% }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = dealflow(
        &dir,
        &[
            "policy",
            "publish",
            "--db",
            "p.db",
            "bad.policy",
            "--effective",
            "2027-01-01T00:00:00Z",
            "--now",
            "2026-12-01T00:00:00Z",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(r.stderr.contains("lint errors"), "{}", r.stderr);
    let p = policy();
    let ok = dealflow(
        &dir,
        &[
            "policy",
            "publish",
            "--db",
            "p.db",
            p.to_str().unwrap_or(""),
            "--effective",
            "2027-01-01T00:00:00Z",
            "--now",
            "2026-12-01T00:00:00Z",
        ],
    );
    assert_eq!(ok.code, 0, "{}", ok.snapshot());
    let missing = dealflow(&dir, &["show", "--db", "nothing-here.db", "OPP-1"]);
    assert_eq!(missing.code, 2, "{}", missing.snapshot());
    assert!(missing.stderr.contains("no store at"), "{}", missing.stderr);
    assert!(
        !dir.join("nothing-here.db").exists(),
        "a read never creates a store"
    );
}
