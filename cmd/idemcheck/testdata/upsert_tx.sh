#!/bin/sh
# Correct: a version-guarded upsert of the latest version of each id, in one
# transaction.
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # dirname, without starting a process
exec psql -X -q -v ON_ERROR_STOP=1 -f "$here/load_batch.psql" -c '
BEGIN;
INSERT INTO orders AS t
  SELECT DISTINCT ON (id) source, id, version, event_date, customer, amount FROM batch
  ORDER BY id, version DESC, source, event_date, customer, amount
ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
  event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount
WHERE t.version < EXCLUDED.version;
COMMIT;'
