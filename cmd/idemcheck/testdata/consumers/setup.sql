-- The table the example consumers write: one row per order event,
-- keyed by (source, id, version) so that a redelivered event can be
-- skipped (ON CONFLICT DO NOTHING).
CREATE TABLE order_events (
	source text NOT NULL,
	id bigint NOT NULL,
	version bigint NOT NULL,
	event_date date NOT NULL,
	customer text NOT NULL,
	amount numeric NOT NULL,
	UNIQUE (source, id, version)
);
