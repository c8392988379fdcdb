//! The detectors: what personal data and secrets look like, and how a candidate is confirmed.
//!
//! Every detector is one regular expression plus, for most, a check of the candidate (Luhn for
//! cards, mod-97 for IBANs, the invalid ranges for SSNs, octet ranges for IPv4, a full parse
//! for IPv6, digit counts and the surrounding bytes for phone numbers). A [`Detectors`] value
//! compiles them all into one [`RegexSet`]: one pass over the text says which detectors can
//! match at all, and only those run their own expression. Text with no candidate (most prompt
//! text) costs that single pass.
//!
//! The built-in patterns are ASCII-only (`(?-u)`), so the lazy DFA handles any text, including
//! non-ASCII, without falling back to a slower engine.

use super::placeholders::Placeholders;
use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};
use std::net::Ipv6Addr;
use std::str::FromStr;

/// A built-in detector. The order is the priority when two findings start at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    /// A PEM private-key block.
    PrivateKey,
    /// A JSON Web Token.
    Jwt,
    /// `Bearer <token>`.
    BearerToken,
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKey,
    /// Provider API keys: `sk-…`, `sk-ant-…`, `sk_live_…`, `ghp_…`, `xoxb-…`, `AIza…`.
    ApiKey,
    /// An email address.
    Email,
    /// An IBAN, mod-97-validated.
    Iban,
    /// A payment card number, Luhn-validated.
    CreditCard,
    /// A US social security number outside the invalid ranges.
    Ssn,
    /// A phone number: E.164 and common national formats.
    Phone,
    /// An IPv6 address.
    Ipv6,
    /// An IPv4 address.
    Ipv4,
}

impl Builtin {
    /// Every built-in detector, in priority order.
    pub const ALL: [Builtin; 12] = [
        Builtin::PrivateKey,
        Builtin::Jwt,
        Builtin::BearerToken,
        Builtin::AwsAccessKey,
        Builtin::ApiKey,
        Builtin::Email,
        Builtin::Iban,
        Builtin::CreditCard,
        Builtin::Ssn,
        Builtin::Phone,
        Builtin::Ipv6,
        Builtin::Ipv4,
    ];

