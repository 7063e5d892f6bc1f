package properties

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

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
// away, or FailFast saw a violation (checker.halt says which).
var errHalted = errors.New("the check stopped")

// halt stops every law's remaining trials, for reason (the first reason
// given wins). nondet: the reason is that two clean runs differ, which
// does not stop Determinism, the law that reports it.
func (c *checker[R]) halt(reason string, nondet bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.halted == "" {
		c.halted, c.haltedNondet = reason, nondet
	}
}

// haltReason is why the check stopped ("" while it runs).
func (c *checker[R]) haltReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.halted
}

// haltsLaw reports whether the check stopped for law's trials.
func (c *checker[R]) haltsLaw(law harness.Law) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.halted != "" && !(c.haltedNondet && law == harness.Determinism)
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

// wave runs n trials of spec's law concurrently, each holding one of the
// check's Parallel slots: build(i) makes trial i's scenario (drawing it,
// running the clean run it needs), then judge judges it. The outcomes
// come back in order.
func (c *checker[R]) wave(spec lawSpec, n int, judge judgeFunc[R], build func(i int) (harness.Scenario[R], conversations, error)) []outcome[R] {
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
		wg.Go(func() { outs[i] = c.trial(spec, i, judge, build) })
	}
	wg.Wait()
	return outs
}

// trial runs trial i of spec's law once it holds one of the check's
// Parallel slots: build(i) makes its scenario, judge judges it.
func (c *checker[R]) trial(spec lawSpec, i int, judge judgeFunc[R], build func(i int) (harness.Scenario[R], conversations, error)) (o outcome[R]) {
	c.slots <- struct{}{}
	defer func() { <-c.slots }()
	if c.haltsLaw(spec.law) {
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
func (c *checker[R]) window(spec lawSpec, from, to int, judge judgeFunc[R], build func(i int) (harness.Scenario[R], conversations, error), tl *tally) error {
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
		go func() { ch <- c.trial(spec, i, judge, build) }()
	}
	dropUnderWay := func(after int) {
		for k := after + 1; k < started; k++ {
			if o := <-pending[k-from]; o.f != nil {
				c.releaseObs(o.f)
			}
		}
	}
	for next := from; next < to; next++ {
		for started < to && started < next+c.set.parallel {
			start()
		}
		o := <-pending[next-from]
		pending[next-from] = nil
		if found, err := c.settle(spec, []outcome[R]{o}, tl, nil); err != nil || found {
			dropUnderWay(next)
			return err
		}
	}
	return nil
}

// settle counts outs in order in tl, up to the first failure that
// reproduces, which becomes the law's counterexample; the findings after
// it are dropped. seen (when not nil) gets each counted trial's
// observation (nil for the laws that compare clean runs). It
// reports whether a counterexample was found, or the first trial's error.
func (c *checker[R]) settle(spec lawSpec, outs []outcome[R], tl *tally, seen func(*trial.Observation)) (found bool, err error) {
	defer func() {
		for _, o := range outs {
			if o.f != nil && o.f != tl.lastFinding {
				c.releaseObs(o.f)
			}
		}
	}()
	for _, o := range outs {
		if o.err != nil {
			return false, o.err
		}
		c.count(spec, o, tl)
		if seen != nil {
			seen(o.obs)
		}
		if o.f == nil {
			continue
		}
		ok, err := c.confirm(spec.law, o.sc, o.f, tl)
		if err != nil {
			return false, err
		}
		if !ok {
			continue // not a violation: tl says why the law is inconclusive if nothing else fails
		}
		c.firstFailure(tl)
		ce := c.counterexample(spec.law, o.sc, o.f, true)
		tl.mu.Lock()
		tl.last, tl.lastScenario, tl.lastFinding = ce, o.sc, o.f
		tl.mu.Unlock()
		return true, nil
	}
	return false, nil
}

// count adds one judged trial to tl and reports progress.
func (c *checker[R]) count(spec lawSpec, o outcome[R], tl *tally) {
	tl.add(spec, o.sc.Deliveries, o.convs, o.obs)
	tl.mu.Lock()
	if o.f != nil && tl.nondeterministic && !o.f.nondeterministic {
		// Once the writer is known to be nondeterministic, every finding is
		// reported as that.
		o.f.summary = "the writer is nondeterministic: two clean runs of the same batches differ; fix that first, every other verdict is noise (" + o.f.summary + ")"
		o.f.nondeterministic = true
	}
	n := tl.trials
	var faults map[Injection]int
	if c.set.progress != nil {
		faults = make(map[Injection]int, len(tl.faults))
		for k, v := range tl.faults {
			faults[k] = v
		}
	}
	tl.mu.Unlock()
	if c.set.progress != nil {
		c.set.progress(spec.law, n, faults)
	}
}

// search runs spec's random trials: trials 0..checks-1 of the run's seed
// (the shard's share of them), up to Parallel at a time, until one fails
// (tl's counterexample).
func (c *checker[R]) search(spec lawSpec, tl *tally) error {
	from, to := c.set.shard.trials(c.set.checks)
	return c.window(spec, from, to, c.judgeTrial, func(i int) (harness.Scenario[R], conversations, error) {
		return c.draw(spec, trialSeed(c.set.seed, i))
	}, tl)
}

// draw draws the scenario of the trial with seed for spec's law: the
// batches, their clean run (the map), the deliveries drawn from its
// conversations.
func (c *checker[R]) draw(spec lawSpec, seed uint64) (harness.Scenario[R], conversations, error) {
	batches, err := example(c.batches, seed)
	if err != nil {
		return harness.Scenario[R]{}, nil, err
	}
	clean, err := c.cleanRun(batches)
	if err != nil {
		return harness.Scenario[R]{}, nil, err
	}
	var ds []harness.Delivery
	if spec.draw != nil {
		if ds, err = example(spec.draw(clean.convs), splitmix(seed)); err != nil {
			return harness.Scenario[R]{}, nil, err
		}
	}
	return c.scenario(spec, batches, ds), clean.convs, nil
}
