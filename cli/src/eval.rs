//! `dealflow eval`: decide one action on one record and explain it.

use chrono::Utc;
use dealflow_engine::decision::RuleOutcome;
use dealflow_engine::{Action, Audience, Context, Decision, Outcome};

use crate::files::{display_path, report_error};
use crate::inputs::{load_context, load_policy, load_record, parse_now};
use crate::{EvalArgs, EvalFormat, ExitStatus};

/// Runs `dealflow eval`.
pub fn run(args: &EvalArgs) -> ExitStatus {
    let action: Action = match args.action.parse() {
        Ok(a) => a,
        Err(e) => {
            report_error(format_args!("{e}"));
            eprintln!("help: use `advance <Stage>`, `register`, `evaluate`, `close_won`, `close_lost` or `route_lead`");
            return ExitStatus::Error;
        }
    };
    let audience: Audience = match args.audience.parse() {
        Ok(a) => a,
        Err(e) => {
            report_error(format_args!("{e}"));
            eprintln!("help: use `vendor` or `partner:<id>`, e.g. `partner:P-ACME`");
            return ExitStatus::Error;
        }
    };
    // The CLI is the only place that reads the clock.
    let now = match &args.now {
        Some(text) => match parse_now(text) {
            Ok(t) => t,
            Err(message) => {
                report_error(message);
                return ExitStatus::Error;
            }
        },
        None => Utc::now(),
    };
    let Some(policy) = load_policy(&args.policy) else {
        return ExitStatus::Error;
    };
    let record = match load_record(&policy, &args.record) {
        Ok(r) => r,
        Err(e) => {
            e.report("record", &display_path(&args.record));
            return ExitStatus::Error;
        }
    };
    let context = match &args.context {
        Some(path) => match load_context(&policy, path) {
            Ok(c) => c,
            Err(e) => {
                e.report("context", &display_path(path));
                return ExitStatus::Error;
            }
        },
        None => Context::default(),
    };
    let decision = policy.decide(&record, &action, &context, now, &audience);
    match args.format {
        EvalFormat::Json => println!("{}", decision.to_json_pretty()),
        EvalFormat::Human => print!("{}", explain(&decision)),
    }
    ExitStatus::Success
}

/// The headline of a decision: what happened, in words.
fn headline(d: &Decision) -> String {
    let subject = d
        .opportunity
        .as_deref()
        .map(|o| format!(" for {o}"))
        .unwrap_or_default();
    match d.outcome {
        Outcome::Approved => format!("APPROVED: {}{subject}", d.action),
        Outcome::Denied => format!("DENIED: {}{subject}", d.action),
        Outcome::Review => format!(
            "IN REVIEW: {}{subject} waits for a manual decision",
            d.action
        ),
        Outcome::Evaluated => format!(
            "EVALUATED: {}",
            d.opportunity.as_deref().unwrap_or("the opportunity")
        ),
        Outcome::Routed => format!("ROUTED: {}{subject}", d.action),
        Outcome::Error => format!("NOT DECIDED: {}{subject}", d.action),
    }
}

fn money(amount: &str, currency: &str) -> String {
    format!("{} {currency}", group_thousands(amount))
}

