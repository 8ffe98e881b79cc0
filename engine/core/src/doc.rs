//! The document tree a record or context is read into before validation.
//!
//! JSON is read by a small parser of our own so that numbers keep the exact text the
//! user wrote (money is decimal, never a float), duplicate keys stay visible (the
//! validator refuses them with a path) and nesting is bounded while parsing. YAML is
//! built into the same tree straight from saphyr-parser's events (no intermediate
//! value, no float: plain scalars keep their text and resolve by the YAML 1.2 core
//! schema), after a linear pre-scan bounds its nesting; aliases are expanded up to
//! [`MAX_ALIAS_VALUES`] values in all and a second document is refused. saphyr-parser
//! is a maintained pure-Rust YAML 1.2 event parser (the saphyr project continues
//! yaml-rust2) that hands out each scalar's text and style. Measured with
//! `examples/parse_record.rs` (channel-standard policy, release build), against
//! serde_yaml: 1M line items (91 MB) peak 1.57 GB -> 470 MB RSS, 1M events (61 MB)
//! 1.20 GB -> 284 MB; callgrind on 20k line items, `parse_yaml` 920M -> 684M
//! instructions. Maps are flat vectors of
//! `(key, value)` pairs with interned keys, so a million line items cost a few
//! hundred bytes each rather than a `BTreeMap` of `String`s each.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

/// How deep lists and maps may nest in a record or context file.
pub const MAX_DEPTH: usize = 64;

/// One value of a record or context document.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// A number, as written (hex and octal YAML integers as decimal digits).
    Num(Arc<str>),
    /// Text; short texts repeated across the document share one allocation.
    Str(Arc<str>),
    List(Box<[Node]>),
    /// Entries in document order; duplicate keys are kept (and refused by validation).
    Map(Box<[(Arc<str>, Node)]>),
    /// A value the reader cannot use (YAML `.nan`, `.inf`, a tag), with why.
    Bad(Box<str>),
}

