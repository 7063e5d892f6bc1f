package properties

import (
	"slices"
	"time"

	"github.com/idemcheck/idemcheck/faults"
	"github.com/idemcheck/idemcheck/harness"
)

// simplify shrinks a law's failure to a minimal one. The scenario is
// plain data, so it is shrunk directly: simplify tries, biggest steps
// first, removing a delivery (and a batch no delivery names any more),
// making a delivery's attempts fault-free, removing one of its failing
// attempts or one fault of an attempt, and (unless batches are whole
// partitions) keeping half of a batch's records, then removing one. A
// law that draws faults is not offered its batches' clean run (each batch
// once, in order, no fault): that run is the one every verdict compares
// against, so it holds (Determinism judges a writer whose clean runs
// differ). The candidates of a step run in waves of Parallel; the first
// (in that order) that still fails the same way (the same FailureKind) is
// kept, and simplify goes on from it, until no candidate fails the same
// way (the scenario is at its floor) or ShrinkTime is spent. It returns
// the smallest failure, with its counterexample (fl itself when nothing
// could be removed), and how many candidates it ran.
func (c *checker[R]) simplify(law harness.Law, fl *failure[R]) (*failure[R], int) {
	deadline := time.Now().Add(c.set.shrinkTime)
	spec := specOf(law)
	sc, f, tried := fl.sc, fl.f, 0
	cands := c.smaller(spec, sc)
	for len(cands) > 0 && time.Now().Before(deadline) && c.ctx.Err() == nil {
		n := min(c.set.parallel, len(cands))
		outs := c.wave(spec, n, c.judge, func(i int) (harness.Scenario[R], conversations, error) { return cands[i], nil, nil })
		cands = cands[n:]
		tried += n
		smaller := -1
		for i, o := range outs {
			if o.err == nil && o.f != nil && o.f.kind == f.kind && smaller < 0 {
				smaller = i
				continue
			}
			if o.f != nil {
				c.releaseFinding(o.f)
			}
		}
		if smaller < 0 {
			continue
		}
		c.releaseFinding(f) // unless it is the law's kept sandbox
		sc, f = outs[smaller].sc, outs[smaller].f
		cands = c.smaller(spec, sc)
	}
	if f == fl.f {
		return fl, tried
	}
	return &failure[R]{sc: sc, f: f, trial: fl.trial, ce: c.counterexample(law, sc, f, true)}, tried
}

// smaller lists the scenarios one step smaller than sc, biggest steps
// first, none below the floor (spec's fewest deliveries, one record per
// batch) and, for a law that draws faults, not the batches' clean run.
func (c *checker[R]) smaller(spec lawSpec, sc harness.Scenario[R]) []harness.Scenario[R] {
	var out []harness.Scenario[R]
	if len(sc.Deliveries) > max(1, spec.minDeliveries) {
		for i := len(sc.Deliveries) - 1; i >= 0; i-- {
			ds := append(append([]harness.Delivery(nil), sc.Deliveries[:i]...), sc.Deliveries[i+1:]...)
			out = append(out, prune(harness.Scenario[R]{Batches: sc.Batches, Deliveries: ds}))
		}
	}
	for i, d := range sc.Deliveries {
		if len(d.Attempts) == 0 {
			continue
		}
		cand := withDelivery(sc, i, harness.Delivery{Batch: d.Batch})
		out = append(out, cand)
		if len(d.Attempts) > 1 {
			for j := range d.Attempts {
				as := append(append([]harness.AttemptPlan(nil), d.Attempts[:j]...), d.Attempts[j+1:]...)
				out = append(out, withDelivery(sc, i, harness.Delivery{Batch: d.Batch, Attempts: as}))
			}
		}
		for j, a := range d.Attempts {
			for k := range a.Wire {
				if len(a.Wire) < 2 {
					break
				}
				as := append([]harness.AttemptPlan(nil), d.Attempts...)
				as[j].Wire = append(append(faults.Plan(nil), a.Wire[:k]...), a.Wire[k+1:]...)
				out = append(out, withDelivery(sc, i, harness.Delivery{Batch: d.Batch, Attempts: as}))
			}
		}
	}
	if c.partition == nil {
		// A batch keeps a record: an empty one shows nothing. Keeping
		// half of a batch is the bigger step (most failures need few
		// records); the second half of three is the first record left
		// out, and halves of two are the removals below.
		withRecords := func(b int, records []R) {
			batches := append([]harness.Batch[R](nil), sc.Batches...)
			batches[b].Records = records
			out = append(out, harness.Scenario[R]{Batches: batches, Deliveries: sc.Deliveries})
		}
		for b, bt := range sc.Batches {
			n := len(bt.Records)
			if n >= 3 {
				withRecords(b, slices.Clone(bt.Records[:n/2]))
			}
			if n >= 4 {
				withRecords(b, slices.Clone(bt.Records[n/2:]))
			}
		}
		for b, bt := range sc.Batches {
			if len(bt.Records) < 2 {
				continue
			}
			for r := range bt.Records {
				withRecords(b, append(append([]R(nil), bt.Records[:r]...), bt.Records[r+1:]...))
			}
		}
	}
	if spec.draw != nil {
		out = slices.DeleteFunc(out, harness.Scenario[R].Clean)
	}
	return out
}

// withDelivery is sc with delivery i replaced by d.
func withDelivery[R any](sc harness.Scenario[R], i int, d harness.Delivery) harness.Scenario[R] {
	ds := append([]harness.Delivery(nil), sc.Deliveries...)
	ds[i] = d
	return harness.Scenario[R]{Batches: sc.Batches, Deliveries: ds}
}

// prune drops the batches no delivery names and renumbers the deliveries'
// batch indexes. Batches keep their ids and logical times.
func prune[R any](sc harness.Scenario[R]) harness.Scenario[R] {
	used := map[int]bool{}
	for _, d := range sc.Deliveries {
		used[d.Batch] = true
	}
	index := map[int]int{}
	var batches []harness.Batch[R]
	for i, b := range sc.Batches {
		if used[i] {
			index[i] = len(batches)
			batches = append(batches, b)
		}
	}
	ds := make([]harness.Delivery, len(sc.Deliveries))
	for i, d := range sc.Deliveries {
		d.Batch = index[d.Batch]
		ds[i] = d
	}
	return harness.Scenario[R]{Batches: batches, Deliveries: ds}
}
