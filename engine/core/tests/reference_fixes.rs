//! Regression tests on the shipped reference policy for decision behaviours that were
//! once wrong: commission of deals without line items, the `leads.prefer` location, a
//! denied `route_lead`, token-wise partner redaction and protection extensions on
//! `advance`.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, Reason, RuleOutcome};

const SRC: &str = include_str!("../../../policies/channel-standard.policy");

fn compile(name: &str, text: &str) -> Policy {
    match Policy::compile(&SourceFile::new(name, text)) {
        Ok(p) => p,
        Err(e) => panic!("{e}: {:#?}", e.diagnostics),
    }
}

fn policy() -> Policy {
    compile("channel-standard.policy", SRC)
}

fn decide(p: &Policy, record: &str, action: &str, context: &str, audience: &str) -> Decision {
    let r = p
        .parse_record_yaml(record)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = if context.is_empty() {
        Context::default()
    } else {
        p.parse_context_yaml(context)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    p.decide(
        &r,
        &action.parse::<Action>().unwrap(),
        &c,
        "2026-11-27T15:00:00Z".parse().unwrap(),
        &audience.parse::<Audience>().unwrap(),
    )
}

fn reasons<'d>(d: &'d Decision, rule: &str) -> Vec<&'d Reason> {
    d.reasons.iter().filter(|r| r.rule == rule).collect()
}

fn reason<'d>(d: &'d Decision, rule: &str) -> &'d Reason {
    match reasons(d, rule).as_slice() {
        [r] => r,
        other => panic!("{} `{rule}` reasons in {}", other.len(), d.to_json_pretty()),
    }
}

/// `file:line:col` of the first occurrence of `needle` in the reference source.
fn location_of(needle: &str) -> String {
    let at = SRC
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the policy"));
    let line = SRC[..at].matches('\n').count() + 1;
    let col = at - SRC[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("channel-standard.policy:{line}:{col}")
}

/// The identifier-like tokens of a text (split on everything but alphanumerics,
/// `-`, `_` and `.`).
fn tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .filter(|t| !t.is_empty())
        .collect()
}

const GOLD_SECURITY_NO_LINES: &str = r#"
id: OPP-1001
stage: NegotiationClosing
fields:
  amount: 120000
  close_date: 2026-12-15
  product_family: Security
  region: NA
  budget_process: true
  decision_maker: "CFO Jane Roe"
  need: "replace the firewalls"
  timeline: 2026-12-31
  demo_completed: 2026-10-01
  proposal_sent: 2026-10-15
  po_number: PO-1
partner: { id: P-ACME, name: Acme Networks, tier: Gold }
account: { id: A-100, domain: globex.com, owner: channel, industry: Commercial }
registration: { id: R-1, partner_id: P-ACME, status: approved, submitted_at: 2026-09-01T10:00:00Z, approved_at: 2026-09-02T10:00:00Z }
"#;

#[test]
fn commission_without_line_items_reads_item_fields_from_the_opportunity() {
    let p = policy();
    let d = decide(&p, GOLD_SECURITY_NO_LINES, "close_won", "", "vendor");
    assert_eq!(d.outcome, Outcome::Approved);
    // (Gold, [Security, Cloud]) 10% of 120_000, not (Gold, _) 8%.
    assert_eq!(d.effects.amounts["commission"], "12000.00");
    // Rows count from 1: `(Gold, [Security, Cloud]) 10%` is the second row.
    let row = reason(&d, "commission.rate.row[2]");
    assert_eq!(row.outcome, RuleOutcome::Pass);
    assert_eq!(
        row.location.to_string(),
        location_of("(Gold, [Security, Cloud]) 10%")
    );
    assert_eq!(
        row.values.get("item.product_family").as_deref(),
        Some("Security")
    );
    assert!(
        row.message
            .starts_with("the opportunity: row 2 matches, rate 10%"),
        "{}",
        row.message
    );
    let line = &d.effects.commission.as_ref().unwrap().lines[0];
    assert_eq!((line.line, line.amount.as_str()), (0, "120000.00"));
    // The implicit line has quantity 1: the volume rebate (quantity >= 100) is
    // skipped, and its skip reason shows the value it read.
    let volume = reason(&d, "commission.rebate.volume_bonus");
    assert_eq!(volume.outcome, RuleOutcome::Skip);
    assert_eq!(volume.values.get("item.quantity").as_deref(), Some("1"));
}

