#!/bin/sh
# Correct, with a long conversation: the same ten harmless rounds
# (late_preamble.psql), then the batch's days replaced by a DELETE and an
# INSERT inside one transaction, each statement its own round.
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # dirname, without starting a process
exec psql -X -q -v ON_ERROR_STOP=1 -f "$here/late_preamble.psql" \
  -c 'BEGIN' \
  -c 'DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM staging)' \
  -c 'INSERT INTO orders_by_day SELECT * FROM staging' \
  -c 'COMMIT'
