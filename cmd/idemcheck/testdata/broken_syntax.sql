INSERT INTO orders_log SELEKT * FROM batch;
