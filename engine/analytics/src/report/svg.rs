//! Small hand-written SVG charts for the HTML report.
//!
//! Every builder returns one `<svg>` element with `role="img"`, a
//! `class="chart chart-<name>"` attribute and `aria-labelledby` naming its
//! `<title>`. The element has no `xmlns`: it is meant to be inlined in an HTML5
//! document, where the SVG namespace is implied (and the report must not name any
//! URL). [`standalone`] turns one into a file of its own.
//!
//! Money arrives as decimal strings: it is parsed with [`Decimal`] and turned into
//! `f64` only for geometry; every number printed is the original string. Every
//! coordinate goes through [`num`], which never prints `NaN` or `inf`, and every
//! builder draws an empty chart with a "no data" note when there is nothing to draw.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::model::*;

/// Width of every chart's view box.
const WIDTH: f64 = 640.0;
/// Longest label drawn before it is shortened with an ellipsis.
const LABEL_CHARS: usize = 24;

const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";
const INK: &str = "#1f2933";
const MUTED: &str = "#616e7c";
const GRID: &str = "#d9e2ec";
const PRIMARY: &str = "#2f6fad";
const SECONDARY: &str = "#e4892b";
const ALERT: &str = "#c2362b";

/// Escapes `&`, `<`, `>`, `"` and `'` for text and attribute values of HTML and SVG.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or length for the SVG: one decimal, `0` for anything not finite,
/// and never `-0`.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_owned();
    }
    let rounded = (x * 10.0).round() / 10.0;
    if rounded == 0.0 {
        return "0".to_owned();
    }
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// A money string as a number for geometry: `0` when it does not parse, and never
/// negative or not finite.
pub fn money(s: &str) -> f64 {
    s.trim()
        .parse::<Decimal>()
        .ok()
        .and_then(|d| d.to_f64())
        .filter(|x| x.is_finite() && *x > 0.0)
        .unwrap_or(0.0)
}

/// A rate as a percentage with one decimal (`63.2%`), `-` for none.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() => {
            let p = r * 100.0;
            if (p * 10.0).round() == 0.0 {
                "0.0%".to_owned()
            } else {
                format!("{p:.1}%")
            }
        }
        _ => "-".to_owned(),
    }
}

/// Wraps a chart for a file of its own: the XML declaration and the SVG namespace.
pub fn standalone(svg: &str) -> String {
    let body = svg.strip_prefix("<svg").unwrap_or(svg);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"{body}"
    )
}

/// `s` shortened to [`LABEL_CHARS`] characters, with an ellipsis when cut.
fn short(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(LABEL_CHARS - 1).collect();
        out.push('\u{2026}');
        out
    }
}

/// A label shortened to fit, with the full text as its tooltip when it was cut.
fn draw_label(out: &mut String, x: f64, y: f64, anchor: &str, fill: &str, full: &str) {
    let shown = short(full);
    if shown == full {
        text(out, x, y, anchor, fill, full);
    } else {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" {FONT} fill=\"{fill}\"><title>{}</title>{}</text>",
            num(x),
            num(y),
            escape(full),
            escape(&shown)
        );
    }
}

/// A finite value in `0..=1`.
fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// `part / whole`, `0` when `whole` is not positive.
fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 && whole.is_finite() && part.is_finite() {
        part / whole
    } else {
        0.0
    }
}

/// A round number at or above `max` (1, 2 or 5 times a power of ten), and its tick step.
fn nice_max(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let exp = max.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        let top = m * base;
        if top >= max * 0.999_999 {
            return (top, top / 4.0);
        }
    }
    (10.0 * base, 2.5 * base)
}

/// An axis label for a round number: `1.5k`, `2M`, `250`.
fn tick_label(x: f64) -> String {
    let (v, suffix) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let mut s = if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if (v * 10.0 - (v * 10.0).round()).abs() < 1e-9 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if !x.is_finite() || s == "-0" {
        s = "0".to_owned();
    }
    s.push_str(suffix);
    s
}

/// The opening of a chart: the `<svg>` element, its `<title>` and a background.
fn open(name: &str, title: &str, height: f64) -> String {
    let name = escape(name);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart chart-{name}\" role=\"img\" aria-labelledby=\"chart-{name}-title\" \
         viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">\
         <title id=\"chart-{name}-title\">{title}</title>\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>",
        w = num(WIDTH),
        h = num(height),
        title = escape(title),
    );
    out
}

