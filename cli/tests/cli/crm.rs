//! `dealflow import`, `export` and `report` through the binary: import -> export ->
//! import is the identity on every shipped mapping's fixtures (and on the Maven
//! dataset when `../shared` is beside the repository); bad rows stop an import
//! before anything is written; `--skip-invalid` writes the good rows and a rejects
//! file; the report renders from a real store in every format.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{run_in, scratch_dir, Run};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures(crm: &str, set: &str) -> PathBuf {
    root()
        .join("engine/analytics/tests/fixtures")
        .join(crm)
        .join(set)
}

fn csvs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

fn dealflow(dir: &Path, args: &[&str]) -> Run {
    run_in(dir, args, None)
}

fn import(dir: &Path, db: &Path, mapping: &str, files: &[String], extra: &[&str]) -> Run {
    let db = db.display().to_string();
    let mapping = root().join("mappings").join(mapping).display().to_string();
    let mut args = vec![
        "import",
        "--db",
        &db,
        "--mapping",
        &mapping,
        "--now",
        "2026-12-01T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    dealflow(dir, &args)
}

/// Everything an import writes about the records: partners, accounts and
/// opportunities with their history (not `updated_at`: the import's own instant).
fn records(db: &Path) -> Vec<String> {
    let c = Connection::open(db).expect("open store");
    let mut out = Vec::new();
    for sql in [
        "SELECT id || ' ' || doc FROM partners ORDER BY id",
        "SELECT id || ' ' || doc || ' ' || direct FROM accounts ORDER BY id",
        "SELECT id || ' ' || COALESCE(partner, '-') || ' ' || COALESCE(account, '-') || ' ' || stage || ' '
                || closed || ' ' || doc || ' ' || history || ' ' || created_at FROM opportunities ORDER BY id",
    ] {
        let mut st = c.prepare(sql).expect("prepare");
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        out.extend(rows);
    }
    out
}

fn files_of(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("read export dir")
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read exported file"),
            )
        })
        .collect();
    v.sort();
    v
}

