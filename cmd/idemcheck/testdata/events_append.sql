-- Broken on purpose: appends every event of the batch, so a redelivered
-- batch is counted twice.
INSERT INTO events SELECT event_id, kind, at, amount FROM batch;
