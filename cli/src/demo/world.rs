//! The simulated program's cast, drawn once from the seeded generator: partners,
//! accounts (some owned by direct sales, a few CRM duplicates of others), the
//! opportunities partners will work and the inbound leads channel ops will submit.
//! Nothing here talks to the store: this is the plan the simulation then plays.

use chrono::{DateTime, NaiveDate, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::clock::Clock;

pub const FAMILIES: [&str; 4] = ["Core", "Security", "Analytics", "Cloud"];
pub const REGIONS: [&str; 4] = ["NA", "EMEA", "APAC", "LATAM"];
pub const TIERS: [&str; 4] = ["Registered", "Silver", "Gold", "Platinum"];

const PARTNER_PREFIXES: [&str; 20] = [
    "Acme",
    "Apex",
    "Blue Ridge",
    "Cedar",
    "Summit",
    "Northwind",
    "Ironclad",
    "Lighthouse",
    "Redwood",
    "Silverline",
    "Harbor",
    "Keystone",
    "Pinnacle",
    "Granite",
    "Evergreen",
    "Vertex",
    "Orbit",
    "Meridian",
    "Cobalt",
    "Beacon",
];
const PARTNER_SUFFIXES: [&str; 8] = [
    "Networks",
    "Systems",
    "Solutions",
    "IT",
    "Technologies",
    "Integrators",
    "Consulting",
    "Secure",
];
const ACCOUNT_STEMS: [&str; 24] = [
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Oscorp",
    "Aperture",
    "Monarch",
    "Nakatomi",
    "Virtucon",
    "Dunder",
    "Gekko",
    "Prestige",
    "Sirius",
    "Duff",
    "Krusty",
    "Pied Piper",
    "Wernham",
];
const ACCOUNT_KINDS: [&str; 6] = ["Health", "Bank", "Foods", "Logistics", "Energy", "Retail"];
const LEGAL: [&str; 5] = ["Inc.", "LLC", "Corp.", "GmbH", "Ltd"];
const COMPETITORS: [&str; 6] = [
    "Fortinet",
    "Palo Alto Networks",
    "Zscaler",
    "Cisco",
    "Check Point",
    "Sophos",
];
pub const LOSS_REASONS: [&str; 4] = [
    "price",
    "went with a competitor",
    "no decision",
    "budget cut",
];
const DECISION_MAKERS: [&str; 6] = [
    "CFO Dana Reyes",
    "CIO Sam Okafor",
    "CISO Priya Shah",
    "VP Operations Lee Park",
    "CTO Maria Rossi",
    "IT Director Tom Berg",
];
/// (product, family, list price in USD).
const PRODUCTS: [(&str, &str, i64); 8] = [
    ("Core Switch 9000", "Core", 18_000),
    ("Core Router Edge", "Core", 9_500),
    ("Firewall X", "Security", 30_000),
    ("Endpoint Shield (100 seats)", "Security", 4_000),
    ("Analytics Suite", "Analytics", 60_000),
    ("Insight Dashboards", "Analytics", 12_000),
    ("Cloud Gateway", "Cloud", 25_000),
    ("Cloud Backup (TB)", "Cloud", 300),
];

pub struct Partner {
    pub id: String,
    pub name: String,
    /// Index into [`TIERS`].
    pub tier: usize,
    pub territories: Vec<&'static str>,
    pub specializations: Vec<&'static str>,
    /// Percent, 10 to 60.
    pub win_rate: u32,
}

impl Partner {
    pub fn tier_name(&self) -> &'static str {
        TIERS.get(self.tier).copied().unwrap_or("Registered")
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "tier": self.tier_name(),
            "territories": self.territories,
            "specializations": self.specializations,
            "win_rate": format!("{}%", self.win_rate),
        })
    }
}

pub struct Account {
    pub id: String,
    pub name: String,
    pub domain: String,
    /// The CRM says `owner: direct`.
    pub owner_direct: bool,
    /// Direct sales owns it although the CRM says channel: `"direct": true` on upsert.
    pub direct_flag: bool,
    pub industry: &'static str,
    pub employees: u32,
    /// A CRM duplicate of another account (same customer, domain written differently).
    pub alias_of: Option<usize>,
}