#[test]
fn commission_preview_without_line_items_uses_the_same_rate() {
    let p = policy();
    let d = decide(&p, GOLD_SECURITY_NO_LINES, "evaluate", "", "vendor");
    assert_eq!(d.effects.amounts["commission"], "12000.00");
}

#[test]
fn implicit_line_takes_only_compatible_values() {
    // The opportunity's `family` enum has a variant (`Hardware`) the line-item enum
    // lacks: that value reads as missing on the line; `Cloud` exists in both.
    let src = r#"policy "Lines" version "1" { currency USD }
record opportunity {
  amount: money
  family: enum { Hardware, Cloud }
  product: integer
}
record partner { tier: enum { Silver, Gold } }
record line_item {
  product: text
  family: enum { Cloud, Services }
  quantity: integer
  price: money
}
stage Open { probability 10% forecast pipeline }
won stage Won { probability 100% forecast closed }
lost stage Lost { probability 0% forecast omitted }
flow {
  Open -> Won
  any -> Lost
}
commission {
  rate by (item.family, item.product) first match {
    (Cloud, _) 10%
    (_, _) 5%
  }
  rebate big 1% when item.price >= 100_000 USD and item.quantity == 1
}
"#;
    let p = compile("lines.policy", src);
    let deal = |family: &str| {
        format!(
            "id: OPP-1\nstage: Open\nfields: {{ amount: 200000, family: {family}, product: 7 }}\n\
             partner: {{ id: P-1, tier: Gold }}\nregistration: {{ id: R-1, partner_id: P-1, status: approved, submitted_at: 2026-09-01T10:00:00Z, approved_at: 2026-09-02T10:00:00Z }}"
        )
    };
    let d = decide(&p, &deal("Cloud"), "close_won", "", "vendor");
    assert_eq!(d.effects.amounts["commission"], "20000.00");
    assert_eq!(d.effects.amounts["rebate.big"], "2000.00");
    let row = reason(&d, "commission.rate.row[1]");
    // `product` is an integer on the opportunity but text on the line: not copied.
    assert_eq!(row.values.get("item.product").as_deref(), Some("(missing)"));
    let d = decide(&p, &deal("Hardware"), "close_won", "", "vendor");
    assert_eq!(d.effects.amounts["commission"], "10000.00");
    let row = reason(&d, "commission.rate.row[2]");
    assert_eq!(row.values.get("item.family").as_deref(), Some("(missing)"));
}

const LEAD_PARTNERS: &str = r#"
partners:
  - { id: P-1, name: Alpha, tier: Gold, territories: [NA], specializations: [Security], win_rate: 30% }
  - { id: P-2, name: Beta, tier: Platinum, territories: [NA], specializations: [Security], win_rate: 20% }
  - { id: P-3, name: Gamma, tier: Gold, territories: [EMEA], specializations: [Security] }
"#;

const SOME_DEAL: &str = "id: OPP-7\nstage: Identification\nfields: { amount: 1000 }";

#[test]
fn prefer_reason_is_located_at_the_prefer_rule() {
    let p = policy();
    let ctx = format!(
        "{LEAD_PARTNERS}lead: {{ id: L-1, region: NA, product_family: Security, budget_confirmed: true, score: 3.0 }}\n"
    );
    let d = decide(&p, SOME_DEAL, "route_lead", &ctx, "vendor");
    assert_eq!(d.outcome, Outcome::Routed);
    let prefer = reason(&d, "leads.prefer");
    assert_eq!(prefer.outcome, RuleOutcome::Pass);
    assert_eq!(
        &*prefer.location,
        location_of("prefer partner.tier desc").as_str()
    );
    assert_eq!(prefer.message, "2 eligible partner(s) ranked: P-2, P-1");
    let catalogued = p
        .rule_ids()
        .into_iter()
        .find(|r| r.id == "leads.prefer")
        .unwrap();
    assert_eq!(catalogued.location, location_of("prefer partner.tier desc"));
}

