package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkProxy measures the proxy against a direct connection in the same
// run and reports x-direct (time through the proxy ÷ time direct).
func BenchmarkProxy(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	direct, err := f.sb.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close(ctx)
	a := f.proxy.NewAttempt(nil)
	defer a.Close()
	cfg := f.sb.ConnConfig()
	cfg.DialFunc = a.DialContext
	proxied, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer proxied.Close(ctx)

	measure := func(b *testing.B, op func(*pgx.Conn)) {
		var d, p time.Duration
		for b.Loop() {
			start := time.Now()
			op(direct)
			d += time.Since(start)
			start = time.Now()
			op(proxied)
			p += time.Since(start)
		}
		b.ReportMetric(float64(p)/float64(d), "x-direct")
	}
	b.Run("select1", func(b *testing.B) {
		measure(b, func(c *pgx.Conn) {
			var n int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Fatal(err)
			}
		})
	})
	rows := make([][]any, 10000)
	for i := range rows {
		rows[i] = []any{i, "some text to copy"}
	}
	b.Run("copy10k", func(b *testing.B) {
		measure(b, func(c *pgx.Conn) {
			if _, err := c.Exec(ctx, "TRUNCATE t"); err != nil {
				b.Fatal(err)
			}
			if _, err := c.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"id", "v"}, pgx.CopyFromRows(rows)); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("connect-pooled", func(b *testing.B) {
		pooled := newFixture(b)
		pooled.proxy.EnablePool(4)
		defer pooled.proxy.Close()
		pcfg := pooled.sb.ConnConfig()
		var d, p time.Duration
		for b.Loop() {
			start := time.Now()
			c, err := pooled.sb.Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			d += time.Since(start)
			c.Close(ctx)
			start = time.Now()
			att := pooled.proxy.NewAttempt(nil)
			acfg := pcfg.Copy()
			acfg.DialFunc = att.DialContext
			c, err = pgx.ConnectConfig(ctx, acfg)
			if err != nil {
				b.Fatal(err)
			}
			c.Close(ctx)
			att.Close() // reset and back in the pool
			p += time.Since(start)
		}
		b.ReportMetric(float64(p)/float64(d), "x-direct")
		b.ReportMetric(float64(p.Microseconds())/float64(b.N), "µs/pooled-connect+reset")
	})
	b.Run("connect", func(b *testing.B) {
		var d, p time.Duration
		for b.Loop() {
			start := time.Now()
			c, err := f.sb.Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			d += time.Since(start)
			c.Close(ctx)
			start = time.Now()
			att := f.proxy.NewAttempt(nil)
			acfg := cfg.Copy()
			acfg.DialFunc = att.DialContext
			c, err = pgx.ConnectConfig(ctx, acfg)
			if err != nil {
				b.Fatal(err)
			}
			p += time.Since(start)
			c.Close(ctx)
		}
		b.ReportMetric(float64(p)/float64(d), "x-direct")
		b.ReportMetric(float64(p.Microseconds())/float64(b.N), "µs/proxied-connect")
	})
}
