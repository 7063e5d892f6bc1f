-- The table of the events example writers (sample records, events_sample.jsonl).
CREATE TABLE events (event_id bigint, kind text, at timestamptz, amount numeric);
