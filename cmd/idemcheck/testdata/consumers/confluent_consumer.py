#!/usr/bin/python3
"""A Kafka consumer of order events with confluent-kafka (librdkafka) and
psycopg2, in the shape idemcheck certifies (idemcheck certify --consumer).

Mode "exactly-once" (correct): each poll's events are inserted in one
transaction, skipping those already there (ON CONFLICT DO NOTHING on the
event's key), and only then are the offsets committed; a commit the
coordinator refuses is retried. A redelivered event changes nothing.

Mode "commit-first" (broken, franz-go#57 and IBM/sarama#1987): the offsets
are committed as soon as the events are polled, then the events are
inserted (as idempotently); a kill between the two loses them.
"""
import json
import os
import signal
import sys

import psycopg2
from confluent_kafka import Consumer, KafkaException, TopicPartition

MODE = sys.argv[1] if len(sys.argv) > 1 else "exactly-once"
if MODE not in ("exactly-once", "commit-first"):
    sys.exit(f"unknown mode {MODE!r}: want exactly-once or commit-first")

stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)

consumer = Consumer({
    "bootstrap.servers": os.environ["IDEMCHECK_KAFKA_BROKERS"],
    "group.id": os.environ["IDEMCHECK_GROUP"],
    "session.timeout.ms": int(os.environ["IDEMCHECK_SESSION_TIMEOUT_MS"]),
    "heartbeat.interval.ms": int(os.environ["IDEMCHECK_HEARTBEAT_INTERVAL_MS"]),
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 50,
    # The rebalance timeout: a zombie that wakes and rejoins makes the
    # group wait up to this for its members, and close() with it (300 s
    # by default, longer than a graceful stop may take).
    "max.poll.interval.ms": 3000,
})
consumer.subscribe([os.environ["IDEMCHECK_TOPIC"]])
db = psycopg2.connect(os.environ["DATABASE_URL"])

INSERT = """INSERT INTO order_events (source, id, version, event_date, customer, amount)
            VALUES (%(source)s, %(id)s, %(version)s, %(event_date)s, %(customer)s, %(amount)s)
            ON CONFLICT (source, id, version) DO NOTHING"""

pending = {}  # (topic, partition) -> the next offset, not yet committed


def commit():
    """Commits the pending offsets; those refused stay pending."""
    if not pending:
        return
    offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
    try:
        done = consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException:
        return  # retried after the next poll
    for tp in done:
        if tp.error is None and pending.get((tp.topic, tp.partition)) == tp.offset:
            del pending[(tp.topic, tp.partition)]


def insert(events):
    with db, db.cursor() as cur:
        cur.executemany(INSERT, events)


while not stopping:
    msgs = consumer.consume(num_messages=500, timeout=0.1)
    records = [m for m in msgs if m.error() is None]
    for m in msgs:
        if m.error() is not None and not m.error().retriable():
            raise KafkaException(m.error())
    for m in records:
        key = (m.topic(), m.partition())
        pending[key] = max(pending.get(key, 0), m.offset() + 1)
    events = [json.loads(m.value()) for m in records]
    if MODE == "commit-first":
        commit()
        if events:
            insert(events)
    else:
        if events:
            insert(events)
        commit()

consumer.close()
db.close()
