package properties

import (
	"fmt"
	"sort"
	"strings"

	"github.com/idemcheck/idemcheck/harness"
	"github.com/idemcheck/idemcheck/harness/trial"
)

// tally counts what a law's trials ran, in trial order: the trials, the
// injections, where crashes hit, and the crash points seen and crashed.
// The search stage (search.go, explore.go) owns it; one goroutine per law
// writes it.
type tally struct {
	trials                      int // search trials: smoke and random (or exhaustive) until the first failure
	faults                      map[Injection]int
	inTx, atCommit, afterCommit int
	points, crashed             map[crashPoint]bool // the law's crash points seen, and those crashed
	explored                    *Explored           // what exhaustive mode covered (nil: random mode)
}

// add counts one trial of spec's law: the scenario's deliveries over
// batches whose conversations are convs, and what the run observed.
func (t *tally) add(spec lawSpec, ds []harness.Delivery, convs conversations, obs *trial.Observation) {
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
	replayed, reordered := orderOf(ds)
	if replayed {
		t.faults[Replays]++
	}
	if reordered {
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

// injected is a copy of the injections counted so far, for Progress.
func (t *tally) injected() map[Injection]int {
	out := make(map[Injection]int, len(t.faults))
	for k, v := range t.faults {
		out[k] = v
	}
	return out
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

// orderOf says whether deliveries deliver a batch more than once, and
// whether they deliver one before a batch delivered earlier.
func orderOf(ds []harness.Delivery) (replayed, reordered bool) {
	seen := map[int]bool{}
	last := -1
	for _, d := range ds {
		if seen[d.Batch] {
			replayed = true
		}
		if d.Batch < last {
			reordered = true
		}
		seen[d.Batch] = true
		last = d.Batch
	}
	return replayed, reordered
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
