package reference

import (
	"context"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// Aggregate maintains daily totals (orders and amount per event date),
// computed from the batch's partitions (the latest version of each order)
// and written by partition overwrite: each day's row is replaced, never
// incremented, so a retry or a replay writes the same totals again. This is
// the seed's fix for append-only aggregations.
//
// It claims the same laws as PartitionOverwrite without Guarded.
type Aggregate struct {
	Table string // default "daily_totals"
}

func (w Aggregate) table() string { return orDefault(w.Table, "daily_totals") }

// Claims reports the laws Aggregate holds.
func (w Aggregate) Claims() []harness.Law { return PartitionOverwrite{}.Claims() }

// Setup creates the totals table.
func (w Aggregate) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ident(w.table())+` (
		event_date date PRIMARY KEY, orders bigint NOT NULL, amount numeric NOT NULL)`)
	return err
}

// Write replaces the totals of the batch's days.
func (w Aggregate) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	parts := partitions(b.Records)
	if b.Partition != "" && len(parts) == 0 {
		parts = []string{b.Partition}
	}
	t := ident(w.table())
	return inTx(ctx, env, func(tx pgx.Tx) error {
		if err := lockPartitions(ctx, tx, w.table(), parts); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE event_date = ANY($1::date[])`, parts); err != nil {
			return fmt.Errorf("delete totals from %s: %w", w.table(), err)
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO `+t+` (event_date, orders, amount)
			SELECT event_date, count(*), sum(amount)
			FROM (`+unnestSQL+`) latest
			GROUP BY event_date`, columns(latestByDayID(b.Records))...)
		if err != nil {
			return fmt.Errorf("insert totals into %s: %w", w.table(), err)
		}
		return nil
	})
}
