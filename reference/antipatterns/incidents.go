package antipatterns

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/jackc/pgx/v5"
)

// This file renders public bug reports of data tools as writers, each in
// the shape of the SQL the tool ran, with the fix that holds. The catalog
// says where each report is and which law catches it.

// jsonRecords is the batch as the JSON array json_populate_recordset reads.
func jsonRecords(b harness.Batch[harness.Order]) string {
	recs := b.Records
	if recs == nil {
		recs = []harness.Order{}
	}
	js, err := json.Marshal(recs)
	if err != nil {
		panic(err) // an Order's fields always marshal
	}
	return string(js)
}

// stmt is one statement of a transaction, with its arguments.
type stmt struct {
	sql  string
	args []any
}

// inTx runs stmts in order in one transaction on conn, stopping (and
// rolling back) at the first error.
func inTx(ctx context.Context, conn *pgx.Conn, stmts ...stmt) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// daysOf lists the batch's event dates: the windows (intervals) it covers.
func daysOf(b harness.Batch[harness.Order]) []string {
	seen := map[string]bool{}
	var days []string
	for _, o := range b.Records {
		if d := o.EventDate.String(); !seen[d] {
			seen[d] = true
			days = append(days, d)
		}
	}
	if len(days) == 0 && b.Partition != "" {
		days = []string{b.Partition}
	}
	return days
}

// DbtMicrobatch renders dbt's microbatch strategy on a model's first
// build (dbt-core#10924): per batch (one event-time window) it refreshes
// the upstream model, builds the batch's temporary table from it and
// replaces the window in the target. Broken, the temporary table is not
// filtered by the window, so every batch inserts every row of the source
// again; with Filtered it holds only the window's rows.
type DbtMicrobatch struct{ Filtered bool }

func (w DbtMicrobatch) Claims() []harness.Law {
	return claimedIf(w.Filtered, harness.ReplayIdempotence, harness.RetryEquivalence, harness.CrashAtomicity, harness.IncrementalEquivalence)
}

func (DbtMicrobatch) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_source (`+harness.OrderColumnsSQL+`, PRIMARY KEY (id, version));
		CREATE TABLE orders_model (`+harness.OrderColumnsSQL+`)`)
}

func (w DbtMicrobatch) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	recs := jsonRecords(b)
	filter := ""
	if w.Filtered {
		filter = " WHERE event_date = ANY($1::date[])"
	}
	return inTx(ctx, env.Conn,
		stmt{`INSERT INTO orders_source SELECT * FROM json_populate_recordset(NULL::orders_source, $1::json) ON CONFLICT DO NOTHING`, []any{recs}},
		stmt{`CREATE TEMP TABLE orders_model__dbt_tmp ON COMMIT DROP AS SELECT * FROM orders_source` + filter, argsIf(w.Filtered, daysOf(b))},
		stmt{`DELETE FROM orders_model WHERE event_date = ANY($1::date[])`, []any{daysOf(b)}},
		stmt{`INSERT INTO orders_model SELECT * FROM orders_model__dbt_tmp`, nil})
}

func argsIf(ok bool, args ...any) []any {
	if ok {
		return args
	}
	return nil
}

// AirbyteRawAppend renders a destination's sync (airbyte#12336): the
// records are appended to the raw table, then normalization rebuilds the
// final table from the raw one, in a second step. A sync that fails after
// the raw append is retried and appends again: 100 source rows became 300
// after three attempts. With Dedup the raw table is keyed by the record's
// identity and both steps are one transaction.
type AirbyteRawAppend struct{ Dedup bool }

func (w AirbyteRawAppend) Claims() []harness.Law {
	return claimedIf(w.Dedup, harness.ReplayIdempotence, harness.RetryEquivalence, harness.CrashAtomicity, harness.ExactlyOnceEffect, harness.OrderIndependence)
}

func (w AirbyteRawAppend) Setup(ctx context.Context, env *harness.Env) error {
	key := ""
	if w.Dedup {
		key = ", PRIMARY KEY (_airbyte_source, _airbyte_id, _airbyte_version)"
	}
	return setup(ctx, env, `CREATE TABLE _airbyte_raw_orders (_airbyte_source text NOT NULL, _airbyte_id bigint NOT NULL, _airbyte_version bigint NOT NULL,
		_airbyte_data jsonb NOT NULL`+key+`);
		CREATE TABLE orders (`+harness.OrderColumnsSQL+`)`)
}

func (w AirbyteRawAppend) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	recs := jsonRecords(b)
	raw := `INSERT INTO _airbyte_raw_orders SELECT r->>'source', (r->>'id')::bigint, (r->>'version')::bigint, r FROM jsonb_array_elements($1::jsonb) r`
	normalize := `DELETE FROM orders; INSERT INTO orders SELECT d.* FROM _airbyte_raw_orders, jsonb_populate_record(NULL::orders, _airbyte_data) d`
	if !w.Dedup {
		if _, err := env.Conn.Exec(ctx, raw, recs); err != nil {
			return fmt.Errorf("raw append: %w", err)
		}
		_, err := env.Conn.Exec(ctx, normalize, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	return pgx.BeginFunc(ctx, env.Conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, raw+` ON CONFLICT DO NOTHING`, recs); err != nil {
			return fmt.Errorf("raw append: %w", err)
		}
		_, err := tx.Exec(ctx, normalize, pgx.QueryExecModeSimpleProtocol)
		return err
	})
}

// KafkaJDBCSink renders a JDBC sink connector (kafka-connect-jdbc#874): it
// inserts a batch of records in a transaction, then commits the consumer
// offsets (here: the batch id in connect_offsets) after it; a batch whose
// offsets are committed is not delivered again. A crash between the two
// commits replays the records. With OffsetsInTx the offsets are stored in
// the same transaction as the records, as kafka-connect-jdbc#988 proposes.
type KafkaJDBCSink struct{ OffsetsInTx bool }

func (w KafkaJDBCSink) Claims() []harness.Law {
	return claimedIf(w.OffsetsInTx, harness.ReplayIdempotence, harness.RetryEquivalence, harness.CrashAtomicity, harness.ExactlyOnceEffect)
}

func (KafkaJDBCSink) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_sink (`+harness.OrderColumnsSQL+`);
		CREATE TABLE connect_offsets (batch_id text PRIMARY KEY)`)
}

