//! The checks that confirm a candidate: checksums (Luhn, mod-97), issued ranges, and the bytes
//! around a number that say whether it stands on its own.

use super::cues::{Cue, cue_before};
use super::detectors::MIN_BUILTIN_LEN;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// Where the second group of the candidate `start..end` starts (`end` if it has one group).
pub(super) fn second_group(b: &[u8], start: usize, end: usize) -> usize {
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
pub(super) fn colon_follows(b: &[u8], end: usize) -> bool {
    b.get(end) == Some(&b':') && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
}

/// The end of the digit group before the last one of `start..end`, if it leaves more than a
/// country code.
pub(super) fn previous_group_end(b: &[u8], start: usize, end: usize) -> Option<usize> {
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
pub(super) fn in_identifier(b: &[u8], start: usize, end: usize) -> bool {
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
pub(super) fn luhn(s: &str) -> bool {
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

pub(super) fn check_card(s: &str) -> bool {
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
    // Issuer prefixes: JCB's older 15-digit ranges (1800, 2131), Mir and Mastercard (2), Amex,
    // Diners and JCB (3), Visa (4), Mastercard and Maestro (5), Discover, UnionPay and
    // Maestro (6).
    let iin2 = u32::from(digits[0]) * 10 + u32::from(digits[1]);
    let iin4 = iin2 * 100 + u32::from(digits[2]) * 10 + u32::from(digits[3]);
    let issuer = match digits[0] {
        1 => iin4 == 1800,
        2 => (2200..=2204).contains(&iin4) || (2221..=2720).contains(&iin4) || iin4 == 2131,
        3 => matches!(iin2, 30 | 34 | 35 | 36 | 37 | 38 | 39),
        4..=6 => true,
        _ => false,
    };
    issuer && luhn(s)
}

pub(super) fn check_ssn(s: &str) -> bool {
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

pub(super) fn check_phone(b: &[u8], start: usize, end: usize, s: &str) -> bool {
    // The number without its extension (`x123`, ` x123`).
    let number = s
        .rfind('x')
        .map_or(s, |i| s.get(..i).unwrap_or(s).trim_end());
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let plain = number.bytes().all(|c| c.is_ascii_digit());
    if s.starts_with('+') {
        // An arithmetic `2+12345678` is not a phone number.
        let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b')') {
            return false;
        }
        return (8..=15).contains(&digits);
    }
    if !s.starts_with('(') {
        // A national number with digit groups on either side (`NO92 0834 5994 601`,
        // `1234 5678 9012`) is part of a longer number.
        let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
        if before == Some(b' ') {
            let digit_before = b
                .get(..start - 1)
                .unwrap_or_default()
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric())
                .any(u8::is_ascii_digit);
            if digit_before {
                return false;
            }
        }
        if b.get(end) == Some(&b' ') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            return false;
        }
    }
    if !(9..=17).contains(&digits) {
        return false;
    }
    // Words naming another kind of number (`Case 2026-118-8833`, `Order number 0619802288`)
    // veto the national forms; a parenthesised area code is a phone number whatever precedes.
    let cue = cue_before(b, start);
    if cue == Cue::Other && !s.starts_with('(') {
        return false;
    }
    if s.starts_with("00") && !plain {
        // `001-415-555-0134`, `0044 20 7946 0958`: an international prefix.
        return (10..=17).contains(&digits);
    }
    if plain {
        // A bare digit run could be any number: it is a phone number where the words before
        // say so (an MSISDN has up to 15 digits), or when it has a national trunk `0`.
        return match cue {
            Cue::Phone => (9..=15).contains(&digits),
            _ => {
                (10..=11).contains(&digits) && number.starts_with('0') && !number.starts_with("00")
            }
        };
    }
    (9..=11).contains(&digits)
}

pub(super) fn check_ipv4(b: &[u8], start: usize, end: usize, s: &str) -> bool {
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

pub(super) fn check_ipv6(b: &[u8], start: usize, end: usize, s: &str) -> bool {
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
pub(super) fn iban_mod97(chars: &[u8]) -> bool {
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

pub(super) fn check_iban(b: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    // The characters with the byte offset just after each.
    let chars: Vec<(u8, usize)> = (start..end)
        .filter_map(|i| b.get(i).map(|&c| (c, i + 1)))
        .filter(|(c, _)| *c != b' ')
        .collect();
    let alnum: Vec<u8> = chars.iter().map(|(c, _)| *c).collect();
    let country = std::str::from_utf8(alnum.get(..2)?).ok()?;
    // The registry's length first; then any length, for a checksum-valid number of another
    // length (a typo, or a generator's idea of a country's format).
    let registered = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, n)| *n);
    let lengths = registered.into_iter().chain((15..=34).rev());
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
