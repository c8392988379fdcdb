-- Traces whose calls were rated badly: a score below 0.5, or a label such as fail or
-- thumbs_down, with the trace's root, duration and cost when the traces table has it.
SELECT s.trace_id,
       s.name AS score,
       s.value,
       s.label,
       s.explanation,
       s.time,
       t.root_service,
       t.root_name,
       t.duration_ns / 1e6 AS duration_ms,
       t.cost_usd
FROM scores s LEFT JOIN traces t ON s.trace_id = t.trace_id
WHERE s.value < 0.5
   OR lower(s.label) IN ('fail', 'failed', 'thumbs_down', 'negative', 'incorrect', 'bad')
ORDER BY s.value ASC NULLS LAST, s.time DESC
