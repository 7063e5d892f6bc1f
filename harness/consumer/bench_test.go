package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/consumer"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/internal/external"
)

// BenchmarkConsumerTrial measures a clean consumer trial (sandbox and
// setup, topic, produce, group join, start, catch-up, SIGTERM, snapshot)
// of the reference consumer against a clean batch trial of the same
// write (the same program in -batch mode, once per batch, through
// trial.Run) of the same records, alternated in one run. x-batch is the
// ratio of their times per trial; issue 36's goal is at most 3.
func BenchmarkConsumerTrial(b *testing.B) {
	ctx := context.Background()
	bs := batches()
	r := &consumer.Runner{Target: target, Broker: broker, Program: program("exactly-once")}
	w := external.Exec[harness.Order]{Command: bin + " -batch", SetupCommand: bin + " -setup -mode exactly-once"}
	var asConsumer, asBatches time.Duration
	for b.Loop() {
		start := time.Now()
		obs, err := r.Run(ctx, consumer.Scenario{Batches: bs})
		if err != nil {
			b.Fatal(err)
		}
		obs.Release(ctx)
		asConsumer += time.Since(start)
		start = time.Now()
		tobs, err := trial.Run(ctx, target, w, harness.CleanScenario(bs))
		if err != nil {
			b.Fatal(err)
		}
		tobs.Sandbox.Drop(ctx)
		asBatches += time.Since(start)
	}
	b.ReportMetric(float64(asConsumer.Milliseconds())/float64(b.N), "consumer-ms/trial")
	b.ReportMetric(float64(asBatches.Milliseconds())/float64(b.N), "batch-ms/trial")
	b.ReportMetric(float64(asConsumer)/float64(asBatches), "x-batch")
}
