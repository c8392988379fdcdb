//! The built-in detectors: their names, their patterns, and how a candidate is confirmed.

use super::checks::{
    check_card, check_iban, check_ipv4, check_ipv6, check_phone, check_ssn, colon_follows,
    in_identifier, previous_group_end,
};
use super::cues::code_before;

/// Bare digit runs (`4155550134`, an MSISDN), the phone detector's last form. Every token of
/// number-dense text matches it, so it runs only on the number runs that follow a phone word
/// (see `Detectors::find`), and the phone check confirms each candidate as for the others.
pub(super) const BARE_PHONE: &str = r"(?-u)\b[0-9]{9,15}(?:x[0-9]{1,5})?\b";

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

    pub(super) fn pattern(self) -> &'static str {
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
                r"(?-u)\b(?:[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,4}(?:[ -]?[0-9]{1,3})?|3[0-9]{3}[ -][0-9]{6}[ -][0-9]{4,5}|[0-9]{13,19})\b"
            }
            Builtin::Ssn => r"(?-u)\b[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}\b",
            // International (`+44 20 7946 0958`, `001-415-555-0134`, `+49(0)30 123456`);
            // parenthesised area codes (`(0161) 496 0209`, `(415)555-0134 x12`); three groups
            // (`090-5458-8081`, `53 4745-7567`, `1-415-555-0134`); French pairs; a trunk `0`
            // (`02143 81414`, `0808 1570560`); three triples (`881 043 357`) and Polish landlines
            // (`22 031 04 28`). Bare digit runs are [`BARE_PHONE`].
            Builtin::Phone => concat!(
                r"(?-u)(?:\+|\b00)[1-9][0-9]{0,3}[ .-]?\(?[0-9]{1,4}\)?(?:[ .-]?[0-9]{1,4}){0,5}(?:[ ]?x[0-9]{1,5}\b)?",
                r"|(?:\b1[-. ]?)?\(0?[0-9]{2,5}\)[ .-]?[0-9]{3,8}(?:[ .-][0-9]{2,4}){0,2}(?:[ ]?x[0-9]{1,5})?\b",
                r"|(?:\b1[-. ])?\b[0-9]{2,5}[-. ][0-9]{3,4}[-. ][0-9]{4}(?:[ ]?x[0-9]{1,5})?\b",
                r"|\b0[1-9](?:[ .][0-9]{2}){4}\b",
                r"|\b0[0-9]{1,4}[ /-]?[0-9]{3,8}(?:[ -][0-9]{2,4})?\b",
                r"|\b[0-9]{3} [0-9]{3} [0-9]{3}\b",
                r"|\b[0-9]{2} [0-9]{3} [0-9]{2} [0-9]{2}\b",
            ),
            Builtin::Ipv6 => r"(?-u)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}",
            Builtin::Ipv4 => r"(?-u)\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b",
        }
    }

    /// Confirms a candidate at `start..end`, possibly narrowing it. `None` rejects it.
    pub(super) fn check(self, text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
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
                    // A bare digit run after `EAN`, `ISBN`, `tracking`, … is that number.
                    !(s.bytes().all(|c| c.is_ascii_digit()) && code_before(b, start))
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
                    if !s.starts_with('+') && !s.starts_with("00") {
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
