//! `dealflow serve` as a process: under a concurrent write load from loopback
//! clients it is killed with SIGKILL at seeded moments; after each restart every
//! command it acknowledged is in the store, the file passes `integrity_check`, and
//! `dealflow log verify` passes. SIGTERM stops it cleanly.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealflow_store::sqlite::SqliteStore;
use dealflow_store::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::scratch_dir;

const BIN: &str = env!("CARGO_BIN_EXE_dealflow");
const KILLS: usize = 5;
const WRITERS: usize = 4;

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run dealflow");
    assert!(
        out.status.success(),
        "dealflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn start(db: &Path, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .args(["serve", "--db"])
        .arg(db)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--clock", "fixed:2026-09-01T14:00:00Z"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dealflow serve");
    let a = agent();
    let started = Instant::now();
    let ready = loop {
        if let Ok(r) = a.get(format!("http://127.0.0.1:{port}/readyz")).call() {
            if r.status() == 200 {
                break true;
            }
        }
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(ready, "the service did not start within 20 s");
    child
}

fn send(
    a: &ureq::Agent,
    url: &str,
    token: &str,
    method: &str,
    key: &str,
    body: &str,
) -> Option<u16> {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_string())
        .expect("request");
    a.run(req).ok().map(|r| r.status().as_u16())
}

fn stored_keys(db: &Path) -> std::collections::HashSet<String> {
    let store = SqliteStore::open_existing(db).expect("open");
    assert_eq!(store.integrity_check().expect("check"), "ok");
    store
        .commands()
        .expect("commands")
        .into_iter()
        .filter_map(|c| serde_json::from_str::<serde_json::Value>(&c.raw).ok())
        .filter_map(|v| v["key"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_acknowledged_command_survives_kill_9_under_load() {
    let dir = scratch_dir("serve-kill");
    let db = dir.join("program.db");
    let dbs = db.to_str().expect("utf-8 path");
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/channel-standard.policy"
    );
    run_ok(&["init", "--db", dbs, "--policy", policy]);
    let admin = run_ok(&["token", "create", "--db", dbs, "--vendor", "admin"]);
    let partner = run_ok(&["token", "create", "--db", dbs, "--partner", "P-1"]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, port);
    let a = agent();
    let seed = [
        ("PUT", "/v1/partners/P-1", admin.as_str(), r#"{"name": "One", "tier": "Gold", "territories": ["NA"], "specializations": ["Security"], "win_rate": "35%"}"#.to_string()),
        ("PUT", "/v1/accounts/A-1", admin.as_str(), r#"{"account": {"name": "A", "domain": "a.com", "industry": "Commercial", "owner": "channel", "employees": 10}}"#.to_string()),
    ];
    for (m, p, t, b) in &seed {
        assert_eq!(
            send(&a, &format!("{base}{p}"), t, m, &format!("seed{p}"), b),
            Some(200)
        );
    }
    for w in 0..WRITERS {
        let b = format!(
            r#"{{"id": "O-{w}", "account": "A-1", "stage": "Qualification", "fields": {{"amount": 1000}}}}"#
        );
        assert_eq!(
            send(
                &a,
                &format!("{base}/v1/opportunities"),
                &partner,
                "POST",
                &format!("create-{w}"),
                &b
            ),
            Some(200)
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut total_acked = 0;
    for round in 0..KILLS {
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (acked, stop, base, partner) =
                    (acked.clone(), stop.clone(), base.clone(), partner.clone());
                std::thread::spawn(move || {
                    let a = agent();
                    let url = format!("{base}/v1/opportunities/O-{w}/activities");
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("r{round}-w{w}-{i}");
                        i += 1;
                        if send(&a, &url, &partner, "POST", &key, r#"{"kind": "call"}"#)
                            == Some(200)
                        {
                            acked
                                .lock()
                                .expect("lock")
                                .push(format!("partner:P-1:{key}"));
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..900)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        let acked = acked.lock().expect("lock").clone();
        assert!(
            !acked.is_empty(),
            "round {round}: nothing was acknowledged before the kill"
        );
        total_acked += acked.len();
        let keys = stored_keys(&db);
        let lost: Vec<_> = acked.iter().filter(|k| !keys.contains(*k)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but not stored: {lost:?}"
        );
        run_ok(&["log", "verify", "--db", dbs]);
        child = start(&db, port);
    }
    eprintln!("kill -9: {KILLS} kills, {total_acked} acknowledged commands, none lost");
    // SIGTERM: a clean stop, exit 0.
    let pid = child.id().to_string();
    let st = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    run_ok(&["log", "verify", "--db", dbs]);
}
