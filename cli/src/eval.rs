//! `dealflow eval`: decide one action on one record and explain it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use dealflow_engine::decision::{RankedPartner, RoutingEffect, RuleOutcome};
use dealflow_engine::{Action, Audience, Context, Decision, Outcome, Policy, Reason};

use crate::files::{display_path, report_error};
use crate::inputs::{load_context, load_policy, load_record, parse_now};
use crate::term::{self, clean};
use crate::{EvalArgs, EvalFormat, ExitStatus};

/// Runs `dealflow eval`.
pub fn run(args: &EvalArgs) -> ExitStatus {
    let action: Action = match args.action.parse::<Action>() {
        Ok(a) => a,
        Err(e) => {
            report_error(format_args!("{e}"));
            eprintln!("help: {}", term::clean(e.help()));
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
    if let Err(e) = policy.check_action(&action) {
        report_error(format_args!("{e}"));
        eprintln!("help: {}", term::clean(e.help()));
        return ExitStatus::Error;
    }
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
    let decision = if action == Action::RouteLead {
        // A lead is routed from the context alone (its `lead` and `partners`).
        if let Some(path) = &args.record {
            eprintln!(
                "warning: `{}` is not read: `route_lead` routes the context's `lead` to its `partners`",
                term::clean(&display_path(path))
            );
        }
        policy.route_lead(&context, now, &audience)
    } else {
        let Some(path) = &args.record else {
            report_error(format_args!(
                "`--record` is required for `{action}` (only `route_lead` decides without an opportunity)"
            ));
            return ExitStatus::Error;
        };
        let record = match load_record(&policy, path) {
            Ok(r) => r,
            Err(e) => {
                e.report("record", &display_path(path));
                return ExitStatus::Error;
            }
        };
        policy.decide(&record, &action, &context, now, &audience)
    };
    match args.format {
        EvalFormat::Json => println!("{}", term::json(&decision.to_json_pretty())),
        EvalFormat::Human => print!("{}", term::block(&explain(&decision, &policy))),
    }
    if decision.outcome == Outcome::Error {
        // Not decided: the input cannot be decided as given (bad input).
        let why = decision
            .failed()
            .next()
            .map_or("the action could not be decided", |r| r.message.as_str());
        report_error(format_args!(
            "`{}` was not decided: {}",
            term::clean(&decision.action),
            term::clean(why)
        ));
        return ExitStatus::Error;
    }
    ExitStatus::Success
}

/// How instants are shown: in the policy's time zone with the UTC instant in
/// parentheses (`2026-12-03 17:00 EST (2026-12-03T22:00:00Z)`), or UTC alone when the
/// policy has no calendar.
struct Clock<'p> {
    policy: &'p Policy,
}

impl Clock<'_> {
    /// One RFC 3339 instant, shown locally; anything else unchanged.
    fn instant(&self, text: &str) -> String {
        match DateTime::parse_from_rfc3339(text) {
            Ok(t) => match self.policy.local_time(t.with_timezone(&Utc)) {
                Some(local) => format!("{local} ({text})"),
                None => text.to_string(),
            },
            Err(_) => text.to_string(),
        }
    }

    /// A text with every UTC instant in it (`YYYY-MM-DDTHH:MM:SS[.f]Z`) shown locally.
    fn text(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        let mut i = 0;
        while i < bytes.len() {
            match instant_len(bytes, i) {
                Some(n) if i == 0 || !bytes[i - 1].is_ascii_alphanumeric() => {
                    out.push_str(text.get(at..i).unwrap_or(""));
                    out.push_str(&self.instant(text.get(i..i + n).unwrap_or("")));
                    i += n;
                    at = i;
                }
                _ => i += 1,
            }
        }
        out.push_str(text.get(at..).unwrap_or(""));
        out
    }
}

/// The length of a UTC instant `YYYY-MM-DDTHH:MM:SS[.fraction]Z` starting at `i`.
fn instant_len(b: &[u8], i: usize) -> Option<usize> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let head = b.get(i..i + SHAPE.len())?;
    let fits = head.iter().zip(SHAPE).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        _ => c == s,
    });
    if !fits {
        return None;
    }
    let mut n = SHAPE.len();
    if b.get(i + n) == Some(&b'.') {
        n += 1;
        while b.get(i + n).is_some_and(u8::is_ascii_digit) {
            n += 1;
        }
    }
    (b.get(i + n) == Some(&b'Z')).then_some(n + 1)
}