/// `1234567.50` -> `1,234,567.50` (decimal strings only; anything else unchanged).
pub fn group_thousands(amount: &str) -> String {
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_string();
    }
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// The key effects of a decision, one `label  value` line each.
fn effect_lines(d: &Decision) -> Vec<(String, String)> {
    let fx = &d.effects;
    let cur = fx.currency.as_str();
    let mut lines = Vec::new();
    if let Some(sc) = &fx.stage_change {
        lines.push(("stage".to_string(), format!("{} -> {}", sc.from, sc.to)));
    }
    if let Some(reg) = &fx.registration {
        let mut status = reg.status.clone();
        if reg.late {
            status.push_str(" (late registration)");
        }
        lines.push(("registration".to_string(), status));
        if let Some(review) = &reg.review {
            lines.push((
                "review".to_string(),
                format!("by `{}`, deadline {}", review.queue, review.deadline),
            ));
            for e in &review.escalations {
                lines.push((
                    "escalation".to_string(),
                    format!("to `{}` at {}", e.to, e.at),
                ));
            }
        }
        if let Some(until) = &reg.protected_until {
            lines.push(("protected until".to_string(), until.clone()));
        }
        if let Some(discount) = &reg.discount {
            lines.push((
                "discount".to_string(),
                format!("{} = {}", discount.rate, money(&discount.amount, cur)),
            ));
        }
    }
    if let Some(f) = &fx.forecast {
        let mut text = format!(
            "{} at {}, weighted {}",
            f.category,
            f.probability,
            money(&f.weighted_amount, cur)
        );
        if f.excluded {
            text.push_str(", excluded from forecast");
        } else if !matches!(f.downweight.as_str(), "" | "1" | "100%") {
            text.push_str(&format!(" (downweighted to {})", f.downweight));
        }
        lines.push(("forecast".to_string(), text));
    }
    for c in &fx.cosell {
        // Pools no rule assigns are noise in a short explanation (the JSON has them).
        if c.status == "ineligible"
            && c.reason
                .as_deref()
                .is_none_or(|r| r == "no assign rule holds")
        {
            continue;
        }
        let mut text = format!("{} ({} left this period)", c.status, c.capacity_remaining);
        if let Some(p) = &c.priority {
            text.push_str(&format!(", priority {p}"));
        }
        if let Some(r) = &c.reason {
            text.push_str(&format!(": {r}"));
        }
        lines.push((format!("co-sell {}", c.pool), text));
    }
    if let Some(cm) = &fx.commission {
        let who = cm
            .partner
            .as_deref()
            .map(|p| format!(" to {p}"))
            .unwrap_or_default();
        let mut text = if cm.attributed {
            format!("{}{who}", money(&cm.total, cur))
        } else {
            format!("not attributed (would be {})", money(&cm.computed, cur))
        };
        if cm.rebate_total != "0" && cm.rebate_total != "0.00" {
            text.push_str(&format!(", rebates {}", money(&cm.rebate_total, cur)));
        }
        if let Some(r) = &cm.reason {
            text.push_str(&format!(
                ": {}",
                r.strip_prefix("not attributed: ").unwrap_or(r)
            ));
        }
        lines.push(("commission".to_string(), text));
        for s in &cm.shares {
            lines.push((
                "  share".to_string(),
                format!(
                    "{} {} {} = {}",
                    s.role,
                    s.partner,
                    s.share,
                    money(&s.amount, cur)
                ),
            ));
        }
    }
    if let Some(r) = &fx.routing {
        let best = r.ranked.first().map(|p| match &p.name {
            Some(n) => format!("{} ({n})", p.partner),
            None => p.partner.clone(),
        });
        lines.push((
            "routing".to_string(),
            format!(
                "{} eligible, {} excluded{}",
                r.eligible_count,
                r.excluded_count,
                best.map(|b| format!("; offered to {b}"))
                    .unwrap_or_default()
            ),
        ));
        if let Some(by) = &r.accept_by {
            lines.push(("accept by".to_string(), by.clone()));
        }
    }
    if let Some(amount) = fx.amounts.get("amount") {
        lines.insert(0, ("amount".to_string(), money(amount, cur)));
    }
    lines
}

/// A short explanation a channel manager could send: headline, key effects, why,
/// what would make it pass, flags.
pub fn explain(d: &Decision) -> String {
    let mut out = String::new();
    out.push_str(&headline(d));
    out.push('\n');
    out.push_str(&format!(
        "policy: {} {} ({})  at {}\n",
        d.policy.name,
        d.policy.version,
        short_hash(&d.policy.hash),
        d.evaluated_at
    ));
    let effects = effect_lines(d);
    if !effects.is_empty() {
        out.push('\n');
        let width = effects.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (label, value) in effects {
            out.push_str(&format!("  {label:<width$}  {value}\n"));
        }
    }
    let failed: Vec<_> = d
        .reasons
        .iter()
        .filter(|r| r.outcome == RuleOutcome::Fail)
        .collect();
    let why: Vec<_> = if failed.is_empty() {
        d.reasons
            .iter()
            .filter(|r| r.outcome == RuleOutcome::Pass)
            .collect()
    } else {
        failed
    };
    if !why.is_empty() {
        out.push_str("\nWhy:\n");
        for r in why {
            let mark = if r.outcome == RuleOutcome::Fail {
                "✗"
            } else {
                "✓"
            };
            out.push_str(&format!(
                "  {mark} {}\n      at {} ({})\n",
                r.message, r.location, r.rule
            ));
            if !r.values.is_empty() {
                let seen: Vec<String> =
                    r.values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                out.push_str(&format!("      saw {}\n", seen.join(", ")));
            }
        }
    }
    if !d.missing.is_empty() {
        out.push_str(&format!("\nMissing evidence: {}\n", d.missing.join(", ")));
    }
    if !d.to_pass.is_empty() {
        out.push_str("\nTo pass:\n");
        for t in &d.to_pass {
            out.push_str(&format!("  • {t}\n"));
        }
    }
    if !d.flags.is_empty() {
        out.push_str(&format!("\nFlags: {}\n", d.flags.join(", ")));
    }
    if !d.errors.is_empty() {
        out.push_str("\nEvaluation errors:\n");
        for e in &d.errors {
            out.push_str(&format!(
                "  ! {} at {} ({})\n",
                e.message, e.location, e.rule
            ));
        }
    }
    out
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::group_thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands("1234567.50"), "1,234,567.50");
        assert_eq!(group_thousands("-1000"), "-1,000");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("n/a"), "n/a");
    }
}
