//! CRM imports end to end: the shipped Salesforce and HubSpot mappings
//! (`mappings/salesforce.yaml`, `mappings/hubspot.yaml`) read small exports of each
//! CRM (`tests/fixtures/<crm>/clean`, and `messy` with the dirt real exports have)
//! into a real SQLite store, as `dealflow import` does.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use dealflow_analytics::convert::DateFormat;
use dealflow_analytics::import::{self, Prepared};
use dealflow_analytics::mapping::Mapping;
use dealflow_dsl::SourceFile;
use dealflow_engine::{Audience, Policy};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Store, Submitted};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures(crm: &str, set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(crm)
        .join(set)
}

struct Crm {
    mapping: Mapping,
    policy: Policy,
    policy_source: String,
}

fn crm(name: &str) -> Crm {
    let path = root().join("mappings").join(format!("{name}.yaml"));
    let mapping = Mapping::load(&path).unwrap();
    let policy_path = mapping
        .policy_path(&path)
        .expect("the mapping names its policy");
    let policy_source = std::fs::read_to_string(&policy_path).unwrap();
    let policy = Policy::compile(&SourceFile::new(
        policy_path.display().to_string(),
        policy_source.clone(),
    ))
    .unwrap();
    Crm {
        mapping,
        policy,
        policy_source,
    }
}

impl Crm {
    fn files(&self, dir: &Path) -> Vec<PathBuf> {
        self.mapping.files().iter().map(|f| dir.join(f)).collect()
    }

    fn prepare(&self, dir: &Path) -> Prepared {
        import::prepare(
            &self.mapping,
            &self.policy,
            &self.files(dir),
            &HashSet::new(),
            &HashSet::new(),
            &mut |_| {},
        )
        .unwrap()
    }

    /// A fresh SQLite store in `dir` with the mapping's policy published, as
    /// `dealflow import` creates one.
    fn store(&self, dir: &Path) -> SqliteStore {
        let store = SqliteStore::open(&dir.join("crm.db")).unwrap();
        let cmd = json!({
            "key": "init", "type": "publish_policy", "by": {"user": "cli", "role": "admin"},
            "name": "policy", "source": self.policy_source,
            "effective_from": "0001-01-01T00:00:00Z",
        });
        let out = store
            .submit(&cmd.to_string(), at("0001-01-01T00:00:00Z"))
            .unwrap();
        assert!(!out.refused, "{out:?}");
        store
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn submit(store: &SqliteStore, p: &Prepared, user: &str, now: &str) -> Vec<Submitted> {
    let cmds: Vec<String> = import::commands(&p.batch, 1000, user)
        .map(|c| c.1)
        .collect();
    let batch: Vec<(&str, DateTime<Utc>)> = cmds.iter().map(|c| (c.as_str(), at(now))).collect();
    let out = store.submit_batch(&batch).unwrap();
    for s in &out {
        assert!(!s.refused, "{s:?}");
    }
    out
}

/// The instant of the first import, and of later ones.
const NOW: &str = "2026-06-01T12:00:00Z";
const LATER: &str = "2026-06-08T12:00:00Z";

/// The `events` rows of one opportunity, read from `SqliteStore::dump`: the
/// `import` decision is about no one opportunity and carries only a digest of its
/// events, so `Store::opportunity` shows none of them.
fn events_of(store: &SqliteStore, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for line in store.dump().unwrap() {
        let Some(rest) = line.strip_prefix("events:") else {
            continue;
        };
        // id, decision_seq, at, opportunity, lead, kind, data
        let cells = sql_values(rest);
        if cells.get(3).map(String::as_str) != Some(id) {
            continue;
        }
        out.push(json!({
            "at": cells[2],
            "kind": cells[5],
            "data": serde_json::from_str::<Value>(&cells[6]).unwrap(),
        }));
    }
    out
}

/// Reads `Integer(1) Text("a\"b") Null`, rusqlite values as `dump` writes them
/// (Debug), into their texts (`Null` is empty).
fn sql_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c == '(' || c == ' ' {
                break;
            }
            word.push(c);
            chars.next();
        }
        if word.is_empty() {
            return out;
        }
        let mut v = String::new();
        if chars.peek() == Some(&'(') {
            chars.next();
            if word == "Text" {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => v.push('\n'),
                            Some('t') => v.push('\t'),
                            Some('r') => v.push('\r'),
                            Some('u') => {
                                chars.next();
                                let hex: String =
                                    chars.by_ref().take_while(|c| *c != '}').collect();
                                v.extend(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()));
                            }
                            Some(c) => v.push(c),
                            None => break,
                        },
                        c => v.push(c),
                    }
                }
                chars.next();
            } else {
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                    v.push(c);
                }
            }
        }
        out.push(v);
    }
}

