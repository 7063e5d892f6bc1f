package properties

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
	"pgregory.net/rapid"
)

// How the random trials are driven. rapid reads its settings (checks,
// seed, shrink time) only from process-global flags, so a Check that set
// them would race with every other Check of the process. Check therefore
// drives rapid's generators itself: trial i of a run with seed S draws its
// batches as the batch generator's Example(trialSeed(S, i)) and its
// deliveries from the generator of the law's draw over the clean run's
// conversations, with the next seed. A trial is a pure function of (S, i),
// so trials run concurrently, up to Parallel at a time, and are counted in
// order: the first failing trial is the same however many run at once,
// and a run can be split by trial ranges. Shrinking is simplify's
// (simplify.go): the scenario is plain data, shrunk in steps that keep it
// failing the same way, down to its floor.

// trialSeed is the seed of trial i of a run with seed base. It does not
// depend on the law, so trial i of every law draws the same batches and
// their clean run (cached) is shared.
func trialSeed(base uint64, i int) uint64 {
	return splitmix(base + uint64(i)*0x9e3779b97f4a7c15)
}

// splitmix is SplitMix64's finalizer: neighbouring seeds give unrelated
// ones.
func splitmix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// randomSeed is a seed for a run that was not given one: never 0, so
// that it can be given back with Seed.
func randomSeed() uint64 { return rand.Uint64()>>1 + 1 }

// example is gen's value for seed (rapid's Example: the same value for
// the same generator and seed), or an error when gen cannot draw one.
func example[V any](gen *rapid.Generator[V], seed uint64) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the generator could not draw a value: %v", r)
		}
	}()
	return gen.Example(int(seed)), nil
}

// errHalted ends a law's trials when the check as a whole has stopped:
// the writer is nondeterministic or fails without faults, the server went
// away, or FailFast saw a violation (halt says which).
var errHalted = errors.New("the check stopped")

// halt is why every law's remaining trials stop (nil while they go on).
type halt struct{ state atomic.Pointer[haltState] }

type haltState struct {
	reason string
	// nondet: they stop because two clean runs differ, which does not
	// stop Determinism, the law that reports it.
	nondet bool
}

// stop stops every law's remaining trials, for reason (the first reason
// given wins).
func (h *halt) stop(reason string, nondet bool) {
	h.state.CompareAndSwap(nil, &haltState{reason: reason, nondet: nondet})
}

// why is why the check stopped ("" while it runs).
func (h *halt) why() string {
	if st := h.state.Load(); st != nil {
		return st.reason
	}
	return ""
}

// stops reports whether the check stopped for law's trials.
func (h *halt) stops(law harness.Law) bool {
	st := h.state.Load()
	return st != nil && !(st.nondet && law == harness.Determinism)
}

// lawSearch is what the search stage of one law found: the tally of the
// trials it counted, in trial order, and the first failure that
// reproduced (nil: none). The stage (smoke, search, explore and the
// settling of their outcomes) owns it.
type lawSearch[R any] struct {
	tally   tally
	failure *failure[R]
	// unconfirmed: a failing trial did not fail again when re-run (the
	// law is inconclusive unless another trial fails).
	unconfirmed string
	// offset is the trials of the whole run before this part's first
	// (Sharded): trials are numbered as the whole run numbers them.
	offset int
}

// failure is a law's confirmed failure: its scenario, its finding and
// the counterexample made of them; after shrinking, the smallest scenario
// that fails the same way (trial stays the first failure's).
type failure[R any] struct {
	sc    harness.Scenario[R]
	f     *finding
	ce    *Counterexample
	trial int // the trial that failed first (before shrinking)
}

// outcome is one trial's result, before it is counted.
type outcome[R any] struct {
	sc    harness.Scenario[R]
	convs conversations
	f     *finding
	obs   *trial.Observation
	err   error
}

// judgeFunc judges one scenario of a law: judge (a run of its own), or
// judgeTrial (a smoke or random trial, whose run may be shared).
type judgeFunc[R any] func(law harness.Law, sc harness.Scenario[R]) (*finding, *trial.Observation, error)

// buildFunc makes trial i's scenario (drawing it, running the clean run
// it needs) and the conversations of its batches.
type buildFunc[R any] func(i int) (harness.Scenario[R], conversations, error)

// wave runs n trials of spec's law concurrently, each holding one of the
// check's Parallel slots: build(i) makes trial i's scenario, then judge
// judges it. The outcomes come back in order.
func (c *checker[R]) wave(spec lawSpec, n int, judge judgeFunc[R], build buildFunc[R]) []outcome[R] {
	outs := make([]outcome[R], n)
	// A server that restarted between two waves may answer the next one
	// well: every wave first asks whether it is still the run's server
	// (its trials start together, so once per wave is once per start).
	if err := c.tg.Alive(context.WithoutCancel(c.ctx)); err != nil {
		for i := range outs {
			outs[i].err = err
		}
		return outs
	}
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() { outs[i] = c.runTrial(spec, i, judge, build) })
	}
	wg.Wait()
	return outs
}

