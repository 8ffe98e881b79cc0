//! Cell text to record values: dates in the formats CRMs export, amounts, flags,
//! enum variants. Every failure says why, in words a user can act on.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use dealflow_dsl::ir::{self, Type};
use rust_decimal::Decimal;
use serde_json::Value;

/// A date format: `iso` (default: `YYYY-MM-DD`, RFC 3339, or `YYYY-MM-DD HH:mm[:ss]`),
/// `rfc3339`, `epoch_ms`, `epoch_s`, or a pattern of `YYYY MM DD HH mm ss` with any
/// separators (`DD/MM/YYYY`, `MM/DD/YYYY HH:mm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateFormat {
    Iso,
    Rfc3339,
    EpochMs,
    EpochS,
    /// A chrono pattern, and whether it has a time part.
    Pattern {
        chrono: String,
        time: bool,
        spec: String,
    },
}

impl DateFormat {
    pub fn parse(s: &str) -> Result<DateFormat, String> {
        match s {
            "iso" | "" => return Ok(DateFormat::Iso),
            "rfc3339" => return Ok(DateFormat::Rfc3339),
            "epoch_ms" => return Ok(DateFormat::EpochMs),
            "epoch_s" => return Ok(DateFormat::EpochS),
            _ => {}
        }
        let mut out = String::new();
        let mut rest = s;
        let mut parts = 0;
        let mut time = false;
        while !rest.is_empty() {
            let tok = [
                ("YYYY", "%Y"),
                ("MM", "%m"),
                ("DD", "%d"),
                ("HH", "%H"),
                ("mm", "%M"),
                ("ss", "%S"),
            ]
            .iter()
            .find(|(t, _)| rest.starts_with(t));
            if let Some((t, c)) = tok {
                out.push_str(c);
                rest = &rest[t.len()..];
                parts += 1;
                if matches!(*t, "HH" | "mm" | "ss") {
                    time = true;
                }
            } else if let Some(ch) = rest.chars().next() {
                if ch.is_ascii_alphanumeric() {
                    return Err(format!(
                        "date format `{s}`: `{ch}` is not part of YYYY, MM, DD, HH, mm, ss; formats are iso, rfc3339, epoch_ms, epoch_s or a pattern such as DD/MM/YYYY"
                    ));
                }
                if ch == '%' {
                    out.push_str("%%");
                } else {
                    out.push(ch);
                }
                rest = &rest[ch.len_utf8()..];
            }
        }
        if parts < 3 || !(out.contains("%Y") && out.contains("%m") && out.contains("%d")) {
            return Err(format!(
                "date format `{s}` needs YYYY, MM and DD (e.g. DD/MM/YYYY, MM/DD/YYYY HH:mm)"
            ));
        }
        Ok(DateFormat::Pattern {
            chrono: out,
            time,
            spec: s.to_string(),
        })
    }

    fn name(&self) -> &str {
        match self {
            DateFormat::Iso => "iso",
            DateFormat::Rfc3339 => "rfc3339",
            DateFormat::EpochMs => "epoch_ms",
            DateFormat::EpochS => "epoch_s",
            DateFormat::Pattern { spec, .. } => spec,
        }
    }

