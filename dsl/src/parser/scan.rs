//! Lexical scans over raw policy text that do not need the grammar: comment
//! collection, the bracket-depth pre-check, brace matching for error help, and the
//! item-level recovery mask.
//!
//! All scans work on bytes but only stop at ASCII characters, so every offset they
//! return is a char boundary.

use crate::ast::{Comment, Span};
use crate::diagnostics::{Code, Diagnostic};

/// What a byte of the text belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Code,
    Text,
    Comment,
}

/// Walks the text, calling `f(offset, byte)` for every byte outside strings and
/// comments, and `on_comment(start, end)` for every comment (end excludes the newline).
fn walk(text: &str, mut f: impl FnMut(usize, u8), mut on_comment: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let mut class = Class::Code;
    let mut comment_start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match class {
            Class::Code => {
                if b == b'"' {
                    class = Class::Text;
                } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                    class = Class::Comment;
                    comment_start = i;
                    i += 1;
                } else {
                    f(i, b);
                }
            }
            Class::Text => match b {
                b'\\' if bytes.get(i + 1).is_some_and(|&n| n != b'\n') => i += 1,
                b'"' | b'\n' => class = Class::Code,
                _ => {}
            },
            Class::Comment => {
                if b == b'\n' {
                    on_comment(comment_start, i);
                    class = Class::Code;
                    f(i, b);
                }
            }
        }
        i += 1;
    }
    if class == Class::Comment {
        on_comment(comment_start, bytes.len());
    }
}

/// Every `//` comment, in order: text without the `//` (and without a trailing `\r`),
/// span from the `//` to the end of the line.
pub(super) fn comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    walk(
        text,
        |_, _| {},
        |start, end| {
            let mut end = end;
            if end > start + 2 && text.as_bytes().get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
            let body = text.get(start + 2..end).unwrap_or("");
            // A stray carriage return inside a comment reads as a space (editors show
            // it as a line break) and trailing blanks are not part of the text: the
            // formatter prints comments the same way.
            out.push(Comment {
                text: body.replace('\r', " ").trim_end().to_string(),
                span: start..end,
            });
        },
    );
    out
}

/// Reports brackets nested deeper than `max` (counting `(`, `[`, `{` and `list<`),
/// before pest recurses into them.
pub(super) fn check_nesting(text: &str, max: usize) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut list_depth = 0usize;
    let mut found = None;
    walk(
        text,
        |i, b| {
            if found.is_some() {
                return;
            }
            match b {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                b'<' if follows_list_keyword(bytes, i) => list_depth += 1,
                b'>' if list_depth > 0 => list_depth -= 1,
                _ => return,
            }
            if depth + list_depth > max {
                found = Some(i);
            }
        },
        |_, _| {},
    );
    found.map(|i| {
        Diagnostic::new(Code::Syntax, i..i + 1, "the policy is nested too deeply")
            .label(format!("more than {max} levels of brackets"))
            .help("split the expression into smaller rules, or flags that later rules can use")
    })
}

/// Whether the `<` at `i` follows the word `list` (spaces allowed in between).
fn follows_list_keyword(bytes: &[u8], i: usize) -> bool {
    let mut j = i;
    while j > 0 && bytes.get(j - 1).is_some_and(|b| b.is_ascii_whitespace()) {
        j -= 1;
    }
    j >= 4
        && bytes.get(j - 4..j) == Some(b"list".as_slice())
        && (j == 4
            || !bytes
                .get(j - 5)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_'))
}

/// The innermost `{` still open at `pos`, if any.
pub(super) fn unclosed_brace_before(text: &str, pos: usize) -> Option<usize> {
    let mut stack = Vec::new();
    walk(
        text,
        |i, b| {
            if i >= pos {
                return;
            }
            match b {
                b'{' => stack.push(i),
                b'}' => {
                    stack.pop();
                }
                _ => {}
            }
        },
        |_, _| {},
    );
    stack.pop()
}

/// Whether the `}` at `pos` closes no `{`.
pub(super) fn is_unmatched_close(text: &str, pos: usize) -> bool {
    let mut depth = 0usize;
    let mut unmatched = false;
    walk(
        text,
        |i, b| {
            if i > pos {
                return;
            }
            match b {
                b'{' => depth += 1,
                b'}' if depth == 0 => unmatched = i == pos,
                b'}' => depth -= 1,
                _ => {}
            }
        },
        |_, _| {},
    );
    unmatched
}

const ITEM_KEYWORDS: &[&str] = &[
    "policy",
    "record",
    "stage",
    "won",
    "lost",
    "flow",
    "registration",
    "cosell",
    "commission",
    "hygiene",
    "leads",
];

/// Whether `word` starts a top-level item.
pub(super) fn is_item_keyword(word: &str) -> bool {
    ITEM_KEYWORDS.contains(&word)
}

/// Byte offsets of the lines that start (in column 1) with a top-level keyword.
fn item_starts(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let word_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len());
        if line.get(..word_end).is_some_and(is_item_keyword) {
            out.push(line_start);
        }
        line_start += line.len();
    }
    out
}

