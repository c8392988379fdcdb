//! The `redaction` processor: personal data and secrets are masked, hashed or dropped
//! before anything reaches disk, in spans and in log records ([`logs`]) alike.
//!
//! Every client string of a span that can reach disk or an exporter is scanned: the span's
//! name, status message and `trace_state`; attribute keys and values (strings, bytes, arrays
//! and kvlists at any depth, JSON inside strings); event names and attributes; link
//! `trace_state` and attributes; the scope's name and attributes; the resource's attributes.
//! The scope's version and the schema URLs are kept as sent (a four-part version such as
//! `1.0.0.0` would otherwise read as an IPv4 address).
//!
//! - [`RedactionConfig`]: the user-facing config (`mode`, per-detector overrides, `hash_key`,
//!   the `content` policy for prompts and completions, key allow and block lists, custom
//!   detectors, what to scan, `max_attribute_bytes`).
//! - [`Redactor`]: the config validated and compiled; pure, usable on its own.
//! - [`RedactionProcessor`] and [`RedactionFactory`] (type `redaction`): the span-batch stage,
//!   and in a `logs` pipeline the log-batch stage ([`logs`]: bodies, strings inside structured
//!   and JSON bodies, attributes, event names, scores), with the same config and metrics.
//!
//! Detectors: email, phone (E.164, `00`-prefixed and national formats: parenthesised area
//! codes, extensions, bare digit runs after a phone word such as `call` or `Telefon`), credit
//! card (Luhn, 13 to 19 digits), IBAN (mod-97), US SSN (invalid ranges excluded), IPv4, IPv6,
//! and secrets (AWS access key ids, `sk-`/`sk-ant-` style API keys, bearer tokens, JWTs,
//! private-key blocks), plus named user patterns.
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
//! - **Idempotent, with no way around it.** The placeholders the redactor writes (`<EMAIL>`
//!   for each kind it knows, `<EMAIL:3f2a…>` for kinds that hash) are never findings, and a
//!   value is re-scanned after redaction until nothing more is found, so running the processor
//!   twice changes nothing the second time. Only those exact forms are protected: a secret in
//!   angle brackets (`<AKIAIOSFODNN7EXAMPLE>`) is found like any other (`placeholders.rs`).
//! - **Keys are client strings too.** A key holding a finding (`user.jane@example.com.score`)
//!   is redacted like a value (a `drop` finding removes the attribute). What the key lists say
//!   about each clean key is cached, bounded by entries and by key bytes ([`keys`]); keys with
//!   a finding are never cached.
//! - **Bytes values** are scanned as text when they are UTF-8; otherwise each valid UTF-8 run
//!   between the invalid bytes is scanned, and the invalid bytes are kept as they are.
//! - **Audit on the span.** `tracegate.redacted.count` and `tracegate.redacted.<type>` count
//!   what was redacted in the span's and its events' attributes (a resource carries its own);
//!   the metrics in [`processor::names`] count the same.
//! - **Resources and scopes once per batch.** They are shared by many spans; each is redacted
//!   once per distinct `Arc` in a batch and the new `Arc` is shared again. Their findings are
//!   counted on their own attributes, a span's (names, events and links included) on the
//!   span.

mod builtin;
mod checks;
pub mod config;
mod cues;
pub mod detectors;
mod json;
pub mod keys;
pub mod logs;
mod placeholders;
pub mod processor;
pub mod redactor;
mod tally;

pub use config::{Action, ContentPolicy, CustomDetector, RedactionConfig};
pub use processor::{RedactionFactory, RedactionProcessor};
pub use redactor::{Redactor, Tally};

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod coverage_tests;
#[cfg(test)]
mod log_properties;
#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
