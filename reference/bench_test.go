package reference_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	rt "github.com/idemcheck/idemcheck/internal/reftest"
	. "github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
	"github.com/jackc/pgx/v5"
)

// The benchmarks measure each writer against raw COPY of the same rows into
// an empty table without indexes, in the same run, and report rows/s and
// x-copy (writer rows/s ÷ raw COPY rows/s). The seed's row-by-row versions
// are measured on a smaller sample (seedRows) and reported the same way.
const (
	benchRows = 1_000_000
	seedRows  = 5_000
)

// orders returns n orders with ids from first, version v, spread over 30 days.
func orders(first, n int, v int64) []harness.Order {
	out := make([]harness.Order, n)
	for i := range out {
		id := int64(first + i)
		out[i] = harness.Order{Source: "shop", ID: id, Version: v, EventDate: harness.NewDate(2026, 11, 1+int(id%30)),
			Customer: fmt.Sprintf("c-%d", id%1000), Amount: fmt.Sprintf("%d.%02d", id%1000, id%100)}
	}
	return out
}

type benchEnv struct {
	b    *testing.B
	ctx  context.Context
	sb   *trial.Sandbox
	conn *pgx.Conn
	env  *harness.Env
}

func newBenchEnv(b *testing.B, w harness.Writer[harness.Order]) *benchEnv {
	ctx := context.Background()
	sb, err := SharedTarget().NewSandbox(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sb.Drop(context.Background()) })
	conn, err := sb.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	env := &harness.Env{Conn: conn, Attempt: 1, Sandbox: sb.Name(), Via: sb}
	if err := w.Setup(ctx, env); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE raw_copy (`+harness.OrderColumnsSQL+`)`); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{b: b, ctx: ctx, sb: sb, conn: conn, env: env}
}

func (e *benchEnv) exec(sql string) {
	if _, err := e.conn.Exec(e.ctx, sql); err != nil {
		e.b.Fatalf("%s: %v", sql, err)
	}
}

// rawCopy times COPY of orders into the empty raw_copy table.
func (e *benchEnv) rawCopy(orders []harness.Order) time.Duration {
	e.exec("TRUNCATE raw_copy")
	start := time.Now()
	if _, err := e.conn.CopyFrom(e.ctx, pgx.Identifier{"raw_copy"}, harness.OrderColumns, pgx.CopyFromRows(harness.OrderRows(orders))); err != nil {
		e.b.Fatal(err)
	}
	return time.Since(start)
}

func (e *benchEnv) write(w harness.Writer[harness.Order], b harness.Batch[harness.Order]) time.Duration {
	start := time.Now()
	if err := w.Write(e.ctx, e.env, b); err != nil {
		e.b.Fatal(err)
	}
	return time.Since(start)
}

// report adds rows/s and x-copy for one measured phase.
type phase struct {
	rows        int
	took, copy_ time.Duration
}

func report(b *testing.B, prefix string, p phase) {
	rate := float64(p.rows) / p.took.Seconds()
	copyRate := float64(p.rows) / p.copy_.Seconds()
	b.ReportMetric(rate, prefix+"rows/s")
	b.ReportMetric(rate/copyRate, prefix+"x-copy")
}

// BenchmarkUpsert: a 1M-row batch into a table already holding 50% of its
// keys (at an older version), then the same batch replayed.
func BenchmarkUpsert(b *testing.B) {
	batch := rt.Batch(2, orders(0, benchRows, 2)...)
	var first, replay phase
	for b.Loop() {
		b.StopTimer()
		e := newBenchEnv(b, Upsert{})
		e.exec(`INSERT INTO orders SELECT 'shop', g, 1, date '2026-11-01', 'old', 1 FROM generate_series(0, ` + fmt.Sprint(benchRows-1) + `, 2) g`)
		e.exec(`VACUUM ANALYZE orders`)
		b.StartTimer()
		first.copy_ += e.rawCopy(batch.Records)
		first.took += e.write(Upsert{}, batch)
		replay.copy_ += e.rawCopy(batch.Records)
		replay.took += e.write(Upsert{}, batch)
		first.rows += benchRows
		replay.rows += benchRows
	}
	report(b, "", first)
	report(b, "replay-", replay)
	reportSeed(b, first, antipatterns.SeedUpsert{})
}

// seedPhase measures the seed's version of a writer on seedRows rows, from
// an empty table.
func seedPhase(b *testing.B, seed harness.Writer[harness.Order]) phase {
	e := newBenchEnv(b, seed)
	batch := rt.Batch(1, orders(0, seedRows, 1)...)
	return phase{rows: seedRows, copy_: e.rawCopy(batch.Records), took: e.write(seed, batch)}
}

func reportSeed(b *testing.B, ours phase, seed harness.Writer[harness.Order]) {
	s := seedPhase(b, seed)
	report(b, "seed-", s)
	b.ReportMetric((float64(ours.rows)/ours.took.Seconds())/(float64(s.rows)/s.took.Seconds()), "x-seed")
}

// BenchmarkPartitionOverwrite: one day of 100,000 rows (new versions)
// replaces its partition in a 1,000,000-row table of 10 days.
func BenchmarkPartitionOverwrite(b *testing.B) {
	const days, perDay = 10, benchRows / 10
	batch := rt.Batch(2, dayOrders(3, perDay, 2)...)
	var ours phase
	for b.Loop() {
		b.StopTimer()
		e := newBenchEnv(b, PartitionOverwrite{})
		e.exec(fmt.Sprintf(`INSERT INTO orders_by_day SELECT 'shop', g %% %d, 1, date '2026-11-01' + g / %d, 'old', 1 FROM generate_series(0, %d) g`, perDay, perDay, benchRows-1))
		e.exec(`VACUUM ANALYZE orders_by_day`)
		b.StartTimer()
		ours.copy_ += e.rawCopy(batch.Records)
		ours.took += e.write(PartitionOverwrite{}, batch)
		ours.rows += perDay
	}
	report(b, "", ours)
	reportSeed(b, ours, antipatterns.SeedPartitionOverwriter{})
}

// dayOrders returns n orders of day d (1-based) of November 2026.
func dayOrders(d, n int, v int64) []harness.Order {
	out := orders(0, n, v)
	for i := range out {
		out[i].EventDate = harness.NewDate(2026, 11, d)
	}
	return out
}

// BenchmarkDedup: 100,000 records, half of them already processed, into a
// log of 1,000,000.
func BenchmarkDedup(b *testing.B) {
	const n = benchRows / 10
	batch := rt.Batch(2, orders(benchRows-n/2, n, 1)...)
	var ours phase
	for b.Loop() {
		b.StopTimer()
		e := newBenchEnv(b, Dedup{})
		e.exec(fmt.Sprintf(`INSERT INTO orders_log SELECT 'shop', g, 1, date '2026-11-01', 'old', 1 FROM generate_series(0, %d) g`, benchRows-1))
		e.exec(`INSERT INTO orders_log_keys SELECT 'shop:' || id || ':1' FROM orders_log`)
		e.exec(`VACUUM ANALYZE orders_log, orders_log_keys`)
		b.StartTimer()
		ours.copy_ += e.rawCopy(batch.Records)
		ours.took += e.write(Dedup{}, batch)
		ours.rows += n
	}
	report(b, "", ours)
	reportSeed(b, ours, antipatterns.SeedDeduplicatingWriter{})
}
