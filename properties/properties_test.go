package properties_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	rt "github.com/idemcheck/idemcheck/internal/reftest"
	"github.com/idemcheck/idemcheck/properties"
	"github.com/idemcheck/idemcheck/reference"
	"github.com/idemcheck/idemcheck/reference/antipatterns"
)

var target *trial.Target

func TestMain(m *testing.M) {
	flag.Parse()
	defaultChecks()
	code := rt.Main(m, &target)
	closeSources()
	os.Exit(code)
}

type W = harness.Writer[harness.Order]

func byDay(o harness.Order) string { return o.EventDate.String() }

// writers certified in partition mode (each batch one whole day).
var partitioned = map[string]bool{"PartitionOverwrite": true, "PartitionOverwrite/Guarded": true, "Aggregate": true}

var correct = map[string]func() W{
	"Upsert":                     func() W { return reference.Upsert{} },
	"Dedup":                      func() W { return reference.Dedup{} },
	"PartitionOverwrite":         func() W { return reference.PartitionOverwrite{} },
	"PartitionOverwrite/Guarded": func() W { return reference.PartitionOverwrite{Guarded: true} },
	"Aggregate":                  func() W { return reference.Aggregate{} },
}

func opts(extra ...properties.Option) []properties.Option {
	return append([]properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir())}, extra...)
}

// orders are the default records, each batch one whole day when
// partitioned.
func orders(partitioned bool) properties.Records[harness.Order] {
	if partitioned {
		return properties.Orders().PartitionBy(byDay)
	}
	return properties.Orders()
}

// TestReferenceWritersHold certifies every correct writer: every law it
// claims must hold (and its faults must have fired).
func TestReferenceWritersHold(t *testing.T) {
	for name, w := range correct {
		t.Run(name, func(t *testing.T) {
			properties.CertifyRecords(t, w, orders(partitioned[name]), opts()...)
		})
	}
}

// TestAntipatternsAreCaught is the test of the tester: each anti-pattern
// must be caught by every law its lesson says it violates, with a small
// counterexample, at 3 random trials for every seed of forEachSeed, found
// from scratch: Check writes no rapid fail files, so none is replayed.
// The smoke scenarios each law runs first make the verdict independent of
// the seed.
func TestAntipatternsAreCaught(t *testing.T) {
	for _, l := range antipatterns.Catalog() {
		for _, law := range l.Violates {
			t.Run(l.Name+"/"+string(law), func(t *testing.T) {
				t.Parallel() // each check has its own sandboxes; together they fill the slots one check's shrinking leaves idle
				forEachSeed(t, func(t *testing.T, seed properties.Option) {
					broken := l.Broken
					o := []properties.Option{properties.OnTarget(target), properties.ScenarioDir(os.TempDir()),
						properties.Claim(law), properties.Checks(3), seed}
					if l.ModuloSurrogateKeys {
						o = append(o, properties.Compare(trial.ModuloSurrogateKeys()))
					}
					lr := mustViolate(t, func() W { return broken }, orders(l.WholePartitions), law, o...)
					ce := lr.Counterexample
					t.Logf("caught at trial %d; shrunk to %d batch(es), %d record(s), %d deliveries: %s", lr.FirstFailure, ce.Batches, ce.Records, ce.Deliveries, ce.Summary)
					// After rapid's shrinking and the scenario simplification
					// no anti-pattern needs more (without simplification
					// DeleteInsertNoTx kept 4 batches and deliveries).
					if ce.Batches > 3 || ce.Deliveries > 3 {
						t.Errorf("the counterexample is not small: %d batch(es), %d deliveries:\n%s", ce.Batches, ce.Deliveries, ce)
					}
					if ce.Diff == "" && law != harness.Determinism {
						t.Errorf("no diff in the counterexample")
					}
					if !strings.Contains(ce.String(), "minimal scenario") {
						t.Errorf("report lacks the scenario:\n%s", ce)
					}
				})
			})
		}
	}
}

func indexOf(law harness.Law) int {
	for i, l := range harness.AllLaws {
		if l == law {
			return i
		}
	}
	return -1
}

