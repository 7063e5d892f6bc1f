package properties

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
	"pgregory.net/rapid"
)

// checker runs the laws for one writer.
type checker[R any] struct {
	ctx       context.Context
	set       settings
	tg        *trial.Target
	newWriter func() harness.Writer[R]
	writer    string
	batches   *rapid.Generator[[]harness.Batch[R]]
	records   *rapid.Generator[R]
	partition func(R) string // nil: batches are not whole partitions
	// customRecords: the records come from the caller's generator (not
	// the default orders).
	customRecords bool

	slots chan struct{} // one per trial that may run at once (Parallel)
	reuse *trial.Reuse  // the sandboxes runs are done with (nil: FreshSandboxes)

	// shareCrashRuns: RetryEquivalence and CrashAtomicity are both
	// checked, by random trials, so their trials share runs (judgeTrial).
	shareCrashRuns bool
	// prefixStates: CrashAtomicity is checked, so a clean run also gives
	// the clean states of its batches' prefixes (cleanRun).
	prefixStates bool

	mu        sync.Mutex
	clean     map[string]*cleanEntry         // clean runs by batches
	crashRuns map[string]*crashEntry         // shared crash runs by scenario
	kept      map[harness.Law]*trial.Sandbox // each law's latest failing trial's sandbox
	halted    string                         // why every law's trials stop ("": they go on)
	phases    Phases                         // where the runs' time went
	// haltedNondet: they stop because two clean runs differ (Determinism
	// goes on, to report it).
	haltedNondet bool
}

// cleanEntry is one list of batches' clean run, made once however many
// trials ask for it at the same time.
type cleanEntry struct {
	done chan struct{}
	run  *cleanRun
	err  error
}

// cleanRun is what one clean run of a list of batches left: its final
// state and each batch's conversation, the map faults are drawn from.
type cleanRun struct {
	state *trial.State
	convs conversations
	after []*trial.State // the state after each batch, when the run took them
}

func newChecker[R any](ctx context.Context, newWriter func() harness.Writer[R], recs Records[R], opts []Option) (*checker[R], error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	if s.checks == 0 {
		s.checks = DefaultChecks
	}
	seed := s.seed
	if s.seed == 0 {
		s.seed = randomSeed()
	}
	if s.shrinkTime == 0 {
		s.shrinkTime = DefaultShrinkTime
	}
	if sh := s.shard; !sh.whole() || sh.Of < 0 {
		switch {
		case sh.Index < 1 || sh.Index > sh.Of:
			return nil, fmt.Errorf("properties: shard %s: the part must be from 1 to %d", sh, sh.Of)
		case seed == 0:
			return nil, fmt.Errorf("properties: shard %s: give every part the same Seed, or the parts draw different trials", sh)
		}
	}
	c := &checker[R]{ctx: ctx, set: s, tg: s.target, newWriter: newWriter, clean: map[string]*cleanEntry{}, crashRuns: map[string]*crashEntry{},
		kept: map[harness.Law]*trial.Sandbox{}}
	c.writer = s.writerName
	if c.writer == "" {
		c.writer = reflect.TypeOf(newWriter()).String()
	}
	claimed, selected := c.claims(), selectedLaws(s.laws)
	crashAtomicity := !s.unshared && claimed[harness.CrashAtomicity] && selected[harness.CrashAtomicity]
	c.shareCrashRuns = crashAtomicity && s.exhaustive == nil && claimed[harness.RetryEquivalence] && selected[harness.RetryEquivalence]
	c.prefixStates = crashAtomicity
	c.customRecords = recs.gen != nil && !recs.orders
	if recs.gen == nil {
		gen, isOrder := any(strategies.Orders()).(*rapid.Generator[R])
		if !isOrder {
			// Only Replay gets here (CheckRecords refuses a nil
			// generator): it draws nothing.
			return c, nil
		}
		recs.gen = gen
	}
	c.records = recs.gen
	c.batches = strategies.Batches(recs.gen, s.limits)
	if recs.partition != nil {
		c.partition = recs.partition
		c.batches = strategies.PartitionBatches(recs.gen, recs.partition, s.limits)
	}
	return c, nil
}