/// A chart with nothing to draw: the frame and a "no data" note.
fn empty(name: &str, title: &str) -> String {
    let height = 120.0;
    let mut out = open(name, title, height);
    let _ = write!(
        out,
        "<rect x=\"1\" y=\"1\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"{GRID}\"/>\
         <text class=\"no-data\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" {FONT} fill=\"{MUTED}\">no data</text></svg>",
        w = num(WIDTH - 2.0),
        h = num(height - 2.0),
        x = num(WIDTH / 2.0),
        y = num(height / 2.0 + 4.0),
    );
    out
}

/// `<text>` with escaped content.
fn text(out: &mut String, x: f64, y: f64, anchor: &str, fill: &str, content: &str) {
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" {FONT} fill=\"{fill}\">{}</text>",
        num(x),
        num(y),
        escape(content)
    );
}

fn line(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, extra: &str) {
    let _ = write!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\"{extra}/>",
        num(x1),
        num(y1),
        num(x2),
        num(y2)
    );
}

/// A rectangle with a tooltip.
fn rect(out: &mut String, (x, y, w, h): (f64, f64, f64, f64), fill: &str, class: &str, tip: &str) {
    let _ = write!(
        out,
        "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"><title>{}</title></rect>",
        num(x),
        num(y),
        num(w.max(0.0)),
        num(h.max(0.0)),
        escape(tip)
    );
}

/// The conversion funnel: per stage in `conversion` (flow order), the closed deals
/// that reached it as a centred bar, with how many of them were won and the rate.
/// Stage labels and the deals in each stage now come from `by_stage`.
pub fn funnel(by_stage: &[StageCount], conversion: &[StageConversion]) -> String {
    let name = "funnel";
    let title = "Conversion funnel: closed deals reaching each stage, and won";
    if conversion.is_empty() {
        return empty(name, title);
    }
    let stages: BTreeMap<&str, &StageCount> =
        by_stage.iter().map(|s| (s.stage.as_str(), s)).collect();
    let row_h = 34.0;
    let top = 16.0;
    let height = top * 2.0 + row_h * conversion.len() as f64;
    let label_w = 170.0;
    let note_w = 210.0;
    let plot_w = WIDTH - label_w - note_w - 20.0;
    let centre = label_w + 10.0 + plot_w / 2.0;
    let max = conversion.iter().map(|c| c.reached).max().unwrap_or(0) as f64;
    let mut out = open(name, title, height);
    for (i, c) in conversion.iter().enumerate() {
        let y = top + row_h * i as f64;
        let label = stages
            .get(c.stage.as_str())
            .map_or(c.stage.as_str(), |s| s.label.as_str());
        let w = plot_w * ratio(c.reached as f64, max);
        let won_w = plot_w * ratio(c.won as f64, max);
        draw_label(&mut out, label_w, y + row_h / 2.0 + 4.0, "end", INK, label);
        rect(
            &mut out,
            (centre - w / 2.0, y + 4.0, w, row_h - 8.0),
            PRIMARY,
            "reached",
            &format!("{label}: {} reached", c.reached),
        );
        rect(
            &mut out,
            (centre - won_w / 2.0, y + 10.0, won_w, row_h - 20.0),
            SECONDARY,
            "won",
            &format!("{label}: {} won", c.won),
        );
        let mut note = format!("{} reached, {} won, {}", c.reached, c.won, percent(c.rate));
        if let Some(s) = stages.get(c.stage.as_str()) {
            let _ = write!(note, "; {} now", s.count);
        }
        text(
            &mut out,
            WIDTH - note_w,
            y + row_h / 2.0 + 4.0,
            "start",
            MUTED,
            &note,
        );
    }
    out.push_str("</svg>");
    out
}

/// How a bar chart's axis reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Values are rates in `0..=1`, drawn on a fixed 0% to 100% axis.
    Percent,
    /// Values are non-negative amounts, drawn from 0 to a round number above the largest.
    Number,
}

