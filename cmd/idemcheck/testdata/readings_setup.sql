-- The table of the readings example writers (custom records, see readings.spec).
CREATE TABLE readings (sensor text PRIMARY KEY, day date NOT NULL, seq bigint NOT NULL,
                       reading numeric, ok boolean);
