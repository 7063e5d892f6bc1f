package trial

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSandbox measures creating and dropping one trial's sandbox.
func BenchmarkSandbox(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []SandboxMode{SchemaSandbox, DatabaseSandbox} {
		b.Run(mode.String(), func(b *testing.B) {
			for b.Loop() {
				sb, err := target.NewSandbox(ctx, Mode(mode))
				if err != nil {
					b.Fatal(err)
				}
				if err := sb.Drop(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLocalClusterStart measures the start (to a first connection)
// and stop of an ephemeral cluster copied from an initdb template, and
// reports it as a ratio (x-initdb) to the same with initdb run every time,
// measured in the same run.
func BenchmarkLocalClusterStart(b *testing.B) {
	ctx := context.Background()
	cache := b.TempDir()
	real := templateCache
	defer func() { templateCache = real }()
	startStop := func(dir string) time.Duration {
		templateCache = func() string { return dir }
		start := time.Now()
		tg, err := OpenTarget(ctx, ByWay(WayLocal), NoSignalHandling())
		if err != nil {
			b.Fatal(err)
		}
		if err := tg.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	startStop(cache) // saves the template
	var copied, initdb time.Duration
	for b.Loop() {
		copied += startStop(cache)
		initdb += startStop("")
	}
	b.ReportMetric(float64(copied.Milliseconds())/float64(b.N), "copied-ms/op")
	b.ReportMetric(float64(initdb.Milliseconds())/float64(b.N), "initdb-ms/op")
	b.ReportMetric(float64(initdb)/float64(copied), "x-initdb")
}

// BenchmarkSnapshotCompare1M snapshots and compares two equal 1M-row tables
// and reports the time as a ratio (x-hash-scan) to the cheapest honest
// baseline measured in the same run: one in-database hash scan of each table
// (SELECT count(*), sum(hashtextextended(t::text, 0)) FROM t).
func BenchmarkSnapshotCompare1M(b *testing.B) {
	ctx := context.Background()
	fill := []string{
		`CREATE TABLE orders (id bigint PRIMARY KEY, version bigint, event_date date, customer text, amount numeric);
		 INSERT INTO orders SELECT g, g % 7, date '2026-11-01' + (g % 30), 'c-' || (g % 1000), (g % 10000) / 100.0 FROM generate_series(1, 1000000) g`,
		"VACUUM ANALYZE orders",
	}
	var sbs []*Sandbox
	for range 2 {
		sb := sandbox(b)
		conn, err := sb.Connect(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, stmt := range fill {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				b.Fatal(err)
			}
		}
		conn.Close(ctx)
		sbs = append(sbs, sb)
	}
	var base, ours time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		for _, sb := range sbs {
			var n int64
			var h string
			if err := target.Admin().QueryRow(ctx, "SELECT count(*), sum(hashtextextended(t::text, 0))::text FROM "+quote(sb.Name())+".orders t").Scan(&n, &h); err != nil {
				b.Fatal(err)
			}
		}
		base += time.Since(start)

		start = time.Now()
		a, err := Snapshot(ctx, sbs[0])
		if err != nil {
			b.Fatal(err)
		}
		c, err := Snapshot(ctx, sbs[1])
		if err != nil {
			b.Fatal(err)
		}
		d, err := Compare(ctx, a, c)
		if err != nil || !d.Equal {
			b.Fatalf("%v %v", err, d)
		}
		ours += time.Since(start)
	}
	b.ReportMetric(float64(ours)/float64(base), "x-hash-scan")
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "ms/snapshot-pair")
}
