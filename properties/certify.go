package properties

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/idemcheck/idemcheck/harness"
)

// Certify checks every law the writer claims, each as a parallel subtest
// named after the law, and skips the others with the reason. newWriter
// returns a fresh writer for each run. Unless OnTarget is given, it finds
// a PostgreSQL by the default chain and closes it when the subtests are
// done. Unless options say otherwise, it follows rapid's flags:
// -rapid.checks trials per law, -rapid.seed (0: a random seed, logged),
// -rapid.shrinktime. Like every parallel subtest, the laws run after the
// calling test function returns; they run together, and each subtest
// reports its law of the settled certificate, as Check's report would
// (a law NotRun there is skipped here, with the reason).
func Certify(t *testing.T, newWriter func() harness.Writer[harness.Order], opts ...Option) {
	t.Helper()
	certify(t, newWriter, Records[harness.Order]{}, opts)
}

// CertifyRecords is Certify for a writer whose records are drawn by recs
// (records other than harness.Order, or batches that are whole
// partitions). recs and the writer share R: a generator of other records
// does not compile.
func CertifyRecords[R any](t *testing.T, newWriter func() harness.Writer[R], recs Records[R], opts ...Option) {
	t.Helper()
	if recs.gen == nil {
		t.Fatal(errNoGenerator)
	}
	certify(t, newWriter, recs, opts)
}

// errNoGenerator is what CheckRecords says of a Records without one.
var errNoGenerator = errors.New("properties: the Records have no generator: make them with properties.Draw(gen) or properties.Orders()")