// runTrial runs trial i of spec's law once it holds one of the check's
// Parallel slots: build(i) makes its scenario, judge judges it.
func (c *checker[R]) runTrial(spec lawSpec, i int, judge judgeFunc[R], build buildFunc[R]) (o outcome[R]) {
	c.slots <- struct{}{}
	defer func() { <-c.slots }()
	if c.halt.stops(spec.law) {
		o.err = errHalted
		return o
	}
	if o.sc, o.convs, o.err = build(i); o.err != nil {
		return o
	}
	o.f, o.obs, o.err = judge(spec.law, o.sc)
	return o
}

// window runs trials from..to-1 of spec's law with up to Parallel of them
// under way at a time (each holding one of the check's slots, so the law
// shares them with the others), the next one starting as soon as one
// ends, not a whole wave at a time, and settles them in trial order: once
// one is a counterexample (or fails), no further trial starts, and those
// under way are waited for and dropped. The result is the same as waves of
// Parallel settled in order. Every Parallel trials started, it first asks
// whether the server is still the run's (see wave).
func (c *checker[R]) window(spec lawSpec, from, to int, judge judgeFunc[R], build buildFunc[R], ls *lawSearch[R]) error {
	pending := make([]chan outcome[R], to-from)
	started := from
	start := func() {
		ch := make(chan outcome[R], 1)
		pending[started-from] = ch
		i := started
		started++
		if (i-from)%c.set.parallel == 0 {
			if err := c.tg.Alive(context.WithoutCancel(c.ctx)); err != nil {
				ch <- outcome[R]{err: err}
				return
			}
		}
		go func() { ch <- c.runTrial(spec, i, judge, build) }()
	}
	dropUnderWay := func(after int) {
		for k := after + 1; k < started; k++ {
			if o := <-pending[k-from]; o.f != nil {
				c.releaseFinding(o.f)
			}
		}
	}
	for next := from; next < to; next++ {
		for started < to && started < next+c.set.parallel {
			start()
		}
		o := <-pending[next-from]
		pending[next-from] = nil
		if found, err := c.settle(spec, []outcome[R]{o}, ls, nil); err != nil || found {
			dropUnderWay(next)
			return err
		}
		if c.set.minChecks > 0 && next+1-from >= c.set.minChecks && ls.tally.covered(spec) {
			dropUnderWay(next) // the default budget is spent (see DefaultMinChecks)
			return nil
		}
	}
	return nil
}

// settle counts outs in order in ls's tally, up to the first failure that
// reproduces (confirm), which becomes ls's failure; the findings after it
// are dropped. seen (when not nil) gets each counted trial's observation
// (nil for the laws that compare clean runs). It reports whether a
// failure was found, or the first trial's error.
func (c *checker[R]) settle(spec lawSpec, outs []outcome[R], ls *lawSearch[R], seen func(*trial.Observation)) (found bool, err error) {
	failed := -1
	defer func() {
		for i, o := range outs {
			if o.f != nil && i != failed {
				c.releaseFinding(o.f)
			}
		}
	}()
	for i, o := range outs {
		if o.err != nil {
			return false, o.err
		}
		ls.tally.add(spec, o.sc.Deliveries, o.convs, o.obs)
		if c.set.progress != nil {
			c.set.progress(spec.law, ls.tally.trials, ls.tally.injected())
		}
		if seen != nil {
			seen(o.obs)
		}
		if o.f == nil {
			continue
		}
		f, err := c.confirm(spec.law, o.sc, o.f)
		if err != nil {
			return false, err
		}
		if f == nil {
			ls.unconfirmed = notReproduced(o.f)
			continue
		}
		failed = i
		ls.failure = &failure[R]{sc: o.sc, f: f, trial: ls.offset + ls.tally.trials}
		ls.failure.ce = c.counterexample(spec.law, o.sc, f, true)
		return true, nil
	}
	return false, nil
}

// search runs spec's random trials: trials 0..checks-1 of the run's seed
// (the shard's share of them), up to Parallel at a time, until one fails
// (ls's failure).
func (c *checker[R]) search(spec lawSpec, ls *lawSearch[R]) error {
	from, to := c.set.shard.trials(c.set.checks)
	return c.window(spec, from, to, c.judgeTrial, func(i int) (harness.Scenario[R], conversations, error) {
		return c.draw(spec, trialSeed(c.set.seed, i))
	}, ls)
}

// draw draws the scenario of the trial with seed for spec's law: the
// batches, their clean run (the map), the deliveries drawn from its
// conversations.
func (c *checker[R]) draw(spec lawSpec, seed uint64) (harness.Scenario[R], conversations, error) {
	batches, err := example(c.batches, seed)
	if err != nil {
		return harness.Scenario[R]{}, nil, err
	}
	clean, err := c.cachedCleanRun(batches)
	if err != nil {
		return harness.Scenario[R]{}, nil, err
	}
	var ds []harness.Delivery
	if spec.draw != nil {
		if ds, err = example(spec.draw(clean.convs), splitmix(seed)); err != nil {
			return harness.Scenario[R]{}, nil, err
		}
	}
	return withDeliveries(batches, ds), clean.convs, nil
}

// withDeliveries is batches with deliveries (nil: each batch once, in
// order).
func withDeliveries[R any](batches []harness.Batch[R], deliveries []harness.Delivery) harness.Scenario[R] {
	if deliveries == nil {
		deliveries = harness.CleanScenario(batches).Deliveries
	}
	return harness.Scenario[R]{Batches: batches, Deliveries: deliveries}
}
