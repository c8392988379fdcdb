-- The archive's tables in DuckDB, each span once through tracegate's compactions.
--
-- A plain read_parquet('ROOT/spans/**/*.parquet') is exact except within the few milliseconds
-- in which a compaction commits an hour (its new file is there, the files it replaces not yet
-- deleted). These macros follow each hour's commit record, _compaction.json, instead: they
-- leave out the files a record names as replaced, and compacted files no record names yet.
--
--   .read config/sql/duckdb/archive.sql
--   SELECT count(*) FROM tracegate_spans('./data/archive');            -- or 's3://bucket/prefix'
--   SELECT * FROM tracegate_traces('./data/archive') WHERE duration_ns > 5e9;
--
-- For a query that must be exact while a compaction runs, read tracegate_commits(ROOT, 'spans')
-- before and after it, and run it again if the two differ (a commit happened in between) or
-- if it failed with "No such file" (a file it listed was deleted before it was read).
-- `tracegate query` does all of this itself.
--
-- The records exist once a compaction began on the archive: before its first output it writes
-- an empty ROOT/{spans,traces,logs,scores}/_compaction.json, so that the globs below match a file from
-- then on. On an archive no compaction has touched, these macros fail with "No files found
-- that match the pattern .../_compaction.json"; there a plain read_parquet is exact (read
-- tracegate_commits after it: if it still fails, no compaction began meanwhile).

CREATE OR REPLACE MACRO tracegate_commits(root, tbl) AS TABLE
    SELECT filename, generation
    FROM read_json(root || '/' || tbl || '/**/_compaction.json', filename = true,
                   columns = {generation: 'UBIGINT'})
    ORDER BY filename;

CREATE OR REPLACE MACRO tracegate_table(root, tbl) AS TABLE
    WITH records AS (
        SELECT parse_dirpath(filename) AS dir, outputs, replaced
        FROM read_json(root || '/' || tbl || '/**/_compaction.json', filename = true,
                       columns = {outputs: 'VARCHAR[]', replaced: 'VARCHAR[]'})
    ),
    replaced AS (SELECT dir || '/' || unnest(replaced) AS file FROM records),
    live_outputs AS (SELECT dir || '/' || unnest(outputs) AS file FROM records)
    SELECT * EXCLUDE (filename)
    FROM read_parquet(root || '/' || tbl || '/**/*.parquet', hive_partitioning = true,
                      filename = true) AS f
    WHERE f.filename NOT IN (SELECT file FROM replaced)
      AND (NOT starts_with(parse_filename(f.filename), 'compacted-g')
           OR f.filename IN (SELECT file FROM live_outputs));

CREATE OR REPLACE MACRO tracegate_spans(root) AS TABLE SELECT * FROM tracegate_table(root, 'spans');
CREATE OR REPLACE MACRO tracegate_traces(root) AS TABLE SELECT * FROM tracegate_table(root, 'traces');
CREATE OR REPLACE MACRO tracegate_logs(root) AS TABLE SELECT * FROM tracegate_table(root, 'logs');
CREATE OR REPLACE MACRO tracegate_scores(root) AS TABLE SELECT * FROM tracegate_table(root, 'scores');
