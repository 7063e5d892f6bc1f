package properties

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
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
// calling test function returns.
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
	for _, law := range harness.AllLaws {
		t.Run(string(law), func(t *testing.T) {
			t.Helper()
			if !claimed[law] {
				t.Skipf("%s does not claim %s (its Claims method leaves it out)", c.writer, law)
			}
			if !selected[law] {
				t.Skipf("%s is not among the laws selected with properties.Laws", law)
			}
			t.Parallel()
			lr := c.checkLaw(law)
			if lr.halted {
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
// -rapid.checks, -rapid.seed and -rapid.shrinktime (read, never set).
func rapidFlags() []Option {
	var opts []Option
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	if n, err := strconv.Atoi(value("rapid.checks")); err == nil && n > 0 {
		opts = append(opts, Checks(n))
	}
	if seed, err := strconv.ParseUint(value("rapid.seed"), 10, 64); err == nil && seed > 0 {
		opts = append(opts, Seed(seed))
	}
	if d, err := time.ParseDuration(value("rapid.shrinktime")); err == nil && d > 0 {
		opts = append(opts, ShrinkTime(d))
	}
	return opts
}

func selectedLaws(laws []harness.Law) map[harness.Law]bool {
	sel := map[harness.Law]bool{}
	if len(laws) == 0 {
		laws = harness.AllLaws
	}
	for _, l := range laws {
		sel[l] = true
	}
	return sel
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
// the laws not done are inconclusive and the error wraps
// trial.ErrTargetGone. With FailFast the laws run one after another
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
	rep := &Report{Writer: c.writer, Target: c.tg.String(), Seed: c.set.seed, Checks: c.set.checks, Shard: c.set.shard,
		MinCoverage: c.set.minCoverage(), Laws: make([]LawReport, len(harness.AllLaws))}
	claimed := c.claims()
	selected := selectedLaws(c.set.laws)
	var wg sync.WaitGroup
	for i, law := range harness.AllLaws {
		if !claimed[law] || !selected[law] {
			why := c.writer + " does not claim it"
			if claimed[law] {
				why = "not selected"
			}
			rep.Laws[i] = LawReport{Law: law, Verdict: NotClaimed, Reason: why}
			continue
		}
		if c.set.failFast {
			rep.Laws[i] = c.checkLaw(law) // in order: the first violated law is the one the order names
			continue
		}
		wg.Go(func() { rep.Laws[i] = c.checkLaw(law) })
	}
	wg.Wait()
	rep.Phases = c.phases
	if c.reuse != nil { // restores still under way end with the check
		rep.Phases.NoReuse, rep.Phases.Restore = c.reuse.Disabled(), c.reuse.Restoring()
	}
	return rep, settleReport(rep)
}

// settleReport applies the findings that settle a whole certificate to
// the laws of rep (see Check) and returns Check's error.
func settleReport(rep *Report) error {
	var gone error
	var fails *writerFailure
	nondet, failed := -1, -1
	for i, lr := range rep.Laws {
		if lr.gone != nil && gone == nil {
			gone = lr.gone
		}
		if lr.writerFails != nil && fails == nil {
			fails, failed = lr.writerFails, i
		}
		if lr.nondet != nil && (nondet < 0 || lr.Law == harness.Determinism) {
			nondet = i // Determinism's own report, when it made one
		}
	}
	notDone := func(lr *LawReport) bool { return lr.halted || lr.Verdict == NotRun }
	for i := range rep.Laws {
		lr := &rep.Laws[i]
		switch {
		case lr.Verdict == NotClaimed:
		case gone != nil && notDone(lr):
			lr.Verdict, lr.Reason = Inconclusive, "not run: "+gone.Error()
		case fails != nil && i == failed:
			lr.Verdict, lr.Reason = Inconclusive, fails.Error()
		case fails != nil:
			// Every law would hit the same batch (trial i of every law
			// draws the same batches): the first law in order reports it.
			lr.Verdict, lr.Reason = Inconclusive, "not run: "+fails.Error()
		case nondet >= 0 && i != nondet:
			// Once two clean runs differ, every other verdict is noise,
			// whether or not its law was done.
			*lr = notRun(lr.Law, nondeterministic(rep.Laws[nondet].nondet))
		}
	}
	if gone != nil {
		return gone // wraps trial.ErrTargetGone
	}
	if fails != nil {
		return fails // wraps ErrWriterFails
	}
	var errs []error
	for _, lr := range rep.Laws {
		switch lr.Verdict {
		case Violated:
			errs = append(errs, fmt.Errorf("%s", lr.Counterexample))
		case Inconclusive:
			errs = append(errs, fmt.Errorf("%s inconclusive: %s", lr.Law, lr.Reason))
		}
	}
	return errors.Join(errs...)
}

// notRun is the report of a law not run (or stopped) for reason: no
// trial counts, since what it ran before it stopped decides nothing and
// depends on timing.
func notRun(law harness.Law, reason string) LawReport {
	return LawReport{Law: law, Verdict: NotRun, Reason: reason}
}

// nondeterministic is why the laws after a writer's clean runs differed
// are not run.
func nondeterministic(cols []string) string {
	return "the writer is nondeterministic (two clean runs of the same batches differ" + settle(cols) + "); every other verdict would be noise"
}

// settle names the columns two clean runs differ in and the comparison
// option that would leave them out.
func settle(cols []string) string {
	if len(cols) == 0 {
		return ""
	}
	return " in " + strings.Join(cols, ", ") + "; if they are load stamps, compare without them: trial.IgnoreColumns(\"" +
		strings.Join(cols, "\", \"") + "\"), or --ignore-column " + strings.Join(cols, " --ignore-column ")
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