impl Account {
    pub fn direct(&self) -> bool {
        self.owner_direct || self.direct_flag
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "domain": self.domain,
            "owner": if self.owner_direct { "direct" } else { "channel" },
            "industry": self.industry,
            "employees": self.employees,
        })
    }
}

/// How a deal ends (if the quarter is long enough for it to end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Won,
    /// Lost once it reaches this open stage (index into the pipeline).
    Lost(usize),
    /// Goes quiet once its registration is approved: the protection runs out.
    Stall,
    /// The partner withdraws its registration, then the deal is lost.
    Withdraw,
}

#[derive(Clone, Debug)]
pub struct LineItem {
    pub product: &'static str,
    pub family: &'static str,
    pub quantity: i64,
    pub price: i64,
}

impl LineItem {
    pub fn json(&self) -> Value {
        json!({ "product": self.product, "product_family": self.family, "quantity": self.quantity, "price": self.price })
    }
}

/// One opportunity as its partner will work it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub id: String,
    pub partner: usize,
    pub account: usize,
    pub family: &'static str,
    pub region: &'static str,
    pub line_items: Vec<LineItem>,
    /// Sum of the line items, USD.
    pub amount: i64,
    pub strategic: bool,
    pub competitors: Vec<&'static str>,
    pub influencer: Option<usize>,
    pub created: DateTime<Utc>,
    pub close_date: NaiveDate,
    pub fate: Fate,
    /// Stage gates (by target pipeline index, 5 = won, 6 = lost) the partner first
    /// tries without the evidence, then fixes what the denial names.
    pub sloppy_gates: [bool; 7],
    /// Tries Solution Development while its registration still waits for review.
    pub eager: bool,
    /// Line items are priced only before the proposal.
    pub priced_late: bool,
    /// A small deal that skips solution development and registers only when it is
    /// already in negotiation (a late registration).
    pub late_register: bool,
    /// Close-date pushes.
    pub pushes: u32,
    /// Business days per stage, scaled per deal (percent).
    pub pace: u32,
    pub decision_maker: &'static str,
    pub loss_reason: &'static str,
    /// Planted: another partner's deal on the same customer and product family.
    pub contested: bool,
}

impl Plan {
    /// Deals under 25,000 USD that are not strategic may skip solution development.
    pub fn small(&self) -> bool {
        self.amount < 25_000 && !self.strategic
    }
}

pub struct LeadPlan {
    pub id: String,
    pub region: &'static str,
    pub family: &'static str,
    pub budget_confirmed: bool,
    /// Score in tenths (0.0 to 5.0).
    pub score_tenths: u32,
    pub account: usize,
    pub at: DateTime<Utc>,
}

impl LeadPlan {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "region": self.region,
            "product_family": self.family,
            "budget_confirmed": self.budget_confirmed,
            "score": format!("{}.{}", self.score_tenths / 10, self.score_tenths % 10),
        })
    }
}

pub struct World {
    pub partners: Vec<Partner>,
    pub accounts: Vec<Account>,
    pub plans: Vec<Plan>,
    pub leads: Vec<LeadPlan>,
}

pub fn pick_str(rng: &mut ChaCha8Rng, items: &[&'static str]) -> &'static str {
    items.choose(rng).copied().unwrap_or("")
}

/// Index by weight.
pub fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().fold(0u32, |a, w| a.saturating_add(*w));
    let mut roll = rng.gen_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    0
}

fn gen_partners(rng: &mut ChaCha8Rng, n: usize) -> Vec<Partner> {
    let mut names: Vec<String> = PARTNER_PREFIXES
        .iter()
        .flat_map(|p| PARTNER_SUFFIXES.iter().map(move |s| format!("{p} {s}")))
        .collect();
    names.shuffle(rng);
    (0..n)
        .map(|i| {
            // The first four cover every tier, so that every path of the policy shows.
            let tier = match i {
                0 => 3,
                1 => 2,
                2 => 1,
                3 => 0,
                _ => weighted(rng, &[12, 40, 32, 16]),
            };
            let n_territories = rng.gen_range(1..=2);
            let mut territories: Vec<&str> = REGIONS
                .choose_multiple(rng, n_territories)
                .copied()
                .collect();
            territories.sort_unstable();
            let n_specializations = rng.gen_range(1..=3);
            let mut specializations: Vec<&str> = FAMILIES
                .choose_multiple(rng, n_specializations)
                .copied()
                .collect();
            specializations.sort_unstable();
            Partner {
                id: format!("P-{:03}", i + 1),
                name: names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("Partner {}", i + 1)),
                tier,
                territories,
                specializations,
                win_rate: rng.gen_range(10..=60),
            }
        })
        .collect()
}

