//! The `traces` table's oracle: the row a trace should become, worked out the slow, obvious
//! way, and the rows actually found in a batch.

use super::*;

/// One row of the `traces` table, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    pub trace_id: String,
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub start_time: i64,
    pub end_time: i64,
    pub duration_ns: i64,
    pub span_count: i64,
    pub error_count: i64,
    pub services: Vec<String>,
    pub complete: bool,
    pub tree_whole: bool,
    pub release_reason: String,
    pub fragment: Option<String>,
    /// The `cp_*_ns` columns, in [`schema::CRITICAL_PATH_CATEGORIES`] order.
    pub critical_path: Vec<Option<i64>>,
    /// The `top_contributors` column: (name, service, critical_path_ns) of each.
    pub top_contributors: Option<Vec<(String, String, i64)>>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub first_llm_ttft_ms: Option<f64>,
    pub sampled: Option<bool>,
    pub sampling_policy: Option<String>,
    pub sampling_probability: Option<f64>,
}

/// The row a trace should become, worked out the slow, obvious way.
pub fn expected_trace_row(trace: &Trace) -> TraceRow {
    // Derived facts as the `tracegate.*` attributes they are exported as.
    let spans: &Vec<Span> = &trace
        .spans
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.materialize_facts();
            s
        })
        .collect();
    let start = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap();
    let end = spans.iter().map(|s| s.end_time_unix_nano).max().unwrap();
    let root = spans.iter().find(|s| s.parent_span_id.is_none());
    let mut services: Vec<String> = spans.iter().map(|s| s.service_name().to_owned()).collect();
    services.sort();
    services.dedup();
    let sum_i64 = |key: &str| {
        let values: Vec<i64> = spans
            .iter()
            .filter_map(|s| attr::get_i64(&s.attributes, key))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let (critical_path, top_contributors) = match trace.critical_path.as_deref() {
        Some(path) => (
            path.by_category.iter().map(|&ns| Some(ns as i64)).collect(),
            Some(
                path.top
                    .iter()
                    .map(|c| (c.name.clone(), c.service.clone(), c.ns as i64))
                    .collect(),
            ),
        ),
        None => critical_path_from_attributes(spans),
    };
    let costs: Vec<f64> = spans
        .iter()
        .filter_map(|s| attr::get_f64(&s.attributes, keys::TRACEGATE_COST_USD))
        .collect();
    let mut with_ttft: Vec<(u64, usize, f64)> = spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let ttft = attr::get_f64(&s.attributes, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)?;
            Some((s.start_time_unix_nano, i, ttft))
        })
        .collect();
    with_ttft.sort_by_key(|a| (a.0, a.1));
    TraceRow {
        trace_id: trace.trace_id.to_hex(),
        root_service: root.map(|s| s.service_name().to_owned()),
        root_name: root.map(|s| s.name.clone()),
        start_time: start as i64,
        end_time: end as i64,
        duration_ns: end.saturating_sub(start) as i64,
        span_count: spans.len() as i64,
        error_count: spans.iter().filter(|s| s.status.code == 2).count() as i64,
        services,
        complete: trace.fragment.is_none()
            && trace.release_reason == ReleaseReason::Complete
            && trace.tree_whole
            && root.is_some(),
        tree_whole: trace.tree_whole,
        release_reason: trace.release_reason.as_str().to_owned(),
        fragment: trace.fragment.map(|f| f.as_str().to_owned()),
        critical_path,
        top_contributors,
        input_tokens: sum_i64(keys::GEN_AI_USAGE_INPUT_TOKENS),
        output_tokens: sum_i64(keys::GEN_AI_USAGE_OUTPUT_TOKENS),
        cost_usd: (!costs.is_empty()).then(|| costs.iter().sum()),
        first_llm_ttft_ms: with_ttft.first().map(|(_, _, s)| s * 1e3),
        sampled: trace.sampling.as_ref().map(|s| s.sampled),
        sampling_policy: trace.sampling.as_ref().map(|s| s.policy.to_string()),
        sampling_probability: trace.sampling.as_ref().map(|s| s.probability),
    }
}

/// The `cp_*_ns` and `top_contributors` columns of a trace the breakdown left no summary on:
/// `tracegate.critical_path_ns` summed by `tracegate.category`, and the spans with the most.
#[allow(clippy::type_complexity)]
fn critical_path_from_attributes(
    spans: &[Span],
) -> (Vec<Option<i64>>, Option<Vec<(String, String, i64)>>) {
    let on_path: Vec<(Option<&str>, i64, &Span)> = spans
        .iter()
        .filter_map(|s| {
            let ns = attr::get_i64(&s.attributes, keys::TRACEGATE_CRITICAL_PATH_NS)?;
            Some((
                attr::get_str(&s.attributes, keys::TRACEGATE_CATEGORY),
                ns,
                s,
            ))
        })
        .collect();
    let by_category = schema::CRITICAL_PATH_CATEGORIES
        .iter()
        .map(|(name, _)| {
            (!on_path.is_empty()).then(|| {
                on_path
                    .iter()
                    .filter(|(category, _, _)| {
                        let known = category.is_some_and(|c| {
                            schema::CRITICAL_PATH_CATEGORIES
                                .iter()
                                .any(|(n, _)| *n == c)
                        });
                        if known {
                            *category == Some(*name)
                        } else {
                            *name == "other"
                        }
                    })
                    .map(|(_, ns, _)| ns)
                    .sum()
            })
        })
        .collect();
    let mut ranked: Vec<&(Option<&str>, i64, &Span)> =
        on_path.iter().filter(|(_, ns, _)| *ns > 0).collect();
    ranked.sort_by_key(|(_, ns, s)| (std::cmp::Reverse(*ns), s.start_time_unix_nano, s.span_id));
    let top = (!on_path.is_empty()).then(|| {
        ranked
            .iter()
            .take(3)
            .map(|(_, ns, s)| (s.name.clone(), s.service_name().to_owned(), *ns))
            .collect()
    });
    (by_category, top)
}