/// The keyword of the top-level item that `pos` lies in (`flow`, `stage`, ...).
pub(super) fn item_keyword_at(text: &str, pos: usize) -> Option<&str> {
    let start = item_starts(text).into_iter().rfind(|&s| s <= pos)?;
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    rest.get(..end)
}

/// A stage declared with a label: `stage LeadAccepted "Lead Accepted" {`.
pub(super) struct StageLabel<'t> {
    pub name: &'t str,
    pub name_span: Span,
    pub label: &'t str,
}

/// Every stage declared with a label, found line by line (for error help only).
pub(super) fn stage_labels(text: &str) -> Vec<StageLabel<'_>> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let offset = line_start;
        line_start += line.len();
        let trimmed = line.trim_start();
        let mut rest = trimmed;
        for prefix in ["won ", "lost "] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r.trim_start();
            }
        }
        let Some(r) = rest.strip_prefix("stage ") else {
            continue;
        };
        let r_trim = r.trim_start();
        let name_len = r_trim
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(r_trim.len());
        let (Some(name), Some(after)) = (r_trim.get(..name_len), r_trim.get(name_len..)) else {
            continue;
        };
        let Some(quoted) = after.trim_start().strip_prefix('"') else {
            continue;
        };
        let Some(label) = quoted.find('"').and_then(|end| quoted.get(..end)) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let name_start = offset + (line.len() - r_trim.len());
        out.push(StageLabel {
            name,
            name_span: name_start..name_start + name.len(),
            label,
        });
    }
    out
}

/// Blanks out (with spaces, keeping newlines and byte offsets) the top-level item in
/// which a syntax error at `pos` occurred, so that parsing can resume at the next
/// item. When `pos` is itself the start of an item (typically: the previous item is
/// missing its `}`), the previous item is blanked instead. `None` when there is
/// nothing left to resume at.
pub(super) fn mask_failed_item(text: &str, pos: usize) -> Option<String> {
    let starts = item_starts(text);
    let (from, to) = if starts.contains(&pos) {
        let from = starts
            .iter()
            .rev()
            .find(|&&s| s < pos)
            .copied()
            .unwrap_or(0);
        (from, pos)
    } else {
        let from = starts
            .iter()
            .rev()
            .find(|&&s| s <= pos)
            .copied()
            .unwrap_or(0);
        let to = starts.iter().find(|&&s| s > pos).copied()?;
        (from, to)
    };
    if from >= to {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(text.get(..from)?);
    for c in text.get(from..to)?.chars() {
        if c == '\n' || c == '\r' {
            out.push(c);
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
    out.push_str(text.get(to..)?);
    Some(out)
}

/// The span of the `{` at `i`.
pub(super) fn one_byte(i: usize) -> Span {
    i..i + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_skip_strings_and_strip_markers() {
        let text = "a \"x // not\" // one\r\n// two\nb // three";
        let got: Vec<(String, Span)> = comments(text)
            .into_iter()
            .map(|c| (c.text, c.span))
            .collect();
        assert_eq!(
            got,
            vec![
                (" one".to_string(), 13..19),
                (" two".to_string(), 21..27),
                (" three".to_string(), 30..38)
            ]
        );
    }

    #[test]
    fn nesting_counts_brackets_and_list_types() {
        assert!(check_nesting("((()))", 3).is_none());
        assert_eq!(check_nesting("(((())))", 3).map(|d| d.span), Some(3..4));
        assert!(check_nesting("x: list<list<text>>", 2).is_none());
        assert!(check_nesting("x: list < list<list<text>>>", 2).is_some());
        // brackets in strings and comments do not count
        assert!(check_nesting("\"((((\" // ((((\n()", 1).is_none());
    }

    #[test]
    fn brace_matching() {
        let text = "a { b { c } d";
        assert_eq!(unclosed_brace_before(text, text.len()), Some(2));
        assert!(is_unmatched_close("a { } }", 6));
        assert!(!is_unmatched_close("a { } }", 4));
    }

    #[test]
    fn masking_keeps_offsets() {
        let text = "flow {\n  x\n}\nstage A {}\nstage B {}\n";
        let masked = mask_failed_item(text, 9).unwrap();
        assert_eq!(masked.len(), text.len());
        assert_eq!(masked, "      \n   \n \nstage A {}\nstage B {}\n");
        // an error at an item start blanks the previous (unclosed) item
        let masked = mask_failed_item(text, 13).unwrap();
        assert!(masked.starts_with("      \n   \n \nstage A"));
        assert_eq!(mask_failed_item(text, 30), None);
    }
}