impl Node {
    /// The value at `key` of a map (the first one when a key repeats).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| &**k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts a `serde_json::Value` (the embedding API and inline test cases).
    pub fn from_json(v: &Json) -> Node {
        match v {
            Json::Null => Node::Null,
            Json::Bool(b) => Node::Bool(*b),
            Json::Number(n) => Node::Num(n.to_string().into()),
            Json::String(s) => Node::Str(s.as_str().into()),
            Json::Array(items) => Node::List(items.iter().map(Node::from_json).collect()),
            Json::Object(m) => Node::Map(
                m.iter()
                    .map(|(k, v)| (Arc::from(k.as_str()), Node::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Node {
    /// Reads any serde format into a tree (YAML tags, `.nan` and `.inf` become [`Node::Bad`]).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let keys = std::cell::RefCell::new(Keys::default());
        NodeSeed { keys: &keys }.deserialize(d)
    }
}

impl Node {
    /// Converts to a `serde_json::Value`, refusing what JSON values cannot hold
    /// faithfully: a duplicate key or an unreadable value (with its path). Numbers
    /// beyond 64-bit integers, and fractions, become their text so no float rounds them.
    pub fn to_json(&self, path: &str) -> Result<Json, String> {
        let at = |p: &str| {
            if p.is_empty() {
                String::new()
            } else {
                format!("`{p}`: ")
            }
        };
        Ok(match self {
            Node::Null => Json::Null,
            Node::Bool(b) => Json::Bool(*b),
            Node::Num(t) => {
                if let Ok(i) = t.parse::<i64>() {
                    Json::from(i)
                } else if let Ok(u) = t.parse::<u64>() {
                    Json::from(u)
                } else {
                    Json::String(t.to_string())
                }
            }
            Node::Str(t) => Json::String(t.to_string()),
            Node::Bad(why) => return Err(format!("{}{why}", at(path))),
            Node::List(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| x.to_json(&format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Map(entries) => {
                let mut m = serde_json::Map::new();
                for (k, v) in entries.iter() {
                    let p = if path.is_empty() {
                        k.to_string()
                    } else {
                        format!("{path}.{k}")
                    };
                    let v = v.to_json(&p)?;
                    if m.insert(k.to_string(), v).is_some() {
                        return Err(format!("`{p}`: `{k}` is given more than once"));
                    }
                }
                Json::Object(m)
            }
        })
    }
}

/// A fast hash for the short texts the interner sees (FxHash's mixing step); the
/// interner's table is bounded, so no adversarial input can make it degrade far.
#[derive(Default)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
    }
}

/// Shares map keys and short texts: records repeat the same few keys, enum names and
/// numbers in every line item and event.
#[derive(Default)]
struct Keys {
    table: HashMap<Box<str>, Arc<str>, std::hash::BuildHasherDefault<Fx>>,
}

impl Keys {
    /// Distinct keys kept; beyond this, keys are allocated one by one.
    const MAX: usize = 4096;

    /// Texts longer than this are not shared (ids and notes rarely repeat).
    const SHORT: usize = 32;

    /// A shared copy of a short text, else a fresh one.
    fn text(&mut self, t: &str) -> Arc<str> {
        if t.len() > Self::SHORT {
            Arc::from(t)
        } else {
            self.key(t)
        }
    }

    fn key(&mut self, k: &str) -> Arc<str> {
        if let Some(a) = self.table.get(k) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(k);
        if self.table.len() < Self::MAX {
            self.table.insert(k.into(), a.clone());
        }
        a
    }
}

/// A syntax problem, as one lowercase line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

// ---------------------------------------------------------------------------------
// JSON

/// Parses JSON text (a leading UTF-8 byte-order mark is allowed).
pub fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    let text = strip_bom(text);
    let mut p = JsonParser {
        s: text.as_bytes(),
        text,
        i: 0,
        keys: Keys::default(),
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.error("trailing characters after the document"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    keys: Keys,
}

impl<'a> JsonParser<'a> {
    fn error(&self, what: &str) -> SyntaxError {
        let before = self.s.get(..self.i).unwrap_or(self.s);
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let col = self
            .text
            .get(start..self.i)
            .map_or(1, |t| t.chars().count() + 1);
        SyntaxError(format!("{what} at line {line} column {col}"))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &str, v: Node) -> Result<Node, SyntaxError> {
        if self.s.get(self.i..self.i + word.len()) == Some(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        match self.peek() {
            None => Err(self.error("unexpected end of input, expected a value")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                let t = self.string()?;
                Ok(Node::Str(self.keys.text(&t)))
            }
            Some(b't') => self.literal("true", Node::Bool(true)),
            Some(b'f') => self.literal("false", Node::Bool(false)),
            Some(b'n') => self.literal("null", Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            Err(self.error(&format!(
                "lists and maps nest deeper than {MAX_DEPTH} levels"
            )))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        self.enter(depth)?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Node::List(items.into()));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Node::List(items.into()));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        self.enter(depth)?;
        self.i += 1;
        let mut entries = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Node::Map(entries.into()));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key in double quotes"));
            }
            let k = self.string()?;
            let k = self.keys.key(&k);
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth)?;
            entries.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Node::Map(entries.into()));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Node, SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
            if let Some(b'0'..=b'9') = self.peek() {
                return Err(self.error("a number cannot start with `0`"));
            }
        } else if self.digits() == 0 {
            return Err(self.error("expected digits"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("expected digits after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected digits in the exponent"));
            }
        }
        let raw = self.text.get(start..self.i).unwrap_or("");
        Ok(Node::Num(self.keys.text(raw)))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .text
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.error("expected four hex digits after `\\u`"))?;
        let n = u32::from_str_radix(digits, 16)
            .map_err(|_| self.error("expected four hex digits after `\\u`"))?;
        self.i += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.i += 1;
        // Fast path: no escapes, borrow the text.
        let start = self.i;
        let mut j = self.i;
        while let Some(&b) = self.s.get(j) {
            if b == b'"' {
                self.i = j + 1;
                return Ok(Cow::Borrowed(self.text.get(start..j).unwrap_or("")));
            }
            if b == b'\\' || b < 0x20 {
                break;
            }
            j += 1;
        }
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(self.text.get(start..self.i).unwrap_or(""));
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.error("unpaired surrogate in `\\u` escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error("unpaired surrogate in `\\u` escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.error("invalid `\\u` escape"))?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.error("invalid escape in string")),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// YAML

/// How many values aliases (`*name`) may add to a document in total: a record that
/// repeats a block a few times is fine, a billion-laughs bomb is refused early.
pub const MAX_ALIAS_VALUES: usize = 100_000;

/// Parses YAML text (one document; a leading byte-order mark is allowed).
///
/// The tree is built straight from saphyr-parser's events, so scalars keep the text
/// the user wrote: plain scalars resolve by the YAML 1.2 core schema (null, booleans,
/// integers, floats, else text) and numbers stay as written (no float on the way),
/// quoted and block scalars are text. Tags, `.nan` and `.inf` become [`Node::Bad`].
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let text = strip_bom(text);
    yaml_depth_check(text)?;
    YamlReader::default().read(text)
}

/// A collection being read: its items so far, its anchor and tag.
enum Open {
    List(Vec<Node>),
    /// Entries so far and the key waiting for its value.
    Map(Vec<(Arc<str>, Node)>, Option<Arc<str>>),
}

struct Frame {
    open: Open,
    anchor: usize,
    tag: Option<String>,
}

#[derive(Default)]
struct YamlReader {
    keys: Keys,
    stack: Vec<Frame>,
    /// Finished anchored values, by anchor id, with how many values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Values added by aliases so far.
    aliased: usize,
    root: Option<Node>,
    documents: usize,
}

fn yaml_error(what: &str, at: saphyr_parser::Marker) -> SyntaxError {
    SyntaxError(format!(
        "{what} at line {} column {}",
        at.line(),
        at.col() + 1
    ))
}

/// How a tag is written in the file (`!usd`, `!!str`).
fn tag_text(t: &saphyr_parser::Tag) -> String {
    if t.is_yaml_core_schema() {
        format!("!!{}", t.suffix)
    } else if t.handle == "!" {
        format!("!{}", t.suffix)
    } else {
        format!("{}{}", t.handle, t.suffix)
    }
}

fn tag_refused(tag: &str) -> Node {
    Node::Bad(format!("YAML tags like `{tag}` are not supported; remove the tag").into())
}

/// How many values a tree holds (itself included).
fn count_values(n: &Node) -> usize {
    match n {
        Node::List(items) => items
            .iter()
            .map(count_values)
            .fold(1, usize::saturating_add),
        Node::Map(entries) => entries
            .iter()
            .map(|(_, v)| count_values(v))
            .fold(1, usize::saturating_add),
        _ => 1,
    }
}

/// Whether `t` is a core-schema integer or float (`[-+]?` digits, `.`, exponent).
fn is_decimal_number(t: &str) -> bool {
    let b = t.strip_prefix(['-', '+']).unwrap_or(t).as_bytes();
    let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = int_len;
    let mut frac_len = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_len = b.iter().skip(i).take_while(|c| c.is_ascii_digit()).count();
        i += frac_len;
    }
    if int_len == 0 && frac_len == 0 {
        return false;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'-' | b'+') = b.get(i) {
            i += 1;
        }
        let exp_len = b.iter().skip(i).take_while(|c| c.is_ascii_digit()).count();
        if exp_len == 0 {
            return false;
        }
        i += exp_len;
    }
    i == b.len()
}

