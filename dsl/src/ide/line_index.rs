//! Byte offsets <-> (line, column) in UTF-8 bytes or UTF-16 code units: the position
//! arithmetic an editor protocol needs, without any protocol types.

use std::sync::Arc;

/// How columns are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Columns are UTF-8 bytes (spans need no conversion).
    Utf8,
    /// Columns are UTF-16 code units (the editor-protocol default).
    Utf16,
}

/// A 0-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Line starts of one text, for converting offsets and positions both ways.
#[derive(Clone, Debug)]
pub struct LineIndex {
    text: Arc<str>,
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: Arc<str>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, line_starts }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The position of a byte offset (clamped to the text and moved back to a char
    /// boundary).
    pub fn position(&self, offset: usize, enc: Encoding) -> Position {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let prefix = self.text.get(start..offset).unwrap_or("");
        let column = match enc {
            Encoding::Utf8 => prefix.len(),
            Encoding::Utf16 if prefix.is_ascii() => prefix.len(),
            Encoding::Utf16 => prefix.chars().map(char::len_utf16).sum(),
        };
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// The byte offset of a position. A line past the end maps to the end of the
    /// text; a column past the end of its line maps to the end of that line; a column
    /// inside a character maps to that character's start.
    pub fn offset(&self, pos: Position, enc: Encoding) -> usize {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(pos.line as usize + 1)
            .map(|next| next.saturating_sub(1))
            .unwrap_or(self.text.len());
        let line = self.text.get(start..end).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let want = pos.column as usize;
        match enc {
            Encoding::Utf8 => {
                let mut col = want.min(line.len());
                while col > 0 && !line.is_char_boundary(col) {
                    col -= 1;
                }
                start + col
            }
            Encoding::Utf16 => {
                let mut units = 0;
                for (i, c) in line.char_indices() {
                    if units >= want {
                        return start + i;
                    }
                    units += c.len_utf16();
                    if units > want {
                        return start + i;
                    }
                }
                start + line.len()
            }
        }
    }

    /// The start and end positions of a byte span.
    pub fn range(&self, span: &std::ops::Range<usize>, enc: Encoding) -> (Position, Position) {
        (self.position(span.start, enc), self.position(span.end, enc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, column: u32) -> Position {
        Position { line, column }
    }

    #[test]
    fn ascii_round_trip() {
        let idx = LineIndex::new("ab\ncd\n".into());
        for offset in 0..=6 {
            for enc in [Encoding::Utf8, Encoding::Utf16] {
                assert_eq!(idx.offset(idx.position(offset, enc), enc), offset);
            }
        }
        assert_eq!(idx.position(4, Encoding::Utf16), pos(1, 1));
    }

    #[test]
    fn utf16_counts_surrogate_pairs() {
        // `😀` is 4 UTF-8 bytes and 2 UTF-16 units; `é` is 2 bytes and 1 unit.
        let idx = LineIndex::new("// 😀é x\nnext".into());
        let x = "// 😀é ".len();
        assert_eq!(idx.position(x, Encoding::Utf16), pos(0, 7));
        assert_eq!(idx.position(x, Encoding::Utf8), pos(0, 10));
        assert_eq!(idx.offset(pos(0, 7), Encoding::Utf16), x);
        assert_eq!(idx.offset(pos(0, 10), Encoding::Utf8), x);
        // Inside the surrogate pair: the start of the emoji.
        assert_eq!(idx.offset(pos(0, 4), Encoding::Utf16), 3);
        // Inside a UTF-8 sequence: back to the char start.
        assert_eq!(idx.position(4, Encoding::Utf8), pos(0, 3));
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let idx = LineIndex::new("ab\r\ncd".into());
        assert_eq!(idx.offset(pos(0, 99), Encoding::Utf16), 2);
        assert_eq!(idx.offset(pos(9, 0), Encoding::Utf8), 6);
        assert_eq!(idx.position(99, Encoding::Utf16), pos(1, 2));
    }
}