func certify[R any](t *testing.T, newWriter func() harness.Writer[R], recs Records[R], opts []Option) {
	t.Helper()
	c, closeTarget, err := start(context.Background(), newWriter, recs, append(rapidFlags(), opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeTarget)
	t.Logf("seed %d: properties.Seed(%d) or -rapid.seed=%d repeats these trials", c.set.seed, c.set.seed, c.set.seed)
	claimed := c.claims()
	selected := selectedLaws(c.set.laws)
	// Every subtest that runs (go test -run may leave some out) names its
	// law before it pauses (t.Parallel); the first to resume checks them
	// all, and every one reports its own law of the settled certificate,
	// as Check would.
	toRun := map[harness.Law]bool{}
	certificate := sync.OnceValue(func() []LawReport { return c.checkLaws(toRun) })
	for _, law := range harness.AllLaws {
		t.Run(string(law), func(t *testing.T) {
			t.Helper()
			if !claimed[law] {
				t.Skipf("%s does not claim %s (its Claims method leaves it out)", c.writer, law)
			}
			if !selected[law] {
				t.Skipf("%s is not among the laws selected with properties.Laws", law)
			}
			toRun[law] = true
			t.Parallel()
			lr := certificate()[indexOf(law)]
			if lr.Verdict == NotRun {
				t.Skip(lr.Reason)
			}
			t.Logf("%s: %s after %d trials; faults fired: %s; crashes in a transaction %d, before a COMMIT %d, after a commit %d; coverage: %s",
				law, lr.Verdict, lr.Trials, lr.FaultSummary(), lr.InTx, lr.AtCommit, lr.AfterCommit, orNone(lr.CoverageSummary()))
			switch lr.Verdict {
			case Violated:
				t.Errorf("%s", lr.Counterexample)
			case Inconclusive:
				t.Errorf("%s is inconclusive: %s", law, lr.Reason)
			}
		})
	}
}

// indexOf is law's place in harness.AllLaws.
func indexOf(law harness.Law) int {
	for i, l := range harness.AllLaws {
		if l == law {
			return i
		}
	}
	panic(fmt.Sprintf("properties: no law %q", law))
}

// start makes the checker of newWriter with opts and opens its target;
// the function returned closes what it opened.
func start[R any](ctx context.Context, newWriter func() harness.Writer[R], recs Records[R], opts []Option) (*checker[R], func(), error) {
	c, err := newChecker(ctx, newWriter, recs, opts)
	if err != nil {
		return nil, nil, err
	}
	closeTarget, err := c.openTarget()
	if err != nil {
		return nil, nil, err
	}
	return c, closeTarget, nil
}

// rapidFlags are Certify's defaults from rapid's command-line flags:
// -rapid.checks when given, -rapid.seed and -rapid.shrinktime (read,
// never set).
func rapidFlags() []Option {
	var opts []Option
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if n, err := strconv.Atoi(value("rapid.checks")); err == nil && n > 0 && explicit["rapid.checks"] {
		opts = append(opts, Checks(n)) // rapid's own default (100) is not a choice: the default budget applies
	}
	if seed, err := strconv.ParseUint(value("rapid.seed"), 10, 64); err == nil && seed > 0 {
		opts = append(opts, Seed(seed))
	}
	if d, err := time.ParseDuration(value("rapid.shrinktime")); err == nil && d > 0 {
		opts = append(opts, ShrinkTime(d))
	}
	return opts
}

// Check is Certify's error-returning twin, for tools: it checks every law
// (concurrently, Parallel trials at a time) and returns the certificate,
// its laws in harness.AllLaws order, and, when a law was violated or is
// inconclusive, an error joining every such law's message. Some findings
// settle the whole certificate and stop the other laws: when two clean
// runs differ, the other laws are NotRun (their verdicts would be noise);
// when the writer fails on some batch even without faults, no law can be
// judged, the laws are inconclusive and the error wraps ErrWriterFails
// and names a small such batch; when the server goes away or restarts,
// every law is inconclusive (which laws finished before it depends on
// timing) and the error wraps trial.ErrTargetGone. settleLaws is that
// rule, the same for Certify and Merge. With FailFast the laws run one after another
// (each law's trials still Parallel at a time) and those after the first
// violated law are NotRun. Concurrent Check calls are independent, each
// with its own settings.
func Check(ctx context.Context, newWriter func() harness.Writer[harness.Order], opts ...Option) (*Report, error) {
	return check(ctx, newWriter, Records[harness.Order]{}, opts)
}

// CheckRecords is Check for a writer whose records are drawn by recs
// (records other than harness.Order, or batches that are whole
// partitions). recs and the writer share R: a generator of other records
// does not compile.
func CheckRecords[R any](ctx context.Context, newWriter func() harness.Writer[R], recs Records[R], opts ...Option) (*Report, error) {
	if recs.gen == nil {
		return nil, errNoGenerator
	}
	return check(ctx, newWriter, recs, opts)
}

func check[R any](ctx context.Context, newWriter func() harness.Writer[R], recs Records[R], opts []Option) (*Report, error) {
	c, closeTarget, err := start(ctx, newWriter, recs, opts)
	if err != nil {
		return nil, err
	}
	defer closeTarget()
	claimed, selected := c.claims(), selectedLaws(c.set.laws)
	toRun := map[harness.Law]bool{}
	for _, law := range harness.AllLaws {
		toRun[law] = claimed[law] && selected[law]
	}
	rep := &Report{Writer: c.writer, Target: c.tg.String(), Seed: c.set.seed, Checks: c.set.checks, MinChecks: c.set.minChecks, Shard: c.set.shard,
		MinCoverage: c.set.minCoverage(), Laws: c.checkLaws(toRun)}
	rep.Phases = c.timeSpent()
	return rep, lawsError(rep.Laws)
}

// Replay re-runs a saved counterexample exactly: the same scenario against
// the law it violated. It fails t with the same report when the law is
// still violated, and passes when it now holds.
func Replay[R any](t *testing.T, newWriter func() harness.Writer[R], file string, opts ...Option) {
	t.Helper()
	lr, err := ReplayFile(context.Background(), newWriter, file, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if lr.Verdict == Violated {
		t.Fatalf("%s", lr.Counterexample)
	}
	t.Logf("%s holds on the replayed scenario of %s", lr.Law, file)
}

// ReplayFile is Replay's error-returning twin: it returns the law's verdict
// on the saved scenario (Held or Violated, with the counterexample).
func ReplayFile[R any](ctx context.Context, newWriter func() harness.Writer[R], file string, opts ...Option) (*LawReport, error) {
	sf, err := LoadScenario[R](file)
	if err != nil {
		return nil, err
	}
	c, closeTarget, err := start(ctx, newWriter, Records[R]{}, opts)
	if err != nil {
		return nil, err
	}
	defer closeTarget()
	f, _, err := c.judge(sf.Law, sf.Scenario)
	if err != nil {
		return nil, err
	}
	lr := &LawReport{Law: sf.Law, Verdict: Held, Trials: 1}
	if f != nil {
		lr.Verdict = Violated
		ce := c.counterexample(sf.Law, sf.Scenario, f, false)
		ce.ScenarioFile = file
		ce.Replay = "idemcheck replay " + file
		lr.Counterexample = ce
	}
	return lr, nil
}

func orNone(s string) string {
	if s == "" {
		return "none (no crash points)"
	}
	return s
}
