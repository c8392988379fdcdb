//! Tenant ids: who data belongs to when multi-tenancy is on.
//!
//! The rule is Tempo's (and Loki's and Mimir's, dskit `tenant.ValidTenantID`), so a client
//! configured for Tempo works unchanged: at most 150 bytes of ASCII letters, digits and
//! `! - _ . * ' ( )`, and neither `.` nor `..`. Such a name is safe as a directory name and
//! in an object key. The tenant of data received without multi-tenancy is
//! [`DEFAULT_TENANT`](crate::DEFAULT_TENANT).

/// The longest tenant id, in bytes.
pub const MAX_TENANT_LEN: usize = 150;

/// Why a tenant id is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// The header was absent or empty.
    #[error("no org id: send the tenant in the X-Scope-OrgID header")]
    Missing,
    /// Longer than [`MAX_TENANT_LEN`].
    #[error("tenant id is {0} bytes long; at most 150 are allowed")]
    TooLong(usize),
    /// `.` or `..`.
    #[error("tenant id {0:?} is not allowed")]
    Reserved(String),
    /// A character outside the allowed set.
    #[error(
        "tenant id contains {0:?}, which is not allowed: use letters, digits and ! - _ . * ' ( )"
    )]
    Character(char),
}

/// Checks a tenant id against the rule above.
pub fn validate_tenant(id: &str) -> Result<(), TenantError> {
    if id.is_empty() {
        return Err(TenantError::Missing);
    }
    if id.len() > MAX_TENANT_LEN {
        return Err(TenantError::TooLong(id.len()));
    }
    if id == "." || id == ".." {
        return Err(TenantError::Reserved(id.to_owned()));
    }
    match id.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(TenantError::Character(c)),
        None => Ok(()),
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_tempos_rule() {
        for ok in ["team-a", "A_1", "x.y", "(prod)*", "a'b!", &"t".repeat(150)] {
            assert_eq!(validate_tenant(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_tenant(""), Err(TenantError::Missing));
        assert_eq!(
            validate_tenant(".."),
            Err(TenantError::Reserved("..".into()))
        );
        assert_eq!(validate_tenant("."), Err(TenantError::Reserved(".".into())));
        assert_eq!(validate_tenant("a/b"), Err(TenantError::Character('/')));
        assert_eq!(validate_tenant("a|b"), Err(TenantError::Character('|')));
        assert_eq!(validate_tenant("é"), Err(TenantError::Character('é')));
        assert_eq!(
            validate_tenant(&"t".repeat(151)),
            Err(TenantError::TooLong(151))
        );
    }
}
