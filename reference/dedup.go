package reference

import (
	"context"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// Dedup appends each record to a log exactly once, by a natural
// deduplication key (source:id:version) recorded in the same transaction as
// the record: INSERT the batch's keys with ON CONFLICT DO NOTHING RETURNING
// key, and append only the records whose key came back.
//
// Because the key and the record commit together, a crash can never leave
// one without the other; because the key is natural (never an
// autoincrement), a retry computes the same key. Concurrent attempts
// serialize on the key's unique index. It claims every law.
type Dedup struct {
	Table string // the log, default "orders_log"; keys go to Table+"_keys"
}

func (w Dedup) table() string { return orDefault(w.Table, "orders_log") }

func (w Dedup) keys() string { return w.table() + "_keys" }

// Claims reports the laws Dedup holds: all of them.
func (Dedup) Claims() []harness.Law { return harness.AllLaws }

// Setup creates the log and the key table.
func (w Dedup) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS `+ident(w.keys())+` (key text PRIMARY KEY);
		CREATE TABLE IF NOT EXISTS `+ident(w.table())+` (`+harness.OrderColumnsSQL+`)`)
	return err
}

// Write appends the batch's new records.
func (w Dedup) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return inTx(ctx, env, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			WITH b AS MATERIALIZED (
				SELECT DISTINCT ON (source, id, version) source || ':' || id || ':' || version AS key, b.*
				FROM (`+unnestSQL+`) b
				ORDER BY source, id, version, event_date, customer, amount
			), fresh AS (
				INSERT INTO `+ident(w.keys())+` (key) SELECT key FROM b
				ON CONFLICT (key) DO NOTHING
				RETURNING key
			)
			INSERT INTO `+ident(w.table())+` (source, id, version, event_date, customer, amount)
			SELECT b.source, b.id, b.version, b.event_date, b.customer, b.amount
			FROM b JOIN fresh USING (key)`, columns(b.Records)...)
		if err != nil {
			return fmt.Errorf("deduplicate into %s: %w", w.table(), err)
		}
		return nil
	})
}
