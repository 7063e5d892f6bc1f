-- Correct: a version-guarded MERGE (PostgreSQL 15+) in one statement: the
-- newest version of each order in the batch, applied only over older ones.
MERGE INTO orders AS t
USING (SELECT DISTINCT ON (id) source, id, version, event_date, customer, amount FROM batch
       ORDER BY id, version DESC, source, event_date, customer, amount) AS b
ON t.id = b.id
WHEN MATCHED AND t.version < b.version THEN
  UPDATE SET source = b.source, version = b.version, event_date = b.event_date, customer = b.customer, amount = b.amount
WHEN NOT MATCHED THEN
  INSERT (source, id, version, event_date, customer, amount) VALUES (b.source, b.id, b.version, b.event_date, b.customer, b.amount);
