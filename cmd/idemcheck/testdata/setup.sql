-- The tables of the example writers.
CREATE TABLE orders (source text NOT NULL, id bigint PRIMARY KEY, version bigint NOT NULL,
                     event_date date NOT NULL, customer text NOT NULL, amount numeric NOT NULL);
CREATE TABLE orders_log (source text, id bigint, version bigint, event_date date, customer text, amount numeric);
CREATE TABLE orders_by_day (source text, id bigint, version bigint, event_date date, customer text, amount numeric);
