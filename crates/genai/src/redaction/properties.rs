//! Property tests of redaction (issue 18, item 5): not only idempotence, which a no-op passes,
//! but the exact output.
//!
//! Texts are built from pieces: clean words (with JSON's awkward characters, non-ASCII text and
//! a placeholder already present) and every kind of data in `testdata/redaction/secrets.json`,
//! separated by spaces. The expected output is the same pieces with each secret replaced by its
//! placeholder, so each property checks that every secret is gone, that the placeholder is
//! where the secret was, and that the text around it is unchanged byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::coverage_tests::{Secret, secrets};
use super::*;
use proptest::prelude::*;
use std::sync::OnceLock;

fn catalogue() -> &'static [Secret] {
    static SECRETS: OnceLock<Vec<Secret>> = OnceLock::new();
    SECRETS.get_or_init(secrets)
}

/// Words that hold no finding and cannot join one: no digits, no `@`, no keyword, no word
/// that turns a following IPv4 into a version number (`ver `, `build`, …).
const WORDS: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "said",
    "hello",
    "user",
    "order",
    "shipped",
    "please",
    "call",
    "me",
    "at",
    "ok.",
    "well,",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "é中文🦀",
    "<EMAIL>",
    "(see",
    "this)",
];

#[derive(Debug, Clone, Copy)]
enum Piece {
    Word(usize),
    Secret(usize),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => (0..WORDS.len()).prop_map(Piece::Word),
        2 => (0..catalogue().len()).prop_map(Piece::Secret),
    ]
}

/// A text as sent, the text expected after redaction, and each secret's kind and byte range
/// in the text as sent.
#[derive(Debug, Clone)]
struct Case {
    text: String,
    expected: String,
    findings: Vec<(String, std::ops::Range<usize>)>,
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &str, b: &str) -> usize {
    a.bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

fn build(pieces: &[Piece]) -> Case {
    let mut case = Case {
        text: String::new(),
        expected: String::new(),
        findings: Vec::new(),
    };
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            case.text.push(' ');
            case.expected.push(' ');
        }
        match *p {
            Piece::Word(w) => {
                case.text.push_str(WORDS[w]);
                case.expected.push_str(WORDS[w]);
            }
            Piece::Secret(s) => {
                let s = &catalogue()[s];
                // A bracketed secret keeps its brackets: the finding is what differs.
                let pre = common_prefix(&s.value, &s.placeholder);
                let suf = common_suffix(&s.value, &s.placeholder);
                let at = case.text.len();
                case.findings
                    .push((s.kind.clone(), at + pre..at + s.value.len() - suf));
                case.text.push_str(&s.value);
                case.expected.push_str(&s.placeholder);
            }
        }
    }
    case
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(piece(), 0..8).prop_map(|p| build(&p))
}

/// A JSON document as sent and as expected after redaction.
fn json_case() -> impl Strategy<Value = (serde_json::Value, serde_json::Value)> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just((J::Null, J::Null)),
        any::<bool>().prop_map(|b| (J::Bool(b), J::Bool(b))),
        // Below seven digits numbers are not scanned.
        (-999_999i64..999_999).prop_map(|i| (J::from(i), J::from(i))),
        (-8000i32..8000).prop_map(|i| {
            let f = f64::from(i) / 8.0;
            (J::from(f), J::from(f))
        }),
        // A card sent as a number becomes a string.
        Just((
            J::from(4_111_111_111_111_111_u64),
            J::String("<CREDIT_CARD>".into())
        )),
        case().prop_map(|c| (J::String(c.text), J::String(c.expected))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|items| {
                let (a, b): (Vec<_>, Vec<_>) = items.into_iter().unzip();
                (J::Array(a), J::Array(b))
            }),
            prop::collection::vec((case(), inner), 0..6).prop_map(|entries| {
                let mut a = serde_json::Map::new();
                let mut b = serde_json::Map::new();
                for (key, (va, vb)) in entries {
                    // Keys are scanned too; two keys that redact alike would collide.
                    if a.contains_key(&key.text) || b.contains_key(&key.expected) {
                        continue;
                    }
                    a.insert(key.text, va);
                    b.insert(key.expected, vb);
                }
                (J::Object(a), J::Object(b))
            }),
        ]
    })
}

fn mask() -> Redactor {
    Redactor::new(&RedactionConfig::default(), "").unwrap()
}

