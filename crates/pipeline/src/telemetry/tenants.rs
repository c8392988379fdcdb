//! The `tenant` label of the receivers' item counters, bounded.
//!
//! With multi-tenancy on, `tracegate_receiver_{accepted,refused}_{spans,log_records}_total`
//! carry `tenant`. Tenant ids come from clients, so the label's values are bounded by
//! `service.telemetry.max_tenant_labels` ([`set_max_tenant_labels`], default
//! [`DEFAULT_MAX_TENANT_LABELS`]): the first tenants seen keep their own value, every later
//! one is counted as [`OTHER_TENANT`]. The first time the bound is hit a warning is logged,
//! and each item counted under `__other__` for that reason counts in
//! `tracegate_telemetry_tenant_labels_overflow_total`. Without multi-tenancy (`tenant` is
//! `None`) no `tenant` label is added, so series stay as they were.

use super::names;
use metrics::counter;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// `service.telemetry.max_tenant_labels` by default.
pub const DEFAULT_MAX_TENANT_LABELS: usize = 100;
/// The `tenant` value of every tenant past the bound.
pub const OTHER_TENANT: &str = "__other__";

static MAX: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_TENANT_LABELS);

fn global() -> &'static TenantLabels {
    static LABELS: OnceLock<TenantLabels> = OnceLock::new();
    LABELS.get_or_init(|| TenantLabels::new(usize::MAX))
}

/// Sets `service.telemetry.max_tenant_labels` (at start, before data arrives).
pub fn set_max_tenant_labels(max: usize) {
    MAX.store(max, Ordering::Relaxed);
}

/// The `tenant` label value for `tenant` in the receiver counters: `None` without
/// multi-tenancy (no label), the tenant itself while under the bound, else [`OTHER_TENANT`].
pub fn tenant_label(tenant: Option<&str>) -> Option<Arc<str>> {
    let tenant = tenant?;
    let labels = global();
    Some(labels.label(tenant, MAX.load(Ordering::Relaxed)))
}

/// A bounded set of tenant label values.
#[derive(Debug)]
pub struct TenantLabels {
    seen: Mutex<HashSet<Arc<str>>>,
    max: usize,
    warned: std::sync::atomic::AtomicBool,
}

impl TenantLabels {
    /// A set that gives at most `max` tenants their own value (the global one reads the
    /// configured bound at each call instead; this `max` caps it further).
    pub fn new(max: usize) -> Self {
        Self {
            seen: Mutex::new(HashSet::new()),
            max,
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The value for `tenant`, with at most `min(self.max, max)` tenants of their own.
    pub fn label(&self, tenant: &str, max: usize) -> Arc<str> {
        let max = max.min(self.max);
        // A poisoned lock only means a panic elsewhere mid-insert; the set is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = seen.get(tenant) {
            return known.clone();
        }
        if seen.len() < max {
            let value: Arc<str> = Arc::from(tenant);
            seen.insert(value.clone());
            return value;
        }
        drop(seen);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max_tenant_labels = max,
                "more tenants than service.telemetry.max_tenant_labels: later tenants are \
                 counted as tenant=\"__other__\" in the receiver metrics (raise the bound to \
                 see them apart)"
            );
        }
        counter!(names::TENANT_LABELS_OVERFLOW).increment(1);
        Arc::from(OTHER_TENANT)
    }
}

/// Registers the description of the overflow counter.
pub(super) fn describe_tenants() {
    use metrics::{Unit, describe_counter};
    describe_counter!(
        names::TENANT_LABELS_OVERFLOW,
        Unit::Count,
        "Receiver counter updates whose tenant was past service.telemetry.max_tenant_labels and counted as tenant=\"__other__\"."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_first_tenants_keep_their_names() {
        let labels = TenantLabels::new(usize::MAX);
        assert_eq!(&*labels.label("a", 2), "a");
        assert_eq!(&*labels.label("b", 2), "b");
        assert_eq!(&*labels.label("c", 2), OTHER_TENANT);
        assert_eq!(&*labels.label("a", 2), "a", "a known tenant stays itself");
        assert_eq!(tenant_label(None), None);
    }

    proptest! {
        #[test]
        fn never_more_than_the_bound_plus_other(
            max in 0usize..8,
            tenants in proptest::collection::vec("[a-z]{1,3}", 0..64),
        ) {
            let labels = TenantLabels::new(usize::MAX);
            let mut values = HashSet::new();
            let mut firsts = Vec::new();
            for t in &tenants {
                let v = labels.label(t, max);
                if !firsts.contains(t) && firsts.len() < max {
                    firsts.push(t.clone());
                }
                // The first `max` distinct tenants are themselves, all others `__other__`.
                if firsts.contains(t) {
                    prop_assert_eq!(&*v, t.as_str());
                } else {
                    prop_assert_eq!(&*v, OTHER_TENANT);
                }
                values.insert(v);
            }
            prop_assert!(values.len() <= max + 1);
        }
    }
}
