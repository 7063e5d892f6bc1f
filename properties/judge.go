package properties

import (
	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// judge runs sc for law and returns a finding when the law is violated.
// The observation's sandbox is released unless the finding keeps it.
func (c *checker[R]) judge(law harness.Law, sc harness.Scenario[R]) (*finding, *trial.Observation, error) {
	switch law {
	case harness.Determinism:
		// The clean run every other law's trial of these batches uses too,
		// and a fresh one.
		d, err := c.cleanRunsDiff(sc.Batches)
		if d == nil || err != nil {
			return nil, nil, err
		}
		return determinismFinding(d), nil, nil
	case harness.IncrementalEquivalence:
		want, err := c.cleanState(sc.Batches)
		if err != nil {
			return nil, nil, err
		}
		got, err := c.runClean([]harness.Batch[R]{fullRefresh(sc.Batches)}, false)
		if err != nil {
			return nil, nil, err
		}
		d, err := c.compare(want, got.state)
		if err != nil || d.Equal {
			return nil, nil, err
		}
		return fullRefreshFinding(d), nil, nil
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

// cleanRunsDiff compares the cached clean run of batches with a fresh
// one: their diff when they differ (the writer is nondeterministic), nil
// when they do not.
func (c *checker[R]) cleanRunsDiff(batches []harness.Batch[R]) (*trial.Diff, error) {
	a, err := c.cachedCleanRun(batches)
	if err != nil {
		return nil, err
	}
	b, err := c.runClean(batches, false)
	if err != nil {
		return nil, err
	}
	d, err := c.compare(a.state, b.state)
	if err != nil || d.Equal {
		return nil, err
	}
	return d, nil
}

// fullRefresh makes one batch of all records, for the full refresh.
func fullRefresh[R any](batches []harness.Batch[R]) harness.Batch[R] {
	all := harness.Batch[R]{ID: "all"}
	for _, b := range batches {
		all.Records = append(all.Records, b.Records...)
		all.LogicalTime = b.LogicalTime
	}
	return all
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
	run, ok := c.crashRuns.join(sc.String(), 2) // one run, for the two laws
	if !ok {
		run.val, run.err = c.run(harness.CrashAtomicity, sc)
		if run.err == nil {
			c.release(run.val.Sandbox)
		}
		run.land()
	}
	obs, err := run.wait()
	if err != nil {
		return nil, nil, err
	}
	f, err := c.verdict(law, sc, want, obs)
	if f != nil {
		f.obs, f.shared = obs, true
	}
	return f, obs, err
}

// verdict judges the run obs of sc for law against want, the clean run's
// final state: a finding when the law is violated.
func (c *checker[R]) verdict(law harness.Law, sc harness.Scenario[R], want *trial.State, obs *trial.Observation) (*finding, error) {
	if len(obs.Exhausted) > 0 {
		return neverAckedFinding(obs.Exhausted[0], lastErr(obs)), nil
	}
	if law == harness.CrashAtomicity {
		if f, err := c.partialCrash(sc, obs); f != nil || err != nil {
			return f, err
		}
	}
	d, err := c.compare(want, obs.Final)
	if err != nil || d.Equal {
		return nil, err
	}
	return stateDiffersFinding(law, d), nil
}

// partialCrash judges every state a crash of obs left: each must be the
// clean state of the batches acked before it, or of those and the
// crashed one.
func (c *checker[R]) partialCrash(sc harness.Scenario[R], obs *trial.Observation) (*finding, error) {
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
		return partialCrashFinding(cr, sc.Batches[cr.Batch].ID, d1), nil
	}
	return nil, nil
}
