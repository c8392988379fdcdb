-- The stages that spend the most time on the critical path (the chain of work a request waits
-- for): by category (llm, retrieval, rerank, embedding, tool, …), service and span name.
SELECT coalesce(category, 'other') AS category,
       service_name,
       name,
       count(*) AS spans,
       sum(critical_path_ns) / 1e6 AS critical_path_ms,
       avg(critical_path_ns) / 1e6 AS avg_critical_path_ms,
       approx_percentile_cont(critical_path_ns / 1e6, 0.95) AS p95_critical_path_ms
FROM spans
WHERE critical_path_ns > 0
GROUP BY coalesce(category, 'other'), service_name, name
ORDER BY critical_path_ms DESC, category, service_name, name
LIMIT 50
