-- Cost, tokens and calls per model and day (UTC), from the LLM spans of `spans` (hot and cold).
-- With tail sampling, the days the hot tier no longer holds have only the sampled traces' spans;
-- the `traces` table has every trace's totals.
SELECT dt AS day,
       coalesce(response_model, request_model) AS model,
       count(*) AS calls,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(cost_usd) AS cost_usd
FROM spans
WHERE coalesce(response_model, request_model) IS NOT NULL
GROUP BY dt, coalesce(response_model, request_model)
ORDER BY day, cost_usd DESC NULLS LAST, model
