package antipatterns

import (
	"context"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func setup(ctx context.Context, env *harness.Env, sql string) error {
	_, err := env.Conn.Exec(ctx, sql)
	return err
}

// noClaims: broken writers claim nothing; the laws are run against them to
// show they are caught.
type noClaims struct{}

func (noClaims) Claims() []harness.Law { return nil }

// NaiveInsert appends the batch with a plain INSERT (COPY): every replay or
// retry after an ambiguous commit adds the rows again.
type NaiveInsert struct{ noClaims }

func (NaiveInsert) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_log (`+harness.OrderColumnsSQL+`)`)
}

func (NaiveInsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	_, err := env.Conn.CopyFrom(ctx, pgx.Identifier{"orders_log"}, harness.OrderColumns, pgx.CopyFromRows(harness.OrderRows(b.Records)))
	return err
}

// AppendOnlyAggregate adds each batch's totals to the running ones
// (orders = orders + n): a replay counts the batch twice.
type AppendOnlyAggregate struct{ noClaims }

func (AppendOnlyAggregate) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE daily_totals (event_date date PRIMARY KEY, orders bigint NOT NULL, amount numeric NOT NULL)`)
}

func (AppendOnlyAggregate) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return pgx.BeginFunc(ctx, env.Conn, func(tx pgx.Tx) error {
		for _, o := range b.Records {
			_, err := tx.Exec(ctx, `
				INSERT INTO daily_totals AS t (event_date, orders, amount) VALUES ($1, 1, $2)
				ON CONFLICT (event_date) DO UPDATE SET orders = t.orders + 1, amount = t.amount + EXCLUDED.amount`,
				o.EventDate.Time, o.Amount)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// NonDeterministicTransform is a correct upsert that also stamps each row
// with now() and a random load id: two runs never agree.
type NonDeterministicTransform struct{ noClaims }

func (NonDeterministicTransform) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders (`+harness.OrderColumnsSQL+`, loaded_at timestamptz NOT NULL, load_id uuid NOT NULL, PRIMARY KEY (id))`)
}

func (NonDeterministicTransform) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return pgx.BeginFunc(ctx, env.Conn, func(tx pgx.Tx) error {
		return eachOrder(ctx, tx, b.Records, `
			INSERT INTO orders AS t (source, id, version, event_date, customer, amount, loaded_at, load_id)
			VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), gen_random_uuid())
			ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
				event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount,
				loaded_at = EXCLUDED.loaded_at, load_id = EXCLUDED.load_id
			WHERE t.version < EXCLUDED.version`)
	})
}

// DeleteInsertNoTx overwrites the batch's partitions with a DELETE and an
// INSERT in separate autocommit statements: a crash between them leaves the
// partitions empty, and two overlapping attempts can both delete, then both
// insert.
type DeleteInsertNoTx struct{ noClaims }

func (DeleteInsertNoTx) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_by_day (`+harness.OrderColumnsSQL+`)`)
}

func (DeleteInsertNoTx) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	var days []string
	for _, o := range b.Records {
		days = append(days, o.EventDate.String())
	}
	if _, err := env.Conn.Exec(ctx, `DELETE FROM orders_by_day WHERE event_date = ANY($1::date[])`, days); err != nil {
		return err
	}
	_, err := env.Conn.CopyFrom(ctx, pgx.Identifier{"orders_by_day"}, harness.OrderColumns, pgx.CopyFromRows(harness.OrderRows(b.Records)))
	return err
}

// AutoincrementDedupKey "deduplicates" on a serial id assigned at insert:
// a retry gets a new id, so ON CONFLICT never fires and the record lands
// twice under two ids.
type AutoincrementDedupKey struct{ noClaims }

func (AutoincrementDedupKey) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_log (load_id bigserial PRIMARY KEY, `+harness.OrderColumnsSQL+`)`)
}

func (AutoincrementDedupKey) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return pgx.BeginFunc(ctx, env.Conn, func(tx pgx.Tx) error {
		return eachOrder(ctx, tx, b.Records, `
			INSERT INTO orders_log (load_id, source, id, version, event_date, customer, amount)
			VALUES (nextval('orders_log_load_id_seq'), $1, $2, $3, $4, $5, $6)
			ON CONFLICT (load_id) DO NOTHING`)
	})
}

// SeedUpsert is the seed's UpsertWriter: one autocommit INSERT ... ON
// CONFLICT (id) DO UPDATE per record, with no version guard.
//
//	for record in records:
//	    self.db.execute("INSERT INTO t (id, data, updated_at) VALUES (...)
//	        ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at")
type SeedUpsert struct{ noClaims }

func (SeedUpsert) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders (`+harness.OrderColumnsSQL+`, PRIMARY KEY (id))`)
}

