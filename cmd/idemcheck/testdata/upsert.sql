-- Correct: a version-guarded upsert in one transaction. The batch is in the
-- temporary table batch.
BEGIN;
INSERT INTO orders AS t
  SELECT DISTINCT ON (id) source, id, version, event_date, customer, amount FROM batch
  ORDER BY id, version DESC, source, event_date, customer, amount
ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
  event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount
WHERE t.version < EXCLUDED.version;
COMMIT;
