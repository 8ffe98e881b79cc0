//! The report as data: what `dealflow report --format json` prints, and what the
//! text and HTML renderings are made from. Money is a decimal string in the
//! policy's currency; rates and days are numbers rounded to 4 decimals; a rate
//! with nothing to divide by is `null`.

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// The instant the report is computed at (end of the `--as-of` day, UTC).
    pub as_of: String,
    /// `vendor`, or `partner:ID` for a partner's own report.
    pub audience: String,
    pub policy: PolicyRef,
    pub currency: String,
    pub totals: Totals,
    /// Every stage of the policy in flow order, with the deals in it now.
    pub by_stage: Vec<StageCount>,
    pub quality: Quality,
    pub cosell: Cosell,
    pub forecast: Forecast,
    pub segments: Segments,
    pub registration: Registration,
    /// Declared stage probability against observed conversion to won.
    pub calibration: Vec<Calibration>,
    pub data: DataQuality,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PolicyRef {
    pub name: String,
    pub version: String,
    pub hash: String,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Totals {
    pub opportunities: u64,
    pub open: u64,
    pub won: u64,
    pub lost: u64,
    pub open_amount: String,
    pub won_amount: String,
    pub lost_amount: String,
    /// won / (won + lost).
    pub win_rate: Option<f64>,
    /// won amount / won.
    pub avg_won: Option<String>,
    /// Mean days from creation to close over won deals.
    pub won_cycle_days: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StageCount {
    pub stage: String,
    pub label: String,
    /// `open`, `won` or `lost`.
    pub kind: String,
    pub count: u64,
    pub amount: String,
}

/// A share: `numerator / denominator`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Rate {
    pub numerator: u64,
    pub denominator: u64,
    pub rate: Option<f64>,
}

/// Summary statistics of a sample of days or hours.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stat {
    pub count: u64,
    pub mean: Option<f64>,
    pub median: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Quality {
    /// Registrations whose register decision found no evidence missing.
    pub qualification: Rate,
    pub velocity: Vec<StageVelocity>,
    /// Closed deals that closed within 91 days of the close date they were registered with.
    pub close_date_accuracy: Rate,
    /// Present when `--target` and `--period` were given.
    pub coverage: Option<Coverage>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StageVelocity {
    pub stage: String,
    /// Completed stays in the stage (entered and left).
    pub stays: u64,
    pub mean_days: Option<f64>,
    pub median_days: Option<f64>,
    /// The stage's `expected` duration in days, when declared.
    pub expected_days: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Coverage {
    /// `2017-Q4`.
    pub period: String,
    pub target: String,
    pub won_in_period: String,
    pub remaining: String,
    /// Open pipeline with a close date in the period.
    pub open_in_period: String,
    /// open_in_period / remaining (`null` when the target is met).
    pub coverage: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Cosell {
    pub with_cosell: Segment,
    pub without_cosell: Segment,
    /// Days from registration to the first co-sell contact.
    pub days_to_first_contact: Stat,
    /// Open deals the engine finds eligible for a co-sell pool that have support.
    pub utilization: Rate,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Forecast {
    /// Sum over open deals of amount x stage probability.
    pub weighted: String,
    /// The engine's hygiene-adjusted forecast (exclusions and downweights applied).
    pub hygiene_adjusted: String,
    /// Per past quarter: what the store would have forecast at its start against what closed won in it.
    pub accuracy: Vec<ForecastPoint>,
    /// Per stage: closed deals that reached it, and how many of those were won.
    pub conversion: Vec<StageConversion>,
    pub aging: Aging,
    /// Hygiene flags raised at `as_of` over open deals.
    pub flags: Vec<FlagCount>,
    /// Open deals flagged `stale` (all of them counted, the 20 largest listed).
    pub stale_count: u64,
    pub stale: Vec<Deal>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ForecastPoint {
    pub period: String,
    pub forecast: String,
    pub actual: String,
    /// 1 - |forecast - actual| / actual.
    pub accuracy: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StageConversion {
    pub stage: String,
    pub reached: u64,
    pub won: u64,
    pub rate: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Aging {
    pub open_amount: String,
    /// Open pipeline older than the policy's expected cycle.
    pub aged_amount: String,
    pub aged_count: u64,
    pub share: Option<f64>,
    /// The expected cycle in days (the open stages' `expected`, summed).
    pub expected_cycle_days: f64,
    /// Open deals by age band, for the chart.
    pub bands: Vec<AgeBand>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AgeBand {
    /// `0-30d`, `31-60d`, `61-90d`, `91-180d`, `181-365d`, `>365d`.
    pub band: String,
    pub count: u64,
    pub amount: String,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct FlagCount {
    pub flag: String,
    pub count: u64,
    pub amount: String,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Deal {
    pub id: String,
    pub partner: Option<String>,
    pub stage: String,
    pub days_in_stage: i64,
    pub amount: String,
}

/// Win rate, revenue won and average won deal for one segment.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Segment {
    pub key: String,
    pub won: u64,
    pub lost: u64,
    pub open: u64,
    pub win_rate: Option<f64>,
    pub won_amount: String,
    pub avg_won: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Segments {
    pub tier: Vec<Segment>,
    pub product: Vec<Segment>,
    pub region: Vec<Segment>,
    pub partner: Vec<Segment>,
    /// By the quarter the deal closed in (`2017-Q1`).
    pub quarter: Vec<Segment>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Registration {
    pub registrations: u64,
    /// Business hours from submission to the review decision (approved or rejected).
    pub hours_to_decision: Stat,
    pub sla_breaches: u64,
    pub late: u64,
    pub registered: Segment,
    pub unregistered: Segment,
    /// registered win rate / unregistered win rate - 1.
    pub lift: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Calibration {
    pub stage: String,
    /// The stage's declared probability (0..1).
    pub declared: f64,
    /// Closed deals that reached the stage.
    pub reached: u64,
    pub won: u64,
    pub observed: Option<f64>,
    /// The 95% Wilson interval of the observed rate.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The declared probability lies outside the interval (with at least 30 deals).
    pub outside: bool,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DataQuality {
    pub open_without_account: u64,
    pub without_account: u64,
    pub without_amount: u64,
}
