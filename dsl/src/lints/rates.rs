//! Rate-table pattern algebra shared by W303 and W304: containment, overlap and the
//! finite domain of a key.

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
