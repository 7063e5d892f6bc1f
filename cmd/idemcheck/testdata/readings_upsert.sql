-- Correct: keeps each sensor's newest reading (highest seq), in one statement.
INSERT INTO readings AS t
  SELECT DISTINCT ON (sensor) sensor, day, seq, reading, ok FROM batch
  ORDER BY sensor, seq DESC, day, reading, ok
ON CONFLICT (sensor) DO UPDATE SET day = EXCLUDED.day, seq = EXCLUDED.seq,
  reading = EXCLUDED.reading, ok = EXCLUDED.ok
WHERE t.seq < EXCLUDED.seq;
