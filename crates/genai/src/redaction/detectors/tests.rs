//! Golden cases of the detectors: each built-in, the national formats of the Faker corpus,
//! and the look-alikes that must stay as they are.
use super::super::checks::{iban_mod97, luhn};
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

/// The national formats of the Faker corpus (issue 15), one per shape, hand-checked.
#[test]
fn finds_national_phone_formats_and_card_lengths() {
    let d = all();
    let cases = [
        // Parenthesised area codes, with and without a space.
        ("call (591)341-7776 now", "phone", "(591)341-7776"),
        ("Tel (0161) 4960209.", "phone", "(0161) 4960209"),
        ("Tel (01632) 960278.", "phone", "(01632) 960278"),
        ("ring (029)2018683 today", "phone", "(029)2018683"),
        ("Tel. 1 (748) 207-5005", "phone", "1 (748) 207-5005"),
        // Extensions.
        ("call 206.269.0743x9150 ok", "phone", "206.269.0743x9150"),
        ("call (783)703-8836x704 ok", "phone", "(783)703-8836x704"),
        (
            "call (941) 956-6809 x910 ok",
            "phone",
            "(941) 956-6809 x910",
        ),
        (
            "call +1-780-563-6083x7783 ok",
            "phone",
            "+1-780-563-6083x7783",
        ),
        // International prefixes.
        ("call 001-256-921-3132 ok", "phone", "001-256-921-3132"),
        (
            "call 001-256-921-3132x397 ok",
            "phone",
            "001-256-921-3132x397",
        ),
        ("ring 0044 20 7946 0958 ok", "phone", "0044 20 7946 0958"),
        ("ring +49(0)6162251996 ok", "phone", "+49(0)6162251996"),
        ("NANP 1-831-458-5427 ok", "phone", "1-831-458-5427"),
        // Three groups: Japan, Brazil; three triples: Poland.
        ("電話 56-1902-0879 です", "phone", "56-1902-0879"),
        ("fone 53 4745-7567.", "phone", "53 4745-7567"),
        ("numer 881 043 357.", "phone", "881 043 357"),
        ("numer 22 031 04 28.", "phone", "22 031 04 28"),
        // A trunk 0 with a five-digit group; no separators.
        ("Rückruf 02143 81414.", "phone", "02143 81414"),
        ("appeler le 0426301852 demain", "phone", "0426301852"),
        ("ring 01914960069 later", "phone", "01914960069"),
        // Bare runs after a phone word, up to an MSISDN's 15 digits.
        ("My phone number is 9138615854.", "phone", "9138615854"),
        ("Può chiamarmi al 329402058 dopo", "phone", "329402058"),
        ("SMS to MSISDN 2974091100352.", "phone", "2974091100352"),
        // `caller ID` is about a phone, though `ID` alone is not.
        ("The caller ID showed 5358207669.", "phone", "5358207669"),
        // Cards of 13, 14, 15 and 19 digits in the usual groupings; JCB's old ranges.
        (
            "card 4288 8561 6721 5 ok",
            "credit_card",
            "4288 8561 6721 5",
        ),
        (
            "card 4965-9449-8260-2 ok",
            "credit_card",
            "4965-9449-8260-2",
        ),
        (
            "card 3055 2474 1628 50 ok",
            "credit_card",
            "3055 2474 1628 50",
        ),
        (
            "card 3055 247416 2850 ok",
            "credit_card",
            "3055 247416 2850",
        ),
        (
            "card 2131 9126 3288 060 ok",
            "credit_card",
            "2131 9126 3288 060",
        ),
        ("card 180042363342399 ok", "credit_card", "180042363342399"),
        (
            "card 4220 5685 8759 1948 468 ok",
            "credit_card",
            "4220 5685 8759 1948 468",
        ),
        // An IBAN whose length is not its country's, with valid check digits.
        (
            "to GB75XZUO9936988556835 now",
            "iban",
            "GB75XZUO9936988556835",
        ),
        // A last group of one letter, before the sentence's full stop.
        (
            "auf BR62 5142 5794 0722 7879 1517 084H R.",
            "iban",
            "BR62 5142 5794 0722 7879 1517 084H R",
        ),
    ];
    for (text, kind, value) in cases {
        assert_eq!(kinds(&d, text), vec![(kind, value.to_owned())], "{text}");
    }
}

#[test]
fn bare_digit_runs_need_a_phone_word_and_other_words_veto() {
    let d = all();
    for text in [
        // No phone word: any ten-digit number.
        "PO 4500012345 was approved",
        "Logged at 1795327200 seconds",
        "The account id is 123456789012 in us-east-1.",
        // Another kind of number named just before, even with a trunk 0 or a phone word
        // further back.
        "Order number 0619802288 was cancelled",
        "call about order 4155550134 please",
        "Barcode EAN 6829496421328 on the box",
        "Reference 8470-3519-1895 was assigned",
        "Case 2026-118-8833 is closed.",
        "invoice 001-256-921-3132 paid",
        "Reference 0056-0580-1889 was assigned",
        // Too long for an MSISDN even after a phone word.
        "phone 1234567890123456",
        // A word that only contains a phone word (`hotel`) is no cue.
        "hotel booking 4155550134",
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