// openTarget finds a PostgreSQL by the default chain unless OnTarget gave
// one, sets up what the check needs there (its Parallel slots, its
// sandbox Reuse) and returns what closes what it opened.
func (c *checker[R]) openTarget() (func(), error) {
	closeTarget := func() {}
	if c.tg == nil {
		tg, err := trial.OpenTarget(c.ctx)
		if err != nil {
			return nil, err
		}
		c.tg = tg
		closeTarget = func() { tg.Close() }
	}
	if c.set.parallel <= 0 {
		c.set.parallel = defaultParallel(c.ctx, c.tg, c.set.perCPU)
	}
	c.slots = make(chan struct{}, c.set.parallel)
	if c.set.fresh {
		return closeTarget, nil
	}
	c.reuse = c.tg.NewReuse()
	return func() {
		_ = c.reuse.Close(context.WithoutCancel(c.ctx))
		closeTarget()
	}, nil
}

// defaultParallel is Parallel's default: perCPU trials per GOMAXPROCS (2
// when 0: a trial spends most of its time waiting for the server, so
// twice as many trials as cores keep both busy), fewer when the server
// has not that many spare connections for them: a trial may hold three
// (a zombie, its retry, a snapshot), and the fault proxy keeps up to 32
// idle ones.
func defaultParallel(ctx context.Context, tg *trial.Target, perCPU int) int {
	if perCPU <= 0 {
		perCPU = 2
	}
	n := perCPU * runtime.GOMAXPROCS(0)
	if spare, err := tg.SpareConnections(ctx); err == nil {
		n = min(n, (spare-32)/3)
	}
	return max(n, 1)
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
	diff    *trial.Diff
	obs     *trial.Observation
	// nondeterministic: two clean runs of the scenario's batches differ,
	// so this finding is about that, whatever the law.
	nondeterministic bool
	// shared: obs is a run two laws judged, its sandbox already released.
	shared bool
}

// tally accumulates a law's trials, injections and coverage.
type tally struct {
	mu                          sync.Mutex
	trials                      int // search trials: smoke and random (or exhaustive) until the first failure
	shrinkTrials                int // trials after the first failure (simplify's)
	faults                      map[Injection]int
	inTx, atCommit, afterCommit int
	points, crashed             map[crashPoint]bool // the law's crash points seen, and those crashed
	last                        *Counterexample
	inconclusive                string
	firstFailure                int  // the trial that first failed (before shrinking)
	nondeterministic            bool // its clean runs differ: findings are about that
	writerFails                 *writerFailure
	lastScenario                any // harness.Scenario[R] of last
	lastFinding                 *finding
	explored                    *Explored
	offset                      int   // trials of the whole run before this part's first (Sharded)
	halted                      bool  // the check stopped before this law was done (checker.halt)
	gone                        error // the server went away or restarted: wraps trial.ErrTargetGone
}

