#!/usr/bin/python3
"""Correct: a version-guarded upsert of every record in one transaction,
with psycopg 3 (executemany: one statement per record).

It finds the fault proxy through DATABASE_URL (the sandbox's search_path
travels in its options parameter); psycopg reads the PG* variables too."""
import json
import os
import sys

import psycopg

rows = [json.loads(line) for line in sys.stdin if line.strip()]

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:  # commits on leaving the block
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO orders AS t (source, id, version, event_date, customer, amount)
               VALUES (%(source)s, %(id)s, %(version)s, %(event_date)s, %(customer)s, %(amount)s)
               ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
                 event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount
               WHERE t.version < EXCLUDED.version""",
            rows,  # the version guard keeps the newest, in any order
        )
