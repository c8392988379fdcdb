//! Redaction inside JSON text without a parse-and-reserialise round trip, and truncation at an
//! element boundary.
//!
//! [`rewrite`] walks the JSON bytes once. Between strings it only checks that the bytes are
//! JSON's (punctuation, numbers, `true`, `false`, `null`); anything else means the value is not
//! JSON and the caller scans it as plain text. Each string is handed to the callback decoded:
//! a string with no escapes is passed as the slice it is, one with escapes is decoded first. A
//! replaced string is written back escaped, so the document stays valid. Long numbers (seven
//! digits or more: a phone or card number sent as a JSON number) are scanned too; a replaced
//! number becomes a JSON string.

/// What [`rewrite`] made of a document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Not JSON: scan it as text.
    NotJson,
    /// Nothing was replaced.
    Unchanged,
    /// The rewritten document.
    Changed(String),
}

/// Numbers with at least this many digits are scanned.
const MIN_NUMBER_DIGITS: usize = 7;

/// Calls `f` on every string (decoded) and every long number of the JSON document `json`.
/// `f` returns the replacement text, or `None` to keep the value.
pub(crate) fn rewrite(json: &str, mut f: impl FnMut(&str) -> Option<String>) -> Rewrite {
    let b = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                let mut j = i + 1;
                let mut escaped = false;
                loop {
                    j = next_quote_or_backslash(b, j);
                    match b.get(j) {
                        None => return Rewrite::NotJson,
                        Some(b'"') => break,
                        _ => {
                            escaped = true;
                            j += 2;
                        }
                    }
                }
                // `start..=j` is the literal, quotes included.
                let replaced = if escaped {
                    let Some(literal) = json.get(start..=j) else {
                        return Rewrite::NotJson;
                    };
                    let Ok(decoded) = serde_json::from_str::<String>(literal) else {
                        return Rewrite::NotJson;
                    };
                    f(&decoded).and_then(|new| serde_json::to_string(&new).ok())
                } else {
                    let Some(content) = json.get(start + 1..j) else {
                        return Rewrite::NotJson;
                    };
                    // The replacement keeps the original's bytes and adds placeholders, which
                    // need no escaping.
                    f(content).map(|new| quote(&new))
                };
                if let Some(new) = replaced {
                    let o = out.get_or_insert_with(|| String::with_capacity(json.len()));
                    o.push_str(json.get(copied..start).unwrap_or_default());
                    o.push_str(&new);
                    copied = j + 1;
                }
                i = j + 1;
            }
            b'0'..=b'9' | b'-' => {
                let start = i;
                let mut digits = 0;
                while let Some(&c) = b.get(i) {
                    match c {
                        b'0'..=b'9' => digits += 1,
                        b'-' | b'+' | b'.' | b'e' | b'E' => {}
                        _ => break,
                    }
                    i += 1;
                }
                if digits >= MIN_NUMBER_DIGITS
                    && let Some(token) = json.get(start..i)
                    && let Some(new) = f(token)
                {
                    let o = out.get_or_insert_with(|| String::with_capacity(json.len()));
                    o.push_str(json.get(copied..start).unwrap_or_default());
                    o.push_str(&quote(&new));
                    copied = i;
                }
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b't' | b'r' | b'u' | b'e' | b'f' | b'a' | b'l' | b's' | b'n' => i += 1,
            _ => return Rewrite::NotJson,
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(json.get(copied..).unwrap_or_default());
            Rewrite::Changed(o)
        }
        None => Rewrite::Unchanged,
    }
}

/// The first `"` or `\\` at or after `from`, or `b.len()`. Scans 32 bytes at a time with a
/// branch-free test the compiler vectorises.
fn next_quote_or_backslash(b: &[u8], from: usize) -> usize {
    let special = |c: u8| c == b'"' || c == b'\\';
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 32) {
        if chunk.iter().fold(false, |any, &c| any | special(c)) {
            break;
        }
        i += 32;
    }
    b.get(i..)
        .and_then(|rest| rest.iter().position(|&c| special(c)))
        .map_or(b.len(), |p| i + p)
}

