//! What a partner sees: for generated records and contexts (the viewer owning the deal
//! or not, registrations of other partners, lead routing among several partners) and
//! every action, a partner's view of a decision never holds another partner's id,
//! name, tier, territories, specializations, win rate or deal amounts, nor the ids of
//! its deals and registrations, beyond what the viewer itself owns. Plus regression
//! tests for the ways this once leaked (route_lead exclusions and ranking, the
//! "offered to" of a partner that was not chosen).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test harness"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Decision, Outcome, Policy, RuleOutcome};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value as Json};

const SRC: &str = include_str!("../../../policies/channel-standard.policy");

/// Ids and names that occur nowhere else (not inside each other, the policy or
/// ordinary words).
const PARTNERS: [(&str, &str); 4] = [
    ("PV-3181", "Orvanta Grid"),
    ("PV-5524", "Keltrix Labs"),
    ("PV-7090", "Dumora Works"),
    ("PV-8836", "Sylvane Partners"),
];
const TIERS: [&str; 4] = ["Registered", "Silver", "Gold", "Platinum"];
const REGIONS: [&str; 4] = ["NA", "EMEA", "APAC", "LATAM"];
const FAMILIES: [&str; 4] = ["Core", "Security", "Analytics", "Cloud"];
const STAGES: [&str; 7] = [
    "Identification",
    "Qualification",
    "SolutionDevelopment",
    "ProposalEvaluation",
    "NegotiationClosing",
    "ClosedWon",
    "ClosedLost",
];
const STATUSES: [&str; 5] = ["none", "pending", "approved", "rejected", "expired"];
/// Amounts of deals the viewer does not own: digits found nowhere else.
const FOREIGN_AMOUNT: u32 = 83_641;
const OTHER_REG_AMOUNT: u32 = 91_357;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::compile(&SourceFile::new("channel-standard.policy", SRC))
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// One partner's attributes (as the context's `partners` or a record's `partner`).
#[derive(Clone, Debug)]
struct Attrs {
    tier: usize,
    territories: Vec<usize>,
    specializations: Vec<usize>,
    win_rate: u32,
}

impl Attrs {
    fn json(&self, i: usize) -> Json {
        json!({
            "id": PARTNERS[i].0, "name": PARTNERS[i].1, "tier": TIERS[self.tier],
            "territories": self.territories.iter().map(|r| REGIONS[*r]).collect::<Vec<_>>(),
            "specializations": self.specializations.iter().map(|f| FAMILIES[*f]).collect::<Vec<_>>(),
            "win_rate": format!("{}%", self.win_rate),
        })
    }

    /// The values a reason shows for this partner, by name.
    fn shown(&self) -> [(&'static str, String); 4] {
        let list = |xs: &[usize], names: &[&str]| {
            format!(
                "[{}]",
                xs.iter().map(|x| names[*x]).collect::<Vec<_>>().join(", ")
            )
        };
        [
            ("partner.tier", TIERS[self.tier].to_string()),
            ("partner.territories", list(&self.territories, &REGIONS)),
            (
                "partner.specializations",
                list(&self.specializations, &FAMILIES),
            ),
            ("partner.win_rate", format!("{}%", self.win_rate)),
        ]
    }
}

#[derive(Clone, Debug)]
struct Scenario {
    action: Action,
    now: DateTime<Utc>,
    viewer: usize,
    /// The deal's partner (`None`: the deal has none).
    owner: Option<usize>,
    /// The partner holding the deal's registration, if it has one.
    holder: Option<usize>,
    /// Attributes per partner: on the record (for the owner) and in `partners`.
    attrs: Vec<Attrs>,
    record: Json,
    context: Json,
}

impl Scenario {
    fn viewer_owns_the_deal(&self) -> bool {
        self.owner.is_none_or(|o| o == self.viewer) && self.holder.is_none_or(|h| h == self.viewer)
    }