/// Every stored opportunity row, as text (to compare a store before and after).
fn opportunity_rows(store: &SqliteStore) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    store
        .scan_opportunities(&Audience::Vendor, &mut |r| {
            rows.push(vec![
                r.id.to_string(),
                format!("{:?}", r.partner),
                format!("{:?}", r.account),
                r.stage.to_string(),
                r.closed.to_string(),
                r.doc.to_string(),
                r.history.to_string(),
                r.created_at.to_string(),
                r.updated_at.to_string(),
            ]);
            Ok(())
        })
        .unwrap();
    rows
}

/// One stored opportunity: its row (with the account's document), the stored
/// record history and the events the import logged for it. (Read with
/// `scan_opportunities`: `Store::opportunity` fails on an imported deal without an
/// account, see `opportunity_view_of_a_deal_without_account`.)
fn record(store: &SqliteStore, id: &str) -> Value {
    let mut rec = Value::Null;
    store
        .scan_opportunities(&Audience::Vendor, &mut |r| {
            if r.id == id {
                let doc: Value = serde_json::from_str(r.doc).unwrap();
                rec = json!({
                    "id": r.id,
                    "stage": r.stage,
                    "closed": r.closed,
                    "partner": r.partner,
                    "account": r.account,
                    "fields": doc["fields"],
                    "line_items": doc["line_items"],
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                    "history": serde_json::from_str::<Value>(r.history).unwrap(),
                });
            }
            Ok(())
        })
        .unwrap();
    assert!(!rec.is_null(), "no opportunity `{id}`");
    if let Some(a) = rec["account"].as_str() {
        let row = store
            .accounts(&Audience::Vendor)
            .unwrap()
            .into_iter()
            .find(|x| x.id == a)
            .unwrap();
        rec["account"] = serde_json::from_str(&row.doc).unwrap();
    }
    rec["events"] = Value::Array(events_of(store, id));
    rec
}

/// The rows of a fixture CSV as header -> cell maps.
fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = rdr
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    rdr.records()
        .map(|r| {
            headers
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The instants of the record history's events of one type.
fn history_at(rec: &Value, ty: &str) -> Vec<String> {
    rec["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == ty)
        .map(|e| e["at"].as_str().unwrap().to_string())
        .collect()
}

fn decision(s: &Submitted) -> Value {
    assert_eq!(s.decisions.len(), 1, "{s:?}");
    serde_json::from_str(&s.decisions[0].json).unwrap()
}

fn shown(p: &Prepared) -> Vec<String> {
    p.errors.iter().map(ToString::to_string).collect()
}

/// (file, line, column, value) of each bad row.
fn where_(p: &Prepared) -> Vec<(&str, u64, Option<&str>, Option<&str>)> {
    p.errors
        .iter()
        .map(|e| {
            (
                e.file.as_str(),
                e.line,
                e.column.as_deref(),
                e.value.as_deref(),
            )
        })
        .collect()
}

fn opp_ids(p: &Prepared) -> Vec<&str> {
    let mut v: Vec<&str> = p
        .batch
        .opportunities
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// `write_rejects` writes one CSV line per bad row, with where, why and the row.
fn check_rejects(p: &Prepared) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rejects.csv");
    import::write_rejects(&path, &p.errors).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .unwrap();
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["file", "line", "column", "value", "reason", "row"]
    );
    let recs: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), p.errors.len());
    for (r, e) in recs.iter().zip(&p.errors) {
        assert_eq!(r.get(0), Some(e.file.as_str()));
        assert_eq!(r.get(1), Some(e.line.to_string().as_str()));
        assert_eq!(r.get(2), Some(e.column.as_deref().unwrap_or("")));
        assert_eq!(r.get(3), Some(e.value.as_deref().unwrap_or("")));
        assert_eq!(r.get(4), Some(e.reason.as_str()));
        // The row's cells, as one CSV line, read back as they were.
        let mut cells = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(r.get(5).unwrap().as_bytes());
        let row: Vec<String> = cells
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(row, e.row, "{e}");
    }
}

