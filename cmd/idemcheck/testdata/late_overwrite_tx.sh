#!/bin/sh
# Correct, with a long conversation: the same ten harmless statements as
# late_delete_insert.sh, then the batch's days replaced by a DELETE and an
# INSERT inside one transaction, each statement its own round.
exec psql -X -q -v ON_ERROR_STOP=1 \
  -c 'SET statement_timeout = 0' -c 'SET lock_timeout = 0' -c "SET application_name = 'late_loader'" \
  -f "$(dirname "$0")/load_batch.psql" \
  -c 'CREATE TEMP TABLE staging AS SELECT * FROM batch' \
  -c 'CREATE INDEX ON staging (event_date)' -c 'ANALYZE staging' \
  -c 'SELECT count(*) FROM staging' -c 'SELECT min(event_date), max(event_date) FROM staging' \
  -c 'BEGIN' \
  -c 'DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM staging)' \
  -c 'INSERT INTO orders_by_day SELECT * FROM staging' \
  -c 'COMMIT'
