package reference

import (
	"context"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// PartitionOverwrite replaces every partition (event date) the batch
// touches with the batch's records for it, keeping the latest version of
// each order, atomically: lock the partitions, DELETE them, INSERT the
// batch's rows, all in one transaction. A batch may span several partitions.
//
// The per-partition advisory lock (pg_advisory_xact_lock, taken in sorted
// order) is what makes it safe against a zombie: without it, two overlapping
// attempts under READ COMMITTED can both delete (seeing nothing to delete
// yet) and both insert, leaving every row twice.
//
// With Guarded, each partition remembers the LogicalTime of the batch that
// last wrote it, and an older batch arriving late leaves the partition alone,
// so a stale re-run cannot regress it.
//
// It claims Determinism, ReplayIdempotence, RetryEquivalence,
// CrashAtomicity, ExactlyOnceEffect and ZombieSafety; unguarded it also
// claims IncrementalEquivalence, and Guarded it claims OrderIndependence
// instead: a full refresh stamps every partition with the one batch's
// LogicalTime, so the guard's bookkeeping differs from incremental loads
// (the data agrees; idemcheck found this).
type PartitionOverwrite struct {
	Table   string // default "orders_by_day"
	Guarded bool
}

func (w PartitionOverwrite) table() string { return orDefault(w.Table, "orders_by_day") }

func (w PartitionOverwrite) versions() string { return w.table() + "_versions" }

// Claims reports the laws PartitionOverwrite holds.
func (w PartitionOverwrite) Claims() []harness.Law {
	laws := []harness.Law{harness.Determinism, harness.ReplayIdempotence, harness.RetryEquivalence,
		harness.CrashAtomicity, harness.ExactlyOnceEffect, harness.ZombieSafety}
	if w.Guarded {
		return append(laws, harness.OrderIndependence)
	}
	return append(laws, harness.IncrementalEquivalence)
}

// Setup creates the table (and the partition versions when guarded).
func (w PartitionOverwrite) Setup(ctx context.Context, env *harness.Env) error {
	sql := `CREATE TABLE IF NOT EXISTS ` + ident(w.table()) + ` (` + harness.OrderColumnsSQL + `, PRIMARY KEY (event_date, id))`
	if w.Guarded {
		sql += `; CREATE TABLE IF NOT EXISTS ` + ident(w.versions()) + ` (event_date date PRIMARY KEY, written_by timestamptz NOT NULL)`
	}
	_, err := env.Conn.Exec(ctx, sql)
	return err
}

// Write replaces the batch's partitions.
func (w PartitionOverwrite) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	parts := partitions(b.Records)
	if b.Partition != "" && len(parts) == 0 {
		parts = []string{b.Partition} // an empty batch empties its partition
	}
	t := ident(w.table())
	return inTx(ctx, env, func(tx pgx.Tx) error {
		if err := lockPartitions(ctx, tx, w.table(), parts); err != nil {
			return err
		}
		if w.Guarded {
			rows, err := tx.Query(ctx, `
				INSERT INTO `+ident(w.versions())+` AS v (event_date, written_by)
				SELECT p::date, $2 FROM unnest($1::text[]) p
				ON CONFLICT (event_date) DO UPDATE SET written_by = EXCLUDED.written_by
				WHERE v.written_by <= EXCLUDED.written_by
				RETURNING event_date::text`, parts, b.LogicalTime)
			if err != nil {
				return fmt.Errorf("check partition versions: %w", err)
			}
			parts, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("check partition versions: %w", err)
			}
			if len(parts) == 0 {
				return nil // every partition already holds a newer batch
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE event_date = ANY($1::date[])`, parts); err != nil {
			return fmt.Errorf("delete partitions of %s: %w", w.table(), err)
		}
		rows := latestByDayID(b.Records)
		_, err := tx.Exec(ctx, `
			INSERT INTO `+t+` (source, id, version, event_date, customer, amount)
			SELECT b.* FROM (`+unnestSQL+`) b WHERE b.event_date = ANY($7::date[])`, append(columns(rows), parts)...)
		if err != nil {
			return fmt.Errorf("insert partitions of %s: %w", w.table(), err)
		}
		return nil
	})
}
