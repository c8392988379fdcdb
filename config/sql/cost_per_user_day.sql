-- Cost per user and day (UTC): each trace's user is the `user.id` (or `enduser.id`) any of its
-- spans carries; its LLM calls' cost is summed. Traces without one are '(none)'.
WITH users AS (
  SELECT trace_id,
         max(coalesce(attributes['user.id'], attributes['enduser.id'], resource_attributes['user.id'])) AS user_id
  FROM spans
  GROUP BY trace_id
)
SELECT s.dt AS day,
       coalesce(u.user_id, '(none)') AS user_id,
       count(DISTINCT s.trace_id) AS traces,
       count(*) AS llm_calls,
       sum(s.input_tokens) AS input_tokens,
       sum(s.output_tokens) AS output_tokens,
       sum(s.cost_usd) AS cost_usd
FROM spans s LEFT JOIN users u ON s.trace_id = u.trace_id
WHERE coalesce(s.response_model, s.request_model) IS NOT NULL
GROUP BY s.dt, coalesce(u.user_id, '(none)')
ORDER BY day, cost_usd DESC NULLS LAST, user_id