#[test]
fn denied_route_skips_ranking_acceptance_and_conversion() {
    let p = policy();
    let ctx = format!(
        "{LEAD_PARTNERS}lead: {{ id: L-2, region: APAC, product_family: Security, budget_confirmed: true, score: 3.0 }}\n"
    );
    let d = decide(&p, SOME_DEAL, "route_lead", &ctx, "vendor");
    assert_eq!(d.outcome, Outcome::Denied);
    for rule in ["leads.prefer", "leads.accept", "leads.convert"] {
        let r = reason(&d, rule);
        assert_eq!(r.outcome, RuleOutcome::Skip, "{rule}: {}", r.message);
        assert!(
            r.message.contains("no partner is eligible") || r.message.contains("not routed"),
            "{rule}: {}",
            r.message
        );
    }
    let routing = d.effects.routing.as_ref().unwrap();
    assert_eq!(routing.eligible_count, Some(0));
    assert_eq!(routing.excluded_count, Some(3));
    assert_eq!(routing.accept_by, None);
    assert_eq!(routing.reroute_at_most, None);
    assert_eq!(routing.convert_to, None);
    assert!(d.failed().any(|r| r.rule.starts_with("leads.route")));
}

const P1_CONTEXT: &str = r#"
partners:
  - { id: P-1, name: Acme, tier: Gold, territories: [NA], specializations: [Security] }
registrations:
  - { id: OPP-9, stage: Qualification, partner: { id: P-1, name: Acme, tier: Silver }, account: { id: A-900, domain: initech.com }, fields: { product_family: Security, amount: 50000 }, registration: { id: R-9, partner_id: P-1, status: approved, submitted_at: 2026-10-01T10:00:00Z, protected_until: 2027-01-29T10:00:00Z } }
"#;

const ACME_QUALIFIED: &str = r#"
id: OPP-1001
stage: Qualification
fields: { amount: 120000, close_date: 2026-12-15, product_family: Security, region: NA }
partner: { id: P-ACME, name: Acme Networks, tier: Gold, territories: [NA], specializations: [Security] }
account: { id: A-100, domain: globex.com, owner: channel, industry: Commercial }
"#;

#[test]
fn redaction_replaces_whole_tokens_only_and_keeps_the_viewers_ids() {
    let p = policy();
    let d = decide(&p, ACME_QUALIFIED, "register", P1_CONTEXT, "partner:P-ACME");
    assert_eq!(d.outcome, Outcome::Approved);
    // `P-1` is a foreign id, but `OPP-1001` is the viewer's own deal.
    assert_eq!(d.opportunity.as_deref(), Some("OPP-1001"));
    let json = d.to_json_pretty();
    assert!(!json.contains("OP[redacted]"), "{json}");
    assert!(json.contains("OPP-1001"), "{json}");
}