/// A horizontal bar chart: one row per `(label, value, annotation)`. A row whose
/// value is `None` draws no bar, only its label and annotation. `name` makes the
/// chart's class (`chart-<name>`) and title id, so it must be unique in a page.
pub fn bars(name: &str, title: &str, rows: &[(String, Option<f64>, String)], axis: Axis) -> String {
    if rows.is_empty() {
        return empty(name, title);
    }
    let (max, step) = match axis {
        Axis::Percent => (1.0, 0.25),
        Axis::Number => nice_max(
            rows.iter()
                .filter_map(|r| r.1)
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max),
        ),
    };
    let row_h = 24.0;
    let top = 12.0;
    let axis_h = 24.0;
    let height = top + row_h * rows.len() as f64 + axis_h;
    let label_w = 180.0;
    let note_w = 150.0;
    let x0 = label_w + 10.0;
    let plot_w = WIDTH - x0 - note_w - 10.0;
    let bottom = top + row_h * rows.len() as f64;
    let mut out = open(name, title, height);
    // Grid and ticks.
    let ticks = (max / step).round().clamp(1.0, 10.0) as usize;
    for t in 0..=ticks {
        let v = step * t as f64;
        let x = x0 + plot_w * ratio(v, max);
        line(&mut out, (x, top), (x, bottom), GRID, "");
        let label = match axis {
            Axis::Percent => format!("{:.0}%", v * 100.0),
            Axis::Number => tick_label(v),
        };
        text(&mut out, x, bottom + 16.0, "middle", MUTED, &label);
    }
    for (i, (label, value, note)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        draw_label(&mut out, label_w, y + row_h / 2.0 + 4.0, "end", INK, label);
        if let Some(v) = value {
            let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
            let w = plot_w * unit(ratio(v, max));
            rect(
                &mut out,
                (x0, y + 4.0, w, row_h - 8.0),
                PRIMARY,
                "bar",
                &format!("{label}: {note}"),
            );
        }
        text(
            &mut out,
            x0 + plot_w + 8.0,
            y + row_h / 2.0 + 4.0,
            "start",
            MUTED,
            note,
        );
    }
    line(&mut out, (x0, top), (x0, bottom), INK, "");
    out.push_str("</svg>");
    out
}

/// Open pipeline by age band: one column per band, its height the band's amount
/// (its count when no band has an amount), labelled with the count and amount.
pub fn aging(a: &Aging) -> String {
    let name = "aging";
    let title = "Open pipeline by age band";
    if a.bands.is_empty() {
        return empty(name, title);
    }
    let amounts: Vec<f64> = a.bands.iter().map(|b| money(&b.amount)).collect();
    let by_amount = amounts.iter().any(|x| *x > 0.0);
    let values: Vec<f64> = if by_amount {
        amounts
    } else {
        a.bands.iter().map(|b| b.count as f64).collect()
    };
    let max = values.iter().copied().fold(0.0, f64::max);
    let (top_v, step) = nice_max(max);
    let height = 260.0;
    let left = 60.0;
    let top = 30.0;
    let bottom = height - 50.0;
    let plot_w = WIDTH - left - 20.0;
    let plot_h = bottom - top;
    let mut out = open(name, title, height);
    let ticks = (top_v / step).round().clamp(1.0, 10.0) as usize;
    for t in 0..=ticks {
        let v = step * t as f64;
        let y = bottom - plot_h * ratio(v, top_v);
        line(&mut out, (left, y), (WIDTH - 20.0, y), GRID, "");
        text(&mut out, left - 6.0, y + 4.0, "end", MUTED, &tick_label(v));
    }
    let slot = plot_w / a.bands.len() as f64;
    let bar_w = (slot * 0.6).min(70.0);
    for (i, (band, v)) in a.bands.iter().zip(&values).enumerate() {
        let h = plot_h * unit(ratio(*v, top_v));
        let cx = left + slot * (i as f64 + 0.5);
        rect(
            &mut out,
            (cx - bar_w / 2.0, bottom - h, bar_w, h),
            PRIMARY,
            "band",
            &format!("{}: {} deals, {}", band.band, band.count, band.amount),
        );
        text(
            &mut out,
            cx,
            bottom - h - 6.0,
            "middle",
            INK,
            &band.count.to_string(),
        );
        draw_label(&mut out, cx, bottom + 16.0, "middle", INK, &band.band);
        draw_label(&mut out, cx, bottom + 32.0, "middle", MUTED, &band.amount);
    }
    line(&mut out, (left, bottom), (WIDTH - 20.0, bottom), INK, "");
    let unit_note = if by_amount {
        "height: amount; label: deals"
    } else {
        "height and label: deals"
    };
    text(&mut out, left, 16.0, "start", MUTED, unit_note);
    out.push_str("</svg>");
    out
}

