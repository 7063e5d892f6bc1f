-- Broken on purpose: no BEGIN/COMMIT, so each statement commits on its own
-- and a crash between them leaves the days deleted.
DELETE FROM orders_by_day WHERE event_date IN (SELECT event_date FROM batch);
INSERT INTO orders_by_day SELECT * FROM batch;
