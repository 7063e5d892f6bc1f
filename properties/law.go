package properties

import (
	"context"
	"errors"
	"time"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/strategies"
)

// checkLaw checks law and reports it, as a forward pipeline whose stages
// hand each other values:
//
//  1. search (searchLaw): draw and run the law's trials, its smoke
//     scenarios first, then its random trials or exhaustive mode's points,
//     and settle them in trial order, confirming the first failure;
//  2. shrink (simplify): that failure down to its floor;
//  3. report (report): the law's verdict.
//
// A finding that settles the whole check (nondeterminism, a batch the
// writer cannot take without faults, the server gone, a violation under
// FailFast) then halts the other laws' trials (haltOthers); settleLaws
// applies it to every law's report once all are done.
func (c *checker[R]) checkLaw(law harness.Law) LawReport {
	start := time.Now()
	if c.halt.stops(law) {
		return notRun(law, c.halt.why())
	}
	spec := specOf(law)
	ls, err := c.searchLaw(spec)
	gone := c.tg.Alive(context.WithoutCancel(c.ctx))
	shrinkTrials := 0
	if f := ls.failure; f != nil && gone == nil && !(f.f.kind == Nondeterministic && law != harness.Determinism) {
		// A failure that turned out to be the writer's nondeterminism
		// (confirm) is not shrunk: the scenario is not about it.
		ls.failure, shrinkTrials = c.simplify(law, f)
	}
	lr := c.report(spec, ls, err, gone)
	lr.ShrinkTrials = shrinkTrials
	lr.Duration = time.Since(start)
	c.haltOthers(lr)
	return lr
}

// searchLaw is the search stage of spec's law: its smoke scenarios (in
// part 1 of a sharded run), then its random trials or, in exhaustive
// mode, its enumerated points, until the first confirmed failure.
func (c *checker[R]) searchLaw(spec lawSpec) (*lawSearch[R], error) {
	ls := &lawSearch[R]{}
	if c.set.exhaustive == nil {
		ls.offset, _ = c.set.shard.trials(c.set.checks) // trials are numbered as the whole run numbers them (explore numbers its points)
	}
	var found bool
	var err error
	switch {
	case c.set.noSmoke:
	case c.set.shard.whole() || c.set.shard.Index == 1:
		found, err = c.smoke(spec, ls)
	default:
		ls.offset += len(spec.smoke(nil)) // part 1's
	}
	if err == nil && !found {
		if c.set.exhaustive != nil {
			err = c.explore(spec, ls)
		} else {
			err = c.search(spec, ls)
		}
	}
	return ls, err
}

// report is the report stage: spec's law's verdict from what its search
// found (ls, and the error it ended with) and whether the server is gone.
func (c *checker[R]) report(spec lawSpec, ls *lawSearch[R], err, gone error) LawReport {
	tl := &ls.tally
	lr := LawReport{Law: spec.law, Verdict: Held, Trials: tl.trials, Faults: tl.faults,
		InTx: tl.inTx, AtCommit: tl.atCommit, AfterCommit: tl.afterCommit, Coverage: tl.coverage(), Explored: tl.explored}
	if ls.failure != nil {
		lr.FirstFailure = ls.failure.trial
	}
	var wf *writerFailure
	switch {
	case gone != nil:
		lr.Verdict, lr.Reason, lr.Failure, lr.cause = Inconclusive, gone.Error(), ServerGone, gone
	case errors.As(err, &wf):
		lr.Verdict, lr.Reason, lr.Failure, lr.cause = Inconclusive, wf.Error(), WriterFails, wf
	case ls.failure != nil:
		f := ls.failure
		lr.Verdict, lr.Counterexample, lr.Failure = Violated, f.ce, f.f.kind
		if f.f.kind == Nondeterministic {
			lr.NondeterministicColumns = changedColumns(f.f.diff)
			if lr.NondeterministicColumns == nil {
				lr.NondeterministicColumns = []string{}
			}
		}
	case errors.Is(err, errHalted):
		return notRun(spec.law, c.halt.why())
	case err != nil:
		lr.Verdict, lr.Reason = Inconclusive, trialNotRun(err)
	case ls.unconfirmed != "":
		lr.Verdict, lr.Reason = Inconclusive, ls.unconfirmed
	case c.set.shard.whole():
		// A part of a sharded run leaves the coverage minimum to Merge,
		// which sees every part.
		cv := lr.Coverage
		if tl.explored != nil {
			cv = nil // exhaustive mode ran every point of its family
		}
		if why := uncovered(spec, tl.faults, tl.trials, cv, c.set.minCoverage()); why != "" {
			lr.Verdict, lr.Reason = Inconclusive, why
		}
	}
	return lr
}

// haltOthers stops the other laws' trials when lr settles the whole
// check, or violates a law under FailFast.
func (c *checker[R]) haltOthers(lr LawReport) {
	switch {
	case lr.Failure == ServerGone || lr.Failure == WriterFails:
		c.halt.stop(notRunBecause(lr.Reason), false)
	case lr.Failure == Nondeterministic:
		c.halt.stop(stoppedByNondeterminism(lr.NondeterministicColumns), true)
	case lr.Verdict == Violated && c.set.failFast:
		c.halt.stop(failFastStop(lr.Law), false)
	}
}

// notRun is the report of a law not run (or stopped) for reason: no
// trial counts, since what it ran before it stopped decides nothing and
// depends on timing.
func notRun(law harness.Law, reason string) LawReport {
	return LawReport{Law: law, Verdict: NotRun, Reason: reason}
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
// violated the law (then it is ls's failure).
func (c *checker[R]) smoke(spec lawSpec, ls *lawSearch[R]) (bool, error) {
	batches := c.smokeBatches()
	clean, err := c.cachedCleanRun(batches)
	if err != nil {
		return false, err
	}
	scenarios := spec.smoke(clean.convs)
	outs := c.wave(spec, len(scenarios), c.judgeTrial, func(i int) (harness.Scenario[R], conversations, error) {
		return withDeliveries(batches, scenarios[i]), clean.convs, nil
	})
	return c.settle(spec, outs, ls, nil)
}