// add counts one trial of spec's law: the scenario's deliveries over
// batches whose conversations are convs, and what the run observed.
func (t *tally) add(spec lawSpec, ds []harness.Delivery, convs conversations, obs *trial.Observation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trials++
	if t.faults == nil {
		t.faults = map[Injection]int{}
		t.points, t.crashed = map[crashPoint]bool{}, map[crashPoint]bool{}
	}
	if obs != nil {
		for k, n := range obs.Faults {
			if n > 0 {
				t.faults[Wire(k)]++
			}
		}
		if obs.LostAcks > 0 {
			t.faults[LostAcks]++
		}
		if obs.Zombies > 0 {
			t.faults[Zombies]++
		}
		t.inTx += obs.InTx
		t.atCommit += obs.AtCommit
		t.afterCommit += obs.AfterCmt
	}
	in := info(ds)
	if in.replayed {
		t.faults[Replays]++
	}
	if in.reordered {
		t.faults[Reorders]++
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
				if e.Fault != nil {
					t.crashed[pointOf(e.Fault.Kind, e)] = true
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
	var points []crashPoint
	for p := range t.points {
		points = append(points, p)
	}
	sort.Slice(points, func(i, j int) bool { return points[i].before(points[j]) })
	for _, p := range points {
		if t.crashed[p] {
			cv.Crashed++
			cv.CrashedAt = append(cv.CrashedAt, p.String())
		} else {
			cv.Uncovered = append(cv.Uncovered, p.String())
		}
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

func (c *checker[R]) runOpts() []trial.RunOption {
	var o []trial.RunOption
	if len(c.set.sandbox) > 0 {
		o = append(o, trial.WithSandbox(c.set.sandbox...))
	}
	if c.reuse != nil {
		o = append(o, trial.Reusing(c.reuse))
	}
	return o
}

// run plays a scenario in a sandbox as Setup left it (a fresh one, or one
// the check's Reuse restored). Crash states are snapshotted
// only for law (CrashAtomicity judges them) and in exhaustive mode (it
// counts them).
func (c *checker[R]) run(law harness.Law, sc harness.Scenario[R], extra ...trial.RunOption) (*trial.Observation, error) {
	opts := append(c.runOpts(), extra...)
	if law != harness.CrashAtomicity && c.set.exhaustive == nil {
		opts = append(opts, trial.WithoutCrashStates())
	}
	obs, err := trial.Run(c.ctx, c.tg, c.newWriter(), sc, opts...)
	if obs != nil {
		c.mu.Lock()
		c.phases.Phases.Add(obs.Phases)
		c.phases.Runs++
		if obs.Reused {
			c.phases.Reused++
		}
		c.mu.Unlock()
	}
	return obs, err
}

// release releases a sandbox (unless it is kept), timed: it goes back to the
// check's Reuse, restored, or is dropped.
func (c *checker[R]) release(sb *trial.Sandbox) {
	start := time.Now()
	_ = sb.Release(context.WithoutCancel(c.ctx))
	c.mu.Lock()
	c.phases.Release += time.Since(start)
	c.mu.Unlock()
}

// cleanRun runs batches cleanly, once per list of batches: trials that
// ask for the same batches at the same time wait for one run. When
// CrashAtomicity is checked (it judges a crash against the clean states of
// the batches before it), the run also snapshots the state after each
// batch, and those are the clean runs of the batches' prefixes: the same
// deliveries, in the same order, from the same start.
func (c *checker[R]) cleanRun(batches []harness.Batch[R]) (*cleanRun, error) {
	key := batchesKey(batches)
	c.mu.Lock()
	e, ok := c.clean[key]
	if !ok {
		e = &cleanEntry{done: make(chan struct{})}
		c.clean[key] = e
	}
	c.mu.Unlock()
	if ok {
		<-e.done
		return e.run, e.err
	}
	e.run, e.err = c.cleanRunOf(batches, c.prefixStates && len(batches) > 1)
	if e.err == nil {
		c.addPrefixes(batches, e.run)
	}
	var wf *writerFailure
	if e.err != nil && !errors.As(e.err, &wf) {
		// Only the writer's own failure is a property of the batches; any
		// other error is the run's, and the next trial tries again.
		c.mu.Lock()
		delete(c.clean, key)
		c.mu.Unlock()
	}
	close(e.done)
	return e.run, e.err
}

// cleanState is the final state of the clean run of batches, cached.
func (c *checker[R]) cleanState(batches []harness.Batch[R]) (*trial.State, error) {
	cr, err := c.cleanRun(batches)
	if err != nil {
		return nil, err
	}
	return cr.state, nil
}

// addPrefixes caches the clean runs of the prefixes of batches that cr's
// states after each batch give (none when the run did not take them).
func (c *checker[R]) addPrefixes(batches []harness.Batch[R], cr *cleanRun) {
	if len(cr.after) != len(batches) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := 1; k < len(batches); k++ {
		key := batchesKey(batches[:k])
		if _, ok := c.clean[key]; ok {
			continue
		}
		done := make(chan struct{})
		close(done)
		c.clean[key] = &cleanEntry{done: done, run: &cleanRun{state: cr.after[k-1], convs: cr.convs[:k:k]}}
	}
}

// freshClean runs batches cleanly, uncached, and releases the sandbox.
func (c *checker[R]) freshClean(batches []harness.Batch[R]) (*cleanRun, error) {
	return c.cleanRunOf(batches, false)
}

// cleanRunOf runs batches cleanly and releases the sandbox; with after,
// it also snapshots the state after each batch.
func (c *checker[R]) cleanRunOf(batches []harness.Batch[R], after bool) (*cleanRun, error) {
	var opts []trial.RunOption
	if after {
		opts = append(opts, trial.WithAckedStates())
	}
	obs, err := c.run("", harness.CleanScenario(batches), opts...)
	if err != nil {
		return nil, err
	}
	defer c.release(obs.Sandbox)
	if len(obs.Exhausted) > 0 {
		return nil, c.writerFails(batches, obs)
	}
	cr := &cleanRun{state: obs.Final, convs: make(conversations, len(batches)), after: obs.AckedStates}
	for _, st := range obs.Steps {
		cr.convs[st.Delivery] = strategies.Conversation(st.Events)
	}
	return cr, nil
}

// writerFails names a small batch the writer fails on, after the clean
// run of batches in obs failed: the batch it failed on, with records left
// out one at a time while it still fails when delivered alone (as it was,
// when it fails only after the batches before it).
func (c *checker[R]) writerFails(batches []harness.Batch[R], obs *trial.Observation) *writerFailure {
	id := obs.Exhausted[0]
	wf := &writerFailure{batch: batchOf(batches, id), err: lastErr(obs)}
	var b harness.Batch[R]
	for _, x := range batches {
		if x.ID == id {
			b = x
		}
	}
	alone := func(b harness.Batch[R]) (string, bool) {
		obs, err := c.run("", harness.CleanScenario([]harness.Batch[R]{b}))
		if err != nil {
			return "", false
		}
		defer c.release(obs.Sandbox)
		return lastErr(obs), len(obs.Exhausted) > 0
	}
	if len(batches) > 1 {
		e, fails := alone(b)
		if !fails {
			return wf
		}
		wf.err = e
	}
	for r := 0; r < len(b.Records) && len(b.Records) > 1; {
		cand := b
		cand.Records = append(append([]R(nil), b.Records[:r]...), b.Records[r+1:]...)
		if e, fails := alone(cand); fails {
			b, wf.err = cand, e
			continue
		}
		r++
	}
	wf.batch = batchOf([]harness.Batch[R]{b}, b.ID)
	return wf
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

func lastErr(obs *trial.Observation) string {
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

func (c *checker[R]) compare(a, b *trial.State) (*trial.Diff, error) {
	start := time.Now()
	d, err := trial.Compare(c.ctx, a, b, c.set.compare...)
	c.mu.Lock()
	c.phases.Compare += time.Since(start)
	c.mu.Unlock()
	return d, err
}

// judge runs sc for law and returns a finding when the law is violated.
// The observation's sandbox is dropped unless the finding keeps it.
func (c *checker[R]) judge(law harness.Law, sc harness.Scenario[R]) (*finding, *trial.Observation, error) {
	switch law {
	case harness.Determinism:
		// The clean run every other law's trial of these batches uses too,
		// and a fresh one.
		a, err := c.cleanRun(sc.Batches)
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
	obs, err := c.run(law, sc)
	if err != nil {
		return nil, nil, err
	}
	f, err := c.verdict(law, sc, want, obs)
	if err != nil || f == nil {
		c.release(obs.Sandbox)
		return nil, obs, err
	}
	f.obs = obs
	return f, obs, nil
}

// crashEntry is one crash scenario's run, shared by RetryEquivalence and
// CrashAtomicity.
type crashEntry struct {
	done chan struct{}
	obs  *trial.Observation
	err  error
	left int // the laws that have yet to take it
}

// judgeTrial judges a smoke or random trial of law. RetryEquivalence and
// CrashAtomicity draw the same scenarios (crashLaw) and differ only in
// what they judge: when both are checked, each scenario runs once, with
// crash states, and both laws judge that run. Its sandbox is released as
// soon as it ends (the verdicts read the states kept in memory); a
// failure is confirmed by a run of the law's own, whose sandbox is the one
// kept for inspection.
//
// A trial of a law that draws faults whose draw injected none (every
// batch delivered once, in order, no fault planned: the scenario is its
// batches' clean run) is not run: the clean run it would repeat is
// already there, and it holds (for a deterministic writer; Determinism
// judges the others).
func (c *checker[R]) judgeTrial(law harness.Law, sc harness.Scenario[R]) (*finding, *trial.Observation, error) {
	if !c.set.unshared && specOf(law).draw != nil && sc.Clean() {
		_, err := c.cleanState(sc.Batches)
		return nil, nil, err
	}
	if !c.shareCrashRuns || (law != harness.RetryEquivalence && law != harness.CrashAtomicity) {
		return c.judge(law, sc)
	}
	want, err := c.cleanState(sc.Batches)
	if err != nil {
		return nil, nil, err
	}
	key := sc.String()
	c.mu.Lock()
	e, ok := c.crashRuns[key]
	if !ok {
		e = &crashEntry{done: make(chan struct{}), left: 2}
		c.crashRuns[key] = e
	}
	if e.left--; e.left == 0 {
		delete(c.crashRuns, key)
	}
	c.mu.Unlock()
	if !ok {
		e.obs, e.err = c.run(harness.CrashAtomicity, sc)
		if e.err == nil {
			c.release(e.obs.Sandbox)
		}
		close(e.done)
	}
	<-e.done
	if e.err != nil {
		return nil, nil, e.err
	}
	f, err := c.verdict(law, sc, want, e.obs)
	if f != nil {
		f.obs, f.shared = e.obs, true
	}
	return f, e.obs, err
}

func (c *checker[R]) verdict(law harness.Law, sc harness.Scenario[R], want *trial.State, obs *trial.Observation) (*finding, error) {
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
// instance of one kind of failure, so simplify keeps to it.
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
func describe(law harness.Law, d *trial.Diff) string {
	what := tables(d)
	if d.OnlySurrogateKeys {
		what += " (only in surrogate key columns)"
	}
	return specOf(law).violated + ": " + what
}

// tables joins the per-table summaries of a diff.
func tables(d *trial.Diff) string {
	var parts []string
	for _, t := range d.Tables {
		parts = append(parts, t.Summary())
	}
	return strings.Join(parts, "; ")
}

// columnsOf names the columns in which two clean runs differ.
func columnsOf(d *trial.Diff) string {
	names := changedColumns(d)
	if len(names) == 0 {
		return "(" + tables(d) + ")"
	}
	return "in columns " + strings.Join(names, ", ") + ": the writer is nondeterministic (now(), random ids, unordered aggregates?)"
}

// changedColumns lists the table.column names a diff's changed rows
// differ in.
func changedColumns(d *trial.Diff) []string {
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

// keep keeps the sandbox of law's failing trial, releasing the one kept
// for law before, so only each law's latest (after shrinking: its minimal)
// stays.
func (c *checker[R]) keep(law harness.Law, sb *trial.Sandbox) {
	c.mu.Lock()
	prev := c.kept[law]
	c.kept[law] = sb
	c.mu.Unlock()
	sb.Keep()
	if prev != nil && prev != sb {
		c.unkeep(prev)
	}
}

func (c *checker[R]) unkeep(sb *trial.Sandbox) {
	sb.Unkeep()
	c.release(sb)
}

// scenario is batches with deliveries (nil: each batch once, in order).
func (c *checker[R]) scenario(spec lawSpec, batches []harness.Batch[R], deliveries []harness.Delivery) harness.Scenario[R] {
	if deliveries == nil {
		deliveries = harness.CleanScenario(batches).Deliveries
	}
	return harness.Scenario[R]{Batches: batches, Deliveries: deliveries}
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

// firstFailure notes that the trial just counted failed: the first such
// trial is the law's first failure.
func (c *checker[R]) firstFailure(tl *tally) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.firstFailure == 0 {
		tl.firstFailure = tl.offset + tl.trials
	}
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
		c.releaseObs(f)
		tl.mu.Lock()
		tl.inconclusive = "a failing trial did not fail again when re-run: the writer or the environment is nondeterministic (" + f.summary + ")"
		tl.mu.Unlock()
		return false, nil
	}
	if f.shared {
		// The confirming run is the law's own: its sandbox is the one kept.
		f.obs, f.shared, again.obs = again.obs, false, f.obs
	} else {
		c.releaseObs(again)
	}
	if law != harness.Determinism {
		// Determinism first: if two clean runs differ, that is the finding.
		a, errA := c.cleanRun(sc.Batches)
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
		c.keep(law, f.obs.Sandbox)
		if f.obs.Sandbox.Kept() {
			ce.Sandbox = f.obs.Sandbox.String()
			if w := c.tg.Way(); w != trial.WayURL {
				ce.Sandbox += fmt.Sprintf(" (on the %s way's throwaway server, gone when this run ends; set %s to keep it)", w, trial.EnvDatabaseURL)
			}
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

// checkLaw checks law and reports it: the smoke scenarios first, then the
// random trials or, in exhaustive mode, the enumeration; a counterexample
// is simplified to its floor. A law whose finding settles the whole check
// (nondeterminism, a batch the writer cannot take, the server gone,
// FailFast) halts the other laws' trials.
func (c *checker[R]) checkLaw(law harness.Law) LawReport {
	start := time.Now()
	if c.haltsLaw(law) {
		lr := notRun(law, c.haltReason())
		lr.halted = true
		return lr
	}
	spec := specOf(law)
	tl := &tally{}
	var found bool
	var err error
	if c.set.exhaustive == nil {
		from, _ := c.set.shard.trials(c.set.checks)
		tl.offset = from // trials are numbered as the whole run numbers them (explore numbers its points)
	}
	switch {
	case c.set.noSmoke:
	case c.set.shard.whole() || c.set.shard.Index == 1:
		found, err = c.smoke(spec, tl)
	default:
		tl.offset += len(spec.smoke(nil)) // part 1's
	}
	if err == nil && !found {
		if c.set.exhaustive != nil {
			err = c.explore(spec, tl)
		} else {
			err = c.search(spec, tl)
		}
	}
	var wf *writerFailure
	switch {
	case err == nil:
	case errors.Is(err, errHalted):
		tl.halted = true
	case errors.As(err, &wf):
		tl.writerFails = wf
	default:
		if c.noteGone(tl); tl.gone == nil {
			tl.inconclusive = "a trial could not be run: " + err.Error()
		}
	}
	c.noteGone(tl)
	if sc, ok := tl.lastScenario.(harness.Scenario[R]); ok && !tl.nondeterministic && tl.gone == nil {
		if small, f := c.simplify(law, sc, tl.lastFinding, tl); f != tl.lastFinding {
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
		c.halt("not run: "+tl.gone.Error(), false)
	case tl.writerFails != nil:
		lr.Verdict = Inconclusive
		lr.Reason = tl.writerFails.Error()
		lr.writerFails = tl.writerFails
		c.halt("not run: "+tl.writerFails.Error(), false)
	case tl.last != nil:
		lr.Verdict = Violated
		lr.Counterexample = tl.last
		if f := tl.lastFinding; f != nil && f.nondeterministic && f.diff != nil {
			lr.nondet = changedColumns(f.diff)
			if lr.nondet == nil {
				lr.nondet = []string{}
			}
			c.halt(nondeterministic(lr.nondet), true)
		} else if c.set.failFast {
			c.halt("fail-fast stopped at the first violated law, "+string(law), false)
		}
	case tl.halted:
		lr = notRun(law, c.haltReason())
		lr.halted = true
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

// uncovered says why a passing law proves nothing (see uncovered); a
// part of a sharded run leaves that to Merge, which sees every part.
func (c *checker[R]) uncovered(spec lawSpec, tl *tally, cv *Coverage) string {
	if !c.set.shard.whole() {
		return ""
	}
	if tl.explored != nil {
		cv = nil // exhaustive mode ran every point of its family
	}
	return uncovered(spec, tl.faults, tl.trials, cv, c.set.minCoverage())
}

// uncovered says why a passing law proves nothing: none of its faults
// fired in its trials, or fewer than min of the writer's crash points
// (cv; nil: not counted) were crashed.
func uncovered(spec lawSpec, faults map[Injection]int, trials int, cv *Coverage, min float64) string {
	if len(spec.needs) > 0 {
		fired := false
		var names []string
		for _, k := range spec.needs {
			fired = fired || faults[k] > 0
			names = append(names, string(k))
		}
		if !fired {
			return fmt.Sprintf("no trial injected %s in %d trials, so passing proves nothing; the writer may send nothing to the server for the batches drawn", strings.Join(names, " or "), trials)
		}
	}
	if cv != nil && float64(cv.Crashed) < min*float64(cv.Points) {
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
	if _, isOrder := any(*new(R)).(harness.Order); isOrder && !c.customRecords {
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

// smoke runs spec's smoke scenarios, all at once, and reports whether one
// violated the law (then it is tl's counterexample).
func (c *checker[R]) smoke(spec lawSpec, tl *tally) (bool, error) {
	batches := c.smokeBatches()
	clean, err := c.cleanRun(batches)
	if err != nil {
		return false, err
	}
	scenarios := spec.smoke(clean.convs)
	outs := c.wave(spec, len(scenarios), c.judgeTrial, func(i int) (harness.Scenario[R], conversations, error) {
		return c.scenario(spec, batches, scenarios[i]), clean.convs, nil
	})
	return c.settle(spec, outs, tl, nil)
}