fn hash() -> Redactor {
    let config = RedactionConfig {
        mode: Action::Hash,
        hash_key: Some("0123456789abcdef-test-key".into()),
        ..Default::default()
    };
    Redactor::new(&config, "").unwrap()
}

/// `<KIND:hex>` → `<KIND>`, so hash output compares with the mask form.
fn unhash(text: &str) -> String {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new("<([A-Z][A-Z0-9_]*):[0-9a-f]{16}>").unwrap())
        .replace_all(text, "<$1>")
        .into_owned()
}

/// The kinds counted when `text` is redacted as an attribute value, sorted, and the tally.
fn tally_of(redactor: &Redactor, text: &str) -> (Vec<String>, Tally) {
    let mut tally = redactor.new_tally();
    let mut attrs = vec![tracegate_model::attr::string("note", text)];
    redactor.redact_attributes(&mut attrs, false, &mut tally);
    let mut kinds = Vec::new();
    for (name, &n) in redactor.kind_names().zip(&tally.found) {
        kinds.extend(std::iter::repeat_n(
            name.to_owned(),
            usize::try_from(n).unwrap(),
        ));
    }
    kinds.sort();
    (kinds, tally)
}

/// The kinds injected into `case`, sorted.
fn kinds(case: &Case) -> Vec<String> {
    let mut kinds: Vec<String> = case.findings.iter().map(|(k, _)| k.clone()).collect();
    kinds.sort();
    kinds
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_redaction_replaces_exactly_the_secrets(case in case()) {
        let redactor = mask();
        let once = redactor.redact_str(&case.text);
        if case.findings.is_empty() {
            prop_assert_eq!(once, None);
        } else {
            let once = once.unwrap();
            prop_assert_eq!(&once, &case.expected);
            prop_assert_eq!(redactor.redact_str(&once), None);
        }
        // Each secret is counted once, as its own kind (a value may take a second round to
        // find when it is glued to an ambiguous neighbour, so the counts are compared, not
        // one pass's findings).
        let (found, _) = tally_of(&redactor, &case.text);
        prop_assert_eq!(found, kinds(&case), "{:?}", case.text);
    }

    #[test]
    fn text_without_neighbours_is_found_in_one_pass(p in piece(), pre in 0..WORDS.len(), post in 0..WORDS.len()) {
        // A secret between two words: one pass finds exactly it, where it is.
        let case = build(&[Piece::Word(pre), p, Piece::Word(post)]);
        let found: Vec<(String, std::ops::Range<usize>)> = mask()
            .findings(&case.text)
            .into_iter()
            .map(|(k, r)| (k.to_owned(), r))
            .collect();
        prop_assert_eq!(&found, &case.findings, "{:?}", case.text);
    }

    #[test]
    fn hash_redaction_replaces_exactly_the_secrets(case in case()) {
        let redactor = hash();
        let once = redactor.redact_str(&case.text).unwrap_or_else(|| case.text.clone());
        prop_assert_eq!(unhash(&once), unhash(&case.expected));
        for s in catalogue() {
            prop_assert!(!once.contains(&s.value), "{} left in {once:?}", s.kind);
        }
        prop_assert_eq!(redactor.redact_str(&once), None);
    }

    #[test]
    fn json_redaction_replaces_exactly_the_secrets_and_stays_valid(
        (doc, expected) in json_case(),
        pretty in any::<bool>(),
    ) {
        let redactor = mask();
        // Attribute values are treated as JSON when they are an object or an array; a bare
        // scalar is plain text.
        let (doc, expected) = match (doc, expected) {
            (d @ (serde_json::Value::Array(_) | serde_json::Value::Object(_)), e) => (d, e),
            (d, e) => (serde_json::Value::Array(vec![d]), serde_json::Value::Array(vec![e])),
        };
        let text = if pretty {
            serde_json::to_string_pretty(&doc).unwrap()
        } else {
            serde_json::to_string(&doc).unwrap()
        };
        let once = redactor.redact_str(&text).unwrap_or_else(|| text.clone());
        let parsed: serde_json::Value = serde_json::from_str(&once)
            .map_err(|e| TestCaseError::fail(format!("{e}: {once}")))?;
        prop_assert_eq!(&parsed, &expected);
        prop_assert_eq!(redactor.redact_str(&once), None);
    }
}
