#!/usr/bin/python3
"""Correct: a version-guarded upsert of every record in one transaction,
with SQLAlchemy Core (psycopg2 underneath).

It finds the fault proxy through DATABASE_URL (the sandbox's search_path
travels in its options parameter)."""
import json
import os
import sys

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

rows = [json.loads(line) for line in sys.stdin if line.strip()]

url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg2://", 1)
engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
orders = sa.Table(
    "orders", sa.MetaData(),
    sa.Column("source", sa.Text), sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("version", sa.BigInteger), sa.Column("event_date", sa.Date),
    sa.Column("customer", sa.Text), sa.Column("amount", sa.Numeric),
)
with engine.begin() as conn:  # one transaction: committed whole, or not at all
    for r in rows:  # the version guard keeps the newest, in any order
        stmt = insert(orders).values(**r)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={c: stmt.excluded[c] for c in ("source", "version", "event_date", "customer", "amount")},
            where=orders.c.version < stmt.excluded.version,
        ))
engine.dispose()
