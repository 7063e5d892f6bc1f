#!/usr/bin/python3
"""Correct: a version-guarded upsert in one transaction, with psycopg2."""
import json
import os
import sys

import psycopg2

rows = [json.loads(line) for line in sys.stdin if line.strip()]
latest = {}
for r in rows:  # highest version per id; ties by a total order, never arrival
    key = (r["version"], r["source"], r["event_date"], r["customer"], r["amount"])
    if r["id"] not in latest or key > latest[r["id"]][0]:
        latest[r["id"]] = (key, r)
conn = psycopg2.connect(os.environ["DATABASE_URL"])
with conn, conn.cursor() as cur:
    for _, r in sorted(latest.values(), key=lambda kv: kv[1]["id"]):
        cur.execute(
            """INSERT INTO orders AS t (source, id, version, event_date, customer, amount)
               VALUES (%(source)s, %(id)s, %(version)s, %(event_date)s, %(customer)s, %(amount)s)
               ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
                 event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount
               WHERE t.version < EXCLUDED.version""",
            r,
        )
conn.close()
