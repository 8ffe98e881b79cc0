//! W401 `miscalibrated-probability`: the one data-aware lint. It needs a store's
//! recorded history, so it is not among the [`super::RULES`] that every `lint` runs;
//! `dealflow lint --db PATH` computes each stage's observed conversion to won and
//! calls [`miscalibrated`].
//!
//! ## What it does
//! Flags a stage whose declared `probability` lies outside the 95% interval of the
//! observed conversion to won of the closed deals that reached the stage, when at
//! least [`MIN_DEALS`] did.
//!
//! ## Why is this bad?
//! The weighted forecast multiplies every open deal by its stage's probability. A
//! probability the program's own history contradicts inflates or deflates the
//! forecast on every deal in that stage.

use crate::ast::{self, Item, StageProp};
use crate::diagnostics::{Code, Diagnostic};

/// The fewest closed deals that reached a stage before its probability is judged.
pub const MIN_DEALS: u64 = 30;

/// A stage's observed conversion: of `reached` closed deals that reached it, `won`
/// were won; `low..=high` is the 95% interval of the rate (fractions 0..1).
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub stage: String,
    pub reached: u64,
    pub won: u64,
    pub low: f64,
    pub high: f64,
}

fn pct(x: f64) -> String {
    let v = (x * 1000.0).round() / 10.0;
    if v.fract() == 0.0 {
        format!("{v:.0}%")
    } else {
        format!("{v:.1}%")
    }
}

/// W401 diagnostics for `policy` (its AST, for the probability's span; `declared`
/// gives each stage's declared probability as a fraction) against `observed`.
pub fn miscalibrated(
    policy: &ast::Policy,
    declared: &dyn Fn(&str) -> Option<f64>,
    observed: &[Observed],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for item in &policy.items {
        let Item::Stage(st) = item else { continue };
        let name = &st.name.name;
        let Some(o) = observed.iter().find(|o| &o.stage == name) else {
            continue;
        };
        let Some(d) = declared(name) else { continue };
        if o.reached < MIN_DEALS || (d >= o.low && d <= o.high) {
            continue;
        }
        let Some(span) = st.props.iter().find_map(|p| match p {
            StageProp::Probability(e) => Some(e.span.clone()),
            _ => None,
        }) else {
            continue;
        };
        let rate = o.won as f64 / o.reached as f64;
        let half = (o.high - o.low) / 2.0;
        out.push(
            Diagnostic::new(
                Code::MiscalibratedProbability,
                span,
                format!(
                    "{name} declares {}; history says {} +/- {} over {} deals",
                    pct(d),
                    pct(rate),
                    pct(half),
                    o.reached
                ),
            )
            .label(format!("observed 95% interval {} to {}", pct(o.low), pct(o.high)))
            .help(format!(
                "{} of {} closed deals that reached {name} were won; set `probability {}` or find out why this stage's deals convert differently",
                o.won,
                o.reached,
                pct(rate)
            )),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::SourceFile;

    #[test]
    fn flags_a_probability_outside_the_interval_at_its_span() {
        let text = "policy \"P\" version \"1\" { currency USD }\nstage Open { probability 60% forecast pipeline }\nwon stage Won { probability 100% forecast closed }\nlost stage Lost { probability 0% forecast omitted }\nflow { Open -> Won  any -> Lost }\n";
        let src = SourceFile::new("p.policy", text.to_string());
        let a = crate::analyze(&src);
        let ast = a.ast.unwrap();
        let declared = |s: &str| (s == "Open").then_some(0.6);
        let obs = |reached, won, low, high| {
            vec![Observed {
                stage: "Open".into(),
                reached,
                won,
                low,
                high,
            }]
        };
        let d = miscalibrated(&ast, &declared, &obs(412, 157, 0.334, 0.428));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::MiscalibratedProbability);
        assert_eq!(&text[d[0].span.clone()], "60%");
        assert_eq!(
            d[0].message,
            "Open declares 60%; history says 38.1% +/- 4.7% over 412 deals"
        );
        // Inside the interval, or too few deals: nothing.
        assert!(miscalibrated(&ast, &declared, &obs(412, 250, 0.56, 0.65)).is_empty());
        assert!(miscalibrated(&ast, &declared, &obs(29, 1, 0.01, 0.2)).is_empty());
    }
}
