//! The `import` command: CRM data recorded as it was. Nothing is decided: partners
//! and accounts are upserted, opportunities created or brought up to date with the
//! history the CRM kept, each change an event at its own instant, and the whole
//! batch is one logged decision whose body carries the events' digest.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::command::{Import, ImportedOpportunity};

/// What one import changed.
#[derive(Default)]
struct Counts {
    partners_created: u64,
    partners_updated: u64,
    accounts_created: u64,
    accounts_updated: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
}

/// An opportunity as stored, for comparison.
struct Stored {
    partner: Option<String>,
    account: Option<String>,
    stage: String,
    /// JSON text as stored.
    doc: String,
    history: String,
    created_at: String,
}

impl Cx<'_> {
    pub(super) fn import(&mut self, b: &Import) -> Res<()> {
        self.vendor(&[Role::Admin], "import CRM data")?;
        let policy = self.policy()?;
        let mut n = Counts::default();
        let mut events: Vec<Ev> = Vec::new();

        let mut partners: HashMap<String, Option<Value>> = HashMap::new();
        for p in &b.partners {
            let (id, old) = self.party_doc("partner", "partners", p)?;
            let doc = Value::Object(p.clone());
            partners.insert(id.clone(), Some(doc.clone()));
            if old.as_ref() == Some(&doc) {
                continue;
            }
            let name = p.get("name").and_then(Value::as_str);
            self.conn.prepare_cached_execute(
                "INSERT INTO partners (id, name, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
                params![id, name, doc.to_string()],
            )?;
            let changes = diff(old.as_ref().and_then(Value::as_object), p);
            let kind = if old.is_some() {
                n.partners_updated += 1;
                "partner_updated"
            } else {
                n.partners_created += 1;
                "partner_created"
            };
            events.push(ev(
                kind,
                self.at,
                None,
                json!({ "partner": id, "changes": changes }),
            ));
        }

        let direct: HashSet<&str> = b.direct_accounts.iter().map(String::as_str).collect();
        let mut accounts: HashMap<String, Option<Value>> = HashMap::new();
        for a in &b.accounts {
            let (id, old) = self.party_doc("account", "accounts", a)?;
            let doc = Value::Object(a.clone());
            let is_direct = direct.contains(id.as_str());
            let was_direct: Option<bool> = self
                .conn
                .prepare_cached("SELECT direct FROM accounts WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            accounts.insert(id.clone(), Some(doc.clone()));
            if old.as_ref() == Some(&doc) && was_direct == Some(is_direct) {
                continue;
            }
            let (kd, kn, ki) = account_keys(a);
            self.conn.prepare_cached_execute(
                "INSERT INTO accounts (id, doc, direct, key_domain, key_name, key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, direct = excluded.direct,
                   key_domain = excluded.key_domain, key_name = excluded.key_name, key_id = excluded.key_id",
                params![id, doc.to_string(), is_direct, kd, kn, ki],
            )?;
            let changes = diff(old.as_ref().and_then(Value::as_object), a);
            let kind = if old.is_some() {
                n.accounts_updated += 1;
                "account_updated"
            } else {
                n.accounts_created += 1;
                "account_created"
            };
            events.push(ev(
                kind,
                self.at,
                None,
                json!({ "account": id, "direct": is_direct, "changes": changes }),
            ));
        }
        for id in &b.direct_accounts {
            if !accounts.contains_key(id) {
                return refuse(format!(
                    "`direct_accounts` names `{id}`, which is not among the imported accounts"
                ));
            }
        }

        let mut seen: HashSet<&str> = HashSet::new();
        for o in &b.opportunities {
            if !seen.insert(o.id.as_str()) {
                return refuse(format!(
                    "opportunity `{}` appears twice in one import",
                    o.id
                ));
            }
            self.import_one(
                &policy,
                o,
                &mut partners,
                &mut accounts,
                &mut events,
                &mut n,
            )?;
        }

        if events.is_empty() {
            // Everything was already as imported: nothing is written.
            return Ok(());
        }
        let mut extra = Map::new();
        extra.insert(
            "imported".into(),
            json!({
                "source": b.source,
                "partners": { "created": n.partners_created, "updated": n.partners_updated },
                "accounts": { "created": n.accounts_created, "updated": n.accounts_updated },
                "opportunities": { "created": n.created, "updated": n.updated, "unchanged": n.unchanged },
            }),
        );
        self.push(Out {
            kind: "import",
            outcome: "imported".into(),
            policy: Some(policy.hash().to_string()),
            events,
            digest_events: true,
            extra,
            ..Out::default()
        });
        Ok(())
    }

    /// A partner's or account's document, from this import or the store (cached).
    fn party(
        &self,
        table: &str,
        id: &str,
        cache: &mut HashMap<String, Option<Value>>,
    ) -> Res<Option<Value>> {
        if let Some(d) = cache.get(id) {
            return Ok(d.clone());
        }
        let d = self.doc_of(table, id)?;
        cache.insert(id.to_string(), d.clone());
        Ok(d)
    }

    fn import_one(
        &self,
        policy: &Policy,
        o: &ImportedOpportunity,
        partners: &mut HashMap<String, Option<Value>>,
        accounts: &mut HashMap<String, Option<Value>>,
        events: &mut Vec<Ev>,
        n: &mut Counts,
    ) -> Res<()> {
        let id = o.id.as_str();
        if id.trim().is_empty() || id.len() > 256 {
            return refuse("an imported opportunity's `id` must be 1 to 256 characters");
        }
        let what = |msg: String| Fail::Refused(format!("opportunity `{id}`: {msg}"));
        let Some(stage_id) = policy.ir().stage_by_name(&o.stage) else {
            return Err(what(format!(
                "`{}` is not a stage of policy `{}`",
                o.stage,
                policy.name()
            )));
        };
        let closed = policy
            .ir()
            .stage(stage_id)
            .is_some_and(|s| s.kind != StageKind::Open);
        let created = parse_rfc(&o.created_at).ok_or_else(|| {
            what(format!(
                "`created_at` `{}` is not an RFC 3339 instant",
                o.created_at
            ))
        })?;
        let partner_doc = match &o.partner {
            Some(p) => Some(self.party("partners", p, partners)?.ok_or_else(|| {
                what(format!(
                    "unknown partner `{p}`; import it in `partners` first"
                ))
            })?),
            None => None,
        };
        let account_doc = match &o.account {
            Some(a) => Some(self.party("accounts", a, accounts)?.ok_or_else(|| {
                what(format!(
                    "unknown account `{a}`; import it in `accounts` first"
                ))
            })?),
            None => None,
        };
        // History in time order (stable, as the record reads it).
        let mut timed = Vec::with_capacity(o.history.len());
        for (i, h) in o.history.iter().enumerate() {
            let at = h
                .get("at")
                .and_then(Value::as_str)
                .and_then(parse_rfc)
                .ok_or_else(|| {
                    what(format!(
                        "`history[{i}].at` is missing or not an RFC 3339 instant"
                    ))
                })?;
            timed.push((at, h));
        }
        timed.sort_by_key(|(at, _)| *at);

        // The record as the engine reads it, checked against the policy's schema.
        // (The partner and account documents were checked when they were stored.)
        let mut rec = Map::new();
        rec.insert("id".into(), id.into());
        rec.insert("stage".into(), o.stage.clone().into());
        rec.insert("fields".into(), Value::Object(o.fields.clone()));
        rec.insert("line_items".into(), Value::Array(o.line_items.clone()));
        rec.insert(
            "history".into(),
            Value::Array(timed.iter().map(|(_, h)| (*h).clone()).collect()),
        );
        let rec = Value::Object(rec);
        policy
            .parse_record_value(&rec)
            .map_err(|e| what(format!("does not fit the policy: {}", record_errors(&e))))?;
        let _ = (partner_doc, account_doc);
        // Stored as the other commands store them: `{"fields", "line_items"}` and
        // the history array, serialized once from the checked record.
        let doc_text = format!(
            "{{\"fields\":{},\"line_items\":{}}}",
            rec["fields"], rec["line_items"]
        );
        let history_text = rec["history"].to_string();
        let stored = self.stored(id)?;
        let opp = Some(id);
        match stored {
            None => {
                self.conn.prepare_cached_execute(
                    "INSERT INTO opportunities (id, partner, account, stage, closed, doc, history, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        o.partner,
                        o.account,
                        o.stage,
                        closed,
                        doc_text,
                        history_text,
                        ts(created),
                        ts(self.at)
                    ],
                )?;
                n.created += 1;
                // One event per deal: its fields and history are in the record.
                events.push(ev(
                    "opportunity_imported",
                    created,
                    opp,
                    json!({ "stage": o.stage, "account": o.account, "partner": o.partner, "history": timed.len() }),
                ));
                for (i, c) in o.changes.iter().enumerate() {
                    let at = parse_rfc(&c.at).ok_or_else(|| {
                        what(format!(
                            "`changes[{i}].at` `{}` is not an RFC 3339 instant",
                            c.at
                        ))
                    })?;
                    events.push(ev(
                        "field_changed",
                        at,
                        opp,
                        json!({ "field": c.field, "old": c.old, "new": c.new }),
                    ));
                }
            }
            Some(s) => {
                if s.partner == o.partner
                    && s.account == o.account
                    && s.stage == o.stage
                    && s.doc == doc_text
                    && s.history == history_text
                    && s.created_at == ts(created)
                {
                    n.unchanged += 1;
                    return Ok(());
                }
                self.conn.prepare_cached_execute(
                    "UPDATE opportunities SET partner = ?2, account = ?3, stage = ?4, closed = ?5, doc = ?6,
                       history = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1",
                    params![
                        id,
                        o.partner,
                        o.account,
                        o.stage,
                        closed,
                        doc_text,
                        history_text,
                        ts(created),
                        ts(self.at)
                    ],
                )?;
                n.updated += 1;
                let old_doc = json_text(&s.doc)?;
                let at = self.at;
                let mut changed = |field: &str, old: Value, new: Value| {
                    if old != new {
                        events.push(ev(
                            "field_changed",
                            at,
                            opp,
                            json!({ "field": field, "old": old, "new": new }),
                        ));
                    }
                };
                changed("partner", json!(s.partner), json!(o.partner));
                changed("account", json!(s.account), json!(o.account));
                let old_fields = old_doc.get("fields").and_then(Value::as_object);
                let mut names: Vec<&String> = o.fields.keys().collect();
                if let Some(f) = old_fields {
                    names.extend(f.keys().filter(|k| !o.fields.contains_key(*k)));
                }
                names.sort();
                for k in names {
                    let old = old_fields
                        .and_then(|f| f.get(k))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let new = o.fields.get(k).cloned().unwrap_or(Value::Null);
                    changed(k, old, new);
                }
                let old_items = old_doc
                    .get("line_items")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new()));
                if old_items != rec["line_items"] {
                    events.push(ev(
                        "line_items_changed",
                        at,
                        opp,
                        json!({ "old": old_items, "new": o.line_items }),
                    ));
                }
                if s.stage != o.stage {
                    // At the CRM's instant of the change when its history has it.
                    let when = timed
                        .iter()
                        .rev()
                        .find(|(_, h)| {
                            h.get("type").and_then(Value::as_str) == Some("stage_change")
                                && h.get("to").and_then(Value::as_str) == Some(o.stage.as_str())
                        })
                        .map_or(at, |(t, _)| *t);
                    events.push(ev(
                        "stage_changed",
                        when,
                        opp,
                        json!({ "from": s.stage, "to": o.stage }),
                    ));
                }
                if s.history != history_text {
                    let old_len = json_text(&s.history)?.as_array().map_or(0, Vec::len);
                    events.push(ev(
                        "history_imported",
                        at,
                        opp,
                        json!({ "entries": timed.len(), "before": old_len }),
                    ));
                }
            }
        }
        Ok(())
    }

    fn stored(&self, id: &str) -> Res<Option<Stored>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT partner, account, stage, doc, history, created_at FROM opportunities WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .optional()?;
        let Some((partner, account, stage, doc, history, created_at)) = row else {
            return Ok(None);
        };
        Ok(Some(Stored {
            partner,
            account,
            stage,
            doc,
            history,
            created_at,
        }))
    }
}
