package properties

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/strategies"
	"pgregory.net/rapid"
)

// checker runs the laws for one writer.
type checker[R any] struct {
	ctx       context.Context
	set       settings
	tg        *harness.Target
	newWriter func() harness.Writer[R]
	writer    string
	batches   *rapid.Generator[[]harness.Batch[R]]

	mu    sync.Mutex
	clean map[string]*harness.State // clean final states by batches
	kept  *harness.Sandbox          // the latest failing trial's sandbox
}

func newChecker[R any](ctx context.Context, newWriter func() harness.Writer[R], opts []Option) (*checker[R], error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	c := &checker[R]{ctx: ctx, set: s, tg: s.target, newWriter: newWriter, clean: map[string]*harness.State{}}
	c.writer = s.writerName
	if c.writer == "" {
		c.writer = reflect.TypeOf(newWriter()).String()
	}
	records, ok := s.records.(*rapid.Generator[R])
	if s.records == nil {
		gen, isOrder := any(strategies.Orders()).(*rapid.Generator[R])
		if !isOrder {
			var zero R
			return nil, fmt.Errorf("properties: records of type %T need a generator: pass properties.Records(gen)", zero)
		}
		records, ok = gen, true
	}
	if !ok {
		var zero R
		return nil, fmt.Errorf("properties: Records(%T) does not draw the writer's records (%T)", s.records, zero)
	}
	c.batches = strategies.Batches(records, s.limits)
	if s.partition != nil {
		part, ok := s.partition.(func(R) string)
		if !ok {
			var zero R
			return nil, fmt.Errorf("properties: PartitionBy(%T) does not take the writer's records (%T)", s.partition, zero)
		}
		c.batches = strategies.PartitionBatches(records, part, s.limits)
	}
	return c, nil
}

// openTarget finds a PostgreSQL by the default chain unless OnTarget gave
// one, and returns what closes what it opened.
func (c *checker[R]) openTarget() (func(), error) {
	if c.tg != nil {
		return func() {}, nil
	}
	tg, err := harness.OpenTarget(c.ctx)
	if err != nil {
		return nil, err
	}
	c.tg = tg
	return func() { tg.Close() }, nil
}

// claims returns the laws the writer claims (or those Claim names).
func (c *checker[R]) claims() map[harness.Law]bool {
	out := map[harness.Law]bool{}
	laws := harness.AllLaws
	if cl, ok := c.newWriter().(harness.Claimer); ok {
		laws = cl.Claims()
	}
	if c.set.claim != nil {
		laws = c.set.claim
	}
	for _, l := range laws {
		out[l] = true
	}
	return out
}

// finding is a violation found by judging one scenario.
type finding struct {
	summary string
	diff    *harness.Diff
	obs     *harness.Observation
}

// tally accumulates a law's coverage over its trials.
type tally struct {
	mu                          sync.Mutex
	trials                      int
	faults                      map[string]int
	inTx, atCommit, afterCommit int
	last                        *Counterexample
	inconclusive                string
	confirmed                   bool // the first failure was re-run and reproduced
	firstFailure                int  // the trial that first failed (before shrinking)
	nondeterministic            bool // its clean runs differ: findings are about that
	writerFails                 *writerFailure
	lastScenario                any // harness.Scenario[R] of last
	lastFinding                 *finding
}

func (t *tally) add(sc deliveriesInfo, obs *harness.Observation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trials++
	if t.faults == nil {
		t.faults = map[string]int{}
	}
	if obs != nil {
		for k, n := range obs.Faults {
			if n > 0 {
				t.faults[string(k)]++
			}
		}
		if obs.LostAcks > 0 {
			t.faults["lost-ack"]++
		}
		if obs.Zombies > 0 {
			t.faults["zombie"]++
		}
		t.inTx += obs.InTx
		t.atCommit += obs.AtCommit
		t.afterCommit += obs.AfterCmt
	}
	if sc.replayed {
		t.faults["replay"]++
	}
	if sc.reordered {
		t.faults["reorder"]++
	}
}

type deliveriesInfo struct{ replayed, reordered bool }

func info(ds []harness.Delivery) deliveriesInfo {
	var in deliveriesInfo
	seen := map[int]bool{}
	last := -1
	for _, d := range ds {
		if seen[d.Batch] {
			in.replayed = true
		}
		if d.Batch < last {
			in.reordered = true
		}
		seen[d.Batch] = true
		last = d.Batch
	}
	return in
}