/// Declared stage probability (x) against observed conversion to won (y), both
/// on 0..1: the diagonal is perfect calibration, a filled dot is the observed rate
/// with its 95% interval as a whisker, a hollow diamond on the diagonal is the
/// declared probability. Stages whose declared probability lies outside the
/// interval are drawn in red.
pub fn calibration(rows: &[Calibration]) -> String {
    let name = "calibration";
    let title = "Calibration: declared stage probability against observed win rate";
    if rows.is_empty() {
        return empty(name, title);
    }
    let height = 420.0;
    let left = 60.0;
    let top = 20.0;
    let size = height - top - 50.0;
    let right = left + size;
    let bottom = top + size;
    let px = |v: f64| left + size * unit(v);
    let py = |v: f64| bottom - size * unit(v);
    let mut out = open(name, title, height);
    for t in 0..=4 {
        let v = f64::from(t) * 0.25;
        line(&mut out, (px(v), top), (px(v), bottom), GRID, "");
        line(&mut out, (left, py(v)), (right, py(v)), GRID, "");
        let label = format!("{:.0}%", v * 100.0);
        text(&mut out, px(v), bottom + 16.0, "middle", MUTED, &label);
        text(&mut out, left - 6.0, py(v) + 4.0, "end", MUTED, &label);
    }
    line(&mut out, (left, bottom), (right, bottom), INK, "");
    line(&mut out, (left, bottom), (left, top), INK, "");
    line(
        &mut out,
        (px(0.0), py(0.0)),
        (px(1.0), py(1.0)),
        MUTED,
        " stroke-dasharray=\"4 4\" class=\"diagonal\"",
    );
    text(
        &mut out,
        (left + right) / 2.0,
        bottom + 36.0,
        "middle",
        INK,
        "declared probability",
    );
    let _ = write!(
        out,
        "<text x=\"14\" y=\"{y}\" text-anchor=\"middle\" {FONT} fill=\"{INK}\" transform=\"rotate(-90 14 {y})\">observed win rate</text>",
        y = num((top + bottom) / 2.0)
    );
    for c in rows {
        let colour = if c.outside { ALERT } else { PRIMARY };
        let x = px(c.declared);
        let d = py(c.declared);
        let _ = write!(
            out,
            "<path class=\"declared\" d=\"M {} {} L {} {} L {} {} L {} {} Z\" fill=\"#ffffff\" stroke=\"{SECONDARY}\" stroke-width=\"2\"><title>{}</title></path>",
            num(x),
            num(d - 6.0),
            num(x + 6.0),
            num(d),
            num(x),
            num(d + 6.0),
            num(x - 6.0),
            num(d),
            escape(&format!("{}: declared {}", c.stage, percent(Some(c.declared))))
        );
        if let (Some(low), Some(high)) = (c.low, c.high) {
            let (y1, y2) = (py(low), py(high));
            line(&mut out, (x, y1), (x, y2), colour, " class=\"interval\"");
            line(&mut out, (x - 4.0, y1), (x + 4.0, y1), colour, "");
            line(&mut out, (x - 4.0, y2), (x + 4.0, y2), colour, "");
        }
        if let Some(obs) = c.observed {
            let tip = format!(
                "{}: observed {} ({} of {}), 95% interval {} to {}",
                c.stage,
                percent(Some(obs)),
                c.won,
                c.reached,
                percent(c.low),
                percent(c.high)
            );
            let _ = write!(
                out,
                "<circle class=\"observed\" cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{colour}\"><title>{}</title></circle>",
                num(x),
                num(py(obs)),
                escape(&tip)
            );
        }
        draw_label(&mut out, x + 10.0, d + 16.0, "start", INK, &c.stage);
    }
    // Legend, bottom right: stage labels run to the right of the plot's top.
    let lx = right + 40.0;
    let top = bottom - 60.0;
    let _ = write!(
        out,
        "<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{PRIMARY}\"/>",
        num(lx),
        num(top + 10.0)
    );
    text(
        &mut out,
        lx + 12.0,
        top + 14.0,
        "start",
        INK,
        "observed, 95% interval",
    );
    let _ = write!(
        out,
        "<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{ALERT}\"/>",
        num(lx),
        num(top + 30.0)
    );
    text(
        &mut out,
        lx + 12.0,
        top + 34.0,
        "start",
        INK,
        "declared outside interval",
    );
    let _ = write!(
        out,
        "<path d=\"M {} {} L {} {} L {} {} L {} {} Z\" fill=\"#ffffff\" stroke=\"{SECONDARY}\" stroke-width=\"2\"/>",
        num(lx),
        num(top + 44.0),
        num(lx + 6.0),
        num(top + 50.0),
        num(lx),
        num(top + 56.0),
        num(lx - 6.0),
        num(top + 50.0)
    );
    text(
        &mut out,
        lx + 12.0,
        top + 54.0,
        "start",
        INK,
        "declared probability",
    );
    out.push_str("</svg>");
    out
}

