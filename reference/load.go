package reference

import (
	"context"
	"fmt"
	"sort"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// orderColumns are the columns of an order in every writer's tables.
var orderColumns = []string{"source", "id", "version", "event_date", "customer", "amount"}

// orderTableSQL is the column list shared by the writers' order tables.
const orderTableSQL = `source text NOT NULL, id bigint NOT NULL, version bigint NOT NULL,
	event_date date NOT NULL, customer text NOT NULL, amount numeric NOT NULL`

// loadBatch COPYs the batch into the temporary table pg_temp.batch_in, which
// lives until the end of tx.
func loadBatch(ctx context.Context, tx pgx.Tx, orders []harness.Order) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE batch_in (`+orderTableSQL+`) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("create the batch table: %w", err)
	}
	rows := make([][]any, len(orders))
	for i, o := range orders {
		rows[i] = []any{o.Source, o.ID, o.Version, o.EventDate.Time, o.Customer, o.Amount}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "batch_in"}, orderColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy the batch: %w", err)
	}
	return nil
}

// partitions returns the distinct event dates of orders, sorted, so that
// locks are always taken in the same order (no deadlocks between attempts).
func partitions(orders []harness.Order) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range orders {
		if d := o.EventDate.String(); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// lockPartitions serializes writers of the same partitions of table until
// the end of tx, in sorted order.
func lockPartitions(ctx context.Context, tx pgx.Tx, table string, parts []string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext(p)) FROM unnest($2::text[]) p ORDER BY p`, table, parts)
	if err != nil {
		return fmt.Errorf("lock partitions of %s: %w", table, err)
	}
	return nil
}

// inTx runs fn in one transaction on the attempt's connection.
func inTx(ctx context.Context, env *harness.Env, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, env.Conn, fn)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func orDefault(name, def string) string {
	if name == "" {
		return def
	}
	return name
}
