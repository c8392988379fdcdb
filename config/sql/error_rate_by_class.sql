-- Errors per service and error class (the span's `error.type`, else its status message, else
-- 'error'), and the share of that service's spans they are.
SELECT service_name, error_class, errors, spans, CAST(errors AS DOUBLE) / spans AS error_rate
FROM (
  SELECT service_name,
         error_class,
         count(*) AS errors,
         sum(count(*)) OVER (PARTITION BY service_name) AS spans
  FROM (
    SELECT service_name,
           CASE WHEN status_code = 'error'
                THEN coalesce(attributes['error.type'], nullif(status_message, ''), 'error')
           END AS error_class
    FROM spans
  ) classified
  GROUP BY service_name, error_class
) counted
WHERE error_class IS NOT NULL
ORDER BY errors DESC, service_name, error_class