#[test]
fn partner_view_has_no_foreign_token_even_where_ids_overlap() {
    let p = policy();
    let lead = "lead: { id: L-1, region: NA, product_family: Security, budget_confirmed: true, score: 3.0 }\n";
    let ctx = format!("{P1_CONTEXT}{lead}");
    // route_lead names excluded/ranked partners; the vendor sees P-1 and Acme.
    let vendor = decide(&p, ACME_QUALIFIED, "route_lead", &ctx, "vendor").to_json_pretty();
    assert!(tokens(&vendor).contains(&"P-1"), "{vendor}");
    let mine = ctx.replace(
        "partners:\n",
        "partners:\n  - { id: P-ACME, name: Acme Networks, tier: Gold, territories: [NA], specializations: [Security] }\n",
    );
    for action in [
        "register",
        "evaluate",
        "route_lead",
        "advance SolutionDevelopment",
        "close_won",
    ] {
        let d = decide(&p, ACME_QUALIFIED, action, &mine, "partner:P-ACME");
        let json = d.to_json_pretty();
        let toks = tokens(&json);
        for secret in ["P-1", "OPP-9", "R-9"] {
            assert!(!toks.contains(&secret), "{action}: `{secret}` in {json}");
        }
        // The other partner's name `Acme` is redacted where it stands alone, but the
        // viewer's own name `Acme Networks` is never touched.
        assert!(!json.contains("[redacted] Networks"), "{action}: {json}");
        if action == "route_lead" {
            assert!(json.contains("Acme Networks"), "{json}");
            assert!(!json.contains("\"Acme\""), "{json}");
        }
    }
}

const EXTENDABLE: &str = r#"
id: OPP-5
stage: Qualification
fields: { amount: 120000, close_date: 2026-12-15, product_family: Security, region: NA, budget_process: true, decision_maker: CFO, need: firewalls, timeline: 2026-12-31 }
partner: { id: P-ACME, tier: Gold }
account: { id: A-100, domain: globex.com, owner: channel, industry: Commercial }
"#;

fn with_registration(extra: &str) -> String {
    format!(
        "{EXTENDABLE}registration: {{ id: R-5, partner_id: P-ACME, status: approved, submitted_at: 2026-09-01T10:00:00Z, approved_at: 2026-09-02T10:00:00Z{extra} }}\n"
    )
}

#[test]
fn advancing_extends_a_running_protection() {
    let p = policy();
    let d = decide(
        &p,
        &with_registration(""),
        "advance SolutionDevelopment",
        "",
        "vendor",
    );
    assert_eq!(d.outcome, Outcome::Approved);
    let ext = reason(&d, "registration.extend");
    assert_eq!(ext.outcome, RuleOutcome::Pass);
    assert_eq!(
        &*ext.location,
        location_of("extend 30d on advance").as_str()
    );
    // Approved 2026-09-02T10:00Z + 120d = 2026-12-31T10:00Z, + 30d = 2027-01-30.
    assert!(
        ext.message
            .contains("from 2026-12-31T10:00:00Z to 2027-01-30T10:00:00Z"),
        "{}",
        ext.message
    );
    let reg = d.effects.registration.as_ref().unwrap();
    assert_eq!(reg.protected_until.as_deref(), Some("2027-01-30T10:00:00Z"));
    assert_eq!(reg.extensions, Some(1));
    assert!(p.rule_ids().iter().any(|r| r.id == "registration.extend"));
}

#[test]
fn no_extension_past_the_limit_or_after_expiry() {
    let p = policy();
    let at_max = decide(
        &p,
        &with_registration(", extensions: 2"),
        "advance SolutionDevelopment",
        "",
        "vendor",
    );
    assert_eq!(at_max.outcome, Outcome::Approved);
    let r = reason(&at_max, "registration.extend");
    assert_eq!(r.outcome, RuleOutcome::Skip);
    assert!(r.message.contains("the most allowed is 2"), "{}", r.message);
    assert_eq!(at_max.effects.registration, None);

    let expired = decide(
        &p,
        &with_registration(", protected_until: 2026-11-01T10:00:00Z"),
        "advance SolutionDevelopment",
        "",
        "vendor",
    );
    let r = reason(&expired, "registration.extend");
    assert_eq!(r.outcome, RuleOutcome::Skip);
    assert!(r.message.contains("expired"), "{}", r.message);
    assert_eq!(expired.effects.registration, None);

    // A denied advance (or a deal without an approved registration) extends nothing.
    let denied = decide(
        &p,
        &with_registration(""),
        "advance NegotiationClosing",
        "",
        "vendor",
    );
    assert_eq!(denied.outcome, Outcome::Denied);
    assert!(reasons(&denied, "registration.extend").is_empty());
    let unregistered = decide(&p, EXTENDABLE, "advance ClosedLost", "", "vendor");
    assert!(reasons(&unregistered, "registration.extend").is_empty());
}

