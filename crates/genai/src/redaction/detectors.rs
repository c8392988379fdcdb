//! The detectors: what personal data and secrets look like, and how a candidate is confirmed.
//!
//! Every detector is one regular expression plus, for most, a check of the candidate (Luhn for
//! cards, mod-97 for IBANs, the invalid ranges for SSNs, octet ranges for IPv4, a full parse
//! for IPv6, digit counts, the surrounding bytes and the words just before for phone numbers:
//! a bare digit run is a phone number only after a phone word, and `order`, `invoice`, `ISBN`,
//! … before a national number say it is something else). A [`Detectors`] value
//! compiles them all into one [`RegexSet`]: one pass over the text says which detectors can
//! match at all, and only those run their own expression. Text with no candidate (most prompt
//! text) costs that single pass.
//!
//! The built-in patterns are ASCII-only (`(?-u)`), so the lazy DFA handles any text, including
//! non-ASCII, without falling back to a slower engine.

use super::builtin::BARE_PHONE;
pub use super::builtin::Builtin;
use super::checks::second_group;
use super::cues::{Cue, cue_before};
use super::placeholders::Placeholders;
use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

/// One detector: built-in or user-supplied.
#[derive(Debug)]
struct Entry {
    kind: usize,
    builtin: Option<Builtin>,
    regex: Regex,
}

/// A detected value: byte range and kind (an index into the kinds given to
/// [`Detectors::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// The kind of value.
    pub kind: usize,
}

/// How the text around a keyword is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The whitespace-delimited token holding the keyword.
    Token,
    /// That token and the next one (`Bearer <token>`).
    NextToken,
    /// From the token to the end of the text (a private-key block spans lines).
    ToEnd,
}

/// Keywords that every match of a detector contains, for the aho-corasick prefilter.
fn keywords(b: Builtin) -> Option<(&'static [&'static str], Reach)> {
    Some(match b {
        Builtin::PrivateKey => (&["-----BEGIN"], Reach::ToEnd),
        Builtin::Jwt => (&["eyJ"], Reach::Token),
        Builtin::BearerToken => (&["Bearer", "bearer"], Reach::NextToken),
        Builtin::AwsAccessKey => (&["AKIA", "ASIA", "ABIA", "ACCA"], Reach::Token),
        Builtin::ApiKey => (
            &[
                "sk-", "sk_live_", "sk_test_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xoxa-",
                "xoxb-", "xoxp-", "xoxr-", "xoxs-", "AIza",
            ],
            Reach::Token,
        ),
        _ => return None,
    })
}

/// A compiled set of detectors.
///
/// Three prefilters decide where each detector runs, so no expression runs over all the text
/// unless a user pattern asks for it:
/// - email runs only on the tokens holding an `@` (found with `memchr`), and the secret
///   detectors only on the tokens around the keywords that one aho-corasick pass finds
///   (`AKIA`, `sk-`, `eyJ`, `Bearer`, `-----BEGIN`, …);
/// - number-shaped detectors (phone, card, IBAN, SSN, IPv4, IPv6) run, as one `RegexSet`, only
///   on runs of tokens that hold at least four digits or two colons, found by one byte scan;
///   bare digit runs (a phone number without separators) only on those runs that follow a
///   phone word (`call`, `Telefon`, …), since every token of number-dense text is one;
/// - user patterns run as one `RegexSet` over the whole text.
#[derive(Debug)]
pub struct Detectors {
    entries: Vec<Entry>,
    /// The email entry, run on the token around each `@`.
    email: Option<usize>,
    /// Keyword prefilter: the automaton, and per keyword the entry and its reach.
    keywords: Option<(AhoCorasick, Vec<(usize, Reach)>)>,
    /// Number-shaped detectors: the set, and per set pattern its entry.
    numeric: Option<(RegexSet, Vec<usize>)>,
    /// Bare digit runs for the phone entry: the entry and the expression, run only on number
    /// runs after a phone word.
    bare_phone: Option<(usize, Regex)>,
    /// User patterns: the set, and per set pattern its entry.
    custom: Option<(RegexSet, Vec<usize>)>,
    /// The placeholders a redactor writes, never findings.
    placeholders: Placeholders,
}