/// A replacement that needs no escaping, as a JSON string. Falls back to escaping if it does.
fn quote(s: &str) -> String {
    if s.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        return serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    }
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    o.push_str(s);
    o.push('"');
    o
}

/// True when `s` looks like a JSON object or array (worth trying [`rewrite`] on).
pub(crate) fn looks_like_json(s: &str) -> bool {
    matches!(s.trim_start().as_bytes().first(), Some(b'{') | Some(b'['))
}

/// Truncates the JSON document `json` (an object or array) to at most `max` bytes, keeping
/// it valid and keeping the bytes it keeps as they were: the cut falls after a complete element
/// (or inside a string value, at a character boundary), and the open containers are closed.
/// `None` when `json` is not well-formed enough to cut.
///
/// Linear in `json.len()` whatever its shape: the walk remembers only where the last good cut
/// was and how deep it was, and [`closers`] rebuilds the closing brackets from the kept prefix
/// in a second pass. (Copying the open-container stack at every element made a value of 70,000
/// `[` cost tens of milliseconds.)
pub(crate) fn truncate(json: &str, max: usize) -> Option<String> {
    if json.len() <= max {
        return Some(json.to_owned());
    }
    let b = json.as_bytes();
    // For each open container: whether it is an object, and whether a key comes next.
    let mut stack: Vec<(bool, bool)> = Vec::new();
    // The last good cut: the prefix length and whether a string value is open there.
    let mut best: Option<(usize, bool)> = None;
    let fits = |len: usize, extra: usize, depth: usize| len + extra + depth <= max;
    let mut i = 0;
    'walk: while i < b.len() {
        let c = b[i];
        match c {
            b'[' | b'{' => {
                stack.push((c == b'{', c == b'{'));
                i += 1;
                if !fits(i, 0, stack.len()) {
                    break;
                }
                best = Some((i, false));
                continue;
            }
            b']' | b'}' => {
                stack.pop()?;
                i += 1;
            }
            b',' => {
                if let Some((true, key_next)) = stack.last_mut() {
                    *key_next = true;
                }
                i += 1;
                continue;
            }
            b':' => {
                if let Some((_, key_next)) = stack.last_mut() {
                    *key_next = false;
                }
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'"' => {
                let is_key = stack.last() == Some(&(true, true));
                let depth = stack.len();
                // The longest content prefix that fits, as an end offset.
                let mut last_fit = (!is_key && fits(i + 1, 1, depth)).then_some(i + 1);
                i += 1;
                loop {
                    match b.get(i) {
                        None => return None,
                        Some(b'"') => break,
                        Some(b'\\') => i += if b.get(i + 1) == Some(&b'u') { 6 } else { 2 },
                        Some(_) => i += 1,
                    }
                    if !is_key && i <= b.len() && json.is_char_boundary(i) {
                        if fits(i, 1, depth) {
                            last_fit = Some(i);
                        } else {
                            if let Some(end) = last_fit {
                                best = Some((end, true));
                            }
                            break 'walk;
                        }
                    }
                }
                i += 1;
                if is_key {
                    continue;
                }
            }
            _ => {
                while let Some(&c) = b.get(i) {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    i += 1;
                }
            }
        }
        // A value ended at `i`.
        if stack.is_empty() || !fits(i, 0, stack.len()) {
            break;
        }
        best = Some((i, false));
    }
    let (len, in_string) = best?;
    let prefix = json.get(..len)?;
    let closers = closers(prefix.as_bytes());
    let mut out = String::with_capacity(len + closers.len() + 1);
    out.push_str(prefix);
    if in_string {
        out.push('"');
    }
    out.extend(closers.iter().rev().map(|&c| char::from(c)));
    Some(out)
}