/// The headline of a decision: what happened, in words.
fn headline(d: &Decision) -> String {
    let lead = d.effects.routing.as_ref().and_then(|r| r.lead.as_deref());
    let subject = match (d.opportunity.as_deref(), lead) {
        (Some(o), _) => format!(" for {}", clean(o)),
        (None, Some(l)) => format!(" of lead {}", clean(l)),
        (None, None) => String::new(),
    };
    let action = clean(&d.action);
    match d.outcome {
        Outcome::Approved => format!("APPROVED: {action}{subject}"),
        Outcome::Denied => format!("DENIED: {action}{subject}"),
        Outcome::Review => format!("IN REVIEW: {action}{subject} waits for a manual decision"),
        Outcome::Evaluated => format!(
            "EVALUATED: {}",
            d.opportunity
                .as_deref()
                .map_or(Cow::Borrowed("the opportunity"), clean)
        ),
        Outcome::Routed => format!("ROUTED: {action}{subject}"),
        Outcome::Error => format!("NOT DECIDED: {action}{subject}"),
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
fn effect_lines(d: &Decision, clock: &Clock<'_>) -> Vec<(String, String)> {
    let fx = &d.effects;
    let cur = fx.currency.as_str();
    let mut lines = Vec::new();
    if let Some(sc) = &fx.stage_change {
        lines.push((
            "stage".to_string(),
            format!("{} -> {}", clean(&sc.from), clean(&sc.to)),
        ));
    }
    if let Some(reg) = &fx.registration {
        let mut status = clean(&reg.status).into_owned();
        if reg.late {
            status.push_str(" (late registration)");
        }
        lines.push(("registration".to_string(), status));
        if let Some(review) = &reg.review {
            lines.push((
                "review".to_string(),
                format!(
                    "by `{}`, deadline {}",
                    clean(&review.queue),
                    clock.instant(&review.deadline)
                ),
            ));
            for e in &review.escalations {
                lines.push((
                    "escalation".to_string(),
                    format!("to `{}` at {}", clean(&e.to), clock.instant(&e.at)),
                ));
            }
        }
        if let Some(until) = &reg.protected_until {
            lines.push(("protected until".to_string(), clock.instant(until)));
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
            text.push_str(&format!(", priority {}", clean(p)));
        }
        if let Some(r) = &c.reason {
            text.push_str(&format!(": {}", clock.text(&clean(r))));
        }
        lines.push((format!("co-sell {}", clean(&c.pool)), text));
    }
    if let Some(cm) = &fx.commission {
        let who = cm
            .partner
            .as_deref()
            .map(|p| format!(" to {}", clean(p)))
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
            let r = clean(r);
            text.push_str(&format!(
                ": {}",
                clock.text(r.strip_prefix("not attributed: ").unwrap_or(&r))
            ));
        }
        lines.push(("commission".to_string(), text));
        for s in &cm.shares {
            lines.push((
                "  share".to_string(),
                format!(
                    "{} {} {} = {}",
                    clean(&s.role),
                    clean(&s.partner),
                    s.share,
                    money(&s.amount, cur)
                ),
            ));
        }
    }
    if let Some(r) = &fx.routing {
        lines.push(("routing".to_string(), routing_line(d, r)));
        let offered_here = r.ranked.iter().any(|p| p.rank == 1);
        if let Some(by) = r.accept_by.as_ref().filter(|_| offered_here) {
            lines.push(("accept by".to_string(), clock.instant(by)));
        }
    }
    if let Some(amount) = fx.amounts.get("amount") {
        lines.insert(0, ("amount".to_string(), money(amount, cur)));
    }
    lines
}

/// The routing line: for the vendor the counts and who is offered the lead; for a
/// partner its own standing only (offered, eligible behind another partner, excluded
/// with why, or not considered).
fn routing_line(d: &Decision, r: &RoutingEffect) -> String {
    let name = |p: &RankedPartner| match &p.name {
        Some(n) => format!("{} ({})", clean(&p.partner), clean(n)),
        None => clean(&p.partner).into_owned(),
    };
    let first = r.ranked.iter().find(|p| p.rank == 1);
    match (r.eligible_count, r.excluded_count) {
        (Some(eligible), Some(excluded)) => format!(
            "{eligible} eligible, {excluded} excluded{}",
            first
                .map(|p| format!("; offered to {}", name(p)))
                .unwrap_or_default()
        ),
        _ => {
            let me = d.audience.strip_prefix("partner:").unwrap_or(&d.audience);
            if let Some(p) = first {
                format!("offered to {}", name(p))
            } else if let Some(p) = r.ranked.first() {
                format!(
                    "{} is eligible (rank {}); the lead is offered to another partner",
                    name(p),
                    p.rank
                )
            } else if let Some(e) = r.excluded.first() {
                format!("{} is excluded: {}", clean(&e.partner), clean(&e.reason))
            } else {
                format!("{} was not considered for this lead", clean(me))
            }
        }
    }
}

/// One reason: mark, message, location and rule, and the values it read.
fn push_reason(out: &mut String, r: &Reason, clock: &Clock<'_>) {
    let mark = match r.outcome {
        RuleOutcome::Fail => "✗",
        RuleOutcome::Pass => "✓",
        RuleOutcome::Skip => "·",
    };
    if r.rule.starts_with("action.") {
        // Structural: about the request, not a rule of the policy (no location).
        out.push_str(&format!(
            "  {mark} {}\n      ({})\n",
            clock.text(&clean(&r.message)),
            clean(&r.rule)
        ));
    } else {
        out.push_str(&format!(
            "  {mark} {}\n      at {} ({})\n",
            clock.text(&clean(&r.message)),
            clean(&r.location),
            clean(&r.rule)
        ));
    }
    if !r.values.is_empty() {
        let seen: Vec<String> = r
            .values
            .iter()
            .map(|(k, v)| format!("{} = {}", clean(k), clock.text(&clean(&v.to_string()))))
            .collect();
        out.push_str(&format!("      saw {}\n", seen.join(", ")));
    }
}

/// A short explanation a channel manager could send: headline, key effects, why,
/// why auto-approval did not apply (review), what would make a denial pass (or that
/// nothing the partner can change will), flags. Instants are shown in the policy's
/// time zone, and every text from the inputs is escaped for the terminal.
pub fn explain(d: &Decision, policy: &Policy) -> String {
    let clock = Clock { policy };
    let mut out = String::new();
    out.push_str(&headline(d));
    out.push('\n');
    out.push_str(&format!(
        "policy: {} {} ({})  at {}\n",
        clean(&d.policy.name),
        clean(&d.policy.version),
        short_hash(&d.policy.hash),
        clock.instant(&d.evaluated_at)
    ));
    let effects = effect_lines(d, &clock);
    if !effects.is_empty() {
        out.push('\n');
        let width = effects
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
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
            push_reason(&mut out, r, &clock);
        }
    }
    if d.outcome == Outcome::Review {
        out.push_str("\nNot auto-approved:\n");
        let auto: Vec<_> = d
            .reasons
            .iter()
            .filter(|r| r.rule.starts_with("registration.auto_approve"))
            .collect();
        if auto.is_empty() {
            out.push_str(
                "  the policy has no `auto approve` rule, so every registration is reviewed\n",
            );
        }
        for r in auto {
            push_reason(&mut out, r, &clock);
        }
    }
    if !d.missing.is_empty() {
        let missing: Vec<_> = d.missing.iter().map(|m| clean(m)).collect();
        out.push_str(&format!("\nMissing evidence: {}\n", missing.join(", ")));
    }
    if !d.to_pass.is_empty() {
        out.push_str("\nTo pass:\n");
        for t in &d.to_pass {
            out.push_str(&format!("  • {}\n", clean(t)));
        }
    } else if !d.cannot_pass.is_empty() {
        out.push_str("\nTo pass: no change the partner can make will pass this:\n");
        for t in &d.cannot_pass {
            out.push_str(&format!("  • {}\n", clock.text(&clean(t))));
        }
    }
    if !d.flags.is_empty() {
        let flags: Vec<_> = d.flags.iter().map(|f| clean(f)).collect();
        out.push_str(&format!("\nFlags: {}\n", flags.join(", ")));
    }
    if !d.errors.is_empty() {
        out.push_str("\nEvaluation errors:\n");
        for e in &d.errors {
            out.push_str(&format!(
                "  ! {} at {} ({})\n",
                clean(&e.message),
                clean(&e.location),
                clean(&e.rule)
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
    use super::{group_thousands, instant_len};

    #[test]
    fn finds_utc_instants_only() {
        let b = b"due 2026-12-03T22:00:00Z, or 2026-12-03T22:00:00.25Z";
        assert_eq!(instant_len(b, 4), Some(20));
        assert_eq!(instant_len(b, 29), Some(23));
        assert_eq!(instant_len(b, 0), None);
        // Dates, offsets other than Z and truncated text are left alone.
        assert_eq!(instant_len(b"2026-12-03", 0), None);
        assert_eq!(instant_len(b"2026-12-03T22:00:00+01:00", 0), None);
        assert_eq!(instant_len(b"2026-12-03T22:00:00", 0), None);
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands("1234567.50"), "1,234,567.50");
        assert_eq!(group_thousands("-1000"), "-1,000");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("n/a"), "n/a");
    }
}