const SF_WON: &str = "006Hs00000Q1a01AAA";
const HS_WON: &str = "15830227401";

#[test]
fn mappings_fit_their_policies() {
    for name in ["salesforce", "hubspot"] {
        let c = crm(name);
        c.mapping.check(c.policy.ir()).unwrap();
    }
    // Every HubSpot stage id names a policy stage, and every policy stage has one.
    let hs = crm("hubspot");
    let stages = &hs.mapping.values["stages"];
    let ids = [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ];
    let targets: Vec<&str> = ids.iter().map(|i| stages[*i].as_str()).collect();
    let names: Vec<&str> = hs
        .policy
        .ir()
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(targets, names);
    assert_eq!(hs.mapping.opportunities.stage_dates.len(), ids.len());
}

#[test]
fn salesforce_clean_import() {
    let sf = crm("salesforce");
    let dir = fixtures("salesforce", "clean");
    let p = sf.prepare(&dir);
    assert!(p.errors.is_empty(), "{:#?}", shown(&p));
    assert!(p.ignored.is_empty());
    assert_eq!(p.rows, 3 + 6 + 12 + 43);
    let tmp = tempfile::tempdir().unwrap();
    let store = sf.store(tmp.path());
    let out = submit(&store, &p, "ann", NOW);
    assert_eq!(out.len(), 1);
    let d = decision(&out[0]);
    assert_eq!(d["outcome"], "imported");
    assert_eq!(
        d["imported"],
        json!({
            "source": "salesforce",
            "partners": {"created": 3, "updated": 0},
            "accounts": {"created": 6, "updated": 0},
            "opportunities": {"created": 12, "updated": 0, "unchanged": 0},
        })
    );
    assert_eq!(store.partners(&Audience::Vendor).unwrap().len(), 3);
    let accounts = store.accounts(&Audience::Vendor).unwrap();
    assert_eq!(accounts.len(), 6);
    // Account.Type `Customer - Direct` is a direct-sales account.
    let direct: Vec<&str> = accounts
        .iter()
        .filter(|a| a.direct)
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(direct, ["001Hs00000Ac005AAA"]);
    let ids = store.opportunity_ids().unwrap();
    assert_eq!(ids.len(), 12);
    let closed: Vec<&str> = ids.iter().filter(|x| x.1).map(|x| x.0.as_str()).collect();
    assert_eq!(
        closed,
        [
            "006Hs00000Q1a01AAA",
            "006Hs00000Q1a03AAA",
            "006Hs00000Q1a08AAA",
            "006Hs00000Q1a11AAA"
        ]
    );
    // An empty PartnerAccountId is a direct deal; an empty AccountId, no account yet.
    assert_eq!(record(&store, "006Hs00000Q1a06AAA")["partner"], Value::Null);
    // The vendor's view of a deal.
    let view = store
        .opportunity(&Audience::Vendor, SF_WON)
        .unwrap()
        .unwrap();
    assert_eq!((view.stage.as_str(), view.closed), ("ClosedWon", true));
    assert_eq!(view.account["domain"], "https://www.globex.com");
    let no_account = record(&store, "006Hs00000Q1a10AAA");
    assert_eq!(no_account["account"], Value::Null);
    assert_eq!(
        no_account["history"],
        json!([{"at": "2026-05-25T10:00:00.000000000Z", "type": "created"}])
    );

    // The won deal: a stage change at each OpportunityHistory instant after the
    // first (the deal was created in Prospecting), and closed at the last.
    let rec = record(&store, SF_WON);
    let instants: Vec<String> = csv_rows(&dir.join("OpportunityHistory.csv"))
        .iter()
        .filter(|r| r["OpportunityId"] == SF_WON)
        .map(|r| dealflow_analytics::ts(at(&r["CreatedDate"])))
        .collect();
    assert_eq!(instants.len(), 8);
    assert_eq!(history_at(&rec, "created"), instants[..1]);
    assert_eq!(history_at(&rec, "stage_change"), instants[1..]);
    assert_eq!(history_at(&rec, "closed"), instants[7..]);
    // CloseDate moved 2026-03-31 -> 2026-04-15 -> 2026-04-10.
    assert_eq!(
        history_at(&rec, "close_date_change"),
        [instants[4].clone(), instants[7].clone()]
    );
    insta::assert_json_snapshot!("salesforce_won_opportunity", rec);
    // A lost deal closes when it entered Closed Lost.
    let lost = record(&store, "006Hs00000Q1a11AAA");
    assert_eq!(lost["stage"], "ClosedLost");
    assert_eq!(
        history_at(&lost, "closed"),
        ["2026-03-04T17:21:09.000000000Z"]
    );
    assert_eq!(
        lost["history"].as_array().unwrap().last().unwrap()["outcome"],
        "lost"
    );
    assert_eq!(store.verify().unwrap().first_broken, None);
}

