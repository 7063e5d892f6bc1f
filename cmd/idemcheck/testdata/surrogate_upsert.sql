-- A version-guarded upsert into a table with an identity surrogate key.
INSERT INTO orders_keyed AS t (id, version, amount)
  SELECT DISTINCT ON (id) id, version, amount FROM batch ORDER BY id, version DESC, amount
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, amount = EXCLUDED.amount
WHERE t.version < EXCLUDED.version;
