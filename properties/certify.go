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

	"github.com/idemcheck/idemcheck/harness"
)

// Certify checks every law the writer claims, each as a subtest named
// after the law, and skips the others with the reason. newWriter returns a
// fresh writer for each run. Unless OnTarget is given, it finds a
// PostgreSQL by the default chain and closes it at the end.
func Certify[R any](t *testing.T, newWriter func() harness.Writer[R], opts ...Option) {
	t.Helper()
	ctx := context.Background()
	c, err := newChecker(ctx, newWriter, opts)
	if err != nil {
		t.Fatal(err)
	}
	closeTarget, err := c.openTarget()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeTarget)
	claimed := c.claims()
	selected := selectedLaws(c.set.laws)
	notRun := ""
	for _, law := range harness.AllLaws {
		t.Run(string(law), func(t *testing.T) {
			if !claimed[law] {
				t.Skipf("%s does not claim %s (its Claims method leaves it out)", c.writer, law)
			}
			if !selected[law] {
				t.Skipf("%s is not among the laws selected with properties.Laws", law)
			}
			if notRun != "" {
				t.Skip(notRun)
			}
			lr := c.checkLaw(t, law)
			if lr.nondet != nil {
				notRun = nondeterministic(lr.nondet)
			}
			t.Logf("%s: %s after %d trials; faults fired: %s; crashes in a transaction %d, before a COMMIT %d, after a commit %d; coverage: %s",
				law, lr.Verdict, lr.Trials, lr.FaultSummary(), lr.InTx, lr.AtCommit, lr.AfterCommit, orNone(lr.CoverageSummary()))
			if lr.Verdict == Inconclusive && !t.Failed() {
				t.Errorf("%s is inconclusive: %s", law, lr.Reason)
			}
		})
	}
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
// and returns the certificate and, when a law was violated or is
// inconclusive, an error joining every such law's message. When the writer
// fails on some batch even without faults, no law can be judged: Check
// stops there, the remaining laws are inconclusive, and the error wraps
// ErrWriterFails and names a minimal such batch. When the server goes away
// or restarts, Check stops there too and the error wraps
// harness.ErrTargetGone: no law is held on such a run. Checks sets the
// trials per law (default 100).
func Check[R any](ctx context.Context, newWriter func() harness.Writer[R], opts ...Option) (*Report, error) {
	c, err := newChecker(ctx, newWriter, opts)
	if err != nil {
		return nil, err
	}
	closeTarget, err := c.openTarget()
	if err != nil {
		return nil, err
	}
	defer closeTarget()
	rep := &Report{Writer: c.writer, Target: c.tg.String()}
	claimed := c.claims()
	selected := selectedLaws(c.set.laws)
	var errs []error
	var fails *writerFailure
	var gone error
	notRun := "" // why the remaining laws are not run
	for _, law := range harness.AllLaws {
		if !claimed[law] || !selected[law] {
			why := c.writer + " does not claim it"
			if claimed[law] {
				why = "not selected"
			}
			rep.Laws = append(rep.Laws, LawReport{Law: law, Verdict: NotClaimed, Reason: why})
			continue
		}
		if gone != nil {
			rep.Laws = append(rep.Laws, LawReport{Law: law, Verdict: Inconclusive, Reason: "not run: " + gone.Error()})
			continue
		}
		if notRun != "" {
			rep.Laws = append(rep.Laws, LawReport{Law: law, Verdict: NotRun, Reason: notRun})
			continue
		}
		if fails != nil {
			rep.Laws = append(rep.Laws, LawReport{Law: law, Verdict: Inconclusive, Reason: "not run: " + fails.Error()})
			continue
		}
		tb := &recorder{name: c.writer + "/" + string(law)}
		lr := c.checkLaw(tb, law)
		rep.Laws = append(rep.Laws, lr)
		if lr.gone != nil {
			// No verdict on a server that went away can be trusted.
			gone = lr.gone
			continue
		}
		if lr.writerFails != nil {
			// Every other law would hit the same batch: stop here.
			fails = lr.writerFails
			continue
		}
		switch lr.Verdict {
		case Violated:
			errs = append(errs, fmt.Errorf("%s", lr.Counterexample))
			switch {
			case lr.nondet != nil:
				notRun = nondeterministic(lr.nondet)
			case c.set.failFast:
				notRun = "fail-fast stopped at the first violated law, " + string(law)
			}
		case Inconclusive:
			if lr.Reason == "" || lr.Reason == failedWithoutCounterexample {
				lr.Reason = "the property failed without a counterexample: " + tb.message()
				rep.Laws[len(rep.Laws)-1].Reason = lr.Reason
			}
			errs = append(errs, fmt.Errorf("%s inconclusive: %s", law, lr.Reason))
		}
	}
	if gone != nil {
		return rep, gone // wraps harness.ErrTargetGone
	}
	if fails != nil {
		return rep, fails // wraps ErrWriterFails
	}
	return rep, errors.Join(errs...)
}