fn gen_accounts(rng: &mut ChaCha8Rng, n: usize) -> Vec<Account> {
    let mut stems: Vec<(&str, &str)> = ACCOUNT_STEMS
        .iter()
        .flat_map(|s| ACCOUNT_KINDS.iter().map(move |k| (*s, *k)))
        .collect();
    stems.shuffle(rng);
    let mut accounts: Vec<Account> = (0..n)
        .map(|i| {
            let (stem, kind) = stems.get(i).copied().unwrap_or(("Account", "Group"));
            let industry = match kind {
                "Health" => "Healthcare",
                "Bank" => "Finance",
                _ if rng.gen_bool(0.06) => "Government",
                _ => "Commercial",
            };
            let slug = format!("{stem}-{kind}").to_lowercase().replace(' ', "");
            let slug = if i < stems.len() {
                slug
            } else {
                format!("{slug}{i}")
            };
            // About one account in ten belongs to direct sales: half of them say so in
            // the CRM, the other half are flagged when the account is loaded.
            let direct = rng.gen_bool(0.1);
            let owner_direct = direct && rng.gen_bool(0.5);
            Account {
                id: format!("A-{:03}", i + 1),
                name: format!("{stem} {kind}, {}", pick_str(rng, &LEGAL)),
                domain: format!("{slug}.com"),
                owner_direct,
                direct_flag: direct && !owner_direct,
                industry,
                employees: rng.gen_range(50..20_000),
                alias_of: None,
            }
        })
        .collect();
    // CRM duplicates: the same customer entered again, domain in another spelling.
    let n_aliases = (n / 20).max(1);
    let candidates: Vec<usize> = (0..accounts.len())
        .filter(|i| accounts.get(*i).is_some_and(|a| !a.direct()))
        .collect();
    for (k, of) in candidates
        .choose_multiple(rng, n_aliases)
        .copied()
        .enumerate()
    {
        let Some(base) = accounts.get(of) else {
            continue;
        };
        let stem = base
            .name
            .split(',')
            .next()
            .unwrap_or(base.name.as_str())
            .to_string();
        let alias = Account {
            id: format!("A-{:03}", n + k + 1),
            name: format!("{stem} ({})", pick_str(rng, &LEGAL)),
            domain: format!("www.{}", base.domain.to_uppercase()),
            owner_direct: false,
            direct_flag: false,
            industry: base.industry,
            employees: base.employees,
            alias_of: Some(of),
        };
        accounts.push(alias);
    }
    accounts
}

fn line_items(rng: &mut ChaCha8Rng, family: &'static str) -> Vec<LineItem> {
    let target: i64 = match weighted(rng, &[18, 45, 27, 10]) {
        0 => rng.gen_range(8_000..24_000),
        1 => rng.gen_range(25_000..150_000),
        2 => rng.gen_range(150_000..400_000),
        _ => rng.gen_range(400_000..900_000),
    };
    let own: Vec<&(&str, &str, i64)> = PRODUCTS.iter().filter(|p| p.1 == family).collect();
    let mut items = Vec::new();
    let mut left = target;
    for (i, (product, fam, price)) in own.iter().map(|p| **p).enumerate() {
        if left <= 0 || price <= 0 {
            break;
        }
        let quantity = if i + 1 == own.len() {
            (left / price).max(1)
        } else {
            (left / price / 2).max(1)
        };
        left = left.saturating_sub(quantity.saturating_mul(price));
        items.push(LineItem {
            product,
            family: fam,
            quantity,
            price,
        });
    }
    items
}

