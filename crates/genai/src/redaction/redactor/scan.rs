//! Scanning and cutting one value: the per-value half of [`Redactor`], kept apart from the
//! policy (what to scan, which keys, which kinds) in the parent module.
//!
//! Its work is bounded whatever the input: [`Redactor::cut`] is linear in the value (JSON is cut
//! at an element boundary by [`json::truncate`]), values are cut before they are scanned, and
//! [`Redactor::text`] rescans a string at most [`MAX_ROUNDS`] times and [`SCAN_BUDGET_FACTOR`]
//! times its length in all.

use super::{Redactor, Scan, Tally};
use crate::redaction::config::Action;
use crate::redaction::detectors::{Builtin, Finding};
use crate::redaction::json::{self, Rewrite};
use crate::redaction::placeholders::push_hash_hex;
use hmac::Mac;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

/// How many rounds of redaction a value gets at most. A second round only runs when the first
/// changed something, and finds something only when removing one value exposed another (a
/// phone number glued to an email: `ana@example.com+44 20 7946 0958`). Every round turns
/// some text into placeholders, which are never findings, so the rounds end; the bound only
/// caps the work on adversarial input.
const MAX_ROUNDS: usize = 8;

/// The scanning budget of one string, as a multiple of its length: every round rescans the
/// whole text, so this bounds the work of [`MAX_ROUNDS`] on adversarial text to a few passes.
/// A string whose findings are not all gone when the budget is spent is replaced whole by the
/// placeholder of what was still found, so running out of budget never lets data through.
const SCAN_BUDGET_FACTOR: usize = 4;

/// Extra bytes kept past `max_attribute_bytes` when an oversized value is cut before it is
/// scanned: a secret that straddles the final cut (a card number, a PEM private key of up to
/// 4096-bit RSA) is still seen whole, so no recognisable half of it survives the cut.
pub(super) const SCAN_MARGIN: usize = 4096;

impl Redactor {
    pub(super) fn value(&self, value: &mut Value, scan: &mut Scan<'_>) {
        match value {
            Value::StringValue(s) => {
                if let Some(new) = self.string(s, scan) {
                    *s = new;
                }
            }
            Value::IntValue(i) if i.unsigned_abs() >= 1_000_000 => {
                let text = i.to_string();
                if let Some(new) = self.text(&text, scan) {
                    *value = Value::StringValue(new);
                }
            }
            Value::BytesValue(b) => {
                if let Some(new) = self.bytes(b, scan) {
                    *b = new;
                }
            }
            Value::ArrayValue(a) => {
                for v in a.values.iter_mut().filter_map(|v| v.value.as_mut()) {
                    self.value(v, scan);
                }
            }
            Value::KvlistValue(list) => {
                let mut drop = false;
                list.values.retain_mut(|kv| {
                    if self.is_blocked(&kv.key) {
                        scan.tally.blocked += 1;
                        return false;
                    }
                    if let Some(new) = self.text(&kv.key, scan) {
                        kv.key = new;
                    }
                    if let Some(v) = kv.value.as_mut().and_then(|v| v.value.as_mut()) {
                        self.value(v, scan);
                    }
                    drop |= scan.drop;
                    true
                });
                scan.drop |= drop;
            }
            _ => {}
        }
    }

    /// Redacts a bytes value: as text when it is UTF-8 (JSON-aware); otherwise each valid
    /// UTF-8 run is scanned as text and the bytes between runs are kept as they are.
    pub(super) fn bytes(&self, b: &[u8], scan: &mut Scan<'_>) -> Option<Vec<u8>> {
        if let Ok(s) = std::str::from_utf8(b) {
            return self.string(s, scan).map(String::into_bytes);
        }
        let mut out: Option<Vec<u8>> = None;
        let (mut copied, mut at) = (0, 0);
        for chunk in b.utf8_chunks() {
            let valid = chunk.valid();
            if let Some(new) = self.text(valid, scan) {
                let o = out.get_or_insert_with(|| Vec::with_capacity(b.len()));
                o.extend_from_slice(b.get(copied..at).unwrap_or_default());
                o.extend_from_slice(new.as_bytes());
                copied = at + valid.len();
            }
            at += valid.len() + chunk.invalid().len();
        }
        let mut out = out?;
        out.extend_from_slice(b.get(copied..).unwrap_or_default());
        Some(out)
    }

    /// Truncates string values over the bound.
    pub(super) fn bound(&self, value: &mut Value, tally: &mut Tally) {
        tally.truncated += self.cut(value, self.max_bytes);
    }

