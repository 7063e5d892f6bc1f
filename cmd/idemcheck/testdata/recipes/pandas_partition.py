#!/usr/bin/python3
"""Correct: an atomic partition overwrite with pandas and SQLAlchemy: each
batch is one whole day; in one transaction the table is locked against
other overwrites, the day's rows are deleted and the batch's latest
version of each id written with DataFrame.to_sql. Like
reference.PartitionOverwrite unguarded, it does not claim
OrderIndependence: a day's older batch arriving late replaces a newer one.

It finds the fault proxy through DATABASE_URL (the sandbox's search_path
travels in its options parameter)."""
import json
import os
import sys

import pandas as pd
import sqlalchemy as sa

rows = [json.loads(line) for line in sys.stdin if line.strip()]
url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg2://", 1)
engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
frame = pd.DataFrame(rows, columns=["source", "id", "version", "event_date", "customer", "amount"])
# Each (day, id) once: its latest version, ties broken by a total order,
# never by arrival.
frame = frame.sort_values(["event_date", "id", "version", "source", "customer", "amount"]).drop_duplicates(["event_date", "id"], keep="last")
with engine.begin() as conn:  # one transaction: the day is replaced whole, or not at all
    conn.execute(sa.text("LOCK TABLE orders_by_day IN SHARE ROW EXCLUSIVE MODE"))
    for day in sorted(set(frame["event_date"])):
        conn.execute(sa.text("DELETE FROM orders_by_day WHERE event_date = :day"), {"day": day})
    frame.to_sql("orders_by_day", conn, if_exists="append", index=False)
engine.dispose()
