//! Registration decisions that were once wrong: a bare `account` key compared
//! domains only when the policy declared both `name` and `domain` (two
//! registrations of the same named account were not matched), and `register` on a
//! deal already won or lost was approved with a fresh protection and the discount.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, RuleOutcome};

/// A policy whose `record account` declares `fields`, with a duplicate rule and a
/// conflict rule keyed on the bare `account`.
fn policy(fields: &str) -> Policy {
    let text = format!(
        r#"policy "Keys" version "1" {{
  currency USD
}}
record opportunity {{
  amount: money
}}
record partner {{
  tier: enum {{ Silver, Gold }}
}}
record account {{
{fields}
}}
stage Open {{ probability 10% forecast pipeline }}
won stage Won {{ probability 100% forecast closed }}
lost stage Lost {{ probability 0% forecast omitted }}
flow {{
  Open -> Won
  any -> Lost
}}
registration {{
  duplicate when same account within 90d
  conflict when other partner holds protected registration on account reject "already protected"
  auto approve when partner.tier == Gold
  protect 90d
  discount 10% when approved
}}
"#
    );
    match Policy::compile(&SourceFile::new("keys.policy", text)) {
        Ok(p) => p,
        Err(e) => panic!("{fields}: {e}: {:#?}", e.diagnostics),
    }
}

const DECLARED: [&str; 4] = [
    "  tier2: text?",
    "  name: text",
    "  domain: text",
    "  name: text\n  domain: text",
];

/// A YAML account with the given id, name and domain.
fn account(id: &str, name: Option<&str>, domain: Option<&str>) -> String {
    let mut a = format!("{{id: {id}");
    if let Some(n) = name {
        a.push_str(&format!(", name: \"{n}\""));
    }
    if let Some(d) = domain {
        a.push_str(&format!(", domain: \"{d}\""));
    }
    a.push('}');
    a
}

const NOW: &str = "2026-11-27T15:00:00Z";

fn decide(p: &Policy, record: &str, ctx: &str) -> Decision {
    let r = p
        .parse_record_yaml(record)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = if ctx.is_empty() {
        Context::default()
    } else {
        p.parse_context_yaml(ctx).unwrap_or_else(|e| panic!("{e}"))
    };
    let a: Action = "register".parse().unwrap();
    let now = NOW.parse().unwrap();
    let d = p.decide(&r, &a, &c, now, &Audience::Vendor);
    assert_eq!(p.decide_fast(&r, &a, &c, now).outcome, d.outcome);
    d
}

/// Registers `mine` (partner P-2) while partner P-1 holds an approved, protected
/// registration on `theirs`, submitted `submitted` days before now.
fn register_against(p: &Policy, mine: &str, theirs: &str, submitted: &str) -> Decision {
    let record = format!(
        "id: O-2\nstage: Open\npartner: {{id: P-2, tier: Gold}}\naccount: {mine}\nfields: {{amount: 100}}"
    );
    let ctx = format!(
        "registrations:\n  - {{ id: O-1, stage: Open, partner: {{id: P-1, tier: Gold}}, account: {theirs}, \
         fields: {{amount: 5}}, registration: {{id: R-1, partner_id: P-1, status: approved, \
         submitted_at: {submitted}, approved_at: {submitted}, protected_until: 2027-01-29T10:00:00Z}} }}\n"
    );
    decide(p, &record, &ctx)
}

fn outcome_of(d: &Decision, rule: &str) -> Vec<RuleOutcome> {
    d.reasons
        .iter()
        .filter(|r| r.rule == rule)
        .map(|r| r.outcome)
        .collect()
}

/// Whether the two accounts are matched: then both the duplicate rule (submitted
/// within 90 days) and the conflict rule (protected) deny.
fn matched(p: &Policy, mine: &str, theirs: &str) -> bool {
    let d = register_against(p, mine, theirs, "2026-11-01T10:00:00Z");
    let dup = outcome_of(&d, "registration.duplicate");
    let conflict = outcome_of(&d, "registration.conflict[0]");
    let json = d.to_json_pretty();
    match d.outcome {
        Outcome::Denied => {
            assert_eq!(dup, vec![RuleOutcome::Fail], "{json}");
            assert_eq!(conflict, vec![RuleOutcome::Fail], "{json}");
            assert!(d.effects.registration.is_none(), "{json}");
            true
        }
        Outcome::Approved => {
            assert_eq!(dup, vec![RuleOutcome::Pass], "{json}");
            assert_eq!(conflict, vec![RuleOutcome::Pass], "{json}");
            false
        }
        o => panic!("unexpected {o:?}: {json}"),
    }
}

