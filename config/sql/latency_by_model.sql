-- P50/P95/P99 latency and time to first token per model, over the LLM spans of `spans`
-- (approximate percentiles, t-digest; exact for small groups).
SELECT coalesce(response_model, request_model) AS model,
       count(*) AS calls,
       approx_percentile_cont(duration_ns / 1e6, 0.5) AS p50_ms,
       approx_percentile_cont(duration_ns / 1e6, 0.95) AS p95_ms,
       approx_percentile_cont(duration_ns / 1e6, 0.99) AS p99_ms,
       approx_percentile_cont(ttft_ms, 0.5) AS ttft_p50_ms,
       approx_percentile_cont(ttft_ms, 0.95) AS ttft_p95_ms,
       approx_percentile_cont(ttft_ms, 0.99) AS ttft_p99_ms
FROM spans
WHERE coalesce(response_model, request_model) IS NOT NULL
GROUP BY coalesce(response_model, request_model)
ORDER BY p95_ms DESC, model