/// `+5` -> `5`, `.5` -> `0.5`, `5.` -> `5.0`, `5.e3` -> `5.0e3` (the same value,
/// written the way JSON and the number reader expect).
fn canonical_number(t: &str) -> Cow<'_, str> {
    let unsigned = t.strip_prefix('+').unwrap_or(t);
    let (sign, digits) = match unsigned.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", unsigned),
    };
    let lead = digits.starts_with('.');
    let trail = digits.ends_with('.') || digits.contains(".e") || digits.contains(".E");
    if !lead && !trail {
        return Cow::Borrowed(unsigned);
    }
    let mut out = String::with_capacity(t.len() + 2);
    out.push_str(sign);
    if lead {
        out.push('0');
    }
    for c in digits.chars() {
        out.push(c);
        if c == '.' && trail {
            out.push('0');
        }
    }
    Cow::Owned(out)
}

/// `0x1F` / `0o17` as decimal digits, exactly; beyond 128 bits they are refused.
fn radix_number(digits: &str, radix: u32, written: &str) -> Node {
    match u128::from_str_radix(digits, radix) {
        Ok(n) => Node::Num(n.to_string().into()),
        Err(_) => Node::Bad(format!("the number `{written}` is too large").into()),
    }
}

impl YamlReader {
    /// Resolves a plain scalar by the YAML 1.2 core schema.
    fn plain(&mut self, t: &str) -> Node {
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
            "true" | "True" | "TRUE" => return Node::Bool(true),
            "false" | "False" | "FALSE" => return Node::Bool(false),
            ".nan" | ".NaN" | ".NAN" => return Node::Bad("`.nan` is not a number".into()),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf"
            | "-.INF" => return Node::Bad("the number is infinite or too large".into()),
            _ => {}
        }
        if let Some(h) = t.strip_prefix("0x") {
            if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return radix_number(h, 16, t);
            }
        }
        if let Some(o) = t.strip_prefix("0o") {
            if !o.is_empty() && o.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return radix_number(o, 8, t);
            }
        }
        if is_decimal_number(t) {
            let n = canonical_number(t);
            return Node::Num(self.keys.text(&n));
        }
        Node::Str(self.keys.text(t))
    }

    fn read(mut self, text: &str) -> Result<Node, SyntaxError> {
        use saphyr_parser::{Event, Parser, ScalarStyle};
        for ev in Parser::new_from_str(text) {
            let (ev, span) = ev.map_err(|e| yaml_error(&e.info().to_lowercase(), *e.marker()))?;
            let at = span.start;
            match ev {
                Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
                Event::DocumentStart(_) => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(yaml_error(
                            "a record or context file holds one YAML document, \
                             but a second one (`---`) starts",
                            at,
                        ));
                    }
                }
                Event::Alias(id) => {
                    let Some((node, size)) = self.anchors.get(&id) else {
                        return Err(yaml_error("an alias refers to an unknown anchor", at));
                    };
                    self.aliased = self.aliased.saturating_add(*size);
                    if self.aliased > MAX_ALIAS_VALUES {
                        return Err(yaml_error(
                            &format!(
                                "aliases (`*name`) expand to more than {MAX_ALIAS_VALUES} values"
                            ),
                            at,
                        ));
                    }
                    let node = node.clone();
                    self.finish(node, 0, None, at)?;
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let node = match (&tag, style) {
                        (Some(t), _) => tag_refused(&tag_text(t)),
                        (None, ScalarStyle::Plain) => self.plain(&value),
                        (None, _) => Node::Str(self.keys.text(&value)),
                    };
                    self.finish(node, anchor, None, at)?;
                }
                Event::SequenceStart(anchor, tag) => self.open(
                    Open::List(Vec::new()),
                    anchor,
                    tag.as_deref().map(tag_text),
                    at,
                )?,
                Event::MappingStart(anchor, tag) => self.open(
                    Open::Map(Vec::new(), None),
                    anchor,
                    tag.as_deref().map(tag_text),
                    at,
                )?,
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = self.stack.pop() else {
                        return Err(yaml_error("unbalanced end of a list or map", at));
                    };
                    let node = match frame.open {
                        Open::List(items) => Node::List(items.into()),
                        Open::Map(entries, _) => Node::Map(entries.into()),
                    };
                    self.finish(node, frame.anchor, frame.tag, at)?;
                }
            }
        }
        Ok(self.root.unwrap_or(Node::Null))
    }

    fn open(
        &mut self,
        open: Open,
        anchor: usize,
        tag: Option<String>,
        at: saphyr_parser::Marker,
    ) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(yaml_error(
                &format!("lists and maps nest deeper than {MAX_DEPTH} levels"),
                at,
            ));
        }
        self.stack.push(Frame { open, anchor, tag });
        Ok(())
    }

    /// Places a finished value: into the open list, as the open map's key or value,
    /// or as the document.
    fn finish(
        &mut self,
        node: Node,
        anchor: usize,
        tag: Option<String>,
        at: saphyr_parser::Marker,
    ) -> Result<(), SyntaxError> {
        let node = match tag {
            Some(t) => tag_refused(&t),
            None => node,
        };
        if anchor != 0 {
            let size = count_values(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_some() {
                    return Err(yaml_error("more than one document", at));
                }
                self.root = Some(node);
            }
            Some(Frame {
                open: Open::List(items),
                ..
            }) => items.push(node),
            Some(Frame {
                open: Open::Map(entries, pending),
                ..
            }) => match pending.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let key = match &node {
                        Node::Str(s) | Node::Num(s) => self.keys.key(s),
                        Node::Bool(b) => Arc::from(b.to_string().as_str()),
                        Node::Null => Arc::from("null"),
                        Node::Bad(why) => Arc::from(format!("(a key that is not text: {why})")),
                        _ => Arc::from("(a list or map used as a key)"),
                    };
                    *pending = Some(key);
                }
            },
        }
        Ok(())
    }
}

