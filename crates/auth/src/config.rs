//! [`AuthConfig`], the top-level `auth:` section, and [`Secret`], a token that never shows
//! itself in `Debug`, logs or errors.
//!
//! ```yaml
//! auth:
//!   bearer_tokens:
//!     - { token: "${env:TEAM_A_TOKEN}", tenant: team-a }
//!     - { token_file: /run/secrets/team-b-token, tenant: team-b }
//!     - { token: "${env:INGEST_PROXY_TOKEN}" }
//!   tokens_file: /etc/tracegate/tokens
//!   reload_interval: 1m
//!   client_certificates: false
//! ```
//!
//! The raw section does no I/O. [`crate::Authenticator::from_config`] reads the files and
//! reports every problem with its key path ([`AuthConfigError`]).

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The `auth:` section. Absent: every listener is open, as without authentication.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Tokens accepted as `Authorization: Bearer TOKEN`, each with its tenant if it names one.
    #[serde(default)]
    pub bearer_tokens: Vec<BearerToken>,
    /// A file of `TENANT TOKEN` lines (`#` comments and blank lines allowed), re-read every
    /// `reload_interval` when its content changes.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// How often `tokens_file` is checked for changes. Default `1m`.
    #[serde(default = "default_reload_interval", deserialize_with = "duration")]
    pub reload_interval: Duration,
    /// On listeners with `tls.client_ca_file`, a verified client certificate authenticates
    /// and its subject CN names the tenant. Default false.
    #[serde(default)]
    pub client_certificates: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            bearer_tokens: Vec::new(),
            tokens_file: None,
            reload_interval: default_reload_interval(),
            client_certificates: false,
        }
    }
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(60)
}

/// One entry of `bearer_tokens`: the token itself (`token`, usually `${env:VAR}`) or the file
/// holding it (`token_file`), and the tenant it belongs to, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerToken {
    /// The token, after `${env:VAR}` interpolation.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A file whose content (surrounding whitespace trimmed) is the token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The tenant a request with this token belongs to. Without one, the request names its
    /// tenant in `X-Scope-OrgID` (for a trusted proxy that serves several tenants).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A secret string: `Debug` shows `<redacted>`; there is no `Display` or `Serialize`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's bytes, for hashing.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // serde's own type errors quote the value (`invalid type: integer 1234`); these
        // never do, since the value is the token.
        struct V;
        const QUOTE: &str = "a token must be a string: quote it in the YAML";
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom(QUOTE))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom(QUOTE))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom(QUOTE))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom(QUOTE))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(E::custom(QUOTE))
            }
        }
        d.deserialize_any(V)
    }
}

/// `2s`, `500ms`, `1m`, as everywhere else in the config.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(text.trim()).map_err(|e| {
        de::Error::custom(format!(
            "invalid duration {text:?}: {e} (write it like 30s, 1m)"
        ))
    })
}

/// One problem in the `auth:` section, at its key path. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfigError {
    /// Dotted key path, such as `auth.bearer_tokens[1].token_file`.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl AuthConfigError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for AuthConfigError {}

/// The shortest `reload_interval`.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Tokens shorter than this are accepted with a warning: they can be guessed.
pub const SHORT_TOKEN_LEN: usize = 16;

/// Why a token cannot be used, without saying what it is.
pub(crate) fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("the token is empty (is its environment variable set?)".into());
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(format!(
            "the token is {} bytes long; at most {MAX_TOKEN_LEN} are allowed",
            token.len()
        ));
    }
    if !token.bytes().all(is_token_byte) {
        return Err(
            "the token holds a space, a control character or non-ASCII, which an \
                    Authorization header cannot carry: use letters, digits and punctuation"
                .into(),
        );
    }
    Ok(())
}

/// A byte a bearer token may hold: visible ASCII.
pub(crate) fn is_token_byte(b: u8) -> bool {
    (0x21..=0x7E).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_example_and_defaults() {
        let yaml = r#"
bearer_tokens:
  - { token: "s3cr3t-token-aaaaaaaa", tenant: team-a }
  - { token_file: /run/secrets/team-b-token, tenant: team-b }
  - { token: "proxy-token-bbbbbbbbbb" }
tokens_file: /etc/tracegate/tokens
reload_interval: 30s
client_certificates: true
"#;
        let c: AuthConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(c.bearer_tokens.len(), 3);
        assert_eq!(c.bearer_tokens[0].tenant.as_deref(), Some("team-a"));
        assert_eq!(c.bearer_tokens[1].token, None);
        assert_eq!(c.reload_interval, Duration::from_secs(30));
        assert!(c.client_certificates);
        let d: AuthConfig = serde_yaml_ng::from_str("{}").unwrap();
        assert_eq!(d, AuthConfig::default());
        assert_eq!(d.reload_interval, Duration::from_secs(60));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let c: AuthConfig =
            serde_yaml_ng::from_str("bearer_tokens: [{ token: hunter2-hunter2-hunter2 }]").unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn type_errors_do_not_quote_the_token_and_unknown_keys_are_refused() {
        for yaml in [
            "bearer_tokens: [{ token: 123456789123 }]",
            "bearer_tokens: [{ token: 1234.5678 }]",
            "bearer_tokens: [{ token: true }]",
        ] {
            let e = serde_yaml_ng::from_str::<AuthConfig>(yaml)
                .unwrap_err()
                .to_string();
            assert!(e.contains("quote it"), "{e}");
            assert!(!e.contains("1234"), "{e}");
        }
        let e = serde_yaml_ng::from_str::<AuthConfig>("bearer_token: []")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
        let e = serde_yaml_ng::from_str::<AuthConfig>("reload_interval: 5x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid duration"), "{e}");
    }

    #[test]
    fn token_syntax() {
        assert!(check_token("abcDEF-._~+/=0123").is_ok());
        assert!(check_token("").is_err());
        assert!(check_token("has space").is_err());
        assert!(check_token("tab\there").is_err());
        assert!(check_token("caf\u{e9}").is_err());
        assert!(check_token(&"a".repeat(MAX_TOKEN_LEN)).is_ok());
        assert!(check_token(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
        // No message repeats the token.
        for bad in ["has space", "caf\u{e9}"] {
            assert!(!check_token(bad).unwrap_err().contains(bad));
        }
    }
}
