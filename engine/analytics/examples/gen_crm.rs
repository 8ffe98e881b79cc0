//! Synthetic CRM exports for the import and report benchmarks
//! (`engine/analytics/benches/crm.sh`), deterministic per seed.
//!
//! ```sh
//! cargo run --release -p dealflow-analytics --example gen_crm -- maven 1000000 /tmp/maven-1m
//! cargo run --release -p dealflow-analytics --example gen_crm -- salesforce 250000 /tmp/sf-250k
//! ```
//! `maven`: the shape of `mappings/maven-crm.yaml` (one row per deal, plus the small
//! account, product and team files). `salesforce`: the shape of
//! `mappings/salesforce.yaml` (Opportunity with one OpportunityHistory row per stage
//! the deal went through, Account, PartnerAccount).

use std::io::{BufWriter, Write};
use std::path::Path;

/// xorshift64*: no dependency, the same stream everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn date(days_from_2016_10_01: u64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2016, 10, 1).unwrap_or_default();
    (base + chrono::Days::new(days_from_2016_10_01))
        .format("%Y-%m-%d")
        .to_string()
}

fn file(dir: &Path, name: &str) -> std::io::Result<BufWriter<std::fs::File>> {
    Ok(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(dir.join(name))?,
    ))
}

fn maven(n: u64, dir: &Path, rng: &mut Rng) -> std::io::Result<()> {
    let offices = ["Central", "East", "West"];
    let products = [
        ("GTX Basic", "GTX", 550),
        ("GTX Pro", "GTX", 4821),
        ("MG Special", "MG", 55),
        ("MG Advanced", "MG", 3393),
        ("GTX Plus Pro", "GTX", 5482),
        ("GTX Plus Basic", "GTX", 1096),
        ("GTK 500", "GTK", 26768),
    ];
    let mut f = file(dir, "products.csv")?;
    writeln!(f, "product,series,sales_price")?;
    for (p, s, price) in products {
        writeln!(f, "{p},{s},{price}")?;
    }
    let mut f = file(dir, "sales_teams.csv")?;
    writeln!(f, "sales_agent,manager,regional_office")?;
    for a in 0..35 {
        writeln!(f, "Agent {a:02},Manager {},{}", a / 6, offices[a % 3])?;
    }
    let mut f = file(dir, "accounts.csv")?;
    writeln!(
        f,
        "account,sector,year_established,revenue,employees,office_location,subsidiary_of"
    )?;
    for a in 0..85 {
        writeln!(
            f,
            "Account {a:03},technology,1990,100.5,{},United States,",
            100 + a * 37
        )?;
    }
    let mut f = file(dir, "sales_pipeline.csv")?;
    writeln!(
        f,
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value"
    )?;
    for i in 0..n {
        let agent = rng.below(35);
        let (p, _, price) = products[rng.below(7) as usize];
        let p = if p == "GTX Pro" { "GTXPro" } else { p };
        let roll = rng.below(100);
        let stage = match roll {
            0..=47 => "Won",
            48..=75 => "Lost",
            76..=93 => "Engaging",
            _ => "Prospecting",
        };
        let closed = matches!(stage, "Won" | "Lost");
        let account = if closed || rng.below(10) < 4 {
            format!("Account {:03}", rng.below(85))
        } else {
            String::new()
        };
        let engage = rng.below(420);
        match stage {
            "Prospecting" => writeln!(f, "O{i:08},Agent {agent:02},{p},{account},{stage},,,")?,
            "Engaging" => writeln!(
                f,
                "O{i:08},Agent {agent:02},{p},{account},{stage},{},,",
                date(engage)
            )?,
            _ => {
                let close = engage + 1 + rng.below(140);
                let value = if stage == "Won" {
                    price * (90 + rng.below(21)) / 100
                } else {
                    0
                };
                writeln!(
                    f,
                    "O{i:08},Agent {agent:02},{p},{account},{stage},{},{},{value}",
                    date(engage),
                    date(close)
                )?
            }
        }
    }
    f.flush()
}

