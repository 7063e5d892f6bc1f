-- The tables of the queue consumers of testdata (nats_consumer.js): the
-- orders applied, and the dedup keys of the messages handled.
CREATE TABLE order_events (
	source text NOT NULL,
	id bigint NOT NULL,
	version bigint NOT NULL,
	event_date date NOT NULL,
	customer text NOT NULL,
	amount numeric NOT NULL
);
CREATE TABLE processed_messages (
	source text NOT NULL,
	id bigint NOT NULL,
	version bigint NOT NULL,
	PRIMARY KEY (source, id, version)
);