#[test]
fn hubspot_clean_import() {
    let hs = crm("hubspot");
    let dir = fixtures("hubspot", "clean");
    let p = hs.prepare(&dir);
    assert!(p.errors.is_empty(), "{:#?}", shown(&p));
    assert_eq!(p.rows, 3 + 6 + 12);
    let tmp = tempfile::tempdir().unwrap();
    let store = hs.store(tmp.path());
    let out = submit(&store, &p, "ann", NOW);
    assert_eq!(
        decision(&out[0])["imported"],
        json!({
            "source": "hubspot",
            "partners": {"created": 3, "updated": 0},
            "accounts": {"created": 6, "updated": 0},
            "opportunities": {"created": 12, "updated": 0, "unchanged": 0},
        })
    );
    assert_eq!(store.partners(&Audience::Vendor).unwrap().len(), 3);
    let accounts = store.accounts(&Audience::Vendor).unwrap();
    assert_eq!(accounts.len(), 6);
    let direct: Vec<&str> = accounts
        .iter()
        .filter(|a| a.direct)
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(direct, ["9876543205"]);
    let ids = store.opportunity_ids().unwrap();
    assert_eq!(ids.len(), 12);
    let closed: Vec<&str> = ids.iter().filter(|x| x.1).map(|x| x.0.as_str()).collect();
    assert_eq!(
        closed,
        ["15830227401", "15830227403", "15830227408", "15830227411"]
    );
    // Partner documents carry the multi-checkbox lists and the percent.
    let partners = store.partners(&Audience::Vendor).unwrap();
    let northwind: Value = serde_json::from_str(&partners[0].doc).unwrap();
    assert_eq!(
        northwind,
        json!({"id": "9876500001", "name": "Northwind Secure", "tier": "Platinum",
               "territories": ["NA", "EMEA"], "specializations": ["Security", "Cloud"], "win_rate": "41%"})
    );

    // The won deal: a stage change at each hs_date_entered_<stage> instant (local
    // New York time in the file) after the creation, closed when it entered closedwon.
    let tz: chrono_tz::Tz = hs.mapping.timezone.as_deref().unwrap().parse().unwrap();
    let row = csv_rows(&dir.join("deals.csv"))
        .into_iter()
        .find(|r| r["Record ID"] == HS_WON)
        .unwrap();
    let entered: Vec<String> = [
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
    ]
    .iter()
    .map(|s| {
        dealflow_analytics::ts(
            DateFormat::Iso
                .instant(&row[&format!("hs_date_entered_{s}")], tz)
                .unwrap(),
        )
    })
    .collect();
    let rec = record(&store, HS_WON);
    assert_eq!(history_at(&rec, "stage_change"), entered);
    assert_eq!(history_at(&rec, "closed"), entered[4..]);
    assert_eq!(
        history_at(&rec, "created"),
        ["2026-01-12T16:04:00.000000000Z"]
    );
    insta::assert_json_snapshot!("hubspot_won_opportunity", rec);
    // An open deal has no stage change past its own stage, and no close.
    let open = record(&store, "15830227407");
    assert_eq!(open["stage"], "ProposalEvaluation");
    assert_eq!(
        open["history"],
        json!([
            {"at": "2026-03-23T15:00:00.000000000Z", "type": "created"},
            {"at": "2026-03-30T15:00:00.000000000Z", "type": "stage_change", "from": "Identification", "to": "Qualification"},
            {"at": "2026-04-27T15:00:00.000000000Z", "type": "stage_change", "from": "Qualification", "to": "ProposalEvaluation"},
        ])
    );
    assert_eq!(store.verify().unwrap().first_broken, None);
}