    /// Truncates string and bytes values longer than `max`, JSON at an element boundary;
    /// returns how many it cut. Linear in the value's size.
    pub(super) fn cut(&self, value: &mut Value, max: usize) -> u64 {
        match value {
            Value::StringValue(s) if s.len() > max => {
                let cut = if json::looks_like_json(s) {
                    json::truncate(s, max)
                } else {
                    None
                };
                match cut {
                    Some(c) => *s = c,
                    None => json::truncate_text(s, max),
                }
                1
            }
            Value::BytesValue(b) if b.len() > max => {
                b.truncate(max);
                1
            }
            Value::ArrayValue(a) => a
                .values
                .iter_mut()
                .filter_map(|v| v.value.as_mut())
                .map(|v| self.cut(v, max))
                .sum(),
            Value::KvlistValue(l) => l
                .values
                .iter_mut()
                .filter_map(|kv| kv.value.as_mut().and_then(|v| v.value.as_mut()))
                .map(|v| self.cut(v, max))
                .sum(),
            _ => 0,
        }
    }

    pub(super) fn string(&self, s: &str, scan: &mut Scan<'_>) -> Option<String> {
        if json::looks_like_json(s) {
            match json::rewrite(s, |t| self.text(t, scan)) {
                Rewrite::Changed(new) => return Some(new),
                Rewrite::Unchanged => return None,
                Rewrite::NotJson => {}
            }
        }
        self.text(s, scan)
    }

    /// Redacts plain text: at most [`MAX_ROUNDS`] scans and [`SCAN_BUDGET_FACTOR`] times the
    /// text's length scanned in all; what is still found after that replaces the whole text.
    pub(super) fn text(&self, text: &str, scan: &mut Scan<'_>) -> Option<String> {
        let mut findings: Vec<Finding> = Vec::new();
        self.detectors.find(text, &mut findings);
        if findings.is_empty() {
            return None;
        }
        let mut budget = text.len().saturating_mul(SCAN_BUDGET_FACTOR);
        let mut current = self.replace(text, &findings, scan);
        for _ in 1..MAX_ROUNDS {
            findings.clear();
            let Some(left) = budget.checked_sub(current.len()) else {
                break;
            };
            budget = left;
            self.detectors.find(&current, &mut findings);
            if findings.is_empty() {
                return Some(current);
            }
            current = self.replace(&current, &findings, scan);
        }
        // Out of rounds or budget: a last scan decides whether anything is left.
        findings.clear();
        self.detectors.find(&current, &mut findings);
        let left = findings.first().map(|f| f.kind);
        match left.and_then(|k| Some((k, self.kinds.get(k)?))) {
            None => Some(current),
            Some((k, kind)) => {
                if let Some(n) = scan.tally.found.get_mut(k) {
                    *n += 1;
                }
                if kind.action == Action::Drop {
                    scan.drop = true;
                }
                Some(kind.mask.clone())
            }
        }
    }

    pub(super) fn replace(&self, text: &str, findings: &[Finding], scan: &mut Scan<'_>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for f in findings {
            let Some(kind) = self.kinds.get(f.kind) else {
                continue;
            };
            if let Some(n) = scan.tally.found.get_mut(f.kind) {
                *n += 1;
            }
            out.push_str(text.get(copied..f.start).unwrap_or_default());
            let found = text.get(f.start..f.end).unwrap_or_default();
            match (kind.action, &self.hmac) {
                (Action::Hash, Some(mac)) => {
                    out.push_str(&kind.hash_prefix);
                    let mut mac = mac.clone();
                    mac.update(normalise(kind.builtin, found).as_bytes());
                    let digest = mac.finalize().into_bytes();
                    push_hash_hex(&mut out, digest.get(..8).unwrap_or_default());
                    out.push('>');
                }
                (Action::Drop, _) => {
                    scan.drop = true;
                    out.push_str(&kind.mask);
                }
                _ => out.push_str(&kind.mask),
            }
            copied = f.end;
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        out
    }
}

/// The form of a value that is hashed, so that spellings of one value hash alike: emails in
/// lower case; numbers and IBANs as their letters and digits alone.
fn normalise(builtin: Option<Builtin>, s: &str) -> String {
    match builtin {
        Some(Builtin::Email) => s.to_ascii_lowercase(),
        Some(Builtin::Phone | Builtin::CreditCard | Builtin::Iban | Builtin::Ssn) => s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        _ => s.to_owned(),
    }
}