/// A pattern that failed to compile: which one (the index among the custom patterns) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Index of the custom pattern, or `None` for a built-in (a bug).
    pub custom: Option<usize>,
    /// The compiler's message.
    pub message: String,
}

/// The shortest text a built-in detector can find something in.
pub(super) const MIN_BUILTIN_LEN: usize = 6;

/// Size limit for each compiled expression (the default is 10 MiB; the phone pattern alone
/// needs less than 1 MiB).
const SIZE_LIMIT: usize = 32 << 20;

fn builtin_error(message: impl ToString) -> PatternError {
    PatternError {
        custom: None,
        message: message.to_string(),
    }
}

fn build_set(patterns: &[&str]) -> Result<Option<RegexSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSetBuilder::new(patterns)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
        .map(Some)
        .map_err(|e| e.to_string())
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Start of the whitespace-delimited token holding byte `i`.
fn token_start(b: &[u8], i: usize) -> usize {
    let mut s = i.min(b.len());
    while s > 0 && !b.get(s - 1).copied().is_some_and(is_space) {
        s -= 1;
    }
    s
}

/// End of the token holding byte `i`.
fn token_end(b: &[u8], i: usize) -> usize {
    let mut e = i;
    while b.get(e).is_some_and(|&c| !is_space(c)) {
        e += 1;
    }
    e
}

/// Calls `f` with each run of number-shaped tokens: tokens (separated by one space or tab)
/// that hold a digit or two colons, or are short upper-case groups such as an IBAN's `WEST`,
/// when the run holds at least four digits or two colons in one token.
fn numeric_runs(b: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    // The current run: start, end, digits, and whether a token had two colons.
    let mut run: Option<(usize, usize, usize, bool)> = None;
    let mut flush = |run: &mut Option<(usize, usize, usize, bool)>| {
        if let Some((s, e, digits, colons)) = run.take()
            && (digits >= 4 || colons)
        {
            f(s, e);
        }
    };
    while i < b.len() {
        if run.is_none() {
            // Outside a run, skip straight to the next digit or colon.
            let Some(p) = next_digit_or_colon(b, i) else {
                break;
            };
            i = token_start(b, p).max(i);
        }
        let start = i;
        let mut digits = 0;
        let mut colons = 0;
        let mut upper = true;
        while let Some(&c) = b.get(i) {
            if is_space(c) {
                break;
            }
            if c.is_ascii_digit() {
                digits += 1;
            } else if c == b':' {
                colons += 1;
            } else if !c.is_ascii_uppercase() {
                upper = false;
            }
            i += 1;
        }
        let end = i;
        // A last group may carry the sentence's punctuation (`… 084H R.`).
        let mut core = end;
        while core > start && b.get(core - 1).is_some_and(|c| b".,;!?)".contains(c)) {
            core -= 1;
        }
        let upper = upper
            || (core > start
                && b.get(start..core).is_some_and(|t| {
                    t.iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                }));
        let len = core - start;
        let numeric = digits > 0 || colons >= 2;
        let group = upper && (1..=4).contains(&len);
        if numeric || (group && run.is_some()) {
            match &mut run {
                Some(r) => {
                    r.1 = end;
                    r.2 += digits;
                    r.3 |= colons >= 2;
                }
                None => run = Some((start, end, digits, colons >= 2)),
            }
        } else {
            flush(&mut run);
        }
        // One space or tab continues a run; anything more ends it.
        let gap_start = i;
        while b.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        if i - gap_start != 1 || !matches!(b.get(gap_start), Some(b' ' | b'\t')) {
            flush(&mut run);
        }
    }
    flush(&mut run);
}

/// True when `b` holds `n` digits in a row.
fn has_digit_run(b: &[u8], n: usize) -> bool {
    let mut row = 0;
    b.iter().any(|c| {
        row = if c.is_ascii_digit() { row + 1 } else { 0 };
        row >= n
    })
}

/// The first digit or colon at or after `from`. Scans 32 bytes at a time with a branch-free
/// test the compiler vectorises, since most prompt text has few digits.
fn next_digit_or_colon(b: &[u8], from: usize) -> Option<usize> {
    let interesting = |c: u8| c.wrapping_sub(b'0') < 10 || c == b':';
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 32) {
        if chunk.iter().fold(false, |any, &c| any | interesting(c)) {
            break;
        }
        i += 32;
    }
    b.get(i..)?
        .iter()
        .position(|&c| interesting(c))
        .map(|p| i + p)
}

