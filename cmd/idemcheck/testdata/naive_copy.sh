#!/bin/sh
# Broken on purpose: appends the batch, so every replay or retry after an
# ambiguous commit adds it again (INSERT without dedup).
exec psql -X -q -v ON_ERROR_STOP=1 -f "$(dirname "$0")/load_batch.psql" \
  -c 'INSERT INTO orders_log SELECT * FROM batch'
