//! The one function that decides a request's tenant: [`decide`], pure over its inputs, and
//! the [`Reason`] and [`AuthError`] of a refusal.

use crate::config::is_token_byte;
use crate::tokens::TokenTable;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use tracegate_model::tenant::validate_tenant;

/// What a request presents, and where it arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The listener, for the metric and logs (`otlp/grpc`, `query`).
    pub listener: &'a str,
    /// The client's address, for logs only.
    pub peer: Option<SocketAddr>,
    /// The `authorization` header (gRPC metadata) value.
    pub authorization: Option<&'a [u8]>,
    /// The `x-scope-orgid` header value.
    pub org_id: Option<&'a [u8]>,
    /// The verified mTLS client certificate, if the connection has one.
    pub client_certificate: Option<ClientCertificate<'a>>,
    /// `service.multitenancy_enabled`.
    pub multitenancy: bool,
    /// Whether `X-Scope-OrgID` may name several tenants as `a|b` (the query API).
    pub federation: bool,
}

/// A client certificate the TLS handshake verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCertificate<'a> {
    /// Its subject CN, if it has one.
    pub common_name: Option<&'a str>,
}

/// Whose data a request is, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenancy {
    /// Multi-tenancy is off: the single tenant's.
    Single,
    /// The tenant(s) `X-Scope-OrgID` names, read by the caller's own rules (required; 401
    /// without): auth is off, or the credential names no tenant.
    FromHeader,
    /// The credential's tenant (any `X-Scope-OrgID` named only it).
    Credential(Arc<str>),
}

/// Why a request was refused: the `reason` label of `tracegate_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No credential at all.
    Missing,
    /// An `Authorization` header that is not `Bearer TOKEN`.
    Malformed,
    /// A bearer token that is not configured.
    InvalidToken,
    /// A client certificate whose CN names no valid tenant (with multi-tenancy on).
    InvalidCertificate,
    /// `X-Scope-OrgID` names a tenant other than the credential's (403).
    TenantMismatch,
}

impl Reason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::InvalidToken => "invalid_token",
            Reason::InvalidCertificate => "invalid_certificate",
            Reason::TenantMismatch => "tenant_mismatch",
        }
    }

    /// True for 403 / `PERMISSION_DENIED` (authenticated, but not for this tenant); false for
    /// 401 / `UNAUTHENTICATED` with `WWW-Authenticate: Bearer`.
    pub fn is_forbidden(self) -> bool {
        self == Reason::TenantMismatch
    }
}

/// A refusal: its reason and a message for the client. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// Why.
    pub reason: Reason,
    /// What was wrong and what to send instead.
    pub message: String,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthError {}

/// The value of `WWW-Authenticate` on a 401.
pub const WWW_AUTHENTICATE: &str = "Bearer";

/// What the decision depends on besides the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy<'a> {
    /// Whether `auth:` is configured at all.
    pub(crate) on: bool,
    pub(crate) tokens: &'a TokenTable,
    pub(crate) client_certificates: bool,
}

fn refuse(reason: Reason, message: impl Into<String>) -> AuthError {
    AuthError {
        reason,
        message: message.into(),
    }
}

/// Longest tenant name quoted in a message.
const QUOTE_MAX: usize = 150;

fn quoted(text: &str) -> String {
    let cut: String = text.chars().take(QUOTE_MAX).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Decides the tenant of `request` under `policy`:
///
/// - auth off: [`Tenancy::Single`] without multi-tenancy, else [`Tenancy::FromHeader`];
/// - an `Authorization` header is the credential when present (even over mTLS): not
///   `Bearer TOKEN` → `malformed`, an unknown token → `invalid_token`;
/// - else, with `client_certificates`, a verified client certificate is; with multi-tenancy
///   on its CN must be a valid tenant id (`invalid_certificate`);
/// - else `missing`;
/// - authenticated: without multi-tenancy [`Tenancy::Single`] (the credential's tenant is
///   not used, `X-Scope-OrgID` ignored); with it, a credential without a tenant gives
///   [`Tenancy::FromHeader`], one with tenant T gives T, and an `X-Scope-OrgID` naming
///   anything but T (any part of `a|b` with `federation`) is `tenant_mismatch`.
pub(crate) fn decide(policy: Policy<'_>, request: &Request<'_>) -> Result<Tenancy, AuthError> {
    if !policy.on {
        return Ok(if request.multitenancy {
            Tenancy::FromHeader
        } else {
            Tenancy::Single
        });
    }
    let tenant: Option<Arc<str>> = match (request.authorization, request.client_certificate) {
        (Some(value), _) => {
            let token = bearer_token(value)?;
            policy.tokens.lookup(token).ok_or_else(|| {
                refuse(
                    Reason::InvalidToken,
                    "the bearer token is not valid: send a token configured in auth.bearer_tokens \
                     or auth.tokens_file",
                )
            })?
        }
        (None, Some(cert)) if policy.client_certificates => {
            if !request.multitenancy {
                return Ok(Tenancy::Single);
            }
            let cn = cert.common_name.unwrap_or_default();
            if let Err(e) = validate_tenant(cn) {
                return Err(refuse(
                    Reason::InvalidCertificate,
                    format!(
                        "the client certificate's subject CN {} does not name a tenant ({e}): \
                         issue it with the tenant id as its CN",
                        quoted(cn)
                    ),
                ));
            }
            Some(Arc::from(cn))
        }
        (None, _) => {
            let how = if policy.client_certificates {
                "send `Authorization: Bearer TOKEN`, or connect with a client certificate"
            } else {
                "send `Authorization: Bearer TOKEN`"
            };
            return Err(refuse(Reason::Missing, format!("no credential: {how}")));
        }
    };
    if !request.multitenancy {
        return Ok(Tenancy::Single);
    }
    let Some(tenant) = tenant else {
        return Ok(Tenancy::FromHeader);
    };
    if let Some(header) = request.org_id {
        let text = String::from_utf8_lossy(header);
        let text = text.trim();
        if !text.is_empty() {
            let other = if request.federation {
                text.split('|').find(|part| *part != &*tenant)
            } else {
                (text != &*tenant).then_some(text)
            };
            if let Some(other) = other {
                return Err(refuse(
                    Reason::TenantMismatch,
                    format!(
                        "X-Scope-OrgID names tenant {} but the credential belongs to {}",
                        quoted(other),
                        quoted(&tenant)
                    ),
                ));
            }
        }
    }
    Ok(Tenancy::Credential(tenant))
}

/// The token of an `Authorization: Bearer TOKEN` value (scheme case-insensitive).
fn bearer_token(value: &[u8]) -> Result<&[u8], AuthError> {
    let malformed = || {
        refuse(
            Reason::Malformed,
            "the Authorization header is not `Bearer TOKEN`",
        )
    };
    let space = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(malformed)?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(malformed());
    }
    let token = rest.trim_ascii();
    if token.is_empty() || !token.iter().copied().all(is_token_byte) {
        return Err(malformed());
    }
    Ok(token)
}
