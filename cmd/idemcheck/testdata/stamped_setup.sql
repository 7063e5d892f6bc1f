-- A table with a load timestamp: two clean runs never agree on it, so it is
-- certified with --ignore-column orders_stamped.loaded_at.
CREATE TABLE orders_stamped (id bigint PRIMARY KEY, version bigint NOT NULL, amount numeric NOT NULL,
                             loaded_at timestamptz NOT NULL DEFAULT clock_timestamp());
