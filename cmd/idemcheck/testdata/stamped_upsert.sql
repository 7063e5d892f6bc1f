-- A version-guarded upsert that stamps each row with the time it was loaded.
INSERT INTO orders_stamped AS t (id, version, amount)
  SELECT DISTINCT ON (id) id, version, amount FROM batch ORDER BY id, version DESC, amount
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, amount = EXCLUDED.amount, loaded_at = clock_timestamp()
WHERE t.version < EXCLUDED.version;