impl World {
    /// Draws the program. `created` instants fall on business days between the
    /// clock's start and three weeks before its end.
    pub fn generate(
        rng: &mut ChaCha8Rng,
        clock: &Clock<'_>,
        n_partners: usize,
        n_accounts: usize,
        n_opportunities: usize,
    ) -> World {
        let partners = gen_partners(rng, n_partners);
        let accounts = gen_accounts(rng, n_accounts);
        let days = clock.working_days_until_cutoff();
        let mut plans: Vec<Plan> = Vec::with_capacity(n_opportunities);
        for i in 0..n_opportunities {
            let plan = Self::plan(rng, clock, &days, &partners, &accounts, &plans, i);
            plans.push(plan);
        }
        let n_leads = (n_opportunities / 5).max(12);
        let leads = (0..n_leads)
            .map(|k| {
                let account = Self::channel_account(rng, &accounts);
                let day = days.choose(rng).copied();
                LeadPlan {
                    id: format!("L-{:03}", k + 1),
                    region: pick_str(rng, &REGIONS),
                    family: pick_str(rng, &FAMILIES),
                    budget_confirmed: rng.gen_bool(0.6),
                    score_tenths: rng.gen_range(10..=50),
                    account,
                    at: clock.at_local(day, rng.gen_range(9 * 60..16 * 60)),
                }
            })
            .collect();
        World {
            partners,
            accounts,
            plans,
            leads,
        }
    }

