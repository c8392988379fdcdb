//! The `redaction` span processor: personal data and secrets are masked, hashed or dropped
//! before anything reaches disk.
//!
//! - [`RedactionConfig`]: the user-facing config (`mode`, per-detector overrides, `hash_key`,
//!   the `content` policy for prompts and completions, key allow and block lists, custom
//!   detectors, what to scan, `max_attribute_bytes`).
//! - [`Redactor`]: the config validated and compiled; pure, usable on its own.
//! - [`RedactionProcessor`] and [`RedactionFactory`] (type `redaction`): the span-batch stage.
//!
//! Detectors: email, phone (E.164 and national formats), credit card (Luhn), IBAN (mod-97), US
//! SSN (invalid ranges excluded), IPv4, IPv6, and secrets (AWS access key ids, `sk-`/`sk-ant-`
//! style API keys, bearer tokens, JWTs, private-key blocks), plus named user patterns.
//!
//! ```
//! use tracegate_genai::redaction::{RedactionConfig, Redactor};
//!
//! let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
//! let prompt = r#"[{"role":"user","parts":[{"type":"text","content":"I'm ana@example.com, card 4111 1111 1111 1111"}]}]"#;
//! let redacted = redactor.redact_str(prompt).unwrap();
//! assert_eq!(
//!     redacted,
//!     r#"[{"role":"user","parts":[{"type":"text","content":"I'm <EMAIL>, card <CREDIT_CARD>"}]}]"#
//! );
//! ```
//!
//! Design decisions:
//! - **One pass to find candidates.** All detectors are compiled into one `RegexSet`; a value
//!   is scanned once, and only the detectors that matched run their own expression and check.
//!   Patterns are ASCII (`(?-u)`), so the lazy DFA never falls back to a slow engine.
//! - **JSON without re-encoding.** JSON values (`gen_ai.input.messages`) are walked byte by
//!   byte; only strings with a finding are rewritten, so the rest of the document is kept as
//!   sent and the result always parses.
//! - **Idempotent.** Placeholders (`<EMAIL>`, `<EMAIL:3f2a…>`) are never findings, and a value
//!   is re-scanned after redaction until nothing more is found, so running the processor
//!   twice changes nothing the second time.
//! - **Audit on the span.** `tracegate.redacted.count` and `tracegate.redacted.<type>` count
//!   what was redacted in the span's and its events' attributes (a resource carries its own);
//!   the metrics in [`processor::names`] count the same.
//! - **Resources once per batch.** A resource is shared by many spans; it is redacted once per
//!   distinct `Arc` in a batch and the new `Arc` is shared again.

mod builtin;
mod checks;
pub mod config;
pub mod detectors;
mod json;
pub mod keys;
mod placeholders;
pub mod processor;
pub mod redactor;
mod tally;

pub use config::{Action, ContentPolicy, CustomDetector, RedactionConfig};
pub use processor::{RedactionFactory, RedactionProcessor};
pub use redactor::{Redactor, Tally};

#[cfg(test)]
mod coverage_tests;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