fn salesforce(n: u64, dir: &Path, rng: &mut Rng) -> std::io::Result<()> {
    let stages = [
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
    ];
    let mut f = file(dir, "PartnerAccount.csv")?;
    writeln!(f, "Id,Name,IsPartner,Partner_Tier__c,Website")?;
    for p in 0..50 {
        let tier = ["Registered", "Silver", "Gold"][p % 3];
        writeln!(f, "001PT{p:013},Partner {p},true,{tier},partner{p}.example")?;
    }
    let mut f = file(dir, "Account.csv")?;
    writeln!(
        f,
        "Id,Name,Website,Type,Industry,NumberOfEmployees,BillingCountry"
    )?;
    for a in 0..5000 {
        let ty = if a % 10 == 0 {
            "Customer - Direct"
        } else {
            "Customer - Channel"
        };
        writeln!(
            f,
            "001AC{a:013},Account {a},account{a}.example,{ty},Technology,{},US",
            50 + a
        )?;
    }
    let mut opp = file(dir, "Opportunity.csv")?;
    writeln!(opp, "Id,AccountId,PartnerAccountId,Name,StageName,Amount,CloseDate,Probability,ForecastCategoryName,IsClosed,IsWon,CreatedDate,LastActivityDate,OwnerId,LeadSource,Product_Family__c,Budget_Confirmed__c,Decision_Maker__c,Value_Proposition__c,SyncedQuoteId,PO_Number__c,Loss_Reason__c,Description")?;
    let mut hist = file(dir, "OpportunityHistory.csv")?;
    writeln!(hist, "Id,OpportunityId,StageName,Amount,ExpectedRevenue,CloseDate,Probability,ForecastCategory,CreatedDate,CreatedById")?;
    let families = ["Platform", "Services", "Support"];
    let mut h = 0u64;
    for i in 0..n {
        let id = format!("006OP{i:013}");
        let created = rng.below(600);
        let reached = 1 + rng.below(stages.len() as u64) as usize;
        let outcome = rng.below(10);
        let close_stage = match outcome {
            0..=3 => Some("Closed Won"),
            4..=6 => Some("Closed Lost"),
            _ => None,
        };
        let amount = 1000 * (5 + rng.below(200));
        let mut day = created;
        let close = created + 30 + rng.below(200);
        for s in stages.iter().take(reached) {
            writeln!(
                hist,
                "008HI{h:013},{id},{s},{amount}.00,,{},10,Pipeline,{}T10:00:00.000Z,005US0000000000001",
                date(close),
                date(day)
            )?;
            h += 1;
            day += 1 + rng.below(14);
        }
        let stage = match close_stage {
            Some(c) => {
                let end = day.max(close);
                writeln!(
                    hist,
                    "008HI{h:013},{id},{c},{amount}.00,,{},100,Closed,{}T10:00:00.000Z,005US0000000000001",
                    date(end),
                    date(end)
                )?;
                h += 1;
                c
            }
            None => stages[reached - 1],
        };
        let won = close_stage == Some("Closed Won");
        writeln!(
            opp,
            "{id},001AC{:013},001PT{:013},Deal {i},{stage},{amount}.00,{},10,Pipeline,{},{won},{}T10:00:00.000Z,,005US0000000000001,Web,{},true,CFO,,,{},{},",
            rng.below(5000),
            rng.below(50),
            date(close),
            close_stage.is_some(),
            date(created),
            families[rng.below(3) as usize],
            if won { "PO-1" } else { "" },
            if close_stage == Some("Closed Lost") { "price" } else { "" },
        )?;
    }
    opp.flush()?;
    hist.flush()
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(shape), Some(n), Some(dir)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: gen_crm maven|salesforce DEALS DIR [SEED]");
        std::process::exit(2);
    };
    let n: u64 = n.parse().unwrap_or(1_000_000);
    let seed: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(42);
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(seed | 1);
    match shape.as_str() {
        "maven" => maven(n, dir, &mut rng),
        "salesforce" => salesforce(n, dir, &mut rng),
        other => {
            eprintln!("unknown shape `{other}`: maven or salesforce");
            std::process::exit(2);
        }
    }
}
