//! Deadlines on the policy's calendar for the decision effects (protection ends,
//! review deadlines, escalation times, acceptance deadlines). A deadline that cannot
//! be written (after year 9999) is an evaluation error of its rule, not a panic and
//! not a wrapped date.

use chrono::{DateTime, Utc};
use dealflow_dsl::ir::{self, Span};

use crate::calendar::{add_duration, CalendarError};
use crate::decision::EvalError;
use crate::value::{render_duration, rfc3339};

use super::Decider;

impl Decider<'_> {
    /// `from` plus `d`, or `None` after recording (when explaining) a failed reason
    /// and an evaluation error for `rule`; `what` names the instant (`the review
    /// deadline`).
    pub(super) fn later(
        &mut self,
        rule: &str,
        span: &Span,
        what: &str,
        from: DateTime<Utc>,
        d: &ir::Dur,
    ) -> Option<DateTime<Utc>> {
        match add_duration(self.c.cal, from, d.seconds, d.business) {
            Ok(t) => Some(t),
            Err(e) => {
                let by = match (d.business, d.seconds % 3600) {
                    (true, 0) => format!("{} business hours", d.seconds / 3600),
                    (true, _) => format!("{} of business time", render_duration(d.seconds)),
                    (false, _) => render_duration(d.seconds),
                };
                let how = format!("{} plus {by}", rfc3339(from));
                self.calendar_error(rule, span, what, &how, e);
                None
            }
        }
    }

    /// Records that `what` (computed as `how`) has no value because of `e`.
    pub(super) fn calendar_error(
        &mut self,
        rule: &str,
        span: &Span,
        what: &str,
        how: &str,
        e: CalendarError,
    ) {
        if !self.explain {
            return;
        }
        let msg = format!("{what} ({how}) cannot be computed: {e}");
        self.fail(rule.into(), span, msg.clone());
        self.out.errors.push(EvalError {
            rule: rule.into(),
            location: self.loc(span),
            message: format!("{msg}; it is left out of the decision"),
        });
    }
}
