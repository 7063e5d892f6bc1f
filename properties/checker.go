package properties

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"github.com/idemcheck/idemcheck/strategies"
	"pgregory.net/rapid"
)

// checker runs the laws for one writer. What its laws' trials share, each
// with its own lock, is written by one file only: the clean runs
// (cleanrun.go) and the runs two laws judge (judge.go), both flights
// (flights.go); the sandboxes kept for inspection (keep.go), the halt
// (search.go) and the time spent by phase (here).
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
	// the clean states of its batches' prefixes (cachedCleanRun).
	prefixStates bool

	cleanRuns flights[*cleanRun]          // by batches
	crashRuns flights[*trial.Observation] // crash runs RetryEquivalence and CrashAtomicity share, by scenario
	kept      keptSandboxes
	halt      halt

	phaseMu sync.Mutex
	phases  Phases // where the runs' time went
}

func newChecker[R any](ctx context.Context, newWriter func() harness.Writer[R], recs Records[R], opts []Option) (*checker[R], error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	if s.checks == 0 {
		s.checks = DefaultChecks
		if s.shard.whole() && s.exhaustive == nil {
			s.minChecks = DefaultMinChecks
		}
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
	c := &checker[R]{ctx: ctx, set: s, tg: s.target, newWriter: newWriter}
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

// run plays a scenario in a sandbox as Setup left it (a fresh one, or one
// the check's Reuse restored). Crash states are snapshotted only for law
// (CrashAtomicity judges them) and in exhaustive mode (it counts them).
func (c *checker[R]) run(law harness.Law, sc harness.Scenario[R], extra ...trial.RunOption) (*trial.Observation, error) {
	var opts []trial.RunOption
	if len(c.set.sandbox) > 0 {
		opts = append(opts, trial.Sandboxes(c.set.sandbox...))
	}
	if c.reuse != nil {
		opts = append(opts, trial.SandboxesFrom(c.reuse))
	}
	opts = append(opts, extra...)
	if law != harness.CrashAtomicity && c.set.exhaustive == nil {
		opts = append(opts, trial.NoCrashStates())
	}
	obs, err := trial.Run(c.ctx, c.tg, c.newWriter(), sc, opts...)
	if obs != nil {
		c.phaseMu.Lock()
		c.phases.Phases.Add(obs.Phases)
		c.phases.Runs++
		if obs.Reused {
			c.phases.Reused++
		}
		c.phaseMu.Unlock()
	}
	return obs, err
}

// release releases a sandbox (unless it is kept), timed: it goes back to the
// check's Reuse, restored, or is dropped.
func (c *checker[R]) release(sb *trial.Sandbox) {
	start := time.Now()
	_ = sb.Release(context.WithoutCancel(c.ctx))
	c.phaseMu.Lock()
	c.phases.Release += time.Since(start)
	c.phaseMu.Unlock()
}

// compare compares two states with the check's options, timed.
func (c *checker[R]) compare(a, b *trial.State) (*trial.Diff, error) {
	start := time.Now()
	d, err := trial.Compare(c.ctx, a, b, c.set.compare...)
	c.phaseMu.Lock()
	c.phases.Compare += time.Since(start)
	c.phaseMu.Unlock()
	return d, err
}

// timeSpent is where the runs' time went, with the background restores
// of the check's Reuse (those still under way end with the check).
func (c *checker[R]) timeSpent() Phases {
	c.phaseMu.Lock()
	p := c.phases
	c.phaseMu.Unlock()
	if c.reuse != nil {
		p.NoReuse, p.Restore = c.reuse.Disabled(), c.reuse.Restoring()
	}
	return p
}