#[test]
fn reimport_changes_nothing() {
    for name in ["salesforce", "hubspot"] {
        let c = crm(name);
        let dir = fixtures(name, "clean");
        let tmp = tempfile::tempdir().unwrap();
        let store = c.store(tmp.path());
        let first = submit(&store, &c.prepare(&dir), "ann", NOW);
        assert!(first.iter().all(|s| !s.repeated));
        let before = store.dump().unwrap();
        let rows = opportunity_rows(&store);

        // The same files by the same user: the same command, a repeat.
        let again = submit(&store, &c.prepare(&dir), "ann", LATER);
        assert!(again.iter().all(|s| s.repeated), "{name}: {again:?}");
        assert_eq!(store.dump().unwrap(), before, "{name}");

        // By another user (another idempotency key): nothing differs, so nothing
        // is decided and no record changes.
        let other = submit(&store, &c.prepare(&dir), "bob", LATER);
        for s in &other {
            assert!(!s.repeated, "{name}: {s:?}");
            assert!(s.decisions.is_empty(), "{name}: {s:?}");
        }
        assert_eq!(opportunity_rows(&store), rows, "{name}");
        let v = store.verify().unwrap();
        assert_eq!(v.first_broken, None, "{name}: {v:?}");
        assert_eq!(v.decisions, 2, "{name}: the policy and the first import");
    }
}

#[test]
fn changed_amount_updates_the_record() {
    let sf = crm("salesforce");
    let clean = fixtures("salesforce", "clean");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("export");
    std::fs::create_dir(&input).unwrap();
    for f in sf.mapping.files() {
        std::fs::copy(clean.join(f), input.join(f)).unwrap();
    }
    let store = sf.store(tmp.path());
    submit(&store, &sf.prepare(&input), "ann", NOW);
    let rows = opportunity_rows(&store);
    let id = "006Hs00000Q1a02AAA";
    let old = record(&store, id);
    assert_eq!(old["fields"]["amount"], "52000");

    // The next week's export: one Amount changed.
    let path = input.join("Opportunity.csv");
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let amount = headers.iter().position(|h| h == "Amount").unwrap();
    let mut recs: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let row = recs.iter_mut().find(|r| r[0] == id).unwrap();
    assert_eq!(row[amount], "52000.00");
    row[amount] = "61000.00".into();
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&headers).unwrap();
    for r in &recs {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    drop(w);

    let out = submit(&store, &sf.prepare(&input), "ann", LATER);
    let d = decision(&out[0]);
    assert_eq!(
        d["imported"],
        json!({
            "source": "salesforce",
            "partners": {"created": 0, "updated": 0},
            "accounts": {"created": 0, "updated": 0},
            "opportunities": {"created": 0, "updated": 1, "unchanged": 11},
        })
    );
    let new = record(&store, id);
    assert_eq!(new["fields"]["amount"], "61000");
    assert_eq!(new["updated_at"], dealflow_analytics::ts(at(LATER)));
    assert_eq!(new["history"], old["history"]);
    // The change is one event at the import's instant, with the old and new value.
    let events = new["events"].as_array().unwrap();
    let later: Vec<&Value> = events
        .iter()
        .filter(|e| e["at"] == dealflow_analytics::ts(at(LATER)))
        .collect();
    assert_eq!(
        later,
        [&json!({
            "at": dealflow_analytics::ts(at(LATER)),
            "kind": "field_changed",
            "data": {"field": "amount", "old": "52000", "new": "61000"},
        })]
    );
    // Every other opportunity is as it was.
    let after = opportunity_rows(&store);
    assert_eq!(after.len(), rows.len());
    for (a, b) in after.iter().zip(&rows) {
        if a[0] != id {
            assert_eq!(a, b);
        }
    }
    assert_eq!(store.verify().unwrap().first_broken, None);
}

