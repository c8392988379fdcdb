//! The tokens in force ([`TokenTable`]): SHA-256 digests only, each with its tenant, looked
//! up in constant time; and the `tokens_file` format (`TENANT TOKEN` lines).

use crate::config::{Secret, check_token};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tracegate_model::tenant::validate_tenant;

/// A SHA-256 digest.
pub(crate) type Digest32 = [u8; 32];

pub(crate) fn sha256(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

/// One accepted token: its digest, its tenant, and where it was configured (for messages).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) digest: Digest32,
    pub(crate) tenant: Option<Arc<str>>,
    pub(crate) origin: String,
}

/// Every accepted token. Holds no token, only digests.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenTable {
    entries: Vec<Entry>,
}

/// The outcome of a lookup: the token is unknown, or known with this tenant (or none).
pub(crate) type Found = Option<Option<Arc<str>>>;

impl TokenTable {
    /// A table of `entries`; a token configured twice is an error naming both places.
    pub(crate) fn new(entries: Vec<Entry>) -> Result<Self, (String, String)> {
        for (i, e) in entries.iter().enumerate() {
            if let Some(first) = entries[..i].iter().find(|f| f.digest == e.digest) {
                return Err((
                    e.origin.clone(),
                    format!(
                        "the same token as {}: give each client its own token",
                        first.origin
                    ),
                ));
            }
        }
        Ok(Self { entries })
    }

    /// How many tokens are accepted.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Looks `presented` up: its digest is compared with every digest, in constant time and
    /// without an early exit, so the time taken says nothing about which bytes matched.
    pub(crate) fn lookup(&self, presented: &[u8]) -> Found {
        let digest = sha256(presented);
        // 0: no match; i + 1: entry i. Tokens are distinct, so at most one matches.
        let mut found = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
            found.conditional_assign(&index, entry.digest.ct_eq(&digest));
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.entries.get(index).map(|e| e.tenant.clone())
    }
}

/// An entry for `token` (checked) with `tenant` (checked), configured at `origin`.
pub(crate) fn entry(token: &Secret, tenant: Option<&str>, origin: String) -> Result<Entry, String> {
    check_token(token.expose())?;
    let tenant = match tenant {
        Some(t) => {
            validate_tenant(t).map_err(|e| format!("tenant {t:?}: {e}"))?;
            Some(Arc::from(t))
        }
        None => None,
    };
    Ok(Entry {
        digest: sha256(token.expose().as_bytes()),
        tenant,
        origin,
    })
}

/// The entries of a tokens file: one `TENANT TOKEN` per line, `#` comments and blank lines
/// ignored. Errors name the line, never its content (which holds a token).
pub(crate) fn parse_tokens_file(text: &str, path: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let number = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [tenant, token] = fields.as_slice() else {
            return Err(format!(
                "{path} line {number}: expected `TENANT TOKEN` (two fields separated by a \
                 space), found {} field(s)",
                fields.len()
            ));
        };
        let origin = format!("{path} line {number}");
        let e = entry(&Secret::new(*token), Some(tenant), origin)
            .map_err(|e| format!("{path} line {number}: {e}"))?;
        entries.push(e);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(tokens: &[(&str, Option<&str>)]) -> TokenTable {
        let entries = tokens
            .iter()
            .enumerate()
            .map(|(i, (t, tenant))| entry(&Secret::new(*t), *tenant, format!("#{i}")).unwrap())
            .collect();
        TokenTable::new(entries).unwrap()
    }

    #[test]
    fn golden_lookups() {
        let t = table(&[("token-a", Some("team-a")), ("token-b", None)]);
        assert_eq!(t.lookup(b"token-a"), Some(Some(Arc::from("team-a"))));
        assert_eq!(t.lookup(b"token-b"), Some(None));
        assert_eq!(t.lookup(b"token-c"), None);
        assert_eq!(t.lookup(b"token-a "), None);
        assert_eq!(t.lookup(b""), None);
        assert_eq!(TokenTable::default().lookup(b"token-a"), None);
    }

    #[test]
    fn a_duplicate_token_names_both_places() {
        let a = entry(&Secret::new("dup-secret"), Some("a"), "first".into()).unwrap();
        let b = entry(&Secret::new("dup-secret"), Some("b"), "second".into()).unwrap();
        let (at, message) = TokenTable::new(vec![a, b]).unwrap_err();
        assert_eq!(at, "second");
        assert!(message.contains("first"), "{message}");
        assert!(!message.contains("dup-secret"), "{message}");
    }

    #[test]
    fn tokens_file_format() {
        let text = "# team tokens\n\nteam-a  tok-aaaa\n  team-b\ttok-bbbb  \n";
        let e = parse_tokens_file(text, "f").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].tenant.as_deref(), Some("team-b"));
        assert_eq!(e[1].digest, sha256(b"tok-bbbb"));
        for (bad, want) in [
            ("team-a\n", "line 1: expected `TENANT TOKEN`"),
            ("# x\nteam-a tok extra-secret\n", "line 2: expected"),
            ("a/b tok-secret\n", "line 1: tenant \"a/b\""),
        ] {
            let err = parse_tokens_file(bad, "f").unwrap_err();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
        assert!(parse_tokens_file("", "f").unwrap().is_empty());
    }

    proptest! {
        /// A token that is not configured is never accepted, and a configured one always is.
        #[test]
        fn only_configured_tokens_are_found(
            tokens in proptest::collection::hash_set("[!-~]{1,40}", 0..8),
            probe in "[!-~]{0,40}",
        ) {
            let list: Vec<(&str, Option<&str>)> = tokens.iter().map(|t| (t.as_str(), Some("t"))).collect();
            let t = table(&list);
            prop_assert_eq!(t.lookup(probe.as_bytes()).is_some(), tokens.contains(&probe));
            for token in &tokens {
                prop_assert!(t.lookup(token.as_bytes()).is_some());
            }
        }
    }
}
