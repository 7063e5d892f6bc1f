CREATE TABLE order_events (
	source text NOT NULL,
	id bigint NOT NULL,
	version bigint NOT NULL,
	event_date date NOT NULL,
	customer text NOT NULL,
	amount numeric NOT NULL
);
CREATE TABLE consumer_offsets (
	topic text NOT NULL,
	partition int NOT NULL,
	next_offset bigint NOT NULL,
	PRIMARY KEY (topic, partition)
);
CREATE TABLE customer_latest (
	customer text PRIMARY KEY,
	source text NOT NULL,
	id bigint NOT NULL,
	version bigint NOT NULL,
	event_date date NOT NULL,
	amount numeric NOT NULL
);
