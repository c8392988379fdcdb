//! Who is on the other end of an mTLS connection: [`ClientIdentity`], read from the verified
//! client certificate, for a later authentication step to map to a tenant.
//!
//! Only the subject's common name is needed, so instead of an X.509 library this module walks
//! the DER just far enough to reach the subject (`Certificate → tbsCertificate → subject`).
//! The certificate was already verified by rustls, but the walk is still total: any input
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
    let (tag, cert, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    // version [0] (optional), serialNumber, signature, issuer, validity, then subject.
    if tbs.first() == Some(&VERSION) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (tag, mut name, _) = tlv(tbs)?;
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