// draw draws a scenario for law.
func (c *checker[R]) draw(t *rapid.T, law harness.Law) harness.Scenario[R] {
	batches := c.batches.Draw(t, "batches")
	n := len(batches)
	lim := c.set.limits
	var ds []harness.Delivery
	switch law {
	case harness.ReplayIdempotence:
		ds = strategies.Replays(n, 3).Draw(t, "deliveries")
	case harness.RetryEquivalence, harness.CrashAtomicity:
		ds = strategies.InOrder(n, strategies.Attempts(lim, 2)).Draw(t, "deliveries")
	case harness.ExactlyOnceEffect:
		ds = strategies.LostAcks(n).Draw(t, "deliveries")
	case harness.OrderIndependence:
		ds = strategies.Shuffled(n).Draw(t, "deliveries")
	case harness.ZombieSafety:
		ds = strategies.Zombies(n, lim).Draw(t, "deliveries")
	default: // Determinism, IncrementalEquivalence: the batches alone
		ds = harness.CleanScenario(batches).Deliveries
	}
	return harness.Scenario[R]{Batches: batches, Deliveries: ds}
}

func (c *checker[R]) runOpts() []harness.RunOption {
	var o []harness.RunOption
	if c.set.maxAttempts > 0 {
		o = append(o, harness.MaxAttempts(c.set.maxAttempts))
	}
	if len(c.set.sandbox) > 0 {
		o = append(o, harness.WithSandbox(c.set.sandbox...))
	}
	return o
}

// run plays a scenario in a fresh sandbox.
func (c *checker[R]) run(sc harness.Scenario[R]) (*harness.Observation, error) {
	return harness.Run(c.ctx, c.tg, c.newWriter(), sc, c.runOpts()...)
}

// cleanState is the final state of the clean run of batches, cached.
func (c *checker[R]) cleanState(batches []harness.Batch[R]) (*harness.State, error) {
	key := batchesKey(batches)
	c.mu.Lock()
	st, ok := c.clean[key]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := c.freshClean(batches)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clean[key] = st
	c.mu.Unlock()
	return st, nil
}

// freshClean runs batches cleanly, uncached, and drops the sandbox.
func (c *checker[R]) freshClean(batches []harness.Batch[R]) (*harness.State, error) {
	obs, err := c.run(harness.CleanScenario(batches))
	if err != nil {
		return nil, err
	}
	defer obs.Sandbox.Drop(context.WithoutCancel(c.ctx))
	if len(obs.Exhausted) > 0 {
		return nil, &writerFailure{batch: batchOf(batches, obs.Exhausted[0]), err: lastErr(obs)}
	}
	return obs.Final, nil
}

// ErrWriterFails means the writer fails on some batch even without any
// fault, on every attempt: no law can be judged until it gets the batch
// through. Check's error wraps it.
var ErrWriterFails = errors.New("the writer fails deterministically")

// writerFailure is a batch the writer fails on in a clean run.
type writerFailure struct {
	batch string // the batch, rendered
	err   string // the last attempt's error
}

func (w *writerFailure) Error() string {
	return fmt.Sprintf("%v on %s, without any fault: %s", ErrWriterFails, w.batch, w.err)
}

func (w *writerFailure) Unwrap() error { return ErrWriterFails }

// batchOf renders the batch with id for a message: its id and records.
func batchOf[R any](batches []harness.Batch[R], id string) string {
	for _, b := range batches {
		if b.ID != id {
			continue
		}
		s := fmt.Sprintf("batch %s (%d record(s)", id, len(b.Records))
		for i, r := range b.Records {
			if i == 3 {
				s += ", ..."
				break
			}
			s += fmt.Sprintf("; %+v", r)
		}
		return s + ")"
	}
	return "batch " + id
}

func lastErr(obs *harness.Observation) string {
	for i := len(obs.Steps) - 1; i >= 0; i-- {
		if e := obs.Steps[i].Err; e != "" {
			return e
		}
	}
	return ""
}