/// Forecast against actual won per period: two bars per period.
pub fn forecast(points: &[ForecastPoint]) -> String {
    let name = "forecast";
    let title = "Forecast at the start of each quarter against what closed won";
    if points.is_empty() {
        return empty(name, title);
    }
    let values: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (money(&p.forecast), money(&p.actual)))
        .collect();
    let max = values.iter().fold(0.0, |m: f64, (f, a)| m.max(*f).max(*a));
    let (top_v, step) = nice_max(max);
    let height = 280.0;
    let left = 60.0;
    let top = 36.0;
    let bottom = height - 44.0;
    let plot_w = WIDTH - left - 20.0;
    let plot_h = bottom - top;
    let mut out = open(name, title, height);
    let ticks = (top_v / step).round().clamp(1.0, 10.0) as usize;
    for t in 0..=ticks {
        let v = step * t as f64;
        let y = bottom - plot_h * ratio(v, top_v);
        line(&mut out, (left, y), (WIDTH - 20.0, y), GRID, "");
        text(&mut out, left - 6.0, y + 4.0, "end", MUTED, &tick_label(v));
    }
    let slot = plot_w / points.len() as f64;
    let bar_w = (slot * 0.35).min(40.0);
    for (i, (p, (f, a))) in points.iter().zip(&values).enumerate() {
        let cx = left + slot * (i as f64 + 0.5);
        let hf = plot_h * unit(ratio(*f, top_v));
        let ha = plot_h * unit(ratio(*a, top_v));
        rect(
            &mut out,
            (cx - bar_w, bottom - hf, bar_w, hf),
            PRIMARY,
            "forecast",
            &format!("{}: forecast {}", p.period, p.forecast),
        );
        rect(
            &mut out,
            (cx, bottom - ha, bar_w, ha),
            SECONDARY,
            "actual",
            &format!("{}: actual {}", p.period, p.actual),
        );
        draw_label(&mut out, cx, bottom + 16.0, "middle", INK, &p.period);
        text(
            &mut out,
            cx,
            bottom + 32.0,
            "middle",
            MUTED,
            &percent(p.accuracy),
        );
    }
    line(&mut out, (left, bottom), (WIDTH - 20.0, bottom), INK, "");
    rect(
        &mut out,
        (left, 10.0, 12.0, 12.0),
        PRIMARY,
        "legend",
        "forecast",
    );
    text(&mut out, left + 18.0, 20.0, "start", INK, "forecast");
    rect(
        &mut out,
        (left + 100.0, 10.0, 12.0, 12.0),
        SECONDARY,
        "legend",
        "actual",
    );
    text(&mut out, left + 118.0, 20.0, "start", INK, "actual won");
    text(
        &mut out,
        WIDTH - 20.0,
        20.0,
        "end",
        MUTED,
        "below each period: accuracy",
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_is_always_finite() {
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.34), "12.3");
    }

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn nice_max_is_round() {
        assert_eq!(nice_max(0.0), (1.0, 0.25));
        assert_eq!(nice_max(830.0).0, 1000.0);
        assert_eq!(nice_max(1_200.0).0, 2_000.0);
        assert_eq!(nice_max(2_000.0).0, 2_000.0);
        assert_eq!(nice_max(4_100.0).0, 5_000.0);
    }

    #[test]
    fn money_parses_decimals() {
        assert_eq!(money("1250.50"), 1250.5);
        assert_eq!(money("oops"), 0.0);
        assert_eq!(money("-3"), 0.0);
    }

    #[test]
    fn percent_formats() {
        assert_eq!(percent(Some(0.6321)), "63.2%");
        assert_eq!(percent(None), "-");
        assert_eq!(percent(Some(f64::NAN)), "-");
        assert_eq!(percent(Some(-0.0001)), "0.0%");
    }

    #[test]
    fn standalone_adds_namespace() {
        let s = standalone(&empty("x", "t"));
        assert!(s.starts_with("<?xml"));
        assert!(s.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart chart-x\""));
    }
}
