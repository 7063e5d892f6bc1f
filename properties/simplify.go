package properties

import (
	"context"
	"flag"
	"time"

	"github.com/idemcheck/idemcheck/harness"
)

// simplify makes a shrunk failing scenario smaller still, in steps rapid's
// shrinker cannot take: rapid shrinks the choices that drew the scenario,
// and deliveries refer to batches by index, so it can rarely drop a batch
// from the middle or make one delivery's attempts fault-free without
// changing the others. simplify tries, one at a time: removing a delivery
// (and a batch no delivery names any more), making a delivery's attempts
// fault-free, removing one of its failing attempts, and (unless batches
// are whole partitions) removing a record. It keeps each change that
// still fails the same way (kindOf), until none does or budget is spent,
// and returns the smallest scenario with its finding (f itself when
// nothing could be removed).
func (c *checker[R]) simplify(law harness.Law, sc harness.Scenario[R], f *finding, budget time.Duration) (harness.Scenario[R], *finding) {
	deadline := time.Now().Add(budget)
	kind := kindOf(f)
	for progress := true; progress && time.Now().Before(deadline); {
		progress = false
		for _, cand := range c.smaller(sc) {
			if time.Now().After(deadline) || c.ctx.Err() != nil {
				break
			}
			g, _, err := c.judge(law, cand)
			if err != nil || g == nil {
				continue
			}
			if kindOf(g) != kind {
				c.dropObs(g)
				continue
			}
			if f != nil && f.obs != nil && f.obs.Sandbox != c.keptSandbox() {
				c.dropObs(f)
			}
			sc, f, progress = cand, g, true
			break
		}
	}
	return sc, f
}

// smaller lists the scenarios one step smaller than sc, biggest steps
// first.
func (c *checker[R]) smaller(sc harness.Scenario[R]) []harness.Scenario[R] {
	var out []harness.Scenario[R]
	if len(sc.Deliveries) > 1 {
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
	}
	if c.set.partition == nil {
		for b, bt := range sc.Batches {
			for r := range bt.Records {
				batches := append([]harness.Batch[R](nil), sc.Batches...)
				batches[b].Records = append(append([]R(nil), bt.Records[:r]...), bt.Records[r+1:]...)
				out = append(out, harness.Scenario[R]{Batches: batches, Deliveries: sc.Deliveries})
			}
		}
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

func (c *checker[R]) keptSandbox() *harness.Sandbox {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kept
}

func (c *checker[R]) dropObs(f *finding) {
	if f.obs != nil {
		_ = f.obs.Sandbox.Drop(context.WithoutCancel(c.ctx))
	}
}

// shrinkTime is rapid's -rapid.shrinktime, the budget simplify gets too
// (30s when unset). Call it holding rapidMu (see withRapid).
func shrinkTime() time.Duration {
	if fl := flag.Lookup("rapid.shrinktime"); fl != nil {
		if d, err := time.ParseDuration(fl.Value.String()); err == nil {
			return d
		}
	}
	return 30 * time.Second
}
