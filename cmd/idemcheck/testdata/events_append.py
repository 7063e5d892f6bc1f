#!/usr/bin/python3
# Broken on purpose: appends every event of the batch (JSON lines on stdin),
# so a redelivered batch is counted twice. Needs Debian's python3-psycopg2.
import json, os, sys
import psycopg2

conn = psycopg2.connect(os.environ["IDEMCHECK_DSN"])
with conn, conn.cursor() as cur:
    for line in sys.stdin:
        e = json.loads(line)
        cur.execute("INSERT INTO events (event_id, kind, at, amount) VALUES (%s, %s, %s, %s)",
                    (e["event_id"], e["kind"], e["at"], str(e["amount"])))
conn.close()