/// Exports `db` through `mapping` into `dir/name`; returns that folder.
fn export(dir: &Path, db: &Path, mapping: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    let r = dealflow(
        dir,
        &[
            "export",
            "--db",
            &db.display().to_string(),
            "--mapping",
            &root().join("mappings").join(mapping).display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.snapshot());
    out
}

/// import(files) -> export -> import is the identity, and exporting again gives the
/// same files.
fn round_trip(name: &str, mapping: &str, files: &[String]) {
    let dir = scratch_dir(name);
    let (db1, db2) = (dir.join("one.db"), dir.join("two.db"));
    let r = import(&dir, &db1, mapping, files, &[]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let out1 = export(&dir, &db1, mapping, "export1");
    let exported = csvs(&out1);
    assert!(!exported.is_empty());
    let r = import(&dir, &db2, mapping, &exported, &[]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let (a, b) = (records(&db1), records(&db2));
    assert!(a.len() > 3, "the fixtures import records");
    assert_eq!(a, b, "import -> export -> import changed the records");
    let out2 = export(&dir, &db2, mapping, "export2");
    assert_eq!(files_of(&out1), files_of(&out2));
}

#[test]
fn salesforce_import_export_import_is_the_identity() {
    round_trip(
        "crm-sf-round-trip",
        "salesforce.yaml",
        &csvs(&fixtures("salesforce", "clean")),
    );
}

#[test]
fn hubspot_import_export_import_is_the_identity() {
    round_trip(
        "crm-hs-round-trip",
        "hubspot.yaml",
        &csvs(&fixtures("hubspot", "clean")),
    );
}

#[test]
fn maven_import_export_import_is_the_identity() {
    let Some(data) = dealflow_tests::shared_path("data/maven-crm") else {
        dealflow_tests::skip(
            "crm::maven_import_export_import_is_the_identity",
            "../shared/data/maven-crm is not beside the repository",
        );
        return;
    };
    round_trip("crm-maven-round-trip", "maven-crm.yaml", &csvs(&data));
}

#[test]
fn bad_rows_write_nothing_and_skip_invalid_writes_the_rest() {
    let dir = scratch_dir("crm-messy");
    let db = dir.join("crm.db");
    let files = csvs(&fixtures("salesforce", "messy"));
    let r = import(&dir, &db, "salesforce.yaml", &files, &[]);
    assert_eq!(r.code, 1, "{}", r.snapshot());
    assert!(
        r.stderr.contains("Opportunity.csv:") && r.stderr.contains("nothing was written"),
        "{}",
        r.snapshot()
    );
    assert!(
        !db.exists(),
        "a failed import into a new store leaves no store"
    );

    let rejects = dir.join("rejects.csv");
    let r = import(
        &dir,
        &db,
        "salesforce.yaml",
        &files,
        &[
            "--skip-invalid",
            "--rejects",
            &rejects.display().to_string(),
        ],
    );
    assert_eq!(r.code, 1, "rows were rejected: {}", r.snapshot());
    assert!(r.stdout.contains("imported"), "{}", r.snapshot());
    let mut rdr = csv::Reader::from_path(&rejects).expect("rejects file");
    let headers = rdr.headers().expect("header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["file", "line", "column", "value", "reason", "row"]
    );
    let lines: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("row")).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.get(1).is_some_and(|n| n.parse::<u64>().is_ok()), "{l:?}");
        assert!(l.get(4).is_some_and(|r| !r.is_empty()), "{l:?}");
    }
    // The good rows are in the store, and the log verifies.
    let c = Connection::open(&db).expect("open store");
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM opportunities", [], |r| r.get(0))
        .expect("count");
    assert!(n > 0);
    let r = dealflow(&dir, &["log", "verify", "--db", &db.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
}

#[test]
fn import_refuses_a_bad_mapping_and_a_missing_file() {
    let dir = scratch_dir("crm-refusals");
    let db = dir.join("crm.db");
    let mapping = dir.join("bad.yaml");
    std::fs::write(
        &mapping,
        "policy: ../../../../../policies/maven-crm.policy\nopportunities:\n  file: x.csv\n  id: id\n  stage: stage\n  created: created\n  fields:\n    no_such_field: x\n",
    )
    .expect("write mapping");
    let r = dealflow(
        &dir,
        &[
            "import",
            "--db",
            &db.display().to_string(),
            "--mapping",
            &mapping.display().to_string(),
            "--policy",
            &root()
                .join("policies/maven-crm.policy")
                .display()
                .to_string(),
            "x.csv",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(r.stderr.contains("no_such_field"), "{}", r.snapshot());
    let r = import(
        &dir,
        &db,
        "maven-crm.yaml",
        &["sales_pipeline.csv".into()],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.snapshot());
    assert!(
        r.stderr.contains("not among the files given"),
        "{}",
        r.snapshot()
    );
    assert!(!db.exists());
}

#[test]
fn report_renders_a_real_store_in_every_format() {
    let dir = scratch_dir("crm-report");
    let db = dir.join("crm.db");
    let r = import(
        &dir,
        &db,
        "salesforce.yaml",
        &csvs(&fixtures("salesforce", "clean")),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let db_s = db.display().to_string();
    let r = dealflow(
        &dir,
        &[
            "report",
            "--db",
            &db_s,
            "--as-of",
            "2026-11-30",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("report JSON");
    let totals = &v["totals"];
    let won = totals["won"].as_u64().expect("won");
    let lost = totals["lost"].as_u64().expect("lost");
    assert_eq!(
        totals["opportunities"].as_u64(),
        Some(won + lost + totals["open"].as_u64().expect("open"))
    );
    assert!(won > 0 && lost > 0);
    let r = dealflow(&dir, &["report", "--db", &db_s, "--as-of", "2026-11-30"]);
    assert_eq!(r.code, 0, "{}", r.snapshot());
    assert!(r.stdout.contains("Calibration"), "{}", r.stdout);
    let html = dir.join("report.html");
    let r = dealflow(
        &dir,
        &[
            "report",
            "--db",
            &db_s,
            "--as-of",
            "2026-11-30",
            "--format",
            "html",
            "--out",
            &html.display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let page = std::fs::read_to_string(&html).expect("html");
    for fig in [
        "figure-funnel",
        "figure-calibration",
        "figure-aging",
        "figure-forecast",
    ] {
        assert!(page.contains(fig), "{fig} missing");
    }
    assert!(!page.contains("http://") && !page.contains("https://"));
    // A partner's report covers its own deals only.
    let partner = v["segments"]["partner"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] != "(none)"))
        .and_then(|s| s["key"].as_str())
        .expect("a partner segment")
        .to_string();
    let r = dealflow(
        &dir,
        &[
            "report",
            "--db",
            &db_s,
            "--as-of",
            "2026-11-30",
            "--format",
            "json",
            "--as",
            &format!("partner:{partner}"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.snapshot());
    let pv: serde_json::Value = serde_json::from_str(&r.stdout).expect("partner report");
    let segs = pv["segments"]["partner"].as_array().expect("segments");
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0]["key"], partner.as_str());
    // Bad arguments are refused with exit 2.
    let r = dealflow(&dir, &["report", "--db", &db_s, "--as-of", "2026-13-01"]);
    assert_eq!(r.code, 2, "{}", r.snapshot());
    let r = dealflow(
        &dir,
        &[
            "report", "--db", &db_s, "--target", "10", "--period", "2026-Q5",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.snapshot());
}