func (SeedUpsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return eachOrder(ctx, env.Conn, b.Records, `
		INSERT INTO orders (source, id, version, event_date, customer, amount) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, version = EXCLUDED.version,
			event_date = EXCLUDED.event_date, customer = EXCLUDED.customer, amount = EXCLUDED.amount`)
}

// execer runs a statement: a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// eachOrder runs sql once per order, one statement per record (the
// anti-pattern's own shape), with the order's columns as $1..$6.
func eachOrder(ctx context.Context, q execer, orders []harness.Order, sql string) error {
	for _, o := range orders {
		if _, err := q.Exec(ctx, sql, o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount); err != nil {
			return fmt.Errorf("order %d: %w", o.ID, err)
		}
	}
	return nil
}

// SeedPartitionOverwriter is the seed's PartitionOverwriter: the partition
// is taken from records[0], deleted in one autocommit statement, then the
// records are inserted in pages (psycopg2's execute_batch), each its own
// autocommit statement.
//
//	partition_value = records[0][partition_key]
//	self.db.execute("DELETE FROM t WHERE partition_key = %s", (partition_value,))
//	self.db.execute_batch("INSERT INTO t VALUES (%s, %s, %s, %s)", records)
type SeedPartitionOverwriter struct{ noClaims }

// seedPageSize is psycopg2's execute_batch default page size.
const seedPageSize = 100

func (SeedPartitionOverwriter) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_by_day (`+harness.OrderColumnsSQL+`)`)
}

func (SeedPartitionOverwriter) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	if len(b.Records) == 0 {
		return nil // records[0] would raise; the seed never considered an empty batch
	}
	if _, err := env.Conn.Exec(ctx, `DELETE FROM orders_by_day WHERE event_date = $1`, b.Records[0].EventDate.Time); err != nil {
		return err
	}
	for start := 0; start < len(b.Records); start += seedPageSize {
		page := b.Records[start:min(start+seedPageSize, len(b.Records))]
		sql := `INSERT INTO orders_by_day (source, id, version, event_date, customer, amount) VALUES `
		var args []any
		for i, o := range page {
			if i > 0 {
				sql += ", "
			}
			n := len(args)
			sql += fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
			args = append(args, o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount)
		}
		if _, err := env.Conn.Exec(ctx, sql, args...); err != nil {
			return err
		}
	}
	return nil
}

// SeedDeduplicatingWriter is the seed's DeduplicatingWriter: per record, a
// SELECT of the key, then (if absent) an INSERT of the key and an INSERT of
// the record, three autocommit statements.
//
//	exists = self.db.query("SELECT 1 FROM processed_keys WHERE key = %s", (dedup_key,))
//	if not exists:
//	    self.db.execute("INSERT INTO processed_keys VALUES (%s)", (dedup_key,))
//	    self.db.execute("INSERT INTO t VALUES ...", record)
type SeedDeduplicatingWriter struct{ noClaims }

func (SeedDeduplicatingWriter) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE processed_keys (key text NOT NULL); CREATE TABLE orders_log (`+harness.OrderColumnsSQL+`)`)
}

func (SeedDeduplicatingWriter) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	for _, o := range b.Records {
		key := o.DedupKey()
		var one int
		err := env.Conn.QueryRow(ctx, `SELECT 1 FROM processed_keys WHERE key = $1`, key).Scan(&one)
		if err == nil {
			continue // already processed
		}
		if err != pgx.ErrNoRows {
			return err
		}
		if _, err := env.Conn.Exec(ctx, `INSERT INTO processed_keys VALUES ($1)`, key); err != nil {
			return err
		}
		if _, err := env.Conn.Exec(ctx, `INSERT INTO orders_log (source, id, version, event_date, customer, amount) VALUES ($1, $2, $3, $4, $5, $6)`,
			o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount); err != nil {
			return err
		}
	}
	return nil
}
