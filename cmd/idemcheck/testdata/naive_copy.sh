#!/bin/sh
# Broken on purpose: appends the batch, so every replay or retry after an
# ambiguous commit adds it again (INSERT without dedup).
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # dirname, without starting a process
exec psql -X -q -v ON_ERROR_STOP=1 -f "$here/load_batch.psql" \
  -c 'INSERT INTO orders_log SELECT * FROM batch'