func (w KafkaJDBCSink) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	recs := jsonRecords(b)
	insert := `INSERT INTO orders_sink SELECT * FROM json_populate_recordset(NULL::orders_sink, $1::json)`
	if w.OffsetsInTx {
		return pgx.BeginFunc(ctx, env.Conn, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO connect_offsets VALUES ($1) ON CONFLICT DO NOTHING`, b.ID)
			if err != nil || tag.RowsAffected() == 0 {
				return err // committed before: the records are in
			}
			_, err = tx.Exec(ctx, insert, recs)
			return err
		})
	}
	var done bool
	if err := env.Conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM connect_offsets WHERE batch_id = $1)`, b.ID).Scan(&done); err != nil || done {
		return err // the consumer resumes after the committed offsets
	}
	if err := pgx.BeginFunc(ctx, env.Conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insert, recs)
		return err
	}); err != nil {
		return err
	}
	_, err := env.Conn.Exec(ctx, `INSERT INTO connect_offsets VALUES ($1)`, b.ID) // the offset commit, after the write
	return err
}

// TargetPostgresUpsert renders a Singer target's upsert
// (target-postgres#169): the batch goes to a temporary table, new keys are
// inserted into the target, and the existing ones are updated, but the
// UPDATE names the temporary table, which is dropped at the end: every
// update is lost. With UpdateTarget the UPDATE names the target (and
// keeps the newer version).
type TargetPostgresUpsert struct{ UpdateTarget bool }

func (w TargetPostgresUpsert) Claims() []harness.Law {
	return claimedIf(w.UpdateTarget, harness.ReplayIdempotence, harness.RetryEquivalence, harness.CrashAtomicity, harness.OrderIndependence, harness.IncrementalEquivalence)
}