    fn decide(&self, audience: &Audience) -> Decision {
        let p = policy();
        let r = p
            .parse_record_value(&self.record)
            .unwrap_or_else(|e| panic!("{e}\n{:#}", self.record));
        let c = p
            .parse_context_value(&self.context)
            .unwrap_or_else(|e| panic!("{e}\n{:#}", self.context));
        p.decide(&r, &self.action, &c, self.now, audience)
    }
}

fn attrs() -> impl Strategy<Value = Attrs> {
    (
        0..TIERS.len(),
        prop::sample::subsequence(vec![0usize, 1, 2, 3], 1..3),
        prop::sample::subsequence(vec![0usize, 1, 2, 3], 1..3),
        1u32..9,
    )
        .prop_map(|(tier, territories, specializations, w)| Attrs {
            tier,
            territories,
            specializations,
            win_rate: w * 10 + 3,
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0..STAGES.len()).prop_map(|s| format!("advance {}", STAGES[s])),
        Just("register".to_string()),
        Just("evaluate".to_string()),
        Just("close_won".to_string()),
        Just("close_lost".to_string()),
        Just("route_lead".to_string()),
    ]
    .prop_map(|a| a.parse().unwrap())
}

prop_compose! {
    fn scenario()(
        action in action(),
        days in 0i64..30,
        viewer in 0..PARTNERS.len(),
        owner in prop::option::weighted(0.9, 0..PARTNERS.len()),
        holder in prop::option::weighted(0.6, 0..PARTNERS.len()),
        status in 0..STATUSES.len(),
        attrs in prop::collection::vec(attrs(), PARTNERS.len()),
        stage in 0..STAGES.len(),
        family in 0..FAMILIES.len(),
        region in 0..REGIONS.len(),
        amount in 1_000u32..400_000,
        influencer in prop::option::weighted(0.4, 0..PARTNERS.len()),
        evidence in prop::collection::vec(any::<bool>(), 7),
        others in prop::collection::vec((0..PARTNERS.len(), 0..STATUSES.len(), 1i64..2000, any::<bool>()), 0..3),
        routed in prop::sample::subsequence(vec![0usize, 1, 2, 3], 0..5),
        lead in (0..REGIONS.len(), 0..FAMILIES.len(), any::<bool>()),
        same_domain in any::<bool>(),
    ) -> Scenario {
        let now: DateTime<Utc> = "2026-11-02T15:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::days(days);
        let at = |h: i64| (now - Duration::hours(h)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let viewer_owns = owner.is_none_or(|o| o == viewer) && holder.is_none_or(|h| h == viewer);
        let mut fields = serde_json::Map::new();
        let amount = if viewer_owns { amount } else { FOREIGN_AMOUNT };
        fields.insert("amount".into(), json!(amount));
        fields.insert("close_date".into(), json!((now + Duration::days(20)).date_naive().to_string()));
        fields.insert("product_family".into(), json!(FAMILIES[family]));
        fields.insert("region".into(), json!(REGIONS[region]));
        if let Some(i) = influencer {
            fields.insert("influencer".into(), json!(PARTNERS[i].0));
        }
        let names = ["budget_process", "decision_maker", "need", "timeline", "demo_completed", "proposal_sent", "po_number"];
        for (name, present) in names.iter().zip(&evidence) {
            if *present {
                let v = match *name {
                    "budget_process" => json!(true),
                    "timeline" | "demo_completed" | "proposal_sent" => json!(now.date_naive().to_string()),
                    _ => json!(format!("{name} noted")),
                };
                fields.insert((*name).into(), v);
            }
        }
        let mut record = json!({
            "id": "OPP-PV-MAIN",
            "stage": STAGES[stage],
            "fields": fields,
            "account": {"id": "A-1", "domain": "globex.com", "owner": "channel", "industry": "Commercial"},
            "line_items": [{"product": "Box", "product_family": FAMILIES[family], "quantity": 3, "price": 1200}],
            "history": [{"at": at(900), "type": "created"}],
        });
        if let Some(o) = owner {
            record["partner"] = attrs[o].json(o);
        }
        if let Some(h) = holder {
            let mut g = json!({
                "id": "REG-PV-MAIN", "partner_id": PARTNERS[h].0, "status": STATUSES[status],
                "submitted_at": at(400),
            });
            if STATUSES[status] == "approved" {
                g["approved_at"] = json!(at(300));
            }
            record["registration"] = g;
        }
        let registrations: Vec<Json> = others.iter().enumerate().map(|(i, (p, st, hours, protected))| {
            let mut g = json!({
                "id": format!("REG-PV-Q{i}"), "partner_id": PARTNERS[*p].0,
                "status": STATUSES[*st], "submitted_at": at(*hours),
            });
            if *protected {
                g["protected_until"] = json!((now + Duration::days(40)).to_rfc3339_opts(SecondsFormat::Secs, true));
            }
            json!({
                "id": format!("OPP-PV-Q{i}"), "stage": "Qualification",
                "partner": attrs[*p].json(*p),
                "account": {"id": format!("A-Q{i}"), "domain": if same_domain { "globex.com" } else { "initech.com" }},
                "fields": {"product_family": FAMILIES[family], "amount": OTHER_REG_AMOUNT + i as u32},
                "registration": g,
            })
        }).collect();
        let (lr, lf, budget) = lead;
        let context = json!({
            "registrations": registrations,
            "partners": routed.iter().map(|i| attrs[*i].json(*i)).collect::<Vec<_>>(),
            "lead": {"id": "L-PV-1", "region": REGIONS[lr], "product_family": FAMILIES[lf],
                     "budget_confirmed": budget, "score": "3.0"},
        });
        Scenario { action, now, viewer, owner, holder, attrs, record, context }
    }
}

/// Identifier-like tokens of a text.
fn tokens(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .filter(|t| !t.is_empty())
        .collect()
}

fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every way `s`'s partner view may leak: `Err` names the first leak found.
fn check_partner_view(s: &Scenario, d: &Decision) -> Result<(), String> {
    let json = d.to_json_pretty();
    let toks = tokens(&json);
    let (vid, vname) = PARTNERS[s.viewer];
    for (i, (id, name)) in PARTNERS.iter().enumerate() {
        if i == s.viewer {
            continue;
        }
        if toks.contains(id) {
            return Err(format!("another partner's id `{id}`"));
        }
        // A name leaks as a phrase (the viewer's name never contains another's).
        if json.contains(name) && !vname.contains(name) {
            return Err(format!("another partner's name `{name}`"));
        }
    }
    let regs = s.context["registrations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, reg) in regs.iter().enumerate() {
        if reg["partner"]["id"] == vid {
            continue; // the viewer's own deal
        }
        for secret in [format!("OPP-PV-Q{i}"), format!("REG-PV-Q{i}")] {
            if toks.contains(secret.as_str()) {
                return Err(format!("another partner's deal `{secret}`"));
            }
        }
        let amount = (OTHER_REG_AMOUNT + i as u32).to_string();
        if json.contains(&amount) {
            return Err(format!("another partner's deal amount {amount}"));
        }
    }
    if !s.viewer_owns_the_deal() {
        for secret in ["OPP-PV-MAIN", "REG-PV-MAIN", "83641", "83,641"] {
            if json.contains(secret) {
                return Err(format!("the other partner's deal: `{secret}`"));
            }
        }
    }
    if s.holder.is_some_and(|h| h != s.viewer) && toks.contains("REG-PV-MAIN") {
        return Err("another partner's registration id".into());
    }
    if let Some(leak) = foreign_attribute(s, d) {
        return Err(leak);
    }
    if let Some(r) = &d.effects.routing {
        if r.ranked.iter().any(|p| p.partner != vid) || r.excluded.iter().any(|p| p.partner != vid)
        {
            return Err("another partner's routing entry".into());
        }
        if r.eligible_count.is_some() || r.excluded_count.is_some() {
            return Err("the routing counts".into());
        }
    }
    Ok(())
}

/// A partner attribute shown in a reason that is not the viewer's own: the viewer
/// owns those of its entry in the context's partners and of the deal's partner when
/// that is the viewer.
fn foreign_attribute(s: &Scenario, d: &Decision) -> Option<String> {
    let mut own: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let routed: Vec<usize> = s.context["partners"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| PARTNERS.iter().position(|(id, _)| p["id"] == *id))
                .collect()
        })
        .unwrap_or_default();
    let mine = routed.contains(&s.viewer) || s.owner == Some(s.viewer);
    if mine {
        for (k, v) in s.attrs[s.viewer].shown() {
            own.entry(k).or_default().insert(v);
        }
    }
    for r in &d.reasons {
        for (k, v) in r.values.iter() {
            if !k.starts_with("partner.") {
                continue;
            }
            let v = v.to_string();
            if v == "(missing)" {
                continue;
            }
            if !own.get(k).is_some_and(|vs| vs.contains(&v)) {
                return Some(format!(
                    "`{k} = {v}` in {} is not the viewer's own (it owns {own:?})",
                    r.rule
                ));
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn a_partner_view_never_shows_another_partners_data(s in scenario()) {
        let d = s.decide(&Audience::Partner(PARTNERS[s.viewer].0.to_string()));
        if let Err(leak) = check_partner_view(&s, &d) {
            prop_assert!(false, "{} leaks into the view of {}:\n{}", leak, PARTNERS[s.viewer].0, d.to_json_pretty());
        }
        // The vendor sees the deal as it is, whoever owns it.
        let vendor = s.decide(&Audience::Vendor);
        if s.action != Action::RouteLead && !s.viewer_owns_the_deal() {
            prop_assert_eq!(d.outcome, Outcome::Error);
            prop_assert_ne!(vendor.outcome, Outcome::Error);
        }
    }
}

#[test]
fn the_generator_reaches_leaky_situations() {
    // Guards the property: the vendor view of the same scenarios does contain other
    // partners' ids, tiers read from other partners and other deals' amounts.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut foreign_attr, mut foreign_id, mut not_owned, mut routed) = (0, 0, 0, 0);
    for _ in 0..400 {
        let s = scenario().new_tree(&mut runner).unwrap().current();
        let d = s.decide(&Audience::Vendor);
        foreign_attr += usize::from(foreign_attribute(&s, &d).is_some());
        foreign_id += usize::from(
            check_partner_view(&s, &d).is_err_and(|e| e.starts_with("another partner's id")),
        );
        not_owned += usize::from(!s.viewer_owns_the_deal());
        routed += usize::from(d.outcome == Outcome::Routed);
    }
    assert!(foreign_attr >= 10, "{foreign_attr}");
    assert!(foreign_id >= 20, "{foreign_id}");
    assert!(not_owned >= 40, "{not_owned}");
    assert!(routed >= 10, "{routed}");
}

const ROUTE_CTX: &str = r#"
partners:
  - { id: PV-3181, name: Orvanta Grid, tier: Platinum, territories: [NA], specializations: [Security], win_rate: 40% }
  - { id: PV-5524, name: Keltrix Labs, tier: Gold, territories: [NA], specializations: [Security], win_rate: 30% }
  - { id: PV-7090, name: Dumora Works, tier: Gold, territories: [EMEA], specializations: [Security], win_rate: 20% }
lead: { id: L-9, region: NA, product_family: Security, budget_confirmed: true, score: 3.0 }
"#;

fn route(audience: &str) -> Decision {
    let p = policy();
    let c = p.parse_context_yaml(ROUTE_CTX).unwrap();
    p.route_lead(
        &c,
        "2026-11-27T15:00:00Z".parse().unwrap(),
        &audience.parse().unwrap(),
    )
}

#[test]
fn a_partner_that_was_not_chosen_sees_its_own_standing_only() {
    let d = route("partner:PV-5524");
    assert_eq!(d.outcome, Outcome::Routed);
    let r = d.effects.routing.as_ref().unwrap();
    assert_eq!(r.ranked.len(), 1);
    assert_eq!(
        (r.ranked[0].partner.as_str(), r.ranked[0].rank),
        ("PV-5524", 2)
    );
    let prefer = d.reasons.iter().find(|r| r.rule == "leads.prefer").unwrap();
    assert_eq!(
        prefer.message,
        "partner `PV-5524` is eligible but ranks 2; the lead is offered to another partner"
    );
    // No reason about the other two partners at all, not even redacted.
    assert!(
        d.reasons
            .iter()
            .filter(|r| r.rule.starts_with("leads.route"))
            .all(|r| r.message.contains("PV-5524")),
        "{}",
        d.to_json_pretty()
    );
    assert!(!d.to_json_pretty().contains("[redacted]"));
}

#[test]
fn an_excluded_partner_sees_its_own_exclusion_only() {
    let d = route("partner:PV-7090");
    let r = d.effects.routing.as_ref().unwrap();
    assert!(r.ranked.is_empty());
    assert_eq!(r.excluded.len(), 1);
    assert_eq!(
        r.excluded[0].reason,
        "the partner does not cover the lead's region"
    );
    let failed: Vec<_> = d.failed().collect();
    assert_eq!(failed.len(), 1, "{}", d.to_json_pretty());
    assert_eq!(
        failed[0].message,
        "partner `PV-7090` is excluded: the partner does not cover the lead's region"
    );
    assert_eq!(
        failed[0].values.get("partner.territories").as_deref(),
        Some("[EMEA]")
    );
    let prefer = d.reasons.iter().find(|r| r.rule == "leads.prefer").unwrap();
    assert_eq!(
        prefer.message,
        "partner `PV-7090` is not eligible, so it is not ranked"
    );
    // A partner that is not a candidate at all is told so.
    let d = route("partner:PV-8836");
    assert!(d.effects.routing.as_ref().unwrap().ranked.is_empty());
    assert!(d.reasons.iter().any(|r| r.outcome == RuleOutcome::Skip
        && r.message == "partner `PV-8836` is not among the partners considered for the lead"));
}

#[test]
fn the_vendor_sees_every_exclusion_worded_from_the_rule() {
    let d = route("vendor");
    let r = d.effects.routing.as_ref().unwrap();
    assert_eq!((r.eligible_count, r.excluded_count), (Some(2), Some(1)));
    let order: Vec<_> = r.ranked.iter().map(|p| p.partner.as_str()).collect();
    assert_eq!(order, ["PV-3181", "PV-5524"]);
    assert_eq!(
        r.excluded[0].reason,
        "the partner does not cover the lead's region"
    );
    // route_lead needs no opportunity, and reads none when one is given.
    assert_eq!(d.opportunity, None);
    let p = policy();
    let deal = p
        .parse_record_yaml(
            "id: OPP-77\nstage: Qualification\nfields: { amount: 5000, region: EMEA }",
        )
        .unwrap();
    let c = p.parse_context_yaml(ROUTE_CTX).unwrap();
    let with_deal = p.decide(
        &deal,
        &Action::RouteLead,
        &c,
        "2026-11-27T15:00:00Z".parse().unwrap(),
        &Audience::Vendor,
    );
    assert_eq!(with_deal.to_json_pretty(), d.to_json_pretty());
}

#[test]
fn another_partners_deal_shows_nothing_of_it() {
    let p = policy();
    let deal = p
        .parse_record_yaml(
            "id: OPP-77\nstage: Qualification\nfields: { amount: 83641 }\n\
             partner: { id: PV-3181, name: Orvanta Grid, tier: Platinum }",
        )
        .unwrap();
    let d = p.decide(
        &deal,
        &Action::Evaluate,
        &Default::default(),
        "2026-11-27T15:00:00Z".parse().unwrap(),
        &"partner:PV-5524".parse().unwrap(),
    );
    assert_eq!(d.outcome, Outcome::Error);
    assert_eq!(d.opportunity, None);
    assert_eq!(d.reasons.len(), 1);
    assert_eq!(d.reasons[0].rule, "action.evaluate");
    let json = d.to_json_pretty();
    for secret in ["OPP-77", "83641", "PV-3181", "Orvanta", "Platinum"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
}