fn bools(batch: &RecordBatch, name: &str) -> Vec<bool> {
    let array = batch.column_by_name(name).unwrap().as_boolean();
    assert_eq!(array.null_count(), 0, "{name}");
    array.values().iter().collect()
}

/// The rows of a batch of the `traces` schema.
pub fn trace_rows_of(batch: &RecordBatch) -> Vec<TraceRow> {
    use schema::traces_col as t;
    assert_eq!(
        batch.schema().fields(),
        schema::traces_schema().fields(),
        "schema"
    );
    let n = batch.num_rows();
    let trace_id = required(batch, t::TRACE_ID);
    let root_service = strings(batch, t::ROOT_SERVICE);
    let root_name = strings(batch, t::ROOT_NAME);
    let start = times(batch, t::START_TIME);
    let end = times(batch, t::END_TIME);
    let duration = ints(batch, t::DURATION_NS);
    let span_count = ints(batch, t::SPAN_COUNT);
    let error_count = ints(batch, t::ERROR_COUNT);
    let services_list = batch.column_by_name(t::SERVICES).unwrap().as_list::<i32>();
    assert_eq!(services_list.null_count(), 0);
    let complete = bools(batch, t::COMPLETE);
    let tree_whole = bools(batch, t::TREE_WHOLE);
    let release_reason = required(batch, t::RELEASE_REASON);
    let fragment = strings(batch, t::FRAGMENT);
    let critical: Vec<Vec<Option<i64>>> = schema::CRITICAL_PATH_CATEGORIES
        .iter()
        .map(|(_, column)| ints(batch, column))
        .collect();
    let top = batch
        .column_by_name(t::TOP_CONTRIBUTORS)
        .unwrap()
        .as_list::<i32>();
    let input_tokens = ints(batch, t::INPUT_TOKENS);
    let output_tokens = ints(batch, t::OUTPUT_TOKENS);
    let cost = floats(batch, t::COST_USD);
    let ttft = floats(batch, t::FIRST_LLM_TTFT_MS);
    let sampled: Vec<Option<bool>> = batch
        .column_by_name(t::SAMPLED)
        .unwrap()
        .as_boolean()
        .iter()
        .collect();
    let policy = strings(batch, t::SAMPLING_POLICY);
    let probability = floats(batch, t::SAMPLING_PROBABILITY);
    (0..n)
        .map(|i| TraceRow {
            trace_id: trace_id[i].clone(),
            root_service: root_service[i].clone(),
            root_name: root_name[i].clone(),
            start_time: start[i],
            end_time: end[i],
            duration_ns: duration[i].unwrap(),
            span_count: span_count[i].unwrap(),
            error_count: error_count[i].unwrap(),
            services: services_list
                .value(i)
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_owned())
                .collect(),
            complete: complete[i],
            tree_whole: tree_whole[i],
            release_reason: release_reason[i].clone(),
            fragment: fragment[i].clone(),
            critical_path: critical.iter().map(|c| c[i]).collect(),
            top_contributors: top.is_valid(i).then(|| {
                let item = top.value(i);
                let item = item.as_struct();
                let name = item.column(0).as_string::<i32>();
                let service = item.column(1).as_string::<i32>();
                let ns = item.column(2).as_primitive::<Int64Type>();
                (0..item.len())
                    .map(|j| {
                        (
                            name.value(j).to_owned(),
                            service.value(j).to_owned(),
                            ns.value(j),
                        )
                    })
                    .collect()
            }),
            input_tokens: input_tokens[i],
            output_tokens: output_tokens[i],
            cost_usd: cost[i],
            first_llm_ttft_ms: ttft[i],
            sampled: sampled[i],
            sampling_policy: policy[i].clone(),
            sampling_probability: probability[i],
        })
        .collect()
}

/// Groups spans into whole traces in first-seen order, as trace assembly would release them.
pub fn group_into_traces(spans: &[Span]) -> Vec<Trace> {
    let mut traces: Vec<Trace> = Vec::new();
    for span in spans {
        match traces.iter_mut().find(|t| t.trace_id == span.trace_id) {
            Some(t) => t.spans.push(span.clone()),
            None => traces.push(Trace {
                trace_id: span.trace_id,
                spans: vec![span.clone()],
                release_reason: ReleaseReason::Complete,
                tree_whole: true,
                fragment: None,
                critical_path: None,
                sampling: None,
                scores: Vec::new(),
            }),
        }
    }
    traces
}
