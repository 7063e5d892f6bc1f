-- Broken on purpose: the last batch to arrive wins, whatever its seq, so a
-- late redelivery of an old batch overwrites a newer reading.
INSERT INTO readings AS t
  SELECT DISTINCT ON (sensor) sensor, day, seq, reading, ok FROM batch
  ORDER BY sensor, seq DESC, day, reading, ok
ON CONFLICT (sensor) DO UPDATE SET day = EXCLUDED.day, seq = EXCLUDED.seq,
  reading = EXCLUDED.reading, ok = EXCLUDED.ok;
