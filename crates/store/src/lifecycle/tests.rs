//! The lifecycle against an in-memory object store, with a clock the tests set.

use super::*;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{Attribute, ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;
use tracegate_pipeline::Duration as ConfigDuration;

const DAY: u64 = 86_400;
/// 2026-01-01T00:00:00Z.
const JAN_1: u64 = 1_767_225_600;

fn config(delete_days: Option<u64>) -> LifecycleConfig {
    LifecycleConfig {
        delete_after: delete_days.map(|d| ConfigDuration::from_secs(d * DAY)),
        ..LifecycleConfig::default()
    }
}

fn lifecycle(store: &Arc<InMemory>, config: &LifecycleConfig) -> Lifecycle {
    Lifecycle::new(
        "archive",
        store.clone(),
        Path::from("lake"),
        Rules::new(config, true),
        config.max_actions_per_run,
    )
}

/// Objects of every table, one per listed day (at 05:00) since Jan 1, plus one that is not
/// the archive's.
async fn archive(store: &InMemory, days: &[u64], bytes: usize) -> Vec<Path> {
    let mut paths = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let (y, m, d) = crate::layout::civil_from_days(((JAN_1 / DAY) + day) as i64);
        for table in run::TABLES {
            let path = Path::from(format!(
                "lake/{table}/dt={y:04}-{m:02}-{d:02}/hour=05/gw-{i}.parquet"
            ));
            store
                .put(&path, PutPayload::from(vec![i as u8; bytes]))
                .await
                .unwrap();
            paths.push(path);
        }
    }
    store
        .put(&Path::from("lake/spans/README.txt"), PutPayload::from("x"))
        .await
        .unwrap();
    paths
}

async fn class_of(store: &InMemory, path: &Path) -> Option<String> {
    let got = store.get(path).await.unwrap();
    got.attributes
        .get(&Attribute::StorageClass)
        .map(|v| v.as_ref().to_owned())
}

