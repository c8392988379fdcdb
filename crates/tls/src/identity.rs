//! The few certificate fields tracegate reads: who is on the other end of an mTLS connection
//! ([`ClientIdentity`], the verified client certificate's subject common name, for a later
//! authentication step to map to a tenant), and when a server certificate expires
//! ([`not_after`], for the expiry gauge and the start-up warning).
//!
//! Instead of an X.509 library this module walks the DER just far enough to reach those
//! fields (`Certificate → tbsCertificate → validity, subject`). The walk is total: any input
//! gives `None` rather than a panic.

use rustls::pki_types::CertificateDer;

/// The verified client certificate's identity, as the listener knows it after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject's common name (`CN`), if it has one. With several `CN` attributes, the
    /// last, as Go's `crypto/x509` (and so the Collector) does.
    pub subject_cn: Option<String>,
}

impl ClientIdentity {
    /// The identity in the leaf certificate `cert` (DER).
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Self {
        Self {
            subject_cn: subject_common_name(cert.as_ref()),
        }
    }
}

/// The DER tags this walk needs.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xA0;
/// `2.5.4.3`, id-at-commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject common name of a DER certificate, or `None` if it has none or is malformed.
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    let (tag, mut name, _) = tlv(tbs_field(der, 4)?)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut found = None;
    while !name.is_empty() {
        let (tag, mut rdn, rest) = tlv(name)?;
        name = rest;
        if tag != SET {
            return None;
        }
        while !rdn.is_empty() {
            let (tag, attribute, rest) = tlv(rdn)?;
            rdn = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, value) = tlv(attribute)?;
            if tag == OID && oid == COMMON_NAME {
                let (tag, text, _) = tlv(value)?;
                found = Some(directory_string(tag, text)?);
            }
        }
    }
    found
}

