package properties_test

import (
	"context"
	"fmt"
	"os"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
	"pgregory.net/rapid"
)

// Reading is a team's own record type: one reading of a sensor, keyed by
// (Sensor, Seq). Its Value is a function of the key, as a version's
// content must be.
type Reading struct {
	Sensor string
	Seq    int64
	Value  int64
}

// readings draws Readings from a small key space, so batches collide.
var readings = rapid.Custom(func(t *rapid.T) Reading {
	sensor := rapid.SampledFrom([]string{"s1", "s2"}).Draw(t, "sensor")
	seq := rapid.Int64Range(1, 4).Draw(t, "seq")
	return Reading{Sensor: sensor, Seq: seq, Value: seq * 10}
})

// readingsWriter stores readings idempotently: one INSERT ... ON CONFLICT
// DO NOTHING per batch, in one statement.
type readingsWriter struct{}

func (readingsWriter) Setup(ctx context.Context, env *harness.Env) error {
	_, err := env.Conn.Exec(ctx, `CREATE TABLE readings (sensor text, seq bigint, value bigint, PRIMARY KEY (sensor, seq))`)
	return err
}

func (readingsWriter) Write(ctx context.Context, env *harness.Env, b harness.Batch[Reading]) error {
	var sensors []string
	var seqs, values []int64
	for _, r := range b.Records {
		sensors, seqs, values = append(sensors, r.Sensor), append(seqs, r.Seq), append(values, r.Value)
	}
	_, err := env.Conn.Exec(ctx, `INSERT INTO readings SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[])
		ON CONFLICT DO NOTHING`, sensors, seqs, values)
	return err
}

// Certifying a writer of your own record type with your own generator:
// Draw(readings) is a Records[Reading], R inferred from the generator, and
// CheckRecords takes it beside a Writer[Reading]; a generator of other
// records would not compile. In a test, properties.CertifyRecords(t,
// newWriter, recs, opts...) runs the same laws as subtests.
func ExampleCheckRecords() {
	rep, err := properties.CheckRecords(context.Background(),
		func() harness.Writer[Reading] { return readingsWriter{} },
		properties.Draw(readings),
		properties.OnTarget(target), // omit to find a PostgreSQL by the default chain
		properties.Laws(harness.ReplayIdempotence, harness.RetryEquivalence, harness.OrderIndependence),
		properties.Checks(20))
	for _, l := range rep.Laws {
		fmt.Println(l.Law, l.Verdict)
	}
	fmt.Println("error:", err)
	// Output:
	// Determinism not-claimed
	// ReplayIdempotence held
	// RetryEquivalence held
	// CrashAtomicity not-claimed
	// ExactlyOnceEffect not-claimed
	// OrderIndependence held
	// IncrementalEquivalence not-claimed
	// ZombieSafety not-claimed
	// error: <nil>
}

// Replaying a saved counterexample: the scenario file a violation leaves
// behind re-runs exactly, here against the broken writer that produced it.
func ExampleReplayFile() {
	dir, _ := os.MkdirTemp("", "idemcheck-example-")
	defer os.RemoveAll(dir)
	naive := func() harness.Writer[harness.Order] { return antipatterns.NaiveInsert{} }
	rep, _ := properties.Check(context.Background(), naive, properties.OnTarget(target),
		properties.Claim(harness.ReplayIdempotence), properties.Checks(50), properties.ScenarioDir(dir))
	file := rep.Laws[1].Counterexample.ScenarioFile

	lr, err := properties.ReplayFile(context.Background(), naive, file, properties.OnTarget(target))
	if err != nil {
		panic(err)
	}
	fmt.Println(lr.Law, lr.Verdict)
	// Output:
	// ReplayIdempotence violated
}

// Exhaustive mode tries every single crash point of every delivery of a
// bounded family of scenarios instead of random ones; the verdict names
// what it explored. Here the family is the smoke scenarios' two batches,
// without double faults.
func ExampleExhaustive() {
	rep, err := properties.Check(context.Background(),
		func() harness.Writer[harness.Order] { return reference.Upsert{} },
		properties.OnTarget(target),
		properties.Laws(harness.CrashAtomicity),
		properties.Exhaustive(properties.Bounds{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	l := rep.Laws[3]
	fmt.Printf("%s %s at every point: %s\n", l.Law, l.Verdict, l.Explored)
	// Output:
	// CrashAtomicity held at every point: 14 points in 1 scenarios, 3 distinct states (10 more collapsed into equivalent ones)
}

// A certification split into parts, as CI runners would run them (the
// same Seed and Checks for every part), merged into the certificate the
// whole run gives.
func ExampleMerge() {
	newWriter := func() harness.Writer[harness.Order] { return reference.Upsert{} }
	var parts []*properties.Report
	for i := 1; i <= 2; i++ {
		part, err := properties.Check(context.Background(), newWriter, properties.OnTarget(target),
			properties.Laws(harness.ReplayIdempotence, harness.RetryEquivalence), properties.Checks(10), properties.Seed(42),
			properties.Sharded(properties.Shard{Index: i, Of: 2}))
		if err != nil {
			fmt.Println(err)
			return
		}
		parts = append(parts, part)
	}
	rep, err := properties.Merge(parts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range rep.Laws[1:3] {
		fmt.Printf("%s %s after %d trials\n", l.Law, l.Verdict, l.Trials)
	}
	// Output:
	// ReplayIdempotence held after 11 trials
	// RetryEquivalence held after 14 trials
}
