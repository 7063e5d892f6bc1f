#!/usr/bin/python3
"""A RabbitMQ consumer of order messages with pika and psycopg2, in the
shape idemcheck certifies (idemcheck certify --source amqp --consumer).

Mode "exactly-once" (correct, the seed's pattern 3): each message is
handled in one transaction that records its dedup key (the order's
source, id and version) in processed_messages, ON CONFLICT DO NOTHING,
and applies the order only when the key is new; the ack follows the
commit.

Mode "ack-first" (broken, at-most-once): the message is acked as soon as
it arrives, then handled as above; a kill between the two loses it.
"""
import json
import os
import signal
import sys

import pika
import psycopg2

MODE = sys.argv[1] if len(sys.argv) > 1 else "exactly-once"
if MODE not in ("exactly-once", "ack-first"):
    sys.exit(f"unknown mode {MODE!r}: want exactly-once or ack-first")

db = psycopg2.connect(os.environ["DATABASE_URL"])
conn = pika.BlockingConnection(pika.URLParameters(os.environ["IDEMCHECK_AMQP_URL"]))
channel = conn.channel()
channel.basic_qos(prefetch_count=10)


def handle(order):
    with db, db.cursor() as cur:  # one transaction
        cur.execute("INSERT INTO processed_messages (source, id, version) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (order["source"], order["id"], order["version"]))
        if cur.rowcount == 1:
            cur.execute("""INSERT INTO order_events (source, id, version, event_date, customer, amount)
                           VALUES (%(source)s, %(id)s, %(version)s, %(event_date)s, %(customer)s, %(amount)s)""", order)


def on_message(ch, method, _properties, body):
    order = json.loads(body)
    if MODE == "ack-first":
        ch.basic_ack(delivery_tag=method.delivery_tag)
    handle(order)
    if MODE == "exactly-once":
        ch.basic_ack(delivery_tag=method.delivery_tag)


def stop(*_):
    # The message in hand is finished first: pika calls back between
    # messages. A connection already lost (a zombie's, cut while it was
    # stalled) runs no callback: nothing is in hand that could be acked.
    if not conn.is_open:
        sys.exit(0)
    conn.add_callback_threadsafe(channel.stop_consuming)


signal.signal(signal.SIGTERM, stop)
channel.basic_consume(queue=os.environ["IDEMCHECK_QUEUE"], on_message_callback=on_message, auto_ack=False)
channel.start_consuming()
conn.close()
db.close()
