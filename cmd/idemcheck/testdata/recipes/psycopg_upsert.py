#!/usr/bin/python3
"""Correct: a version-guarded upsert of each id's latest version in one
transaction, with psycopg 3 (executemany, one statement per record).

It finds the fault proxy through DATABASE_URL (the sandbox's search_path
travels in its options parameter); psycopg reads the PG* variables too."""
import json
import os
import sys

import psycopg

rows = [json.loads(line) for line in sys.stdin if line.strip()]
latest = {}
for r in rows:  # highest version per id; ties by a total order, never arrival
    key = (r["version"], r["source"], r["event_date"], r["customer"], r["amount"])
    if r["id"] not in latest or key > latest[r["id"]][0]:
        latest[r["id"]] = (key, r)

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:  # commits on leaving the block
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO orders AS t (source, id, version, event_date, customer, amount)
               VALUES (%(source)s, %(id)s, %(version)s, %(event_date)s, %(customer)s, %(amount)s)
               ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
                 event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount
               WHERE t.version < EXCLUDED.version""",
            [r for _, r in sorted(latest.values(), key=lambda kv: kv[1]["id"])],
        )