#[test]
fn salesforce_messy_rows() {
    let sf = crm("salesforce");
    let p = sf.prepare(&fixtures("salesforce", "messy"));
    insta::assert_yaml_snapshot!("salesforce_messy_errors", shown(&p));
    assert_eq!(
        where_(&p),
        [
            (
                "Opportunity.csv",
                5,
                Some("CreatedDate"),
                Some("1/5/2026 9:30 AM")
            ),
            ("Opportunity.csv", 6, Some("StageName"), Some("Stalled")),
            ("Opportunity.csv", 7, Some("Amount"), Some("TBD")),
            ("Opportunity.csv", 9, None, None),
            ("Opportunity.csv", 10, None, None),
            ("Opportunity.csv", 12, Some("LeadSource"), Some("Other")),
            (
                "OpportunityHistory.csv",
                5,
                Some("OpportunityId"),
                Some("006Hs00000ZZZ99AAA")
            ),
            (
                "OpportunityHistory.csv",
                8,
                Some("CloseDate"),
                Some("31/03/2026")
            ),
            (
                "OpportunityHistory.csv",
                15,
                Some("OpportunityId"),
                Some("006Hs00000Q1a03AAA")
            ),
            (
                "OpportunityHistory.csv",
                16,
                Some("OpportunityId"),
                Some("006Hs00000Q1a03AAA")
            ),
            (
                "OpportunityHistory.csv",
                17,
                Some("OpportunityId"),
                Some("006Hs00000Q1a03AAA")
            ),
            (
                "OpportunityHistory.csv",
                23,
                Some("OpportunityId"),
                Some("006Hs00000Q1a12AAA")
            ),
            (
                "OpportunityHistory.csv",
                24,
                Some("OpportunityId"),
                Some("006Hs00000Q1a12AAA")
            ),
        ]
    );
    // The good rows are all there: the BOM, the quoted multi-line cells, trailing
    // whitespace and empty optional cells are no errors.
    assert_eq!(
        opp_ids(&p),
        [
            "006Hs00000Q1a01AAA",
            "006Hs00000Q1a02AAA",
            "006Hs00000Q1a06AAA",
            "006Hs00000Q1a10AAA"
        ]
    );
    assert_eq!((p.batch.partners.len(), p.batch.accounts.len()), (3, 6));
    let opp = |id: &str| p.batch.opportunities.iter().find(|o| o.id == id).unwrap();
    // The first of two rows with one Id is kept.
    assert_eq!(opp("006Hs00000Q1a02AAA").fields["amount"], "52000");
    let wayne = opp("006Hs00000Q1a06AAA");
    assert_eq!(
        (wayne.stage.as_str(), &wayne.fields["amount"]),
        ("Qualification", &json!("250000"))
    );
    assert_eq!(
        opp("006Hs00000Q1a10AAA").fields,
        *json!({"close_date": "2026-12-31"}).as_object().unwrap()
    );
    assert_eq!(
        opp(SF_WON).fields["value_proposition"],
        "Consolidates three legacy systems;\ncuts onboarding from 6 weeks to 2"
    );
    check_rejects(&p);
    // `--skip-invalid`: the good rows import.
    let tmp = tempfile::tempdir().unwrap();
    let store = sf.store(tmp.path());
    let out = submit(&store, &p, "ann", NOW);
    assert_eq!(decision(&out[0])["imported"]["opportunities"]["created"], 4);
}

