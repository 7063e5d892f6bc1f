package properties

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
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
	records   *rapid.Generator[R]
	partition func(R) string // nil: batches are not whole partitions

	mu    sync.Mutex
	clean map[string]*cleanRun // clean runs by batches
	kept  *harness.Sandbox     // the latest failing trial's sandbox
}

// cleanRun is what one clean run of a list of batches left: its final
// state and each batch's conversation, the map faults are drawn from.
type cleanRun struct {
	state *harness.State
	convs conversations
}

func newChecker[R any](ctx context.Context, newWriter func() harness.Writer[R], opts []Option) (*checker[R], error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	c := &checker[R]{ctx: ctx, set: s, tg: s.target, newWriter: newWriter, clean: map[string]*cleanRun{}}
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
	c.records = records
	c.batches = strategies.Batches(records, s.limits)
	if s.partition != nil {
		part, ok := s.partition.(func(R) string)
		if !ok {
			var zero R
			return nil, fmt.Errorf("properties: PartitionBy(%T) does not take the writer's records (%T)", s.partition, zero)
		}
		c.partition = part
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
	// nondeterministic: two clean runs of the scenario's batches differ,
	// so this finding is about that, whatever the law.
	nondeterministic bool
}

// tally accumulates a law's trials, injections and coverage.
type tally struct {
	mu                          sync.Mutex
	trials                      int // search trials: smoke and random (or exhaustive) until the first failure
	shrinkTrials                int // trials after the first failure (shrinking)
	faults                      map[string]int
	inTx, atCommit, afterCommit int
	points, crashed             map[crashPoint]bool // the law's crash points seen, and those crashed
	last                        *Counterexample
	inconclusive                string
	confirmed                   bool // the first failure was re-run and reproduced
	firstFailure                int  // the trial that first failed (before shrinking)
	nondeterministic            bool // its clean runs differ: findings are about that
	writerFails                 *writerFailure
	lastScenario                any // harness.Scenario[R] of last
	lastFinding                 *finding
	explored                    *Explored
	gone                        error         // the server went away or restarted: wraps harness.ErrTargetGone
	shrink                      time.Duration // the budget of simplify: rapid's -rapid.shrinktime
}

// add counts one trial of spec's law: the scenario's deliveries over
// batches whose conversations are convs, and what the run observed.
func (t *tally) add(spec lawSpec, ds []harness.Delivery, convs conversations, obs *harness.Observation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstFailure > 0 {
		t.shrinkTrials++ // after the first failure, every trial is shrinking's
	} else {
		t.trials++
	}
	if t.faults == nil {
		t.faults = map[string]int{}
		t.points, t.crashed = map[crashPoint]bool{}, map[crashPoint]bool{}
	}
	if obs != nil {
		for k, n := range obs.Faults {
			if n > 0 {
				t.faults[string(k)]++
			}
		}
		if obs.LostAcks > 0 {
			t.faults[string(injLostAck)]++
		}
		if obs.Zombies > 0 {
			t.faults[string(injZombie)]++
		}
		t.inTx += obs.InTx
		t.atCommit += obs.AtCommit
		t.afterCommit += obs.AfterCmt
	}
	in := info(ds)
	if in.replayed {
		t.faults[string(injReplay)]++
	}
	if in.reordered {
		t.faults[string(injReorder)]++
	}
	if spec.points == nil {
		return
	}
	for _, d := range ds {
		if d.Batch < len(convs) {
			for _, p := range spec.points(convs[d.Batch]) {
				t.points[p] = true
			}
		}
	}
	if obs != nil {
		for _, st := range obs.Steps {
			for _, e := range st.Events {
				if e.Kind != "" {
					t.crashed[pointOf(e.Kind, e)] = true
				}
			}
		}
	}
}

// coverage counts the crash points seen and crashed (nil when the law
// has none).
func (t *tally) coverage() *Coverage {
	if len(t.points) == 0 {
		return nil
	}
	cv := &Coverage{Points: len(t.points)}
	var uncovered []crashPoint
	for p := range t.points {
		if t.crashed[p] {
			cv.Crashed++
		} else {
			uncovered = append(uncovered, p)
		}
	}
	sort.Slice(uncovered, func(i, j int) bool { return uncovered[i].before(uncovered[j]) })
	for _, p := range uncovered {
		cv.Uncovered = append(cv.Uncovered, p.String())
	}
	return cv
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

// cleanRun runs batches cleanly, once per list of batches.
func (c *checker[R]) cleanRun(batches []harness.Batch[R]) (*cleanRun, error) {
	key := batchesKey(batches)
	c.mu.Lock()
	cr, ok := c.clean[key]
	c.mu.Unlock()
	if ok {
		return cr, nil
	}
	cr, err := c.freshClean(batches)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clean[key] = cr
	c.mu.Unlock()
	return cr, nil
}

// cleanState is the final state of the clean run of batches, cached.
func (c *checker[R]) cleanState(batches []harness.Batch[R]) (*harness.State, error) {
	cr, err := c.cleanRun(batches)
	if err != nil {
		return nil, err
	}
	return cr.state, nil
}

// freshClean runs batches cleanly, uncached, and drops the sandbox.
func (c *checker[R]) freshClean(batches []harness.Batch[R]) (*cleanRun, error) {
	obs, err := c.run(harness.CleanScenario(batches))
	if err != nil {
		return nil, err
	}
	defer obs.Sandbox.Drop(context.WithoutCancel(c.ctx))
	if len(obs.Exhausted) > 0 {
		return nil, &writerFailure{batch: batchOf(batches, obs.Exhausted[0]), err: lastErr(obs)}
	}
	cr := &cleanRun{state: obs.Final, convs: make(conversations, len(batches))}
	for _, st := range obs.Steps {
		cr.convs[st.Delivery] = strategies.Conversation(st.Events)
	}
	return cr, nil
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
		d, err := c.compare(a.state, b.state)
		if err != nil || d.Equal {
			return nil, nil, err
		}
		return &finding{summary: specOf(law).violated + " " + columnsOf(d), diff: d, nondeterministic: true}, nil, nil
	case harness.IncrementalEquivalence:
		want, err := c.cleanState(sc.Batches)
		if err != nil {
			return nil, nil, err
		}
		got, err := c.freshClean([]harness.Batch[R]{merge(sc.Batches)})
		if err != nil {
			return nil, nil, err
		}
		d, err := c.compare(want, got.state)
		if err != nil || d.Equal {
			return nil, nil, err
		}
		return &finding{summary: specOf(law).violated + ": " + tables(d), diff: d}, nil, nil
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
	return &finding{summary: describe(law, d), diff: d}, nil
}

// kindOf classifies a finding in a few stable words, the same for every
// instance of one kind of failure, so rapid's shrinker keeps to it.
func kindOf(f *finding) string {
	switch {
	case f.diff == nil:
		return "the writer cannot get a batch through"
	case f.nondeterministic:
		return "the writer is nondeterministic"
	}
	return "the state differs from the clean run (details in the log)"
}

// describe says in one sentence what went wrong.
func describe(law harness.Law, d *harness.Diff) string {
	what := tables(d)
	if d.OnlySurrogateKeys {
		what += " (only in surrogate key columns)"
	}
	return specOf(law).violated + ": " + what
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
	names := changedColumns(d)
	if len(names) == 0 {
		return "(" + tables(d) + ")"
	}
	return "in columns " + strings.Join(names, ", ") + ": the writer is nondeterministic (now(), random ids, unordered aggregates?)"
}

// changedColumns lists the table.column names a diff's changed rows
// differ in.
func changedColumns(d *harness.Diff) []string {
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
	return names
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

// try judges sc for spec's law, counts it in tl, and returns the finding
// (nil: the law held on sc). convs are the conversations of sc's batches.
func (c *checker[R]) try(spec lawSpec, sc harness.Scenario[R], convs conversations, tl *tally) (*finding, *harness.Observation, error) {
	// A server that restarted between two trials may answer the next one
	// well: every trial asks whether it is still the run's server.
	if c.noteGone(tl); tl.goneErr() != nil {
		return nil, nil, tl.goneErr()
	}
	f, obs, err := c.judge(spec.law, sc)
	if err != nil {
		return nil, nil, err
	}
	tl.add(spec, sc.Deliveries, convs, obs)
	tl.mu.Lock()
	nondet := tl.nondeterministic
	tl.mu.Unlock()
	if f != nil && nondet && !f.nondeterministic {
		// Once the writer is known to be nondeterministic, every finding is
		// reported as that.
		f.summary = "the writer is nondeterministic: two clean runs of the same batches differ; fix that first, every other verdict is noise (" + f.summary + ")"
		f.nondeterministic = true
	}
	if c.set.progress != nil {
		tl.mu.Lock()
		faults := map[string]int{}
		for k, v := range tl.faults {
			faults[k] = v
		}
		n := tl.trials
		tl.mu.Unlock()
		c.set.progress(spec.law, n, faults)
	}
	return f, obs, nil
}

// scenario is batches with deliveries (nil: each batch once, in order).
func (c *checker[R]) scenario(spec lawSpec, batches []harness.Batch[R], deliveries []harness.Delivery) harness.Scenario[R] {
	if deliveries == nil {
		deliveries = harness.CleanScenario(batches).Deliveries
	}
	return harness.Scenario[R]{Batches: batches, Deliveries: deliveries}
}

// trial is one rapid trial of spec's law: batches drawn, their clean run
// (the map), deliveries drawn from its conversations, the judgement.
func (c *checker[R]) trial(t *rapid.T, spec lawSpec, tl *tally) {
	if err := tl.goneErr(); err != nil {
		t.Fatalf("%s: %v", spec.law, err) // every shrinking step stops here at once
	}
	batches := c.batches.Draw(t, "batches")
	clean, err := c.cleanRun(batches)
	var wf *writerFailure
	if errors.As(err, &wf) {
		// Shrunk like a violation (rapid keeps to one message), so the
		// batch reported is a minimal one the writer cannot take.
		tl.mu.Lock()
		tl.writerFails = wf
		tl.mu.Unlock()
		t.Logf("%v", wf)
		t.Fatalf("%s: %v", spec.law, ErrWriterFails)
	}
	if err != nil {
		c.noteGone(tl)
		t.Fatalf("%s: the trial could not be run: %v", spec.law, err)
	}
	var ds []harness.Delivery
	if spec.draw != nil {
		ds = spec.draw(t, clean.convs)
	}
	sc := c.scenario(spec, batches, ds)
	f, _, err := c.try(spec, sc, clean.convs, tl)
	if err != nil {
		c.noteGone(tl)
		t.Fatalf("%s: the trial could not be run: %v", spec.law, err)
	}
	if f == nil {
		return
	}
	if first := c.firstFailure(tl); first {
		ok, err := c.confirm(spec.law, sc, f, tl)
		if err != nil {
			t.Fatalf("%s: the trial could not be re-run: %v", spec.law, err)
		}
		if !ok {
			t.SkipNow() // not a violation: the trial does not count
		}
	}
	ce := c.counterexample(spec.law, sc, f, true)
	tl.mu.Lock()
	tl.last, tl.lastScenario, tl.lastFinding = ce, sc, f
	tl.mu.Unlock()
	// rapid shrinks only while the failure message stays the same, so the
	// message is the law alone and the details go to the log.
	t.Logf("%s", ce)
	t.Fatalf("%s violated: %s", spec.law, kindOf(f))
}

// noteGone notes in tl when the server went away or restarted: after a
// trial that could not be run, and after every law.
func (c *checker[R]) noteGone(tl *tally) {
	if err := c.tg.Alive(context.WithoutCancel(c.ctx)); err != nil {
		tl.mu.Lock()
		if tl.gone == nil {
			tl.gone = err
		}
		tl.mu.Unlock()
	}
}

func (t *tally) goneErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gone
}

// firstFailure notes a failing trial and reports whether it is the first
// (which is confirmed before it is reported; shrinking candidates are not
// confirmed again: rapid re-runs the final one itself).
func (c *checker[R]) firstFailure(tl *tally) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	first := !tl.confirmed
	tl.confirmed = true
	if tl.firstFailure == 0 {
		tl.firstFailure = tl.trials
	}
	return first
}

// confirm re-runs a first failure, and checks the writer's determinism on
// its batches, before it is reported. It returns false (and notes why the
// law is inconclusive) when the failure does not reproduce.
func (c *checker[R]) confirm(law harness.Law, sc harness.Scenario[R], f *finding, tl *tally) (bool, error) {
	again, _, err := c.judge(law, sc)
	if err != nil {
		return false, err
	}
	if again == nil {
		c.dropObs(f)
		tl.mu.Lock()
		tl.inconclusive = "a failing trial did not fail again when re-run: the writer or the environment is nondeterministic (" + f.summary + ")"
		tl.confirmed = false
		tl.mu.Unlock()
		return false, nil
	}
	c.dropObs(again)
	if law != harness.Determinism {
		// Determinism first: if two clean runs differ, that is the finding.
		a, errA := c.freshClean(sc.Batches)
		b, errB := c.freshClean(sc.Batches)
		if errA == nil && errB == nil {
			if d, err := c.compare(a.state, b.state); err == nil && !d.Equal {
				f.summary = "the writer is nondeterministic: two clean runs of the same batches differ " + columnsOf(d) + "; fix that first, every other verdict is noise"
				f.diff = d
				f.nondeterministic = true
				tl.mu.Lock()
				tl.nondeterministic = true
				tl.mu.Unlock()
			}
		}
	}
	return true, nil
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

// checkLaw checks law on tb and reports it: the smoke scenarios first,
// then the random trials (rapid's) or, in exhaustive mode, the
// enumeration.
func (c *checker[R]) checkLaw(tb rapid.TB, law harness.Law) LawReport {
	start := time.Now()
	spec := specOf(law)
	tl := &tally{}
	var violated bool
	var err error
	if !c.set.noSmoke {
		violated, err = c.smoke(spec, tl)
	}
	switch {
	case err != nil:
		tl.inconclusive = "a smoke scenario could not be run: " + err.Error()
	case violated:
	case c.set.exhaustive != nil:
		if err := c.explore(spec, tl); err != nil {
			tl.inconclusive = "exhaustive mode stopped: " + err.Error()
		}
	default:
		err := withRapid(c.set.checks, c.set.seed, func() {
			rapid.Check(tb, func(t *rapid.T) { c.trial(t, spec, tl) })
			tl.shrink = shrinkTime()
		})
		if err != nil {
			tl.inconclusive = "rapid could not be set up: " + err.Error()
		}
	}
	if tl.shrink == 0 {
		withRapid(0, 0, func() { tl.shrink = shrinkTime() })
	}
	c.noteGone(tl)
	if sc, ok := tl.lastScenario.(harness.Scenario[R]); ok && tl.writerFails == nil && !tl.nondeterministic && tl.gone == nil {
		if small, f := c.simplify(law, sc, tl.lastFinding, tl.shrink); f != tl.lastFinding {
			tl.last = c.counterexample(law, small, f, true)
		}
	}
	lr := LawReport{Law: law, Verdict: Held, Trials: tl.trials, ShrinkTrials: tl.shrinkTrials, FirstFailure: tl.firstFailure, Faults: tl.faults,
		InTx: tl.inTx, AtCommit: tl.atCommit, AfterCommit: tl.afterCommit, Duration: time.Since(start),
		Coverage: tl.coverage(), Explored: tl.explored}
	switch {
	case tl.gone != nil:
		lr.Verdict = Inconclusive
		lr.Reason = tl.gone.Error()
		lr.gone = tl.gone
	case tl.writerFails != nil:
		lr.Verdict = Inconclusive
		lr.Reason = tl.writerFails.Error()
		lr.writerFails = tl.writerFails
	case tl.last != nil:
		lr.Verdict = Violated
		lr.Counterexample = tl.last
		if f := tl.lastFinding; f != nil && f.nondeterministic && f.diff != nil {
			lr.nondet = changedColumns(f.diff)
			if lr.nondet == nil {
				lr.nondet = []string{}
			}
		}
	case tb.Failed():
		lr.Verdict = Inconclusive
		lr.Reason = failedWithoutCounterexample
	case tl.inconclusive != "":
		lr.Verdict = Inconclusive
		lr.Reason = tl.inconclusive
	default:
		if why := c.uncovered(spec, tl, lr.Coverage); why != "" {
			lr.Verdict = Inconclusive
			lr.Reason = why
		}
	}
	return lr
}

const failedWithoutCounterexample = "the property failed without a counterexample (see the test log)"

// uncovered says why a passing law proves nothing: its faults never
// fired, or too few of the writer's crash points were crashed.
func (c *checker[R]) uncovered(spec lawSpec, tl *tally, cv *Coverage) string {
	if len(spec.needs) > 0 {
		fired := false
		var names []string
		for _, k := range spec.needs {
			fired = fired || tl.faults[string(k)] > 0
			names = append(names, string(k))
		}
		if !fired {
			return fmt.Sprintf("no trial injected %s in %d trials, so passing proves nothing; the writer may send nothing to the server for the batches drawn", strings.Join(names, " or "), tl.trials)
		}
	}
	if cv == nil || tl.explored != nil {
		return ""
	}
	if min := c.set.minCoverage(); float64(cv.Crashed) < min*float64(cv.Points) {
		return fmt.Sprintf("only %d of the writer's %d crash points were crashed (%.0f%%, below the minimum coverage of %.0f%%); never crashed: %s; run more trials or the exhaustive mode",
			cv.Crashed, cv.Points, 100*float64(cv.Crashed)/float64(cv.Points), 100*min, cv.uncoveredList(8))
	}
	return ""
}

// smokeBatches is the batch list every smoke scenario delivers: two
// batches, the first of three records, the second of two, one key of
// which has a newer version in the second batch (for the default orders;
// other records are rapid's examples of the record generator). In
// partition mode they are regrouped into whole partitions.
func (c *checker[R]) smokeBatches() []harness.Batch[R] {
	var waves [][]R
	if _, isOrder := any(*new(R)).(harness.Order); isOrder && c.set.records == nil {
		o := func(id, v int64) R { return any(strategies.OrderOf(id, v)).(R) }
		waves = [][]R{{o(1, 1), o(2, 1), o(3, 2)}, {o(1, 2), o(4, 1)}}
	} else {
		ex := func(i int) R { return c.records.Example(i) }
		waves = [][]R{{ex(0), ex(1), ex(2)}, {ex(3), ex(4)}}
	}
	if c.partition != nil {
		return strategies.Partitioned(waves, c.partition, c.set.limits)
	}
	return strategies.Sequenced(waves)
}

// smoke runs spec's smoke scenarios and reports whether one violated the
// law (then it is tl's counterexample).
func (c *checker[R]) smoke(spec lawSpec, tl *tally) (bool, error) {
	batches := c.smokeBatches()
	clean, err := c.cleanRun(batches)
	var wf *writerFailure
	if errors.As(err, &wf) {
		return false, nil // the random trials find (and shrink) a batch the writer cannot take
	}
	if err != nil {
		return false, err
	}
	for _, ds := range spec.smoke(clean.convs) {
		found, _, err := c.fixed(spec, c.scenario(spec, batches, ds), clean.convs, tl)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// fixed tries a fixed scenario (a smoke scenario, or one of exhaustive
// mode) and, when it fails and the failure reproduces, makes it the law's
// counterexample. It returns the run's observation for counting states.
func (c *checker[R]) fixed(spec lawSpec, sc harness.Scenario[R], convs conversations, tl *tally) (bool, *harness.Observation, error) {
	f, obs, err := c.try(spec, sc, convs, tl)
	if err != nil || f == nil {
		return false, obs, err
	}
	c.firstFailure(tl)
	ok, err := c.confirm(spec.law, sc, f, tl)
	if err != nil || !ok {
		return false, obs, err
	}
	ce := c.counterexample(spec.law, sc, f, true)
	tl.mu.Lock()
	tl.last, tl.lastScenario, tl.lastFinding = ce, sc, f
	tl.mu.Unlock()
	return true, obs, nil
}
