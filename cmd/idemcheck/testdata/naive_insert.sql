-- Broken on purpose: appends the batch, so a retry after an ambiguous
-- commit (the COMMIT ran, its reply was lost) adds it a second time.
INSERT INTO orders_log SELECT * FROM batch;