#[tokio::test]
async fn objects_move_and_go_at_the_right_ages_and_plan_matches_apply() {
    let store = Arc::new(InMemory::new());
    // Hours of days 0, 10, 100 and 500 since Jan 1.
    let paths = archive(&store, &[0, 10, 100, 500], 1_000).await;
    let lc = lifecycle(&store, &config(Some(400)));
    // On day 501 at 06:00 (the last hour ended one hour ago): day 500 is 1h old (warm),
    // day 100 401 days (delete), day 10 491 days, day 0 501 days (both delete)... so
    // choose a clock where each tier has something: day 200.
    let now = JAN_1 + 200 * DAY + 6 * 3_600;
    let plan = lc.plan(now).await.unwrap();
    assert!(plan.transitions);
    assert_eq!(plan.foreign.objects, 1, "README.txt names no hour");
    // Day 100 is 100 days old: cold. Days 0 and 10 are 200 and 190: cold too (no delete
    // before 400). Day 500 is in the future: kept.
    assert_eq!(plan.kept.objects, 4);
    assert_eq!(
        plan.tally(false).objects,
        12,
        "three days × four tables to move"
    );
    assert_eq!(plan.tally(true).objects, 0);

    let mut seen = Vec::new();
    let report = lc
        .apply(&plan, &CancellationToken::new(), |a, o| {
            seen.push((a.path.clone(), o.clone()))
        })
        .await;
    assert_eq!(report.transitioned.objects, 12);
    assert_eq!(report.transitioned.bytes, 12_000);
    assert_eq!(report.failed, 0);
    // Plan matches apply: every planned action ran, and only those.
    let mut planned: Vec<_> = plan.actions.iter().map(|a| a.path.clone()).collect();
    let mut done: Vec<_> = seen
        .iter()
        .filter(|(_, o)| *o == Outcome::Done)
        .map(|(p, _)| p.clone())
        .collect();
    planned.sort();
    done.sort();
    assert_eq!(planned, done);
    for path in &paths {
        let expected = (!path.as_ref().contains("dt=2027")).then(|| "GLACIER_IR".to_owned());
        assert_eq!(class_of(&store, path).await, expected, "{path}");
        // The bytes are the same.
        assert_eq!(
            store.get(path).await.unwrap().bytes().await.unwrap().len(),
            1_000
        );
    }

    // The next run has nothing to do.
    let again = lc.plan(now + 3_600).await.unwrap();
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert_eq!(again.cold.objects, 12);

    // On day 411, day 10 is 401 days old and goes, with day 0; day 100 stays cold.
    let later = JAN_1 + 411 * DAY + 6 * 3_600;
    let plan = lc.plan(later).await.unwrap();
    assert_eq!(plan.tally(true).objects, 8);
    assert_eq!(plan.tally(false).objects, 0);
    let report = lc.apply(&plan, &CancellationToken::new(), |_, _| {}).await;
    assert_eq!(report.deleted.objects, 8);
    let mut left: Vec<String> = store
        .list(Some(&Path::from("lake/spans")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    left.sort();
    assert_eq!(
        left,
        [
            "lake/spans/README.txt",
            "lake/spans/dt=2026-04-11/hour=05/gw-2.parquet",
            "lake/spans/dt=2027-05-16/hour=05/gw-3.parquet",
        ]
    );
}

#[tokio::test]
async fn the_watermark_spares_heads_and_a_changed_class_ignores_it() {
    let store = Arc::new(InMemory::new());
    let paths = archive(&store, &[0], 10).await;
    let cfg = config(None);
    let lc = lifecycle(&store, &cfg);
    let now = JAN_1 + 100 * DAY;
    let plan = lc.plan(now).await.unwrap();
    lc.apply(&plan, &CancellationToken::new(), |_, _| {}).await;
    let state = store
        .get(&Path::from("lake/_lifecycle/state.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["cold_class"], "GLACIER_IR");
    // 100 days minus 90, in hours since the epoch, less the hour not yet 90 days over.
    assert_eq!(
        state["cold_through_hour"],
        (now - 90 * DAY) / 3_600 - 1,
        "{state}"
    );
    // An object in a watermarked hour is taken as cold without asking the store: write one
    // back without its class, and the plan still counts it as cold.
    store
        .put(&paths[0], PutPayload::from(vec![0u8; 10]))
        .await
        .unwrap();
    let plan = lc.plan(now).await.unwrap();
    assert!(plan.actions.is_empty());
    assert_eq!(plan.cold.objects, 4);

    // Another cold class: the watermark is for GLACIER_IR, so every object is checked and
    // all four move.
    let deep = LifecycleConfig {
        cold_storage_class: StorageClass::DeepArchive,
        ..cfg
    };
    let plan = lifecycle(&store, &deep).plan(now).await.unwrap();
    assert_eq!(plan.tally(false).objects, 4);
    assert!(
        plan.actions
            .iter()
            .all(|a| a.kind == ActionKind::Transition(StorageClass::DeepArchive))
    );
}

#[tokio::test]
async fn large_objects_move_in_parts_and_keep_their_bytes() {
    let store = Arc::new(InMemory::new());
    let path = Path::from("lake/traces/dt=2026-01-01/hour=00/big.parquet");
    let body: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    store
        .put(&path, PutPayload::from(body.clone()))
        .await
        .unwrap();
    let lc = lifecycle(&store, &config(None));
    let plan = lc.plan(JAN_1 + 91 * DAY).await.unwrap();
    assert_eq!(plan.actions.len(), 1);
    let report = lc.apply(&plan, &CancellationToken::new(), |_, _| {}).await;
    assert_eq!(report.transitioned.objects, 1);
    assert_eq!(class_of(&store, &path).await.as_deref(), Some("GLACIER_IR"));
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert!(got == body, "the moved object holds the same bytes");
}

#[tokio::test]
async fn a_cancelled_run_changes_nothing_and_a_changed_object_is_skipped() {
    let store = Arc::new(InMemory::new());
    let paths = archive(&store, &[0], 10).await;
    let lc = lifecycle(&store, &config(None));
    let plan = lc.plan(JAN_1 + 91 * DAY).await.unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let report = lc.apply(&plan, &cancel, |_, _| {}).await;
    assert_eq!(report.cancelled, 4);
    assert_eq!(report.transitioned.objects, 0);
    for p in &paths {
        assert_eq!(class_of(&store, p).await, None);
    }
    assert!(
        store
            .get(&Path::from("lake/_lifecycle/state.json"))
            .await
            .is_err(),
        "a partial run saves no watermark"
    );
    // One object grew since the plan: it is left for the next run.
    store
        .put(&paths[0], PutPayload::from(vec![0u8; 11]))
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    lc.apply(&plan, &CancellationToken::new(), |a, o| {
        outcomes.push((a.path.clone(), o.clone()))
    })
    .await;
    assert!(outcomes.contains(&(paths[0].clone(), Outcome::Skipped("changed since the plan"))));
    assert_eq!(class_of(&store, &paths[0]).await, None);
}

#[test]
fn the_bucket_rule_says_the_same_in_days() {
    let rule = bucket_rule(&config(Some(400)), "/lake/");
    assert_eq!(rule["Rules"].as_array().unwrap().len(), 4);
    assert_eq!(
        rule["Rules"][0],
        serde_json::json!({
            "ID": "tracegate-spans",
            "Filter": { "Prefix": "lake/spans/" },
            "Status": "Enabled",
            "Transitions": [{ "Days": 90, "StorageClass": "GLACIER_IR" }],
            "Expiration": { "Days": 400 },
        })
    );
    let none = bucket_rule(
        &LifecycleConfig {
            cold_after: None,
            ..config(None)
        },
        "",
    );
    assert_eq!(
        none["Rules"][3],
        serde_json::json!({ "ID": "tracegate-scores", "Filter": { "Prefix": "scores/" }, "Status": "Enabled" })
    );
}

use futures::TryStreamExt;