    /// The name used in config, audit attributes and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::PrivateKey => "private_key",
            Builtin::Jwt => "jwt",
            Builtin::BearerToken => "bearer_token",
            Builtin::AwsAccessKey => "aws_access_key",
            Builtin::ApiKey => "api_key",
            Builtin::Email => "email",
            Builtin::Iban => "iban",
            Builtin::CreditCard => "credit_card",
            Builtin::Ssn => "ssn",
            Builtin::Phone => "phone",
            Builtin::Ipv6 => "ipv6",
            Builtin::Ipv4 => "ipv4",
        }
    }

    /// The built-in detector of this name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// True for credentials (keys, tokens), as opposed to personal data.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Builtin::PrivateKey
                | Builtin::Jwt
                | Builtin::BearerToken
                | Builtin::AwsAccessKey
                | Builtin::ApiKey
        )
    }

    fn pattern(self) -> &'static str {
        match self {
            Builtin::PrivateKey => {
                r"(?-u)-----BEGIN[A-Z ]{0,24}PRIVATE KEY-----(?:[A-Za-z0-9+/=:,\t\r\n ]|\\n|\\r)*(?:-----END[A-Z ]{0,24}PRIVATE KEY-----)?"
            }
            Builtin::Jwt => r"(?-u)\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            Builtin::BearerToken => r"(?-u)\b[Bb]earer[ \t]+[A-Za-z0-9._~+/-]{16,}=*",
            Builtin::AwsAccessKey => r"(?-u)\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
            Builtin::ApiKey => {
                r"(?-u)\b(?:sk-[A-Za-z0-9_-]{20,}|sk_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[A-Za-z0-9_-]{35})"
            }
            Builtin::Email => {
                r"(?-u)[A-Za-z0-9_][A-Za-z0-9._%+_-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
            }
            Builtin::Iban => r"(?-u)\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            Builtin::CreditCard => {
                r"(?-u)\b(?:[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?|3[0-9]{3}[ -][0-9]{6}[ -][0-9]{4,5}|[0-9]{13,19})\b"
            }
            Builtin::Ssn => r"(?-u)\b[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}\b",
            Builtin::Phone => {
                r"(?-u)\+[1-9][0-9]{0,3}[ .-]?\(?[0-9]{1,4}\)?(?:[ .-]?[0-9]{1,4}){0,5}|(?:\([0-9]{3}\)[ .-]?|\b[0-9]{3}[-. ])[0-9]{3}[-. ][0-9]{4}\b|\b0[1-9](?:[ .][0-9]{2}){4}\b|\b0[1-9][0-9]{1,3}[ -]?[0-9]{3,4}[ -]?[0-9]{3,4}\b"
            }
            Builtin::Ipv6 => r"(?-u)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}",
            Builtin::Ipv4 => r"(?-u)\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b",
        }
    }

    /// Confirms a candidate at `start..end`, possibly narrowing it. `None` rejects it.
    fn check(self, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
        let b = text.as_bytes();
        let s = text.get(start..end)?;
        let ok = match self {
            Builtin::PrivateKey | Builtin::Jwt | Builtin::BearerToken | Builtin::AwsAccessKey => {
                true
            }
            Builtin::Email => !s.starts_with('.'),
            Builtin::ApiKey => {
                // Random keys mix digits or cases; `sk-some-kebab-case-name` does not.
                let tail = s.get(3..).unwrap_or_default();
                tail.bytes().any(|c| c.is_ascii_digit())
                    || (tail.bytes().any(|c| c.is_ascii_uppercase())
                        && tail.bytes().any(|c| c.is_ascii_lowercase()))
            }
            Builtin::Iban => return check_iban(b, start, end),
            Builtin::CreditCard => {
                if check_card(s) {
                    true
                } else {
                    // Four groups and a short number after them (`4111 1111 1111 1111
                    // 123-45-6789`): the card is the four groups.
                    let cut = start + 19;
                    return (s.len() > 19
                        && matches!(b.get(cut), Some(b' ' | b'-'))
                        && text.get(start..cut).is_some_and(check_card))
                    .then_some((start, cut));
                }
            }
            Builtin::Ssn => !in_identifier(b, start, end) && check_ssn(s),
            Builtin::Phone => {
                // `(?:…\)?` may take a closing parenthesis that opens before the number.
                let mut end = end;
                let open = s.bytes().filter(|&c| c == b'(').count();
                let close = s.bytes().filter(|&c| c == b')').count();
                if close > open && s.ends_with(')') {
                    end -= 1;
                }
                // An international number may run into the value after it
                // (`+44 20 7946 0958 123-45-6789`): the number is the longest prefix that ends
                // with a digit group and passes the checks.
                loop {
                    let s = text.get(start..end)?;
                    if !in_identifier(b, start, end)
                        && !colon_follows(b, end)
                        && check_phone(b, start, end, s)
                    {
                        return Some((start, end));
                    }
                    if !s.starts_with('+') {
                        return None;
                    }
                    end = previous_group_end(b, start, end)?;
                }
            }
            Builtin::Ipv6 => check_ipv6(b, start, end, s),
            Builtin::Ipv4 => check_ipv4(b, start, end, s),
        };
        ok.then_some((start, end))
    }
}

/// Where the second group of the candidate `start..end` starts (`end` if it has one group).
fn second_group(b: &[u8], start: usize, end: usize) -> usize {
    let mut i = start;
    while i < end
        && b.get(i)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || b"+()".contains(&c))
    {
        i += 1;
    }
    while i < end && b.get(i).is_some_and(|&c| b" \t.-:/".contains(&c)) {
        i += 1;
    }
    i.max(start + 1).min(end)
}

/// True when `b[end]` is a colon glued to what follows (`2001:db8::1`, `12:30`).
fn colon_follows(b: &[u8], end: usize) -> bool {
    b.get(end) == Some(&b':') && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
}

/// The end of the digit group before the last one of `start..end`, if it leaves more than a
/// country code.
fn previous_group_end(b: &[u8], start: usize, end: usize) -> Option<usize> {
    let mut i = end;
    while i > start
        && b.get(i - 1)
            .is_some_and(|&c| c.is_ascii_digit() || c == b')')
    {
        i -= 1;
    }
    while i > start
        && b.get(i - 1)
            .is_some_and(|&c| matches!(c, b' ' | b'.' | b'-' | b'('))
    {
        i -= 1;
    }
    (i > start + 2).then_some(i)
}

/// True when the bytes around `start..end` say the number is part of a longer identifier
/// (`ORD-4155550134`, `/orders/123-45-6789`, `v1.2.3.4`, `12.5`), not a value of its own.
fn in_identifier(b: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
    let before2 = start.checked_sub(2).and_then(|i| b.get(i)).copied();
    let after = b.get(end).copied();
    let after2 = b.get(end + 1).copied();
    let alnum = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    match before {
        Some(b'#' | b'/' | b'_' | b'\\') => return true,
        Some(b'.' | b',') if digit(before2) => return true,
        Some(b'-') if alnum(before2) => return true,
        _ => {}
    }
    match after {
        Some(b'-' | b'/' | b'_') if alnum(after2) => true,
        Some(b'.' | b',') if digit(after2) => true,
        _ => false,
    }
}