impl Detectors {
    /// Compiles `builtins` (each with its kind: an index into the caller's list of kinds) and
    /// `custom` patterns (each with its kind).
    pub fn new(
        builtins: &[(usize, Builtin)],
        custom: &[(usize, &str)],
    ) -> Result<Self, PatternError> {
        let mut entries = Vec::new();
        let mut email = None;
        let mut keyword_patterns: Vec<&str> = Vec::new();
        let mut keyword_targets = Vec::new();
        let mut numeric_patterns = Vec::new();
        let mut numeric_targets = Vec::new();
        let mut bare_phone = None;
        for &(kind, b) in builtins {
            let regex = compile(b.pattern()).map_err(builtin_error)?;
            let index = entries.len();
            entries.push(Entry {
                kind,
                builtin: Some(b),
                regex,
            });
            match keywords(b) {
                _ if b == Builtin::Email => email = Some(index),
                Some((words, reach)) => {
                    for w in words {
                        keyword_patterns.push(w);
                        keyword_targets.push((index, reach));
                    }
                }
                None => {
                    numeric_patterns.push(b.pattern());
                    numeric_targets.push(index);
                    if b == Builtin::Phone {
                        bare_phone = Some((index, compile(BARE_PHONE).map_err(builtin_error)?));
                    }
                }
            }
        }
        let mut custom_patterns = Vec::new();
        let mut custom_targets = Vec::new();
        for (i, &(kind, pattern)) in custom.iter().enumerate() {
            let regex = compile(pattern).map_err(|message| PatternError {
                custom: Some(i),
                message,
            })?;
            custom_targets.push(entries.len());
            custom_patterns.push(pattern);
            entries.push(Entry {
                kind,
                builtin: None,
                regex,
            });
        }
        let keywords = if keyword_patterns.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&keyword_patterns)
                .map_err(builtin_error)?;
            Some((ac, keyword_targets))
        };
        let numeric = build_set(&numeric_patterns)
            .map_err(builtin_error)?
            .map(|s| (s, numeric_targets));
        let custom = build_set(&custom_patterns)
            .map_err(|message| PatternError {
                custom: None,
                message,
            })?
            .map(|s| (s, custom_targets));
        let masks: Vec<String> = builtins
            .iter()
            .map(|(_, b)| b.name().to_ascii_uppercase())
            .collect();
        let placeholders = Placeholders::new(&masks, &[]).map_err(builtin_error)?;
        Ok(Self {
            entries,
            email,
            keywords,
            numeric,
            bare_phone,
            custom,
            placeholders,
        })
    }

    /// Sets the placeholders that are never findings: what the redactor writes (see
    /// [`Placeholders`]). By default, the masks of the built-in detectors given to `new`.
    pub(crate) fn set_placeholders(&mut self, placeholders: Placeholders) {
        self.placeholders = placeholders;
    }

    /// Runs entry `index` over `text[from..to]`, confirming each candidate against the whole
    /// text (checks look at the bytes around a candidate).
    fn run_entry(&self, index: usize, text: &str, from: usize, to: usize, out: &mut Vec<Finding>) {
        if let Some(entry) = self.entries.get(index) {
            self.run_regex(index, &entry.regex, text, from, to, out);
        }
    }

    /// Runs `regex` for entry `index` over `text[from..to]`, as [`Self::run_entry`] does.
    fn run_regex(
        &self,
        index: usize,
        regex: &Regex,
        text: &str,
        from: usize,
        to: usize,
        out: &mut Vec<Finding>,
    ) {
        let Some(entry) = self.entries.get(index) else {
            return;
        };
        let mut from = from;
        // A candidate narrowed by its check (a phone number or an IBAN that ran into the next
        // value) resumes the search where it now ends, so the next value is found too.
        'search: while let Some(window) = text.get(from..to) {
            for m in regex.find_iter(window) {
                let (start, end) = (from + m.start(), from + m.end());
                let range = match entry.builtin {
                    Some(b) => b.check(text, start, end),
                    None => Some((start, end)),
                };
                match range {
                    Some((found_start, found_end)) if found_end > found_start => {
                        out.push(Finding {
                            start: found_start,
                            end: found_end,
                            kind: entry.kind,
                        });
                        if found_end < end && found_end > from {
                            from = found_end;
                            continue 'search;
                        }
                    }
                    // A rejected candidate (`7946 0958 4111 1111` in `+44 20 7946 0958 4111
                    // 1111 1111 1111`) may hide a value that starts inside it: a built-in
                    // detector looks again from its second group.
                    _ if entry.builtin.is_some() => {
                        let next = second_group(text.as_bytes(), start, end);
                        if next < end {
                            from = next;
                            continue 'search;
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
    }

    /// Appends every confirmed finding in `text` to `out`, sorted by start, without overlaps
    /// (the earlier start wins; at the same start the longer one, then the higher priority).
    /// Placeholders left by an earlier redaction are never findings.
    pub fn find(&self, text: &str, out: &mut Vec<Finding>) {
        // No built-in finding is shorter than this (`a@b.io`, `fe80::1`); JSON keys and short
        // values such as `role` or `user` are skipped at once.
        if self.custom.is_none() && text.len() < MIN_BUILTIN_LEN {
            return;
        }
        let first = out.len();
        let b = text.as_bytes();
        if let Some(index) = self.email {
            let mut from_here = 0;
            while let Some(at) = text.get(from_here..).and_then(|t| t.find('@')) {
                let at = from_here + at;
                let to = token_end(b, at);
                self.run_entry(index, text, token_start(b, at), to, out);
                from_here = to.max(at + 1);
            }
        }
        if let Some((ac, targets)) = &self.keywords {
            // Windows per entry, merged when they overlap: (entry, from, to).
            let mut windows: Vec<(usize, usize, usize)> = Vec::new();
            for m in ac.find_iter(text) {
                let Some(&(index, reach)) = targets.get(m.pattern().as_usize()) else {
                    continue;
                };
                let from = token_start(b, m.start());
                let to = match reach {
                    Reach::Token => token_end(b, m.end()),
                    Reach::NextToken => {
                        let mut e = token_end(b, m.end());
                        while b.get(e).is_some_and(|&c| c == b' ' || c == b'\t') {
                            e += 1;
                        }
                        token_end(b, e)
                    }
                    Reach::ToEnd => b.len(),
                };
                match windows.iter_mut().rev().find(|w| w.0 == index) {
                    Some(w) if from <= w.2 => w.2 = w.2.max(to),
                    _ => windows.push((index, from, to)),
                }
            }
            for (index, from, to) in windows {
                self.run_entry(index, text, from, to, out);
            }
        }
        if let Some((set, targets)) = &self.numeric {
            numeric_runs(b, |from, to| {
                let Some(run) = text.get(from..to) else {
                    return;
                };
                let matched = set.matches(run);
                for i in matched.iter() {
                    if let Some(&index) = targets.get(i) {
                        self.run_entry(index, text, from, to, out);
                    }
                }
                if let Some((index, regex)) = &self.bare_phone
                    && has_digit_run(run.as_bytes(), 9)
                    && cue_before(b, from) == Cue::Phone
                {
                    self.run_regex(*index, regex, text, from, to, out);
                }
            });
        }
        if let Some((set, targets)) = &self.custom {
            let matched = set.matches(text);
            for i in matched.iter() {
                if let Some(&index) = targets.get(i) {
                    self.run_entry(index, text, 0, text.len(), out);
                }
            }
        }
        if out.len() == first {
            return;
        }
        let found = &mut out[first..];
        found.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.kind.cmp(&b.kind))
        });
        // Placeholders of an earlier pass are protected, so redaction is idempotent.
        let protected = self.placeholders.protected(text);
        let mut kept = first;
        let mut last_end = 0;
        for i in first..out.len() {
            let f = out[i];
            if (kept > first && f.start < last_end)
                || protected.iter().any(|&(s, e)| f.start < e && s < f.end)
            {
                continue;
            }
            out[kept] = f;
            kept += 1;
            last_end = f.end;
        }
        out.truncate(kept);
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
