-- A setup slower than the statement timeout it sets itself.
SET statement_timeout = '50ms';
SELECT pg_sleep(1);