/// The closing brackets of the containers still open at the end of `prefix`, innermost last.
/// A string left open at the end (a cut inside a string value) is skipped over.
fn closers(prefix: &[u8]) -> Vec<u8> {
    let mut open = Vec::new();
    let mut i = 0;
    while let Some(&c) = prefix.get(i) {
        match c {
            b'[' => open.push(b']'),
            b'{' => open.push(b'}'),
            b']' | b'}' => {
                open.pop();
            }
            b'"' => {
                i += 1;
                while let Some(&c) = prefix.get(i) {
                    match c {
                        b'"' => break,
                        b'\\' => i += 1,
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    open
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub(crate) fn truncate_text(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    fn upper(s: &str) -> Option<String> {
        s.contains("secret").then(|| s.replace("secret", "<X>"))
    }

    #[test]
    fn rewrites_strings_and_keeps_the_rest() {
        let doc = r#"[{"role":"user","content":"my secret\nis \"here\"","n":[1,2.5,true,null]}]"#;
        let Rewrite::Changed(out) = rewrite(doc, upper) else {
            panic!("expected a change")
        };
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["content"], "my <X>\nis \"here\"");
        assert_eq!(v[0]["n"], serde_json::json!([1, 2.5, true, null]));
        assert_eq!(rewrite(r#"{"a":"b"}"#, upper), Rewrite::Unchanged);
        assert_eq!(rewrite("[see attached] secret", upper), Rewrite::NotJson);
        assert_eq!(rewrite(r#"["unterminated"#, upper), Rewrite::NotJson);
    }

    #[test]
    fn long_numbers_become_strings_when_replaced() {
        let out = rewrite(r#"{"card":4111111111111111,"n":12}"#, |s| {
            (s.len() > 10).then(|| "<CREDIT_CARD>".to_owned())
        });
        assert_eq!(
            out,
            Rewrite::Changed(r#"{"card":"<CREDIT_CARD>","n":12}"#.to_owned())
        );
    }

    #[test]
    fn truncates_at_element_boundaries() {
        let doc = r#"[{"role":"system","content":"be brief"},{"role":"user","content":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]"#;
        for max in [2, 10, 45, 60, 80, 100, doc.len()] {
            let out = truncate(doc, max).unwrap();
            assert!(out.len() <= max.max(2), "{max}: {out}");
            let _: Value = serde_json::from_str(&out).unwrap();
        }
        assert_eq!(
            truncate(doc, 45).unwrap(),
            r#"[{"role":"system","content":"be brief"},{}]"#
        );
        assert_eq!(
            truncate(doc, 80).unwrap(),
            r#"[{"role":"system","content":"be brief"},{"role":"user","content":"aaaaaaaaaaa"}]"#
        );
        assert_eq!(
            truncate(r#"{"a":"\u00e9\u00e9"}"#, 14).unwrap(),
            r#"{"a":"\u00e9"}"#
        );
        assert_eq!(truncate("not json", 3), None);
    }

    #[test]
    fn truncates_deep_nesting_and_rebuilds_the_closers() {
        let deep = format!("{}{}", "[{\"k\":".repeat(1000), "1");
        let cut = truncate(&deep, 100).unwrap();
        assert!(cut.len() <= 100, "{cut}");
        let _: Value = serde_json::from_str(&cut).unwrap();
        // Each level costs its opener and its closer; the kept prefix is the input's.
        assert!(cut.starts_with("[{\"k\":[{\"k\":"));
        assert!(cut.ends_with("}]"));
        let unclosed = "[".repeat(70_000);
        let cut = truncate(&unclosed, 64).unwrap();
        assert_eq!(cut, format!("{}{}", "[".repeat(32), "]".repeat(32)));
        // Brackets inside strings, escaped quotes and a cut inside a string value.
        let doc = r#"{"a":"[{\"]","b":["x]}","yyyyyyyyyyyyyyyyyyyy"]}"#;
        assert_eq!(
            truncate(doc, 30).unwrap(),
            r#"{"a":"[{\"]","b":["x]}","yy"]}"#
        );
    }

    #[test]
    fn truncates_text_at_a_char_boundary() {
        let mut s = "héllo".to_owned();
        truncate_text(&mut s, 2);
        assert_eq!(s, "h");
    }
}
