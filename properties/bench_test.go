package properties_test

import (
	"context"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
)

// BenchmarkRetryEquivalence measures trials per second of RetryEquivalence
// on the reference Upsert (scenarios of at most 4 batches of 8 records),
// with reused schema sandboxes (the default), with a new schema and Setup
// per run (FreshSandboxes) and with a database per trial cloned from a
// template (the snapshot/restore style), in the same run, and reports
// trials/s, x-fresh-sandboxes and x-db-per-trial (how many times faster
// the default is).
func BenchmarkRetryEquivalence(b *testing.B) {
	run := func(n int, opts ...properties.Option) float64 {
		return upsertTrialsPerSecond(b, n, append(opts, properties.Laws(harness.RetryEquivalence))...)
	}
	var schema, fresh, db float64
	for b.Loop() {
		schema = run(200)
		fresh = run(200, properties.FreshSandboxes())
		db = run(20, properties.Sandboxes(trial.WithMode(trial.DatabaseSandbox)))
	}
	b.ReportMetric(schema, "trials/s")
	b.ReportMetric(db, "db-per-trial-trials/s")
	b.ReportMetric(schema/db, "x-db-per-trial")
	b.ReportMetric(schema/fresh, "x-fresh-sandboxes")
}

// BenchmarkExhaustive measures exhaustive mode on the reference Upsert
// (RetryEquivalence: every single crash point of the smoke batches and two
// drawn batch lists, 16 double faults per delivery) and reports points/s,
// the points and distinct states explored, and, measured in the same run,
// the random mode's trials/s at 100 checks (a random trial delivers up to
// four batches with one or two faults each, an exhaustive point one fault).
func BenchmarkExhaustive(b *testing.B) {
	var ex *properties.Explored
	var pointsPerSec, randomPerSec float64
	for b.Loop() {
		start := time.Now()
		rep, err := properties.Check(context.Background(), func() harness.Writer[harness.Order] { return reference.Upsert{} },
			properties.OnTarget(target), properties.Laws(harness.RetryEquivalence), properties.Exhaustive(properties.DefaultBounds))
		if err != nil {
			b.Fatal(err)
		}
		ex = rep.Laws[2].Explored
		pointsPerSec = float64(rep.Laws[2].Trials) / time.Since(start).Seconds()
		start = time.Now()
		rep, err = properties.Check(context.Background(), func() harness.Writer[harness.Order] { return reference.Upsert{} },
			properties.OnTarget(target), properties.Laws(harness.RetryEquivalence), properties.Checks(100))
		if err != nil {
			b.Fatal(err)
		}
		randomPerSec = float64(rep.Laws[2].Trials) / time.Since(start).Seconds()
	}
	b.ReportMetric(pointsPerSec, "points/s")
	b.ReportMetric(float64(ex.Points), "points")
	b.ReportMetric(float64(ex.States), "states")
	b.ReportMetric(randomPerSec, "random-trials/s")
}

// BenchmarkCertify measures a whole certification of the reference Upsert
// (every law it claims, 100 checks, seed 1): search trials per second over
// all laws at the default parallelism and, in the same run, with
// Parallel(1), with FreshSandboxes and with a database per trial (10
// checks); it reports trials/s, x-parallel-1 (how many times faster than
// one trial at a time), x-fresh-sandboxes (than a new sandbox and Setup
// per run) and x-db-per-trial.
func BenchmarkCertify(b *testing.B) {
	var def, one, fresh, db float64
	for b.Loop() {
		def = upsertTrialsPerSecond(b, 100)
		one = upsertTrialsPerSecond(b, 100, properties.Parallel(1))
		fresh = upsertTrialsPerSecond(b, 100, properties.FreshSandboxes())
		db = upsertTrialsPerSecond(b, 10, properties.Sandboxes(trial.WithMode(trial.DatabaseSandbox)))
	}
	b.ReportMetric(def, "trials/s")
	b.ReportMetric(one, "parallel-1-trials/s")
	b.ReportMetric(def/one, "x-parallel-1")
	b.ReportMetric(def/fresh, "x-fresh-sandboxes")
	b.ReportMetric(def/db, "x-db-per-trial")
}

// upsertTrialsPerSecond checks the reference Upsert (seed 1, checks per
// law, opts) and returns the search trials of every law run, per second,
// logging the phases.
func upsertTrialsPerSecond(b testing.TB, checks int, opts ...properties.Option) float64 {
	b.Helper()
	start := time.Now()
	rep, err := properties.Check(context.Background(), func() harness.Writer[harness.Order] { return reference.Upsert{} },
		append(opts, properties.OnTarget(target), properties.Checks(checks), properties.Seed(1))...)
	if err != nil {
		b.Fatal(err)
	}
	trials := 0
	for _, l := range rep.Laws {
		trials += l.Trials
	}
	took := time.Since(start)
	b.Logf("%d trials in %s; %s", trials, took.Round(time.Millisecond), rep.Phases)
	return float64(trials) / took.Seconds()
}
