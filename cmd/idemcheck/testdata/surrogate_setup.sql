-- A table with an identity surrogate key: INSERT ... ON CONFLICT draws a
-- value even for a row that conflicts, so a replay shifts later rows' keys.
-- Certified with --modulo-surrogate-keys.
CREATE TABLE orders_keyed (row_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id bigint UNIQUE NOT NULL,
                           version bigint NOT NULL, amount numeric NOT NULL);