/// The tbsCertificate's fields from the `index`th on, counting from `serialNumber` (0):
/// signature 1, issuer 2, validity 3, subject 4.
fn tbs_field(der: &[u8], index: usize) -> Option<&[u8]> {
    let (tag, cert, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    if tbs.first() == Some(&VERSION) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..index {
        tbs = tlv(tbs)?.2;
    }
    Some(tbs)
}

/// When a DER certificate stops being valid (its `notAfter`), in seconds since the Unix
/// epoch; `None` if malformed.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (tag, validity, _) = tlv(tbs_field(der, 3)?)?;
    if tag != SEQUENCE {
        return None;
    }
    let not_before_rest = tlv(validity)?.2;
    let (tag, time, _) = tlv(not_before_rest)?;
    x509_time(tag, time)
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950 to 2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as
/// DER writes them, in seconds since the Unix epoch.
fn x509_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map(|i| digits(&rest[i..i + 2]));
    let (month, day) = (month?, day?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hour, minute, second) = (hour?, minute?, second?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A DirectoryString's text: UTF8String, PrintableString, IA5String, TeletexString (read as
/// Latin-1) or BMPString (UTF-16BE).
fn directory_string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        0x0C | 0x13 | 0x16 => String::from_utf8(bytes.to_vec()).ok(),
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        0x1E => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// One DER element: its tag, its content and what follows. Definite lengths only (DER has no
/// other), up to 4 length bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (content, after) = rest.split_at(len);
    Some((tag, content, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DER element with `tag` around `content`.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn attribute(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        der(
            SET,
            &der(SEQUENCE, &[der(OID, oid), der(tag, value)].concat()),
        )
    }

    /// A certificate skeleton: the fields before the subject are placeholders.
    fn cert(subject: &[Vec<u8>], with_version: bool) -> Vec<u8> {
        let mut tbs = Vec::new();
        if with_version {
            tbs.extend(der(VERSION, &der(0x02, &[2])));
        }
        tbs.extend(der(0x02, &[0x01, 0x02]));
        tbs.extend(der(SEQUENCE, &der(OID, &[0x2A, 0x86, 0x48])));
        tbs.extend(der(SEQUENCE, &attribute(COMMON_NAME, 0x0C, b"issuer")));
        tbs.extend(der(SEQUENCE, &[0u8; 200]));
        tbs.extend(der(SEQUENCE, &subject.concat()));
        tbs.extend(der(SEQUENCE, &[]));
        der(
            SEQUENCE,
            &[der(SEQUENCE, &tbs), der(SEQUENCE, &[]), der(0x03, &[0])].concat(),
        )
    }

    const ORG: &[u8] = &[0x55, 0x04, 0x0A];

    /// A certificate skeleton whose validity holds these two times.
    fn cert_valid(not_before: (u8, &[u8]), not_after: (u8, &[u8])) -> Vec<u8> {
        let validity = der(
            SEQUENCE,
            &[
                der(not_before.0, not_before.1),
                der(not_after.0, not_after.1),
            ]
            .concat(),
        );
        let tbs = [
            der(VERSION, &der(0x02, &[2])),
            der(0x02, &[1]),
            der(SEQUENCE, &[]),
            der(SEQUENCE, &[]),
            validity,
            der(SEQUENCE, &attribute(COMMON_NAME, 0x0C, b"x")),
        ]
        .concat();
        der(SEQUENCE, &der(SEQUENCE, &tbs))
    }

    #[test]
    fn golden_not_after() {
        // 2049-12-31T23:59:59Z, the last UTCTime; 1950-01-01T00:00:00Z, the first.
        let c = cert_valid((0x17, b"500101000000Z"), (0x17, b"491231235959Z"));
        assert_eq!(not_after(&c), Some(2_524_607_999));
        let c = cert_valid((0x17, b"491231235959Z"), (0x17, b"500101000000Z"));
        assert_eq!(not_after(&c), Some(-631_152_000));
        // GeneralizedTime, and a leap day.
        let c = cert_valid((0x17, b"240101000000Z"), (0x18, b"20240229120000Z"));
        assert_eq!(not_after(&c), Some(1_709_208_000));
        let c = cert_valid((0x17, b"240101000000Z"), (0x18, b"99991231235959Z"));
        assert_eq!(not_after(&c), Some(253_402_300_799));
        // Not UTC, wrong length, bad digits, month 13.
        for bad in [
            &b"491231235959+0100"[..],
            b"4912312359Z",
            b"49123123595aZ",
            b"491331235959Z",
        ] {
            let c = cert_valid((0x17, b"240101000000Z"), (0x17, bad));
            assert_eq!(not_after(&c), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn days_from_civil_matches_the_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        // Consecutive days differ by one across month and year ends.
        let mut last = days_from_civil(1999, 12, 31);
        for (y, m, d) in [
            (2000, 1, 1),
            (2000, 1, 31),
            (2000, 2, 1),
            (2000, 2, 29),
            (2000, 3, 1),
        ] {
            let day = days_from_civil(y, m, d);
            assert!(day > last);
            last = day;
        }
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28),
            1
        );
    }

    #[test]
    fn golden_subjects() {
        let c = cert(
            &[
                attribute(ORG, 0x0C, b"acme"),
                attribute(COMMON_NAME, 0x0C, b"svc-a"),
            ],
            true,
        );
        assert_eq!(subject_common_name(&c).as_deref(), Some("svc-a"));
        // v1 certificates have no version field.
        let c = cert(&[attribute(COMMON_NAME, 0x13, b"tenant-7")], false);
        assert_eq!(subject_common_name(&c).as_deref(), Some("tenant-7"));
        // No CN.
        let c = cert(&[attribute(ORG, 0x0C, b"acme")], true);
        assert_eq!(subject_common_name(&c), None);
        // Several CNs: the last.
        let c = cert(
            &[
                attribute(COMMON_NAME, 0x0C, b"first"),
                attribute(COMMON_NAME, 0x0C, b"last"),
            ],
            true,
        );
        assert_eq!(subject_common_name(&c).as_deref(), Some("last"));
        // BMPString and TeletexString.
        let c = cert(
            &[attribute(COMMON_NAME, 0x1E, &[0x00, 0x68, 0x00, 0xE9])],
            true,
        );
        assert_eq!(subject_common_name(&c).as_deref(), Some("hé"));
        let c = cert(&[attribute(COMMON_NAME, 0x14, &[0x68, 0xE9])], true);
        assert_eq!(subject_common_name(&c).as_deref(), Some("hé"));
        // Invalid UTF-8 in a UTF8String.
        let c = cert(&[attribute(COMMON_NAME, 0x0C, &[0xFF])], true);
        assert_eq!(subject_common_name(&c), None);
    }

    #[test]
    fn truncated_input_is_none() {
        let c = cert(&[attribute(COMMON_NAME, 0x0C, b"svc-a")], true);
        for len in 0..c.len() {
            assert_eq!(subject_common_name(&c[..len]), None, "length {len}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = subject_common_name(&bytes);
            let _ = not_after(&bytes);
        }

        #[test]
        fn generalized_times_are_seconds_since_the_epoch(
            y in 1970i64..9999, m in 1i64..=12, d in 1i64..=27, h in 0i64..24, mi in 0i64..60, s in 0i64..60
        ) {
            let at = |day: i64| {
                let text = format!("{y:04}{m:02}{day:02}{h:02}{mi:02}{s:02}Z");
                not_after(&cert_valid((0x17, b"240101000000Z"), (0x18, text.as_bytes()))).unwrap()
            };
            // The time of day is what was written, and the next day is 86 400 s later.
            prop_assert_eq!(at(d).rem_euclid(86_400), h * 3600 + mi * 60 + s);
            prop_assert_eq!(at(d + 1) - at(d), 86_400);
        }

        #[test]
        fn any_common_name_round_trips(cn in "\\PC{0,300}", org in "[a-z]{0,20}") {
            let c = cert(
                &[attribute(ORG, 0x0C, org.as_bytes()), attribute(COMMON_NAME, 0x0C, cn.as_bytes())],
                true,
            );
            prop_assert_eq!(subject_common_name(&c), Some(cn));
        }
    }
}