/// Luhn checksum over the ASCII digits of `s`.
pub(crate) fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    let mut n = 0;
    for c in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(c - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

fn check_card(s: &str) -> bool {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|c| c - b'0')
        .collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    // Separators, if any, are all the same.
    let mut seps = s.bytes().filter(|c| !c.is_ascii_digit());
    if let Some(first) = seps.next()
        && seps.any(|c| c != first)
    {
        return false;
    }
    // Issuer prefixes: Mir and Mastercard (2), Amex, Diners and JCB (3), Visa (4),
    // Mastercard and Maestro (5), Discover, UnionPay and Maestro (6).
    let iin2 = u32::from(digits[0]) * 10 + u32::from(digits[1]);
    let iin4 = iin2 * 100 + u32::from(digits[2]) * 10 + u32::from(digits[3]);
    let issuer = match digits[0] {
        2 => (2200..=2204).contains(&iin4) || (2221..=2720).contains(&iin4),
        3 => matches!(iin2, 30 | 34 | 35 | 36 | 37 | 38 | 39),
        4..=6 => true,
        _ => false,
    };
    issuer && luhn(s)
}

fn check_ssn(s: &str) -> bool {
    let d: Vec<u32> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|c| u32::from(c - b'0'))
        .collect();
    if d.len() != 9 {
        return false;
    }
    let seps: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_digit()).collect();
    if seps.len() != 2 || seps[0] != seps[1] {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    // The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn check_phone(b: &[u8], start: usize, end: usize, s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if !s.starts_with(['+', '(']) {
        // A national number with digit groups on either side (`NO92 0834 5994 601`,
        // `1234 5678 9012`) is part of a longer number.
        let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
        if before == Some(b' ') {
            let token: Vec<u8> = b[..start - 1]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric())
                .copied()
                .collect();
            if token.iter().any(u8::is_ascii_digit) {
                return false;
            }
        }
        if b.get(end) == Some(&b' ') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            return false;
        }
    }
    if s.starts_with('+') {
        // An arithmetic `2+12345678` is not a phone number.
        let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b')') {
            return false;
        }
        (8..=15).contains(&digits)
    } else {
        (9..=11).contains(&digits)
    }
}

fn check_ipv4(b: &[u8], start: usize, end: usize, s: &str) -> bool {
    let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
    let after = b.get(end).copied();
    let after2 = b.get(end + 1).copied();
    if matches!(before, Some(b'.' | b'v' | b'V' | b'-'))
        || (after == Some(b'.') && after2.is_some_and(|c| c.is_ascii_digit()))
    {
        return false;
    }
    // `version 1.2.3.4`, `build 10.0.0.1`.
    let lead = start.saturating_sub(12);
    let context = String::from_utf8_lossy(b.get(lead..start).unwrap_or_default()).to_lowercase();
    if ["version", "ver ", "build", "release", "firmware"]
        .iter()
        .any(|w| context.contains(w))
    {
        return false;
    }
    s.split('.')
        .all(|octet| !(octet.len() > 1 && octet.starts_with('0')) && octet.parse::<u8>().is_ok())
}

fn check_ipv6(b: &[u8], start: usize, end: usize, s: &str) -> bool {
    let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
    let after = b.get(end).copied();
    let bad_neighbour = |c: Option<u8>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'_' | b'-'))
    };
    if bad_neighbour(before) || bad_neighbour(after) {
        return false;
    }
    if s.len() < MIN_BUILTIN_LEN {
        return false;
    }
    let groups = s.split(':').filter(|g| !g.is_empty()).count();
    let compressed = s.contains("::");
    (groups >= 3 || (compressed && groups >= 2)) && Ipv6Addr::from_str(s).is_ok()
}

/// IBAN lengths by country (the SWIFT registry's common entries).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TR", 26),
];

