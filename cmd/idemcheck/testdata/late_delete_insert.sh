#!/bin/sh
# Broken on purpose, late: ten harmless rounds (late_preamble.psql), then
# the batch's days are replaced by a DELETE and an INSERT that each commit
# on their own, at the 12th and 13th rounds: only a crash between them
# shows it.
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # dirname, without starting a process
exec psql -X -q -v ON_ERROR_STOP=1 -f "$here/late_preamble.psql" \
  -c 'DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM staging)' \
  -c 'INSERT INTO orders_by_day SELECT * FROM staging'
