#!/bin/sh
# Broken on purpose: replaces the batch's days with a DELETE and an INSERT in
# separate autocommit statements, so a crash between them loses the days.
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # dirname, without starting a process
exec psql -X -q -v ON_ERROR_STOP=1 -f "$here/load_batch.psql" \
  -c 'DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM batch)' \
  -c 'INSERT INTO orders_by_day SELECT * FROM batch'
