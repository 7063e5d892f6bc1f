package reference

import (
	"context"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
)

// Upsert keeps the latest version of every order, keyed by its natural key:
// the batch's latest record per id, passed as arrays (unnest), in one
// INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE stored.version <
// incoming.version: one statement, so one transaction.
//
// It claims every law:
//   - Determinism: the state is a function of the records alone.
//   - ReplayIdempotence, RetryEquivalence, ExactlyOnceEffect: re-applying a
//     batch changes nothing (the guard rejects equal versions), and a crash
//     anywhere rolls the single transaction back.
//   - CrashAtomicity: one transaction, so a crash leaves the state before
//     or after the batch.
//   - OrderIndependence, IncrementalEquivalence: the highest version wins
//     whatever the order or grouping of deliveries; several versions of one
//     id in a batch are resolved the same way (highest version, then a total
//     order on the other columns, never "whichever came first"), since
//     PostgreSQL rejects one key twice in one INSERT ... ON CONFLICT.
//   - ZombieSafety: ON CONFLICT takes row locks, so overlapping attempts
//     serialize per key and the guard keeps the newest.
type Upsert struct {
	Table string // default "orders"
}

func (w Upsert) table() string { return orDefault(w.Table, "orders") }

// Claims reports the laws Upsert holds: all of them.
func (Upsert) Claims() []harness.Law { return harness.AllLaws }

// Setup creates the table, with room on each page for HOT updates.
func (w Upsert) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ident(w.table())+` (`+harness.OrderColumnsSQL+`,
		PRIMARY KEY (id)) WITH (fillfactor = 85)`)
	return err
}

// Write applies the batch in one statement (so in one transaction): the
// latest record of each id, passed as arrays, upserted under the guard.
// Records the table already holds at the same or a newer version are
// filtered out before the upsert, so a replay reads but does not lock or
// rewrite a single row; the ON CONFLICT guard still decides under
// concurrency.
func (w Upsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	rows := latestByID(b.Records)
	t := ident(w.table())
	_, err := env.Conn.Exec(ctx, `
		INSERT INTO `+t+` AS t (source, id, version, event_date, customer, amount)
		SELECT b.* FROM (`+unnestSQL+`) b
		WHERE NOT EXISTS (SELECT FROM `+t+` cur WHERE cur.id = b.id AND cur.version >= b.version)
		ON CONFLICT (id) DO UPDATE SET
			source = EXCLUDED.source, version = EXCLUDED.version, event_date = EXCLUDED.event_date,
			customer = EXCLUDED.customer, amount = EXCLUDED.amount
		WHERE t.version < EXCLUDED.version`, columns(rows)...)
	if err != nil {
		return fmt.Errorf("upsert into %s: %w", w.table(), err)
	}
	return nil
}