// defaultChecks applies the suite's default budget unless the command line
// or IDEMCHECK_CHECKS chose one: rapid.checks 30 and rapid.shrinktime 10s.
func defaultChecks() {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	n := 30
	if v := os.Getenv("IDEMCHECK_CHECKS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if !set["rapid.checks"] {
		flag.Set("rapid.checks", strconv.Itoa(n))
	}
	if !set["rapid.shrinktime"] {
		flag.Set("rapid.shrinktime", "10s")
	}
}

// pickyUpsert is the reference upsert that refuses one customer's name,
// with or without faults: a writer that cannot take valid input.
type pickyUpsert struct{ reference.Upsert }

func (w pickyUpsert) Write(ctx context.Context, env *harness.Env, b harness.Batch[harness.Order]) error {
	for _, o := range b.Records {
		if o.Customer == "c-'4'" {
			return fmt.Errorf("customer %q rejected", o.Customer)
		}
	}
	return w.Upsert.Write(ctx, env, b)
}

// A writer that fails on some batch even without faults cannot be judged:
// Check says so, with a minimal such batch, instead of a verdict.
func TestCheckStopsAtAWriterThatFailsWithoutFaults(t *testing.T) {
	rep, err := properties.Check(context.Background(), func() W { return pickyUpsert{} },
		opts(properties.Laws(harness.ReplayIdempotence, harness.RetryEquivalence), properties.Checks(30))...)
	if !errors.Is(err, properties.ErrWriterFails) {
		t.Fatalf("Check's error %v does not wrap ErrWriterFails", err)
	}
	for _, want := range []string{"without any fault", `customer "c-'4'" rejected`, "(1 record(s); {", "Customer:c-'4'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	verdicts := map[harness.Law]properties.LawReport{}
	for _, l := range rep.Laws {
		verdicts[l.Law] = l
	}
	if l := verdicts[harness.ReplayIdempotence]; l.Verdict != properties.Inconclusive || l.Reason != err.Error() {
		t.Errorf("ReplayIdempotence: %s (%s)", l.Verdict, l.Reason)
	}
	if l := verdicts[harness.RetryEquivalence]; l.Verdict != properties.Inconclusive || !strings.HasPrefix(l.Reason, "not run: ") {
		t.Errorf("RetryEquivalence, after the writer failed: %s (%s)", l.Verdict, l.Reason)
	}
}

// Records share the writer's type parameter: a generator of other records
// beside a writer does not compile (testdata/wrongrecords passes
// Records[Reading] beside a Writer[harness.Order]).
func TestWrongRecordsDoNotCompile(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "build", "-o", os.DevNull, "./testdata/wrongrecords").CombinedOutput()
	if err == nil {
		t.Fatal("a generator of Reading beside a Writer[harness.Order] compiled")
	}
	if !strings.Contains(string(out), "Records[Reading] of properties.Draw(readings) does not match inferred type") {
		t.Errorf("the compiler refused for another reason:\n%s", out)
	}
}

// TestParallelPerCPU checks Parallel's default: two trials per CPU, or
// ParallelPerCPU's number, never more than the server's spare connections
// allow (a trial may hold three; the fault proxy keeps up to 32 idle).
func TestParallelPerCPU(t *testing.T) {
	ctx := context.Background()
	spare, err := target.SpareConnections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limit, cpus := max((spare-32)/3, 1), runtime.GOMAXPROCS(0)
	if limit < 2*cpus {
		t.Logf("the server has %d spare connections: at most %d trials at once", spare, limit)
	}
	for _, tc := range []struct {
		name string
		opts []properties.Option
		want int
	}{
		{"the default", nil, min(2*cpus, limit)},
		{"ParallelPerCPU(1)", []properties.Option{properties.ParallelPerCPU(1)}, min(cpus, limit)},
		{"ParallelPerCPU(3)", []properties.Option{properties.ParallelPerCPU(3)}, min(3*cpus, limit)},
	} {
		if got := properties.DefaultParallel(ctx, target, tc.opts...); got != tc.want {
			t.Errorf("%s: %d trials at once, want %d (%d CPUs)", tc.name, got, tc.want, cpus)
		}
	}
}