    /// Reads an instant; a date or a date-time without offset is taken in `tz`
    /// (a date at its midnight).
    pub fn instant(&self, s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
        let bad = || format!("`{s}` is not a date in format {}", self.name());
        match self {
            DateFormat::EpochMs | DateFormat::EpochS => {
                let n: i64 = s.trim().parse().map_err(|_| bad())?;
                let t = if *self == DateFormat::EpochMs {
                    DateTime::from_timestamp_millis(n)
                } else {
                    DateTime::from_timestamp(n, 0)
                };
                t.ok_or_else(bad)
            }
            DateFormat::Rfc3339 => DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("`{s}` is not an RFC 3339 instant ({e})")),
            DateFormat::Iso => {
                if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                    return Ok(t.with_timezone(&Utc));
                }
                // Salesforce's REST form: `2026-03-04T17:21:09.000+0000`.
                if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
                    return Ok(t.with_timezone(&Utc));
                }
                if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    return local(d.and_time(chrono::NaiveTime::MIN), tz, s);
                }
                for f in [
                    "%Y-%m-%d %H:%M:%S",
                    "%Y-%m-%d %H:%M",
                    "%Y-%m-%dT%H:%M:%S",
                    "%Y-%m-%dT%H:%M",
                ] {
                    if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                        return local(t, tz, s);
                    }
                }
                Err(format!(
                    "`{s}` is not an ISO date (YYYY-MM-DD), date-time or RFC 3339 instant"
                ))
            }
            DateFormat::Pattern { chrono, time, .. } => {
                if *time {
                    // A zone or offset written after the pattern is honoured.
                    if let Ok(t) = DateTime::parse_from_str(s, &format!("{chrono} %z")) {
                        return Ok(t.with_timezone(&Utc));
                    }
                    let t = NaiveDateTime::parse_from_str(s, chrono).map_err(|_| bad())?;
                    local(t, tz, s)
                } else {
                    let d = NaiveDate::parse_from_str(s, chrono).map_err(|_| bad())?;
                    local(d.and_time(chrono::NaiveTime::MIN), tz, s)
                }
            }
        }
        .and_then(|t| {
            if dealflow_engine::calendar::in_range(t) {
                Ok(t)
            } else {
                Err(format!("`{s}` is outside years 1..=9999"))
            }
        })
    }

    /// Reads a calendar date (a date-time is taken as its date in `tz`).
    pub fn date(&self, s: &str, tz: Tz) -> Result<NaiveDate, String> {
        if let DateFormat::Pattern {
            chrono,
            time: false,
            ..
        } = self
        {
            return NaiveDate::parse_from_str(s, chrono)
                .map_err(|_| format!("`{s}` is not a date in format {}", self.name()));
        }
        if *self == DateFormat::Iso {
            if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return Ok(d);
            }
        }
        Ok(self.instant(s, tz)?.with_timezone(&tz).date_naive())
    }

    /// Writes an instant back in this format (export).
    pub fn write_instant(&self, t: DateTime<Utc>, tz: Tz) -> String {
        let local = t.with_timezone(&tz);
        match self {
            DateFormat::EpochMs => t.timestamp_millis().to_string(),
            DateFormat::EpochS => t.timestamp().to_string(),
            DateFormat::Rfc3339 => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            DateFormat::Iso => {
                if local.time() == chrono::NaiveTime::MIN {
                    local.format("%Y-%m-%d").to_string()
                } else {
                    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                }
            }
            DateFormat::Pattern { chrono, .. } => local.format(chrono).to_string(),
        }
    }

    /// Writes a date back in this format (export).
    pub fn write_date(&self, d: NaiveDate, tz: Tz) -> String {
        match self {
            DateFormat::Pattern {
                chrono,
                time: false,
                ..
            } => d.format(chrono).to_string(),
            DateFormat::Iso => d.format("%Y-%m-%d").to_string(),
            _ => match local(d.and_time(chrono::NaiveTime::MIN), tz, "") {
                Ok(t) => self.write_instant(t, tz),
                Err(_) => d.format("%Y-%m-%d").to_string(),
            },
        }
    }
}

fn local(t: NaiveDateTime, tz: Tz, s: &str) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(x) => Ok(x.with_timezone(&Utc)),
        // A repeated hour (clocks going back): the first of the two.
        LocalResult::Ambiguous(a, _) => Ok(a.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "`{s}` does not exist in time zone {tz} (the clocks skip it)"
        )),
    }
}

/// Conversion settings of one column.
pub struct Conv<'a> {
    pub policy: &'a ir::Policy,
    pub format: &'a DateFormat,
    pub tz: Tz,
    pub thousands: Option<&'a str>,
    pub split: &'a str,
}

