//! Rate-table pattern algebra shared by W303 and W304: containment, overlap and the
//! finite domain of a key.

use std::collections::HashMap;

use crate::ir::{Const, Policy, Type};
use crate::lints::LintContext;

/// One row pattern: `None` is `_`, otherwise the key matches any of the values.
pub(crate) type Pat = Option<Vec<Const>>;

/// True when every value `inner` matches is matched by `outer`.
pub(crate) fn contains(outer: &Pat, inner: &Pat) -> bool {
    match (outer, inner) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(i)) => i.iter().all(|v| o.contains(v)),
    }
}

/// A value both patterns match, if any: `Some(None)` when both are `_`.
pub(crate) fn overlap(a: &Pat, b: &Pat) -> Option<Option<Const>> {
    match (a, b) {
        (None, None) => Some(None),
        (None, Some(v)) | (Some(v), None) => v.first().cloned().map(Some),
        (Some(x), Some(y)) => x.iter().find(|v| y.contains(v)).cloned().map(Some),
    }
}

/// True when a single value matches a pattern.
pub(crate) fn matches(p: &Pat, value: &Const) -> bool {
    match p {
        None => true,
        Some(vals) => vals.contains(value),
    }
}

/// The rows of a rate table indexed by key: per key, the rows that are `_` there and
/// the rows that list each value. W303 and W304 ask it for the rows that could match
/// a value (or contain a pattern) on one key and only compare those, so tables whose
/// rows differ on some key are checked in near-linear time instead of pairwise.
pub(crate) struct RowIndex {
    keys: Vec<KeyIndex>,
}

#[derive(Default)]
struct KeyIndex {
    /// Rows (ascending) whose pattern on this key is `_`.
    wild: Vec<usize>,
    /// Rows (ascending) whose pattern on this key lists the value.
    by_value: HashMap<Const, Vec<usize>>,
}

const NO_ROWS: &[usize] = &[];

impl RowIndex {
    /// Indexes `rows` (each a list of patterns, one per key; `keys` keys).
    pub(crate) fn new<'r>(keys: usize, rows: impl IntoIterator<Item = &'r [Pat]>) -> Self {
        let mut index: Vec<KeyIndex> = (0..keys).map(|_| KeyIndex::default()).collect();
        for (r, patterns) in rows.into_iter().enumerate() {
            for (key, pat) in index.iter_mut().zip(patterns) {
                match pat {
                    None => key.wild.push(r),
                    Some(values) => {
                        for v in values {
                            let rows = key.by_value.entry(v.clone()).or_default();
                            // A value listed twice in one pattern indexes the row once.
                            if rows.last() != Some(&r) {
                                rows.push(r);
                            }
                        }
                    }
                }
            }
        }
        Self { keys: index }
    }

    /// The rows whose pattern on `key` is `_`.
    fn wild(&self, key: usize) -> &[usize] {
        self.keys.get(key).map_or(NO_ROWS, |k| k.wild.as_slice())
    }

    /// The rows whose pattern on `key` lists `value`.
    fn listing(&self, key: usize, value: &Const) -> &[usize] {
        self.keys
            .get(key)
            .and_then(|k| k.by_value.get(value))
            .map_or(NO_ROWS, Vec::as_slice)
    }

    /// Rows that could contain `pattern` on `key` (are `_` there, or list the
    /// pattern's values): a superset of the rows that contain it. Only `_` contains
    /// `_`.
    fn containing(&self, key: usize, pattern: &Pat) -> Option<Candidates<'_>> {
        let Some(values) = pattern else {
            return Some(Candidates(vec![self.wild(key)]));
        };
        // A row containing the pattern lists every value, so the smallest list will do.
        let listing = values
            .iter()
            .map(|v| self.listing(key, v))
            .min_by_key(|rows| rows.len())
            .unwrap_or(NO_ROWS);
        Some(Candidates(vec![self.wild(key), listing]))
    }

    /// Rows that could overlap `pattern` on `key`: `_` there or listing one of its
    /// values. `None` when `pattern` is `_` (every row overlaps it).
    fn overlapping(&self, key: usize, pattern: &Pat) -> Option<Candidates<'_>> {
        let values = pattern.as_ref()?;
        let mut lists = vec![self.wild(key)];
        lists.extend(values.iter().map(|v| self.listing(key, v)));
        Some(Candidates(lists))
    }

    /// The smallest candidate set over every key, by `pick`; `None` when no key narrows
    /// the search (then every row is a candidate).
    fn narrowest<'a>(
        &'a self,
        patterns: &[Pat],
        pick: impl Fn(&'a Self, usize, &Pat) -> Option<Candidates<'a>>,
    ) -> Option<Candidates<'a>> {
        patterns
            .iter()
            .enumerate()
            .filter_map(|(key, p)| pick(self, key, p))
            .min_by_key(Candidates::len)
    }

    /// Candidate rows before row `below` (ascending) that may contain every pattern of
    /// `patterns`; `None` when no key narrows the search (then every row may).
    pub(crate) fn candidates_containing(
        &self,
        patterns: &[Pat],
        below: usize,
    ) -> Option<Vec<usize>> {
        self.narrowest(patterns, Self::containing)
            .map(|c| c.into_sorted(below))
    }

    /// Candidate rows before row `below` (ascending) that may overlap `patterns` on
    /// every key; `None` when no key narrows the search (then every row may).
    pub(crate) fn candidates_overlapping(
        &self,
        patterns: &[Pat],
        below: usize,
    ) -> Option<Vec<usize>> {
        self.narrowest(patterns, Self::overlapping)
            .map(|c| c.into_sorted(below))
    }

    /// Candidate rows (ascending) that may match the key tuple `values` (`None` for an
    /// open-ended key, which only `_` is sure to match); `None` without keys.
    pub(crate) fn candidates_matching(&self, values: &[Option<Const>]) -> Option<Vec<usize>> {
        values
            .iter()
            .enumerate()
            .map(|(key, v)| match v {
                Some(v) => Candidates(vec![self.wild(key), self.listing(key, v)]),
                None => Candidates(vec![self.wild(key)]),
            })
            .min_by_key(Candidates::len)
            .map(|c| c.into_sorted(usize::MAX))
    }
}