func (TargetPostgresUpsert) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders (`+harness.OrderColumnsSQL+`, PRIMARY KEY (id))`)
}

func (w TargetPostgresUpsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	recs := jsonRecords(b)
	update := `UPDATE orders_tmp t SET source = o.source, version = o.version, event_date = o.event_date, customer = o.customer, amount = o.amount
		FROM orders o WHERE t.id = o.id`
	if w.UpdateTarget {
		update = `UPDATE orders o SET source = t.source, version = t.version, event_date = t.event_date, customer = t.customer, amount = t.amount
			FROM orders_tmp t WHERE o.id = t.id AND o.version < t.version`
	}
	return inTx(ctx, env.Conn,
		stmt{`CREATE TEMP TABLE orders_tmp (LIKE orders) ON COMMIT DROP`, nil},
		stmt{`INSERT INTO orders_tmp SELECT DISTINCT ON (id) * FROM json_populate_recordset(NULL::orders, $1::json) ORDER BY id, version DESC`, []any{recs}},
		stmt{`INSERT INTO orders SELECT * FROM orders_tmp t WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.id)`, nil},
		stmt{update, nil})
}

// DltMergeWithoutKey renders dlt's merge write disposition on a table
// with neither a primary nor a merge key (dlt#1005, dlt#1047): the merge
// job's delete matches every row, so each load replaces the whole table
// with its own records. The fix declares the key: the reference Upsert.
type DltMergeWithoutKey struct{ noClaims }

func (DltMergeWithoutKey) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders (`+harness.OrderColumnsSQL+`)`)
}

func (DltMergeWithoutKey) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return inTx(ctx, env.Conn,
		stmt{`DELETE FROM orders`, nil}, // no key: every row "matches"
		stmt{`INSERT INTO orders SELECT * FROM json_populate_recordset(NULL::orders, $1::json)`, []any{jsonRecords(b)}})
}

// AirflowTaskRerun renders an Airflow task that logs its DAG run's rows
// into a table without a key (apache/airflow#29872): the scheduler ran a
// task again after it succeeded, and the tables without a primary key got
// every row twice. With ReplaceRun the task replaces its own run's rows
// (keyed by the run) in one transaction.
type AirflowTaskRerun struct{ ReplaceRun bool }

func (w AirflowTaskRerun) Claims() []harness.Law {
	return claimedIf(w.ReplaceRun, harness.ReplayIdempotence, harness.RetryEquivalence, harness.CrashAtomicity, harness.ExactlyOnceEffect, harness.OrderIndependence)
}

func (AirflowTaskRerun) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE task_rows (run_id text NOT NULL, `+harness.OrderColumnsSQL+`)`)
}

func (w AirflowTaskRerun) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	recs := jsonRecords(b)
	insert := `INSERT INTO task_rows SELECT $2, r.* FROM json_to_recordset($1::json)
		AS r(source text, id bigint, version bigint, event_date date, customer text, amount numeric)`
	if !w.ReplaceRun {
		_, err := env.Conn.Exec(ctx, insert, recs, b.ID)
		return err
	}
	return inTx(ctx, env.Conn,
		stmt{`SELECT pg_advisory_xact_lock(hashtext('task_rows'), hashtext($1))`, []any{b.ID}},
		stmt{`DELETE FROM task_rows WHERE run_id = $1`, []any{b.ID}},
		stmt{insert, []any{recs, b.ID}})
}

// SQLMeshDeleteInsert renders SQLMesh's DELETE_INSERT overwrite of a
// model's interval (SQLMesh#3866): delete the interval, insert it, in one
// transaction but without serializing runs of the same interval. Two runs
// of one interval that was empty both delete nothing and both insert: the
// rows are duplicated. The fix serializes per interval: the reference
// PartitionOverwrite.
type SQLMeshDeleteInsert struct{ noClaims }

func (SQLMeshDeleteInsert) Setup(ctx context.Context, env *harness.Env) error {
	return setup(ctx, env, `CREATE TABLE orders_by_day (`+harness.OrderColumnsSQL+`)`)
}

func (SQLMeshDeleteInsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	return inTx(ctx, env.Conn,
		stmt{`DELETE FROM orders_by_day WHERE event_date = ANY($1::date[])`, []any{daysOf(b)}},
		stmt{`INSERT INTO orders_by_day SELECT DISTINCT ON (event_date, id) * FROM json_populate_recordset(NULL::orders_by_day, $1::json)
			ORDER BY event_date, id, version DESC`, []any{jsonRecords(b)}})
}

// claimedIf is the laws a lesson's writer claims: laws when it is the
// fixed one, none when it is the broken one (it claims nothing it holds
// by chance).
func claimedIf(fixed bool, laws ...harness.Law) []harness.Law {
	if !fixed {
		return nil
	}
	return laws
}