// rapidMu serializes the runs of rapid.Check in this process. rapid reads
// its settings (checks, seed, shrink time, fail files) only from its
// command-line flags, which are process-global; a Check that asks for its
// own checks or seed sets those flags, and must not change them under
// another check that is running. So every law's random trials (and the
// flags they read) run one law at a time per process, each with its own
// settings; smoke scenarios, exhaustive mode and everything else of a
// Check run concurrently.
var rapidMu sync.Mutex

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
	return " in " + strings.Join(cols, ", ") + "; if they are load stamps, compare without them: harness.IgnoreColumns(\"" +
		strings.Join(cols, "\", \"") + "\"), or --ignore-column " + strings.Join(cols, " --ignore-column ")
}

// withRapid runs fn holding rapidMu, with rapid's flags set to checks
// (when > 0) and seed (when > 0), fail files off, restoring them after.
func withRapid(checks int, seed uint64, fn func()) error {
	rapidMu.Lock()
	defer rapidMu.Unlock()
	if !testing.Testing() && flag.Lookup("test.short") == nil {
		testing.Init() // rapid asks testing.Short(), outside tests too
	}
	if !flag.Parsed() {
		_ = flag.CommandLine.Parse(nil) // a tool parses its own arguments
	}
	set := map[string]string{"rapid.nofailfile": "true"} // Check's replay format is its scenario files
	if checks > 0 {
		set["rapid.checks"] = strconv.Itoa(checks)
	}
	if seed > 0 {
		set["rapid.seed"] = strconv.FormatUint(seed, 10)
	}
	old := map[string]string{}
	for name, v := range set {
		old[name] = flag.Lookup(name).Value.String()
		if err := flag.Set(name, v); err != nil {
			return err
		}
	}
	defer func() {
		for name, v := range old {
			_ = flag.Set(name, v)
		}
	}()
	fn()
	return nil
}

// recorder is the rapid.TB of Check: it keeps what rapid says.
type recorder struct {
	mu     sync.Mutex
	name   string
	failed bool
	logs   []string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return r.name }
func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}
func (r *recorder) Log(args ...any)                   { r.Logf("%s", fmt.Sprint(args...)) }
func (r *recorder) Skipf(format string, args ...any)  { r.Logf(format, args...) }
func (r *recorder) Skip(args ...any)                  { r.Log(args...) }
func (r *recorder) SkipNow()                          {}
func (r *recorder) Errorf(format string, args ...any) { r.Logf(format, args...); r.Fail() }
func (r *recorder) Error(args ...any)                 { r.Log(args...); r.Fail() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...) }
func (r *recorder) FailNow()                          { r.Fail() }
func (r *recorder) Fail() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
}
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *recorder) message() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.logs) == 0 {
		return ""
	}
	return r.logs[len(r.logs)-1]
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
	c, err := newChecker(ctx, newWriter, opts)
	if err != nil {
		return nil, err
	}
	closeTarget, err := c.openTarget()
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