/// mod-97 over an IBAN's characters, rearranged as ISO 13616 says.
pub(crate) fn iban_mod97(chars: &[u8]) -> bool {
    if chars.len() < 5 {
        return false;
    }
    let (head, tail) = chars.split_at(4);
    let mut rem = 0u32;
    for &c in tail.iter().chain(head) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn check_iban(b: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    // The characters with the byte offset just after each.
    let chars: Vec<(u8, usize)> = (start..end)
        .filter_map(|i| b.get(i).map(|&c| (c, i + 1)))
        .filter(|(c, _)| *c != b' ')
        .collect();
    let alnum: Vec<u8> = chars.iter().map(|(c, _)| *c).collect();
    let country = std::str::from_utf8(alnum.get(..2)?).ok()?;
    let lengths: Vec<usize> = match IBAN_LENGTHS.iter().find(|(c, _)| *c == country) {
        Some((_, n)) => vec![*n],
        None => (15..=34).rev().collect(),
    };
    for n in lengths {
        if n > alnum.len() {
            continue;
        }
        let cut = chars.get(n - 1).map(|(_, e)| *e)?;
        // A cut inside a run of letters or digits would leave half a token behind.
        if b.get(cut).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        if iban_mod97(alnum.get(..n)?) {
            return Some((start, cut));
        }
    }
    None
}

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
const MIN_BUILTIN_LEN: usize = 6;

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
        let len = end - start;
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
        let Some(entry) = self.entries.get(index) else {
            return;
        };
        let mut from = from;
        // A candidate narrowed by its check (a phone number or an IBAN that ran into the next
        // value) resumes the search where it now ends, so the next value is found too.
        'search: while let Some(window) = text.get(from..to) {
            for m in entry.regex.find_iter(window) {
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
mod tests {
    use super::*;

    fn all() -> Detectors {
        let builtins: Vec<(usize, Builtin)> = Builtin::ALL.into_iter().enumerate().collect();
        Detectors::new(&builtins, &[]).unwrap()
    }

    fn kinds(d: &Detectors, text: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        d.find(text, &mut out);
        out.iter()
            .map(|f| (Builtin::ALL[f.kind].name(), text[f.start..f.end].to_owned()))
            .collect()
    }

    #[test]
    fn luhn_and_mod97() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"GB83WEST12345698765432"));
    }

    #[test]
    fn finds_each_builtin() {
        let d = all();
        let cases = [
            (
                "mail me at jane.doe+x@example.co.uk now",
                "email",
                "jane.doe+x@example.co.uk",
            ),
            ("call +1 415 555 0134.", "phone", "+1 415 555 0134"),
            ("call (415) 555-0134 today", "phone", "(415) 555-0134"),
            ("ring 020 7946 0958", "phone", "020 7946 0958"),
            (
                "card 4111-1111-1111-1111 exp",
                "credit_card",
                "4111-1111-1111-1111",
            ),
            ("amex 3782 822463 10005", "credit_card", "3782 822463 10005"),
            (
                "iban GB82 WEST 1234 5698 7654 32 BANK",
                "iban",
                "GB82 WEST 1234 5698 7654 32",
            ),
            ("ssn 123-45-6789.", "ssn", "123-45-6789"),
            ("from 192.168.10.20:443", "ipv4", "192.168.10.20"),
            (
                "from 2001:db8::8a2e:370:7334 ok",
                "ipv6",
                "2001:db8::8a2e:370:7334",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE used",
                "aws_access_key",
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (
                "sk-ant-api03-abcDEF123456ghiJKL789mno",
                "api_key",
                "sk-ant-api03-abcDEF123456ghiJKL789mno",
            ),
        ];
        for (text, kind, value) in cases {
            assert_eq!(kinds(&d, text), vec![(kind, value.to_owned())], "{text}");
        }
    }

    #[test]
    fn rejects_look_alikes() {
        let d = all();
        for text in [
            "order 4111 1111 1111 1112 shipped",
            "ssn 000-12-3456 or 666-12-3456 or 912-12-3456 or 123-00-4567",
            "version 1.2.3.4 and v10.0.0.1 and 300.1.1.1",
            "at 12:30:45 on 2026-11-22T14:05:33Z",
            "ORD-4155550134 and /orders/415-555-0134/x",
            "IBAN GB83 WEST 1234 5698 7654 32",
            "std::fmt::Display and Vec::new",
            "sk-learn-is-a-python-library-for-ml",
            "MAC 00:1A:2B:3C:4D:5E",
            "the total was 12.50 for 3 items",
        ] {
            assert_eq!(kinds(&d, text), vec![], "{text}");
        }
    }

    #[test]
    fn placeholders_are_never_findings_but_brackets_are_no_shield() {
        let d = all();
        assert_eq!(kinds(&d, "<CREDIT_CARD> and <EMAIL>"), vec![]);
        // Issue 18: any `<UPPERCASE…>` token was protected, so brackets hid a secret.
        assert_eq!(
            kinds(
                &d,
                "<AKIAIOSFODNN7EXAMPLE> <DE89370400440532013000> <CREDIT_CARD:4111111111111111>"
            ),
            vec![
                ("aws_access_key", "AKIAIOSFODNN7EXAMPLE".to_owned()),
                ("iban", "DE89370400440532013000".to_owned()),
                ("credit_card", "4111111111111111".to_owned()),
            ]
        );
    }
}
