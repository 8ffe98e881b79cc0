//! Identity keys: how account domains, names and other text keys are normalized
//! before duplicate and conflict registrations are compared, and how two accounts
//! are matched (domain, else name, else id).
//!
//! Normalization lowercases (Unicode, with `ß` -> `ss`), drops a URL's scheme,
//! `www.` and path, ignores punctuation and whitespace, and drops trailing legal
//! forms (`Inc`, `Ltd`, `GmbH`, `S.A.`, `B.V.`, `Pty Ltd`, ...), dotted or not.

/// Legal forms dropped from the end of a name (as normalized words: a dotted form
/// such as `S.A.S.` is the run of single letters `s a s`).
const LEGAL_FORMS: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "llp",
    "lp",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "pty",
    "kk",
    "oy",
    "oyj",
    "ab",
    "as",
    "asa",
    "aps",
];

/// Normalizes text for duplicate/conflict comparisons (see the module docs):
/// `"https://www.Globex.com/about"`, `"globex.com"` and `"GLOBEX.COM"` are equal, and
/// so are `"Globex, Inc."`, `"globex inc"`, `"Globex"` and `"Globex Pty. Ltd."`.
pub fn normalize_key(s: &str) -> String {
    let mut t: String = s.trim().to_lowercase().replace('ß', "ss").replace('ς', "σ");
    // A URL or a bare domain (one token with a dot): no scheme, `www.` or path.
    let url = t.contains("://");
    if let Some(i) = t.find("://") {
        t = t.get(i + 3..).unwrap_or("").to_string();
    }
    if url || (!t.chars().any(char::is_whitespace) && t.contains('.')) {
        if let Some(rest) = t.strip_prefix("www.") {
            t = rest.to_string();
        }
        if let Some(i) = t.find('/') {
            t.truncate(i);
        }
    }
    let cleaned: String = t
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    while words.len() > 1 {
        let n = strip_len(&words);
        if n == 0 || n >= words.len() {
            break;
        }
        words.truncate(words.len() - n);
    }
    words.concat()
}

/// How many trailing words form one legal form: a word in [`LEGAL_FORMS`], or a run
/// of 2 to 4 single letters spelling one (`b v`, `s a s`, `l l c`); 0 when none.
fn strip_len(words: &[&str]) -> usize {
    if words.last().is_some_and(|w| LEGAL_FORMS.contains(w)) {
        return 1;
    }
    let singles = words
        .iter()
        .rev()
        .take_while(|w| w.chars().count() == 1)
        .count();
    for k in (2..=singles.min(4)).rev() {
        let Some(run) = words.get(words.len() - k..) else {
            continue;
        };
        if LEGAL_FORMS.contains(&run.concat().as_str()) {
            return k;
        }
    }
    0
}

/// The parts of an account that identify it.
#[derive(Clone, Copy, Debug)]
pub struct AccountIdentity<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub domain: Option<&'a str>,
}

fn given(s: Option<&str>) -> Option<String> {
    s.map(normalize_key).filter(|k| !k.is_empty())
}

/// Whether two accounts are the same: by domain when both have one, else by name
/// when both have one, else by id (each normalized).
pub fn same_account(a: AccountIdentity<'_>, b: AccountIdentity<'_>) -> bool {
    if let (Some(x), Some(y)) = (given(a.domain), given(b.domain)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (given(a.name), given(b.name)) {
        return x == y;
    }
    normalize_key(a.id) == normalize_key(b.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_domains_normalize_to_the_host() {
        for s in [
            "https://www.Globex.com/",
            "http://globex.com/about",
            "GLOBEX.COM",
            " www.globex.com ",
        ] {
            assert_eq!(normalize_key(s), normalize_key("globex.com"), "{s}");
        }
        assert_ne!(normalize_key("globex.com"), normalize_key("globex.co.uk"));
    }

    #[test]
    fn legal_forms_are_dropped_dotted_or_not_in_any_case() {
        let forms = [
            "Inc",
            "Inc.",
            "LLC",
            "L.L.C.",
            "Ltd",
            "Ltd.",
            "Limited",
            "Corp",
            "Corp.",
            "Corporation",
            "Co",
            "Co.",
            "PLC",
            "GmbH",
            "AG",
            "A.G.",
            "LLP",
            "L.L.P.",
            "LP",
            "L.P.",
            "SA",
            "S.A.",
            "SAS",
            "S.A.S.",
            "SRL",
            "S.R.L.",
            "BV",
            "B.V.",
            "NV",
            "N.V.",
            "Pty",
            "Pty Ltd",
            "Pty. Ltd.",
            "KK",
            "K.K.",
            "Oy",
            "AB",
            "A.B.",
            "AS",
            "A/S",
            "A.S.",
            "GmbH & Co. KG",
        ];
        for f in forms {
            for name in [
                format!("Globex {f}"),
                format!("GLOBEX, {}", f.to_uppercase()),
            ] {
                assert_eq!(normalize_key(&name), "globex", "{name}");
            }
            assert_eq!(
                normalize_key(&format!("globex {}", f.to_lowercase())),
                "globex"
            );
        }
        // A name that is only a legal form keeps it.
        assert_eq!(normalize_key("AB"), "ab");
        // Legal forms are dropped only at the end.
        assert_eq!(normalize_key("AB Volvo"), "abvolvo");
    }

    #[test]
    fn punctuation_whitespace_and_unicode_case_are_ignored() {
        assert_eq!(normalize_key("Ben & Jerry's"), normalize_key("ben  jerrys"));
        assert_eq!(
            normalize_key("  Acme\tWidgets  "),
            normalize_key("acme-widgets")
        );
        assert_eq!(normalize_key("MÜLLER GmbH"), normalize_key("müller"));
        assert_eq!(normalize_key("STRASSE AG"), normalize_key("Straße"));
        assert_eq!(normalize_key("ΣΟΦΟΣ"), normalize_key("σοφος"));
        assert_ne!(normalize_key("acme"), normalize_key("acme2"));
        assert_eq!(normalize_key(""), "");
    }

    #[test]
    fn accounts_match_by_domain_else_name_else_id() {
        let acc = |id, name, domain| AccountIdentity { id, name, domain };
        let d = Some("globex.com");
        let other_d = Some("initech.com");
        let n = Some("Globex, Inc.");
        // Both have domains: the domains decide, whatever the names.
        assert!(same_account(
            acc("A-1", None, d),
            acc("A-2", Some("x"), Some("WWW.GLOBEX.COM"))
        ));
        assert!(!same_account(acc("A-1", n, d), acc("A-2", n, other_d)));
        // One domain missing: the names decide.
        assert!(same_account(
            acc("A-1", n, d),
            acc("A-2", Some("globex"), None)
        ));
        assert!(!same_account(
            acc("A-1", n, None),
            acc("A-2", Some("Initech"), None)
        ));
        // No common domain or name: the ids decide.
        assert!(same_account(acc("A-1", None, d), acc("a-1", n, None)));
        assert!(!same_account(
            acc("A-1", None, None),
            acc("A-2", None, None)
        ));
        // Blank domains and names do not count.
        assert!(same_account(
            acc("A-1", Some(" "), Some("")),
            acc("A-1", None, None)
        ));
    }
}