#[test]
fn hubspot_messy_rows() {
    let hs = crm("hubspot");
    let p = hs.prepare(&fixtures("hubspot", "messy"));
    insta::assert_yaml_snapshot!("hubspot_messy_errors", shown(&p));
    assert_eq!(
        where_(&p),
        [
            (
                "deals.csv",
                5,
                Some("createdate"),
                Some("Jan 5, 2026 8:30 AM")
            ),
            ("deals.csv", 6, Some("dealstage"), Some("1029384756")),
            ("deals.csv", 7, Some("amount"), Some("410k")),
            ("deals.csv", 9, None, None),
            ("deals.csv", 10, None, None),
            (
                "deals.csv",
                12,
                Some("partner_company_id"),
                Some("9876599999")
            ),
            ("deals.csv", 13, Some("region"), Some("North America")),
        ]
    );
    assert_eq!(
        opp_ids(&p),
        ["15830227401", "15830227402", "15830227406", "15830227410"]
    );
    assert_eq!((p.batch.partners.len(), p.batch.accounts.len()), (3, 6));
    let opp = |id: &str| p.batch.opportunities.iter().find(|o| o.id == id).unwrap();
    assert_eq!(opp(HS_WON).fields["amount"], "120000");
    let oceanic = opp("15830227406");
    assert_eq!(
        (oceanic.stage.as_str(), &oceanic.fields["amount"]),
        ("SolutionDevelopment", &json!("150000"))
    );
    assert_eq!(oceanic.partner, None);
    let inbound = opp("15830227410");
    assert_eq!(
        (inbound.account.as_deref(), inbound.fields.get("region")),
        (None, None)
    );
    check_rejects(&p);
    let tmp = tempfile::tempdir().unwrap();
    let store = hs.store(tmp.path());
    let out = submit(&store, &p, "ann", NOW);
    assert_eq!(decision(&out[0])["imported"]["opportunities"]["created"], 4);
}

/// The vendor's view of an imported deal that has no account yet.
#[test]
fn opportunity_view_of_a_deal_without_account() {
    let sf = crm("salesforce");
    let tmp = tempfile::tempdir().unwrap();
    let store = sf.store(tmp.path());
    submit(
        &store,
        &sf.prepare(&fixtures("salesforce", "clean")),
        "ann",
        NOW,
    );
    let view = store
        .opportunity(&Audience::Vendor, "006Hs00000Q1a10AAA")
        .unwrap()
        .unwrap();
    assert_eq!(view.account, Value::Null);
    assert_eq!(view.partner.as_deref(), Some("001Hs00000Pt002AAA"));
}

/// Windows line ends (Excel, many Salesforce and HubSpot downloads) must not move
/// the line numbers of the errors.
#[test]
fn crlf_exports_report_the_same_lines() {
    let sf = crm("salesforce");
    let messy = fixtures("salesforce", "messy");
    let tmp = tempfile::tempdir().unwrap();
    for f in sf.mapping.files() {
        let text = std::fs::read_to_string(messy.join(f)).unwrap();
        std::fs::write(tmp.path().join(f), text.replace('\n', "\r\n")).unwrap();
    }
    let lf = sf.prepare(&messy);
    let crlf = sf.prepare(tmp.path());
    assert_eq!(where_(&crlf), where_(&lf));
}

/// Salesforce's REST API (and tools built on it) write `+0000`, an offset without
/// a colon; no date format reads it yet (`iso`/`rfc3339` want `+00:00`, and a
/// pattern cannot spell the `T` or the `.000`).
#[test]
fn salesforce_rest_instants() {
    let utc: chrono_tz::Tz = "UTC".parse().unwrap();
    assert_eq!(
        DateFormat::Iso
            .instant("2026-03-04T17:21:09.000+0000", utc)
            .unwrap(),
        at("2026-03-04T17:21:09Z")
    );
}