    /// A channel account that is not a CRM duplicate.
    fn channel_account(rng: &mut ChaCha8Rng, accounts: &[Account]) -> usize {
        let pool: Vec<usize> = accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.direct() && a.alias_of.is_none())
            .map(|(i, _)| i)
            .collect();
        pool.choose(rng).copied().unwrap_or(0)
    }

    fn plan(
        rng: &mut ChaCha8Rng,
        clock: &Clock<'_>,
        days: &[NaiveDate],
        partners: &[Partner],
        accounts: &[Account],
        earlier: &[Plan],
        i: usize,
    ) -> Plan {
        // Higher tiers bring more deals.
        let weights: Vec<u32> = partners
            .iter()
            .map(|p| [1, 3, 4, 4].get(p.tier).copied().unwrap_or(1))
            .collect();
        let partner = weighted(rng, &weights);
        let p = partners.get(partner);
        let scenario = weighted(rng, &[82, 11, 7]);
        // A contested deal: another partner works the same customer and family.
        let base = match scenario {
            1 => {
                let bases: Vec<&Plan> = earlier
                    .iter()
                    .filter(|b| b.partner != partner && !b.contested && !b.late_register)
                    .collect();
                bases.choose(rng).copied()
            }
            _ => None,
        };
        let (account, family, created) = match base {
            Some(b) => {
                let aliases: Vec<usize> = accounts
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.alias_of == Some(b.account))
                    .map(|(k, _)| k)
                    .collect();
                let account = match aliases.choose(rng) {
                    Some(a) if rng.gen_bool(0.6) => *a,
                    _ => b.account,
                };
                let created =
                    clock.after_business_minutes(b.created, rng.gen_range(4 * 60..12 * 8 * 60));
                (account, b.family, created)
            }
            None => {
                let account = if scenario == 2 {
                    let direct: Vec<usize> = accounts
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.direct())
                        .map(|(k, _)| k)
                        .collect();
                    direct
                        .choose(rng)
                        .copied()
                        .unwrap_or_else(|| Self::channel_account(rng, accounts))
                } else {
                    Self::channel_account(rng, accounts)
                };
                let mut account = account;
                let mut family = pick_str(rng, &FAMILIES);
                // Only planted contests share a customer and product family by design:
                // look for a pair nobody works yet.
                for _ in 0..12 {
                    family = match p.and_then(|p| p.specializations.choose(rng)) {
                        Some(f) if rng.gen_bool(0.8) => *f,
                        _ => pick_str(rng, &FAMILIES),
                    };
                    if scenario == 2
                        || !earlier
                            .iter()
                            .any(|b| b.account == account && b.family == family)
                    {
                        break;
                    }
                    account = Self::channel_account(rng, accounts);
                }
                let day = days.choose(rng).copied();
                (
                    account,
                    family,
                    clock.at_local(day, rng.gen_range(9 * 60..16 * 60 + 30)),
                )
            }
        };
        let region = p
            .and_then(|p| p.territories.choose(rng))
            .copied()
            .unwrap_or("NA");
        let line_items = line_items(rng, family);
        let amount = line_items.iter().fold(0i64, |a, li| {
            a.saturating_add(li.quantity.saturating_mul(li.price))
        });
        let strategic = rng.gen_bool(0.1);
        let n_competitors = weighted(rng, &[45, 40, 15]);
        let competitors: Vec<&str> = COMPETITORS
            .choose_multiple(rng, n_competitors)
            .copied()
            .collect();
        let influencer = if rng.gen_bool(0.08) {
            let k = rng.gen_range(0..partners.len().max(1));
            (k != partner).then_some(k)
        } else {
            None
        };
        let win = p.map_or(30, |p| p.win_rate).saturating_add(20);
        let fate = match weighted(rng, &[12, 4, 84]) {
            0 => Fate::Stall,
            1 => Fate::Withdraw,
            _ if rng.gen_range(0..100) < win => Fate::Won,
            _ => Fate::Lost(weighted(rng, &[15, 25, 25, 20, 15])),
        };
        let sloppy = rng.gen_bool(0.35);
        let mut sloppy_gates = [false; 7];
        for g in &mut sloppy_gates {
            *g = sloppy && rng.gen_bool(0.45);
        }
        let close_date = clock
            .date(created)
            .checked_add_days(chrono::Days::new(rng.gen_range(60..120)))
            .unwrap_or_else(|| clock.date(created));
        let mut plan = Plan {
            id: format!("OPP-{:04}", i + 1),
            partner,
            account,
            family,
            region,
            line_items,
            amount,
            strategic,
            competitors,
            influencer,
            created,
            close_date,
            fate,
            sloppy_gates,
            eager: rng.gen_bool(0.2),
            priced_late: rng.gen_bool(0.3),
            late_register: false,
            pushes: match weighted(rng, &[75, 15, 10]) {
                0 => 0,
                1 => 1,
                _ => 3,
            },
            pace: rng.gen_range(60..=140),
            decision_maker: pick_str(rng, &DECISION_MAKERS),
            loss_reason: pick_str(rng, &LOSS_REASONS),
            contested: base.is_some(),
        };
        plan.late_register = plan.small() && base.is_none() && rng.gen_bool(0.3);
        plan
    }

    /// A plan for the deal a converted lead became (the partner fills it in).
    pub fn converted_plan(
        rng: &mut ChaCha8Rng,
        clock: &Clock<'_>,
        id: String,
        partner: usize,
        lead: &LeadPlan,
        at: DateTime<Utc>,
    ) -> Plan {
        let line_items = line_items(rng, lead.family);
        let amount = line_items.iter().fold(0i64, |a, li| {
            a.saturating_add(li.quantity.saturating_mul(li.price))
        });
        let fate = if rng.gen_bool(0.55) {
            Fate::Won
        } else {
            Fate::Lost(weighted(rng, &[0, 30, 30, 25, 15]))
        };
        Plan {
            id,
            partner,
            account: lead.account,
            family: lead.family,
            region: lead.region,
            line_items,
            amount,
            strategic: false,
            competitors: Vec::new(),
            influencer: None,
            created: at,
            close_date: clock
                .date(at)
                .checked_add_days(chrono::Days::new(rng.gen_range(45..100)))
                .unwrap_or_else(|| clock.date(at)),
            fate,
            sloppy_gates: [false; 7],
            eager: false,
            priced_late: false,
            late_register: false,
            pushes: 0,
            pace: rng.gen_range(60..=120),
            decision_maker: pick_str(rng, &DECISION_MAKERS),
            loss_reason: pick_str(rng, &LOSS_REASONS),
            contested: false,
        }
    }
}
