//! Terminal safety: text that came from records, contexts, cases or policies is shown
//! with control characters and other characters a terminal acts on (escape
//! sequences, bidi overrides, invisible separators) written out as escapes, so an id
//! like `OPP-1\u{1b}[2J` cannot clear the screen or reorder what the reader sees.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a terminal would act on `c` rather than show it: C0 and C1 controls, DEL,
/// bidi embeddings, overrides, isolates and marks, zero-width and invisible
/// characters, line and paragraph separators.
pub fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}')
}

/// One line of untrusted text: every dangerous character escaped (`\n`, `\r`, `\t`,
/// else `\u{..}`), so the text stays on one line and shows exactly what it holds.
pub fn clean(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// A whole block of output whose line breaks are ours: like [`clean`], but `\n` is
/// kept. The last line of defence for everything printed by `eval` and `test`.
pub fn block(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| is_dangerous(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// JSON text with every dangerous character that JSON allows raw (DEL, C1 controls,
/// bidi and invisible characters) written as a `\uXXXX` escape. They can only occur
/// inside strings, so the result is the same JSON value.
pub fn json(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) && c != '\n' {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Source text for a rendered excerpt: each dangerous character (but `\n`, `\r` and
/// `\t`, which excerpts lay out) replaced by one visible character of the same UTF-8
/// length (`?`, `¿`, `\u{fffd}`), so byte offsets and character columns still fit.
pub fn excerpt(s: &str) -> Cow<'_, str> {
    let bad = |c: char| is_dangerous(c) && !matches!(c, '\n' | '\r' | '\t');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match (bad(c), c.len_utf8()) {
                (false, _) => c,
                (true, 1) => '?',
                (true, 2) => '\u{bf}',
                (true, _) => '\u{fffd}',
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(clean("OPP-1"), "OPP-1");
        assert_eq!(clean("OPP\u{1b}[31m-1"), "OPP\\u{1b}[31m-1");
        assert_eq!(clean("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(clean("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(clean("x\u{9b}2J"), "x\\u{9b}2J");
        assert_eq!(clean("\u{7f}\u{200b}\u{2066}"), "\\u{7f}\\u{200b}\\u{2066}");
        assert_eq!(block("line 1\nline\u{7}2\n"), "line 1\nline\\u{7}2\n");
        // Ordinary non-ASCII text is left alone.
        assert_eq!(clean("Zürich ✓ → €"), "Zürich ✓ → €");
    }

    #[test]
    fn excerpts_keep_offsets_and_columns() {
        let text = "a\u{1b}[2J b\u{9b} c\u{202e}d\n\tx";
        let shown = excerpt(text);
        assert_eq!(shown, "a?[2J b\u{bf} c\u{fffd}d\n\tx");
        assert_eq!(shown.len(), text.len());
        assert_eq!(shown.chars().count(), text.chars().count());
    }

    #[test]
    fn json_escapes_keep_the_value() {
        let v = serde_json::json!({"id": "A\u{202e}B\u{9b}C\u{7f}"});
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        let safe = json(&text);
        assert!(!safe.chars().any(is_dangerous_but_newline), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap_or_default();
        assert_eq!(back, v);
    }

    fn is_dangerous_but_newline(c: char) -> bool {
        is_dangerous(c) && c != '\n'
    }
}
