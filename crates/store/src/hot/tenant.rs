//! Tenants → directory names.
//!
//! Each tenant's blocks live in a directory of their own, named after the tenant when the
//! name is valid by Tempo's rule (letters, digits and `!-_.*'()`, at most 150 bytes, not `.`
//! or `..`), so the directory can never be a path outside the store. Any other name is
//! [`sanitise`]d: bad characters become `_`, and a hash of the real name is appended so two
//! names that differ only in bad characters do not share a directory. The exact tenant name
//! is written in the directory's `TENANT` file, and the store checks it before it reads a
//! block, so even a crafted name that equals another tenant's sanitised one gets a directory
//! of its own ([`dir_candidates`]).

/// The longest tenant name Tempo accepts, in bytes.
pub const MAX_TENANT_BYTES: usize = 150;

/// The file in a tenant directory holding the exact tenant name.
pub const TENANT_FILE: &str = "TENANT";

/// Whether `c` may appear in a tenant name (Tempo's rule).
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

/// Whether `tenant` is valid by Tempo's rule, and so its own directory name.
pub fn is_valid(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_BYTES
        && tenant != "."
        && tenant != ".."
        && tenant.chars().all(allowed)
}

/// A directory name for `tenant`: the name itself when valid, else the name with every
/// character outside the rule replaced by `_`, cut to fit, and `_` plus 16 hex digits of a
/// stable hash of the real name appended.
pub fn sanitise(tenant: &str) -> String {
    if is_valid(tenant) {
        return tenant.to_owned();
    }
    let suffix = format!("_{:016x}", fnv1a(tenant.as_bytes()));
    let mut base: String = tenant
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    let room = MAX_TENANT_BYTES - suffix.len();
    // Every character is ASCII now, so any byte index is a boundary.
    base.truncate(room);
    base.push_str(&suffix);
    base
}

/// Directory names to try for `tenant`, in order: the sanitised name, then with `.1`, `.2`,
/// ... when an earlier one belongs to another tenant. Each is valid by the rule.
pub fn dir_candidates(tenant: &str) -> impl Iterator<Item = String> {
    let base = sanitise(tenant);
    (0..64u32).map(move |n| {
        if n == 0 {
            return base.clone();
        }
        let suffix = format!(".{n}");
        let mut name = base.clone();
        name.truncate(MAX_TENANT_BYTES - suffix.len());
        name.push_str(&suffix);
        name
    })
}

/// The directory of `tenant`'s blocks under a hot store's `root`, if it has one: the first
/// of [`dir_candidates`] whose `TENANT` file names exactly `tenant`. For readers of the
/// blocks other than the store (SQL).
pub fn tenant_dir(root: &std::path::Path, tenant: &str) -> Option<std::path::PathBuf> {
    dir_candidates(tenant)
        .map(|name| root.join(name))
        .find(|dir| std::fs::read_to_string(dir.join(TENANT_FILE)).is_ok_and(|t| t == tenant))
}

/// 64-bit FNV-1a: stable across builds and platforms, unlike `std`'s hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_names() {
        assert_eq!(sanitise("single-tenant"), "single-tenant");
        assert_eq!(sanitise("a.b*c'(d)!_-"), "a.b*c'(d)!_-");
        let slash = sanitise("../etc/passwd");
        assert!(slash.starts_with(".._etc_passwd_"), "{slash}");
        assert_ne!(sanitise("a/b"), sanitise("a b"));
        assert!(sanitise(".").starts_with("._"));
        assert!(sanitise("..").starts_with(".._"));
        assert!(sanitise("").starts_with('_'));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let long = "x".repeat(151);
        assert_eq!(sanitise(&long).len(), MAX_TENANT_BYTES);
        let mut c = dir_candidates("t");
        assert_eq!(c.next().as_deref(), Some("t"));
        assert_eq!(c.next().as_deref(), Some("t.1"));
    }

    proptest! {
        #[test]
        fn sanitised_names_are_valid_and_distinct(a in "\\PC{0,200}", b in "\\PC{0,200}") {
            let (sa, sb) = (sanitise(&a), sanitise(&b));
            prop_assert!(is_valid(&sa), "{sa:?}");
            prop_assert!(!sa.contains('/'));
            if a != b && is_valid(&a) && is_valid(&b) {
                prop_assert_ne!(&sa, &sb);
            }
            for name in dir_candidates(&a).take(3) {
                prop_assert!(is_valid(&name), "{name:?}");
            }
        }
    }
}