/// Candidate rows: ascending lists of row numbers, not yet merged (so choosing the
/// smallest set over the keys costs only the sum of their lengths).
struct Candidates<'a>(Vec<&'a [usize]>);

impl Candidates<'_> {
    fn len(&self) -> usize {
        self.0.iter().map(|l| l.len()).sum()
    }

    /// The rows below `below`, ascending and without repeats.
    fn into_sorted(self, below: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::with_capacity(self.len());
        let mut lists = 0;
        for list in self.0 {
            let cut = list.partition_point(|&r| r < below);
            let part = list.get(..cut).unwrap_or(list);
            if !part.is_empty() {
                lists += 1;
                out.extend_from_slice(part);
            }
        }
        if lists > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }
}

/// Every value a key of this type can take, when that is a finite set.
pub(crate) fn domain(p: &Policy, ty: &Type) -> Option<Vec<Const>> {
    match ty {
        Type::Bool => Some(vec![Const::Bool(true), Const::Bool(false)]),
        Type::Enum(id) => {
            let n = p.enum_def(*id)?.variants.len() as u32;
            Some((0..n).map(|index| Const::Enum { id: *id, index }).collect())
        }
        Type::Stage => Some(
            (0..p.stages.len() as u32)
                .map(|i| Const::Stage(crate::ir::StageId(i)))
                .collect(),
        ),
        Type::Optional(inner) => {
            let mut d = domain(p, inner)?;
            d.push(Const::None);
            Some(d)
        }
        _ => None,
    }
}

/// A tuple of key values as a row would write it: `(Gold, _)`.
pub(crate) fn render_tuple(cx: &LintContext<'_>, values: &[Option<Const>]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| {
            v.as_ref()
                .map(|c| cx.render_const(c))
                .unwrap_or_else(|| "_".to_string())
        })
        .collect();
    format!("({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::EnumId;

    fn e(i: u32) -> Const {
        Const::Enum {
            id: EnumId(2),
            index: i,
        }
    }

    #[test]
    fn containment() {
        assert!(contains(&None, &Some(vec![e(0)])));
        assert!(contains(&None, &None));
        assert!(!contains(&Some(vec![e(0)]), &None));
        assert!(contains(&Some(vec![e(0), e(1)]), &Some(vec![e(1)])));
        assert!(!contains(&Some(vec![e(0)]), &Some(vec![e(0), e(1)])));
    }

    #[test]
    fn overlaps() {
        assert_eq!(overlap(&None, &None), Some(None));
        assert_eq!(overlap(&None, &Some(vec![e(1)])), Some(Some(e(1))));
        assert_eq!(
            overlap(&Some(vec![e(0), e(1)]), &Some(vec![e(1)])),
            Some(Some(e(1)))
        );
        assert_eq!(overlap(&Some(vec![e(0)]), &Some(vec![e(1)])), None);
    }
}