/// Refuses YAML whose lists and maps nest deeper than [`MAX_DEPTH`], in one pass:
/// flow brackets outside quotes and comments, plus block levels (indentation levels
/// and `- ` / `? ` indicators that open a nested collection on the same line).
fn yaml_depth_check(text: &str) -> Result<(), SyntaxError> {
    let too_deep = |n: usize| {
        SyntaxError(format!(
            "lists and maps nest deeper than {MAX_DEPTH} levels at line {}",
            n + 1
        ))
    };
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // Lines more indented than this belong to a `|` or `>` block scalar: plain text.
    let mut block_scalar: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|b| **b == b' ').count();
        let rest = bytes.get(indent..).unwrap_or(&[]);
        if flow == 0 {
            if let Some(parent) = block_scalar {
                if rest.is_empty() || indent > parent {
                    continue;
                }
                block_scalar = None;
            }
            if rest.is_empty() || rest.first() == Some(&b'#') {
                continue;
            }
            while indents.last().is_some_and(|l| *l > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
        }
        let mut i = indent;
        let mut block = 0usize;
        // Where a node may start: `[` / `{` there open a flow collection (elsewhere,
        // outside flow collections, they are part of plain text such as `see [1]`).
        let mut node_start = true;
        if flow == 0 {
            // `- - x` and `? - x`: each indicator opens one more level.
            while let (Some(b'-' | b'?' | b':'), Some(b' ')) = (bytes.get(i), bytes.get(i + 1)) {
                block += 1;
                i += 2;
                while bytes.get(i) == Some(&b' ') {
                    i += 1;
                }
            }
        }
        let mut quote: Option<u8> = None;
        let mut prev = b' ';
        while let Some(&b) = bytes.get(i) {
            match quote {
                Some(b'"') if b == b'\\' => i += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'#' if prev == b' ' || prev == b'\t' => break,
                    b'"' | b'\'' if node_start => quote = Some(b),
                    b'[' | b'{' if node_start => flow += 1,
                    b']' | b'}' if flow > 0 => flow -= 1,
                    _ => {}
                },
            }
            // A node starts after `[`, `{`, `,` (inside flow) or `: ` / `- ` (anywhere).
            node_start = match b {
                b' ' | b'\t' => {
                    node_start || matches!(prev, b':' | b'-' | b'?' | b',' | b'[' | b'{')
                }
                b'[' | b'{' | b',' if flow > 0 && quote.is_none() => true,
                _ => false,
            };
            prev = b;
            i += 1;
            if indents.len() + block + flow > MAX_DEPTH + 1 {
                return Err(too_deep(n));
            }
        }
        if flow == 0 && quote.is_none() {
            // `key: |`, `- >-`, `note: |2`: a block scalar follows.
            let t = line.trim_end();
            let t = t.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
            if let Some(head) = t.strip_suffix(['|', '>']) {
                let head = head.trim_end();
                if head.is_empty() || head.ends_with(':') || head.ends_with('-') {
                    block_scalar = Some(indent);
                }
            }
        }
        if indents.len() + block + flow > MAX_DEPTH + 1 {
            return Err(too_deep(n));
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct NodeSeed<'k> {
    keys: &'k std::cell::RefCell<Keys>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

/// The decimal digits of `n`, written into `buf` (no allocation).
fn decimal_digits(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    std::str::from_utf8(buf.get(i..).unwrap_or(&[])).unwrap_or("0")
}

/// Shortest text that reads back as the same float (`1e-30`, `0.1`, `120000.0`).
fn float_text(f: f64) -> Node {
    if f.is_nan() {
        Node::Bad("`.nan` is not a number".into())
    } else if f.is_infinite() {
        Node::Bad("the number is infinite or too large".into())
    } else {
        Node::Num(format!("{f:?}").into())
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        let mut buf = [0u8; 20];
        let digits = decimal_digits(v.unsigned_abs(), &mut buf);
        if v < 0 {
            return Ok(Node::Num(
                self.keys.borrow_mut().text(&format!("-{digits}")),
            ));
        }
        Ok(Node::Num(self.keys.borrow_mut().text(digits)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        let mut buf = [0u8; 20];
        Ok(Node::Num(
            self.keys.borrow_mut().text(decimal_digits(v, &mut buf)),
        ))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Num(v.to_string().into()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Num(v.to_string().into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(float_text(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(self.keys.borrow_mut().text(v)))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Bad("binary data is not supported".into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Node::List(items.into()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(k) = map.next_key_seed(self)? {
            let v = map.next_value_seed(self)?;
            let key = match &k {
                Node::Str(s) | Node::Num(s) => self.keys.borrow_mut().key(s),
                Node::Bool(b) => Arc::from(b.to_string().as_str()),
                Node::Null => Arc::from("null"),
                _ => Arc::from("(a list or map used as a key)"),
            };
            entries.push((key, v));
        }
        Ok(Node::Map(entries.into()))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        use serde::de::VariantAccess;
        let (tag, variant): (String, _) = data.variant()?;
        // Read (and drop) the tagged value so the rest of the document still parses.
        variant.newtype_variant_seed(self)?;
        Ok(Node::Bad(
            format!("YAML tags like `!{tag}` are not supported; remove the tag").into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_keep_their_text() {
        let v = parse_json(r#"{"a": 1e-30, "b": 120000.50, "c": -0}"#).unwrap();
        assert_eq!(v.get("a"), Some(&Node::Num("1e-30".into())));
        assert_eq!(v.get("b"), Some(&Node::Num("120000.50".into())));
        assert_eq!(v.get("c"), Some(&Node::Num("-0".into())));
    }

    #[test]
    fn json_strings_unescape() {
        let v = parse_json(r#"["a\"b\\c\u00e9\ud83d\ude00\n"]"#).unwrap();
        assert_eq!(
            v,
            Node::List(vec![Node::Str("a\"b\\c\u{e9}\u{1f600}\n".into())].into())
        );
        assert!(parse_json(r#""\ud83d""#).is_err());
        assert!(parse_json("\"a\u{1}\"").is_err());
    }

    #[test]
    fn json_syntax_errors_say_where() {
        let e = parse_json("{\n  \"a\": tru\n}").unwrap_err();
        assert_eq!(e.0, "expected a value at line 2 column 8");
        assert!(parse_json("[1,]").is_err());
        assert!(parse_json("[1] x").is_err());
        assert!(parse_json("01").is_err());
        assert!(parse_json("NaN").is_err());
    }

    #[test]
    fn depth_is_bounded_in_both_formats() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(parse_json(&deep).unwrap_err().0.contains("deeper than 64"));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_json(&ok).is_ok());
        assert!(parse_yaml(&deep).unwrap_err().0.contains("deeper than 64"));
        let dashes = format!("{}x", "- ".repeat(100));
        assert!(parse_yaml(&dashes)
            .unwrap_err()
            .0
            .contains("deeper than 64"));
        assert!(parse_yaml("a: \"[[[[[[[[\"\nb: '{{{{{{'\nc: x # [[[[[[\n").is_ok());
        // Brackets inside plain text and block scalars are text, however many lines.
        let notes = "- note: price [approx\n".repeat(200);
        assert!(parse_yaml(&notes).is_ok());
        let block = format!("note: |\n{}other: 1\n", "  [[[[ [ {{ text\n".repeat(100));
        assert_eq!(
            parse_yaml(&block).unwrap().get("other"),
            Some(&Node::Num("1".into()))
        );
        let folded = format!("- >-\n{}- x\n", "   [[[[[[[[[[\n".repeat(100));
        assert!(parse_yaml(&folded).is_ok());
        // Flow collections spread over lines still count.
        let multi = format!("a: {}\n{}\n", "[\n".repeat(70), "]".repeat(70));
        assert!(parse_yaml(&multi).unwrap_err().0.contains("deeper than 64"));
    }

    #[test]
    fn yaml_floats_tags_and_non_numbers() {
        let v = parse_yaml("a: 1e-30\nb: .nan\nc: .inf\nd: !money 5\ne: 0.1\n").unwrap();
        assert_eq!(v.get("a"), Some(&Node::Num("1e-30".into())));
        assert!(matches!(v.get("b"), Some(Node::Bad(m)) if m.contains("nan")));
        assert!(matches!(v.get("c"), Some(Node::Bad(m)) if m.contains("infinite")));
        assert!(matches!(v.get("d"), Some(Node::Bad(m)) if m.contains("`!money`")));
        assert_eq!(v.get("e"), Some(&Node::Num("0.1".into())));
    }

    #[test]
    fn yaml_integers_keep_their_digits() {
        let v = parse_yaml(
            "a: 0\nb: -9223372036854775808\nc: 18446744073709551615\nd: 120000\ne: 1e400\n",
        )
        .unwrap();
        assert_eq!(v.get("a"), Some(&Node::Num("0".into())));
        assert_eq!(v.get("b"), Some(&Node::Num("-9223372036854775808".into())));
        assert_eq!(v.get("c"), Some(&Node::Num("18446744073709551615".into())));
        assert_eq!(v.get("d"), Some(&Node::Num("120000".into())));
    }

    #[test]
    fn yaml_plain_scalars_resolve_by_the_core_schema_and_quoted_ones_are_text() {
        let v = parse_yaml(
            "a: ~\nb:\nc: True\nd: FALSE\ne: '5'\nf: \"true\"\ng: 123456789012345678.12\n\
             h: yes\ni: 1_000\nj: |\n  7\nk: 0x10\nl: -.5\n",
        )
        .unwrap();
        assert_eq!(v.get("a"), Some(&Node::Null));
        assert_eq!(v.get("b"), Some(&Node::Null));
        assert_eq!(v.get("c"), Some(&Node::Bool(true)));
        assert_eq!(v.get("d"), Some(&Node::Bool(false)));
        assert_eq!(v.get("e"), Some(&Node::Str("5".into())));
        assert_eq!(v.get("f"), Some(&Node::Str("true".into())));
        assert_eq!(v.get("g"), Some(&Node::Num("123456789012345678.12".into())));
        // YAML 1.1 booleans and digit separators are text under YAML 1.2.
        assert_eq!(v.get("h"), Some(&Node::Str("yes".into())));
        assert_eq!(v.get("i"), Some(&Node::Str("1_000".into())));
        assert_eq!(v.get("j"), Some(&Node::Str("7\n".into())));
        assert_eq!(v.get("k"), Some(&Node::Num("16".into())));
        assert_eq!(v.get("l"), Some(&Node::Num("-0.5".into())));
    }

    #[test]
    fn yaml_syntax_errors_say_where() {
        let e = parse_yaml("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.0.contains(" at line "), "{e}");
        let e = parse_yaml("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(
            e.0.contains("one YAML document") && e.0.ends_with("line 2 column 1"),
            "{e}"
        );
        assert_eq!(parse_yaml("").unwrap(), Node::Null);
    }

    #[test]
    fn a_byte_order_mark_is_allowed() {
        assert_eq!(
            parse_yaml("\u{feff}a: 1").unwrap().get("a"),
            Some(&Node::Num("1".into()))
        );
        assert_eq!(
            parse_json("\u{feff}{\"a\": 1}").unwrap().get("a"),
            Some(&Node::Num("1".into()))
        );
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let v = parse_yaml("a: 1\na: 2\n").unwrap();
        assert!(matches!(v, Node::Map(m) if m.len() == 2));
        let v = parse_json(r#"{"a": 1, "a": 2}"#).unwrap();
        assert!(matches!(v, Node::Map(m) if m.len() == 2));
    }
}