func batchesKey[R any](batches []harness.Batch[R]) string {
	b, _ := json.Marshal(batches)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (c *checker[R]) compare(a, b *harness.State) (*harness.Diff, error) {
	return harness.Compare(c.ctx, a, b, c.set.compare...)
}

// judge runs sc for law and returns a finding when the law is violated.
// The observation's sandbox is dropped unless the finding keeps it.
func (c *checker[R]) judge(law harness.Law, sc harness.Scenario[R]) (*finding, *harness.Observation, error) {
	switch law {
	case harness.Determinism:
		a, err := c.freshClean(sc.Batches)
		if err != nil {
			return nil, nil, err
		}
		b, err := c.freshClean(sc.Batches)
		if err != nil {
			return nil, nil, err
		}
		d, err := c.compare(a, b)
		if err != nil || d.Equal {
			return nil, nil, err
		}
		return &finding{summary: "two clean runs of the same batches differ " + columnsOf(d), diff: d}, nil, nil
	case harness.IncrementalEquivalence:
		want, err := c.cleanState(sc.Batches)
		if err != nil {
			return nil, nil, err
		}
		got, err := c.freshClean([]harness.Batch[R]{merge(sc.Batches)})
		if err != nil {
			return nil, nil, err
		}
		d, err := c.compare(want, got)
		if err != nil || d.Equal {
			return nil, nil, err
		}
		return &finding{summary: "all records applied as one batch (a full refresh) differ from the batches applied one by one: " + tables(d), diff: d}, nil, nil
	}

	want, err := c.cleanState(sc.Batches)
	if err != nil {
		return nil, nil, err
	}
	obs, err := c.run(sc)
	if err != nil {
		return nil, nil, err
	}
	f, err := c.verdict(law, sc, want, obs)
	if err != nil || f == nil {
		obs.Sandbox.Drop(context.WithoutCancel(c.ctx))
		return nil, obs, err
	}
	f.obs = obs
	return f, obs, nil
}

func (c *checker[R]) verdict(law harness.Law, sc harness.Scenario[R], want *harness.State, obs *harness.Observation) (*finding, error) {
	if len(obs.Exhausted) > 0 {
		return &finding{summary: fmt.Sprintf("the writer fails on every attempt of batch %s (attempt bound reached): %s", obs.Exhausted[0], lastErr(obs))}, nil
	}
	if law == harness.CrashAtomicity {
		for _, cr := range obs.Crashes {
			var prefix []harness.Batch[R]
			for _, d := range cr.Acked {
				prefix = append(prefix, sc.Batches[sc.Deliveries[d].Batch])
			}
			before, err := c.cleanState(prefix)
			if err != nil {
				return nil, err
			}
			after, err := c.cleanState(append(prefix, sc.Batches[cr.Batch]))
			if err != nil {
				return nil, err
			}
			d1, err := c.compare(before, cr.State)
			if err != nil || d1.Equal {
				continue
			}
			d2, err := c.compare(after, cr.State)
			if err != nil {
				return nil, err
			}
			if d2.Equal {
				continue
			}
			return &finding{summary: fmt.Sprintf("after %s in attempt %d of batch %s, the state is neither the state before the batch nor after it: %s (against the state before the batch)",
				cr.Fault, cr.Attempt, sc.Batches[cr.Batch].ID, tables(d1)), diff: d1}, nil
		}
	}
	d, err := c.compare(want, obs.Final)
	if err != nil || d.Equal {
		return nil, err
	}
	return &finding{summary: describe(law, sc, d), diff: d}, nil
}

// kindOf classifies a finding in a few stable words, the same for every
// instance of one kind of failure, so rapid's shrinker keeps to it.
func kindOf(f *finding) string {
	switch {
	case f.diff == nil:
		return "the writer cannot get a batch through"
	case strings.HasPrefix(f.summary, "the writer is nondeterministic"):
		return "the writer is nondeterministic"
	}
	return "the state differs from the clean run (details in the log)"
}

// describe says in one sentence what went wrong.
func describe[R any](law harness.Law, sc harness.Scenario[R], d *harness.Diff) string {
	what := tables(d)
	if d.OnlySurrogateKeys {
		what += " (only in surrogate key columns)"
	}
	switch law {
	case harness.ReplayIdempotence:
		return "replaying batches changed the result: " + what
	case harness.RetryEquivalence:
		return "retrying after crashes gave another result than one clean run: " + what
	case harness.CrashAtomicity:
		return "every crash left a clean state, but after the retries the final state differs from one clean run: " + what
	case harness.ExactlyOnceEffect:
		return "a batch whose ack was lost took effect more or less than once: " + what
	case harness.OrderIndependence:
		return "delivering the batches in another order (with duplicates) changed the result: " + what
	case harness.ZombieSafety:
		return "a retry overlapping a stalled earlier attempt changed the result: " + what
	}
	return what
}

// tables joins the per-table summaries of a diff.
func tables(d *harness.Diff) string {
	var parts []string
	for _, t := range d.Tables {
		parts = append(parts, t.Summary())
	}
	return strings.Join(parts, "; ")
}

// columnsOf names the columns in which two clean runs differ.
func columnsOf(d *harness.Diff) string {
	cols := map[string]bool{}
	var names []string
	for _, t := range d.Tables {
		for _, ch := range t.Changed {
			for _, c := range ch.Columns {
				if n := t.Table + "." + c; !cols[n] {
					cols[n] = true
					names = append(names, n)
				}
			}
		}
	}
	if len(names) == 0 {
		return "(" + tables(d) + ")"
	}
	return "in columns " + strings.Join(names, ", ") + ": the writer is nondeterministic (now(), random ids, unordered aggregates?)"
}

// merge makes one batch of all records, for the full refresh.
func merge[R any](batches []harness.Batch[R]) harness.Batch[R] {
	all := harness.Batch[R]{ID: "all"}
	for _, b := range batches {
		all.Records = append(all.Records, b.Records...)
		all.LogicalTime = b.LogicalTime
	}
	return all
}

// keep keeps the sandbox of a failing trial, dropping the one kept before,
// so only the latest (after shrinking: the minimal) stays.
func (c *checker[R]) keep(sb *harness.Sandbox) {
	c.mu.Lock()
	prev := c.kept
	c.kept = sb
	c.mu.Unlock()
	sb.Keep()
	if prev != nil && prev != sb {
		c.unkeep(prev)
	}
}

func (c *checker[R]) unkeep(sb *harness.Sandbox) {
	sb.Unkeep()
	_ = sb.Drop(context.WithoutCancel(c.ctx))
}

// trial is one rapid trial of law.
func (c *checker[R]) trial(t *rapid.T, law harness.Law, tl *tally) {
	sc := c.draw(t, law)
	f, obs, err := c.judge(law, sc)
	var wf *writerFailure
	if errors.As(err, &wf) {
		// Shrunk like a violation (rapid keeps to one message), so the
		// batch reported is a minimal one the writer cannot take.
		tl.mu.Lock()
		tl.writerFails = wf
		tl.mu.Unlock()
		t.Logf("%v", wf)
		t.Fatalf("%s: %v", law, ErrWriterFails)
	}
	if err != nil {
		t.Fatalf("%s: the trial could not be run: %v", law, err)
	}
	tl.add(info(sc.Deliveries), obs)
	tl.mu.Lock()
	nondet := tl.nondeterministic
	tl.mu.Unlock()
	if f != nil && nondet && law != harness.Determinism {
		// Once the writer is known to be nondeterministic, every finding is
		// reported as that.
		f.summary = "the writer is nondeterministic: two clean runs of the same batches differ; fix that first, every other verdict is noise (" + f.summary + ")"
	}
	if c.set.progress != nil {
		tl.mu.Lock()
		faults := map[string]int{}
		for k, v := range tl.faults {
			faults[k] = v
		}
		n := tl.trials
		tl.mu.Unlock()
		c.set.progress(law, n, faults)
	}
	if f == nil {
		return
	}
	// Confirm the first failure before reporting: one that does not
	// reproduce is nondeterminism of the writer or the environment, not a
	// violation. (Shrinking candidates are not confirmed again: rapid
	// re-runs the final one itself.)
	tl.mu.Lock()
	first := !tl.confirmed
	tl.confirmed = true
	if tl.firstFailure == 0 {
		tl.firstFailure = tl.trials
	}
	tl.mu.Unlock()
	if first {
		c.confirm(t, law, sc, f, tl)
	}
	ce := c.counterexample(law, sc, f, true)
	tl.mu.Lock()
	tl.last, tl.lastScenario, tl.lastFinding = ce, sc, f
	tl.mu.Unlock()
	// rapid shrinks only while the failure message stays the same, so the
	// message is the law alone and the details go to the log.
	t.Logf("%s", ce)
	t.Fatalf("%s violated: %s", law, kindOf(f))
}

// confirm re-runs a first failure, and checks the writer's determinism on
// its batches, before it is reported.
func (c *checker[R]) confirm(t *rapid.T, law harness.Law, sc harness.Scenario[R], f *finding, tl *tally) {
	again, _, err := c.judge(law, sc)
	if err != nil {
		t.Fatalf("%s: the trial could not be re-run: %v", law, err)
	}
	if again == nil {
		if f.obs != nil {
			f.obs.Sandbox.Drop(context.WithoutCancel(c.ctx))
		}
		tl.mu.Lock()
		tl.inconclusive = "a failing trial did not fail again when re-run: the writer or the environment is nondeterministic (" + f.summary + ")"
		tl.confirmed = false
		tl.mu.Unlock()
		t.SkipNow() // not a violation: the trial does not count
	}
	if again.obs != nil {
		again.obs.Sandbox.Drop(context.WithoutCancel(c.ctx))
	}
	if law != harness.Determinism {
		// Determinism first: if two clean runs differ, that is the finding.
		a, errA := c.freshClean(sc.Batches)
		b, errB := c.freshClean(sc.Batches)
		if errA == nil && errB == nil {
			if d, err := c.compare(a, b); err == nil && !d.Equal {
				f.summary = "the writer is nondeterministic: two clean runs of the same batches differ " + columnsOf(d) + "; fix that first, every other verdict is noise"
				f.diff = d
				tl.mu.Lock()
				tl.nondeterministic = true
				tl.mu.Unlock()
			}
		}
	}
}

func (c *checker[R]) counterexample(law harness.Law, sc harness.Scenario[R], f *finding, save bool) *Counterexample {
	ce := &Counterexample{Law: law, Summary: f.summary, Scenario: sc.String(), Batches: len(sc.Batches), Deliveries: len(sc.Deliveries)}
	for _, b := range sc.Batches {
		ce.Records += len(b.Records)
	}
	if f.diff != nil {
		ce.Diff = f.diff.String()
	}
	if f.obs != nil {
		var b strings.Builder
		for _, s := range f.obs.Steps {
			fmt.Fprintln(&b, s)
			for _, e := range s.Events {
				fmt.Fprintln(&b, "   ", e)
			}
		}
		ce.Timeline = b.String()
		ce.Steps = f.obs.Steps
		c.keep(f.obs.Sandbox)
		ce.Sandbox = f.obs.Sandbox.String()
		if w := c.tg.Way(); w != harness.WayURL {
			ce.Sandbox += fmt.Sprintf(" (on the %s way's throwaway server, gone when this run ends; set %s to keep it)", w, harness.EnvDatabaseURL)
		}
	}
	if !save {
		return ce
	}
	if file, err := saveScenario(c.set.scenarioDir, c.writer, law, sc); err == nil {
		ce.ScenarioFile = file
		ce.Replay = fmt.Sprintf("properties.Replay(t, newWriter, %q), or: idemcheck replay %s", file, file)
	} else {
		ce.Replay = "the scenario could not be saved: " + err.Error()
	}
	return ce
}

// checkLaw runs law's property with rapid on tb and reports it.
func (c *checker[R]) checkLaw(tb rapid.TB, law harness.Law) LawReport {
	start := time.Now()
	tl := &tally{}
	rapid.Check(tb, func(t *rapid.T) { c.trial(t, law, tl) })
	if sc, ok := tl.lastScenario.(harness.Scenario[R]); ok && tl.writerFails == nil && !tl.nondeterministic {
		if small, f := c.simplify(law, sc, tl.lastFinding, shrinkTime()); f != tl.lastFinding {
			tl.last = c.counterexample(law, small, f, true)
		}
	}
	lr := LawReport{Law: law, Verdict: Held, Trials: tl.trials, FirstFailure: tl.firstFailure, Faults: tl.faults,
		InTx: tl.inTx, AtCommit: tl.atCommit, AfterCommit: tl.afterCommit, Duration: time.Since(start)}
	switch {
	case tl.writerFails != nil:
		lr.Verdict = Inconclusive
		lr.Reason = tl.writerFails.Error()
		lr.writerFails = tl.writerFails
	case tl.last != nil:
		lr.Verdict = Violated
		lr.Counterexample = tl.last
	case tb.Failed():
		lr.Verdict = Inconclusive
		lr.Reason = failedWithoutCounterexample
	case tl.inconclusive != "":
		lr.Verdict = Inconclusive
		lr.Reason = tl.inconclusive
	default:
		if why := uncovered(law, tl); why != "" {
			lr.Verdict = Inconclusive
			lr.Reason = why
		}
	}
	return lr
}

const failedWithoutCounterexample = "the property failed without a counterexample (see the test log)"

// uncovered says why a passing law proves nothing: its faults never fired.
func uncovered(law harness.Law, tl *tally) string {
	need := map[harness.Law][]string{
		harness.ReplayIdempotence: {"replay"},
		harness.RetryEquivalence:  {"crash-before", "crash-after", "crash-in-copy", "error"},
		harness.CrashAtomicity:    {"crash-before", "crash-after", "crash-in-copy", "error"},
		harness.ExactlyOnceEffect: {"lost-ack", "crash-after"},
		harness.OrderIndependence: {"reorder"},
		harness.ZombieSafety:      {"zombie"},
	}[law]
	if len(need) == 0 {
		return ""
	}
	for _, k := range need {
		if tl.faults[k] > 0 {
			return ""
		}
	}
	return fmt.Sprintf("no trial injected %s in %d trials, so passing proves nothing; the writer's conversation may be shorter than the drawn points", strings.Join(need, " or "), tl.trials)
}
