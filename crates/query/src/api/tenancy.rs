//! Which tenants a request reads (TEMPO_API.md §6).
//!
//! With multi-tenancy off the header is ignored and every request reads
//! [`tracegate_model::DEFAULT_TENANT`]. With it on, `X-Scope-OrgID` is required (401
//! `no org id` without it, or when empty; the first value counts) and must hold valid tenant
//! ids (dskit's rules: `[A-Za-z0-9!-_.*'()]`, at most 150 bytes, not `.` or `..`). `a|b`
//! reads several tenants at once (federation), sorted and de-duplicated.

use super::ApiError;
use axum::http::HeaderMap;
use tracegate_model::DEFAULT_TENANT;

/// The header carrying the tenant.
pub const ORG_ID_HEADER: &str = "x-scope-orgid";

/// Longest tenant id dskit accepts.
pub const MAX_TENANT_ID_LEN: usize = 150;

/// The tenants one request reads: at least one, sorted, distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenants(Vec<String>);

impl Tenants {
    /// The tenants, sorted.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Exactly `tenant` (a credential's, already valid).
    pub fn one(tenant: &str) -> Self {
        Self(vec![tenant.to_owned()])
    }

    /// Reads the tenants of a request.
    pub fn from_headers(headers: &HeaderMap, multitenancy: bool) -> Result<Self, ApiError> {
        if !multitenancy {
            return Ok(Self(vec![DEFAULT_TENANT.to_owned()]));
        }
        let Some(value) = headers.get(ORG_ID_HEADER) else {
            return Err(ApiError::unauthorized("no org id"));
        };
        let text = value.to_str().map_err(|_| {
            ApiError::bad_request("tenant ID in X-Scope-OrgID is not visible ASCII")
        })?;
        Self::parse(text)
    }

    /// Parses an `X-Scope-OrgID` value: one tenant, or several joined by `|`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::unauthorized("no org id"));
        }
        let mut tenants = Vec::new();
        for part in text.split('|') {
            validate_tenant_id(part).map_err(ApiError::bad_request)?;
            tenants.push(part.to_owned());
        }
        tenants.sort();
        tenants.dedup();
        Ok(Self(tenants))
    }
}

/// dskit's `ValidTenantID`, with its messages.
pub fn validate_tenant_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("tenant ID is empty".into());
    }
    if id.len() > MAX_TENANT_ID_LEN {
        return Err(format!(
            "tenant ID is too long: max {MAX_TENANT_ID_LEN} characters"
        ));
    }
    if id == "." || id == ".." {
        return Err("tenant ID is '.' or '..'".into());
    }
    if let Some(c) = id.chars().find(|c| !is_tenant_char(*c)) {
        return Err(format!(
            "tenant ID '{id}' contains unsupported character '{c}'"
        ));
    }
    Ok(())
}

fn is_tenant_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    #[test]
    fn off_means_the_single_tenant_whatever_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(ORG_ID_HEADER, HeaderValue::from_static("acme"));
        let t = Tenants::from_headers(&headers, false).unwrap();
        assert_eq!(t.as_slice(), [DEFAULT_TENANT]);
    }

    #[test]
    fn on_requires_a_valid_header() {
        let headers = HeaderMap::new();
        let err = Tenants::from_headers(&headers, true).unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        assert_eq!(err.message, "no org id");
        let mut headers = HeaderMap::new();
        headers.insert("X-Scope-OrgID", HeaderValue::from_static(""));
        assert_eq!(
            Tenants::from_headers(&headers, true).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        for bad in ["a/b", "..", "a||b", "caf\u{e9}"] {
            let err = Tenants::parse(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(Tenants::parse(&"a".repeat(151)).is_err());
        assert!(Tenants::parse(&"a".repeat(150)).is_ok());
        assert_eq!(
            Tenants::parse("b|a|b").unwrap().as_slice(),
            ["a".to_owned(), "b".to_owned()]
        );
        assert_eq!(
            Tenants::parse("Team_1.(x)*!'-").unwrap().as_slice(),
            ["Team_1.(x)*!'-"]
        );
    }
}
