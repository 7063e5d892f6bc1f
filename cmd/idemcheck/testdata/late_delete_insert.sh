#!/bin/sh
# Broken on purpose, late: ten harmless statements (settings, the batch
# loaded by \copy, a staging table, an index, ANALYZE, two counts), then the
# batch's days are replaced by a DELETE and an INSERT that each commit on
# their own, at the 12th and 13th rounds: only a crash between them shows it.
exec psql -X -q -v ON_ERROR_STOP=1 \
  -c 'SET statement_timeout = 0' -c 'SET lock_timeout = 0' -c "SET application_name = 'late_loader'" \
  -f "$(dirname "$0")/load_batch.psql" \
  -c 'CREATE TEMP TABLE staging AS SELECT * FROM batch' \
  -c 'CREATE INDEX ON staging (event_date)' -c 'ANALYZE staging' \
  -c 'SELECT count(*) FROM staging' -c 'SELECT min(event_date), max(event_date) FROM staging' \
  -c 'DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM staging)' \
  -c 'INSERT INTO orders_by_day SELECT * FROM staging'