impl Conv<'_> {
    /// Converts cell text to a record value of type `ty` (what the engine's record
    /// reader accepts for that type).
    pub fn value(&self, ty: &Type, s: &str) -> Result<Value, String> {
        match ty {
            Type::Optional(t) => self.value(t, s),
            Type::Text => Ok(Value::String(s.to_string())),
            Type::Bool => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
                "false" | "f" | "no" | "n" | "0" => Ok(Value::Bool(false)),
                _ => Err(format!(
                    "`{s}` is not a yes/no value (true/false, yes/no, 1/0)"
                )),
            },
            Type::Integer => {
                let t = self.number_text(s);
                t.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("`{s}` is not a whole number"))
            }
            Type::Decimal | Type::Money => {
                let mut t = self.number_text(s);
                let cur = &self.policy.currency;
                if let Some(x) = t.strip_suffix(cur.as_str()) {
                    t = x.trim().to_string();
                }
                if let Some(x) = t.strip_prefix(cur.as_str()) {
                    t = x.trim().to_string();
                }
                for sym in ["$", "€", "£", "¥"] {
                    if let Some(x) = t.strip_prefix(sym) {
                        t = x.trim().to_string();
                    }
                }
                let d: Decimal = t
                    .parse()
                    .or_else(|_| Decimal::from_scientific(&t))
                    .map_err(|_| format!("`{s}` is not an amount"))?;
                Ok(Value::String(d.normalize().to_string()))
            }
            Type::Percent => {
                let t = s.trim();
                if let Some(p) = t.strip_suffix('%') {
                    let d: Decimal = p
                        .trim()
                        .parse()
                        .map_err(|_| format!("`{s}` is not a percentage"))?;
                    Ok(Value::String(format!("{}%", d.normalize())))
                } else {
                    let d: Decimal = t
                        .parse()
                        .map_err(|_| format!("`{s}` is not a percentage"))?;
                    // A CRM's `Probability` column is a number of percent (0..100).
                    let pct = if d > Decimal::ONE {
                        d
                    } else {
                        d * Decimal::from(100)
                    };
                    Ok(Value::String(format!("{}%", pct.normalize())))
                }
            }
            Type::Date => {
                let d = self.format.date(s.trim(), self.tz)?;
                Ok(Value::String(d.format("%Y-%m-%d").to_string()))
            }
            Type::DateTime => {
                let t = self.format.instant(s.trim(), self.tz)?;
                Ok(Value::String(crate::ts(t)))
            }
            Type::Duration | Type::BusinessDuration => Ok(Value::String(s.trim().to_string())),
            Type::Enum(id) => {
                let Some(def) = self.policy.enum_def(*id) else {
                    return Ok(Value::String(s.to_string()));
                };
                if def.variants.iter().any(|v| v == s) {
                    return Ok(Value::String(s.to_string()));
                }
                let close = def
                    .variants
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(s.trim()) || norm(v) == norm(s));
                Err(match close {
                    Some(v) => format!(
                        "`{s}` is not one of {}; did you mean `{v}`? (map it under `values`)",
                        list(&def.variants)
                    ),
                    None => format!(
                        "`{s}` is not one of {}; map it under `values`",
                        list(&def.variants)
                    ),
                })
            }
            Type::List(t) => {
                let items: Result<Vec<Value>, String> = s
                    .split(self.split)
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|x| self.value(t, x))
                    .collect();
                items.map(Value::Array)
            }
            Type::Stage | Type::Record(_) => Ok(Value::String(s.to_string())),
        }
    }

    fn number_text(&self, s: &str) -> String {
        let t = s.trim();
        match self.thousands {
            Some(sep) if !sep.is_empty() => t.replace(sep, ""),
            _ => t.to_string(),
        }
    }
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn list(v: &[String]) -> String {
    v.iter()
        .map(|x| format!("`{x}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn formats_read_what_crms_write() {
        let utc: Tz = "UTC".parse().unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        let dmy = DateFormat::parse("DD/MM/YYYY").unwrap();
        let mdy = DateFormat::parse("MM/DD/YYYY").unwrap();
        assert_eq!(
            dmy.date("03/04/2026", utc).unwrap().to_string(),
            "2026-04-03"
        );
        assert_eq!(
            mdy.date("03/04/2026", utc).unwrap().to_string(),
            "2026-03-04"
        );
        assert!(dmy.date("13/13/2026", utc).is_err());
        let dt = DateFormat::parse("MM/DD/YYYY HH:mm").unwrap();
        assert_eq!(
            dt.instant("07/01/2026 09:30", ny).unwrap(),
            at("2026-07-01T13:30:00Z")
        );
        assert_eq!(
            DateFormat::Iso
                .instant("2026-07-01T09:30:00+02:00", ny)
                .unwrap(),
            at("2026-07-01T07:30:00Z")
        );
        assert_eq!(
            DateFormat::Iso
                .instant("2026-03-04T17:21:09.000+0000", ny)
                .unwrap(),
            at("2026-03-04T17:21:09Z")
        );
        assert_eq!(
            DateFormat::EpochMs.instant("1751362200000", utc).unwrap(),
            at("2025-07-01T09:30:00Z")
        );
        // A date-time in a pattern with an offset after it keeps the offset.
        let off = DateFormat::parse("DD/MM/YYYY HH:mm").unwrap();
        assert_eq!(
            off.instant("01/07/2026 09:30 +0200", ny).unwrap(),
            at("2026-07-01T07:30:00Z")
        );
        // The hour the clocks skip in New York does not exist.
        assert!(dt.instant("03/08/2026 02:30", ny).is_err());
        assert!(DateFormat::parse("DD/QQ/YYYY").is_err());
        assert!(DateFormat::parse("DD/MM").is_err());
        let t = DateFormat::Iso.instant("2026-02-03", ny).unwrap();
        assert_eq!(t, at("2026-02-03T05:00:00Z"));
        for f in [
            "DD/MM/YYYY",
            "MM/DD/YYYY HH:mm",
            "iso",
            "epoch_ms",
            "rfc3339",
        ] {
            let f = DateFormat::parse(f).unwrap();
            assert_eq!(f.instant(&f.write_instant(t, ny), ny).unwrap(), t, "{f:?}");
        }
    }
}