/// A Gold deal with a 100-unit line (the volume rebate applies) and an influencer
/// sharing the commission 70/30.
const GOLD_VOLUME_WITH_INFLUENCER: &str = r#"
id: OPP-1002
stage: NegotiationClosing
fields:
  amount: 20000
  close_date: 2026-12-15
  product_family: Security
  region: NA
  influencer: P-INF
  budget_process: true
  decision_maker: "CFO Jane Roe"
  need: "replace the firewalls"
  timeline: 2026-12-31
  demo_completed: 2026-10-01
  proposal_sent: 2026-10-15
  po_number: PO-1
line_items:
  - { product: FW-1, product_family: Security, quantity: 100, price: 200 }
partner: { id: P-ACME, name: Acme Networks, tier: Gold }
account: { id: A-100, domain: globex.com, owner: channel, industry: Commercial }
registration: { id: R-1, partner_id: P-ACME, status: approved, submitted_at: 2026-09-01T10:00:00Z, approved_at: 2026-09-02T10:00:00Z }
"#;

/// Rebates go in full to the registering partner, outside the split, and the
/// decision says so in the commission effect and in every rebate reason.
#[test]
fn rebates_name_their_recipient_and_stay_outside_the_split() {
    let p = policy();
    let d = decide(&p, GOLD_VOLUME_WITH_INFLUENCER, "close_won", "", "vendor");
    assert_eq!(d.outcome, Outcome::Approved, "{}", d.to_json_pretty());
    let cm = d.effects.commission.as_ref().unwrap();
    assert_eq!(cm.rebate_partner.as_deref(), Some("P-ACME"));
    // 1% of 20,000; the split shares only the 10% commission (2,000).
    assert_eq!(d.effects.amounts["rebate.volume_bonus"], "200.00");
    assert_eq!(cm.total, "2000.00");
    let shares: Vec<(&str, &str)> = cm
        .shares
        .iter()
        .map(|s| (s.partner.as_str(), s.amount.as_str()))
        .collect();
    assert_eq!(shares, [("P-ACME", "1400.00"), ("P-INF", "600.00")]);
    let r = reason(&d, "commission.rebate.volume_bonus");
    assert_eq!(r.outcome, RuleOutcome::Pass);
    assert!(
        r.message
            .ends_with("= 200.00 USD; paid to the registering partner `P-ACME`, outside the split"),
        "{}",
        r.message
    );
    // The influencer asking about the registering partner's deal is shown nothing of
    // it (a partner sees decisions on its own deals only), so not who gets the rebate.
    let d = decide(
        &p,
        GOLD_VOLUME_WITH_INFLUENCER,
        "close_won",
        "",
        "partner:P-INF",
    );
    assert_eq!(d.outcome, Outcome::Error);
    assert!(d.effects.commission.is_none());
    assert!(!d.to_json_pretty().contains("P-ACME"));
}

#[test]
fn rebates_of_an_unattributed_deal_are_not_paid_and_say_why() {
    let p = policy();
    // Approved after the close: not attributed.
    let rec = GOLD_VOLUME_WITH_INFLUENCER.replace(
        "approved_at: 2026-09-02T10:00:00Z",
        "approved_at: 2026-11-28T10:00:00Z",
    );
    let d = decide(&p, &rec, "close_won", "", "vendor");
    let cm = d.effects.commission.as_ref().unwrap();
    assert!(!cm.attributed);
    assert_eq!(cm.rebate_partner, None);
    assert_eq!(d.effects.amounts["rebate"], "0.00");
    let r = reason(&d, "commission.rebate.volume_bonus");
    assert!(r.message.contains("; not paid: "), "{}", r.message);
}
