//! The placeholders the redactor writes, and the text they protect from being found again.
//!
//! Only the exact forms the redactor itself writes are protected: `<KIND>` for each kind it
//! knows (`<EMAIL>`, a custom `<EMPLOYEE_ID>`), and `<KIND:` + 16 lower-case hex digits + `>`
//! for kinds in `hash` mode. Anything else in angle brackets (`<AKIAIOSFODNN7EXAMPLE>`,
//! `<DE89370400440532013000>`) is ordinary text and is scanned, so brackets are no way to opt out
//! of redaction.
//!
//! A hash placeholder is protected only when its hex holds a letter, and [`push_hash_hex`]
//! makes sure every hash the redactor writes does. Sixteen decimal digits would otherwise be a
//! way to smuggle a card number past the scan (`<CREDIT_CARD:4111111111111111>`); with a
//! letter among them, no built-in detector can match inside the hex.

use regex::Regex;

/// The compiled placeholder forms.
#[derive(Debug)]
pub(crate) struct Placeholders {
    regex: Option<Regex>,
}

impl Placeholders {
    /// Placeholders for kinds named `masks` (upper case), with the hash form for `hashed`.
    pub fn new(masks: &[String], hashed: &[String]) -> Result<Self, String> {
        let alternation = |names: &[String]| {
            names
                .iter()
                .map(|n| regex::escape(n))
                .collect::<Vec<_>>()
                .join("|")
        };
        let mut pattern = String::new();
        if !masks.is_empty() {
            pattern = format!("<(?:{})>", alternation(masks));
        }
        if !hashed.is_empty() {
            if !pattern.is_empty() {
                pattern.push('|');
            }
            pattern.push_str(&format!("<(?:{}):[0-9a-f]{{16}}>", alternation(hashed)));
        }
        if pattern.is_empty() {
            return Ok(Self { regex: None });
        }
        let regex = Regex::new(&format!("(?-u){pattern}")).map_err(|e| e.to_string())?;
        Ok(Self { regex: Some(regex) })
    }

    /// The byte ranges of `text` that are placeholders, in order.
    pub fn protected(&self, text: &str) -> Vec<(usize, usize)> {
        let Some(regex) = &self.regex else {
            return Vec::new();
        };
        if !text.contains('<') {
            return Vec::new();
        }
        regex
            .find_iter(text)
            .filter(|m| match m.as_str().split_once(':') {
                // The hash form: protected only with a letter in the hex.
                Some((_, hex)) => hex.bytes().any(|c| c.is_ascii_lowercase()),
                None => true,
            })
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

/// Appends the hex of `digest` to `out`. When every digit would be decimal, the first becomes
/// a letter (`0`→`a` … `5`→`f`, `6`→`a` …), so the placeholder is protected (see the module
/// docs); the mapping is fixed, so equal values still hash alike.
pub(crate) fn push_hash_hex(out: &mut String, digest: &[u8]) {
    let start = out.len();
    out.push_str(&hex::encode(digest));
    let written = out.get(start..).unwrap_or_default();
    if !written.bytes().all(|c| c.is_ascii_digit()) {
        return;
    }
    let first = written.bytes().next().map_or(0, |c| c - b'0');
    let letter = char::from(b'a' + first % 6);
    out.replace_range(start..=start, letter.encode_utf8(&mut [0; 4]));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_the_exact_forms_are_protected() {
        let p = Placeholders::new(&names(&["EMAIL", "CREDIT_CARD"]), &names(&["EMAIL"])).unwrap();
        let text = "<EMAIL> <EMAIL:3f2a9c01d4e5b6a7> <CREDIT_CARD> <AKIAIOSFODNN7EXAMPLE> \
                    <CREDIT_CARD:3f2a9c01d4e5b6a7> <EMAIL:4111111111111111> <EMAILS>";
        let got: Vec<&str> = p
            .protected(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(
            got,
            ["<EMAIL>", "<EMAIL:3f2a9c01d4e5b6a7>", "<CREDIT_CARD>"]
        );
        let none = Placeholders::new(&[], &[]).unwrap();
        assert!(none.protected("<EMAIL>").is_empty());
    }

    #[test]
    fn hashes_always_hold_a_letter() {
        let mut out = String::from("<X:");
        push_hash_hex(&mut out, &[0x41, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11]);
        assert_eq!(out, "<X:e111111111111111");
        let mut out = String::new();
        push_hash_hex(&mut out, &[0x3f, 0x2a]);
        assert_eq!(out, "3f2a");
        let mut out = String::new();
        push_hash_hex(&mut out, &[0x99, 0x00]);
        assert_eq!(out, "d900");
    }
}
