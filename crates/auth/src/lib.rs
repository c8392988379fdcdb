//! Authentication for tracegate's listeners, and the tenant of each request.
//!
//! One [`Authenticator`], built from the top-level `auth:` section ([`AuthConfig`]) and
//! shared by every OTLP listener and the query API, decides with one function,
//! [`Authenticator::decide`], from what a request presents ([`Request`]: the `authorization`
//! header, the `x-scope-orgid` header, the verified client certificate's CN, and
//! `service.multitenancy_enabled`) whose data it is ([`Tenancy`]) or why it is refused
//! ([`AuthError`] with a [`Reason`]):
//!
//! | auth | credential | multi-tenancy | outcome |
//! |---|---|---|---|
//! | off | — | off | [`Tenancy::Single`] |
//! | off | — | on | [`Tenancy::FromHeader`] (X-Scope-OrgID required, as without auth) |
//! | on | none | any | 401 `missing` |
//! | on | `Authorization` not `Bearer TOKEN` | any | 401 `malformed` |
//! | on | unknown bearer token | any | 401 `invalid_token` |
//! | on | client certificate, CN not a tenant id | on | 401 `invalid_certificate` |
//! | on | valid (token or certificate) | off | [`Tenancy::Single`], X-Scope-OrgID ignored |
//! | on | valid, names tenant T | on | [`Tenancy::Credential`] T; X-Scope-OrgID naming another (any part of `a|b`) → 403 `tenant_mismatch` |
//! | on | valid token without a tenant | on | [`Tenancy::FromHeader`] |
//!
//! An `Authorization` header, when present, is the credential even over mTLS; a client
//! certificate counts only with `client_certificates: true`.
//!
//! Design decisions:
//! - tokens are kept only as SHA-256 digests; a presented token's digest is compared with
//!   every configured digest with `subtle` (constant time, no early exit);
//! - a token never appears in `Debug` ([`Secret`]), a log line, an error or a metric;
//! - `tokens_file` is re-read every `reload_interval` when its content changes; content
//!   that does not parse leaves the previous tokens in force, counted and logged once
//!   ([`Authenticator::reload`]);
//! - refusals count in `tracegate_auth_failures_total{listener, reason}` and are logged at
//!   warn at most once per [`LOG_EVERY`] (the rest at debug).
//!
//! ```
//! use tracegate_auth::{AuthConfig, Authenticator, Request, Tenancy};
//! let config: AuthConfig = serde_yaml_ng::from_str(
//!     "bearer_tokens: [{ token: a-long-random-token-for-team-a, tenant: team-a }]",
//! ).unwrap();
//! let auth = Authenticator::from_config(&config).unwrap();
//! let request = Request {
//!     listener: "otlp/http",
//!     authorization: Some(b"Bearer a-long-random-token-for-team-a"),
//!     multitenancy: true,
//!     ..Request::default()
//! };
//! assert_eq!(auth.decide(&request), Ok(Tenancy::Credential("team-a".into())));
//! ```

mod authenticator;
mod config;
mod decide;
pub mod telemetry;
#[cfg(test)]
mod tests;
mod tokens;

pub use authenticator::{
    Authenticator, LOG_EVERY, MAX_TOKEN_FILE_BYTES, MAX_TOKENS_FILE_BYTES, ReloadOutcome,
};
pub use config::{
    AuthConfig, AuthConfigError, BearerToken, MAX_TOKEN_LEN, MIN_RELOAD_INTERVAL, Secret,
};
pub use decide::{AuthError, ClientCertificate, Reason, Request, Tenancy, WWW_AUTHENTICATE};
pub use telemetry::{FAILURES_TOTAL, describe};