/// The same accounts match, and different ones do not, whatever `record account`
/// declares: by domain when both have one, else by name, else by id.
#[test]
fn account_keys_fall_back_from_domain_to_name_to_id_whatever_is_declared() {
    let same = [
        // Same named account, no domains (the reported bug).
        (
            account("A-2", Some("Globex, Inc."), None),
            account("A-1", Some("Globex"), None),
        ),
        // Same domain, different names and ids.
        (
            account(
                "A-2",
                Some("Globex Europe"),
                Some("https://www.globex.com/de"),
            ),
            account("A-1", Some("Globex"), Some("GLOBEX.COM")),
        ),
        // One side without a domain: names decide.
        (
            account("A-2", Some("Globex B.V."), Some("globex.nl")),
            account("A-1", Some("globex bv"), None),
        ),
        // Neither names nor domains in common: ids decide.
        (
            account("A-1", None, Some("globex.com")),
            account("a-1", Some("Globex"), None),
        ),
    ];
    let different = [
        (
            account("A-2", Some("Initech"), None),
            account("A-1", Some("Globex"), None),
        ),
        // Different domains win over equal names.
        (
            account("A-2", Some("Globex"), Some("globex.com")),
            account("A-1", Some("Globex"), Some("globex.io")),
        ),
        (account("A-2", None, None), account("A-1", None, None)),
    ];
    for fields in DECLARED {
        let p = policy(fields);
        for (mine, theirs) in &same {
            assert!(matched(&p, mine, theirs), "[{fields}] {mine} vs {theirs}");
        }
        for (mine, theirs) in &different {
            assert!(!matched(&p, mine, theirs), "[{fields}] {mine} vs {theirs}");
        }
    }
}

/// Legal forms, punctuation, whitespace and case do not make two names differ.
#[test]
fn account_names_match_across_legal_forms_and_spelling() {
    let p = policy("  name: text");
    let variants = [
        "Müller GmbH",
        "MÜLLER",
        "Müller Limited",
        "Müller LLP",
        "Müller L.P.",
        "Müller S.A.S.",
        "Müller SRL",
        "Müller N.V.",
        "Müller Pty. Ltd.",
        "Müller K.K.",
        "Müller Oy",
        "Müller AB",
        "Müller A/S",
        "  müller,  inc. ",
    ];
    for v in variants {
        let mine = account("A-2", Some(v), None);
        let theirs = account("A-1", Some("Müller AG"), None);
        assert!(matched(&p, &mine, &theirs), "{v}");
    }
    let theirs = account("A-1", Some("Müller AG"), None);
    assert!(!matched(
        &p,
        &account("A-2", Some("Müllers AG"), None),
        &theirs
    ));
}

/// `register` on a deal in a won or lost stage is denied by
/// `registration.closed.<Stage>`, located at that stage, with no protection,
/// discount or advice.
#[test]
fn register_on_a_closed_deal_is_denied() {
    for fields in DECLARED {
        let p = policy(fields);
        for (stage, what) in [("Won", "won"), ("Lost", "lost")] {
            let record = format!(
                "id: O-2\nstage: {stage}\npartner: {{id: P-2, tier: Gold}}\naccount: {{id: A-9}}\nfields: {{amount: 100}}"
            );
            let d = decide(&p, &record, "");
            let json = d.to_json_pretty();
            assert_eq!(d.outcome, Outcome::Denied, "{json}");
            let rule = format!("registration.closed.{stage}");
            let r = d.reasons.iter().find(|r| r.rule == rule).expect(&json);
            assert_eq!(r.outcome, RuleOutcome::Fail);
            assert!(
                r.message.contains(&format!("already {what}")),
                "{}",
                r.message
            );
            let info = p.rule(&rule).expect("catalogued");
            assert_eq!(r.location.to_string(), info.location);
            assert!(info.location.starts_with("keys.policy:"));
            assert!(d.effects.registration.is_none(), "{json}");
            assert!(!d.effects.amounts.contains_key("discount"), "{json}");
            assert!(d.to_pass.is_empty(), "{json}");
            assert!(!d.reasons.iter().any(|r| r.rule == "registration.protect"));
        }
        // An open deal is still approved.
        let record = "id: O-2\nstage: Open\npartner: {id: P-2, tier: Gold}\naccount: {id: A-9}\nfields: {amount: 100}";
        assert_eq!(decide(&p, record, "").outcome, Outcome::Approved);
    }
}
